//! The management protocol, in two layers.
//!
//! - Between `platctl` and platd: one JSON [`Request`] per line on the
//!   management socket, one JSON [`Response`] per line back. Every type
//!   here is versioned by [`VERSION`]; a request of another version is
//!   refused with [`ErrorKind::UnsupportedVersion`].
//! - Between platd's servers and a worker: a [`WorkerQuery`] posted to the
//!   worker's mailbox and its [`WorkerAnswer`]. A worker answers between
//!   bursts, so every query is bounded: a listing examines at most
//!   [`PageQuery::scan`] slots of the session or BIB slab per answer and
//!   says where to go on ([`Page::next`]); the caller pages.
//!
//! `api` reads `nat`, never the reverse.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::nat::{
    BibInfo, Holder, Pool4Entry, Pool4Use, Proto, SessionFilter, SessionInfo, ShardStats,
    SubscriberInfo,
};
use crate::types::Endpoint4;
use crate::types::{Ipv4Cidr, Side};

pub use crate::nat::Page;

/// The version of these types; a management client and server agree on it.
pub const VERSION: u32 = 1;

/// Longest request line the server reads; a longer one is refused with
/// [`ErrorKind::TooLarge`] (a config check carries a whole file).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Slab slots a worker examines for one listing answer by default: about
/// 40 µs of a worker's time on a table of a million (measured with
/// `deploy/bench/mgmt.sh`), well inside what its receive ring holds at
/// line rate, so a listing never makes a NIC drop.
pub const DEFAULT_SCAN: u32 = 4_096;

/// Entries one listing answer carries at most (`--limit` above this is
/// paged by the client).
pub const MAX_LIMIT: u32 = 10_000;

// ---------------------------------------------------------------------
// platctl <-> platd
// ---------------------------------------------------------------------

/// One request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Must be [`VERSION`].
    pub version: u32,
    /// Echoed in the response, so a client can match them.
    #[serde(default)]
    pub id: u64,
    /// What to do.
    pub command: Command,
}

impl Request {
    /// A request of this version.
    pub fn new(id: u64, command: Command) -> Request {
        Request {
            version: VERSION,
            id,
            command,
        }
    }
}

/// Everything `platctl` can ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Version, uptime, ports, state counts, pool4 use, recent drops.
    ShowSummary,
    /// Every counter, per worker and in total.
    ShowStats {
        /// One worker's counters only.
        #[serde(default)]
        worker: Option<u32>,
        /// Per-second rates over the last second instead of totals.
        #[serde(default)]
        rates: bool,
    },
    /// Sessions matching a filter, a page at a time.
    ShowSessions(ListQuery),
    /// BIB entries matching a filter, a page at a time.
    ShowBib(ListQuery),
    /// One subscriber's state and caps.
    ShowSubscriber {
        /// Any address of the subscriber.
        addr: Ipv6Addr,
    },
    /// pool4 entries and their use per address and protocol.
    ShowPool4,
    /// Adds a pool4 entry to the running configuration.
    Pool4Add(Pool4Entry),
    /// Removes a pool4 entry (and the state on its addresses).
    Pool4Remove {
        /// The entry's prefix, as configured.
        prefix: Ipv4Cidr,
    },
    /// The running configuration.
    ShowConfig,
    /// Validates a configuration and says what reloading it would change.
    ConfigCheck {
        /// The file's text.
        toml: String,
    },
    /// Re-reads the configuration file and applies what changed.
    ConfigReload,
    /// Deletes the sessions matching a filter.
    SessionClear {
        /// Which ones (an empty filter clears every session).
        #[serde(default)]
        filter: SessionFilter,
    },
    /// The neighbor (ARP/NDP) cache.
    ShowNeighbors,
    /// Each worker's lcore, load and state counts.
    ShowWorkers,
    /// Who holds a pool4 transport address now: the subscriber, the BIB
    /// entry on it and, in port-block mode, the block.
    Who {
        /// The pool4 address and port (an ICMP identifier for ICMP).
        v4: Endpoint4,
        /// One protocol; `None` asks for all three.
        #[serde(default)]
        proto: Option<Proto>,
    },
    /// The HA pair: roles, the peer, each worker's stream and what was lost.
    HaShow,
    /// Makes this node active now (a planned switchover).
    HaTakeover,
    /// Hands the active role to the peer and stays standby.
    HaRelease,
}

