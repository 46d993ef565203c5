//! The appliance between real Linux hosts: an IPv6-only client and an
//! IPv4-only server behind an IPv4 router, in network namespaces
//! (deploy/lab/lab.sh), platd on DPDK ports (`net_af_packet` inside,
//! `net_tap` outside) between the client and the router. curl, ping,
//! iperf3, socat, traceroute and BIND are the peers.
//!
//! The lab's namespaces have fixed names, so the scenarios run one after
//! another inside one test per worker count.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use support::{ok, repo, sha256, Lab, LAB_DIR, LAB_LOCK, ROUTER_V6, SERVER_V6};

/// platd's inside address: the first hop of the client's traceroute.
const INSIDE_V6: &str = "2001:db8:6::1";
/// platd's outside address.
const OUTSIDE_V4: &str = "192.0.2.1";

/// Every traffic check of acceptance 1, against a running platd.
fn traffic_checks(lab: &Lab) {
    // ICMP echo through the translator, by literal.
    ok(
        &lab.client(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", SERVER_V6]),
        "ping -6 through NAT64",
    );

    // TCP: a 10 MB file, byte-exact, by literal and by name via DNS64.
    let want = sha256(&lab.server(&["sha256sum", &format!("{LAB_DIR}/www/big.bin")]));
    assert_eq!(want.len(), 64);
    let by_literal = lab.client(&[
        "sh",
        "-c",
        &format!("curl -sf --max-time 60 'http://[{SERVER_V6}]/big.bin' | sha256sum"),
    ]);
    assert_eq!(sha256(&by_literal), want, "10 MB by literal");
    let by_name = lab.client(&[
        "sh",
        "-c",
        "curl -sf --max-time 60 http://www.lab.example/big.bin | sha256sum",
    ]);
    assert_eq!(sha256(&by_name), want, "10 MB by name through DNS64");

    // UDP request/response against the echo service.
    let echo = ok(
        &lab.client(&[
            "sh",
            "-c",
            &format!("echo plat-udp-check | socat -T 3 - 'UDP6:[{SERVER_V6}]:7'"),
        ]),
        "UDP echo",
    );
    assert_eq!(echo.trim(), "plat-udp-check");

    // iperf3 UDP both ways (-R: server to client).
    for reverse in [false, true] {
        let mut args = vec![
            "iperf3", "-6", "-c", SERVER_V6, "-u", "-b", "20M", "-t", "2", "-J",
        ];
        if reverse {
            args.push("-R");
        }
        let out = ok(&lab.client(&args), "iperf3 -u");
        let v: serde_json::Value = serde_json::from_str(&out).expect("iperf3 json");
        let sum = &v["end"]["sum"];
        let packets = sum["packets"].as_u64().unwrap_or(0);
        let lost = sum["lost_packets"].as_u64().unwrap_or(u64::MAX);
        assert!(
            packets > 1000,
            "iperf3 reverse={reverse}: {packets} packets"
        );
        assert!(
            lost * 100 <= packets,
            "iperf3 reverse={reverse}: {lost} of {packets} lost"
        );
    }

    // A UDP datagram to a closed port: the server's ICMPv4 port
    // unreachable comes back as ICMPv6 port unreachable, which the client's
    // socket reports as "connection refused".
    let refused = lab.client(&[
        "python3",
        "-c",
        &format!(
            "import socket,sys\n\
             s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n\
             s.settimeout(3)\n\
             s.connect(('{SERVER_V6}',9))\n\
             s.send(b'x')\n\
             try:\n  s.recv(10)\nexcept ConnectionRefusedError:\n  print('refused'); sys.exit(0)\n\
             except Exception as e:\n  print(type(e).__name__); sys.exit(1)\n"
        ),
    ]);
    assert_eq!(ok(&refused, "ICMP error translation").trim(), "refused");
}

/// RFC 4443 2.2 (c): the Time Exceeded platd sends for an expiring hop
/// limit comes from its inside address, so `traceroute -6` names platd at
/// hop 1; RFC 7915 4.2: the IPv4 router's Time Exceeded comes back
/// translated, from the router's address embedded in the prefix, at hop
/// 2; the IPv4 server (embedded) is last. In each probe mode.
fn traceroute_names_platd_first(lab: &Lab) {
    for mode in [&[][..], &["-I"][..], &["-T", "-p", "80"][..]] {
        let out = ok(
            &lab.client(
                &[
                    &["traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "5"][..],
                    mode,
                    &[SERVER_V6],
                ]
                .concat(),
            ),
            "traceroute -6",
        );
        let hops: Vec<&str> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        assert_eq!(hops, [INSIDE_V6, ROUTER_V6, SERVER_V6], "{mode:?}: {out}");
    }
}

/// RFC 6146 3.4: fragmented datagrams both ways, in order (as the hosts'
/// kernels fragment them) and out of order (the last fragment first, sent
/// by a raw socket on either side), reassembled by the far host: a
/// 4000-byte ping and 6000-byte UDP datagrams echoed back.
fn fragment_checks(lab: &Lab) {
    ok(
        &lab.client(&[
            "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", SERVER_V6,
        ]),
        "ping -6 -s 4000 (fragments both ways)",
    );
    let script = repo().join("tests/support/fragments.py");
    let script = script.to_str().unwrap();
    lab.server(&[
        "sh",
        "-c",
        &format!("python3 {script} echo 7001 30 >/dev/null 2>&1 &"),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    for order in ["kernel", "reverse"] {
        let out = ok(
            &lab.client(&["python3", script, "send", SERVER_V6, "7001", "6000", order]),
            &format!("6000-byte UDP datagram, fragments in {order} order"),
        );
        assert_eq!(out.trim(), "ok 6000", "{order}");
    }
}

fn run_lab(workers: usize) {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    lab.start_platd(workers, 1500, "auto");
    traffic_checks(&lab);
    traceroute_names_platd_first(&lab);
    fragment_checks(&lab);
    let c = lab.fresh_counters();
    assert!(
        c["fragments_waited"] > 0,
        "out of order fragments waited: {c:?}"
    );
    assert_eq!(
        c["drop_fragment_timeout"] + c["drop_fragment_director_timeout"],
        0,
        "{c:?}"
    );
    assert!(
        c["xlat_v6_to_v4"] > 1000 && c["xlat_v4_to_v6"] > 1000,
        "{c:?}"
    );
    if workers > 1 {
        assert!(
            c["handoff_out"] > 0,
            "2 workers on virtual ports hand off: {c:?}"
        );
        // Every packet handed off arrives (`handoff_out` counts those the
        // ring took; a full ring's are `drop_handoff_full`, never received).
        assert_eq!(c["handoff_out"], c["handoff_in"], "{c:?}");
        // No reply met a worker without its session.
        assert_eq!(c["drop_no_bib"] + c["drop_not_owned"], 0, "{c:?}");
    }
    lab.stop_platd();
}

#[test]
fn lab_one_worker_tcp_udp_icmp_and_icmp_errors() {
    run_lab(1);
}

#[test]
fn lab_two_workers_with_handoff() {
    run_lab(2);
}

/// A 10 MB upload (client to server) and a 10 MB download, each checked
/// byte-exact at the far end.
fn transfers_each_way(lab: &Lab, links: &str) {
    let upload = format!("{LAB_DIR}/upload.bin");
    let _ = std::fs::remove_file(&upload);
    let mut sink = Command::new("ip")
        .args(["netns", "exec", "plat-server", "socat", "-u"])
        .arg("TCP4-LISTEN:9000,bind=203.0.113.2,reuseaddr")
        .arg(format!("CREATE:{upload}"))
        .spawn()
        .expect("socat sink on the server");
    std::thread::sleep(Duration::from_millis(300));
    ok(
        &lab.client(&[
            "timeout",
            "60",
            "socat",
            "-u",
            &format!("FILE:{LAB_DIR}/www/big.bin"),
            &format!("TCP6:[{SERVER_V6}]:9000"),
        ]),
        &format!("10 MB upload, {links}"),
    );
    let _ = sink.wait();
    let sent = sha256(&lab.server(&["sha256sum", &format!("{LAB_DIR}/www/big.bin")]));
    let got = sha256(&lab.server(&["sha256sum", &upload]));
    assert_eq!(got, sent, "upload arrived byte-exact, {links}");
    let down = lab.client(&[
        "sh",
        "-c",
        &format!("curl -sf --max-time 60 'http://[{SERVER_V6}]/big.bin' | sha256sum"),
    ]);
    assert_eq!(sha256(&down), sent, "download byte-exact, {links}");
}

/// A 10 MB upload and a 10 MB download over an IPv4 side of
/// `outside_mtu`: full-size client segments need Packet Too Big first (the
/// client then learns `client_pmtu`); below 1280 - 20 the translator also
/// fragments what the IPv6 minimum still lets through (RFC 7915 5.1: DF
/// is clear on packets of 1260 bytes or less), and the server's segments
/// need the router's Fragmentation Needed.
fn path_mtu(lab: &Lab, outside_mtu: u16, client_pmtu: u16) {
    lab.start_platd(1, outside_mtu, "auto");
    let _ = lab.client(&["ip", "-6", "route", "flush", "cache"]);
    transfers_each_way(lab, &format!("IPv4 MTU {outside_mtu}"));
    let c = lab.fresh_counters();
    assert!(
        c["drop_packet_too_big"] > 0,
        "Packet Too Big was sent: {c:?}"
    );
    if outside_mtu < 1260 {
        assert!(c["fragments_sent"] > 0, "IPv4 fragments were made: {c:?}");
    }
    let pmtu = ok(
        &lab.client(&["ip", "-6", "route", "get", SERVER_V6]),
        "route get",
    );
    assert!(
        pmtu.contains(&format!("mtu {client_pmtu}")),
        "client learned the path MTU {client_pmtu}: {pmtu}"
    );
    // The server's segments follow the MSS of the client's connection,
    // which its path MTU set: IPv4 packets of client_pmtu - 20. Larger
    // than the link between platd and the router, they met the router's
    // Fragmentation Needed, and the server learned that link's MTU.
    if client_pmtu - 20 > outside_mtu {
        let cache = ok(
            &lab.server(&["ip", "-4", "route", "show", "cache"]),
            "route cache",
        );
        assert!(
            cache.contains(&format!("mtu {outside_mtu}")),
            "server learned the path MTU {outside_mtu}: {cache}"
        );
    }
    lab.stop_platd();
}

#[test]
fn lab_path_mtu_smaller_ipv4_side() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    path_mtu(&lab, 1400, 1420);
    // RFC 791 allows IPv4 links down to 68; a 1000-byte tunnel is common.
    // The client cannot go below 1280 (RFC 8200 5): the translator cuts
    // its 1260-byte IPv4 packets into fragments.
    path_mtu(&lab, 1000, 1280);
}

/// Average frame size platd received on `side` ("inside", "outside").
fn average_frame(c: &HashMap<String, u64>, side: &str) -> u64 {
    c[&format!("rx_bytes_{side}")] / c[&format!("rx_{side}")].max(1)
}

/// Jumbo frames: both links, and the hosts beyond them, at `mtu`. The
/// largest IPv6 packet and the IPv4 packet it becomes cross platd whole
/// both ways (ping with DF), platd answers pings of its links' MTU, and
/// 10 MB go each way byte-exact in segments of nearly the MTU, with no
/// Packet Too Big, no fragment and no frame dropped for its size.
fn jumbo_both_sides(lab: &Lab, mtu: u16) {
    // RFC 7915 4.1: an IPv4 packet without DF (Linux sends its echo
    // replies so) becomes IPv6 fragments of lowest-ipv6-mtu, 1280 unless
    // the operator knows better; here the IPv6 side is jumbo too.
    let translation = format!("[nat64.translation]\nlowest_ipv6_mtu = {mtu}");
    // net_tap carries no jumbo frames (max_rx_pktlen 1522): af_packet.
    lab.start_platd_on_links(
        1,
        mtu,
        mtu,
        &[("PLATD_EXTRA", &translation), ("OUTSIDE_PMD", "af_packet")],
    );
    let _ = lab.client(&["ip", "-6", "route", "flush", "cache"]);
    // platd gave its ports the MTU: for net_af_packet, the kernel side.
    for ifc in ["a6", "a4"] {
        let link = ok(&lab.appl(&["ip", "-o", "link", "show", ifc]), "ip link");
        assert!(link.contains(&format!("mtu {mtu}")), "{link}");
    }
    let v6_payload = (mtu - 40 - 8).to_string();
    let v4_payload = (mtu - 20 - 8).to_string();
    for (what, dst) in [("through platd", SERVER_V6), ("to platd", INSIDE_V6)] {
        ok(
            &lab.client(&[
                "ping",
                "-6",
                "-M",
                "do",
                "-s",
                &v6_payload,
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "2",
                dst,
            ]),
            &format!("ping -6 of {mtu} bytes {what}"),
        );
    }
    ok(
        &lab.router(&[
            "ping",
            "-M",
            "do",
            "-s",
            &v4_payload,
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "2",
            OUTSIDE_V4,
        ]),
        &format!("ping of {mtu} bytes to platd's outside address"),
    );
    transfers_each_way(lab, &format!("both sides at MTU {mtu}"));
    let c = lab.fresh_counters();
    for counter in [
        "drop_packet_too_big",
        "drop_fragmentation_needed",
        "fragments_sent",
        "drop_chained_frame",
        "drop_malformed",
        "drop_runt",
        "host_drop_unsupported",
    ] {
        assert_eq!(c[counter], 0, "{counter}: {c:?}");
    }
    // Segments of nearly the MTU, not of 1500: with the acknowledgements
    // of the other direction, an average frame still well above 1514.
    for side in ["inside", "outside"] {
        assert!(average_frame(&c, side) > 3000, "{side}: {c:?}");
    }
    lab.stop_platd();
}

/// A jumbo IPv6 side before a 1500-byte IPv4 one: a 9000-byte packet with
/// DF meets Packet Too Big 1520 (RFC 7915 5.2: the IPv4 MTU + 20), built
/// from the head of a jumbo frame; the client learns the path MTU and a
/// packet of exactly that size passes. TCP needs none of it (the server's
/// MSS keeps the client's segments small) and goes each way byte-exact.
fn jumbo_inside_narrow_outside(lab: &Lab) {
    lab.start_platd_on_links(1, 1500, 9000, &[]);
    let _ = lab.client(&["ip", "-6", "route", "flush", "cache"]);
    let too_big = lab.client(&[
        "ping", "-6", "-M", "do", "-s", "8952", "-c", "1", "-W", "2", SERVER_V6,
    ]);
    assert!(
        !too_big.status.success(),
        "a 9000-byte packet with DF crossed a 1500-byte IPv4 link"
    );
    let pmtu = ok(
        &lab.client(&["ip", "-6", "route", "get", SERVER_V6]),
        "route get",
    );
    assert!(pmtu.contains("mtu 1520"), "client learned 1520: {pmtu}");
    ok(
        &lab.client(&[
            "ping", "-6", "-M", "do", "-s", "1472", "-c", "2", "-i", "0.2", "-W", "2", SERVER_V6,
        ]),
        "ping -6 of 1520 bytes",
    );
    let c = lab.fresh_counters();
    assert!(c["drop_packet_too_big"] > 0, "{c:?}");
    assert_eq!(c["drop_malformed"] + c["drop_chained_frame"], 0, "{c:?}");
    transfers_each_way(lab, "IPv4 MTU 1500, IPv6 MTU 9000");
    lab.stop_platd();
}

#[test]
fn lab_jumbo_frames() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    jumbo_both_sides(&lab, 9000);
    jumbo_inside_narrow_outside(&lab);
    // A jumbo IPv4 side behind a 1500-byte IPv6 one: the server's segments
    // follow the client's MSS, nothing needs cutting.
    lab.start_platd_on_links(1, 9000, 1500, &[("OUTSIDE_PMD", "af_packet")]);
    let _ = lab.client(&["ip", "-6", "route", "flush", "cache"]);
    transfers_each_way(&lab, "IPv4 MTU 9000, IPv6 MTU 1500");
    lab.stop_platd();
}

/// Sum of every drop counter (the dataplane's, the engine's and the slow
/// path's all start with `drop_` or `host_drop_`).
fn drops(c: &HashMap<String, u64>) -> u64 {
    c.iter()
        .filter(|(k, _)| k.starts_with("drop_") || k.starts_with("host_drop_"))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn lab_hostile_frames_are_dropped_counted_and_survived() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    lab.start_platd(1, 1500, "auto");
    let before = drops(&lab.fresh_counters());
    let script = repo().join("tests/support/hostile_frames.py");
    let script = script.to_str().unwrap();
    let inside: u64 = ok(
        &lab.client(&["python3", script, "inside", "c0"]),
        "inject inside",
    )
    .trim()
    .parse()
    .unwrap();
    let outside: u64 = ok(
        // Into the TAP: the bridge would drop the runt before platd.
        &lab.appl(&["python3", script, "outside", "t4"]),
        "inject outside",
    )
    .trim()
    .parse()
    .unwrap();
    assert!(inside >= 8 && outside >= 8, "sent {inside} + {outside}");
    std::thread::sleep(Duration::from_millis(300));
    let c = lab.fresh_counters();
    assert!(lab.platd_alive(), "platd survived the hostile frames");
    assert!(
        drops(&c) - before >= inside + outside,
        "{} hostile frames, {} drops counted: {c:?}",
        inside + outside,
        drops(&c) - before
    );
    traffic_checks(&lab);
    lab.stop_platd();
}
