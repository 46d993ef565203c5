//! High availability in the lab: two platd nodes on the client's and the
//! router's links (`lab.sh ha-up`), a sync link between them, and real
//! flows through the pair while nodes die, restart and hand over: a
//! rate-limited 10 MB download (nginx) checked byte-exact on one TCP
//! connection, and a UDP flow whose IPv4 mapping the server reports
//! before and after. Then, through a user-space relay on the sync link,
//! forged, replayed and truncated sync messages, and lost and reordered
//! ones.
//!
//! One lab serves every scenario, in sequence; each prints what it
//! measured (run with `--nocapture` to see it).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ok, sha256, Lab, LAB_DIR, LAB_LOCK, SERVER_V6};

/// The dead interval the lab's nodes run with (the default).
const DEAD_MS: u64 = 1000;
/// The echo that reports the source it saw.
const ECHO_PORT: u16 = 7007;
const RELAY_CONTROL: u16 = 7399;
/// The download's pace: 10 MB in about 10 s.
const RATE: &str = "1M";

fn tools() -> String {
    support::repo()
        .join("tests/support/ha_tools.py")
        .display()
        .to_string()
}

fn lab(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("bash")
        .arg(support::repo().join("deploy/lab/lab.sh"))
        .args(args)
        .env("LAB_DIR", LAB_DIR)
        .env("PLATD", env!("CARGO_BIN_EXE_platd"))
        .envs(env.iter().copied())
        .output()
        .expect("run lab.sh")
}

fn start_node(node: &str, env: &[(&str, &str)]) {
    let out = lab(&["start-node", node, "1"], env);
    ok(&out, &format!("start node {node}"));
}

fn kill_node(node: &str) {
    ok(&lab(&["kill-node", node], &[]), "kill node");
}

fn platctl(node: &str, args: &[&str]) -> Output {
    Command::new(support::platctl_built())
        .arg("--socket")
        .arg(format!("{LAB_DIR}/run/platd-{node}.sock"))
        .args(args)
        .output()
        .expect("run platctl")
}

