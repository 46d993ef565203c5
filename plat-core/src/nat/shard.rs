//! The shard: the struct one worker owns whole, its construction, and the
//! per-packet entry points that tie the rooms together (lookup, or a new
//! BIB entry and session, filtering, hairpinning). Each concept's code
//! lives in its own file: `session`, `bib`, `ports`, `filter`, `hairpin`,
//! `limits`, `timers`, `event`, `admin`, `ha`.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::config::{ConfigError, NatConfig};
use super::event::{Alarm, Record};
use super::filter::Admit;
use super::limits::Subscribers;
use super::pool4::{Pool4, Pool4Error};
use super::prefetch::prefetch;
use super::session::{
    h_bib4, h_bib6, h_sess4, h_sess6, is_key4, is_key6, Bib, Session, F_HAIRPIN, F_HELD, F_IN_V6,
    NIL,
};
use super::share::PortShare;
use super::table::{ByteTagged, HashKey, IndexTable, Tagged, MAX_INDEX};
use super::tcp_state::TcpState;
use super::timers::{class_of, push_back, Fifo, TimerClass};
use super::{
    Endpoint4, Endpoint6, NatDrop, Outcome, Proto, SessionId, Side, TcpFlags, Time, Tuple4, Tuple6,
    Verdict,
};
use crate::counters::Kind;

/// The largest session (and BIB) capacity of one shard.
pub const MAX_SESSIONS: u32 = MAX_INDEX;

/// The burst a worker receives and prefetches at once.
pub const BURST: usize = 32;

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

/// Counters other than drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardStats {
    pub sessions: u32,
    pub bibs: u32,
    /// `sessions` by protocol, indexed by [`Proto::index`].
    pub sessions_by_proto: [u32; Proto::COUNT],
    /// `bibs` by protocol, indexed by [`Proto::index`].
    pub bibs_by_proto: [u32; Proto::COUNT],
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

/// One number of [`ShardStats`], described once for whoever shows it
/// (`platctl show stats`, `/metrics`). Names start with `nat_`: the
/// workers' board counts some of the same events its own way
/// (`sessions_expired` there counts what the worker's expiry calls
/// returned).
#[derive(Debug, Clone, Copy)]
pub struct ShardStat {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub read: fn(&ShardStats) -> u64,
}

/// Every [`ShardStats`] number but the per-protocol arrays.
pub const SHARD_STATS: [ShardStat; 11] = [
    ShardStat {
        name: "nat_sessions",
        kind: Kind::Gauge,
        help: "NAT64 sessions in the worker's table.",
        read: |s| s.sessions as u64,
    },
    ShardStat {
        name: "nat_bib_entries",
        kind: Kind::Gauge,
        help: "BIB entries in the worker's table.",
        read: |s| s.bibs as u64,
    },
    ShardStat {
        name: "nat_subscribers",
        kind: Kind::Gauge,
        help: "Subscribers (IPv6 sources) the worker holds NAT state for.",
        read: |s| s.subscribers as u64,
    },
    ShardStat {
        name: "nat_held_syns",
        kind: Kind::Gauge,
        help: "Inbound IPv4 TCP SYNs held now, waiting for the IPv6 side to open the session (RFC 6146 3.5.2.2).",
        read: |s| s.held_syns as u64,
    },
    ShardStat {
        name: "nat_sessions_created",
        kind: Kind::Counter,
        help: "NAT64 sessions created.",
        read: |s| s.sessions_created,
    },
    ShardStat {
        name: "nat_sessions_expired",
        kind: Kind::Counter,
        help: "NAT64 sessions removed when their timer ran out.",
        read: |s| s.sessions_expired,
    },
    ShardStat {
        name: "nat_bib_entries_created",
        kind: Kind::Counter,
        help: "Dynamic BIB entries created.",
        read: |s| s.bibs_created,
    },
    ShardStat {
        name: "nat_held_syn_timeouts",
        kind: Kind::Counter,
        help: "Held IPv4 SYNs whose session never opened (RFC 6146 3.5.2.2).",
        read: |s| s.held_syn_timeouts,
    },
    ShardStat {
        name: "nat_hairpins",
        kind: Kind::Counter,
        help: "Packets between two subscribers turned around inside the translator (hairpinning).",
        read: |s| s.hairpins,
    },
    ShardStat {
        name: "nat_paired_fallbacks",
        kind: Kind::Counter,
        help: "Allocations that used another pool4 address because the subscriber's paired one was exhausted.",
        read: |s| s.paired_fallback,
    },
    ShardStat {
        name: "nat_events_lost",
        kind: Kind::Counter,
        help: "NAT state events (session and BIB records for logging and sync) lost because the event buffer was full.",
        read: |s| s.events_lost,
    },
];

