//! Bringing the appliance up and down: EAL, the packet pool, both ports,
//! the rings between workers and the control thread, the workers on their
//! lcores, and the control loop (slow path, neighbor resolution) on the
//! main lcore.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use plat_core::api::{Neighbor, PortStatus};
use plat_core::config::{Config, Ipv4Cidr, MacAddr, Side, Steering};
use plat_core::counters::Desc;
use plat_core::nat64::Reason;
use plat_core::rss::{round_robin_reta, DEFAULT_KEY};
use plat_core::wire::ethernet::HEADER_LEN as ETH_LEN;

use crate::control::{Control, ControlCounter};
use crate::counters::{CounterBoard, LocalCounters};
use crate::dpdk::eal::Eal;
use crate::dpdk::error::DpdkError;
use crate::dpdk::lcore::{self, LcoreJob};
use crate::dpdk::mempool::{self, Mempool, MempoolConfig};
use crate::dpdk::port::{DeviceInfo, Port, PortConfig, RssConfig};
use crate::dpdk::ring::{Ring, RingSync};
use crate::engine::PacketEngine;
use crate::events::event_rings;
use crate::handle::ControlHandle;
use crate::handoff::HandoffMesh;
use crate::live::LiveConfig;
use crate::log_export::LogExport;
use crate::mailbox::Mailbox;
use crate::neighbor::NeighborTable;
use crate::slowpath::{Host, MAX_FRAME};
use crate::worker::{Counter, Worker, WorkerSetup};

/// Inside RSS: IPv6 hashed on the source address only, so every flow of a
/// subscriber lands on one worker.
const INSIDE_RSS: u64 = dpdk_sys::RTE_ETH_RSS_IPV6 as u64
    | dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV6_TCP as u64
    | dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV6_UDP as u64
    | dpdk_sys::RTE_ETH_RSS_L3_SRC_ONLY;
/// Outside RSS: IPv4 TCP/UDP hashed on the L4 destination port only, the
/// input of the rss plan's port partitioning.
const OUTSIDE_RSS: u64 = dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV4_TCP as u64
    | dpdk_sys::RTE_ETH_RSS_NONFRAG_IPV4_UDP as u64
    | dpdk_sys::RTE_ETH_RSS_L4_DST_ONLY;

/// Whether `auto` steering may trust a device's RSS: a NIC (not one of
/// DPDK's `net_*` virtual devices) with a redirection table.
fn can_steer(info: &crate::dpdk::port::DeviceInfo) -> bool {
    !info.driver_name.starts_with("net_") && info.reta_size > 0 && info.flow_type_rss_offloads != 0
}

/// Slots of the rings between workers and the control thread.
const CONTROL_RING_SLOTS: u32 = 4096;
/// Sleep of the control thread when it found nothing to do.
const CONTROL_IDLE: Duration = Duration::from_micros(200);

/// Every counter of the board, in index order: the worker's own, then
/// the engine's drop reasons (at `Counter::COUNT`), then the control
/// thread's (at `Counter::COUNT + Reason::COUNT`).
pub fn board_descs() -> Vec<&'static Desc> {
    Counter::DESCS
        .iter()
        .chain(Reason::descs())
        .chain(ControlCounter::DESCS)
        .collect()
}

/// Why the appliance could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A DPDK call failed.
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    /// The configuration does not fit the machine or the devices.
    #[error("config field `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why a running appliance stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A worker returned while the appliance was running: its queues are
    /// no longer polled, so the appliance stops (and its supervisor
    /// restarts it) rather than blackhole a share of the traffic.
    #[error("the worker on lcore {lcore} stopped unexpectedly")]
    WorkerStopped {
        /// The worker's lcore.
        lcore: u32,
    },
}

/// What the appliance answers for besides its own addresses.
#[derive(Debug, Clone, Default)]
pub struct HostExtras {
    /// IPv4 ranges to answer ARP for (pool4).
    pub arp_proxy: Vec<Ipv4Cidr>,
}

