//! The poll-mode worker: one per worker lcore, owning one queue pair on
//! each port and one engine (shard). Receive a burst from each side,
//! classify, steer to the owner, translate in place, address the frame,
//! send a burst; expire a slice of timers; publish counters.
//!
//! No lock, no allocation and no syscall per packet: the neighbor snapshot
//! is loaded once per burst, counters are local until published, and the
//! rare cases (packets for the appliance, unresolved next hops, fragments,
//! held SYNs) leave the hot path through rings or the slow branches.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use plat_core::nat64::Reason;
use plat_core::wire::ethernet::{ethertype, HEADER_LEN as ETH_LEN};

pub use crate::counters::Counter;
use crate::counters::LocalCounters;
use crate::dpdk::clock::TscClock;
use crate::dpdk::mbuf::{Mbuf, MbufBurst};
use crate::dpdk::mempool::Mempool;
use crate::dpdk::port::PortQueue;
use crate::dpdk::ring::Ring;
use crate::engine::{PacketEngine, Released, Step};
use crate::events::EventSender;
use crate::frag_steer::{Direct, Director, V4Fragment, MAX_DIRECTOR_WAITING};
use crate::ha::{SyncCommand, WorkerHa};
use crate::handoff::{nic_places_v4, nic_places_v6, HandoffMesh};
use crate::live::LiveConfig;
use crate::mailbox::Mailbox;
use crate::neighbor::{ForwardingSnapshot, SharedForwarding};

mod tx;
use tx::{FragmentSink, TokenBucket, TxQueue};

/// Held packets a worker keeps at most (RFC 6146 3.5.2.2 lets a NAT64
/// drop SYNs it has no resources to hold).
pub const MAX_HELD: usize = 4096;
/// Fragments a worker keeps waiting for the engine at most (RFC 6146 3.4);
/// its director keeps [`MAX_DIRECTOR_WAITING`] more.
pub const MAX_WAITING: usize = 1024;
/// Mbufs a worker may keep beside its bursts: held SYNs and waiting
/// fragments (the pool is sized with them).
pub const MAX_KEPT: usize = MAX_HELD + MAX_WAITING + MAX_DIRECTOR_WAITING;
/// Timer expiries per poll iteration.
pub const EXPIRE_BUDGET: usize = 64;
/// Empty polls in a row before an idle worker sleeps (when configured to).
const IDLE_POLLS_BEFORE_SLEEP: u32 = 256;

/// Everything a worker owns or shares, handed to it at launch.
#[derive(Debug)]
pub struct WorkerSetup<E> {
    /// This worker's index (0-based).
    pub index: usize,
    /// Number of workers.
    pub workers: usize,
    /// Queue pair on the inside port.
    pub inside: PortQueue,
    /// Queue pair on the outside port.
    pub outside: PortQueue,
    /// MAC of the inside port.
    pub inside_mac: [u8; 6],
    /// MAC of the outside port.
    pub outside_mac: [u8; 6],
    /// The packet logic.
    pub engine: E,
    /// Published routes and neighbors.
    pub forwarding: SharedForwarding,
    /// To the control thread: frames for the appliance itself.
    pub to_host: Arc<Ring>,
    /// To the control thread: packets waiting for a next-hop MAC.
    pub to_resolve: Arc<Ring>,
    /// From the control thread: frames to transmit (worker 0 only).
    pub from_control: Option<Arc<Ring>>,
    /// Rings to the other workers (whenever there are several).
    pub handoff: Option<Arc<HandoffMesh>>,
    /// The NIC places TCP and UDP by the rss plan (`rss` steering, or one
    /// worker): only what it cannot place by port is checked and handed
    /// over. Otherwise every packet is.
    pub nic_steers: bool,
    /// Pool for packets made on the worker (fragments).
    pub pool: Arc<Mempool>,
    /// This worker's counters.
    pub counters: LocalCounters,
    /// Index of the engine's first counter on the board.
    pub engine_counter_base: usize,
    /// The control plane's queries to this worker.
    pub mailbox: Arc<Mailbox>,
    /// The running configuration (changes are applied between bursts).
    pub live: Arc<LiveConfig>,
    /// Set to stop the loop.
    pub stop: Arc<AtomicBool>,
    /// Sleep this long after a run of empty polls (0 = pure polling).
    pub idle_sleep_us: u32,
    /// ICMP errors this worker may originate per second.
    pub icmp_errors_per_second: u32,
    /// Where this worker's NAT events go, when they are logged or synced.
    pub events: Option<EventSender>,
    /// The HA pair's role and the sync thread's commands, when paired.
    pub ha: Option<WorkerHa>,
}

