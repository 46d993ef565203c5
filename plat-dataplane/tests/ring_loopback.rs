//! Real DPDK end to end: a `net_ring` loopback port carries 10,240 mbufs
//! through `rte_eth_tx_burst`/`rte_eth_rx_burst`; every payload must come
//! back intact and every mbuf must return to its pool.
//!
//! One EAL per process: the tests of this file share it.

mod common;

use plat_dataplane::handoff::HandoffMesh;
use plat_dataplane::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig};

const VDEVS: &[&str] = &["net_ring0"];

const PACKETS: usize = 10_240;

/// A payload that differs per packet in length and content, so a lost,
/// duplicated, reordered or corrupted packet cannot pass.
fn payload(seq: usize) -> Vec<u8> {
    let len = 60 + (seq * 7) % 1400;
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&(seq as u64).to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    p
}

#[test]
fn net_ring_loopback_carries_every_payload_and_returns_every_mbuf() {
    let eal = common::shared_eal(VDEVS);
    assert!(
        matches!(
            Eal::init(&common::eal_args(&[])),
            Err(plat_dataplane::DpdkError::EalAlreadyInitialised)
        ),
        "a second EAL init in one process must be refused"
    );

    let pool = Mempool::new(&eal, &MempoolConfig::new("ring_test_pool", 4095)).expect("mempool");
    assert_eq!(pool.in_use(), 0);

    let id = Port::id_by_name("net_ring0").expect("net_ring0 exists");
    let port = Port::start(&eal, id, &PortConfig::default(), &pool).expect("port start");
    assert_eq!(port.info().unwrap().driver_name, "net_ring");

    let mut sent = 0usize;
    let mut received = 0usize;
    let mut tx: MbufBurst = MbufBurst::new();
    let mut rx: MbufBurst = MbufBurst::new();
    while received < PACKETS {
        while sent < PACKETS && !tx.is_full() {
            let mut m = pool.alloc().expect("pool has room");
            m.write_packet(&payload(sent)).expect("payload fits");
            tx.push(m).expect("burst has room");
            sent += 1;
        }
        let before = tx.len();
        let n = port.tx_burst(0, &mut tx);
        assert_eq!(tx.len(), before - n);

        port.rx_burst(0, &mut rx);
        for m in rx.drain() {
            assert_eq!(
                m.data(),
                payload(received).as_slice(),
                "packet {received} differs"
            );
            received += 1;
        }
    }
    assert_eq!(sent, PACKETS);
    assert_eq!(received, PACKETS);

    let stats = port.stats().unwrap();
    assert_eq!(stats.opackets, PACKETS as u64);
    assert_eq!(stats.ipackets, PACKETS as u64);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    println!(
        "net_ring0: {PACKETS} packets, {} bytes each way, pool in use after: {}",
        stats.obytes,
        pool.in_use()
    );
}

#[test]
fn handoff_mesh_delivers_between_every_pair_in_order() {
    let eal = common::shared_eal(VDEVS);
    let pool = Mempool::new(&eal, &MempoolConfig::new("handoff_pool", 2047)).unwrap();
    let workers = 3;
    let mesh = HandoffMesh::new(&eal, workers, "t").unwrap();
    let mut burst: MbufBurst = MbufBurst::new();
    for from in 0..workers {
        for to in 0..workers {
            for seq in 0..4u8 {
                let mut m = pool.alloc().unwrap();
                m.write_packet(&[from as u8, to as u8, seq]).unwrap();
                burst.push(m).unwrap();
            }
            let sent = mesh.send(from, to, &mut burst);
            if from == to {
                assert_eq!(sent, 0, "no ring from a worker to itself");
                burst.clear();
            } else {
                assert_eq!(sent, 4);
            }
        }
    }
    for to in 0..workers {
        assert_eq!(mesh.receive(to, &mut burst), 4 * (workers - 1));
        let got: Vec<Vec<u8>> = burst.drain().map(|m| m.data().to_vec()).collect();
        let want: Vec<Vec<u8>> = (0..workers)
            .filter(|&f| f != to)
            .flat_map(|f| (0..4u8).map(move |s| vec![f as u8, to as u8, s]))
            .collect();
        assert_eq!(got, want);
    }
    // Packets left in flight are freed with the mesh.
    let mut m = pool.alloc().unwrap();
    m.write_packet(&[9]).unwrap();
    burst.push(m).unwrap();
    assert_eq!(mesh.send(0, 1, &mut burst), 1);
    drop(mesh);
    assert_eq!(pool.in_use(), 0);
}
