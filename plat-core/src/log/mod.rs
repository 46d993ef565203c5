//! NAT event logging: the records a carrier keeps to answer "which
//! subscriber used IPv4 address A, port P at time T" (RFC 6888 REQ-12 to
//! REQ-14), as IPFIX messages (RFC 7011, with the information elements
//! and natEvent values of RFC 8158) and as JSON lines, plus the search
//! over those lines.
//!
//! Sans-IO like the rest of the crate: the dataplane stamps each shard
//! [`Record`] with the wall-clock time and hands [`LogEvent`]s in; what
//! comes out is bytes to send or write.

use crate::nat::Record;

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
