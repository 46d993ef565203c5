//! Control messages: what the standby tells the active about a worker's
//! stream (acks, resend ranges, dump requests) and what the nodes tell
//! each other (heartbeats). Each carries its sender's own counter in the
//! header's sequence field (refused when not new, [`super::auth::ReplayWindow`])
//! and a small fixed body; the header's count is the number of ranges
//! (Nack) or workers (Heartbeat).

use super::auth::Opened;
use super::roles::Role;
use super::{write_header, Kind, SyncError, R, W};

/// Most resend ranges one Nack carries.
pub const MAX_NACK_RANGES: usize = 32;
/// The header's worker field of a heartbeat (it is about the node).
pub const NODE: u16 = u16::MAX;

/// What a node says about itself, every `heartbeat_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub node_id: u32,
    pub role: Role,
    pub priority: u8,
    /// Set while an active node's manual takeover is not yet acknowledged
    /// by the peer turning standby: the claim wins a split brain.
    pub claim: bool,
    /// Set on a standby that released the active role: it does not take
    /// it back while the peer lives.
    pub yielding: bool,
    /// The caller's port-partition fingerprint: both nodes must agree.
    pub fingerprint: u64,
    pub uptime_ms: u64,
    /// Per worker: the last sequence sent (active) or applied (standby).
    pub last_seq: Vec<u64>,
}

/// A control message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Everything up to `seq` of the stream of life `stream_epoch` is
    /// applied.
    Ack {
        stream_epoch: u64,
        seq: u64,
    },
    /// Resend `[from, to)` for each range.
    Nack {
        stream_epoch: u64,
        ranges: Vec<(u64, u64)>,
    },
    /// Send a bulk dump of the worker's shard.
    DumpRequest,
    Heartbeat(Heartbeat),
}

const F_CLAIM: u8 = 1;
const F_YIELD: u8 = 2;

impl Control {
    pub fn kind(&self) -> Kind {
        match self {
            Control::Ack { .. } => Kind::Ack,
            Control::Nack { .. } => Kind::Nack,
            Control::DumpRequest => Kind::DumpRequest,
            Control::Heartbeat(_) => Kind::Heartbeat,
        }
    }

    /// Header and body into `out` (cleared first), to be sealed.
    pub fn encode(&self, worker: u16, counter: u64, out: &mut Vec<u8>) {
        let count = match self {
            Control::Nack { ranges, .. } => ranges.len().min(MAX_NACK_RANGES),
            Control::Heartbeat(h) => h.last_seq.len(),
            _ => 0,
        };
        let worker = if matches!(self, Control::Heartbeat(_)) {
            NODE
        } else {
            worker
        };
        write_header(self.kind(), worker, count as u16, counter, out);
        let mut w = W(out);
        match self {
            Control::Ack { stream_epoch, seq } => {
                w.u64(*stream_epoch);
                w.u64(*seq);
            }
            Control::Nack {
                stream_epoch,
                ranges,
            } => {
                w.u64(*stream_epoch);
                for &(from, to) in ranges.iter().take(count) {
                    w.u64(from);
                    w.u64(to);
                }
            }
            Control::DumpRequest => {}
            Control::Heartbeat(h) => {
                w.u32(h.node_id);
                w.u8(h.role as u8);
                w.u8(h.priority);
                w.u8((u8::from(h.claim) * F_CLAIM) | (u8::from(h.yielding) * F_YIELD));
                w.u8(0);
                w.u64(h.fingerprint);
                w.u64(h.uptime_ms);
                for &s in &h.last_seq {
                    w.u64(s);
                }
            }
        }
    }

