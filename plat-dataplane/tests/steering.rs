//! Return-traffic steering with 2 workers, over `net_ring` ports whose
//! queues this test fills itself.
//!
//! - rss: the test places every TCP and UDP packet on the queue the
//!   Toeplitz plan says (as an RSS NIC programmed from the plan would), and
//!   what a NIC cannot hash by port (ICMP echo replies, ICMP errors) on
//!   queue 0, its default: only those are handed between workers, and
//!   every reply finds its session.
//! - handoff: the test places packets on the wrong queue half the time (as
//!   a device that cannot steer would): workers hand them to the owner,
//!   and still every reply finds its session.
//!
//! One EAL per process: both modes run in this one test, one after the
//! other, each on its own ports.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use plat_core::config::Config;
use plat_core::nat::{Proto, SessionFilter};
use plat_dataplane::appliance::{Appliance, HostExtras};
use plat_dataplane::handle::ControlHandle;
use plat_dataplane::nat64_engine::{default_plan, Nat64Engine};
use plat_dataplane::{Eal, MbufBurst, Mempool, MempoolConfig, Port, Ring, RingSync};

const WORKERS: usize = 2;
const SUBSCRIBERS: u16 = 64;
const FLOWS_PER_SUBSCRIBER: u16 = 4;
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x44];
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

/// Both ends of a net_ring port: the test writes rx, reads tx.
struct RingPort {
    name: String,
    rx: Vec<Arc<Ring>>,
    tx: Vec<Arc<Ring>>,
}

fn ring_port(eal: &Eal, tag: &str) -> RingPort {
    let mk = |dir: &str, q: usize| {
        Arc::new(
            Ring::new(
                eal,
                &format!("{tag}_{dir}{q}"),
                4096,
                RingSync::MultiProducerMultiConsumer,
            )
            .unwrap(),
        )
    };
    let rx: Vec<_> = (0..WORKERS).map(|q| mk("rx", q)).collect();
    let tx: Vec<_> = (0..WORKERS).map(|q| mk("tx", q)).collect();
    let rx_refs: Vec<&Ring> = rx.iter().map(|r| r.as_ref()).collect();
    let tx_refs: Vec<&Ring> = tx.iter().map(|r| r.as_ref()).collect();
    let id = Port::create_from_rings(eal, tag, &rx_refs, &tx_refs).unwrap();
    RingPort {
        name: Port::name_of(id).unwrap(),
        rx,
        tx,
    }
}

fn config(inside: &str, outside: &str, steering: &str) -> Config {
    Config::from_toml(&format!(
        r#"
[eal]
args = []
[inside]
port = "{inside}"
addresses = ["2001:db8:6::1/64"]
routes = [{{ prefix = "2001:db8:100::/40", via = "2001:db8:6::2" }}]
neighbors = [{{ ip = "2001:db8:6::2", mac = "02:00:00:00:00:02" }}]
[outside]
port = "{outside}"
addresses = ["203.0.113.1/24"]
neighbors = [{{ ip = "203.0.113.2", mac = "02:00:00:00:00:44" }}]
[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/29"]
[workers]
steering = "{steering}"
idle_sleep_us = 20
"#
    ))
    .expect("test config")
}

fn subscriber(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, i, 0, 0, 0, 1)
}

fn put(ring: &Ring, pool: &Mempool, frame: &[u8]) {
    let mut m = pool.alloc().expect("mbuf");
    m.write_packet(frame).expect("frame fits");
    let mut one: MbufBurst<1> = MbufBurst::new();
    one.push(m).unwrap();
    assert_eq!(ring.enqueue_burst(&mut one), 1, "rx ring has room");
}

