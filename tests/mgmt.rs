//! The management plane in the lab: platd with its management socket and
//! Prometheus endpoint, driven by `platctl` (one-shot, `--json`, and the
//! interactive shell on a real terminal in tmux), by raw bad requests, by
//! a real unprivileged user, by a real Prometheus server, and by a
//! `config reload` in the middle of a TCP transfer.
//!
//! One lab and one platd serve every scenario, in sequence.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ok, sha256, Lab, LAB_DIR, LAB_LOCK, ROUTER_V4, SERVER_V6};

const GROUP: &str = "plat-mgmt";
/// In the socket's group.
const MEMBER: &str = "plat-operator";
/// Not in it.
const STRANGER: &str = "plat-stranger";
const CLIENT_V6: &str = "2001:db8:6::2";

fn socket() -> String {
    format!("{LAB_DIR}/run/platd.sock")
}

/// platctl, next to platd; copied (once) where any user may run it.
fn platctl_bin() -> PathBuf {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let built = support::platctl_built();
        let dir = Path::new(LAB_DIR).join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("platctl");
        // A new file, not a rewrite: a shell left by an earlier run may
        // still be running the old one.
        let _ = std::fs::remove_file(&copy);
        std::fs::copy(&built, &copy).expect("copy platctl");
        copy
    })
    .clone()
}

fn platctl(args: &[&str]) -> Output {
    Command::new(platctl_bin())
        .arg("--socket")
        .arg(socket())
        .args(args)
        .output()
        .expect("run platctl")
}

fn platctl_as(user: &str, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(platctl_bin())
        .arg("--socket")
        .arg(socket())
        .args(args)
        .output()
        .expect("runuser platctl")
}

/// `platctl --json ARGS`, parsed.
fn json(args: &[&str]) -> Value {
    let out = platctl(&[&["--json"], args].concat());
    let text = ok(&out, &format!("platctl --json {}", args.join(" ")));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// `platctl ARGS` for people: its stdout.
fn text(args: &[&str]) -> String {
    ok(&platctl(args), &format!("platctl {}", args.join(" ")))
}

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sh(cmd: &str) -> Output {
    Command::new("sh").args(["-c", cmd]).output().expect("sh")
}

/// The group and two users: one in it, one not.
fn users() {
    ok(
        &sh(&format!(
            "getent group {GROUP} || groupadd --system {GROUP}"
        )),
        "groupadd",
    );
    for (user, groups) in [(MEMBER, GROUP), (STRANGER, "nogroup")] {
        ok(
            &sh(&format!(
                "id {user} || useradd --system --no-create-home --shell /usr/sbin/nologin \
                 --gid nogroup --groups {groups} {user}"
            )),
            "useradd",
        );
    }
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats["stats"]["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no counter {name}"))["total"]
        .as_u64()
        .unwrap()
}

