//! Next hops and their MACs: the routing decision and the neighbor cache
//! (ARP for IPv4, NDP for IPv6) of both links.
//!
//! The control thread owns a `NeighborTable`: it learns from ARP replies
//! and Neighbor Advertisements, probes before entries go stale, and
//! publishes an immutable `ForwardingSnapshot` that workers read without a
//! lock (one atomic load of an `Arc` per burst).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use plat_core::api::Neighbor;
use plat_core::config::{Config, Ipv4Cidr, Ipv6Cidr, LinkConfig, MacAddr, Side};

/// How long a learned neighbor stays usable without news from it.
pub const REACHABLE_SECS: u64 = 300;
/// When a learned entry this old is used, the control thread re-probes it.
pub const REFRESH_AFTER_SECS: u64 = 240;
/// Between two unicast re-probes of a neighbor about to go stale.
pub const REFRESH_PROBE_EVERY_SECS: u64 = 20;
/// Between two solicitations for one unresolved neighbor.
pub const PROBE_INTERVAL_SECS: u64 = 1;
/// Solicitations before an unresolved neighbor is given up (and its queued
/// packets dropped).
pub const MAX_PROBES: u32 = 3;

/// Where a packet for some destination goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop<A> {
    /// Send to this MAC.
    Mac([u8; 6]),
    /// The next hop is `A`, whose MAC is not known yet: resolve it.
    Unresolved(A),
    /// No route to the destination.
    NoRoute,
}

/// Routes of one link, most specific first.
#[derive(Debug, Clone, Default)]
struct RouteTable<C, A> {
    /// (prefix, next hop; None = on-link)
    entries: Vec<(C, Option<A>)>,
}

/// Everything a worker needs to address a frame on one link.
#[derive(Debug, Clone)]
pub struct LinkView<C, A: Eq + Hash> {
    routes: RouteTable<C, A>,
    macs: HashMap<A, [u8; 6]>,
}

/// A prefix a route can match on.
pub trait RoutePrefix<A> {
    /// Prefix length (longest wins).
    fn prefix_len(&self) -> u8;
    /// True when `a` is inside the prefix.
    fn covers(&self, a: A) -> bool;
}

impl RoutePrefix<Ipv4Addr> for Ipv4Cidr {
    fn prefix_len(&self) -> u8 {
        self.len
    }
    fn covers(&self, a: Ipv4Addr) -> bool {
        self.contains(a)
    }
}

impl RoutePrefix<Ipv6Addr> for Ipv6Cidr {
    fn prefix_len(&self) -> u8 {
        self.len
    }
    fn covers(&self, a: Ipv6Addr) -> bool {
        self.contains(a)
    }
}

impl<C: RoutePrefix<A> + Copy, A: Copy + Eq + Hash> LinkView<C, A> {
    fn from_link(link: &LinkConfig<C, A>) -> Self {
        // The link's own prefixes are on-link; configured routes follow.
        let mut entries: Vec<(C, Option<A>)> = link.addresses.iter().map(|p| (*p, None)).collect();
        entries.extend(link.routes.iter().map(|r| (r.prefix, r.via)));
        // Longest prefix first; stable, so configured order breaks ties.
        entries.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
        LinkView {
            routes: RouteTable { entries },
            macs: HashMap::new(),
        }
    }

    /// The next hop for `dst`: its own address when on-link.
    #[inline]
    pub fn next_hop_ip(&self, dst: A) -> Option<A> {
        self.routes
            .entries
            .iter()
            .find(|(p, _)| p.covers(dst))
            .map(|(_, via)| via.unwrap_or(dst))
    }

    /// The MAC of next hop `hop`, when known.
    #[inline]
    pub fn mac_of(&self, hop: A) -> Option<[u8; 6]> {
        self.macs.get(&hop).copied()
    }

    /// Where a frame for `dst` goes.
    #[inline]
    pub fn resolve(&self, dst: A) -> NextHop<A> {
        match self.next_hop_ip(dst) {
            None => NextHop::NoRoute,
            Some(hop) => match self.macs.get(&hop) {
                Some(mac) => NextHop::Mac(*mac),
                None => NextHop::Unresolved(hop),
            },
        }
    }
}

/// What workers read: both links' routes and known MACs.
#[derive(Debug, Clone)]
pub struct ForwardingSnapshot {
    /// Counts publications: equal generations mean equal contents, so a
    /// worker may cache what it looked up in one.
    pub generation: u64,
    /// The inside (IPv6) link.
    pub inside: LinkView<Ipv6Cidr, Ipv6Addr>,
    /// The outside (IPv4) link.
    pub outside: LinkView<Ipv4Cidr, Ipv4Addr>,
}

