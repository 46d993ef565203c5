//! The production engine: plat-core's stateful NAT64 ([`Nat64`]) behind
//! the worker's [`PacketEngine`] interface, with the rss plan deciding
//! which worker owns a subscriber and a pool port.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use plat_core::api::{WorkerAnswer, WorkerQuery};
use plat_core::config::{Config, Ipv4Cidr};
use plat_core::nat::{
    Endpoint6, HashKey, IcmpError, Pool4Entry, Record, SessionFilter, Shard, ShardError, Time,
};
use plat_core::nat64::{HeldFate, Nat64, Nat64Drop, Packet, Reason, Verdict};
use plat_core::rss::{round_robin_reta, InputLayout, OutsideFields, Plan, PortShare, DEFAULT_KEY};
use plat_core::wire::{icmpv4, ipv4, ipv6, proto, tcp, udp};
use plat_core::xlat::Sink;

use crate::engine::{PacketEngine, Released, Step};

/// Redirection-table size the plan assumes (the common NIC size; with
/// software handoff any size works as long as both sides agree).
pub const PLAN_RETA_SIZE: usize = 128;

/// Why the NAT64 could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The shard refused its configuration or a pool4/static BIB entry.
    #[error("worker {worker}: {source}")]
    Shard {
        /// The worker.
        worker: usize,
        /// What the shard said.
        source: ShardError,
    },
    /// The rss plan could not be built.
    #[error("rss plan: {0}")]
    Plan(String),
    /// A static BIB entry whose IPv4 port returns to another worker than
    /// its IPv6 host's traffic arrives on.
    #[error(
        "nat64.static_bib: {v4} returns to worker {port_worker} but {v6} sends on worker \
         {host_worker}; pick a port of worker {host_worker}'s share"
    )]
    StaticBibSplit {
        /// The IPv6 host.
        v6: Endpoint6,
        /// The pool4 endpoint.
        v4: plat_core::nat::Endpoint4,
        /// Worker of the IPv4 port.
        port_worker: usize,
        /// Worker of the IPv6 host.
        host_worker: usize,
    },
}

/// The plan every worker of a run shares: the default Toeplitz key and a
/// round-robin redirection table, hashing the outside L4 destination port.
pub fn default_plan(workers: usize) -> Result<Arc<Plan>, EngineError> {
    plan_with_reta(workers, PLAN_RETA_SIZE)
}

/// The plan for a run on real ports: the redirection table has the outside
/// device's size, as the appliance programs it (virtual devices without
/// one get [`PLAN_RETA_SIZE`]).
pub fn plan_for(cfg: &plat_core::config::Config, workers: usize) -> Result<Arc<Plan>, EngineError> {
    let size = crate::dpdk::port::Port::id_by_name(&cfg.outside.port)
        .and_then(crate::dpdk::port::Port::info_of)
        .map(|i| usize::from(i.reta_size))
        .unwrap_or(0);
    plan_with_reta(workers, if size > 0 { size } else { PLAN_RETA_SIZE })
}

fn plan_with_reta(workers: usize, reta_size: usize) -> Result<Arc<Plan>, EngineError> {
    Plan::new(
        &DEFAULT_KEY,
        round_robin_reta(reta_size, workers),
        workers,
        OutsideFields::L4Dst,
        InputLayout::Compact,
    )
    .map(Arc::new)
    .map_err(|e| EngineError::Plan(e.to_string()))
}

/// One worker's NAT64 engine.
#[derive(Debug)]
pub struct Nat64Engine {
    nat: Nat64,
    plan: Arc<Plan>,
    pool4: Vec<Ipv4Cidr>,
    subscriber_prefix_len: u8,
    /// Errors owed to held SYNs whose hold timed out, until the worker
    /// asks for them.
    rejections: HashMap<u32, IcmpError>,
    fates: Vec<HeldFate>,
}

