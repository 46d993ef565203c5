//! The shard: one worker's BIBs, sessions, subscribers and pool4 share.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::config::{ConfigError, Filtering, NatConfig};
use super::limits::{Subscribers, NO_POOL};
use super::pool4::{Pool4, Pool4Entry, Pool4Error};
use super::prefetch::prefetch;
use super::session::{
    h_bib4, h_bib6, h_sess4, h_sess6, Bib, Session, F_HAIRPIN, F_HELD, F_IN_V6, NIL,
};
use super::table::{ByteTagged, IndexTable, Tagged, MAX_INDEX};
use super::tcp_state::{step, Life, TcpState};
use super::timers::{push_back, unlink, Fifo, TimerClass};
use super::{
    Endpoint4, Endpoint6, IcmpError, NatDrop, Outcome, Proto, SessionId, Side, TcpFlags, Time,
    Tuple4, Tuple6, Verdict,
};
use crate::rss::PortShare;
use crate::sync::{BibRec, BlockRec, Key4, Record, SessionRec};

/// The largest session (and BIB) capacity of one shard.
pub const MAX_SESSIONS: u32 = MAX_INDEX;

/// Burst size of [`Shard::v6_burst`] / [`Shard::v4_burst`].
pub const BURST: usize = 32;
/// How many packets the session prefetch runs ahead of the lookup.
const LEAD: usize = 8;

/// Control-plane errors (never returned for packets).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShardError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pool4(#[from] Pool4Error),
    #[error("static BIB: {0} is not a pool4 address")]
    NotInPool(Ipv4Addr),
    #[error("static BIB: {proto} {v4} is in use or not in this worker's share")]
    PortUnavailable { proto: Proto, v4: Endpoint4 },
    #[error("static BIB: a {proto} BIB entry for {0} already exists", proto = .1)]
    BibExists(String, Proto),
    #[error("static BIB: no static {proto} entry for {v4}")]
    NoStaticBib { proto: Proto, v4: Endpoint4 },
    #[error("the BIB table is full")]
    BibFull,
    #[error("sync: no {proto} BIB entry for {v4}")]
    NoBib { proto: Proto, v4: Endpoint4 },
}

/// An IPv4 SYN the caller held has timed out (RFC 6146 3.5.2.2, V4 INIT):
/// send `error` with the held packet, then drop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldTimeout {
    pub session: SessionId,
    pub error: IcmpError,
}

/// Counters other than drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub sessions: u32,
    pub bibs: u32,
    pub subscribers: u32,
    pub held_syns: u32,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub bibs_created: u64,
    pub held_syn_timeouts: u64,
    pub hairpins: u64,
    /// Allocations that left from another address because the
    /// subscriber's paired address was exhausted.
    pub paired_fallback: u64,
    /// Events dropped because the event buffer was full.
    pub events_lost: u64,
}

/// Session listing filter for the CLI; `None` matches anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub proto: Option<Proto>,
    /// Matches the IPv6 source (X').
    pub v6: Option<Ipv6Addr>,
    /// Matches the pool4 address (T) or the remote address (Z).
    pub v4: Option<Ipv4Addr>,
}

/// A session, as the CLI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub remote: Endpoint4,
    pub state: TcpState,
    pub timer: TimerClass,
    /// Expiry time in the caller's seconds (last refresh + timeout).
    pub expires: u32,
    pub held: bool,
    pub hairpin: bool,
}

/// A BIB entry, as the CLI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BibInfo {
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub is_static: bool,
    pub sessions: u32,
}

/// Everything one worker owns. See the module docs of [`crate::nat`].
#[derive(Debug)]
pub struct Shard {
    cfg: NatConfig,
    seed: u64,
    s: Vec<Session>,
    s_free: u32,
    b: Vec<Bib>,
    b_free: u32,
    sess6: Tagged,
    sess4: ByteTagged,
    bib6: ByteTagged,
    bib4: IndexTable,
    subs: Subscribers,
    timers: [Fifo; TimerClass::COUNT],
    timeouts: [u32; TimerClass::COUNT],
    pool: Pool4,
    events: Vec<Record>,
    drops: [u64; NatDrop::COUNT],
    stats: ShardStats,
    /// Timer class the next sweep starts at, so that a class with a
    /// backlog cannot starve the others.
    sweep_from: usize,
}

/// Whether `x` is the session of the IPv6-side tuple `t` (a free slot
/// never is: its protocol byte is no protocol).
#[inline(always)]
fn is_key6(x: &Session, t: &Tuple6) -> bool {
    let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
    x.src6 == t.src.octets()
        && x.sport == t.sport
        && x.dst4 == u32::from(t.dst)
        && x.dport == dport
        && x.proto == t.proto as u8
}

/// Whether `x` is the session of the IPv4-side tuple `t`: (Z,z) -> (T,t).
#[inline(always)]
fn is_key4(x: &Session, t: &Tuple4) -> bool {
    let rport = if t.proto == Proto::Icmp { 0 } else { t.sport };
    x.dst4 == u32::from(t.src)
        && x.dport == rport
        && x.addr4 == u32::from(t.dst)
        && x.port4 == t.dport
        && x.proto == t.proto as u8
}

