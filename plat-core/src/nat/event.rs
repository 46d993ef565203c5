//! What changed: the records a shard emits for HA sync and binding logs,
//! and the bounded buffer they wait in until the dataplane drains it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::shard::Shard;
use super::tcp_state::TcpState;
use super::{Endpoint4, Endpoint6, NatDrop, Proto};

/// A BIB entry was created or deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BibRec {
    pub time: u32,
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub is_static: bool,
}

/// A session was created or deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRec {
    pub time: u32,
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub remote: Endpoint4,
    /// TCP state (CLOSED for UDP and ICMP).
    pub state: TcpState,
}

/// A session's IPv4-side key, unique in the whole NAT64: (T,t) is owned
/// by one BIB entry of one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key4 {
    pub proto: Proto,
    pub v4: Endpoint4,
    pub remote: Endpoint4,
}

/// A port block given to (or taken back from) a subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRec {
    pub time: u32,
    pub proto: Proto,
    pub subscriber: Ipv6Addr,
    pub prefix_len: u8,
    pub v4: Ipv4Addr,
    /// Block number within the worker's share of `v4`.
    pub block: u32,
    pub first: u16,
    pub last: u16,
    pub size: u16,
}

/// Which limit a [`Record::QuotaExceeded`] reports; the names follow
/// RFC 8158 4.1.2 (natQuotaExceededEvent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    /// The shard's session (or BIB) table is full: "Maximum session
    /// entries" (1).
    SessionEntries,
    /// A subscriber reached its session or port cap: "Maximum entries per
    /// user" (3).
    EntriesPerUser,
    /// The shard's subscriber table is full: "Maximum active hosts or
    /// subscribers" (4).
    Subscribers,
}

impl Quota {
    /// The natQuotaExceededEvent value (RFC 8158 4.1.2).
    pub const fn code(self) -> u32 {
        match self {
            Quota::SessionEntries => 1,
            Quota::EntriesPerUser => 3,
            Quota::Subscribers => 4,
        }
    }
}

/// One event. `time` is the shard clock in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    BibCreate(BibRec),
    BibDelete(BibRec),
    SessionCreate(SessionRec),
    SessionDelete(SessionRec),
    StateChange {
        time: u32,
        key: Key4,
        state: TcpState,
    },
    Refresh {
        time: u32,
        key: Key4,
    },
    BlockAlloc(BlockRec),
    BlockFree(BlockRec),
    /// No address of pool4 has a free port (or block) for `proto`.
    AddressesExhausted {
        time: u32,
        proto: Proto,
    },
    /// `v4`, a subscriber's paired address, has no free `proto` port (or
    /// block); the allocation fell back to another address or failed.
    PortsExhausted {
        time: u32,
        proto: Proto,
        v4: Ipv4Addr,
    },
    /// A limit refused a new mapping. `subscriber` (the masked IPv6
    /// source) is set for per-subscriber limits.
    QuotaExceeded {
        time: u32,
        quota: Quota,
        limit: u32,
        subscriber: Option<Ipv6Addr>,
    },
}

/// The alarm kinds, each emitted at most once a second per shard: a pool
/// that is exhausted refuses every new flow, and one record a second says
/// so without crowding the binding records out of the event buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Alarm {
    AddressesExhausted,
    PortsExhausted,
    SessionEntries,
    EntriesPerUser,
    Subscribers,
}

impl Alarm {
    pub(super) const COUNT: usize = 5;
}

impl Shard {
    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Record> {
        self.events.drain(..)
    }

    #[inline(always)]
    fn events_on(&self) -> bool {
        self.cfg.event_capacity != 0
    }

    /// Records the event `record` builds, if events are on: with
    /// `event_capacity` 0 (the default) the record is not even built, so
    /// nothing pays for events until something drains them.
    #[inline(always)]
    pub(super) fn emit(&mut self, record: impl FnOnce(&Shard) -> Record) {
        if self.events_on() {
            let record = record(self);
            self.push_event(record);
        }
    }