impl ShardStats {
    pub(super) fn session_added(&mut self, proto: Proto) {
        self.sessions += 1;
        self.sessions_by_proto[proto.index()] += 1;
    }

    pub(super) fn session_removed(&mut self, proto: Proto) {
        self.sessions -= 1;
        self.sessions_by_proto[proto.index()] -= 1;
    }

    pub(super) fn bib_added(&mut self, proto: Proto) {
        self.bibs += 1;
        self.bibs_by_proto[proto.index()] += 1;
    }

    pub(super) fn bib_removed(&mut self, proto: Proto) {
        self.bibs -= 1;
        self.bibs_by_proto[proto.index()] -= 1;
    }
}

/// Everything one worker owns. See the module docs of [`crate::nat`].
#[derive(Debug)]
pub struct Shard {
    pub(super) cfg: NatConfig,
    /// The key of every table hash (see [`HashKey`]).
    pub(super) key: u64,
    /// The session slab; free slots are chained through `t_next`.
    pub(super) sessions: Vec<Session>,
    pub(super) free_session: u32,
    /// The BIB slab; free slots are chained through `head`.
    pub(super) bibs: Vec<Bib>,
    pub(super) free_bib: u32,
    /// Sessions by their IPv6-side key (proto, X', x, Z, z).
    pub(super) sess6: Tagged,
    /// Sessions by their IPv4-side key (proto, Z, z, T, t).
    pub(super) sess4: ByteTagged,
    /// BIB entries by (proto, X', x).
    pub(super) bib6: ByteTagged,
    /// BIB entries by (proto, T, t).
    pub(super) bib4: IndexTable,
    pub(super) subscribers: Subscribers,
    pub(super) timers: [Fifo; TimerClass::COUNT],
    pub(super) timeouts: [u32; TimerClass::COUNT],
    pub(super) pool: Pool4,
    pub(super) events: Vec<Record>,
    /// Per [`Alarm`] kind, the second of its last record plus one.
    pub(super) alarmed_at: [u32; Alarm::COUNT],
    pub(super) drops: [u64; NatDrop::COUNT],
    pub(super) stats: ShardStats,
    /// Timer class the next sweep starts at, so that a class with a
    /// backlog cannot starve the others.
    pub(super) sweep_from: usize,
}

impl Shard {
    /// A shard with every table allocated to its configured capacity.
    /// `key` keys every table hash: draw it at random (see [`HashKey`]).
    pub fn new(cfg: NatConfig, share: PortShare, key: HashKey) -> Result<Shard, ConfigError> {
        cfg.validate()?;
        let cap = cfg.limits.sessions;
        let bib_cap = cfg.bib_capacity();
        let mut sessions = vec![Session::EMPTY; cap as usize];
        for (i, session) in sessions.iter_mut().enumerate() {
            session.t_next = if i + 1 < cap as usize {
                i as u32 + 1
            } else {
                NIL
            };
        }
        let mut bibs = vec![Bib::EMPTY; bib_cap as usize];
        for (i, bib) in bibs.iter_mut().enumerate() {
            bib.head = if i + 1 < bib_cap as usize {
                i as u32 + 1
            } else {
                NIL
            };
        }
        let key = key.get();
        let timeouts = &cfg.timeouts;
        Ok(Shard {
            sessions,
            free_session: 0,
            bibs,
            free_bib: 0,
            sess6: Tagged::with_capacity(cap),
            sess4: ByteTagged::with_capacity(cap),
            bib6: ByteTagged::with_capacity(bib_cap),
            bib4: IndexTable::with_capacity(bib_cap),
            subscribers: Subscribers::new(
                cfg.subscriber_capacity(),
                cfg.limits.subscriber_prefix_len,
                key,
                cfg.port_block != 0,
            ),
            timers: [Fifo::EMPTY; TimerClass::COUNT],
            timeouts: TimerClass::ALL.map(|c| c.timeout(timeouts)),
            pool: Pool4::new(share, cfg.port_block),
            events: Vec::with_capacity(cfg.event_capacity as usize),
            alarmed_at: [0; Alarm::COUNT],
            drops: [0; NatDrop::COUNT],
            stats: ShardStats::default(),
            sweep_from: 0,
            key,
            cfg,
        })
    }

