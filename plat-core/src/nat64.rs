//! The stateful NAT64 of one worker: the RFC 6146 state of a
//! [`Shard`] composed with the RFC 7915 translator.
//! Packets in, verdicts out; the dataplane only moves bytes.
//!
//! The shard works on flow tuples so every state rule is a plain unit
//! test; this layer parses the tuple ([`FlowV6`]/[`FlowV4`]), maps the
//! destination through the RFC 6052 prefix, asks the shard, and translates
//! in place with the endpoints the shard chose. ICMP errors are looked up
//! by the packet they quote, without refreshing the session.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::addr::Prefix6052;
use crate::counters::Desc;
use crate::nat::{
    Endpoint4, IcmpError, NatDrop, Outcome as NatOutcome, Proto, SessionId, Shard, TcpFlags, Time,
    Tuple4 as NatTuple4, Tuple6 as NatTuple6,
};
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6, proto, tcp};
use crate::xlat::{self, DropReason, FlowV4, FlowV6, Outcome, Sink, V4ToV6, V6ToV4, XlatConfig};

crate::counters! {
    /// Drops this layer decides itself (the translator's and the shard's
    /// have their own sets).
    pub enum Nat64Drop {
        // RFC 6146 3.5: only TCP, UDP and ICMP have BIBs; other protocols
        // are not translated.
        UnsupportedProtocol = "drop_unsupported_protocol", Counter,
            "Packets of a protocol other than TCP, UDP and ICMP (RFC 6146 3.5).";
        // RFC 6146 3.5: "If the incoming packet is an ICMP message other
        // than ... Query, it is silently discarded".
        IcmpNotQuery = "drop_icmp_not_query", Counter,
            "ICMP informational messages other than echo.";
        FragmentWithoutPorts = "drop_fragment_without_ports", Counter,
            "Non-first fragments: their ports are in the first fragment, which plat does not reassemble or track yet.";
        IcmpErrorNoSession = "drop_icmp_error_no_session", Counter,
            "ICMP errors quoting a packet of no session of this worker.";
        HeldPacketUnknown = "drop_held_packet_unknown", Counter,
            "Held IPv4 SYNs to answer that the engine has no record of (a bug, counted).";
    }
}

/// Why a packet was not forwarded, from any of the three layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The translator (RFC 7915).
    Xlat(DropReason),
    /// The state (RFC 6146).
    Nat(NatDrop),
    /// This layer.
    Nat64(Nat64Drop),
}

impl Reason {
    /// Number of reasons, for a counter array.
    pub const COUNT: usize = DropReason::COUNT + NatDrop::COUNT + Nat64Drop::COUNT;

    /// Index in a counter array: translator reasons, then state, then this
    /// layer's.
    pub fn index(self) -> usize {
        match self {
            Reason::Xlat(r) => r.index(),
            Reason::Nat(r) => DropReason::COUNT + r as usize,
            Reason::Nat64(r) => DropReason::COUNT + NatDrop::COUNT + r as usize,
        }
    }

    /// Every reason's description, in index order: the translator's,
    /// the state's, then this layer's.
    pub fn descs() -> impl Iterator<Item = &'static Desc> {
        DropReason::DESCS
            .iter()
            .chain(NatDrop::DESCS)
            .chain(Nat64Drop::DESCS)
    }

    /// Every counter name, in index order.
    pub fn names() -> Vec<&'static str> {
        Reason::descs().map(|d| d.name).collect()
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Translated in place: send `buf[l3_start..l3_start + l3_len]` out
    /// of the other family's side.
    Forward { l3_start: usize, l3_len: usize },
    /// Translated into fragments, all given to the sink; this buffer is
    /// spent.
    Fragmented { count: usize },
    /// `buf[l3_start..l3_start + l3_len]` is now an ICMP error for the
    /// sender: send it back out of the side the packet came in on.
    Reply {
        l3_start: usize,
        l3_len: usize,
        reason: Reason,
    },
    /// RFC 6146 3.8 hairpin: the IPv6 packet is now the IPv4 packet at
    /// `buf[l3_start..l3_start + l3_len]`, to be handled by `from_v4` of
    /// the worker that owns its destination.
    Hairpin { l3_start: usize, l3_len: usize },
    /// RFC 6146 3.8 hairpin handled whole by this worker: the packet is
    /// IPv6 again, from the embedded pool address of its sender to the
    /// other IPv6 host: send it back out of the IPv6 side.
    HairpinReturn { l3_start: usize, l3_len: usize },
    /// An IPv4 SYN the caller must keep under `session` (RFC 6146
    /// 3.5.2.2) until [`Nat64::expire`] says what became of it.
    Hold { session: SessionId },
    /// Dropped.
    Drop(Reason),
}

/// The fate of a held IPv4 SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldFate {
    /// A matching IPv6 SYN arrived: RFC 6146 3.5.2.2 says to drop the
    /// stored packet.
    Release(SessionId),
    /// The hold timed out: answer the stored packet with this error
    /// ([`Nat64::reject_held`]).
    Reject(SessionId, IcmpError),
}

/// One worker's NAT64: state plus translation settings.
#[derive(Debug)]
pub struct Nat64 {
    shard: Shard,
    prefix: Prefix6052,
    xlat: XlatConfig,
    next_ipv4_id: u16,
    fates: Vec<HeldFate>,
    /// What the prefetch stage learnt of the packets of the current
    /// burst, by the address of their first byte, in burst order: the
    /// lookup reuses it instead of working it out again. Cleared at the
    /// end of every burst, so a recycled buffer address never matches.
    hints: [(usize, Hint); PREFETCH_BURST],
    hint_len: usize,
    hint_next: usize,
    /// The same for a burst from the IPv4 side: packet address, hash,
    /// prefetched session.
    hints4: [(usize, (u32, Option<SessionId>)); PREFETCH_BURST],
    hint4_len: usize,
    hint4_next: usize,
}

fn proto6(flow: &FlowV6) -> Result<Proto, Reason> {
    match flow.proto {
        proto::TCP => Ok(Proto::Tcp),
        proto::UDP => Ok(Proto::Udp),
        proto::ICMPV6 => match flow.icmp.map(|i| i.msg_type) {
            Some(icmpv6::msg_type::ECHO_REQUEST | icmpv6::msg_type::ECHO_REPLY) => Ok(Proto::Icmp),
            _ => Err(Reason::Nat64(Nat64Drop::IcmpNotQuery)),
        },
        _ => Err(Reason::Nat64(Nat64Drop::UnsupportedProtocol)),
    }
}

fn proto4(flow: &FlowV4) -> Result<Proto, Reason> {
    match flow.proto {
        proto::TCP => Ok(Proto::Tcp),
        proto::UDP => Ok(Proto::Udp),
        proto::ICMP => match flow.icmp.map(|i| i.msg_type) {
            Some(icmpv4::msg_type::ECHO_REQUEST | icmpv4::msg_type::ECHO_REPLY) => Ok(Proto::Icmp),
            _ => Err(Reason::Nat64(Nat64Drop::IcmpNotQuery)),
        },
        _ => Err(Reason::Nat64(Nat64Drop::UnsupportedProtocol)),
    }
}

