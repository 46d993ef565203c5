//! v4_to_v6 over arbitrary bytes, with headroom and settings taken from the
//! first bytes: no panic, and any packet it returns lies in the buffer and
//! parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plat_core::xlat::*;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, pkt) = data.split_at(4);
    let room = head[0] as usize % 80;
    let flags = head[1];
    let cfg = XlatConfig {
        ipv4_mtu: (head[2] as u16) * 8, // below 68 too: must not panic
        ipv6_mtu: 1280 + (head[3] as u16) * 4,
        df_over_1260: flags & 1 != 0,
        compute_udp_zero_checksum: flags & 2 != 0,
        drop_udp_zero_checksum_fragments: flags & 4 != 0,
        send_icmp_errors: flags & 8 != 0,
        verify_ipv4_checksum: flags & 16 != 0,
        copy_traffic_class: flags & 32 != 0,
        ..XlatConfig::default()
    };
    let map = V4ToV6::new(Tuple6 {
        src: "2001:db8:64::c633:6401".parse().unwrap(),
        dst: "2001:db8:64::c000:201".parse().unwrap(),
        src_port: 3,
        dst_port: 4,
    });
    let mut buf = vec![0u8; room];
    buf.extend_from_slice(pkt);
    let mut sink: Vec<Vec<u8>> = Vec::new();
    match v4_to_v6(&mut buf, room, pkt.len(), &map, &cfg, &mut sink) {
        Outcome::Forward { l3_start, l3_len } => {
            // A translated packet parses in its new family.
            let out = &buf[l3_start..l3_start + l3_len];
            assert!(FlowV4::parse(out).is_ok() || FlowV6::parse(out).is_ok());
        }
        Outcome::Reply {
            l3_start, l3_len, ..
        } => {
            // An error sent back may quote less than a header (tiny MTUs).
            assert!(l3_start + l3_len <= buf.len());
        }
        Outcome::Fragmented { count } => assert_eq!(count, sink.len()),
        Outcome::Drop(r) => assert!(r.index() < DropReason::COUNT),
    }
});
