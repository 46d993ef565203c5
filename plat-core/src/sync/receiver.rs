//! The standby side of one worker's stream: applies messages in sequence
//! order, holds a bounded number that arrive early, asks for what is
//! missing, and when that cannot come back (the sender's window no longer
//! has it), asks for a bulk dump and follows the stream again from the
//! dump's first message.
//!
//! Gaps are counted in sequence numbers (messages): every one found
//! missing is `gaps_detected`, and ends `gaps_recovered` (it arrived: a
//! resend or a late one) or `gaps_unrecovered` (a dump replaced it: its
//! events are lost, their effect came with the dump). At any time
//! `gaps_detected = gaps_recovered + gaps_unrecovered + missing()`.

use std::collections::BTreeMap;

use super::auth::Key;
use super::control::{Control, MAX_NACK_RANGES};
use super::sender::StreamConfig;
use super::{Kind, Record, Refused, SyncError};

/// Resend requests for the same first missing message before the
/// receiver gives up on it and asks for a dump.
pub const MAX_NACK_ROUNDS: u32 = 8;
/// Retransmit timeouts between two dump requests while none arrives.
pub const DUMP_RETRY_RTOS: u64 = 10;
/// A new gap is asked for after a quarter of the retransmit timeout: a
/// message merely reordered usually arrives by then.
pub const REORDER_GRACE_DIVISOR: u64 = 4;
/// Retransmit timeouts between two acks when nothing new was applied (a
/// lost ack is repeated: the sender cannot tell it from a lost message).
pub const ACK_KEEPALIVE_RTOS: u64 = 4;

/// What the caller does with the worker's mirror shard, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A dump begins: discard the worker's mirror (every BIB entry and
    /// session of that shard).
    Clear,
    /// `Shard::apply` each record.
    Apply(Vec<Record>),
    /// The dump's last part is applied: the mirror is whole again.
    DumpDone,
}

/// A Receiver's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverCounters {
    /// Messages applied in order.
    pub applied: u64,
    /// Sequence numbers found missing.
    pub gaps_detected: u64,
    /// Missing ones that arrived after all.
    pub gaps_recovered: u64,
    /// Missing ones a dump replaced: lost.
    pub gaps_unrecovered: u64,
    /// Dumps applied to their last part.
    pub dumps: u64,
    /// Dump requests sent.
    pub dump_requests: u64,
    /// Resend requests sent.
    pub nacks: u64,
    /// Early messages that arrived twice (held already).
    pub duplicates: u64,
    /// Early messages dropped because the reorder buffer was full (they
    /// stay missing and are asked for again).
    pub reorder_dropped: u64,
    /// Messages refused, by reason.
    pub refused: Refused,
}

#[derive(Debug)]
struct Held {
    kind: Kind,
    records: Vec<Record>,
}

/// One worker's stream, standby side.
#[derive(Debug)]
pub struct Receiver {
    worker: u16,
    key: Key,
    epoch: u64,
    cfg: StreamConfig,
    /// The active's life whose stream this follows (0: none yet).
    stream_epoch: u64,
    /// The next sequence number to apply; 0: no base yet (a dump gives
    /// one).
    next: u64,
    /// The highest sequence number known to exist.
    hi: u64,
    held: BTreeMap<u64, Held>,
    await_dump: bool,
    in_dump: bool,
    /// This end's control message counter.
    counter: u64,
    acked: u64,
    ack_at: u64,
    /// When a resend request may go next.
    nack_at: u64,
    /// The active's last sequence from a heartbeat, and when it came.
    tail: Option<(u64, u64)>,
    stall_next: u64,
    stall_rounds: u32,
    dump_asked_at: Option<u64>,
    buf: Vec<u8>,
    pub counters: ReceiverCounters,
}

impl Receiver {
    /// A stream with no base: it asks for a dump at its first poll.
    /// `epoch` stamps its control messages and must be greater than that
    /// of any earlier Receiver of this worker on this node (the wall clock
    /// in ms when it is made will do): the active refuses control messages
    /// not newer than what it took, and answers a dump request from a new
    /// Receiver even while a dump is going out.
    pub fn new(worker: u16, key: Key, epoch: u64, cfg: StreamConfig) -> Receiver {
        Receiver {
            worker,
            key,
            epoch,
            cfg,
            stream_epoch: 0,
            next: 0,
            hi: 0,
            held: BTreeMap::new(),
            await_dump: true,
            in_dump: false,
            counter: 0,
            acked: 0,
            ack_at: 0,
            nack_at: 0,
            tail: None,
            stall_next: 0,
            stall_rounds: 0,
            dump_asked_at: None,
            buf: Vec::new(),
            counters: ReceiverCounters::default(),
        }
    }

    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The last sequence number applied (0: none), for heartbeats.
    pub fn applied_seq(&self) -> u64 {
        self.next.saturating_sub(1)
    }