/// Most packets one prefetch call looks ahead over (a worker's burst).
pub const PREFETCH_BURST: usize = 64;

/// The prefetch stage's findings on one IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hint {
    /// Session-table hash of its tuple.
    hash: u32,
    /// Its tuple (the destination already extracted from the prefix).
    tuple: NatTuple6,
    /// The session the table's bucket pointed at (prefetched).
    likely: Option<SessionId>,
}

impl Hint {
    const NONE: Hint = Hint {
        hash: 0,
        tuple: NatTuple6 {
            proto: Proto::Udp,
            src: Ipv6Addr::UNSPECIFIED,
            sport: 0,
            dst: Ipv4Addr::UNSPECIFIED,
            dport: 0,
        },
        likely: None,
    };
}

/// The hint of the packet starting at `addr` among a burst's `hints`
/// (keyed by packet address, in burst order), searching on from `*next`:
/// packets are handled in burst order, some skipped, so the search only
/// moves forward.
#[inline(always)]
fn take_hint<T: Copy>(hints: &[(usize, T)], next: &mut usize, addr: usize) -> Option<T> {
    while let Some(&(a, h)) = hints.get(*next) {
        *next += 1;
        if a == addr {
            return Some(h);
        }
    }
    None
}

/// Ports of a TCP/UDP header, or the identifier twice for an ICMP query,
/// read without checks beyond the 8 bytes the caller guarantees: the
/// prefetch stage's cheap look at a packet (the full parse comes later).
#[inline]
fn quick_ports(proto: Proto, l4: &[u8]) -> (u16, u16) {
    if proto == Proto::Icmp {
        let id = u16::from_be_bytes([l4[4], l4[5]]);
        (id, id)
    } else {
        (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )
    }
}

/// Inner-packet protocol numbers map to the shard's protocols the same
/// way in both families (ICMP query only; errors are never quoted twice).
fn inner_proto(p: u8) -> Option<Proto> {
    match p {
        proto::TCP => Some(Proto::Tcp),
        proto::UDP => Some(Proto::Udp),
        proto::ICMP | proto::ICMPV6 => Some(Proto::Icmp),
        _ => None,
    }
}

fn from_xlat(o: Outcome) -> Verdict {
    match o {
        Outcome::Forward { l3_start, l3_len } => Verdict::Forward { l3_start, l3_len },
        Outcome::Fragmented { count } => Verdict::Fragmented { count },
        Outcome::Reply {
            l3_start,
            l3_len,
            reason,
        } => Verdict::Reply {
            l3_start,
            l3_len,
            reason: Reason::Xlat(reason),
        },
        Outcome::Drop(r) => Verdict::Drop(Reason::Xlat(r)),
    }
}

impl Nat64 {
    /// A worker's NAT64 over `shard`, translating with `prefix`.
    pub fn new(shard: Shard, prefix: Prefix6052, xlat: XlatConfig) -> Nat64 {
        Nat64 {
            shard,
            prefix,
            xlat,
            next_ipv4_id: 1,
            fates: Vec::new(),
            hints: [(0, Hint::NONE); PREFETCH_BURST],
            hint_len: 0,
            hint_next: 0,
            hints4: [(0, (0, None)); PREFETCH_BURST],
            hint4_len: 0,
            hint4_next: 0,
        }
    }

    /// The state, for listings and control-plane changes.
    pub fn shard(&self) -> &Shard {
        &self.shard
    }

