//! A TCP echo server on uvio's callback API (`TcpListener::on_connection`,
//! `TcpStream::read_start`/`write_cb`/`shutdown_cb`), shared by the Node.js addon and the C
//! plugin. No `unsafe`: uvio owns every handle and request.
//!
//! Each connection echoes what it reads; at the peer's end of stream it shuts its own side
//! down once the echoed bytes are written, then closes. A peer that does not read its echo
//! pauses reading once [`HIGH_WATER`] bytes are queued for it, until the queue drains.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::{Rc, Weak};

use uvio::{Error, LoopHandle, TcpListener, TcpStream};

/// Bytes queued for writing on one connection above which it stops reading.
pub const HIGH_WATER: usize = 1 << 20;

/// The echo servers of one loop and their open connections. It owns their handles:
/// dropping an owner closes its handle, so `Echo` is the one place that decides when.
#[derive(Debug, Default)]
pub struct Echo {
    listeners: RefCell<Vec<TcpListener>>,
    conns: RefCell<HashMap<u64, TcpStream>>,
    next_id: Cell<u64>,
}

impl Echo {
    /// Starts an echo server on 127.0.0.1:`port` (0 picks one); returns the bound port.
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` (and the other bind errors), with the address in the message.
    pub fn listen(self: &Rc<Self>, lp: &LoopHandle, port: u16) -> uvio::Result<u16> {
        let listener = TcpListener::bind(lp, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let me = Rc::downgrade(self);
        listener.on_connection(move |_listener, conn| match (me.upgrade(), conn) {
            (Some(echo), Ok(s)) => echo.serve(s),
            // An accept error (EMFILE, ...) costs that one connection; the server goes on.
            (_, Err(e)) => eprintln!("uvio echo: {e}"),
            (None, Ok(_)) => {}
        })?;
        let bound = listener.local_addr()?.port();
        self.listeners.borrow_mut().push(listener);
        Ok(bound)
    }

    /// Keeps the connection and echoes on it.
    fn serve(self: &Rc<Self>, s: TcpStream) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        if start_reading(&s, Rc::downgrade(self), id, Rc::default()).is_ok() {
            self.conns.borrow_mut().insert(id, s);
        }
        // else: `s` is dropped here, which closes it.
    }

    /// Closes every echo server and connection (their close callbacks run on the loop's
    /// next turn); returns how many handles that was.
    pub fn close_all(&self) -> usize {
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        let conns = std::mem::take(&mut *self.conns.borrow_mut());
        // Dropped after the borrows end: dropping an owner starts closing its handle.
        listeners.len() + conns.len()
    }
}

/// Starts (or resumes) echoing on connection `id`; `paused` is set while reading is stopped
/// because the peer is not reading its echo.
fn start_reading(
    s: &TcpStream,
    echo: Weak<Echo>,
    id: u64,
    paused: Rc<Cell<bool>>,
) -> uvio::Result<()> {
    paused.set(false);
    s.read_start(move |s, r| match r {
        Ok(bytes) => {
            let (me, p) = (echo.clone(), Rc::clone(&paused));
            let written = s.write_cb(bytes.to_vec(), move |s, r| {
                let resume = r.is_ok() && p.get() && s.write_queue_size() < HIGH_WATER / 2;
                // The peer caught up: read again.
                if r.is_err() || (resume && start_reading(s, me.clone(), id, p).is_err()) {
                    forget(&me, id);
                }
            });
            if written.is_err() {
                forget(&echo, id);
            } else if s.write_queue_size() > HIGH_WATER && s.read_stop().is_ok() {
                // Reading stopped; this callback is dropped after it returns.
                paused.set(true);
            }
        }
        // The peer is done sending: send our end of stream after the echoed bytes, then
        // close.
        Err(e) if e.code() == Error::EOF.code() => {
            let me = echo.clone();
            if s.shutdown_cb(move |_s, _r| forget(&me, id)).is_err() {
                forget(&echo, id);
            }
        }
        Err(_) => forget(&echo, id),
    })
}

/// Drops the owner of connection `id` (if still kept), which closes it. Safe inside the
/// connection's own callbacks: they get a borrowed view of the stream.
fn forget(echo: &Weak<Echo>, id: u64) {
    let owner = echo
        .upgrade()
        .and_then(|e| e.conns.borrow_mut().remove(&id));
    drop(owner);
}

/// Closes the echo servers and everything else uvio opened on `lp` (`Loop::close_all`);
/// `done` runs once every close callback has run and no request is in flight, so the host
/// may close its loop (or unload this library).
pub fn close_everything(lp: &uvio::Loop, echo: &Echo, done: impl FnOnce() + 'static) {
    echo.close_all();
    lp.close_all(done);
}