fn show_commands(lab: &Lab) {
    lab.traffic("mgmt");

    let summary = json(&["show", "summary"]);
    let s = &summary["summary"];
    assert!(s["sessions"]["tcp"].as_u64() >= Some(1), "{s}");
    assert!(s["sessions"]["udp"].as_u64() >= Some(1), "{s}");
    assert!(s["sessions"]["icmp"].as_u64() >= Some(1), "{s}");
    assert!(s["bibs"]["udp"].as_u64() >= Some(1), "{s}");
    assert_eq!(s["workers"], 1);
    assert_eq!(s["ports"][0]["name"], "net_af_packet0");
    assert_eq!(s["ports"][0]["up"], true);
    assert!(s["version"].as_str().unwrap().contains("DPDK"), "{s}");
    let people = text(&["show", "summary"]);
    assert!(people.contains("net_tap1"), "{people}");
    assert!(people.contains("198.51.100.0"), "pool4 use: {people}");

    let sessions = json(&["show", "sessions"]);
    let entries = sessions["sessions"]["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["proto"] == "tcp"
            && e["v6"]["addr"] == CLIENT_V6
            && e["remote"]["addr"] == "203.0.113.2"
            && e["remote"]["port"] == 80),
        "the client's TCP session: {sessions}"
    );
    let udp = json(&["show", "sessions", "--proto", "udp"]);
    let udp = udp["sessions"]["entries"].as_array().unwrap();
    assert!(!udp.is_empty() && udp.iter().all(|e| e["proto"] == "udp"));
    let echo = json(&["show", "sessions", "--port", "7"]);
    assert_eq!(
        echo["sessions"]["entries"].as_array().unwrap().len(),
        1,
        "{echo}"
    );
    let one = json(&["show", "sessions", "--limit", "1"]);
    assert_eq!(one["sessions"]["entries"].as_array().unwrap().len(), 1);
    let count = json(&["show", "sessions", "--v6", "2001:db8:6::/64", "--count"]);
    assert!(count["sessions"]["count"].as_u64() >= Some(3), "{count}");
    let none = json(&["show", "sessions", "--v6", "2001:db8:7::/64", "--count"]);
    assert_eq!(none["sessions"]["count"], 0);
    let people = text(&["show", "sessions", "--proto", "tcp"]);
    assert!(people.contains("203.0.113.2"), "{people}");
    assert!(fails(&platctl(&["show", "sessions", "--proto", "sctp"])).contains("sctp"));

    let bib = json(&["show", "bib", "--v4", "198.51.100.0"]);
    let _ = bib;
    let bib_count = json(&["show", "bib", "--count"]);
    assert!(bib_count["bib"]["count"].as_u64() >= Some(3), "{bib_count}");
    assert!(text(&["show", "bib"]).contains(CLIENT_V6));

    let sub = json(&["show", "subscriber", CLIENT_V6]);
    let info = &sub["subscriber"][0]["info"];
    assert!(info["sessions"].as_u64() >= Some(3), "{sub}");
    assert_eq!(info["prefix"], format!("{CLIENT_V6}/128"));
    assert!(text(&["show", "subscriber", CLIENT_V6]).contains("198.51.100."));

    let stats = json(&["show", "stats"]);
    assert!(counter(&stats, "rx_inside") > 0);
    assert!(counter(&stats, "nat_sessions_created") >= 3);
    let w0 = json(&["show", "stats", "--worker", "0", "--rates"]);
    assert_eq!(w0["stats"]["rows"], serde_json::json!(["worker 0"]));
    assert!(w0["stats"]["interval_ms"].as_u64().is_some());
    let err = fails(&platctl(&["show", "stats", "--worker", "7"]));
    assert!(err.contains("worker"), "{err}");
    assert!(text(&["show", "stats"]).contains("xlat_v6_to_v4"));
    let watch = text(&[
        "watch",
        "stats",
        "--iterations",
        "2",
        "--interval-ms",
        "300",
    ]);
    assert!(watch.to_lowercase().contains("busy"), "{watch}");
    assert!(watch.contains("new sessions/s"), "{watch}");

    let neighbors = json(&["show", "neighbors"]);
    let n = neighbors["neighbors"].as_array().unwrap();
    assert!(
        n.iter()
            .any(|e| e["ip"] == CLIENT_V6 && e["mac"].is_string()),
        "{neighbors}"
    );
    // The server is behind the router: platd's IPv4 neighbor is the router.
    assert!(n.iter().any(|e| e["ip"] == ROUTER_V4), "{neighbors}");
    assert!(text(&["show", "neighbors"]).contains(ROUTER_V4));

    let workers = json(&["show", "workers"]);
    assert_eq!(workers["workers"].as_array().unwrap().len(), 1);
    assert_eq!(workers["workers"][0]["lcore"], 1);
    assert!(text(&["show", "workers"]).contains('0'));

    let config = text(&["show", "config"]);
    assert!(
        config.contains("[nat64]") && config.contains("198.51.100.0"),
        "{config}"
    );
    assert!(json(&["show", "config"])["config"]["generation"].as_u64() >= Some(1));
}