    /// The state, mutable (pool4 and static BIB changes).
    pub fn shard_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }

    /// The RFC 6052 prefix.
    pub fn prefix(&self) -> &Prefix6052 {
        &self.prefix
    }

    /// RFC 7915 5.1 leaves the Identification of unfragmented packets to
    /// the translator; a per-worker counter never repeats within 2^16
    /// packets.
    #[inline]
    fn ipv4_id(&mut self) -> u16 {
        self.next_ipv4_id = self.next_ipv4_id.wrapping_add(1);
        self.next_ipv4_id
    }

    /// The tuple of the IPv6 packet `l3` and its session-table hash, for
    /// prefetching. Only the common case (no extension header) is looked
    /// at; anything else is simply not prefetched.
    #[inline]
    fn hash_v6(&self, l3: &[u8]) -> Option<(u32, NatTuple6)> {
        if l3.len() < 48 || l3[0] >> 4 != 6 {
            return None;
        }
        let proto = match l3[6] {
            proto::TCP => Proto::Tcp,
            proto::UDP => Proto::Udp,
            proto::ICMPV6 => Proto::Icmp,
            _ => return None,
        };
        let mut a = [0u8; 16];
        a.copy_from_slice(&l3[24..40]);
        let dst = self.prefix.extract_octets(&a).ok()?;
        a.copy_from_slice(&l3[8..24]);
        let l4 = &l3[40..];
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple6 {
            proto,
            src: Ipv6Addr::from(a),
            sport,
            dst: Ipv4Addr::from(dst),
            dport,
        };
        Some((self.shard.hash6(&t), t))
    }

    /// Prefetches what looking up a burst of IPv6 packets will touch, in
    /// two stages over the whole burst: first every session-table bucket,
    /// then (buckets now cached) every session they point at, or for a new
    /// flow what creating its session will touch
    /// ([`Shard::prefetch6_new`]), so the misses overlap instead of
    /// queueing. What the stages found is kept for the lookups of this
    /// burst (until [`Nat64::end_burst`]). Bursts longer than
    /// [`PREFETCH_BURST`] are prefetched in part.
    #[inline]
    pub fn prefetch_v6(&mut self, l3s: &[&[u8]]) {
        self.hint_len = 0;
        self.hint_next = 0;
        for l3 in l3s.iter().take(PREFETCH_BURST) {
            if let Some((hash, tuple)) = self.hash_v6(l3) {
                self.shard.prefetch6(hash);
                self.hints[self.hint_len] = (
                    l3.as_ptr() as usize,
                    Hint {
                        hash,
                        tuple,
                        likely: None,
                    },
                );
                self.hint_len += 1;
            }
        }
        for (_, hint) in &mut self.hints[..self.hint_len] {
            hint.likely = self.shard.prefetch6_new(hint.hash, &hint.tuple);
        }
    }

    /// Forgets the burst's hashes: call once the burst is handled.
    #[inline]
    pub fn end_burst(&mut self) {
        self.hint_len = 0;
        self.hint_next = 0;
        self.hint4_len = 0;
        self.hint4_next = 0;
    }

    /// What the prefetch stage found of the packet starting at `addr`, if
    /// this burst has it.
    #[inline]
    fn take_hint(&mut self, addr: usize) -> Option<Hint> {
        take_hint(&self.hints[..self.hint_len], &mut self.hint_next, addr)
    }

    /// The IPv4 counterpart of [`Nat64::prefetch_v6`]: the IPv4-side
    /// session bucket of every packet, then the session each names. What
    /// the stages found is kept for the lookups until
    /// [`Nat64::end_burst`].
    #[inline]
    pub fn prefetch_v4(&mut self, l3s: &[&[u8]]) {
        self.hint4_len = 0;
        self.hint4_next = 0;
        for l3 in l3s.iter().take(PREFETCH_BURST) {
            if let Some(h) = self.hash_v4(l3) {
                self.shard.prefetch4(h);
                self.hints4[self.hint4_len] = (l3.as_ptr() as usize, (h, None));
                self.hint4_len += 1;
            }
        }
        for (_, (h, likely)) in &mut self.hints4[..self.hint4_len] {
            *likely = self.shard.prefetch4_session(*h);
        }
    }

    /// The IPv4-side session hash of the IPv4 packet `l3`, for
    /// prefetching (TCP, UDP, ICMP; anything else is not prefetched).
    #[inline]
    fn hash_v4(&self, l3: &[u8]) -> Option<u32> {
        if l3.len() < 28 || l3[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(l3[0] & 0x0f) * 4;
        let l4 = l3.get(ihl..ihl + 8)?;
        let proto = match l3[9] {
            proto::TCP => Proto::Tcp,
            proto::UDP => Proto::Udp,
            proto::ICMP => Proto::Icmp,
            _ => return None,
        };
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple4 {
            proto,
            src: Ipv4Addr::new(l3[12], l3[13], l3[14], l3[15]),
            sport,
            dst: Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]),
            dport,
        };
        Some(self.shard.hash4(&t))
    }

    /// [`Nat64::take_hint`] for the IPv4 side: hash and named session.
    #[inline]
    fn take_hint4(&mut self, addr: usize) -> Option<(u32, Option<SessionId>)> {
        take_hint(&self.hints4[..self.hint4_len], &mut self.hint4_next, addr)
    }

    /// Handles the IPv6 packet at `buf[l3_start..l3_start + l3_len]`
    /// (headroom before it; see [`xlat::HEADROOM`]). The straight line is
    /// inlined into the caller's burst loop; the general path is a call.
    #[inline(always)]
    pub fn from_v6<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let hint = self.take_hint(buf.as_ptr().wrapping_add(l3_start) as usize);
        if let Some(v) = self.v6_established_path(buf, l3_start, l3_len, hint, now) {
            return v;
        }
        self.v6_general_path(buf, l3_start, l3_len, hint, now, sink)
    }

    /// Nearly every packet: TCP or UDP of an established session, taken
    /// by the translator's straight line ([`xlat::FastV6`]). The same
    /// rules as [`Nat64::v6_general_path`] in fewer steps; `None`, with
    /// nothing changed, for anything else.
    #[inline(always)]
    fn v6_established_path(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        hint: Option<Hint>,
        now: Time,
    ) -> Option<Verdict> {
        let fast = xlat::FastV6::check(buf, l3_start, l3_len, &self.xlat)?;
        let h = buf.get(l3_start..)?.first_chunk::<{ ipv6::HEADER_LEN }>()?;
        let src = *h[ipv6::OFFSET_SRC..].first_chunk::<16>()?;
        // RFC 6146 3.5: the destination is an IPv4-embedded address (the
        // prefetch stage extracted it from these bytes already).
        let dst4 = match hint {
            Some(hint) => hint.tuple.dst,
            None => self
                .prefix
                .extract_octets(h[ipv6::OFFSET_DST..].first_chunk::<16>()?)
                .ok()
                .map(Ipv4Addr::from)?,
        };
        self.prefix.check_3_1(dst4).ok()?;
        let l4 = fast.l4(buf);
        let (proto, flags) = match fast.next_header() {
            proto::TCP => (Proto::Tcp, l4[tcp::OFFSET_FLAGS]),
            _ => (Proto::Udp, 0),
        };
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple6 {
            proto,
            src: Ipv6Addr::from(src),
            sport,
            dst: dst4,
            dport,
        };
        let (h, likely) = match hint {
            Some(hint) => {
                debug_assert_eq!(
                    hint.hash,
                    self.shard.hash6(&t),
                    "prefetch hash of another tuple"
                );
                (hint.hash, hint.likely)
            }
            None => (self.shard.hash6(&t), None),
        };
        let src4 = self
            .shard
            .v6_established(h, likely, &t, TcpFlags(flags), now)?;
        let map = V6ToV4::new(
            tuple4(proto, src4, Endpoint4::new(dst4, dport)),
            self.ipv4_id(),
        );
        let (l3_start, l3_len) = fast.translate(buf, &map, &self.xlat);
        Some(Verdict::Forward { l3_start, l3_len })
    }

    /// Every packet from the IPv6 side, in the general steps: parse, map
    /// the destination, look up or create, translate.
    #[inline(never)]
    fn v6_general_path<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        hint: Option<Hint>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let Some(l3) = buf.get(l3_start..l3_start.saturating_add(l3_len)) else {
            return Verdict::Drop(Reason::Xlat(DropReason::Malformed));
        };
        let flow = match FlowV6::parse(l3) {
            Ok(f) => f,
            Err(r) => return Verdict::Drop(Reason::Xlat(r)),
        };
        // RFC 6146 3.5: the destination is an IPv4-embedded address.
        let dst4 = match self.prefix.extract_checked(flow.dst) {
            Ok(a) => a,
            Err(e) => return Verdict::Drop(Reason::Xlat(e.into())),
        };
        if flow.is_icmp_error() {
            return self.icmp_error_from_v6(buf, l3_start, l3_len, &flow, dst4, sink);
        }
        let proto = match proto6(&flow) {
            Ok(p) => p,
            Err(r) => return Verdict::Drop(r),
        };
        if !flow.has_ports() {
            return Verdict::Drop(Reason::Nat64(Nat64Drop::FragmentWithoutPorts));
        }
        let t = NatTuple6 {
            proto,
            src: flow.src,
            sport: flow.src_port,
            dst: dst4,
            dport: flow.dst_port,
        };
        let flags = TcpFlags(flow.tcp_flags);
        let found = match hint {
            Some(Hint { hash: h, .. }) => {
                debug_assert_eq!(h, self.shard.hash6(&t), "prefetch hash of another tuple");
                self.shard.v6_session_hashed(h, &t, flags, now)
            }
            None => self.shard.v6_session(&t, flags, now),
        };
        let v = match found {
            Ok(v) => v,
            Err(d) => return self.answer(buf, l3_start, l3_len, d.icmp(), Reason::Nat(d)),
        };
        if v.release_held {
            self.fates.push(HeldFate::Release(v.session));
        }
        let (src, dst, hairpin) = match v.outcome {
            NatOutcome::ToV4 { src, dst } => (src, dst, false),
            NatOutcome::HairpinHandoff { src, dst } => (src, dst, true),
            // A hairpin whose destination this shard owns: the shard has
            // already run the IPv4-side state; translate there and back.
            NatOutcome::ToV6 { src, dst } => {
                let first = tuple4(proto, src, Endpoint4::new(dst4, flow.dst_port));
                let map = V6ToV4::new(first, self.ipv4_id());
                let (l3_start, l3_len) = match from_xlat(xlat::v6_to_v4(
                    buf, l3_start, l3_len, &map, &self.xlat, sink,
                )) {
                    Verdict::Forward { l3_start, l3_len } => (l3_start, l3_len),
                    other => return other,
                };
                let back = V4ToV6::new(xlat::Tuple6 {
                    src: self.prefix.embed(src.addr),
                    dst: dst.addr,
                    src_port: if proto == Proto::Icmp {
                        dst.port
                    } else {
                        src.port
                    },
                    dst_port: dst.port,
                });
                return match from_xlat(xlat::v4_to_v6(
                    buf, l3_start, l3_len, &back, &self.xlat, sink,
                )) {
                    Verdict::Forward { l3_start, l3_len } => {
                        Verdict::HairpinReturn { l3_start, l3_len }
                    }
                    other => other,
                };
            }
            // A hold is the IPv4 side's answer only.
            NatOutcome::Hold => return Verdict::Drop(Reason::Xlat(DropReason::Malformed)),
        };
        let map = V6ToV4::new(tuple4(proto, src, dst), self.ipv4_id());
        match from_xlat(xlat::v6_to_v4(
            buf, l3_start, l3_len, &map, &self.xlat, sink,
        )) {
            Verdict::Forward { l3_start, l3_len } if hairpin => {
                Verdict::Hairpin { l3_start, l3_len }
            }
            other => other,
        }
    }

    /// Handles the IPv4 packet at `buf[l3_start..l3_start + l3_len]`. The
    /// straight line is inlined into the caller's burst loop; the general
    /// path is a call.
    #[inline(always)]
    pub fn from_v4<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let hint = self.take_hint4(buf.as_ptr().wrapping_add(l3_start) as usize);
        if let Some(v) = self.v4_established_path(buf, l3_start, l3_len, hint, now) {
            return v;
        }
        self.v4_general_path(buf, l3_start, l3_len, hint.map(|(h, _)| h), now, sink)
    }

    /// Nearly every packet of the return traffic: TCP or UDP of an
    /// established session, taken by the translator's straight line
    /// ([`xlat::FastV4`]). The same rules as [`Nat64::v4_general_path`]
    /// in fewer steps; `None`, with nothing changed, for anything else.
    #[inline(always)]
    fn v4_established_path(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        hint: Option<(u32, Option<SessionId>)>,
        now: Time,
    ) -> Option<Verdict> {
        let fast = xlat::FastV4::check(buf, l3_start, l3_len, &self.xlat)?;
        let h = buf
            .get(l3_start..)?
            .first_chunk::<{ ipv4::MIN_HEADER_LEN }>()?;
        let (src, dst) = (
            Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        );
        let l4 = fast.l4(buf);
        let (proto, flags) = match fast.protocol() {
            proto::TCP => (Proto::Tcp, l4[tcp::OFFSET_FLAGS]),
            _ => (Proto::Udp, 0),
        };
        let (sport, dport) = quick_ports(proto, l4);
        let t = NatTuple4 {
            proto,
            src,
            sport,
            dst,
            dport,
        };
        let (h, likely) = match hint {
            Some((h, likely)) => {
                debug_assert_eq!(h, self.shard.hash4(&t), "prefetch hash of another tuple");
                (h, likely)
            }
            None => (self.shard.hash4(&t), None),
        };
        let (from, to) = self
            .shard
            .v4_established(h, likely, &t, TcpFlags(flags), now)?;
        let map = V4ToV6::new(xlat::Tuple6 {
            src: self.prefix.embed(from.addr),
            dst: to.addr,
            src_port: from.port,
            dst_port: to.port,
        });
        let (l3_start, l3_len) = fast.translate(buf, &map, &self.xlat);
        Some(Verdict::Forward { l3_start, l3_len })
    }

    /// Every packet from the IPv4 side, in the general steps: parse, look
    /// up or create, translate. `hash` is the prefetch stage's, if any.
    #[inline(never)]
    fn v4_general_path<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        hash: Option<u32>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let Some(l3) = buf.get(l3_start..l3_start.saturating_add(l3_len)) else {
            return Verdict::Drop(Reason::Xlat(DropReason::Malformed));
        };
        let flow = match FlowV4::parse(l3) {
            Ok(f) => f,
            Err(r) => return Verdict::Drop(Reason::Xlat(r)),
        };
        if flow.is_icmp_error() {
            return self.icmp_error_from_v4(buf, l3_start, l3_len, &flow, sink);
        }
        let proto = match proto4(&flow) {
            Ok(p) => p,
            Err(r) => return Verdict::Drop(r),
        };
        if !flow.has_ports() {
            return Verdict::Drop(Reason::Nat64(Nat64Drop::FragmentWithoutPorts));
        }
        let t = NatTuple4 {
            proto,
            src: flow.src,
            sport: flow.src_port,
            dst: flow.dst,
            dport: flow.dst_port,
        };
        let flags = TcpFlags(flow.tcp_flags);
        let found = match hash {
            Some(h) => {
                debug_assert_eq!(h, self.shard.hash4(&t), "prefetch hash of another tuple");
                self.shard.v4_session_hashed(h, &t, flags, now)
            }
            None => self.shard.v4_session(&t, flags, now),
        };
        let v = match found {
            Ok(v) => v,
            Err(d) => return self.answer(buf, l3_start, l3_len, d.icmp(), Reason::Nat(d)),
        };
        match v.outcome {
            NatOutcome::ToV6 { src, dst } => {
                let src6 = self.prefix.embed(src.addr);
                // ICMP queries carry the identifier, which is x on this side.
                let map = V4ToV6::new(xlat::Tuple6 {
                    src: src6,
                    dst: dst.addr,
                    src_port: if proto == Proto::Icmp {
                        dst.port
                    } else {
                        src.port
                    },
                    dst_port: dst.port,
                });
                from_xlat(xlat::v4_to_v6(
                    buf, l3_start, l3_len, &map, &self.xlat, sink,
                ))
            }
            NatOutcome::Hold => Verdict::Hold { session: v.session },
            NatOutcome::ToV4 { .. } | NatOutcome::HairpinHandoff { .. } => {
                Verdict::Drop(Reason::Xlat(DropReason::Malformed))
            }
        }
    }

    /// Answers the packet at `buf[l3_start..l3_start + l3_len]` with the
    /// ICMP error RFC 6146 names (`error`, in the packet's own family), or
    /// drops it when there is none or none may be sent; `reason` is
    /// counted either way.
    fn answer(
        &self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        error: IcmpError,
        reason: Reason,
    ) -> Verdict {
        let built = match (error, error.type_code()) {
            (IcmpError::V6AddressUnreachable, Some((t, c))) => {
                xlat::icmpv6_error(buf, l3_start, l3_len, t, c, 0, &self.xlat)
            }
            (IcmpError::V4PortUnreachable | IcmpError::V4AdminProhibited, Some((t, c))) => {
                xlat::icmpv4_error(buf, l3_start, l3_len, t, c, 0, &self.xlat)
            }
            _ => None,
        };
        match built {
            Some((l3_start, l3_len)) => Verdict::Reply {
                l3_start,
                l3_len,
                reason,
            },
            None => Verdict::Drop(reason),
        }
    }

    /// An ICMPv6 error from an IPv6 host about a packet that came from the
    /// IPv4 side: the quoted packet went (prefix::Z):z -> X':x, so the
    /// session is the one of (X', x, Z, z).
    fn icmp_error_from_v6<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        flow: &FlowV6,
        dst4: Ipv4Addr,
        sink: &mut S,
    ) -> Verdict {
        let no_session = Verdict::Drop(Reason::Nat64(Nat64Drop::IcmpErrorNoSession));
        let Some(inner) = flow.icmp.and_then(|i| i.inner) else {
            return no_session;
        };
        let (Some(proto), Ok(remote)) = (inner_proto(inner.proto), self.prefix.extract(inner.src))
        else {
            return no_session;
        };
        let t = NatTuple6 {
            proto,
            src: inner.dst,
            sport: inner.dst_port,
            dst: remote,
            dport: inner.src_port,
        };
        let Some(s) = self.shard.peek_v6(&t) else {
            return no_session;
        };
        // Outer: from the session's pool address to the host the error is
        // about (RFC 6146 3.5.4: the translated error goes to Z).
        let outer = xlat::Tuple4 {
            src: s.v4.addr,
            dst: dst4,
            src_port: 0,
            dst_port: 0,
        };
        let inner4 = tuple4(proto, s.remote, s.v4);
        let map = V6ToV4 {
            outer,
            inner: inner4,
            ipv4_id: self.ipv4_id(),
        };
        from_xlat(xlat::v6_to_v4(
            buf, l3_start, l3_len, &map, &self.xlat, sink,
        ))
    }

    /// An ICMPv4 error from the IPv4 side about a packet plat sent: the
    /// quoted packet went T:t -> Z:z.
    fn icmp_error_from_v4<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        flow: &FlowV4,
        sink: &mut S,
    ) -> Verdict {
        let no_session = Verdict::Drop(Reason::Nat64(Nat64Drop::IcmpErrorNoSession));
        let Some(inner) = flow.icmp.and_then(|i| i.inner) else {
            return no_session;
        };
        let Some(proto) = inner_proto(inner.proto) else {
            return no_session;
        };
        let t = NatTuple4 {
            proto,
            src: inner.dst,
            sport: inner.dst_port,
            dst: inner.src,
            dport: inner.src_port,
        };
        let Some(s) = self.shard.peek_v4(&t) else {
            return no_session;
        };
        let remote6 = self.prefix.embed(s.remote.addr);
        let outer = xlat::Tuple6 {
            src: self.prefix.embed(flow.src),
            dst: s.v6.addr,
            src_port: 0,
            dst_port: 0,
        };
        let inner6 = xlat::Tuple6 {
            src: s.v6.addr,
            dst: remote6,
            src_port: s.v6.port,
            dst_port: if proto == Proto::Icmp {
                s.v6.port
            } else {
                s.remote.port
            },
        };
        let map = V4ToV6 {
            outer,
            inner: inner6,
        };
        from_xlat(xlat::v4_to_v6(
            buf, l3_start, l3_len, &map, &self.xlat, sink,
        ))
    }

    /// Expires at most `budget` sessions; fates of held SYNs go to `out`.
    /// Returns how many sessions expired.
    pub fn expire(&mut self, now: Time, budget: usize, out: &mut Vec<HeldFate>) -> usize {
        out.append(&mut self.fates);
        self.shard.expire(now, budget, |h| {
            out.push(HeldFate::Reject(h.session, h.error))
        })
    }

    /// Turns a held IPv4 SYN that timed out into its ICMPv4 error, in
    /// place (RFC 6146 3.5.2.2: Port Unreachable containing the SYN).
    pub fn reject_held(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        error: IcmpError,
    ) -> Verdict {
        self.answer(buf, l3_start, l3_len, error, Reason::Nat(NatDrop::HeldSyn))
    }
}