    /// Whether the mirror is whole: a base, no dump half applied, none
    /// awaited.
    pub fn in_sync(&self) -> bool {
        self.next > 0 && !self.in_dump && !self.await_dump
    }

    /// Sequence numbers known to exist, neither applied nor held.
    pub fn missing(&self) -> u64 {
        if self.next == 0 {
            return 0;
        }
        (self.hi + 1 - self.next) - self.held.len() as u64
    }

    /// Takes a data message of this worker's stream. In-order messages
    /// (and the held ones they unblock) come out as steps; a refused
    /// message is counted and changes nothing.
    pub fn receive(&mut self, buf: &[u8], now: u64, out: &mut Vec<Step>) -> Result<(), SyncError> {
        let (kind, seq, epoch, records) = match self.check(buf) {
            Ok(m) => m,
            Err(e) => return Err(self.counters.refused.count(e)),
        };
        if epoch > self.stream_epoch {
            self.new_life(epoch);
        }
        let missing = self.missing();
        if self.next == 0 || (seq > self.next && kind == Kind::DumpFirst) {
            if kind == Kind::DumpFirst {
                self.resync(seq, records, out);
            } else {
                self.hold(seq, kind, records);
            }
        } else if seq == self.next {
            if seq <= self.hi {
                self.counters.gaps_recovered += 1;
            }
            self.deliver(seq, kind, records, out);
            self.drain(out);
        } else {
            self.hold(seq, kind, records);
        }
        if self.missing() > missing {
            self.gap_seen(missing > 0, now);
        }
        Ok(())
    }

    /// A new gap: asked for after the reorder grace (sooner if a request
    /// is already due).
    fn gap_seen(&mut self, had_gap: bool, now: u64) {
        let at = now + self.cfg.rto_ms / REORDER_GRACE_DIVISOR;
        self.nack_at = if had_gap { self.nack_at.min(at) } else { at };
    }

    fn check(&self, buf: &[u8]) -> Result<(Kind, u64, u64, Vec<Record>), SyncError> {
        let o = self.key.open(buf)?;
        let h = o.header;
        if h.worker != self.worker || !h.kind.is_data() {
            return Err(SyncError::Misrouted {
                kind: h.kind,
                worker: h.worker,
            });
        }
        if o.epoch < self.stream_epoch {
            return Err(SyncError::StaleEpoch {
                epoch: o.epoch,
                current: self.stream_epoch,
            });
        }
        if h.seq == 0 {
            return Err(SyncError::Field("sequence 0"));
        }
        let records = o.records()?;
        if o.epoch == self.stream_epoch && h.seq < self.next {
            return Err(SyncError::Replay {
                seq: h.seq,
                last: self.next - 1,
            });
        }
        Ok((h.kind, h.seq, o.epoch, records))
    }

    /// The active started a new life (or this is the first one seen):
    /// what was followed is void, a dump of the new life is needed.
    fn new_life(&mut self, epoch: u64) {
        if self.stream_epoch == 0 {
            // The first life seen: a fresh receiver asks for its dump
            // already.
            self.stream_epoch = epoch;
            return;
        }
        self.counters.gaps_unrecovered += self.missing();
        self.stream_epoch = epoch;
        self.next = 0;
        self.hi = 0;
        self.held.clear();
        self.in_dump = false;
        self.acked = 0;
        self.await_dump = true;
        self.dump_asked_at = None;
        self.tail = None;
    }

    fn hold(&mut self, seq: u64, kind: Kind, records: Vec<Record>) {
        if self.held.contains_key(&seq) {
            self.counters.duplicates += 1;
            return;
        }
        let kept = self.held.len() < self.cfg.reorder_messages;
        if kept {
            self.held.insert(seq, Held { kind, records });
        } else {
            self.counters.reorder_dropped += 1;
        }
        if self.next == 0 {
            self.hi = self.hi.max(seq);
        } else if seq > self.hi {
            self.counters.gaps_detected += seq - self.hi - u64::from(kept);
            self.hi = seq;
        } else if kept {
            self.counters.gaps_recovered += 1;
        }
    }

