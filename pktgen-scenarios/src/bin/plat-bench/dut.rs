//! The device under test as its operator sees it: `platctl --json`
//! answers (sessions, drop counters) and `platctl session clear`, and the
//! process's resident memory from /proc.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Counters named `drop_*` that count events, not frames: left out of
/// the frames platd dropped.
const NOT_FRAMES: &[&str] = &["drop_log_ring_full", "drop_sync_ring_full"];

/// platd, reached through platctl.
pub struct Dut {
    platctl: PathBuf,
    socket: PathBuf,
    pid: Option<u32>,
}

/// What platd's counters said at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Sessions (all protocols), from `show summary`.
    pub sessions: u64,
    /// Frames dropped, all `drop_*` frame counters, from `show stats`.
    pub dropped: u64,
    /// Frames received on both ports.
    pub received: u64,
    /// Frames sent on both ports.
    pub sent: u64,
}

impl Dut {
    /// platd behind `socket`, asked with the `platctl` binary; `pid` for
    /// memory readings.
    pub fn new(platctl: PathBuf, socket: PathBuf, pid: Option<u32>) -> Dut {
        Dut {
            platctl,
            socket,
            pid,
        }
    }

    fn ask(&self, args: &[&str]) -> Result<Value> {
        let out = Command::new(&self.platctl)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--json")
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.platctl.display()))?;
        if !out.status.success() {
            bail!(
                "platctl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("platctl {}: not JSON", args.join(" ")))
    }

    /// Reads sessions and the frame counters once.
    pub fn snapshot(&self) -> Result<Snapshot> {
        // platctl --json wraps each answer in an object named for its kind.
        let summary = self.ask(&["show", "summary"])?;
        let s = &summary.get("summary").unwrap_or(&summary)["sessions"];
        let sessions = ["tcp", "udp", "icmp"]
            .iter()
            .map(|p| s[p].as_u64().unwrap_or(0))
            .sum();
        let stats = self.ask(&["show", "stats", "--all"])?;
        let mut snap = Snapshot {
            sessions,
            ..Snapshot::default()
        };
        let stats = stats.get("stats").unwrap_or(&stats);
        for c in stats["counters"]
            .as_array()
            .context("show stats: no counters")?
        {
            let name = c["name"].as_str().unwrap_or("");
            let total = c["total"].as_u64().unwrap_or(0);
            match name {
                "rx_inside" | "rx_outside" => snap.received += total,
                "tx_inside" | "tx_outside" => snap.sent += total,
                n if n.starts_with("drop_") && !NOT_FRAMES.contains(&n) => snap.dropped += total,
                _ => {}
            }
        }
        Ok(snap)
    }

    /// A snapshot once platd's counters have settled (workers publish
    /// them periodically): two equal readings in a row, or the last after
    /// `secs`.
    pub fn settled(&self, secs: u64) -> Result<Snapshot> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = self.snapshot()?;
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.snapshot()?;
            if now == last || Instant::now() > deadline {
                return Ok(now);
            }
            last = now;
        }
    }

    /// Deletes every session and waits until `show summary` counts none;
    /// returns how long that took, from the command to the empty table.
    pub fn clear_sessions(&self) -> Result<Duration> {
        let t0 = Instant::now();
        self.ask(&["session", "clear"])?;
        loop {
            if self.snapshot()?.sessions == 0 {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("sessions still present 120 s after `session clear`");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// platd's resident memory in bytes (VmRSS), when its pid is known.
    pub fn rss_bytes(&self) -> Result<Option<u64>> {
        let Some(pid) = self.pid else { return Ok(None) };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        Ok(status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024))
    }
}
