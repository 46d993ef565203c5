//! NAT event logging: the records a carrier keeps to answer "which
//! subscriber used IPv4 address A, port P at time T" (RFC 6888 REQ-12 to
//! REQ-14), as IPFIX messages (RFC 7011, with the information elements
//! and natEvent values of RFC 8158) and as JSON lines, plus the search
//! over those lines.
//!
//! Sans-IO like the rest of the crate: the dataplane stamps each shard
//! [`Record`] with the wall-clock time and hands [`LogEvent`]s in; what
//! comes out is bytes to send or write.

pub mod search;
#[cfg(test)]
mod tests;

pub use ipfix::{IpfixExporter, IpfixOptions};
pub use line::{format_time, parse_line, parse_time, write_line, LineError, LogLine};
pub use search::{Holding, HoldingKind, Search, SearchQuery, SearchResult};

use crate::nat::{Proto, Record};

/// What a logged record reports, with its natEvent value: the IANA
/// "natEvent" registry that RFC 8158 4.1.1 set up (VPP's exporter uses the
/// same numbers; some vendors still send an older draft's numbering, which
/// this does not follow). One table for IPFIX and the JSON lines.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NatEvent {
    /// "NAT Addresses exhausted" (3).
    AddressesExhausted,
    /// "NAT64 session create" (6).
    SessionCreate,
    /// "NAT64 session delete" (7).
    SessionDelete,
    /// "NAT64 BIB create" (10).
    BibCreate,
    /// "NAT64 BIB delete" (11).
    BibDelete,
    /// "NAT ports exhausted" (12).
    PortsExhausted,
    /// "Quota Exceeded" (13).
    QuotaExceeded,
    /// "Port block allocation" (16).
    BlockAlloc,
    /// "Port block de-allocation" (17).
    BlockFree,
}

impl NatEvent {
    pub const ALL: [NatEvent; 9] = [
        NatEvent::AddressesExhausted,
        NatEvent::SessionCreate,
        NatEvent::SessionDelete,
        NatEvent::BibCreate,
        NatEvent::BibDelete,
        NatEvent::PortsExhausted,
        NatEvent::QuotaExceeded,
        NatEvent::BlockAlloc,
        NatEvent::BlockFree,
    ];

    /// The natEvent value (IPFIX information element 230).
    pub const fn code(self) -> u8 {
        match self {
            NatEvent::AddressesExhausted => 3,
            NatEvent::SessionCreate => 6,
            NatEvent::SessionDelete => 7,
            NatEvent::BibCreate => 10,
            NatEvent::BibDelete => 11,
            NatEvent::PortsExhausted => 12,
            NatEvent::QuotaExceeded => 13,
            NatEvent::BlockAlloc => 16,
            NatEvent::BlockFree => 17,
        }
    }

    /// The event a record reports; `None` for timer refreshes and TCP
    /// state steps, which no log carries.
    pub const fn of(record: &Record) -> Option<NatEvent> {
        Some(match record {
            Record::SessionCreate(_) => NatEvent::SessionCreate,
            Record::SessionDelete(_) => NatEvent::SessionDelete,
            Record::BibCreate(_) => NatEvent::BibCreate,
            Record::BibDelete(_) => NatEvent::BibDelete,
            Record::BlockAlloc(_) => NatEvent::BlockAlloc,
            Record::BlockFree(_) => NatEvent::BlockFree,
            Record::AddressesExhausted { .. } => NatEvent::AddressesExhausted,
            Record::PortsExhausted { .. } => NatEvent::PortsExhausted,
            Record::QuotaExceeded { .. } => NatEvent::QuotaExceeded,
            Record::StateChange { .. } | Record::Refresh { .. } => return None,
        })
    }

    /// Whether this starts a holding (the other half ends one).
    pub const fn is_create(self) -> bool {
        matches!(
            self,
            NatEvent::SessionCreate | NatEvent::BibCreate | NatEvent::BlockAlloc
        )
    }
}

/// The IP protocol number a log writes for `proto` (IPFIX
/// protocolIdentifier). ICMP is written as ICMP (1), not ICMPv6 (58): the
/// logs answer questions about the IPv4 side, where the identifier that
/// plays the port is an ICMP one.
pub const fn protocol_number(proto: Proto) -> u8 {
    match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
    }
}

/// One NAT event on its way to the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// When it happened: milliseconds since the Unix epoch, UTC.
    pub unix_ms: u64,
    /// The worker whose shard emitted it.
    pub worker: u16,
    /// What happened.
    pub record: Record,
}

/// Whether `record` belongs in the binding log. Timer refreshes and TCP
/// state steps are state for a standby, not bindings. In port-block mode
/// one record per block allocation and release replaces the per-session
/// and per-BIB records: the block names every port the subscriber could
/// use, which is what port-range allocation is for (RFC 6888 REQ-14, the
/// reduction of log volume).
pub fn is_logged(record: &Record, port_blocks: bool) -> bool {
    match record {
        Record::BibCreate(_)
        | Record::BibDelete(_)
        | Record::SessionCreate(_)
        | Record::SessionDelete(_) => !port_blocks,
        Record::BlockAlloc(_) | Record::BlockFree(_) => true,
        Record::AddressesExhausted { .. }
        | Record::PortsExhausted { .. }
        | Record::QuotaExceeded { .. } => true,
        Record::StateChange { .. } | Record::Refresh { .. } => false,
    }
}
pub mod ipfix;
pub mod line;
