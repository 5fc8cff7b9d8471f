//! A lean HTTP/1.1 load generator for the benchmarks: a fixed number of keep-alive
//! connections, each with one request in flight, sending request bytes built once and reading
//! each answer with `httparse` and its `Content-Length`.
//!
//! Why not a general client (reqwest) or an installed tool (`oha`): on a 2-core machine the
//! load generator's own CPU competes with the server it measures. A general client spends
//! microseconds per request on its connection pool, header maps and URL parsing, and with 32
//! requests in flight on one core its queue, not the server, made the p99 (see
//! docs/benchmarks.md). This one costs a write, a read and a header parse per request, on
//! whichever runtime runs it (the benchmarks use one current-thread runtime), and needs nothing
//! installed.
//!
//! It speaks only what the benchmarks need: GET-style requests whose answers carry a
//! `Content-Length` (actix-web's always do for a sized body); a chunked or unsized answer is
//! counted as a failure, never guessed at.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The most header lines an answer may have; the benchmarks' answers have about six.
const MAX_HEADERS: usize = 32;

/// The bytes of one `GET path` request to `host` (the `Host` header's value, such as
/// `127.0.0.1:8080`), built once and sent as they are.
pub fn get(host: &str, path: &str) -> Arc<[u8]> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
        .into_bytes()
        .into()
}

/// What one run of requests gave.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers with a 2xx status.
    pub ok: usize,
    /// Answers with another status, and requests that got no complete answer.
    pub failed: usize,
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
    /// Each request's time from its first byte written to its answer's last byte read, sorted.
    pub latencies: Vec<Duration>,
    /// What went wrong first, for the benchmark to print when `failed` is not zero.
    pub first_error: Option<String>,
}

/// Why an exchange got no usable answer.
#[derive(Debug, thiserror::Error)]
enum ExchangeError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before the whole answer.
    #[error("the server closed the connection before the whole answer")]
    Closed,
    /// Not an HTTP/1.1 answer this generator reads (no `Content-Length`, chunked, malformed).
    #[error("an answer this load generator cannot read: {0}")]
    Unreadable(&'static str),
}

/// One keep-alive connection and the buffer its answers are read into, kept across runs.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // One write per request: nothing for Nagle's algorithm to batch, only to delay.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and reads its answer whole; the answer's status.
    async fn exchange(&mut self, request: &[u8]) -> Result<u16, ExchangeError> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        loop {
            if self.buffer.len() == self.buffer.capacity() {
                self.buffer.reserve(self.buffer.capacity());
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(ExchangeError::Closed);
            }
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut answer = httparse::Response::new(&mut headers);
            let head = match answer.parse(&self.buffer) {
                Ok(httparse::Status::Complete(head)) => head,
                Ok(httparse::Status::Partial) => continue,
                Err(_) => return Err(ExchangeError::Unreadable("a malformed status or header")),
            };
            let status = answer.code.unwrap_or(0);
            let mut length = None;
            for header in answer.headers.iter() {
                if header.name.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(ExchangeError::Unreadable("a chunked answer"));
                }
                if header.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(header.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok());
                }
            }
            let Some(length) = length else {
                return Err(ExchangeError::Unreadable(
                    "an answer without Content-Length",
                ));
            };
            let total = head + length;
            while self.buffer.len() < total {
                self.buffer.reserve(total - self.buffer.len());
                if self.stream.read_buf(&mut self.buffer).await? == 0 {
                    return Err(ExchangeError::Closed);
                }
            }
            // One request in flight per connection: nothing may follow the answer.
            if self.buffer.len() > total {
                return Err(ExchangeError::Unreadable("bytes after the answer"));
            }
            return Ok(status);
        }
    }
}

/// Keep-alive connections to one server, opened once and reused by every [`Load::run`].
pub struct Load {
    addr: SocketAddr,
    concurrency: usize,
    connections: Vec<Connection>,
}

