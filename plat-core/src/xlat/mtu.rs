//! MTU arithmetic of RFC 7915 4.2 / 5.2 and the RFC 1191 plateaus.

use super::{XlatConfig, IPV6_MIN_MTU};

/// RFC 1191 7, "Table 7-1: Common MTUs in the Internet", the plateaus.
pub const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// RFC 1191 5: the greatest plateau below the Total Length of the packet
/// that met a router not reporting its MTU.
pub fn plateau_below(total_len: u16) -> u16 {
    PLATEAUS
        .iter()
        .copied()
        .find(|&p| p < total_len)
        .unwrap_or(68)
}

/// The MTU to put in an ICMPv6 Packet Too Big made from an ICMPv4
/// Fragmentation Needed.
///
/// RFC 7915 4.2: "The MTU field MUST be adjusted for the difference
/// between the IPv4 and IPv6 header sizes, taking into account whether or
/// not the packet in error includes a Fragment Header, i.e.,
/// minimum(advertised MTU+20, MTU_of_IPv6_nexthop, (MTU_of_IPv4_nexthop)+20).
/// Note that if the IPv4 router set the MTU field to zero, i.e., the router
/// does not implement \[RFC1191\], then the translator MUST use the plateau
/// values specified in \[RFC1191\] to determine a likely path MTU and include
/// that path MTU in the ICMPv6 packet." RFC 7915 5: the indicated MTU
/// "will never be set to a value lower than 1280".
pub fn packet_too_big_mtu(advertised: u16, quoted_total_len: u16, cfg: &XlatConfig) -> u32 {
    let v4 = if advertised == 0 {
        plateau_below(quoted_total_len)
    } else {
        advertised
    } as u32;
    let mtu = (v4 + 20)
        .min(cfg.ipv6_mtu as u32)
        .min(cfg.ipv4_mtu as u32 + 20);
    mtu.max(IPV6_MIN_MTU as u32)
}

/// The MTU to put in an ICMPv4 Fragmentation Needed made from an ICMPv6
/// Packet Too Big.
///
/// RFC 7915 5.2: "The MTU field MUST be adjusted for the difference
/// between the IPv4 and IPv6 header sizes, i.e., minimum(advertised
/// MTU-20, MTU_of_IPv4_nexthop, (MTU_of_IPv6_nexthop)-20)."
pub fn frag_needed_mtu(advertised: u32, cfg: &XlatConfig) -> u16 {
    advertised
        .saturating_sub(20)
        .min(cfg.ipv4_mtu as u32)
        .min((cfg.ipv6_mtu as u32).saturating_sub(20))
        .min(u16::MAX as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1191_7_plateau_table() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(9000), 8166);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(100), 68);
        assert_eq!(plateau_below(0), 68);
    }

    #[test]
    fn rfc7915_4_2_packet_too_big_mtu() {
        let cfg = XlatConfig {
            ipv6_mtu: 9000,
            ipv4_mtu: 9000,
            ..XlatConfig::default()
        };
        assert_eq!(packet_too_big_mtu(1400, 1500, &cfg), 1420);
        // Never below 1280.
        assert_eq!(packet_too_big_mtu(576, 1500, &cfg), 1280);
        // Zero MTU: plateau below the quoted length, 4352 for 8000 bytes.
        assert_eq!(packet_too_big_mtu(0, 8000, &cfg), 4372);
        let small = XlatConfig {
            ipv6_mtu: 1400,
            ..cfg
        };
        assert_eq!(packet_too_big_mtu(8000, 9000, &small), 1400);
        let small4 = XlatConfig {
            ipv4_mtu: 1300,
            ..cfg
        };
        assert_eq!(packet_too_big_mtu(8000, 9000, &small4), 1320);
    }

    #[test]
    fn rfc7915_5_2_frag_needed_mtu() {
        let cfg = XlatConfig::default();
        assert_eq!(frag_needed_mtu(1280, &cfg), 1260);
        assert_eq!(frag_needed_mtu(9000, &cfg), 1480);
        let cfg = XlatConfig {
            ipv4_mtu: 1400,
            ipv6_mtu: 9000,
            ..cfg
        };
        assert_eq!(frag_needed_mtu(9000, &cfg), 1400);
    }
}
