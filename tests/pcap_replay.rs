//! The conformance-corpus path: a capture replayed through platd with
//! `net_pcap` (`rx_pcap` in, `tx_pcap` out) and its output checked packet
//! by packet with an independent parser.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pktgen_scenarios::{pcap, scenario};

const DIR: &str = "/tmp/plat-pcap-replay";

fn counter(stats: &Path, name: &str) -> u64 {
    std::fs::read_to_string(stats)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["counters"][name].as_u64())
        .unwrap_or(0)
}

#[test]
fn pcap_replay_translates_every_packet_of_a_capture() {
    let dir = Path::new(DIR);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let sc = scenario("udp64-1k").unwrap();
    let input = dir.join("in.pcap");
    sc.write_pcap(std::fs::File::create(&input).unwrap())
        .unwrap();
    let empty = dir.join("empty.pcap");
    pcap::Writer::new(std::fs::File::create(&empty).unwrap())
        .unwrap()
        .finish()
        .unwrap();
    let (out4, out6) = (dir.join("out4.pcap"), dir.join("out6.pcap"));
    let cfg = dir.join("platd.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[eal]
args = ["--lcores=0@0,1@1", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
        "--iova-mode=va", "--no-telemetry", "--file-prefix=plat-pcap-{pid}",
        "--log-level=lib.eal:warning",
        "--vdev=net_pcap0,rx_pcap={input},tx_pcap={out6}",
        "--vdev=net_pcap1,rx_pcap={empty},tx_pcap={out4}"]
[inside]
port = "net_pcap0"
addresses = ["2001:db8:6::1/64"]
[outside]
port = "net_pcap1"
addresses = ["203.0.113.1/24"]
neighbors = [{{ ip = "203.0.113.2", mac = "02:00:00:00:00:44" }}]
[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/29"]
[workers]
idle_sleep_us = 100
"#,
            pid = std::process::id(),
            input = input.display(),
            out6 = out6.display(),
            empty = empty.display(),
            out4 = out4.display(),
        ),
    )
    .unwrap();
    let stats = dir.join("stats.json");
    let mut platd = Command::new(env!("CARGO_BIN_EXE_platd"))
        .arg("--config")
        .arg(&cfg)
        .arg("--stats-file")
        .arg(&stats)
        .spawn()
        .expect("start platd");
    let want = sc.flows();
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(&stats, "tx_outside") < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: platd stops and the pcap PMD closes its output file.
    Command::new("kill")
        .arg("-TERM")
        .arg(platd.id().to_string())
        .status()
        .unwrap();
    assert!(
        platd.wait().unwrap().success(),
        "platd exits cleanly on SIGTERM"
    );
    assert_eq!(
        counter(&stats, "xlat_v6_to_v4"),
        want,
        "every packet translated"
    );

    let frames = pcap::read_frames(&std::fs::read(&out4).unwrap()).unwrap();
    assert_eq!(frames.len() as u64, want);
    let mut mappings = HashSet::new();
    for f in &frames {
        let p = SlicedPacket::from_ethernet(f).expect("valid frame");
        assert_eq!(
            p.link
                .as_ref()
                .unwrap()
                .to_header()
                .unwrap()
                .ethernet2()
                .unwrap()
                .destination,
            [2, 0, 0, 0, 0, 0x44]
        );
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "IPv4 header checksum"
        );
        assert_eq!(Ipv4Addr::from(h.destination), Ipv4Addr::new(203, 0, 113, 2));
        let src = Ipv4Addr::from(h.source);
        assert!(
            src.octets()[..3] == [198, 51, 100] && src.octets()[3] < 8,
            "source {src} from pool4"
        );
        let Some(TransportSlice::Udp(u)) = &p.transport else {
            panic!("not UDP")
        };
        let uh = u.to_header();
        assert_eq!(
            uh.checksum,
            uh.calc_checksum_ipv4(&h, u.payload()).unwrap(),
            "UDP checksum"
        );
        assert_eq!(uh.destination_port, 7);
        assert!(
            mappings.insert((src, uh.source_port)),
            "one mapping per flow"
        );
    }
}
