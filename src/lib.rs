//! uvio: a safe, fast binding to [libuv](https://libuv.org), the event loop under Node.js.
//!
//! One loop, driven from Rust, gives you timers, TCP, files and the rest of libuv, each usable
//! two ways: with callbacks (the way libuv and Node work) and as futures (`async`/`await`) run
//! by an executor that *is* the libuv loop.
//!
//! ```
//! use std::time::Duration;
//! use uvio::{Loop, RunMode, Timer};
//!
//! let lp = Loop::new()?;
//!
//! // Callbacks: a timer that fires once.
//! let t = Timer::new(&lp)?;
//! t.start(Duration::from_millis(5), Duration::ZERO, |_t| println!("timer fired"))?;
//! lp.run(RunMode::Default)?;
//!
//! // Futures: the same loop runs async code.
//! let answer = lp.block_on(async {
//!     let task = uvio::spawn_local(async {
//!         uvio::time::sleep(Duration::from_millis(5)).await;
//!         42
//!     });
//!     task.await.unwrap()
//! })?;
//! assert_eq!(answer, 42);
//! # Ok::<(), uvio::Error>(())
//! ```
//!
//! See `ARCHITECTURE.md` for the ownership model (handles, requests, panics, the executor).

pub use libuv_sys as ffi;

#[macro_use]
mod flags;
mod async_handle;
mod compat;
pub mod dns;
mod error;
mod event_loop;
mod fd_poll;
pub mod fs;
mod fs_event;
mod fs_poll;
pub mod handle;
#[cfg(feature = "hyper")]
pub mod hyper;
mod net_addr;
pub mod node;
mod panic;
mod pipe;
pub mod process;
mod req;
mod runtime;
pub mod signal;
mod sleeps;
mod stream;
pub mod sys;
mod tcp;
pub mod time;
mod timer;
#[cfg(feature = "tokio-io")]
mod tokio_io;
mod tty;
pub mod udp;
mod watcher;
mod work;

pub use async_handle::{AsyncHandle, AsyncSender, AsyncStream};
pub use error::{Error, Result};
pub use event_loop::{Loop, LoopHandle, Metrics, RunMode};
pub use fd_poll::{FdPoll, PollEvents, PollReady};
pub use fs_event::{FsEvent, FsEventInfo};
pub use fs_poll::{FsPoll, FsPollEvent};
pub use pipe::{PendingHandle, PipeAddr, PipeConnect, PipeListener, PipeStream};
pub use runtime::{JoinError, JoinHandle, spawn_local};
pub use signal::Signal;
pub use stream::{ReadHalf, Shutdown, Write, WriteBuf, WriteHalf};
pub use tcp::{Accept, Connect, DEFAULT_BACKLOG, Incoming, TcpBindOptions, TcpListener, TcpStream};
pub use timer::Timer;
pub use tty::{HandleType, Tty, TtyMode, guess_handle};
pub use udp::UdpSocket;
pub use watcher::{Check, Idle, Prepare};
pub use work::{SpawnBlocking, WorkRequest, queue_work, spawn_blocking};

/// The version of the libuv in this process, as `(major, minor, patch)` (`uv_version`).
///
/// # Examples
///
/// ```
/// let (major, minor, _) = uvio::version();
/// assert_eq!(major, 1);
/// assert!(minor >= 44);
/// ```
pub fn version() -> (u32, u32, u32) {
    // SAFETY: uv_version has no preconditions.
    let v = unsafe { ffi::uv_version() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}
