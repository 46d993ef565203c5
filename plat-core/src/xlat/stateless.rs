//! Mappings for stateless (RFC 6052 only) translation: both addresses of
//! a packet are IPv4-embedded and the ports stay. The stateful NAT builds
//! its own [`V6ToV4`]/[`V4ToV6`]; tests, fuzzing and benches use these.

use super::{DropReason, FlowV4, FlowV6, Tuple4, Tuple6, V4ToV6, V6ToV4};
use crate::addr::Prefix6052;

/// Extracts both IPv4 addresses of an IPv6 flow (and of its quoted packet,
/// for an ICMP error), keeping the ports. RFC 6052 3.1 violations drop
/// with [`DropReason::WkpNonGlobal`].
pub fn v6_to_v4(flow: &FlowV6, prefix: &Prefix6052, ipv4_id: u16) -> Result<V6ToV4, DropReason> {
    let ext = |a: std::net::Ipv6Addr| prefix.extract_checked(a).map_err(DropReason::from);
    let outer = Tuple4 {
        src: ext(flow.src)?,
        dst: ext(flow.dst)?,
        src_port: flow.src_port,
        dst_port: flow.dst_port,
    };
    let inner = match flow.icmp.and_then(|i| i.inner) {
        Some(i) => Tuple4 {
            src: ext(i.src)?,
            dst: ext(i.dst)?,
            src_port: i.src_port,
            dst_port: i.dst_port,
        },
        None => outer,
    };
    Ok(V6ToV4 {
        outer,
        inner,
        ipv4_id,
        icmp_len: 0,
    })
}

/// Embeds both IPv4 addresses of an IPv4 flow (and of its quoted packet).
pub fn v4_to_v6(flow: &FlowV4, prefix: &Prefix6052) -> Result<V4ToV6, DropReason> {
    let emb = |a: std::net::Ipv4Addr| prefix.embed_checked(a).map_err(DropReason::from);
    let outer = Tuple6 {
        src: emb(flow.src)?,
        dst: emb(flow.dst)?,
        src_port: flow.src_port,
        dst_port: flow.dst_port,
    };
    let inner = match flow.icmp.and_then(|i| i.inner) {
        Some(i) => Tuple6 {
            src: emb(i.src)?,
            dst: emb(i.dst)?,
            src_port: i.src_port,
            dst_port: i.dst_port,
        },
        None => outer,
    };
    Ok(V4ToV6 {
        outer,
        inner,
        icmp_len: 0,
    })
}