    pub fn config(&self) -> &NatConfig {
        &self.cfg
    }

    /// The key of this shard's table hashes.
    pub fn hash_key(&self) -> HashKey {
        HashKey::new(self.key)
    }

    /// Drops by reason, indexed by `NatDrop as usize`.
    pub fn drops(&self) -> &[u64; NatDrop::COUNT] {
        &self.drops
    }

    pub fn stats(&self) -> ShardStats {
        let mut s = self.stats;
        s.subscribers = self.subscribers.len;
        s
    }

    /// The table hash of an IPv6-side tuple (for prefetching).
    #[inline(always)]
    pub fn hash6(&self, t: &Tuple6) -> u32 {
        let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
        h_sess6(
            self.key,
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
            prefetch(&self.sessions[i as usize]);
            return Some(SessionId(i));
        }
        let src = t.src.octets();
        let hb = h_bib6(self.key, t.proto, &src, t.sport);
        self.bib6.prefetch(hb);
        let guess = self
            .subscribers
            .find(&src)
            .and_then(|sub| self.likely_port(sub, t.proto, t.sport, hb));
        if let Some((a, port)) = guess {
            let dport = if t.proto == Proto::Icmp { 0 } else { t.dport };
            self.prefetch_v4_side(t.proto, (u32::from(t.dst), dport), (a, port));
        }
        None
    }

