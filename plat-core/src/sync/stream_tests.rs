//! The worker stream's rules, one test each: a Sender and a Receiver
//! talking through vectors of messages.

use std::net::Ipv4Addr;

use super::control::Control;
use super::receiver::{
    ACK_KEEPALIVE_RTOS, DUMP_RETRY_RTOS, MAX_NACK_ROUNDS, REORDER_GRACE_DIVISOR,
};
use super::*;
use crate::nat::{Endpoint4, Proto};

const ACTIVE: u64 = 1_000;
const STANDBY: u64 = 2_000;
const RTO: u64 = 100;
/// When a gap seen at 0 is first asked for.
const GRACE: u64 = RTO / REORDER_GRACE_DIVISOR;

fn key() -> Key {
    Key::new(b"sync test key 0123456789").unwrap()
}

fn cfg() -> StreamConfig {
    StreamConfig {
        window_messages: 8,
        window_bytes: 1 << 20,
        reorder_messages: 4,
        rto_ms: RTO,
        max_message: 1400,
    }
}

/// A refresh of a session told apart by `i`.
fn rec(i: u16) -> Record {
    Record::Refresh {
        time: 1,
        key: Key4 {
            proto: Proto::Udp,
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 1000 + i),
            remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 53),
        },
    }
}

type Msgs = Vec<Vec<u8>>;

/// Sends one message per record.
fn send(s: &mut Sender, ids: std::ops::Range<u16>, now: u64) -> Msgs {
    let mut out = Msgs::new();
    for i in ids {
        let _ = s.send_events(&[rec(i)], now, &mut |m| out.push(m.to_vec()));
    }
    out
}

fn poll_r(r: &mut Receiver, now: u64) -> Msgs {
    let mut out = Msgs::new();
    r.poll(now, &mut |m| out.push(m.to_vec()));
    out
}

fn poll_s(s: &mut Sender, now: u64) -> Msgs {
    let mut out = Msgs::new();
    s.poll(now, &mut |m| out.push(m.to_vec()));
    out
}

/// Feeds `msgs` to the receiver; the records applied, `Clear` as None.
fn give(r: &mut Receiver, msgs: &[Vec<u8>]) -> Vec<Option<Record>> {
    let mut steps = Vec::new();
    for m in msgs {
        r.receive(m, 0, &mut steps).unwrap();
    }
    flat(steps)
}

fn flat(steps: Vec<Step>) -> Vec<Option<Record>> {
    let mut v = Vec::new();
    for s in steps {
        match s {
            Step::Clear => v.push(None),
            Step::Apply(recs) => v.extend(recs.into_iter().map(Some)),
            Step::DumpDone => {}
        }
    }
    v
}

fn recs(ids: std::ops::Range<u16>) -> Vec<Option<Record>> {
    ids.map(|i| Some(rec(i))).collect()
}

/// Feeds the standby's control messages to the sender; its replies and
/// what it sent again.
fn answer(s: &mut Sender, ctl: &[Vec<u8>], now: u64) -> (Vec<Reply>, Msgs) {
    let mut out = Msgs::new();
    let replies = ctl
        .iter()
        .map(|m| s.receive(m, now, &mut |x| out.push(x.to_vec())).unwrap())
        .collect();
    (replies, out)
}

fn kinds(msgs: &[Vec<u8>]) -> Vec<Kind> {
    msgs.iter().map(|m| read_header(m).unwrap().kind).collect()
}

/// A sender and a receiver that went through the first (empty) dump.
fn synced() -> (Sender, Receiver) {
    let mut s = Sender::new(0, key(), ACTIVE, cfg());
    let mut r = Receiver::new(0, key(), STANDBY, cfg());
    let ask = poll_r(&mut r, 0);
    assert_eq!(answer(&mut s, &ask, 0).0, vec![Reply::DumpNeeded]);
    let mut dump = Msgs::new();
    s.send_dump(vec![], 0, &mut |m| dump.push(m.to_vec()));
    assert_eq!(give(&mut r, &dump), vec![None]);
    answer(&mut s, &poll_r(&mut r, 0), 0);
    assert!(r.in_sync());
    assert_eq!(s.in_flight(), 0);
    (s, r)
}

