//! Run: cargo run --example https_server --features hyper [-- ADDR]
//!
//! HTTPS with hyper and rustls (through `futures-rustls`, on uvio's `futures_io` streams),
//! HTTP/1.1 and HTTP/2 chosen by ALPN, with the routes of the `http_server` example. The
//! certificate is self-signed for `localhost`, made at start with `rcgen`.
//!
//! With an address (`127.0.0.1:8443`) it writes the certificate to `https_server.pem` in the
//! temporary directory, prints a `curl` command that trusts it, and serves until Ctrl-C
//! (then shuts down gracefully). Without one it serves on a free loopback port, fetches `/`
//! and `/big` over both protocols with a rustls client that trusts only that certificate,
//! checks the answers and exits.

#[allow(dead_code)]
#[path = "http_server.rs"]
pub mod http_server;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{Either, select};
use futures_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use http_body_util::{BodyExt, Empty};
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use uvio::hyper::{HyperIo, HyperTimer, LocalExecutor};
use uvio::{Loop, TcpListener, TcpStream};

type BoxError = Box<dyn std::error::Error>;

/// A server config with a new self-signed certificate for `localhost`, a client config that
/// trusts only it, and the certificate in PEM.
pub fn self_signed() -> Result<(Arc<ServerConfig>, Arc<ClientConfig>, String), BoxError> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let mut server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut roots = RootCertStore::empty();
    roots.add(cert)?;
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client), ck.cert.pem()))
}

/// Serves HTTPS on `listener` until `stop` completes, then shuts down gracefully.
/// Returns the number of connections accepted.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    stop: impl Future<Output = ()>,
) -> usize {
    let acceptor = TlsAcceptor::from(config);
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
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        // The handshake runs in the connection's own task, so a slow client holds up no one.
        uvio::spawn_local(async move {
            let tls = match acceptor.accept(stream).await {
                Ok(tls) => tls,
                Err(e) => return eprintln!("TLS handshake: {e}"),
            };
            let conn = builder.serve_connection(HyperIo::new(tls), service_fn(http_server::handle));
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                eprintln!("connection: {e:?}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    served
}

/// `GET path` over TLS on a new connection, HTTP/2 when `http2` (offered by ALPN).
pub async fn get(
    addr: SocketAddr,
    client: Arc<ClientConfig>,
    http2: bool,
    path: &str,
) -> Result<(StatusCode, Bytes), BoxError> {
    let mut config = (*client).clone();
    config.alpn_protocols = vec![if http2 { &b"h2"[..] } else { b"http/1.1" }.to_vec()];
    let tcp = TcpStream::connect(addr).await?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let want: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
    assert_eq!(negotiated.as_deref(), Some(want), "ALPN");
    let io = HyperIo::new(tls);
    let req = Request::get(format!("https://localhost:{}{path}", addr.port()))
        .body(Empty::<Bytes>::new())?;
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

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("https_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The command-line arguments (`args_os`: one that is not UTF-8 is an error message, not a
/// panic).
fn args() -> Result<Vec<String>, BoxError> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument is not UTF-8: {a:?}").into())
        })
        .collect()
}

fn run() -> Result<(), BoxError> {
    let lp = Loop::new()?;
    let (server, client, pem) = self_signed()?;
    match args()?.into_iter().next() {
        Some(addr) => {
            let listener = TcpListener::bind(&lp, addr.parse()?)?;
            let port = listener.local_addr()?.port();
            let pem_path = std::env::temp_dir().join("https_server.pem");
            std::fs::write(&pem_path, pem)?;
            println!("https server on port {port}; try:");
            println!(
                "  curl --cacert {} --resolve localhost:{port}:127.0.0.1 https://localhost:{port}/",
                pem_path.display()
            );
            let served = lp.block_on(serve(listener, server, async {
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
            println!("https server on {addr} (self-test)");
            let (done, stop) = futures::channel::oneshot::channel::<()>();
            let server = lp.spawn_local(serve(listener, server, async {
                let _ = stop.await;
            }));
            lp.block_on(async move {
                let r = async {
                    for http2 in [false, true] {
                        let proto = if http2 { "HTTP/2" } else { "HTTP/1.1" };
                        let (status, body) = get(addr, client.clone(), http2, "/").await?;
                        assert_eq!(
                            (status, &body[..]),
                            (StatusCode::OK, &b"hello, world\n"[..])
                        );
                        let (status, body) = get(addr, client.clone(), http2, "/big").await?;
                        assert_eq!(status, StatusCode::OK);
                        assert!(body == http_server::big_body(), "/big over TLS {proto}");
                        println!("TLS {proto}: / and /big ({} bytes): ok", body.len());
                    }
                    Ok::<_, BoxError>(())
                }
                .await;
                let _ = done.send(());
                let served = server.await.expect("server task");
                println!("graceful shutdown after {served} connections");
                r
            })??;
        }
    }
    Ok(())
}
