//! The stateful NAT64 of one worker: the RFC 6146 state of a
//! [`Shard`] composed with the RFC 7915 translator.
//! Packets in, verdicts out; the dataplane only moves bytes.
//!
//! The shard works on flow tuples so every state rule is a plain unit
//! test; this layer classifies each packet once (`classify`: its tuple,
//! the destination mapped through the RFC 6052 prefix, its hash), asks
//! the shard, and translates in place with the endpoints the shard chose.
//! One file per direction, as VPP keeps `nat64_in2out.c` and
//! `nat64_out2in.c` apart: `from_v6` (inside to outside, hairpins),
//! `from_v4` (outside to inside, held SYNs), and `icmp_error` (errors
//! looked up by the packet they quote, without refreshing the session,
//! and the errors the state answers with). This file owns the type, its
//! verdicts and drop reasons, and the timers.

use crate::addr::{Prefix6052, Prefixes};
use crate::counters::Desc;
use crate::nat::{
    Endpoint4, Endpoint6, IcmpError, NatDrop, Proto, SessionId, Shard, Time, Verdict as Found,
};
use crate::wire::{icmpv4, icmpv6, proto};
use crate::xlat::{
    self, DropReason, FlowHead, Outcome, Sink, Straight, V4ToV6, V6ToV4, XlatConfig,
};

mod classify;
mod from_v4;
mod from_v6;
mod icmp_error;

use classify::{Bursts, Classified, Family};

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
        UnexpectedNatOutcome = "drop_unexpected_nat_outcome", Counter,
            "Shard answers this direction cannot get (a hold for an IPv6 packet, an IPv4 destination for an IPv4 packet): a bug, counted apart from malformed packets so that it is seen.";
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
    prefixes: Prefixes,
    xlat: XlatConfig,
    next_ipv4_id: u16,
    fates: Vec<HeldFate>,
    /// The current burst of each side, classified by the prefetch stage,
    /// by burst position.
    bursts: Bursts,
}

/// What the straight line uses of a worker's NAT64 beside the burst it
/// reads.
struct Parts<'a> {
    shard: &'a mut Shard,
    prefixes: &'a Prefixes,
    xlat: &'a XlatConfig,
    next_ipv4_id: &'a mut u16,
}

impl Parts<'_> {
    /// RFC 7915 5.1 leaves the Identification of unfragmented packets to
    /// the translator; a per-worker counter never repeats within 2^16
    /// packets.
    #[inline]
    fn ipv4_id(&mut self) -> u16 {
        *self.next_ipv4_id = self.next_ipv4_id.wrapping_add(1);
        *self.next_ipv4_id
    }
}

/// A family's ICMP protocol number and its two query (echo) types.
struct IcmpQuery {
    number: u8,
    echo: [u8; 2],
}

const ICMPV6_QUERY: IcmpQuery = IcmpQuery {
    number: proto::ICMPV6,
    echo: [icmpv6::msg_type::ECHO_REQUEST, icmpv6::msg_type::ECHO_REPLY],
};
const ICMPV4_QUERY: IcmpQuery = IcmpQuery {
    number: proto::ICMP,
    echo: [icmpv4::msg_type::ECHO_REQUEST, icmpv4::msg_type::ECHO_REPLY],
};

/// The shard's protocol of a parsed packet (`number`, and `icmp_type`
/// for ICMP) of the family whose ICMP is `icmp`.
fn shard_proto(number: u8, icmp_type: Option<u8>, icmp: &IcmpQuery) -> Result<Proto, Reason> {
    match number {
        proto::TCP => Ok(Proto::Tcp),
        proto::UDP => Ok(Proto::Udp),
        // RFC 6146 3.5: "If the incoming packet is an ICMP message other
        // than ... Query, it is silently discarded".
        n if n == icmp.number => match icmp_type {
            Some(t) if icmp.echo.contains(&t) => Ok(Proto::Icmp),
            _ => Err(Reason::Nat64(Nat64Drop::IcmpNotQuery)),
        },
        // RFC 6146 3.5: only TCP, UDP and ICMP have BIBs.
        _ => Err(Reason::Nat64(Nat64Drop::UnsupportedProtocol)),
    }
}

/// A packet in place, `buf[l3_start..l3_start + l3_len]` with headroom
/// before it (see [`xlat::HEADROOM`]), and where the prefetch stage put
/// it.
#[derive(Debug)]
pub struct Packet<'a> {
    pub buf: &'a mut [u8],
    pub l3_start: usize,
    pub l3_len: usize,
    /// Its position in the burst the last [`Nat64::prefetch_v6`] or
    /// [`Nat64::prefetch_v4`] classified; `None` (not prefetched) has it
    /// classified on the spot.
    pub at: Option<usize>,
}

impl<'a> Packet<'a> {
    /// The packet at `buf[l3_start..l3_start + l3_len]`, not prefetched.
    pub fn new(buf: &'a mut [u8], l3_start: usize, l3_len: usize) -> Self {
        Packet {
            buf,
            l3_start,
            l3_len,
            at: None,
        }
    }

