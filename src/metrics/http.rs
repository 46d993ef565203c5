//! The HTTP/1.1 server of `/metrics`: one thread, one client at a time,
//! one request per connection, bounded and timed reads.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::CONTENT_TYPE;

/// What a scrape answers with: the exposition, rendered by the caller.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// How long a client has to send its request head, all of it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing the answer may block on a client that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest request head (request line and headers) read.
const MAX_HEAD: usize = 8 * 1024;
/// How often the accept loop looks at `stop`.
const STOP_POLL: Duration = Duration::from_millis(50);
/// After answering, how long and how much of what the client still sends
/// (a body, a pipelined request) is read and dropped, so that closing does
/// not reset the connection before the client has read the answer.
const DRAIN_TIME: Duration = Duration::from_millis(200);
const DRAIN_BYTES: usize = 64 * 1024;
/// The one path served.
const METRICS_PATH: &str = "/metrics";

/// Serves `GET /metrics` on `listen` from a thread of its own until
/// `stop` is set. Binding happens here, so an address in use is the
/// caller's error, not the thread's.
pub fn spawn(
    listen: SocketAddr,
    render: Render,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    serve(TcpListener::bind(listen)?, render, stop)
}

/// As [`spawn`], on a listener the caller bound (port 0 in tests).
pub fn serve(
    listener: TcpListener,
    render: Render,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    // A nonblocking accept lets the loop see `stop` within STOP_POLL.
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("platd-metrics".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        if let Err(e) = answer(stream, &*render) {
                            tracing::debug!(%peer, "metrics client: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(STOP_POLL)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Out of descriptors and the like: keep serving
                        // once they are back, without spinning.
                        tracing::warn!("metrics endpoint: accept failed: {e}");
                        std::thread::sleep(STOP_POLL);
                    }
                }
            }
        })
}

/// What became of reading a request head.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// The request line and headers, through the blank line.
    Complete(Vec<u8>),
    /// The client closed or went quiet first, after `got` bytes.
    Incomplete { got: usize },
    /// No blank line within [`MAX_HEAD`] bytes.
    TooLarge,
}

/// The answers the server gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    HeadTooLarge,
    InternalError,
    VersionNotSupported,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::InternalError => "500 Internal Server Error",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// The exposition; `body` false for `HEAD`.
    Metrics {
        body: bool,
    },
    Refuse(Status),
}

/// Reads one request from `stream`, answers it and closes.
fn answer(mut stream: TcpStream, render: &(dyn Fn() -> String + Send + Sync)) -> io::Result<()> {
    // The listener is nonblocking; on some systems accepted sockets
    // inherit that.
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let route = match read_head(&mut stream)? {
        Head::Complete(head) => route(&head),
        Head::TooLarge => Route::Refuse(Status::HeadTooLarge),
        // Nothing at all (a port probe, an idle client): just close.
        Head::Incomplete { got: 0 } => return Ok(()),
        Head::Incomplete { .. } => Route::Refuse(Status::BadRequest),
    };
    match route {
        Route::Metrics { body } => match catch_unwind(AssertUnwindSafe(render)) {
            Ok(text) => respond(&mut stream, Status::Ok, CONTENT_TYPE, text.as_bytes(), body)?,
            Err(_) => refuse(&mut stream, Status::InternalError, body)?,
        },
        Route::Refuse(status) => refuse(&mut stream, status, true)?,
    }
    linger(&mut stream);
    Ok(())
}