/// The last next hop a worker addressed a frame to, valid for one
/// forwarding snapshot generation.
#[derive(Debug, Clone, Copy)]
struct HopCache {
    generation: u64,
    hop: IpAddr,
    mac: [u8; 6],
}

/// Which link a frame arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Inside,
    Outside,
}

impl Link {
    /// The link across the appliance.
    fn other(self) -> Link {
        match self {
            Link::Inside => Link::Outside,
            Link::Outside => Link::Inside,
        }
    }
}

/// A running worker.
pub struct Worker<E: PacketEngine> {
    s: WorkerSetup<E>,
    tx_inside: TxQueue,
    tx_outside: TxQueue,
    /// Per destination worker, packets to hand over this iteration.
    handoff_out: Vec<MbufBurst<64>>,
    held: HashMap<u32, Mbuf>,
    /// Fragments the engine keeps waiting, by its token.
    waiting: HashMap<u32, Mbuf>,
    /// IPv4 fragments of the datagrams this worker directs.
    director: Director,
    /// Room for the fragments the director lets go.
    directed: Vec<Mbuf>,
    /// Fragments the engine made of the packet in hand (kept here so the
    /// hot path does not build a burst per packet).
    fragments: MbufBurst<64>,
    released: Vec<Released>,
    clock: TscClock,
    now_ms: u64,
    hop_cache: Option<HopCache>,
    icmp_budget: TokenBucket,
    fwd: Arc<ForwardingSnapshot>,
    /// The configuration generation the engine runs.
    generation: u64,
    /// An HA standby this poll: it handles no frame.
    standby: bool,
    /// Room for a bulk dump of the shard.
    dump: Vec<plat_core::nat::Record>,
    /// The burst position of the frame in hand, if it was prefetched:
    /// taken by the first `translate` of it (a hairpin's second half was
    /// not prefetched).
    burst_at: Option<usize>,
}

impl<E: PacketEngine> std::fmt::Debug for Worker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.s.index)
            .finish()
    }
}

impl<E: PacketEngine> Worker<E> {
    /// Prepares a worker (call on the lcore that will run it).
    pub fn new(s: WorkerSetup<E>) -> Self {
        let fwd = s.forwarding.load_full();
        Worker {
            tx_inside: TxQueue {
                queue: s.inside,
                burst: MbufBurst::new(),
                sent: Counter::TxInside,
            },
            tx_outside: TxQueue {
                queue: s.outside,
                burst: MbufBurst::new(),
                sent: Counter::TxOutside,
            },
            handoff_out: (0..s.workers).map(|_| MbufBurst::new()).collect(),
            held: HashMap::with_capacity(MAX_HELD),
            waiting: HashMap::new(),
            director: Director::new(),
            directed: Vec::new(),
            fragments: MbufBurst::new(),
            released: Vec::with_capacity(EXPIRE_BUDGET),
            clock: TscClock::new(),
            now_ms: 0,
            hop_cache: None,
            icmp_budget: TokenBucket::new(s.icmp_errors_per_second),
            fwd,
            generation: s.live.generation(),
            burst_at: None,
            standby: false,
            dump: Vec::new(),
            s,
        }
    }

