//! platd's Prometheus endpoint: what one scrape shows ([`MetricsView`]),
//! its text exposition ([`exposition`], format 0.0.4, written by
//! prometheus-client) and the small HTTP/1.1 server that answers
//! `GET /metrics` ([`spawn`]).
//!
//! Every scrape is built anew from values the caller has just read (the
//! counter board, the shards' stats and pool4 use through the
//! `ControlHandle`), so this module keeps no state between scrapes and
//! the dataplane never sees a Prometheus type. Names come from the one
//! counter registry (`plat_core::counters`): a registry counter `x` is
//! `plat_x_total` here, a registry gauge `plat_x`.

// Until main.rs starts the server (the management branch wires it).
#![cfg_attr(not(test), allow(dead_code))]

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plat_core::counters::Kind;
use plat_core::nat::{Pool4Use, Proto, ShardStats};
use plat_dataplane::counters::CounterBoard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The prefix of every metric platd exports.
pub const NAMESPACE: &str = "plat";

/// `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `worker` label of the counter board's last row.
const CONTROL_ROW: &str = "control";

/// What one scrape shows, all of it read by the caller.
#[derive(Debug, Clone, Copy)]
pub struct MetricsView<'a> {
    /// Every registry counter: rows are the workers `0..n-1`, then the
    /// control thread (the last row).
    pub board: &'a CounterBoard,
    /// Each worker's NAT state (`None`: a worker without NAT state).
    pub shards: &'a [Option<ShardStats>],
    /// Port use per pool4 address, summed over the workers.
    pub pool4: &'a [Pool4Use],
    /// Each worker's busy share of its polls over the last second (0..1).
    pub busy: &'a [f64],
    /// Seconds since platd started.
    pub uptime_s: f64,
    /// How many configurations platd has applied (1 for the first).
    pub config_generation: u64,
    /// platd's version, as `platd --version` prints it.
    pub version: &'a str,
}

/// The Prometheus text exposition (format 0.0.4) of `view`.
pub fn exposition(view: &MetricsView) -> String {
    let mut registry = Registry::with_prefix(NAMESPACE);
    registry.register_collector(Box::new(Scrape(families(view))));
    let mut out = String::new();
    // Writing into a String cannot fail, and the collector fails only
    // with its writer.
    prometheus_text::encode(&mut out, &registry).expect("encoding into a String");
    out
}

// ---------------------------------------------------------------------
// The exposition: one scrape as metric families, encoded in order by a
// prometheus-client collector.

/// A sample's labels, in the order they are written.
type Labels = Vec<(&'static str, String)>;

/// A gauge's value.
#[derive(Debug, Clone, Copy)]
enum Level {
    Count(u64),
    Ratio(f64),
}

/// One metric family's samples.
#[derive(Debug)]
enum Samples {
    Counter(Vec<(Labels, u64)>),
    Gauge(Vec<(Labels, Level)>),
    /// A constant 1 whose labels carry the information (`_info`).
    Info(Labels),
}

impl Samples {
    fn metric_type(&self) -> MetricType {
        match self {
            Samples::Counter(_) => MetricType::Counter,
            Samples::Gauge(_) => MetricType::Gauge,
            Samples::Info(_) => MetricType::Info,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Samples::Counter(s) => s.is_empty(),
            Samples::Gauge(s) => s.is_empty(),
            Samples::Info(_) => false,
        }
    }
}

/// One metric family: its name without the namespace (nor, for a
/// counter, `_total`: the encoder adds both), its help and samples.
#[derive(Debug)]
struct Family {
    name: Cow<'static, str>,
    help: Cow<'static, str>,
    samples: Samples,
}

/// A scrape as the registry's one collector, so that families and series
/// come out in a fixed order (workers ascending, protocols in
/// `Proto::ALL` order) rather than a hash map's.
#[derive(Debug)]
struct Scrape(Vec<Family>);

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in self.0.iter().filter(|f| !f.samples.is_empty()) {
            let mut metric =
                encoder.encode_descriptor(&f.name, &f.help, None, f.samples.metric_type())?;
            match &f.samples {
                Samples::Counter(samples) => {
                    for (labels, v) in samples {
                        ConstCounter::new(*v).encode(metric.encode_family(labels)?)?;
                    }
                }
                Samples::Gauge(samples) => {
                    for (labels, v) in samples {
                        let series = metric.encode_family(labels)?;
                        match *v {
                            Level::Count(v) => ConstGauge::new(v).encode(series)?,
                            Level::Ratio(v) => ConstGauge::new(v).encode(series)?,
                        }
                    }
                }
                Samples::Info(labels) => Info::new(labels.clone()).encode(metric)?,
            }
        }
        Ok(())
    }
}

