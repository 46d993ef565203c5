//! Latency histogram: log-linear buckets (32 per power of two, so any
//! quantile is within 3 % of the true value), fixed memory whatever the
//! trial length, cheap enough to record every tagged frame.

/// Sub-buckets per power of two (2^5).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for 2^40 ns (18 minutes).
const BUCKETS: usize = ((40 - SUB_BITS + 1) as usize) * SUB as usize + SUB as usize;

/// Delays in nanoseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    (((e - SUB_BITS + 1) as u64 * SUB) + sub).min(BUCKETS as u64 - 1) as usize
}

/// The smallest value of bucket `i`.
fn lower_edge(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let e = i / SUB - 1 + u64::from(SUB_BITS);
    (1 << e) | ((i % SUB) << (e - u64::from(SUB_BITS)))
}

impl Histogram {
    /// Records one delay.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.total += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    /// Delays recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The smallest delay (exact), `None` when empty.
    pub fn min(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min)
    }

    /// The largest delay (exact).
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The `q`-quantile (0.0-1.0): the lower edge of the bucket holding
    /// it, clamped to the exact extremes.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(lower_edge(i).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_three_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        for q in [0.5, 0.9, 0.999] {
            let want = q * 1_000_000.0;
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 0.035, "q {q}: {got} vs {want}");
        }
        assert_eq!(h.min(), Some(10));
        assert_eq!(h.max(), Some(1_000_000));
    }

    #[test]
    fn bucket_edges_increase_and_cover_their_values() {
        for v in [0u64, 1, 31, 32, 33, 63, 64, 1000, 123_456_789, 1 << 39] {
            let i = index(v);
            assert!(lower_edge(i) <= v, "{v}");
            assert!(i + 1 >= BUCKETS || lower_edge(i + 1) > v, "{v}");
        }
    }
}
