use std::net::{Ipv4Addr, Ipv6Addr};

use plat_core::api::{Counter, Cursor};
use plat_core::nat::{
    BlockInfo, Endpoint4, Endpoint6, Pool4Entry, SessionId, ShardStats, TcpState, TimerClass,
};

use super::*;

fn has(text: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(text.contains(w), "`{w}` missing from:\n{text}");
    }
}

fn show(a: &Answer) -> String {
    human(a, View::default())
}

fn pool_use() -> Pool4Use {
    Pool4Use {
        addr: Ipv4Addr::new(192, 0, 2, 1),
        used: [16128, 100, 0],
        total: [64512, 64512, 65536],
    }
}

#[test]
fn a_table_lines_up_its_columns() {
    let mut t = Table::new(&["NAME", ">N"]);
    t.row(["a", "1"]);
    t.row(["long name", "1000"]);
    assert_eq!(
        t.to_string(),
        "NAME          N\na             1\nlong name  1000\n"
    );
}

#[test]
fn a_summary_shows_ports_protocols_and_pool4() {
    let s = Summary {
        version: "plat 0.1.0 (DPDK 23.11)".into(),
        uptime_s: 90_061,
        role: "standalone".into(),
        workers: 2,
        steering: "rss".into(),
        ports: vec![PortStatus {
            side: Side::Outside,
            name: "0000:03:00.1".into(),
            mac: "02:00:00:00:00:02".into(),
            up: true,
            speed_mbps: 25_000,
            rx_packets: 123_456,
            tx_packets: 654_321,
            rx_bytes: 1,
            tx_bytes: 2,
            rx_missed: 3,
            rx_errors: 4,
            tx_errors: 5,
        }],
        sessions: PerProto {
            tcp: 11,
            udp: 22,
            icmp: 33,
        },
        bibs: PerProto {
            tcp: 7,
            udp: 8,
            icmp: 9,
        },
        subscribers: 42,
        pool4: vec![pool_use()],
        drops_last_second: 17,
        packets_last_second: 99_000,
        config_generation: 3,
    };
    let text = show(&Answer::Summary(s));
    has(
        &text,
        &[
            "plat 0.1.0 (DPDK 23.11)",
            "1d 01:01:01",
            "standalone",
            "outside",
            "0000:03:00.1",
            "25G",
            "123456",
            "654321",
            "total",
            "66",
            "192.0.2.1",
            "16128/64512",
            "25.0%",
            "99000",
        ],
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq(["udp", "22", "8"])),
        "{text}"
    );
}

#[test]
fn stats_show_nonzero_counters_per_row_unless_all() {
    let counter = |name: &str, values: Vec<u64>| Counter {
        name: name.into(),
        kind: "counter".into(),
        help: String::new(),
        total: values.iter().sum(),
        values,
    };
    let s = Stats {
        interval_ms: None,
        rows: vec!["worker 0".into(), "worker 1".into(), "control".into()],
        counters: vec![
            counter("rx_inside", vec![5, 7, 0]),
            counter("drop_runt", vec![0, 0, 0]),
        ],
        busy: vec![0.25, 0.5],
    };
    let text = show(&Answer::Stats(s.clone()));
    has(
        &text,
        &[
            "totals since start",
            "worker 1",
            "control",
            "rx_inside",
            "12",
            "25.0%",
            "50.0%",
        ],
    );
    assert!(!text.contains("drop_runt"), "{text}");
    assert!(human(&Answer::Stats(s), View { zeros: true }).contains("drop_runt"));
}

fn session(proto: Proto) -> SessionInfo {
    SessionInfo {
        id: SessionId(3),
        proto,
        v6: Endpoint6::new("2001:db8::5".parse().unwrap(), 40000),
        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 1025),
        remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 7), 443),
        state: TcpState::V4FinRcv,
        timer: TimerClass::TcpEst,
        expires: 7440,
        expires_in: 7000,
        held: false,
        hairpin: true,
        prefix: 0,
    }
}

