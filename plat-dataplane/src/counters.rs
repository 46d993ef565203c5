//! Per-worker counters, written by their worker alone and summed when read,
//! and the registry of the dataplane's own ([`Counter`]).
//!
//! A worker counts into a plain local array and publishes it with relaxed
//! stores once per poll iteration: no atomic read-modify-write and no
//! shared cache line on the hot path. Readers sum the published values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use plat_core::counters::Desc;

plat_core::counters! {
    /// The dataplane's own counters, one row per worker (the engine's
    /// drop reasons follow them on the board).
    pub enum Counter {
        RxInside = "rx_inside", Counter,
            "Frames received on the inside link.";
        RxOutside = "rx_outside", Counter,
            "Frames received on the outside link.";
        TxInside = "tx_inside", Counter,
            "Frames sent on the inside link.";
        TxOutside = "tx_outside", Counter,
            "Frames sent on the outside link.";
        TxFull = "drop_tx_full", Counter,
            "Frames the NIC would not take (transmit queue full).";
        XlatV6ToV4 = "xlat_v6_to_v4", Counter,
            "IPv6 packets translated to IPv4.";
        XlatV4ToV6 = "xlat_v4_to_v6", Counter,
            "IPv4 packets translated to IPv6.";
        IcmpErrorsSent = "icmp_errors_sent", Counter,
            "ICMP errors sent back for packets not translated.";
        IcmpRateLimited = "drop_icmp_error_rate_limited", Counter,
            "ICMP errors not sent: over the rate limit.";
        FragmentsSent = "fragments_sent", Counter,
            "Fragments made from packets over the next link's MTU.";
        FragmentNoMbuf = "drop_fragment_no_mbuf", Counter,
            "Fragments lost for want of an mbuf.";
        Hairpinned = "hairpinned", Counter,
            "Hairpinned packets (IPv6 to IPv6 through a pool address).";
        ToHost = "to_host", Counter,
            "Frames for the appliance itself, passed to the slow path.";
        ToHostFull = "drop_to_host_full", Counter,
            "Slow-path frames lost because its ring was full.";
        ToResolve = "to_resolve", Counter,
            "Packets whose next hop awaits resolution, passed to the control thread.";
        ToResolveFull = "drop_to_resolve_full", Counter,
            "Packets lost because the resolution ring was full.";
        NoRoute = "drop_no_route", Counter,
            "Packets with no route on the outgoing link.";
        HandoffOut = "handoff_out", Counter,
            "Packets passed to the worker that owns them.";
        HandoffIn = "handoff_in", Counter,
            "Packets received from another worker.";
        HandoffFull = "drop_handoff_full", Counter,
            "Packets lost because a handoff ring was full.";
        Runt = "drop_runt", Counter,
            "Frames too short for their Ethernet and IP headers.";
        Chained = "drop_chained_frame", Counter,
            "Frames a port handed over as a chain of buffers (scattered receive), which the worker does not take apart.";
        NoRoom = "drop_no_room_in_mbuf", Counter,
            "Translated packets that did not fit their buffer with an Ethernet header in front.";
        EngineContract = "drop_engine_contract", Counter,
            "Engine answers that make no sense for the link (a bug, counted).";
        Vlan = "drop_vlan_tagged", Counter,
            "802.1Q-tagged frames (no VLAN is configured).";
        InsideNotIpv6 = "drop_inside_not_ipv6", Counter,
            "Non-IPv6 frames on the inside link (ARP, IPv4, others).";
        OutsideUnknownEthertype = "drop_outside_unknown_ethertype", Counter,
            "Frames of an unknown EtherType on the outside link.";
        Held = "held_syn", Counter,
            "IPv4 SYNs held (RFC 6146 3.5.2.2).";
        HeldFull = "drop_held_full", Counter,
            "Held packets the worker had no room for.";
        SyncEvents = "sync_events", Counter,
            "NAT state records passed to the HA sync thread.";
        SyncRingFull = "drop_sync_ring_full", Counter,
            "NAT state records lost because the sync thread's ring was full (the standby misses them until a dump).";
        Standby = "drop_standby", Counter,
            "Frames a standby node received and did not handle (it translates and answers nothing).";
        SyncApplied = "sync_records_applied", Counter,
            "Records from the active node applied to this standby's shard.";
        FragmentsWaited = "fragments_waited", Counter,
            "Fragments kept waiting for the first of their datagram, or a first ICMP fragment for its last (RFC 6146 3.4).";
        FragmentWaitFull = "drop_fragment_wait_full", Counter,
            "Fragments to wait that the worker had no room for.";
        FragmentsDirected = "fragments_directed", Counter,
            "IPv4 fragments handed by their datagram's director to the worker that owns its session.";
        DirectorTimeout = "drop_fragment_director_timeout", Counter,
            "IPv4 fragments that waited FRAGMENT_MIN (2 s) at their director for the first fragment in vain.";
        DirectorFull = "drop_fragment_director_full", Counter,
            "IPv4 fragments their director had no room to track or keep.";
        Expired = "sessions_expired", Counter,
            "Sessions expired.";
        FromControl = "from_control", Counter,
            "Frames the control thread asked this worker to transmit.";
        RxBytesInside = "rx_bytes_inside", Counter,
            "Bytes received on the inside link (Ethernet frames).";
        RxBytesOutside = "rx_bytes_outside", Counter,
            "Bytes received on the outside link (Ethernet frames).";
        Polls = "polls", Counter,
            "Poll loop iterations.";
        BusyPolls = "polls_busy", Counter,
            "Poll loop iterations that found work (busy share = polls_busy / polls).";
        ConfigApplied = "config_applied", Counter,
            "Configuration generations this worker applied.";
        ConfigRefused = "config_refused", Counter,
            "Configuration generations this worker could not apply in full (see the log).";
        LogEvents = "log_events", Counter,
            "NAT events handed to the log thread (bindings, port blocks, alarms).";
        LogRingFull = "drop_log_ring_full", Counter,
            "NAT events lost because this worker's ring to the log thread was full.";
    }
}