/// The timer class a session in `state` runs on (RFC 6146 3.5.2.2: the
/// INIT states and the closing states run TCP_TRANS, the others TCP_EST).
fn class_of_state(proto: Proto, state: TcpState) -> TimerClass {
    match (proto, state) {
        (Proto::Tcp, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => {
            TimerClass::TcpEst
        }
        (Proto::Tcp, _) => TimerClass::TcpTrans,
        (p, _) => class_of(p),
    }
}

#[inline(always)]
fn class_of(proto: Proto) -> TimerClass {
    match proto {
        Proto::Tcp => TimerClass::TcpTrans,
        Proto::Udp => TimerClass::Udp,
        Proto::Icmp => TimerClass::Icmp,
    }
}

impl Shard {
    /// A shard with every table allocated to its configured capacity.
    pub fn new(cfg: NatConfig, share: PortShare) -> Result<Shard, ConfigError> {
        cfg.validate()?;
        let cap = cfg.limits.sessions;
        let bcap = cfg.bib_capacity();
        let mut s = vec![Session::EMPTY; cap as usize];
        for (i, x) in s.iter_mut().enumerate() {
            x.t_next = if i + 1 < cap as usize {
                i as u32 + 1
            } else {
                NIL
            };
        }
        let mut b = vec![Bib::EMPTY; bcap as usize];
        for (i, x) in b.iter_mut().enumerate() {
            x.head = if i + 1 < bcap as usize {
                i as u32 + 1
            } else {
                NIL
            };
        }
        let seed = cfg.hash_seed;
        let t = &cfg.timeouts;
        Ok(Shard {
            s,
            s_free: 0,
            b,
            b_free: 0,
            sess6: Tagged::with_capacity(cap),
            sess4: ByteTagged::with_capacity(cap),
            bib6: ByteTagged::with_capacity(bcap),
            bib4: IndexTable::with_capacity(bcap),
            subs: Subscribers::new(
                cfg.subscriber_capacity(),
                cfg.limits.subscriber_prefix_len,
                seed,
                cfg.port_block != 0,
            ),
            timers: [Fifo::EMPTY; TimerClass::COUNT],
            timeouts: TimerClass::ALL.map(|c| c.timeout(t)),
            pool: Pool4::new(share, cfg.port_block),
            events: Vec::with_capacity(cfg.event_capacity as usize),
            drops: [0; NatDrop::COUNT],
            stats: ShardStats::default(),
            sweep_from: 0,
            seed,
            cfg,
        })
    }

    pub fn config(&self) -> &NatConfig {
        &self.cfg
    }

    /// Changes timeouts and filtering at runtime (capacities, the subscriber
    /// prefix and the block size are fixed at construction).
    pub fn reconfigure(&mut self, cfg: NatConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        let fixed = |c: &NatConfig| {
            (
                c.limits.sessions,
                c.bib_capacity(),
                c.subscriber_capacity(),
                c.limits.subscriber_prefix_len,
                c.port_block,
                c.hash_seed,
                c.event_capacity,
            )
        };
        if fixed(&cfg) != fixed(&self.cfg) {
            return Err(ConfigError {
                field: "limits",
                reason: "capacities, subscriber prefix, port_block, hash_seed and \
                         event_capacity are fixed when the shard is built"
                    .into(),
            });
        }
        self.timeouts = TimerClass::ALL.map(|c| c.timeout(&cfg.timeouts));
        self.cfg = cfg;
        Ok(())
    }

    // ----- pool4 -----

    /// Adds a pool4 entry; sessions on other addresses are untouched.
    pub fn add_pool4(&mut self, e: Pool4Entry) -> Result<(), ShardError> {
        Ok(self.pool.add(e)?)
    }

    /// Removes a pool4 entry, deleting the state on its addresses (and only
    /// there). Returns how many sessions were deleted.
    pub fn remove_pool4(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        now: Time,
    ) -> Result<usize, ShardError> {
        let idxs = self.pool.indices_of(prefix, len)?;
        let addrs: Vec<u32> = idxs.iter().map(|&i| u32::from(self.pool.addr(i))).collect();
        let now_s = now.secs();
        let mut n = 0;
        for i in 0..self.s.len() as u32 {
            let s = &self.s[i as usize];
            if s.is_live() && addrs.contains(&s.addr4) {
                self.delete_session(i, now_s);
                n += 1;
            }
        }
        for bi in 0..self.b.len() as u32 {
            let b = &self.b[bi as usize];
            if b.proto != super::session::FREE && idxs.contains(&b.pool) {
                self.delete_bib(bi, now_s);
            }
        }
        for sub in self.subs.slab.iter_mut() {
            if sub.live && idxs.contains(&sub.pool) {
                sub.pool = NO_POOL;
            }
        }
        self.pool.remove(prefix, len)?;
        Ok(n)
    }

    pub fn pool4(&self) -> &[Pool4Entry] {
        self.pool.entries()
    }

    pub fn port_share(&self) -> &PortShare {
        self.pool.share()
    }

    /// This shard may allocate (or owns the static entry at) `addr:port`.
    pub fn owns(&self, proto: Proto, addr: Ipv4Addr, port: u16) -> bool {
        self.pool.owns(proto, addr, port)
    }

    // ----- counters and events -----

    /// Drops by reason, indexed by `NatDrop as usize`.
    pub fn drops(&self) -> &[u64; NatDrop::COUNT] {
        &self.drops
    }

    pub fn stats(&self) -> ShardStats {
        let mut s = self.stats;
        s.subscribers = self.subs.len;
        s
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Record> {
        self.events.drain(..)
    }

    #[inline(always)]
    fn events_on(&self) -> bool {
        self.cfg.event_capacity != 0
    }

    #[inline]
    fn emit(&mut self, r: Record) {
        if self.events.len() < self.events.capacity() {
            self.events.push(r);
        } else if self.cfg.event_capacity != 0 {
            self.stats.events_lost += 1;
        }
    }

    fn session_rec(&self, i: u32, time: u32) -> SessionRec {
        let s = &self.s[i as usize];
        SessionRec {
            time,
            proto: s.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            state: TcpState::from_u8(s.state).unwrap_or(TcpState::Closed),
        }
    }

    fn key4(&self, i: u32) -> Key4 {
        let s = &self.s[i as usize];
        Key4 {
            proto: s.proto(),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
        }
    }

    fn bib_rec(&self, bi: u32, time: u32) -> BibRec {
        let b = &self.b[bi as usize];
        BibRec {
            time,
            proto: b.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(b.src6), b.sport),
            v4: Endpoint4::new(Ipv4Addr::from(b.addr4), b.port4),
            is_static: b.is_static,
        }
    }

    /// Every live BIB entry and session as create records, for a standby
    /// (re)joining: the bulk dump.
    pub fn dump(&self, now: Time, out: &mut Vec<Record>) {
        let t = now.secs();
        for bi in 0..self.b.len() as u32 {
            if self.b[bi as usize].proto != super::session::FREE {
                out.push(Record::BibCreate(self.bib_rec(bi, t)));
            }
        }
        for i in 0..self.s.len() as u32 {
            let s = &self.s[i as usize];
            if s.is_live() && s.flags & F_HELD == 0 {
                out.push(Record::SessionCreate(self.session_rec(i, s.stamp)));
            }
        }
    }

    // ----- timers -----

    /// Refresh: move to the tail of its list, at most once per second.
    #[inline(always)]
    fn refresh(&mut self, i: u32, now_s: u32) {
        let s = &self.s[i as usize];
        if now_s > s.stamp {
            let (old, c) = (s.stamp, s.class as usize);
            unlink(&mut self.timers[c], &mut self.s, i);
            push_back(&mut self.timers[c], &mut self.s, i);
            self.s[i as usize].stamp = now_s;
            let r = self.cfg.sync_refresh_interval;
            if r != 0 && old / r != now_s / r && self.events_on() {
                let key = self.key4(i);
                self.emit(Record::Refresh { time: now_s, key });
            }
        }
    }

    fn set_timer(&mut self, i: u32, class: TimerClass, now_s: u32) {
        let s = &self.s[i as usize];
        if s.class == class as u8 {
            self.refresh(i, now_s);
            return;
        }
        let old = s.class as usize;
        unlink(&mut self.timers[old], &mut self.s, i);
        push_back(&mut self.timers[class as usize], &mut self.s, i);
        let s = &mut self.s[i as usize];
        s.class = class as u8;
        s.stamp = now_s.max(s.stamp);
    }

    /// Deletes up to `budget` sessions whose lifetime has run out, calling
    /// `on_held` for each held IPv4 SYN that timed out. Returns how many
    /// were deleted; fewer than `budget` means nothing else is due.
    pub fn expire(
        &mut self,
        now: Time,
        budget: usize,
        mut on_held: impl FnMut(HeldTimeout),
    ) -> usize {
        let now_s = now.secs();
        let mut n = 0;
        let from = self.sweep_from;
        self.sweep_from = (from + 1) % TimerClass::COUNT;
        for c in (from..TimerClass::COUNT).chain(0..from) {
            let timeout = self.timeouts[c];
            while n < budget {
                let i = self.timers[c].head;
                if i == NIL {
                    break;
                }
                let s = &self.s[i as usize];
                // Stamps are whole seconds: strictly past stamp + timeout
                // guarantees the full lifetime elapsed.
                if now_s <= s.stamp.saturating_add(timeout) {
                    break;
                }
                self.prefetch_expiry(s.t_next);
                if s.flags & F_HELD != 0 {
                    // RFC 6146 3.5.2.2 (V4 INIT): "If the lifetime expires,
                    // an ICMP Port Unreachable error (Type 3, Code 3)
                    // containing the IPv4 SYN packet stored is sent back to
                    // the source of the v4 SYN".
                    on_held(HeldTimeout {
                        session: SessionId(i),
                        error: IcmpError::V4PortUnreachable,
                    });
                    self.stats.held_syn_timeouts += 1;
                }
                self.delete_session(i, now_s);
                self.stats.sessions_expired += 1;
                n += 1;
            }
        }
        n
    }

    /// While deleting one session, warm up what deleting the next will
    /// touch: its index slots and BIB entry (computed from its line, which
    /// the previous step prefetched) and the line of the one after it.
    #[inline(always)]
    fn prefetch_expiry(&self, next: u32) {
        if next == NIL {
            return;
        }
        let s = &self.s[next as usize];
        if s.t_next != NIL {
            prefetch(&self.s[s.t_next as usize]);
        }
        self.sess4.prefetch(s.h4(self.seed));
        if s.flags & F_IN_V6 != 0 {
            self.sess6.prefetch(s.h6(self.seed));
        }
        if s.bib != NIL {
            prefetch(&self.b[s.bib as usize]);
            let p = s.proto();
            self.bib6.prefetch(h_bib6(self.seed, p, &s.src6, s.sport));
            self.bib4.prefetch(h_bib4(self.seed, p, s.addr4, s.port4));
        }
    }

    /// The earliest time at which [`Shard::expire`] has work, if any.
    pub fn next_expiry(&self) -> Option<Time> {
        (0..TimerClass::COUNT)
            .filter_map(|c| {
                let i = self.timers[c].head;
                (i != NIL).then(|| {
                    Time::from_secs(
                        u64::from(self.s[i as usize].stamp) + u64::from(self.timeouts[c]) + 1,
                    )
                })
            })
            .min()
    }

    // ----- the IPv6 side -----

    /// The table hash of an IPv6-side tuple (for prefetching).
    #[inline(always)]
    pub fn hash6(&self, t: &Tuple6) -> u32 {
        let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
        h_sess6(
            self.seed,
            t.proto,
            &t.src.octets(),
            t.sport,
            u32::from(t.dst),
            dport,
        )
    }

    /// Stage 1 of a burst: prefetch the hash bucket.
    #[inline(always)]
    pub fn prefetch6(&self, h: u32) {
        self.sess6.prefetch(h);
    }

    /// Stage 2 of a burst: prefetch the session the bucket points at and
    /// name it ([`Shard::v6_established`] compares that one first) or,
    /// when the bucket says the flow is new, what creating it will touch:
    /// the BIB bucket of (X',x) and the IPv4-side buckets of the (T,t) it
    /// most likely gets, the subscriber's paired address with the source
    /// port kept (port preservation, the first thing the allocation
    /// tries). A wrong guess costs a wasted prefetch.
    #[inline(always)]
    pub fn prefetch6_new(&self, h: u32, t: &Tuple6) -> Option<SessionId> {
        if let Some(i) = self.sess6.first_candidate(h) {
            prefetch(&self.s[i as usize]);
            return Some(SessionId(i));
        }
        let src = t.src.octets();
        let hb = h_bib6(self.seed, t.proto, &src, t.sport);
        self.bib6.prefetch(hb);
        let guess = self
            .subs
            .find(&src)
            .and_then(|si| self.likely_port(si, t.proto, t.sport, hb));
        if let Some((a, port)) = guess {
            let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
            self.prefetch_v4_side(t.proto, (u32::from(t.dst), dport), (a, port));
        }
        None
    }

    /// Prefetches the IPv4-side BIB and session buckets a new session
    /// from (`local`) to (`remote`) goes into; returns the BIB hash.
    #[inline(always)]
    fn prefetch_v4_side(&self, proto: Proto, remote: (u32, u16), local: (u32, u16)) -> u32 {
        let hb4 = h_bib4(self.seed, proto, local.0, local.1);
        self.bib4.prefetch(hb4);
        self.sess4.prefetch(h_sess4(
            self.seed, proto, remote.0, remote.1, local.0, local.1,
        ));
        hb4
    }

    /// Lookup or creation for a packet from the IPv6 side.
    #[inline]
    pub fn v6_session(
        &mut self,
        t: &Tuple6,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let h = self.hash6(t);
        self.v6_session_hashed(h, t, flags, now)
    }

    /// [`Shard::v6_session`] with the hash from [`Shard::hash6`].
    #[inline]
    pub fn v6_session_hashed(
        &mut self,
        h: u32,
        t: &Tuple6,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let r = match self.find6(h, t) {
            Some(i) => self.v6_hit(i, flags, now),
            None => {
                let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
                self.v6_new(h, t, dport, flags, now)
            }
        };
        if let Err(d) = r {
            self.drops[d as usize] += 1;
        }
        r
    }

    /// A burst of IPv6-side lookups with the two prefetch stages a DPDK
    /// worker uses. `flags` is empty or one per tuple.
    pub fn v6_burst(
        &mut self,
        tuples: &[Tuple6],
        flags: &[TcpFlags],
        now: Time,
        out: &mut [Result<Verdict, NatDrop>],
    ) {
        let mut hs = [0u32; BURST];
        for (k, chunk) in tuples.chunks(BURST).enumerate() {
            for (h, t) in hs.iter_mut().zip(chunk) {
                *h = self.hash6(t);
                self.sess6.prefetch(*h);
            }
            // Stage 2 runs LEAD packets ahead of stage 3, so each
            // session's line has time to arrive before it is compared.
            let n = chunk.len();
            for j in 0..n + LEAD {
                if j < n {
                    self.prefetch6_new(hs[j], &chunk[j]);
                }
                if j >= LEAD {
                    let j = j - LEAD;
                    let f = flags.get(k * BURST + j).copied().unwrap_or_default();
                    out[k * BURST + j] = self.v6_session_hashed(hs[j], &chunk[j], f, now);
                }
            }
        }
    }

    /// The established-flow path of a worker: the IPv4 source of the
    /// session of `t` (hash `h` from [`Shard::hash6`]) when the session
    /// exists and its packet needs nothing beyond a refresh and, TCP, a
    /// state step; the session is then refreshed and stepped exactly as
    /// [`Shard::v6_session_hashed`] would. `None` (nothing changed) sends
    /// the packet down the general path: new flows, held SYNs, hairpins.
    ///
    /// `likely` is what [`Shard::prefetch6_new`] named: when that
    /// slot holds the key (compared in full), the index is not probed
    /// again.
    #[inline(always)]
    pub fn v6_established(
        &mut self,
        h: u32,
        likely: Option<SessionId>,
        t: &Tuple6,
        flags: TcpFlags,
        now: Time,
    ) -> Option<Endpoint4> {
        let i = match likely {
            Some(SessionId(i)) if self.s.get(i as usize).is_some_and(|x| is_key6(x, t)) => i,
            _ => self.find6(h, t)?,
        };
        if self.s[i as usize].flags & (F_HELD | F_HAIRPIN) != 0 {
            return None;
        }
        self.v6_hit_plain(i, flags, now.secs());
        let s = &self.s[i as usize];
        Some(Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4))
    }

    /// The session of the IPv6-side tuple `t`, hashed `h`.
    #[inline(always)]
    fn find6(&self, h: u32, t: &Tuple6) -> Option<u32> {
        let s = &self.s;
        self.sess6.find(h, |i| is_key6(&s[i as usize], t))
    }

    /// A packet from the IPv6 side of a session that is neither held nor
    /// hairpinned: the TCP state step or the refresh.
    #[inline(always)]
    fn v6_hit_plain(&mut self, i: u32, flags: TcpFlags, now_s: u32) {
        if self.s[i as usize].proto == Proto::Tcp as u8 {
            self.tcp_step(i, Side::V6, flags, now_s);
        } else {
            self.refresh(i, now_s);
        }
    }

    #[inline(always)]
    fn v6_hit(&mut self, i: u32, flags: TcpFlags, now: Time) -> Result<Verdict, NatDrop> {
        if self.s[i as usize].flags & (F_HELD | F_HAIRPIN) != 0 {
            return self.v6_hit_slow(i, flags, now);
        }
        self.v6_hit_plain(i, flags, now.secs());
        let s = &self.s[i as usize];
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::ToV4 {
                src: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
                dst: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            },
            release_held: false,
        })
    }

    #[inline]
    fn tcp_step(&mut self, i: u32, side: Side, flags: TcpFlags, now_s: u32) {
        let s = &self.s[i as usize];
        let old = TcpState::from_u8(s.state).unwrap_or(TcpState::Closed);
        let (next, life) = step(old, side, flags);
        if next != old {
            self.s[i as usize].state = next as u8;
            if self.events_on() {
                let key = self.key4(i);
                self.emit(Record::StateChange {
                    time: now_s,
                    key,
                    state: next,
                });
            }
        }
        match life {
            Life::Keep => {}
            Life::Est => self.set_timer(i, TimerClass::TcpEst, now_s),
            Life::Trans => self.set_timer(i, TimerClass::TcpTrans, now_s),
        }
    }

    #[cold]
    fn v6_hit_slow(&mut self, i: u32, flags: TcpFlags, now: Time) -> Result<Verdict, NatDrop> {
        let now_s = now.secs();
        let mut release_held = false;
        if self.s[i as usize].flags & F_HELD != 0 {
            // An IPv6 packet for a connection whose IPv4 SYN is held (ADF
            // with a BIB entry): a SYN completes it (simultaneous open).
            if flags.syn() && !flags.rst() {
                let si = self
                    .subs
                    .get_or_create(&self.s[i as usize].src6)
                    .ok_or(NatDrop::SubscriberTableFull)?;
                let cap = self.cfg.limits.sessions_per_subscriber;
                if cap != 0 && self.subs.slab[si as usize].sessions >= cap {
                    self.subs.release_if_idle(si);
                    return Err(NatDrop::SubscriberSessionLimit);
                }
                self.subs.slab[si as usize].sessions += 1;
                self.s[i as usize].flags &= !F_HELD;
                self.stats.held_syns -= 1;
                release_held = true;
                self.tcp_step(i, Side::V6, flags, now_s);
                if self.events_on() {
                    let rec = self.session_rec(i, now_s);
                    self.emit(Record::SessionCreate(rec));
                }
            }
        } else {
            self.v6_hit_plain(i, flags, now_s);
        }
        let s = &self.s[i as usize];
        let src = Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4);
        let dst = Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port());
        let outcome = if s.flags & F_HAIRPIN != 0 {
            self.hairpin(s.proto(), src, dst, flags, now)?
        } else {
            Outcome::ToV4 { src, dst }
        };
        Ok(Verdict {
            session: SessionId(i),
            outcome,
            release_held,
        })
    }

    /// RFC 6146 3.8: "If the destination IPv6 address is an IPv4-embedded
    /// address whose IPv4 part belongs to the pool4, the packet is
    /// hairpinned": processed as if it had left as IPv4 and come back in.
    fn hairpin(
        &mut self,
        proto: Proto,
        src: Endpoint4,
        dst: Endpoint4,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Outcome, NatDrop> {
        self.stats.hairpins += 1;
        if !self.pool.owns(proto, dst.addr, dst.port) {
            return Ok(Outcome::HairpinHandoff { src, dst });
        }
        let t4 = Tuple4 {
            proto,
            src: src.addr,
            sport: src.port,
            dst: dst.addr,
            dport: dst.port,
        };
        let h = self.hash4(&t4);
        let v = self.v4_inner(h, &t4, flags, now)?;
        Ok(v.outcome)
    }

    fn v6_new(
        &mut self,
        h: u32,
        t: &Tuple6,
        dport: u16,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let now_s = now.secs();
        let proto = t.proto;
        // RFC 6146 3.5.2.2 (CLOSED): only "a V6 SYN packet" creates a TCP
        // session; other packets are silently discarded.
        if proto == Proto::Tcp && (!flags.syn() || flags.rst()) {
            return Err(NatDrop::TcpNotSyn);
        }
        if self.s_free == NIL {
            return Err(NatDrop::TableFull);
        }
        let src = t.src.octets();
        let si = self
            .subs
            .get_or_create(&src)
            .ok_or(NatDrop::SubscriberTableFull)?;
        let cap = self.cfg.limits.sessions_per_subscriber;
        if cap != 0 && self.subs.slab[si as usize].sessions >= cap {
            self.subs.release_if_idle(si);
            return Err(NatDrop::SubscriberSessionLimit);
        }
        // RFC 6146 3.5.1.1: "If there is a BIB entry ... with (X',x) then
        // ... (T,t) ... is used" (endpoint-independent mapping); otherwise
        // a new BIB entry is created.
        let hb = h_bib6(self.seed, proto, &src, t.sport);
        let b = &self.b;
        let bi = match self.bib6.find(hb, |j| {
            let x = &b[j as usize];
            x.src6 == src && x.sport == t.sport && x.proto == proto as u8
        }) {
            Some(bi) => bi,
            None => match self.bib_create(si, hb, t, dport, now_s) {
                Ok(bi) => bi,
                Err(e) => {
                    self.subs.release_if_idle(si);
                    return Err(e);
                }
            },
        };
        let (addr4, port4) = (self.b[bi as usize].addr4, self.b[bi as usize].port4);
        let dst = u32::from(t.dst);
        let h4 = h_sess4(self.seed, proto, dst, dport, addr4, port4);
        let hairpin = if self.pool.contains(t.dst) {
            F_HAIRPIN
        } else {
            0
        };

        if proto == Proto::Tcp {
            let s = &self.s;
            if let Some(j) = self.sess4.find(h4, |j| {
                let x = &s[j as usize];
                x.dst4 == dst
                    && x.dport == dport
                    && x.addr4 == addr4
                    && x.port4 == port4
                    && x.proto == 0
                    && x.flags & F_HELD != 0
            }) {
                // A held IPv4 SYN for the same connection, which had no BIB
                // entry when it arrived: simultaneous open completes.
                // RFC 6146 3.5.2.2 (V4 INIT): "If a V6 SYN packet is
                // received ... the state is moved to ESTABLISHED."
                if !self.sess6.insert(h, j) {
                    return Err(NatDrop::TableFull);
                }
                let x = &mut self.s[j as usize];
                x.src6 = src;
                x.sport = t.sport;
                x.bib = bi;
                x.flags = F_IN_V6 | hairpin;
                self.bib_link(bi, j);
                self.stats.held_syns -= 1;
                self.subs.slab[si as usize].sessions += 1;
                self.tcp_step(j, Side::V6, flags, now_s);
                if self.events_on() {
                    let rec = self.session_rec(j, now_s);
                    self.emit(Record::SessionCreate(rec));
                }
                return self.outcome_v6(j, proto, flags, now, true);
            }
        }

        let i = self.s_free;
        self.s_free = self.s[i as usize].t_next;
        self.s[i as usize] = Session {
            src6: src,
            dst4: dst,
            addr4,
            sport: t.sport,
            dport,
            port4,
            proto: proto as u8,
            state: if proto == Proto::Tcp {
                TcpState::V6Init as u8
            } else {
                TcpState::Closed as u8
            },
            class: class_of(proto) as u8,
            flags: F_IN_V6 | hairpin,
            bib: bi,
            t_prev: NIL,
            t_next: NIL,
            b_prev: NIL,
            b_next: NIL,
            stamp: now_s,
        };
        if !self.sess6.insert(h, i) {
            return Err(self.abort_new(i, bi, si, now_s));
        }
        if !self.sess4.insert(h4, i) {
            self.sess6.remove(h, i);
            return Err(self.abort_new(i, bi, si, now_s));
        }
        self.bib_link(bi, i);
        // RFC 6146 3.5.2.2 (CLOSED, V6 SYN): "The lifetime of the entry is
        // set to TCP_TRANS"; UDP (3.5.1) and ICMP (3.5.3) start at their
        // default.
        push_back(&mut self.timers[class_of(proto) as usize], &mut self.s, i);
        self.subs.slab[si as usize].sessions += 1;
        self.stats.sessions += 1;
        self.stats.sessions_created += 1;
        if self.events_on() {
            let rec = self.session_rec(i, now_s);
            self.emit(Record::SessionCreate(rec));
        }
        self.outcome_v6(i, proto, flags, now, false)
    }

    fn outcome_v6(
        &mut self,
        i: u32,
        proto: Proto,
        flags: TcpFlags,
        now: Time,
        release_held: bool,
    ) -> Result<Verdict, NatDrop> {
        let s = &self.s[i as usize];
        let src = Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4);
        let dst = Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port());
        let outcome = if s.flags & F_HAIRPIN != 0 {
            self.hairpin(proto, src, dst, flags, now)?
        } else {
            Outcome::ToV4 { src, dst }
        };
        Ok(Verdict {
            session: SessionId(i),
            outcome,
            release_held,
        })
    }

    /// Undoes a half-made session (a table refused the insert).
    #[cold]
    fn abort_new(&mut self, i: u32, bi: u32, si: u32, now_s: u32) -> NatDrop {
        self.s[i as usize] = Session::EMPTY;
        self.s[i as usize].t_next = self.s_free;
        self.s_free = i;
        if self.b[bi as usize].head == NIL && !self.b[bi as usize].is_static {
            self.delete_bib(bi, now_s);
        }
        self.subs.release_if_idle(si);
        NatDrop::TableFull
    }

    /// Allocates (T,t) for (X',x) of `t` (BIB hash `hb`) and creates the
    /// BIB entry; `dport` is the session's remote port.
    fn bib_create(
        &mut self,
        si: u32,
        hb: u32,
        t: &Tuple6,
        dport: u16,
        now_s: u32,
    ) -> Result<u32, NatDrop> {
        if self.b_free == NIL {
            return Err(NatDrop::TableFull);
        }
        let (proto, src, sport) = (t.proto, t.src.octets(), t.sport);
        let (pi, port4) = self.alloc_port(si, proto, sport, hb, now_s)?;
        let addr4 = u32::from(self.pool.addr(pi));
        // What the inserts below touch, in flight together (where the
        // prefetch stage guessed the port right, already there).
        let h4 = self.prefetch_v4_side(proto, (u32::from(t.dst), dport), (addr4, port4));
        let bi = self.b_free;
        self.b_free = self.b[bi as usize].head;
        self.b[bi as usize] = Bib {
            src6: src,
            addr4,
            sport,
            port4,
            proto: proto as u8,
            is_static: false,
            pool: pi,
            head: NIL,
        };
        if !self.bib6.insert(hb, bi) || !self.bib4.insert(h4, bi) {
            self.bib6.remove(hb, bi);
            self.release_port(pi, proto, port4, &src, now_s);
            self.b[bi as usize] = Bib::EMPTY;
            self.b[bi as usize].head = self.b_free;
            self.b_free = bi;
            return Err(NatDrop::TableFull);
        }
        self.subs.slab[si as usize].ports[proto.index()] += 1;
        self.stats.bibs += 1;
        self.stats.bibs_created += 1;
        if self.events_on() {
            let rec = self.bib_rec(bi, now_s);
            self.emit(Record::BibCreate(rec));
        }
        Ok(bi)
    }

    /// The subscriber's paired address (RFC 6888 REQ-2: "A CGN MUST have a
    /// default 'IP address pooling' behavior of 'Paired'"), chosen once.
    fn paired(&mut self, si: u32) -> Option<u16> {
        let sub = &self.subs.slab[si as usize];
        if sub.pool != NO_POOL && self.pool.get(sub.pool).is_some() {
            return Some(sub.pool);
        }
        let p = self.pool.paired(&sub.prefix)?;
        self.subs.slab[si as usize].pool = p;
        Some(p)
    }

    /// The address and port [`Shard::alloc_port`] would give subscriber
    /// `si` now, if that is plain to see (port-by-port allocation from
    /// the address it is already paired with), changing nothing.
    #[inline]
    fn likely_port(&self, si: u32, proto: Proto, want: u16, salt: u32) -> Option<(u32, u16)> {
        let sub = &self.subs.slab[si as usize];
        if self.cfg.port_block != 0 || sub.pool == NO_POOL {
            return None;
        }
        let port = self.pool.choose(sub.pool, proto, want, salt)?;
        Some((u32::from(self.pool.addr(sub.pool)), port))
    }

    /// A port for subscriber `si`'s flow from port `want`; `salt` is the
    /// flow's BIB hash (see [`Pool4::alloc`]).
    fn alloc_port(
        &mut self,
        si: u32,
        proto: Proto,
        want: u16,
        salt: u32,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        if self.cfg.port_block != 0 {
            return self.alloc_port_block(si, proto, want, now_s);
        }
        // RFC 6888 REQ-4: "A CGN MUST support limiting the number of
        // external ports (or, equivalently, 'identifiers' for ICMP) that
        // are assigned per subscriber."
        let cap = self.cfg.limits.ports_per_subscriber;
        if cap != 0 && self.subs.slab[si as usize].ports[proto.index()] >= cap {
            return Err(NatDrop::SubscriberPortLimit);
        }
        let paired = self.paired(si).ok_or(NatDrop::PoolExhausted)?;
        if let Some(p) = self.pool.alloc(paired, proto, want, salt) {
            return Ok((paired, p));
        }
        // Paired address exhausted: fall back, and count it.
        let other = self
            .pool
            .others(paired)
            .find(|&j| self.pool.free_ports(j, proto) > 0)
            .ok_or(NatDrop::PoolExhausted)?;
        let p = self
            .pool
            .alloc(other, proto, want, salt)
            .ok_or(NatDrop::PoolExhausted)?;
        self.stats.paired_fallback += 1;
        Ok((other, p))
    }

    fn alloc_port_block(
        &mut self,
        si: u32,
        proto: Proto,
        want: u16,
        now_s: u32,
    ) -> Result<(u16, u16), NatDrop> {
        let pi = proto.index();
        let sub = self.subs.slab[si as usize];
        let list = self.subs.blocks[si as usize][pi];
        for &(a, k) in &list[..usize::from(sub.nblocks[pi])] {
            if let Some(p) = self.pool.alloc_in_block(a, proto, k, want) {
                return Ok((a, p));
            }
        }
        let block = u32::from(self.cfg.port_block);
        let max = self.cfg.limits.ports_per_subscriber.div_ceil(block);
        if u32::from(sub.nblocks[pi]) >= max {
            return Err(NatDrop::SubscriberPortLimit);
        }
        let paired = self.paired(si).ok_or(NatDrop::PoolExhausted)?;
        let a = if self.pool.free_blocks(paired, proto) > 0 {
            paired
        } else {
            let o = self
                .pool
                .others(paired)
                .find(|&j| self.pool.free_blocks(j, proto) > 0)
                .ok_or(NatDrop::PoolExhausted)?;
            self.stats.paired_fallback += 1;
            o
        };
        let k = self
            .pool
            .alloc_block(a, proto, si)
            .ok_or(NatDrop::PoolExhausted)?;
        let sub = &mut self.subs.slab[si as usize];
        let at = usize::from(sub.nblocks[pi]);
        sub.nblocks[pi] += 1;
        self.subs.blocks[si as usize][pi][at] = (a, k);
        if self.events_on() {
            let rec = self.block_rec(si, proto, a, k, now_s);
            self.emit(Record::BlockAlloc(rec));
        }
        match self.pool.alloc_in_block(a, proto, k, want) {
            Some(p) => Ok((a, p)),
            None => {
                // Every port of the fresh block is a static BIB entry.
                self.subs.remove_block(si, proto, a, k);
                self.pool.free_block(a, proto, k);
                Err(NatDrop::PoolExhausted)
            }
        }
    }

    fn block_rec(&self, si: u32, proto: Proto, a: u16, k: u32, time: u32) -> BlockRec {
        let (first, last) = self.pool.block_span(a, proto, k);
        BlockRec {
            time,
            proto,
            subscriber: Ipv6Addr::from(self.subs.slab[si as usize].prefix),
            prefix_len: self.subs.prefix_len(),
            v4: self.pool.addr(a),
            block: k,
            first,
            last,
            size: self.pool.block_size(),
        }
    }

    fn release_port(&mut self, pi: u16, proto: Proto, port: u16, src6: &[u8; 16], now_s: u32) {
        if let Some((k, true)) = self.pool.release(pi, proto, port) {
            if let Some(si) = self.subs.find(src6) {
                if self.events_on() {
                    let rec = self.block_rec(si, proto, pi, k, now_s);
                    self.emit(Record::BlockFree(rec));
                }
                self.subs.remove_block(si, proto, pi, k);
                self.pool.free_block(pi, proto, k);
                self.subs.release_if_idle(si);
            } else {
                self.pool.free_block(pi, proto, k);
            }
        }
    }

    // ----- the IPv4 side -----

    /// The table hash of an IPv4-side tuple (for prefetching).
    #[inline(always)]
    pub fn hash4(&self, t: &Tuple4) -> u32 {
        let sport = if t.proto == Proto::Icmp { 0 } else { t.sport };
        h_sess4(
            self.seed,
            t.proto,
            u32::from(t.src),
            sport,
            u32::from(t.dst),
            t.dport,
        )
    }

    #[inline(always)]
    pub fn prefetch4(&self, h: u32) {
        self.sess4.prefetch(h);
    }

    /// Stage 2 of an IPv4-side burst: prefetch the session the bucket
    /// points at (the first of the home whose tag matches) and name it
    /// ([`Shard::v4_established`] compares that one first).
    #[inline(always)]
    pub fn prefetch4_session(&self, h: u32) -> Option<SessionId> {
        let i = self.sess4.first_candidate(h)?;
        prefetch(&self.s[i as usize]);
        Some(SessionId(i))
    }

    /// Lookup or creation for a packet from the IPv4 side.
    #[inline]
    pub fn v4_session(
        &mut self,
        t: &Tuple4,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let h = self.hash4(t);
        self.v4_session_hashed(h, t, flags, now)
    }

    /// [`Shard::v4_session`] with the hash from [`Shard::hash4`].
    #[inline]
    pub fn v4_session_hashed(
        &mut self,
        h: u32,
        t: &Tuple4,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let r = self.v4_inner(h, t, flags, now);
        if let Err(d) = r {
            self.drops[d as usize] += 1;
        }
        r
    }

    /// A burst of IPv4-side lookups with prefetching.
    pub fn v4_burst(
        &mut self,
        tuples: &[Tuple4],
        flags: &[TcpFlags],
        now: Time,
        out: &mut [Result<Verdict, NatDrop>],
    ) {
        let mut hs = [0u32; BURST];
        for (k, chunk) in tuples.chunks(BURST).enumerate() {
            for (h, t) in hs.iter_mut().zip(chunk) {
                *h = self.hash4(t);
                self.sess4.prefetch(*h);
            }
            let n = chunk.len();
            for j in 0..n + LEAD {
                if j < n {
                    self.prefetch4_session(hs[j]);
                }
                if j >= LEAD {
                    let j = j - LEAD;
                    let f = flags.get(k * BURST + j).copied().unwrap_or_default();
                    out[k * BURST + j] = self.v4_session_hashed(hs[j], &chunk[j], f, now);
                }
            }
        }
    }

    #[inline]
    fn v4_inner(
        &mut self,
        h: u32,
        t: &Tuple4,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        match self.find4(h, t) {
            Some(i) => self.v4_hit(i, flags, now),
            None => {
                let rport = if t.proto == Proto::Icmp { 0 } else { t.sport };
                self.v4_new(h, t, rport, flags, now)
            }
        }
    }

    /// The session of the IPv4-side tuple `t`, hashed `h`.
    #[inline(always)]
    fn find4(&self, h: u32, t: &Tuple4) -> Option<u32> {
        let s = &self.s;
        self.sess4.find(h, |i| is_key4(&s[i as usize], t))
    }

    /// The return-traffic path of a worker: the session of `t` (hash `h`
    /// from [`Shard::hash4`]) when it exists and is not holding a SYN,
    /// refreshed and stepped exactly as [`Shard::v4_session_hashed`]
    /// would, as the IPv4 source (Z,z) and the IPv6 destination (X',x)
    /// the packet goes on with. `None` (nothing changed) sends the packet
    /// down the general path. `likely` is what
    /// [`Shard::prefetch4_session`] named.
    #[inline(always)]
    pub fn v4_established(
        &mut self,
        h: u32,
        likely: Option<SessionId>,
        t: &Tuple4,
        flags: TcpFlags,
        now: Time,
    ) -> Option<(Endpoint4, Endpoint6)> {
        let i = match likely {
            Some(SessionId(i)) if self.s.get(i as usize).is_some_and(|x| is_key4(x, t)) => i,
            _ => self.find4(h, t)?,
        };
        if self.s[i as usize].flags & F_HELD != 0 {
            return None;
        }
        self.v4_hit_plain(i, flags, now.secs());
        Some(self.v4_ends(i))
    }

    /// A packet from the IPv4 side of a session that holds no SYN: the TCP
    /// state step or (RFC 6146 3.5.1.2, and 3.5.3 for ICMP: "an incoming
    /// packet that matches a session refreshes its lifetime") the
    /// refresh.
    #[inline(always)]
    fn v4_hit_plain(&mut self, i: u32, flags: TcpFlags, now_s: u32) {
        if self.s[i as usize].proto == Proto::Tcp as u8 {
            self.tcp_step(i, Side::V4, flags, now_s);
        } else {
            self.refresh(i, now_s);
        }
    }

    /// Where a packet from the IPv4 side of session `i` goes on: from
    /// (Z,z) (an ICMP query: the identifier) to (X',x).
    #[inline(always)]
    fn v4_ends(&self, i: u32) -> (Endpoint4, Endpoint6) {
        let s = &self.s[i as usize];
        let rport = if s.proto == Proto::Icmp as u8 {
            s.sport
        } else {
            s.dport
        };
        (
            Endpoint4::new(Ipv4Addr::from(s.dst4), rport),
            Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
        )
    }

    #[inline(always)]
    fn v4_hit(&mut self, i: u32, flags: TcpFlags, now: Time) -> Result<Verdict, NatDrop> {
        if self.s[i as usize].flags & F_HELD != 0 {
            return Err(NatDrop::HeldSyn);
        }
        self.v4_hit_plain(i, flags, now.secs());
        let (src, dst) = self.v4_ends(i);
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::ToV6 { src, dst },
            release_held: false,
        })
    }

    /// Address-dependent filtering. RFC 4787 5: "The NAT filters out
    /// packets from Y2:y2 destined for the internal endpoint X:x if X:x has
    /// not sent packets to Y2:any previously"; RFC 6146 3.5.1.2 checks for
    /// a session of the BIB entry with the packet's source address.
    fn adf_allows(&self, bi: u32, remote: u32) -> bool {
        let mut j = self.b[bi as usize].head;
        while j != NIL {
            let x = &self.s[j as usize];
            if x.dst4 == remote && x.flags & F_HELD == 0 {
                return true;
            }
            j = x.b_next;
        }
        false
    }

    fn v4_new(
        &mut self,
        h: u32,
        t: &Tuple4,
        rport: u16,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let now_s = now.secs();
        let proto = t.proto;
        if !self.pool.owns(proto, t.dst, t.dport) {
            return Err(NatDrop::NotOwned);
        }
        let local = u32::from(t.dst);
        let hb = h_bib4(self.seed, proto, local, t.dport);
        let b = &self.b;
        let bib = self.bib4.find(hb, |j| {
            let x = &b[j as usize];
            x.addr4 == local && x.port4 == t.dport && x.proto == proto as u8
        });
        let remote = u32::from(t.src);
        let eif = self.cfg.filtering == Filtering::Eif;
        if proto == Proto::Tcp {
            // RFC 6146 3.5.2.2 (CLOSED): only "a V4 SYN packet" creates
            // state; anything else is silently discarded.
            if !flags.syn() || flags.rst() {
                return Err(NatDrop::TcpNotSyn);
            }
            if !self.cfg.v4_initiated_tcp {
                return Err(NatDrop::V4TcpPolicy);
            }
            // A static BIB entry is the operator's explicit permission for
            // IPv4-initiated traffic, so filtering does not apply to it.
            let allowed = bib.is_some_and(|bi| {
                eif || self.b[bi as usize].is_static || self.adf_allows(bi, remote)
            });
            if !allowed {
                // RFC 6146 3.5.2.2: with no BIB entry, or when the
                // filtering policy rejects it, the V4 SYN is kept "for at
                // least 6 seconds"; an IPv6 SYN for the same connection in
                // that time completes it (simultaneous open), else ICMP
                // Port Unreachable.
                return self.hold(h, t, rport, bib, now_s);
            }
        } else {
            // RFC 6146 3.5.1.2: without a BIB entry for (T,t) the packet
            // is discarded.
            let bi = bib.ok_or(NatDrop::NoBib)?;
            if !eif && !self.b[bi as usize].is_static && !self.adf_allows(bi, remote) {
                return Err(NatDrop::Filtered);
            }
        }
        let Some(bi) = bib else {
            return Err(NatDrop::NoBib);
        };
        if self.s_free == NIL {
            return Err(NatDrop::TableFull);
        }
        let src6 = self.b[bi as usize].src6;
        let si = self
            .subs
            .get_or_create(&src6)
            .ok_or(NatDrop::SubscriberTableFull)?;
        let cap = self.cfg.limits.sessions_per_subscriber;
        if cap != 0 && self.subs.slab[si as usize].sessions >= cap {
            self.subs.release_if_idle(si);
            return Err(NatDrop::SubscriberSessionLimit);
        }
        let b = self.b[bi as usize];
        let hairpin = if self.pool.contains(t.src) {
            F_HAIRPIN
        } else {
            0
        };
        let i = self.s_free;
        self.s_free = self.s[i as usize].t_next;
        let (state, class) = if proto == Proto::Tcp {
            // RFC 6146 3.5.2.2 (CLOSED, V4 SYN allowed): the state moves to
            // V4 INIT with the transitory lifetime.
            (TcpState::V4Init, TimerClass::TcpTrans)
        } else {
            (TcpState::Closed, class_of(proto))
        };
        self.s[i as usize] = Session {
            src6,
            dst4: remote,
            addr4: local,
            sport: b.sport,
            dport: rport,
            port4: t.dport,
            proto: proto as u8,
            state: state as u8,
            class: class as u8,
            flags: F_IN_V6 | hairpin,
            bib: bi,
            t_prev: NIL,
            t_next: NIL,
            b_prev: NIL,
            b_next: NIL,
            stamp: now_s,
        };
        let h6 = self.s[i as usize].h6(self.seed);
        if !self.sess6.insert(h6, i) {
            return Err(self.abort_new(i, bi, si, now_s));
        }
        if !self.sess4.insert(h, i) {
            self.sess6.remove(h6, i);
            return Err(self.abort_new(i, bi, si, now_s));
        }
        self.bib_link(bi, i);
        push_back(&mut self.timers[class as usize], &mut self.s, i);
        self.subs.slab[si as usize].sessions += 1;
        self.stats.sessions += 1;
        self.stats.sessions_created += 1;
        if self.events_on() {
            let rec = self.session_rec(i, now_s);
            self.emit(Record::SessionCreate(rec));
        }
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::ToV6 {
                src: Endpoint4::new(t.src, if proto == Proto::Icmp { b.sport } else { rport }),
                dst: Endpoint6::new(Ipv6Addr::from(src6), b.sport),
            },
            release_held: false,
        })
    }

    fn hold(
        &mut self,
        h: u32,
        t: &Tuple4,
        rport: u16,
        bib: Option<u32>,
        now_s: u32,
    ) -> Result<Verdict, NatDrop> {
        if self.stats.held_syns >= self.cfg.limits.held_syns {
            return Err(NatDrop::HeldSynLimit);
        }
        if self.s_free == NIL {
            return Err(NatDrop::TableFull);
        }
        let i = self.s_free;
        self.s_free = self.s[i as usize].t_next;
        let mut s = Session::EMPTY;
        s.dst4 = u32::from(t.src);
        s.dport = rport;
        s.addr4 = u32::from(t.dst);
        s.port4 = t.dport;
        s.proto = Proto::Tcp as u8;
        s.state = TcpState::V4Init as u8;
        s.class = TimerClass::TcpSyn as u8;
        s.flags = F_HELD;
        if self.pool.contains(t.src) {
            s.flags |= F_HAIRPIN;
        }
        s.stamp = now_s;
        if let Some(bi) = bib {
            s.src6 = self.b[bi as usize].src6;
            s.sport = self.b[bi as usize].sport;
            s.bib = bi;
            s.flags |= F_IN_V6;
        }
        self.s[i as usize] = s;
        if bib.is_some() {
            let h6 = self.s[i as usize].h6(self.seed);
            if !self.sess6.insert(h6, i) {
                self.free_slot(i);
                return Err(NatDrop::TableFull);
            }
        }
        if !self.sess4.insert(h, i) {
            if bib.is_some() {
                let h6 = self.s[i as usize].h6(self.seed);
                self.sess6.remove(h6, i);
            }
            self.free_slot(i);
            return Err(NatDrop::TableFull);
        }
        if let Some(bi) = bib {
            self.bib_link(bi, i);
        }
        push_back(
            &mut self.timers[TimerClass::TcpSyn as usize],
            &mut self.s,
            i,
        );
        self.stats.held_syns += 1;
        self.stats.sessions += 1;
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::Hold,
            release_held: false,
        })
    }

    /// Read-only lookup by the IPv6-side tuple (for ICMP errors, whose
    /// inner packet names a session without refreshing it).
    pub fn peek_v6(&self, t: &Tuple6) -> Option<SessionInfo> {
        let h = self.hash6(t);
        let (src, dst) = (t.src.octets(), u32::from(t.dst));
        let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
        self.sess6
            .find(h, |i| {
                let x = &self.s[i as usize];
                x.src6 == src
                    && x.sport == t.sport
                    && x.dst4 == dst
                    && x.dport == dport
                    && x.proto == t.proto as u8
            })
            .map(|i| self.info(i))
    }

    /// Read-only lookup by the IPv4-side tuple.
    pub fn peek_v4(&self, t: &Tuple4) -> Option<SessionInfo> {
        let h = self.hash4(t);
        let rport = if t.proto == Proto::Icmp { 0 } else { t.sport };
        self.sess4
            .find(h, |i| {
                let x = &self.s[i as usize];
                x.dst4 == u32::from(t.src)
                    && x.dport == rport
                    && x.addr4 == u32::from(t.dst)
                    && x.port4 == t.dport
                    && x.proto == t.proto as u8
            })
            .map(|i| self.info(i))
    }

    // ----- deletion -----

    fn free_slot(&mut self, i: u32) {
        self.s[i as usize] = Session::EMPTY;
        self.s[i as usize].t_next = self.s_free;
        self.s_free = i;
    }

    fn bib_link(&mut self, bi: u32, i: u32) {
        let head = self.b[bi as usize].head;
        self.s[i as usize].b_prev = NIL;
        self.s[i as usize].b_next = head;
        if head != NIL {
            self.s[head as usize].b_prev = i;
        }
        self.b[bi as usize].head = i;
    }

    fn bib_unlink(&mut self, bi: u32, i: u32) {
        let (p, n) = (self.s[i as usize].b_prev, self.s[i as usize].b_next);
        if p == NIL {
            self.b[bi as usize].head = n;
        } else {
            self.s[p as usize].b_next = n;
        }
        if n != NIL {
            self.s[n as usize].b_prev = p;
        }
    }

    fn delete_session(&mut self, i: u32, now_s: u32) {
        let s = self.s[i as usize];
        debug_assert!(s.is_live());
        self.sess4.remove(s.h4(self.seed), i);
        if s.flags & F_IN_V6 != 0 {
            self.sess6.remove(s.h6(self.seed), i);
        }
        unlink(&mut self.timers[s.class as usize], &mut self.s, i);
        if s.flags & F_HELD != 0 {
            self.stats.held_syns -= 1;
        } else {
            if self.events_on() {
                let rec = self.session_rec(i, now_s);
                self.emit(Record::SessionDelete(rec));
            }
            if let Some(si) = self.subs.find(&s.src6) {
                let sub = &mut self.subs.slab[si as usize];
                sub.sessions = sub.sessions.saturating_sub(1);
                self.subs.release_if_idle(si);
            }
        }
        if s.bib != NIL {
            self.bib_unlink(s.bib, i);
            let b = &self.b[s.bib as usize];
            // RFC 6146 3.5.1: a dynamic BIB entry lives as long as it has
            // sessions.
            if b.head == NIL && !b.is_static {
                self.delete_bib(s.bib, now_s);
            }
        }
        self.free_slot(i);
        self.stats.sessions -= 1;
    }

    fn delete_bib(&mut self, bi: u32, now_s: u32) {
        while self.b[bi as usize].head != NIL {
            let i = self.b[bi as usize].head;
            // Deleting the last session would recurse into us; detach first.
            self.bib_unlink(bi, i);
            self.s[i as usize].bib = NIL;
            self.delete_session(i, now_s);
        }
        let b = self.b[bi as usize];
        self.bib6.remove(b.h6(self.seed), bi);
        self.bib4.remove(b.h4(self.seed), bi);
        if self.events_on() {
            let rec = self.bib_rec(bi, now_s);
            self.emit(Record::BibDelete(rec));
        }
        let proto = b.proto();
        if b.is_static {
            self.pool.release_static(b.pool, proto, b.port4);
        } else {
            if let Some(si) = self.subs.find(&b.src6) {
                let sub = &mut self.subs.slab[si as usize];
                sub.ports[proto.index()] = sub.ports[proto.index()].saturating_sub(1);
            }
            self.release_port(b.pool, proto, b.port4, &b.src6, now_s);
            if let Some(si) = self.subs.find(&b.src6) {
                self.subs.release_if_idle(si);
            }
        }
        self.b[bi as usize] = Bib::EMPTY;
        self.b[bi as usize].head = self.b_free;
        self.b_free = bi;
        self.stats.bibs -= 1;
    }

    // ----- static BIB -----

    /// Adds a static BIB entry (port forwarding): IPv4-initiated traffic
    /// to `v4` reaches `v6`. `v4` must be a pool4 transport address in this
    /// worker's share (the control plane asks the owner, see `rss`).
    pub fn add_static_bib(
        &mut self,
        proto: Proto,
        v6: Endpoint6,
        v4: Endpoint4,
        now: Time,
    ) -> Result<(), ShardError> {
        let src = v6.addr.octets();
        let hb6 = h_bib6(self.seed, proto, &src, v6.port);
        let hb4 = h_bib4(self.seed, proto, u32::from(v4.addr), v4.port);
        if self.find_bib6(hb6, proto, &src, v6.port).is_some() {
            return Err(ShardError::BibExists(v6.to_string(), proto));
        }
        if self.find_bib4(hb4, proto, v4).is_some() {
            return Err(ShardError::BibExists(v4.to_string(), proto));
        }
        let pi = self
            .pool
            .idx(v4.addr)
            .ok_or(ShardError::NotInPool(v4.addr))?;
        if self.b_free == NIL {
            return Err(ShardError::BibFull);
        }
        if !self.pool.reserve(pi, proto, v4.port) {
            return Err(ShardError::PortUnavailable { proto, v4 });
        }
        let bi = self.b_free;
        self.b_free = self.b[bi as usize].head;
        self.b[bi as usize] = Bib {
            src6: src,
            addr4: u32::from(v4.addr),
            sport: v6.port,
            port4: v4.port,
            proto: proto as u8,
            is_static: true,
            pool: pi,
            head: NIL,
        };
        if !self.bib6.insert(hb6, bi) || !self.bib4.insert(hb4, bi) {
            self.bib6.remove(hb6, bi);
            self.pool.release_static(pi, proto, v4.port);
            self.b[bi as usize] = Bib::EMPTY;
            self.b[bi as usize].head = self.b_free;
            self.b_free = bi;
            return Err(ShardError::BibFull);
        }
        self.stats.bibs += 1;
        if self.events_on() {
            let rec = self.bib_rec(bi, now.secs());
            self.emit(Record::BibCreate(rec));
        }
        Ok(())
    }

    /// Removes a static BIB entry and its sessions.
    pub fn remove_static_bib(
        &mut self,
        proto: Proto,
        v4: Endpoint4,
        now: Time,
    ) -> Result<(), ShardError> {
        let hb4 = h_bib4(self.seed, proto, u32::from(v4.addr), v4.port);
        match self.find_bib4(hb4, proto, v4) {
            Some(bi) if self.b[bi as usize].is_static => {
                self.delete_bib(bi, now.secs());
                Ok(())
            }
            _ => Err(ShardError::NoStaticBib { proto, v4 }),
        }
    }

    fn find_bib6(&self, h: u32, proto: Proto, src: &[u8; 16], port: u16) -> Option<u32> {
        self.bib6.find(h, |j| {
            let x = &self.b[j as usize];
            x.src6 == *src && x.sport == port && x.proto == proto as u8
        })
    }

    fn find_bib4(&self, h: u32, proto: Proto, v4: Endpoint4) -> Option<u32> {
        self.bib4.find(h, |j| {
            let x = &self.b[j as usize];
            x.addr4 == u32::from(v4.addr) && x.port4 == v4.port && x.proto == proto as u8
        })
    }

    // ----- HA standby -----

    /// Applies one sync record from the active node. A standby shard
    /// mirrors the active one's BIB entries and sessions with the active
    /// node's mappings; it allocates nothing itself. Records are
    /// idempotent where that is cheap (a create for an existing entry
    /// updates it). Port-block records are not mirrored yet: block
    /// ownership is rebuilt from the BIB entries' ports only.
    pub fn apply(&mut self, r: &Record) -> Result<(), ShardError> {
        match r {
            Record::BibCreate(b) => self.apply_bib(b),
            Record::BibDelete(b) => {
                let h = h_bib4(self.seed, b.proto, u32::from(b.v4.addr), b.v4.port);
                if let Some(bi) = self.find_bib4(h, b.proto, b.v4) {
                    self.delete_bib(bi, b.time);
                }
                Ok(())
            }
            Record::SessionCreate(x) => self.apply_session(x),
            Record::SessionDelete(x) => {
                if let Some(i) = self.find_key4(x.proto, x.v4, x.remote) {
                    self.delete_session(i, x.time);
                }
                Ok(())
            }
            Record::StateChange { time, key, state } => {
                if let Some(i) = self.find_key4(key.proto, key.v4, key.remote) {
                    self.s[i as usize].state = *state as u8;
                    self.set_timer(i, class_of_state(key.proto, *state), *time);
                }
                Ok(())
            }
            Record::Refresh { time, key } => {
                if let Some(i) = self.find_key4(key.proto, key.v4, key.remote) {
                    self.refresh(i, *time);
                }
                Ok(())
            }
            Record::BlockAlloc(_) | Record::BlockFree(_) => Ok(()),
        }
    }

    fn find_key4(&self, proto: Proto, v4: Endpoint4, remote: Endpoint4) -> Option<u32> {
        let t = Tuple4 {
            proto,
            src: remote.addr,
            sport: remote.port,
            dst: v4.addr,
            dport: v4.port,
        };
        self.peek_v4(&t).map(|i| i.id.0)
    }

    fn apply_bib(&mut self, b: &BibRec) -> Result<(), ShardError> {
        let h4 = h_bib4(self.seed, b.proto, u32::from(b.v4.addr), b.v4.port);
        if self.find_bib4(h4, b.proto, b.v4).is_some() {
            return Ok(());
        }
        if b.is_static {
            return self.add_static_bib(b.proto, b.v6, b.v4, Time::from_secs(u64::from(b.time)));
        }
        let src = b.v6.addr.octets();
        let pi = self
            .pool
            .idx(b.v4.addr)
            .ok_or(ShardError::NotInPool(b.v4.addr))?;
        if self.b_free == NIL {
            return Err(ShardError::BibFull);
        }
        let si = self.subs.get_or_create(&src).ok_or(ShardError::BibFull)?;
        if !self.pool.reserve(pi, b.proto, b.v4.port) {
            self.subs.release_if_idle(si);
            return Err(ShardError::PortUnavailable {
                proto: b.proto,
                v4: b.v4,
            });
        }
        let bi = self.b_free;
        self.b_free = self.b[bi as usize].head;
        self.b[bi as usize] = Bib {
            src6: src,
            addr4: u32::from(b.v4.addr),
            sport: b.v6.port,
            port4: b.v4.port,
            proto: b.proto as u8,
            is_static: false,
            pool: pi,
            head: NIL,
        };
        let h6 = h_bib6(self.seed, b.proto, &src, b.v6.port);
        if !self.bib6.insert(h6, bi) || !self.bib4.insert(h4, bi) {
            self.bib6.remove(h6, bi);
            self.pool.release_static(pi, b.proto, b.v4.port);
            self.b[bi as usize] = Bib::EMPTY;
            self.b[bi as usize].head = self.b_free;
            self.b_free = bi;
            self.subs.release_if_idle(si);
            return Err(ShardError::BibFull);
        }
        self.subs.slab[si as usize].ports[b.proto.index()] += 1;
        self.stats.bibs += 1;
        Ok(())
    }

    fn apply_session(&mut self, x: &SessionRec) -> Result<(), ShardError> {
        let class = class_of_state(x.proto, x.state);
        if let Some(i) = self.find_key4(x.proto, x.v4, x.remote) {
            self.s[i as usize].state = x.state as u8;
            self.set_timer(i, class, x.time);
            return Ok(());
        }
        let h4b = h_bib4(self.seed, x.proto, u32::from(x.v4.addr), x.v4.port);
        let Some(bi) = self.find_bib4(h4b, x.proto, x.v4) else {
            return Err(ShardError::NoBib {
                proto: x.proto,
                v4: x.v4,
            });
        };
        if self.s_free == NIL {
            return Err(ShardError::BibFull);
        }
        let src6 = self.b[bi as usize].src6;
        let si = self.subs.get_or_create(&src6).ok_or(ShardError::BibFull)?;
        let icmp = x.proto == Proto::Icmp;
        let i = self.s_free;
        self.s_free = self.s[i as usize].t_next;
        // Keep the list in stamp order: a record older than the tail is
        // stamped as the tail (it lives a little longer, never shorter).
        let tail = self.timers[class as usize].tail;
        let stamp = if tail == NIL {
            x.time
        } else {
            x.time.max(self.s[tail as usize].stamp)
        };
        self.s[i as usize] = Session {
            src6,
            dst4: u32::from(x.remote.addr),
            addr4: u32::from(x.v4.addr),
            sport: x.v6.port,
            dport: if icmp { 0 } else { x.remote.port },
            port4: x.v4.port,
            proto: x.proto as u8,
            state: x.state as u8,
            class: class as u8,
            flags: F_IN_V6
                | if self.pool.contains(x.remote.addr) {
                    F_HAIRPIN
                } else {
                    0
                },
            bib: bi,
            t_prev: NIL,
            t_next: NIL,
            b_prev: NIL,
            b_next: NIL,
            stamp,
        };
        let (h6, h4) = (
            self.s[i as usize].h6(self.seed),
            self.s[i as usize].h4(self.seed),
        );
        if !self.sess6.insert(h6, i) {
            self.free_slot(i);
            self.subs.release_if_idle(si);
            return Err(ShardError::BibFull);
        }
        if !self.sess4.insert(h4, i) {
            self.sess6.remove(h6, i);
            self.free_slot(i);
            self.subs.release_if_idle(si);
            return Err(ShardError::BibFull);
        }
        self.bib_link(bi, i);
        push_back(&mut self.timers[class as usize], &mut self.s, i);
        self.subs.slab[si as usize].sessions += 1;
        self.stats.sessions += 1;
        Ok(())
    }

    // ----- listing -----

    fn info(&self, i: u32) -> SessionInfo {
        let s = &self.s[i as usize];
        let timer = TimerClass::ALL[s.class as usize];
        SessionInfo {
            id: SessionId(i),
            proto: s.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            state: TcpState::from_u8(s.state).unwrap_or(TcpState::Closed),
            timer,
            expires: s.stamp.saturating_add(self.timeouts[s.class as usize]),
            held: s.flags & F_HELD != 0,
            hairpin: s.flags & F_HAIRPIN != 0,
        }
    }

    /// Sessions matching `f` (a full scan: for the CLI, not the hot path).
    pub fn sessions(&self, f: SessionFilter) -> impl Iterator<Item = SessionInfo> + '_ {
        let v6 = f.v6.map(|a| a.octets());
        let v4 = f.v4.map(u32::from);
        (0..self.s.len() as u32).filter_map(move |i| {
            let s = &self.s[i as usize];
            let ok = s.is_live()
                && f.proto.is_none_or(|p| s.proto == p as u8)
                && v6.is_none_or(|a| s.src6 == a)
                && v4.is_none_or(|a| s.addr4 == a || s.dst4 == a);
            ok.then(|| self.info(i))
        })
    }

    /// BIB entries matching `f` (`v4` matches the pool4 address).
    pub fn bib(&self, f: SessionFilter) -> impl Iterator<Item = BibInfo> + '_ {
        let v6 = f.v6.map(|a| a.octets());
        let v4 = f.v4.map(u32::from);
        self.b.iter().filter_map(move |b| {
            let ok = b.proto != super::session::FREE
                && f.proto.is_none_or(|p| b.proto == p as u8)
                && v6.is_none_or(|a| b.src6 == a)
                && v4.is_none_or(|a| b.addr4 == a);
            ok.then(|| {
                let mut n = 0;
                let mut j = b.head;
                while j != NIL {
                    n += 1;
                    j = self.s[j as usize].b_next;
                }
                BibInfo {
                    proto: b.proto(),
                    v6: Endpoint6::new(Ipv6Addr::from(b.src6), b.sport),
                    v4: Endpoint4::new(Ipv4Addr::from(b.addr4), b.port4),
                    is_static: b.is_static,
                    sessions: n,
                }
            })
        })
    }

    /// Sessions and ports of the subscriber `src` belongs to.
    pub fn subscriber_usage(&self, src: Ipv6Addr) -> Option<(u32, [u32; Proto::COUNT])> {
        self.subs.find(&src.octets()).map(|i| {
            let s = &self.subs.slab[i as usize];
            (s.sessions, s.ports)
        })
    }

    /// The pool4 address a subscriber is paired with on this shard.
    pub fn subscriber_pool4(&self, src: Ipv6Addr) -> Option<Ipv4Addr> {
        self.subs.find(&src.octets()).and_then(|i| {
            let p = self.subs.slab[i as usize].pool;
            (p != NO_POOL).then(|| self.pool.addr(p))
        })
    }
}