    /// Polls until the stop flag is set; returns 0.
    pub fn run(mut self) -> i32 {
        let mut rx: MbufBurst<64> = MbufBurst::new();
        let mut idle = 0u32;
        while !self.s.stop.load(Ordering::Relaxed) {
            self.now_ms = self.clock.now_ms();
            self.fwd = self.s.forwarding.load_full();
            if let Some(ha) = &self.s.ha {
                self.standby = !ha.active.load(Ordering::Relaxed);
            }
            let mut work = 0;

            work += self.s.inside.rx_burst(&mut rx);
            self.s
                .counters
                .add(Counter::RxInside as usize, rx.len() as u64);
            self.prefetch_burst(&rx, Link::Inside);
            for (at, m) in rx.drain().enumerate() {
                self.burst_at = Some(at);
                self.on_frame(m, Link::Inside, true);
            }
            self.burst_at = None;
            self.s.engine.end_burst();

            work += self.s.outside.rx_burst(&mut rx);
            self.s
                .counters
                .add(Counter::RxOutside as usize, rx.len() as u64);
            self.prefetch_burst(&rx, Link::Outside);
            for (at, m) in rx.drain().enumerate() {
                self.burst_at = Some(at);
                self.on_frame(m, Link::Outside, true);
            }
            self.burst_at = None;
            self.s.engine.end_burst();

            if let Some(mesh) = self.s.handoff.clone() {
                let n = mesh.receive(self.s.index, &mut rx);
                work += n;
                self.s.counters.add(Counter::HandoffIn as usize, n as u64);
                for m in rx.drain() {
                    let link = self.link_of(&m);
                    self.on_frame(m, link, false);
                }
            }

            if let Some(ring) = &self.s.from_control {
                let n = ring.dequeue_burst(&mut rx);
                work += n;
                self.s.counters.add(Counter::FromControl as usize, n as u64);
                for m in rx.drain() {
                    if m.port() == self.s.inside.port {
                        self.tx_inside.push(m, &mut self.s.counters);
                    } else {
                        self.tx_outside.push(m, &mut self.s.counters);
                    }
                }
            }

            self.flush();
            self.expire();
            if self.standby {
                // A standby's changes are the active node's, applied: not
                // its own to log or stream.
                self.s.engine.drain_events(&mut |_| {});
            } else if let Some(events) = &mut self.s.events {
                events.forward(&mut self.s.engine, self.now_ms, &mut self.s.counters);
            }
            if self.s.ha.is_some() {
                work += self.serve_sync();
            }
            let (mailbox, engine) = (&self.s.mailbox, &mut self.s.engine);
            let now_ms = self.now_ms;
            work += mailbox.serve(|q| engine.answer(q, now_ms));
            if self.s.live.generation() != self.generation {
                self.apply_config();
            }
            self.s.counters.inc(Counter::Polls as usize);
            if work != 0 {
                self.s.counters.inc(Counter::BusyPolls as usize);
            }
            self.s.counters.publish();

            if work == 0 && self.s.idle_sleep_us > 0 {
                idle += 1;
                if idle >= IDLE_POLLS_BEFORE_SLEEP {
                    std::thread::sleep(std::time::Duration::from_micros(u64::from(
                        self.s.idle_sleep_us,
                    )));
                }
            } else {
                idle = 0;
            }
        }
        self.flush();
        self.held.clear();
        self.waiting.clear();
        self.s.counters.publish();
        0
    }

    /// Touches the session-table lines of a whole burst before the first
    /// lookup, in two stages (buckets, then the sessions they point at),
    /// so the cache misses overlap instead of queueing one per packet.
    /// Position `i` is the burst's frame `i` (an empty slice for a frame
    /// of another kind), as `translate` names it to the engine.
    #[inline]
    fn prefetch_burst<const N: usize>(&mut self, rx: &MbufBurst<N>, link: Link) {
        let et = self.ethertype_of(link).to_be_bytes();
        let mut l3s: [&[u8]; N] = [&[]; N];
        let mut n = 0;
        let mut bytes = 0;
        for d in rx.data_iter() {
            if d.len() > ETH_LEN && d[12..14] == et {
                l3s[n] = &d[ETH_LEN..];
            }
            bytes += d.len();
            n += 1;
        }
        let counter = match link {
            Link::Inside => Counter::RxBytesInside,
            Link::Outside => Counter::RxBytesOutside,
        };
        self.s.counters.add(counter as usize, bytes as u64);
        match link {
            Link::Inside => self.s.engine.prefetch_v6(&l3s[..n]),
            Link::Outside => self.s.engine.prefetch_v4(&l3s[..n]),
        }
    }

