//! The IPFIX exporter: NAT events as RFC 7011 messages carrying the
//! information elements and natEvent values of RFC 8158, sans-IO. The
//! caller sends each message it is handed (over UDP, to each collector)
//! and drives the clock.
//!
//! One template per record kind, IDs fixed (see [`template`]), so a
//! collector that restarts reads the next refresh without surprise:
//!
//! | ID  | natEvent | fields after observationTimeMilliseconds, natEvent |
//! | --- | --- | --- |
//! | 256 | 6, 7 NAT64 session | protocolIdentifier, sourceIPv6Address, sourceTransportPort, postNATSourceIPv4Address, postNAPTSourceTransportPort |
//! | 257 | 6, 7 NAT64 session | the same, then destinationIPv6Address, destinationTransportPort, postNATDestinationIPv4Address, postNAPTDestinationTransportPort |
//! | 258 | 10, 11 NAT64 BIB | protocolIdentifier, sourceIPv6Address, sourceTransportPort, postNATSourceIPv4Address, postNAPTSourceTransportPort |
//! | 259 | 16, 17 port block | protocolIdentifier, sourceIPv6Address, sourceIPv6PrefixLength, postNATSourceIPv4Address, portRangeStart, portRangeEnd, portRangeStepSize, portRangeNumPorts |
//! | 260 | 3 addresses exhausted | protocolIdentifier |
//! | 261 | 12 ports exhausted | protocolIdentifier, postNATSourceIPv4Address |
//! | 262 | 13 quota, natQuotaExceededEvent 1 | natQuotaExceededEvent, maxSessionEntries |
//! | 263 | 13 quota, natQuotaExceededEvent 3 | natQuotaExceededEvent, maxEntriesPerUser, sourceIPv6Address |
//! | 264 | 13 quota, natQuotaExceededEvent 4 | natQuotaExceededEvent, maxSubscribers |
//!
//! Session records go out with template 256 unless
//! [`IpfixOptions::include_destination`] is set, then with 257 (never
//! both). RFC 6888 REQ-12 asks a CGN not to log destinations, for the
//! subscribers' privacy and for log volume, so they are off unless the
//! operator turns them on; RFC 8158's NAT64 session template has the
//! destination fields, and 257 is that template. With them on, the
//! destination is written on both sides: the IPv6 address the subscriber
//! sent to (the RFC 6052 prefix around the IPv4 address) and the IPv4
//! address the packet left for; a NAT64 does not change the destination
//! port.
//!
//! For ICMP query sessions the "ports" are the query identifiers, as in
//! the BIB (RFC 6146 3.5.3).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::line::LogLine;
use super::{protocol_number, LogEvent};
use crate::addr::Prefix6052;
use crate::nat::{Quota, Record};

/// An information element: its IANA ID, the length it is sent in, its
/// name in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie {
    pub id: u16,
    pub len: u16,
    pub name: &'static str,
}

/// Every information element the exporter sends, from IANA's "IPFIX
/// Information Elements" registry (RFC 7012, RFC 8158 section 5 for the
/// NAT ones). Each is sent in its type's full length (no reduced-size
/// encoding).
pub mod ie {
    use super::Ie;

    const fn ie(id: u16, len: u16, name: &'static str) -> Ie {
        Ie { id, len, name }
    }

