//! Criterion benches of RFC 7915 translation in place: 64-byte (L3) UDP
//! and TCP packets, each direction. Every iteration restores the packet
//! (a 64-byte copy, measured alone as `copy_only`) and translates it.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use plat_benches::{map4, map6, packet4, packet6};
use plat_core::wire::proto;
use plat_core::xlat::{v4_to_v6, v6_to_v4, Outcome, XlatConfig, HEADROOM};

const ROOM: usize = HEADROOM + 80;

fn bench(c: &mut Criterion) {
    let cfg = XlatConfig::default();
    let mut g = c.benchmark_group("xlat");
    g.throughput(Throughput::Elements(1));

    for (name, protocol) in [("udp", proto::UDP), ("tcp", proto::TCP)] {
        let pkt = packet6(protocol, 64);
        let map = map6();
        let mut buf = vec![0u8; ROOM + pkt.len()];
        let mut sink: Vec<Vec<u8>> = Vec::new();
        buf[ROOM..].copy_from_slice(&pkt);
        let o = v6_to_v4(&mut buf, ROOM, pkt.len(), &map, &cfg, &mut sink);
        assert!(matches!(o, Outcome::Forward { l3_len: 44, .. }), "{o:?}");
        g.bench_function(format!("v6_to_v4_{name}_64"), |b| {
            b.iter(|| {
                buf[ROOM..].copy_from_slice(&pkt);
                let o = v6_to_v4(black_box(&mut buf), ROOM, pkt.len(), &map, &cfg, &mut sink);
                debug_assert!(matches!(o, Outcome::Forward { .. }));
                black_box(o)
            })
        });

        let pkt = packet4(protocol, 64);
        let map = map4();
        let mut buf = vec![0u8; ROOM + pkt.len()];
        buf[ROOM..].copy_from_slice(&pkt);
        let o = v4_to_v6(&mut buf, ROOM, pkt.len(), &map, &cfg, &mut sink);
        assert!(matches!(o, Outcome::Forward { l3_len: 84, .. }), "{o:?}");
        g.bench_function(format!("v4_to_v6_{name}_64"), |b| {
            b.iter(|| {
                buf[ROOM..].copy_from_slice(&pkt);
                let o = v4_to_v6(black_box(&mut buf), ROOM, pkt.len(), &map, &cfg, &mut sink);
                debug_assert!(matches!(o, Outcome::Forward { .. }));
                black_box(o)
            })
        });
    }

    let pkt = packet6(proto::UDP, 64);
    let mut buf = vec![0u8; ROOM + pkt.len()];
    g.bench_function("copy_only_64", |b| {
        b.iter(|| {
            buf[ROOM..].copy_from_slice(black_box(&pkt));
            black_box(&mut buf);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
