//! The active side of one worker's stream: sequence numbers, the window
//! of sent-but-unacknowledged messages, resends, and the answer "dump
//! needed" when what the standby asks for is gone.
//!
//! A full window never blocks and never drops an event: the oldest
//! unacknowledged message leaves it (counted in `evicted`) and the new one
//! is sent. Blocking would back events up into the worker's ring, whose
//! overflow loses them before they get a sequence number, where no
//! standby can see the loss; an evicted message was sent once already,
//! and if the standby did not get it, it sees the gap, asks, and is
//! answered with a dump (counted in `window_overflows`). Nothing is lost
//! without a count.
//!
//! A bulk dump is paced by the window instead: its parts go out only as
//! acks make room, so a loss inside a dump is resent, never evicted (a
//! dump larger than the window would otherwise evict its own first parts
//! and, under loss, be asked for again and again). Events recorded while
//! a dump is going out wait behind it (they must follow its last part:
//! applied before a later part they could refer to entries not there
//! yet); if more wait than [`HELD_EVENTS_PER_WINDOW_MESSAGE`] times the
//! window's message count, they are dropped (counted in `events_dropped`)
//! and a new dump is needed, which carries their effect.

use std::collections::VecDeque;

use super::auth::{Key, ReplayWindow, TRAILER_LEN};
use super::control::Control;
use super::{encode_message, Kind, Record, Refused, SyncError, HEADER_LEN};

/// Events that may wait behind a dump, per message of the window.
pub const HELD_EVENTS_PER_WINDOW_MESSAGE: usize = 16;

/// A worker stream's sizes and timers (both ends read the same `[ha]`
/// section, so the receiver knows the sender's window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Most messages the sender keeps unacknowledged.
    pub window_messages: usize,
    /// Most bytes it keeps unacknowledged. A window that holds a whole
    /// bulk dump lets a loss inside the dump be resent rather than cost
    /// another dump.
    pub window_bytes: usize,
    /// Most out-of-order messages the receiver holds.
    pub reorder_messages: usize,
    /// Retransmit timeout: the sender resends its oldest unacknowledged
    /// message, and the receiver repeats a resend request, after this.
    pub rto_ms: u64,
    /// Largest sealed message (the sync link's datagram payload).
    pub max_message: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            window_messages: 4096,
            window_bytes: 16 << 20,
            reorder_messages: 1024,
            rto_ms: 100,
            max_message: 1400,
        }
    }
}

/// What the caller must do after a control message.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing (resends, if any, went out).
    Done,
    /// Dump this worker's shard (`Shard::dump`) and pass the records to
    /// [`Sender::send_dump`]. Said once per dump: repeated requests while
    /// one is wanted say `Done`.
    DumpNeeded,
}

/// A Sender's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderCounters {
    /// Messages sent the first time (events and dump parts).
    pub sent: u64,
    /// Messages sent again (resend request or timeout).
    pub resent: u64,
    /// Dumps forced because a requested message had left the window.
    pub window_overflows: u64,
    /// Messages that left a full window unacknowledged (nothing is lost
    /// unless the standby then asks for one: `window_overflows`).
    pub evicted: u64,
    /// Dumps the standby asked for.
    pub dump_requests: u64,
    /// Dumps sent (begun).
    pub dumps: u64,
    /// Events dropped while waiting behind a dump (a new dump follows).
    pub events_dropped: u64,
    /// Control messages refused, by reason.
    pub refused: Refused,
}

#[derive(Debug)]
struct InFlight {
    seq: u64,
    msg: Vec<u8>,
    sent_at: u64,
}

/// One worker's stream, active side.
#[derive(Debug)]
pub struct Sender {
    worker: u16,
    key: Key,
    epoch: u64,
    cfg: StreamConfig,
    /// The next sequence number (the first is 1).
    next: u64,
    /// Everything up to here is acknowledged.
    acked: u64,
    /// The last dump's first message: nothing before it is needed again.
    resync: u64,
    window: VecDeque<InFlight>,
    bytes: usize,
    peer: ReplayWindow,
    dump_wanted: bool,
    /// The dump going out: its records and how many are sent.
    dump: Option<(Vec<Record>, usize)>,
    /// Events waiting behind the dump (from `held_at` on).
    held: Vec<Record>,
    held_at: usize,
    buf: Vec<u8>,
    pub counters: SenderCounters,
}

impl Sender {
    /// The stream of `worker`. `epoch` must be greater than that of any
    /// earlier Sender of this worker on this node (the wall clock in ms
    /// when it is made will do): the standby takes a greater epoch as a
    /// new stream that starts over (a dump), and refuses a smaller one.
    pub fn new(worker: u16, key: Key, epoch: u64, cfg: StreamConfig) -> Sender {
        Sender {
            worker,
            key,
            epoch,
            cfg,
            next: 1,
            acked: 0,
            resync: 0,
            window: VecDeque::new(),
            bytes: 0,
            peer: ReplayWindow::default(),
            dump_wanted: false,
            dump: None,
            held: Vec::new(),
            held_at: 0,
            buf: Vec::new(),
            counters: SenderCounters::default(),
        }
    }

    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The last sequence number sent (0: none), for heartbeats.
    pub fn last_seq(&self) -> u64 {
        self.next - 1
    }

