//! RFC 6146 state: pool4, BIB, sessions, the TCP state machine, timers,
//! EIF/ADF filtering, hairpinning and the carrier limits of RFC 6888.
//!
//! A [`Shard`] is everything one worker owns. It works on flow tuples, not
//! packets: the caller parses the tuple, asks the shard for a [`Verdict`]
//! and then translates the packet with the endpoints the verdict names.
//! Time is whatever the caller passes as `now`; timers expire only when the
//! caller runs [`Shard::expire`], a bounded slice at a time.
//!
//! The packet layer on top (`from_v6` / `from_v4`, once the translator is
//! in) is thin: parse the flow tuple (for IPv6, extract Z from the
//! destination with the RFC 6052 prefix; hairpinning falls out of Z being a
//! pool4 address), call [`Shard::v6_session`] or [`Shard::v4_session`] (or,
//! in a worker's burst, [`Shard::hash6`], [`Shard::prefetch6`],
//! [`Shard::prefetch6_new`] for every packet, then
//! [`Shard::v6_established`] / [`Shard::v6_session_hashed`]), then
//! translate with the endpoints of the
//! [`Outcome`]: `ToV4` rewrites to (T,t) -> (Z,z), `ToV6` to
//! prefix(Z):z -> (X',x). On a [`NatDrop`], send what [`NatDrop::icmp`]
//! names. ICMP errors are looked up by their inner packet with
//! [`Shard::peek_v6`] / [`Shard::peek_v4`], which change no state.
//!
//! Memory: a session is one 64-byte line, a BIB entry 32 bytes, the
//! IPv6-side session index one hash-tagged `u64` slot per 3/4 entry and
//! the other three indexes (IPv4-side sessions, BIB by each side) one `u32`
//! slot per 3/4 entry: about 125 bytes per session when each has its own
//! BIB entry.
//!
//! `Shard` is one struct whose `impl` is spread over one file per concept
//! (RFC 6146 names): `shard` (the struct and the per-packet entry points),
//! `session`, `bib`, `ports`, `pool4`, `share` (a worker's port space),
//! `limits` (RFC 6888 caps: `Subscribers::admit_*`), `filter` (EIF/ADF,
//! held IPv4 SYNs), `hairpin`, `tcp_state`, `timers`, `event` (what
//! changed), `admin` (pool4 changes, reconfigure, listings) and `ha`
//! (dump and apply). `table` holds the indexes and their [`HashKey`].

mod admin;
mod bib;
pub mod config;
mod event;
mod filter;
mod ha;
mod hairpin;
mod limits;
pub mod pool4;
mod ports;
mod prefetch;
mod session;
mod shard;
mod share;
mod table;
pub mod tcp_state;
mod timers;

#[cfg(test)]
pub(crate) mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use crate::types::{Endpoint4, Endpoint6, Proto, SessionId, Side, TcpFlags, Time};

pub use admin::{
    BibInfo, BlockInfo, Holder, Page, Pool4Use, SessionFilter, SessionInfo, SubscriberInfo,
};
pub use config::{ConfigError, Filtering, Limits, NatConfig, Timeouts};
pub use event::{BibRec, BlockRec, Key4, Quota, Record, SessionRec};
pub use filter::HeldTimeout;
pub use pool4::{Pool4Entry, Pool4Error, PortRange};
pub use shard::{Shard, ShardError, ShardStat, ShardStats, BURST, MAX_SESSIONS, SHARD_STATS};
pub use share::{PortOwner, PortShare};
pub use table::HashKey;
pub use tcp_state::TcpState;
pub use timers::TimerClass;

/// The flow tuple of a packet received on the IPv6 side.
///
/// `dst` is the IPv4 address the caller extracted from the destination
/// IPv6 address with the RFC 6052 prefix. For ICMP query messages both
/// `sport` and `dport` are the identifier (`dport` is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple6 {
    pub proto: Proto,
    pub src: Ipv6Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
    /// Which RFC 6052 prefix the destination was embedded in (RFC 8683
    /// 4.5; 0 with one prefix). Not part of the session's key: a new
    /// session remembers it, and replies come back under it.
    pub prefix: u8,
}

/// The flow tuple of a packet received on the IPv4 side: `src` is the
/// remote host (Z,z), `dst` the pool4 transport address (T,t). For ICMP
/// query messages both ports are the identifier (`sport` is ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple4 {
    pub proto: Proto,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

/// What to do with the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Translate to IPv4 with source `src` (T,t) and destination `dst` (Z,z).
    /// ICMP query: both ports are the identifier to write.
    ToV4 { src: Endpoint4, dst: Endpoint4 },
    /// Translate to IPv6: the source is `src` (Z,z) with `src.addr` embedded
    /// in the RFC 6052 prefix, the destination is `dst` (X',x). ICMP query:
    /// both ports are the identifier to write.
    ToV6 { src: Endpoint4, dst: Endpoint6 },
    /// RFC 6146 3.8 hairpin whose destination (T2,t2) belongs to another
    /// worker: translate to IPv4 (`src` = T1:t1, `dst` = T2:t2) and hand the
    /// packet to that worker as if it had arrived on the IPv4 side.
    HairpinHandoff { src: Endpoint4, dst: Endpoint4 },
    /// An IPv4 SYN the NAT64 holds (RFC 6146 3.5.2.2): the caller keeps the
    /// packet; [`Shard::expire`] reports it with the ICMP error to send if
    /// no IPv6 SYN completes the connection in time.
    Hold,
}