/// NAT state gauges per worker and protocol: name, help, values.
type PerProto = (
    &'static str,
    &'static str,
    fn(&ShardStats) -> [u32; Proto::COUNT],
);
const SHARD_PER_PROTO: &[PerProto] = &[
    (
        "sessions",
        "NAT64 sessions in the worker's table, by protocol.",
        |s| s.sessions_by_proto,
    ),
    (
        "bib_entries",
        "BIB entries (bindings of an IPv6 transport address to a pool4 one) in the worker's table, by protocol.",
        |s| s.bibs_by_proto,
    ),
];

/// NAT state gauges per worker: name, help, value.
type PerWorker = (&'static str, &'static str, fn(&ShardStats) -> u32);
const SHARD_GAUGES: &[PerWorker] = &[
    (
        "subscribers",
        "Subscribers (IPv6 sources) the worker holds NAT state for.",
        |s| s.subscribers,
    ),
    (
        "held_syns",
        "Inbound IPv4 TCP SYNs held now, waiting for the IPv6 side to open the session (RFC 6146 3.5.2.2).",
        |s| s.held_syns,
    ),
];

/// NAT state counters per worker: name, help, value.
type PerWorkerCount = (&'static str, &'static str, fn(&ShardStats) -> u64);
const SHARD_COUNTERS: &[PerWorkerCount] = &[
    (
        "nat_sessions_created",
        "NAT64 sessions created.",
        |s| s.sessions_created,
    ),
    (
        "nat_sessions_expired",
        "NAT64 sessions removed when their timer ran out.",
        |s| s.sessions_expired,
    ),
    (
        "nat_bib_entries_created",
        "Dynamic BIB entries created.",
        |s| s.bibs_created,
    ),
    (
        "nat_held_syn_timeouts",
        "Held IPv4 SYNs whose session never opened (RFC 6146 3.5.2.2).",
        |s| s.held_syn_timeouts,
    ),
    (
        "nat_hairpins",
        "Packets between two subscribers turned around inside the translator (hairpinning).",
        |s| s.hairpins,
    ),
    (
        "nat_paired_fallbacks",
        "Allocations that used another pool4 address because the subscriber's paired one was exhausted.",
        |s| s.paired_fallback,
    ),
    (
        "nat_events_lost",
        "NAT state events (session and BIB records for logging and sync) lost because the event buffer was full.",
        |s| s.events_lost,
    ),
];

/// Pool4 gauges per address and protocol: name, help, value from
/// (used, total).
type Pool4Gauge = (&'static str, &'static str, fn(u32, u32) -> Level);
const POOL4_GAUGES: &[Pool4Gauge] = &[
    (
        "pool4_ports_used",
        "Ports (ICMP identifiers) of the pool4 address in use, summed over workers.",
        |used, _| Level::Count(used.into()),
    ),
    (
        // Not `_total`: that suffix is for counters.
        "pool4_ports_capacity",
        "Ports (ICMP identifiers) of the pool4 address the workers may hand out.",
        |_, total| Level::Count(total.into()),
    ),
    (
        "pool4_utilisation_ratio",
        "Share of the pool4 address's ports in use (0 when it has none).",
        |used, total| Level::Ratio(utilisation(used, total)),
    ),
];

/// `used` over `total`, 0 for an address without ports (so an unused
/// protocol does not show as NaN).
fn utilisation(used: u32, total: u32) -> f64 {
    if total == 0 {
        0.0
    } else {
        f64::from(used) / f64::from(total)
    }
}

/// The `worker` label of the board's row `row` out of `rows`.
fn row_label(row: usize, rows: usize) -> String {
    if row + 1 == rows {
        CONTROL_ROW.to_owned()
    } else {
        row.to_string()
    }
}

