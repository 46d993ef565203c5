//! Packets from the IPv4 side (RFC 6146 3.5, outside to inside): the
//! established straight line, the general path (lookup, held SYNs of
//! RFC 6146 3.5.2.2) and where each begins.

use crate::nat::{Outcome as NatOutcome, Proto, TcpFlags, Time, Tuple4 as NatTuple4};
use crate::xlat::{self, DropReason, FlowV4, Sink, V4ToV6};

use super::classify::{Classified, V4};
use super::{from_xlat, shard_proto, Nat64, Nat64Drop, Reason, Verdict, ICMPV4_QUERY};

impl Nat64 {
    /// Handles the IPv4 packet at `buf[l3_start..l3_start + l3_len]`,
    /// classifying it now. The straight line is inlined into the caller's
    /// burst loop; the general path is a call.
    #[inline(always)]
    pub fn from_v4<S: Sink + ?Sized>(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.v4_path(None, buf, l3_start, l3_len, now, sink)
    }

    /// [`Nat64::from_v4`] for the packet at position `at` of the burst
    /// the last [`Nat64::prefetch_v4`] classified.
    #[inline(always)]
    pub fn from_v4_at<S: Sink + ?Sized>(
        &mut self,
        at: usize,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        self.v4_path(Some(at), buf, l3_start, l3_len, now, sink)
    }

    #[inline(always)]
    fn v4_path<S: Sink + ?Sized>(
        &mut self,
        at: Option<usize>,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        now: Time,
        sink: &mut S,
    ) -> Verdict {
        let c = self.classified::<V4>(at, buf, l3_start, l3_len);
        if let Some(c) = &c {
            if let Some(v) = self.v4_established_path(buf, l3_start, l3_len, c, now) {
                return v;
            }
        }
        self.v4_general_path(buf, l3_start, l3_len, c.map(|c| c.hash), now, sink)
    }

    /// Nearly every packet of the return traffic: TCP or UDP of an
    /// established session, taken by the translator's straight line
    /// ([`xlat::FastV4`]) with what classify found. The same rules as
    /// [`Nat64::v4_general_path`] in fewer steps; `None`, with nothing
    /// changed, for anything else.
    #[inline(always)]
    fn v4_established_path(
        &mut self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        c: &Classified<NatTuple4>,
        now: Time,
    ) -> Option<Verdict> {
        let fast = xlat::FastV4::check(buf, l3_start, l3_len, &self.xlat)?;
        let (from, to) =
            self.shard
                .v4_established(c.hash, c.likely, &c.tuple, TcpFlags(c.tcp_flags), now)?;
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
    pub(super) fn v4_general_path<S: Sink + ?Sized>(
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
        let proto = match shard_proto(flow.proto, flow.icmp.map(|i| i.msg_type), &ICMPV4_QUERY) {
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
                Verdict::Drop(Reason::Nat64(Nat64Drop::UnexpectedNatOutcome))
            }
        }
    }
}
