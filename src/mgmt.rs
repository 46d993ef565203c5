//! The management socket: a Unix socket (path, mode and group from
//! `[mgmt]`) speaking one JSON `api::Request` per line and answering one
//! `api::Response` per line. Each client has its own thread (at most
//! [`MAX_CLIENTS`] at once); a line longer than the bound, one that is
//! not a request, or one left half-sent past the read timeout gets a
//! structured error, and nobody else notices.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use plat_core::api::{
    self, Answer, ApiError, Applied, ConfigText, Cursor, ErrorKind, ListQuery, Listing, OnWorker,
    Outcome, PerProto, Pool4Status, Request, Response, Stats, Summary, WorkerStatus,
};
use plat_core::config::{Config, ConfigError, Ipv4Cidr, MgmtConfig};
use plat_dataplane::ha::HaShared;
use plat_dataplane::handle::HandleError;

use crate::state::Daemon;

/// Clients served at once; one more is told the server is busy.
pub const MAX_CLIENTS: usize = 32;
/// A request must arrive whole within this time of its first byte.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no request in flight is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// The listening socket; the file goes when this is dropped.
#[derive(Debug)]
pub struct MgmtServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MgmtServer {
    fn drop(&mut self) {
        // The accept loop blocks in accept(): a connection wakes it to
        // see the stop flag.
        self.stop.store(true, Ordering::Relaxed);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the socket as `[mgmt]` says and serves it until `stop` is set.
pub fn serve(
    cfg: &MgmtConfig,
    daemon: Arc<Daemon>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<MgmtServer> {
    let path = PathBuf::from(&cfg.socket);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for mgmt.socket", dir.display()))?;
    }
    // A socket file left by a platd that died is in the way; a live
    // platd on it is not ours to replace.
    if UnixStream::connect(&path).is_ok() {
        anyhow::bail!(
            "mgmt.socket {}: another process is serving it",
            path.display()
        );
    }
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    set_access(&path, cfg).with_context(|| format!("mgmt.socket {}", path.display()))?;
    let thread = std::thread::Builder::new().name("mgmt".into()).spawn({
        let stop = Arc::clone(&stop);
        move || accept_loop(listener, daemon, stop)
    })?;
    Ok(MgmtServer {
        path,
        stop,
        thread: Some(thread),
    })
}

/// Gives the socket its mode and group.
fn set_access(path: &Path, cfg: &MgmtConfig) -> anyhow::Result<()> {
    if let Some(group) = &cfg.group {
        let gid = group_id(group)
            .with_context(|| format!("mgmt.group: no group `{group}` on this host"))?;
        std::os::unix::fs::chown(path, None, Some(gid)).context("setting the socket's group")?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.mode))
        .context("setting the socket's mode")?;
    Ok(())
}

/// The id of group `name`, from the group database (`/etc/group`).
fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

fn accept_loop(listener: UnixListener, daemon: Arc<Daemon>, stop: Arc<AtomicBool>) {
    let clients = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                    clients.fetch_sub(1, Ordering::AcqRel);
                    let mut s = stream;
                    let _ = write_response(
                        &mut s,
                        0,
                        Outcome::Error(ApiError::new(
                            ErrorKind::Busy,
                            format!("{MAX_CLIENTS} clients are connected; try again"),
                        )),
                    );
                    continue;
                }
                let (d, c, st) = (Arc::clone(&daemon), Arc::clone(&clients), Arc::clone(&stop));
                let spawned = std::thread::Builder::new()
                    .name("mgmt-client".into())
                    .spawn(move || {
                        if let Err(e) = serve_client(stream, &d, &st) {
                            tracing::debug!(error = %e, "management client gone");
                        }
                        c.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    clients.fetch_sub(1, Ordering::AcqRel);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting a management client");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// What reading one request line gave.
enum Line {
    /// A whole line (without its newline).
    Whole(Vec<u8>),
    /// The peer closed the connection between requests.
    Closed,
    /// An error to answer; `fatal` closes the connection after it.
    Refused { error: ApiError, fatal: bool },
}

/// Reads one line of at most [`api::MAX_REQUEST_BYTES`].
fn read_line(r: &mut BufReader<UnixStream>, stop: &AtomicBool) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut started: Option<Instant> = None;
    let idle_since = Instant::now();
    loop {
        let Some(buf) = fill(r)? else {
            if stop.load(Ordering::Relaxed) {
                return Ok(Line::Closed);
            }
            match started {
                Some(t) if t.elapsed() >= READ_TIMEOUT => {
                    return Ok(Line::Refused {
                        error: ApiError::new(
                            ErrorKind::Timeout,
                            format!(
                                "the request did not end with a newline within {}s",
                                READ_TIMEOUT.as_secs()
                            ),
                        ),
                        fatal: true,
                    })
                }
                None if idle_since.elapsed() >= IDLE_TIMEOUT => return Ok(Line::Closed),
                _ => continue,
            }
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Line::Closed
            } else {
                Line::Refused {
                    error: ApiError::new(
                        ErrorKind::Malformed,
                        "the connection closed in the middle of a request (no newline)",
                    ),
                    fatal: true,
                }
            });
        }
        started.get_or_insert_with(Instant::now);
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > api::MAX_REQUEST_BYTES {
            // Too long: refuse it, then skip to its end so the next
            // request on this connection is read from its start.
            let consumed = done.unwrap_or(buf.len());
            r.consume(consumed);
            if done.is_none() && !skip_line(r)? {
                return Ok(Line::Refused {
                    error: too_large(),
                    fatal: true,
                });
            }
            return Ok(Line::Refused {
                error: too_large(),
                fatal: false,
            });
        }
        line.extend_from_slice(chunk);
        match done {
            Some(n) => {
                r.consume(n);
                return Ok(Line::Whole(line));
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// What is buffered (empty at the end of the stream), or `None` when the
/// short read timeout passed with nothing new (the caller keeps time).
fn fill(r: &mut BufReader<UnixStream>) -> io::Result<Option<&[u8]>> {
    match r.fill_buf() {
        Ok(b) => Ok(Some(b)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorKind::TooLarge,
        format!(
            "a request is at most {} bytes on one line",
            api::MAX_REQUEST_BYTES
        ),
    )
}

/// Discards up to and including the next newline; false if the peer did
/// not send one within the read timeout.
fn skip_line(r: &mut BufReader<UnixStream>) -> io::Result<bool> {
    let start = Instant::now();
    loop {
        let Some(buf) = fill(r)? else {
            if start.elapsed() >= READ_TIMEOUT {
                return Ok(false);
            }
            continue;
        };
        if buf.is_empty() {
            return Ok(false);
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            r.consume(i + 1);
            return Ok(true);
        }
        let n = buf.len();
        r.consume(n);
    }
}

fn write_response(w: &mut UnixStream, id: u64, outcome: Outcome) -> io::Result<()> {
    let mut text = serde_json::to_vec(&Response {
        version: api::VERSION,
        id,
        outcome,
    })
    .map_err(io::Error::other)?;
    text.push(b'\n');
    w.write_all(&text)
}

fn serve_client(stream: UnixStream, d: &Daemon, stop: &AtomicBool) -> io::Result<()> {
    // Short reads let the thread notice a stop and time a half-sent line.
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut out = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    loop {
        let (id, outcome, fatal) = match read_line(&mut r, stop)? {
            Line::Closed => return Ok(()),
            Line::Refused { error, fatal } => (0, Outcome::Error(error), fatal),
            Line::Whole(line) => match parse(&line) {
                Ok(req) => {
                    let outcome = match handle(d, req.command) {
                        Ok(a) => Outcome::Ok(a),
                        Err(e) => Outcome::Error(e),
                    };
                    (req.id, outcome, false)
                }
                Err((id, e)) => (id, Outcome::Error(e), false),
            },
        };
        write_response(&mut out, id, outcome)?;
        if fatal {
            return Ok(());
        }
    }
}

/// A request line into a request, or the error to answer (with the id
/// when the line had one).
fn parse(line: &[u8]) -> Result<Request, (u64, ApiError)> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        (
            0,
            ApiError::new(ErrorKind::Malformed, format!("not JSON: {e}")),
        )
    })?;
    let id = value
        .get("id")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(api::VERSION) => {}
        Some(v) => {
            return Err((
                id,
                ApiError::field(
                    ErrorKind::UnsupportedVersion,
                    "version",
                    format!("this platd speaks version {}, not {v}", api::VERSION),
                ),
            ))
        }
        None => {
            return Err((
                id,
                ApiError::field(ErrorKind::Malformed, "version", "missing or not a number"),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| {
        (
            id,
            ApiError::new(ErrorKind::Malformed, format!("not a request: {e}")),
        )
    })
}

fn unavailable(e: HandleError) -> ApiError {
    ApiError::new(ErrorKind::Unavailable, e.to_string())
}

fn refused(e: ConfigError) -> ApiError {
    ApiError::field(ErrorKind::Refused, e.field, e.reason)
}

fn invalid(e: ConfigError) -> ApiError {
    ApiError::field(ErrorKind::Invalid, e.field, e.reason)
}

/// What workers answered, labelled with the worker.
fn on_workers<T>(answers: Vec<(usize, T)>) -> Vec<OnWorker<T>> {
    answers
        .into_iter()
        .map(|(w, info)| OnWorker {
            worker: w as u32,
            info,
        })
        .collect()
}

/// How long the sync thread may take to answer a takeover or release.
const HA_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The HA pair, or a refusal naming the missing section.
fn ha(d: &Daemon) -> Result<&HaShared, ApiError> {
    d.ha.as_deref().ok_or_else(|| {
        ApiError::field(
            ErrorKind::Refused,
            "ha",
            "this node has no [ha] section: it is not part of a pair",
        )
    })
}

/// Answers one command.
fn handle(d: &Daemon, cmd: api::Command) -> Result<Answer, ApiError> {
    use api::Command as C;
    let mutating = matches!(
        cmd,
        C::Pool4Add(_)
            | C::Pool4Remove { .. }
            | C::ConfigReload
            | C::SessionClear { .. }
            | C::HaTakeover
            | C::HaRelease
    );
    if mutating {
        tracing::info!(command = ?cmd, "management command");
    } else {
        tracing::debug!(command = ?cmd, "management command");
    }
    match cmd {
        C::HaShow => Ok(Answer::Ha(ha(d)?.status())),
        C::HaTakeover => {
            let ha = ha(d)?;
            ha.takeover(HA_REQUEST_TIMEOUT)
                .map_err(|e| ApiError::new(ErrorKind::Refused, e))?;
            Ok(Answer::Ha(ha.status()))
        }
        C::HaRelease => {
            let ha = ha(d)?;
            ha.release(HA_REQUEST_TIMEOUT)
                .map_err(|e| ApiError::new(ErrorKind::Refused, e))?;
            Ok(Answer::Ha(ha.status()))
        }
        C::ShowSummary => summary(d).map(Answer::Summary),
        C::ShowStats { worker, rates } => stats(d, worker, rates).map(Answer::Stats),
        C::ShowSessions(q) => list(
            d,
            q,
            |d, f, at, n| d.handle.sessions(f, at, n),
            |d, f| d.handle.count_sessions(f),
        )
        .map(Answer::Sessions),
        C::ShowBib(q) => list(
            d,
            q,
            |d, f, at, n| d.handle.bib(f, at, n),
            |d, f| d.handle.count_bib(f),
        )
        .map(Answer::Bib),
        C::ShowSubscriber { addr } => Ok(Answer::Subscriber(on_workers(
            d.handle.subscriber(addr).map_err(unavailable)?,
        ))),
        C::Who { v4, proto } => Ok(Answer::Who(on_workers(
            d.handle.who(v4, proto).map_err(unavailable)?,
        ))),
        C::ShowPool4 => Ok(Answer::Pool4(Pool4Status {
            entries: d.live.load().config.nat64.pool4.clone(),
            addrs: d.handle.pool4_use().map_err(unavailable)?,
        })),
        C::Pool4Add(entry) => change(d, |c| {
            let at = Ipv4Cidr::from(&entry);
            if c.nat64.pool4.iter().any(|e| Ipv4Cidr::from(e) == at) {
                return Err(ApiError::field(
                    ErrorKind::Refused,
                    "prefix",
                    format!("{at} is in pool4 already"),
                ));
            }
            c.nat64.pool4.push(entry);
            Ok(())
        }),
        C::Pool4Remove { prefix } => change(d, |c| {
            let before = c.nat64.pool4.len();
            c.nat64.pool4.retain(|e| Ipv4Cidr::from(e) != prefix);
            if c.nat64.pool4.len() == before {
                return Err(ApiError::field(
                    ErrorKind::Refused,
                    "prefix",
                    format!("{prefix} is not a pool4 entry (see `show pool4`)"),
                ));
            }
            Ok(())
        }),
        C::ShowConfig => {
            let snap = d.live.load();
            Ok(Answer::Config(ConfigText {
                path: d.config_path.display().to_string(),
                generation: snap.generation,
                toml: toml::to_string(&snap.config)
                    .unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n")),
            }))
        }
        C::ConfigCheck { toml } => {
            let new = Config::from_toml(&toml).map_err(invalid)?;
            let snap = d.live.load();
            let changes = snap.config.live_changes(&new).map_err(refused)?;
            Ok(Answer::Applied(Applied {
                generation: snap.generation,
                changes,
            }))
        }
        C::ConfigReload => {
            let text = std::fs::read_to_string(&d.config_path).map_err(|e| {
                ApiError::new(
                    ErrorKind::Refused,
                    format!("reading {}: {e}", d.config_path.display()),
                )
            })?;
            let new = Config::from_toml(&text).map_err(invalid)?;
            change(d, |c| {
                *c = new;
                Ok(())
            })
        }
        C::SessionClear { filter } => Ok(Answer::Cleared {
            sessions: d.handle.clear(filter).map_err(unavailable)?,
        }),
        C::ShowNeighbors => Ok(Answer::Neighbors(d.status.load().neighbors.clone())),
        C::ShowWorkers => {
            let shards = d.handle.summary().map_err(unavailable)?;
            let busy = d.busy();
            Ok(Answer::Workers(
                shards
                    .into_iter()
                    .enumerate()
                    .map(|(w, state)| WorkerStatus {
                        worker: w as u32,
                        lcore: d.lcores.get(w).copied().unwrap_or(0),
                        busy: busy.get(w).copied().unwrap_or(0.0),
                        rx_per_second: d.worker_last_second(w, "rx_inside")
                            + d.worker_last_second(w, "rx_outside"),
                        state,
                    })
                    .collect(),
            ))
        }
    }
}

/// Edits a copy of the running configuration, checks what changed can be
/// applied live, and publishes it.
fn change(
    d: &Daemon,
    edit: impl FnOnce(&mut Config) -> Result<(), ApiError>,
) -> Result<Answer, ApiError> {
    let _one = d.changing.lock().unwrap_or_else(|e| e.into_inner());
    let running = d.live.load();
    let mut new = running.config.clone();
    edit(&mut new)?;
    new.validate().map_err(invalid)?;
    let changes = running.config.live_changes(&new).map_err(refused)?;
    let generation = if changes.is_empty() {
        running.generation
    } else {
        d.live.publish(new)
    };
    tracing::info!(generation, ?changes, "configuration applied");
    Ok(Answer::Applied(Applied {
        generation,
        changes,
    }))
}

type Listed<T> = plat_dataplane::handle::Listed<T>;

/// A page (or a count) of a listing.
fn list<T>(
    d: &Daemon,
    q: ListQuery,
    page: impl Fn(
        &Daemon,
        plat_core::nat::SessionFilter,
        Option<(usize, u32)>,
        usize,
    ) -> Result<Listed<T>, HandleError>,
    count: impl Fn(&Daemon, plat_core::nat::SessionFilter) -> Result<u64, HandleError>,
) -> Result<Listing<T>, ApiError> {
    if q.count {
        return Ok(Listing {
            entries: Vec::new(),
            next: None,
            count: Some(count(d, q.filter).map_err(unavailable)?),
        });
    }
    if let Some(c) = q.cursor {
        if c.worker as usize >= d.workers() {
            return Err(ApiError::field(
                ErrorKind::Invalid,
                "cursor.worker",
                format!("there are {} workers", d.workers()),
            ));
        }
    }
    let limit = q.limit.clamp(1, api::MAX_LIMIT) as usize;
    let at = q.cursor.map(|c| (c.worker as usize, c.slot));
    let p = page(d, q.filter, at, limit).map_err(unavailable)?;
    Ok(Listing {
        entries: p.entries,
        next: p.next.map(|(w, slot)| Cursor {
            worker: w as u32,
            slot,
        }),
        count: None,
    })
}

fn summary(d: &Daemon) -> Result<Summary, ApiError> {
    let shards = d.handle.summary().map_err(unavailable)?;
    let sum = |f: fn(&plat_core::nat::ShardStats) -> [u32; 3]| {
        let mut a = [0u64; 3];
        for s in shards.iter().flatten() {
            for (x, y) in a.iter_mut().zip(f(s)) {
                *x += u64::from(y);
            }
        }
        PerProto::from_array(a)
    };
    let snap = d.live.load();
    Ok(Summary {
        version: crate::state::LONG_VERSION.to_owned(),
        uptime_s: d.started.elapsed().as_secs(),
        role: "standalone".to_owned(),
        workers: d.workers() as u32,
        steering: d.steering.clone(),
        ports: d.status.load().ports.clone(),
        sessions: sum(|s| s.sessions_by_proto),
        bibs: sum(|s| s.bibs_by_proto),
        subscribers: shards
            .iter()
            .flatten()
            .map(|s| u64::from(s.subscribers))
            .sum(),
        pool4: d.handle.pool4_use().map_err(unavailable)?,
        drops_last_second: d.last_second(|n| n.starts_with("drop_")),
        packets_last_second: d.last_second(|n| n == "rx_inside" || n == "rx_outside"),
        config_generation: snap.generation,
    })
}

fn stats(d: &Daemon, worker: Option<u32>, rates: bool) -> Result<Stats, ApiError> {
    let (interval_ms, mut counters) = d.counters(rates);
    let mut rows: Vec<String> = (0..d.workers()).map(|w| format!("worker {w}")).collect();
    rows.push("control".to_owned());
    if let Some(w) = worker {
        let w = w as usize;
        if w >= d.workers() {
            return Err(ApiError::field(
                ErrorKind::Invalid,
                "worker",
                format!("there are {} workers (0-{})", d.workers(), d.workers() - 1),
            ));
        }
        rows = vec![rows[w].clone()];
        for c in &mut counters {
            c.values = vec![c.values[w]];
            c.total = c.values[0];
        }
    }
    Ok(Stats {
        interval_ms,
        rows,
        counters,
        busy: d.busy(),
    })
}