impl Load {
    /// Opens `concurrency` connections to `addr`.
    pub async fn connect(addr: SocketAddr, concurrency: usize) -> std::io::Result<Self> {
        let mut connections = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            connections.push(Connection::open(addr).await?);
        }
        Ok(Self {
            addr,
            concurrency,
            connections,
        })
    }

    /// Sends `count` requests, request `i` being `requests[i % requests.len()]`, one in flight
    /// per connection, every connection on its own task of the current runtime. A connection
    /// that fails is opened again for the next request; its failed request is counted.
    ///
    /// # Panics
    ///
    /// If `requests` is empty.
    pub async fn run(&mut self, requests: &[Arc<[u8]>], count: usize) -> Outcome {
        assert!(!requests.is_empty(), "a load needs at least one request");
        let requests: Arc<[Arc<[u8]>]> = requests.into();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for mut connection in self.connections.drain(..) {
            let (requests, next, addr) = (Arc::clone(&requests), Arc::clone(&next), self.addr);
            tasks.spawn(async move {
                let mut outcome = Outcome::default();
                let mut open = true;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    if !open {
                        match Connection::open(addr).await {
                            Ok(fresh) => (connection, open) = (fresh, true),
                            Err(error) => {
                                outcome.failed += 1;
                                outcome.first_error.get_or_insert(format!(
                                    "cannot connect again to {addr}: {error}"
                                ));
                                continue;
                            }
                        }
                    }
                    let sent = Instant::now();
                    match connection.exchange(&requests[i % requests.len()]).await {
                        Ok(status) if (200..300).contains(&status) => outcome.ok += 1,
                        Ok(status) => {
                            outcome.failed += 1;
                            outcome
                                .first_error
                                .get_or_insert(format!("an answer with status {status}"));
                        }
                        Err(error) => {
                            outcome.failed += 1;
                            outcome.first_error.get_or_insert(error.to_string());
                            open = false;
                        }
                    }
                    outcome.latencies.push(sent.elapsed());
                }
                (outcome, open.then_some(connection))
            });
        }
        let mut total = Outcome {
            latencies: Vec::with_capacity(count),
            ..Outcome::default()
        };
        while let Some(done) = tasks.join_next().await {
            let (outcome, connection) = done.expect("a load task does not panic");
            total.ok += outcome.ok;
            total.failed += outcome.failed;
            total.latencies.extend(outcome.latencies);
            if total.first_error.is_none() {
                total.first_error = outcome.first_error;
            }
            if let Some(connection) = connection {
                self.connections.push(connection);
            }
        }
        total.elapsed = started.elapsed();
        // A connection lost for good is opened again, so the next run has its concurrency.
        while self.connections.len() < self.concurrency {
            match Connection::open(self.addr).await {
                Ok(connection) => self.connections.push(connection),
                Err(_) => break,
            }
        }
        total.latencies.sort();
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A keep-alive server for the tests: `/ok` answers 200 with a body (its head and body in
    /// two writes, so the generator must read on), `/fail` 500, `/chunked` a chunked answer,
    /// `/close` closes the connection without answering.
    async fn server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                // Without it the second write of `/ok` waits for the client's delayed ACK.
                stream.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let end = loop {
                            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break end + 4;
                            }
                            if stream.read_buf(&mut buffer).await.unwrap_or(0) == 0 {
                                return;
                            }
                        };
                        let request = String::from_utf8(buffer.drain(..end).collect()).unwrap();
                        let path = request.split(' ').nth(1).unwrap().to_owned();
                        let answer: &[&[u8]] = match path.as_str() {
                            "/ok" => &[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n", b"\r\nhello"],
                            "/fail" => &[
                                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                            ],
                            "/chunked" => &[
                                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
                            ],
                            _ => return,
                        };
                        for part in answer {
                            stream.write_all(part).await.unwrap();
                            stream.flush().await.unwrap();
                            tokio::task::yield_now().await;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn every_request_is_answered_and_timed_and_failures_are_counted() {
        let addr = server().await;
        let host = addr.to_string();
        let mut load = Load::connect(addr, 4).await.unwrap();

        let outcome = load.run(&[get(&host, "/ok")], 100).await;
        assert_eq!((outcome.ok, outcome.failed), (100, 0));
        assert_eq!(outcome.latencies.len(), 100);
        assert!(outcome.latencies.is_sorted());
        assert!(outcome.first_error.is_none());

        let outcome = load
            .run(&[get(&host, "/ok"), get(&host, "/fail")], 10)
            .await;
        assert_eq!((outcome.ok, outcome.failed), (5, 5));
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("an answer with status 500")
        );

        let outcome = load.run(&[get(&host, "/chunked")], 2).await;
        assert_eq!((outcome.ok, outcome.failed), (0, 2));
        assert!(outcome.first_error.unwrap().contains("chunked"));
    }

    #[tokio::test]
    async fn a_closed_connection_is_a_failure_and_is_opened_again() {
        let addr = server().await;
        let host = addr.to_string();
        let mut load = Load::connect(addr, 2).await.unwrap();

        let outcome = load.run(&[get(&host, "/close")], 5).await;
        assert_eq!((outcome.ok, outcome.failed), (0, 5));
        assert!(outcome.first_error.unwrap().contains("closed"));

        // Every connection was lost and is open again, so the next run has all of them.
        let outcome = load.run(&[get(&host, "/ok")], 20).await;
        assert_eq!((outcome.ok, outcome.failed), (20, 0));
        assert_eq!(load.connections.len(), 2);
    }
}