    /// Applies the newest configuration snapshot to the engine.
    #[cold]
    fn apply_config(&mut self) {
        let snap = self.s.live.load();
        self.generation = snap.generation;
        let counter = match self.s.engine.apply(&snap.config, self.now_ms) {
            Ok(()) => Counter::ConfigApplied,
            Err(_) => Counter::ConfigRefused,
        };
        self.s.counters.inc(counter as usize);
    }

    fn flush(&mut self) {
        self.tx_inside.flush(&mut self.s.counters);
        self.tx_outside.flush(&mut self.s.counters);
        if let Some(mesh) = &self.s.handoff {
            for (to, burst) in self.handoff_out.iter_mut().enumerate() {
                if burst.is_empty() {
                    continue;
                }
                let n = mesh.send(self.s.index, to, burst);
                self.s.counters.add(Counter::HandoffOut as usize, n as u64);
                if !burst.is_empty() {
                    self.s
                        .counters
                        .add(Counter::HandoffFull as usize, burst.len() as u64);
                    burst.clear();
                }
            }
        }
    }

    fn expire(&mut self) {
        let n = self
            .s
            .engine
            .expire(self.now_ms, EXPIRE_BUDGET, &mut self.released);
        self.s.counters.add(Counter::Expired as usize, n as u64);
        let released = std::mem::take(&mut self.released);
        for r in &released {
            match *r {
                Released::Drop(token) => {
                    self.held.remove(&token);
                }
                Released::Reject(token) => {
                    if let Some(mut m) = self.held.remove(&token) {
                        let peer = peer_mac(&m);
                        let (buf, off, len) = m.whole_buffer_mut();
                        let step =
                            self.s
                                .engine
                                .reply_to_held(token, buf, off + ETH_LEN, len - ETH_LEN);
                        self.apply(m, step, Link::Outside, peer);
                    }
                }
                Released::Retry(token) => {
                    if let Some(m) = self.waiting.remove(&token) {
                        let link = self.link_of(&m);
                        self.on_frame(m, link, false);
                    }
                }
                Released::Expired(token, reason) => {
                    if self.waiting.remove(&token).is_some() {
                        self.count_engine(reason);
                    }
                }
            }
        }
        self.released = released;
        self.released.clear();
        self.direct_waiting();
    }

    /// The sync thread's commands, a bounded number a poll.
    #[cold]
    fn serve_sync(&mut self) -> usize {
        // A standby has nothing else to do: it applies a dump in few polls.
        let most = if self.standby { 4096 } else { 64 };
        let mut n = 0;
        while n < most {
            let Some(cmd) = self.s.ha.as_mut().and_then(|h| h.commands.pop().ok()) else {
                break;
            };
            n += 1;
            match cmd {
                SyncCommand::Clear => self.s.engine.sync_clear(self.now_ms),
                SyncCommand::Apply(records) => {
                    for r in &records {
                        self.s.engine.sync_apply(r);
                    }
                    self.s
                        .counters
                        .add(Counter::SyncApplied as usize, records.len() as u64);
                }
                SyncCommand::Dump => {
                    let mut dump = std::mem::take(&mut self.dump);
                    self.s.engine.sync_dump(self.now_ms, &mut dump);
                    if let Some(h) = &self.s.ha {
                        let _ = h.dumps.send((self.s.index as u16, dump));
                    }
                }
            }
        }
        n
    }

