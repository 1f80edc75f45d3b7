//! tokio's IO traits on uvio's streams and `File` (feature `tokio-io`): tokio-util's codecs
//! and tokio-trait generic code on the libuv loop, with no tokio runtime.

mod common;

use std::io::SeekFrom;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
use tokio_util::codec::{Framed, FramedRead, FramedWrite, LinesCodec};
use uvio::fs::{File, OpenOptions};
use uvio::{Loop, PipeStream, TcpStream};

/// Compiles only if `T` has the tokio traits.
fn tokio_rw<T: AsyncRead + AsyncWrite + Unpin>(t: T) -> T {
    t
}

#[test]
fn framed_lines_codec_echo_over_tcp() {
    let lp = Loop::new().unwrap();
    let (client, server) = common::tcp_pair(&lp);
    let n = common::scale(200);
    lp.block_on(async move {
        // The server: a line echo, upper-cased, through `Framed<TcpStream, LinesCodec>`.
        let echo = uvio::spawn_local(async move {
            let mut lines = Framed::new(tokio_rw(server), LinesCodec::new());
            let mut count = 0;
            while let Some(line) = lines.next().await {
                lines.send(line.unwrap().to_uppercase()).await.unwrap();
                count += 1;
            }
            count
        });
        let mut c = Framed::new(client, LinesCodec::new());
        for i in 0..n {
            c.send(format!("line {i}")).await.unwrap();
            assert_eq!(c.next().await.unwrap().unwrap(), format!("LINE {i}"));
        }
        // A batch sent before reading any answer: nothing is lost or reordered.
        for i in 0..n {
            c.feed(format!("batch {i}")).await.unwrap();
        }
        SinkExt::<String>::flush(&mut c).await.unwrap();
        for i in 0..n {
            assert_eq!(c.next().await.unwrap().unwrap(), format!("BATCH {i}"));
        }
        // Closing the client's write side (tokio `poll_shutdown`) ends the server's stream.
        SinkExt::<String>::close(&mut c).await.unwrap();
        assert_eq!(echo.await.unwrap(), 2 * n);
        assert!(c.next().await.is_none());
    })
    .unwrap();
}

#[test]
fn framed_halves_and_pipes() {
    let lp = Loop::new().unwrap();
    let (a, b) = PipeStream::pair(&lp).unwrap();
    lp.block_on(async move {
        let (rd, wr) = b.split();
        let mut lines_in = FramedRead::new(rd, LinesCodec::new());
        let mut lines_out = FramedWrite::new(wr, LinesCodec::new());
        let mut a = Framed::new(&a, LinesCodec::new());
        a.send("over a pipe").await.unwrap();
        let got = lines_in.next().await.unwrap().unwrap();
        lines_out.send(format!("{got}, back")).await.unwrap();
        assert_eq!(a.next().await.unwrap().unwrap(), "over a pipe, back");
        // A line longer than the codec allows is an error, not a hang or a panic.
        let mut strict = FramedRead::new(lines_in.into_inner(), LinesCodec::new_with_max_length(8));
        a.send("far too long for eight").await.unwrap();
        assert!(strict.next().await.unwrap().is_err());
    })
    .unwrap();
}

/// tokio-trait generic code: read all through `AsyncRead` by hand (no tokio `io-util`).
async fn read_all<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let mut rb = tokio::io::ReadBuf::new(&mut buf);
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut r).poll_read(cx, &mut rb))
            .await
            .unwrap();
        if rb.filled().is_empty() {
            return out;
        }
        out.extend_from_slice(rb.filled());
    }
}

