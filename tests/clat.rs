//! 464XLAT end to end (RFC 6877; RFC 8683 4.6): IPv4-only applications on
//! the IPv6-only client reach the IPv4-only server by IPv4 literal through
//! a CLAT (TAYGA in the client namespace, `lab.sh clat-up`) and platd as
//! the PLAT. curl, ping and socat speak IPv4 only; platd sees IPv6 from
//! the CLAT's address.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{ok, platctl_built, sha256, Lab, LAB_DIR, LAB_LOCK};

/// The CLAT's IPv6 address (lab.sh `CLAT6`): the subscriber platd sees.
const CLAT_V6: &str = "2001:db8:6::464";
/// The client's own address, which IPv4 traffic must not use.
const CLIENT_V6: &str = "2001:db8:6::2";
const SERVER_V4: &str = "203.0.113.2";

/// `platctl --json show sessions ARGS`: the entries listed.
fn sessions(args: &[&str]) -> Vec<Value> {
    let out = Command::new(platctl_built())
        .arg("--socket")
        .arg(format!("{LAB_DIR}/run/platd.sock"))
        .args(["--json", "show", "sessions"])
        .args(args)
        .output()
        .expect("run platctl");
    let text = ok(&out, &format!("platctl show sessions {}", args.join(" ")));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["sessions"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries: {v}"))
        .clone()
}

fn tayga_pid() -> String {
    std::fs::read_to_string(Path::new(LAB_DIR).join("run/tayga.pid"))
        .expect("TAYGA's pid file")
        .trim()
        .to_owned()
}

/// Alive, and not a zombie waiting for its parent.
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !state.starts_with('Z')
    })
}

/// IPv4 traffic of acceptance 2: 10 MB by IPv4 literal byte-exact, ping,
/// a UDP exchange, every session platd holds for it from the CLAT.
#[test]
fn rfc6877_464xlat_ipv4_only_apps_through_clat_and_plat() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up();
    lab.start_platd(1, 1500, "auto");
    ok(&Lab::script(&["clat-up"]), "lab.sh clat-up");

    // TCP: the 10 MB file by IPv4 literal, byte-exact.
    let want = sha256(&lab.server(&["sha256sum", &format!("{LAB_DIR}/www/big.bin")]));
    assert_eq!(want.len(), 64);
    let got = lab.client(&[
        "sh",
        "-c",
        &format!("curl -4 -sf --max-time 60 http://{SERVER_V4}/big.bin | sha256sum"),
    ]);
    assert_eq!(sha256(&got), want, "10 MB by IPv4 literal through the CLAT");

    // ICMP: an IPv4 echo, translated twice each way.
    ok(
        &lab.client(&["ping", "-c", "3", "-i", "0.2", "-W", "2", SERVER_V4]),
        "ping through the CLAT",
    );

    // UDP: a datagram to the echo service and back.
    let echo = ok(
        &lab.client(&[
            "sh",
            "-c",
            &format!("echo plat-clat-udp | socat -T 3 - UDP4:{SERVER_V4}:7"),
        ]),
        "UDP echo through the CLAT",
    );
    assert_eq!(echo.trim(), "plat-clat-udp");

    // platd's side: every flow came from the CLAT's IPv6 address, none
    // from the client's own, and left from the pool.
    let from_clat = sessions(&["--v6", CLAT_V6]);
    for proto in ["tcp", "udp", "icmp"] {
        assert!(
            from_clat.iter().any(|e| e["proto"] == proto
                && e["v6"]["addr"] == CLAT_V6
                && e["remote"]["addr"] == SERVER_V4
                && e["v4"]["addr"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("198.51.100."))),
            "a {proto} session from {CLAT_V6}: {from_clat:?}"
        );
    }
    assert!(
        sessions(&["--v6", CLIENT_V6]).is_empty(),
        "IPv4 applications bypassed the CLAT"
    );

    // clat-down leaves the IPv6-only client: no IPv4 route, TAYGA gone,
    // IPv6 through platd as before.
    let tayga = tayga_pid();
    assert!(running(&tayga), "TAYGA runs");
    ok(&Lab::script(&["clat-down"]), "lab.sh clat-down");
    assert!(!running(&tayga), "clat-down stops TAYGA");
    assert!(
        !lab.client(&["ip", "-4", "route", "get", SERVER_V4])
            .status
            .success(),
        "no IPv4 route without the CLAT"
    );
    lab.traffic("after-clat");

    // `down` stops TAYGA too.
    ok(&Lab::script(&["clat-up"]), "lab.sh clat-up again");
    let tayga = tayga_pid();
    assert!(running(&tayga), "TAYGA runs again");
    lab.stop_platd();
    drop(lab);
    assert!(!running(&tayga), "lab.sh down stops TAYGA");
}
