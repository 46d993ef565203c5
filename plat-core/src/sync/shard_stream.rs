//! The NAT state's event stream through the sync wire format: what a
//! shard emits survives encoding, and a standby fed it (or a bulk dump)
//! mirrors the active shard. Here rather than in `nat`'s tests because
//! `sync` reads `nat`, never the reverse.

use crate::nat::tests::*;
use crate::nat::*;

#[test]
fn sync_events_cover_create_refresh_delete_and_dump() {
    let mut c = cfg();
    c.sync_refresh_interval = 10;
    let mut s = shard_with(with_events(c));
    let f = t6(Proto::Udp, "2001:db8::1", 5000, Z, 53);
    s.v6_session(&f, NO, at(1)).unwrap();
    s.v6_session(&f, NO, at(5)).unwrap(); // same 10 s window: no refresh event
    s.v6_session(&f, NO, at(12)).unwrap();
    let mut dump = Vec::new();
    s.dump(at(12), &mut dump);
    assert_eq!(dump.len(), 2);
    expire_all(&mut s, at(1000));
    let ev: Vec<Record> = s.drain_events().collect();
    let kinds: Vec<&str> = ev
        .iter()
        .map(|e| match e {
            Record::BibCreate(_) => "bib+",
            Record::SessionCreate(_) => "ses+",
            Record::Refresh { .. } => "refresh",
            Record::SessionDelete(_) => "ses-",
            Record::BibDelete(_) => "bib-",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["bib+", "ses+", "refresh", "ses-", "bib-"]);
    let log = ev[1].binding_log(false).unwrap();
    assert_eq!(log.v6, Endpoint6::new(a6("2001:db8::1"), 5000));
    assert_eq!(log.v4, T);
    // And the records survive the wire.
    let mut buf = Vec::new();
    super::encode_message(1, 0, super::Kind::Events, &ev, 1500, &mut buf);
    assert_eq!(super::decode_message(&buf).unwrap().1, ev);
}

// ----- HA: a standby fed the event stream mirrors the active shard -----

fn mirror_view(s: &Shard) -> Vec<(Proto, Endpoint6, Endpoint4, Endpoint4, TcpState, TimerClass)> {
    let mut v: Vec<_> = s
        .sessions(SessionFilter::default())
        .map(|i| (i.proto, i.v6, i.v4, i.remote, i.state, i.timer))
        .collect();
    v.sort_by_key(|x| (x.0, x.2, x.3));
    v
}

#[test]
fn sync_stream_and_bulk_dump_rebuild_the_standby() {
    let mut c = cfg();
    c.filtering = Filtering::Eif;
    c.sync_refresh_interval = 30;
    let mut active = shard_with(with_events(c));
    let mut standby = shard_with(c);
    active
        .add_static_bib(
            Proto::Tcp,
            Endpoint6::new(a6("2001:db8::80"), 80),
            Endpoint4::new(T, 8080),
            at(0),
        )
        .unwrap();
    to6(active.v4_session(
        &t4(Proto::Tcp, Z2, 5555, Endpoint4::new(T, 8080)),
        SYN,
        at(1),
    ));
    established(&mut active, at(2));
    let m = out4(active.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(3)));
    to6(active.v4_session(&t4(Proto::Udp, Z2, 53, m), NO, at(4)));
    active
        .v6_session(&t6(Proto::Icmp, "2001:db8::2", 9, Z, 0), NO, at(5))
        .unwrap();
    active
        .v6_session(&t6(Proto::Udp, "2001:db8::3", 1, Z, 53), NO, at(6))
        .unwrap();
    out4(active.v6_session(&tcp(), FIN, at(40)));
    active.expire(at(100), usize::MAX, |_| {}); // the ICMP session goes

    // Through the wire format, message by message.
    let events: Vec<Record> = active.drain_events().collect();
    let mut buf = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let n = super::encode_message(
            i as u64,
            0,
            super::Kind::Events,
            &events[i..],
            256,
            &mut buf,
        );
        for r in super::decode_message(&buf).unwrap().1 {
            standby.apply(&r).unwrap();
        }
        i += n;
    }
    assert_eq!(mirror_view(&standby), mirror_view(&active));
    assert_eq!(standby.stats().bibs, active.stats().bibs);
    assert_eq!(
        standby
            .bib(SessionFilter::default())
            .filter(|b| b.is_static)
            .count(),
        1
    );
    // The standby translates the mirrored sessions after a failover.
    assert_eq!(
        out4(standby.v6_session(&t6(Proto::Udp, "2001:db8::1", 5000, Z, 53), NO, at(101))),
        m
    );
    // A joining standby gets the same from a bulk dump.
    let mut late = shard_with(c);
    let mut dump = Vec::new();
    active.dump(at(100), &mut dump);
    for r in &dump {
        late.apply(r).unwrap();
    }
    assert_eq!(mirror_view(&late), mirror_view(&active));
    // Both expire what the active expires.
    active.expire(at(10_000), usize::MAX, |_| {});
    late.expire(at(10_000), usize::MAX, |_| {});
    assert_eq!(mirror_view(&late), mirror_view(&active));
}

#[test]
fn port_blocks_and_their_subscribers_carry_over_by_stream_and_by_dump() {
    let mut c = cfg();
    c.port_block = 64;
    c.limits.ports_per_subscriber = 256;
    let mut active = shard_with(with_events(c));
    let mut streamed = shard_with(c);
    let m1 = out4(active.v6_session(&t6(Proto::Udp, "2001:db8::1", 4000, Z, 53), NO, at(0)));
    let m2 = out4(active.v6_session(&t6(Proto::Udp, "2001:db8::1", 4001, Z, 53), NO, at(0)));
    let other = out4(active.v6_session(&t6(Proto::Udp, "2001:db8::2", 4000, Z, 53), NO, at(0)));
    for r in active.drain_events() {
        streamed.apply(&r).unwrap();
    }
    let mut dumped = shard_with(c);
    let mut dump = Vec::new();
    active.dump(at(1), &mut dump);
    assert!(
        matches!(dump[0], Record::BlockAlloc(_)),
        "blocks come first"
    );
    for r in &dump {
        dumped.apply(r).unwrap();
    }
    let block = |s: &Shard, m: Endpoint4| s.who(m, Some(Proto::Udp))[0].block;
    for standby in [&mut streamed, &mut dumped] {
        assert_eq!(mirror_view(standby), mirror_view(&active));
        for m in [m1, m2, other] {
            assert_eq!(block(standby, m), block(&active, m), "{m}");
            assert!(block(standby, m).is_some());
        }
        // After a failover the subscriber's next flow takes a port of the
        // same block on the same address, as it would on the active.
        let next = out4(standby.v6_session(&t6(Proto::Udp, "2001:db8::1", 4002, Z, 53), NO, at(2)));
        assert_eq!(next.addr, m1.addr);
        assert_eq!(block(standby, next), block(&active, m1));
        // The block goes back to the pool once its flows are gone.
        standby.expire(at(10_000), usize::MAX, |_| {});
        assert!(standby.who(m1, Some(Proto::Udp)).is_empty());
    }
    // BlockFree from the stream frees the mirrored block.
    expire_all(&mut active, at(10_000));
    let mut frees = 0;
    for r in active.drain_events() {
        frees += usize::from(matches!(r, Record::BlockFree(_)));
        let _ = streamed.apply(&r);
    }
    assert_eq!(frees, 2);
}
