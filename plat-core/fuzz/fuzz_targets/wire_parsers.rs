//! Every wire parser and the NAT's flow parse over arbitrary bytes: no
//! panic, and views agree with the lengths they validated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plat_core::wire::{arp, ethernet, icmpv4, icmpv6, ipv4, ipv6, ipv6_ext, ndp, tcp, udp};
use plat_core::xlat::{FlowV4, FlowV6};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ethernet::Packet::new_checked(data) {
        let _ = (ethernet::Repr::parse(&p), p.payload().len());
    }
    if let Ok(p) = arp::Packet::new_checked(data) {
        let _ = arp::Repr::parse(&p);
    }
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let r = ipv4::Repr::parse(&p);
        assert_eq!(r.payload_len, p.payload().len());
        let _ = (
            p.verify_checksum(),
            p.has_unexpired_source_route(),
            p.options().len(),
        );
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        assert_eq!(p.payload().len(), p.payload_len() as usize);
        if let Ok(c) = ipv6_ext::walk(p.payload(), p.next_header()) {
            assert!(c.upper_offset <= p.payload().len());
        }
    }
    if let Ok(p) = tcp::Packet::new_checked(data) {
        let _ = tcp::Repr::parse(&p);
    }
    if let Ok(p) = udp::Packet::new_checked(data) {
        let _ = udp::Repr::parse(&p);
    }
    if let Ok(p) = icmpv4::Packet::new_checked(data) {
        let _ = (icmpv4::Repr::parse(&p), p.payload().len());
    }
    if let Ok(p) = icmpv6::Packet::new_checked(data) {
        let _ = (
            icmpv6::Repr::parse(&p),
            p.verify_checksum(&[0; 16], &[0; 16]),
        );
    }
    if let Ok(p) = ndp::Packet::new_checked(data) {
        let _ = ndp::Repr::parse(&p);
    }
    let _ = FlowV6::parse(data);
    let _ = FlowV4::parse(data);
});