/// The translator's view of a (source, destination) pair; ICMP queries
/// carry the identifier as both ports.
fn tuple4(proto: Proto, src: Endpoint4, dst: Endpoint4) -> xlat::Tuple4 {
    xlat::Tuple4 {
        src: src.addr,
        dst: dst.addr,
        src_port: src.port,
        dst_port: if proto == Proto::Icmp {
            src.port
        } else {
            dst.port
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::{Filtering, NatConfig, Pool4Entry};
    use crate::rss::PortShare;
    use etherparse::{IpNumber, Ipv4Slice, Ipv6Slice, PacketBuilder, SlicedPacket, TransportSlice};
    use std::net::Ipv6Addr;

    const HEAD: usize = 64;
    const CLIENT: &str = "2001:db8:6::2";
    const CLIENT2: &str = "2001:db8:6::3";
    const SERVER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

    fn nat64(filtering: Filtering) -> Nat64 {
        let cfg = NatConfig {
            filtering,
            ..NatConfig::default()
        };
        let mut shard = Shard::new(
            cfg,
            PortShare::All,
            crate::nat::HashKey::new(0x5eed_0f91_a7c3),
        )
        .unwrap();
        shard
            .add_pool4(Pool4Entry::new(Ipv4Addr::new(198, 51, 100, 0), 30))
            .unwrap();
        let prefix = Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap();
        Nat64::new(shard, prefix, XlatConfig::default())
    }

    fn server6() -> Ipv6Addr {
        "2001:db8:64::cb00:7102".parse().unwrap()
    }

    /// An IP packet (no Ethernet) in a buffer with headroom.
    fn framed(ip: Vec<u8>) -> (Vec<u8>, usize, usize) {
        let mut buf = vec![0u8; HEAD];
        let len = ip.len();
        buf.extend(ip);
        buf.extend([0u8; 64]);
        (buf, HEAD, len)
    }

    fn udp6(src: &str, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let src: Ipv6Addr = src.parse().unwrap();
        PacketBuilder::ipv6(src.octets(), dst.octets(), 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn forwarded(v: Verdict) -> (usize, usize) {
        match v {
            Verdict::Forward { l3_start, l3_len } => (l3_start, l3_len),
            other => panic!("not forwarded: {other:?}"),
        }
    }

    /// Parses with etherparse and checks every checksum.
    fn check_v4(b: &[u8]) -> (Ipv4Slice<'_>, Option<TransportSlice<'_>>) {
        let p = SlicedPacket::from_ip(b).expect("valid IPv4");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net.clone() else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        if let Some(TransportSlice::Udp(u)) = &p.transport {
            let uh = u.to_header();
            assert_eq!(
                uh.checksum,
                uh.calc_checksum_ipv4(&h, u.payload()).unwrap(),
                "UDP checksum"
            );
        }
        (ip, p.transport)
    }

    fn check_v6(b: &[u8]) -> (Ipv6Slice<'_>, Option<TransportSlice<'_>>) {
        let p = SlicedPacket::from_ip(b).expect("valid IPv6");
        let Some(etherparse::NetSlice::Ipv6(ip)) = p.net.clone() else {
            panic!("not IPv6")
        };
        let h = ip.header().to_header();
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                let uh = u.to_header();
                assert_eq!(
                    uh.checksum,
                    uh.calc_checksum_ipv6(&h, u.payload()).unwrap(),
                    "UDP checksum"
                );
            }
            Some(TransportSlice::Icmpv6(i)) => {
                let ih = i.header();
                assert_eq!(
                    ih.checksum,
                    ih.icmp_type
                        .calc_checksum(h.source, h.destination, i.payload())
                        .unwrap()
                );
            }
            _ => {}
        }
        (ip, p.transport)
    }

    /// Sends a UDP packet out and returns the (pool address, port) it left
    /// from.
    fn out_udp(n: &mut Nat64, src: &str, sport: u16) -> (Ipv4Addr, u16) {
        let (mut buf, s, l) = framed(udp6(src, server6(), sport, 7, b"out"));
        let (s, l) = forwarded(n.from_v6(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()));
        let (ip, t) = check_v4(&buf[s..s + l]);
        assert_eq!(ip.header().destination_addr(), SERVER4);
        let Some(TransportSlice::Udp(u)) = t else {
            panic!("not UDP")
        };
        (ip.header().source_addr(), u.source_port())
    }

    #[test]
    fn rfc6146_3_5_1_udp_out_and_back_translated_with_valid_checksums() {
        let mut n = nat64(Filtering::Adf);
        let (pool, port) = out_udp(&mut n, CLIENT, 5000);
        assert_eq!(pool.octets()[..3], [198, 51, 100]);
        let (mut buf, s, l) = framed(udp4(SERVER4, pool, 7, port, b"back"));
        let (s, l) = forwarded(n.from_v4(&mut buf, s, l, Time::from_secs(2), &mut Vec::new()));
        let (ip, t) = check_v6(&buf[s..s + l]);
        assert_eq!(
            ip.header().source_addr(),
            server6(),
            "source is the server, embedded"
        );
        assert_eq!(
            ip.header().destination_addr(),
            CLIENT.parse::<Ipv6Addr>().unwrap()
        );
        let Some(TransportSlice::Udp(u)) = t else {
            panic!("not UDP")
        };
        assert_eq!((u.source_port(), u.destination_port()), (7, 5000));
        assert_eq!(u.payload(), b"back");
    }

    #[test]
    fn rfc6146_3_5_3_icmp_echo_identifier_is_mapped_both_ways() {
        let mut n = nat64(Filtering::Adf);
        let client: Ipv6Addr = CLIENT.parse().unwrap();
        let mut v = Vec::new();
        PacketBuilder::ipv6(client.octets(), server6().octets(), 64)
            .icmpv6_echo_request(0x1234, 1)
            .write(&mut v, b"ping")
            .unwrap();
        let (mut buf, s, l) = framed(v);
        let (s, l) = forwarded(n.from_v6(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()));
        let (ip, t) = check_v4(&buf[s..s + l]);
        let Some(TransportSlice::Icmpv4(i)) = t else {
            panic!("not ICMPv4")
        };
        let etherparse::Icmpv4Type::EchoRequest(e) = i.icmp_type() else {
            panic!("not echo")
        };
        let (pool, id) = (ip.header().source_addr(), e.id);
        let mut r = Vec::new();
        PacketBuilder::ipv4(SERVER4.octets(), pool.octets(), 64)
            .icmpv4_echo_reply(id, 1)
            .write(&mut r, b"ping")
            .unwrap();
        let (mut buf, s, l) = framed(r);
        let (s, l) = forwarded(n.from_v4(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()));
        let (ip, t) = check_v6(&buf[s..s + l]);
        assert_eq!(ip.header().destination_addr(), client);
        let Some(TransportSlice::Icmpv6(i)) = t else {
            panic!("not ICMPv6")
        };
        assert!(
            matches!(i.icmp_type(), etherparse::Icmpv6Type::EchoReply(e) if e.id == 0x1234 && e.seq == 1),
            "{:?}",
            i.icmp_type()
        );
    }

    #[test]
    fn rfc6146_3_5_4_icmpv4_port_unreachable_reaches_the_ipv6_client() {
        let mut n = nat64(Filtering::Adf);
        let (pool, port) = out_udp(&mut n, CLIENT, 5001);
        // The server answers the translated datagram with Port Unreachable
        // quoting it (T:t -> Z:z).
        let quoted = udp4(pool, SERVER4, port, 7, b"out");
        let mut e = Vec::new();
        PacketBuilder::ipv4(SERVER4.octets(), pool.octets(), 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut e, &quoted)
            .unwrap();
        let (mut buf, s, l) = framed(e);
        let (s, l) = forwarded(n.from_v4(&mut buf, s, l, Time::from_secs(2), &mut Vec::new()));
        let (ip, t) = check_v6(&buf[s..s + l]);
        assert_eq!(
            ip.header().destination_addr(),
            CLIENT.parse::<Ipv6Addr>().unwrap()
        );
        let Some(TransportSlice::Icmpv6(i)) = t else {
            panic!("not ICMPv6")
        };
        assert!(matches!(
            i.icmp_type(),
            etherparse::Icmpv6Type::DestinationUnreachable(
                etherparse::icmpv6::DestUnreachableCode::Port
            )
        ));
        // The quoted packet is the client's own datagram again.
        let inner = Ipv6Slice::from_slice(i.payload()).expect("inner IPv6");
        assert_eq!(
            inner.header().source_addr(),
            CLIENT.parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(inner.header().destination_addr(), server6());
        assert_eq!(inner.payload().ip_number, IpNumber::UDP);
        assert_eq!(
            &inner.payload().payload[..4],
            &[0x13, 0x89, 0, 7],
            "ports 5001 -> 7"
        );
    }

    #[test]
    fn rfc6146_3_8_hairpin_comes_back_as_ipv6_from_the_embedded_pool_address() {
        let mut n = nat64(Filtering::Eif);
        // Client 2 has a mapping (pool2:port2); client 1 sends to it.
        let (pool2, port2) = out_udp(&mut n, CLIENT2, 6000);
        let (pool1, port1) = {
            let (mut buf, s, l) = framed(udp6(
                CLIENT,
                n.prefix().embed(pool2),
                5002,
                port2,
                b"hairpin",
            ));
            match n.from_v6(&mut buf, s, l, Time::from_secs(3), &mut Vec::new()) {
                Verdict::HairpinReturn { l3_start, l3_len } => {
                    let (ip, t) = check_v6(&buf[l3_start..l3_start + l3_len]);
                    assert_eq!(
                        ip.header().destination_addr(),
                        CLIENT2.parse::<Ipv6Addr>().unwrap()
                    );
                    let src4 = n.prefix().extract(ip.header().source_addr()).unwrap();
                    let Some(TransportSlice::Udp(u)) = t else {
                        panic!("not UDP")
                    };
                    assert_eq!(u.destination_port(), 6000);
                    assert_eq!(u.payload(), b"hairpin");
                    (src4, u.source_port())
                }
                other => panic!("not hairpinned: {other:?}"),
            }
        };
        assert_eq!(
            pool1.octets()[..3],
            [198, 51, 100],
            "client 1 appears as its pool address"
        );
        assert_ne!((pool1, port1), (pool2, port2));
    }

    #[test]
    fn rfc6146_3_5_1_1_pool_exhaustion_answers_icmpv6_address_unreachable() {
        let cfg = NatConfig {
            limits: crate::nat::Limits {
                sessions: 1,
                ..Default::default()
            },
            ..NatConfig::default()
        };
        let mut shard = Shard::new(
            cfg,
            PortShare::All,
            crate::nat::HashKey::new(0x5eed_0f91_a7c3),
        )
        .unwrap();
        shard
            .add_pool4(Pool4Entry::new(Ipv4Addr::new(198, 51, 100, 0), 30))
            .unwrap();
        let prefix = Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap();
        let mut n = Nat64::new(shard, prefix, XlatConfig::default());
        out_udp(&mut n, CLIENT, 5003);
        let (mut buf, s, l) = framed(udp6(CLIENT, server6(), 5004, 7, b"no room"));
        match n.from_v6(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()) {
            Verdict::Reply {
                l3_start,
                l3_len,
                reason,
            } => {
                assert_eq!(reason, Reason::Nat(NatDrop::TableFull));
                let (ip, t) = check_v6(&buf[l3_start..l3_start + l3_len]);
                assert_eq!(
                    ip.header().destination_addr(),
                    CLIENT.parse::<Ipv6Addr>().unwrap()
                );
                let Some(TransportSlice::Icmpv6(i)) = t else {
                    panic!("not ICMPv6")
                };
                assert!(matches!(
                    i.icmp_type(),
                    etherparse::Icmpv6Type::DestinationUnreachable(
                        etherparse::icmpv6::DestUnreachableCode::Address
                    )
                ));
            }
            other => panic!("no ICMPv6 error: {other:?}"),
        }
    }

    #[test]
    fn rfc6146_3_5_2_2_ipv4_syn_under_adf_is_held_then_rejected_with_port_unreachable() {
        let mut n = nat64(Filtering::Adf);
        let mut syn = Vec::new();
        PacketBuilder::ipv4(SERVER4.octets(), [198, 51, 100, 1], 64)
            .tcp(40000, 2000, 1, 1024)
            .syn()
            .write(&mut syn, &[])
            .unwrap();
        let (mut buf, s, l) = framed(syn.clone());
        let session = match n.from_v4(&mut buf, s, l, Time::from_secs(10), &mut Vec::new()) {
            Verdict::Hold { session } => session,
            other => panic!("not held: {other:?}"),
        };
        let mut fates = Vec::new();
        n.expire(Time::from_secs(30), 100, &mut fates);
        assert!(fates.contains(&HeldFate::Reject(session, IcmpError::V4PortUnreachable)));
        let (mut buf, s, l) = framed(syn);
        let Verdict::Reply {
            l3_start, l3_len, ..
        } = n.reject_held(&mut buf, s, l, IcmpError::V4PortUnreachable)
        else {
            panic!("no error for the held SYN")
        };
        let (ip, _) = check_v4(&buf[l3_start..l3_start + l3_len]);
        assert_eq!(ip.header().destination_addr(), SERVER4);
    }

    #[test]
    fn non_first_fragments_and_other_protocols_are_counted_drops() {
        let mut n = nat64(Filtering::Adf);
        let client: Ipv6Addr = CLIENT.parse().unwrap();
        let mut v = Vec::new();
        PacketBuilder::ipv6(client.octets(), server6().octets(), 64)
            .udp(1, 2)
            .write(&mut v, b"x")
            .unwrap();
        v[6] = 132; // SCTP
        let (mut buf, s, l) = framed(v);
        assert_eq!(
            n.from_v6(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()),
            Verdict::Drop(Reason::Nat64(Nat64Drop::UnsupportedProtocol))
        );
        let mut frag = udp4(SERVER4, Ipv4Addr::new(198, 51, 100, 1), 7, 5000, b"tail");
        frag[6] = 0x00;
        frag[7] = 0x10; // offset 16 x 8 bytes: not the first fragment
        frag[10] = 0;
        frag[11] = 0;
        let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&frag[..20]));
        frag[10..12].copy_from_slice(&c.to_be_bytes());
        let (mut buf, s, l) = framed(frag);
        assert_eq!(
            n.from_v4(&mut buf, s, l, Time::from_secs(1), &mut Vec::new()),
            Verdict::Drop(Reason::Nat64(Nat64Drop::FragmentWithoutPorts))
        );
    }

    proptest::proptest! {
        /// The daemon never panics on traffic: arbitrary bytes, and valid
        /// packets with one byte changed, through both directions and the
        /// prefetch stage.
        #[test]
        fn random_and_mutated_packets_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            at in 0usize..80,
            value in proptest::num::u8::ANY,
            headroom in 0usize..64,
        ) {
            let mut n = nat64(Filtering::Eif);
            let mut valid = udp6(CLIENT, server6(), 5000, 7, b"mutate");
            let i = at % valid.len();
            valid[i] = value;
            for ip in [bytes.clone(), valid] {
                n.prefetch_v6(&[&ip]);
                n.prefetch_v4(&[&ip]);
                n.end_burst();
                let mut buf = vec![0u8; headroom];
                buf.extend_from_slice(&ip);
                let _ = n.from_v6(&mut buf.clone(), headroom, ip.len(), Time::from_secs(1), &mut Vec::new());
                let _ = n.from_v4(&mut buf, headroom, ip.len(), Time::from_secs(1), &mut Vec::new());
            }
        }
    }

    fn tcp6(src: &str, sport: u16, dport: u16, flags: u8, hop: u8) -> Vec<u8> {
        let mut v = Vec::new();
        let src: Ipv6Addr = src.parse().unwrap();
        let mut b =
            PacketBuilder::ipv6(src.octets(), server6().octets(), hop).tcp(sport, dport, 1, 1000);
        if flags & crate::wire::tcp::flags::SYN != 0 {
            b = b.syn();
        }
        if flags & crate::wire::tcp::flags::ACK != 0 {
            b = b.ack(1);
        }
        if flags & crate::wire::tcp::flags::FIN != 0 {
            b = b.fin();
        }
        if flags & crate::wire::tcp::flags::RST != 0 {
            b = b.rst();
        }
        b.write(&mut v, &[1, 2, 3]).unwrap();
        v
    }

    fn tcp4(dst: Ipv4Addr, sport: u16, dport: u16, flags: u8, ttl: u8) -> Vec<u8> {
        let mut v = Vec::new();
        let mut b =
            PacketBuilder::ipv4(SERVER4.octets(), dst.octets(), ttl).tcp(sport, dport, 9, 1000);
        if flags & crate::wire::tcp::flags::SYN != 0 {
            b = b.syn();
        }
        if flags & crate::wire::tcp::flags::ACK != 0 {
            b = b.ack(2);
        }
        if flags & crate::wire::tcp::flags::FIN != 0 {
            b = b.fin();
        }
        if flags & crate::wire::tcp::flags::RST != 0 {
            b = b.rst();
        }
        b.write(&mut v, &[4, 5, 6]).unwrap();
        v
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// The established straight line and the general path are the
        /// same rules: over random TCP and UDP traffic (new flows, TCP
        /// state steps, expiring hop limits), in both directions, one
        /// translator taking every packet the general way ends with the
        /// same bytes, verdicts, sessions and sync events as one taking
        /// the straight lines where it can.
        #[test]
        fn the_established_straight_line_equals_the_general_path(
            ops in proptest::collection::vec(
                (0..2u8, 0..2u8, 0..3u16, 0..4u8, 1..4u8, 0..20u8), 1..60),
        ) {
            let cfg = NatConfig {
                event_capacity: 1024,
                sync_refresh_interval: 1,
                ..NatConfig::default()
            };
            let build = || {
                let mut shard = Shard::new(cfg, PortShare::All, crate::nat::HashKey::new(0x5eed_0f91_a7c3)).unwrap();
                shard.add_pool4(Pool4Entry::new(Ipv4Addr::new(198, 51, 100, 0), 30)).unwrap();
                let prefix = Prefix6052::new("2001:db8:64::".parse().unwrap(), 96).unwrap();
                Nat64::new(shard, prefix, XlatConfig::default())
            };
            let (mut fast, mut general) = (build(), build());
            const FLAGS: [u8; 4] = [0x02, 0x10, 0x11, 0x04]; // SYN, ACK, FIN+ACK, RST
            for (k, &(back, udp, port, flags, hop, wait)) in ops.iter().enumerate() {
                let now = Time::from_secs(k as u64 * u64::from(wait));
                if back == 1 {
                    // The reply to the flow: to its (T,t) if it has one,
                    // else to where it would (a held SYN, a drop).
                    let (p, dport) = if udp == 1 { (Proto::Udp, 53) } else { (Proto::Tcp, 443) };
                    let t = NatTuple6 {
                        proto: p,
                        src: CLIENT.parse().unwrap(),
                        sport: 7000 + port,
                        dst: SERVER4,
                        dport,
                    };
                    let to = fast.shard().peek_v6(&t).map_or(
                        Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 7000 + port),
                        |s| s.v4,
                    );
                    let ip = if udp == 1 {
                        let mut v = udp4(SERVER4, to.addr, dport, to.port, b"r");
                        v[8] = hop;
                        v[10..12].fill(0);
                        let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&v[..20]));
                        v[10..12].copy_from_slice(&c.to_be_bytes());
                        v
                    } else {
                        tcp4(to.addr, dport, to.port, FLAGS[flags as usize], hop)
                    };
                    let (mut a, s, l) = framed(ip);
                    let mut b = a.clone();
                    let va = fast.from_v4(&mut a, s, l, now, &mut Vec::new());
                    let vb = general.v4_general_path(&mut b, s, l, None, now, &mut Vec::new());
                    proptest::prop_assert_eq!(va, vb);
                    proptest::prop_assert_eq!(&a, &b);
                    proptest::prop_assert_eq!(fast.shard().stats(), general.shard().stats());
                    let ea: Vec<_> = fast.shard_mut().drain_events().collect();
                    let eb: Vec<_> = general.shard_mut().drain_events().collect();
                    proptest::prop_assert_eq!(ea, eb);
                    continue;
                }
                let ip = if udp == 1 {
                    let mut v = udp6(CLIENT, server6(), 7000 + port, 53, b"q");
                    v[7] = hop;
                    v
                } else {
                    tcp6(CLIENT, 7000 + port, 443, FLAGS[flags as usize], hop)
                };
                let (mut a, s, l) = framed(ip);
                let mut b = a.clone();
                let va = fast.from_v6(&mut a, s, l, now, &mut Vec::new());
                let vb = general.v6_general_path(&mut b, s, l, None, now, &mut Vec::new());
                proptest::prop_assert_eq!(va, vb);
                proptest::prop_assert_eq!(&a, &b);
                proptest::prop_assert_eq!(fast.shard().stats(), general.shard().stats());
                let ea: Vec<_> = fast.shard_mut().drain_events().collect();
                let eb: Vec<_> = general.shard_mut().drain_events().collect();
                proptest::prop_assert_eq!(ea, eb);
            }
            let list = |n: &Nat64| n.shard().sessions(Default::default()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(list(&fast), list(&general));
        }
    }

    #[test]
    fn prefetch_hints_change_nothing_but_the_work() {
        let (mut hinted, mut plain) = (nat64(Filtering::Adf), nat64(Filtering::Adf));
        for round in 0..3u16 {
            let mut bufs: Vec<(Vec<u8>, usize, usize)> = (0..20u16)
                .map(|i| framed(udp6(CLIENT, server6(), 7000 + i, 7, &round.to_be_bytes())))
                .collect();
            let mut copies = bufs.clone();
            let l3s: Vec<&[u8]> = bufs.iter().map(|(b, s, l)| &b[*s..s + l]).collect();
            let l3s: Vec<&[u8]> = l3s.into_iter().collect();
            // The hints are keyed by address: the burst's own buffers.
            let hints: Vec<usize> = l3s.iter().map(|l| l.as_ptr() as usize).collect();
            hinted.prefetch_v6(&l3s);
            assert_eq!(hinted.hint_len, 20);
            assert_eq!(
                hinted.hints[..20].iter().map(|h| h.0).collect::<Vec<_>>(),
                hints
            );
            for ((b, s, l), (c, cs, cl)) in bufs.iter_mut().zip(copies.iter_mut()) {
                let t = Time::from_secs(u64::from(round) + 1);
                let a = hinted.from_v6(b, *s, *l, t, &mut Vec::new());
                let p = plain.from_v6(c, *cs, *cl, t, &mut Vec::new());
                assert_eq!(a, p);
                let (s, l) = forwarded(a);
                assert_eq!(b[s..s + l], c[s..s + l], "same bytes out");
            }
            assert_eq!(hinted.hint_next, 20, "every hint was used");
            hinted.end_burst();
        }
    }

    #[test]
    fn ipv4_prefetch_hints_change_nothing_but_the_work() {
        let (mut hinted, mut plain) = (nat64(Filtering::Adf), nat64(Filtering::Adf));
        let mapped: Vec<(Ipv4Addr, u16)> = (0..20u16)
            .map(|i| {
                let a = out_udp(&mut hinted, CLIENT, 7000 + i);
                assert_eq!(out_udp(&mut plain, CLIENT, 7000 + i), a);
                a
            })
            .collect();
        for round in 0..3u16 {
            let mut bufs: Vec<(Vec<u8>, usize, usize)> = mapped
                .iter()
                .map(|&(pool, port)| framed(udp4(SERVER4, pool, 7, port, &round.to_be_bytes())))
                .collect();
            let mut copies = bufs.clone();
            let l3s: Vec<&[u8]> = bufs.iter().map(|(b, s, l)| &b[*s..s + l]).collect();
            hinted.prefetch_v4(&l3s);
            assert_eq!(hinted.hint4_len, 20);
            assert!(
                hinted.hints4[..20].iter().all(|h| h.1 .1.is_some()),
                "sessions named"
            );
            for ((b, s, l), (c, cs, cl)) in bufs.iter_mut().zip(copies.iter_mut()) {
                let t = Time::from_secs(u64::from(round) + 1);
                let a = hinted.from_v4(b, *s, *l, t, &mut Vec::new());
                let p = plain.from_v4(c, *cs, *cl, t, &mut Vec::new());
                assert_eq!(a, p);
                let (s, l) = forwarded(a);
                assert_eq!(b[s..s + l], c[s..s + l], "same bytes out");
            }
            assert_eq!(hinted.hint4_next, 20, "every hint was used");
            hinted.end_burst();
        }
    }

    #[test]
    fn reason_indices_cover_every_counter_once() {
        let names = Reason::names();
        assert_eq!(names.len(), Reason::COUNT);
        assert_eq!(Reason::Xlat(DropReason::Malformed).index(), 0);
        assert_eq!(Reason::Nat(NatDrop::ALL[0]).index(), DropReason::COUNT);
        let last = *Nat64Drop::ALL.last().unwrap();
        assert_eq!(Reason::Nat64(last).index(), Reason::COUNT - 1);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "counter names are unique");
    }
}
