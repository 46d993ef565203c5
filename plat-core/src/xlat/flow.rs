//! The cheap parse the stateful NAT does before translating: the flow
//! tuple it looks its session up by. For an ICMP error, the tuple of the
//! quoted packet is what identifies the session.

use super::icmp_error::{parse_inner4, parse_inner6};
use super::DropReason;
use crate::wire::ipv6_ext::{self, Chain};
use crate::wire::{be16, icmpv4, icmpv6, ipv4, ipv6, proto, tcp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Fragment fields, in IPv6 form (an IPv4 ID is zero-extended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub ident: u32,
    /// In 8-byte units.
    pub offset: u16,
    pub more: bool,
    /// Bytes of the datagram's upper-layer part this fragment carries.
    pub len: u32,
}

impl Fragment {
    /// The first fragment carries the transport header.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }

    /// Offset 0 and no More Fragments: a whole packet behind a Fragment
    /// header (RFC 6946 4), not fragmented.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }

    /// For the last fragment (More Fragments clear): where it ends, the
    /// upper-layer length of the whole datagram.
    pub fn end(&self) -> Option<u32> {
        (!self.more).then(|| u32::from(self.offset) * 8 + self.len)
    }
}

/// The tuple of a packet quoted in an ICMP error (as quoted: its source is
/// the side the error is going back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerFlow<A> {
    pub src: A,
    pub dst: A,
    /// Upper-layer protocol, in the family's own numbering.
    pub proto: u8,
    /// Ports; for an ICMP query both are the identifier. Zero when absent.
    pub src_port: u16,
    pub dst_port: u16,
}

/// ICMP details of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo<A> {
    pub msg_type: u8,
    pub code: u8,
    /// For error messages: the quoted packet.
    pub inner: Option<InnerFlow<A>>,
}

macro_rules! flow_struct {
    ($name:ident, $addr:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            pub src: $addr,
            pub dst: $addr,
            /// Upper-layer protocol in the family's numbering (58 for ICMPv6).
            pub proto: u8,
            /// TCP/UDP ports; for an ICMP query both are the identifier.
            /// Zero when the packet carries none (non-first fragment,
            /// ICMP error, other protocols).
            pub src_port: u16,
            pub dst_port: u16,
            /// TCP control bits (see `wire::tcp::flags`), zero otherwise.
            pub tcp_flags: u8,
            pub fragment: Option<Fragment>,
            pub icmp: Option<IcmpInfo<$addr>>,
        }

        impl $name {
            /// Whether `src_port`/`dst_port` are real (TCP, UDP, ICMP query
            /// in an unfragmented packet or a first fragment).
            pub fn has_ports(&self) -> bool {
                self.fragment.is_none_or(|f| f.is_first())
                    && match self.icmp {
                        Some(i) => i.inner.is_none(),
                        None => matches!(self.proto, proto::TCP | proto::UDP),
                    }
            }

            /// Whether this is an ICMP error quoting another packet.
            pub fn is_icmp_error(&self) -> bool {
                self.icmp.is_some_and(|i| i.inner.is_some())
            }

            /// What a stateful NAT reads of the flow beside its addresses.
            pub fn head(&self) -> FlowHead {
                FlowHead {
                    proto: self.proto,
                    icmp_type: self.icmp.map(|i| i.msg_type),
                    src_port: self.src_port,
                    dst_port: self.dst_port,
                    tcp_flags: self.tcp_flags,
                    has_ports: self.has_ports(),
                    is_icmp_error: self.is_icmp_error(),
                }
            }
        }
    };
}

/// The family-free part of a flow ([`FlowV6::head`], [`FlowV4::head`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHead {
    pub proto: u8,
    pub icmp_type: Option<u8>,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    pub has_ports: bool,
    pub is_icmp_error: bool,
}

flow_struct!(FlowV6, Ipv6Addr, "The flow tuple of an IPv6 packet.");
flow_struct!(FlowV4, Ipv4Addr, "The flow tuple of an IPv4 packet.");

fn ports(l4: &[u8], protocol: u8, icmp_query: bool) -> (u16, u16, u8) {
    if icmp_query {
        let id = if l4.len() >= 6 { be16(l4, 4) } else { 0 };
        return (id, id, 0);
    }
    match protocol {
        proto::TCP | proto::UDP if l4.len() >= 4 => {
            let flags = if protocol == proto::TCP && l4.len() >= tcp::MIN_HEADER_LEN {
                l4[13]
            } else {
                0
            };
            (be16(l4, 0), be16(l4, 2), flags)
        }
        _ => (0, 0, 0),
    }
}