    pub const PROTOCOL_IDENTIFIER: Ie = ie(4, 1, "protocolIdentifier");
    pub const SOURCE_TRANSPORT_PORT: Ie = ie(7, 2, "sourceTransportPort");
    pub const DESTINATION_TRANSPORT_PORT: Ie = ie(11, 2, "destinationTransportPort");
    pub const SOURCE_IPV6_ADDRESS: Ie = ie(27, 16, "sourceIPv6Address");
    pub const DESTINATION_IPV6_ADDRESS: Ie = ie(28, 16, "destinationIPv6Address");
    pub const SOURCE_IPV6_PREFIX_LENGTH: Ie = ie(29, 1, "sourceIPv6PrefixLength");
    pub const POST_NAT_SOURCE_IPV4_ADDRESS: Ie = ie(225, 4, "postNATSourceIPv4Address");
    pub const POST_NAT_DESTINATION_IPV4_ADDRESS: Ie = ie(226, 4, "postNATDestinationIPv4Address");
    pub const POST_NAPT_SOURCE_TRANSPORT_PORT: Ie = ie(227, 2, "postNAPTSourceTransportPort");
    pub const POST_NAPT_DESTINATION_TRANSPORT_PORT: Ie =
        ie(228, 2, "postNAPTDestinationTransportPort");
    pub const NAT_EVENT: Ie = ie(230, 1, "natEvent");
    /// RFC 7011 6.1.9: "The dateTimeMilliseconds data type is an unsigned
    /// 64-bit integer in network byte order containing the number of
    /// milliseconds since the UNIX epoch".
    pub const OBSERVATION_TIME_MILLISECONDS: Ie = ie(323, 8, "observationTimeMilliseconds");
    pub const PORT_RANGE_START: Ie = ie(361, 2, "portRangeStart");
    pub const PORT_RANGE_END: Ie = ie(362, 2, "portRangeEnd");
    pub const PORT_RANGE_STEP_SIZE: Ie = ie(363, 2, "portRangeStepSize");
    pub const PORT_RANGE_NUM_PORTS: Ie = ie(364, 2, "portRangeNumPorts");
    pub const NAT_QUOTA_EXCEEDED_EVENT: Ie = ie(466, 4, "natQuotaExceededEvent");
    pub const MAX_SESSION_ENTRIES: Ie = ie(471, 4, "maxSessionEntries");
    pub const MAX_ENTRIES_PER_USER: Ie = ie(473, 4, "maxEntriesPerUser");
    pub const MAX_SUBSCRIBERS: Ie = ie(474, 4, "maxSubscribers");
}

/// A template: its ID and its fields in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub fields: &'static [Ie],
}

impl Template {
    /// Octets of one data record.
    pub const fn record_len(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.fields.len() {
            n += self.fields[i].len as usize;
            i += 1;
        }
        n
    }

    /// Octets of the template record: ID, field count, one specifier (ID,
    /// length) per field, no enterprise numbers (RFC 7011 3.4.1, 3.2).
    pub const fn template_record_len(&self) -> usize {
        4 + 4 * self.fields.len()
    }
}

/// The templates, one per kind of record. Their IDs are the Set IDs of
/// their Data Sets, so 256 and up (RFC 7011 3.3.2: "Values 256 and above
/// are used for Data Sets").
pub mod template {
    use super::ie::*;
    use super::{Ie, Template};

    /// Every record starts with when and what.
    const HEAD: [Ie; 2] = [OBSERVATION_TIME_MILLISECONDS, NAT_EVENT];

    pub const SESSION: Template = Template {
        id: 256,
        fields: &[
            HEAD[0],
            HEAD[1],
            PROTOCOL_IDENTIFIER,
            SOURCE_IPV6_ADDRESS,
            SOURCE_TRANSPORT_PORT,
            POST_NAT_SOURCE_IPV4_ADDRESS,
            POST_NAPT_SOURCE_TRANSPORT_PORT,
        ],
    };
    pub const SESSION_WITH_DESTINATION: Template = Template {
        id: 257,
        fields: &[
            HEAD[0],
            HEAD[1],
            PROTOCOL_IDENTIFIER,
            SOURCE_IPV6_ADDRESS,
            SOURCE_TRANSPORT_PORT,
            POST_NAT_SOURCE_IPV4_ADDRESS,
            POST_NAPT_SOURCE_TRANSPORT_PORT,
            DESTINATION_IPV6_ADDRESS,
            DESTINATION_TRANSPORT_PORT,
            POST_NAT_DESTINATION_IPV4_ADDRESS,
            POST_NAPT_DESTINATION_TRANSPORT_PORT,
        ],
    };
    pub const BIB: Template = Template {
        id: 258,
        fields: &[
            HEAD[0],
            HEAD[1],
            PROTOCOL_IDENTIFIER,
            SOURCE_IPV6_ADDRESS,
            SOURCE_TRANSPORT_PORT,
            POST_NAT_SOURCE_IPV4_ADDRESS,
            POST_NAPT_SOURCE_TRANSPORT_PORT,
        ],
    };
    /// The subscriber is its prefix (sourceIPv6Address with
    /// sourceIPv6PrefixLength); the block is one per protocol here, so
    /// the protocol is in the record too.
    pub const BLOCK: Template = Template {
        id: 259,
        fields: &[
            HEAD[0],
            HEAD[1],
            PROTOCOL_IDENTIFIER,
            SOURCE_IPV6_ADDRESS,
            SOURCE_IPV6_PREFIX_LENGTH,
            POST_NAT_SOURCE_IPV4_ADDRESS,
            PORT_RANGE_START,
            PORT_RANGE_END,
            PORT_RANGE_STEP_SIZE,
            PORT_RANGE_NUM_PORTS,
        ],
    };
    pub const ADDRESSES_EXHAUSTED: Template = Template {
        id: 260,
        fields: &[HEAD[0], HEAD[1], PROTOCOL_IDENTIFIER],
    };
    pub const PORTS_EXHAUSTED: Template = Template {
        id: 261,
        fields: &[
            HEAD[0],
            HEAD[1],
            PROTOCOL_IDENTIFIER,
            POST_NAT_SOURCE_IPV4_ADDRESS,
        ],
    };
    pub const QUOTA_SESSION_ENTRIES: Template = Template {
        id: 262,
        fields: &[
            HEAD[0],
            HEAD[1],
            NAT_QUOTA_EXCEEDED_EVENT,
            MAX_SESSION_ENTRIES,
        ],
    };
    pub const QUOTA_ENTRIES_PER_USER: Template = Template {
        id: 263,
        fields: &[
            HEAD[0],
            HEAD[1],
            NAT_QUOTA_EXCEEDED_EVENT,
            MAX_ENTRIES_PER_USER,
            SOURCE_IPV6_ADDRESS,
        ],
    };
    pub const QUOTA_SUBSCRIBERS: Template = Template {
        id: 264,
        fields: &[HEAD[0], HEAD[1], NAT_QUOTA_EXCEEDED_EVENT, MAX_SUBSCRIBERS],
    };

