//! Run: cargo run --example http_server --features hyper [-- ADDR]
//!
//! An HTTP server with hyper on the uvio loop, speaking HTTP/1.1 and HTTP/2 (cleartext,
//! "prior knowledge") on one port, chosen per connection by hyper-util's `auto` builder:
//!
//! - `/` answers `hello, world`;
//! - `/big` answers a 1 MiB body;
//! - `/stream` answers a body streamed in chunks, one each millisecond;
//! - anything else is a 404.
//!
//! With an address (`127.0.0.1:8080`) it serves until Ctrl-C, then stops accepting, lets
//! the open connections finish their requests (graceful shutdown) and exits. Without one it
//! serves on a free loopback port, fetches each path over HTTP/1.1 and HTTP/2 with hyper's
//! client in this same process, checks the answers, shuts down gracefully and exits.
//!
//! Try it with `curl http://127.0.0.1:8080/` or `curl --http2-prior-knowledge ...`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{Either, select};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use uvio::hyper::{HyperIo, HyperTimer, LocalExecutor};
use uvio::{Loop, TcpListener, TcpStream};

/// The size of `/big`'s body.
pub const BIG: usize = 1 << 20;
/// The chunks of `/stream`.
pub const CHUNKS: usize = 8;

/// Every response's body: a boxed body need not be `Send` on a single-threaded loop.
pub type Body = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = Infallible>>>;

/// `/big`'s body: bytes `0, 1, .., 250, 0, 1, ..` (251 is prime, so a misplaced chunk shows).
pub fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// `/stream`'s body, as the client should see it once the chunks are joined.
pub fn streamed_body() -> String {
    (0..CHUNKS).map(|i| format!("chunk {i}\n")).collect()
}

fn full(b: impl Into<Bytes>) -> Body {
    Box::pin(Full::new(b.into()))
}

/// Answers one request.
pub async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let resp = match req.uri().path() {
        "/" => Response::new(full("hello, world\n")),
        "/big" => Response::new(full(big_body())),
        "/stream" => {
            let chunks = futures::stream::unfold(0, |i| async move {
                if i == CHUNKS {
                    return None;
                }
                uvio::time::sleep(Duration::from_millis(1)).await;
                let frame = Frame::data(Bytes::from(format!("chunk {i}\n")));
                Some((Ok::<_, Infallible>(frame), i + 1))
            });
            Response::new(Box::pin(StreamBody::new(chunks)) as Body)
        }
        _ => {
            let mut r = Response::new(full("not found\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(resp)
}

/// Serves `listener` until `stop` completes, then shuts down gracefully: stops accepting,
/// asks every connection to finish (HTTP/1: after its current request; HTTP/2: GOAWAY) and
/// waits for them. Returns the number of connections served.
pub async fn serve(listener: TcpListener, stop: impl Future<Output = ()>) -> usize {
    let mut builder = auto::Builder::new(LocalExecutor);
    builder.http1().timer(HyperTimer::new());
    builder.http2().timer(HyperTimer::new());
    let graceful = GracefulShutdown::new();
    let mut stop = pin!(stop);
    let mut served = 0;
    loop {
        let stream = match select(pin!(listener.accept()), stop.as_mut()).await {
            Either::Left((Ok(stream), _)) => stream,
            Either::Left((Err(e), _)) => {
                eprintln!("accept: {e}");
                continue;
            }
            Either::Right(_) => break,
        };
        served += 1;
        let _ = stream.set_nodelay(true);
        let conn = builder
            .serve_connection(HyperIo::new(stream), service_fn(handle))
            .into_owned();
        let conn = graceful.watch(conn);
        uvio::spawn_local(async move {
            if let Err(e) = conn.await {
                eprintln!("connection: {e:?}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    served
}

/// The self-test's client: one request on a new connection, HTTP/1.1 or HTTP/2.
pub async fn get(
    addr: SocketAddr,
    http2: bool,
    path: &str,
) -> Result<(StatusCode, Bytes), Box<dyn std::error::Error>> {
    let io = HyperIo::new(TcpStream::connect(addr).await?);
    let req = Request::get(path)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))?;
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

/// Fetches every path over both protocols and checks the answers.
pub async fn self_test(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    for http2 in [false, true] {
        let proto = if http2 { "HTTP/2" } else { "HTTP/1.1" };
        let (status, body) = get(addr, http2, "/").await?;
        assert_eq!(
            (status, &body[..]),
            (StatusCode::OK, &b"hello, world\n"[..])
        );
        let (status, body) = get(addr, http2, "/big").await?;
        assert_eq!(status, StatusCode::OK);
        assert!(body == big_body(), "/big over {proto}: wrong body");
        let (status, body) = get(addr, http2, "/stream").await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, streamed_body());
        let (status, _) = get(addr, http2, "/nowhere").await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        println!("{proto}: /, /big ({BIG} bytes), /stream ({CHUNKS} chunks), 404: ok");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {e}");
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
    match args()?.into_iter().next() {
        Some(addr) => {
            let listener = TcpListener::bind(&lp, addr.parse()?)?;
            println!("http server on http://{}", listener.local_addr()?);
            let served = lp.block_on(serve(listener, async {
                if let Err(e) = uvio::signal::ctrl_c().await {
                    eprintln!("ctrl_c: {e}");
                }
                println!("Ctrl-C: finishing open connections");
            }))?;
            println!("stopped after {served} connections");
        }
        None => {
            let listener = TcpListener::bind(&lp, "127.0.0.1:0".parse()?)?;
            let addr = listener.local_addr()?;
            println!("http server on http://{addr} (self-test)");
            let (done, stop) = futures::channel::oneshot::channel::<()>();
            let server = lp.spawn_local(serve(listener, async {
                let _ = stop.await;
            }));
            lp.block_on(async move {
                let r = self_test(addr).await;
                let _ = done.send(());
                let served = server.await.expect("server task");
                println!("graceful shutdown after {served} connections");
                r
            })??;
        }
    }
    Ok(())
}
