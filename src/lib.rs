//! uvio
