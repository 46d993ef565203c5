//! RFC 4814 4.5 pseudorandom ports: a keyed permutation of the source port
//! range per subscriber (so a subscriber's flows never share a source
//! port) and a keyed hash for the destination port.
//!
//! RFC 4814 4.5 recommends, in substance, that test traffic use
//! pseudorandom UDP/TCP port numbers, source ports drawn from 1024
//! through 65535 and destination ports from 1 through 49151, so that a
//! device's hash over the 5-tuple sees the spread real traffic has rather
//! than one port or a sequential walk.

use std::ops::RangeInclusive;

/// RFC 4814 4.5: source ports are drawn from 1024 through 65535.
pub const SRC_PORTS: RangeInclusive<u16> = 1024..=65535;
/// RFC 4814 4.5: destination ports are drawn from 1 through 49151.
pub const DST_PORTS: RangeInclusive<u16> = 1..=49151;
/// The seed every scenario's port choice derives from: one fixed value,
/// so a scenario is the same set of flows on every run and every tester.
pub const SEED: u64 = 0x706c_6174_2d34_3831; // "plat-481"

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 4-round Feistel network on 16 bits: a bijection for every key.
fn feistel16(key: u64, x: u16) -> u16 {
    let (mut l, mut r) = ((x >> 8) as u8, x as u8);
    for round in 0..4u64 {
        let f = mix(key ^ (round << 56) ^ u64::from(r)) as u8;
        (l, r) = (r, l ^ f);
    }
    u16::from(l) << 8 | u16::from(r)
}

/// Position `k` of a keyed permutation of `0..domain`: cycle-walking the
/// 16-bit Feistel network until it lands inside the domain keeps it a
/// bijection on the smaller set.
fn permute(key: u64, k: u16, domain: u32) -> u16 {
    let mut y = feistel16(key, k);
    while u32::from(y) >= domain {
        y = feistel16(key, y);
    }
    y
}

/// Source port of flow `k` (< 64,512) of subscriber `sub`: distinct for
/// distinct `k` of one subscriber, pseudorandom over [`SRC_PORTS`].
pub fn src_port(sub: u32, k: u16) -> u16 {
    let domain = u32::from(*SRC_PORTS.end()) - u32::from(*SRC_PORTS.start()) + 1;
    SRC_PORTS.start() + permute(mix(SEED ^ u64::from(sub)), k, domain)
}

/// Destination port of flow `n`: pseudorandom over [`DST_PORTS`].
pub fn dst_port(n: u64) -> u16 {
    let span = u64::from(*DST_PORTS.end()) - u64::from(*DST_PORTS.start()) + 1;
    DST_PORTS.start() + (mix(SEED.rotate_left(17) ^ n) % span) as u16
}

/// A pseudorandom 32-bit value for flow `n` (TCP initial sequence numbers).
pub fn isn(n: u64, server: bool) -> u32 {
    (mix(SEED ^ n ^ if server { 1 << 63 } else { 0 }) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4814_4_5_source_ports_of_a_subscriber_are_a_permutation_of_the_range() {
        let mut seen = vec![false; 65536];
        for k in 0..64_512u32 {
            let p = src_port(7, k as u16);
            assert!(SRC_PORTS.contains(&p), "{p}");
            assert!(!seen[usize::from(p)], "port {p} twice");
            seen[usize::from(p)] = true;
        }
        // Not the identity or a fixed stride: neighbours land far apart.
        let d = (src_port(7, 1) as i32 - src_port(7, 0) as i32).abs();
        let d2 = (src_port(7, 2) as i32 - src_port(7, 1) as i32).abs();
        assert!(d > 1 && d != d2, "{d} {d2}");
        assert_ne!(src_port(7, 0), src_port(8, 0));
    }

    #[test]
    fn rfc4814_4_5_destination_ports_stay_in_range_and_spread() {
        let ports: std::collections::HashSet<u16> = (0..10_000).map(dst_port).collect();
        assert!(ports.iter().all(|p| DST_PORTS.contains(p)));
        assert!(ports.len() > 9_000, "{}", ports.len());
        assert!(ports.iter().any(|&p| p < 4096) && ports.iter().any(|&p| p > 45_000));
    }
}
