//! The HA sync protocol: the session event format a shard reports its
//! state in (for the standby and for binding logs), and the sans-IO
//! machinery that carries it to a standby without losing what it can know
//! about: authentication ([`auth`]), the per-worker stream's [`Sender`]
//! and [`Receiver`], and the nodes' roles ([`roles`]).
//!
//! A message is a 16-byte header followed by records, each a type byte, a
//! big-endian u16 body length and the body, then the authentication
//! trailer (the sending node's epoch and an HMAC-SHA-256, [`auth`]).
//! Decoders skip record types they do not know (so a minor addition stays
//! compatible) and refuse a different major version. Refreshes travel
//! batched: one record carries every session refreshed in the same second.
//!
//! Header: magic "P6", version, kind ([`Kind`]), worker (u16), record
//! count (u16), sequence (u64). Data messages (events and bulk-dump parts)
//! carry the worker stream's sequence number; control messages (acks,
//! resend and dump requests, heartbeats) carry their sender's own counter
//! and a small body of their own ([`control`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

pub use crate::nat::{BibRec, BlockRec, Key4, Record, SessionRec};
use crate::nat::{Endpoint4, Endpoint6, Proto, TcpState};

pub mod auth;
pub mod control;
pub mod receiver;
pub mod roles;
pub mod sender;

pub use auth::{Key, Opened};
pub use receiver::{Receiver, ReceiverCounters, Step};
pub use roles::{Node, NodeConfig, NodeEvent, Role};
pub use sender::{Reply, Sender, SenderCounters, StreamConfig};

pub const MAGIC: [u8; 2] = *b"P6";
/// 2: the authentication trailer and the control kinds (1 had neither).
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 16;

const T_BIB_CREATE: u8 = 1;
const T_BIB_DELETE: u8 = 2;
const T_SESSION_CREATE: u8 = 3;
const T_SESSION_DELETE: u8 = 4;
const T_STATE: u8 = 5;
const T_REFRESH_BATCH: u8 = 6;
const T_BLOCK_ALLOC: u8 = 7;
const T_BLOCK_FREE: u8 = 8;

