//! What the lab tests share: the namespace lab of `deploy/lab/lab.sh`
//! (an IPv6-only client, platd, an IPv4 router and an IPv4-only server
//! behind it), torn down when dropped, and helpers to run commands in it.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub static LAB_LOCK: Mutex<()> = Mutex::new(());

pub const SERVER_V6: &str = "2001:db8:64::cb00:7102"; // 203.0.113.2 in the lab prefix
/// The router between platd and the server, 192.0.2.254 on platd's link,
/// as the client sees it (in the lab prefix).
pub const ROUTER_V6: &str = "2001:db8:64::c000:2fe";
/// The router's address on platd's link: platd's next hop.
pub const ROUTER_V4: &str = "192.0.2.254";
pub const LAB_DIR: &str = "/tmp/plat-lab-test";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The lab, torn down when dropped (also when a test fails).
pub struct Lab;

impl Lab {
    pub fn script(args: &[&str]) -> Output {
        Command::new("bash")
            .arg(repo().join("deploy/lab/lab.sh"))
            .args(args)
            .env("LAB_DIR", LAB_DIR)
            .env("PLATD", env!("CARGO_BIN_EXE_platd"))
            .env("BIG_FILE_MB", "10")
            .output()
            .expect("run lab.sh")
    }

    pub fn up() -> Lab {
        let out = Self::script(&["up"]);
        assert!(
            out.status.success(),
            "lab up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Lab
    }

    pub fn start_platd(&self, workers: usize, outside_mtu: u16, steering: &str) {
        self.start_platd_with(workers, outside_mtu, &[("STEERING", steering)]);
    }

    /// Starts platd with more settings for lab.sh (`MGMT_GROUP`, ...).
    pub fn start_platd_with(&self, workers: usize, outside_mtu: u16, env: &[(&str, &str)]) {
        self.start_platd_on_links(workers, outside_mtu, 1500, env);
    }

    /// Starts platd with the links (and their peers) at the MTUs given.
    pub fn start_platd_on_links(
        &self,
        workers: usize,
        outside_mtu: u16,
        inside_mtu: u16,
        env: &[(&str, &str)],
    ) {
        let out = Command::new("bash")
            .arg(repo().join("deploy/lab/lab.sh"))
            .args([
                "start-platd",
                &workers.to_string(),
                &outside_mtu.to_string(),
                &inside_mtu.to_string(),
            ])
            .env("LAB_DIR", LAB_DIR)
            .env("PLATD", env!("CARGO_BIN_EXE_platd"))
            .envs(env.iter().copied())
            .output()
            .expect("run lab.sh");
        assert!(
            out.status.success(),
            "start platd: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(Path::new(LAB_DIR).join("platd.log")).unwrap_or_default()
        );
    }

    /// Runs a command in platd's namespace.
    pub fn appl(&self, args: &[&str]) -> Output {
        Self::script(&[&["appl"], args].concat())
    }

    pub fn stop_platd(&self) {
        Self::script(&["stop-platd"]);
    }

    /// Runs a command in the client namespace.
    pub fn client(&self, args: &[&str]) -> Output {
        Self::script(&[&["client"], args].concat())
    }

    /// Runs a command in the server namespace.
    pub fn server(&self, args: &[&str]) -> Output {
        Self::script(&[&["server"], args].concat())
    }

    /// Runs a command in the router namespace (platd's IPv4 neighbor).
    pub fn router(&self, args: &[&str]) -> Output {
        Self::script(&[&["router"], args].concat())
    }

    pub fn platd_alive(&self) -> bool {
        let pid =
            std::fs::read_to_string(Path::new(LAB_DIR).join("run/platd.pid")).unwrap_or_default();
        !pid.trim().is_empty() && Path::new(&format!("/proc/{}", pid.trim())).exists()
    }

    /// curl, a UDP echo and a ping from the client to the server through
    /// platd, each checked; `tag` is the datagram the echo returns.
    pub fn traffic(&self, tag: &str) {
        let page = ok(
            &self.client(&[
                "curl",
                "-sf",
                "--max-time",
                "10",
                &format!("http://[{SERVER_V6}]/"),
            ]),
            "curl",
        );
        assert!(page.contains("hello"), "{page}");
        let echo = ok(
            &self.client(&[
                "sh",
                "-c",
                &format!("echo {tag} | socat -T 3 - 'UDP6:[{SERVER_V6}]:7'"),
            ]),
            "UDP echo",
        );
        assert_eq!(echo.trim(), tag);
        ok(
            &self.client(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", SERVER_V6]),
            "ping",
        );
    }

    /// platd's counter totals, as its stats file shows them now.
    pub fn counters(&self) -> HashMap<String, u64> {
        let text =
            std::fs::read_to_string(Path::new(LAB_DIR).join("stats.json")).expect("stats file");
        let v: serde_json::Value = serde_json::from_str(&text).expect("stats json");
        v["counters"]
            .as_object()
            .expect("counters object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect()
    }

    /// Waits until platd's stats file has been rewritten at least once.
    pub fn fresh_counters(&self) -> HashMap<String, u64> {
        let path = Path::new(LAB_DIR).join("stats.json");
        let before = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let now = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if now != before {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.counters()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "platd log:\n{}",
                std::fs::read_to_string(Path::new(LAB_DIR).join("platd.log")).unwrap_or_default()
            );
        }
        Self::script(&["down"]);
    }
}

/// platctl, built beside platd (built now if the test run did not).
pub fn platctl_built() -> PathBuf {
    let built = Path::new(env!("CARGO_BIN_EXE_platd")).with_file_name("platctl");
    if !built.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "plat-cli", "--bin", "platctl"])
            .status()
            .expect("cargo build platctl");
        assert!(status.success(), "building platctl");
    }
    built
}

pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sha256(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}
