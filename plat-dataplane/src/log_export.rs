//! The log thread: drains the workers' NAT event rings and exports the
//! events as IPFIX messages (RFC 7011 over UDP, RFC 8158 records) to each
//! collector and as JSON lines to a local file that it rotates by size.
//!
//! It runs beside the control thread, on the control core (a thread
//! inherits the affinity of the thread that makes it: the main lcore's).
//! Nothing it does can slow a worker: the rings are the only link, and a
//! full ring is counted on the worker's side. What fails here is counted
//! too, per record: a collector that refuses, cannot be reached or whose
//! socket buffer is full (`drop_log_ipfix_send`), a file that cannot be
//! written (`drop_log_file`). UDP tells of a refusal (ICMP port
//! unreachable) only on the send after the refused one, so that one
//! message is counted sent; the collector is then taken as down for a
//! second, its records counted lost unsent, and tried again.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plat_core::addr::Prefix6052;
use plat_core::config::NatLogConfig;
use plat_core::log::ipfix::{IpfixExporter, IpfixOptions};
use plat_core::log::{line, LogEvent};

use crate::events::{unix_ms, EventReceiver};

/// Events taken from one ring before the next ring's turn.
const BATCH: usize = 1024;
/// Sleep when every ring was empty.
const IDLE: Duration = Duration::from_millis(2);
/// How often an idle thread flushes the file and resends due templates.
const TICK: Duration = Duration::from_millis(200);
/// How long after a failed open the file is tried again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// What the log thread did, read by the control thread into its counters.
#[derive(Debug, Default)]
pub struct LogStats {
    /// IPFIX messages sent (per collector).
    pub ipfix_messages: AtomicU64,
    /// Data records in the messages sent (per collector).
    pub ipfix_records: AtomicU64,
    /// Bytes of the messages sent (per collector; UDP payload).
    pub ipfix_bytes: AtomicU64,
    /// Data records in messages a collector's socket refused.
    pub ipfix_lost: AtomicU64,
    /// Lines written to the local log.
    pub lines: AtomicU64,
    /// Lines that could not be written.
    pub lines_lost: AtomicU64,
    /// Times the file was rotated.
    pub rotations: AtomicU64,
}

/// The running log thread.
#[derive(Debug)]
pub struct LogExport {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<LogStats>,
}

impl LogExport {
    /// Opens the collectors' sockets and the file, and starts the thread
    /// on `rings` (one per worker).
    pub fn start(
        cfg: &NatLogConfig,
        prefix: Prefix6052,
        rings: Vec<EventReceiver>,
    ) -> io::Result<LogExport> {
        let collectors = cfg
            .collectors
            .iter()
            .map(|&c| Collector::new(c))
            .collect::<io::Result<Vec<_>>>()?;
        let file = cfg
            .file
            .as_ref()
            .map(|f| RotatingFile::open(f.into(), cfg.file_max_bytes, cfg.file_keep))
            .transpose()?;
        let ipfix = IpfixExporter::new(
            IpfixOptions {
                observation_domain: cfg.observation_domain,
                max_message_len: cfg.max_message_len(),
                include_destination: cfg.destination,
                template_refresh_ms: u64::from(cfg.template_refresh_s) * 1000,
            },
            prefix,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(LogStats::default());
        let mut thread = LogThread {
            rings,
            collectors,
            ipfix,
            file,
            destination: cfg.destination,
            stats: Arc::clone(&stats),
            batch: Vec::with_capacity(BATCH),
            line: Vec::with_capacity(512),
        };
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("plat-log".into())
            .spawn(move || thread.run(&flag))?;
        Ok(LogExport {
            stop,
            thread: Some(handle),
            stats,
        })
    }

    /// The thread's counts.
    pub fn stats(&self) -> Arc<LogStats> {
        Arc::clone(&self.stats)
    }

    /// Stops the thread once it has exported what the rings hold (call
    /// after the workers stopped).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LogExport {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One collector: a UDP socket connected to it, so that the kernel
/// reports a refusal (ICMP port unreachable) or a missing route to us.
#[derive(Debug)]
struct Collector {
    to: SocketAddr,
    socket: UdpSocket,
    connected: Cell<bool>,
    /// After a failure, messages are counted lost without being sent
    /// until this time; then one is tried again.
    down_until: Cell<Option<Instant>>,
}

/// How long a collector that refused, or had no route, is taken as down.
const DOWN_FOR: Duration = Duration::from_secs(1);

impl Collector {
    /// The socket; connecting waits for the first message, so that a
    /// collector without a route at start costs counted losses, not the
    /// start.
    fn new(to: SocketAddr) -> io::Result<Collector> {
        let any: SocketAddr = if to.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(any)?;
        // A full socket buffer loses the message (counted) rather than
        // holding the thread.
        socket.set_nonblocking(true)?;
        Ok(Collector {
            to,
            socket,
            connected: Cell::new(false),
            down_until: Cell::new(None),
        })
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        if self.down_until.get().is_some_and(|t| t > Instant::now()) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        let sent = if self.connected.get() {
            self.socket.send(msg).map(drop)
        } else {
            self.socket.connect(self.to).and_then(|()| {
                self.connected.set(true);
                self.socket.send(msg).map(drop)
            })
        };
        if let Err(e) = &sent {
            if e.kind() != io::ErrorKind::WouldBlock {
                self.down_until.set(Some(Instant::now() + DOWN_FOR));
            }
        }
        sent
    }
}

/// The local log: appended to, renamed to `NAME.1` (and older ones moved
/// up to `NAME.KEEP`) when it would pass its size.
#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    out: Option<io::BufWriter<File>>,
    size: u64,
    retry_at: Option<Instant>,
    rotations: u64,
}

impl RotatingFile {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        let mut f = RotatingFile {
            path,
            max_bytes,
            keep,
            out: None,
            size: 0,
            retry_at: None,
            rotations: 0,
        };
        f.reopen()?;
        Ok(f)
    }

