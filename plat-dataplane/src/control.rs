//! The control thread: the slow path (frames for the appliance itself),
//! neighbor resolution for packets whose next hop is not known yet, the
//! proxy ARP that follows the running pool4, and the counters of the log
//! thread copied into its row of the board. The appliance runs it on the
//! main lcore between its once-a-second duties.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plat_core::config::Ipv4Cidr;
use plat_core::wire::ethernet::HEADER_LEN as ETH_LEN;

use crate::counters::LocalCounters;
use crate::dpdk::mbuf::{Mbuf, MbufBurst};
use crate::dpdk::mempool::Mempool;
use crate::dpdk::ring::Ring;
use crate::live::LiveConfig;
use crate::log_export::LogStats;
use crate::neighbor::{NeighborTable, NextHop, SharedForwarding, Solicit};
use crate::slowpath::{Host, HostDrop, HostOutcome};

/// Packets kept per next hop while it is being resolved.
const PENDING_PER_NEXT_HOP: usize = 16;
/// How often the control thread ages the neighbor cache.
const NEIGHBOR_TICK: Duration = Duration::from_secs(1);

plat_core::counters! {
    /// Counters of the control thread (the slow path) and of the log
    /// thread beside it (the control thread copies those in).
    pub enum ControlCounter {
        HostReplies = "host_replies", Counter,
            "Replies the appliance sent for itself (ARP, NDP, echo).";
        HostConsumed = "host_neighbor_learned", Counter,
            "Neighbor answers the appliance learnt a next hop from.";
        HostNotForUs = "host_drop_not_ours", Counter,
            "Slow-path frames for an address the appliance does not own.";
        HostMalformed = "host_drop_malformed", Counter,
            "Slow-path frames too short or inconsistent to parse.";
        HostUnsupported = "host_drop_unsupported", Counter,
            "Slow-path frames of a kind the appliance does not answer.";
        Solicitations = "neighbor_solicitations_sent", Counter,
            "ARP requests and Neighbor Solicitations sent for next hops.";
        Resolved = "neighbor_resolved_sent", Counter,
            "Packets sent once their next hop was resolved.";
        PendingFull = "drop_neighbor_pending_full", Counter,
            "Packets lost because their next hop already had a full queue.";
        Unresolvable = "drop_neighbor_unresolvable", Counter,
            "Packets lost because their next hop never answered.";
        ControlNoRoute = "drop_control_no_route", Counter,
            "Packets the control thread had no route for.";
        ControlNoMbuf = "drop_control_no_mbuf", Counter,
            "Frames the control thread could not build for want of an mbuf.";
        ControlTxFull = "drop_control_tx_full", Counter,
            "Frames the control thread could not hand to a worker (ring full).";
        LogIpfixMessages = "log_ipfix_messages_sent", Counter,
            "IPFIX messages the log thread sent, counted once per collector.";
        LogIpfixRecords = "log_ipfix_records_sent", Counter,
            "NAT event records in the IPFIX messages sent, counted once per collector.";
        LogIpfixBytes = "log_ipfix_bytes_sent", Counter,
            "Bytes of IPFIX messages sent (UDP payload), counted once per collector.";
        LogIpfixLost = "drop_log_ipfix_send", Counter,
            "NAT event records lost because a collector refused, was unreachable or its socket was full.";
        LogLines = "log_lines_written", Counter,
            "NAT event lines written to the local log.";
        LogLinesLost = "drop_log_file", Counter,
            "NAT event lines lost because the local log could not be written.";
        LogRotations = "log_files_rotated", Counter,
            "Times the local NAT event log was rotated.";
        Announcements = "ha_announcements_sent", Counter,
            "Gratuitous ARPs and unsolicited Neighbor Advertisements sent on HA takeovers.";
    }
}

/// The control thread's state: the slow path and neighbor resolution.
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) host: Host,
    pub(crate) table: NeighborTable,
    pub(crate) forwarding: SharedForwarding,
    pub(crate) to_host: Arc<Ring>,
    pub(crate) to_resolve: Arc<Ring>,
    pub(crate) from_control: Arc<Ring>,
    pub(crate) pool: Arc<Mempool>,
    pub(crate) inside_port: u16,
    pub(crate) outside_port: u16,
    /// Packets waiting for their next hop's MAC.
    pub(crate) pending: HashMap<IpAddr, VecDeque<Mbuf>>,
    pub(crate) counters: LocalCounters,
    pub(crate) base: usize,
    pub(crate) started: Instant,
    pub(crate) last_tick: Instant,
    pub(crate) live: Arc<LiveConfig>,
    /// The configuration generation `host` was built from.
    pub(crate) generation: u64,
    /// The inside and outside ports' names and MACs.
    pub(crate) port_names: [String; 2],
    pub(crate) macs: [[u8; 6]; 2],
    /// The log thread's counts, copied into this thread's counters.
    pub(crate) log_stats: Option<Arc<LogStats>>,
    /// The HA pair's state: on takeover, this thread announces.
    pub(crate) ha: Option<Arc<crate::ha::HaShared>>,
    /// Where the slow path writes a frame: as large as the largest frame
    /// of either link, so that a ping of the link's MTU to the appliance
    /// is answered.
    pub(crate) out: Vec<u8>,
}