    /// The same packet, at position `at` of the last prefetched burst.
    pub fn at(self, at: usize) -> Self {
        Packet {
            at: Some(at),
            ..self
        }
    }
}

/// What the general path decided to do with a packet, before doing it.
#[derive(Debug)]
enum Next {
    /// Translate to IPv4; `hairpin`: for the worker that owns the IPv4
    /// destination (RFC 6146 3.8).
    ToV4(V6ToV4, bool),
    /// Translate to IPv6.
    ToV6(V4ToV6),
    /// RFC 6146 3.8 hairpin this shard owns whole: to IPv4 and back.
    ThereAndBack(V6ToV4, V4ToV6),
    /// Keep the packet (an IPv4 SYN, RFC 6146 3.5.2.2).
    Hold(SessionId),
    /// The shard refused it: answer with its ICMP error, if any.
    Refused(NatDrop),
    Drop(Reason),
}

/// What differs between the two directions past classify; the steps are
/// [`Nat64::handle`]'s, the same for both.
trait Direction: Family {
    /// The translator's straight line.
    type Fast: Straight;
    /// The packet as the general path parses it.
    type Flow;
    /// The family's ICMP queries.
    const ICMP: IcmpQuery;
    /// The established session's mapping for the straight line, if `c`
    /// has one (refreshing it).
    fn established(nat: &mut Parts, c: &Classified<Self::Tuple>, now: Time) -> Option<Map<Self>>;
    fn parse(nat: &Nat64, l3: &[u8]) -> Result<Self::Flow, Reason>;
    fn head(flow: &Self::Flow) -> FlowHead;
    /// RFC 6146 3.5.4: an ICMP error, translated with the session of the
    /// packet it quotes.
    fn icmp_error(nat: &mut Nat64, flow: &Self::Flow) -> Next;
    /// The shard's tuple of a packet of protocol `proto`.
    fn tuple(flow: &Self::Flow, proto: Proto) -> Self::Tuple;
    fn hash(shard: &Shard, t: &Self::Tuple) -> u32;
    /// Looks up or creates the session of `c`.
    fn session(shard: &mut Shard, c: &Classified<Self::Tuple>, now: Time)
        -> Result<Found, NatDrop>;
    /// What becomes of the packet of tuple `t`, by the shard's answer.
    fn next(nat: &mut Nat64, t: &Self::Tuple, found: Found) -> Next;
}

type Map<F> = <<F as Direction>::Fast as Straight>::Map;

/// Nearly every packet: TCP or UDP of an established session, taken by
/// the translator's straight line with what classify found. The same
/// rules as [`Nat64::general`] in fewer steps; `None`, with nothing
/// changed, for anything else.
#[inline(always)]
fn established<F: Direction>(
    parts: &mut Parts<'_>,
    pkt: &mut Packet<'_>,
    c: &Classified<F::Tuple>,
    now: Time,
) -> Option<Verdict> {
    let fast = F::Fast::check(pkt.buf, pkt.l3_start, pkt.l3_len, parts.xlat)?;
    let map = F::established(parts, c, now)?;
    let (l3_start, l3_len) = fast.translate(pkt.buf, &map, parts.xlat);
    Some(Verdict::Forward { l3_start, l3_len })
}