impl ForwardingSnapshot {
    /// The next hop of the IP packet `l3` leaving on the outside (IPv4)
    /// or the inside (IPv6) link: `None` when the packet is too short to
    /// hold its destination address, `Some(None)` when no route covers it.
    #[inline]
    pub fn next_hop_of(&self, l3: &[u8], outside: bool) -> Option<Option<IpAddr>> {
        if outside {
            let d = l3.get(16..20)?;
            let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
            Some(self.outside.next_hop_ip(dst).map(IpAddr::V4))
        } else {
            let mut a = [0u8; 16];
            a.copy_from_slice(l3.get(24..40)?);
            Some(self.inside.next_hop_ip(Ipv6Addr::from(a)).map(IpAddr::V6))
        }
    }

    /// The MAC of next hop `hop` (on the link of its family), when known.
    #[inline]
    pub fn mac_of(&self, hop: IpAddr) -> Option<[u8; 6]> {
        match hop {
            IpAddr::V4(a) => self.outside.mac_of(a),
            IpAddr::V6(a) => self.inside.mac_of(a),
        }
    }
}

/// The published snapshot, shared by the control thread and the workers.
pub type SharedForwarding = Arc<ArcSwap<ForwardingSnapshot>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// From the configuration: never expires, never probed.
    Static([u8; 6]),
    /// Learned at `at` (seconds).
    Reachable { mac: [u8; 6], at: u64 },
    /// Solicited `probes` times, the last at `at`.
    Incomplete { probes: u32, at: u64 },
}

/// What the control thread should send after a table change or tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solicit<A> {
    /// Broadcast ARP request / multicast NS for `A`.
    Multicast(A),
    /// Unicast re-probe of a known neighbor at its MAC.
    Unicast(A, [u8; 6]),
}

/// One link's neighbor cache.
#[derive(Debug)]
struct Cache<A: Eq + Hash> {
    entries: HashMap<A, State>,
}

impl<A: Eq + Hash> Default for Cache<A> {
    fn default() -> Self {
        Cache {
            entries: HashMap::new(),
        }
    }
}

impl<A: Copy + Eq + Hash> Cache<A> {
    fn mac(&self, a: &A) -> Option<[u8; 6]> {
        match self.entries.get(a)? {
            State::Static(m) | State::Reachable { mac: m, .. } => Some(*m),
            State::Incomplete { .. } => None,
        }
    }

    fn learn(&mut self, a: A, mac: [u8; 6], now: u64) -> bool {
        match self.entries.get(&a) {
            Some(State::Static(_)) => false,
            Some(State::Reachable { mac: m, .. }) if *m == mac => {
                self.entries.insert(a, State::Reachable { mac, at: now });
                false
            }
            _ => {
                self.entries.insert(a, State::Reachable { mac, at: now });
                true
            }
        }
    }

    /// A worker needs `a`: solicit it unless a probe is under way.
    fn want(&mut self, a: A, now: u64) -> Option<Solicit<A>> {
        match self.entries.get(&a) {
            Some(State::Static(_)) | Some(State::Reachable { .. }) => None,
            Some(State::Incomplete { at, .. }) if now < at + PROBE_INTERVAL_SECS => None,
            Some(State::Incomplete { probes, .. }) => {
                let probes = probes + 1;
                self.entries
                    .insert(a, State::Incomplete { probes, at: now });
                Some(Solicit::Multicast(a))
            }
            None => {
                self.entries
                    .insert(a, State::Incomplete { probes: 1, at: now });
                Some(Solicit::Multicast(a))
            }
        }
    }

    /// Ages entries: returns probes to send and whether MACs changed.
    fn tick(&mut self, now: u64, out: &mut Vec<Solicit<A>>) -> bool {
        let mut changed = false;
        self.entries.retain(|a, st| match *st {
            State::Static(_) => true,
            State::Reachable { at, .. } if now >= at + REACHABLE_SECS => {
                changed = true;
                false
            }
            State::Reachable { mac, at } => {
                if now >= at + REFRESH_AFTER_SECS
                    && (now - at - REFRESH_AFTER_SECS).is_multiple_of(REFRESH_PROBE_EVERY_SECS)
                {
                    out.push(Solicit::Unicast(*a, mac));
                }
                true
            }
            State::Incomplete { probes, at } => {
                if now < at + PROBE_INTERVAL_SECS {
                    true
                } else if probes >= MAX_PROBES {
                    false
                } else {
                    *st = State::Incomplete {
                        probes: probes + 1,
                        at: now,
                    };
                    out.push(Solicit::Multicast(*a));
                    true
                }
            }
        });
        changed
    }