/// Reads until the blank line that ends a request head, for at most
/// [`REQUEST_TIMEOUT`] in all (a client trickling bytes gets no longer)
/// and at most [`MAX_HEAD`] bytes.
fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = vec![0; MAX_HEAD];
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buf[..len]) {
            buf.truncate(end);
            return Ok(Head::Complete(buf));
        }
        if len == MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::Incomplete { got: len });
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Ok(Head::Incomplete { got: len }),
            Ok(n) => len += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Head::Incomplete { got: len })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The length of the head in `buf`, through its first empty line (CRLF
/// or, tolerated as RFC 9112 2.2 allows, a bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if matches!(&buf[line_start..i], b"" | b"\r") {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Where a request head goes.
fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else {
        return Route::Refuse(Status::BadRequest);
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    // RFC 9112 3: request-line = method SP request-target SP HTTP-version
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Refuse(Status::BadRequest);
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || !target.starts_with('/') {
        return Route::Refuse(Status::BadRequest);
    }
    let minor = match version.as_bytes() {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', m @ (b'0' | b'1')] => *m,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Route::Refuse(Status::VersionNotSupported)
        }
        _ => return Route::Refuse(Status::BadRequest),
    };
    let mut hosts = 0;
    for line in lines.take_while(|l| !l.is_empty()) {
        // RFC 9112 5: field-line = field-name ":" OWS field-value OWS,
        // and "No whitespace is allowed between the field name and colon."
        let Some((name, _)) = line.split_once(':') else {
            return Route::Refuse(Status::BadRequest);
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Route::Refuse(Status::BadRequest);
        }
        hosts += usize::from(name.eq_ignore_ascii_case("host"));
    }
    // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status
    // code to any HTTP/1.1 request message that lacks a Host header field
    // and to any request message that contains more than one Host header
    // field line".
    if hosts > 1 || (minor == b'1' && hosts == 0) {
        return Route::Refuse(Status::BadRequest);
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != METRICS_PATH {
        return Route::Refuse(Status::NotFound);
    }
    match method {
        "GET" => Route::Metrics { body: true },
        "HEAD" => Route::Metrics { body: false },
        _ => Route::Refuse(Status::MethodNotAllowed),
    }
}

/// RFC 9110 5.6.2: the characters of a token (method, field name).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes a whole answer (`Connection: close`: one request a connection).
fn respond(
    stream: &mut TcpStream,
    status: Status,
    content_type: &str,
    body: &[u8],
    send_body: bool,
) -> io::Result<()> {
    let allow = if status == Status::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        status.line(),
        body.len(),
    );
    stream.write_all(head.as_bytes())?;
    if send_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// Answers with `status` and a one-line body naming it.
fn refuse(stream: &mut TcpStream, status: Status, send_body: bool) -> io::Result<()> {
    let body = format!("{}\n", status.line());
    respond(
        stream,
        status,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        send_body,
    )
}

/// Half-closes and reads what the client still sends, within bounds,
/// so that the close that follows does not reset the connection under
/// an answer the client has not read yet.
fn linger(stream: &mut TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    let mut drained = 0;
    let mut buf = [0; 4096];
    while drained < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A server on 127.0.0.1 answering with a fixed body.
    fn server() -> (SocketAddr, Arc<AtomicBool>, JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let render: Render = Arc::new(|| "plat_up 1\n".to_owned());
        let handle = serve(listener, render, Arc::clone(&stop)).unwrap();
        (addr, stop, handle)
    }

    /// Sends `request`, half-closes, and returns all the server said.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn status_line(answer: &str) -> &str {
        answer.lines().next().unwrap_or_default()
    }

    fn stop_server(stop: &AtomicBool, handle: JoinHandle<()>) {
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }

    #[test]
    fn the_server_answers_metrics_refuses_the_rest_and_survives_garbage() {
        let (addr, stop, handle) = server();
        let get = |path: &str| {
            exchange(
                addr,
                format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            )
        };

        let ok = get("/metrics");
        assert_eq!(status_line(&ok), "HTTP/1.1 200 OK");
        assert!(ok.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(ok.contains("\r\nContent-Length: 10\r\n"));
        assert!(ok.ends_with("\r\n\r\nplat_up 1\n"), "{ok}");
        assert_eq!(status_line(&get("/metrics?x=1")), "HTTP/1.1 200 OK");
        assert_eq!(status_line(&get("/")), "HTTP/1.1 404 Not Found");

        let head = exchange(addr, b"HEAD /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(status_line(&head), "HTTP/1.1 200 OK");
        assert!(head.ends_with("\r\n\r\n"), "HEAD sends no body");

        let post = exchange(
            addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert_eq!(status_line(&post), "HTTP/1.1 405 Method Not Allowed");
        assert!(post.contains("\r\nAllow: GET, HEAD\r\n"));

        for garbage in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"hello\r\n\r\n",
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\n\r\n", // no Host
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n", // closed mid-head
        ] {
            let answer = exchange(addr, garbage);
            assert_eq!(
                status_line(&answer),
                "HTTP/1.1 400 Bad Request",
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        assert_eq!(
            status_line(&exchange(addr, b"GET /metrics HTTP/2.0\r\n\r\n")),
            "HTTP/1.1 505 HTTP Version Not Supported"
        );
        let huge = format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        assert_eq!(
            status_line(&exchange(addr, huge.as_bytes())),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        // A client that connects and says nothing is closed on.
        assert_eq!(exchange(addr, b""), "");

        assert_eq!(status_line(&get("/metrics")), "HTTP/1.1 200 OK");
        stop_server(&stop, handle);
    }

    #[test]
    fn a_silent_client_is_dropped_after_the_timeout_and_the_next_one_served() {
        let (addr, stop, handle) = server();
        let mut silent = TcpStream::connect(addr).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let start = Instant::now();
        let answer = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
        let mut buf = [0; 16];
        assert_eq!(
            silent.read(&mut buf).unwrap(),
            0,
            "closed without an answer"
        );
        let waited = start.elapsed();
        assert!(
            waited >= REQUEST_TIMEOUT - Duration::from_millis(100)
                && waited < REQUEST_TIMEOUT + Duration::from_secs(2),
            "{waited:?}"
        );
        stop_server(&stop, handle);
    }

    #[test]
    fn a_render_that_panics_is_a_500_and_the_server_goes_on() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let render: Render = Arc::new(move || {
            if seen.fetch_add(1, Ordering::Relaxed) == 0 {
                panic!("first scrape fails");
            }
            "ok\n".to_owned()
        });
        let handle = serve(listener, render, Arc::clone(&stop)).unwrap();
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            status_line(&exchange(addr, get)),
            "HTTP/1.1 500 Internal Server Error"
        );
        assert_eq!(status_line(&exchange(addr, get)), "HTTP/1.1 200 OK");
        stop_server(&stop, handle);
    }

    #[test]
    fn spawn_reports_an_address_in_use_and_stops_when_told() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let render: Render = Arc::new(String::new);
        let stop = Arc::new(AtomicBool::new(false));
        let err = spawn(
            taken.local_addr().unwrap(),
            Arc::clone(&render),
            Arc::clone(&stop),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

        let handle = spawn((Ipv4Addr::LOCALHOST, 0).into(), render, Arc::clone(&stop)).unwrap();
        let start = Instant::now();
        stop_server(&stop, handle);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_head_ends_at_its_first_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