/// Most packets one prefetch call looks ahead over (a worker's burst).
pub const PREFETCH_BURST: usize = 64;

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
        Nat64::with_prefixes(shard, Prefixes::one(prefix), xlat)
    }

    /// A worker's NAT64 over `shard` with several prefixes (RFC 8683 4.5).
    pub fn with_prefixes(shard: Shard, prefixes: Prefixes, xlat: XlatConfig) -> Nat64 {
        Nat64 {
            shard,
            prefixes,
            xlat,
            next_ipv4_id: 1,
            fates: Vec::new(),
            bursts: Bursts::new(),
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

    /// The primary RFC 6052 prefix.
    pub fn prefix(&self) -> &Prefix6052 {
        self.prefixes.primary()
    }

    /// Every RFC 6052 prefix.
    pub fn prefixes(&self) -> &Prefixes {
        &self.prefixes
    }

    /// The IPv4 Identification of the next packet ([`Parts::ipv4_id`]).
    #[inline]
    fn ipv4_id(&mut self) -> u16 {
        self.split().1.ipv4_id()
    }

    /// The bursts, and the rest of what the straight line uses.
    #[inline(always)]
    fn split(&mut self) -> (&Bursts, Parts<'_>) {
        let parts = Parts {
            shard: &mut self.shard,
            prefixes: &self.prefixes,
            xlat: &self.xlat,
            next_ipv4_id: &mut self.next_ipv4_id,
        };
        (&self.bursts, parts)
    }

    /// Every packet, in either direction: classified (by the prefetch
    /// stage or now), then the straight line if it takes the packet and
    /// its session is established, else the general path. The straight
    /// line is inlined into the caller's burst loop; the general path is
    /// a call.
    #[inline(always)]
    fn handle<F: Direction, S: Sink + ?Sized>(
        &mut self,
        mut pkt: Packet<'_>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let mut here = None;
        let (bursts, mut parts) = self.split();
        let c = bursts.classified::<F>((parts.prefixes, &*parts.shard), &pkt, &mut here);
        let hash = c.map(|c| c.hash);
        if let Some(c) = c {
            if let Some(v) = established::<F>(&mut parts, &mut pkt, c, now) {
                return v;
            }
        }
        self.general::<F, S>(pkt, hash, now, sink)
    }

    /// Every packet in the general steps: parse, look up or create,
    /// translate. `hash` is classify's, if the packet had one.
    #[inline(never)]
    fn general<F: Direction, S: Sink + ?Sized>(
        &mut self,
        pkt: Packet<'_>,
        hash: Option<u32>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let next = self.decide::<F>(&pkt, hash, now);
        self.apply(pkt, next, sink)
    }

    fn decide<F: Direction>(&mut self, pkt: &Packet<'_>, hash: Option<u32>, now: Time) -> Next {
        let end = pkt.l3_start.saturating_add(pkt.l3_len);
        let Some(l3) = pkt.buf.get(pkt.l3_start..end) else {
            return Next::Drop(Reason::Xlat(DropReason::Malformed));
        };
        let flow = match F::parse(self, l3) {
            Ok(f) => f,
            Err(r) => return Next::Drop(r),
        };
        let head = F::head(&flow);
        if head.is_icmp_error {
            return F::icmp_error(self, &flow);
        }
        let proto = match shard_proto(head.proto, head.icmp_type, &F::ICMP) {
            Ok(p) => p,
            Err(r) => return Next::Drop(r),
        };
        if !head.has_ports {
            return Next::Drop(Reason::Nat64(Nat64Drop::FragmentWithoutPorts));
        }
        let tuple = F::tuple(&flow, proto);
        let c = Classified {
            hash: hash.unwrap_or_else(|| F::hash(&self.shard, &tuple)),
            tuple,
            tcp_flags: head.tcp_flags,
            likely: None,
        };
        debug_assert_eq!(
            c.hash,
            F::hash(&self.shard, &c.tuple),
            "prefetch hash of another tuple"
        );
        match F::session(&mut self.shard, &c, now) {
            Ok(found) => F::next(self, &c.tuple, found),
            Err(d) => Next::Refused(d),
        }
    }

    /// Does what the general path decided.
    fn apply<S: Sink + ?Sized>(&mut self, pkt: Packet<'_>, next: Next, sink: &mut S) -> Verdict {
        let Packet {
            buf,
            l3_start,
            l3_len,
            ..
        } = pkt;
        let cfg = self.xlat;
        let to_v4 = |buf: &mut [u8], sink: &mut S, map: &V6ToV4| {
            from_xlat(xlat::v6_to_v4(buf, l3_start, l3_len, map, &cfg, sink))
        };
        match next {
            Next::ToV4(map, hairpin) => match to_v4(buf, sink, &map) {
                Verdict::Forward { l3_start, l3_len } if hairpin => {
                    Verdict::Hairpin { l3_start, l3_len }
                }
                other => other,
            },
            Next::ToV6(map) => from_xlat(xlat::v4_to_v6(buf, l3_start, l3_len, &map, &cfg, sink)),
            Next::ThereAndBack(there, back) => match to_v4(buf, sink, &there) {
                Verdict::Forward { l3_start, l3_len } => {
                    match from_xlat(xlat::v4_to_v6(buf, l3_start, l3_len, &back, &cfg, sink)) {
                        Verdict::Forward { l3_start, l3_len } => {
                            Verdict::HairpinReturn { l3_start, l3_len }
                        }
                        other => other,
                    }
                }
                other => other,
            },
            Next::Hold(session) => Verdict::Hold { session },
            Next::Refused(d) => self.answer(buf, l3_start, l3_len, d.icmp(), Reason::Nat(d)),
            Next::Drop(r) => Verdict::Drop(r),
        }
    }

    /// Expires at most `budget` sessions; fates of held SYNs go to `out`.
    /// Returns how many sessions expired.
    pub fn expire(&mut self, now: Time, budget: usize, out: &mut Vec<HeldFate>) -> usize {
        out.append(&mut self.fates);
        self.shard.expire(now, budget, |h| {
            out.push(HeldFate::Reject(h.session, h.error))
        })
    }
}

/// The translator's view, on the IPv6 side, of the IPv4 pair (`src`,
/// `dst`) of a session (`src` embedded in the prefix); ICMP queries carry
/// the identifier, which is `dst`'s port on this side.
fn tuple6(prefix: &Prefix6052, proto: Proto, src: Endpoint4, dst: Endpoint6) -> xlat::Tuple6 {
    xlat::Tuple6 {
        src: prefix.embed(src.addr),
        dst: dst.addr,
        src_port: if proto == Proto::Icmp {
            dst.port
        } else {
            src.port
        },
        dst_port: dst.port,
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
mod tests;