/// Every family of one scrape, in exposition order.
fn families(view: &MetricsView) -> Vec<Family> {
    let mut out = Vec::new();

    let board = view.board;
    let rows = board.workers();
    for (i, desc) in board.descs().iter().enumerate() {
        let labels = |row| vec![("worker", row_label(row, rows))];
        let samples = match desc.kind {
            Kind::Counter => {
                Samples::Counter((0..rows).map(|r| (labels(r), board.get(r, i))).collect())
            }
            Kind::Gauge => Samples::Gauge(
                (0..rows)
                    .map(|r| (labels(r), Level::Count(board.get(r, i))))
                    .collect(),
            ),
        };
        out.push(Family {
            name: desc.name.into(),
            help: desc.help.into(),
            samples,
        });
    }

    let shards = || {
        view.shards
            .iter()
            .enumerate()
            .filter_map(|(w, s)| s.as_ref().map(|s| (w.to_string(), s)))
    };
    for &(name, help, values) in SHARD_PER_PROTO {
        let samples = shards()
            .flat_map(|(w, s)| {
                let values = values(s);
                Proto::ALL.map(|p| {
                    let labels = vec![("proto", p.name().to_owned()), ("worker", w.clone())];
                    (labels, Level::Count(values[p.index()].into()))
                })
            })
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Gauge(samples),
        });
    }
    for &(name, help, value) in SHARD_GAUGES {
        let samples = shards()
            .map(|(w, s)| (vec![("worker", w)], Level::Count(value(s).into())))
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Gauge(samples),
        });
    }
    for &(name, help, value) in SHARD_COUNTERS {
        let samples = shards()
            .map(|(w, s)| (vec![("worker", w)], value(s)))
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Counter(samples),
        });
    }

    for &(name, help, level) in POOL4_GAUGES {
        let samples = view
            .pool4
            .iter()
            .flat_map(|u| {
                Proto::ALL.map(|p| {
                    let labels = vec![
                        ("address", u.addr.to_string()),
                        ("proto", p.name().to_owned()),
                    ];
                    (labels, level(u.used[p.index()], u.total[p.index()]))
                })
            })
            .collect();
        out.push(Family {
            name: name.into(),
            help: help.into(),
            samples: Samples::Gauge(samples),
        });
    }

    out.push(Family {
        name: "worker_busy_ratio".into(),
        help: "Share of the worker's polls over the last second that found packets.".into(),
        samples: Samples::Gauge(
            view.busy
                .iter()
                .enumerate()
                .map(|(w, b)| (vec![("worker", w.to_string())], Level::Ratio(*b)))
                .collect(),
        ),
    });
    out.push(Family {
        name: "uptime_seconds".into(),
        help: "Seconds since platd started.".into(),
        samples: Samples::Gauge(vec![(Vec::new(), Level::Ratio(view.uptime_s))]),
    });
    out.push(Family {
        name: "config_generation".into(),
        help: "Configurations platd has applied since it started (1: the first).".into(),
        samples: Samples::Gauge(vec![(Vec::new(), Level::Count(view.config_generation))]),
    });
    out.push(Family {
        name: "build".into(),
        help: "platd's version; the value is always 1.".into(),
        samples: Samples::Info(vec![("version", view.version.to_owned())]),
    });
    out
}