#[test]
fn fresh_receiver_asks_for_a_dump_and_follows_the_stream_after_it() {
    let mut s = Sender::new(0, key(), ACTIVE, cfg());
    let mut r = Receiver::new(0, key(), STANDBY, cfg());
    // Events before the dump are held, then superseded by it.
    let early = send(&mut s, 0..2, 0);
    assert_eq!(give(&mut r, &early), vec![]);
    let ask = poll_r(&mut r, 0);
    assert_eq!(kinds(&ask), vec![Kind::DumpRequest]);
    assert_eq!(answer(&mut s, &ask, 0).0, vec![Reply::DumpNeeded]);
    assert!(s.dump_wanted());
    let mut dump = Msgs::new();
    let records: Vec<Record> = (10..200).map(rec).collect();
    s.send_dump(records, 0, &mut |m| dump.push(m.to_vec()));
    assert!(!s.dump_wanted());
    let k = kinds(&dump);
    assert_eq!((k[0], k[k.len() - 1]), (Kind::DumpFirst, Kind::DumpLast));
    assert!(k[1..k.len() - 1].iter().all(|&k| k == Kind::DumpPart));
    let later = send(&mut s, 2..3, 0);
    let mut want = vec![None];
    want.extend(recs(10..200));
    want.extend(recs(2..3));
    assert_eq!(give(&mut r, &[dump, later].concat()), want);
    assert!(r.in_sync());
    assert_eq!(r.counters.dumps, 1);
    assert_eq!(r.counters.gaps_detected, 0);
}

#[test]
fn an_empty_dump_is_a_first_and_a_last_message() {
    let mut s = Sender::new(0, key(), ACTIVE, cfg());
    let mut dump = Msgs::new();
    s.send_dump(vec![], 0, &mut |m| dump.push(m.to_vec()));
    assert_eq!(kinds(&dump), vec![Kind::DumpFirst, Kind::DumpLast]);
    assert_eq!(s.counters.dumps, 1);
}

#[test]
fn in_order_events_are_applied_acked_and_the_ack_empties_the_window() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..3, 10);
    assert_eq!(s.in_flight(), 3);
    assert_eq!(give(&mut r, &m), recs(0..3));
    let ack = poll_r(&mut r, 10);
    assert_eq!(kinds(&ack), vec![Kind::Ack]);
    answer(&mut s, &ack, 10);
    assert_eq!((s.in_flight(), s.acked(), s.last_seq()), (0, 5, 5));
    // Nothing new, no ack until the keepalive.
    assert!(poll_r(&mut r, 20).is_empty());
    assert_eq!(
        kinds(&poll_r(&mut r, 10 + ACK_KEEPALIVE_RTOS * RTO)),
        vec![Kind::Ack]
    );
}

#[test]
fn replayed_message_is_refused_and_changes_nothing() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..2, 0);
    give(&mut r, &m);
    let before = (r.applied_seq(), r.counters.applied);
    let mut steps = Vec::new();
    let e = r.receive(&m[0], 0, &mut steps).unwrap_err();
    assert_eq!(e, SyncError::Replay { seq: 3, last: 4 });
    assert!(steps.is_empty());
    assert_eq!((r.applied_seq(), r.counters.applied), before);
    assert_eq!(r.counters.refused.replay, 1);
}

#[test]
fn forged_message_is_refused_and_changes_nothing() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..1, 0).remove(0);
    let mut forged = m.clone();
    forged[HEADER_LEN + 5] ^= 1; // a record byte
    let other = Key::new(&[9; 32]).unwrap();
    let mut foreign = m[..m.len() - auth::TRAILER_LEN].to_vec();
    other.seal(ACTIVE, &mut foreign);
    let mut steps = Vec::new();
    for f in [&forged, &foreign] {
        assert_eq!(r.receive(f, 0, &mut steps).unwrap_err(), SyncError::Mac);
    }
    assert!(steps.is_empty());
    assert_eq!(r.counters.refused.mac, 2);
    // The genuine one still applies: nothing moved.
    assert_eq!(give(&mut r, &[m]), recs(0..1));
}

