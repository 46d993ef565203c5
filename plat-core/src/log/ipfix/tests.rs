use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::log::NatEvent;
use crate::nat::Proto;
use crate::nat::{BibRec, BlockRec, Endpoint4, Endpoint6, Key4, SessionRec, TcpState};

/// 2026-12-05T07:00:00.123Z.
const T: u64 = 1_796_454_000_123;

fn prefix() -> Prefix6052 {
    "2001:db8:64::/96".parse().unwrap()
}

fn exporter(include_destination: bool, max_message_len: usize) -> IpfixExporter {
    IpfixExporter::new(
        IpfixOptions {
            observation_domain: 7,
            max_message_len,
            include_destination,
            template_refresh_ms: 60_000,
        },
        prefix(),
    )
}

fn session(port: u16) -> SessionRec {
    SessionRec {
        time: 99,
        proto: Proto::Tcp,
        v6: Endpoint6::new("2001:db8::5".parse().unwrap(), 40000),
        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), port),
        remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 7), 443),
        state: TcpState::V6Init,
    }
}

fn block(first: u16) -> BlockRec {
    BlockRec {
        time: 99,
        proto: Proto::Udp,
        subscriber: "2001:db8:0:100::".parse().unwrap(),
        prefix_len: 56,
        v4: Ipv4Addr::new(192, 0, 2, 9),
        block: 3,
        first,
        last: first + 127,
        size: 128,
    }
}

fn ev(unix_ms: u64, record: Record) -> LogEvent {
    LogEvent {
        unix_ms,
        worker: 1,
        record,
    }
}

/// Every message `f` makes the exporter emit, with its record count.
fn collect(f: impl FnOnce(&mut dyn FnMut(&[u8], usize))) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    f(&mut |m: &[u8], n: usize| out.push((m.to_vec(), n)));
    out
}

