//! A per-thread identity that registers no thread-exit destructor.
//!
//! uvio runs inside hosts that load and unload it per thread: node loads an addon into a
//! Worker and unmaps it when the Worker's environment ends, before the thread exits. Any
//! destructor the library registered for that thread (a `thread_local!` whose value needs
//! `Drop`, `std::thread::current()`, which keys the thread's handle with a destructor) then
//! runs from unmapped memory when the thread exits. So uvio keeps per-thread state only in
//! const-initialised thread-locals of types without `Drop` (this id, the current loop
//! pointer), and everything on the heap belongs to a loop instead (`LoopInner`).
//!
//! The id is a number from a process-wide counter, taken the first time a thread asks: unlike
//! a thread-local's address or the kernel's thread id, it is never reused by a later thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one thread for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ThreadId(u64);

thread_local! {
    /// This thread's id, or 0 before it was first asked for.
    static ID: Cell<u64> = const { Cell::new(0) };
}

/// The next id to hand out (0 means "none yet").
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The calling thread's id.
#[inline]
pub(crate) fn this_thread() -> ThreadId {
    ID.with(|id| match id.get() {
        0 => {
            let new = NEXT.fetch_add(1, Ordering::Relaxed);
            id.set(new);
            ThreadId(new)
        }
        n => ThreadId(n),
    })
}

#[cfg(test)]
mod tests {
    use super::this_thread;

    #[test]
    fn stable_on_a_thread_and_distinct_across_threads() {
        let here = this_thread();
        assert_eq!(here, this_thread());
        let there = std::thread::spawn(this_thread).join().unwrap();
        let again = std::thread::spawn(this_thread).join().unwrap();
        assert_ne!(here, there);
        assert_ne!(there, again);
    }
}