#[test]
fn truncated_and_misrouted_messages_are_malformed() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..1, 0).remove(0);
    let mut steps = Vec::new();
    assert_eq!(
        r.receive(&m[..10], 0, &mut steps),
        Err(SyncError::Truncated)
    );
    let mut other = Sender::new(1, key(), ACTIVE, cfg());
    let w1 = send(&mut other, 0..1, 0).remove(0);
    assert!(matches!(
        r.receive(&w1, 0, &mut steps),
        Err(SyncError::Misrouted { worker: 1, .. })
    ));
    // An authentic record with a bad protocol byte.
    let mut bad = m[..m.len() - auth::TRAILER_LEN].to_vec();
    bad[HEADER_LEN + 3 + 4 + 2] = 99;
    key().seal(ACTIVE, &mut bad);
    assert_eq!(
        r.receive(&bad, 0, &mut steps),
        Err(SyncError::Field("protocol"))
    );
    assert_eq!(r.counters.refused.malformed, 3);
    assert!(steps.is_empty());
    assert_eq!(give(&mut r, &[m]), recs(0..1));
}

#[test]
fn message_from_the_actives_earlier_life_is_refused() {
    let (mut s, mut r) = synced();
    let mut old = Sender::new(0, key(), ACTIVE - 1, cfg());
    let m = send(&mut old, 0..1, 0);
    let mut steps = Vec::new();
    assert!(matches!(
        r.receive(&m[0], 0, &mut steps),
        Err(SyncError::StaleEpoch { .. })
    ));
    assert_eq!(r.counters.refused.replay, 1);
    assert_eq!(give(&mut r, &send(&mut s, 0..1, 0)), recs(0..1));
}

#[test]
fn actives_new_life_voids_the_stream_and_asks_for_a_dump() {
    let (_, mut r) = synced();
    let mut reborn = Sender::new(0, key(), ACTIVE + 1, cfg());
    assert_eq!(give(&mut r, &send(&mut reborn, 0..1, 0)), vec![]);
    assert!(!r.in_sync());
    // No base in the new life: nothing to acknowledge yet.
    assert_eq!(kinds(&poll_r(&mut r, 0)), vec![Kind::DumpRequest]);
}

#[test]
fn reordered_messages_are_held_and_applied_in_order() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..3, 0);
    assert_eq!(give(&mut r, &[m[2].clone()]), vec![]);
    assert_eq!(r.missing(), 2);
    assert_eq!(give(&mut r, &[m[0].clone(), m[1].clone()]), recs(0..3));
    let c = r.counters;
    assert_eq!(
        (c.gaps_detected, c.gaps_recovered, c.gaps_unrecovered),
        (2, 2, 0)
    );
    // A second copy of a held message is a duplicate, not applied twice.
    let m = send(&mut s, 3..5, 0);
    give(&mut r, &[m[1].clone(), m[1].clone()]);
    assert_eq!(r.counters.duplicates, 1);
    assert_eq!(give(&mut r, &[m[0].clone()]), recs(3..5));
}

#[test]
fn lost_message_is_nacked_and_resent_from_the_window() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..4, 0);
    give(&mut r, &[m[0].clone(), m[2].clone(), m[3].clone()]);
    // Not before the reorder grace.
    assert_eq!(kinds(&poll_r(&mut r, GRACE - 1)), vec![Kind::Ack]);
    let ctl = poll_r(&mut r, GRACE);
    assert_eq!(kinds(&ctl), vec![Kind::Nack]);
    let (replies, resent) = answer(&mut s, &ctl, GRACE);
    assert_eq!(replies, vec![Reply::Done]);
    assert_eq!(resent, vec![m[1].clone()]);
    assert_eq!(give(&mut r, &resent), recs(1..4));
    assert_eq!(s.counters.resent, 1);
    assert_eq!(r.counters.gaps_recovered, 1);
    // No gap left: no more requests.
    assert_eq!(kinds(&poll_r(&mut r, GRACE + RTO)), vec![Kind::Ack]);
}