    /// The director's side of expiry: fragments whose first came go on to
    /// their owner, those that waited in vain are dropped.
    fn direct_waiting(&mut self) {
        let now = plat_core::nat::Time::from_millis(self.now_ms);
        let gone = self.director.expire(now);
        self.s
            .counters
            .add(Counter::DirectorTimeout as usize, gone as u64);
        let mut directed = std::mem::take(&mut self.directed);
        self.director.ready(&mut directed);
        for m in directed.drain(..) {
            self.on_ipv4(m, true);
        }
        self.directed = directed;
    }

    /// The link a frame came in on, by its port.
    fn link_of(&self, m: &Mbuf) -> Link {
        if m.port() == self.s.inside.port {
            Link::Inside
        } else {
            Link::Outside
        }
    }

    #[inline]
    fn count_engine(&mut self, reason: Reason) {
        self.s
            .counters
            .inc(self.s.engine_counter_base + reason.index());
    }

    /// One received frame. `steer` is false for frames another worker
    /// already steered here.
    #[inline]
    fn on_frame(&mut self, m: Mbuf, link: Link, steer: bool) {
        if self.standby {
            self.s.counters.inc(Counter::Standby as usize);
            return;
        }
        // The pool's data room holds a whole frame of either link (see
        // `appliance::data_room`); a chain means a device scattered anyway.
        if m.segments() != 1 {
            self.s.counters.inc(Counter::Chained as usize);
            return;
        }
        let data = m.data();
        if data.len() < ETH_LEN {
            self.s.counters.inc(Counter::Runt as usize);
            return;
        }
        let et = u16::from_be_bytes([data[12], data[13]]);
        match (link, et) {
            (_, ethertype::VLAN) => self.s.counters.inc(Counter::Vlan as usize),
            (Link::Inside, ethertype::IPV6) => self.on_ipv6(m, steer),
            (Link::Inside, _) => self.s.counters.inc(Counter::InsideNotIpv6 as usize),
            (Link::Outside, ethertype::IPV4) => self.on_ipv4(m, steer),
            (Link::Outside, ethertype::ARP) => self.pass_to_host(m, Link::Outside),
            (Link::Outside, _) => self
                .s
                .counters
                .inc(Counter::OutsideUnknownEthertype as usize),
        }
    }

    #[inline]
    fn on_ipv6(&mut self, mut m: Mbuf, steer: bool) {
        let l3 = &m.data()[ETH_LEN..];
        if l3.len() < 40 {
            self.s.counters.inc(Counter::Runt as usize);
            return;
        }
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&l3[24..40]);
        if !self.s.engine.takes_v6(Ipv6Addr::from(dst)) {
            return self.pass_to_host(m, Link::Inside);
        }
        if steer && self.s.handoff.is_some() && !(self.s.nic_steers && nic_places_v6(l3)) {
            let owner = self.s.engine.owner_v6(l3, self.s.workers);
            if owner != self.s.index {
                return self.hand_off(m, owner, Link::Inside);
            }
        }
        let peer = peer_mac(&m);
        let step = self.translate(&mut m, Link::Inside);
        if let Step::Hairpin { l3_start, l3_len } = step {
            self.s.counters.inc(Counter::Hairpinned as usize);
            if frame_window(&mut m, l3_start, l3_len).is_none() {
                self.s.counters.inc(Counter::NoRoom as usize);
                return;
            }
            let d = m.data_mut();
            d[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
            // The packet now arrives, as IPv4, at the pool port's owner.
            m.set_port(self.s.outside.port);
            return self.on_ipv4(m, true);
        }
        if matches!(step, Step::Forward { .. }) {
            self.s.counters.inc(Counter::XlatV6ToV4 as usize);
        }
        self.apply(m, step, Link::Inside, peer);
    }

