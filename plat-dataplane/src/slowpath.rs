//! The appliance as a host on its two links: ARP (for its IPv4 addresses
//! and every pool4 address), NDP (Neighbor Solicitation/Advertisement for
//! its IPv6 addresses), ping to its own addresses, and the solicitations
//! that resolve next hops.
//!
//! Sans-IO like plat-core: frames in, frames out, the neighbor table
//! updated. The control thread feeds it what workers classified as "for
//! me" and transmits what it writes.

use std::net::{Ipv4Addr, Ipv6Addr};

use plat_core::config::{Ipv4Cidr, Ipv6Cidr, MacAddr};
use plat_core::wire::{arp, checksum, ethernet, icmpv4, icmpv6, ipv4, ipv6, ndp, proto};

use crate::neighbor::{NeighborTable, Solicit};

/// Hop limit NDP messages must carry (RFC 4861 7.1.1, 7.1.2).
const NDP_HOP_LIMIT: u8 = 255;
/// Hop limit / TTL of packets the appliance originates.
pub const HOST_HOP_LIMIT: u8 = 64;
/// Largest frame the slow path writes.
pub const MAX_FRAME: usize = 1514;

/// Why the slow path did not answer a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDrop {
    /// Not addressed to the appliance (or a neighbor message about another
    /// host): nothing to do.
    NotForUs,
    /// Fails its header checks (lengths, checksum, NDP hop limit).
    Malformed,
    /// For the appliance, but a kind it does not answer.
    Unsupported,
}

/// What became of a frame given to the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOutcome {
    /// Send the `usize` bytes written to the output buffer on the same link.
    Reply(usize),
    /// Taken in (a neighbor learned); nothing to send.
    Consumed,
    /// Dropped, with the reason.
    Drop(HostDrop),
}

/// The appliance's identity on both links.
#[derive(Debug, Clone)]
pub struct Host {
    /// MAC of the inside port.
    pub inside_mac: [u8; 6],
    /// MAC of the outside port.
    pub outside_mac: [u8; 6],
    /// Own IPv6 addresses with their on-link prefixes.
    pub inside_addrs: Vec<Ipv6Cidr>,
    /// Own IPv4 addresses with their on-link prefixes.
    pub outside_addrs: Vec<Ipv4Cidr>,
    /// Further IPv4 ranges the appliance answers ARP for (pool4), so the
    /// upstream router can send return traffic without a static route.
    pub arp_proxy: Vec<Ipv4Cidr>,
}

fn put_eth(out: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) -> usize {
    let e = ethernet::Repr {
        dst,
        src,
        vlan_tci: None,
        ethertype,
    };
    e.emit(out);
    e.header_len()
}

/// Ethernet address of an IPv6 multicast group (RFC 2464 7).
fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Solicited-node multicast address of `a` (RFC 4291 2.7.1).
fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

impl Host {
    /// True when `a` is one of the appliance's own IPv6 addresses.
    pub fn owns_v6(&self, a: Ipv6Addr) -> bool {
        self.inside_addrs.iter().any(|c| c.addr == a)
    }

    /// True when `a` is one of the appliance's own IPv4 addresses.
    pub fn owns_v4(&self, a: Ipv4Addr) -> bool {
        self.outside_addrs.iter().any(|c| c.addr == a)
    }

    fn answers_arp_for(&self, a: Ipv4Addr) -> bool {
        self.owns_v4(a) || self.arp_proxy.iter().any(|p| p.contains(a))
    }

    /// The own IPv6 address to speak from towards `peer`.
    fn source_v6(&self, peer: Ipv6Addr) -> Ipv6Addr {
        self.inside_addrs
            .iter()
            .find(|c| c.contains(peer))
            .or(self.inside_addrs.first())
            .map_or(Ipv6Addr::UNSPECIFIED, |c| c.addr)
    }

    /// The own IPv4 address to speak from towards `peer`.
    fn source_v4(&self, peer: Ipv4Addr) -> Ipv4Addr {
        self.outside_addrs
            .iter()
            .find(|c| c.contains(peer))
            .or(self.outside_addrs.first())
            .map_or(Ipv4Addr::UNSPECIFIED, |c| c.addr)
    }

