//! What changed: the records a shard emits for HA sync and binding logs,
//! and the bounded buffer they wait in until the dataplane drains it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::shard::Shard;
use super::tcp_state::TcpState;
use super::{Endpoint4, Endpoint6, Proto};

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