    /// Every template.
    pub const ALL: [Template; 9] = [
        SESSION,
        SESSION_WITH_DESTINATION,
        BIB,
        BLOCK,
        ADDRESSES_EXHAUSTED,
        PORTS_EXHAUSTED,
        QUOTA_SESSION_ENTRIES,
        QUOTA_ENTRIES_PER_USER,
        QUOTA_SUBSCRIBERS,
    ];
}

/// RFC 7011 3.1: the Message Header is 16 octets.
const HEADER_LEN: usize = 16;
/// RFC 7011 3.3.2: a Set Header is 4 octets.
const SET_HEADER_LEN: usize = 4;
/// RFC 7011 3.1, Version: "The value of this field is 0x000a for the
/// current version".
const VERSION: u16 = 10;
/// RFC 7011 3.3.2: "A value of 2 is reserved for Template Sets."
const TEMPLATE_SET_ID: u16 = 2;

/// The smallest message every record and template fits in, alone.
pub const MIN_MESSAGE_LEN: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < template::ALL.len() {
        let t = template::ALL[i];
        if t.record_len() > max {
            max = t.record_len();
        }
        if t.template_record_len() > max {
            max = t.template_record_len();
        }
        i += 1;
    }
    HEADER_LEN + SET_HEADER_LEN + max
};

/// RFC 7011 3.1: the Length field is 16 bits.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// How the exporter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpfixOptions {
    /// The Observation Domain ID in every message header (one per
    /// appliance).
    pub observation_domain: u32,
    /// No message is longer (keep it within the path MTU: 1472 for UDP
    /// over IPv4 on a 1500-octet link). Raised to [`MIN_MESSAGE_LEN`],
    /// lowered to [`MAX_MESSAGE_LEN`].
    pub max_message_len: usize,
    /// Whether session records carry the destination (RFC 6888 REQ-12:
    /// off unless the operator asks).
    pub include_destination: bool,
    /// How often the templates go out again (RFC 7011 10.3.6: over UDP,
    /// templates are resent periodically, since a collector may start
    /// after the exporter or lose the message that carried them).
    pub template_refresh_ms: u64,
}

impl Default for IpfixOptions {
    fn default() -> Self {
        IpfixOptions {
            observation_domain: 0,
            max_message_len: 1472,
            include_destination: false,
            template_refresh_ms: 60_000,
        }
    }
}

