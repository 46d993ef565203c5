//! plat-scenarios: emits the repo's load scenarios as pcaps (for
//! `net_pcap` replays), TRex STL profiles and pktgen-dpdk Lua scripts.

use std::io::Write;

use anyhow::{bail, Context};
use pktgen_scenarios::{scenario, SCENARIOS};

fn usage() -> String {
    let mut s = String::from(
        "usage: plat-scenarios list | pcap NAME FILE | trex NAME | pktgen NAME\n\nscenarios:\n",
    );
    for sc in SCENARIOS {
        s.push_str(&format!("  {:<10} {}\n", sc.name, sc.about));
    }
    s
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let find =
        |name: &str| scenario(name).with_context(|| format!("no scenario `{name}`\n{}", usage()));
    match args.as_slice() {
        ["list"] => print!("{}", usage()),
        ["pcap", name, file] => {
            let sc = find(name)?;
            let f = std::fs::File::create(file).with_context(|| format!("creating {file}"))?;
            sc.write_pcap(f)
                .with_context(|| format!("writing {file}"))?;
            eprintln!(
                "{file}: {} frames of {} bytes ({})",
                sc.flows(),
                sc.frame_len,
                sc.name
            );
        }
        ["trex", name] => std::io::stdout().write_all(find(name)?.trex_profile().as_bytes())?,
        ["pktgen", name] => std::io::stdout().write_all(find(name)?.pktgen_lua().as_bytes())?,
        _ => bail!("{}", usage()),
    }
    Ok(())
}