    fn reopen(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.out = Some(io::BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        p.into()
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush()?;
        }
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))?;
        self.rotations += 1;
        self.reopen()
    }

    /// Writes one line; false if it was lost.
    fn write(&mut self, line: &[u8]) -> bool {
        if self.out.is_none() {
            if self.retry_at.is_some_and(|t| t > Instant::now()) {
                return false;
            }
            if let Err(e) = self.reopen() {
                tracing::warn!(path = %self.path.display(), error = %e, "NAT event log cannot be opened");
                self.retry_at = Some(Instant::now() + REOPEN_AFTER);
                return false;
            }
        }
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            if let Err(e) = self.rotate() {
                tracing::warn!(path = %self.path.display(), error = %e, "NAT event log rotation failed");
                self.out = None;
                self.retry_at = Some(Instant::now() + REOPEN_AFTER);
                return false;
            }
        }
        let Some(out) = self.out.as_mut() else {
            return false;
        };
        match out.write_all(line) {
            Ok(()) => {
                self.size += line.len() as u64;
                true
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "NAT event log write failed");
                self.out = None;
                self.retry_at = Some(Instant::now() + REOPEN_AFTER);
                false
            }
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if out.flush().is_err() {
                self.out = None;
            }
        }
    }
}

struct LogThread {
    rings: Vec<EventReceiver>,
    collectors: Vec<Collector>,
    ipfix: IpfixExporter,
    file: Option<RotatingFile>,
    destination: bool,
    stats: Arc<LogStats>,
    batch: Vec<LogEvent>,
    line: Vec<u8>,
}

impl LogThread {
    fn run(&mut self, stop: &AtomicBool) {
        let mut last_tick = Instant::now();
        loop {
            // Read the flag first: what the workers pushed before they
            // stopped is in the rings by then, and is exported below.
            let stopping = stop.load(Ordering::Relaxed);
            let mut moved = 0;
            for w in 0..self.rings.len() {
                self.batch.clear();
                let ring = &mut self.rings[w];
                // One chunk: one publication of the read position.
                let n = ring.slots().min(BATCH);
                if let Ok(chunk) = ring.read_chunk(n) {
                    self.batch.extend(chunk);
                }
                moved += self.batch.len();
                if !self.batch.is_empty() {
                    self.export();
                }
            }
            if moved == 0 || last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.tick();
            }
            if moved == 0 {
                if stopping {
                    break;
                }
                std::thread::sleep(IDLE);
            }
        }
        if let Some(f) = self.file.as_mut() {
            f.flush();
        }
    }

    fn export(&mut self) {
        let now = unix_ms();
        if !self.collectors.is_empty() {
            let (collectors, stats) = (&self.collectors, &self.stats);
            self.ipfix
                .export(&self.batch, now, |msg, n| send(collectors, stats, msg, n));
        }
        if let Some(file) = self.file.as_mut() {
            let (mut written, mut lost) = (0, 0);
            for e in &self.batch {
                self.line.clear();
                line::write_line(e, self.destination, &mut self.line);
                if file.write(&self.line) {
                    written += 1;
                } else {
                    lost += 1;
                }
            }
            self.stats.lines.fetch_add(written, Ordering::Relaxed);
            self.stats.lines_lost.fetch_add(lost, Ordering::Relaxed);
            self.stats
                .rotations
                .store(file.rotations, Ordering::Relaxed);
        }
    }

    /// Flushes the file and resends the templates when they are due.
    fn tick(&mut self) {
        if let Some(f) = self.file.as_mut() {
            f.flush();
        }
        if !self.collectors.is_empty() {
            let (collectors, stats) = (&self.collectors, &self.stats);
            self.ipfix
                .refresh_templates(unix_ms(), |msg, n| send(collectors, stats, msg, n));
        }
    }
}

