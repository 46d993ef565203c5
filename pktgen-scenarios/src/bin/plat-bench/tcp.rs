//! tcp-cps: RFC 9693 connection establishment with TCP. Both ends of every
//! connection are played by rewriting the segment that just arrived into
//! the next one, so the tester keeps no per-connection state:
//!
//! ```text
//! client (inside, IPv6)            server (outside, IPv4)
//! SYN                        ->
//!                            <-    SYN-ACK
//! ACK + request (data)       ->
//!                            <-    ACK + response (data)
//! FIN-ACK                    ->
//!                            <-    FIN-ACK
//! ACK                        ->    (connection complete: counted)
//! ```
//!
//! Every reply follows one rule (RFC 9293 3.4): its sequence number is the
//! acknowledgment the peer sent (the server's ISN answers a SYN), and it
//! acknowledges the peer's sequence number plus its data, SYN and FIN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pktgen_scenarios::frames::{self, Macs, L4};
use pktgen_scenarios::{SERVER4, TCP_DATA_LEN};
use plat_core::wire::ethernet;
use plat_core::wire::tcp::flags::{ACK, FIN, PSH, SYN};
use plat_dataplane::Mbuf;

/// The server's initial sequence number (any value does: nothing checks it
/// but the client's reply).
const SERVER_ISN: u32 = 0x5e7e_0001;
/// Hop limit / TTL of the tester's segments.
const TTL: u8 = 64;

/// One received segment, as much as a reply needs.
struct Segment {
    macs: Macs,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    data: u32,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse(f: &[u8]) -> Option<Segment> {
    let l3 = ethernet::HEADER_LEN;
    if f.len() < l3 + 20 {
        return None;
    }
    let (src, dst, l4, end) = match be16(f, 12) {
        ethernet::ethertype::IPV6 if f.len() >= l3 + 40 + 20 && f[l3 + 6] == 6 => {
            let s: [u8; 16] = f[l3 + 8..l3 + 24].try_into().ok()?;
            let d: [u8; 16] = f[l3 + 24..l3 + 40].try_into().ok()?;
            let end = l3 + 40 + usize::from(be16(f, l3 + 4));
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                l3 + 40,
                end,
            )
        }
        ethernet::ethertype::IPV4 if f[l3 + 9] == 6 => {
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            let s: [u8; 4] = f[l3 + 12..l3 + 16].try_into().ok()?;
            let d: [u8; 4] = f[l3 + 16..l3 + 20].try_into().ok()?;
            let end = l3 + usize::from(be16(f, l3 + 2));
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                l3 + ihl,
                end,
            )
        }
        _ => return None,
    };
    if end > f.len() || l4 + 20 > end {
        return None;
    }
    let offset = usize::from(f[l4 + 12] >> 4) * 4;
    Some(Segment {
        macs: Macs {
            dst: f[0..6].try_into().ok()?,
            src: f[6..12].try_into().ok()?,
        },
        src,
        dst,
        sport: be16(f, l4),
        dport: be16(f, l4 + 2),
        seq: be32(f, l4 + 4),
        ack: be32(f, l4 + 8),
        flags: f[l4 + 13],
        data: end.saturating_sub(l4 + offset) as u32,
    })
}

/// What became of a received segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Rewritten into the reply: send it back the way it came.
    Reply,
    /// The client's last ACK reached the server: one connection done.
    Complete,
    /// Not a segment of ours.
    Other,
}

/// Rewrites `seg` in `m` into the reply with `flags` and `data` bytes.
fn answer(m: &mut Mbuf, seg: &Segment, flags: u8, data: usize) {
    let seq = if seg.flags & SYN != 0 && seg.flags & ACK == 0 {
        SERVER_ISN
    } else {
        seg.ack
    };
    let ack = seg
        .seq
        .wrapping_add(seg.data)
        .wrapping_add(u32::from(seg.flags & (SYN | FIN) != 0));
    let ip = if seg.src.is_ipv6() { 40 } else { 20 };
    let len = ethernet::HEADER_LEN + ip + 20 + data;
    let cur = m.data_len();
    let resized = if len > cur {
        m.append(len - cur).map(|_| ())
    } else {
        m.trim(cur - len)
    };
    if resized.is_none() {
        return;
    }
    let l4 = L4::Tcp {
        src: seg.dport,
        dst: seg.sport,
        seq,
        ack,
        flags,
    };
    let macs = Macs {
        dst: seg.macs.src,
        src: seg.macs.dst,
    };
    frames::write(m.data_mut(), len, macs, seg.dst, seg.src, TTL, l4);
}

/// The server's side of a segment that came out of platd's outside port.
pub fn serve(m: &mut Mbuf) -> Turn {
    let Some(seg) = parse(m.data()) else {
        return Turn::Other;
    };
    if seg.dst != IpAddr::V4(SERVER4) {
        return Turn::Other;
    }
    let reply = match seg.flags & (SYN | FIN | ACK) {
        SYN => (SYN | ACK, 0),
        ACK if seg.data > 0 => (PSH | ACK, TCP_DATA_LEN),
        f if f == FIN | ACK => (FIN | ACK, 0),
        ACK => return Turn::Complete,
        _ => return Turn::Other,
    };
    answer(m, &seg, reply.0, reply.1);
    Turn::Reply
}

/// The client's side of a segment that came out of platd's inside port.
pub fn client(m: &mut Mbuf, server6: &[u8; 16]) -> Turn {
    let Some(seg) = parse(m.data()) else {
        return Turn::Other;
    };
    if seg.src != IpAddr::V6(Ipv6Addr::from(*server6)) {
        return Turn::Other;
    }
    let reply = match seg.flags & (SYN | FIN | ACK) {
        f if f == SYN | ACK => (PSH | ACK, TCP_DATA_LEN),
        ACK if seg.data > 0 => (FIN | ACK, 0),
        f if f == FIN | ACK => (ACK, 0),
        _ => return Turn::Other,
    };
    answer(m, &seg, reply.0, reply.1);
    Turn::Reply
}