impl FlowV6 {
    /// Parses the IPv6 packet starting at `l3[0]`.
    pub fn parse(l3: &[u8]) -> Result<FlowV6, DropReason> {
        let ip = ipv6::Packet::new_checked(l3)?;
        let nh = ip.next_header();
        let chain = if matches!(nh, proto::TCP | proto::UDP | proto::ICMPV6) {
            Chain {
                upper_proto: nh,
                upper_offset: 0,
                fragment: None,
                routing_segments_left_at: None,
                ext_after_fragment: false,
            }
        } else {
            ipv6_ext::walk(ip.payload(), nh)?
        };
        let l4 = &ip.payload()[chain.upper_offset..];
        let fragment = chain.fragment.map(|(_, f)| Fragment {
            ident: f.ident,
            offset: f.offset,
            more: f.more,
            len: l4.len() as u32,
        });
        let first = fragment.is_none_or(|f| f.is_first());
        let mut flow = FlowV6 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            proto: chain.upper_proto,
            src_port: 0,
            dst_port: 0,
            tcp_flags: 0,
            fragment,
            icmp: None,
        };
        if !first {
            return Ok(flow);
        }
        if chain.upper_proto == proto::ICMPV6 {
            let p = icmpv6::Packet::new_checked(l4).map_err(|_| DropReason::L4Truncated)?;
            let (t, c) = (p.msg_type(), p.code());
            let mut info = IcmpInfo {
                msg_type: t,
                code: c,
                inner: None,
            };
            if icmpv6::is_error(t) {
                let q = p.payload();
                let inner = parse_inner6(q)?;
                let off = ipv6::HEADER_LEN + inner.chain.upper_offset;
                let iq = &q[off.min(q.len())..];
                let ifirst = inner.chain.fragment.is_none_or(|(_, f)| f.offset == 0);
                let query = inner.chain.upper_proto == proto::ICMPV6;
                let (sp, dp, _) = if ifirst {
                    ports(iq, inner.chain.upper_proto, query)
                } else {
                    (0, 0, 0)
                };
                info.inner = Some(InnerFlow {
                    src: inner.src.into(),
                    dst: inner.dst.into(),
                    proto: inner.chain.upper_proto,
                    src_port: sp,
                    dst_port: dp,
                });
            } else {
                let (sp, dp, _) = ports(l4, proto::ICMPV6, true);
                flow.src_port = sp;
                flow.dst_port = dp;
            }
            flow.icmp = Some(info);
        } else {
            let (sp, dp, fl) = ports(l4, chain.upper_proto, false);
            flow.src_port = sp;
            flow.dst_port = dp;
            flow.tcp_flags = fl;
        }
        Ok(flow)
    }
}

impl FlowV4 {
    /// Parses the IPv4 packet starting at `l3[0]` (trailing padding allowed).
    pub fn parse(l3: &[u8]) -> Result<FlowV4, DropReason> {
        let ip = ipv4::Packet::new_checked(l3)?;
        let l4 = ip.payload();
        let fragment = ip.is_fragment().then(|| Fragment {
            ident: ip.ident() as u32,
            offset: ip.frag_offset(),
            more: ip.more_frags(),
            len: l4.len() as u32,
        });
        let mut flow = FlowV4 {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            proto: ip.protocol(),
            src_port: 0,
            dst_port: 0,
            tcp_flags: 0,
            fragment,
            icmp: None,
        };
        if ip.frag_offset() != 0 {
            return Ok(flow);
        }
        if flow.proto == proto::ICMP {
            let p = icmpv4::Packet::new_checked(l4).map_err(|_| DropReason::L4Truncated)?;
            let (t, c) = (p.msg_type(), p.code());
            let mut info = IcmpInfo {
                msg_type: t,
                code: c,
                inner: None,
            };
            if icmpv4::is_error(t) {
                let q = p.payload();
                let inner = parse_inner4(q)?;
                let iq = &q[inner.header_len..];
                let query = inner.protocol == proto::ICMP;
                let (sp, dp, _) = if inner.frag_offset == 0 {
                    ports(iq, inner.protocol, query)
                } else {
                    (0, 0, 0)
                };
                info.inner = Some(InnerFlow {
                    src: inner.src.into(),
                    dst: inner.dst.into(),
                    proto: inner.protocol,
                    src_port: sp,
                    dst_port: dp,
                });
            } else {
                let (sp, dp, _) = ports(l4, proto::ICMP, true);
                flow.src_port = sp;
                flow.dst_port = dp;
            }
            flow.icmp = Some(info);
        } else {
            let (sp, dp, fl) = ports(l4, flow.proto, false);
            flow.src_port = sp;
            flow.dst_port = dp;
            flow.tcp_flags = fl;
        }
        Ok(flow)
    }
}