const KEY_LEN: usize = 13;
const MAX_BATCH: usize = 4096;

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// NAT events of one worker, in its stream's order.
    Events = 0,
    /// A middle part of a bulk dump.
    DumpPart = 1,
    /// The last part of a bulk dump: the stream goes on after it.
    DumpLast = 2,
    /// The first part of a bulk dump: the receiver discards the worker's
    /// mirror before applying it. A resync point: it supersedes every
    /// message before it, so a receiver may jump to it over a gap.
    DumpFirst = 3,
    /// Standby -> active: the highest sequence applied in order.
    Ack = 4,
    /// Standby -> active: resend these ranges (the gaps it sees).
    Nack = 5,
    /// Standby -> active: send a bulk dump of this worker's shard.
    DumpRequest = 6,
    /// Both ways: the node's id, role, priority, uptime and streams.
    Heartbeat = 7,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Events,
        Kind::DumpPart,
        Kind::DumpLast,
        Kind::DumpFirst,
        Kind::Ack,
        Kind::Nack,
        Kind::DumpRequest,
        Kind::Heartbeat,
    ];

    pub fn from_u8(v: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(v)).copied()
    }

    /// Whether the message is part of a worker's sequenced stream (events
    /// or a dump) rather than a control message.
    pub const fn is_data(self) -> bool {
        matches!(
            self,
            Kind::Events | Kind::DumpFirst | Kind::DumpPart | Kind::DumpLast
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: Kind,
    pub worker: u16,
    pub count: u16,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SyncError {
    #[error("sync: message shorter than its header or a record")]
    Truncated,
    #[error("sync: bad magic")]
    Magic,
    #[error("sync: version {0}, this build speaks {VERSION}")]
    Version(u8),
    #[error("sync: bad {0} in record")]
    Field(&'static str),
    /// The MAC does not verify: forged, corrupted, or another key.
    #[error("sync: bad message authentication code")]
    Mac,
    /// Authentic but not newer than what this end already took.
    #[error("sync: replayed message (sequence {seq}, already at {last})")]
    Replay { seq: u64, last: u64 },
    /// Authentic, but from an earlier life (epoch) of the peer.
    #[error("sync: message from the peer's earlier epoch {epoch} (now {current})")]
    StaleEpoch { epoch: u64, current: u64 },
    /// Authentic and well formed, but not for this end (a control message
    /// at a receiver, another worker's stream).
    #[error("sync: a {kind:?} message for worker {worker} is not for this end")]
    Misrouted { kind: Kind, worker: u16 },
}

/// Why a message was refused, the way the counters split refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Forged or corrupted: the MAC does not verify.
    Mac,
    /// Authentic, but already taken (or from the peer's earlier life).
    Replay,
    /// Too short, bad magic or version, bad fields, or not for this end.
    Malformed,
}

impl SyncError {
    /// The counter a refusal goes to.
    pub const fn refusal(&self) -> Refusal {
        match self {
            SyncError::Mac => Refusal::Mac,
            SyncError::Replay { .. } | SyncError::StaleEpoch { .. } => Refusal::Replay,
            _ => Refusal::Malformed,
        }
    }
}

/// Refused messages by reason. Every refusal leaves the refusing end's
/// state as it was: it is counted here and nowhere else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    pub mac: u64,
    pub replay: u64,
    pub malformed: u64,
}

impl Refused {
    /// The counts by the names the operator sees (`platctl ha show`,
    /// `plat_ha_<name>_total`).
    pub fn named(&self) -> [(&'static str, u64); 3] {
        [
            ("refused_mac", self.mac),
            ("refused_replay", self.replay),
            ("refused_malformed", self.malformed),
        ]
    }

    /// Counts `e` and hands it back.
    pub fn count(&mut self, e: SyncError) -> SyncError {
        match e.refusal() {
            Refusal::Mac => self.mac += 1,
            Refusal::Replay => self.replay += 1,
            Refusal::Malformed => self.malformed += 1,
        }
        e
    }
}

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn e4(&mut self, e: Endpoint4) {
        self.0.extend_from_slice(&e.addr.octets());
        self.u16(e.port);
    }
    fn e6(&mut self, e: Endpoint6) {
        self.0.extend_from_slice(&e.addr.octets());
        self.u16(e.port);
    }
    fn key(&mut self, k: &Key4) {
        self.u8(k.proto as u8);
        self.e4(k.v4);
        self.e4(k.remote);
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SyncError> {
        if self.0.len() < n {
            return Err(SyncError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SyncError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, SyncError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, SyncError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, SyncError> {
        Ok(u64::from(self.u32()?) << 32 | u64::from(self.u32()?))
    }
    fn a4(&mut self) -> Result<Ipv4Addr, SyncError> {
        Ok(Ipv4Addr::from(self.u32()?))
    }
    fn a6(&mut self) -> Result<Ipv6Addr, SyncError> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Ipv6Addr::from(a))
    }
    fn e4(&mut self) -> Result<Endpoint4, SyncError> {
        Ok(Endpoint4::new(self.a4()?, self.u16()?))
    }
    fn e6(&mut self) -> Result<Endpoint6, SyncError> {
        Ok(Endpoint6::new(self.a6()?, self.u16()?))
    }
    fn proto(&mut self) -> Result<Proto, SyncError> {
        Proto::from_u8(self.u8()?).ok_or(SyncError::Field("protocol"))
    }
    fn state(&mut self) -> Result<TcpState, SyncError> {
        TcpState::from_u8(self.u8()?).ok_or(SyncError::Field("TCP state"))
    }
    fn key(&mut self) -> Result<Key4, SyncError> {
        Ok(Key4 {
            proto: self.proto()?,
            v4: self.e4()?,
            remote: self.e4()?,
        })
    }
}

fn body_len(r: &Record) -> usize {
    match r {
        Record::BibCreate(_) | Record::BibDelete(_) => 30,
        Record::SessionCreate(_) | Record::SessionDelete(_) => 36,
        Record::StateChange { .. } => 5 + KEY_LEN,
        Record::Refresh { .. } => 6 + KEY_LEN,
        Record::BlockAlloc(_) | Record::BlockFree(_) => 36,
        Record::AddressesExhausted { .. }
        | Record::PortsExhausted { .. }
        | Record::QuotaExceeded { .. } => 0,
    }
}

/// Encodes as many of `records` as fit in `max_len` bytes (at least one)
/// into `out` (cleared first). Returns how many records it consumed.
pub fn encode_message(
    seq: u64,
    worker: u16,
    kind: Kind,
    records: &[Record],
    max_len: usize,
    out: &mut Vec<u8>,
) -> usize {
    write_header(kind, worker, 0, seq, out); // count patched below
    let mut used = 0;
    let mut count = 0u16;
    while used < records.len() && count < u16::MAX {
        let r = &records[used];
        if out.len() > HEADER_LEN && out.len() + 3 + body_len(r) > max_len {
            break;
        }
        let mut w = W(out);
        match r {
            Record::BibCreate(b) | Record::BibDelete(b) => {
                w.u8(if matches!(r, Record::BibCreate(_)) {
                    T_BIB_CREATE
                } else {
                    T_BIB_DELETE
                });
                w.u16(30);
                w.u32(b.time);
                w.u8(b.proto as u8);
                w.u8(u8::from(b.is_static));
                w.e6(b.v6);
                w.e4(b.v4);
                used += 1;
            }
            Record::SessionCreate(s) | Record::SessionDelete(s) => {
                w.u8(if matches!(r, Record::SessionCreate(_)) {
                    T_SESSION_CREATE
                } else {
                    T_SESSION_DELETE
                });
                w.u16(36);
                w.u32(s.time);
                w.u8(s.proto as u8);
                w.u8(s.state as u8);
                w.e6(s.v6);
                w.e4(s.v4);
                w.e4(s.remote);
                used += 1;
            }
            Record::StateChange { time, key, state } => {
                w.u8(T_STATE);
                w.u16((5 + KEY_LEN) as u16);
                w.u32(*time);
                w.u8(*state as u8);
                w.key(key);
                used += 1;
            }
            Record::Refresh { time, .. } => {
                // Batch the run of refreshes with the same time.
                let room = (max_len.saturating_sub(w.0.len() + 9) / KEY_LEN).max(1);
                let run = records[used..]
                    .iter()
                    .take(room.min(MAX_BATCH))
                    .take_while(|x| matches!(x, Record::Refresh { time: t, .. } if t == time))
                    .count();
                w.u8(T_REFRESH_BATCH);
                w.u16((6 + run * KEY_LEN) as u16);
                w.u32(*time);
                w.u16(run as u16);
                for x in &records[used..used + run] {
                    if let Record::Refresh { key, .. } = x {
                        w.key(key);
                    }
                }
                used += run;
            }
            Record::BlockAlloc(b) | Record::BlockFree(b) => {
                w.u8(if matches!(r, Record::BlockAlloc(_)) {
                    T_BLOCK_ALLOC
                } else {
                    T_BLOCK_FREE
                });
                w.u16(36);
                w.u32(b.time);
                w.u8(b.proto as u8);
                w.u8(b.prefix_len);
                w.0.extend_from_slice(&b.subscriber.octets());
                w.0.extend_from_slice(&b.v4.octets());
                w.u32(b.block);
                w.u16(b.first);
                w.u16(b.last);
                w.u16(b.size);
                used += 1;
            }
            // Alarms are for the log; a standby's state has no use for them.
            Record::AddressesExhausted { .. }
            | Record::PortsExhausted { .. }
            | Record::QuotaExceeded { .. } => {
                used += 1;
                continue;
            }
        }
        count += 1;
    }
    out[6..8].copy_from_slice(&count.to_be_bytes());
    used
}

/// Clears `out` and writes a header into it.
pub fn write_header(kind: Kind, worker: u16, count: u16, seq: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&worker.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Reads a header (magic and version first: a peer of another version is
/// told apart from a forger). Unauthenticated: the caller routes by its
/// kind and worker (data to that worker's [`Receiver`], Ack, Nack and
/// DumpRequest to its [`Sender`], Heartbeat to the [`Node`]), and the one
/// it reaches checks the MAC.
pub fn read_header(buf: &[u8]) -> Result<Header, SyncError> {
    let mut r = R(buf);
    if r.take(2)? != MAGIC {
        return Err(SyncError::Magic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(SyncError::Version(version));
    }
    let kind = Kind::from_u8(r.u8()?).ok_or(SyncError::Field("message kind"))?;
    let worker = r.u16()?;
    let count = r.u16()?;
    let seq = r.u64()?;
    Ok(Header {
        version,
        kind,
        worker,
        count,
        seq,
    })
}

/// Decodes a message into its header and records (refresh batches come
/// out as one `Refresh` per session).
pub fn decode_message(buf: &[u8]) -> Result<(Header, Vec<Record>), SyncError> {
    let header = read_header(buf)?;
    if !header.kind.is_data() {
        return Ok((header, Vec::new()));
    }
    let mut r = R(&buf[HEADER_LEN..]);
    let mut out = Vec::with_capacity(usize::from(header.count));
    for _ in 0..header.count {
        let t = r.u8()?;
        let len = usize::from(r.u16()?);
        let mut b = R(r.take(len)?);
        match t {
            T_BIB_CREATE | T_BIB_DELETE => {
                let time = b.u32()?;
                let proto = b.proto()?;
                let is_static = b.u8()? != 0;
                let rec = BibRec {
                    time,
                    proto,
                    is_static,
                    v6: b.e6()?,
                    v4: b.e4()?,
                };
                out.push(if t == T_BIB_CREATE {
                    Record::BibCreate(rec)
                } else {
                    Record::BibDelete(rec)
                });
            }
            T_SESSION_CREATE | T_SESSION_DELETE => {
                let time = b.u32()?;
                let proto = b.proto()?;
                let state = b.state()?;
                let rec = SessionRec {
                    time,
                    proto,
                    state,
                    v6: b.e6()?,
                    v4: b.e4()?,
                    remote: b.e4()?,
                };
                out.push(if t == T_SESSION_CREATE {
                    Record::SessionCreate(rec)
                } else {
                    Record::SessionDelete(rec)
                });
            }
            T_STATE => {
                let time = b.u32()?;
                let state = b.state()?;
                out.push(Record::StateChange {
                    time,
                    state,
                    key: b.key()?,
                });
            }
            T_REFRESH_BATCH => {
                let time = b.u32()?;
                let n = b.u16()?;
                for _ in 0..n {
                    out.push(Record::Refresh {
                        time,
                        key: b.key()?,
                    });
                }
            }
            T_BLOCK_ALLOC | T_BLOCK_FREE => {
                let time = b.u32()?;
                let proto = b.proto()?;
                let prefix_len = b.u8()?;
                let rec = BlockRec {
                    time,
                    proto,
                    prefix_len,
                    subscriber: b.a6()?,
                    v4: b.a4()?,
                    block: b.u32()?,
                    first: b.u16()?,
                    last: b.u16()?,
                    size: b.u16()?,
                };
                out.push(if t == T_BLOCK_ALLOC {
                    Record::BlockAlloc(rec)
                } else {
                    Record::BlockFree(rec)
                });
            }
            _ => {} // a newer minor version's record: skip it
        }
    }
    Ok((header, out))
}

/// One line of the binding log (lawful-intercept logging): who had which
/// IPv4 transport address when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingLog {
    pub time: u32,
    pub event: &'static str,
    pub proto: Proto,
    /// The subscriber's address and port (for a block: its prefix, port 0).
    pub v6: Endpoint6,
    pub v4: Ipv4Addr,
    /// First and last IPv4 port (equal unless a block).
    pub ports: (u16, u16),
    /// The remote host, when destination logging is on.
    pub dst: Option<Endpoint4>,
}

impl Record {
    /// The binding-log line for this event, if it is one that is logged
    /// (session and block creation and deletion). RFC 6888 REQ-12: "A CGN
    /// SHOULD NOT log destination addresses or ports unless required to do
    /// so for administrative reasons", hence `with_dst`.
    pub fn binding_log(&self, with_dst: bool) -> Option<BindingLog> {
        match self {
            Record::SessionCreate(s) | Record::SessionDelete(s) => Some(BindingLog {
                time: s.time,
                event: if matches!(self, Record::SessionCreate(_)) {
                    "session-create"
                } else {
                    "session-delete"
                },
                proto: s.proto,
                v6: s.v6,
                v4: s.v4.addr,
                ports: (s.v4.port, s.v4.port),
                dst: with_dst.then_some(s.remote),
            }),
            Record::BlockAlloc(b) | Record::BlockFree(b) => Some(BindingLog {
                time: b.time,
                event: if matches!(self, Record::BlockAlloc(_)) {
                    "block-alloc"
                } else {
                    "block-free"
                },
                proto: b.proto,
                v6: Endpoint6::new(b.subscriber, 0),
                v4: b.v4,
                ports: (b.first, b.last),
                dst: None,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for BindingLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}:{}",
            self.time, self.event, self.proto, self.v6, self.v4, self.ports.0
        )?;
        if self.ports.1 != self.ports.0 {
            write!(f, "-{}", self.ports.1)?;
        }
        if let Some(d) = self.dst {
            write!(f, " dst {d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod shard_stream;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn e4(a: [u8; 4], p: u16) -> Endpoint4 {
        Endpoint4::new(Ipv4Addr::from(a), p)
    }

    fn sample() -> Vec<Record> {
        let v6 = Endpoint6::new("2001:db8::7".parse().unwrap(), 5000);
        let key = Key4 {
            proto: Proto::Udp,
            v4: e4([192, 0, 2, 1], 40000),
            remote: e4([198, 51, 100, 9], 53),
        };
        vec![
            Record::BibCreate(BibRec {
                time: 10,
                proto: Proto::Udp,
                v6,
                v4: key.v4,
                is_static: false,
            }),
            Record::SessionCreate(SessionRec {
                time: 10,
                proto: Proto::Tcp,
                v6,
                v4: key.v4,
                remote: key.remote,
                state: TcpState::V6Init,
            }),
            Record::StateChange {
                time: 11,
                key,
                state: TcpState::Established,
            },
            Record::Refresh { time: 12, key },
            Record::Refresh {
                time: 12,
                key: Key4 {
                    remote: e4([198, 51, 100, 10], 80),
                    ..key
                },
            },
            Record::Refresh { time: 13, key },
            Record::BlockAlloc(BlockRec {
                time: 14,
                proto: Proto::Udp,
                subscriber: "2001:db8:1::".parse().unwrap(),
                prefix_len: 56,
                v4: Ipv4Addr::new(192, 0, 2, 1),
                block: 3,
                first: 2048,
                last: 2559,
                size: 512,
            }),
            Record::SessionDelete(SessionRec {
                time: 20,
                proto: Proto::Icmp,
                v6,
                v4: key.v4,
                remote: key.remote,
                state: TcpState::Closed,
            }),
            Record::BibDelete(BibRec {
                time: 20,
                proto: Proto::Udp,
                v6,
                v4: key.v4,
                is_static: true,
            }),
        ]
    }

    #[test]
    fn records_round_trip_and_refreshes_batch() {
        let recs = sample();
        let mut buf = Vec::new();
        let used = encode_message(7, 3, Kind::Events, &recs, 1500, &mut buf);
        assert_eq!(used, recs.len());
        let (h, back) = decode_message(&buf).unwrap();
        assert_eq!(h.seq, 7);
        assert_eq!(h.worker, 3);
        assert_eq!(h.kind, Kind::Events);
        // Two refreshes at time 12 share one wire record.
        assert_eq!(usize::from(h.count), recs.len() - 1);
        assert_eq!(back, recs);
    }

    #[test]
    fn messages_split_at_max_len() {
        let recs = sample();
        let mut buf = Vec::new();
        let mut all = Vec::new();
        let mut i = 0;
        let mut seq = 0;
        while i < recs.len() {
            let n = encode_message(seq, 0, Kind::DumpPart, &recs[i..], 80, &mut buf);
            assert!(n >= 1);
            assert!(buf.len() <= 80 || n == 1);
            all.extend(decode_message(&buf).unwrap().1);
            i += n;
            seq += 1;
        }
        assert_eq!(all, recs);
    }

    #[test]
    fn decoder_rejects_other_versions_and_skips_unknown_records() {
        let recs = sample();
        let mut buf = Vec::new();
        encode_message(1, 0, Kind::Events, &recs[..1], 1500, &mut buf);
        let mut v1 = buf.clone();
        v1[2] = 1;
        assert_eq!(decode_message(&v1), Err(SyncError::Version(1)));
        assert_eq!(decode_message(&buf[..20]), Err(SyncError::Truncated));
        // Append an unknown record type 99 and bump the count.
        let mut ext = buf.clone();
        ext.extend_from_slice(&[99, 0, 3, 1, 2, 3]);
        ext[7] += 1;
        assert_eq!(decode_message(&ext).unwrap().1, recs[..1].to_vec());
    }

    #[test]
    fn binding_log_lines() {
        let recs = sample();
        let l = recs[1].binding_log(false).unwrap();
        assert_eq!(
            l.to_string(),
            "10 session-create tcp [2001:db8::7]:5000 192.0.2.1:40000"
        );
        let l = recs[1].binding_log(true).unwrap();
        assert!(l.to_string().ends_with("dst 198.51.100.9:53"));
        let b = recs[6].binding_log(true).unwrap();
        assert_eq!(
            b.to_string(),
            "14 block-alloc udp [2001:db8:1::]:0 192.0.2.1:2048-2559"
        );
        assert!(recs[3].binding_log(true).is_none());
    }
}
