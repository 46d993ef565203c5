//! NAT event logging in the lab: platd exports IPFIX to a collector on its
//! namespace's loopback while curl, a UDP exchange and a ping go through
//! it, and writes the same events as JSON lines. A decoder no one here
//! wrote (tshark's cflow dissector) reads the capture; the test checks
//! each record against what the server saw (nginx's log of the client's
//! address and port), `platctl who` against the live state and `platctl
//! log search` against the local log once the sessions are gone. Then
//! the same with port blocks: block allocation and release records with
//! the block's port range, and no per-session records.

mod support;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{ok, Lab, LAB_DIR, LAB_LOCK};

const CLIENT_V6: &str = "2001:db8:6::2";
const COLLECTOR: &str = "127.0.0.1:4739";
const BLOCK: u16 = 64;

/// One decoded IPFIX data record: tshark field name to value.
type Record = HashMap<String, String>;
/// Per message: its sequence number and how many data records it held.
type Message = (u64, u64);

fn log_file() -> String {
    format!("{LAB_DIR}/nat-events.jsonl")
}

fn platctl(args: &[&str]) -> Output {
    Command::new(support::platctl_built())
        .arg("--socket")
        .arg(format!("{LAB_DIR}/run/platd.sock"))
        .args(args)
        .output()
        .expect("run platctl")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The collector: a UDP socket that takes the messages (without one the
/// kernel answers port unreachable and platd counts the collector down)
/// and tshark capturing them on the appliance's loopback.
struct Capture {
    child: Child,
    sink: Child,
    file: String,
}

impl Capture {
    fn start(name: &str) -> Capture {
        let file = format!("{LAB_DIR}/{name}.pcap");
        let _ = std::fs::remove_file(&file);
        let sink = Command::new("ip")
            .args(["netns", "exec", "plat-appl", "socat", "-u"])
            .arg("UDP4-RECV:4739,bind=127.0.0.1,reuseaddr")
            .arg("/dev/null")
            .spawn()
            .expect("start the UDP sink");
        let child = Command::new("ip")
            .args(["netns", "exec", "plat-appl", "tshark", "-q", "-i", "lo"])
            .args(["-f", "udp port 4739", "-w", &file])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tshark");
        // tshark writes the file's header once it captures.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&file).map_or(true, |m| m.len() == 0) {
            assert!(Instant::now() < deadline, "tshark did not start capturing");
            std::thread::sleep(Duration::from_millis(100));
        }
        Capture { child, sink, file }
    }

    /// Stops the capture and decodes it: one map of tshark field name to
    /// value per IPFIX data record, and per message its sequence number
    /// and data record count.
    fn decode(mut self) -> (Vec<Record>, Vec<Message>) {
        std::thread::sleep(Duration::from_millis(500));
        interrupt(self.child.id());
        let _ = self.child.wait();
        let _ = self.sink.kill();
        let _ = self.sink.wait();
        let out = Command::new("tshark")
            .args(["-r", &self.file, "-d", "udp.port==4739,cflow", "-T", "json"])
            .output()
            .expect("run tshark");
        let text = ok(&out, "tshark -r");
        let packets: Value = serde_json::from_str(&text).expect("tshark json");
        let mut records = Vec::new();
        let mut messages = Vec::new();
        for p in packets.as_array().expect("packets") {
            let cflow = &p["_source"]["layers"]["cflow"];
            let seq = cflow["cflow.sequence"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("a sequence number");
            let before = records.len();
            flows(cflow, &mut records);
            messages.push((seq, (records.len() - before) as u64));
        }
        (records, messages)
    }
}

/// SIGINT, so that tshark finishes its file.
fn interrupt(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

/// Every "Flow N" object under `v` that is a NAT event record.
fn flows(v: &Value, out: &mut Vec<Record>) {
    if let Some(obj) = v.as_object() {
        for (k, child) in obj {
            if k.starts_with("Flow ") && child.get("cflow.nat_event").is_some() {
                out.push(
                    child
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect(),
                );
            } else {
                flows(child, out);
            }
        }
    } else if let Some(a) = v.as_array() {
        for child in a {
            flows(child, out);
        }
    }
}

fn field<'a>(r: &'a Record, name: &str) -> &'a str {
    r.get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

fn num(r: &Record, name: &str) -> u64 {
    field(r, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {r:?}"))
}

/// tshark shows absolute times as text (`Dec  5, 2026 06:58:01.123000000
/// UTC`); GNU date reads it back.
fn observation_ms(r: &Record) -> u64 {
    let text = field(r, "cflow.observation_time_milliseconds");
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &text.replace(" UTC", "").replace("  ", " "),
            "+%s%3N",
        ])
        .output()
        .expect("date");
    ok(&out, "date -d")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("observation time `{text}`"))
}

