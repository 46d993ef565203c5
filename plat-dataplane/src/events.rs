//! NAT events from the workers to the log thread: one bounded
//! single-producer, single-consumer ring per worker, filled once a poll.
//! A worker never waits on it: an event that finds the ring full is
//! counted (`drop_log_ring_full`) and dropped, so every event the shards
//! log is either in `log_events` or in that counter.

use std::time::{SystemTime, UNIX_EPOCH};

use plat_core::log::{is_logged, LogEvent};

use crate::counters::LocalCounters;
use crate::engine::PacketEngine;
use crate::worker::Counter;

/// The log thread's end of one worker's ring.
pub type EventReceiver = rtrb::Consumer<LogEvent>;

/// How often a worker re-reads the wall clock, so that event times follow
/// the system clock's corrections (NTP) within this bound.
const WALL_CLOCK_EVERY_MS: u64 = 1000;

/// A worker's end of its ring.
#[derive(Debug)]
pub struct EventSender {
    ring: rtrb::Producer<LogEvent>,
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
                ring,
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
        engine.drain_events(&mut |record| {
            if is_logged(record, port_blocks) {
                staged.push(LogEvent {
                    unix_ms,
                    worker,
                    record: *record,
                });
            }
        });
        let n = staged.len();
        if n == 0 {
            return;
        }
        let room = match self.ring.write_chunk_uninit(n) {
            Ok(chunk) => chunk.fill_from_iter(self.staged.drain(..)),
            Err(rtrb::chunks::ChunkError::TooFewSlots(room)) => {
                match self.ring.write_chunk_uninit(room) {
                    Ok(chunk) => chunk.fill_from_iter(self.staged.drain(..room)),
                    Err(_) => 0,
                }
            }
        };
        self.staged.clear();
        let (sent, lost) = (room as u64, (n - room) as u64);
        counters.add(Counter::LogEvents as usize, sent);
        counters.add(Counter::LogRingFull as usize, lost);
    }
}
