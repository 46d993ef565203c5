//! Packets from the IPv6 side (RFC 6146 3.5, inside to outside): the
//! established straight line, the general path (lookup or creation,
//! hairpins, RFC 6146 3.8) and where each begins.

use crate::nat::{Endpoint4, Outcome as NatOutcome, Proto, TcpFlags, Time, Tuple6 as NatTuple6};
use crate::xlat::{self, DropReason, FlowV6, Sink, V4ToV6, V6ToV4};

use super::classify::{Classified, V6};
use super::{
    from_xlat, shard_proto, tuple4, HeldFate, Nat64, Nat64Drop, Reason, Verdict, ICMPV6_QUERY,
};

impl Nat64 {
    /// Handles the IPv6 packet at `buf[l3_start..l3_start + l3_len]`
    /// (headroom before it; see [`xlat::HEADROOM`]), classifying it now.
    /// The straight line is inlined into the caller's burst loop; the
    /// general path is a call.
    #[inline(always)]
    pub fn from_v6<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.v6_path(None, buf, l3_start, l3_len, now, sink)
    }

    /// [`Nat64::from_v6`] for the packet at position `at` of the burst
    /// the last [`Nat64::prefetch_v6`] classified.
    #[inline(always)]
    pub fn from_v6_at<S: Sink + ?Sized>(
        &mut self,
        at: usize,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.v6_path(Some(at), buf, l3_start, l3_len, now, sink)
    }

    #[inline(always)]
    fn v6_path<S: Sink + ?Sized>(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let c = self.classified::<V6>(at, buf, l3_start, l3_len);
        if let Some(c) = &c {
            if let Some(v) = self.v6_established_path(buf, l3_start, l3_len, c, now) {
                return v;
            }
        }
        self.v6_general_path(buf, l3_start, l3_len, c.map(|c| c.hash), now, sink)
    }

    /// Nearly every packet: TCP or UDP of an established session, taken
    /// by the translator's straight line ([`xlat::FastV6`]) with what
    /// classify found. The same rules as [`Nat64::v6_general_path`] in
    /// fewer steps; `None`, with nothing changed, for anything else.
    #[inline(always)]
    fn v6_established_path(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        c: &Classified<NatTuple6>,
        now: Time,
    ) -> Option<Verdict> {
        let fast = xlat::FastV6::check(buf, l3_start, l3_len, &self.xlat)?;
        let t = &c.tuple;
        self.prefix.check_3_1(t.dst).ok()?;
        let src4 = self
            .shard
            .v6_established(c.hash, c.likely, t, TcpFlags(c.tcp_flags), now)?;
        let map = V6ToV4::new(
            tuple4(t.proto, src4, Endpoint4::new(t.dst, t.dport)),
            self.ipv4_id(),
        );
        let (l3_start, l3_len) = fast.translate(buf, &map, &self.xlat);
        Some(Verdict::Forward { l3_start, l3_len })
    }

    /// Every packet from the IPv6 side, in the general steps: parse, map
    /// the destination, look up or create, translate.
    #[inline(never)]
    pub(super) fn v6_general_path<S: Sink + ?Sized>(
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
        let proto = match shard_proto(flow.proto, flow.icmp.map(|i| i.msg_type), &ICMPV6_QUERY) {
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
        let found = match hash {
            Some(h) => {
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
            NatOutcome::Hold => {
                return Verdict::Drop(Reason::Nat64(Nat64Drop::UnexpectedNatOutcome))
            }
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
}
