//! What a worker asks of the packet logic: which packets it takes, which
//! worker owns them, and what to do with each. The NAT64 (plat-core's
//! shard and translator) is the engine in production; `ForwardEngine`
//! passes packets through untranslated, the I/O ceiling the benchmarks
//! compare against.

use std::net::{Ipv4Addr, Ipv6Addr};

use plat_core::api::{WorkerAnswer, WorkerQuery};
use plat_core::config::Config;
use plat_core::nat::Record;
use plat_core::nat64::{Nat64Drop, Reason};
use plat_core::xlat::Sink;

/// What to do with one L3 packet, in the coordinates of the mbuf's whole
/// buffer (headroom included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send `l3_start..l3_start + l3_len` out of the other link.
    Forward {
        /// Where the L3 packet now starts.
        l3_start: usize,
        /// Its length.
        l3_len: usize,
    },
    /// The packet became several (fragments), already given to the sink
    /// for the other link; this buffer is spent.
    Fragmented,
    /// Send `l3_start..l3_start + l3_len` back out of the link the packet
    /// came from (an ICMP error about it); `reason` is counted.
    Reply {
        /// Where the reply starts.
        l3_start: usize,
        /// Its length.
        l3_len: usize,
        /// Why the packet was not translated (counted).
        reason: Reason,
    },
    /// The IPv6 packet was translated to IPv4 for another subscriber of the
    /// appliance (RFC 6146 3.8 hairpin): process it again as if it had
    /// arrived on the outside link, on the worker that owns it.
    Hairpin {
        /// Where the IPv4 packet starts.
        l3_start: usize,
        /// Its length.
        l3_len: usize,
    },
    /// The IPv6 packet hairpinned back to another IPv6 host through a pool
    /// address, whole on this worker: send it back out of the inside link
    /// (addressed to its destination's next hop).
    HairpinReturn {
        /// Where the IPv6 packet starts.
        l3_start: usize,
        /// Its length.
        l3_len: usize,
    },
    /// The engine keeps a reference to the packet by `token` (an IPv4 SYN
    /// held under address-dependent filtering): the worker stores it until
    /// the engine releases or expires it.
    Hold {
        /// The engine's handle for the held packet.
        token: u32,
    },
    /// The engine keeps the fragment waiting by `token` (RFC 6146 3.4: for
    /// the first of its datagram, or a first ICMP fragment for its last):
    /// the worker stores it until the engine says to handle it again or
    /// to drop it. Fragment tokens are apart from `Hold`'s.
    Wait {
        /// The engine's handle for the waiting fragment.
        token: u32,
    },
    /// Drop, counted under its reason.
    Drop(Reason),
}

/// A held packet the engine is done with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// Free it silently (RFC 6146 3.5.2.2: the connection completed).
    Drop(u32),
    /// Answer it with an ICMP error: the worker asks `reply_to_held`.
    Reject(u32),
    /// The waiting fragment of this token: handle it again, now, as if it
    /// had just come in on its link.
    Retry(u32),
    /// The waiting fragment of this token waited in vain: drop it, counted
    /// under `reason`.
    Expired(u32, Reason),
}

/// The packet logic a worker runs.
pub trait PacketEngine: Send {
    /// Whether an IPv6 packet to `dst` is for translation (else it goes to
    /// the slow path).
    fn takes_v6(&self, dst: Ipv6Addr) -> bool;

    /// Whether an IPv4 packet to `dst` is for translation.
    fn takes_v4(&self, dst: Ipv4Addr) -> bool;

    /// The worker that must handle the IPv6 packet at `l3` (the owner of
    /// its subscriber), out of `workers`.
    fn owner_v6(&self, l3: &[u8], workers: usize) -> usize;

    /// The worker that must handle the IPv4 packet at `l3` (the owner of
    /// its pool port), out of `workers`.
    fn owner_v4(&self, l3: &[u8], workers: usize) -> usize;

    /// Warms the cache for a burst of IPv6 packets about to be handled
    /// (and may keep what it computed for them until `end_burst`): the
    /// packet `l3s[i]` is then handled with `at == Some(i)`. An empty
    /// slice holds the position of a frame that is no IPv6 packet.
    fn prefetch_v6(&mut self, _l3s: &[&[u8]]) {}

    /// Warms the cache for a burst of IPv4 packets about to be handled
    /// (positions as for `prefetch_v6`).
    fn prefetch_v4(&mut self, _l3s: &[&[u8]]) {}

