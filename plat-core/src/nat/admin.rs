//! The control plane's view of a shard: pool4 changes, runtime
//! reconfiguration and the listings the CLI shows.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::{ConfigError, NatConfig};
use super::limits::NO_POOL;
use super::pool4::Pool4Entry;
use super::session::{h_bib4, NIL};
use super::shard::{Shard, ShardError};
use super::share::PortShare;
use super::tcp_state::TcpState;
use super::timers::TimerClass;
use super::{Endpoint4, Endpoint6, Proto, SessionId, Time};
use crate::types::Ipv6Cidr;

/// Session listing filter for the CLI; `None` matches anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionFilter {
    pub proto: Option<Proto>,
    /// Matches the IPv6 source (X') by prefix (`/128`: one address).
    pub v6: Option<Ipv6Cidr>,
    /// Matches the pool4 address (T) or the remote address (Z).
    pub v4: Option<Ipv4Addr>,
    /// Matches the IPv6 source port, the pool4 port or the remote port.
    pub port: Option<u16>,
    /// Matches a TCP session's state (and so never a UDP or ICMP one).
    pub state: Option<TcpState>,
}

/// A session, as the CLI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub remote: Endpoint4,
    pub state: TcpState,
    pub timer: TimerClass,
    /// Expiry time in the caller's seconds (last refresh + timeout).
    pub expires: u32,
    /// Seconds left until expiry, at the time of a listing (0 elsewhere).
    #[serde(default)]
    pub expires_in: u32,
    pub held: bool,
    pub hairpin: bool,
    /// Index of the RFC 6052 prefix the subscriber addressed.
    #[serde(default)]
    pub prefix: u8,
}

/// A BIB entry, as the CLI shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BibInfo {
    pub proto: Proto,
    pub v6: Endpoint6,
    pub v4: Endpoint4,
    pub is_static: bool,
    pub sessions: u32,
}

/// One pool4 address's ports on one shard, per protocol (indexed by
/// [`Proto::index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool4Use {
    pub addr: Ipv4Addr,
    /// Ports (ICMP identifiers) in use.
    pub used: [u32; Proto::COUNT],
    /// Ports this shard may hand out on the address.
    pub total: [u32; Proto::COUNT],
}

/// A port block a subscriber holds (port-block mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInfo {
    pub proto: Proto,
    pub addr: Ipv4Addr,
    /// First and last port of the block.
    pub first: u16,
    pub last: u16,
}

/// Who holds a pool4 transport address of one protocol on this shard.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub proto: Proto,
    /// The subscriber: the IPv6 source masked to `subscriber_prefix_len`.
    pub subscriber: Ipv6Cidr,
    /// The BIB entry on the port, while one lives.
    pub bib: Option<BibInfo>,
    /// The port block that holds the port (port-block mode).
    pub block: Option<BlockInfo>,
}

/// What a subscriber uses on one shard and the caps it runs into
/// (RFC 6888 REQ-4, REQ-5).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubscriberInfo {
    /// The subscriber: the source masked to `subscriber_prefix_len`.
    pub prefix: Ipv6Cidr,
    pub sessions: u32,
    /// Ports in use per protocol, indexed by [`Proto::index`].
    pub ports: [u32; Proto::COUNT],
    /// The paired pool4 address (RFC 6888 REQ-2), once chosen.
    pub pool4: Option<Ipv4Addr>,
    pub blocks: Vec<BlockInfo>,
    /// Sessions allowed; 0 = no cap.
    pub max_sessions: u32,
    /// Ports allowed per protocol; 0 = no cap.
    pub max_ports: u32,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The entries found, in slot order.
    pub entries: Vec<T>,
    /// The slot the next page starts at; `None` when the table is done.
    pub next: Option<u32>,
}

/// A [`SessionFilter`] in the records' own terms.
struct Match {
    proto: Option<u8>,
    /// The network and its mask.
    v6: Option<(u128, u128)>,
    v4: Option<u32>,
    port: Option<u16>,
    state: Option<u8>,
}

impl Match {
    fn new(f: &SessionFilter) -> Match {
        Match {
            proto: f.proto.map(|p| p as u8),
            v6: f.v6.map(|c| (u128::from(c.network()), c.mask())),
            v4: f.v4.map(u32::from),
            port: f.port,
            state: f.state.map(|s| s as u8),
        }
    }