    #[inline]
    fn on_ipv4(&mut self, mut m: Mbuf, steer: bool) {
        let l3 = &m.data()[ETH_LEN..];
        if l3.len() < 20 {
            self.s.counters.inc(Counter::Runt as usize);
            return;
        }
        let dst = Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]);
        if !self.s.engine.takes_v4(dst) {
            return self.pass_to_host(m, Link::Outside);
        }
        if self.s.handoff.is_some() {
            if let Some(f) = V4Fragment::of(l3) {
                match self.direct(m, &f, steer) {
                    Some(here) => m = here,
                    None => return,
                }
            } else if steer && !(self.s.nic_steers && nic_places_v4(l3)) {
                let owner = self.s.engine.owner_v4(l3, self.s.workers);
                if owner != self.s.index {
                    return self.hand_off(m, owner, Link::Outside);
                }
            }
        }
        let peer = peer_mac(&m);
        let step = self.translate(&mut m, Link::Outside);
        if matches!(step, Step::Forward { .. }) {
            self.s.counters.inc(Counter::XlatV4ToV6 as usize);
        }
        self.apply(m, step, Link::Outside, peer);
    }

    /// An IPv4 fragment on its way to its owner (see `frag_steer`): the
    /// frame back when this worker translates it.
    fn direct(&mut self, m: Mbuf, f: &V4Fragment, steer: bool) -> Option<Mbuf> {
        let director = f.director(self.s.workers);
        if director != self.s.index {
            if steer {
                self.hand_off(m, director, Link::Outside);
                return None;
            }
            // Only a director hands fragments on: this worker owns it.
            return Some(m);
        }
        let owner = if f.first {
            self.s.engine.owner_v4(&m.data()[ETH_LEN..], self.s.workers)
        } else {
            0
        };
        let now = plat_core::nat::Time::from_millis(self.now_ms);
        match self.director.direct(f, m, owner, now) {
            Direct::To(owner, m) if owner == self.s.index => Some(m),
            Direct::To(owner, m) => {
                self.s.counters.inc(Counter::FragmentsDirected as usize);
                self.hand_off(m, owner, Link::Outside);
                None
            }
            Direct::Waits => {
                self.s.counters.inc(Counter::FragmentsWaited as usize);
                None
            }
            Direct::Drop(_) => {
                self.s.counters.inc(Counter::DirectorFull as usize);
                None
            }
        }
    }

    /// Runs the engine on the packet of a frame that came in on `from`, in
    /// place; fragments it makes are sent on at once.
    #[inline]
    fn translate(&mut self, m: &mut Mbuf, from: Link) -> Step {
        let (buf, off, len) = m.whole_buffer_mut();
        let mut sink = FragmentSink {
            pool: &self.s.pool,
            made: &mut self.fragments,
            lost: 0,
        };
        let (l3, l3_len, now) = (off + ETH_LEN, len - ETH_LEN, self.now_ms);
        let at = self.burst_at.take();
        let step = match from {
            Link::Inside => self.s.engine.handle_v6(at, buf, l3, l3_len, now, &mut sink),
            Link::Outside => self.s.engine.handle_v4(at, buf, l3, l3_len, now, &mut sink),
        };
        let lost = sink.lost;
        if lost > 0 || !self.fragments.is_empty() {
            self.collect_fragments(lost, from.other());
        }
        step
    }

    #[cold]
    fn collect_fragments(&mut self, lost: u64, out: Link) {
        self.s.counters.add(Counter::FragmentNoMbuf as usize, lost);
        let mut made = std::mem::take(&mut self.fragments);
        for m in made.drain() {
            self.s.counters.inc(Counter::FragmentsSent as usize);
            self.frame_for(m, out);
        }
        self.fragments = made;
    }

    /// Carries out the engine's decision for a frame that came in on
    /// `from`.
    #[inline]
    /// `peer` is the source MAC of the frame as it arrived (read before
    /// the engine rewrote the buffer: a reply is built over the old
    /// Ethernet header).
    fn apply(&mut self, mut m: Mbuf, step: Step, from: Link, peer: [u8; 6]) {
        let other = from.other();
        match step {
            Step::Forward { l3_start, l3_len } => {
                if !self.s.engine.rewrites_l2() {
                    self.send(other, m);
                    return;
                }
                self.address_at(m, other, l3_start, l3_len);
            }
            Step::Reply {
                l3_start,
                l3_len,
                reason,
            } => {
                self.count_engine(reason);
                // RFC 4443 2.4 (f): "an IPv6 node MUST limit the rate of
                // ICMPv6 error messages it originates"; RFC 1812 4.3.2.8
                // asks the same of IPv4 routers.
                if !self.icmp_budget.take(self.now_ms) {
                    self.s.counters.inc(Counter::IcmpRateLimited as usize);
                    return;
                }
                self.s.counters.inc(Counter::IcmpErrorsSent as usize);
                // Back to the sender: its MAC was the frame's source.
                let own = self.own_mac(from);
                if frame_window(&mut m, l3_start, l3_len).is_none() {
                    self.s.counters.inc(Counter::NoRoom as usize);
                    return;
                }
                let et = self.ethertype_of(from);
                write_eth(m.data_mut(), peer, own, et);
                self.send(from, m);
            }
            Step::Hold { token } => {
                if self.held.len() >= MAX_HELD {
                    self.s.counters.inc(Counter::HeldFull as usize);
                } else {
                    self.s.counters.inc(Counter::Held as usize);
                    self.held.insert(token, m);
                }
            }
            Step::Wait { token } => {
                if self.waiting.len() >= MAX_WAITING {
                    self.s.counters.inc(Counter::FragmentWaitFull as usize);
                } else {
                    self.s.counters.inc(Counter::FragmentsWaited as usize);
                    self.waiting.insert(token, m);
                }
            }
            Step::HairpinReturn { l3_start, l3_len } => {
                self.s.counters.inc(Counter::Hairpinned as usize);
                self.address_at(m, from, l3_start, l3_len);
            }
            Step::Fragmented => {}
            Step::Drop(reason) => self.count_engine(reason),
            // Only IPv6 packets hairpin, and on_ipv6 takes them first: an
            // engine that says so of an IPv4 packet has a bug, which is
            // counted rather than acted on.
            Step::Hairpin { .. } => self.s.counters.inc(Counter::EngineContract as usize),
        }
    }

    fn port_of(&self, link: Link) -> u16 {
        match link {
            Link::Inside => self.s.inside.port,
            Link::Outside => self.s.outside.port,
        }
    }

    fn own_mac(&self, link: Link) -> [u8; 6] {
        match link {
            Link::Inside => self.s.inside_mac,
            Link::Outside => self.s.outside_mac,
        }
    }

    fn ethertype_of(&self, link: Link) -> u16 {
        match link {
            Link::Inside => ethertype::IPV6,
            Link::Outside => ethertype::IPV4,
        }
    }

    #[inline]
    fn send(&mut self, link: Link, m: Mbuf) {
        match link {
            Link::Inside => self.tx_inside.push(m, &mut self.s.counters),
            Link::Outside => self.tx_outside.push(m, &mut self.s.counters),
        }
    }

    /// Moves the data window to the translated packet and sends it.
    #[inline]
    fn address_at(&mut self, mut m: Mbuf, out: Link, l3_start: usize, l3_len: usize) {
        if frame_window(&mut m, l3_start, l3_len).is_none() {
            self.s.counters.inc(Counter::NoRoom as usize);
            return;
        }
        self.frame_for(m, out);
    }

    /// Writes our source MAC and the EtherType of link `out` in front of
    /// the L3 packet and sends the frame on.
    #[inline]
    fn frame_for(&mut self, mut m: Mbuf, out: Link) {
        let own = self.own_mac(out);
        let et = self.ethertype_of(out);
        let d = m.data_mut();
        d[6..12].copy_from_slice(&own);
        d[12..14].copy_from_slice(&et.to_be_bytes());
        self.send_addressed(m, out);
    }

    /// Looks up the next hop of an addressed frame and queues it.
    #[inline]
    fn send_addressed(&mut self, mut m: Mbuf, out: Link) {
        let hop = match self
            .fwd
            .next_hop_of(&m.data()[ETH_LEN..], out == Link::Outside)
        {
            None => return self.s.counters.inc(Counter::Runt as usize),
            Some(None) => return self.s.counters.inc(Counter::NoRoute as usize),
            Some(Some(hop)) => hop,
        };
        match self.mac_of(hop) {
            Some(mac) => {
                m.data_mut()[..6].copy_from_slice(&mac);
                self.send(out, m);
            }
            None => {
                // The control thread resolves the next hop and sends it.
                m.set_port(self.port_of(out));
                push_ring(
                    m,
                    &self.s.to_resolve,
                    &mut self.s.counters,
                    Counter::ToResolve,
                    Counter::ToResolveFull,
                );
            }
        }
    }

    /// The MAC of next hop `hop`, through a one-entry cache: most traffic
    /// of a link goes to one gateway, and the cache spares a hash lookup.
    #[inline]
    fn mac_of(&mut self, hop: IpAddr) -> Option<[u8; 6]> {
        let generation = self.fwd.generation;
        if let Some(c) = &self.hop_cache {
            if c.generation == generation && c.hop == hop {
                return Some(c.mac);
            }
        }
        let mac = self.fwd.mac_of(hop)?;
        self.hop_cache = Some(HopCache {
            generation,
            hop,
            mac,
        });
        Some(mac)
    }

    fn pass_to_host(&mut self, mut m: Mbuf, link: Link) {
        m.set_port(self.port_of(link));
        push_ring(
            m,
            &self.s.to_host,
            &mut self.s.counters,
            Counter::ToHost,
            Counter::ToHostFull,
        );
    }

    fn hand_off(&mut self, mut m: Mbuf, owner: usize, link: Link) {
        // The owner learns the link from the port field, which not every
        // PMD fills in (net_ring leaves it unset).
        m.set_port(self.port_of(link));
        let m = match self.handoff_out[owner].push(m) {
            Ok(()) => return,
            Err(m) => m,
        };
        // The burst for this owner is full: send it now and retry once.
        if let Some(mesh) = &self.s.handoff {
            let burst = &mut self.handoff_out[owner];
            let n = mesh.send(self.s.index, owner, burst);
            self.s.counters.add(Counter::HandoffOut as usize, n as u64);
            if burst.push(m).is_ok() {
                return;
            }
        }
        self.s.counters.inc(Counter::HandoffFull as usize);
    }
}

