//! Scale-out by routing (issue 20): two active platd nodes behind a BIRD 2
//! router (`deploy/lab/bgp.sh`). ECMP spreads the shared NAT64 prefix over
//! both; each node's pool4 comes back to it alone; a node killed with
//! kill -9 has its routes withdrawn and its flows go to the other node.
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{ok, platctl_built, repo, LAB_LOCK, SERVER_V6};

const LAB_DIR: &str = "/tmp/plat-bgp-test";
const NAT64: &str = "2001:db8:64::/96";
const POOL_N1: &str = "198.51.100.0/28";
const POOL_N2: &str = "198.51.100.16/28";
/// platd's addresses on the router's links: the next hops BGP carries.
const N1_INSIDE: &str = "2001:db8:61::2";
const N2_INSIDE: &str = "2001:db8:62::2";
const N1_OUTSIDE: &str = "192.0.2.2";
const N2_OUTSIDE: &str = "192.0.2.18";

/// The BGP lab, torn down when dropped (also when the test fails).
struct BgpLab;

impl BgpLab {
    fn script(args: &[&str]) -> Output {
        Command::new("bash")
            .arg(repo().join("deploy/lab/bgp.sh"))
            .args(args)
            .env("LAB_DIR", LAB_DIR)
            .env("PLATD", env!("CARGO_BIN_EXE_platd"))
            .env("PLATCTL", platctl_built())
            .output()
            .expect("run bgp.sh")
    }

    fn router(&self, args: &[&str]) -> String {
        ok(&Self::script(&[&["router"], args].concat()), "router")
    }

    /// The router's kernel routes: the NAT64 prefix and both pools.
    fn routes(&self) -> (String, String, String) {
        (
            self.router(&["ip", "-6", "route", "show", NAT64]),
            self.router(&["ip", "route", "show", POOL_N1]),
            self.router(&["ip", "route", "show", POOL_N2]),
        )
    }

    /// UDP flows from distinct source ports to the echo; the pool4
    /// sources the server saw for them.
    fn flows(&self, count: u16, first_port: u16) -> Vec<String> {
        let log = Path::new(LAB_DIR).join("echo.log");
        let before = std::fs::read_to_string(&log).unwrap_or_default().len();
        for i in 0..count {
            let port = first_port + i;
            let tag = format!("flow-{port}");
            let out = Self::script(&[
                "client",
                "sh",
                "-c",
                &format!("echo {tag} | socat -T 3 - 'UDP6:[{SERVER_V6}]:7,sourceport={port}'"),
            ]);
            assert_eq!(ok(&out, "UDP echo").trim(), tag, "flow from port {port}");
        }
        std::thread::sleep(Duration::from_millis(200));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text[before..]
            .lines()
            .filter_map(|l| l.split("receiving packet from AF=2 ").nth(1))
            .map(|s| s.split(':').next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for BgpLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for f in [
                "platd-n1.log",
                "platd-n2.log",
                "health-n1.log",
                "health-n2.log",
            ] {
                eprintln!(
                    "{f}:\n{}",
                    std::fs::read_to_string(Path::new(LAB_DIR).join(f)).unwrap_or_default()
                );
            }
        }
        Self::script(&["down"]);
    }
}

fn in_pool(addr: &str, pool: &str) -> bool {
    let last: u8 = addr
        .rsplit('.')
        .next()
        .and_then(|o| o.parse().ok())
        .unwrap_or(255);
    addr.starts_with("198.51.100.")
        && if pool == POOL_N1 {
            last < 16
        } else {
            (16..32).contains(&last)
        }
}

/// A pool4 route must never point at the node that does not own it.
fn check_pools(p1: &str, p2: &str) {
    assert!(!p1.contains(N2_OUTSIDE), "pool of n1 routed to n2: {p1}");
    assert!(!p2.contains(N1_OUTSIDE), "pool of n2 routed to n1: {p2}");
}

#[test]
fn bgp_ecmp_scale_out_and_withdraw() {
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let up = BgpLab::script(&["up"]);
    let lab = BgpLab;
    ok(&up, "bgp.sh up");

    // (1) Both nodes announce the prefix: one multipath route; each pool
    // goes to its own node only.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    loop {
        let (p6, p1, p2) = lab.routes();
        check_pools(&p1, &p2);
        if p6.contains(N1_INSIDE)
            && p6.contains(N2_INSIDE)
            && p1.contains(N1_OUTSIDE)
            && p2.contains(N2_OUTSIDE)
        {
            eprintln!("routes after {:?}:\n{p6}{p1}{p2}", start.elapsed());
            assert!(p6.contains("nexthop"), "not a multipath route: {p6}");
            break;
        }
        assert!(Instant::now() < deadline, "routes: {p6} | {p1} | {p2}");
        std::thread::sleep(Duration::from_millis(250));
    }

    // (2) 20 flows, all answered, spread over both pools.
    let sources = lab.flows(20, 40000);
    eprintln!("sources: {sources:?}");
    assert_eq!(sources.len(), 20, "{sources:?}");
    assert!(sources.iter().any(|s| in_pool(s, POOL_N1)), "{sources:?}");
    assert!(sources.iter().any(|s| in_pool(s, POOL_N2)), "{sources:?}");

    // (3) kill -9 n1: its prefix route and its pool go.
    ok(&BgpLab::script(&["kill-node", "n1"]), "kill n1");
    let killed = Instant::now();
    let (mut prefix_gone, mut pool_gone) = (None, None);
    while prefix_gone.is_none() || pool_gone.is_none() {
        let (p6, p1, p2) = lab.routes();
        check_pools(&p1, &p2);
        assert!(p2.contains(N2_OUTSIDE), "n2's pool lost: {p2}");
        if prefix_gone.is_none() && !p6.contains(N1_INSIDE) {
            assert!(p6.contains(N2_INSIDE), "prefix lost: {p6}");
            prefix_gone = Some(killed.elapsed());
        }
        if pool_gone.is_none() && p1.trim().is_empty() {
            pool_gone = Some(killed.elapsed());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "n1's routes still there: {p6} | {p1}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "n1 killed: NAT64 route withdrawn after {:?}, pool4 route after {:?}",
        prefix_gone.unwrap_or_default(),
        pool_gone.unwrap_or_default()
    );
    let sources = lab.flows(20, 41000);
    eprintln!("sources after the kill: {sources:?}");
    assert_eq!(sources.len(), 20, "{sources:?}");
    assert!(sources.iter().all(|s| in_pool(s, POOL_N2)), "{sources:?}");
}
