//! Run: cargo run --example http_client --features hyper [-- ADDR [PATH]]
//!
//! An HTTP client with hyper on the uvio loop. With an address (`127.0.0.1:8080`, e.g. the
//! `http_server` example's) it sends `GET PATH` (default `/`) over HTTP/1.1, then over
//! HTTP/2 on a second connection, and prints each status and body size. Without one it
//! starts a small hyper server on a free loopback port in this same process, fetches from it
//! both ways, checks the answers and exits.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use uvio::hyper::{HyperIo, HyperTimer, LocalExecutor};
use uvio::{Loop, TcpListener, TcpStream};

/// Sends `GET path` to `addr` on a new connection; returns the status and the whole body.
async fn get(
    addr: SocketAddr,
    http2: bool,
    path: &str,
) -> Result<(StatusCode, Bytes), Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let io = HyperIo::new(stream);
    let req = Request::get(format!("http://{addr}{path}")).body(Empty::<Bytes>::new())?;
    // The connection future drives the socket: run it as its own task on the loop.
    let resp = if http2 {
        let (mut tx, conn) = hyper::client::conn::http2::Builder::new(LocalExecutor)
            .timer(HyperTimer::new())
            .handshake(io)
            .await?;
        uvio::spawn_local(conn);
        tx.send_request(req).await?
    } else {
        let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await?;
        uvio::spawn_local(conn);
        tx.send_request(req).await?
    };
    let status = resp.status();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

/// The self-test's server: answers every request with its path, on both protocols.
async fn serve_one_each(listener: TcpListener) {
    let builder = hyper_util::server::conn::auto::Builder::new(LocalExecutor);
    for _ in 0..2 {
        let stream = listener.accept().await.expect("accept");
        let echo_path = service_fn(|req: Request<Incoming>| async move {
            let body = format!("you asked for {}", req.uri().path());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        });
        let conn = builder
            .serve_connection(HyperIo::new(stream), echo_path)
            .into_owned();
        uvio::spawn_local(async move { conn.await.expect("serve") });
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_client: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The command-line arguments (`args_os`: one that is not UTF-8 is an error message, not a
/// panic).
fn args() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument is not UTF-8: {a:?}").into())
        })
        .collect()
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    let mut args = args()?.into_iter();
    match args.next() {
        Some(addr) => {
            let addr: SocketAddr = addr.parse()?;
            let path = args.next().unwrap_or_else(|| "/".into());
            lp.block_on(async move {
                for http2 in [false, true] {
                    let (status, body) = get(addr, http2, &path).await?;
                    let proto = if http2 { "HTTP/2" } else { "HTTP/1.1" };
                    println!("{proto} GET {path}: {status}, {} bytes", body.len());
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })??;
        }
        None => {
            let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse()?)?;
            let addr = listener.local_addr()?;
            lp.spawn_local(serve_one_each(listener));
            lp.block_on(async move {
                for http2 in [false, true] {
                    let (status, body) = get(addr, http2, "/hello").await?;
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(body, "you asked for /hello");
                    let proto = if http2 { "HTTP/2" } else { "HTTP/1.1" };
                    println!("{proto} GET /hello from {addr}: {status}, {body:?}");
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            })??;
        }
    }
    Ok(())
}