#[test]
fn a_nack_is_repeated_after_the_retransmit_timeout() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..3, 0);
    give(&mut r, &[m[0].clone(), m[2].clone()]);
    assert_eq!(kinds(&poll_r(&mut r, GRACE)), vec![Kind::Nack, Kind::Ack]);
    assert!(poll_r(&mut r, GRACE + RTO - 1).is_empty());
    assert_eq!(kinds(&poll_r(&mut r, GRACE + RTO)), vec![Kind::Nack]);
    assert_eq!(r.counters.nacks, 2);
}

#[test]
fn lost_last_message_is_resent_on_timeout() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..2, 0);
    give(&mut r, &m[..1]);
    answer(&mut s, &poll_r(&mut r, 1), 1);
    assert!(poll_s(&mut s, RTO - 1).is_empty());
    let again = poll_s(&mut s, RTO);
    assert_eq!(again, vec![m[1].clone()]);
    assert_eq!(give(&mut r, &again), recs(1..2));
}

#[test]
fn heartbeats_last_seq_reveals_a_lost_last_message() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..2, 0);
    give(&mut r, &m[..1]);
    r.peer_sent(ACTIVE, s.last_seq(), 1);
    // Not yet: it may be in flight.
    assert_eq!(r.missing(), 0);
    assert!(poll_r(&mut r, 2)
        .iter()
        .all(|m| read_header(m).unwrap().kind != Kind::Nack));
    let ctl = poll_r(&mut r, 1 + RTO);
    assert_eq!(r.missing(), 1);
    let (_, resent) = answer(&mut s, &ctl, 1);
    assert_eq!(give(&mut r, &resent), recs(1..2));
    // Another life's numbers say nothing about this one.
    r.peer_sent(ACTIVE + 1, 99, 500);
    poll_r(&mut r, 1000);
    assert_eq!(r.missing(), 0);
}

#[test]
fn full_window_evicts_the_oldest_and_never_drops_an_event() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..10, 0);
    assert_eq!(m.len(), 10);
    assert_eq!((s.in_flight(), s.counters.evicted), (8, 2));
    assert_eq!(give(&mut r, &m), recs(0..10));
    // By bytes as well.
    let mut small = Sender::new(
        0,
        key(),
        ACTIVE,
        StreamConfig {
            window_bytes: 200,
            ..cfg()
        },
    );
    send(&mut small, 0..4, 0);
    assert_eq!((small.in_flight(), small.counters.evicted), (2, 2));
}

#[test]
fn requested_message_that_left_the_window_answers_dump_needed_once() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..10, 0);
    give(&mut r, &m[2..4]);
    let ctl = poll_r(&mut r, GRACE);
    assert_eq!(kinds(&ctl), vec![Kind::Nack]);
    assert_eq!(answer(&mut s, &ctl, GRACE).0, vec![Reply::DumpNeeded]);
    let ctl = poll_r(&mut r, GRACE + RTO);
    assert_eq!(answer(&mut s, &ctl, GRACE + RTO).0, vec![Reply::Done]);
    assert_eq!(s.counters.window_overflows, 1);
}