/// Sends one message with `records` data records to every collector.
fn send(collectors: &[Collector], stats: &LogStats, msg: &[u8], records: usize) {
    for c in collectors {
        if c.send(msg).is_ok() {
            stats.ipfix_messages.fetch_add(1, Ordering::Relaxed);
            stats
                .ipfix_bytes
                .fetch_add(msg.len() as u64, Ordering::Relaxed);
            stats
                .ipfix_records
                .fetch_add(records as u64, Ordering::Relaxed);
        } else {
            stats
                .ipfix_lost
                .fetch_add(records as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventReceiver;
    use plat_core::nat::tcp_state::TcpState;
    use plat_core::nat::{Endpoint4, Endpoint6, Proto, Record, SessionRec};

    fn event(i: u64) -> LogEvent {
        LogEvent {
            unix_ms: 1_796_454_000_000 + i,
            worker: 0,
            record: Record::SessionCreate(SessionRec {
                time: 0,
                proto: Proto::Udp,
                v6: Endpoint6::new("2001:db8:6::2".parse().unwrap(), 10_000 + i as u16),
                v4: Endpoint4::new("198.51.100.1".parse().unwrap(), 20_000 + i as u16),
                remote: Endpoint4::new("203.0.113.2".parse().unwrap(), 7),
                state: TcpState::Closed,
            }),
        }
    }

    fn prefix() -> Prefix6052 {
        Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap()
    }

    /// Starts the thread on one ring to `collector`, feeds it `n` events
    /// in bursts and stops it once they are drained.
    fn feed(cfg: &NatLogConfig, n: u64) -> Arc<LogStats> {
        let (mut tx, rx): (_, EventReceiver) = rtrb::RingBuffer::new(1 << 16);
        let mut log = LogExport::start(cfg, prefix(), vec![rx]).expect("start");
        for i in 0..n {
            while tx.push(event(i)).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
            if i % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let stats = log.stats();
        log.stop();
        stats
    }

    #[test]
    fn a_collector_that_refuses_costs_counted_losses_only() {
        // A port nobody listens on: the kernel answers port unreachable.
        let closed = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = NatLogConfig {
            collectors: vec![closed],
            ..NatLogConfig::default()
        };
        let started = Instant::now();
        let stats = feed(&cfg, 20_000);
        let sent = stats.ipfix_records.load(Ordering::Relaxed);
        let lost = stats.ipfix_lost.load(Ordering::Relaxed);
        assert_eq!(sent + lost, 20_000, "every record sent or counted lost");
        assert!(
            lost > sent,
            "a refusing collector is taken as down: {sent} sent, {lost} lost"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn no_message_exceeds_the_path_mtu_and_every_record_arrives() {
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let cfg = NatLogConfig {
            collectors: vec![collector.local_addr().unwrap()],
            mtu: 576,
            ..NatLogConfig::default()
        };
        let reader = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            let mut buf = [0u8; 65_536];
            while let Ok(n) = collector.recv(&mut buf) {
                sizes.push(n);
            }
            sizes
        });
        let stats = feed(&cfg, 3_000);
        let sizes = reader.join().unwrap();
        assert_eq!(stats.ipfix_records.load(Ordering::Relaxed), 3_000);
        assert_eq!(
            stats.ipfix_messages.load(Ordering::Relaxed),
            sizes.len() as u64
        );
        let max = cfg.max_message_len();
        assert!(
            sizes.iter().all(|&n| n <= max),
            "a message over {max}: {sizes:?}"
        );
        assert!(sizes.iter().any(|&n| n > max - 100), "messages are filled");
    }

    #[test]
    fn the_local_log_rotates_by_size_and_keeps_its_count() {
        let dir = std::env::temp_dir().join(format!("plat-rotate-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nat.jsonl");
        let mut f = RotatingFile::open(path.clone(), 1000, 2).unwrap();
        let line = [b'x'; 99]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        for _ in 0..45 {
            assert!(f.write(&line));
        }
        f.flush();
        assert_eq!(f.rotations, 4, "450 lines of 100 bytes, files of 1000");
        let size = |p: &std::path::Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size(&path), 500);
        assert_eq!(size(&f.rotated(1)), 1000);
        assert_eq!(size(&f.rotated(2)), 1000);
        assert!(!f.rotated(3).exists(), "two kept");
        fs::remove_dir_all(&dir).unwrap();
    }
}
