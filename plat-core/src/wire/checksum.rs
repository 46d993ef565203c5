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
    add(
        addrs_v6(src, dst).value(),
        fold(next_header as u64 + len as u64),
    )
}

/// A ones'-complement sum of bytes loaded as words in the machine's own
/// byte order, 64 bits at a time, folded once at the end. RFC 1071 2(B):
/// the sum is the same "whether the 16-bit words are taken in normal or
/// swapped order" as long as every word, and the result, are handled in
/// the same order, so the hot path never swaps bytes; and 2^16 - 1 divides
/// 2^64 - 1, so a 64-bit end-around-carry sum folds to the 16-bit one.
/// For the rewriting of a few header words (RFC 1624) on every packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WideSum(u64);

impl WideSum {
    #[inline(always)]
    fn word(self, w: u64) -> WideSum {
        let (s, carry) = self.0.overflowing_add(w);
        WideSum(s + u64::from(carry))
    }

    /// Adds 8 bytes (starting on an even offset of the summed data).
    #[inline(always)]
    pub fn add8(self, b: &[u8; 8]) -> WideSum {
        self.word(u64::from_ne_bytes(*b))
    }

    /// Adds 4 bytes (starting on an even offset of the summed data).
    #[inline(always)]
    pub fn add4(self, b: [u8; 4]) -> WideSum {
        self.word(u64::from(u32::from_ne_bytes(b)))
    }

    /// Adds 2 bytes (starting on an even offset of the summed data).
    #[inline(always)]
    pub fn add2(self, b: [u8; 2]) -> WideSum {
        self.word(u64::from(u16::from_ne_bytes(b)))
    }

    /// Adds 16 bytes.
    #[inline(always)]
    pub fn add16(self, b: &[u8; 16]) -> WideSum {
        let (hi, lo) = b.split_at(8);
        let hi: &[u8; 8] = hi.try_into().expect("8 of 16");
        let lo: &[u8; 8] = lo.try_into().expect("8 of 16");
        self.add8(hi).add8(lo)
    }

    /// `self - other`: ones' complement negation is the bitwise one, at
    /// any width.
    #[inline(always)]
    pub fn minus(self, other: WideSum) -> WideSum {
        self.word(!other.0)
    }

    /// The folded 16-bit sum as the two bytes it is on the wire.
    #[inline(always)]
    pub fn bytes(self) -> [u8; 2] {
        // Halve the width twice, each time with the end-around carry.
        let (s, c) = (self.0 as u32).overflowing_add((self.0 >> 32) as u32);
        let w = s + u32::from(c);
        let (s, c) = (w as u16).overflowing_add((w >> 16) as u16);
        (s + u16::from(c)).to_ne_bytes()
    }

    /// The folded sum, as [`sum`] gives it (of big-endian words).
    #[inline(always)]
    pub fn value(self) -> u16 {
        u16::from_be_bytes(self.bytes())
    }

    /// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for a checksum field
    /// `checksum` (as its wire bytes) whose covered data changed from parts
    /// summing to `old` to parts summing to `new`: the new field's bytes.
    #[inline(always)]
    pub fn update(checksum: [u8; 2], old: WideSum, new: WideSum) -> [u8; 2] {
        let not_hc = WideSum(u64::from(!u16::from_ne_bytes(checksum)));
        (!u16::from_ne_bytes(not_hc.word(new.0).minus(old).bytes())).to_ne_bytes()
    }
}

/// Sum of the two addresses of an IPv6 pseudo-header: what changes when
/// only the addresses of a packet are rewritten.
#[inline(always)]
pub fn addrs_v6(src: &[u8; 16], dst: &[u8; 16]) -> WideSum {
    WideSum::default().add16(src).add16(dst)
}

/// Sum of the 32 bytes of an IPv6 packet's source and destination
/// addresses as they sit in the header (bytes 8..40), without copying them.
#[inline(always)]
pub fn addrs_v6_in_place(addrs: &[u8; 32]) -> WideSum {
    let (src, dst) = addrs.split_at(16);
    addrs_v6(
        src.try_into().expect("16 of 32"),
        dst.try_into().expect("16 of 32"),
    )
}

/// Sum of the two addresses of an IPv4 pseudo-header.
#[inline(always)]
pub fn addrs_v4(src: [u8; 4], dst: [u8; 4]) -> WideSum {
    WideSum::default().add4(src).add4(dst)
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
        assert_eq!(add(addrs_v6(&s6, &d6).value(), fold(70000 + 58)), sum(&ph6));
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

        /// RFC 1071 2(B) and RFC 1624 3 in the machine's byte order: a
        /// [`WideSum`] of the data's 8-, 4- and 2-byte pieces is its 16-bit
        /// sum, and updating a checksum for rewritten 8 bytes with one
        /// gives what a full recomputation gives.
        #[test]
        fn rfc1071_2b_wide_native_sum_and_update_equal_recompute(
            mut data in proptest::collection::vec(proptest::prelude::any::<u8>(), 16..200),
            at in proptest::prelude::any::<usize>(), new in proptest::prelude::any::<[u8; 8]>(),
        ) {
            let even = data.len() & !1;
            let mut w = WideSum::default();
            let mut k = 0;
            while k + 8 <= even { w = w.add8(data[k..k + 8].try_into().unwrap()); k += 8; }
            if k + 4 <= even { w = w.add4(data[k..k + 4].try_into().unwrap()); k += 4; }
            if k + 2 <= even { w = w.add2(data[k..k + 2].try_into().unwrap()); }
            let s = sum(&data[..even]);
            proptest::prop_assert!(w.value() == s || (w.value(), s) == (0, 0xffff) || (w.value(), s) == (0xffff, 0));

            let i = (at % ((even - 8) / 2 + 1)) * 2;
            let c0 = finish(sum(&data[..even])).to_be_bytes();
            let old = WideSum::default().add8(data[i..i + 8].try_into().unwrap());
            data[i..i + 8].copy_from_slice(&new);
            let inc = u16::from_be_bytes(WideSum::update(c0, old, WideSum::default().add8(&new)));
            let full = finish(sum(&data[..even]));
            proptest::prop_assert!(inc == full || (inc, full) == (0, 0xffff) || (inc, full) == (0xffff, 0));
        }
    }
}
