//! NAT events from the workers to the log thread and to the HA sync
//! thread: bounded single-producer, single-consumer rings, one per worker
//! for each, filled once a poll. A worker never waits on them: an event
//! that finds a ring full is counted (`drop_log_ring_full`,
//! `drop_sync_ring_full`) and dropped, so every event is either in
//! `log_events` / `sync_events` or in those counters.

use std::time::{SystemTime, UNIX_EPOCH};

use plat_core::log::{is_logged, LogEvent};
use plat_core::nat::Record;

use crate::counters::LocalCounters;
use crate::engine::PacketEngine;
use crate::worker::Counter;

/// The log thread's end of one worker's ring.
pub type EventReceiver = rtrb::Consumer<LogEvent>;
/// The sync thread's end of one worker's ring.
pub type SyncReceiver = rtrb::Consumer<Record>;

/// How often a worker re-reads the wall clock, so that event times follow
/// the system clock's corrections (NTP) within this bound.
const WALL_CLOCK_EVERY_MS: u64 = 1000;

/// A worker's end of its ring.
#[derive(Debug)]
pub struct EventSender {
    /// To the log thread, when NAT events are logged.
    ring: Option<rtrb::Producer<LogEvent>>,
    /// To the sync thread, when there is a standby to stream to.
    sync: Option<rtrb::Producer<Record>>,
    sync_staged: Vec<Record>,
    worker: u16,
    port_blocks: bool,
    /// Unix time in ms minus the worker clock's ms.
    wall_offset_ms: i64,
    next_wall_read_ms: u64,
    /// This poll's events, written to the ring in one chunk: one look at
    /// the log thread's position and one publication a poll, not one per
    /// event (a ring that stays full would otherwise cost a cross-core
    /// cache miss per event).
    staged: Vec<LogEvent>,
}

/// One ring per worker, each holding `capacity` events: the workers'
/// ends and the log thread's, in worker order. `port_blocks` says whether
/// the shards allocate port blocks (then block records replace the
/// per-session ones, see [`is_logged`]).
pub fn event_rings(
    workers: usize,
    capacity: usize,
    port_blocks: bool,
) -> (Vec<EventSender>, Vec<EventReceiver>) {
    (0..workers)
        .map(|w| {
            let (ring, rx) = rtrb::RingBuffer::new(capacity);
            let tx = EventSender {
                ring: Some(ring),
                sync: None,
                sync_staged: Vec::new(),
                worker: w as u16,
                port_blocks,
                wall_offset_ms: 0,
                next_wall_read_ms: 0,
                staged: Vec::with_capacity(plat_core::config::SHARD_EVENTS_PER_POLL as usize),
            };
            (tx, rx)
        })
        .unzip()
}

/// Gives every worker's sender (made here where `senders` has none) a
/// ring of `capacity` records to the sync thread; returns the sync
/// thread's ends, in worker order.
pub fn sync_rings(senders: &mut [Option<EventSender>], capacity: usize) -> Vec<SyncReceiver> {
    senders
        .iter_mut()
        .enumerate()
        .map(|(w, s)| {
            let (tx, rx) = rtrb::RingBuffer::new(capacity);
            let s = s.get_or_insert_with(|| EventSender {
                ring: None,
                sync: None,
                sync_staged: Vec::new(),
                worker: w as u16,
                port_blocks: false,
                wall_offset_ms: 0,
                next_wall_read_ms: 0,
                staged: Vec::new(),
            });
            s.sync = Some(tx);
            s.sync_staged = Vec::with_capacity(capacity.min(8192));
            rx
        })
        .collect()
}

/// Writes what fits of `staged` into `ring` in one chunk; returns (sent,
/// lost) and leaves `staged` empty.
fn publish<T>(ring: &mut rtrb::Producer<T>, staged: &mut Vec<T>) -> (u64, u64) {
    let n = staged.len();
    let room = match ring.write_chunk_uninit(n) {
        Ok(chunk) => chunk.fill_from_iter(staged.drain(..)),
        Err(rtrb::chunks::ChunkError::TooFewSlots(room)) => match ring.write_chunk_uninit(room) {
            Ok(chunk) => chunk.fill_from_iter(staged.drain(..room)),
            Err(_) => 0,
        },
    };
    staged.clear();
    (room as u64, (n - room) as u64)
}

/// The wall clock, in milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl EventSender {
    /// Moves the events `engine` recorded since the last call into the
    /// ring, stamped with the wall-clock time of `now_ms` (the worker's
    /// clock).
    pub fn forward<E: PacketEngine>(
        &mut self,
        engine: &mut E,
        now_ms: u64,
        counters: &mut LocalCounters,
    ) {
        if now_ms >= self.next_wall_read_ms {
            self.wall_offset_ms = unix_ms() as i64 - now_ms as i64;
            self.next_wall_read_ms = now_ms + WALL_CLOCK_EVERY_MS;
        }
        let unix_ms = (now_ms as i64 + self.wall_offset_ms).max(0) as u64;
        let (staged, worker, port_blocks) = (&mut self.staged, self.worker, self.port_blocks);
        let (logs, sync_staged) = (self.ring.is_some(), &mut self.sync_staged);
        let syncs = self.sync.is_some();
        engine.drain_events(&mut |record| {
            if syncs && !is_alarm(record) {
                sync_staged.push(*record);
            }
            if logs && is_logged(record, port_blocks) {
                staged.push(LogEvent {
                    unix_ms,
                    worker,
                    record: *record,
                });
            }
        });
        if let Some(sync) = self.sync.as_mut().filter(|_| !self.sync_staged.is_empty()) {
            let (sent, lost) = publish(sync, &mut self.sync_staged);
            counters.add(Counter::SyncEvents as usize, sent);
            counters.add(Counter::SyncRingFull as usize, lost);
        }
        if let Some(ring) = self.ring.as_mut().filter(|_| !self.staged.is_empty()) {
            let (sent, lost) = publish(ring, &mut self.staged);
            counters.add(Counter::LogEvents as usize, sent);
            counters.add(Counter::LogRingFull as usize, lost);
        }
    }
}

/// Alarms (exhaustion, quotas) are for the log, not state for a standby.
fn is_alarm(r: &Record) -> bool {
    matches!(
        r,
        Record::AddressesExhausted { .. }
            | Record::PortsExhausted { .. }
            | Record::QuotaExceeded { .. }
    )
}
