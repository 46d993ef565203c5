//! The tester's two ports: `net_memif` clients of platd's inside and
//! outside ports (platd is the memif server), or, for the tester's own
//! ceiling, its inside port wired to its outside port by one memif link
//! (no platd: every frame crosses memif as it would to platd and back).

use std::path::Path;

use anyhow::{Context, Result};
use pktgen_scenarios::{TESTER_MAC, TESTER_OUTSIDE_MAC};
use plat_dataplane::{Eal, Mempool, MempoolConfig, Port, PortConfig};

/// The ports and the pool their frames come from.
pub struct Links {
    /// Sends to platd's inside port (IPv6 subscribers' side).
    pub inside: Port,
    /// Sends to platd's outside port (IPv4 servers' side).
    pub outside: Port,
    /// Mbufs for generated frames (received ones come from the same pool).
    pub pool: Mempool,
    _eal: Eal,
}

/// Where the links go.
pub enum Wiring<'a> {
    /// platd's memif servers at these sockets.
    Platd { inside: &'a Path, outside: &'a Path },
    /// Inside wired to outside through a memif link the tester owns.
    Loopback { socket: &'a Path },
}

impl Links {
    /// Starts EAL on `lcore` with a file prefix of its own (platd runs
    /// beside it) and brings both ports up.
    pub fn open(
        wiring: &Wiring<'_>,
        lcore: u32,
        mbufs: u32,
        extra_eal: &[String],
    ) -> Result<Links> {
        // The tester's MACs are the ones platd's static neighbors name.
        let memif = |n: u32, role: &str, socket: &Path| {
            let mac = if n == 0 {
                TESTER_MAC
            } else {
                TESTER_OUTSIDE_MAC
            };
            format!(
                "--vdev=net_memif{n},role={role},id=0,socket={},socket-abstract=no,rsize=12,mac={}",
                socket.display(),
                mac.map(|b| format!("{b:02x}")).join(":")
            )
        };
        let (a, b) = match wiring {
            Wiring::Platd { inside, outside } => {
                (memif(0, "client", inside), memif(1, "client", outside))
            }
            Wiring::Loopback { socket } => {
                let _ = std::fs::remove_file(socket);
                (memif(0, "server", socket), memif(1, "client", socket))
            }
        };
        let mut args: Vec<String> = [
            "plat-bench",
            "-l",
            &lcore.to_string(),
            "--no-huge",
            "-m",
            "2048",
            "--no-pci",
            "--no-shconf",
            "--iova-mode=va",
            "--no-telemetry",
            "--file-prefix=plat-bench",
            "--log-level=lib.eal:warning",
            "--log-level=pmd.net.memif:warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([a, b]);
        args.extend(extra_eal.iter().cloned());
        let eal = Eal::init(&args).context("starting DPDK (EAL)")?;
        let pool = Mempool::new(&eal, &MempoolConfig::new("plat_bench", mbufs))
            .context("creating the tester's mbuf pool")?;
        let cfg = PortConfig {
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            promiscuous: true,
            ..PortConfig::default()
        };
        let start = |name: &str| -> Result<Port> {
            let id = Port::id_by_name(name).with_context(|| format!("no port {name}"))?;
            Port::start(&eal, id, &cfg, &pool).with_context(|| format!("starting {name}"))
        };
        let inside = start("net_memif0")?;
        let outside = start("net_memif1")?;
        Ok(Links {
            inside,
            outside,
            pool,
            _eal: eal,
        })
    }

    /// Waits until both memif links are connected (platd may still be
    /// coming up): an error naming the socket after `secs`.
    pub fn wait_up(&self, secs: u64) -> Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let up = |p: &Port| p.link().map(|l| l.up).unwrap_or(false);
            if up(&self.inside) && up(&self.outside) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "memif links not up after {secs} s (inside up: {}, outside up: {}): is platd \
                     running with net_memif server ports on those sockets?",
                    up(&self.inside),
                    up(&self.outside)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