    /// Handles a frame from the inside (IPv6) link.
    pub fn on_inside(
        &self,
        frame: &[u8],
        table: &mut NeighborTable,
        now: u64,
        out: &mut [u8],
    ) -> HostOutcome {
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        if eth.ethertype() != ethernet::ethertype::IPV6 {
            return HostOutcome::Drop(HostDrop::NotForUs);
        }
        let Ok(ip) = ipv6::Packet::new_checked(eth.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        if ip.next_header() != proto::ICMPV6 {
            return HostOutcome::Drop(if self.owns_v6(ip.dst_addr()) {
                HostDrop::Unsupported
            } else {
                HostDrop::NotForUs
            });
        }
        let (src, dst) = (ip.src_octets(), ip.dst_octets());
        let Ok(icmp) = icmpv6::Packet::new_checked(ip.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        if !icmp.verify_checksum(&src, &dst) {
            return HostOutcome::Drop(HostDrop::Malformed);
        }
        match icmp.msg_type() {
            icmpv6::msg_type::NEIGHBOR_SOLICIT | icmpv6::msg_type::NEIGHBOR_ADVERT => {
                self.on_ndp(&eth.src(), &ip, table, now, out)
            }
            icmpv6::msg_type::ECHO_REQUEST if self.owns_v6(ip.dst_addr()) => {
                self.echo_reply_v6(&eth.src(), &ip, out)
            }
            _ if self.owns_v6(ip.dst_addr()) => HostOutcome::Drop(HostDrop::Unsupported),
            _ => HostOutcome::Drop(HostDrop::NotForUs),
        }
    }

    fn on_ndp(
        &self,
        eth_src: &[u8; 6],
        ip: &ipv6::Packet<&[u8]>,
        table: &mut NeighborTable,
        now: u64,
        out: &mut [u8],
    ) -> HostOutcome {
        // RFC 4861 7.1.1/7.1.2: "The IP Hop Limit field has a value of
        // 255", which proves the sender is on-link.
        if ip.hop_limit() != NDP_HOP_LIMIT {
            return HostOutcome::Drop(HostDrop::Malformed);
        }
        let Ok(msg) = ndp::Packet::new_checked(ip.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        let src = ip.src_addr();
        if !msg.is_solicitation() {
            // RFC 4861 7.2.5: an advertisement updates the target's entry.
            let mac = msg.link_layer_addr().unwrap_or(*eth_src);
            table.learn_v6(msg.target(), MacAddr(mac), now);
            return HostOutcome::Consumed;
        }
        if !self.owns_v6(msg.target()) {
            return HostOutcome::Drop(HostDrop::NotForUs);
        }
        let dad = src.is_unspecified();
        if !dad {
            // RFC 4861 7.2.3: the solicitation's source link-layer option
            // creates or updates the sender's entry.
            if let Some(mac) = msg.link_layer_addr() {
                table.learn_v6(src, MacAddr(mac), now);
            }
        }
        // RFC 4861 7.2.4: "If the source of the solicitation is the
        // unspecified address, the node MUST set the Solicited flag to zero
        // and multicast the advertisement to the all-nodes address.
        // Otherwise, the node MUST set the Solicited flag to one and unicast
        // the advertisement to the Source Address of the solicitation."
        let (dst_ip, dst_mac, flags) = if dad {
            (ALL_NODES, multicast_mac(ALL_NODES), ndp::na_flags::OVERRIDE)
        } else {
            (
                src,
                *eth_src,
                ndp::na_flags::SOLICITED | ndp::na_flags::OVERRIDE,
            )
        };
        let na = ndp::Repr {
            solicitation: false,
            flags,
            target: msg.target(),
            link_layer_addr: Some(self.inside_mac),
        };
        self.emit_icmpv6(out, dst_mac, msg.target(), dst_ip, NDP_HOP_LIMIT, |b| {
            na.emit(b);
            na.buffer_len()
        })
    }

    fn echo_reply_v6(
        &self,
        eth_src: &[u8; 6],
        ip: &ipv6::Packet<&[u8]>,
        out: &mut [u8],
    ) -> HostOutcome {
        let req = ip.payload();
        if ethernet::HEADER_LEN + 40 + req.len() > out.len() {
            return HostOutcome::Drop(HostDrop::Unsupported);
        }
        self.emit_icmpv6(
            out,
            *eth_src,
            ip.dst_addr(),
            ip.src_addr(),
            HOST_HOP_LIMIT,
            |b| {
                b[..req.len()].copy_from_slice(req);
                b[0] = icmpv6::msg_type::ECHO_REPLY;
                req.len()
            },
        )
    }

    /// Writes Ethernet + IPv6 + an ICMPv6 message that `body` fills in
    /// (returning its length); fills in the checksum.
    fn emit_icmpv6(
        &self,
        out: &mut [u8],
        dst_mac: [u8; 6],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        body: impl FnOnce(&mut [u8]) -> usize,
    ) -> HostOutcome {
        let l2 = put_eth(out, dst_mac, self.inside_mac, ethernet::ethertype::IPV6);
        let l4 = l2 + 40;
        let len = body(&mut out[l4..]);
        ipv6::Repr {
            src,
            dst,
            next_header: proto::ICMPV6,
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
            payload_len: len,
        }
        .emit(&mut out[l2..l4]);
        let mut icmp = icmpv6::Packet::new_unchecked(&mut out[l4..l4 + len]);
        icmp.set_checksum(0);
        icmp.fill_checksum(&src.octets(), &dst.octets());
        HostOutcome::Reply(l4 + len)
    }

    /// Handles a frame from the outside (IPv4) link.
    pub fn on_outside(
        &self,
        frame: &[u8],
        table: &mut NeighborTable,
        now: u64,
        out: &mut [u8],
    ) -> HostOutcome {
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        match eth.ethertype() {
            ethernet::ethertype::ARP => self.on_arp(&eth, table, now, out),
            ethernet::ethertype::IPV4 => self.on_ipv4(&eth, out),
            _ => HostOutcome::Drop(HostDrop::NotForUs),
        }
    }

    fn on_arp(
        &self,
        eth: &ethernet::Packet<&[u8]>,
        table: &mut NeighborTable,
        now: u64,
        out: &mut [u8],
    ) -> HostOutcome {
        let Ok(p) = arp::Packet::new_checked(eth.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        let req = arp::Repr::parse(&p);
        let for_us = self.answers_arp_for(req.target_ip);
        // RFC 826 "Packet Reception": a sender already in the table is
        // updated whoever the packet is for; a new one only when we are the
        // target. Replies to our requests are what resolution waits for.
        let on_link = self.outside_addrs.iter().any(|c| c.contains(req.sender_ip));
        if on_link && (for_us || req.operation == arp::op::REPLY) {
            table.learn_v4(req.sender_ip, MacAddr(req.sender_hw), now);
        }
        if req.operation != arp::op::REQUEST {
            return if req.operation == arp::op::REPLY {
                HostOutcome::Consumed
            } else {
                HostOutcome::Drop(HostDrop::Unsupported)
            };
        }
        if !for_us {
            return HostOutcome::Drop(HostDrop::NotForUs);
        }
        let l2 = put_eth(
            out,
            req.sender_hw,
            self.outside_mac,
            ethernet::ethertype::ARP,
        );
        arp::Repr {
            operation: arp::op::REPLY,
            sender_hw: self.outside_mac,
            sender_ip: req.target_ip,
            target_hw: req.sender_hw,
            target_ip: req.sender_ip,
        }
        .emit(&mut out[l2..l2 + arp::PACKET_LEN]);
        HostOutcome::Reply(l2 + arp::PACKET_LEN)
    }

    fn on_ipv4(&self, eth: &ethernet::Packet<&[u8]>, out: &mut [u8]) -> HostOutcome {
        let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        if !self.owns_v4(ip.dst_addr()) {
            return HostOutcome::Drop(HostDrop::NotForUs);
        }
        if !ip.verify_checksum() {
            return HostOutcome::Drop(HostDrop::Malformed);
        }
        if ip.protocol() != proto::ICMP || ip.is_fragment() {
            return HostOutcome::Drop(HostDrop::Unsupported);
        }
        let Ok(icmp) = icmpv4::Packet::new_checked(ip.payload()) else {
            return HostOutcome::Drop(HostDrop::Malformed);
        };
        if !checksum::is_valid(checksum::sum(ip.payload())) {
            return HostOutcome::Drop(HostDrop::Malformed);
        }
        if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST {
            return HostOutcome::Drop(HostDrop::Unsupported);
        }
        let req = ip.payload();
        let l2 = put_eth(out, eth.src(), self.outside_mac, ethernet::ethertype::IPV4);
        let l4 = l2 + 20;
        if l4 + req.len() > out.len() {
            return HostOutcome::Drop(HostDrop::Unsupported);
        }
        ipv4::Repr {
            src: ip.dst_addr(),
            dst: ip.src_addr(),
            protocol: proto::ICMP,
            tos: 0,
            ttl: HOST_HOP_LIMIT,
            ident: ip.ident(),
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            payload_len: req.len(),
        }
        .emit(&mut out[l2..l4]);
        let body = &mut out[l4..l4 + req.len()];
        body.copy_from_slice(req);
        let mut icmp = icmpv4::Packet::new_unchecked(body);
        icmp.set_msg_type(icmpv4::msg_type::ECHO_REPLY);
        icmp.set_checksum(0);
        icmp.fill_checksum();
        HostOutcome::Reply(l4 + req.len())
    }

    /// Writes the Neighbor Solicitation for `s`; returns the frame length.
    pub fn solicit_v6(&self, s: Solicit<Ipv6Addr>, out: &mut [u8]) -> usize {
        let (target, dst_ip, dst_mac) = match s {
            Solicit::Multicast(t) => (t, solicited_node(t), multicast_mac(solicited_node(t))),
            Solicit::Unicast(t, mac) => (t, t, mac),
        };
        let ns = ndp::Repr {
            solicitation: true,
            flags: 0,
            target,
            link_layer_addr: Some(self.inside_mac),
        };
        match self.emit_icmpv6(
            out,
            dst_mac,
            self.source_v6(target),
            dst_ip,
            NDP_HOP_LIMIT,
            |b| {
                ns.emit(b);
                ns.buffer_len()
            },
        ) {
            HostOutcome::Reply(n) => n,
            _ => 0,
        }
    }

    /// An unsolicited Neighbor Advertisement of `addr` to all nodes,
    /// Override set (RFC 4861 7.2.6): neighbors move to this node at once
    /// (an HA takeover). Returns the frame length.
    pub fn unsolicited_na(&self, addr: Ipv6Addr, out: &mut [u8]) -> usize {
        let na = ndp::Repr {
            solicitation: false,
            flags: ndp::na_flags::OVERRIDE,
            target: addr,
            link_layer_addr: Some(self.inside_mac),
        };
        let dst = multicast_mac(ALL_NODES);
        match self.emit_icmpv6(out, dst, addr, ALL_NODES, NDP_HOP_LIMIT, |b| {
            na.emit(b);
            na.buffer_len()
        }) {
            HostOutcome::Reply(n) => n,
            _ => 0,
        }
    }

    /// A gratuitous ARP request for `addr` (RFC 5227 3: sender and target
    /// address both `addr`), broadcast. Returns the frame length.
    pub fn gratuitous_arp(&self, addr: Ipv4Addr, out: &mut [u8]) -> usize {
        let l2 = put_eth(out, [0xff; 6], self.outside_mac, ethernet::ethertype::ARP);
        arp::Repr {
            operation: arp::op::REQUEST,
            sender_hw: self.outside_mac,
            sender_ip: addr,
            target_hw: [0; 6],
            target_ip: addr,
        }
        .emit(&mut out[l2..l2 + arp::PACKET_LEN]);
        l2 + arp::PACKET_LEN
    }

    /// Writes the ARP request for `s`; returns the frame length.
    pub fn solicit_v4(&self, s: Solicit<Ipv4Addr>, out: &mut [u8]) -> usize {
        let (target, dst_mac) = match s {
            Solicit::Multicast(t) => (t, [0xff; 6]),
            Solicit::Unicast(t, mac) => (t, mac),
        };
        let l2 = put_eth(out, dst_mac, self.outside_mac, ethernet::ethertype::ARP);
        arp::Repr {
            operation: arp::op::REQUEST,
            sender_hw: self.outside_mac,
            sender_ip: self.source_v4(target),
            target_hw: [0; 6],
            target_ip: target,
        }
        .emit(&mut out[l2..l2 + arp::PACKET_LEN]);
        l2 + arp::PACKET_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbor::NextHop;
    use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TransportSlice};
    use plat_core::config::Config;

    const OUR_IN: [u8; 6] = [2, 0, 0, 0, 0, 0xa6];
    const OUR_OUT: [u8; 6] = [2, 0, 0, 0, 0, 0xa4];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 0x02];

    fn cfg() -> Config {
        Config::from_toml(
            r#"
[eal]
args = []
[inside]
port = "in"
addresses = ["2001:db8:6::1/64"]
[outside]
port = "out"
addresses = ["203.0.113.1/24"]
[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/29"]
"#,
        )
        .unwrap()
    }

    fn host() -> Host {
        let c = cfg();
        Host {
            inside_mac: OUR_IN,
            outside_mac: OUR_OUT,
            inside_addrs: c.inside.addresses.clone(),
            outside_addrs: c.outside.addresses.clone(),
            arp_proxy: vec!["198.51.100.0/29".parse().unwrap()],
        }
    }

    /// Ones'-complement sum written here again, so the checks below do not
    /// trust the code under test.
    fn ones_sum(chunks: &[&[u8]]) -> u16 {
        let mut acc: u32 = 0;
        for c in chunks {
            for pair in c.chunks(2) {
                let hi = u32::from(pair[0]) << 8;
                acc += hi | u32::from(*pair.get(1).unwrap_or(&0));
            }
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    fn icmpv6_checksum_ok(src: [u8; 16], dst: [u8; 16], msg: &[u8]) -> bool {
        let len = (msg.len() as u32).to_be_bytes();
        ones_sum(&[&src, &dst, &len, &[0, 0, 0, 58], msg]) == 0xffff
    }

    fn frame_v6(src: Ipv6Addr, dst: Ipv6Addr, dst_mac: [u8; 6], hop: u8, icmp: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + icmp.len()];
        put_eth(&mut f, dst_mac, PEER, ethernet::ethertype::IPV6);
        ipv6::Repr {
            src,
            dst,
            next_header: proto::ICMPV6,
            hop_limit: hop,
            traffic_class: 0,
            flow_label: 0,
            payload_len: icmp.len(),
        }
        .emit(&mut f[14..54]);
        f[54..].copy_from_slice(icmp);
        let mut p = icmpv6::Packet::new_unchecked(&mut f[54..]);
        p.fill_checksum(&src.octets(), &dst.octets());
        f
    }

    fn ns(target: Ipv6Addr, sll: Option<[u8; 6]>) -> Vec<u8> {
        let r = ndp::Repr {
            solicitation: true,
            flags: 0,
            target,
            link_layer_addr: sll,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b);
        b
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc4861_7_2_4_solicitation_for_own_address_is_advertised_and_sender_learned() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let client = ip6("2001:db8:6::2");
        let ours = ip6("2001:db8:6::1");
        let f = frame_v6(
            client,
            solicited_node(ours),
            multicast_mac(solicited_node(ours)),
            255,
            &ns(ours, Some(PEER)),
        );
        let mut out = [0u8; MAX_FRAME];
        let HostOutcome::Reply(n) = h.on_inside(&f, &mut t, 1, &mut out) else {
            panic!("no advertisement")
        };
        let p = SlicedPacket::from_ethernet(&out[..n]).unwrap();
        let eth = p.link.unwrap().to_header().unwrap();
        let eth = eth.ethernet2().unwrap();
        assert_eq!((eth.destination, eth.source), (PEER, OUR_IN));
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("not IPv6")
        };
        let hdr = ip.header();
        assert_eq!(hdr.hop_limit(), 255);
        assert_eq!(hdr.source_addr(), ours);
        assert_eq!(hdr.destination_addr(), client);
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6")
        };
        assert!(matches!(
            icmp.icmp_type(),
            Icmpv6Type::Unknown { type_u8: 136, .. }
        ));
        let msg = icmp.slice();
        assert!(icmpv6_checksum_ok(ours.octets(), client.octets(), msg));
        assert_eq!(msg[4], ndp::na_flags::SOLICITED | ndp::na_flags::OVERRIDE);
        assert_eq!(&msg[8..24], &ours.octets());
        assert_eq!(
            &msg[24..32],
            &[2, 1, 2, 0, 0, 0, 0, 0xa6],
            "target link-layer option"
        );
        assert_eq!(t.snapshot().inside.resolve(client), NextHop::Mac(PEER));
    }

    #[test]
    fn rfc4861_7_2_4_duplicate_address_detection_is_answered_to_all_nodes() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let ours = ip6("2001:db8:6::1");
        let f = frame_v6(
            Ipv6Addr::UNSPECIFIED,
            solicited_node(ours),
            multicast_mac(solicited_node(ours)),
            255,
            &ns(ours, None),
        );
        let mut out = [0u8; MAX_FRAME];
        let HostOutcome::Reply(n) = h.on_inside(&f, &mut t, 1, &mut out) else {
            panic!("no advertisement")
        };
        assert_eq!(&out[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&out[14 + 24..14 + 40], &ALL_NODES.octets());
        assert_eq!(out[54 + 4], ndp::na_flags::OVERRIDE, "Solicited flag clear");
        assert!(icmpv6_checksum_ok(
            ours.octets(),
            ALL_NODES.octets(),
            &out[54..n]
        ));
    }

    #[test]
    fn rfc4861_7_1_1_ndp_with_hop_limit_below_255_is_dropped() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let ours = ip6("2001:db8:6::1");
        let f = frame_v6(
            ip6("2001:db8:6::2"),
            ours,
            OUR_IN,
            254,
            &ns(ours, Some(PEER)),
        );
        let mut out = [0u8; MAX_FRAME];
        assert_eq!(
            h.on_inside(&f, &mut t, 1, &mut out),
            HostOutcome::Drop(HostDrop::Malformed)
        );
        assert_eq!(
            t.snapshot().inside.resolve(ip6("2001:db8:6::2")),
            NextHop::Unresolved(ip6("2001:db8:6::2"))
        );
    }

    #[test]
    fn solicitation_for_another_host_is_not_answered() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let other = ip6("2001:db8:6::99");
        let f = frame_v6(
            ip6("2001:db8:6::2"),
            solicited_node(other),
            multicast_mac(solicited_node(other)),
            255,
            &ns(other, Some(PEER)),
        );
        let mut out = [0u8; MAX_FRAME];
        assert_eq!(
            h.on_inside(&f, &mut t, 1, &mut out),
            HostOutcome::Drop(HostDrop::NotForUs)
        );
    }

    #[test]
    fn advertisement_teaches_the_table() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let peer = ip6("2001:db8:6::2");
        let na = ndp::Repr {
            solicitation: false,
            flags: ndp::na_flags::SOLICITED,
            target: peer,
            link_layer_addr: Some(PEER),
        };
        let mut b = vec![0u8; na.buffer_len()];
        na.emit(&mut b);
        let f = frame_v6(peer, ip6("2001:db8:6::1"), OUR_IN, 255, &b);
        let mut out = [0u8; MAX_FRAME];
        assert_eq!(h.on_inside(&f, &mut t, 1, &mut out), HostOutcome::Consumed);
        assert_eq!(t.snapshot().inside.resolve(peer), NextHop::Mac(PEER));
    }