impl Nat64Engine {
    /// Builds worker `worker`'s engine (of `workers`) from the
    /// configuration, with its share of the pool and its static BIBs.
    pub fn new(cfg: &Config, plan: &Arc<Plan>, worker: usize) -> Result<Nat64Engine, EngineError> {
        let n = &cfg.nat64;
        let share = if plan.workers() == 1 {
            PortShare::All
        } else {
            plan.share(worker)
        };
        let shard_err = |source| EngineError::Shard { worker, source };
        // The table hash key, from the OS random source (std seeds every
        // RandomState from it), fresh per shard and per start: see HashKey.
        let key = HashKey::new(std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            worker,
        ));
        let mut shard = Shard::new(n.nat, share, key).map_err(|e| shard_err(e.into()))?;
        for e in &n.pool4 {
            shard.add_pool4(*e).map_err(shard_err)?;
        }
        let prefix_len = n.nat.limits.subscriber_prefix_len;
        for b in &n.static_bib {
            let host_worker = plan.inside_worker(b.v6.addr, prefix_len);
            if plan.workers() > 1 {
                let port_worker = plan.worker_of(b.v4.addr, b.v4.port);
                if port_worker != host_worker {
                    return Err(EngineError::StaticBibSplit {
                        v6: b.v6,
                        v4: b.v4,
                        port_worker,
                        host_worker,
                    });
                }
            }
            if host_worker == worker || plan.workers() == 1 {
                shard
                    .add_static_bib(b.proto, b.v6, b.v4, Time::from_millis(0))
                    .map_err(shard_err)?;
            }
        }
        Ok(Nat64Engine {
            nat: Nat64::with_prefixes(shard, n.prefix.clone(), n.xlat),
            plan: Arc::clone(plan),
            pool4: n.pool4.iter().map(Ipv4Cidr::from).collect(),
            subscriber_prefix_len: prefix_len,
            rejections: HashMap::new(),
            fates: Vec::new(),
        })
    }

    /// The NAT64 state (listings, tests).
    pub fn nat(&self) -> &Nat64 {
        &self.nat
    }
}

fn step(v: Verdict) -> Step {
    match v {
        Verdict::Forward { l3_start, l3_len } => Step::Forward { l3_start, l3_len },
        Verdict::Fragmented { .. } => Step::Fragmented,
        Verdict::Reply {
            l3_start,
            l3_len,
            reason,
        } => Step::Reply {
            l3_start,
            l3_len,
            reason,
        },
        Verdict::Hairpin { l3_start, l3_len } => Step::Hairpin { l3_start, l3_len },
        Verdict::HairpinReturn { l3_start, l3_len } => Step::HairpinReturn { l3_start, l3_len },
        Verdict::Hold { session } => Step::Hold { token: session.0 },
        Verdict::FragmentWaits { token } => Step::Wait { token },
        Verdict::Drop(r) => Step::Drop(r),
    }
}

/// The port (or ICMP identifier) of the pool4 transport address an IPv4
/// packet is for: what decides its owner. For an ICMP error it is the
/// source port of the packet it quotes (which plat sent from the pool).
fn pool_port_v4(l3: &[u8]) -> u16 {
    let be16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map_or(0, |x| u16::from_be_bytes([x[0], x[1]]))
    };
    let Some(&ver_ihl) = l3.first() else { return 0 };
    let ihl = ipv4::header_len_of(ver_ihl);
    if be16(l3, ipv4::OFFSET_FLAGS_FRAG) & ipv4::OFFSET_MASK != 0 || l3.len() < ihl {
        return 0;
    }
    let l4 = &l3[ihl..];
    // The destination port: the same offset in TCP and UDP.
    const _: () = assert!(tcp::OFFSET_DST_PORT == udp::OFFSET_DST_PORT);
    match l3.get(ipv4::OFFSET_PROTOCOL).copied() {
        Some(proto::TCP | proto::UDP) => be16(l4, udp::OFFSET_DST_PORT),
        Some(proto::ICMP) => match l4.first().copied() {
            Some(icmpv4::msg_type::ECHO_REPLY | icmpv4::msg_type::ECHO_REQUEST) => {
                be16(l4, icmpv4::OFFSET_IDENT)
            }
            // An error: the quoted packet's source port (or identifier).
            Some(_) => {
                let inner = l4.get(icmpv4::HEADER_LEN..).unwrap_or(&[]);
                let Some(&inner_ver_ihl) = inner.first() else {
                    return 0;
                };
                let il4 = inner
                    .get(ipv4::header_len_of(inner_ver_ihl)..)
                    .unwrap_or(&[]);
                match inner.get(ipv4::OFFSET_PROTOCOL).copied() {
                    Some(proto::ICMP) => be16(il4, icmpv4::OFFSET_IDENT),
                    _ => be16(il4, udp::OFFSET_SRC_PORT),
                }
            }
            None => 0,
        },
        _ => 0,
    }
}