    fn v6(&self, src6: &[u8; 16]) -> bool {
        self.v6
            .is_none_or(|(net, mask)| u128::from_be_bytes(*src6) & mask == net)
    }
}

/// Walks slots `from..` of a table of `len`, at most `scan` of them
/// (at least one), keeping at most `limit` of what `found` returns.
fn page<T>(
    len: usize,
    from: u32,
    scan: u32,
    limit: u32,
    mut found: impl FnMut(u32) -> Option<T>,
) -> Page<T> {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let end = from.saturating_add(scan.max(1)).min(len);
    let mut entries = Vec::new();
    let mut i = from;
    while i < end && entries.len() < limit as usize {
        entries.extend(found(i));
        i += 1;
    }
    Page {
        entries,
        next: (i < len).then_some(i),
    }
}

impl Shard {
    /// Changes timeouts and filtering at runtime (capacities, the subscriber
    /// prefix and the block size are fixed at construction).
    pub fn reconfigure(&mut self, cfg: NatConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        let fixed = |c: &NatConfig| {
            (
                c.limits.sessions,
                c.bib_capacity(),
                c.subscriber_capacity(),
                c.limits.subscriber_prefix_len,
                c.port_block,
                c.event_capacity,
                c.binding_events,
            )
        };
        if fixed(&cfg) != fixed(&self.cfg) {
            return Err(ConfigError::new(
                "nat64.limits",
                "capacities, subscriber prefix, port_block and \
                 event_capacity are fixed when the shard is built",
            ));
        }
        self.timeouts = TimerClass::ALL.map(|c| c.timeout(&cfg.timeouts));
        self.cfg = cfg;
        Ok(())
    }

    /// Adds a pool4 entry; sessions on other addresses are untouched.
    pub fn add_pool4(&mut self, e: Pool4Entry) -> Result<(), ShardError> {
        Ok(self.pool.add(e)?)
    }

    /// Removes a pool4 entry, deleting the state on its addresses (and only
    /// there). Returns how many sessions were deleted.
    pub fn remove_pool4(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        now: Time,
    ) -> Result<usize, ShardError> {
        let idxs = self.pool.indices_of(prefix, len)?;
        let addrs: Vec<u32> = idxs.iter().map(|&i| u32::from(self.pool.addr(i))).collect();
        let now_s = now.secs();
        let mut n = 0;
        for i in 0..self.sessions.len() as u32 {
            let s = &self.sessions[i as usize];
            if s.is_live() && addrs.contains(&s.addr4) {
                self.delete_session(i, now_s);
                n += 1;
            }
        }
        for bi in 0..self.bibs.len() as u32 {
            let b = &self.bibs[bi as usize];
            if b.proto != super::session::FREE && idxs.contains(&b.pool) {
                self.delete_bib(bi, now_s);
            }
        }
        for sub in self.subscribers.slab.iter_mut() {
            if sub.live && idxs.contains(&sub.pool) {
                sub.pool = NO_POOL;
            }
        }
        self.pool.remove(prefix, len)?;
        Ok(n)
    }

    pub fn pool4(&self) -> &[Pool4Entry] {
        self.pool.entries()
    }

    pub fn port_share(&self) -> &PortShare {
        self.pool.share()
    }

    /// `addr` is a pool4 address (of any worker's share).
    pub fn is_pool4(&self, addr: Ipv4Addr) -> bool {
        self.pool.contains(addr)
    }

    /// This shard may allocate (or owns the static entry at) `addr:port`.
    pub fn owns(&self, proto: Proto, addr: Ipv4Addr, port: u16) -> bool {
        self.pool.owns(proto, addr, port)
    }