impl Control {
    fn inc(&mut self, c: ControlCounter) {
        self.counters.inc(self.base + c as usize);
    }

    pub(crate) fn now_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// One round; returns whether there was anything to do.
    pub(crate) fn poll(&mut self) -> bool {
        let mut burst: MbufBurst = MbufBurst::new();
        let mut work = false;
        if self.live.generation() != self.generation {
            // The appliance answers ARP for the pool4 it runs.
            let snap = self.live.load();
            self.generation = snap.generation;
            self.host.arp_proxy = snap.config.nat64.pool4.iter().map(Ipv4Cidr::from).collect();
        }
        if self.to_host.dequeue_burst(&mut burst) > 0 {
            work = true;
            for m in burst.drain() {
                self.on_host_frame(m);
            }
        }
        if self.to_resolve.dequeue_burst(&mut burst) > 0 {
            work = true;
            for m in burst.drain() {
                self.on_unresolved(m);
            }
        }
        if self.last_tick.elapsed() >= NEIGHBOR_TICK {
            self.last_tick = Instant::now();
            let now = self.now_s();
            let (s6, s4) = self.table.tick(now);
            for s in s6 {
                self.solicit6(s);
            }
            for s in s4 {
                self.solicit4(s);
            }
            // Drop what waits for next hops that gave up.
            let table = &self.table;
            let mut dropped = 0u64;
            self.pending.retain(|hop, q| {
                let alive = match hop {
                    IpAddr::V4(a) => table.resolving_v4(a),
                    IpAddr::V6(a) => table.resolving_v6(a),
                };
                if !alive {
                    dropped += q.len() as u64;
                }
                alive
            });
            self.counters
                .add(self.base + ControlCounter::Unresolvable as usize, dropped);
        }
        if !self.pending.is_empty() {
            self.flush_pending();
        }
        if self
            .ha
            .as_ref()
            .is_some_and(|h| h.announce.swap(false, Ordering::SeqCst))
        {
            self.announce();
            work = true;
        }
        self.copy_log_stats();
        self.counters.publish();
        work
    }

    fn copy_log_stats(&mut self) {
        let Some(s) = self.log_stats.as_ref() else {
            return;
        };
        for (c, v) in [
            (ControlCounter::LogIpfixMessages, &s.ipfix_messages),
            (ControlCounter::LogIpfixRecords, &s.ipfix_records),
            (ControlCounter::LogIpfixBytes, &s.ipfix_bytes),
            (ControlCounter::LogIpfixLost, &s.ipfix_lost),
            (ControlCounter::LogLines, &s.lines),
            (ControlCounter::LogLinesLost, &s.lines_lost),
            (ControlCounter::LogRotations, &s.rotations),
        ] {
            self.counters
                .set(self.base + c as usize, v.load(Ordering::Relaxed));
        }
    }

    fn on_host_frame(&mut self, m: Mbuf) {
        let now = self.now_s();
        let mut out = std::mem::take(&mut self.out);
        let inside = m.port() == self.inside_port;
        let outcome = if inside {
            self.host
                .on_inside(m.data(), &mut self.table, now, &mut out)
        } else {
            self.host
                .on_outside(m.data(), &mut self.table, now, &mut out)
        };
        match outcome {
            HostOutcome::Reply(n) => {
                self.inc(ControlCounter::HostReplies);
                let port = if inside {
                    self.inside_port
                } else {
                    self.outside_port
                };
                self.transmit_bytes(&out[..n], port);
            }
            HostOutcome::Consumed => self.inc(ControlCounter::HostConsumed),
            HostOutcome::Drop(HostDrop::NotForUs) => self.inc(ControlCounter::HostNotForUs),
            HostOutcome::Drop(HostDrop::Malformed) => self.inc(ControlCounter::HostMalformed),
            HostOutcome::Drop(HostDrop::Unsupported) => self.inc(ControlCounter::HostUnsupported),
        }
        self.out = out;
    }

    /// The next hop of an addressed frame waiting for `port`'s link.
    fn next_hop(&self, m: &Mbuf) -> Option<NextHop<IpAddr>> {
        let l3 = m.data().get(ETH_LEN..)?;
        let fwd = self.forwarding.load();
        Some(match fwd.next_hop_of(l3, m.port() == self.outside_port)? {
            None => NextHop::NoRoute,
            Some(hop) => fwd
                .mac_of(hop)
                .map_or(NextHop::Unresolved(hop), NextHop::Mac),
        })
    }