    #[test]
    fn ping6_to_own_address_is_answered_with_valid_checksum() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let (client, ours) = (ip6("2001:db8:6::2"), ip6("2001:db8:6::1"));
        let echo = [128u8, 0, 0, 0, 0x12, 0x34, 0, 7, b'p', b'l', b'a', b't'];
        let f = frame_v6(client, ours, OUR_IN, 64, &echo);
        let mut out = [0u8; MAX_FRAME];
        let HostOutcome::Reply(n) = h.on_inside(&f, &mut t, 1, &mut out) else {
            panic!("no echo reply")
        };
        let p = SlicedPacket::from_ethernet(&out[..n]).unwrap();
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6")
        };
        assert!(
            matches!(icmp.icmp_type(), Icmpv6Type::EchoReply(e) if e.id == 0x1234 && e.seq == 7)
        );
        assert_eq!(icmp.payload(), b"plat");
        assert!(icmpv6_checksum_ok(
            ours.octets(),
            client.octets(),
            icmp.slice()
        ));
        // Bad checksum: dropped, not answered.
        let mut bad = f.clone();
        bad[60] ^= 1;
        assert_eq!(
            h.on_inside(&bad, &mut t, 1, &mut out),
            HostOutcome::Drop(HostDrop::Malformed)
        );
    }

    fn arp_frame(op: u16, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        let mut f = vec![0u8; 14 + arp::PACKET_LEN];
        put_eth(&mut f, [0xff; 6], PEER, ethernet::ethertype::ARP);
        arp::Repr {
            operation: op,
            sender_hw: PEER,
            sender_ip: sender,
            target_hw: [0; 6],
            target_ip: target,
        }
        .emit(&mut f[14..]);
        f
    }

    #[test]
    fn rfc826_requests_for_own_and_pool_addresses_are_answered() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let server = Ipv4Addr::new(203, 0, 113, 2);
        for target in [
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(198, 51, 100, 5),
        ] {
            let mut out = [0u8; MAX_FRAME];
            let HostOutcome::Reply(n) =
                h.on_outside(&arp_frame(1, server, target), &mut t, 1, &mut out)
            else {
                panic!("no ARP reply for {target}")
            };
            assert_eq!(n, 42);
            assert_eq!(&out[..6], &PEER);
            assert_eq!(&out[12..14], &[0x08, 0x06]);
            // RFC 826 layout: op 2, sender = us at `target`, target = asker.
            assert_eq!(&out[14 + 6..14 + 8], &[0, 2]);
            assert_eq!(&out[14 + 8..14 + 14], &OUR_OUT);
            assert_eq!(&out[14 + 14..14 + 18], &target.octets());
            assert_eq!(&out[14 + 18..14 + 24], &PEER);
            assert_eq!(&out[14 + 24..14 + 28], &server.octets());
        }
        assert_eq!(t.snapshot().outside.resolve(server), NextHop::Mac(PEER));
        let mut out = [0u8; MAX_FRAME];
        let other = arp_frame(
            1,
            Ipv4Addr::new(203, 0, 113, 3),
            Ipv4Addr::new(203, 0, 113, 9),
        );
        assert_eq!(
            h.on_outside(&other, &mut t, 1, &mut out),
            HostOutcome::Drop(HostDrop::NotForUs)
        );
        let n = Ipv4Addr::new(203, 0, 113, 3);
        assert_eq!(
            t.snapshot().outside.resolve(n),
            NextHop::Unresolved(n),
            "not learned from a request for someone else"
        );
    }

    #[test]
    fn ping_to_own_ipv4_address_is_answered() {
        let h = host();
        let mut t = NeighborTable::new(&cfg());
        let server = Ipv4Addr::new(203, 0, 113, 2);
        let ours = Ipv4Addr::new(203, 0, 113, 1);
        let mut echo = vec![8u8, 0, 0, 0, 0xab, 0xcd, 0, 1];
        echo.extend_from_slice(b"hello");
        let mut f = vec![0u8; 14 + 20 + echo.len()];
        put_eth(&mut f, OUR_OUT, PEER, ethernet::ethertype::IPV4);
        ipv4::Repr {
            src: server,
            dst: ours,
            protocol: proto::ICMP,
            tos: 0,
            ttl: 64,
            ident: 77,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: echo.len(),
        }
        .emit(&mut f[14..34]);
        ipv4::Packet::new_unchecked(&mut f[14..34]).fill_checksum();
        f[34..].copy_from_slice(&echo);
        icmpv4::Packet::new_unchecked(&mut f[34..]).fill_checksum();
        let mut out = [0u8; MAX_FRAME];
        let HostOutcome::Reply(n) = h.on_outside(&f, &mut t, 1, &mut out) else {
            panic!("no echo reply")
        };
        let p = SlicedPacket::from_ethernet(&out[..n]).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        let hdr = ip.header().to_header();
        assert_eq!(
            (hdr.source, hdr.destination),
            (ours.octets(), server.octets())
        );
        assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
        let Some(TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!("not ICMPv4")
        };
        assert!(
            matches!(icmp.icmp_type(), Icmpv4Type::EchoReply(e) if e.id == 0xabcd && e.seq == 1)
        );
        assert_eq!(ones_sum(&[icmp.slice()]), 0xffff, "ICMP checksum");
        assert_eq!(icmp.payload(), b"hello");
    }

    #[test]
    fn solicitations_go_to_solicited_node_and_broadcast() {
        let h = host();
        let mut out = [0u8; MAX_FRAME];
        let target = ip6("2001:db8:6::1234:5678");
        let n = h.solicit_v6(Solicit::Multicast(target), &mut out);
        assert_eq!(&out[..6], &[0x33, 0x33, 0xff, 0x34, 0x56, 0x78]);
        assert_eq!(&out[14 + 24..14 + 40], &ip6("ff02::1:ff34:5678").octets());
        assert_eq!(out[14 + 7], 255);
        assert!(icmpv6_checksum_ok(
            ip6("2001:db8:6::1").octets(),
            ip6("ff02::1:ff34:5678").octets(),
            &out[54..n]
        ));
        let n = h.solicit_v4(
            Solicit::Multicast(Ipv4Addr::new(203, 0, 113, 254)),
            &mut out,
        );
        assert_eq!(n, 42);
        assert_eq!(&out[..6], &[0xff; 6]);
        assert_eq!(&out[14 + 14..14 + 18], &[203, 0, 113, 1]);
        assert_eq!(&out[14 + 24..14 + 28], &[203, 0, 113, 254]);
    }
}
