//! plat-bench against a running platd (issue 19, acceptance 3): short,
//! slow runs (UDP both ways, UDP one way, TCP connections) over net_memif
//! links whose accounting must close. Every frame
//! the tester's links took is either received back or counted by platd as
//! dropped, and platd holds one session for every flow the run opened.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DIR: &str = "/tmp/plat-bench-test";

/// plat-bench, built now (it lives in another package of the workspace).
fn plat_bench_built() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-p",
            "pktgen-scenarios",
            "--bin",
            "plat-bench",
            "--bin",
            "plat-scenarios",
        ])
        .status()
        .expect("cargo build plat-bench");
    assert!(status.success(), "building plat-bench");
    Path::new(env!("CARGO_BIN_EXE_platd")).with_file_name("plat-bench")
}

fn run(scenario: &str, args: &[&str]) -> Vec<Value> {
    let json = Path::new(DIR).join(format!("{scenario}.jsonl"));
    let _ = std::fs::remove_file(&json);
    let bench = plat_bench_built();
    let out = Command::new("bash")
        .arg("deploy/bench/plat-bench.sh")
        .args([scenario, "accounting"])
        .args(args)
        .env("PLATD", env!("CARGO_BIN_EXE_platd"))
        .env("PLATCTL", support::platctl_built())
        .env("PLAT_BENCH", &bench)
        .env("PLAT_SCENARIOS", bench.with_file_name("plat-scenarios"))
        .env("BENCH_DIR", DIR)
        .env("BENCH_RUN", Path::new(DIR).join("run"))
        .env("JSON", &json)
        .output()
        .expect("running deploy/bench/plat-bench.sh");
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    assert!(
        out.status.success(),
        "plat-bench failed ({}):\nstdout: {}\nstderr: {}\nplatd log: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(Path::new(DIR).join("platd-memif.log")).unwrap_or_default()
    );
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect()
}

fn accounting(records: &[Value]) -> &Value {
    &records
        .iter()
        .find(|r| r["measurement"] == "accounting")
        .expect("an accounting record")["result"]
}

#[test]
fn plat_bench_accounting_closes_both_ways_and_counts_every_session() {
    std::fs::create_dir_all(DIR).unwrap();
    // 1,000 flows (100 subscribers x 10 ports), every frame answered by
    // the tester's responder.
    let recs = run("udp64-1k", &["--rate", "20000"]);
    let a = accounting(&recs);
    assert_eq!(a["frames_close"], true, "{a}");
    assert_eq!(a["sessions_close"], true, "{a}");
    assert_eq!(a["flows"], 1000, "{a}");
    assert_eq!(a["sessions"], 1000, "{a}");
    // Both directions went through: 1,000 out and 1,000 answers back.
    assert_eq!(a["sent"], 2000, "{a}");
    assert_eq!(a["trial"]["returned"], 1000, "{a}");
    assert_eq!(recs[0]["dut"], "platd");

    // RFC 4814 pseudorandom ports, one direction: 3,000 flows of the
    // 1 M established scenario.
    let recs = run(
        "udp64-established",
        &["--rate", "20000", "--flows", "3000", "--unidirectional"],
    );
    let a = accounting(&recs);
    assert_eq!(a["frames_close"], true, "{a}");
    assert_eq!(a["sessions"], 3000, "{a}");
    assert_eq!(a["trial"]["forwarded"], 3000, "{a}");
    assert_eq!(a["trial"]["returned"], 0, "{a}");

    // TCP: every connection's seven segments (SYN, SYN-ACK, request,
    // response, FIN both ways, last ACK) through platd, the tester playing
    // both ends.
    let recs = run("tcp-cps", &["--rate", "5000", "--flows", "500"]);
    let a = accounting(&recs);
    assert_eq!(a["frames_close"], true, "{a}");
    assert_eq!(a["sessions"], 500, "{a}");
    assert_eq!(a["trial"]["connections_opened"], 500, "{a}");
    assert_eq!(a["trial"]["connections_completed"], 500, "{a}");
    assert_eq!(a["sent"], 500 * 7, "{a}");
}