    fn on_unresolved(&mut self, mut m: Mbuf) {
        match self.next_hop(&m) {
            Some(NextHop::Mac(mac)) => {
                m.data_mut()[..6].copy_from_slice(&mac);
                self.inc(ControlCounter::Resolved);
                self.transmit(m);
            }
            Some(NextHop::Unresolved(hop)) => {
                let now = self.now_s();
                match hop {
                    IpAddr::V4(a) => {
                        if let Some(s) = self.table.want_v4(a, now) {
                            self.solicit4(s);
                        }
                    }
                    IpAddr::V6(a) => {
                        if let Some(s) = self.table.want_v6(a, now) {
                            self.solicit6(s);
                        }
                    }
                }
                let q = self.pending.entry(hop).or_default();
                if q.len() >= PENDING_PER_NEXT_HOP {
                    // Keep the newest, as Linux's neighbor queue does.
                    q.pop_front();
                    self.inc(ControlCounter::PendingFull);
                }
                self.pending.entry(hop).or_default().push_back(m);
            }
            Some(NextHop::NoRoute) | None => self.inc(ControlCounter::ControlNoRoute),
        }
    }

    fn flush_pending(&mut self) {
        let fwd = self.forwarding.load_full();
        let ready: Vec<(IpAddr, [u8; 6])> = self
            .pending
            .keys()
            .filter_map(|hop| fwd.mac_of(*hop).map(|mac| (*hop, mac)))
            .collect();
        for (hop, mac) in ready {
            for mut m in self.pending.remove(&hop).unwrap_or_default() {
                m.data_mut()[..6].copy_from_slice(&mac);
                self.inc(ControlCounter::Resolved);
                self.transmit(m);
            }
        }
    }

    fn solicit4(&mut self, s: Solicit<Ipv4Addr>) {
        let mut out = std::mem::take(&mut self.out);
        let n = self.host.solicit_v4(s, &mut out);
        self.inc(ControlCounter::Solicitations);
        self.transmit_bytes(&out[..n], self.outside_port);
        self.out = out;
    }

    fn solicit6(&mut self, s: Solicit<Ipv6Addr>) {
        let mut out = std::mem::take(&mut self.out);
        let n = self.host.solicit_v6(s, &mut out);
        self.inc(ControlCounter::Solicitations);
        self.transmit_bytes(&out[..n], self.inside_port);
        self.out = out;
    }

    /// An HA takeover: gratuitous ARP for the outside addresses and every
    /// pool4 address, unsolicited NA (override) for the inside addresses,
    /// so that the neighbors send to this node at once.
    fn announce(&mut self) {
        let mut out = std::mem::take(&mut self.out);
        let v4: Vec<Ipv4Addr> = self
            .host
            .outside_addrs
            .iter()
            .map(|c| c.addr)
            .chain(self.host.arp_proxy.iter().flat_map(|p| p.addrs()))
            .collect();
        for a in v4 {
            let n = self.host.gratuitous_arp(a, &mut out);
            self.transmit_bytes(&out[..n], self.outside_port);
            self.inc(ControlCounter::Announcements);
        }
        let v6: Vec<Ipv6Addr> = self.host.inside_addrs.iter().map(|c| c.addr).collect();
        for a in v6 {
            let n = self.host.unsolicited_na(a, &mut out);
            self.transmit_bytes(&out[..n], self.inside_port);
            self.inc(ControlCounter::Announcements);
        }
        self.out = out;
    }

    fn transmit_bytes(&mut self, frame: &[u8], port: u16) {
        let Some(mut m) = self.pool.alloc() else {
            return self.inc(ControlCounter::ControlNoMbuf);
        };
        if m.write_packet(frame).is_none() {
            return self.inc(ControlCounter::ControlNoMbuf);
        }
        m.set_port(port);
        self.transmit(m);
    }

    /// Hands a frame to worker 0, which owns a transmit queue on each port
    /// (`m.port()` says which).
    fn transmit(&mut self, m: Mbuf) {
        let mut one: MbufBurst<1> = MbufBurst::new();
        let _ = one.push(m);
        if self.from_control.enqueue_burst(&mut one) == 0 {
            self.inc(ControlCounter::ControlTxFull);
        }
    }

    /// Frees everything still queued (after the workers stopped).
    pub(crate) fn drain(&mut self) {
        self.pending.clear();
        let mut burst: MbufBurst = MbufBurst::new();
        for ring in [&self.to_host, &self.to_resolve, &self.from_control] {
            while ring.dequeue_burst(&mut burst) > 0 {
                burst.clear();
            }
        }
        self.copy_log_stats();
        self.counters.publish();
    }
}
