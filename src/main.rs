//! platd: the plat NAT64 appliance daemon. Reads the configuration,
//! starts the dataplane and the servers that manage it (the management
//! socket `platctl` talks to, the Prometheus endpoint), stops it all
//! cleanly on SIGINT/SIGTERM. What it logs goes through `tracing` to
//! stderr (`RUST_LOG` or `[logging] level` filters, `info` by default;
//! lines for people or JSON); command output (`probe`, `--check`) goes to
//! stdout.

mod mgmt;
mod notify;
mod state;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use plat_core::config::{Config, Ipv4Cidr, LogFormat, LoggingConfig};
use plat_dataplane::appliance::{Appliance, HostExtras};
use plat_dataplane::counters::CounterBoard;
use plat_dataplane::engine::ForwardEngine;
use plat_dataplane::nat64_engine::{plan_for, Nat64Engine};
use plat_dataplane::{Eal, Port};
use tracing_subscriber::EnvFilter;

mod metrics;

/// The shards' session tables live on transparent huge pages.
#[global_allocator]
static ALLOC: plat_dataplane::dpdk::HugePageAlloc = plat_dataplane::dpdk::HugePageAlloc;

use state::LONG_VERSION;

#[derive(Parser, Debug)]
#[command(name = "platd", version = LONG_VERSION, about = "plat: a DPDK carrier-grade NAT64 PLAT")]
struct Cli {
    /// Configuration file (TOML) to run the appliance with.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration and exit without starting anything.
    #[arg(long, requires = "config")]
    check: bool,
    /// Write the counters as JSON to this file every second and on exit.
    #[arg(long, value_name = "FILE", requires = "config")]
    stats_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start DPDK with the given EAL arguments and list the ports it opened
    /// (driver, queues, MAC, link): a check that DPDK and the devices work
    /// on this host before the appliance is configured.
    Probe {
        /// EAL arguments, after `--` (e.g. `-- --no-huge --vdev=net_null0`).
        #[arg(last = true)]
        eal_args: Vec<String>,
    },
}

fn probe(eal_args: &[String]) -> anyhow::Result<()> {
    let mut args = vec!["platd".to_owned()];
    args.extend_from_slice(eal_args);
    let eal = Eal::init(&args).context("starting the DPDK EAL")?;
    println!(
        "running {} (plat built against DPDK {}), {} lcore(s)",
        plat_dataplane::dpdk::eal::runtime_version(),
        plat_dataplane::dpdk::eal::BUILD_VERSION,
        eal.lcore_count()
    );
    let count = Port::count(&eal);
    println!("{count} port(s)");
    for id in 0..count {
        let info = Port::info_of(id).with_context(|| format!("port {id}"))?;
        println!(
            "  port {id}: driver {} max rx/tx queues {}/{} rss types {:#x} reta {} \
             carries mtu {}..={} (max_mtu {}, max_rx_pktlen {})",
            info.driver_name,
            info.max_rx_queues,
            info.max_tx_queues,
            info.flow_type_rss_offloads,
            info.reta_size,
            info.min_mtu,
            info.max_mtu_carried(),
            info.max_mtu,
            info.max_rx_pktlen
        );
    }
    Ok(())
}

/// The counters as JSON: totals, and each worker's row.
fn counters_json(board: &CounterBoard) -> serde_json::Value {
    let names: Vec<&str> = board.names().collect();
    let totals: serde_json::Map<String, serde_json::Value> = board
        .totals()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    let rows: Vec<serde_json::Value> = (0..board.workers())
        .map(|w| {
            names
                .iter()
                .enumerate()
                .filter(|(i, _)| board.get(w, *i) != 0)
                .map(|(i, n)| ((*n).to_owned(), board.get(w, i).into()))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .collect();
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    serde_json::json!({ "unix_ms": unix_ms, "counters": totals, "per_thread": rows })
}

/// Replaces `path` atomically, so readers never see half a file.
fn write_stats(path: &Path, board: &CounterBoard) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&counters_json(board))?)?;
    std::fs::rename(tmp, path)
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Config::from_toml(&text).with_context(|| format!("refusing {}", path.display()))
}

