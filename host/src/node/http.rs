//! The node's operator HTTP endpoint (`metrics_listen`): `GET /metrics` (Prometheus text
//! format), `GET /health` (the event loop answers) and `GET /ready` (see
//! [`super::metrics::ready`]).
//!
//! # Bounds
//! It is meant for a scraper on a private network, and holds against anything that can
//! reach it: at most [`MAX_CONNECTIONS`] connections at once (others are closed at once),
//! a request head of at most [`MAX_HEAD_BYTES`] read within [`READ_TIMEOUT`], one request
//! per connection, and the event loop asked with a bound ([`LOOP_TIMEOUT`]): a stalled
//! loop makes `/health` answer 503, never hang. Only `GET` of the three paths is served;
//! anything else gets 404 or 405.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::{debug, info, warn};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Largest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Time a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Time the event loop has to answer.
pub const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a scrape gets from the event loop.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// Every metric, encoded.
    pub metrics: String,
    /// Whether the node is ready.
    pub ready: bool,
}

/// A request to the event loop: a ping (`/health`: does the loop answer?) or a
/// [`Scrape`] (`/metrics`, `/ready`).
#[derive(Debug)]
pub enum ScrapeAsk {
    /// Answer at once.
    Ping(oneshot::Sender<()>),
    /// Build a scrape.
    Scrape(oneshot::Sender<Scrape>),
}

/// Bind `addr` (a port of 0 picks one); returns the listener's address and the task
/// serving it.
pub async fn serve(
    addr: SocketAddr,
    ask: mpsc::Sender<ScrapeAsk>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(%local, "metrics, health and readiness served over HTTP");
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                debug!(%peer, "metrics listener: too many connections; closed");
                continue; // dropping the stream closes it
            };
            let ask = ask.clone();
            tokio::spawn(async move {
                let _permit = permit;
                // The whole exchange is bounded: a client that never reads the answer
                // cannot hold a connection slot.
                let bound = READ_TIMEOUT + LOOP_TIMEOUT + READ_TIMEOUT;
                match tokio::time::timeout(bound, answer(stream, &ask)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(%peer, error = %e, "metrics request failed"),
                    Err(_) => debug!(%peer, "metrics request timed out"),
                }
            });
        }
    });
    Ok((local, task))
}

/// Read one request head, bounded in bytes and time.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 || head.len() + n > MAX_HEAD_BYTES {
                return Ok(None);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
            }
        }
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or(Ok(None))
}

async fn answer(mut stream: TcpStream, ask: &mpsc::Sender<ScrapeAsk>) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await? else {
        return respond(&mut stream, 400, "text/plain", "bad request\n").await;
    };
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    if !matches!(path, "/metrics" | "/health" | "/ready") {
        return respond(&mut stream, 404, "text/plain", "not found\n").await;
    }
    if method != "GET" {
        return respond(&mut stream, 405, "text/plain", "only GET\n").await;
    }
    if path == "/health" {
        let (tx, rx) = oneshot::channel();
        let alive = tokio::time::timeout(LOOP_TIMEOUT, async {
            ask.send(ScrapeAsk::Ping(tx)).await.ok()?;
            rx.await.ok()
        })
        .await
        .ok()
        .flatten()
        .is_some();
        return if alive {
            respond(&mut stream, 200, "text/plain", "ok\n").await
        } else {
            respond(
                &mut stream,
                503,
                "text/plain",
                "the node's event loop did not answer\n",
            )
            .await
        };
    }
    let scrape = scrape(ask).await;
    match (path, scrape) {
        (_, None) => {
            respond(
                &mut stream,
                503,
                "text/plain",
                "the node's event loop did not answer\n",
            )
            .await
        }
        ("/metrics", Some(s)) => {
            respond(
                &mut stream,
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                &s.metrics,
            )
            .await
        }
        ("/ready", Some(s)) if !s.ready => {
            respond(&mut stream, 503, "text/plain", "not ready\n").await
        }
        ("/ready", Some(_)) => respond(&mut stream, 200, "text/plain", "ready\n").await,
        (_, Some(_)) => respond(&mut stream, 200, "text/plain", "ok\n").await,
    }
}

async fn scrape(ask: &mpsc::Sender<ScrapeAsk>) -> Option<Scrape> {
    let (tx, rx) = oneshot::channel();
    tokio::time::timeout(LOOP_TIMEOUT, async {
        ask.send(ScrapeAsk::Scrape(tx)).await.ok()?;
        rx.await.ok()
    })
    .await
    .ok()
    .flatten()
}

async fn respond(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A client of this endpoint (the bench and tests): send `request` (a raw HTTP/1.1
/// request) to `addr` and return the status code and body; bounded by [`READ_TIMEOUT`]
/// and 64 MiB.
pub async fn request(addr: SocketAddr, request: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut limited = (&mut stream).take(64 << 20);
    tokio::time::timeout(READ_TIMEOUT, limited.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no status line"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// `GET path` from `addr`.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, &format!("GET {path} HTTP/1.1\r\nhost: spore\r\n\r\n")).await
}

/// The sum of every series of metric `name` (all label sets) in a text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