// ---------------------------------------------------------------------
// The HTTP server: one thread, one client at a time, one request per
// connection.

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
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::Ipv4Addr;

    use plat_dataplane::appliance::board_descs;
    use plat_dataplane::counters::LocalCounters;

    const VERSION: &str = "0.1.0 (git abc123, DPDK 23.11.0)";

    /// A small scrape: two workers and the control thread; worker 1 has
    /// no NAT state.
    fn small_exposition() -> (String, Arc<CounterBoard>) {
        let board = CounterBoard::new(board_descs(), 3);
        let rx = board.index("rx_inside").unwrap();
        let replies = board.index("host_replies").unwrap();
        let mut w0 = LocalCounters::new(Arc::clone(&board), 0);
        let mut w1 = LocalCounters::new(Arc::clone(&board), 1);
        let mut control = LocalCounters::new(Arc::clone(&board), 2);
        w0.add(rx, 5);
        w1.add(rx, 7);
        control.add(replies, 3);
        for c in [&w0, &w1, &control] {
            c.publish();
        }
        let stats = ShardStats {
            sessions: 4,
            bibs: 3,
            sessions_by_proto: [1, 2, 1],
            bibs_by_proto: [1, 1, 1],
            subscribers: 2,
            held_syns: 1,
            sessions_created: 10,
            sessions_expired: 6,
            bibs_created: 8,
            events_lost: 2,
            ..ShardStats::default()
        };
        let pool4 = [Pool4Use {
            addr: Ipv4Addr::new(192, 0, 2, 1),
            used: [16, 32, 0],
            total: [64, 64, 0],
        }];
        let view = MetricsView {
            board: &board,
            shards: &[Some(stats), None],
            pool4: &pool4,
            busy: &[0.25, 0.0],
            uptime_s: 12.5,
            config_generation: 2,
            version: VERSION,
        };
        (exposition(&view), board)
    }

    /// The families of an exposition, checked line by line against the
    /// text format 0.0.4: each family's HELP and TYPE once and before its
    /// samples, valid names and labels, every sample of its family, no
    /// series twice, numeric values. Returns each series (name and labels
    /// as written) with its value, and each family's type.
    fn parse(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
        fn valid_name(n: &str) -> bool {
            let mut b = n.bytes();
            b.next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
                && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        }
        /// The label set `{...}` at the start of `s`, checked, and the rest.
        fn labels(s: &str) -> (&str, &str) {
            let bytes = s.as_bytes();
            let mut i = 1;
            let mut names = BTreeSet::new();
            while bytes[i] != b'}' {
                let eq = s[i..].find('=').expect("label without =") + i;
                let name = &s[i..eq];
                assert!(valid_name(name) && !name.contains(':'), "label {name:?}");
                assert!(names.insert(name), "label {name} twice in {s}");
                assert_eq!(bytes[eq + 1], b'"', "unquoted value in {s}");
                i = eq + 2;
                while bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        assert!(matches!(bytes[i + 1], b'\\' | b'"' | b'n'), "escape in {s}");
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                match bytes[i] {
                    b',' => i += 1,
                    b'}' => {}
                    _ => panic!("after a label value: {s}"),
                }
            }
            (&s[..=i], &s[i + 1..])
        }

        let mut series = BTreeMap::new();
        let mut types = BTreeMap::new();
        let mut helps = BTreeSet::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP without text");
                assert!(valid_name(name), "HELP name {name:?}");
                assert!(!help.trim().is_empty(), "{name}: empty help");
                assert!(helps.insert(name.to_owned()), "{name}: HELP twice");
                assert!(!types.contains_key(name), "{name}: HELP after TYPE");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE without type");
                assert!(valid_name(name), "TYPE name {name:?}");
                assert!(
                    matches!(kind, "counter" | "gauge" | "untyped"),
                    "{name}: {kind}"
                );
                assert!(helps.contains(name), "{name}: no HELP");
                let old = types.insert(name.to_owned(), kind.to_owned());
                assert!(old.is_none(), "{name}: TYPE twice");
                current = Some(name.to_owned());
            } else {
                assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
                let end = line.find(['{', ' ']).expect("sample without value");
                let name = &line[..end];
                assert_eq!(Some(name), current.as_deref(), "sample outside its family");
                let (labels, rest) = if line[end..].starts_with('{') {
                    labels(&line[end..])
                } else {
                    ("", &line[end..])
                };
                let value = rest.strip_prefix(' ').expect("no space before the value");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
                let old = series.insert(format!("{name}{labels}"), value);
                assert!(old.is_none(), "series twice: {line}");
            }
        }
        (series, types)
    }

    #[test]
    fn every_registry_counter_has_help_type_and_a_sample_per_worker_and_control() {
        let (text, board) = small_exposition();
        let (series, types) = parse(&text);
        for desc in board.descs() {
            let (name, kind) = match desc.kind {
                Kind::Counter => (format!("plat_{}_total", desc.name), "counter"),
                Kind::Gauge => (format!("plat_{}", desc.name), "gauge"),
            };
            assert!(
                text.contains(&format!("# HELP {name} {}\n", desc.help)),
                "{name}: help"
            );
            assert_eq!(types.get(&name).map(String::as_str), Some(kind), "{name}");
            for worker in ["0", "1", "control"] {
                assert!(
                    series.contains_key(&format!("{name}{{worker=\"{worker}\"}}")),
                    "{name} of worker {worker}"
                );
            }
        }
        assert_eq!(series["plat_rx_inside_total{worker=\"0\"}"], 5.0);
        assert_eq!(series["plat_rx_inside_total{worker=\"1\"}"], 7.0);
        assert_eq!(series["plat_rx_inside_total{worker=\"control\"}"], 0.0);
        assert_eq!(series["plat_host_replies_total{worker=\"control\"}"], 3.0);
    }

    #[test]
    fn nat_state_pool4_and_process_metrics_are_labelled_and_valued() {
        let (text, _) = small_exposition();
        let (series, types) = parse(&text);
        let expect = [
            ("plat_sessions{proto=\"tcp\",worker=\"0\"}", 1.0),
            ("plat_sessions{proto=\"udp\",worker=\"0\"}", 2.0),
            ("plat_bib_entries{proto=\"icmp\",worker=\"0\"}", 1.0),
            ("plat_subscribers{worker=\"0\"}", 2.0),
            ("plat_held_syns{worker=\"0\"}", 1.0),
            ("plat_nat_sessions_created_total{worker=\"0\"}", 10.0),
            ("plat_nat_sessions_expired_total{worker=\"0\"}", 6.0),
            ("plat_nat_bib_entries_created_total{worker=\"0\"}", 8.0),
            ("plat_nat_events_lost_total{worker=\"0\"}", 2.0),
            (
                "plat_pool4_ports_used{address=\"192.0.2.1\",proto=\"udp\"}",
                32.0,
            ),
            (
                "plat_pool4_ports_capacity{address=\"192.0.2.1\",proto=\"udp\"}",
                64.0,
            ),
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"tcp\"}",
                0.25,
            ),
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"udp\"}",
                0.5,
            ),
            // An address without ICMP identifiers is not NaN.
            (
                "plat_pool4_utilisation_ratio{address=\"192.0.2.1\",proto=\"icmp\"}",
                0.0,
            ),
            ("plat_worker_busy_ratio{worker=\"0\"}", 0.25),
            ("plat_worker_busy_ratio{worker=\"1\"}", 0.0),
            ("plat_uptime_seconds", 12.5),
            ("plat_config_generation", 2.0),
            (
                "plat_build_info{version=\"0.1.0 (git abc123, DPDK 23.11.0)\"}",
                1.0,
            ),
        ];
        for (s, v) in expect {
            assert_eq!(series.get(s), Some(&v), "{s}");
        }
        // Worker 1 keeps no NAT state: no NAT series for it.
        assert!(!series
            .keys()
            .any(|s| s.starts_with("plat_sessions{") && s.contains("worker=\"1\"")));
        assert_eq!(types["plat_nat_sessions_created_total"], "counter");
        assert_eq!(types["plat_sessions"], "gauge");
        assert_eq!(types["plat_build_info"], "gauge");
        // Families come out in a fixed order (no hash map in between).
        assert_eq!(text, small_exposition().0);
    }

    /// promtool lint problems of names that are not this module's: the
    /// registry's `host_drop_not_for_us` reads as microseconds to the
    /// linter (renaming it is plat-dataplane's call, and the stats file
    /// and platctl use the name too).
    const KNOWN_LINT: &[&str] =
        &["plat_host_drop_not_for_us_total metric names should not contain abbreviated units"];

    #[test]
    fn promtool_accepts_the_exposition_without_lint_problems() {
        if std::process::Command::new("promtool")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("promtool is not on PATH (Debian package `prometheus`): check skipped");
            return;
        }
        let (text, _) = small_exposition();
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running promtool");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // promtool: 0 clean, 3 lint problems only, 1 not parsed.
        assert!(matches!(out.status.code(), Some(0 | 3)), "promtool: {said}");
        let unknown: Vec<&str> = said
            .lines()
            .filter(|l| !l.trim().is_empty() && !KNOWN_LINT.contains(&l.trim()))
            .collect();
        assert!(unknown.is_empty(), "promtool: {unknown:#?}");
    }

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