/// Starts the appliance with one NAT64 engine per worker. The engines are
/// built (and their config checked) before any worker starts.
fn start_nat64(cfg: &Config, extras: HostExtras) -> anyhow::Result<Appliance> {
    let mut args = vec!["platd".to_owned()];
    args.extend(cfg.eal.args.iter().cloned());
    let eal = Eal::init(&args).context("starting the DPDK EAL")?;
    let workers = plat_dataplane::dpdk::lcore::worker_lcores(&eal)
        .len()
        .max(1);
    let plan = plan_for(cfg, workers)?;
    let engines = (0..workers)
        .map(|w| Nat64Engine::new(cfg, &plan, w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Appliance::start_on(eal, cfg, extras, engines)?)
}

fn run(cfg: &Config, path: &Path, stats_file: Option<&Path>) -> anyhow::Result<()> {
    let mut notify = notify::Notifier::from_env();
    notify.status("starting DPDK: EAL, ports, workers");
    // The appliance answers ARP for every pool4 address, so an upstream
    // router needs no static route to the pool.
    let extras = HostExtras {
        arp_proxy: cfg.nat64.pool4.iter().map(Ipv4Cidr::from).collect(),
    };
    let app = if cfg.workers.forward_only {
        Appliance::start(cfg, extras, |_, _| ForwardEngine)?
    } else {
        start_nat64(cfg, extras)?
    };
    let stop = app.stop_flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let board = app.counters();
    let daemon = state::Daemon::new(
        app.control_handle(),
        app.counters(),
        app.live(),
        app.status(),
        app.lcores().to_vec(),
        format!("{:?}", app.steering()).to_lowercase(),
        path.to_owned(),
        app.ha(),
    );
    let servers_stop = Arc::new(AtomicBool::new(false));
    let sampler = state::spawn_sampler(Arc::clone(&daemon), Arc::clone(&servers_stop));
    let mgmt = mgmt::serve(&cfg.mgmt, Arc::clone(&daemon), Arc::clone(&servers_stop))?;
    let metrics = cfg
        .metrics
        .listen
        .map(|listen| {
            let d = Arc::clone(&daemon);
            let render: metrics::Render = Arc::new(move || scrape(&d));
            metrics::spawn(listen, render, Arc::clone(&servers_stop))
                .with_context(|| format!("metrics.listen {listen}"))
        })
        .transpose()?;
    tracing::info!(
        workers = board.workers() - 1,
        steering = ?app.steering(),
        socket = %cfg.mgmt.socket,
        "running"
    );
    notify.ready(&format!(
        "running: {} worker(s), steering {}, mgmt socket {}",
        board.workers() - 1,
        format!("{:?}", app.steering()).to_lowercase(),
        cfg.mgmt.socket
    ));
    // Pinged from the control loop: if it stalls, systemd restarts platd.
    if notify.watchdog_enabled() {
        tracing::info!("systemd watchdog on: pinged from the control loop");
    }
    let run = app.run(|b| {
        notify.watchdog(std::time::Instant::now());
        if let Some(p) = stats_file {
            if let Err(e) = write_stats(p, b) {
                tracing::warn!(path = %p.display(), error = %e, "writing the stats file");
            }
        }
    });
    let why = run
        .as_ref()
        .map_or_else(|e| format!("failed: {e}"), |()| "stopping".into());
    notify.stopping(&why);
    run?;
    servers_stop.store(true, Ordering::Relaxed);
    drop(mgmt);
    let _ = sampler.join();
    if let Some(m) = metrics {
        let _ = m.join();
    }
    if let Some(p) = stats_file {
        write_stats(p, &board).with_context(|| format!("writing {}", p.display()))?;
    }
    let cause = if stop.load(Ordering::Relaxed) {
        "signal"
    } else {
        "done"
    };
    tracing::info!(cause, "stopped");
    Ok(())
}

/// One Prometheus scrape: the counters and the shards' state as they are
/// now, pool4 use, the busy shares of the last second.
fn scrape(d: &state::Daemon) -> String {
    let now = d.read();
    let pool4 = d.handle.pool4_use().unwrap_or_default();
    let busy = d.busy();
    let ha = d.ha.as_ref().map(|h| h.status());
    metrics::exposition(&metrics::MetricsView {
        board: &d.board,
        shards: &now.shards,
        pool4: &pool4,
        busy: &busy,
        uptime_s: d.started.elapsed().as_secs_f64(),
        config_generation: d.live.generation(),
        version: LONG_VERSION,
        ha: ha.as_ref(),
    })
}

/// Logs to stderr, filtered by `RUST_LOG`, else by `[logging] level`,
/// else `info`; as lines for people or, with `format = "json"`, one JSON
/// object per event.
fn init_logging(cfg: &LoggingConfig) {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| {
            cfg.level
                .as_deref()
                .and_then(|l| EnvFilter::try_new(l).ok())
        })
        .unwrap_or_else(|| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.format {
        LogFormat::Human => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => fmt.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match (cli.command, cli.config) {
        (Some(Command::Probe { eal_args }), _) => {
            init_logging(&LoggingConfig::default());
            probe(&eal_args)
        }
        (None, Some(path)) => {
            let cfg = load_config(&path)?;
            init_logging(&cfg.logging);
            if cli.check {
                println!("{}: ok", path.display());
                return Ok(());
            }
            run(&cfg, &path, cli.stats_file.as_deref())
        }
        (None, None) => bail!("nothing to do: give --config FILE (or `platd probe -- EAL-ARGS`)"),
    }
}