    /// The entries as `show neighbors` lists them.
    fn list(&self, side: Side, now: u64, out: &mut Vec<Neighbor>)
    where
        A: Into<IpAddr>,
    {
        let mac = |m: [u8; 6]| Some(MacAddr(m).to_string());
        for (a, st) in &self.entries {
            let (mac, state, age_s) = match *st {
                State::Static(m) => (mac(m), "static", 0),
                State::Reachable { mac: m, at } if now >= at + REFRESH_AFTER_SECS => {
                    (mac(m), "stale", now - at)
                }
                State::Reachable { mac: m, at } => (mac(m), "reachable", now - at),
                State::Incomplete { at, .. } => (None, "incomplete", now.saturating_sub(at)),
            };
            out.push(Neighbor {
                side,
                ip: (*a).into(),
                mac,
                state: state.to_owned(),
                age_s,
            });
        }
    }

    fn is_incomplete(&self, a: &A) -> bool {
        matches!(self.entries.get(a), Some(State::Incomplete { .. }))
    }

    fn known(&self) -> HashMap<A, [u8; 6]> {
        self.entries
            .keys()
            .filter_map(|a| self.mac(a).map(|m| (*a, m)))
            .collect()
    }
}

/// The control thread's neighbor state for both links.
#[derive(Debug)]
pub struct NeighborTable {
    v6: Cache<Ipv6Addr>,
    v4: Cache<Ipv4Addr>,
    base: ForwardingSnapshot,
    published: SharedForwarding,
}

impl NeighborTable {
    /// Every entry of both links, sorted (`now` in the table's seconds).
    pub fn list(&self, now: u64) -> Vec<Neighbor> {
        let mut out = Vec::new();
        self.v6.list(Side::Inside, now, &mut out);
        self.v4.list(Side::Outside, now, &mut out);
        out.sort_by_key(|n| (n.side as u8, n.ip));
        out
    }

    /// Builds the table from the configuration (routes, static neighbors)
    /// and publishes the first snapshot.
    pub fn new(cfg: &Config) -> Self {
        let mut v6 = Cache::default();
        for n in &cfg.inside.neighbors {
            v6.entries.insert(n.ip, State::Static(n.mac.0));
        }
        let mut v4 = Cache::default();
        for n in &cfg.outside.neighbors {
            v4.entries.insert(n.ip, State::Static(n.mac.0));
        }
        let base = ForwardingSnapshot {
            generation: 0,
            inside: LinkView::from_link(&cfg.inside),
            outside: LinkView::from_link(&cfg.outside),
        };
        let published = Arc::new(ArcSwap::from_pointee(base.clone()));
        let mut t = NeighborTable {
            v6,
            v4,
            base,
            published,
        };
        t.publish();
        t
    }

    /// The handle workers read from.
    pub fn shared(&self) -> SharedForwarding {
        Arc::clone(&self.published)
    }

    fn publish(&mut self) {
        self.base.generation += 1;
        let mut snap = self.base.clone();
        snap.inside.macs = self.v6.known();
        snap.outside.macs = self.v4.known();
        self.published.store(Arc::new(snap));
    }

    /// Records an IPv6 neighbor's MAC (from an NA or an NS it sent).
    pub fn learn_v6(&mut self, ip: Ipv6Addr, mac: MacAddr, now: u64) {
        if self.v6.learn(ip, mac.0, now) {
            self.publish();
        }
    }

    /// Records an IPv4 neighbor's MAC (from ARP).
    pub fn learn_v4(&mut self, ip: Ipv4Addr, mac: MacAddr, now: u64) {
        if self.v4.learn(ip, mac.0, now) {
            self.publish();
        }
    }

    /// A packet needs IPv6 neighbor `ip`.
    pub fn want_v6(&mut self, ip: Ipv6Addr, now: u64) -> Option<Solicit<Ipv6Addr>> {
        self.v6.want(ip, now)
    }

    /// A packet needs IPv4 neighbor `ip`.
    pub fn want_v4(&mut self, ip: Ipv4Addr, now: u64) -> Option<Solicit<Ipv4Addr>> {
        self.v4.want(ip, now)
    }

    /// True while `ip` is being resolved (packets for it may wait).
    pub fn resolving_v4(&self, ip: &Ipv4Addr) -> bool {
        self.v4.is_incomplete(ip)
    }

    /// True while `ip` is being resolved.
    pub fn resolving_v6(&self, ip: &Ipv6Addr) -> bool {
        self.v6.is_incomplete(ip)
    }