    /// The packets of the last prefetched burst are all handled: anything
    /// kept for them must go (their buffers are recycled).
    fn end_burst(&mut self) {}

    /// Handles an IPv6 packet from the inside link: the one at position
    /// `at` of the last prefetched burst, or (`None`) one not prefetched.
    fn handle_v6(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now_ms: u64,
        sink: &mut dyn Sink,
    ) -> Step;

    /// Handles an IPv4 packet from the outside link (`at` as for
    /// `handle_v6`).
    fn handle_v4(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now_ms: u64,
        sink: &mut dyn Sink,
    ) -> Step;

    /// Expires at most `budget` timed-out entries; held packets whose fate
    /// is decided go to `released`. Returns how many entries expired.
    fn expire(&mut self, now_ms: u64, budget: usize, released: &mut Vec<Released>) -> usize;

    /// Turns the held IPv4 packet `token`, being rejected, into the ICMP
    /// error to send back out of the outside link (in place, like
    /// `handle_v4`).
    fn reply_to_held(&mut self, token: u32, buf: &mut [u8], l3_start: usize, l3_len: usize)
        -> Step;

    /// Answers a control-plane query, between bursts (see
    /// [`crate::mailbox`]): bounded work, never a block. `now_ms` is the
    /// worker's clock (what a `Clear` deletes at).
    fn answer(&mut self, _query: &WorkerQuery, _now_ms: u64) -> WorkerAnswer {
        WorkerAnswer::NoState
    }

    /// Hands every NAT event recorded since the last call to `out`,
    /// oldest first (an engine without NAT state has none).
    fn drain_events(&mut self, _out: &mut dyn FnMut(&Record)) {}

    /// HA standby: applies one record of the active node's shard (see
    /// `Shard::apply`); false when the shard refused it.
    fn sync_apply(&mut self, _record: &Record) -> bool {
        true
    }

    /// HA standby: forgets every session and dynamic BIB entry (a bulk
    /// dump follows).
    fn sync_clear(&mut self, _now_ms: u64) {}

    /// HA active: every BIB entry and session as create records, for a
    /// standby that (re)joins.
    fn sync_dump(&mut self, _now_ms: u64, _out: &mut Vec<Record>) {}

    /// Applies a new configuration snapshot (between bursts): what may
    /// change live (see `Config::live_changes`). An error says what could
    /// not be applied; the rest is.
    fn apply(&mut self, _cfg: &Config, _now_ms: u64) -> Result<(), String> {
        Ok(())
    }

    /// Whether the worker addresses forwarded frames (next-hop MAC from
    /// the neighbor table). An engine that returns false has its frames
    /// leave with the Ethernet header they came with (I/O-only runs).
    fn rewrites_l2(&self) -> bool {
        true
    }
}

/// Passes frames through untouched: what comes in on one link leaves the
/// other as it came. It measures what the I/O path alone costs.
#[derive(Debug, Default, Clone)]
pub struct ForwardEngine;

impl PacketEngine for ForwardEngine {
    fn takes_v6(&self, _dst: Ipv6Addr) -> bool {
        true
    }
    fn takes_v4(&self, _dst: Ipv4Addr) -> bool {
        true
    }
    fn owner_v6(&self, _l3: &[u8], _workers: usize) -> usize {
        0
    }
    fn owner_v4(&self, _l3: &[u8], _workers: usize) -> usize {
        0
    }
    fn handle_v6(
        &mut self,
        _at: Option<usize>,
        _buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        _now_ms: u64,
        _sink: &mut dyn Sink,
    ) -> Step {
        Step::Forward { l3_start, l3_len }
    }
    fn handle_v4(
        &mut self,
        _at: Option<usize>,
        _buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        _now_ms: u64,
        _sink: &mut dyn Sink,
    ) -> Step {
        Step::Forward { l3_start, l3_len }
    }
    fn expire(&mut self, _now_ms: u64, _budget: usize, _released: &mut Vec<Released>) -> usize {
        0
    }
    fn reply_to_held(
        &mut self,
        _token: u32,
        _buf: &mut [u8],
        _l3_start: usize,
        _l3_len: usize,
    ) -> Step {
        // It never holds a packet, so it has none to answer.
        Step::Drop(Reason::Nat64(Nat64Drop::HeldPacketUnknown))
    }
    fn rewrites_l2(&self) -> bool {
        false
    }
}