/// Builds IPFIX messages from NAT events; one per collector stream (the
/// sequence number counts what this exporter sent).
#[derive(Debug)]
pub struct IpfixExporter {
    opts: IpfixOptions,
    max_len: usize,
    prefix: Prefix6052,
    /// Data records sent before the message being built, modulo 2^32.
    sequence: u32,
    /// When the templates last went out.
    templates_at: Option<u64>,
    /// The message being built.
    buf: Vec<u8>,
    /// The open set: its ID and where its header starts.
    set: Option<(u16, usize)>,
    /// Data records in the message being built.
    records: usize,
    /// Export time of the message being built (seconds).
    export_s: u32,
}

impl IpfixExporter {
    /// An exporter; `prefix` is the NAT64 prefix, to write the IPv6
    /// destination of session records when they carry destinations.
    pub fn new(opts: IpfixOptions, prefix: Prefix6052) -> Self {
        let max_len = opts.max_message_len.clamp(MIN_MESSAGE_LEN, MAX_MESSAGE_LEN);
        IpfixExporter {
            opts,
            max_len,
            prefix,
            sequence: 0,
            templates_at: None,
            buf: Vec::with_capacity(max_len),
            set: None,
            records: 0,
            export_s: 0,
        }
    }

    /// The longest message this exporter builds.
    pub fn max_message_len(&self) -> usize {
        self.max_len
    }