    /// Everything up to this is acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Messages in the window.
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// Whether a dump was asked for and not yet sent.
    pub fn dump_wanted(&self) -> bool {
        self.dump_wanted
    }

    fn room(&self) -> usize {
        self.cfg
            .max_message
            .saturating_sub(TRAILER_LEN)
            .max(HEADER_LEN + 64)
    }

    /// Sends `records` (a worker's drained events) in as many messages as
    /// they need, or holds them while a dump is going out. Alarms are not
    /// synced; a batch of only alarms sends nothing. `DumpNeeded` when
    /// held events overflowed (they are dropped, a new dump covers them).
    pub fn send_events(
        &mut self,
        records: &[Record],
        now: u64,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Reply {
        if self.dump.is_some() || self.held_at < self.held.len() {
            self.held.extend_from_slice(records);
            if self.held.len() - self.held_at
                > self.cfg.window_messages * HELD_EVENTS_PER_WINDOW_MESSAGE
            {
                self.counters.events_dropped += (self.held.len() - self.held_at) as u64;
                self.held.clear();
                self.held_at = 0;
                return self.want_dump(false);
            }
            self.fill(now, transmit);
            return Reply::Done;
        }
        let room = self.room();
        let mut i = 0;
        while i < records.len() {
            i += encode_message(
                self.next,
                self.worker,
                Kind::Events,
                &records[i..],
                room,
                &mut self.buf,
            );
            if self.buf[6..8] != [0, 0] {
                self.push(now, transmit);
            }
        }
        Reply::Done
    }

    /// Starts a bulk dump (`Shard::dump`'s records, taken after every
    /// event already passed to [`send_events`](Self::send_events)):
    /// DumpFirst, DumpPart..., DumpLast, sequenced like events and paced by
    /// the window ([`poll`](Self::poll) sends more as acks make room). The
    /// dump supersedes everything before it: the window drops what it
    /// held, and so do events held behind an earlier dump.
    pub fn send_dump(&mut self, records: Vec<Record>, now: u64, transmit: &mut impl FnMut(&[u8])) {
        self.dump_wanted = false;
        self.counters.dumps += 1;
        self.window.clear();
        self.bytes = 0;
        self.held.clear();
        self.held_at = 0;
        self.resync = self.next;
        self.dump = Some((records, 0));
        self.fill(now, transmit);
    }

    /// Whether a dump is going out, or its first part is unacknowledged
    /// and still in the window (so the retransmit timeout brings it).
    pub fn dumping(&self) -> bool {
        self.dump.is_some()
            || (self.resync > self.acked
                && self.window.front().is_some_and(|f| f.seq <= self.resync))
    }

    fn has_room(&self) -> bool {
        self.window.is_empty()
            || (self.window.len() < self.cfg.window_messages
                && self.bytes + self.cfg.max_message <= self.cfg.window_bytes)
    }

    /// Sends dump parts while the window has room, then the events held
    /// behind the dump: nothing that follows a dump evicts a part of it.
    fn fill(&mut self, now: u64, transmit: &mut impl FnMut(&[u8])) {
        let room = self.room();
        while self.has_room() {
            if let Some((records, at)) = self.dump.as_mut() {
                let first = self.next == self.resync;
                let kind = if first {
                    Kind::DumpFirst
                } else {
                    Kind::DumpPart
                };
                *at += encode_message(
                    self.next,
                    self.worker,
                    kind,
                    &records[*at..],
                    room,
                    &mut self.buf,
                );
                if *at >= records.len() && !first {
                    self.buf[3] = Kind::DumpLast as u8;
                    self.dump = None;
                }
                self.push(now, transmit);
            } else if self.held_at < self.held.len() {
                self.held_at += encode_message(
                    self.next,
                    self.worker,
                    Kind::Events,
                    &self.held[self.held_at..],
                    room,
                    &mut self.buf,
                );
                if self.held_at >= self.held.len() {
                    self.held.clear();
                    self.held_at = 0;
                }
                if self.buf[6..8] != [0, 0] {
                    self.push(now, transmit);
                }
            } else {
                return;
            }
        }
    }

    /// Seals the message in `buf` (its header carries `next`), sends it
    /// and keeps it in the window, evicting the oldest to make room.
    fn push(&mut self, now: u64, transmit: &mut impl FnMut(&[u8])) {
        self.key.seal(self.epoch, &mut self.buf);
        transmit(&self.buf);
        self.counters.sent += 1;
        while !self.window.is_empty()
            && (self.window.len() >= self.cfg.window_messages
                || self.bytes + self.buf.len() > self.cfg.window_bytes)
        {
            if let Some(old) = self.window.pop_front() {
                self.bytes -= old.msg.len();
                self.counters.evicted += 1;
            }
        }
        self.bytes += self.buf.len();
        self.window.push_back(InFlight {
            seq: self.next,
            msg: std::mem::take(&mut self.buf),
            sent_at: now,
        });
        self.next += 1;
    }

    /// Takes a control message from the standby (Ack, Nack, DumpRequest
    /// for this worker). A refused one is counted and changes nothing.
    pub fn receive(
        &mut self,
        buf: &[u8],
        now: u64,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Result<Reply, SyncError> {
        match self.check(buf) {
            Ok((epoch, counter, c)) => {
                let new_life = epoch > self.peer.epoch();
                self.peer.take(epoch, counter);
                Ok(self.act(c, new_life, now, transmit))
            }
            Err(e) => Err(self.counters.refused.count(e)),
        }
    }

    fn check(&self, buf: &[u8]) -> Result<(u64, u64, Control), SyncError> {
        // (epoch, counter, content)
        let o = self.key.open(buf)?;
        let h = o.header;
        if h.worker != self.worker || !matches!(h.kind, Kind::Ack | Kind::Nack | Kind::DumpRequest)
        {
            return Err(SyncError::Misrouted {
                kind: h.kind,
                worker: h.worker,
            });
        }
        let c = Control::decode(&o)?;
        self.peer.check(o.epoch, h.seq)?;
        match &c {
            Control::Ack { stream_epoch, seq }
                if *stream_epoch == self.epoch && *seq >= self.next =>
            {
                Err(SyncError::Field("acknowledged sequence never sent"))
            }
            Control::Nack {
                stream_epoch,
                ranges,
            } if *stream_epoch == self.epoch && ranges.iter().any(|r| r.1 > self.next) => {
                Err(SyncError::Field("resend range beyond the last sent"))
            }
            _ => Ok((o.epoch, h.seq, c)),
        }
    }

    fn act(
        &mut self,
        c: Control,
        new_life: bool,
        now: u64,
        transmit: &mut impl FnMut(&[u8]),
    ) -> Reply {
        match c {
            // About an earlier life of this node's stream: the standby
            // sees the new epoch on its next message and asks for a dump.
            Control::Ack { stream_epoch, .. } | Control::Nack { stream_epoch, .. }
                if stream_epoch != self.epoch =>
            {
                Reply::Done
            }
            Control::Ack { seq, .. } => {
                self.acked = self.acked.max(seq);
                while self.window.front().is_some_and(|f| f.seq <= self.acked) {
                    if let Some(f) = self.window.pop_front() {
                        self.bytes -= f.msg.len();
                    }
                }
                self.fill(now, transmit);
                Reply::Done
            }
            Control::Nack { ranges, .. } => {
                let front = self.window.front().map_or(self.next, |f| f.seq);
                let mut gone = false;
                for (from, to) in ranges {
                    // A dump in flight covers whatever came before it.
                    let from = from.max(self.resync).max(self.acked + 1);
                    if from >= to {
                        continue;
                    }
                    if from < front {
                        gone = true;
                        continue;
                    }
                    for f in self
                        .window
                        .iter_mut()
                        .filter(|f| (from..to).contains(&f.seq))
                    {
                        transmit(&f.msg);
                        f.sent_at = now;
                        self.counters.resent += 1;
                    }
                }
                if gone {
                    self.want_dump(true)
                } else {
                    Reply::Done
                }
            }
            Control::DumpRequest => {
                self.counters.dump_requests += 1;
                // A request that crossed the dump going out is answered by
                // it (its first part is resent until acknowledged); one
                // from a new life of the standby is not.
                if self.dumping() && !new_life {
                    Reply::Done
                } else {
                    self.want_dump(false)
                }
            }
            Control::Heartbeat(_) => Reply::Done,
        }
    }

    fn want_dump(&mut self, overflow: bool) -> Reply {
        if self.dump_wanted {
            return Reply::Done;
        }
        self.dump_wanted = true;
        if overflow {
            self.counters.window_overflows += 1;
        }
        Reply::DumpNeeded
    }

    /// Sends more of a dump if the window has room, and on the retransmit
    /// timeout resends the oldest unacknowledged message when it has
    /// waited `rto_ms` (a lost last message, or a lost ack, shows no gap to
    /// the standby). One per call: the standby's resend requests bring the
    /// rest.
    pub fn poll(&mut self, now: u64, transmit: &mut impl FnMut(&[u8])) {
        self.fill(now, transmit);
        if let Some(f) = self.window.front_mut() {
            if now >= f.sent_at + self.cfg.rto_ms {
                transmit(&f.msg);
                f.sent_at = now;
                self.counters.resent += 1;
            }
        }
    }
}