fn pool4_and_config_check() {
    let pool = json(&["show", "pool4"]);
    let addrs = pool["pool4"]["addrs"].as_array().unwrap();
    assert_eq!(addrs.len(), 8, "a /29: {pool}");
    assert!(text(&["show", "pool4"]).contains("198.51.100.7"));

    let added = json(&["pool4", "add", "198.51.100.8/30", "--udp", "2000-2999"]);
    assert!(
        added["applied"]["changes"][0]
            .as_str()
            .unwrap()
            .contains("added 198.51.100.8/30"),
        "{added}"
    );
    let pool = json(&["show", "pool4"]);
    assert_eq!(pool["pool4"]["addrs"].as_array().unwrap().len(), 12);
    let again = fails(&platctl(&["pool4", "add", "198.51.100.8/30"]));
    assert!(again.contains("already"), "{again}");
    let overlap = fails(&platctl(&["pool4", "add", "198.51.100.0/28"]));
    assert!(overlap.contains("overlaps"), "{overlap}");
    json(&["pool4", "remove", "198.51.100.8/30"]);
    let gone = fails(&platctl(&["pool4", "remove", "198.51.100.8/30"]));
    assert!(gone.contains("not a pool4 entry"), "{gone}");

    let running = std::fs::read_to_string(format!("{LAB_DIR}/platd.toml")).unwrap();
    let file = |name: &str, body: &str| {
        let p = format!("{LAB_DIR}/{name}");
        std::fs::write(&p, body).unwrap();
        p
    };
    let same = file("same.toml", &running);
    let checked = json(&["config", "check", &same]);
    assert_eq!(checked["applied"]["changes"], serde_json::json!([]));
    let bad = file(
        "bad.toml",
        &running.replace("198.51.100.0/29", "198.51.100.1/29"),
    );
    let err = fails(&platctl(&["config", "check", &bad]));
    assert!(
        err.contains("nat64.pool4[0]") && err.contains("host bits"),
        "{err}"
    );
    let fixed = file(
        "fixed.toml",
        &running.replace("idle_sleep_us = 100", "idle_sleep_us = 50"),
    );
    let err = fails(&platctl(&["config", "check", &fixed]));
    assert!(err.contains("workers.idle_sleep_us"), "{err}");
}

