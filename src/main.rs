//! platd: the plat NAT64 appliance daemon.

use anyhow::Context;
use clap::{Parser, Subcommand};
use plat_dataplane::{Eal, Port};

/// `platd --version`: plat version, git commit, DPDK built against.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PLAT_GIT_HASH"),
    ", DPDK ",
    env!("PLAT_DPDK_BUILD_VERSION"),
    ")"
);

#[derive(Parser, Debug)]
#[command(name = "platd", version = LONG_VERSION, about = "plat: a DPDK carrier-grade NAT64 PLAT")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        plat_dataplane::eal::runtime_version(),
        plat_dataplane::eal::BUILD_VERSION,
        eal.lcore_count()
    );
    let count = Port::count(&eal);
    println!("{count} port(s)");
    for id in 0..count {
        let info = Port::info_of(id).with_context(|| format!("port {id}"))?;
        println!(
            "  port {id}: driver {} max rx/tx queues {}/{} rss types {:#x} reta {} max mtu {}",
            info.driver_name,
            info.max_rx_queues,
            info.max_tx_queues,
            info.flow_type_rss_offloads,
            info.reta_size,
            info.max_mtu
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Probe { eal_args } => probe(&eal_args),
    }
}