#[test]
fn dump_first_is_a_resync_point_over_a_gap() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..4, 0);
    give(&mut r, &[m[0].clone(), m[2].clone()]);
    let mut dump = Msgs::new();
    s.send_dump(vec![rec(50)], 1, &mut |x| dump.push(x.to_vec()));
    let after = send(&mut s, 60..61, 1);
    assert_eq!(
        give(&mut r, &[after, dump].concat()),
        vec![None, Some(rec(50)), Some(rec(60))]
    );
    // Seen missing: 4 and 6 (never came: lost, replaced by the dump), and
    // the dump's own 7 and 8 (arrived after 9).
    let c = r.counters;
    assert_eq!(
        (c.gaps_detected, c.gaps_recovered, c.gaps_unrecovered),
        (4, 2, 2)
    );
    assert!(r.in_sync());
    // What came before the dump is covered by it: nothing to resend, no
    // dump needed; from the dump on, the window has it.
    let (replies, resent) = answer(&mut s, &[nack(1, vec![(4, 6)])], 2);
    assert_eq!((replies, resent), (vec![Reply::Done], vec![]));
    let (_, resent) = answer(&mut s, &[nack(2, vec![(4, 9)])], 2);
    assert_eq!(kinds(&resent), vec![Kind::DumpFirst, Kind::DumpLast]);
}

/// A resend request as the standby (epoch STANDBY) would send it.
fn nack(counter: u64, ranges: Vec<(u64, u64)>) -> Vec<u8> {
    let mut m = Vec::new();
    Control::Nack {
        stream_epoch: ACTIVE,
        ranges,
    }
    .encode(0, counter + 1_000, &mut m);
    key().seal(STANDBY, &mut m);
    m
}

#[test]
fn gap_older_than_the_window_asks_for_a_dump_without_nacking() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..12, 0);
    give(&mut r, &m[11..]);
    assert_eq!(kinds(&poll_r(&mut r, GRACE)), vec![Kind::DumpRequest]);
    assert_eq!(r.counters.nacks, 0);
    assert!(!r.in_sync());
    // Asked again only after DUMP_RETRY_RTOS.
    assert!(poll_r(&mut r, GRACE + 1)
        .iter()
        .all(|m| read_header(m).unwrap().kind != Kind::DumpRequest));
    assert_eq!(
        kinds(&poll_r(&mut r, GRACE + DUMP_RETRY_RTOS * RTO))[0],
        Kind::DumpRequest
    );
}

#[test]
fn unanswered_nacks_end_in_a_dump_request() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..2, 0);
    give(&mut r, &m[1..]);
    let mut now = GRACE;
    for _ in 0..MAX_NACK_ROUNDS {
        assert_eq!(kinds(&poll_r(&mut r, now))[0], Kind::Nack);
        now += RTO;
    }
    assert_eq!(kinds(&poll_r(&mut r, now))[0], Kind::DumpRequest);
    // The missing message turns up after all: the stream goes on.
    assert_eq!(give(&mut r, &m[..1]), recs(0..2));
    assert!(r.in_sync());
}

#[test]
fn reorder_buffer_is_bounded() {
    let (mut s, mut r) = synced();
    let m = send(&mut s, 0..7, 0);
    give(&mut r, &m[1..7]);
    assert_eq!(r.counters.reorder_dropped, 2);
    assert_eq!(r.missing(), 3);
    assert_eq!(r.counters.gaps_detected, 3);
    assert_eq!(give(&mut r, &m[..1]), recs(0..5));
    let (_, resent) = answer(&mut s, &poll_r(&mut r, GRACE), GRACE);
    assert_eq!(give(&mut r, &resent), recs(5..7));
    let c = r.counters;
    assert_eq!((c.gaps_detected, c.gaps_recovered, r.missing()), (3, 3, 0));
}

