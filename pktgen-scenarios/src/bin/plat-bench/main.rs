//! plat-bench: a DPDK tester in its own process that measures platd the
//! way RFC 8219 (benchmarking IPv6 transition technologies) and RFC 9693
//! (stateful NATxy gateways) say: throughput, latency, packet delay
//! variation, frame loss rate, connection establishment and tear-down
//! rates, table capacity. It reaches platd's two ports over `net_memif`
//! links (platd is the memif server of each), sends a scenario's IPv6
//! frames into the inside, answers each translated IPv4 frame from the
//! server side as RFC 9693's responder does, and counts what comes back.
//!
//! Output: a human summary on stdout and one JSON record per measurement
//! (`--json FILE`, appended; `-` for stdout).

mod dut;
mod frames;
mod histogram;
mod links;
mod measure;
mod report;
mod tcp;
mod trial;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use pktgen_scenarios::{scenario, Traffic, SCENARIOS};
use serde_json::json;

use crate::dut::Dut;
use crate::frames::{FlowTable, Sizes};
use crate::links::{Links, Wiring};
use crate::measure::{Bench, Settings};
use crate::report::Report;
use crate::trial::Tester;

/// A measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Test {
    /// RFC 9693 preliminary phase alone: every flow once.
    Fill,
    /// RFC 8219 7.1 throughput (binary search, zero loss), after the
    /// preliminary phase.
    Throughput,
    /// RFC 8219 7.2 latency and 7.3.1 PDV at --rate (default: the
    /// throughput just measured).
    Latency,
    /// RFC 8219 7.4 frame loss rate from --rate (default --max-rate) down.
    FrameLoss,
    /// RFC 9693 maximum connection establishment rate.
    ConnRate,
    /// RFC 9693 connection tear-down rate.
    Teardown,
    /// RFC 9693 connection tracking table capacity (and bytes per session
    /// with --dut-pid).
    Capacity,
    /// Frames sent = received + platd drops, sessions = flows (a short
    /// check for the test command); exits non-zero when it does not close.
    Accounting,
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "RFC 8219 / RFC 9693 measurements of platd over net_memif links"
)]
struct Cli {
    /// Scenario (from pktgen-scenarios; `plat-scenarios list`).
    #[arg(long, default_value = "udp64-established")]
    scenario: String,
    /// Measurements, in order (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "throughput,latency")]
    tests: Vec<Test>,
    /// platd's inside port's memif socket.
    #[arg(long, default_value = "/run/plat-bench/inside.sock")]
    inside: PathBuf,
    /// platd's outside port's memif socket.
    #[arg(long, default_value = "/run/plat-bench/outside.sock")]
    outside: PathBuf,
    /// No platd: the tester's own ceiling, inside wired to outside by one
    /// memif link at this socket.
    #[arg(long)]
    loopback: Option<PathBuf>,
    /// platctl binary.
    #[arg(long, default_value = "platctl")]
    platctl: PathBuf,
    /// platd's management socket.
    #[arg(long, default_value = "/run/plat/platd.sock")]
    mgmt: PathBuf,
    /// platd's pid, for its memory per session (capacity).
    #[arg(long)]
    dut_pid: Option<u32>,
    /// Use the scenario's first N flows only.
    #[arg(long)]
    flows: Option<u64>,
    /// Frame size without FCS (default: the scenario's).
    #[arg(long)]
    frame_len: Option<usize>,
    /// Seconds per trial (RFC 8219 asks 60 for throughput; shorter trials
    /// find the same rate on a quiet machine in less time).
    #[arg(long, default_value_t = 5.0)]
    trial_s: f64,
    /// Top of the binary search, frames per second per direction.
    #[arg(long, default_value_t = 16e6)]
    max_rate: f64,
    /// Binary search resolution (relative).
    #[arg(long, default_value_t = 0.02)]
    resolution: f64,
    /// Rate for latency, frame loss and accounting.
    #[arg(long)]
    rate: Option<f64>,
    /// Preliminary-phase (table fill) rate, new flows per second.
    #[arg(long, default_value_t = 500e3)]
    fill_rate: f64,
    /// Share of frames a throughput trial may lose (0: RFC 8219's zero
    /// loss; 0.005: a 0.5 % partial drop rate).
    #[arg(long, default_value_t = 0.0)]
    loss_tolerance: f64,
    /// Inside to outside only (no responder).
    #[arg(long)]
    unidirectional: bool,
    /// Seconds to keep receiving after each trial.
    #[arg(long, default_value_t = 0.1)]
    drain_s: f64,
    /// Append one JSON record per measurement here (`-`: stdout).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The tester's lcore.
    #[arg(long, default_value_t = 0)]
    lcore: u32,
    /// Mbufs in the tester's pool.
    #[arg(long, default_value_t = 16384)]
    mbufs: u32,
    /// More EAL arguments.
    #[arg(long, allow_hyphen_values = true)]
    eal: Vec<String>,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("plat-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let sc = scenario(&cli.scenario).with_context(|| {
        let names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        format!(
            "--scenario: no scenario `{}` (have: {})",
            cli.scenario,
            names.join(", ")
        )
    })?;
    match sc.traffic {
        Traffic::Udp | Traffic::Imix => {}
        Traffic::Tcp
            if cli
                .tests
                .iter()
                .all(|t| matches!(t, Test::ConnRate | Test::Accounting)) => {}
        Traffic::Tcp => bail!(
            "--scenario {}: TCP connections are measured by conn-rate and accounting only",
            sc.name
        ),
        Traffic::IcmpMix => bail!(
            "--scenario {}: plat-bench answers UDP and TCP, not ICMP echo; run {} on TRex or \
             pktgen-dpdk from its emitted profile",
            sc.name,
            sc.name
        ),
    }
    if cli.trial_s <= 0.0 || cli.max_rate <= 0.0 || cli.fill_rate <= 0.0 {
        bail!("--trial-s, --max-rate and --fill-rate must be positive");
    }
    if let Some(len) = cli.frame_len.filter(|l| !(62..=1514).contains(l)) {
        bail!("--frame-len {len}: an IPv6 UDP frame is 62..=1514 bytes (platd's MTU is 1500)");
    }
    let t0 = std::time::Instant::now();
    let flows = FlowTable::new(sc, cli.flows);
    let sizes = Sizes::new(sc, cli.frame_len);
    eprintln!(
        "plat-bench: {} ({} flows, {} frames{}) built in {:.1} s",
        sc.name,
        flows.len(),
        sizes.describe(),
        if sizes.tagged() { ", tagged" } else { "" },
        t0.elapsed().as_secs_f64()
    );
    let wiring = match &cli.loopback {
        Some(socket) => Wiring::Loopback { socket },
        None => Wiring::Platd {
            inside: &cli.inside,
            outside: &cli.outside,
        },
    };
    let links = Links::open(&wiring, cli.lcore, cli.mbufs, &cli.eal)?;
    links.wait_up(10)?;
    let dut = cli
        .loopback
        .is_none()
        .then(|| Dut::new(cli.platctl.clone(), cli.mgmt.clone(), cli.dut_pid));
    let report = Report::new(
        cli.json.clone(),
        json!({
            "tool": "plat-bench",
            "scenario": sc.name,
            "frames": sizes.describe(),
            "mean_frame_len": sizes.mean_len(),
            "flows": flows.len(),
            "bidirectional": !cli.unidirectional,
            "trial_s": cli.trial_s,
            "dut": if cli.loopback.is_some() { "loopback (tester ceiling)" } else { "platd" },
            "cpu": cpu_model(),
        }),
    );
    let bench = Bench {
        tester: Tester::new(&links, &flows, &sizes),
        dut: dut.as_ref(),
        set: Settings {
            trial: Duration::from_secs_f64(cli.trial_s),
            max_rate: cli.max_rate,
            resolution: cli.resolution,
            bidirectional: !cli.unidirectional,
            fill_rate: cli.fill_rate,
            drain: Duration::from_secs_f64(cli.drain_s),
            loss_tolerance: cli.loss_tolerance,
        },
        report: &report,
    };
    let mut throughput = None;
    let mut filled = false;
    let mut ok = true;
    for test in &cli.tests {
        match test {
            Test::Fill => {
                bench.fill()?;
                filled = true;
            }
            Test::Throughput => {
                if !filled && dut.is_some() {
                    bench.fill()?;
                    filled = true;
                }
                throughput = Some(bench.throughput()?);
            }
            Test::Latency => {
                if !filled && dut.is_some() {
                    bench.fill()?;
                    filled = true;
                }
                let rate = cli.rate.or(throughput).context(
                    "latency: give --rate, or run throughput first (--tests throughput,latency)",
                )?;
                bench.latency(rate)?;
            }
            Test::FrameLoss => {
                if !filled && dut.is_some() {
                    bench.fill()?;
                    filled = true;
                }
                bench.frame_loss_rate(cli.rate.unwrap_or(cli.max_rate))?;
            }
            Test::ConnRate => {
                bench.connection_rate()?;
                filled = false;
            }
            Test::Teardown => {
                bench.teardown_rate()?;
                filled = false;
            }
            Test::Capacity => {
                bench.capacity()?;
                filled = false;
            }
            Test::Accounting => {
                ok &= bench.accounting(cli.rate.unwrap_or(100e3))?;
                filled = true;
            }
        }
    }
    if !ok {
        bail!("the accounting does not close (see the accounting record)");
    }
    Ok(())
}

/// The CPU model, for the records (speeds compare only on one machine).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default()
}