    /// The content of an opened control message. The body must be exactly
    /// as long as its kind and count say.
    pub fn decode(o: &Opened<'_>) -> Result<Control, SyncError> {
        let mut r = R(o.body());
        let n = usize::from(o.header.count);
        let c = match o.header.kind {
            Kind::Ack => Control::Ack {
                stream_epoch: r.u64()?,
                seq: r.u64()?,
            },
            Kind::Nack => {
                if n == 0 || n > MAX_NACK_RANGES {
                    return Err(SyncError::Field("resend range count"));
                }
                let stream_epoch = r.u64()?;
                let mut ranges = Vec::with_capacity(n);
                for _ in 0..n {
                    let (from, to) = (r.u64()?, r.u64()?);
                    if from == 0 || from >= to {
                        return Err(SyncError::Field("resend range"));
                    }
                    ranges.push((from, to));
                }
                Control::Nack {
                    stream_epoch,
                    ranges,
                }
            }
            Kind::DumpRequest => Control::DumpRequest,
            Kind::Heartbeat => {
                let node_id = r.u32()?;
                let role = match r.u8()? {
                    0 => Role::Standby,
                    1 => Role::Active,
                    _ => return Err(SyncError::Field("role")),
                };
                let priority = r.u8()?;
                let flags = r.u8()?;
                r.u8()?;
                let fingerprint = r.u64()?;
                let uptime_ms = r.u64()?;
                let last_seq = (0..n).map(|_| r.u64()).collect::<Result<_, _>>()?;
                Control::Heartbeat(Heartbeat {
                    node_id,
                    role,
                    priority,
                    claim: flags & F_CLAIM != 0,
                    yielding: flags & F_YIELD != 0,
                    fingerprint,
                    uptime_ms,
                    last_seq,
                })
            }
            kind => {
                return Err(SyncError::Misrouted {
                    kind,
                    worker: o.header.worker,
                })
            }
        };
        if !r.0.is_empty() {
            return Err(SyncError::Field("control body length"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::super::auth::Key;
    use super::*;

    fn round_trip(c: &Control) -> Result<Control, SyncError> {
        let key = Key::new(&[1; 32]).unwrap();
        let mut m = Vec::new();
        c.encode(3, 41, &mut m);
        key.seal(5, &mut m);
        let o = key.open(&m).unwrap();
        assert_eq!((o.header.seq, o.epoch), (41, 5));
        Control::decode(&o)
    }

    #[test]
    fn control_messages_round_trip() {
        let all = [
            Control::Ack {
                stream_epoch: 9,
                seq: 1234,
            },
            Control::Nack {
                stream_epoch: 9,
                ranges: vec![(3, 5), (8, 9)],
            },
            Control::DumpRequest,
            Control::Heartbeat(Heartbeat {
                node_id: 7,
                role: Role::Active,
                priority: 200,
                claim: true,
                yielding: false,
                fingerprint: 0xfeed,
                uptime_ms: 65_000,
                last_seq: vec![1, 2, 3],
            }),
        ];
        for c in &all {
            assert_eq!(&round_trip(c).unwrap(), c);
        }
    }

    #[test]
    fn empty_or_inverted_resend_ranges_are_malformed() {
        for ranges in [
            vec![],
            vec![(5, 5)],
            vec![(0, 2)],
            vec![(1, 2); MAX_NACK_RANGES + 1],
        ] {
            let c = Control::Nack {
                stream_epoch: 1,
                ranges: ranges.clone(),
            };
            let r = round_trip(&c);
            // Over the cap the encoder sends the first 32, which decode.
            if ranges.len() > MAX_NACK_RANGES {
                assert!(
                    matches!(r, Ok(Control::Nack { ranges, .. }) if ranges.len() == MAX_NACK_RANGES)
                );
            } else {
                assert!(matches!(r, Err(SyncError::Field(_))), "{ranges:?}: {r:?}");
            }
        }
    }

    #[test]
    fn a_control_body_of_the_wrong_length_is_malformed() {
        let key = Key::new(&[1; 32]).unwrap();
        let mut m = Vec::new();
        Control::DumpRequest.encode(0, 1, &mut m);
        m.push(0);
        key.seal(1, &mut m);
        assert_eq!(
            Control::decode(&key.open(&m).unwrap()),
            Err(SyncError::Field("control body length"))
        );
    }
}