    /// The sequence number the next message will carry: data records sent
    /// so far, modulo 2^32.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The templates in use: all of them but the session template the
    /// options do not pick.
    pub fn templates(&self) -> impl Iterator<Item = &'static Template> {
        in_use(self.opts.include_destination)
    }

    /// The template a record goes out with; `None` for records no log
    /// carries (timer refreshes, TCP state steps).
    pub fn template_of(&self, record: &Record) -> Option<&'static Template> {
        Some(match record {
            Record::SessionCreate(_) | Record::SessionDelete(_) => {
                if self.opts.include_destination {
                    &template::SESSION_WITH_DESTINATION
                } else {
                    &template::SESSION
                }
            }
            Record::BibCreate(_) | Record::BibDelete(_) => &template::BIB,
            Record::BlockAlloc(_) | Record::BlockFree(_) => &template::BLOCK,
            Record::AddressesExhausted { .. } => &template::ADDRESSES_EXHAUSTED,
            Record::PortsExhausted { .. } => &template::PORTS_EXHAUSTED,
            Record::QuotaExceeded { quota, .. } => match quota {
                Quota::SessionEntries => &template::QUOTA_SESSION_ENTRIES,
                Quota::EntriesPerUser => &template::QUOTA_ENTRIES_PER_USER,
                Quota::Subscribers => &template::QUOTA_SUBSCRIBERS,
            },
            Record::StateChange { .. } | Record::Refresh { .. } => return None,
        })
    }

    fn templates_due(&self, now_ms: u64) -> bool {
        match self.templates_at {
            None => true,
            // A clock stepped back sends them too.
            Some(t) => now_ms < t || now_ms - t >= self.opts.template_refresh_ms,
        }
    }

    /// Packs the events into messages of at most `max_message_len` octets,
    /// calling `emit(message, data_records_in_it)` once per message. Every
    /// record kind that has a template is encoded (the caller filters
    /// with [`super::is_logged`]); timer refreshes and TCP state steps are
    /// skipped. The templates go out first on the first call and again
    /// whenever `template_refresh_ms` has passed, at the head of the first
    /// message.
    pub fn export(
        &mut self,
        events: &[LogEvent],
        now_unix_ms: u64,
        mut emit: impl FnMut(&[u8], usize),
    ) {
        self.begin(now_unix_ms);
        if self.templates_due(now_unix_ms) {
            self.push_templates(now_unix_ms, &mut emit);
        }
        let mut rec = [0u8; MIN_MESSAGE_LEN];
        for ev in events {
            let Some(t) = self.template_of(&ev.record) else {
                continue;
            };
            let n = self.encode(t, ev, &mut rec);
            self.push(t.id, &rec[..n], true, &mut emit);
        }
        self.flush(&mut emit);
    }

    /// The templates alone, when they are due (the caller calls this about
    /// once a second, events or not).
    pub fn refresh_templates(&mut self, now_unix_ms: u64, mut emit: impl FnMut(&[u8], usize)) {
        if self.templates_due(now_unix_ms) {
            self.begin(now_unix_ms);
            self.push_templates(now_unix_ms, &mut emit);
            self.flush(&mut emit);
        }
    }

    fn push_templates(&mut self, now_ms: u64, emit: &mut impl FnMut(&[u8], usize)) {
        let mut rec = [0u8; MIN_MESSAGE_LEN];
        for t in in_use(self.opts.include_destination) {
            // RFC 7011 3.4.1: Template ID, Field Count, then the Field
            // Specifiers (Information Element identifier, Field Length).
            rec[0..2].copy_from_slice(&t.id.to_be_bytes());
            rec[2..4].copy_from_slice(&(t.fields.len() as u16).to_be_bytes());
            for (i, f) in t.fields.iter().enumerate() {
                let at = 4 + 4 * i;
                rec[at..at + 2].copy_from_slice(&f.id.to_be_bytes());
                rec[at + 2..at + 4].copy_from_slice(&f.len.to_be_bytes());
            }
            self.push(
                TEMPLATE_SET_ID,
                &rec[..t.template_record_len()],
                false,
                emit,
            );
        }
        self.templates_at = Some(now_ms);
    }

    /// Starts a message: room for the header, written at flush.
    fn begin(&mut self, now_ms: u64) {
        // RFC 7011 3.1: Export Time, "expressed in seconds since the UNIX
        // epoch".
        self.export_s = (now_ms / 1000) as u32;
        self.buf.clear();
        self.buf.resize(HEADER_LEN, 0);
        self.set = None;
        self.records = 0;
    }

    /// Appends one record to the set of `set_id`, sending the message
    /// first if the record would not fit in it.
    fn push(&mut self, set_id: u16, rec: &[u8], data: bool, emit: &mut impl FnMut(&[u8], usize)) {
        let new_set = self.set.is_none_or(|(id, _)| id != set_id);
        let need = rec.len() + if new_set { SET_HEADER_LEN } else { 0 };
        if self.buf.len() + need > self.max_len {
            self.flush(emit);
            self.buf.resize(HEADER_LEN, 0);
            return self.push(set_id, rec, data, emit);
        }
        if new_set {
            self.close_set();
            self.set = Some((set_id, self.buf.len()));
            self.buf.extend_from_slice(&set_id.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
        }
        self.buf.extend_from_slice(rec);
        self.records += usize::from(data);
    }

    /// Writes the open set's length (RFC 7011 3.3.2: "Total length of the
    /// Set, in octets, including the Set Header").
    fn close_set(&mut self) {
        if let Some((_, at)) = self.set.take() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Sends the message being built, if it holds any set.
    fn flush(&mut self, emit: &mut impl FnMut(&[u8], usize)) {
        if self.buf.len() <= HEADER_LEN {
            return;
        }
        self.close_set();
        let len = self.buf.len() as u16;
        let h = &mut self.buf[..HEADER_LEN];
        h[0..2].copy_from_slice(&VERSION.to_be_bytes());
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h[4..8].copy_from_slice(&self.export_s.to_be_bytes());
        // RFC 7011 3.1: Sequence Number, "Incremental sequence counter
        // modulo 2^32 of all IPFIX Data Records sent in the current stream
        // from the current Observation Domain by the Exporting Process.
        // [...] Template and Options Template Records do not increase the
        // Sequence Number." It counts the records sent before this
        // message, as RFC 7011's erratum on the field reads it and
        // collectors expect: the first message carries 0.
        h[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        h[12..16].copy_from_slice(&self.opts.observation_domain.to_be_bytes());
        emit(&self.buf, self.records);
        self.sequence = self.sequence.wrapping_add(self.records as u32);
        self.buf.truncate(0);
        self.set = None;
        self.records = 0;
    }

    /// Writes `ev`'s data record for template `t` into `out`, field by
    /// field in the template's order; returns its length.
    fn encode(&self, t: &Template, ev: &LogEvent, out: &mut [u8]) -> usize {
        let f = Facts::of(ev, self.opts.include_destination.then_some(&self.prefix));
        let mut at = 0;
        for ie in t.fields {
            let n = usize::from(ie.len);
            f.write(*ie, &mut out[at..at + n]);
            at += n;
        }
        at
    }
}

/// The templates in use: all of them but the session template
/// `include_destination` does not pick.
fn in_use(include_destination: bool) -> impl Iterator<Item = &'static Template> {
    let unused = if include_destination {
        template::SESSION.id
    } else {
        template::SESSION_WITH_DESTINATION.id
    };
    template::ALL.iter().filter(move |t| t.id != unused)
}

/// What one record says, flattened; a field a record lacks is zero.
#[derive(Debug, Default)]
struct Facts {
    time: u64,
    nat_event: u8,
    proto: u8,
    src6: Option<Ipv6Addr>,
    src6_len: u8,
    sport: u16,
    v4: Option<Ipv4Addr>,
    v4_port: u16,
    dst6: Option<Ipv6Addr>,
    dst4: Option<Ipv4Addr>,
    dport: u16,
    first: u16,
    last: u16,
    quota: u32,
    limit: u32,
}

impl Facts {
    /// The facts of `ev` as its log line has them (one place maps each
    /// record to what it says: [`LogLine::from_event`]); the destination
    /// only with `prefix` (destinations logged).
    fn of(ev: &LogEvent, prefix: Option<&Prefix6052>) -> Facts {
        let Some(l) = LogLine::from_event(ev, prefix.is_some()) else {
            return Facts::default();
        };
        let remote = l.remote.zip(prefix);
        Facts {
            time: l.time,
            nat_event: l.nat_event,
            proto: l.proto.map_or(0, protocol_number),
            // A block's or a quota's subscriber is its source prefix.
            src6: l.v6.or(l.subscriber),
            src6_len: l.prefix_len.unwrap_or(0),
            sport: l.v6_port.unwrap_or(0),
            v4: l.v4,
            v4_port: l.v4_port.unwrap_or(0),
            dst6: remote.map(|(a, p)| p.embed(a)),
            dst4: remote.map(|(a, _)| a),
            dport: l.remote_port.unwrap_or(0),
            first: l.first.unwrap_or(0),
            last: l.last.unwrap_or(0),
            quota: l.quota_event.unwrap_or(0),
            limit: l.limit.unwrap_or(0),
        }
    }

    /// Writes information element `ie` into `out` (its length).
    fn write(&self, ie: Ie, out: &mut [u8]) {
        use ie::*;
        let v6 = |a: Option<Ipv6Addr>| a.unwrap_or(Ipv6Addr::UNSPECIFIED).octets();
        let v4 = |a: Option<Ipv4Addr>| a.unwrap_or(Ipv4Addr::UNSPECIFIED).octets();
        let bytes: &[u8] = match ie {
            OBSERVATION_TIME_MILLISECONDS => &self.time.to_be_bytes(),
            NAT_EVENT => &[self.nat_event],
            PROTOCOL_IDENTIFIER => &[self.proto],
            SOURCE_IPV6_ADDRESS => &v6(self.src6),
            SOURCE_IPV6_PREFIX_LENGTH => &[self.src6_len],
            SOURCE_TRANSPORT_PORT => &self.sport.to_be_bytes(),
            POST_NAT_SOURCE_IPV4_ADDRESS => &v4(self.v4),
            POST_NAPT_SOURCE_TRANSPORT_PORT => &self.v4_port.to_be_bytes(),
            DESTINATION_IPV6_ADDRESS => &v6(self.dst6),
            // A NAT64 does not change the destination port.
            DESTINATION_TRANSPORT_PORT | POST_NAPT_DESTINATION_TRANSPORT_PORT => {
                &self.dport.to_be_bytes()
            }
            POST_NAT_DESTINATION_IPV4_ADDRESS => &v4(self.dst4),
            PORT_RANGE_START => &self.first.to_be_bytes(),
            PORT_RANGE_END => &self.last.to_be_bytes(),
            // A block is contiguous: every port from first to last.
            PORT_RANGE_STEP_SIZE => &1u16.to_be_bytes(),
            PORT_RANGE_NUM_PORTS => {
                &(self.last.wrapping_sub(self.first).wrapping_add(1)).to_be_bytes()
            }
            NAT_QUOTA_EXCEEDED_EVENT => &self.quota.to_be_bytes(),
            MAX_SESSION_ENTRIES | MAX_ENTRIES_PER_USER | MAX_SUBSCRIBERS => {
                &self.limit.to_be_bytes()
            }
            _ => &[],
        };
        // Every template's fields are in the table above (tested), so a
        // mismatch is a bug of this file, never of the data.
        debug_assert_eq!(bytes.len(), out.len(), "information element {}", ie.name);
        let n = bytes.len().min(out.len());
        out[..n].copy_from_slice(&bytes[..n]);
    }
}

#[cfg(test)]
mod tests;