/// What the control thread publishes once a second for the management
/// plane: the ports and the neighbor cache (only the control thread may
/// touch either).
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The inside port, then the outside port.
    pub ports: Vec<PortStatus>,
    /// The neighbor cache of both links.
    pub neighbors: Vec<Neighbor>,
}

/// The published [`Status`].
pub type SharedStatus = Arc<ArcSwap<Status>>;

/// The running appliance.
#[derive(Debug)]
pub struct Appliance {
    stop: Arc<AtomicBool>,
    live: Arc<LiveConfig>,
    status: SharedStatus,
    lcores: Vec<u32>,
    counters: Arc<CounterBoard>,
    handle: ControlHandle,
    jobs: Vec<LcoreJob>,
    control: Control,
    log: Option<LogExport>,
    ha: Option<crate::ha::HaLink>,
    // Dropped in this order after the workers stopped: rings and mesh,
    // ports, then the pool, then the EAL.
    _handoff: Option<Arc<HandoffMesh>>,
    inside: Port,
    outside: Port,
    _pool: Arc<Mempool>,
    eal: Eal,
    steering: Steering,
}

// The translator grows a packet (IPv4 to IPv6, an ICMP error built in
// front of what it quotes) into the headroom, behind the Ethernet header
// the worker puts back there.
const _: () = assert!(
    mempool::HEADROOM as usize >= plat_core::xlat::HEADROOM + ETH_LEN,
    "the mbuf headroom must hold the translation's growth and an Ethernet header"
);