/// Passes one mbuf to a ring, counting whether it fit.
fn push_ring(m: Mbuf, ring: &Ring, counters: &mut LocalCounters, ok: Counter, full: Counter) {
    let mut one: MbufBurst<1> = MbufBurst::new();
    let _ = one.push(m);
    if ring.enqueue_burst(&mut one) == 1 {
        counters.inc(ok as usize);
    } else {
        counters.inc(full as usize);
    }
}

/// Makes the mbuf's data the Ethernet header slot plus the L3 packet at
/// `l3_start..l3_start + l3_len` of its buffer; `None` when that does not
/// fit.
#[inline]
fn frame_window(m: &mut Mbuf, l3_start: usize, l3_len: usize) -> Option<()> {
    m.set_data_range(l3_start.checked_sub(ETH_LEN)?, l3_len.checked_add(ETH_LEN)?)
}

/// Source MAC of a received frame (its data starts at the Ethernet
/// header, which the classifier checked is there).
#[inline]
fn peer_mac(m: &Mbuf) -> [u8; 6] {
    let mut mac = [0u8; 6];
    if let Some(src) = m.data().get(6..12) {
        mac.copy_from_slice(src);
    }
    mac
}

fn write_eth(d: &mut [u8], dst: [u8; 6], src: [u8; 6], et: u16) {
    d[..6].copy_from_slice(&dst);
    d[6..12].copy_from_slice(&src);
    d[12..14].copy_from_slice(&et.to_be_bytes());
}