    /// Ages both caches (call about once a second) and returns what to
    /// solicit.
    pub fn tick(&mut self, now: u64) -> (Vec<Solicit<Ipv6Addr>>, Vec<Solicit<Ipv4Addr>>) {
        let (mut s6, mut s4) = (Vec::new(), Vec::new());
        let c6 = self.v6.tick(now, &mut s6);
        let c4 = self.v4.tick(now, &mut s4);
        if c6 || c4 {
            self.publish();
        }
        (s6, s4)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<ForwardingSnapshot> {
        self.published.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
[eal]
args = []
[inside]
port = "in"
addresses = ["2001:db8:6::1/64"]
neighbors = [{ ip = "2001:db8:6::9", mac = "02:00:00:00:00:09" }]
routes = [{ prefix = "2001:db8:100::/40", via = "2001:db8:6::2" }]
[outside]
port = "out"
addresses = ["203.0.113.1/24"]
routes = [{ prefix = "0.0.0.0/0", via = "203.0.113.254" }, { prefix = "192.0.2.0/24", via = "203.0.113.7" }]
[nat64]
prefix = "2001:db8:64::/96"
pool4 = ["198.51.100.0/29"]
"#;

    fn table() -> NeighborTable {
        NeighborTable::new(&Config::from_toml(CFG).unwrap())
    }

    #[test]
    fn longest_prefix_wins_and_on_link_goes_direct() {
        let t = table();
        let s = t.snapshot();
        let ip4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            s.outside.next_hop_ip(ip4("203.0.113.2")),
            Some(ip4("203.0.113.2"))
        );
        assert_eq!(
            s.outside.next_hop_ip(ip4("192.0.2.5")),
            Some(ip4("203.0.113.7"))
        );
        assert_eq!(
            s.outside.next_hop_ip(ip4("8.8.8.8")),
            Some(ip4("203.0.113.254"))
        );
        let ip6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            s.inside.next_hop_ip(ip6("2001:db8:100::1")),
            Some(ip6("2001:db8:6::2"))
        );
        assert_eq!(s.inside.resolve(ip6("2001:db8:200::1")), NextHop::NoRoute);
        assert_eq!(
            s.inside.resolve(ip6("2001:db8:6::9")),
            NextHop::Mac([2, 0, 0, 0, 0, 9])
        );
    }

    #[test]
    fn unresolved_neighbor_is_solicited_learned_and_published() {
        let mut t = table();
        let gw: Ipv4Addr = "203.0.113.254".parse().unwrap();
        let shared = t.shared();
        assert_eq!(
            shared.load().outside.resolve("8.8.8.8".parse().unwrap()),
            NextHop::Unresolved(gw)
        );
        assert_eq!(t.want_v4(gw, 10), Some(Solicit::Multicast(gw)));
        assert_eq!(t.want_v4(gw, 10), None, "one probe per interval");
        assert!(t.resolving_v4(&gw));
        t.learn_v4(gw, MacAddr([2, 0, 0, 0, 0, 0xfe]), 10);
        assert_eq!(
            shared.load().outside.resolve("8.8.8.8".parse().unwrap()),
            NextHop::Mac([2, 0, 0, 0, 0, 0xfe])
        );
    }

    #[test]
    fn learned_entries_are_reprobed_then_expire_but_static_ones_stay() {
        let mut t = table();
        let gw: Ipv4Addr = "203.0.113.254".parse().unwrap();
        let mac = [2, 0, 0, 0, 0, 0xfe];
        t.learn_v4(gw, MacAddr(mac), 0);
        assert!(t.tick(REFRESH_AFTER_SECS - 1).1.is_empty());
        assert_eq!(
            t.tick(REFRESH_AFTER_SECS).1,
            vec![Solicit::Unicast(gw, mac)]
        );
        assert!(t.tick(REFRESH_AFTER_SECS + 1).1.is_empty());
        t.tick(REACHABLE_SECS);
        assert_eq!(t.snapshot().outside.resolve(gw), NextHop::Unresolved(gw));
        let st: Ipv6Addr = "2001:db8:6::9".parse().unwrap();
        t.tick(10 * REACHABLE_SECS);
        assert!(matches!(t.snapshot().inside.resolve(st), NextHop::Mac(_)));
    }

    #[test]
    fn unanswered_solicitations_give_up_after_max_probes() {
        let mut t = table();
        let gw: Ipv4Addr = "203.0.113.254".parse().unwrap();
        t.want_v4(gw, 0);
        let mut sent = 1;
        for now in 1..10 {
            sent += t.tick(now).1.len();
        }
        assert_eq!(sent as u32, MAX_PROBES);
        assert!(!t.resolving_v4(&gw));
    }
}