/// A listing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    /// What to list.
    pub filter: SessionFilter,
    /// Entries to return at most (capped at [`MAX_LIMIT`]).
    pub limit: u32,
    /// Where to go on (the last answer's [`Listing::next`]); `None`
    /// starts at the beginning.
    pub cursor: Option<Cursor>,
    /// Count every match instead of listing them.
    pub count: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: SessionFilter::default(),
            limit: 100,
            cursor: None,
            count: false,
        }
    }
}

/// A place in a listing over every worker's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The worker whose table is being read.
    pub worker: u32,
    /// The slab slot to start at.
    pub slot: u32,
}

/// One response line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// [`VERSION`].
    pub version: u32,
    /// The request's id (0 when the request could not be read).
    pub id: u64,
    /// The answer or the error.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A request's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It worked.
    Ok(Answer),
    /// It did not, and why.
    Error(ApiError),
}

/// A refused or failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The kind, for scripts.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
    /// The request or config field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            field: None,
        }
    }

    /// An error about `field`.
    pub fn field(kind: ErrorKind, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// What kind of error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line is not a request (bad JSON, unknown command or field).
    Malformed,
    /// The line is longer than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// The request did not arrive whole within the read timeout.
    Timeout,
    /// The request's version is not [`VERSION`].
    UnsupportedVersion,
    /// An argument or a configuration value is wrong (see `field`).
    Invalid,
    /// Valid, but it cannot be done now (a change platd cannot apply
    /// without a restart, an entry that does not exist).
    Refused,
    /// A worker did not answer in time.
    Unavailable,
    /// The server is at its client limit.
    Busy,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Malformed => "malformed request",
            ErrorKind::TooLarge => "request too large",
            ErrorKind::Timeout => "request timed out",
            ErrorKind::UnsupportedVersion => "unsupported version",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Refused => "refused",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Busy => "busy",
        })
    }
}

/// A successful answer, one kind per command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// For [`Command::ShowSummary`].
    Summary(Summary),
    /// For [`Command::ShowStats`].
    Stats(Stats),
    /// For [`Command::ShowSessions`].
    Sessions(Listing<SessionInfo>),
    /// For [`Command::ShowBib`].
    Bib(Listing<BibInfo>),
    /// For [`Command::ShowSubscriber`]: the shards that hold state of it
    /// (one, unless the subscriber's prefix is shorter than the steering's).
    Subscriber(Vec<OnWorker<SubscriberInfo>>),
    /// For [`Command::ShowPool4`].
    Pool4(Pool4Status),
    /// For [`Command::ShowConfig`].
    Config(ConfigText),
    /// For [`Command::ConfigCheck`], [`Command::ConfigReload`] and the
    /// pool4 changes: what changed (or would change).
    Applied(Applied),
    /// For [`Command::SessionClear`]: sessions deleted.
    Cleared {
        /// How many.
        sessions: u64,
    },
    /// For [`Command::ShowNeighbors`].
    Neighbors(Vec<Neighbor>),
    /// For [`Command::ShowWorkers`].
    Workers(Vec<WorkerStatus>),
    /// For [`Command::Who`]: one entry per protocol in use on that port
    /// (empty when no one holds it).
    Who(Vec<OnWorker<Holder>>),
    /// For [`Command::HaShow`], and [`Command::HaTakeover`] and
    /// [`Command::HaRelease`] once done.
    Ha(HaStatus),
}

/// The HA pair as this node sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatus {
    /// `active` or `standby`.
    pub role: String,
    pub node_id: u32,
    pub priority: u8,
    /// The peer, once a heartbeat came.
    pub peer: Option<HaPeer>,
    /// Per worker: the last sequence sent (active) or applied (standby),
    /// and what the peer acknowledged (active).
    pub streams: Vec<HaStream>,
    /// Every HA counter by name (losses among them: `gaps_unrecovered`,
    /// `events_dropped`, the `refused_*`).
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// The peer of an HA node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaPeer {
    pub node_id: u32,
    /// `active` or `standby`, as its last heartbeat said.
    pub role: String,
    pub priority: u8,
    /// Heard within the dead interval.
    pub alive: bool,
    /// Same workers and port partitioning.
    pub compatible: bool,
}

/// One worker's sync stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStream {
    pub worker: u16,
    /// Last sequence sent (active) or applied in order (standby).
    pub seq: u64,
    /// Active: acknowledged by the standby. Standby: 0.
    pub acked: u64,
    /// Standby: the mirror is whole (no dump under way, no gap).
    pub in_sync: bool,
}