/// The mbuf data room for the configured links: one segment holds any
/// frame either port hands over, a frame of the link's MTU as the device
/// stores it (for net_af_packet a whole ring frame, which its queue setup
/// demands), behind the headroom the translation grows into.
///
/// One segment per frame, rather than chains of default 2 KiB mbufs.
/// DPDK's l3fwd with `--max-pkt-len` takes the other road: default
/// mbufs, `rxmode.mtu`, multi-segment transmit, and the NIC scatters a
/// jumbo frame over a chain; it reads headers only, in the first segment.
/// The translator rewrites headers in place, moves them into the
/// headroom, cuts fragments out of a payload and quotes it in ICMP
/// errors, all over one contiguous buffer (`Mbuf::whole_buffer_mut`),
/// which a chain is not; and net_af_packet does not scatter at all. A
/// NIC whose buffers are smaller than its frames turns scattered receive
/// on by itself, which this size prevents. The price is memory: every
/// mbuf is as large as the largest frame (about 9.3 KiB at MTU 9000,
/// some 300 MiB for one worker's pool); `workers.mbufs` or a larger EAL
/// `-m` answers it.
fn data_room(links: [(&DeviceInfo, u16, &'static str); 2]) -> Result<u16, StartError> {
    let bytes = links
        .iter()
        .map(|(info, mtu, _)| info.rx_buffer_len(*mtu))
        .max()
        .unwrap_or(0);
    mempool::data_room_for(bytes).ok_or_else(|| {
        let (_, mtu, field) = links
            .iter()
            .max_by_key(|(_, mtu, _)| *mtu)
            .unwrap_or(&links[0]);
        StartError::Config {
            field,
            reason: format!(
                "MTU {mtu} needs packet buffers of {} bytes; an mbuf describes at most {}",
                u32::from(mempool::HEADROOM) + bytes,
                u16::MAX
            ),
        }
    })
}

/// Mbufs the pool needs: every rx and tx descriptor, the rings, and the
/// bursts and caches in flight.
fn pool_size(workers: usize, rx_desc: u16, tx_desc: u16, handoff: bool) -> u32 {
    let per_port = workers as u32 * (u32::from(rx_desc) + u32::from(tx_desc));
    let rings = 3 * CONTROL_RING_SLOTS
        + if handoff {
            (workers * workers) as u32 * crate::handoff::HANDOFF_RING_SLOTS
        } else {
            0
        };
    let in_flight = workers as u32 * (4 * 64 + crate::worker::MAX_KEPT as u32 + 512);
    (2 * per_port + rings + in_flight + 1024).next_power_of_two() - 1
}

impl Appliance {
    /// Starts EAL, the ports and one worker per worker lcore, each with the
    /// engine `make_engine(worker_index, workers)` builds.
    pub fn start<E, F>(
        cfg: &Config,
        extras: HostExtras,
        make_engine: F,
    ) -> Result<Appliance, StartError>
    where
        E: PacketEngine + 'static,
        F: Fn(usize, usize) -> E,
    {
        let mut args = vec!["platd".to_owned()];
        args.extend(cfg.eal.args.iter().cloned());
        let eal = Eal::init(&args)?;
        let workers = lcore::worker_lcores(&eal).len();
        let engines = (0..workers).map(|w| make_engine(w, workers)).collect();
        Self::start_on(eal, cfg, extras, engines)
    }

    /// As [`Appliance::start`], on an EAL the caller started (and may have
    /// created ports on, such as `net_ring` ports it drives itself), with
    /// one engine per worker lcore, in lcore order.
    pub fn start_on<E>(
        eal: Eal,
        cfg: &Config,
        extras: HostExtras,
        engines: Vec<E>,
    ) -> Result<Appliance, StartError>
    where
        E: PacketEngine + 'static,
    {
        let lcores = lcore::worker_lcores(&eal);
        if lcores.is_empty() {
            return Err(StartError::Config {
                field: "eal.args",
                reason: "no worker lcore: give EAL at least two lcores (-l 0-1 or --lcores)".into(),
            });
        }
        let workers = lcores.len();
        let inside_id = Port::id_by_name(&cfg.inside.port).map_err(|e| StartError::Config {
            field: "inside.port",
            reason: format!("no DPDK port `{}` ({e})", cfg.inside.port),
        })?;
        let outside_id = Port::id_by_name(&cfg.outside.port).map_err(|e| StartError::Config {
            field: "outside.port",
            reason: format!("no DPDK port `{}` ({e})", cfg.outside.port),
        })?;

        // With one worker nothing needs steering. `rss` trusts the NICs to
        // deliver each flow to its owner's queue, programmed from the rss
        // plan where the device has a redirection table; `handoff` fixes
        // it up in software; `auto` picks rss only where both ports are
        // NICs that can be programmed (virtual devices cannot steer).
        let (inside_info, outside_info) = (Port::info_of(inside_id)?, Port::info_of(outside_id)?);
        let steering = match (cfg.workers.steering, workers) {
            (_, 1) => Steering::Auto,
            (Steering::Rss, _) => Steering::Rss,
            (Steering::Auto, _) if can_steer(&inside_info) && can_steer(&outside_info) => {
                Steering::Rss
            }
            (_, _) => Steering::Handoff,
        };
        let handoff = steering == Steering::Handoff;
        // The rings between workers exist whenever there are several: in
        // `rss` mode they carry what the NIC cannot place by port (ICMP,
        // IPv4 fragments, IPv6 with extension headers), in `handoff` mode
        // everything that arrived on another worker's queue.
        let mesh_needed = workers > 1;
        let rss = |info: &crate::dpdk::port::DeviceInfo, hash_types: u64| {
            (steering == Steering::Rss && info.reta_size > 0).then(|| RssConfig {
                key: Some(DEFAULT_KEY.to_vec()),
                hash_types,
            })
        };
        let port_cfg = PortConfig {
            rx_queues: workers as u16,
            tx_queues: workers as u16,
            ..PortConfig::default()
        };
        let inside_cfg = PortConfig {
            rss: rss(&inside_info, INSIDE_RSS),
            mtu: Some(cfg.inside.mtu),
            ..port_cfg.clone()
        };
        let outside_cfg = PortConfig {
            rss: rss(&outside_info, OUTSIDE_RSS),
            mtu: Some(cfg.outside.mtu),
            ..port_cfg.clone()
        };
        let pool_cfg = MempoolConfig::new(
            "plat_pkts",
            cfg.workers.mbufs.unwrap_or_else(|| {
                pool_size(
                    workers,
                    port_cfg.rx_descriptors,
                    port_cfg.tx_descriptors,
                    mesh_needed,
                )
            }),
        )
        .with_data_room(data_room([
            (&inside_info, cfg.inside.mtu, "inside.mtu"),
            (&outside_info, cfg.outside.mtu, "outside.mtu"),
        ])?);
        let pool = Arc::new(Mempool::new(&eal, &pool_cfg).map_err(|e| match e {
            DpdkError::Call { errno, .. } if errno == libc::ENOMEM || errno == libc::ENOSPC => {
                StartError::Config {
                    field: "workers.mbufs",
                    reason: format!(
                        "a pool of {} mbufs of {} bytes ({} MiB) does not fit DPDK's memory \
                         ({e}): give the EAL more (-m), or fewer mbufs",
                        pool_cfg.size,
                        pool_cfg.data_room,
                        pool_cfg.buffer_bytes() >> 20
                    ),
                }
            }
            e => e.into(),
        })?);
        tracing::info!(
            mbufs = pool_cfg.size,
            data_room = pool_cfg.data_room,
            mib = pool_cfg.buffer_bytes() >> 20,
            "packet pool"
        );
        let start_port = |id, port_cfg: &PortConfig, field| {
            Port::start(&eal, id, port_cfg, &pool).map_err(|e| match e {
                e @ DpdkError::Mtu { .. } => StartError::Config {
                    field,
                    reason: e.to_string(),
                },
                e => e.into(),
            })
        };
        let inside = start_port(inside_id, &inside_cfg, "inside.mtu")?;
        let outside = start_port(outside_id, &outside_cfg, "outside.mtu")?;
        // The redirection tables the rss plan assumes (see
        // `nat64_engine::plan_for`): entry i to queue i % workers.
        for (port, info, c) in [
            (&inside, &inside_info, &inside_cfg),
            (&outside, &outside_info, &outside_cfg),
        ] {
            if c.rss.is_some() {
                port.set_reta(&round_robin_reta(usize::from(info.reta_size), workers))?;
            }
        }
        for (port, mac, field) in [
            (&inside, cfg.inside.mac, "inside.mac"),
            (&outside, cfg.outside.mac, "outside.mac"),
        ] {
            if let Some(mac) = mac {
                port.set_mac(mac.0).map_err(|e| StartError::Config {
                    field,
                    reason: format!("the port cannot take MAC {mac}: {e}"),
                })?;
            }
        }
        let inside_mac = inside.mac()?;
        let outside_mac = outside.mac()?;

        let mesh = if mesh_needed {
            Some(Arc::new(HandoffMesh::new(&eal, workers, "w")?))
        } else {
            None
        };
        let to_host = Arc::new(Ring::new(
            &eal,
            "to_host",
            CONTROL_RING_SLOTS,
            RingSync::MultiProducerMultiConsumer,
        )?);
        let to_resolve = Arc::new(Ring::new(
            &eal,
            "to_resolve",
            CONTROL_RING_SLOTS,
            RingSync::MultiProducerMultiConsumer,
        )?);
        let from_control = Arc::new(Ring::new(
            &eal,
            "from_control",
            CONTROL_RING_SLOTS,
            RingSync::SingleProducerSingleConsumer,
        )?);

        let table = NeighborTable::new(cfg);
        let forwarding = table.shared();
        let stop = Arc::new(AtomicBool::new(false));

        if engines.len() != workers {
            return Err(StartError::Config {
                field: "eal.args",
                reason: format!("{workers} worker lcores but {} engines", engines.len()),
            });
        }
        // One row per worker plus the control thread's.
        let counters = CounterBoard::new(board_descs(), workers + 1);
        let control_base = Counter::COUNT + Reason::COUNT;

        let mailboxes: Vec<Arc<Mailbox>> = (0..workers).map(|_| Arc::default()).collect();
        let live = Arc::new(LiveConfig::new(cfg.clone()));
        let handle = ControlHandle::new(mailboxes.clone());
        // NAT events: a ring per worker to the log thread, which starts
        // here on the main lcore's thread and so inherits its affinity.
        let nat_log = &cfg.logging.nat;
        let (mut senders, log) = if nat_log.enabled() {
            let (tx, rx) = event_rings(
                workers,
                nat_log.ring_events as usize,
                cfg.nat64.nat.port_block != 0,
            );
            let log = LogExport::start(nat_log, *cfg.nat64.prefix.primary(), rx).map_err(|e| {
                StartError::Config {
                    field: "logging.nat",
                    reason: format!("the NAT event log cannot start: {e}"),
                }
            })?;
            (tx.into_iter().map(Some).collect(), Some(log))
        } else {
            ((0..workers).map(|_| None).collect::<Vec<_>>(), None)
        };
        let (ha, mut ha_ends) = match &cfg.ha {
            Some(h) => {
                let (link, ends) =
                    crate::ha::start_for(cfg, h, &mut senders).map_err(|e| StartError::Config {
                        field: "ha.local",
                        reason: e.to_string(),
                    })?;
                (Some(link), ends.into_iter().map(Some).collect())
            }
            None => (None, (0..workers).map(|_| None).collect::<Vec<_>>()),
        };
        let mut jobs = Vec::with_capacity(workers);
        for (w, (engine, lcore)) in engines.into_iter().zip(lcores.iter()).enumerate() {
            let setup = WorkerSetup {
                index: w,
                workers,
                inside: inside.queue(w as u16),
                outside: outside.queue(w as u16),
                inside_mac,
                outside_mac,
                engine,
                forwarding: Arc::clone(&forwarding),
                to_host: Arc::clone(&to_host),
                to_resolve: Arc::clone(&to_resolve),
                from_control: (w == 0).then(|| Arc::clone(&from_control)),
                handoff: mesh.clone(),
                nic_steers: !handoff,
                pool: Arc::clone(&pool),
                counters: LocalCounters::new(Arc::clone(&counters), w),
                engine_counter_base: Counter::COUNT,
                mailbox: Arc::clone(&mailboxes[w]),
                live: Arc::clone(&live),
                stop: Arc::clone(&stop),
                idle_sleep_us: cfg.workers.idle_sleep_us,
                icmp_errors_per_second: cfg.workers.icmp_errors_per_second,
                events: senders[w].take(),
                ha: ha_ends[w].take(),
            };
            jobs.push(LcoreJob::launch(&eal, *lcore, move || {
                Worker::new(setup).run()
            })?);
        }

        let host = Host {
            inside_mac,
            outside_mac,
            inside_addrs: cfg.inside.addresses.clone(),
            outside_addrs: cfg.outside.addresses.clone(),
            arp_proxy: extras.arp_proxy,
        };
        let control = Control {
            host,
            table,
            forwarding,
            to_host,
            to_resolve,
            from_control,
            pool: Arc::clone(&pool),
            inside_port: inside_id,
            outside_port: outside_id,
            pending: HashMap::new(),
            counters: LocalCounters::new(Arc::clone(&counters), workers),
            base: control_base,
            started: Instant::now(),
            last_tick: Instant::now(),
            live: Arc::clone(&live),
            generation: live.generation(),
            port_names: [cfg.inside.port.clone(), cfg.outside.port.clone()],
            macs: [inside_mac, outside_mac],
            log_stats: log.as_ref().map(LogExport::stats),
            ha: ha.as_ref().map(crate::ha::HaLink::shared),
            out: vec![0; MAX_FRAME.max(ETH_LEN + usize::from(cfg.inside.mtu.max(cfg.outside.mtu)))],
        };
        Ok(Appliance {
            stop,
            live,
            status: SharedStatus::default(),
            lcores: lcores.clone(),
            counters,
            handle,
            jobs,
            control,
            log,
            ha,
            _handoff: mesh,
            inside,
            outside,
            _pool: pool,
            eal,
            steering,
        })
    }

    /// The counters of every worker and of the control thread.
    pub fn counters(&self) -> Arc<CounterBoard> {
        Arc::clone(&self.counters)
    }

    /// The handle the management servers query the workers through.
    pub fn control_handle(&self) -> ControlHandle {
        self.handle.clone()
    }

    /// The HA pair's shared state, when paired.
    pub fn ha(&self) -> Option<Arc<crate::ha::HaShared>> {
        self.ha.as_ref().map(crate::ha::HaLink::shared)
    }

    /// The running configuration, which the management server changes.
    pub fn live(&self) -> Arc<LiveConfig> {
        Arc::clone(&self.live)
    }

    /// Ports and neighbors, as the control thread last published them.
    pub fn status(&self) -> SharedStatus {
        Arc::clone(&self.status)
    }

    /// The lcore each worker runs on, in worker order.
    pub fn lcores(&self) -> &[u32] {
        &self.lcores
    }

    /// The flag that stops the appliance when set (signal handlers set it).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// How return traffic reaches its worker in this run.
    pub fn steering(&self) -> Steering {
        self.steering
    }

    /// The EAL handle.
    pub fn eal(&self) -> &Eal {
        &self.eal
    }

    /// Port statistics of the inside and outside ports.
    pub fn port_stats(&self) -> Result<(crate::PortStats, crate::PortStats), DpdkError> {
        Ok((self.inside.stats()?, self.outside.stats()?))
    }

    /// Runs the control loop on this (the main) lcore until the stop flag
    /// is set, calling `every_second` about once a second; then stops the
    /// workers and returns. Fails if a worker stops on its own.
    pub fn run(mut self, mut every_second: impl FnMut(&CounterBoard)) -> Result<(), RunError> {
        let mut last = Instant::now();
        let mut failed = None;
        self.publish_status();
        while !self.stop.load(Ordering::Relaxed) {
            if !self.control.poll() {
                std::thread::sleep(CONTROL_IDLE);
            }
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                self.publish_status();
                every_second(&self.counters);
                if let Some(job) = self.jobs.iter().find(|j| !j.is_running()) {
                    failed = Some(job.lcore());
                    break;
                }
            }
        }
        self.shutdown();
        match failed {
            Some(lcore) => Err(RunError::WorkerStopped { lcore }),
            None => Ok(()),
        }
    }

    /// Reads both ports and the neighbor cache into [`Status`].
    fn publish_status(&self) {
        let c = &self.control;
        let ports = [(&self.inside, Side::Inside), (&self.outside, Side::Outside)]
            .into_iter()
            .map(|(port, side)| {
                let link = port.link().ok();
                let stats = port.stats().unwrap_or_default();
                PortStatus {
                    side,
                    name: c.port_names[side as usize].clone(),
                    mac: MacAddr(c.macs[side as usize]).to_string(),
                    up: link.is_some_and(|l| l.up),
                    speed_mbps: link.map_or(0, |l| l.speed_mbps),
                    rx_packets: stats.ipackets,
                    tx_packets: stats.opackets,
                    rx_bytes: stats.ibytes,
                    tx_bytes: stats.obytes,
                    rx_missed: stats.imissed,
                    rx_errors: stats.ierrors,
                    tx_errors: stats.oerrors,
                }
            })
            .collect();
        self.status.store(Arc::new(Status {
            ports,
            neighbors: c.table.list(c.now_s()),
        }));
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for job in self.jobs.drain(..) {
            let _ = job.join();
        }
        if let Some(log) = self.log.as_mut() {
            log.stop();
        }
        if let Some(ha) = self.ha.as_mut() {
            ha.stop();
        }
        self.control.drain();
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_of_the_board_has_its_own_name_and_help() {
        let descs = board_descs();
        let names: std::collections::HashSet<_> = descs.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), descs.len(), "a counter name is declared twice");
        assert!(descs.iter().all(|d| !d.help.is_empty()));
        assert_eq!(
            descs[Counter::COUNT].name,
            Reason::descs().next().unwrap().name
        );
        assert_eq!(
            descs[Counter::COUNT + Reason::COUNT].name,
            ControlCounter::ALL[0].name()
        );
    }
}