    /// Sessions matching `f` (a full scan: for the CLI, not the hot path).
    pub fn sessions(&self, f: SessionFilter) -> impl Iterator<Item = SessionInfo> + '_ {
        let m = Match::new(&f);
        (0..self.sessions.len() as u32).filter_map(move |i| self.session_if(&m, i))
    }

    /// BIB entries matching `f` (`v4` matches the pool4 address).
    pub fn bib(&self, f: SessionFilter) -> impl Iterator<Item = BibInfo> + '_ {
        let m = Match::new(&f);
        (0..self.bibs.len() as u32).filter_map(move |bi| self.bib_if(&m, bi))
    }

    /// At most `limit` sessions matching `f`, looking at no more than
    /// `scan` slots from slot `from`: a listing a worker can answer
    /// between two bursts however large its table.
    /// `now` gives each session its `expires_in`.
    pub fn sessions_page(
        &self,
        f: SessionFilter,
        from: u32,
        scan: u32,
        limit: u32,
        now: Time,
    ) -> Page<SessionInfo> {
        let m = Match::new(&f);
        page(self.sessions.len(), from, scan, limit, |i| {
            self.session_if(&m, i).map(|s| SessionInfo {
                expires_in: s.expires.saturating_sub(now.secs()),
                ..s
            })
        })
    }

    /// How many of at most `scan` slots from `from` hold a matching
    /// session, and the slot to go on from.
    pub fn sessions_count(&self, f: SessionFilter, from: u32, scan: u32) -> (u32, Option<u32>) {
        let m = Match::new(&f);
        let p = page(self.sessions.len(), from, scan, u32::MAX, |i| {
            self.session_if(&m, i).map(|_| ())
        });
        (p.entries.len() as u32, p.next)
    }

    /// [`Shard::sessions_count`] for BIB entries.
    pub fn bib_count(&self, f: SessionFilter, from: u32, scan: u32) -> (u32, Option<u32>) {
        let m = Match::new(&f);
        let p = page(self.bibs.len(), from, scan, u32::MAX, |bi| {
            self.bib_if(&m, bi).map(|_| ())
        });
        (p.entries.len() as u32, p.next)
    }

    /// [`Shard::sessions_page`] for BIB entries.
    pub fn bib_page(&self, f: SessionFilter, from: u32, scan: u32, limit: u32) -> Page<BibInfo> {
        let m = Match::new(&f);
        page(self.bibs.len(), from, scan, limit, |bi| self.bib_if(&m, bi))
    }

    fn session_if(&self, m: &Match, i: u32) -> Option<SessionInfo> {
        let s = &self.sessions[i as usize];
        let ok = s.is_live()
            && m.proto.is_none_or(|p| s.proto == p)
            && m.v6(&s.src6)
            && m.v4.is_none_or(|a| s.addr4 == a || s.dst4 == a)
            && m.port
                .is_none_or(|p| s.sport == p || s.port4 == p || s.remote_port() == p)
            && m.state
                .is_none_or(|st| s.proto == Proto::Tcp as u8 && s.state == st);
        ok.then(|| self.info(i))
    }

    fn bib_if(&self, m: &Match, bi: u32) -> Option<BibInfo> {
        let b = &self.bibs[bi as usize];
        let ok = b.proto != super::session::FREE
            && m.proto.is_none_or(|p| b.proto == p)
            && m.v6(&b.src6)
            && m.v4.is_none_or(|a| b.addr4 == a)
            && m.port.is_none_or(|p| b.sport == p || b.port4 == p)
            && m.state.is_none();
        ok.then(|| self.bib_info(bi))
    }

    fn bib_info(&self, bi: u32) -> BibInfo {
        let b = &self.bibs[bi as usize];
        let mut n = 0;
        let mut j = b.head;
        while j != NIL {
            n += 1;
            j = self.sessions[j as usize].b_next;
        }
        BibInfo {
            proto: b.proto(),
            v6: Endpoint6::new(Ipv6Addr::from(b.src6), b.sport),
            v4: Endpoint4::new(Ipv4Addr::from(b.addr4), b.port4),
            is_static: b.is_static,
            sessions: n,
        }
    }

    /// Who holds the pool4 transport address `v4` (of `proto`, or of each
    /// protocol): the BIB entry on it and its subscriber and, in
    /// port-block mode, the block that holds the port even while no BIB
    /// entry uses it.
    pub fn who(&self, v4: Endpoint4, proto: Option<Proto>) -> Vec<Holder> {
        let Some(a) = self.pool.idx(v4.addr) else {
            return Vec::new();
        };
        let prefix_len = self.subscribers.prefix_len();
        let subscriber = |src6: [u8; 16]| Ipv6Cidr {
            addr: Ipv6Addr::from(self.subscribers.key(&src6)),
            len: prefix_len,
        };
        let mut out = Vec::new();
        for p in Proto::ALL
            .into_iter()
            .filter(|&p| proto.is_none_or(|q| q == p))
        {
            let h = h_bib4(self.key, p, u32::from(v4.addr), v4.port);
            let bib = self.find_bib4(h, p, v4).map(|bi| self.bib_info(bi));
            let block = self.pool.block_of(a, p, v4.port).and_then(|(k, owner)| {
                let owner = self.subscribers.slab.get(owner as usize)?;
                let (first, last) = self.pool.block_span(a, p, k);
                Some((
                    owner.prefix,
                    BlockInfo {
                        proto: p,
                        addr: v4.addr,
                        first,
                        last,
                    },
                ))
            });
            let holder = match (bib, block) {
                (None, None) => continue,
                (Some(b), block) => Holder {
                    proto: p,
                    subscriber: subscriber(b.v6.addr.octets()),
                    bib: Some(b),
                    block: block.map(|(_, info)| info),
                },
                (None, Some((owner, info))) => Holder {
                    proto: p,
                    subscriber: subscriber(owner),
                    bib: None,
                    block: Some(info),
                },
            };
            out.push(holder);
        }
        out
    }

    /// The subscriber `src` belongs to, if it has state on this shard.
    pub fn subscriber(&self, src: Ipv6Addr) -> Option<SubscriberInfo> {
        let i = self.subscribers.find(&src.octets())?;
        let s = &self.subscribers.slab[i as usize];
        let mut blocks = Vec::new();
        if let Some(list) = self.subscribers.blocks.get(i as usize) {
            for proto in Proto::ALL {
                let held = usize::from(s.nblocks[proto.index()]);
                for &(pool, k) in &list[proto.index()][..held] {
                    let (first, last) = self.pool.block_span(pool, proto, k);
                    blocks.push(BlockInfo {
                        proto,
                        addr: self.pool.addr(pool),
                        first,
                        last,
                    });
                }
            }
        }
        Some(SubscriberInfo {
            prefix: Ipv6Cidr {
                addr: Ipv6Addr::from(s.prefix),
                len: self.subscribers.prefix_len(),
            },
            sessions: s.sessions,
            ports: s.ports,
            pool4: (s.pool != NO_POOL).then(|| self.pool.addr(s.pool)),
            blocks,
            max_sessions: self.cfg.limits.sessions_per_subscriber,
            max_ports: self.cfg.limits.ports_per_subscriber,
        })
    }

    /// Port use of every pool4 address on this shard.
    pub fn pool4_use(&self) -> Vec<Pool4Use> {
        self.pool
            .addrs()
            .map(|(_, a)| Pool4Use {
                addr: a.addr,
                used: Proto::ALL.map(|p| {
                    let set = &a.sets[p.index()];
                    set.total - set.free
                }),
                total: Proto::ALL.map(|p| a.sets[p.index()].total),
            })
            .collect()
    }

    /// Deletes the sessions matching `f` among at most `scan` slots from
    /// `from` (dynamic BIB entries go with their last session). Returns
    /// how many it deleted and the slot to go on from, so a worker clears
    /// a large table between bursts, a bounded slice at a time.
    pub fn clear_page(
        &mut self,
        f: SessionFilter,
        from: u32,
        scan: u32,
        now: Time,
    ) -> (u32, Option<u32>) {
        let m = Match::new(&f);
        let len = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
        let end = from.saturating_add(scan.max(1)).min(len);
        let mut deleted = 0;
        for i in from..end {
            if self.session_if(&m, i).is_some() {
                self.delete_session(i, now.secs());
                deleted += 1;
            }
        }
        (deleted, (end < len).then_some(end))
    }

    /// Sessions and ports of the subscriber `src` belongs to.
    pub fn subscriber_usage(&self, src: Ipv6Addr) -> Option<(u32, [u32; Proto::COUNT])> {
        self.subscribers.find(&src.octets()).map(|i| {
            let s = &self.subscribers.slab[i as usize];
            (s.sessions, s.ports)
        })
    }

    /// The pool4 address a subscriber is paired with on this shard.
    pub fn subscriber_pool4(&self, src: Ipv6Addr) -> Option<Ipv4Addr> {
        self.subscribers.find(&src.octets()).and_then(|i| {
            let p = self.subscribers.slab[i as usize].pool;
            (p != NO_POOL).then(|| self.pool.addr(p))
        })
    }
}
