//! High availability: the sync thread of an active/standby pair.
//!
//! The sync link is a UDP socket on a management interface (`ha.local`
//! to `ha.peer`), not a DPDK port: sync traffic is a small fraction of
//! the data traffic, it must survive the data ports' failures, and a
//! kernel socket on a dedicated link or VLAN is what an operator can
//! firewall and watch. Every message is sequenced and authenticated
//! (`plat_core::sync`); this thread only moves them.
//!
//! - Active: drains each worker's ring of NAT records into its
//!   [`Sender`], answers acks, resend and dump requests (a dump is the
//!   worker's whole shard, asked of the worker through its command ring).
//! - Standby: passes each worker's messages to its [`Receiver`] and the
//!   records that come out to the worker, which applies them to its shard
//!   between bursts. Its workers translate nothing and its slow path
//!   answers nothing.
//! - Both: heartbeats and the role machine ([`Node`]). On takeover the
//!   workers start translating and the control thread announces the
//!   addresses (gratuitous ARP, unsolicited NA).

use std::collections::{BTreeMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plat_core::api::{HaPeer, HaStatus, HaStream};
use plat_core::config::HaConfig;
use plat_core::nat::Record;
use plat_core::sync::roles::ReleaseError;
use plat_core::sync::{self, Kind, Node, NodeEvent, Receiver, Reply, Role, Sender, Step};

use crate::events::{unix_ms, SyncReceiver};

/// Commands a worker's command ring holds.
pub const COMMAND_SLOTS: usize = 1024;
/// Commands the sync thread holds for a worker whose ring is full (a
/// bulk dump arrives faster than a worker applies it between bursts).
const HELD_COMMANDS: usize = 1 << 20;
/// Records the sync thread takes from one worker's ring per message.
const BATCH: usize = 1024;
/// Datagrams read per round.
const READS_PER_ROUND: usize = 512;
/// Socket buffers: a dump goes out as fast as the window lets it.
const SOCKET_BUFFER: usize = 8 << 20;

/// What the sync thread asks of a worker, between its bursts.
#[derive(Debug)]
pub enum SyncCommand {
    /// Standby: forget the shard's state (a dump follows).
    Clear,
    /// Standby: apply these records of the active node's shard.
    Apply(Vec<Record>),
    /// Active: send the whole shard back (a bulk dump).
    Dump,
}

/// A worker's end of HA.
#[derive(Debug)]
pub struct WorkerHa {
    /// The role: a standby worker translates nothing.
    pub active: Arc<AtomicBool>,
    /// Commands from the sync thread.
    pub commands: rtrb::Consumer<SyncCommand>,
    /// Where a dump goes: (worker, records).
    pub dumps: mpsc::Sender<(u16, Vec<Record>)>,
}

/// What the management plane asks of the sync thread.
#[derive(Debug)]
enum Request {
    Takeover(mpsc::Sender<Result<(), String>>),
    Release(mpsc::Sender<Result<(), String>>),
}

/// The state the sync thread shares with the workers, the control thread
/// and the management plane.
#[derive(Debug)]
pub struct HaShared {
    /// Translating (active) or mirroring (standby).
    pub active: Arc<AtomicBool>,
    /// Set on takeover: the control thread announces the addresses.
    pub announce: AtomicBool,
    requests: Mutex<Vec<Request>>,
    status: Mutex<HaStatus>,
}

impl HaShared {
    /// The pair as the sync thread last saw it (refreshed every 100 ms).
    pub fn status(&self) -> HaStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks the sync thread to take the active role now; waits at most
    /// `timeout` for it to be done.
    pub fn takeover(&self, timeout: Duration) -> Result<(), String> {
        self.ask(Request::Takeover, timeout)
    }

    /// Asks the sync thread to hand the active role to the peer.
    pub fn release(&self, timeout: Duration) -> Result<(), String> {
        self.ask(Request::Release, timeout)
    }

    fn ask(
        &self,
        make: fn(mpsc::Sender<Result<(), String>>) -> Request,
        timeout: Duration,
    ) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .map_err(|_| "the sync thread is gone".to_string())?
            .push(make(tx));
        rx.recv_timeout(timeout)
            .map_err(|_| "the sync thread did not answer".to_string())?
    }
}