fn export(x: &mut IpfixExporter, events: &[LogEvent], now: u64) -> Vec<(Vec<u8>, usize)> {
    collect(|emit| x.export(events, now, emit))
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A message as a collector reads it.
#[derive(Debug, Default)]
struct Decoded {
    len: u16,
    export_s: u32,
    sequence: u32,
    domain: u32,
    /// Template records: ID -> (element ID, length) in order.
    templates: Vec<(u16, Vec<(u16, u16)>)>,
    /// Data records: (template ID, record bytes).
    records: Vec<(u16, Vec<u8>)>,
}

/// A small, strict RFC 7011 reader: every length must add up, a data set
/// must hold whole records of a template this stream announced, and no
/// padding is expected (the exporter writes none).
fn decode(msg: &[u8], known: &mut HashMap<u16, Vec<(u16, u16)>>) -> Decoded {
    assert!(msg.len() >= 16, "short message");
    let mut d = Decoded {
        len: be16(&msg[2..]),
        export_s: be32(&msg[4..]),
        sequence: be32(&msg[8..]),
        domain: be32(&msg[12..]),
        ..Decoded::default()
    };
    assert_eq!(be16(msg), 10, "version");
    assert_eq!(usize::from(d.len), msg.len(), "message length");
    let mut at = 16;
    while at < msg.len() {
        let (id, len) = (be16(&msg[at..]), usize::from(be16(&msg[at + 2..])));
        assert!(len > 4 && at + len <= msg.len(), "set length {len} at {at}");
        let body = &msg[at + 4..at + len];
        if id == 2 {
            let mut t = 0;
            while t < body.len() {
                let (tid, n) = (be16(&body[t..]), usize::from(be16(&body[t + 2..])));
                assert!(tid >= 256);
                let fields: Vec<(u16, u16)> = (0..n)
                    .map(|i| {
                        let f = &body[t + 4 + 4 * i..];
                        assert_eq!(f[0] & 0x80, 0, "no enterprise bit");
                        (be16(f), be16(&f[2..]))
                    })
                    .collect();
                t += 4 + 4 * n;
                known.insert(tid, fields.clone());
                d.templates.push((tid, fields));
            }
            assert_eq!(t, body.len(), "template set length");
        } else {
            assert!(id >= 256, "set id {id}");
            let fields = known
                .get(&id)
                .unwrap_or_else(|| panic!("data set {id} before its template"));
            let rl: usize = fields.iter().map(|&(_, l)| usize::from(l)).sum();
            assert_eq!(body.len() % rl, 0, "data set {id} holds whole records");
            d.records.extend(body.chunks(rl).map(|r| (id, r.to_vec())));
        }
        at += len;
    }
    d
}

/// The fields of a record, by element ID.
fn fields(known: &HashMap<u16, Vec<(u16, u16)>>, tid: u16, rec: &[u8]) -> HashMap<u16, Vec<u8>> {
    let mut at = 0;
    known[&tid]
        .iter()
        .map(|&(id, len)| {
            let v = rec[at..at + usize::from(len)].to_vec();
            at += usize::from(len);
            (id, v)
        })
        .collect()
}

#[test]
fn rfc7011_3_and_rfc8158_session_create_message_bytes() {
    let mut x = exporter(false, 1472);
    // The templates first, in a message of their own.
    let t = collect(|emit| x.refresh_templates(T, emit));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].1, 0, "a template is no data record");
    let msgs = export(&mut x, &[ev(T, Record::SessionCreate(session(2050)))], T);
    assert_eq!(msgs.len(), 1);
    let (msg, n) = &msgs[0];
    assert_eq!(*n, 1);
    #[rustfmt::skip]
    let want: &[u8] = &[
        // RFC 7011 3.1 Message Header
        0x00, 0x0a,                         // Version 10
        0x00, 54,                           // Length: 16 + 4 + 34
        0x6b, 0x13, 0xb6, 0x70,             // Export Time 1796454000 s
        0x00, 0x00, 0x00, 0x00,             // Sequence Number: no data record before
        0x00, 0x00, 0x00, 0x07,             // Observation Domain ID
        // RFC 7011 3.3.2 Set Header
        0x01, 0x00,                         // Set ID 256: the session template
        0x00, 38,                           // Length: 4 + 34
        // The record, in template 256's order
        0x00, 0x00, 0x01, 0xa2, 0x45, 0x00, 0xa5, 0xfb, // observationTimeMilliseconds
        6,                                  // natEvent: NAT64 session create
        6,                                  // protocolIdentifier: TCP
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 5,             // sourceIPv6Address 2001:db8::5
        0x9c, 0x40,                         // sourceTransportPort 40000
        192, 0, 2, 1,                       // postNATSourceIPv4Address
        0x08, 0x02,                         // postNAPTSourceTransportPort 2050
    ];
    assert_eq!(msg.as_slice(), want);

    // The template record that describes it (RFC 7011 3.4.1).
    #[rustfmt::skip]
    let session_template: &[u8] = &[
        0x01, 0x00, 0x00, 7,    // Template ID 256, 7 fields
        0x01, 0x43, 0x00, 8,    // observationTimeMilliseconds (323), 8
        0x00, 0xe6, 0x00, 1,    // natEvent (230), 1
        0x00, 0x04, 0x00, 1,    // protocolIdentifier (4), 1
        0x00, 0x1b, 0x00, 16,   // sourceIPv6Address (27), 16
        0x00, 0x07, 0x00, 2,    // sourceTransportPort (7), 2
        0x00, 0xe1, 0x00, 4,    // postNATSourceIPv4Address (225), 4
        0x00, 0xe3, 0x00, 2,    // postNAPTSourceTransportPort (227), 2
    ];
    let tmsg = &t[0].0;
    assert_eq!(&tmsg[16..18], &[0, 2], "a Template Set");
    assert_eq!(&tmsg[20..20 + session_template.len()], session_template);
}

