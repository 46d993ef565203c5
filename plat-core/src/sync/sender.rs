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

use std::collections::VecDeque;

use super::auth::{Key, ReplayWindow, TRAILER_LEN};
use super::control::Control;
use super::{encode_message, Kind, Record, Refused, SyncError, HEADER_LEN};

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
    /// Dumps sent.
    pub dumps: u64,
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
    buf: Vec<u8>,
    pub counters: SenderCounters,
}

impl Sender {
    /// The stream of `worker` of this node's life `epoch`.
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
    /// they need. Alarms are not synced; a batch of only alarms sends
    /// nothing.
    pub fn send_events(&mut self, records: &[Record], now: u64, transmit: &mut impl FnMut(&[u8])) {
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
    }

    /// Sends a bulk dump (`Shard::dump`'s records, taken after every event
    /// already sent): DumpFirst, DumpPart..., DumpLast, sequenced like
    /// events. The dump supersedes everything before it, so the window
    /// drops what it held. Events recorded after the dump was taken must
    /// be sent after this call, never before.
    pub fn send_dump(&mut self, records: &[Record], now: u64, transmit: &mut impl FnMut(&[u8])) {
        self.dump_wanted = false;
        self.counters.dumps += 1;
        self.window.clear();
        self.bytes = 0;
        self.resync = self.next;
        let room = self.room();
        let (mut i, mut kind) = (0, Kind::DumpFirst);
        loop {
            i += encode_message(
                self.next,
                self.worker,
                kind,
                &records[i..],
                room,
                &mut self.buf,
            );
            let last = i >= records.len() && kind != Kind::DumpFirst;
            if last {
                self.buf[3] = Kind::DumpLast as u8;
            }
            self.push(now, transmit);
            if last {
                return;
            }
            kind = Kind::DumpPart;
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
                self.peer.take(epoch, counter);
                Ok(self.act(c, now, transmit))
            }
            Err(e) => Err(self.counters.refused.count(e)),
        }
    }

    fn check(&self, buf: &[u8]) -> Result<(u64, u64, Control), SyncError> {
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

    fn act(&mut self, c: Control, now: u64, transmit: &mut impl FnMut(&[u8])) -> Reply {
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
                self.want_dump(false)
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

    /// Retransmit timeout: resends the oldest unacknowledged message when
    /// it has waited `rto_ms` (a lost last message, or a lost ack, shows
    /// no gap to the standby). One per call: the standby's resend requests
    /// bring the rest.
    pub fn poll(&mut self, now: u64, transmit: &mut impl FnMut(&[u8])) {
        if let Some(f) = self.window.front_mut() {
            if now >= f.sent_at + self.cfg.rto_ms {
                transmit(&f.msg);
                f.sent_at = now;
                self.counters.resent += 1;
            }
        }
    }
}
