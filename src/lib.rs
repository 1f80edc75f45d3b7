//! uvio: a safe, fast binding to [libuv](https://libuv.org), the event loop under Node.js.
//!
//! One loop, driven from Rust, gives you timers, TCP, pipes, UDP, files, processes, signals,
//! DNS, the threadpool and the rest of libuv, each usable two ways: with **callbacks** (the
//! way libuv and Node work) and as **futures** (`async`/`await`) run by an executor that *is*
//! the libuv loop. Both styles are one implementation underneath and mix freely on one loop.
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
//! Safety is the point: a handle's memory is freed only after libuv's close callback,
//! requests own their buffers until they complete, panics never unwind through C, and
//! dropping anything at any time is safe. Failures are [`Error`]s carrying libuv's name for
//! them (`ENOENT`) and convert to and from [`std::io::Error`].
//!
//! # What is here
//!
//! | area | callbacks | futures |
//! |---|---|---|
//! | loop | [`Loop::run`] with a [`RunMode`] | [`Loop::block_on`], [`spawn_local`], [`JoinHandle`] |
//! | timers | [`Timer`] | [`time::sleep`], [`time::interval`], [`time::timeout`] |
//! | loop watchers | [`Idle`], [`Prepare`], [`Check`] | their `tick().await` |
//! | cross-thread | [`AsyncHandle`] + [`AsyncSender`] | [`AsyncStream`]; every waker is `Send + Sync` |
//! | Node-style | [`node::set_timeout`], [`node::set_immediate`], [`node::next_tick`] | |
//! | threadpool | [`queue_work`] | [`spawn_blocking`] |
//! | TCP | [`TcpListener`], [`TcpStream`] (`read_start`, `write_cb`) | `accept`, `connect`, `AsyncRead`/`AsyncWrite`, `split` |
//! | pipes | [`PipeListener`], [`PipeStream`] (handle passing over IPC) | the same stream traits |
//! | TTY | [`Tty`] | `AsyncRead`/`AsyncWrite` |
//! | UDP | [`UdpSocket`] (`recv_start`, `send_to_cb`) | `recv_from`, `send_to` |
//! | DNS | [`dns::getaddrinfo_cb`] | [`dns::getaddrinfo`], [`dns::lookup_host`] |
//! | signals | [`Signal`] | [`signal::ctrl_c`], [`signal::signal`] |
//! | processes | [`process::Command`] with an exit callback | [`process::Child::wait`], `Command::output` |
//! | files | [`fs`]`::cb` (every `uv_fs_*`) | [`fs`] (std's names), [`fs::File`]; also `fs::sync` |
//! | file watchers | [`FsEvent`], [`FsPoll`] | their streams |
//! | fd readiness | [`FdPoll`] | [`FdPoll::ready`] |
//! | system | [`sys`]: random bytes, and queries (hrtime, memory, CPUs, interfaces, ...) | [`sys`]`::random_async` |
//!
//! The examples in the repository (`examples/`, each ends by itself) show every area at work;
//! `cargo run --example tour` is a guided start.
//!
//! # Link modes
//!
//! | feature | where libuv comes from |
//! |---|---|
//! | `vendored` (default) | libuv 1.53, built from source and linked statically |
//! | `system` | the system's shared libuv (1.44 or later), found with pkg-config |
//! | `host` | none is linked: `uv_*` bind to the libuv of the process that loads the library |
//!
//! # Embedding
//!
//! [`Loop::from_raw`] puts uvio on a `uv_loop_t` that a host already runs (a Node.js addon, a
//! C program, an editor), with the `host` link mode so that the process has exactly one
//! libuv. uvio then never runs or closes that loop, and [`Loop::close_all`] tells the host
//! when everything uvio opened is closed.
//!
//! # Outside a loop
//!
//! Calls that find their loop implicitly, the loop running on this thread, **panic when no
//! uvio loop is running**, as tokio's do outside a runtime: [`spawn_local`],
//! [`spawn_blocking`], [`signal::signal`], the [`node`] functions without `_in`, and every
//! future made without a loop ([`time::sleep`], the [`fs`] futures, [`TcpStream::connect`],
//! [`dns::getaddrinfo`], [`sys::random_async`], [`process::Command::status`],
//! [`signal::ctrl_c`], ...) when it is first polled. The message names the call. A future
//! finds its loop at its first poll, not when it is made, so it can be made anywhere and
//! awaited inside [`Loop::block_on`], a spawned task or a callback. The panic unwinds on
//! the caller's stack, never through libuv, so it never aborts the process. Calls given a
//! loop (`LoopHandle`, `_on`, `_in`, `_cb`) never panic for this reason: on a closed loop
//! they return `EBADF`.
//!
//! ```
//! use std::time::Duration;
//! let sleep = uvio::time::sleep(Duration::from_millis(1)); // made anywhere
//! let outside = std::panic::catch_unwind(|| futures::executor::block_on(
//!     uvio::time::sleep(Duration::from_millis(1)),
//! ));
//! assert!(outside.is_err()); // polled outside a loop: a panic
//! uvio::Loop::new()?.block_on(sleep)?; // polled inside one: fine
//! # Ok::<(), uvio::Error>(())
//! ```
//!
//! # Coming from tokio
//!
//! - **Traits.** Streams and [`fs::File`] implement the `futures` IO traits
//!   ([`AsyncRead`](https://docs.rs/futures/0.3/futures/io/trait.AsyncRead.html),
//!   [`AsyncWrite`](https://docs.rs/futures/0.3/futures/io/trait.AsyncWrite.html); use
//!   `futures::AsyncReadExt` and friends). The `tokio-io` feature adds tokio's
//!   `AsyncRead`/`AsyncWrite` (and `AsyncBufRead`/`AsyncSeek` on `File`), without tokio's
//!   runtime, so tokio-util codecs and tokio-rustls work on the loop.
//! - **Runtime.** There is no runtime object: a [`Loop`] is a single-threaded executor, like
//!   tokio's `current_thread` runtime with a `LocalSet`. Tasks need not be `Send`; wakers are
//!   `Send + Sync`, and other threads reach the loop through [`AsyncSender`] or
//!   [`spawn_blocking`]. Run one loop per thread to use more cores.
//! - **hyper.** The `hyper` feature adds the module `uvio::hyper`: `HyperIo`,
//!   `LocalExecutor` and `HyperTimer`, what hyper-util's `TokioIo`, `TokioExecutor` and
//!   `TokioTimer` are for tokio: HTTP/1.1 and HTTP/2, client and server, TLS through
//!   futures-rustls, on the loop.
//! - **Names.** Most are tokio's (and std's); where uvio differs, the table says so.
//!
//! | tokio | uvio |
//! |---|---|
//! | `Runtime::block_on` | [`Loop::block_on`] (returns `Result<T>`: the loop itself can fail) |
//! | `task::spawn_local`, `spawn` | [`spawn_local`], [`LoopHandle::spawn_local`] |
//! | `task::spawn_blocking` | [`spawn_blocking`] |
//! | `time::{sleep, sleep_until, interval, timeout}` | [`time::sleep`], [`time::sleep_until`], [`time::interval`], [`time::timeout`] (fails with an [`Error`] `ETIMEDOUT`) |
//! | `net::TcpListener::bind(addr).await` | [`TcpListener::bind`]`(&lp, addr)`: synchronous, on a loop, a `SocketAddr` |
//! | `listener.accept()` → `(stream, addr)` | [`TcpListener::accept`] → the stream; [`TcpStream::peer_addr`] |
//! | `net::TcpStream::connect` | [`TcpStream::connect`] (a `SocketAddr`; resolve names with [`dns::lookup_host`]) |
//! | `net::{UnixListener, UnixStream}` | [`PipeListener`], [`PipeStream`] |
//! | `net::UdpSocket` | [`UdpSocket`] |
//! | `net::lookup_host` | [`dns::lookup_host`] |
//! | `fs::*`, `fs::File` | [`fs`]`::*`, [`fs::File`] |
//! | `process::Command` | [`process::Command`] (`spawn` takes a [`LoopHandle`]) |
//! | `signal::ctrl_c`, `signal::unix::signal` | [`signal::ctrl_c`], [`signal::signal`] |
//! | `sync::*` | any runtime-free crate (`futures::channel`, `async-channel`, ...) |
//! | hyper-util's `rt::{TokioIo, TokioExecutor, TokioTimer}` | `uvio::hyper::{HyperIo, LocalExecutor, HyperTimer}` |
//!
//! # Performance
//!
//! `uvio-bench` (the repository's `benches/`) runs the same work in C against the same
//! `libuv.a`, in uvio with callbacks and with futures, and where it applies in tokio and
//! Node.js, each in its own process. The README's *Performance* section has the measured
//! ratios to C per CPU second, and `benches/README.md` the full tables, their spreads and
//! what each workload does; the figures are kept there, from runs of the suite, and not
//! repeated here.
//!
//! The repository's `ARCHITECTURE.md` describes the ownership model: handles, requests,
//! panics and the executor.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use uvio_sys as ffi;

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
mod host;
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
mod thread_id;
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
pub use host::{CallbackHook, PanicHandler};
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