/// The packet the worker hands over, with its burst position when the
/// prefetch stage classified it.
#[inline(always)]
fn packet(at: Option<usize>, buf: &mut [u8], l3_start: usize, l3_len: usize) -> Packet<'_> {
    Packet {
        at,
        ..Packet::new(buf, l3_start, l3_len)
    }
}

impl PacketEngine for Nat64Engine {
    #[inline]
    fn takes_v6(&self, dst: Ipv6Addr) -> bool {
        self.nat.prefixes().find(&dst.octets()).is_some()
    }

    #[inline]
    fn takes_v4(&self, dst: Ipv4Addr) -> bool {
        self.pool4.iter().any(|p| p.contains(dst))
    }

    #[inline]
    fn owner_v6(&self, l3: &[u8], _workers: usize) -> usize {
        let mut src = [0u8; 16];
        if let Some(s) = l3.get(ipv6::OFFSET_SRC..ipv6::OFFSET_SRC + 16) {
            src.copy_from_slice(s);
        }
        self.plan
            .inside_worker(Ipv6Addr::from(src), self.subscriber_prefix_len)
    }

    #[inline]
    fn owner_v4(&self, l3: &[u8], _workers: usize) -> usize {
        let dst = l3
            .get(ipv4::OFFSET_DST..ipv4::OFFSET_DST + 4)
            .map_or(Ipv4Addr::UNSPECIFIED, |d| {
                Ipv4Addr::new(d[0], d[1], d[2], d[3])
            });
        self.plan.worker_of(dst, pool_port_v4(l3))
    }

    #[inline]
    fn prefetch_v6(&mut self, l3s: &[&[u8]]) {
        self.nat.prefetch_v6(l3s);
    }

    #[inline]
    fn prefetch_v4(&mut self, l3s: &[&[u8]]) {
        self.nat.prefetch_v4(l3s);
    }

    #[inline]
    fn end_burst(&mut self) {
        self.nat.end_burst();
    }

    #[inline]
    fn handle_v6(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now_ms: u64,
        sink: &mut dyn Sink,
    ) -> Step {
        let pkt = packet(at, buf, l3_start, l3_len);
        step(self.nat.from_v6(pkt, Time::from_millis(now_ms), sink))
    }

    #[inline]
    fn handle_v4(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now_ms: u64,
        sink: &mut dyn Sink,
    ) -> Step {
        let pkt = packet(at, buf, l3_start, l3_len);
        step(self.nat.from_v4(pkt, Time::from_millis(now_ms), sink))
    }

    fn answer(&mut self, query: &WorkerQuery, now_ms: u64) -> WorkerAnswer {
        let shard = self.nat.shard_mut();
        match *query {
            WorkerQuery::Summary => WorkerAnswer::Summary(shard.stats()),
            WorkerQuery::Sessions(q) => WorkerAnswer::Sessions(shard.sessions_page(
                q.filter,
                q.from,
                q.scan,
                q.limit,
                Time::from_millis(now_ms),
            )),
            WorkerQuery::Bib(q) => {
                WorkerAnswer::Bib(shard.bib_page(q.filter, q.from, q.scan, q.limit))
            }
            WorkerQuery::Subscriber(a) => WorkerAnswer::Subscriber(shard.subscriber(a)),
            WorkerQuery::Pool4Use => WorkerAnswer::Pool4Use(shard.pool4_use()),
            WorkerQuery::Who { v4, proto } => WorkerAnswer::Who(shard.who(v4, proto)),
            WorkerQuery::Clear(q) => {
                let (n, next) =
                    shard.clear_page(q.filter, q.from, q.scan, Time::from_millis(now_ms));
                WorkerAnswer::Counted { n, next }
            }
            WorkerQuery::CountSessions(q) => {
                let (n, next) = shard.sessions_count(q.filter, q.from, q.scan);
                WorkerAnswer::Counted { n, next }
            }
            WorkerQuery::CountBib(q) => {
                let (n, next) = shard.bib_count(q.filter, q.from, q.scan);
                WorkerAnswer::Counted { n, next }
            }
        }
    }