#[test]
fn file_lines_seek_and_buffered_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lines.txt");
    let lp = Loop::new().unwrap();
    let n = common::scale(5000);
    lp.block_on(async move {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let mut w = FramedWrite::new(f, LinesCodec::new());
        for i in 0..n {
            w.feed(format!("{i}")).await.unwrap();
        }
        SinkExt::<String>::flush(&mut w).await.unwrap();
        let mut f = w.into_inner();

        // `AsyncSeek`: back to the start, and to the end (an fstat).
        let len = seek(&mut f, SeekFrom::End(0)).await.unwrap();
        let want: String = (0..n).map(|i| format!("{i}\n")).collect();
        assert_eq!(len, want.len() as u64);
        assert_eq!(seek(&mut f, SeekFrom::Start(0)).await.unwrap(), 0);

        // The lines back through `FramedRead<File, LinesCodec>`.
        let mut r = FramedRead::new(f, LinesCodec::new());
        for i in 0..n {
            assert_eq!(r.next().await.unwrap().unwrap(), i.to_string());
        }
        assert!(r.next().await.is_none());
        let mut f = r.into_inner();

        // `AsyncBufRead`: the read-ahead buffer, consumed in pieces; `AsyncRead` the rest.
        assert_eq!(seek(&mut f, SeekFrom::Start(2)).await.unwrap(), 2);
        let mut p = std::pin::Pin::new(&mut f);
        let head = std::future::poll_fn(|cx| {
            p.as_mut()
                .poll_fill_buf(cx)
                .map(|r| r.map(|b| b[..3].to_vec()))
        })
        .await
        .unwrap();
        assert_eq!(head, &want.as_bytes()[2..5]);
        p.as_mut().consume(3);
        assert_eq!(read_all(&mut f).await, &want.as_bytes()[5..]);
        // `poll_complete` without a `start_seek` reports the position.
        assert_eq!(seek_pos(&mut f).await, want.len() as u64);
    })
    .unwrap();
}

/// tokio's two-step seek.
async fn seek(f: &mut File, to: SeekFrom) -> std::io::Result<u64> {
    std::pin::Pin::new(&mut *f).start_seek(to)?;
    let mut f = std::pin::Pin::new(f);
    std::future::poll_fn(move |cx| f.as_mut().poll_complete(cx)).await
}

async fn seek_pos(f: &mut File) -> u64 {
    let mut f = std::pin::Pin::new(f);
    std::future::poll_fn(move |cx| f.as_mut().poll_complete(cx))
        .await
        .unwrap()
}

#[test]
fn tokio_shutdown_ends_the_peers_stream() {
    let lp = Loop::new().unwrap();
    let (a, b) = TcpStream::pair(&lp).unwrap();
    lp.block_on(async move {
        let mut w = FramedWrite::new(a, LinesCodec::new());
        w.send("only line").await.unwrap();
        // tokio `poll_shutdown`: the reader sees the line, then the end.
        SinkExt::<String>::close(&mut w).await.unwrap();
        assert_eq!(read_all(tokio_rw(b)).await, b"only line\n");
    })
    .unwrap();
}

#[test]
fn tokio_rustls_over_tcp() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let server_cfg = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_cfg = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let lp = Loop::new().unwrap();
    let (client, server) = common::tcp_pair(&lp);
    let msg = common::pattern(7, common::scale(1 << 20));
    lp.block_on(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
        let echo = uvio::spawn_local(async move {
            let mut tls = acceptor.accept(server).await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            tls.write_all(&got).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, client).await.unwrap();
        tls.write_all(&msg).await.unwrap();
        // TLS close_notify, then TCP shutdown: the server's read ends.
        tls.shutdown().await.unwrap();
        let mut back = Vec::new();
        tls.read_to_end(&mut back).await.unwrap();
        assert!(back == msg, "{} bytes back of {}", back.len(), msg.len());
        echo.await.unwrap();
    })
    .unwrap();
}

#[test]
fn hyper_util_tokio_io_over_uvio_streams() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::rt::TokioIo;

    let lp = Loop::new().unwrap();
    let (client, server) = common::tcp_pair(&lp);
    lp.block_on(async move {
        // The route that needs nothing of `uvio::hyper`: hyper-util's tokio adapter over the
        // tokio traits of a uvio stream.
        let served = uvio::spawn_local(async move {
            let svc = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| {
                let body = format!("{} via TokioIo", req.uri().path());
                async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        body,
                    ))))
                }
            });
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), svc)
                .await
        });
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
            .await
            .unwrap();
        uvio::spawn_local(conn);
        for path in ["/a", "/b"] {
            let req = hyper::Request::get(path).header("host", "x");
            let resp = tx.send_request(req.body(Empty::<Bytes>::new()).unwrap());
            let body = resp.await.unwrap().into_body().collect().await.unwrap();
            assert_eq!(body.to_bytes(), format!("{path} via TokioIo"));
        }
        drop(tx);
        served.await.unwrap().unwrap();
    })
    .unwrap();
}