/// One worker's published counters, on their own cache lines.
#[derive(Debug)]
#[repr(align(64))]
struct Published {
    values: Box<[AtomicU64]>,
}

/// The counters of every worker, with their descriptions (from the
/// `plat_core::counters!` registry).
#[derive(Debug)]
pub struct CounterBoard {
    descs: Vec<&'static Desc>,
    workers: Vec<Published>,
}

impl CounterBoard {
    /// A board for `workers` workers counting `descs`.
    pub fn new(descs: Vec<&'static Desc>, workers: usize) -> Arc<CounterBoard> {
        let workers = (0..workers)
            .map(|_| Published {
                values: descs.iter().map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        Arc::new(CounterBoard { descs, workers })
    }

    /// What each counter is, in index order.
    pub fn descs(&self) -> &[&'static Desc] {
        &self.descs
    }

    /// Counter names, in index order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.descs.iter().map(|d| d.name)
    }

    /// Index of a counter by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names().position(|n| n == name)
    }

    /// Worker `w`'s published value of counter `i`.
    pub fn get(&self, w: usize, i: usize) -> u64 {
        self.workers[w].values[i].load(Ordering::Relaxed)
    }

    /// Counter `i` summed over workers.
    pub fn total(&self, i: usize) -> u64 {
        (0..self.workers.len()).map(|w| self.get(w, i)).sum()
    }

    /// Counter `name` summed over workers (0 when unknown).
    pub fn total_of(&self, name: &str) -> u64 {
        self.index(name).map_or(0, |i| self.total(i))
    }

    /// Every counter with its total, in index order.
    pub fn totals(&self) -> Vec<(&'static str, u64)> {
        self.names()
            .enumerate()
            .map(|(i, name)| (name, self.total(i)))
            .collect()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }
}

/// A worker's own counters.
#[derive(Debug)]
pub struct LocalCounters {
    values: Box<[u64]>,
    board: Arc<CounterBoard>,
    worker: usize,
}

impl LocalCounters {
    /// Counters of worker `worker` on `board`.
    pub fn new(board: Arc<CounterBoard>, worker: usize) -> Self {
        assert!(worker < board.workers(), "worker {worker} has no row");
        LocalCounters {
            values: vec![0; board.descs.len()].into_boxed_slice(),
            board,
            worker,
        }
    }

    /// Adds `n` to counter `i`.
    #[inline]
    pub fn add(&mut self, i: usize, n: u64) {
        self.values[i] += n;
    }

    /// Sets counter `i` (for a count kept elsewhere and copied in).
    #[inline]
    pub fn set(&mut self, i: usize, v: u64) {
        self.values[i] = v;
    }

    /// Adds one to counter `i`.
    #[inline]
    pub fn inc(&mut self, i: usize) {
        self.values[i] += 1;
    }

    /// Makes the current values visible to readers.
    #[inline]
    pub fn publish(&self) {
        for (p, v) in self.board.workers[self.worker]
            .values
            .iter()
            .zip(self.values.iter())
        {
            p.store(*v, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plat_core::counters::Kind;

    const RX: Desc = Desc {
        name: "rx",
        kind: Kind::Counter,
        help: "Received.",
    };
    const TX: Desc = Desc {
        name: "tx",
        kind: Kind::Counter,
        help: "Sent.",
    };

    #[test]
    fn values_are_invisible_until_published_then_summed_over_workers() {
        let board = CounterBoard::new(vec![&RX, &TX], 2);
        let mut w0 = LocalCounters::new(Arc::clone(&board), 0);
        let mut w1 = LocalCounters::new(Arc::clone(&board), 1);
        w0.add(0, 5);
        w1.inc(0);
        w1.add(1, 7);
        assert_eq!(board.total_of("rx"), 0);
        w0.publish();
        assert_eq!(board.total_of("rx"), 5);
        w1.publish();
        assert_eq!(board.total_of("rx"), 6);
        assert_eq!(board.totals(), vec![("rx", 6), ("tx", 7)]);
        assert_eq!(board.get(1, 1), 7);
        assert_eq!(board.total_of("nope"), 0);
    }
}