/// `ms` as RFC 3339 UTC with milliseconds, by GNU date.
fn rfc3339(ms: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}.{:03}", ms / 1000, ms % 1000)])
        .arg("+%Y-%m-%dT%H:%M:%S.%3NZ")
        .output()
        .expect("date");
    ok(&out, "date").trim().to_owned()
}

fn nat_event(r: &Record) -> u64 {
    num(r, "cflow.nat_event")
}

/// The pool4 address and port nginx saw for the last request.
fn server_saw() -> (Ipv4Addr, u16) {
    let log = std::fs::read_to_string(format!("{LAB_DIR}/nginx/access.log")).expect("nginx log");
    let last = log.lines().last().expect("a request in nginx's log");
    let (addr, port) = last
        .split_whitespace()
        .next()
        .and_then(|a| a.rsplit_once(':'))
        .expect("ADDRESS:PORT first");
    (addr.parse().unwrap(), port.parse().unwrap())
}

fn json_lines() -> Vec<Value> {
    std::fs::read_to_string(log_file())
        .expect("the local log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Every event logged was exported or counted lost, per sink.
fn accounting_holds(lab: &Lab) {
    let c = lab.fresh_counters();
    let events = c["log_events"];
    assert!(events > 0, "events were logged");
    assert_eq!(c["drop_log_ring_full"], 0);
    assert_eq!(
        c["log_ipfix_records_sent"] + c["drop_log_ipfix_send"],
        events,
        "{c:?}"
    );
    assert_eq!(c["log_lines_written"] + c["drop_log_file"], events, "{c:?}");
}

/// What both modes check: the tshark decoding names the pool transport
/// address nginx saw, and `who` and `log search` name the client.
struct Run {
    records: Vec<Record>,
    messages: Vec<Message>,
    pool: (Ipv4Addr, u16),
    t0: u64,
    t_during: u64,
    t1: u64,
}

fn run(lab: &Lab, name: &str, port_block: Option<u16>) -> Run {
    let _ = std::fs::remove_file(log_file());
    let capture = Capture::start(name);
    let mut extra = format!(
        "[logging.nat]\ncollectors = [\"{COLLECTOR}\"]\nobservation_domain = 7\n\
         template_refresh = 2\nfile = \"{}\"\n",
        log_file()
    );
    if let Some(b) = port_block {
        // Port blocks count against the per-subscriber port cap.
        extra += &format!("\n[nat64.limits]\nports_per_subscriber = {}\n", 4 * b);
    }
    let block = port_block.map(|b| b.to_string()).unwrap_or_default();
    lab.start_platd_with(
        1,
        1500,
        &[
            ("PLATD_EXTRA", extra.as_str()),
            ("PORT_BLOCK", block.as_str()),
        ],
    );
    log_thread_is_on_the_control_core();
    let t0 = unix_ms();
    lab.traffic("log");
    let pool = server_saw();
    let t_during = unix_ms();

    // Live state names the client for the transport address nginx saw.
    let addr = format!("{}:{}", pool.0, pool.1);
    let who = ok(&platctl(&["--json", "who", &addr, "--proto", "tcp"]), "who");
    let who: Value = serde_json::from_str(&who).expect("who json");
    let holders = who["who"].as_array().expect("a list");
    assert_eq!(holders.len(), 1, "{who}");
    let h = &holders[0]["info"];
    assert_eq!(h["subscriber"], format!("{CLIENT_V6}/128"), "{who}");
    assert_eq!(h["bib"]["v6"]["addr"], CLIENT_V6, "{who}");
    assert_eq!(h["bib"]["v4"]["port"], pool.1, "{who}");
    if port_block.is_some() {
        let (first, last) = (h["block"]["first"].as_u64(), h["block"]["last"].as_u64());
        assert!(first <= Some(u64::from(pool.1)) && last >= Some(u64::from(pool.1)));
    }
    let text = ok(&platctl(&["who", &addr]), "who");
    assert!(text.contains(CLIENT_V6), "{text}");
    let nobody = platctl(&["--json", "who", &format!("{}:1", pool.0), "--proto", "udp"]);
    let nobody: Value = serde_json::from_slice(&nobody.stdout).expect("who json");
    assert_eq!(nobody["who"], serde_json::json!([]));

    // The sessions end (and with them BIB entries and blocks).
    ok(&platctl(&["session", "clear"]), "session clear");
    std::thread::sleep(Duration::from_millis(1500));
    accounting_holds(lab);
    let t1 = unix_ms();
    lab.stop_platd();
    let (records, messages) = capture.decode();

    // Who held it, from the local log, once the state is gone.
    let search = |at: u64| {
        Command::new(support::platctl_built())
            .args(["log", "search", "--v4", &addr, "--proto", "tcp", "--at"])
            .arg(rfc3339(at))
            .arg(log_file())
            .output()
            .expect("platctl log search")
    };
    let found = search(t_during);
    let text = ok(&found, "log search");
    assert!(text.contains(CLIENT_V6), "{text}");
    let before = search(t0 - 60_000);
    assert_eq!(
        before.status.code(),
        Some(1),
        "no one held it before the run"
    );
    Run {
        records,
        messages,
        pool,
        t0,
        t_during,
        t1,
    }
}

/// The log thread runs where the control thread does (the main lcore's
/// CPU), never on a worker's.
fn log_thread_is_on_the_control_core() {
    let pid = std::fs::read_to_string(format!("{LAB_DIR}/run/platd.pid")).unwrap();
    let task = format!("/proc/{}/task", pid.trim());
    let cpus = |tid: &str| {
        let status = std::fs::read_to_string(format!("{task}/{tid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let threads: Vec<(String, String)> = std::fs::read_dir(&task)
        .unwrap()
        .map(|e| {
            let tid = e.unwrap().file_name().into_string().unwrap();
            let comm = std::fs::read_to_string(format!("{task}/{tid}/comm")).unwrap();
            (comm.trim().to_owned(), cpus(&tid))
        })
        .collect();
    let on = |name: &str| {
        threads
            .iter()
            .find(|(c, _)| c == name)
            .map(|(_, cpus)| cpus.clone())
            .unwrap_or_else(|| panic!("no thread {name}: {threads:?}"))
    };
    // The lab's lcores: 0 (main, control) on CPU 0, the worker on CPU 1.
    assert_eq!(on("plat-log"), "0", "{threads:?}");
    assert_eq!(on("platd"), "0", "{threads:?}");
    assert_ne!(on("rte-worker-1"), "0", "{threads:?}");
}

/// RFC 7011 3.1: a message's sequence number counts the data records sent
/// before it.
fn sequence_numbers_count_records(r: &Run) {
    let mut want = r.messages.first().expect("messages").0;
    for &(seq, n) in &r.messages {
        assert_eq!(seq, want, "{:?}", r.messages);
        want = (want + n) % (1 << 32);
    }
}

fn times_are_in_the_run(r: &Run) {
    for rec in &r.records {
        let t = observation_ms(rec);
        assert!(
            (r.t0.saturating_sub(1000)..=r.t1 + 1000).contains(&t),
            "record time {t} outside {}..{}: {rec:?}",
            r.t0,
            r.t1
        );
    }
}

fn per_session(lab: &Lab) {
    let r = run(lab, "sessions", None);
    sequence_numbers_count_records(&r);
    times_are_in_the_run(&r);
    let (pool_addr, pool_port) = r.pool;
    let tcp = |event: u64| {
        r.records.iter().find(|x| {
            nat_event(x) == event
                && num(x, "cflow.protocol") == 6
                && x.get("cflow.post_naptsource_transport_port")
                    .is_some_and(|p| p == &pool_port.to_string())
        })
    };
    // RFC 8158 4.1.1: 10/11 NAT64 BIB create/delete, 6/7 NAT64 session
    // create/delete.
    for event in [10, 6, 11, 7] {
        let x = tcp(event).unwrap_or_else(|| panic!("no natEvent {event} in {:?}", r.records));
        assert_eq!(field(x, "cflow.srcaddrv6"), CLIENT_V6, "{x:?}");
        assert_eq!(
            field(x, "cflow.post_natsource_ipv4_address"),
            pool_addr.to_string(),
            "{x:?}"
        );
        assert!(num(x, "cflow.srcport") > 0, "{x:?}");
    }
    // The UDP exchange and the ping made their sessions too.
    for protos in [&[17][..], &[1, 58]] {
        assert!(
            r.records.iter().any(|x| nat_event(x) == 6
                && protos.contains(&num(x, "cflow.protocol"))
                && field(x, "cflow.srcaddrv6") == CLIENT_V6),
            "no session create for protocol {protos:?}: {:?}",
            r.records
        );
    }
    // Destinations are off by default (RFC 6888 REQ-12).
    assert!(r
        .records
        .iter()
        .all(|x| !x.contains_key("cflow.post_natdestination_ipv4_address")));
    // The local log holds the same bindings.
    let lines = json_lines();
    let tcp_create = lines
        .iter()
        .find(|l| l["nat_event"] == 6 && l["proto"] == "tcp")
        .expect("a TCP session create line");
    assert!(tcp_create.to_string().contains(CLIENT_V6), "{tcp_create}");
    assert!(tcp_create.to_string().contains(&pool_port.to_string()));
    let _ = r.t_during;
}

fn port_blocks(lab: &Lab) {
    let r = run(lab, "blocks", Some(BLOCK));
    sequence_numbers_count_records(&r);
    times_are_in_the_run(&r);
    let (pool_addr, pool_port) = r.pool;
    // RFC 8158 4.1.1: 16/17 port block allocation/de-allocation; the
    // per-session and per-BIB records are left out (RFC 6888 REQ-14).
    assert!(
        r.records
            .iter()
            .all(|x| ![6, 7, 10, 11].contains(&nat_event(x))),
        "{:?}",
        r.records
    );
    for event in [16, 17] {
        let x = r
            .records
            .iter()
            .find(|x| {
                nat_event(x) == event
                    && num(x, "cflow.protocol") == 6
                    && num(x, "cflow.port_range_start") <= u64::from(pool_port)
                    && num(x, "cflow.port_range_end") >= u64::from(pool_port)
            })
            .unwrap_or_else(|| panic!("no natEvent {event} for port {pool_port}: {:?}", r.records));
        assert_eq!(field(x, "cflow.srcaddrv6"), CLIENT_V6, "{x:?}");
        assert_eq!(
            field(x, "cflow.post_natsource_ipv4_address"),
            pool_addr.to_string(),
            "{x:?}"
        );
        assert_eq!(
            num(x, "cflow.port_range_num_ports"),
            u64::from(BLOCK),
            "{x:?}"
        );
    }
    let lines = json_lines();
    assert!(lines.iter().any(|l| l["nat_event"] == 16));
    assert!(lines.iter().all(|l| l["nat_event"] != 6));
}

#[test]
fn nat_events_reach_a_collector_and_the_local_log() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    per_session(&lab);
    port_blocks(&lab);
    assert!(Path::new(&log_file()).exists());
}