fn json(node: &str, args: &[&str]) -> Value {
    let out = platctl(node, &[&["--json"], args].concat());
    let text = ok(&out, &format!("platctl {node} {args:?}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

fn ha(node: &str) -> Value {
    json(node, &["ha", "show"])["ha"].take()
}

fn counter(status: &Value, name: &str) -> u64 {
    status["counters"][name].as_u64().unwrap_or(0)
}

/// Waits until `node` is `role` with a live peer whose streams are whole
/// (standby: in sync; active: everything acknowledged).
fn wait_pair(node: &str, role: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = ha(node);
        let synced = s["streams"].as_array().is_some_and(|st| {
            !st.is_empty()
                && st
                    .iter()
                    .all(|w| w["in_sync"] == true && (role == "standby" || w["seq"] == w["acked"]))
        });
        if s["role"] == role && s["peer"]["alive"] == true && synced {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "node {node} never became a synced {role}: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sessions a node holds: what both nodes must agree on (the timers
/// aside, which the sync keeps within the coalescing interval).
fn sessions(node: &str) -> BTreeSet<String> {
    let v = json(node, &["show", "sessions", "--all"]);
    v["sessions"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {} {} {}",
                s["proto"], s["v6"], s["v4"], s["remote"], s["state"], s["held"]
            )
        })
        .collect()
}

/// A download and a UDP flow through the pair, running in the client.
struct Flows {
    curl: Child,
    probe: Child,
    started: Instant,
}

fn spawn_in_client(args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", "plat-client"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn in the client")
}

impl Flows {
    fn spawn(name: &str, seconds: u32) -> Flows {
        let _ = std::fs::remove_file(Path::new(LAB_DIR).join(name));
        let curl = spawn_in_client(&[
            "curl",
            "-sf",
            "--max-time",
            "60",
            "--limit-rate",
            RATE,
            "-o",
            &format!("{LAB_DIR}/{name}"),
            "-w",
            "%{num_connects} %{size_download}",
            &format!("http://[{SERVER_V6}]/big.bin"),
        ]);
        let probe = spawn_in_client(&[
            "python3",
            &tools(),
            "probe",
            SERVER_V6,
            &ECHO_PORT.to_string(),
            &seconds.to_string(),
            "10",
        ]);
        Flows {
            curl,
            probe,
            started: Instant::now(),
        }
    }

    /// Waits for both; checks the download byte-exact on one connection
    /// and the UDP flow on one mapping; returns the longest UDP silence.
    fn finish(self, name: &str, what: &str) -> f64 {
        let curl = self.curl.wait_with_output().expect("curl");
        let curl_out = ok(&curl, &format!("{what}: curl"));
        let probe = self.probe.wait_with_output().expect("probe");
        let probe: Value =
            serde_json::from_str(&ok(&probe, &format!("{what}: probe"))).expect("probe JSON");
        let took = self.started.elapsed();
        let got = sha256(
            &Command::new("sha256sum")
                .arg(format!("{LAB_DIR}/{name}"))
                .output()
                .unwrap(),
        );
        let want = sha256(
            &Command::new("sha256sum")
                .arg(format!("{LAB_DIR}/www/big.bin"))
                .output()
                .unwrap(),
        );
        assert_eq!(got, want, "{what}: the download is not byte-exact");
        assert!(
            curl_out.starts_with("1 "),
            "{what}: curl connected more than once: {curl_out}"
        );
        let sources = probe["sources"].as_array().expect("sources");
        assert_eq!(
            sources.len(),
            1,
            "{what}: the UDP flow's mapping changed: {probe}"
        );
        let gap = probe["longest_gap_ms"].as_f64().unwrap_or(f64::MAX);
        eprintln!(
            "{what}: 10 MB byte-exact on 1 connection in {:.1} s; UDP {} sent, {} answered, \
             mapping {} kept, longest UDP silence {gap} ms",
            took.as_secs_f64(),
            probe["sent"],
            probe["received"],
            sources[0]
        );
        gap
    }
}

/// The server's TCP retransmission timeouts so far (it sends the data).
fn server_rtos() -> u64 {
    let out = ok(
        &lab(&["server", "nstat", "-az", "TcpExtTCPTimeouts"], &[]),
        "nstat",
    );
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("TcpExtTCPTimeouts")).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// The nginx log's lines for big.bin: one per connection that fetched it.
fn big_fetches() -> usize {
    std::fs::read_to_string(Path::new(LAB_DIR).join("nginx/access.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/big.bin"))
        .count()
}

/// The MAC a neighbor table in `ns` (client or router) holds for `ip`,
/// once it holds one (waits up to 3 s for it to be `want`).
fn neighbor_mac(ns: &str, ip: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let out = ok(&lab(&[ns, "ip", "neigh", "show", ip], &[]), "ip neigh");
        let mac = out
            .split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if mac == want || Instant::now() > deadline {
            return mac;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const INSIDE_V6: &str = "2001:db8:6::1";
const OUTSIDE_V4: &str = "192.0.2.1";
const MAC_IN_A: &str = "02:00:00:00:06:0a";
const MAC_IN_B: &str = "02:00:00:00:06:0b";
const MAC_OUT_A: &str = "02:00:00:00:04:01";
const MAC_OUT_B: &str = "02:00:00:00:04:0b";

struct Pair(#[allow(dead_code)] Lab);

impl Pair {
    fn up() -> Pair {
        let lab = Lab::up();
        ok(&self::lab(&["ha-up"], &[]), "ha-up");
        let echo = self::lab(
            &[
                "server",
                "sh",
                "-c",
                &format!(
                    "python3 {} echo 203.0.113.2 {ECHO_PORT} >/dev/null 2>&1 & echo $! > {LAB_DIR}/run/ha-echo.pid",
                    tools()
                ),
            ],
            &[],
        );
        ok(&echo, "the echo");
        Pair(lab)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in ["a", "b"] {
                eprintln!(
                    "platd {n} log:\n{}",
                    std::fs::read_to_string(Path::new(LAB_DIR).join(format!("platd-{n}.log")))
                        .unwrap_or_default()
                );
            }
        }
    }
}

#[test]
fn ha_pair() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _pair = Pair::up();
    start_node("a", &[]);
    start_node("b", &[]);
    wait_pair("a", "active", Duration::from_secs(10));
    wait_pair("b", "standby", Duration::from_secs(10));
    // Only the active answers NDP and ARP for the shared addresses.
    ok(
        &lab(&["client", "ip", "-6", "neigh", "flush", "dev", "c0"], &[]),
        "flush",
    );
    ok(
        &lab(&["router", "ip", "neigh", "flush", "dev", "r0"], &[]),
        "flush",
    );
    ok(
        &lab(
            &["client", "ping", "-6", "-c", "1", "-W", "2", SERVER_V6],
            &[],
        ),
        "ping",
    );
    assert_eq!(neighbor_mac("client", INSIDE_V6, MAC_IN_A), MAC_IN_A);
    assert_eq!(neighbor_mac("router", OUTSIDE_V4, MAC_OUT_A), MAC_OUT_A);

    // 1. kill -9 of the active mid-transfer.
    let fetched = big_fetches();
    let flows = Flows::spawn("kill.bin", 12);
    std::thread::sleep(Duration::from_secs(3));
    kill_node("a");
    let gap = flows.finish("kill.bin", "kill -9 of the active");
    assert!(
        gap < (DEAD_MS + 1000) as f64,
        "the standby took {gap} ms to forward (dead interval {DEAD_MS} ms)"
    );
    assert_eq!(big_fetches(), fetched + 1, "the server saw one connection");
    let b = ha("b");
    assert_eq!(b["role"], "active", "{b:#}");
    assert_eq!(counter(&b, "takeovers"), 1);

    // 2. The standby restarted mid-run: it catches up by a dump, then the
    // active dies and the flows stay.
    let flows = Flows::spawn("restart.bin", 12);
    std::thread::sleep(Duration::from_secs(1));
    let caught_up = Instant::now();
    start_node("a", &[]);
    let a = wait_pair("a", "standby", Duration::from_secs(10));
    eprintln!(
        "restarted standby in sync {} ms after its start ({} dumps applied)",
        caught_up.elapsed().as_millis(),
        counter(&a, "dumps_applied")
    );
    assert!(counter(&a, "dumps_applied") >= 1, "{a:#}");
    assert_eq!(sessions("a"), sessions("b"), "the dump made the same table");
    std::thread::sleep(Duration::from_secs(1));
    kill_node("b");
    let gap = flows.finish(
        "restart.bin",
        "restarted standby, then kill -9 of the active",
    );
    assert!(gap < (DEAD_MS + 1000) as f64, "{gap} ms");

    // 3. Planned switchover: `platctl ha takeover` on the standby, then
    // `ha release` back. No TCP retransmission timeout.
    start_node("b", &[]);
    wait_pair("b", "standby", Duration::from_secs(10));
    wait_pair("a", "active", Duration::from_secs(10));
    let rtos = server_rtos();
    let flows = Flows::spawn("takeover.bin", 12);
    std::thread::sleep(Duration::from_secs(3));
    let t = Instant::now();
    let took = json("b", &["ha", "takeover"])["ha"].take();
    assert_eq!(took["role"], "active", "{took:#}");
    eprintln!("ha takeover answered in {} ms", t.elapsed().as_millis());
    wait_pair("a", "standby", Duration::from_secs(5));
    // The takeover's unsolicited NA and gratuitous ARP moved the neighbors.
    assert_eq!(neighbor_mac("client", INSIDE_V6, MAC_IN_B), MAC_IN_B);
    assert_eq!(neighbor_mac("router", OUTSIDE_V4, MAC_OUT_B), MAC_OUT_B);
    std::thread::sleep(Duration::from_secs(3));
    let t = Instant::now();
    let released = json("b", &["ha", "release"])["ha"].take();
    eprintln!(
        "ha release answered in {} ms: b is {}",
        t.elapsed().as_millis(),
        released["role"]
    );
    let gap = flows.finish("takeover.bin", "ha takeover, then ha release");
    let rtos = server_rtos() - rtos;
    eprintln!("planned switchovers: {rtos} TCP retransmission timeouts on the server");
    assert_eq!(
        rtos, 0,
        "a planned switchover cost a TCP retransmission timeout"
    );
    assert!(
        gap < 500.0,
        "a planned switchover silenced UDP for {gap} ms"
    );
    wait_pair("a", "active", Duration::from_secs(5));
    let scrape = |node: &str| {
        let out = lab(
            &["node", node, "curl", "-sf", "http://127.0.0.1:9464/metrics"],
            &[],
        );
        ok(&out, "metrics")
    };
    assert!(scrape("a").contains("\nplat_ha_active 1\n"));
    let b_metrics = scrape("b");
    assert!(b_metrics.contains("\nplat_ha_active 0\n"), "{b_metrics}");
    assert!(b_metrics.contains("\nplat_ha_gaps_unrecovered_total 0\n"));

    // 4. and 5.: through the relay.
    relay_checks();
}

/// `n` new UDP flows from the client: `n` sessions on the active.
fn flows(n: u32) {
    let out = lab(
        &[
            "client",
            "python3",
            &tools(),
            "flows",
            SERVER_V6,
            &ECHO_PORT.to_string(),
            &n.to_string(),
        ],
        &[],
    );
    ok(&out, "flows");
}

fn relay_ctl(cmd: &str) -> Value {
    let out = lab(
        &[
            "appl",
            "python3",
            &tools(),
            "relay-ctl",
            &RELAY_CONTROL.to_string(),
            cmd,
        ],
        &[],
    );
    serde_json::from_str(&ok(&out, "relay-ctl")).expect("relay counts")
}

fn relay_checks() {
    let relay = lab(
        &[
            "appl",
            "sh",
            "-c",
            &format!(
                "python3 {} relay 2001:db8:ff::100 2001:db8:ff::1 2001:db8:ff::2 {RELAY_CONTROL} \
                 >{LAB_DIR}/relay.log 2>&1 & echo $! > {LAB_DIR}/run/relay.pid",
                tools()
            ),
        ],
        &[],
    );
    ok(&relay, "the relay");
    std::thread::sleep(Duration::from_millis(300));
    // Both nodes again, their sync through the relay.
    let through = [("SYNC_RELAY", "1")];
    kill_node("b");
    kill_node("a");
    start_node("a", &through);
    start_node("b", &through);
    wait_pair("a", "active", Duration::from_secs(10));
    wait_pair("b", "standby", Duration::from_secs(10));
    flows(100);
    wait_pair("b", "standby", Duration::from_secs(10));
    let table = sessions("b");
    assert!(
        table.len() >= 100,
        "{} sessions on the standby",
        table.len()
    );
    assert_eq!(table, sessions("a"));

    // 4. Forged, replayed and truncated messages: refused, counted, and
    // the standby's table unchanged.
    let before = ha("b");
    for kind in ["replay", "forge", "truncate"] {
        relay_ctl(&format!(r#"{{"inject": "{kind}", "count": 8}}"#));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = ha("b");
    let refused =
        |s: &Value| ["refused_mac", "refused_replay", "refused_malformed"].map(|k| counter(s, k));
    let (b0, b1) = (refused(&before), refused(&after));
    eprintln!(
        "injected 8 replayed, 8 forged, 8 truncated: refused mac {}, replay {}, malformed {}",
        b1[0] - b0[0],
        b1[1] - b0[1],
        b1[2] - b0[2]
    );
    assert_eq!(
        b1.iter().sum::<u64>() - b0.iter().sum::<u64>(),
        24,
        "{after:#}"
    );
    assert!(b1[1] > b0[1], "replays refused as replays");
    assert_eq!(
        sessions("b"),
        table,
        "refused messages changed the standby's table"
    );
    // (Genuine records may still arrive meanwhile: the active's table is
    // the reference, not the count of records applied.)
    assert_eq!(sessions("a"), table, "the active's table moved on");

    // 5. A lossy, reordering sync link while sessions come and go, then
    // a clean one: identical tables, and every loss accounted for.
    relay_ctl(r#"{"drop": 0.2, "reorder": 0.1}"#);
    flows(600);
    ok(
        &platctl("a", &["session", "clear", "--proto", "tcp"]),
        "session clear",
    );
    std::thread::sleep(Duration::from_secs(1));
    let counts = relay_ctl(r#"{"drop": 0.0, "reorder": 0.0}"#);
    let b = wait_pair("b", "standby", Duration::from_secs(15));
    wait_pair("a", "active", Duration::from_secs(15));
    let (ta, tb) = (sessions("a"), sessions("b"));
    let a = ha("a");
    eprintln!(
        "lossy sync: relay {counts}; standby: gaps detected {}, recovered {}, unrecovered {}, \
         dumps applied {}; active: resent {}, dumps sent {}; {} sessions on each",
        counter(&b, "gaps_detected"),
        counter(&b, "gaps_recovered"),
        counter(&b, "gaps_unrecovered"),
        counter(&b, "dumps_applied"),
        counter(&a, "resent"),
        counter(&a, "dumps_sent"),
        ta.len()
    );
    assert!(
        counts["dropped"].as_u64().unwrap_or(0) > 0,
        "the relay lost nothing"
    );
    assert!(counter(&b, "gaps_detected") > 0, "{b:#}");
    assert_eq!(ta, tb, "the tables differ after recovery");
    assert!(ta.len() >= 600);
    assert_eq!(
        counter(&b, "gaps_detected"),
        counter(&b, "gaps_recovered") + counter(&b, "gaps_unrecovered"),
        "every gap is recovered or counted: {b:#}"
    );
}