#[test]
fn sessions_show_endpoints_state_and_expiry() {
    let l = Listing {
        entries: vec![session(Proto::Tcp), session(Proto::Udp)],
        next: Some(Cursor { worker: 1, slot: 2 }),
        count: None,
    };
    let text = show(&Answer::Sessions(l));
    has(
        &text,
        &[
            "[2001:db8::5]:40000",
            "192.0.2.1:1025",
            "198.51.100.7:443",
            "v4-fin-rcv",
            "7000s",
            "hairpin",
            "2 sessions; more match",
        ],
    );
    let count: Listing<SessionInfo> = Listing {
        entries: Vec::new(),
        next: None,
        count: Some(1234),
    };
    assert_eq!(show(&Answer::Sessions(count)), "1234\n");
}

#[test]
fn bib_entries_show_both_sides_and_their_sessions() {
    let l = Listing {
        entries: vec![BibInfo {
            proto: Proto::Icmp,
            v6: Endpoint6::new("2001:db8::9".parse().unwrap(), 77),
            v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 3), 78),
            is_static: true,
            sessions: 4,
        }],
        next: None,
        count: None,
    };
    let text = show(&Answer::Bib(l));
    has(
        &text,
        &[
            "icmp",
            "[2001:db8::9]:77",
            "192.0.2.3:78",
            "yes",
            "1 BIB entries",
        ],
    );
    assert!(
        text.lines().nth(1).unwrap().trim_end().ends_with('4'),
        "{text}"
    );
}

#[test]
fn a_subscriber_shows_its_use_caps_and_blocks() {
    let info = SubscriberInfo {
        prefix: "2001:db8:0:100::/56".parse().unwrap(),
        sessions: 12,
        ports: [3, 4, 0],
        pool4: Some(Ipv4Addr::new(192, 0, 2, 1)),
        blocks: vec![BlockInfo {
            proto: Proto::Udp,
            addr: Ipv4Addr::new(192, 0, 2, 1),
            first: 2048,
            last: 2175,
        }],
        max_sessions: 2000,
        max_ports: 0,
    };
    let text = show(&Answer::Subscriber(vec![OnWorker { worker: 1, info }]));
    has(
        &text,
        &[
            "2001:db8:0:100::/56",
            "12 of 2000",
            "udp 4 (no cap)",
            "192.0.2.1",
            "2048-2175",
        ],
    );
    assert!(show(&Answer::Subscriber(Vec::new())).contains("no worker holds state"));
}

#[test]
fn pool4_shows_entries_ranges_and_use() {
    let p = Pool4Status {
        entries: vec![Pool4Entry::new(Ipv4Addr::new(192, 0, 2, 0), 28)
            .with_range(Proto::Tcp, PortRange::new(2000, 2999))],
        addrs: vec![pool_use()],
    };
    let text = show(&Answer::Pool4(p));
    has(
        &text,
        &[
            "192.0.2.0/28",
            "2000-2999",
            "1024-65535",
            "0-65535",
            "16128/64512",
            "25.0%",
        ],
    );
}

#[test]
fn config_applied_and_cleared_say_what_they_hold() {
    let c = ConfigText {
        path: "/etc/plat/plat.toml".into(),
        generation: 4,
        toml: "[nat64]\nprefix = \"64:ff9b::/96\"".into(),
    };
    has(
        &show(&Answer::Config(c)),
        &["/etc/plat/plat.toml", "generation 4", "64:ff9b::/96\"\n"],
    );
    let a = Applied {
        generation: 5,
        changes: vec!["nat64.timeouts.udp: 300 -> 120".into()],
    };
    has(
        &show(&Answer::Applied(a)),
        &["generation 5", "nat64.timeouts.udp: 300 -> 120"],
    );
    has(
        &show(&Answer::Cleared { sessions: 17 }),
        &["17 sessions cleared"],
    );
}

