//! Run: cargo run --example pipe_echo
//!
//! A Unix domain socket echo server and its clients in one process: the server listens on
//! a socket in a fresh temporary directory and echoes with callbacks; three clients
//! connect with async/await, send, shut down, and check what comes back. Then an IPC pair
//! hands one client connection to a second owner, which finishes the echo. Exits 0.

use std::cell::RefCell;
use std::rc::Rc;

use futures::{AsyncReadExt, AsyncWriteExt};
use uvio::{Loop, PendingHandle, PipeListener, PipeStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let lp = Loop::new()?;

    // The server: callbacks. Each connection echoes until the client finishes sending.
    let listener = PipeListener::bind(&lp, &path)?;
    println!("listening on {:?}", listener.local_addr()?);
    let conns = Rc::new(RefCell::new(Vec::new()));
    let keep = conns.clone();
    listener.on_connection(move |_l, conn| {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => return eprintln!("accept: {e}"),
        };
        let started = conn.read_start(|s, r| match r {
            Ok(bytes) => {
                if let Err(e) = s.write_cb(bytes.to_vec(), |_, _| ()) {
                    eprintln!("write: {e}");
                }
            }
            // End of stream (or an error): finish our side too.
            Err(_) => {
                let _ = s.shutdown_cb(|s, _| {
                    let _ = s.close();
                });
            }
        });
        if let Err(e) = started {
            eprintln!("read: {e}");
        }
        keep.borrow_mut().push(conn);
    })?;

    // The clients: async/await.
    lp.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..3 {
            let path = path.clone();
            tasks.push(uvio::spawn_local(async move {
                let mut c = PipeStream::connect(&path).await?;
                let msg = format!("hello #{i} over {}", path.display());
                c.write_all(msg.as_bytes()).await?;
                AsyncWriteExt::close(&mut c).await?; // shut down the write side
                let mut back = String::new();
                c.read_to_string(&mut back).await?;
                assert_eq!(back, msg);
                println!("client {i}: {back}");
                Ok::<(), std::io::Error>(())
            }));
        }
        for t in tasks {
            t.await.expect("client task")?;
        }

        // Handle passing: a connection is sent over an IPC pair and used by its new owner.
        let (tx, rx) = PipeStream::pair_ipc(&lp)?;
        let c = PipeStream::connect(&path).await?;
        tx.write2(b"conn", c).await?;
        let mut tag = [0u8; 4];
        (&rx).read_exact(&mut tag).await?;
        let PendingHandle::Pipe(mut moved) = rx.accept_pending()? else {
            unreachable!("a pipe was sent")
        };
        moved.write_all(b"echo after the move").await?;
        AsyncWriteExt::close(&mut moved).await?;
        let mut back = String::new();
        moved.read_to_string(&mut back).await?;
        assert_eq!(back, "echo after the move");
        println!("moved connection: {back}");
        Ok::<(), std::io::Error>(())
    })??;

    drop(listener);
    lp.run(uvio::RunMode::Default)?;
    assert!(!path.exists(), "the socket file is removed on close");
    println!("done");
    Ok(())
}