/// The running sync thread.
#[derive(Debug)]
pub struct HaLink {
    shared: Arc<HaShared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Why HA could not start.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// The sync link's socket could not be bound or connected.
    #[error("ha.local {addr}: {source}")]
    Bind {
        /// `ha.local`.
        addr: SocketAddr,
        /// What the socket said.
        source: std::io::Error,
    },
}

impl HaLink {
    /// Starts the sync thread for `workers` workers: `rings` are their
    /// NAT records, `commands` their command rings, `dumps` where their
    /// dumps arrive. `fingerprint` hashes the port partitioning, which the
    /// peer must share.
    pub fn start(
        cfg: &HaConfig,
        fingerprint: u64,
        rings: Vec<SyncReceiver>,
        commands: Vec<rtrb::Producer<SyncCommand>>,
        dumps: mpsc::Receiver<(u16, Vec<Record>)>,
        active: Arc<AtomicBool>,
    ) -> Result<HaLink, HaError> {
        let sock = bind(cfg.local, cfg.peer).map_err(|source| HaError::Bind {
            addr: cfg.local,
            source,
        })?;
        let workers = rings.len();
        let shared = Arc::new(HaShared {
            active,
            announce: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            status: Mutex::new(HaStatus::default()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut epochs = Epochs::default();
        // Every node starts standby and listens: it takes over when no
        // active peer speaks within the dead interval, or wins the
        // election against a standby peer. A node restarted after a
        // failover so stays standby and catches up by a dump instead of
        // winning a split brain with empty shards.
        let mut node_cfg = cfg.node(workers as u16, fingerprint);
        node_cfg.role = Role::Standby;
        let node = Node::new(node_cfg, cfg.key.key(), epochs.next(), 0);
        let mut t = SyncThread {
            cfg: cfg.clone(),
            sock,
            node,
            senders: Vec::new(),
            receivers: Vec::new(),
            rings,
            held: (0..workers).map(|_| VecDeque::new()).collect(),
            commands,
            dumps,
            shared: Arc::clone(&shared),
            started,
            epochs,
            events: Vec::new(),
            steps: Vec::new(),
            batch: Vec::with_capacity(BATCH),
            counters: BTreeMap::new(),
            next_status: 0,
            incompatible: None,
        };
        t.become_role(t.node.role(), 0);
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("plat-sync".into())
            .spawn(move || t.run(&stop2))
            .expect("spawn the sync thread");
        Ok(HaLink {
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The shared state.
    pub fn shared(&self) -> Arc<HaShared> {
        Arc::clone(&self.shared)
    }

    /// Stops the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HaLink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The socket of the sync link, non-blocking, with room for a dump.
fn bind(local: SocketAddr, peer: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(local);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    s.set_reuse_address(true)?;
    // Best effort: the kernel caps them at net.core.[rw]mem_max.
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    s.bind(&local.into())?;
    s.connect(&peer.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Epochs that grow with every new Sender, Receiver and Node, even when
/// the wall clock does not (the standby refuses an older epoch).
#[derive(Debug, Default)]
struct Epochs(u64);

impl Epochs {
    fn next(&mut self) -> u64 {
        self.0 = unix_ms().max(self.0 + 1);
        self.0
    }
}

struct SyncThread {
    cfg: HaConfig,
    sock: UdpSocket,
    node: Node,
    /// Active: one per worker.
    senders: Vec<Sender>,
    /// Standby: one per worker.
    receivers: Vec<Receiver>,
    rings: Vec<SyncReceiver>,
    commands: Vec<rtrb::Producer<SyncCommand>>,
    /// Per worker: commands waiting for room in its ring.
    held: Vec<VecDeque<SyncCommand>>,
    dumps: mpsc::Receiver<(u16, Vec<Record>)>,
    shared: Arc<HaShared>,
    started: Instant,
    epochs: Epochs,
    events: Vec<NodeEvent>,
    steps: Vec<Step>,
    batch: Vec<Record>,
    /// Counts of this thread's own (beyond the streams' and the node's).
    counters: BTreeMap<&'static str, u64>,
    next_status: u64,
    /// Why the peer is incompatible, once logged.
    incompatible: Option<String>,
}

impl SyncThread {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn count(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_insert(0) += n;
    }

    fn run(&mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let now = self.now();
            let mut work = self.flush_held();
            work |= self.read(&mut buf, now);
            work |= self.stream(now);
            self.requests(now);
            self.poll(now);
            if now >= self.next_status {
                self.next_status = now + 100;
                self.publish();
            }
            if !work {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Every datagram waiting on the socket, to the stream or node it is
    /// for.
    fn read(&mut self, buf: &mut [u8], now: u64) -> bool {
        let mut n = 0;
        while n < READS_PER_ROUND {
            let len = match self.sock.recv(buf) {
                Ok(len) => len,
                Err(_) => break,
            };
            n += 1;
            self.on_message(&buf[..len], now);
        }
        n > 0
    }

    fn on_message(&mut self, msg: &[u8], now: u64) {
        let Ok(h) = sync::read_header(msg) else {
            return self.count("refused_malformed", 1);
        };
        let w = usize::from(h.worker);
        match h.kind {
            Kind::Heartbeat => {
                match self.node.receive(msg, now, &mut self.events) {
                    Err(sync::roles::PeerError::Incompatible(why)) => {
                        let why = why.to_string();
                        if self.incompatible.as_ref() != Some(&why) {
                            tracing::error!(%why, "ha: the peer is incompatible: no sync with it");
                            self.incompatible = Some(why);
                        }
                    }
                    Ok(_) => self.incompatible = None,
                    Err(_) => {}
                }
                // The standby learns from the heartbeat what the active
                // sent last: a tail lost with nothing after it is a gap.
                if let Some(p) = self.node.peer().filter(|_| !self.receivers.is_empty()) {
                    let epoch = p.epoch;
                    let last = p.heartbeat.last_seq.clone();
                    for (r, l) in self.receivers.iter_mut().zip(last) {
                        r.peer_sent(epoch, l, now);
                    }
                }
            }
            Kind::Events | Kind::DumpPart | Kind::DumpFirst | Kind::DumpLast => {
                let Some(r) = self.receivers.get_mut(w) else {
                    return self.count("unexpected", 1);
                };
                self.steps.clear();
                if r.receive(msg, now, &mut self.steps).is_ok() {
                    let steps = std::mem::take(&mut self.steps);
                    for s in steps {
                        let cmd = match s {
                            Step::Clear => SyncCommand::Clear,
                            Step::Apply(records) => SyncCommand::Apply(records),
                            Step::DumpDone => continue,
                        };
                        self.command_worker(w, cmd);
                    }
                }
                let sock = &self.sock;
                self.receivers[w].poll(now, &mut |m: &[u8]| {
                    let _ = sock.send(m);
                });
            }
            Kind::Ack | Kind::Nack | Kind::DumpRequest => {
                let Some(s) = self.senders.get_mut(w) else {
                    return self.count("unexpected", 1);
                };
                let sock = &self.sock;
                let mut tx = |m: &[u8]| {
                    let _ = sock.send(m);
                };
                if let Ok(Reply::DumpNeeded) = s.receive(msg, now, &mut tx) {
                    self.command_worker(w, SyncCommand::Dump);
                }
            }
        }
    }

    /// A command for worker `w`, in order: behind those held, else into
    /// its ring, else held until the worker makes room. Past
    /// [`HELD_COMMANDS`] held (a worker stuck for seconds) one is lost,
    /// counted: the mirror of that worker is then behind until a dump.
    fn command_worker(&mut self, w: usize, cmd: SyncCommand) {
        let (Some(ring), Some(held)) = (self.commands.get_mut(w), self.held.get_mut(w)) else {
            return self.count("commands_lost", 1);
        };
        let cmd = if held.is_empty() {
            match ring.push(cmd) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(cmd)) => cmd,
            }
        } else {
            cmd
        };
        if held.len() >= HELD_COMMANDS {
            return self.count("commands_lost", 1);
        }
        held.push_back(cmd);
    }

    /// The held commands into the rings, as far as they have room.
    fn flush_held(&mut self) -> bool {
        let mut work = false;
        for (ring, held) in self.commands.iter_mut().zip(&mut self.held) {
            while let Some(cmd) = held.pop_front() {
                if let Err(rtrb::PushError::Full(cmd)) = ring.push(cmd) {
                    held.push_front(cmd);
                    break;
                }
                work = true;
            }
        }
        work
    }

    /// Active: the workers' records into their streams, and dumps out.
    /// Standby: the rings emptied (a standby's own changes are the active
    /// node's, applied).
    fn stream(&mut self, now: u64) -> bool {
        let mut work = false;
        let mut dumps_needed = Vec::new();
        let sock = &self.sock;
        let mut tx = |m: &[u8]| {
            let _ = sock.send(m);
        };
        for w in 0..self.rings.len() {
            let ring = &mut self.rings[w];
            let n = ring.slots().min(BATCH);
            if n == 0 {
                continue;
            }
            work = true;
            self.batch.clear();
            if let Ok(chunk) = ring.read_chunk(n) {
                self.batch.extend(chunk);
            }
            if let Some(s) = self.senders.get_mut(w) {
                if s.send_events(&self.batch, now, &mut tx) == Reply::DumpNeeded {
                    dumps_needed.push(w);
                }
            }
        }
        while let Ok((w, records)) = self.dumps.try_recv() {
            work = true;
            if let Some(s) = self.senders.get_mut(usize::from(w)) {
                s.send_dump(records, now, &mut tx);
            }
        }
        for s in &mut self.senders {
            s.poll(now, &mut tx);
        }
        for r in &mut self.receivers {
            r.poll(now, &mut tx);
        }
        for w in dumps_needed {
            self.command_worker(w, SyncCommand::Dump);
        }
        work
    }

    fn requests(&mut self, now: u64) {
        let taken: Vec<Request> = match self.shared.requests.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => return,
        };
        for r in taken {
            // The role changes before the answer, which shows it.
            let (reply, done) = match r {
                Request::Takeover(reply) => {
                    self.node.takeover(now, &mut self.events);
                    (reply, Ok(()))
                }
                Request::Release(reply) => {
                    let done = self
                        .node
                        .release(now, &mut self.events)
                        .map_err(|e: ReleaseError| e.to_string());
                    (reply, done)
                }
            };
            self.on_events(now);
            self.publish();
            let _ = reply.send(done);
        }
    }

    /// Heartbeats, the peer's death, and what the role machine decided.
    fn poll(&mut self, now: u64) {
        let last: Vec<u64> = if self.senders.is_empty() {
            self.receivers.iter().map(Receiver::applied_seq).collect()
        } else {
            self.senders.iter().map(Sender::last_seq).collect()
        };
        let sock = &self.sock;
        let mut tx = |m: &[u8]| {
            let _ = sock.send(m);
        };
        self.node.poll(now, &last, &mut tx, &mut self.events);
        self.on_events(now);
    }

    /// What the role machine decided.
    fn on_events(&mut self, now: u64) {
        let events = std::mem::take(&mut self.events);
        for e in events {
            match e {
                NodeEvent::Takeover(reason) => {
                    tracing::warn!(?reason, "ha: taking over: this node is active");
                    self.become_role(Role::Active, now);
                }
                NodeEvent::Demoted(reason) => {
                    tracing::warn!(?reason, "ha: demoted: this node is standby");
                    self.become_role(Role::Standby, now);
                }
                NodeEvent::PeerUp { node_id, .. } => {
                    tracing::info!(node_id, "ha: peer up");
                }
                NodeEvent::PeerRestarted { node_id, .. } => {
                    tracing::info!(node_id, "ha: peer restarted");
                    // Its streams start over: so do ours with it.
                    self.become_role(self.node.role(), now);
                }
                NodeEvent::PeerDead => tracing::warn!("ha: peer dead"),
            }
        }
    }

    /// Fresh streams for `role`; the workers and the control thread told.
    fn become_role(&mut self, role: Role, _now: u64) {
        let workers = self.rings.len();
        let key = self.cfg.key.key();
        let stream = self.cfg.stream();
        // The streams' counts outlive them: losses stay counted.
        for (k, v) in self.stream_counters() {
            *self.counters.entry(k).or_insert(0) += v;
        }
        self.senders.clear();
        self.receivers.clear();
        match role {
            Role::Active => {
                for w in 0..workers {
                    let e = self.epochs.next();
                    self.senders
                        .push(Sender::new(w as u16, key.clone(), e, stream));
                }
                let was = self.shared.active.swap(true, Ordering::SeqCst);
                if !was {
                    self.shared.announce.store(true, Ordering::SeqCst);
                }
            }
            Role::Standby => {
                self.shared.active.store(false, Ordering::SeqCst);
                for w in 0..workers {
                    let e = self.epochs.next();
                    self.receivers
                        .push(Receiver::new(w as u16, key.clone(), e, stream));
                }
            }
        }
    }

    /// The current streams' counters.
    fn stream_counters(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        let mut add = |k: &'static str, v: u64| *m.entry(k).or_insert(0) += v;
        for s in &self.senders {
            let c = &s.counters;
            add("sent", c.sent);
            add("resent", c.resent);
            add("window_overflows", c.window_overflows);
            add("dumps_sent", c.dumps);
            add("events_dropped", c.events_dropped);
            for (k, v) in c.refused.named() {
                add(k, v);
            }
        }
        for r in &self.receivers {
            let c = &r.counters;
            add("applied", c.applied);
            add("gaps_detected", c.gaps_detected);
            add("gaps_recovered", c.gaps_recovered);
            add("gaps_unrecovered", c.gaps_unrecovered);
            add("dumps_applied", c.dumps);
            add("dump_requests", c.dump_requests);
            for (k, v) in c.refused.named() {
                add(k, v);
            }
        }
        m
    }

    fn publish(&mut self) {
        let role = |r: Role| match r {
            Role::Active => "active".to_string(),
            Role::Standby => "standby".to_string(),
        };
        let mut counters: BTreeMap<String, u64> = BTreeMap::new();
        let mut add = |k: &str, v: u64| *counters.entry(k.to_string()).or_insert(0) += v;
        for (k, v) in self.counters.iter().chain(self.stream_counters().iter()) {
            add(k, *v);
        }
        let n = &self.node.counters;
        add("heartbeats_sent", n.heartbeats_sent);
        add("heartbeats_received", n.heartbeats_received);
        add("takeovers", n.takeovers);
        add("demotions", n.demotions);
        add("peer_deaths", n.peer_deaths);
        add("incompatible", n.incompatible);
        for (k, v) in n.refused.named() {
            add(k, v);
        }
        let counters = counters;
        let streams = if self.senders.is_empty() {
            self.receivers
                .iter()
                .map(|r| HaStream {
                    worker: r.worker(),
                    seq: r.applied_seq(),
                    acked: 0,
                    in_sync: r.in_sync(),
                })
                .collect()
        } else {
            self.senders
                .iter()
                .map(|s| HaStream {
                    worker: s.worker(),
                    seq: s.last_seq(),
                    acked: s.acked(),
                    in_sync: !s.dumping(),
                })
                .collect()
        };
        let alive = self.node.peer_alive();
        let peer = self.node.peer().map(|p| HaPeer {
            node_id: p.heartbeat.node_id,
            role: role(p.heartbeat.role),
            priority: p.heartbeat.priority,
            alive,
            compatible: p.compatible,
        });
        let status = HaStatus {
            role: role(self.node.role()),
            node_id: self.cfg.node_id,
            priority: self.cfg.priority,
            peer,
            streams,
            counters,
        };
        if let Ok(mut s) = self.shared.status.lock() {
            *s = status;
        }
    }
}

/// Records a worker's ring to the sync thread holds: a few polls of a
/// busy worker.
pub const SYNC_RING_RECORDS: usize = 1 << 16;

/// HA for an appliance of `workers` workers configured by `cfg`: the sync
/// thread, started, and each worker's end. The workers' event senders get
/// their sync rings here.
pub(crate) fn start_for(
    cfg: &plat_core::config::Config,
    ha: &HaConfig,
    senders: &mut [Option<crate::events::EventSender>],
) -> Result<(HaLink, Vec<WorkerHa>), HaError> {
    let rings = crate::events::sync_rings(senders, SYNC_RING_RECORDS);
    let active = Arc::new(AtomicBool::new(false));
    let (dump_tx, dump_rx) = mpsc::channel();
    let (producers, ends): (Vec<_>, Vec<_>) = (0..senders.len())
        .map(|_| {
            let (p, c) = rtrb::RingBuffer::new(COMMAND_SLOTS);
            let end = WorkerHa {
                active: Arc::clone(&active),
                commands: c,
                dumps: dump_tx.clone(),
            };
            (p, end)
        })
        .unzip();
    let link = HaLink::start(
        ha,
        partition_fingerprint(cfg, senders.len()),
        rings,
        producers,
        dump_rx,
        active,
    )?;
    Ok((link, ends))
}

/// What both nodes of a pair must agree on for a session to mean the
/// same on each: the workers and how the pool's ports are shared out.
fn partition_fingerprint(cfg: &plat_core::config::Config, workers: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same on every node of one version.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    workers.hash(&mut h);
    format!("{:?}", cfg.nat64.pool4).hash(&mut h);
    cfg.nat64.nat.port_block.hash(&mut h);
    format!("{:?}", cfg.workers.steering).hash(&mut h);
    h.finish()
}