    /// Emits the alarm `record` builds unless one of its kind went out
    /// in this second.
    #[cold]
    pub(super) fn alarm(&mut self, kind: Alarm, now_s: u32, record: impl FnOnce(&Shard) -> Record) {
        let last = &mut self.alarmed_at[kind as usize];
        if self.cfg.event_capacity == 0 || *last == now_s.wrapping_add(1) {
            return;
        }
        *last = now_s.wrapping_add(1);
        self.emit(record);
    }

    /// The alarm a refused new IPv6 flow raises, if any.
    #[cold]
    pub(super) fn alarm_for(&mut self, drop: NatDrop, proto: Proto, src6: &[u8; 16], now_s: u32) {
        let limits = self.cfg.limits;
        let (kind, quota, limit, subscriber) = match drop {
            NatDrop::PoolExhausted => {
                return self.alarm(Alarm::AddressesExhausted, now_s, |_| {
                    Record::AddressesExhausted { time: now_s, proto }
                })
            }
            NatDrop::TableFull => (
                Alarm::SessionEntries,
                Quota::SessionEntries,
                limits.sessions,
                None,
            ),
            NatDrop::SubscriberTableFull => (
                Alarm::Subscribers,
                Quota::Subscribers,
                self.cfg.subscriber_capacity(),
                None,
            ),
            NatDrop::SubscriberSessionLimit => (
                Alarm::EntriesPerUser,
                Quota::EntriesPerUser,
                limits.sessions_per_subscriber,
                Some(self.subscribers.key(src6)),
            ),
            NatDrop::SubscriberPortLimit => (
                Alarm::EntriesPerUser,
                Quota::EntriesPerUser,
                limits.ports_per_subscriber,
                Some(self.subscribers.key(src6)),
            ),
            _ => return,
        };
        self.alarm(kind, now_s, |_| Record::QuotaExceeded {
            time: now_s,
            quota,
            limit,
            subscriber: subscriber.map(Ipv6Addr::from),
        });
    }

    /// [`Shard::emit`] for the per-flow records (BIB entries, sessions,
    /// their state and refreshes), which only a reader that wants them
    /// pays for: a port-block log without a standby does not
    /// ([`NatConfig::binding_events`](super::config::NatConfig)).
    #[inline(always)]
    pub(super) fn emit_binding(&mut self, record: impl FnOnce(&Shard) -> Record) {
        if self.cfg.binding_events {
            self.emit(record);
        }
    }

    fn push_event(&mut self, record: Record) {
        if self.events.len() < self.cfg.event_capacity as usize {
            self.events.push(record);
        } else {
            self.stats.events_lost += 1;
        }
    }

    pub(super) fn session_rec(&self, i: u32, time: u32) -> SessionRec {
        let s = &self.sessions[i as usize];
        SessionRec {
            time,
            proto: s.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(s.src6), s.sport),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
            state: TcpState::from_u8(s.state).unwrap_or(TcpState::Closed),
        }
    }

    pub(super) fn key4(&self, i: u32) -> Key4 {
        let s = &self.sessions[i as usize];
        Key4 {
            proto: s.proto(),
            v4: Endpoint4::new(Ipv4Addr::from(s.addr4), s.port4),
            remote: Endpoint4::new(Ipv4Addr::from(s.dst4), s.remote_port()),
        }
    }

    pub(super) fn bib_rec(&self, bi: u32, time: u32) -> BibRec {
        let b = &self.bibs[bi as usize];
        BibRec {
            time,
            proto: b.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(b.src6), b.sport),
            v4: Endpoint4::new(Ipv4Addr::from(b.addr4), b.port4),
            is_static: b.is_static,
        }
    }

    pub(super) fn block_rec(&self, sub: u32, proto: Proto, a: u16, k: u32, time: u32) -> BlockRec {
        let (first, last) = self.pool.block_span(a, proto, k);
        BlockRec {
            time,
            proto,
            subscriber: Ipv6Addr::from(self.subscribers.slab[sub as usize].prefix),
            prefix_len: self.subscribers.prefix_len(),
            v4: self.pool.addr(a),
            block: k,
            first,
            last,
            size: self.pool.block_size(),
        }
    }
}