    /// Prefetches the IPv4-side BIB and session buckets a new session
    /// from (`local`) to (`remote`) goes into; returns the BIB hash.
    #[inline(always)]
    pub(super) fn prefetch_v4_side(
        &self,
        proto: Proto,
        remote: (u32, u16),
        local: (u32, u16),
    ) -> u32 {
        let hb4 = h_bib4(self.key, proto, local.0, local.1);
        self.bib4.prefetch(hb4);
        self.sess4.prefetch(h_sess4(
            self.key, proto, remote.0, remote.1, local.0, local.1,
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
            if d.is_refused_mapping() {
                self.alarm_for(d, t.proto, &t.src.octets(), now.secs());
            }
        }
        r
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
            Some(SessionId(i))
                if self
                    .sessions
                    .get(i as usize)
                    .is_some_and(|session| is_key6(session, t)) =>
            {
                i
            }
            _ => self.find6(h, t)?,
        };
        if self.sessions[i as usize].flags & (F_HELD | F_HAIRPIN) != 0 {
            return None;
        }
        self.v6_hit_plain(i, flags, now.secs());
        let s = &self.sessions[i as usize];
        Some(Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4))
    }

    #[inline(always)]
    pub(super) fn v6_hit(
        &mut self,
        i: u32,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        if self.sessions[i as usize].flags & (F_HELD | F_HAIRPIN) != 0 {
            return self.v6_hit_slow(i, flags, now);
        }
        self.v6_hit_plain(i, flags, now.secs());
        let s = &self.sessions[i as usize];
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::ToV4 {
                src: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
                dst: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            },
            release_held: false,
        })
    }

    #[cold]
    pub(super) fn v6_hit_slow(
        &mut self,
        i: u32,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        let now_s = now.secs();
        let mut release_held = false;
        if self.sessions[i as usize].flags & F_HELD != 0 {
            // An IPv6 packet for a connection whose IPv4 SYN is held (ADF
            // with a BIB entry): a SYN completes it (simultaneous open).
            if flags.syn() && !flags.rst() {
                let sub = self
                    .subscribers
                    .admit_session(&self.sessions[i as usize].src6, &self.cfg.limits)?;
                self.subscribers.add_session(sub);
                self.sessions[i as usize].flags &= !F_HELD;
                self.stats.held_syns -= 1;
                release_held = true;
                self.tcp_step(i, Side::Inside, flags, now_s);
                self.emit_binding(|shard| Record::SessionCreate(shard.session_rec(i, now_s)));
            }
        } else {
            self.v6_hit_plain(i, flags, now_s);
        }
        let s = &self.sessions[i as usize];
        let src = Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4);
        let dst = Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port());
        let outcome = if s.flags & F_HAIRPIN != 0 {
            self.hairpin(s.proto(), src, dst, flags, now, s.prefix)?
        } else {
            Outcome::ToV4 { src, dst }
        };
        Ok(Verdict {
            session: SessionId(i),
            outcome,
            release_held,
        })
    }

    pub(super) fn v6_new(
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
        if self.free_session == NIL {
            return Err(NatDrop::TableFull);
        }
        let src = t.src.octets();
        let sub = self.subscribers.admit_session(&src, &self.cfg.limits)?;
        // RFC 6146 3.5.1.1: "If there is a BIB entry ... with (X',x) then
        // ... (T,t) ... is used" (endpoint-independent mapping); otherwise
        // a new BIB entry is created.
        let hb = h_bib6(self.key, proto, &src, t.sport);
        let bi = match self.find_bib6(hb, proto, &src, t.sport) {
            Some(bi) => bi,
            None => match self.bib_create(sub, hb, t, dport, now_s) {
                Ok(bi) => bi,
                Err(e) => {
                    self.subscribers.release_if_idle(sub);
                    return Err(e);
                }
            },
        };
        let (addr4, port4) = (self.bibs[bi as usize].addr4, self.bibs[bi as usize].port4);
        let dst = u32::from(t.dst);
        let h4 = h_sess4(self.key, proto, dst, dport, addr4, port4);
        let hairpin = if self.pool.contains(t.dst) {
            F_HAIRPIN
        } else {
            0
        };

        if proto == Proto::Tcp {
            let s = &self.sessions;
            if let Some(j) = self.sess4.find(h4, |j| {
                let held = &s[j as usize];
                held.dst4 == dst
                    && held.dport == dport
                    && held.addr4 == addr4
                    && held.port4 == port4
                    && held.proto == Proto::Tcp as u8
                    && held.flags & F_HELD != 0
            }) {
                // A held IPv4 SYN for the same connection, which had no BIB
                // entry when it arrived: simultaneous open completes.
                // RFC 6146 3.5.2.2 (V4 INIT): "If a V6 SYN packet is
                // received ... the state is moved to ESTABLISHED."
                if !self.sess6.insert(h, j) {
                    return Err(NatDrop::TableFull);
                }
                let session = &mut self.sessions[j as usize];
                session.src6 = src;
                session.sport = t.sport;
                session.bib = bi;
                session.flags = F_IN_V6 | hairpin;
                self.bib_link(bi, j);
                self.stats.held_syns -= 1;
                self.subscribers.add_session(sub);
                self.tcp_step(j, Side::Inside, flags, now_s);
                self.emit_binding(|shard| Record::SessionCreate(shard.session_rec(j, now_s)));
                return self.outcome_v6(j, proto, flags, now, true);
            }
        }

        let i = self.free_session;
        self.free_session = self.sessions[i as usize].t_next;
        self.sessions[i as usize] = Session {
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
            prefix: t.prefix,
        };
        if !self.sess6.insert(h, i) {
            return Err(self.abort_new(i, bi, sub, now_s));
        }
        if !self.sess4.insert(h4, i) {
            self.sess6.remove(h, i);
            return Err(self.abort_new(i, bi, sub, now_s));
        }
        self.bib_link(bi, i);
        // RFC 6146 3.5.2.2 (CLOSED, V6 SYN): "The lifetime of the entry is
        // set to TCP_TRANS"; UDP (3.5.1) and ICMP (3.5.3) start at their
        // default.
        push_back(
            &mut self.timers[class_of(proto) as usize],
            &mut self.sessions,
            i,
        );
        self.subscribers.add_session(sub);
        self.stats.session_added(proto);
        self.stats.sessions_created += 1;
        self.emit_binding(|shard| Record::SessionCreate(shard.session_rec(i, now_s)));
        self.outcome_v6(i, proto, flags, now, false)
    }

    pub(super) fn outcome_v6(
        &mut self,
        i: u32,
        proto: Proto,
        flags: TcpFlags,
        now: Time,
        release_held: bool,
    ) -> Result<Verdict, NatDrop> {
        let s = &self.sessions[i as usize];
        let src = Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4);
        let dst = Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port());
        let outcome = if s.flags & F_HAIRPIN != 0 {
            self.hairpin(proto, src, dst, flags, now, s.prefix)?
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
    pub(super) fn abort_new(&mut self, i: u32, bi: u32, sub: u32, now_s: u32) -> NatDrop {
        self.sessions[i as usize] = Session::EMPTY;
        self.sessions[i as usize].t_next = self.free_session;
        self.free_session = i;
        if self.bibs[bi as usize].head == NIL && !self.bibs[bi as usize].is_static {
            self.delete_bib(bi, now_s);
        }
        self.subscribers.release_if_idle(sub);
        NatDrop::TableFull
    }

    /// The table hash of an IPv4-side tuple (for prefetching).
    #[inline(always)]
    pub fn hash4(&self, t: &Tuple4) -> u32 {
        let sport = if t.proto == Proto::Icmp { 0 } else { t.sport };
        h_sess4(
            self.key,
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
        prefetch(&self.sessions[i as usize]);
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

    #[inline]
    pub(super) fn v4_inner(
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

    /// The index of the RFC 6052 prefix session `id` was made under.
    #[inline]
    pub fn session_prefix(&self, id: SessionId) -> u8 {
        self.sessions.get(id.0 as usize).map_or(0, |s| s.prefix)
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
    ) -> Option<(Endpoint4, Endpoint6, u8)> {
        let i = match likely {
            Some(SessionId(i))
                if self
                    .sessions
                    .get(i as usize)
                    .is_some_and(|session| is_key4(session, t)) =>
            {
                i
            }
            _ => self.find4(h, t)?,
        };
        if self.sessions[i as usize].flags & F_HELD != 0 {
            return None;
        }
        self.v4_hit_plain(i, flags, now.secs());
        let (from, to) = self.v4_ends(i);
        Some((from, to, self.sessions[i as usize].prefix))
    }

    #[inline(always)]
    pub(super) fn v4_hit(
        &mut self,
        i: u32,
        flags: TcpFlags,
        now: Time,
    ) -> Result<Verdict, NatDrop> {
        if self.sessions[i as usize].flags & F_HELD != 0 {
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

    pub(super) fn v4_new(
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
        let hb = h_bib4(self.key, proto, local, t.dport);
        let bib = self.find_bib4(hb, proto, Endpoint4::new(t.dst, t.dport));
        let remote = u32::from(t.src);
        let bi = match self.filter_v4(proto, bib, remote, flags)? {
            Admit::Pass(bi) => bi,
            Admit::Hold => return self.hold(h, t, rport, bib, now_s),
        };
        if self.free_session == NIL {
            return Err(NatDrop::TableFull);
        }
        let src6 = self.bibs[bi as usize].src6;
        let sub = self.subscribers.admit_session(&src6, &self.cfg.limits)?;
        let b = self.bibs[bi as usize];
        let hairpin = if self.pool.contains(t.src) {
            F_HAIRPIN
        } else {
            0
        };
        let i = self.free_session;
        self.free_session = self.sessions[i as usize].t_next;
        let (state, class) = if proto == Proto::Tcp {
            // RFC 6146 3.5.2.2 (CLOSED, V4 SYN allowed): the state moves to
            // V4 INIT with the transitory lifetime.
            (TcpState::V4Init, TimerClass::TcpTrans)
        } else {
            (TcpState::Closed, class_of(proto))
        };
        self.sessions[i as usize] = Session {
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
            // IPv4-initiated: the first prefix, until a hairpin names one.
            prefix: 0,
        };
        let h6 = self.sessions[i as usize].h6(self.key);
        if !self.sess6.insert(h6, i) {
            return Err(self.abort_new(i, bi, sub, now_s));
        }
        if !self.sess4.insert(h, i) {
            self.sess6.remove(h6, i);
            return Err(self.abort_new(i, bi, sub, now_s));
        }
        self.bib_link(bi, i);
        push_back(&mut self.timers[class as usize], &mut self.sessions, i);
        self.subscribers.add_session(sub);
        self.stats.session_added(proto);
        self.stats.sessions_created += 1;
        self.emit_binding(|shard| Record::SessionCreate(shard.session_rec(i, now_s)));
        Ok(Verdict {
            session: SessionId(i),
            outcome: Outcome::ToV6 {
                src: Endpoint4::new(t.src, if proto == Proto::Icmp { b.sport } else { rport }),
                dst: Endpoint6::new(Ipv6Addr::from(src6), b.sport),
            },
            release_held: false,
        })
    }
}
