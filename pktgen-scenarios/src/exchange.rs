//! The whole TCP connection of a `tcp-cps` flow as the tester sees it on
//! both of its ports: every segment once as sent (client segments as IPv6
//! on the inside, server segments as IPv4 on the outside) and once as
//! received after translation.
//!
//! The IPv4 side assumes the binding [`crate::pool4_binding`] states;
//! platd picks its own pool4 address and port, so a live tester learns
//! them from the first translated frame instead.

use std::net::IpAddr;

use plat_core::wire::tcp::flags::{ACK, FIN, PSH, SYN};

use crate::frames::{self, Macs, L4};
use crate::{ports, Scenario, APPLIANCE_INSIDE_MAC, APPLIANCE_OUTSIDE_MAC, TESTER_MAC};
use crate::{TCP_DATA_LEN, TESTER_OUTSIDE_MAC};

/// One segment of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    from_client: bool,
    flags: u8,
    /// Payload bytes.
    data: u32,
}

/// RFC 9293 3.5 three-way handshake, a request and a response, and the
/// close (3.6) from the client: FIN, FIN (with the ACK of the first), ACK.
const SEGMENTS: [Segment; 8] = [
    Segment {
        from_client: true,
        flags: SYN,
        data: 0,
    },
    Segment {
        from_client: false,
        flags: SYN | ACK,
        data: 0,
    },
    Segment {
        from_client: true,
        flags: ACK,
        data: 0,
    },
    Segment {
        from_client: true,
        flags: PSH | ACK,
        data: TCP_DATA_LEN as u32,
    },
    Segment {
        from_client: false,
        flags: PSH | ACK,
        data: TCP_DATA_LEN as u32,
    },
    Segment {
        from_client: true,
        flags: FIN | ACK,
        data: 0,
    },
    Segment {
        from_client: false,
        flags: FIN | ACK,
        data: 0,
    },
    Segment {
        from_client: true,
        flags: ACK,
        data: 0,
    },
];

/// Frames per flow in a `tcp-cps` capture.
pub const FRAMES_PER_FLOW: u64 = 2 * SEGMENTS.len() as u64;

/// Hop limit / TTL the tester sends with; the appliance takes one off.
const TTL: u8 = 64;

/// Writes frame `i` (< [`FRAMES_PER_FLOW`]) of flow `n`'s exchange into
/// `buf`; returns its length.
pub fn frame(sc: &Scenario, n: u64, i: u64, buf: &mut [u8]) -> usize {
    let f = sc.flow(n);
    let (pool_addr, pool_port) = crate::pool4_binding(n);
    let server4 = crate::SERVER4;
    let (isn_c, isn_s) = (ports::isn(n, false), ports::isn(n, true));
    // Sequence numbers: each side's SYN and FIN take one (RFC 9293 3.4).
    let (mut seq_c, mut seq_s) = (isn_c, isn_s);
    let at = (i / 2) as usize;
    for s in &SEGMENTS[..at] {
        let used = s.data + u32::from(s.flags & (SYN | FIN) != 0);
        if s.from_client {
            seq_c = seq_c.wrapping_add(used);
        } else {
            seq_s = seq_s.wrapping_add(used);
        }
    }
    let s = SEGMENTS[at];
    let (seq, ack) = if s.from_client {
        (seq_c, seq_s)
    } else {
        (seq_s, seq_c)
    };
    let ack = if s.flags & ACK != 0 { ack } else { 0 };
    let translated = i % 2 == 1;
    let tcp = |src, dst| L4::Tcp {
        src,
        dst,
        seq,
        ack,
        flags: s.flags,
    };
    let len = frames::min_len6(tcp(0, 0)) + s.data as usize;
    let (v6c, v6s) = (IpAddr::V6(f.src), IpAddr::V6(f.dst));
    let (v4c, v4s) = (IpAddr::V4(pool_addr), IpAddr::V4(server4));
    let inside_in = Macs {
        dst: APPLIANCE_INSIDE_MAC,
        src: TESTER_MAC,
    };
    let inside_out = Macs {
        dst: TESTER_MAC,
        src: APPLIANCE_INSIDE_MAC,
    };
    let outside_in = Macs {
        dst: APPLIANCE_OUTSIDE_MAC,
        src: TESTER_OUTSIDE_MAC,
    };
    let outside_out = Macs {
        dst: TESTER_OUTSIDE_MAC,
        src: APPLIANCE_OUTSIDE_MAC,
    };
    // An IPv4 frame is 20 bytes shorter than its IPv6 form.
    let len4 = len - 20;
    match (s.from_client, translated) {
        (true, false) => frames::write(
            buf,
            len,
            inside_in,
            v6c,
            v6s,
            TTL,
            tcp(f.src_port, f.dst_port),
        ),
        (true, true) => frames::write(
            buf,
            len4,
            outside_out,
            v4c,
            v4s,
            TTL - 1,
            tcp(pool_port, f.dst_port),
        ),
        (false, false) => frames::write(
            buf,
            len4,
            outside_in,
            v4s,
            v4c,
            TTL,
            tcp(f.dst_port, pool_port),
        ),
        (false, true) => frames::write(
            buf,
            len,
            inside_out,
            v6s,
            v6c,
            TTL - 1,
            tcp(f.dst_port, f.src_port),
        ),
    }
}
