//! Packets from the IPv6 side (RFC 6146 3.5, inside to outside): what
//! the steps of [`Nat64::handle`] do for them, from the established
//! session's mapping to hairpins (RFC 6146 3.8).

use std::net::Ipv4Addr;

use crate::frag::FragKey;
use crate::nat::{
    Endpoint4, NatDrop, Outcome as NatOutcome, Proto, Shard, TcpFlags, Time, Tuple6 as NatTuple6,
};
use crate::xlat::{self, FlowHead, FlowV6, Fragment, Sink, V4ToV6, V6ToV4};

use super::classify::{Classified, V6};
use super::{
    tuple4, tuple6, Direction, Found, HeldFate, Nat64, Next, Packet, Parts, Reason, Verdict,
    ICMPV6_QUERY,
};

impl Nat64 {
    /// Handles the IPv6 packet `pkt` (headroom before it; see
    /// [`xlat::HEADROOM`]).
    #[inline(always)]
    pub fn from_v6<S: Sink + ?Sized>(
        &mut self,
        pkt: Packet<'_>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.handle::<V6, S>(pkt, now, sink)
    }
}

impl Direction for V6 {
    type Fast = xlat::FastV6;
    /// The flow, its IPv4 destination and the index of the prefix it was
    /// embedded in.
    type Flow = (FlowV6, Ipv4Addr, u8);
    const ICMP: super::IcmpQuery = ICMPV6_QUERY;

    #[inline(always)]
    fn established(nat: &mut Parts, c: &Classified<NatTuple6>, now: Time) -> Option<V6ToV4> {
        let t = &c.tuple;
        // RFC 6052 3.1 (classify extracted the address without it).
        nat.prefixes.get(t.prefix).check_3_1(t.dst).ok()?;
        let flags = TcpFlags(c.tcp_flags);
        let src4 = nat.shard.v6_established(c.hash, c.likely, t, flags, now)?;
        let dst = Endpoint4::new(t.dst, t.dport);
        Some(V6ToV4::new(tuple4(t.proto, src4, dst), nat.ipv4_id()))
    }

    fn parse(nat: &Nat64, l3: &[u8]) -> Result<(FlowV6, Ipv4Addr, u8), Reason> {
        let flow = FlowV6::parse(l3).map_err(Reason::Xlat)?;
        // RFC 6146 3.5: the destination is an IPv4-embedded address, in
        // one of the prefixes (RFC 8683 4.5).
        let bad = |e: crate::addr::AddrError| Reason::Xlat(e.into());
        let (prefix, p) = nat
            .prefixes()
            .find(&flow.dst.octets())
            .ok_or(bad(crate::addr::AddrError::NotInPrefix))?;
        let dst4 = p.extract_checked(flow.dst).map_err(bad)?;
        Ok((flow, dst4, prefix))
    }

    fn head((flow, _, _): &(FlowV6, Ipv4Addr, u8)) -> FlowHead {
        flow.head()
    }

    fn fragment((flow, _, _): &(FlowV6, Ipv4Addr, u8)) -> Option<(FragKey, Fragment)> {
        let f = flow.fragment?;
        let key = FragKey {
            src: flow.src.octets(),
            dst: flow.dst.octets(),
            proto: flow.proto,
            ident: f.ident,
        };
        Some((key, f))
    }

    fn icmp_error(nat: &mut Nat64, (flow, dst4, _): &(FlowV6, Ipv4Addr, u8)) -> Next {
        nat.icmp_error_from_v6(flow, *dst4)
    }

    fn tuple((flow, dst, prefix): &(FlowV6, Ipv4Addr, u8), proto: Proto) -> NatTuple6 {
        let (sport, dport) = (flow.src_port, flow.dst_port);
        let (src, dst) = (flow.src, *dst);
        NatTuple6 {
            proto,
            src,
            sport,
            dst,
            dport,
            prefix: *prefix,
        }
    }

    fn hash(shard: &Shard, t: &NatTuple6) -> u32 {
        shard.hash6(t)
    }

    fn session(shard: &mut Shard, c: &Classified<NatTuple6>, now: Time) -> Result<Found, NatDrop> {
        shard.v6_session_hashed(c.hash, &c.tuple, TcpFlags(c.tcp_flags), now)
    }

    fn next(nat: &mut Nat64, t: &NatTuple6, found: Found) -> Next {
        if found.release_held {
            nat.fates.push(HeldFate::Release(found.session));
        }
        match found.outcome {
            NatOutcome::ToV4 { src, dst } => {
                Next::ToV4(V6ToV4::new(tuple4(t.proto, src, dst), nat.ipv4_id()), false)
            }
            NatOutcome::HairpinHandoff { src, dst } => {
                Next::ToV4(V6ToV4::new(tuple4(t.proto, src, dst), nat.ipv4_id()), true)
            }
            // A hairpin whose destination this shard owns: the shard has
            // already run the IPv4-side state; translate there and back.
            NatOutcome::ToV6 { src, dst } => {
                let first = tuple4(t.proto, src, Endpoint4::new(t.dst, t.dport));
                let there = V6ToV4::new(first, nat.ipv4_id());
                let back = V4ToV6::new(tuple6(nat.prefixes.get(t.prefix), t.proto, src, dst));
                Next::ThereAndBack(there, back)
            }
            // A hairpinned SYN that address-dependent filtering holds
            // (RFC 6146 3.5.2.2): the shard keeps the state, so the other
            // subscriber's SYN completes a simultaneous open (3.8), but
            // the packet itself exists only as IPv6 here and is not kept:
            // the filter dropped it, and it is counted as filtered.
            NatOutcome::Hold => Next::Drop(Reason::Nat(NatDrop::Filtered)),
        }
    }
}