#[test]
fn neighbors_and_workers_are_tables() {
    let n = vec![Neighbor {
        side: Side::Inside,
        ip: Ipv6Addr::LOCALHOST.into(),
        mac: None,
        state: "incomplete".into(),
        age_s: 3,
    }];
    has(
        &show(&Answer::Neighbors(n)),
        &["inside", "::1", "incomplete", "-"],
    );
    let w = vec![WorkerStatus {
        worker: 1,
        lcore: 5,
        busy: 0.125,
        rx_per_second: 800_000,
        state: Some(ShardStats {
            sessions: 321,
            bibs: 123,
            subscribers: 9,
            ..ShardStats::default()
        }),
    }];
    has(
        &show(&Answer::Workers(w)),
        &["12.5%", "800000", "321", "123"],
    );
}

#[test]
fn who_shows_the_subscriber_its_entry_and_its_block() {
    let v4 = Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050);
    let holder = |proto, bib: bool| Holder {
        proto,
        subscriber: "2001:db8:0:100::/56".parse().unwrap(),
        bib: bib.then(|| BibInfo {
            proto,
            v6: Endpoint6::new("2001:db8:0:100::5".parse().unwrap(), 40000),
            v4,
            is_static: false,
            sessions: 3,
        }),
        block: Some(BlockInfo {
            proto,
            addr: v4.addr,
            first: 2048,
            last: 2175,
        }),
    };
    let text = show(&Answer::Who(vec![
        OnWorker {
            worker: 1,
            info: holder(Proto::Tcp, true),
        },
        OnWorker {
            worker: 1,
            info: holder(Proto::Udp, false),
        },
    ]));
    has(
        &text,
        &[
            "SUBSCRIBER",
            "2001:db8:0:100::/56",
            "[2001:db8:0:100::5]:40000",
            "192.0.2.1:2050",
            "192.0.2.1:2048-2175",
        ],
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[1].last(), Some(&"1"), "{text}");
    assert_eq!(rows[1][5], "3", "{text}");
    assert_eq!(rows[2][0], "udp", "{text}");
    assert_eq!(rows[2][2], "-", "no BIB entry on the port: {text}");
    assert_eq!(show(&Answer::Who(Vec::new())), "no one holds it\n");
}

#[test]
fn a_search_shows_each_holding_and_what_was_read() {
    use plat_core::log::Holding;

    let q = SearchQuery {
        v4: Endpoint4::new(Ipv4Addr::new(192, 0, 2, 1), 2050),
        proto: None,
        at_ms: 1_796_454_000_000,
    };
    let bib = Holding {
        kind: HoldingKind::Bib,
        proto: Proto::Tcp,
        v6: Some(Endpoint6::new("2001:db8::5".parse().unwrap(), 40000)),
        subscriber: None,
        prefix_len: None,
        v4: q.v4.addr,
        first: 2050,
        last: 2050,
        remote: None,
        from: None,
        until: Some(1_796_454_060_000),
        until_inferred: true,
        worker: 3,
    };
    let block = Holding {
        kind: HoldingKind::Block,
        proto: Proto::Udp,
        v6: None,
        subscriber: Some("2001:db8:0:100::".parse().unwrap()),
        prefix_len: Some(56),
        first: 2048,
        last: 2175,
        from: Some(1_796_453_000_000),
        until: None,
        until_inferred: false,
        ..bib.clone()
    };
    let r = SearchResult {
        holdings: vec![bib, block],
        lines: 12,
        bad_lines: 1,
        first_line: Some(1_796_450_000_000),
        last_line: Some(1_796_460_000_000),
    };
    let text = search(&r, &q);
    has(
        &text,
        &[
            "bib",
            "2001:db8::5",
            "[2001:db8::5]:40000",
            "192.0.2.1:2050",
            "before the logs",
            "2026-12-05T07:01:00.000Z (next holder)",
            "2001:db8:0:100::/56",
            "192.0.2.1:2048-2175",
            "still held",
            "192.0.2.1:2050 at 2026-12-05T07:00:00.000Z: 12 lines from",
        ],
    );
    let none = SearchResult {
        holdings: Vec::new(),
        ..r
    };
    assert!(search(&none, &q).starts_with("nobody held 192.0.2.1:2050 at"));
}

#[test]
fn json_is_the_answer_itself() {
    let a = Answer::Cleared { sessions: 2 };
    let text = json(&a);
    assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), a);
    assert!(text.contains("\n  "), "pretty: {text}");
}
