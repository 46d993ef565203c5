//! What leaves a worker: its transmit bursts, the fragments the engine
//! makes of a packet too big for the next link, and the budget of ICMP
//! errors it may send (RFC 4443 2.4 (f)).

use crate::counters::{Counter, LocalCounters};
use crate::dpdk::mbuf::{Mbuf, MbufBurst};
use crate::dpdk::mempool::Mempool;
use crate::dpdk::port::PortQueue;

use super::ETH_LEN;

/// Frames for one link, collected over a poll iteration.
pub(super) struct TxQueue {
    pub(super) queue: PortQueue,
    pub(super) burst: MbufBurst<64>,
    pub(super) sent: Counter,
}

impl TxQueue {
    #[inline]
    pub(super) fn push(&mut self, m: Mbuf, counters: &mut LocalCounters) {
        if let Err(m) = self.burst.push(m) {
            self.flush(counters);
            if self.burst.push(m).is_err() {
                counters.inc(Counter::TxFull as usize);
            }
        }
    }

    #[inline]
    pub(super) fn flush(&mut self, counters: &mut LocalCounters) {
        if self.burst.is_empty() {
            return;
        }
        let n = self.queue.tx_burst(&mut self.burst);
        counters.add(self.sent as usize, n as u64);
        if !self.burst.is_empty() {
            counters.add(Counter::TxFull as usize, self.burst.len() as u64);
            self.burst.clear();
        }
    }
}

/// Collects fragments into new mbufs for the other link.
pub(super) struct FragmentSink<'a> {
    pub(super) pool: &'a Mempool,
    pub(super) made: &'a mut MbufBurst<64>,
    pub(super) lost: u64,
}

impl plat_core::xlat::Sink for FragmentSink<'_> {
    fn emit(&mut self, header: &[u8], payload: &[u8]) {
        let Some(mut m) = self.pool.alloc() else {
            self.lost += 1;
            return;
        };
        let len = ETH_LEN + header.len() + payload.len();
        let Some(data) = m.append(len) else {
            self.lost += 1;
            return;
        };
        data[ETH_LEN..ETH_LEN + header.len()].copy_from_slice(header);
        data[ETH_LEN + header.len()..].copy_from_slice(payload);
        if self.made.push(m).is_err() {
            self.lost += 1;
        }
    }
}

/// A token bucket refilled from the worker's millisecond clock: `rate`
/// tokens a second, bursts up to a tenth of that (at least 1).
#[derive(Debug, Clone, Copy)]
pub(super) struct TokenBucket {
    rate: u32,
    burst: u32,
    tokens: u32,
    last_ms: u64,
}

impl TokenBucket {
    pub(super) fn new(rate: u32) -> TokenBucket {
        let burst = (rate / 10).max(1);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last_ms: 0,
        }
    }

    /// Takes a token if there is one.
    #[inline]
    pub(super) fn take(&mut self, now_ms: u64) -> bool {
        if self.rate == 0 {
            return false;
        }
        let refill = now_ms.saturating_sub(self.last_ms) * u64::from(self.rate) / 1000;
        if refill > 0 {
            self.tokens = (u64::from(self.tokens) + refill).min(u64::from(self.burst)) as u32;
            self.last_ms = now_ms;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;

    #[test]
    fn rfc4443_2_4_f_icmp_errors_are_rate_limited() {
        let mut b = TokenBucket::new(100);
        let burst = (0..50).filter(|_| b.take(0)).count();
        assert_eq!(burst, 10, "a tenth of a second's worth at once");
        assert!(!b.take(5), "5 ms refill less than one token");
        assert!(b.take(10), "10 ms at 100/s is one token");
        let second: usize = (1..=1000)
            .map(|ms| (0..10).filter(|_| b.take(10 + ms)).count())
            .sum();
        assert!(
            (99..=101).contains(&second),
            "{second} errors in one second at 100/s"
        );
        assert!(!TokenBucket::new(0).take(1_000_000), "0 turns errors off");
    }
}
