//! Packets from the IPv4 side (RFC 6146 3.5, out to in): the established
//! straight line, the general path and held SYNs.

use std::net::Ipv4Addr;

use crate::nat::{Outcome as NatOutcome, Proto, SessionId, TcpFlags, Time, Tuple4 as NatTuple4};
use crate::wire::{icmpv4, ipv4, proto, tcp};
use crate::xlat::{self, DropReason, FlowV4, Sink, V4ToV6};

use super::classify::quick_ports;
use super::{from_xlat, Nat64, Nat64Drop, Reason, Verdict};

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

impl Nat64 {
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
}
