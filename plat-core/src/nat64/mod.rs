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
use crate::frag::{FragDrop, FragKey, FragLimits, FragStore, Later, WholeLen};
use crate::nat::{
    Endpoint4, Endpoint6, IcmpError, NatDrop, Proto, SessionId, Shard, Time, Verdict as Found,
};
use crate::wire::{icmpv4, icmpv6, proto};
use crate::xlat::{
    self, DropReason, FlowHead, Fragment, Outcome, Sink, Straight, V4ToV6, V6ToV4, XlatConfig,
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
        // RFC 6146 3.4: fragments before their first wait at least
        // FRAGMENT_MIN (2 s); then they may be dropped.
        FragmentTimeout = "drop_fragment_timeout", Counter,
            "Fragments that waited FRAGMENT_MIN (2 s) for the first fragment of their datagram (or a first ICMP fragment for its last) in vain (RFC 6146 3.4).";
        FragmentTableFull = "drop_fragment_table_full", Counter,
            "Fragments of a datagram the worker's fragment store had no room to track.";
        FragmentBytesFull = "drop_fragment_bytes_full", Counter,
            "Fragments that would wait for their first while the worker's fragment store holds its most bytes.";
        FragmentSourceShare = "drop_fragment_source_share", Counter,
            "Fragments that would wait for their first while their source holds its share of the fragment store.";
        FragmentDuplicateFirst = "drop_fragment_duplicate_first", Counter,
            "First fragments of an ICMP query arriving while another first of the same datagram waits.";
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
    /// A fragment the caller must keep under `token` until
    /// [`Nat64::expire`] says it may go again ([`HeldFate::FragmentReady`])
    /// or is dropped ([`HeldFate::FragmentExpired`]): RFC 6146 3.4.
    FragmentWaits { token: u32 },
    /// Dropped.
    Drop(Reason),
}

/// The fate of a packet the caller keeps: a held IPv4 SYN or a waiting
/// fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldFate {
    /// A matching IPv6 SYN arrived: RFC 6146 3.5.2.2 says to drop the
    /// stored packet.
    Release(SessionId),
    /// The hold timed out: answer the stored packet with this error
    /// ([`Nat64::reject_held`]).
    Reject(SessionId, IcmpError),
    /// What the fragment under this token waited for came: hand it to
    /// [`Nat64::from_v6`] or [`Nat64::from_v4`] again (the side it came
    /// in on), now.
    FragmentReady(u32),
    /// The fragment under this token waited FRAGMENT_MIN in vain: drop it
    /// and count [`Nat64Drop::FragmentTimeout`].
    FragmentExpired(u32),
}

/// What the later fragments of a datagram follow: its first's
/// translation (RFC 6146 3.4).
#[derive(Debug, Clone, Copy)]
enum FragXlat {
    ToV4(V6ToV4, bool),
    ToV6(V4ToV6),
    ThereAndBack(V6ToV4, V4ToV6),
}

impl FragXlat {
    /// What the first fragment's `next` leaves for the rest, if it was
    /// translated.
    fn of(next: &Next) -> Option<FragXlat> {
        match *next {
            Next::ToV4(m, hairpin) => Some(FragXlat::ToV4(m, hairpin)),
            Next::ToV6(m) => Some(FragXlat::ToV6(m)),
            Next::ThereAndBack(a, b) => Some(FragXlat::ThereAndBack(a, b)),
            _ => None,
        }
    }

    fn next(self) -> Next {
        match self {
            FragXlat::ToV4(m, hairpin) => Next::ToV4(m, hairpin),
            FragXlat::ToV6(m) => Next::ToV6(m),
            FragXlat::ThereAndBack(a, b) => Next::ThereAndBack(a, b),
        }
    }
}

impl Next {
    /// The translation of a fragment of an ICMP query `icmp_len` bytes
    /// long in all (see [`V4ToV6::icmp_len`]).
    fn with_icmp_len(mut self, icmp_len: u32) -> Next {
        match &mut self {
            Next::ToV4(m, _) => m.icmp_len = icmp_len,
            Next::ToV6(m) => m.icmp_len = icmp_len,
            Next::ThereAndBack(a, b) => {
                a.icmp_len = icmp_len;
                b.icmp_len = icmp_len;
            }
            _ => {}
        }
        self
    }
}

