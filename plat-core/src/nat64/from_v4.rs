//! Packets from the IPv4 side (RFC 6146 3.5, outside to inside): what
//! the steps of [`Nat64::handle`] do for them, from the established
//! session's mapping to held SYNs (RFC 6146 3.5.2.2).

use crate::frag::FragKey;
use crate::nat::{
    NatDrop, Outcome as NatOutcome, Proto, Shard, TcpFlags, Time, Tuple4 as NatTuple4,
};
use crate::xlat::{self, FlowHead, FlowV4, Fragment, Sink, V4ToV6};

use super::classify::{Classified, V4};
use super::{
    tuple6, Direction, Found, Nat64, Nat64Drop, Next, Packet, Parts, Reason, Verdict, ICMPV4_QUERY,
};

impl Nat64 {
    /// Handles the IPv4 packet `pkt` (headroom before it; see
    /// [`xlat::HEADROOM`]).
    #[inline(always)]
    pub fn from_v4<S: Sink + ?Sized>(
        &mut self,
        pkt: Packet<'_>,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.handle::<V4, S>(pkt, now, sink)
    }
}

impl Direction for V4 {
    type Fast = xlat::FastV4;
    type Flow = FlowV4;
    const ICMP: super::IcmpQuery = ICMPV4_QUERY;

    #[inline(always)]
    fn established(nat: &mut Parts, c: &Classified<NatTuple4>, now: Time) -> Option<V4ToV6> {
        // RFC 6052 3.1: the source is embedded in the session's prefix
        // (the general path drops and counts what the rule refuses).
        if !nat.prefixes.embeddable_in_all(c.tuple.src) {
            return None;
        }
        let flags = TcpFlags(c.tcp_flags);
        let (from, to, prefix) = nat
            .shard
            .v4_established(c.hash, c.likely, &c.tuple, flags, now)?;
        Some(V4ToV6::new(xlat::Tuple6 {
            src: nat.prefixes.get(prefix).embed(from.addr),
            dst: to.addr,
            src_port: from.port,
            dst_port: to.port,
        }))
    }

    fn parse(_: &Nat64, l3: &[u8]) -> Result<FlowV4, Reason> {
        FlowV4::parse(l3).map_err(Reason::Xlat)
    }

    fn head(flow: &FlowV4) -> FlowHead {
        flow.head()
    }

    fn fragment(flow: &FlowV4) -> Option<(FragKey, Fragment)> {
        let f = flow.fragment?;
        let key = FragKey {
            src: flow.src.to_ipv6_mapped().octets(),
            dst: flow.dst.to_ipv6_mapped().octets(),
            proto: flow.proto,
            ident: f.ident,
        };
        Some((key, f))
    }

    fn icmp_error(nat: &mut Nat64, flow: &FlowV4) -> Next {
        nat.icmp_error_from_v4(flow)
    }

    fn tuple(flow: &FlowV4, proto: Proto) -> NatTuple4 {
        NatTuple4 {
            proto,
            sport: flow.src_port,
            dport: flow.dst_port,
            src: flow.src,
            dst: flow.dst,
        }
    }

    fn hash(shard: &Shard, t: &NatTuple4) -> u32 {
        shard.hash4(t)
    }

    fn session(shard: &mut Shard, c: &Classified<NatTuple4>, now: Time) -> Result<Found, NatDrop> {
        shard.v4_session_hashed(c.hash, &c.tuple, TcpFlags(c.tcp_flags), now)
    }

    fn next(nat: &mut Nat64, t: &NatTuple4, found: Found) -> Next {
        match found.outcome {
            NatOutcome::ToV6 { src, dst } => {
                // The prefix the subscriber used (RFC 8683 4.5). RFC 6052
                // 3.1: "The Well-Known Prefix MUST NOT be used to represent
                // non-global IPv4 addresses": the IPv6 source is the IPv4
                // source embedded in it.
                let p = nat.prefixes.get(nat.shard.session_prefix(found.session));
                if let Err(e) = p.check_3_1(src.addr) {
                    return Next::Drop(Reason::Xlat(e.into()));
                }
                Next::ToV6(V4ToV6::new(tuple6(p, t.proto, src, dst)))
            }
            NatOutcome::Hold => Next::Hold(found.session),
            NatOutcome::ToV4 { .. } | NatOutcome::HairpinHandoff { .. } => {
                Next::Drop(Reason::Nat64(Nat64Drop::UnexpectedNatOutcome))
            }
        }
    }
}