    fn drain_events(&mut self, out: &mut dyn FnMut(&Record)) {
        for record in self.nat.shard_mut().drain_events() {
            out(&record);
        }
    }

    fn sync_apply(&mut self, record: &Record) -> bool {
        self.nat.shard_mut().apply(record).is_ok()
    }

    fn sync_clear(&mut self, now_ms: u64) {
        let now = Time::from_millis(now_ms);
        let shard = self.nat.shard_mut();
        let mut from = Some(0);
        while let Some(at) = from {
            from = shard
                .clear_page(SessionFilter::default(), at, 65_536, now)
                .1;
        }
        // What the clear itself recorded is not the active node's.
        shard.drain_events().for_each(drop);
    }

    fn sync_dump(&mut self, now_ms: u64, out: &mut Vec<Record>) {
        self.nat.shard().dump(Time::from_millis(now_ms), out);
    }

    fn apply(&mut self, cfg: &Config, now_ms: u64) -> Result<(), String> {
        let shard = self.nat.shard_mut();
        let now = Time::from_millis(now_ms);
        let mut refused = Vec::new();
        let running: Vec<Pool4Entry> = shard.pool4().to_vec();
        for e in running.iter().filter(|e| !cfg.nat64.pool4.contains(e)) {
            if let Err(err) = shard.remove_pool4(e.prefix, e.prefix_len, now) {
                refused.push(format!("removing pool4 {}: {err}", Ipv4Cidr::from(e)));
            }
        }
        for e in cfg.nat64.pool4.iter().filter(|e| !running.contains(e)) {
            if let Err(err) = shard.add_pool4(*e) {
                refused.push(format!("adding pool4 {}: {err}", Ipv4Cidr::from(e)));
            }
        }
        if let Err(err) = shard.reconfigure(cfg.nat64.nat) {
            refused.push(err.to_string());
        }
        self.pool4 = shard.pool4().iter().map(Ipv4Cidr::from).collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(refused.join("; "))
        }
    }

    fn expire(&mut self, now_ms: u64, budget: usize, released: &mut Vec<Released>) -> usize {
        let n = self
            .nat
            .expire(Time::from_millis(now_ms), budget, &mut self.fates);
        for f in self.fates.drain(..) {
            released.push(match f {
                HeldFate::Release(s) => Released::Drop(s.0),
                HeldFate::Reject(s, e) => {
                    self.rejections.insert(s.0, e);
                    Released::Reject(s.0)
                }
                HeldFate::FragmentReady(t) => Released::Retry(t),
                HeldFate::FragmentExpired(t) => {
                    Released::Expired(t, Reason::Nat64(Nat64Drop::FragmentTimeout))
                }
            });
        }
        n
    }

    fn reply_to_held(
        &mut self,
        token: u32,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
    ) -> Step {
        let error = self
            .rejections
            .remove(&token)
            .unwrap_or(IcmpError::V4PortUnreachable);
        step(self.nat.reject_held(buf, l3_start, l3_len, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_started_gets_its_own_hash_key() {
        let mut cfg = Config::from_toml(include_str!("../../deploy/platd.example.toml")).unwrap();
        // Its static BIB entry would need its host and port on one worker.
        cfg.nat64.static_bib.clear();
        let plan = plan_for(&cfg, 2).unwrap();
        let key = |w| {
            Nat64Engine::new(&cfg, &plan, w)
                .unwrap()
                .nat
                .shard()
                .hash_key()
        };
        // Two workers of one start, and worker 0 of a second start.
        let keys = [key(0), key(1), key(0)];
        assert_ne!(keys[0], keys[1], "two workers share a key");
        assert_ne!(keys[0], keys[2], "a restart reuses the key");
        assert_ne!(keys[1], keys[2]);
    }
}