#[test]
fn rfc7011_10_3_6_templates_are_resent_after_the_refresh_interval() {
    let mut x = exporter(false, 1472);
    let mut known = HashMap::new();
    let one = [ev(T, Record::SessionCreate(session(1)))];
    let has_templates = |msgs: &[(Vec<u8>, usize)], known: &mut HashMap<_, _>| {
        msgs.iter()
            .any(|(m, _)| !decode(m, known).templates.is_empty())
    };
    // The first call sends them, at the head of its message.
    let first = export(&mut x, &one, T);
    assert_eq!(first.len(), 1);
    let d = decode(&first[0].0, &mut known);
    assert_eq!(d.templates.len(), 8, "every template in use");
    assert!(
        d.templates.iter().all(|(id, _)| *id != 257),
        "one session template"
    );
    assert_eq!(&first[0].0[16..18], &[0, 2], "templates first");
    assert_eq!(d.records.len(), 1);

    assert!(!has_templates(
        &export(&mut x, &one, T + 59_999),
        &mut known
    ));
    assert!(collect(|e| x.refresh_templates(T + 59_999, e)).is_empty());
    assert!(has_templates(&export(&mut x, &one, T + 60_000), &mut known));
    assert!(collect(|e| x.refresh_templates(T + 60_500, e)).is_empty());
    // Without events, refresh_templates sends them alone, and they do not
    // count as data records.
    let before = x.sequence();
    let alone = collect(|e| x.refresh_templates(T + 120_000, e));
    assert_eq!(alone.len(), 1);
    let d = decode(&alone[0].0, &mut known);
    assert_eq!((d.templates.len(), d.records.len(), alone[0].1), (8, 0, 0));
    assert_eq!(d.sequence, before);
    assert_eq!(x.sequence(), before);
    // A clock stepped back sends them again.
    assert!(has_templates(&export(&mut x, &one, T), &mut known));
}

#[test]
fn rfc7011_3_1_sequence_numbers_count_data_records_across_messages() {
    // Room for the header, a set header and 4 session records of 34.
    let mut x = exporter(false, 16 + 4 + 4 * 34);
    let mut known = HashMap::new();
    let events: Vec<LogEvent> = (0..10)
        .map(|i| ev(T + i, Record::SessionCreate(session(1000 + i as u16))))
        .chain([ev(
            T,
            Record::Refresh {
                time: 1,
                key: key(),
            },
        )])
        .collect();
    // The templates go first, alone (they need more than one message this
    // short), and carry sequence number 0.
    for (m, n) in collect(|e| x.refresh_templates(T, e)) {
        assert_eq!((decode(&m, &mut known).sequence, n), (0, 0));
    }
    let msgs = export(&mut x, &events, T);
    let mut sent = 0u32;
    let mut data_msgs = 0;
    for (m, n) in &msgs {
        let d = decode(m, &mut known);
        assert_eq!(d.sequence, sent, "records sent before this message");
        assert_eq!(d.records.len(), *n);
        sent += *n as u32;
        data_msgs += usize::from(*n > 0);
    }
    assert_eq!(sent, 10, "the refresh is not logged");
    assert_eq!(data_msgs, 3, "4 + 4 + 2");
    assert_eq!(x.sequence(), 10);
    let next = export(&mut x, &events[..1], T + 1);
    assert_eq!(decode(&next[0].0, &mut known).sequence, 10);

    // Modulo 2^32.
    x.sequence = u32::MAX - 1;
    let msgs = export(&mut x, &events[..4], T + 2);
    assert_eq!(decode(&msgs[0].0, &mut known).sequence, u32::MAX - 1);
    assert_eq!(x.sequence(), 2);
}

fn key() -> Key4 {
    Key4 {
        proto: Proto::Udp,
        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 1),
        remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 53),
    }
}

/// One of every record kind, varied by `i`.
fn mixed(i: u64) -> Record {
    let port = (i % 60_000) as u16 + 1024;
    match i % 11 {
        0 => Record::SessionCreate(session(port)),
        1 => Record::SessionDelete(session(port)),
        2 => Record::BibCreate(BibRec {
            time: 1,
            proto: Proto::Icmp,
            v6: Endpoint6::new("2001:db8::9".parse().unwrap(), 77),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 3), port),
            is_static: false,
        }),
        3 => Record::BibDelete(BibRec {
            time: 1,
            proto: Proto::Udp,
            v6: Endpoint6::new("2001:db8::9".parse().unwrap(), 53),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 3), port),
            is_static: true,
        }),
        4 => Record::BlockAlloc(block(port)),
        5 => Record::BlockFree(block(port)),
        6 => Record::AddressesExhausted {
            time: 1,
            proto: Proto::Tcp,
        },
        7 => Record::PortsExhausted {
            time: 1,
            proto: Proto::Udp,
            v4: Ipv4Addr::new(192, 0, 2, 4),
        },
        8 => Record::QuotaExceeded {
            time: 1,
            quota: [
                Quota::SessionEntries,
                Quota::EntriesPerUser,
                Quota::Subscribers,
            ][(i / 11 % 3) as usize],
            limit: 2000,
            subscriber: Some("2001:db8:0:200::".parse().unwrap()),
        },
        9 => Record::StateChange {
            time: 1,
            key: key(),
            state: TcpState::Established,
        },
        _ => Record::Refresh {
            time: 1,
            key: key(),
        },
    }
}