/// The shard's answer for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub session: SessionId,
    pub outcome: Outcome,
    /// The packet completed a connection whose IPv4 SYN the caller held
    /// under `session`: RFC 6146 3.5.2.2 says to drop the stored packet.
    pub release_held: bool,
}

/// The ICMP error RFC 6146 (or RFC 6888) names for a drop, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// Drop silently.
    None,
    /// ICMPv6 Destination Unreachable, code 3 (Address Unreachable).
    V6AddressUnreachable,
    /// ICMPv4 Destination Unreachable, code 3 (Port Unreachable).
    V4PortUnreachable,
    /// ICMPv4 Destination Unreachable, code 13 (Communication
    /// Administratively Prohibited).
    V4AdminProhibited,
}

impl IcmpError {
    /// (type, code) on the wire, or `None` for a silent drop.
    pub const fn type_code(self) -> Option<(u8, u8)> {
        match self {
            IcmpError::None => None,
            IcmpError::V6AddressUnreachable => Some((1, 3)),
            IcmpError::V4PortUnreachable => Some((3, 3)),
            IcmpError::V4AdminProhibited => Some((3, 13)),
        }
    }
}

crate::counters! {
    /// Why the shard dropped a packet. Each reason is a counter.
    pub enum NatDrop {
        // RFC 6146 3.5.1.1: "If it is not possible to allocate an appropriate
        // IPv4 transport address or create a BIB entry, then the packet is
        // discarded. The NAT64 SHOULD send an ICMPv6 Destination Unreachable
        // error message with Code 3 (Address Unreachable)."
        PoolExhausted = "drop_pool4_exhausted", Counter,
            "No free port (or identifier) in this shard's share of pool4.";
        TableFull = "drop_table_full", Counter,
            "The session or BIB table of this shard is full.";
        SubscriberTableFull = "drop_subscriber_table_full", Counter,
            "The subscriber table of this shard is full.";
        // RFC 6888 REQ-11: "When a CGN is unable to create a dynamic mapping due
        // to resource constraints or administrative restrictions (i.e., quotas):
        // a. it MUST drop the original packet; b. it SHOULD send an ICMP
        // Destination Unreachable message ..."; on the IPv6 side that is the
        // RFC 6146 3.5.1.1 error.
        SubscriberSessionLimit = "drop_subscriber_session_limit", Counter,
            "The subscriber reached its session cap.";
        SubscriberPortLimit = "drop_subscriber_port_limit", Counter,
            "The subscriber reached its port (or port block) cap.";
        NoBib = "drop_no_bib", Counter,
            "An IPv4 packet for a pool4 transport address with no BIB entry.";
        Filtered = "drop_adf_filtered", Counter,
            "Address-dependent filtering rejected an IPv4-initiated flow.";
        // RFC 6146 3.5.2.2 (CLOSED state): packets other than a SYN create no
        // state and are silently discarded.
        TcpNotSyn = "drop_tcp_not_syn", Counter,
            "TCP without a session that is not a SYN.";
        V4TcpPolicy = "drop_v4_tcp_policy", Counter,
            "Policy: IPv4-initiated TCP is disabled.";
        HeldSynLimit = "drop_held_syn_limit", Counter,
            "Too many IPv4 SYNs are already held.";
        HeldSyn = "drop_held_syn", Counter,
            "A further IPv4 packet for a connection whose SYN is held.";
        NotOwned = "drop_not_owned", Counter,
            "The IPv4 destination is not a (pool4 address, port) this shard owns.";
    }
}

impl NatDrop {
    /// Whether this drop refused a new mapping for lack of resources or
    /// by a quota (RFC 6888 REQ-11): the drops that raise an alarm event.
    pub fn is_refused_mapping(self) -> bool {
        matches!(
            self,
            NatDrop::PoolExhausted
                | NatDrop::TableFull
                | NatDrop::SubscriberTableFull
                | NatDrop::SubscriberSessionLimit
                | NatDrop::SubscriberPortLimit
        )
    }

    /// The ICMP error to send back to the packet's source (the RFC
    /// sentences are at each reason above).
    pub const fn icmp(self) -> IcmpError {
        match self {
            NatDrop::PoolExhausted => IcmpError::V6AddressUnreachable,
            NatDrop::TableFull => IcmpError::V6AddressUnreachable,
            NatDrop::SubscriberTableFull => IcmpError::V6AddressUnreachable,
            NatDrop::SubscriberSessionLimit => IcmpError::V6AddressUnreachable,
            NatDrop::SubscriberPortLimit => IcmpError::V6AddressUnreachable,
            NatDrop::NoBib => IcmpError::None,
            NatDrop::Filtered => IcmpError::V4AdminProhibited,
            NatDrop::TcpNotSyn => IcmpError::None,
            NatDrop::V4TcpPolicy => IcmpError::V4AdminProhibited,
            NatDrop::HeldSynLimit => IcmpError::None,
            NatDrop::HeldSyn => IcmpError::None,
            NatDrop::NotOwned => IcmpError::None,
        }
    }
}
