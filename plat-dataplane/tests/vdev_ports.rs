//! `net_null` and `net_af_packet` (on a veth pair in this test's own
//! network namespace) brought up with 2 rx/tx queues: device info and
//! stats read back from the real PMDs; then jumbo frames over
//! `net_af_packet` with ring frames sized for them, and the MTU a port
//! cannot carry refused, naming the port and the limit.
//!
//! One EAL per process, so this file holds one test.

mod common;

use std::os::fd::AsRawFd;

use plat_dataplane::dpdk::mempool::data_room_for;
use plat_dataplane::{
    DpdkError, Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig, RssConfig,
};

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

    jumbo_frames_over_af_packet(&eal);
    drop(ns);
}

/// Bytes received by kernel interface `ifc` of this thread's namespace.
fn kernel_rx_bytes(ifc: &str) -> u64 {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    dev.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{ifc}:")))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{ifc} in /proc/net/dev"))
}

/// Sends `frame` out of kernel interface `ifc` through a packet socket.
fn kernel_send(ifc: &str, frame: &[u8]) {
    let name = std::ffi::CString::new(ifc).unwrap();
    // SAFETY: plain calls with valid pointers; the socket is closed below.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
        );
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        let mut to: libc::sockaddr_ll = std::mem::zeroed();
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
        to.sll_halen = 6;
        let sent = libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        assert_eq!(sent, frame.len() as isize, "sendto {ifc}: {err}");
    }
}

/// A frame of `len` bytes from `src` to everyone, of a local experimental
/// EtherType.
fn frame_of(len: usize, src: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xffu8; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(len, 0x5a);
    f
}

fn jumbo_frames_over_af_packet(eal: &Eal) {
    common::run(
        "ip",
        &["link", "add", "pj0", "type", "veth", "peer", "name", "pj1"],
    );
    for dev in ["pj0", "pj1"] {
        common::run("ip", &["link", "set", dev, "up"]);
    }
    common::run("ip", &["link", "set", "pj1", "mtu", "9000"]);
    let jumbo = Port::attach_vdev(
        eal,
        "net_af_packet1",
        "iface=pj0,framesz=9216,blocksz=36864",
    )
    .expect("af_packet with 9 KiB ring frames");
    let plain = Port::attach_vdev(eal, "net_af_packet2", "iface=pj1").expect("af_packet");
    let at_9000 = PortConfig {
        rx_descriptors: 256,
        tx_descriptors: 256,
        mtu: Some(9000),
        ..PortConfig::default()
    };

    // Default ring frames (2048 bytes) hold frames of 1982 bytes at most:
    // refused before anything is configured, naming port and limit.
    let small = Mempool::new(eal, &MempoolConfig::new("small_pool", 1023)).unwrap();
    let err = Port::start(eal, plain, &at_9000, &small).expect_err("MTU 9000 over 2 KiB frames");
    println!("{err}");
    assert!(
        matches!(
            err,
            DpdkError::Mtu {
                mtu: 9000,
                max: 1968,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("net_af_packet2") && text.contains("1968"),
        "{text}"
    );

    // Sized buffers: one segment holds a whole ring frame.
    let info = Port::info_of(jumbo).unwrap();
    assert_eq!(info.ethdev_max_mtu(), 1500, "what DPDK says of af_packet");
    assert_eq!(info.max_mtu_carried(), 9136, "what its ring frames hold");
    let room = data_room_for(info.rx_buffer_len(9000)).unwrap();
    let pool = Mempool::new(
        eal,
        &MempoolConfig::new("jumbo_pool", 1023).with_data_room(room),
    )
    .expect("jumbo mempool");
    let port = Port::start(eal, jumbo, &at_9000, &pool).expect("af_packet at MTU 9000");
    // The port's MTU is its kernel interface's.
    let link = std::process::Command::new("ip")
        .args(["-o", "link", "show", "pj0"])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(link.contains("mtu 9000"), "{link}");

    // 9014 bytes out: the whole frame reaches pj1.
    let before = kernel_rx_bytes("pj1");
    let mut burst: MbufBurst = MbufBurst::new();
    let mut m = pool.alloc().unwrap();
    m.write_packet(&frame_of(9014, port.mac().unwrap()))
        .unwrap();
    burst.push(m).unwrap();
    assert_eq!(port.tx_burst(0, &mut burst), 1);
    let mut got = 0;
    for _ in 0..100 {
        got = kernel_rx_bytes("pj1") - before;
        if got >= 9014 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(got >= 9014, "pj1 received {got} bytes of a 9014-byte frame");

    // 9014 bytes in: one segment, not cut.
    kernel_send("pj1", &frame_of(9014, [2, 0, 0, 0, 0, 1]));
    let mut frame = None;
    for _ in 0..100 {
        if port.rx_burst(0, &mut burst) > 0 {
            frame = burst
                .drain()
                .find(|m| m.data().get(12..14) == Some(&[0x88, 0xb5][..]));
            if frame.is_some() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let frame = frame.expect("the jumbo frame arrived");
    assert_eq!((frame.segments(), frame.pkt_len()), (1, 9014));
    assert!(frame.data()[14..].iter().all(|&b| b == 0x5a));
    drop(frame);
    drop(port);
    assert_eq!(pool.in_use(), 0);
}
