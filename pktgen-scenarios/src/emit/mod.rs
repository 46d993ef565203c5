//! Emitters: the same scenario as a TRex STL profile ([`trex`]), a TRex
//! ASTF profile ([`astf`]), a pktgen-dpdk Lua script ([`lua`]) and a pcap,
//! and [`all`] to write every scenario's artifacts into a directory.

use std::io;
use std::path::{Path, PathBuf};

use crate::{Scenario, SCENARIOS};

pub mod astf;
pub mod lua;
pub mod trex;

/// The header line every emitted script starts with (after its comment
/// marker), naming the scenario and what to edit instead.
pub(crate) fn banner(sc: &Scenario, cmd: &str) -> String {
    format!(
        "plat scenario {}: {}\nEmitted by `plat-scenarios {cmd} {}`; do not edit, edit pktgen-scenarios.",
        sc.name, sc.about, sc.name
    )
}

/// Prefixes every line of `text` with `mark` (a comment marker).
pub(crate) fn commented(mark: &str, text: &str) -> String {
    text.lines().map(|l| format!("{mark} {l}\n")).collect()
}

/// `0x..` bytes for a Python `bytes([...])` literal.
pub(crate) fn py_bytes(frame: &[u8]) -> String {
    frame
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One file [`all`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where.
    pub path: PathBuf,
    /// Frames in it, for a pcap.
    pub frames: Option<u64>,
    /// The scenario it belongs to.
    pub scenario: &'static str,
}

/// Writes every scenario's `NAME.stl.py`, `NAME.astf.py` (where ASTF can
/// run it), `NAME.lua` and `NAME.pcap` (at most `max_frames` frames) into
/// `dir`.
pub fn all(dir: &Path, max_frames: Option<u64>) -> io::Result<Vec<Artifact>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for sc in SCENARIOS {
        let mut text = |ext: &str, body: String| -> io::Result<()> {
            let path = dir.join(format!("{}.{ext}", sc.name));
            std::fs::write(&path, body)?;
            out.push(Artifact {
                path,
                frames: None,
                scenario: sc.name,
            });
            Ok(())
        };
        text("stl.py", sc.trex_profile())?;
        if let Some(astf) = sc.astf_profile() {
            text("astf.py", astf)?;
        }
        text("lua", sc.pktgen_lua())?;
        let path = dir.join(format!("{}.pcap", sc.name));
        let f = std::fs::File::create(&path)?;
        let frames = sc.write_pcap_capped(f, max_frames)?;
        out.push(Artifact {
            path,
            frames: Some(frames),
            scenario: sc.name,
        });
    }
    Ok(out)
}