fn frag_drop(d: FragDrop) -> Reason {
    Reason::Nat64(match d {
        FragDrop::Datagrams => Nat64Drop::FragmentTableFull,
        FragDrop::WaitingBytes => Nat64Drop::FragmentBytesFull,
        FragDrop::SourceShare => Nat64Drop::FragmentSourceShare,
        FragDrop::Duplicate => Nat64Drop::FragmentDuplicateFirst,
    })
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
    /// RFC 6146 3.4: the datagrams whose fragments pass this worker.
    frags: FragStore<FragXlat>,
    /// The token of the next fragment to wait.
    next_frag_token: u32,
    /// Room for the store's ready and expired tokens.
    frag_tokens: Vec<u32>,
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
    /// Keep the fragment under this token (RFC 6146 3.4).
    Wait(u32),
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
    /// The datagram a fragment belongs to, and its fragment fields.
    fn fragment(flow: &Self::Flow) -> Option<(FragKey, Fragment)>;
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
            frags: FragStore::new(FragLimits::default()),
            next_frag_token: 0,
            frag_tokens: Vec::new(),
        }
    }

    /// The same NAT64 with a fragment store of these bounds.
    pub fn with_fragment_limits(mut self, limits: FragLimits) -> Nat64 {
        self.frags = FragStore::new(limits);
        self
    }

    /// Datagrams whose fragments are tracked now.
    pub fn fragments_tracked(&self) -> usize {
        self.frags.len()
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
        // RFC 6146 3.4: later fragments follow the first's translation.
        let fragment = F::fragment(&flow).filter(|(_, f)| !f.is_atomic());
        if let Some((key, f)) = fragment.filter(|(_, f)| !f.is_first()) {
            return self.later_fragment(key, f, now);
        }
        let proto = match shard_proto(head.proto, head.icmp_type, &F::ICMP) {
            Ok(p) => p,
            Err(r) => return Next::Drop(r),
        };
        // The first fragment of an ICMP query waits for its message's
        // whole length, which its checksum counts.
        let mut icmp_len = 0;
        if let Some((key, f)) = fragment.filter(|_| proto == Proto::Icmp) {
            let token = self.frag_token();
            match self.frags.whole_len(key, token, f.len, now) {
                WholeLen::Known(n) => icmp_len = n,
                WholeLen::Wait => return Next::Wait(token),
                WholeLen::Drop(d) => return Next::Drop(frag_drop(d)),
            }
        }
        debug_assert!(
            head.has_ports,
            "first fragments and whole packets have ports"
        );
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
        let next = match F::session(&mut self.shard, &c, now) {
            Ok(found) => F::next(self, &c.tuple, found),
            Err(d) => Next::Refused(d),
        };
        let Some((key, _)) = fragment else {
            return next;
        };
        let next = next.with_icmp_len(icmp_len);
        if let Some(x) = FragXlat::of(&next) {
            // A full store still translates the first; the rest wait in
            // vain and are counted.
            self.frags.first(key, x, now);
        }
        next
    }

    /// A fragment after its datagram's first (RFC 6146 3.4).
    fn later_fragment(&mut self, key: FragKey, f: Fragment, now: Time) -> Next {
        let token = self.frag_token();
        match self.frags.later(key, token, f.len, f.end(), now) {
            Later::Follow(x) => x.next(),
            Later::Wait => Next::Wait(token),
            Later::Drop(d) => Next::Drop(frag_drop(d)),
        }
    }

    fn frag_token(&mut self) -> u32 {
        self.next_frag_token = self.next_frag_token.wrapping_add(1);
        self.next_frag_token
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
            Next::Wait(token) => Verdict::FragmentWaits { token },
            Next::Refused(d) => self.answer(buf, l3_start, l3_len, d.icmp(), Reason::Nat(d)),
            Next::Drop(r) => Verdict::Drop(r),
        }
    }

    /// Expires at most `budget` sessions and the fragments whose time is
    /// up; fates of held SYNs and waiting fragments go to `out`. Returns
    /// how many sessions expired.
    pub fn expire(&mut self, now: Time, budget: usize, out: &mut Vec<HeldFate>) -> usize {
        out.append(&mut self.fates);
        let tokens = &mut self.frag_tokens;
        self.frags.take_ready(tokens);
        out.extend(tokens.drain(..).map(HeldFate::FragmentReady));
        self.frags.expire(now, tokens);
        out.extend(tokens.drain(..).map(HeldFate::FragmentExpired));
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