/// Counts per protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerProto {
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
}

impl PerProto {
    /// From an array indexed by [`Proto::index`].
    pub fn from_array<T: Into<u64> + Copy>(a: [T; Proto::COUNT]) -> PerProto {
        PerProto {
            tcp: a[Proto::Tcp.index()].into(),
            udp: a[Proto::Udp.index()].into(),
            icmp: a[Proto::Icmp.index()].into(),
        }
    }

    /// The count of `p`.
    pub fn get(&self, p: Proto) -> u64 {
        match p {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
            Proto::Icmp => self.icmp,
        }
    }

    /// All three added.
    pub fn total(&self) -> u64 {
        self.tcp + self.udp + self.icmp
    }
}

/// `show summary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// platd's version (with its git commit and DPDK version).
    pub version: String,
    /// Seconds since platd started.
    pub uptime_s: u64,
    /// The HA role (`standalone` until a peer is configured).
    pub role: String,
    /// Worker count.
    pub workers: u32,
    /// How return traffic reaches its worker (`rss`, `handoff`, `auto`).
    pub steering: String,
    /// The inside and outside ports.
    pub ports: Vec<PortStatus>,
    /// Sessions per protocol.
    pub sessions: PerProto,
    /// BIB entries per protocol.
    pub bibs: PerProto,
    /// Subscribers with state.
    pub subscribers: u64,
    /// pool4 use per address (all workers).
    pub pool4: Vec<Pool4Use>,
    /// Packets dropped in the last second, all reasons.
    pub drops_last_second: u64,
    /// Packets received in the last second, both ports.
    pub packets_last_second: u64,
    /// The running configuration's generation (1 at start, +1 per change).
    pub config_generation: u64,
}

/// One port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    /// Inside (IPv6) or outside (IPv4).
    pub side: Side,
    /// The DPDK device name.
    pub name: String,
    /// Its MAC address.
    pub mac: String,
    /// Link up.
    pub up: bool,
    /// Link speed in Mb/s (0 when unknown).
    pub speed_mbps: u32,
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames the NIC dropped for want of descriptors.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// `show stats`: every counter of the registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// `Some(ms)`: the values are per-second rates measured over this
    /// interval; `None`: totals since start.
    pub interval_ms: Option<u64>,
    /// What each entry of [`Counter::values`] is: `worker N` or `control`.
    pub rows: Vec<String>,
    /// The counters.
    pub counters: Vec<Counter>,
    /// Each worker's share of polls that found packets, over the last
    /// second (0.0-1.0), in worker order.
    pub busy: Vec<f64>,
}

/// One counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Its registry name.
    pub name: String,
    /// `counter` or `gauge`.
    pub kind: String,
    /// Its help text.
    pub help: String,
    /// The sum over the rows shown.
    pub total: u64,
    /// Per row of [`Stats::rows`].
    pub values: Vec<u64>,
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing<T> {
    /// The entries (empty for a count).
    pub entries: Vec<T>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
    /// For `count`: how many matched.
    pub count: Option<u64>,
}

/// Something one worker holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnWorker<T> {
    /// The worker.
    pub worker: u32,
    /// What it holds.
    pub info: T,
}

/// `show pool4`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool4Status {
    /// The configured entries.
    pub entries: Vec<Pool4Entry>,
    /// Use per address, summed over the workers.
    pub addrs: Vec<Pool4Use>,
}

/// `show config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigText {
    /// The file platd reads on `config reload`.
    pub path: String,
    /// The running configuration's generation.
    pub generation: u64,
    /// The running configuration, as TOML.
    pub toml: String,
}

/// A configuration change, applied or checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The generation now running (unchanged for a check).
    pub generation: u64,
    /// The fields that changed, with what became of them.
    pub changes: Vec<String>,
}

/// One neighbor cache entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbor {
    /// The side it is on.
    pub side: Side,
    /// Its address.
    pub ip: IpAddr,
    /// Its MAC, once resolved.
    pub mac: Option<String>,
    /// `static`, `reachable`, `stale` or `incomplete`.
    pub state: String,
    /// Seconds since it was last confirmed (or asked for).
    pub age_s: u64,
}

