//! A Sender and a Receiver over a lossy, reordering in-memory link
//! (deterministic PRNG), with a real `Shard` on each side: the active one
//! takes traffic, expires and refreshes sessions; the standby applies what
//! arrives. However the link behaves, the run ends with identical shards,
//! and the counters say exactly what happened on the way.

use std::collections::BTreeMap;

use super::*;
use crate::nat::tests::*;
use crate::nat::*;

/// xorshift64*: small, deterministic, good enough to drop and shuffle.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One direction of the link: messages in flight by delivery time.
#[derive(Default)]
struct Wire {
    flight: BTreeMap<(u64, u64), Vec<u8>>,
    n: u64,
}

struct Link {
    rng: Rng,
    /// Per mille of messages lost.
    loss: u64,
    /// Extra delay up to this many ms: reorders.
    jitter: u64,
    /// The link is down (everything lost) in this span of ms.
    outage: std::ops::Range<u64>,
    sent: u64,
    lost: u64,
}

impl Link {
    fn send(&mut self, w: &mut Wire, now: u64, m: &[u8]) {
        self.sent += 1;
        if self.outage.contains(&now) || self.rng.below(1000) < self.loss {
            self.lost += 1;
            return;
        }
        let at = now + 1 + self.rng.below(self.jitter + 1);
        w.n += 1;
        w.flight.insert((at, w.n), m.to_vec());
    }
}

fn due(w: &mut Wire, now: u64) -> Vec<Vec<u8>> {
    let later = w.flight.split_off(&(now + 1, 0));
    std::mem::replace(&mut w.flight, later)
        .into_values()
        .collect()
}

type View = Vec<(Proto, Endpoint6, Endpoint4, Endpoint4, TcpState, TimerClass)>;

fn view(s: &Shard) -> View {
    let mut v: View = s
        .sessions(SessionFilter::default())
        .map(|i| (i.proto, i.v6, i.v4, i.remote, i.state, i.timer))
        .collect();
    v.sort_by_key(|x| (x.0, x.2, x.3));
    v
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    sender: SenderCounters,
    receiver: ReceiverCounters,
    sent: u64,
    lost: u64,
    sessions: usize,
    bibs: u32,
    converged_at: u64,
}

const TRAFFIC_MS: u64 = 3_000;
/// Shard time runs 200 times faster than the link's: a 3 s run covers
/// 10 minutes of sessions (UDP ones live 5).
const SPEED: u64 = 200;

fn run(loss: u64, jitter: u64, outage: std::ops::Range<u64>, window: usize) -> Outcome {
    let stream = StreamConfig {
        window_messages: window,
        window_bytes: 1 << 20,
        reorder_messages: 128,
        rto_ms: 20,
        max_message: 600,
    };
    let key = Key::new(b"simulation key, 32 bytes long!!!").unwrap();
    let mut c = cfg();
    c.sync_refresh_interval = 10;
    let mut active = shard_with(with_events(c));
    let mut standby = shard_with(c);
    let mut tx = Sender::new(0, key.clone(), 1, stream);
    let mut rx = Receiver::new(0, key, 2, stream);
    let mut link = Link {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        loss,
        jitter,
        outage,
        sent: 0,
        lost: 0,
    };
    let (mut down, mut up) = (Wire::default(), Wire::default());
    let mut traffic = Rng(7);
    let mut apply_errors = 0;
    let mut flows = 0u64;
    let mut converged_at = 0;
    for now in 0..TRAFFIC_MS + 5_000 {
        let t = Time::from_millis(now * SPEED);
        if now < TRAFFIC_MS {
            // A new flow every third ms; a refresh of an earlier one.
            if now % 3 == 0 {
                flows += 1;
                let f = t6(
                    Proto::Udp,
                    &format!("2001:db8::{:x}", flows % 64),
                    1000 + flows as u16,
                    Z,
                    53,
                );
                active.v6_session(&f, NO, t).unwrap();
            }
            let old = traffic.below(flows.max(1)) + 1;
            let f = t6(
                Proto::Udp,
                &format!("2001:db8::{:x}", old % 64),
                1000 + old as u16,
                Z,
                53,
            );
            let _ = active.v6_session(&f, NO, t);
            if now % 10 == 0 {
                active.expire(t, usize::MAX, |_| {});
            }
        }
        // The active's worker drains its events into the stream.
        let events: Vec<Record> = active.drain_events().collect();
        let mut dump_needed = tx.send_events(&events, now, &mut |m| link.send(&mut down, now, m))
            == Reply::DumpNeeded;
        for m in due(&mut up, now) {
            let r = tx.receive(&m, now, &mut |x| link.send(&mut down, now, x));
            dump_needed |= r == Ok(Reply::DumpNeeded);
        }
        if dump_needed {
            // Taken after every event passed to the sender.
            let mut dump = Vec::new();
            active.dump(t, &mut dump);
            tx.send_dump(dump, now, &mut |x| link.send(&mut down, now, x));
        }
        let mut steps = Vec::new();
        for m in due(&mut down, now) {
            let _ = rx.receive(&m, now, &mut steps);
        }
        for s in steps {
            match s {
                // The caller's clear: a fresh shard for the worker.
                Step::Clear => standby = shard_with(c),
                Step::Apply(recs) => {
                    for r in &recs {
                        apply_errors += u32::from(standby.apply(r).is_err());
                    }
                }
                Step::DumpDone => {}
            }
        }
        if now % 200 == 0 {
            // The active's heartbeat tells the standby its last sequence.
            rx.peer_sent(1, tx.last_seq(), now);
        }
        tx.poll(now, &mut |m| link.send(&mut down, now, m));
        rx.poll(now, &mut |m| link.send(&mut up, now, m));
        if now >= TRAFFIC_MS && tx.in_flight() == 0 && rx.in_sync() && rx.missing() == 0 {
            converged_at = now;
            break;
        }
    }
    assert!(
        converged_at > 0,
        "never converged: {:?} {:?} dumping {} in flight {} acked {} last {} / applied {} missing {} in sync {}",
        tx.counters,
        rx.counters,
        tx.dumping(),
        tx.in_flight(),
        tx.acked(),
        tx.last_seq(),
        rx.applied_seq(),
        rx.missing(),
        rx.in_sync()
    );
    assert_eq!(apply_errors, 0);
    assert_eq!(view(&standby), view(&active));
    assert_eq!(standby.stats().bibs, active.stats().bibs);
    let r = rx.counters;
    assert_eq!(r.gaps_detected, r.gaps_recovered + r.gaps_unrecovered);
    assert_eq!(rx.applied_seq(), tx.last_seq());
    Outcome {
        sender: tx.counters,
        receiver: r,
        sent: link.sent,
        lost: link.lost,
        sessions: view(&active).len(),
        bibs: active.stats().bibs,
        converged_at,
    }
}

