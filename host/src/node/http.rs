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
//!
//! A scrape is built on the event loop (status, peers, a store read), so the loop is
//! asked at most once per [`MIN_ASK_SPACING`] whatever the request rate ([`Coalesced`]):
//! requests that arrive while an ask is pending or spaced share the next answer. An
//! answer is never older than the request it serves: it was asked for after the request
//! arrived, so a scraper that counts from one request to the next sees no stale values.

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

/// Least time between two asks of the event loop of one kind (scrape or ping).
pub const MIN_ASK_SPACING: Duration = Duration::from_millis(100);

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
    let asks = Arc::new(Asks::new(ask));
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
            let asks = Arc::clone(&asks);
            tokio::spawn(async move {
                let _permit = permit;
                // The whole exchange is bounded: a client that never reads the answer
                // cannot hold a connection slot.
                let bound = READ_TIMEOUT + MIN_ASK_SPACING + LOOP_TIMEOUT + READ_TIMEOUT;
                match tokio::time::timeout(bound, answer(stream, &asks)).await {
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

async fn answer(mut stream: TcpStream, asks: &Asks) -> std::io::Result<()> {
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
        return if asks.ping().await {
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
    match (path, asks.scrape().await) {
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

/// The event loop as this endpoint asks it: one [`Coalesced`] ask per kind.
struct Asks {
    scrapes: Coalesced<Option<Scrape>>,
    pings: Coalesced<bool>,
    loop_tx: mpsc::Sender<ScrapeAsk>,
}

impl Asks {
    fn new(loop_tx: mpsc::Sender<ScrapeAsk>) -> Self {
        Self {
            scrapes: Coalesced::new(MIN_ASK_SPACING),
            pings: Coalesced::new(MIN_ASK_SPACING),
            loop_tx,
        }
    }

    /// A scrape built after this call began, or `None` if the loop did not answer within
    /// [`LOOP_TIMEOUT`].
    async fn scrape(&self) -> Option<Scrape> {
        self.scrapes
            .get(|| ask_loop(&self.loop_tx, ScrapeAsk::Scrape))
            .await
    }

    /// Whether the loop answered a ping sent after this call began.
    async fn ping(&self) -> bool {
        self.pings
            .get(|| async { ask_loop(&self.loop_tx, ScrapeAsk::Ping).await.is_some() })
            .await
    }
}

/// Ask the event loop once, bounded by [`LOOP_TIMEOUT`].
async fn ask_loop<T>(
    loop_tx: &mpsc::Sender<ScrapeAsk>,
    make: impl FnOnce(oneshot::Sender<T>) -> ScrapeAsk,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    tokio::time::timeout(LOOP_TIMEOUT, async {
        loop_tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    })
    .await
    .ok()
    .flatten()
}

/// One expensive question asked on behalf of many requests: at most one ask in flight,
/// asks at least `spacing` apart, and every caller gets the answer of an ask that began
/// after the caller did (so never a stale one). Callers queue in arrival order (tokio's
/// mutex is fair); those that arrive during an ask share the next one.
pub struct Coalesced<T> {
    spacing: Duration,
    /// When the last ask began, and its answer.
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, T)>>,
}

impl<T: Clone> Coalesced<T> {
    /// No ask yet; asks at least `spacing` apart.
    pub fn new(spacing: Duration) -> Self {
        Self {
            spacing,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The answer of an ask that began after this call did: the last one's if it did,
    /// else a new one made with `ask`, once `spacing` has passed since the last began.
    pub async fn get<F, Fut>(&self, ask: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let arrived = tokio::time::Instant::now();
        let mut last = self.last.lock().await;
        if let Some((began, answer)) = last.as_ref() {
            if *began >= arrived {
                return answer.clone();
            }
            tokio::time::sleep_until(*began + self.spacing).await;
        }
        let began = tokio::time::Instant::now();
        let answer = ask().await;
        *last = Some((began, answer.clone()));
        answer
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Many requests at once share asks: fewer asks than callers, every answer from an
    /// ask that began after its caller arrived, asks at least the spacing apart.
    #[tokio::test]
    async fn coalesced_asks_are_shared_spaced_and_fresh() {
        let spacing = Duration::from_millis(40);
        let shared = Arc::new(Coalesced::new(spacing));
        let asks = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for wave in 0..4u64 {
            for _ in 0..8 {
                let (shared, asks) = (Arc::clone(&shared), Arc::clone(&asks));
                callers.push(tokio::spawn(async move {
                    let arrived = tokio::time::Instant::now();
                    let began = shared
                        .get(|| async {
                            asks.fetch_add(1, Ordering::SeqCst);
                            let began = tokio::time::Instant::now();
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            began
                        })
                        .await;
                    (arrived, began)
                }));
            }
            tokio::time::sleep(Duration::from_millis(10 * wave)).await;
        }
        let mut began = Vec::new();
        for caller in callers {
            let (arrived, answer) = caller.await.expect("caller");
            assert!(answer >= arrived, "an answer older than its request");
            began.push(answer);
        }
        let asked = asks.load(Ordering::SeqCst);
        assert!(asked >= 2, "the waves cannot all share the first ask");
        assert!(asked < 32, "32 callers made {asked} asks: none shared");
        began.sort();
        began.dedup();
        assert_eq!(began.len() as u64, asked, "every answer is an ask's");
        for pair in began.windows(2) {
            assert!(pair[1] - pair[0] >= spacing, "asks closer than the spacing");
        }
    }

    /// The endpoint asks the loop at most once per spacing however fast it is asked, and
    /// every answer is fresh. Control: each request answered from its own ask (without
    /// [`Coalesced`]) makes as many asks as requests, and the bound fails.
    #[tokio::test]
    async fn the_endpoint_bounds_the_loop_asks_whatever_the_request_rate() {
        let (tx, mut rx) = mpsc::channel(64);
        let (addr, server) = serve("127.0.0.1:0".parse().expect("addr"), tx)
            .await
            .expect("serve");
        let state = Arc::new(AtomicU64::new(0));
        let (scrapes, pings) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let event_loop = {
            let (state, scrapes, pings) =
                (Arc::clone(&state), Arc::clone(&scrapes), Arc::clone(&pings));
            tokio::spawn(async move {
                while let Some(ask) = rx.recv().await {
                    match ask {
                        ScrapeAsk::Ping(tx) => {
                            pings.fetch_add(1, Ordering::SeqCst);
                            let _ = tx.send(());
                        }
                        ScrapeAsk::Scrape(tx) => {
                            scrapes.fetch_add(1, Ordering::SeqCst);
                            let metrics = format!("state {}\n", state.load(Ordering::SeqCst));
                            let _ = tx.send(Scrape {
                                metrics,
                                ready: true,
                            });
                        }
                    }
                }
            })
        };
        let start = tokio::time::Instant::now();
        let mut requests = 0u64;
        for round in 1..=6u64 {
            // The state moves before the requests: each must see it.
            state.store(round, Ordering::SeqCst);
            let mut wave = Vec::new();
            for i in 0..8 {
                let path = if i % 2 == 0 { "/metrics" } else { "/health" };
                wave.push(tokio::spawn(get(addr, path)));
            }
            for r in wave {
                let (code, body) = r.await.expect("task").expect("request");
                assert_eq!(code, 200, "{body}");
                if body.starts_with("state ") {
                    let seen = metric_sum(&body, "state");
                    assert!(seen >= round as f64, "a stale scrape: {seen} < {round}");
                }
                requests += 1;
            }
        }
        let elapsed = start.elapsed();
        let bound = elapsed.as_millis() as u64 / MIN_ASK_SPACING.as_millis() as u64 + 1;
        let (scrapes, pings) = (scrapes.load(Ordering::SeqCst), pings.load(Ordering::SeqCst));
        assert!(
            scrapes <= bound && pings <= bound,
            "{requests} requests in {elapsed:?} made {scrapes} scrapes and {pings} pings \
             of the loop (at most {bound} each)"
        );
        server.abort();
        event_loop.abort();
    }
}
