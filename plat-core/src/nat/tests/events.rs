//! What a shard reports beyond its verdicts: the RFC 8158 alarms (at most
//! one per kind a second), the per-block records of RFC 6888 REQ-14, and
//! who holds a pool4 transport address.

use super::*;

/// The alarms of `s`'s events since the last drain.
fn alarms(s: &mut Shard) -> Vec<Record> {
    s.drain_events()
        .filter(|e| {
            matches!(
                e,
                Record::AddressesExhausted { .. }
                    | Record::PortsExhausted { .. }
                    | Record::QuotaExceeded { .. }
            )
        })
        .collect()
}

#[test]
fn rfc8158_addresses_exhausted_is_logged_once_a_second() {
    let mut s = Shard::new(with_events(cfg()), PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(5000, 5001)))
        .unwrap();
    for k in 1..=2 {
        s.v6_session(
            &t6(Proto::Udp, &format!("2001:db8::{k}"), 1, Z, 53),
            NO,
            at(0),
        )
        .unwrap();
    }
    s.drain_events().for_each(drop);
    for k in 3..=10 {
        let r = s.v6_session(
            &t6(Proto::Udp, &format!("2001:db8::{k}"), 1, Z, 53),
            NO,
            at(7),
        );
        assert_eq!(r.unwrap_err(), NatDrop::PoolExhausted);
    }
    // The paired address is out of ports, and so is every other one.
    assert_eq!(
        alarms(&mut s),
        vec![
            Record::PortsExhausted {
                time: 7,
                proto: Proto::Udp,
                v4: T
            },
            Record::AddressesExhausted {
                time: 7,
                proto: Proto::Udp
            }
        ],
        "eight refusals in one second, one record of each"
    );
    let r = s.v6_session(&t6(Proto::Udp, "2001:db8::b", 1, Z, 53), NO, at(8));
    assert!(r.is_err());
    assert_eq!(alarms(&mut s).len(), 2, "the next second, the next records");
    assert_eq!(s.drops()[NatDrop::PoolExhausted as usize], 9);
}

#[test]
fn rfc8158_ports_exhausted_names_the_paired_address() {
    let mut s = Shard::new(with_events(cfg()), PortShare::All, KEY).unwrap();
    let range = PortRange::new(5000, 5001);
    s.add_pool4(Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 0), 31).with_range(Proto::Udp, range))
        .unwrap();
    // One subscriber takes both ports of its paired address, then one
    // more: the allocation falls back to the other address.
    let mut addrs = Vec::new();
    for p in 0..3 {
        addrs.push(
            out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 100 + p, Z, 53), NO, at(3))).addr,
        );
    }
    let paired = addrs[0];
    assert_ne!(addrs[2], paired);
    assert_eq!(
        alarms(&mut s),
        vec![Record::PortsExhausted {
            time: 3,
            proto: Proto::Udp,
            v4: paired
        }]
    );
}

#[test]
fn rfc8158_quota_exceeded_names_the_limit_and_the_subscriber() {
    let mut c = with_events(cfg());
    c.limits.subscriber_prefix_len = 64;
    c.limits.sessions_per_subscriber = 2;
    let mut s = shard_with(c);
    for p in 0..2 {
        s.v6_session(
            &t6(Proto::Udp, "2001:db8:0:1::a", 100 + p, Z, 53),
            NO,
            at(0),
        )
        .unwrap();
    }
    let e = s
        .v6_session(&t6(Proto::Udp, "2001:db8:0:1::b", 100, Z, 53), NO, at(0))
        .unwrap_err();
    assert_eq!(e, NatDrop::SubscriberSessionLimit);
    let want = Record::QuotaExceeded {
        time: 0,
        quota: Quota::EntriesPerUser,
        limit: 2,
        subscriber: Some(a6("2001:db8:0:1::")),
    };
    assert_eq!(alarms(&mut s), vec![want]);
    assert_eq!(Quota::EntriesPerUser.code(), 3);

    // A full table is a quota of the whole shard: no subscriber.
    let mut c = with_events(cfg());
    c.limits.sessions = 2;
    let mut s = shard_with(c);
    for p in 0..2 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 100 + p, Z, 53), NO, at(0))
            .unwrap();
    }
    assert!(s
        .v6_session(&t6(Proto::Udp, "2001:db8::1", 200, Z, 53), NO, at(0))
        .is_err());
    assert_eq!(
        alarms(&mut s),
        vec![Record::QuotaExceeded {
            time: 0,
            quota: Quota::SessionEntries,
            limit: 2,
            subscriber: None
        }]
    );
}

#[test]
fn rfc6888_req_14_a_block_log_builds_no_per_flow_records() {
    let mut c = with_events(cfg());
    c.port_block = 64;
    c.limits.ports_per_subscriber = 256;
    c.binding_events = false;
    let mut s = shard_with(c);
    for p in 0..3 {
        s.v6_session(&t6(Proto::Udp, "2001:db8::1", 100 + p, Z, 53), NO, at(0))
            .unwrap();
    }
    expire_all(&mut s, at(1000));
    let kinds: Vec<_> = s
        .drain_events()
        .map(|e| matches!(e, Record::BlockAlloc(_) | Record::BlockFree(_)))
        .collect();
    assert_eq!(
        kinds,
        vec![true, true],
        "one block given and taken back, nothing else"
    );
}

#[test]
fn alarms_are_off_with_events() {
    let mut s = Shard::new(cfg(), PortShare::All, KEY).unwrap();
    s.add_pool4(Pool4Entry::new(T, 32).with_range(Proto::Udp, PortRange::new(5000, 5000)))
        .unwrap();
    s.v6_session(&t6(Proto::Udp, "2001:db8::1", 1, Z, 53), NO, at(0))
        .unwrap();
    assert!(s
        .v6_session(&t6(Proto::Udp, "2001:db8::2", 1, Z, 53), NO, at(0))
        .is_err());
    assert_eq!(s.drain_events().count(), 0);
}

#[test]
fn who_holds_a_pool4_transport_address() {
    let mut s = shard_with(with_events(cfg()));
    let m = out4(s.v6_session(&t6(Proto::Tcp, "2001:db8::1", 4000, Z, 80), SYN, at(0)));
    let who = s.who(m, None);
    assert_eq!(who.len(), 1);
    assert_eq!(who[0].proto, Proto::Tcp);
    assert_eq!(who[0].subscriber.to_string(), "2001:db8::1/128");
    assert_eq!(who[0].bib.as_ref().unwrap().v6.port, 4000);
    assert_eq!(who[0].block, None);
    assert!(s.who(m, Some(Proto::Udp)).is_empty());
    assert!(
        s.who(Endpoint4::new(Z, 80), None).is_empty(),
        "not a pool4 address"
    );
}

#[test]
fn who_names_the_owner_of_a_port_block_between_flows() {
    let mut c = with_events(cfg());
    c.port_block = 64;
    c.limits.ports_per_subscriber = 256;
    let mut s = shard_with(c);
    let m = out4(s.v6_session(&t6(Proto::Udp, "2001:db8::1", 4000, Z, 53), NO, at(0)));
    // Another port of the same block, not in use: the block still names
    // its holder.
    let blocks = s.who(m, Some(Proto::Udp));
    let b = blocks[0].block.unwrap();
    let other = if m.port == b.first { b.last } else { b.first };
    let who = s.who(Endpoint4::new(m.addr, other), Some(Proto::Udp));
    assert_eq!(who.len(), 1);
    assert_eq!(who[0].bib, None);
    assert_eq!(who[0].subscriber.to_string(), "2001:db8::1/128");
    assert_eq!(b.last - b.first + 1, 64);
}
