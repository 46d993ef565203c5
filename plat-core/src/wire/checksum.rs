//! The Internet checksum (RFC 1071): full sums, the IPv4 and IPv6
//! pseudo-headers, and incremental update (RFC 1624).
//!
//! Sums are carried as folded, not complemented, `u16` values so they can
//! be combined; `finish` complements a sum into the value put on the wire.

/// Folds a wide ones'-complement accumulator into 16 bits.
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// Ones'-complement sum of `data` taken as big-endian 16-bit words, a
/// trailing odd byte padded with zero (RFC 1071 4.1).
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    // Summing 32-bit words and folding gives the same ones'-complement sum
    // as 16-bit words (end-around carry), with half the additions.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u32::from_be_bytes([w[0], w[1], w[2], w[3]]) as u64;
    }
    let rest = words.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u16::from_be_bytes([rest[i], rest[i + 1]]) as u64;
        i += 2;
    }
    if i < rest.len() {
        acc += (rest[i] as u64) << 8;
    }
    fold(acc)
}

/// Ones'-complement addition of two folded sums.
#[inline(always)]
pub fn add(a: u16, b: u16) -> u16 {
    fold(a as u64 + b as u64)
}

/// Ones'-complement subtraction `a - b` of folded sums.
#[inline(always)]
pub fn sub(a: u16, b: u16) -> u16 {
    add(a, !b)
}

/// The value to write into a checksum field for a sum.
#[inline(always)]
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// Sum of the IPv4 pseudo-header (RFC 768, RFC 793 3.1).
#[inline]
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, len: u16) -> u16 {
    let acc = u32::from_be_bytes(src) as u64
        + u32::from_be_bytes(dst) as u64
        + protocol as u64
        + len as u64;
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 8.1).
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u16 {
    let acc = addr6_acc(src) + addr6_acc(dst) + next_header as u64 + len as u64;
    fold(acc)
}

#[inline(always)]
fn addr6_acc(a: &[u8; 16]) -> u64 {
    let hi = u64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
    let lo = u64::from_be_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
    (hi >> 32) + (hi & 0xffff_ffff) + (lo >> 32) + (lo & 0xffff_ffff)
}

/// Sum of the two addresses of an IPv6 pseudo-header: what changes when
/// only the addresses of a packet are rewritten.
#[inline]
pub fn addrs_v6(src: &[u8; 16], dst: &[u8; 16]) -> u16 {
    fold(addr6_acc(src) + addr6_acc(dst))
}

/// Sum of the 32 bytes of an IPv6 packet's source and destination
/// addresses as they sit in the header (bytes 8..40), without copying them.
#[inline(always)]
pub fn addrs_v6_in_place(addrs: &[u8; 32]) -> u16 {
    let mut acc = 0u64;
    for w in addrs.chunks_exact(8) {
        let x = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        acc += (x >> 32) + (x & 0xffff_ffff);
    }
    fold(acc)
}

/// Sum of the two addresses of an IPv4 pseudo-header.
#[inline]
pub fn addrs_v4(src: [u8; 4], dst: [u8; 4]) -> u16 {
    fold(u32::from_be_bytes(src) as u64 + u32::from_be_bytes(dst) as u64)
}

/// Incremental update of a checksum field when the data it covers changes
/// from a part summing to `old` to one summing to `new`.
///
/// RFC 1624 3: "HC' = ~(~HC + ~m + m')" -- eqn. 3, which, unlike eqn. 2,
/// never yields the -0 (0xFFFF) representation wrongly.
#[inline(always)]
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(!checksum as u64 + !old as u64 + new as u64)
}

/// Whether the data, including its checksum field, sums to a valid
/// checksum (all ones).
#[inline]
pub fn is_valid(sum_including_checksum: u16) -> bool {
    sum_including_checksum == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_3_example_sum() {
        // RFC 1071 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        assert_eq!(
            sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn rfc1071_odd_byte_is_padded() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn rfc1624_4_example_update_gives_plus_zero() {
        // RFC 1624 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives 0x0000.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn rfc1624_update_matches_recompute() {
        let mut data = [0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01];
        let c0 = finish(sum(&data));
        let old = u16::from_be_bytes([data[8], data[9]]);
        data[8] = 0x3f;
        let new = u16::from_be_bytes([data[8], data[9]]);
        assert_eq!(update(c0, old, new), finish(sum(&data)));
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let src = [192, 0, 2, 1];
        let dst = [198, 51, 100, 7];
        let mut ph = [0u8; 12];
        ph[..4].copy_from_slice(&src);
        ph[4..8].copy_from_slice(&dst);
        ph[9] = 17;
        ph[10..12].copy_from_slice(&1234u16.to_be_bytes());
        assert_eq!(pseudo_v4(src, dst, 17, 1234), sum(&ph));

        let s6 = [
            0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        let d6 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0, 2, 1];
        let mut ph6 = [0u8; 40];
        ph6[..16].copy_from_slice(&s6);
        ph6[16..32].copy_from_slice(&d6);
        ph6[32..36].copy_from_slice(&70000u32.to_be_bytes());
        ph6[39] = 58;
        assert_eq!(pseudo_v6(&s6, &d6, 58, 70000), sum(&ph6));
        assert_eq!(add(addrs_v6(&s6, &d6), fold(70000 + 58)), sum(&ph6));
        let both: [u8; 32] = ph6[..32].try_into().unwrap();
        assert_eq!(addrs_v6_in_place(&both), addrs_v6(&s6, &d6));
    }

    #[test]
    fn sub_undoes_add() {
        for (a, b) in [(0x1234u16, 0xfedc), (0, 0), (0xffff, 1), (0x8000, 0x8000)] {
            let s = add(a, b);
            // Ones' complement has two zeros; compare modulo 0xffff.
            assert_eq!(sub(s, b) % 0xffff, a % 0xffff);
        }
    }

    proptest::proptest! {
        /// RFC 1624 3: updating for a changed word gives what a full
        /// recomputation gives (up to the two zeros of ones' complement).
        #[test]
        fn rfc1624_3_incremental_equals_recompute(
            mut data in proptest::collection::vec(proptest::prelude::any::<u8>(), 2..200),
            at in proptest::prelude::any::<usize>(), new in proptest::prelude::any::<u16>(),
        ) {
            let i = (at % (data.len() / 2)) * 2;
            let c0 = finish(sum(&data));
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update(c0, old, new);
            let full = finish(sum(&data));
            proptest::prop_assert!(inc == full || (inc, full) == (0, 0xffff) || (inc, full) == (0xffff, 0));
        }

        /// Summing in 32-bit words equals the RFC 1071 16-bit definition.
        #[test]
        fn rfc1071_sum_matches_16_bit_definition(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut acc = 0u32;
            for c in data.chunks(2) {
                acc += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
                acc = (acc & 0xffff) + (acc >> 16);
            }
            let s = sum(&data);
            proptest::prop_assert!(s as u32 == acc || (s == 0 && acc == 0xffff) || (s == 0xffff && acc == 0));
        }
    }
}