#[test]
fn rfc7011_no_message_exceeds_max_message_len_with_thousands_of_events() {
    for (dest, max) in [(false, 1472), (true, 1472), (true, 512), (false, 0)] {
        let mut x = exporter(dest, max);
        let max = x.max_message_len();
        let mut known = HashMap::new();
        let events: Vec<LogEvent> = (0..5000).map(|i| ev(T + i, mixed(i))).collect();
        let logged = events
            .iter()
            .filter(|e| NatEvent::of(&e.record).is_some())
            .count();
        let mut records = Vec::new();
        let mut rounds = 0;
        for (round, chunk) in events.chunks(700).enumerate() {
            // Templates come due again half way.
            let now = T + round as u64 * 10_000;
            for (m, n) in export(&mut x, chunk, now) {
                assert!(m.len() <= max, "{} > {max}", m.len());
                let d = decode(&m, &mut known);
                assert_eq!(d.sequence as usize, records.len());
                assert_eq!(d.domain, 7);
                assert_eq!(d.export_s, (now / 1000) as u32);
                assert_eq!(d.records.len(), n);
                records.extend(d.records);
            }
            rounds += 1;
        }
        assert_eq!(rounds, 8);
        assert_eq!(records.len(), logged, "every logged record, once");
        assert_eq!(x.sequence() as usize, logged);
        // In order, each with its own time and natEvent.
        let expect = events
            .iter()
            .filter_map(|e| NatEvent::of(&e.record).map(|k| (e.unix_ms, k.code())));
        for ((tid, rec), (ms, code)) in records.iter().zip(expect) {
            let f = fields(&known, *tid, rec);
            assert_eq!(f[&323], ms.to_be_bytes());
            assert_eq!(f[&230], [code]);
        }
    }
}

#[test]
fn rfc7011_max_message_len_is_kept_within_what_one_record_needs_and_16_bits() {
    let x = exporter(true, 10);
    assert_eq!(x.max_message_len(), MIN_MESSAGE_LEN);
    // The longest record: the session with its destination, 58 octets.
    assert_eq!(template::SESSION_WITH_DESTINATION.record_len(), 58);
    assert_eq!(MIN_MESSAGE_LEN, 16 + 4 + 58);
    assert_eq!(exporter(true, 1 << 20).max_message_len(), 65_535);
    // Templates split over messages when one cannot hold them all.
    let mut x = exporter(true, 10);
    let msgs = collect(|e| x.refresh_templates(T, e));
    assert!(msgs.len() > 1);
    let mut known = HashMap::new();
    let ids: Vec<u16> = msgs
        .iter()
        .flat_map(|(m, _)| {
            assert!(m.len() <= MIN_MESSAGE_LEN);
            decode(m, &mut known)
                .templates
                .into_iter()
                .map(|(id, _)| id)
        })
        .collect();
    assert_eq!(ids, [257, 258, 259, 260, 261, 262, 263, 264]);
}

#[test]
fn rfc8158_session_records_carry_the_destination_only_when_asked() {
    let mut known = HashMap::new();
    let mut x = exporter(true, 1472);
    let msgs = export(&mut x, &[ev(T, Record::SessionDelete(session(2050)))], T);
    let d = decode(&msgs[0].0, &mut known);
    assert!(d.templates.iter().all(|(id, _)| *id != 256));
    let (tid, rec) = &d.records[0];
    assert_eq!(*tid, 257);
    let f = fields(&known, *tid, rec);
    assert_eq!(f[&230], [7], "NAT64 session delete");
    let dst6: Ipv6Addr = "2001:db8:64::c633:6407".parse().unwrap();
    assert_eq!(f[&28], dst6.octets(), "the prefix around 198.51.100.7");
    assert_eq!(f[&226], [198, 51, 100, 7]);
    assert_eq!(f[&11], 443u16.to_be_bytes());
    assert_eq!(f[&228], 443u16.to_be_bytes());
    assert_eq!(f[&227], 2050u16.to_be_bytes());
}

