//! `net_null` and `net_af_packet` (on a veth pair in this test's own
//! network namespace) brought up with 2 rx/tx queues: device info and
//! stats read back from the real PMDs.
//!
//! One EAL per process, so this file holds one test.

mod common;

use std::os::fd::AsRawFd;

use plat_dataplane::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig, RssConfig};

/// A named network namespace that this process enters and that is deleted
/// again when the guard drops (the veths inside go with it).
struct TestNetns {
    name: String,
}

impl TestNetns {
    fn enter(name: &str) -> TestNetns {
        common::run("ip", &["netns", "add", name]);
        let ns = TestNetns {
            name: name.to_owned(),
        };
        let f = std::fs::File::open(format!("/run/netns/{name}")).expect("netns file");
        // SAFETY: setns on a valid namespace fd affects only this thread;
        // the EAL threads started later from it inherit the namespace.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        ns
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn net_null_and_af_packet_open_with_two_queues() {
    let ns = TestNetns::enter(&format!("plat-vdev-{}", std::process::id()));
    common::run(
        "ip",
        &["link", "add", "pv0", "type", "veth", "peer", "name", "pv1"],
    );
    for dev in ["pv0", "pv1"] {
        common::run("ip", &["link", "set", dev, "up"]);
    }

    let eal =
        Eal::init(&common::eal_args(&["--vdev=net_null0", "--vdev=net_null1"])).expect("EAL init");
    let afp = Port::attach_vdev(&eal, "net_af_packet0", "iface=pv0,qpairs=2").expect("af_packet");
    let null = Port::id_by_name("net_null0").expect("net_null0");
    let pool = Mempool::new(&eal, &MempoolConfig::new("vdev_pool", 8191)).expect("mempool");
    let two = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        rx_descriptors: 256,
        tx_descriptors: 256,
        ..PortConfig::default()
    };

    let null = Port::start(&eal, null, &two, &pool).expect("net_null start");
    let info = null.info().unwrap();
    println!("net_null0: {info:?}");
    assert_eq!(info.driver_name, "net_null");
    assert_eq!((info.rx_queues, info.tx_queues), (2, 2));

    // net_null receives endlessly and swallows what it is sent.
    let mut burst: MbufBurst = MbufBurst::new();
    let mut got = 0;
    for q in 0..2 {
        got += null.rx_burst(q, &mut burst);
        burst.clear();
    }
    assert!(got > 0, "net_null delivers packets");
    for q in 0..2 {
        while !burst.is_full() {
            let mut m = pool.alloc().unwrap();
            m.write_packet(&[0xab; 64]).unwrap();
            burst.push(m).unwrap();
        }
        assert_eq!(null.tx_burst(q, &mut burst), 32);
    }
    let s = null.stats().unwrap();
    println!("net_null0 stats: {s:?}");
    assert_eq!(s.ipackets, got as u64);
    assert_eq!(s.opackets, 64);

    // A device with a redirection table takes the rss plan's key, hash
    // types and table.
    let rss = PortConfig {
        rss: Some(RssConfig {
            key: Some(plat_core::rss::DEFAULT_KEY.to_vec()),
            hash_types: dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV4_UDP as u64
                | dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV4_TCP as u64,
        }),
        ..two.clone()
    };
    let null1 = Port::start(&eal, Port::id_by_name("net_null1").unwrap(), &rss, &pool)
        .expect("net_null1 with RSS");
    let reta = plat_core::rss::round_robin_reta(usize::from(null1.info().unwrap().reta_size), 2);
    assert_eq!(reta.len(), 128);
    null1.set_reta(&reta).expect("RETA programmed");
    drop(null1);

    let afp = Port::start(&eal, afp, &two, &pool).expect("af_packet start");
    let info = afp.info().unwrap();
    println!("net_af_packet0: {info:?}");
    assert_eq!(info.driver_name, "net_af_packet");
    assert_eq!((info.rx_queues, info.tx_queues), (2, 2));
    assert!(afp.link().unwrap().up, "pv0 is up");

    // A broadcast frame per queue goes out of pv0 and shows in the stats
    // of the port and in pv1's kernel counters.
    let mut frame = vec![0xffu8; 6];
    frame.extend_from_slice(&afp.mac().unwrap());
    frame.extend_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    frame.extend_from_slice(&[0x5a; 50]);
    for q in 0..2 {
        let mut m = pool.alloc().unwrap();
        m.write_packet(&frame).unwrap();
        burst.push(m).unwrap();
        assert_eq!(afp.tx_burst(q, &mut burst), 1);
    }
    let s = afp.stats().unwrap();
    println!("net_af_packet0 stats: {s:?}");
    assert_eq!(s.opackets, 2);
    // /sys shows the namespace it was mounted in; /proc/thread-self/net
    // shows this thread's.
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    let rx_pv1: u64 = dev
        .lines()
        .find_map(|l| l.trim().strip_prefix("pv1:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("pv1 in /proc/net/dev");
    assert!(rx_pv1 >= 2, "pv1 saw the frames ({rx_pv1})");

    drop((afp, null));
    assert_eq!(pool.in_use(), 0);
    drop(ns);
}