/// One worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its index.
    pub worker: u32,
    /// The lcore it runs on.
    pub lcore: u32,
    /// Share of its polls that found packets over the last second.
    pub busy: f64,
    /// Packets it received in the last second.
    pub rx_per_second: u64,
    /// Its state counts (`None` for a worker without NAT state).
    pub state: Option<ShardStats>,
}

// ---------------------------------------------------------------------
// platd's servers <-> one worker
// ---------------------------------------------------------------------

/// One bounded step of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// What to list.
    pub filter: SessionFilter,
    /// The slab slot to start at (0, then the last answer's `next`).
    pub from: u32,
    /// Slots to examine at most.
    pub scan: u32,
    /// Entries to return at most.
    pub limit: u32,
}

/// A query (or command) for one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerQuery {
    /// The worker's state counts (sessions, BIB entries, subscribers, ...).
    Summary,
    /// A page of sessions.
    Sessions(PageQuery),
    /// A page of BIB entries.
    Bib(PageQuery),
    /// The subscriber an address belongs to.
    Subscriber(Ipv6Addr),
    /// Port use per pool4 address.
    Pool4Use,
    /// Deletes the matching sessions among `scan` slots from `from`
    /// (`limit` is not used).
    Clear(PageQuery),
    /// Counts the matching sessions among `scan` slots from `from`.
    CountSessions(PageQuery),
    /// Counts the matching BIB entries among `scan` slots from `from`.
    CountBib(PageQuery),
    /// Who holds a pool4 transport address.
    Who {
        /// The address and port.
        v4: Endpoint4,
        /// One protocol, or all.
        proto: Option<Proto>,
    },
}

/// A worker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerAnswer {
    /// For [`WorkerQuery::Summary`].
    Summary(ShardStats),
    /// For [`WorkerQuery::Sessions`].
    Sessions(Page<SessionInfo>),
    /// For [`WorkerQuery::Bib`].
    Bib(Page<BibInfo>),
    /// For [`WorkerQuery::Subscriber`].
    Subscriber(Option<SubscriberInfo>),
    /// For [`WorkerQuery::Pool4Use`].
    Pool4Use(Vec<Pool4Use>),
    /// For [`WorkerQuery::Clear`] (deleted) and the counts (matched):
    /// how many, and where to go on.
    Counted {
        /// Entries deleted or matched.
        n: u32,
        /// The slot to go on from; `None` when the table is done.
        next: Option<u32>,
    },
    /// For [`WorkerQuery::Who`].
    Who(Vec<Holder>),
    /// The worker's engine keeps no NAT state (the forward-only engine).
    NoState,
}

/// Adds `other`'s port use to `sum`, address by address.
pub fn add_pool4_use(sum: &mut Vec<Pool4Use>, other: &[Pool4Use]) {
    for u in other {
        match sum.iter_mut().find(|s| s.addr == u.addr) {
            Some(s) => {
                for p in 0..Proto::COUNT {
                    s.used[p] += u.used[p];
                    s.total[p] += u.total[p];
                }
            }
            None => sum.push(*u),
        }
    }
    sum.sort_by_key(|u| u.addr);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_through_one_json_line() {
        let req = Request::new(
            7,
            Command::ShowSessions(ListQuery {
                filter: SessionFilter {
                    proto: Some(Proto::Udp),
                    v6: Some("2001:db8::/32".parse().unwrap()),
                    ..SessionFilter::default()
                },
                limit: 100,
                ..ListQuery::default()
            }),
        );
        let line = serde_json::to_string(&req).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
    }

    #[test]
    fn unknown_commands_and_fields_are_refused() {
        let bad = [
            r#"{"version":1,"command":"show_everything"}"#,
            r#"{"version":1,"command":"show_summary","extra":1}"#,
            r#"{"version":1,"command":{"show_sessions":{"filter":{"colour":"red"}}}}"#,
        ];
        for line in bad {
            assert!(serde_json::from_str::<Request>(line).is_err(), "{line}");
        }
    }

    #[test]
    fn an_error_response_names_its_kind_and_field() {
        let r = Response {
            version: VERSION,
            id: 3,
            outcome: Outcome::Error(ApiError::field(
                ErrorKind::Refused,
                "eal.args",
                "read once at start",
            )),
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["error"]["kind"], "refused");
        assert_eq!(v["error"]["field"], "eal.args");
        assert_eq!(serde_json::from_value::<Response>(v).unwrap(), r);
    }
}