/// Sends `bytes` on a fresh connection and reads one response line.
fn raw(bytes: &[u8]) -> Value {
    let mut s = UnixStream::connect(socket()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).expect("a response");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn bad_requests_do_not_disturb_others() {
    let v = raw(b"{\"version\":1,\"command\":\"show_everything\"}\n");
    assert_eq!(v["error"]["kind"], "malformed", "{v}");
    let v = raw(b"this is not json\n");
    assert_eq!(v["error"]["kind"], "malformed", "{v}");
    let v = raw(b"{\"version\":9,\"id\":4,\"command\":\"show_summary\"}\n");
    assert_eq!(v["error"]["kind"], "unsupported_version", "{v}");
    assert_eq!(v["id"], 4);
    let mut big = vec![b'x'; 300 * 1024];
    big.push(b'\n');
    let v = raw(&big);
    assert_eq!(v["error"]["kind"], "too_large", "{v}");

    // Half a request, then silence: the server answers with a timeout once
    // the read timeout passes, and serves everyone else meanwhile.
    let half = std::thread::spawn(|| raw(b"{\"version\":1,\"command\":"));
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let s = json(&["show", "summary"]);
    assert!(s["summary"]["uptime_s"].is_u64());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "served while another client stalls"
    );
    let v = half.join().unwrap();
    assert_eq!(v["error"]["kind"], "timeout", "{v}");

    // A well-formed request after a refused one on the same connection.
    let mut s = UnixStream::connect(socket()).unwrap();
    s.write_all(b"nonsense\n{\"version\":1,\"id\":2,\"command\":\"show_workers\"}\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let (mut first, mut second) = (String::new(), String::new());
    r.read_line(&mut first).unwrap();
    r.read_line(&mut second).unwrap();
    assert!(first.contains("malformed"), "{first}");
    assert!(
        second.contains("\"id\":2") && second.contains("workers"),
        "{second}"
    );
}

fn socket_access() {
    let err = fails(&platctl_as(STRANGER, &["show", "summary"]));
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    let out = platctl_as(MEMBER, &["--json", "show", "summary"]);
    assert!(ok(&out, "platctl as a member of the group").contains("uptime_s"));
}

/// A real Prometheus server scrapes platd every second; what it stored
/// equals what platctl reads.
fn prometheus(lab: &Lab) {
    let dir = format!("{LAB_DIR}/prometheus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        format!("{dir}/prometheus.yml"),
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: plat\n    static_configs:\n      - targets: ['127.0.0.1:9464']\n",
    )
    .unwrap();
    let mut server = Command::new("ip")
        .args(["netns", "exec", "plat-appl", "prometheus"])
        .arg(format!("--config.file={dir}/prometheus.yml"))
        .arg(format!("--storage.tsdb.path={dir}/data"))
        .arg("--web.listen-address=127.0.0.1:9090")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(format!("{dir}/log")).unwrap())
        .spawn()
        .expect("start prometheus");

    let exposition = ok(
        &lab.appl(&["curl", "-sf", "http://127.0.0.1:9464/metrics"]),
        "GET /metrics",
    );
    std::fs::write(format!("{dir}/metrics.txt"), &exposition).unwrap();
    ok(
        &sh(&format!("promtool check metrics < {dir}/metrics.txt")),
        "promtool check metrics",
    );

    // The traffic is over, so the counter stands still; wait for a scrape
    // that saw its value.
    let want = counter(&json(&["show", "stats"]), "xlat_v6_to_v4");
    assert!(want > 0);
    let query = "sum(plat_xlat_v6_to_v4_total)";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last;
    let got = loop {
        let out = lab.appl(&[
            "curl",
            "-sf",
            "--get",
            "--data-urlencode",
            &format!("query={query}"),
            "http://127.0.0.1:9090/api/v1/query",
        ]);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        let value = serde_json::from_str::<Value>(&last).ok().and_then(|v| {
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
        });
        if value == Some(want as f64) || Instant::now() > deadline {
            break value;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(got, Some(want as f64), "Prometheus has {last}");
}

/// `config reload` adding a pool4 prefix and changing a timeout in the
/// middle of a TCP transfer: the transfer completes byte-exact.
fn reload_keeps_sessions(lab: &Lab) {
    let want = sha256(&lab.server(&["sha256sum", &format!("{LAB_DIR}/www/big.bin")]));
    let transfer = Command::new("bash")
        .arg(support::repo().join("deploy/lab/lab.sh"))
        .args([
            "client",
            "sh",
            "-c",
            &format!(
                "curl -sf --max-time 60 --limit-rate 2M 'http://[{SERVER_V6}]/big.bin' | sha256sum"
            ),
        ])
        .env("LAB_DIR", LAB_DIR)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the transfer");
    std::thread::sleep(Duration::from_millis(1500));
    let during = json(&["show", "sessions", "--proto", "tcp", "--port", "80"]);
    assert!(
        !during["sessions"]["entries"].as_array().unwrap().is_empty(),
        "the transfer's session before the reload: {during}"
    );

    let path = format!("{LAB_DIR}/platd.toml");
    let running = std::fs::read_to_string(&path).unwrap();
    let edited = running.replace(
        "pool4 = [\"198.51.100.0/29\"]",
        "pool4 = [\"198.51.100.0/29\", \"198.51.100.8/30\"]\ntimeouts = { udp = 600 }",
    );
    assert_ne!(edited, running, "the lab's pool4 line moved");
    std::fs::write(&path, edited).unwrap();
    let reload = json(&["config", "reload"]);
    let changes = reload["applied"]["changes"].to_string();
    assert!(changes.contains("added 198.51.100.8/30"), "{reload}");
    assert!(
        changes.contains("nat64.timeouts.udp: 300 -> 600"),
        "{reload}"
    );

    let out = transfer.wait_with_output().unwrap();
    assert_eq!(sha256(&out), want, "10 MB across the reload, byte-exact");
    let pool = json(&["show", "pool4"]);
    assert_eq!(pool["pool4"]["entries"].as_array().unwrap().len(), 2);
    // A new UDP session lives by the new timeout.
    lab.traffic("mgmt");
    let udp = json(&["show", "sessions", "--proto", "udp", "--port", "7"]);
    let left = udp["sessions"]["entries"][0]["expires_in"]
        .as_u64()
        .unwrap();
    assert!(left > 300, "a fresh UDP session has {left} s left");
    let cleared = json(&["session", "clear", "--proto", "icmp"]);
    assert!(
        cleared["cleared"]["sessions"].as_u64() >= Some(1),
        "{cleared}"
    );
    let icmp = json(&["show", "sessions", "--proto", "icmp", "--count"]);
    assert_eq!(icmp["sessions"]["count"], 0);
}

fn tmux(args: &[&str]) -> String {
    ok(
        &Command::new("tmux").args(args).output().expect("tmux"),
        &format!("tmux {}", args.join(" ")),
    )
}

/// The screen once `want` is on it (or the last one, for the message).
fn screen_with(want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", "platctl"]);
        if screen.contains(want) || Instant::now() > deadline {
            return screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(k: &[&str]) {
    tmux(&[&["send-keys", "-t", "platctl"], k].concat());
}

/// The shell on a real terminal: completion, help, history across runs.
fn shell() {
    let history = format!("{LAB_DIR}/platctl_history");
    let _ = std::fs::remove_file(&history);
    let start = || {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", "platctl"])
            .output();
        tmux(&[
            "new-session",
            "-d",
            "-s",
            "platctl",
            "-x",
            "200",
            "-y",
            "50",
            &format!(
                "env PLATCTL_HISTORY={history} {} --socket {}; sleep 30",
                platctl_bin().display(),
                socket()
            ),
        ]);
        let s = screen_with("platctl>");
        assert!(s.contains("platctl>"), "the prompt: {s}");
    };
    start();
    keys(&["show summ", "Tab"]);
    let s = screen_with("show summary");
    assert!(s.contains("show summary"), "show summ<TAB> completes: {s}");
    keys(&["Enter"]);
    let s = screen_with("net_af_packet0");
    assert!(s.contains("net_af_packet0"), "the summary: {s}");
    keys(&["clear", "Enter"]);
    keys(&["show sessions --proto ", "Tab", "Tab"]);
    let s = screen_with("icmp");
    assert!(
        s.contains("icmp") && s.contains("udp"),
        "protocols offered: {s}"
    );
    keys(&["C-u"]);
    keys(&["help", "Enter"]);
    let s = screen_with("session clear");
    assert!(
        s.contains("show sessions") && s.contains("session clear"),
        "help: {s}"
    );
    keys(&["?", "Enter"]);
    keys(&["exit", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    let saved = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(saved.contains("show summary"), "history file: {saved}");

    start();
    // Back through the last run's history: `exit`, then `?`.
    keys(&["Up", "Up"]);
    let s = screen_with("platctl> ?");
    assert!(
        s.lines().any(|l| l.trim_end() == "platctl> ?"),
        "the last run's commands come back: {s}"
    );
    keys(&["C-u", "exit", "Enter"]);
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", "platctl"])
        .output();
}

#[test]
fn management_plane_in_the_lab() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    users();
    let lab = Lab::up();
    lab.start_platd_with(1, 1500, &[("MGMT_GROUP", GROUP)]);
    show_commands(&lab);
    pool4_and_config_check();
    bad_requests_do_not_disturb_others();
    socket_access();
    prometheus(&lab);
    reload_keeps_sessions(&lab);
    shell();
    assert!(lab.platd_alive(), "platd served it all");
    lab.stop_platd();
}