#[test]
fn sender_refuses_forged_replayed_and_impossible_control_messages() {
    let (mut s, _) = synced();
    send(&mut s, 0..2, 0);
    let n = nack(1, vec![(4, 5)]);
    let mut sink = |_: &[u8]| {};
    assert_eq!(s.receive(&n, 0, &mut sink), Ok(Reply::Done));
    assert_eq!(s.counters.resent, 1);
    assert!(matches!(
        s.receive(&n, 0, &mut sink),
        Err(SyncError::Replay { .. })
    ));
    let mut f = n.clone();
    f[HEADER_LEN] ^= 1;
    assert_eq!(s.receive(&f, 0, &mut sink), Err(SyncError::Mac));
    // Beyond what was sent.
    assert_eq!(
        s.receive(&nack(2, vec![(4, 9)]), 0, &mut sink),
        Err(SyncError::Field("resend range beyond the last sent"))
    );
    let mut ack = Vec::new();
    Control::Ack {
        stream_epoch: ACTIVE,
        seq: 7,
    }
    .encode(0, 2_000, &mut ack);
    key().seal(STANDBY, &mut ack);
    assert!(matches!(
        s.receive(&ack, 0, &mut sink),
        Err(SyncError::Field(_))
    ));
    let c = s.counters;
    assert_eq!(
        (c.refused.mac, c.refused.replay, c.refused.malformed),
        (1, 1, 2)
    );
    assert_eq!((c.resent, s.acked(), s.in_flight()), (1, 2, 2));
}

#[test]
fn a_dump_is_paced_by_the_window_and_events_follow_its_last_part() {
    let (mut s, mut r) = synced();
    let mut out = Msgs::new();
    // 8 messages of room; the dump needs about 20 (refreshes of one
    // second travel 13 bytes each).
    let records: Vec<Record> = (0..2000).map(rec).collect();
    s.send_dump(records, 0, &mut |m| out.push(m.to_vec()));
    assert_eq!(out.len(), 8);
    assert!(s.dumping());
    // An event recorded meanwhile waits behind the dump.
    assert_eq!(
        s.send_events(&[rec(999)], 0, &mut |m| out.push(m.to_vec())),
        Reply::Done
    );
    assert_eq!(out.len(), 8);
    let mut applied = give(&mut r, &out);
    // Each ack makes room for more.
    let mut now = 0;
    while s.in_flight() > 0 {
        now += 1;
        let mut more = Msgs::new();
        answer(&mut s, &poll_r(&mut r, now), now);
        s.poll(now, &mut |m| more.push(m.to_vec()));
        applied.extend(give(&mut r, &more));
        answer(&mut s, &poll_r(&mut r, now), now);
    }
    let mut want = vec![None];
    want.extend(recs(0..2000));
    want.push(Some(rec(999)));
    assert_eq!(applied, want);
    assert_eq!((s.counters.evicted, r.counters.dumps), (0, 2));
    assert!(!s.dumping());
}

#[test]
fn events_overflowing_behind_a_dump_are_dropped_counted_and_need_a_new_dump() {
    let (mut s, _) = synced();
    let records: Vec<Record> = (0..2000).map(rec).collect();
    s.send_dump(records, 0, &mut |_| {});
    let cap = cfg().window_messages * sender::HELD_EVENTS_PER_WINDOW_MESSAGE;
    let many: Vec<Record> = (0..cap as u16).map(rec).collect();
    assert_eq!(s.send_events(&many, 0, &mut |_| {}), Reply::Done);
    assert_eq!(s.send_events(&[rec(1)], 0, &mut |_| {}), Reply::DumpNeeded);
    assert_eq!(s.counters.events_dropped, cap as u64 + 1);
    assert!(s.dump_wanted());
}

#[test]
fn a_dump_request_crossing_the_dump_going_out_starts_no_other() {
    let (mut s, _) = synced();
    s.send_dump(vec![rec(1)], 0, &mut |_| {});
    let mut req = Vec::new();
    Control::DumpRequest.encode(0, 5_000, &mut req);
    key().seal(STANDBY, &mut req);
    assert_eq!(s.receive(&req, 0, &mut |_| {}), Ok(Reply::Done));
    // From a new life of the standby, it does.
    let mut req = Vec::new();
    Control::DumpRequest.encode(0, 1, &mut req);
    key().seal(STANDBY + 1, &mut req);
    assert_eq!(s.receive(&req, 0, &mut |_| {}), Ok(Reply::DumpNeeded));
}