    /// A dump's first message: everything before it is superseded.
    fn resync(&mut self, seq: u64, records: Vec<Record>, out: &mut Vec<Step>) {
        let fresh = self.next == 0;
        if !fresh {
            if seq <= self.hi {
                self.counters.gaps_recovered += 1;
            }
            if seq - 1 > self.hi {
                self.counters.gaps_detected += seq - 1 - self.hi;
                self.hi = seq - 1;
            }
            let below = self.held.range(..seq).count() as u64;
            self.counters.gaps_unrecovered += (seq - self.next) - below;
        }
        self.held = self.held.split_off(&seq);
        self.held.remove(&seq);
        self.next = seq;
        self.hi = self.hi.max(seq);
        self.deliver(seq, Kind::DumpFirst, records, out);
        self.drain(out);
        if fresh {
            self.counters.gaps_detected += self.missing();
        }
    }

    fn deliver(&mut self, seq: u64, kind: Kind, records: Vec<Record>, out: &mut Vec<Step>) {
        if kind == Kind::DumpFirst {
            out.push(Step::Clear);
            self.in_dump = true;
            self.dump_asked_at = None;
        }
        self.await_dump = false;
        if !records.is_empty() {
            out.push(Step::Apply(records));
        }
        if kind == Kind::DumpLast && self.in_dump {
            self.in_dump = false;
            self.counters.dumps += 1;
            out.push(Step::DumpDone);
        }
        self.next = seq + 1;
        self.hi = self.hi.max(seq);
        self.counters.applied += 1;
    }

    fn drain(&mut self, out: &mut Vec<Step>) {
        while let Some(h) = self.held.remove(&self.next) {
            self.deliver(self.next, h.kind, h.records, out);
        }
    }

    /// The active's heartbeat says it sent up to `last` in its life
    /// `epoch`: a lost last message shows up here. What has not arrived a
    /// retransmit timeout later is missing (the heartbeat may overtake
    /// messages in flight).
    pub fn peer_sent(&mut self, epoch: u64, last: u64, now: u64) {
        if epoch == self.stream_epoch && self.next > 0 && last > self.hi {
            self.tail = Some((last, now));
        }
    }

    /// Sends what is due: a dump request (none yet, or none arrived), a
    /// resend request for the gaps, an ack.
    pub fn poll(&mut self, now: u64, transmit: &mut impl FnMut(&[u8])) {
        let rto = self.cfg.rto_ms;
        if let Some((last, at)) = self.tail {
            if now >= at + rto {
                self.tail = None;
                if self.next > 0 && last > self.hi {
                    self.counters.gaps_detected += last - self.hi;
                    self.hi = last;
                    self.nack_at = now;
                }
            }
        }
        if !self.await_dump && self.missing() > 0 && now >= self.nack_at {
            if self.stall_next == self.next {
                self.stall_rounds += 1;
            } else {
                (self.stall_next, self.stall_rounds) = (self.next, 1);
            }
            // The sender keeps the last `window_messages` at most: past
            // that, or after enough unanswered requests, only a dump helps.
            if self.hi - self.next >= self.cfg.window_messages as u64
                || self.stall_rounds > MAX_NACK_ROUNDS
            {
                self.await_dump = true;
                self.dump_asked_at = None;
            } else {
                let ranges = self.gaps();
                self.nack_at = now + rto;
                self.counters.nacks += 1;
                self.send(
                    Control::Nack {
                        stream_epoch: self.stream_epoch,
                        ranges,
                    },
                    transmit,
                );
            }
        }
        if self.await_dump
            && self
                .dump_asked_at
                .is_none_or(|t| now >= t + DUMP_RETRY_RTOS * rto)
        {
            self.dump_asked_at = Some(now);
            self.counters.dump_requests += 1;
            self.send(Control::DumpRequest, transmit);
        }
        let applied = self.applied_seq();
        if applied > 0 && (applied > self.acked || now >= self.ack_at + ACK_KEEPALIVE_RTOS * rto) {
            self.acked = applied;
            self.ack_at = now;
            self.send(
                Control::Ack {
                    stream_epoch: self.stream_epoch,
                    seq: applied,
                },
                transmit,
            );
        }
    }

    /// The missing ranges `[from, to)`, first ones first.
    fn gaps(&self) -> Vec<(u64, u64)> {
        let mut ranges = Vec::new();
        let mut at = self.next;
        for &s in self.held.keys() {
            if s > at {
                ranges.push((at, s));
            }
            at = s + 1;
        }
        if at <= self.hi {
            ranges.push((at, self.hi + 1));
        }
        ranges.truncate(MAX_NACK_RANGES);
        ranges
    }

    fn send(&mut self, c: Control, transmit: &mut impl FnMut(&[u8])) {
        self.counter += 1;
        c.encode(self.worker, self.counter, &mut self.buf);
        self.key.seal(self.epoch, &mut self.buf);
        transmit(&self.buf);
    }
}
