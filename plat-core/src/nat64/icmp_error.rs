//! ICMP errors: those RFC 6146 3.5.4 translates (found by the packet
//! they quote, without refreshing its session) and those the state
//! answers with (3.5.1.1, 3.5.2.2).

use std::net::Ipv4Addr;

use crate::nat::{IcmpError, NatDrop, Proto, Tuple4 as NatTuple4, Tuple6 as NatTuple6};
use crate::wire::proto;
use crate::xlat::{self, FlowV4, FlowV6, V4ToV6, V6ToV4};

use super::{tuple4, Nat64, Nat64Drop, Next, Reason, Verdict};

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

impl Nat64 {
    /// Answers the packet at `buf[l3_start..l3_start + l3_len]` with the
    /// ICMP error RFC 6146 names (`error`, in the packet's own family), or
    /// drops it when there is none or none may be sent; `reason` is
    /// counted either way.
    pub(super) fn answer(
        &self,
        buf: &mut [u8],
        l3_start: usize,
        l3_len: usize,
        error: IcmpError,
        reason: Reason,
    ) -> Verdict {
        let version = match error {
            IcmpError::V6AddressUnreachable => Some(xlat::IpVersion::V6),
            IcmpError::V4PortUnreachable | IcmpError::V4AdminProhibited => {
                Some(xlat::IpVersion::V4)
            }
            _ => None,
        };
        let built = version.zip(error.type_code()).and_then(|(v, (t, c))| {
            xlat::icmp_error(buf, (l3_start, l3_len), v, (t, c, 0), &self.xlat)
        });
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
    pub(super) fn icmp_error_from_v6(&mut self, flow: &FlowV6, dst4: Ipv4Addr) -> Next {
        let no_session = Next::Drop(Reason::Nat64(Nat64Drop::IcmpErrorNoSession));
        let Some(inner) = flow.icmp.and_then(|i| i.inner) else {
            return no_session;
        };
        // The quoted packet came from an embedded address, in one of the
        // prefixes.
        let Some((prefix, p)) = self.prefixes.find(&inner.src.octets()) else {
            return no_session;
        };
        let (Some(proto), Ok(remote)) = (inner_proto(inner.proto), p.extract(inner.src)) else {
            return no_session;
        };
        let t = NatTuple6 {
            dst: remote,
            proto,
            src: inner.dst,
            sport: inner.dst_port,
            dport: inner.src_port,
            prefix,
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
            icmp_len: 0,
        };
        // RFC 6146 3.8: an error about a hairpinned packet goes to a pool
        // address, another subscriber's mapping: it turns around like any
        // hairpinned packet (the IPv4 side takes it as an ICMPv4 error and
        // it reaches that subscriber), never out to neighbour resolution.
        let hairpin = self.shard.is_pool4(dst4);
        Next::ToV4(map, hairpin)
    }

    /// An ICMPv4 error from the IPv4 side about a packet plat sent: the
    /// quoted packet went T:t -> Z:z.
    pub(super) fn icmp_error_from_v4(&mut self, flow: &FlowV4) -> Next {
        let no_session = Next::Drop(Reason::Nat64(Nat64Drop::IcmpErrorNoSession));
        let Some((inner, proto)) = flow
            .icmp
            .and_then(|i| i.inner)
            .and_then(|inner| Some((inner, inner_proto(inner.proto)?)))
        else {
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
        // Under the prefix the subscriber used (RFC 8683 4.5), which must
        // be able to carry the error's source (RFC 6052 3.1).
        let p = self.prefixes.get(s.prefix);
        if let Err(e) = p.check_3_1(flow.src) {
            return Next::Drop(Reason::Xlat(e.into()));
        }
        let remote6 = p.embed(s.remote.addr);
        let outer = xlat::Tuple6 {
            src: p.embed(flow.src),
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
        Next::ToV6(V4ToV6 {
            outer,
            inner: inner6,
            icmp_len: 0,
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