/// The counters that tell the story, in one line.
fn story(o: &Outcome) -> ([u64; 7], [u64; 10], [u64; 2]) {
    let (s, r) = (o.sender, o.receiver);
    (
        [
            s.sent,
            s.resent,
            s.window_overflows,
            s.evicted,
            s.dump_requests,
            s.dumps,
            s.events_dropped,
        ],
        [
            r.applied,
            r.gaps_detected,
            r.gaps_recovered,
            r.gaps_unrecovered,
            r.dumps,
            r.dump_requests,
            r.nacks,
            r.duplicates,
            r.reorder_dropped,
            r.refused.replay,
        ],
        [o.sent, o.lost],
    )
}

#[test]
fn lossless_link_mirrors_the_shard_without_a_gap() {
    let o = run(0, 0, 0..0, 256);
    assert_eq!((o.sessions, o.bibs), (941, 941));
    // The one message not applied is the first events message, sent
    // before the standby's first dump and superseded by it.
    assert_eq!(
        story(&o),
        (
            [2775, 0, 0, 0, 1, 1, 0],
            [2774, 0, 0, 0, 1, 1, 0, 0, 0, 0],
            [5549, 0]
        )
    );
    assert_eq!(o.sender.refused, Refused::default());
    assert_eq!(o.converged_at, TRAFFIC_MS + 1);
}

#[test]
fn lossy_reordering_link_ends_with_identical_shards_and_exact_counters() {
    // 10 % lost both ways, up to 8 ms of reordering, and the link down for
    // 300 ms (longer than the window of 256 messages): gaps are recovered
    // by resends, the outage by a dump the standby asks for.
    let o = run(100, 8, 1_000..1_300, 256);
    assert_eq!((o.sessions, o.bibs), (941, 941));
    assert_eq!(
        story(&o),
        (
            // sent, resent, window overflows, evicted, dump requests,
            // dumps, events dropped
            [2840, 867, 0, 136, 2, 2, 0],
            // applied, gaps detected, recovered, unrecovered (lost, the
            // dump replaced them), dumps, dump requests, nacks,
            // duplicates, reorder drops, replays (resends of what had
            // arrived)
            [2468, 1643, 1402, 241, 2, 3, 278, 118, 17, 277],
            [4419, 784]
        )
    );
    assert_eq!(o.receiver.refused.mac + o.receiver.refused.malformed, 0);
    assert_eq!(o.converged_at, 3028);
}

#[test]
fn a_window_too_small_for_the_loss_costs_dumps_but_loses_nothing_uncounted() {
    // 30 % lost and a window of 16 messages (16 ms of this traffic): what
    // is lost twice has left the window when it is asked for again, and
    // the events held behind a dump overflow (16 x 16 records): each costs
    // a dump, and every loss is counted.
    let o = run(300, 8, 0..0, 16);
    assert_eq!((o.sessions, o.bibs), (941, 941));
    assert_eq!(
        story(&o),
        (
            [1714, 623, 1, 837, 7, 15, 2834],
            [731, 740, 621, 119, 2, 15, 119, 91, 418, 57],
            [2629, 785]
        )
    );
    assert_eq!(o.converged_at, 3454);
}