/// Reads frames from every tx ring until `n` arrived or 10 s passed.
fn collect(rings: &[Arc<Ring>], n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut burst: MbufBurst = MbufBurst::new();
    while out.len() < n && Instant::now() < deadline {
        for r in rings {
            r.dequeue_burst(&mut burst);
            out.extend(burst.drain().map(|m| m.data().to_vec()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    out
}

/// What a NIC cannot place by port lands on its default queue (0): ICMP
/// echo replies and ICMP errors from the IPv4 side. One echo per
/// subscriber and a Port Unreachable about its first UDP flow: each
/// reaches the worker that owns the session (handed over when queue 0 is
/// not its own) and comes back to the subscriber.
fn icmp_on_queue_zero(inside: &RingPort, outside: &RingPort, pool: &Mempool) {
    let server6: Ipv6Addr = "2001:db8:64::cb00:7102".parse().unwrap();
    // Echo requests go in where the NIC puts IPv6 (hashed by source: the
    // owner's queue, as the rss plan says for the inside).
    let plan = default_plan(WORKERS).unwrap();
    for i in 0..SUBSCRIBERS {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, [2, 0, 0, 0, 0, 0xa6])
            .ipv6(subscriber(i).octets(), server6.octets(), 64)
            .icmpv6_echo_request(0x100 + i, 1)
            .write(&mut f, b"ping")
            .unwrap();
        put(&inside.rx[plan.inside_worker(subscriber(i), 128)], pool, &f);
    }
    let out = collect(&outside.tx, usize::from(SUBSCRIBERS));
    assert_eq!(
        out.len(),
        usize::from(SUBSCRIBERS),
        "every echo request left"
    );
    for f in &out {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let h = ip.header();
        let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
            panic!("not ICMP")
        };
        let etherparse::Icmpv4Type::EchoRequest(echo) = icmp.icmp_type() else {
            panic!("not an echo request")
        };
        // The reply, and an error about the translated request: both on
        // queue 0.
        let mut reply = Vec::new();
        PacketBuilder::ethernet2(SERVER_MAC, [2, 0, 0, 0, 0, 0xa4])
            .ipv4(SERVER.octets(), h.source_addr().octets(), 64)
            .icmpv4_echo_reply(echo.id, echo.seq)
            .write(&mut reply, b"pong")
            .unwrap();
        put(&outside.rx[0], pool, &reply);
        let mut error = Vec::new();
        PacketBuilder::ethernet2(SERVER_MAC, [2, 0, 0, 0, 0, 0xa4])
            .ipv4(SERVER.octets(), h.source_addr().octets(), 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Host,
            ))
            .write(&mut error, &f[14..])
            .unwrap();
        put(&outside.rx[0], pool, &error);
    }
    let back = collect(&inside.tx, 2 * usize::from(SUBSCRIBERS));
    let (mut replies, mut errors) = (HashSet::new(), HashSet::new());
    for f in &back {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &p.net else {
            panic!("not IPv6")
        };
        let to = ip.header().destination_addr();
        match &p.transport {
            Some(TransportSlice::Icmpv6(i)) => match i.icmp_type() {
                etherparse::Icmpv6Type::EchoReply(e) => {
                    replies.insert((to, e.id));
                }
                etherparse::Icmpv6Type::DestinationUnreachable(_) => {
                    errors.insert(to);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("not ICMPv6: {other:?}"),
        }
    }
    let want: HashSet<_> = (0..SUBSCRIBERS)
        .map(|i| (subscriber(i), 0x100 + i))
        .collect();
    assert_eq!(replies, want, "every echo reply reached its subscriber");
    let want: HashSet<_> = (0..SUBSCRIBERS).map(subscriber).collect();
    assert_eq!(errors, want, "every error reached its subscriber");
}

/// Pieces of a datagram: offset and bytes.
type Pieces = Vec<(usize, Vec<u8>)>;

/// The IPv4 packet `l3` (no options) as fragments of `size` bytes of
/// its payload each (a multiple of 8), in Ethernet frames from the
/// server, identification `ident`.
fn fragments4(l3: &[u8], ident: u16, size: usize) -> Vec<Vec<u8>> {
    let payload = &l3[20..];
    let mut out = Vec::new();
    for (k, piece) in payload.chunks(size).enumerate() {
        let more = (k + 1) * size < payload.len();
        let mut h = l3[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + piece.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let off = (k * size / 8) as u16 | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&off.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let ih = etherparse::Ipv4HeaderSlice::from_slice(&h)
            .unwrap()
            .to_header();
        h[10..12].copy_from_slice(&ih.calc_header_checksum().to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0xa4]);
        f.extend_from_slice(&SERVER_MAC);
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(piece);
        out.push(f);
    }
    out
}

/// RFC 6146 3.4 across workers: a fragment carries no port, so its owner
/// is unknown to the NIC and to the worker that receives it. Fragmented
/// UDP replies (3000 bytes, three IPv4 fragments, the last sent first)
/// land on queues by fragment, not by owner: each datagram's director
/// learns the owner from the first fragment and hands the rest after it,
/// and every datagram reaches its subscriber whole (as IPv6 fragments,
/// reassembled here).
fn fragments_on_any_queue(
    inside: &RingPort,
    outside: &RingPort,
    pool: &Mempool,
    flows: &[(Ipv4Addr, u16)],
) {
    let body: Vec<u8> = (0..2992u32).map(|i| (i * 13) as u8).collect();
    let mut frames = 0;
    for (n, &(pool_addr, pool_port)) in flows.iter().enumerate() {
        let mut l3 = Vec::new();
        PacketBuilder::ipv4(SERVER.octets(), pool_addr.octets(), 64)
            .udp(7, pool_port)
            .write(&mut l3, &body)
            .unwrap();
        let mut frags = fragments4(&l3, 0x4000 + n as u16, 1480);
        frags.reverse();
        for (k, f) in frags.iter().enumerate() {
            put(&outside.rx[(n + k) % WORKERS], pool, f);
            frames += 1;
        }
    }
    assert_eq!(frames, 3 * flows.len());
    // Each 1480-byte fragment is two IPv6 fragments of at most 1280 bytes.
    let out = collect(&inside.tx, 5 * flows.len());
    // (destination, identification) -> (offset, bytes) of each piece.
    let mut datagrams: HashMap<(Ipv6Addr, u32), Pieces> = HashMap::new();
    for f in &out {
        let ip = &f[14..];
        assert_eq!(ip[6], 44, "an IPv6 fragment");
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
        let fo = usize::from(u16::from_be_bytes([ip[42], ip[43]]) >> 3) * 8;
        let ident = u32::from_be_bytes([ip[44], ip[45], ip[46], ip[47]]);
        datagrams
            .entry((dst, ident))
            .or_default()
            .push((fo, ip[48..].to_vec()));
    }
    assert_eq!(datagrams.len(), flows.len(), "every datagram came through");
    for ((dst, _), mut pieces) in datagrams {
        pieces.sort();
        let whole: Vec<u8> = pieces.into_iter().flat_map(|(_, p)| p).collect();
        assert_eq!(whole.len(), 8 + body.len(), "{dst}: whole");
        assert_eq!(&whole[8..], &body[..], "{dst}: its bytes");
    }
}

/// The running workers answer the control plane through their mailboxes:
/// their session counts add up to the flows sent, and listings page
/// through every worker's table with filters and limits.
fn check_control_handle(handle: &ControlHandle, flows: usize) {
    let summary = handle.summary().expect("every worker answers");
    assert_eq!(summary.len(), WORKERS);
    let stats: Vec<_> = summary.into_iter().map(|s| s.expect("NAT state")).collect();
    let sessions: u32 = stats.iter().map(|s| s.sessions).sum();
    assert_eq!(sessions as usize, flows);
    assert!(
        stats.iter().all(|s| s.sessions > 0),
        "both workers own sessions: {stats:?}"
    );
    let all = handle
        .sessions(SessionFilter::default(), None, usize::MAX)
        .unwrap();
    assert_eq!(all.entries.len(), flows);
    assert_eq!(all.next, None);
    let one = SessionFilter {
        proto: Some(Proto::Udp),
        v6: Some(subscriber(3).into()),
        ..Default::default()
    };
    let mine = handle.sessions(one, None, usize::MAX).unwrap();
    assert_eq!(mine.entries.len(), usize::from(FLOWS_PER_SUBSCRIBER));
    assert!(mine.entries.iter().all(|s| s.v6.addr == subscriber(3)));
    assert_eq!(
        handle.count_sessions(one).unwrap(),
        u64::from(FLOWS_PER_SUBSCRIBER)
    );
    // Paging: five at a time, following the cursor, finds every session once.
    let mut seen = Vec::new();
    let mut at = None;
    loop {
        let page = handle.sessions(SessionFilter::default(), at, 5).unwrap();
        assert!(page.entries.len() <= 5);
        seen.extend(page.entries.iter().map(|s| (s.v6, s.v4)));
        match page.next {
            Some(n) => at = Some(n),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), flows);
    assert_eq!(
        handle
            .bib(SessionFilter::default(), None, usize::MAX)
            .unwrap()
            .entries
            .len(),
        flows
    );
    assert_eq!(
        handle.count_bib(SessionFilter::default()).unwrap(),
        flows as u64
    );
    // Clearing one subscriber's sessions leaves everyone else's.
    assert_eq!(handle.clear(one).unwrap(), u64::from(FLOWS_PER_SUBSCRIBER));
    assert_eq!(handle.count_sessions(one).unwrap(), 0);
    assert_eq!(
        handle.count_sessions(SessionFilter::default()).unwrap(),
        (flows - usize::from(FLOWS_PER_SUBSCRIBER)) as u64
    );
}

/// Runs one steering mode; returns (handoffs, replies received, counters).
fn run_mode(eal: &Eal, steering: &str, tag: &str) -> (u64, usize, Vec<(&'static str, u64)>) {
    let inside = ring_port(eal, &format!("{tag}in"));
    let outside = ring_port(eal, &format!("{tag}out"));
    let cfg = config(&inside.name, &outside.name, steering);
    let plan = default_plan(WORKERS).unwrap();
    let engines = (0..WORKERS)
        .map(|w| Nat64Engine::new(&cfg, &plan, w).unwrap())
        .collect();
    let app = Appliance::start_on(eal.clone(), &cfg, HostExtras::default(), engines).unwrap();
    let board = app.counters();
    let stop = app.stop_flag();
    let handle = app.control_handle();
    let pool =
        Arc::new(Mempool::new(eal, &MempoolConfig::new(&format!("{tag}_gen"), 4095)).unwrap());
    let rss = steering == "rss";

    let traffic = {
        let pool = Arc::clone(&pool);
        std::thread::spawn(move || {
            let mut sent = HashSet::new();
            let mut n = 0usize;
            for i in 0..SUBSCRIBERS {
                for j in 0..FLOWS_PER_SUBSCRIBER {
                    let (src, sport) = (subscriber(i), 10_000 + j);
                    let dst: Ipv6Addr = format!("2001:db8:64::{:x}:{:x}", 0xcb00, 0x7102)
                        .parse()
                        .unwrap();
                    let mut f = Vec::new();
                    PacketBuilder::ethernet2(CLIENT_MAC, [2, 0, 0, 0, 0, 0xa6])
                        .ipv6(src.octets(), dst.octets(), 64)
                        .udp(sport, 7)
                        .write(&mut f, b"steer")
                        .unwrap();
                    let q = if rss {
                        plan.inside_worker(src, 128)
                    } else {
                        n % WORKERS
                    };
                    n += 1;
                    put(&inside.rx[q], &pool, &f);
                    sent.insert((src, sport));
                }
            }
            let total = sent.len();
            let translated = collect(&outside.tx, total);
            assert_eq!(translated.len(), total, "every IPv6 packet left as IPv4");
            let mut flows = Vec::new();
            for (k, f) in translated.iter().enumerate() {
                let p = SlicedPacket::from_ethernet(f).unwrap();
                let Some(NetSlice::Ipv4(ip)) = &p.net else {
                    panic!("not IPv4")
                };
                let h = ip.header();
                let (pool_addr, remote) = (h.source_addr(), h.destination_addr());
                assert_eq!(remote, SERVER);
                let Some(TransportSlice::Udp(u)) = &p.transport else {
                    panic!("not UDP")
                };
                let pool_port = u.source_port();
                flows.push((pool_addr, pool_port));
                let mut reply = Vec::new();
                PacketBuilder::ethernet2(SERVER_MAC, [2, 0, 0, 0, 0, 0xa4])
                    .ipv4(remote.octets(), pool_addr.octets(), 64)
                    .udp(7, pool_port)
                    .write(&mut reply, b"reply")
                    .unwrap();
                let q = if rss {
                    plan.worker_of(pool_addr, pool_port)
                } else {
                    k % WORKERS
                };
                put(&outside.rx[q], &pool, &reply);
            }
            let back = collect(&inside.tx, total);
            let mut seen = HashSet::new();
            for f in &back {
                let p = SlicedPacket::from_ethernet(f).unwrap();
                let Some(NetSlice::Ipv6(ip)) = &p.net else {
                    panic!("not IPv6")
                };
                let Some(TransportSlice::Udp(u)) = &p.transport else {
                    panic!("not UDP")
                };
                assert_eq!(u.payload(), b"reply");
                seen.insert((ip.header().destination_addr(), u.destination_port()));
            }
            assert_eq!(
                seen, sent,
                "every reply reached the subscriber and port that sent"
            );
            // Before the control plane clears a subscriber's sessions.
            fragments_on_any_queue(&inside, &outside, &pool, &flows[..32]);
            check_control_handle(&handle, sent.len());
            icmp_on_queue_zero(&inside, &outside, &pool);
            back.len()
        })
    };

    let runner = std::thread::spawn(move || {
        let joined = traffic.join();
        stop.store(true, Ordering::Relaxed);
        joined
    });
    app.run(|_| {}).unwrap();
    let Ok(replies) = runner.join().unwrap() else {
        let counted: Vec<_> = board.totals().into_iter().filter(|(_, v)| *v > 0).collect();
        panic!("traffic checks failed; counters: {counted:?}");
    };
    let handoffs = board.total_of("handoff_out");
    (handoffs, replies, board.totals())
}

#[test]
fn steering_rss_never_hands_off_and_handoff_fixes_up_wrong_queues() {
    let eal = common::shared_eal_with(&["--lcores=0@0,1@1,2@1"], &[]);
    let (handoffs, replies, totals) = run_mode(&eal, "rss", "r");
    let get = |name: &str| {
        totals
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    };
    println!("rss: {replies} replies, {handoffs} handoffs");
    assert_eq!(replies, usize::from(SUBSCRIBERS * FLOWS_PER_SUBSCRIBER));
    // TCP and UDP are never handed off under rss; of the 128 ICMP
    // packets on queue 0, those another worker owns are, and of the 96
    // fragments, those on another worker than their director, and those
    // the director hands to another owner.
    assert!(
        handoffs > 0 && handoffs <= 2 * u64::from(SUBSCRIBERS) + 2 * 96,
        "an RSS-steered run hands off only what the NIC cannot place: {totals:?}"
    );
    assert_eq!(get("handoff_in"), handoffs, "{totals:?}");
    assert_eq!(get("drop_no_bib") + get("drop_not_owned"), 0, "{totals:?}");
    assert!(get("fragments_directed") > 0, "{totals:?}");

    let (handoffs, replies, totals) = run_mode(&eal, "handoff", "h");
    let get = |name: &str| {
        totals
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, v)| *v)
    };
    println!("handoff: {replies} replies, {handoffs} handoffs");
    assert_eq!(replies, usize::from(SUBSCRIBERS * FLOWS_PER_SUBSCRIBER));
    assert!(
        handoffs > 0,
        "misplaced packets are handed to their owner: {totals:?}"
    );
    assert!(get("fragments_directed") > 0, "{totals:?}");
    assert_eq!(get("handoff_in"), handoffs, "{totals:?}");
    assert_eq!(
        get("drop_no_bib") + get("drop_not_owned"),
        0,
        "no session missed on the wrong worker: {totals:?}"
    );
}
