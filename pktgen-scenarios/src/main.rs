//! plat-scenarios: emits the repo's load scenarios as pcaps (for
//! `net_pcap` replays), TRex STL and ASTF profiles and pktgen-dpdk Lua
//! scripts.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use pktgen_scenarios::{emit, scenario, SCENARIOS};

fn usage() -> String {
    let mut s = String::from(
        "usage: plat-scenarios list
       plat-scenarios flows NAME     the number of flows (for scripts)
       plat-scenarios pcap NAME FILE [--max-frames N]
       plat-scenarios trex NAME      TRex STL profile (stdout)
       plat-scenarios astf NAME      TRex ASTF profile (stdout); every scenario but icmp-mix
                                     (ASTF has no ICMP): UDP and TCP with real answers
       plat-scenarios pktgen NAME    pktgen-dpdk Lua script (stdout)
       plat-scenarios emit DIR [--max-frames N]
                                     all of them for every scenario: NAME.stl.py,
                                     NAME.astf.py (where ASTF applies), NAME.lua, NAME.pcap

scenarios:
",
    );
    for sc in SCENARIOS {
        let astf = if sc.astf_profile().is_some() {
            ""
        } else {
            " [no ASTF]"
        };
        s.push_str(&format!("  {:<17} {}{astf}\n", sc.name, sc.about));
    }
    s
}

fn max_frames(rest: &[&str]) -> anyhow::Result<Option<u64>> {
    match rest {
        [] => Ok(None),
        ["--max-frames", n] => Ok(Some(n.parse().context("--max-frames takes a number")?)),
        _ => bail!("{}", usage()),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let find =
        |name: &str| scenario(name).with_context(|| format!("no scenario `{name}`\n{}", usage()));
    match args.as_slice() {
        ["list"] => print!("{}", usage()),
        ["flows", name] => println!("{}", find(name)?.flows()),
        ["pcap", name, file, rest @ ..] => {
            let sc = find(name)?;
            let cap = max_frames(rest)?;
            let f = std::fs::File::create(file).with_context(|| format!("creating {file}"))?;
            let n = sc
                .write_pcap_capped(f, cap)
                .with_context(|| format!("writing {file}"))?;
            eprintln!("{file}: {n} frames of {} bytes ({})", sc.frame_len, sc.name);
        }
        ["trex", name] => std::io::stdout().write_all(find(name)?.trex_profile().as_bytes())?,
        ["astf", name] => {
            let sc = find(name)?;
            let Some(p) = sc.astf_profile() else {
                bail!("{name}: no ASTF profile (TRex ASTF carries UDP and TCP only)")
            };
            std::io::stdout().write_all(p.as_bytes())?
        }
        ["pktgen", name] => std::io::stdout().write_all(find(name)?.pktgen_lua().as_bytes())?,
        ["emit", dir, rest @ ..] => {
            let cap = max_frames(rest)?;
            for a in emit::all(Path::new(dir), cap).with_context(|| format!("writing {dir}"))? {
                match a.frames {
                    Some(n) => println!("{} {n} frames", a.path.display()),
                    None => println!("{}", a.path.display()),
                }
            }
        }
        _ => bail!("{}", usage()),
    }
    Ok(())
}