#[test]
fn rfc8158_port_block_records_carry_the_range_and_the_subscriber() {
    let mut known = HashMap::new();
    let mut x = exporter(false, 1472);
    let events = [
        ev(T, Record::BlockAlloc(block(2048))),
        ev(T + 5, Record::BlockFree(block(2048))),
    ];
    let d = decode(&export(&mut x, &events, T)[0].0, &mut known);
    assert_eq!(d.records.len(), 2);
    for ((tid, rec), code) in d.records.iter().zip([16u8, 17]) {
        assert_eq!(*tid, 259);
        let f = fields(&known, *tid, rec);
        assert_eq!(f[&230], [code]);
        assert_eq!(f[&4], [17], "UDP");
        let sub: Ipv6Addr = "2001:db8:0:100::".parse().unwrap();
        assert_eq!(f[&27], sub.octets());
        assert_eq!(f[&29], [56]);
        assert_eq!(f[&225], [192, 0, 2, 9]);
        assert_eq!(f[&361], 2048u16.to_be_bytes());
        assert_eq!(f[&362], 2175u16.to_be_bytes());
        assert_eq!(f[&363], 1u16.to_be_bytes());
        assert_eq!(f[&364], 128u16.to_be_bytes());
    }
}

#[test]
fn rfc8158_quota_records_carry_the_quota_event_and_its_limit() {
    let mut known = HashMap::new();
    let mut x = exporter(false, 1472);
    let sub: Ipv6Addr = "2001:db8:0:200::".parse().unwrap();
    let cases = [
        (Quota::SessionEntries, 262, 471, None),
        (Quota::EntriesPerUser, 263, 473, Some(sub)),
        (Quota::Subscribers, 264, 474, None),
    ];
    for (quota, tid, limit_ie, subscriber) in cases {
        let r = Record::QuotaExceeded {
            time: 1,
            quota,
            limit: 4242,
            subscriber,
        };
        let d = decode(&export(&mut x, &[ev(T, r)], T)[0].0, &mut known);
        let (got, rec) = &d.records[0];
        assert_eq!(*got, tid);
        let f = fields(&known, tid, rec);
        assert_eq!(f[&230], [13]);
        assert_eq!(f[&466], quota.code().to_be_bytes());
        assert_eq!(f[&limit_ie], 4242u32.to_be_bytes());
        if let Some(s) = subscriber {
            assert_eq!(f[&27], s.octets());
        }
    }
    let exhausted = [
        ev(
            T,
            Record::AddressesExhausted {
                time: 1,
                proto: Proto::Icmp,
            },
        ),
        ev(
            T,
            Record::PortsExhausted {
                time: 1,
                proto: Proto::Tcp,
                v4: Ipv4Addr::new(192, 0, 2, 4),
            },
        ),
    ];
    let d = decode(&export(&mut x, &exhausted, T)[0].0, &mut known);
    let f = fields(&known, 260, &d.records[0].1);
    assert_eq!((f[&230].clone(), f[&4].clone()), (vec![3], vec![1]));
    let f = fields(&known, 261, &d.records[1].1);
    assert_eq!(f[&230], [12]);
    assert_eq!(f[&225], [192, 0, 2, 4]);
}

#[test]
fn every_template_field_is_one_the_encoder_writes() {
    let x = exporter(true, 1472);
    for t in template::ALL {
        let ids: Vec<u16> = t.fields.iter().map(|f| f.id).collect();
        let mut uniq = ids.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(uniq.len(), ids.len(), "template {} repeats a field", t.id);
        assert_eq!(
            &ids[..2],
            &[323, 230],
            "template {} starts with time and event",
            t.id
        );
    }
    // encode() writes exactly record_len() for every kind (debug_assert
    // in Facts::write checks each field).
    for i in 0..11 {
        let e = ev(T, mixed(i));
        if let Some(t) = x.template_of(&e.record) {
            let mut buf = [0u8; MIN_MESSAGE_LEN];
            assert_eq!(x.encode(t, &e, &mut buf), t.record_len());
        }
    }
}
