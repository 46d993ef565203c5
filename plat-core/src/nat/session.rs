//! Slab records: one cache line per session, half a line per BIB entry.

use super::table::{hash2, hash3};
use super::Proto;

pub(crate) const NIL: u32 = u32::MAX;

/// Session flags.
pub(crate) const F_IN_V6: u8 = 0x01; // indexed by its IPv6-side key
pub(crate) const F_HELD: u8 = 0x02; // an IPv4 SYN held (RFC 6146 3.5.2.2)
pub(crate) const F_HAIRPIN: u8 = 0x04; // destination is a pool4 address
pub(crate) const FREE: u8 = 0xff; // `proto` of an unused slot

/// One session table entry (RFC 6146 section 3.3): the IPv6 side
/// (X',x) -> (Y',y) and the IPv4 side (T,t) -> (Z,z). Y' is Z embedded in
/// the prefix, so only Z is stored.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Session {
    pub src6: [u8; 16], // X'
    pub dst4: u32,      // Z
    pub addr4: u32,     // T
    pub sport: u16,     // x
    pub dport: u16,     // z (ICMP: 0; the identifiers are x and t)
    pub port4: u16,     // t
    pub proto: u8,
    pub state: u8,
    pub class: u8,
    pub flags: u8,
    pub bib: u32,
    pub t_prev: u32,
    pub t_next: u32,
    pub b_prev: u32,
    pub b_next: u32,
    /// Last refresh, in the caller's seconds.
    pub stamp: u32,
}

impl Session {
    pub(crate) const EMPTY: Session = Session {
        src6: [0; 16],
        dst4: 0,
        addr4: 0,
        sport: 0,
        dport: 0,
        port4: 0,
        proto: FREE,
        state: 0,
        class: 0,
        flags: 0,
        bib: NIL,
        t_prev: NIL,
        t_next: NIL,
        b_prev: NIL,
        b_next: NIL,
        stamp: 0,
    };

    #[inline(always)]
    pub(crate) fn is_live(&self) -> bool {
        self.proto != FREE
    }
}

/// One BIB entry (RFC 6146 section 3.1): (X',x) <-> (T,t).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Bib {
    pub src6: [u8; 16],
    pub addr4: u32,
    pub sport: u16,
    pub port4: u16,
    pub proto: u8,
    pub is_static: bool,
    pub pool: u16,
    /// First session of this entry, or (free slot) the next free slot.
    pub head: u32,
}

impl Bib {
    pub(crate) const EMPTY: Bib = Bib {
        src6: [0; 16],
        addr4: 0,
        sport: 0,
        port4: 0,
        proto: FREE,
        is_static: false,
        pool: 0,
        head: NIL,
    };
}

const _: () = assert!(core::mem::size_of::<Session>() == 64);
const _: () = assert!(core::mem::size_of::<Bib>() == 32);

#[inline(always)]
fn halves(a: &[u8; 16]) -> (u64, u64) {
    let v = u128::from_le_bytes(*a);
    (v as u64, (v >> 64) as u64)
}

/// Hash of the IPv6-side session key (proto, X', x, Z, z).
#[inline(always)]
pub(crate) fn h_sess6(
    seed: u64,
    proto: Proto,
    src6: &[u8; 16],
    sport: u16,
    dst4: u32,
    dport: u16,
) -> u32 {
    let (a, b) = halves(src6);
    let c = (u64::from(dst4) << 32) | (u64::from(sport) << 16) | u64::from(dport);
    hash3(seed, a, b, c ^ ((proto as u64) << 61))
}

/// Hash of the IPv4-side session key (proto, Z, z, T, t).
#[inline(always)]
pub(crate) fn h_sess4(
    seed: u64,
    proto: Proto,
    remote: u32,
    rport: u16,
    local: u32,
    lport: u16,
) -> u32 {
    let a = (u64::from(remote) << 32) | u64::from(local);
    let b = (u64::from(rport) << 32) | (u64::from(lport) << 8) | proto as u64;
    hash2(seed ^ 0x55, a, b)
}

/// Hash of the IPv6-side BIB key (proto, X', x).
#[inline(always)]
pub(crate) fn h_bib6(seed: u64, proto: Proto, src6: &[u8; 16], sport: u16) -> u32 {
    let (a, b) = halves(src6);
    hash3(seed ^ 0xaa, a, b, (u64::from(sport) << 8) | proto as u64)
}

/// Hash of the IPv4-side BIB key (proto, T, t).
#[inline(always)]
pub(crate) fn h_bib4(seed: u64, proto: Proto, addr4: u32, port4: u16) -> u32 {
    hash2(
        seed ^ 0x5a5a,
        u64::from(addr4),
        (u64::from(port4) << 8) | proto as u64,
    )
}

impl Session {
    #[inline(always)]
    pub(crate) fn proto(&self) -> Proto {
        // Only called on live slots, whose proto byte is a Proto.
        match self.proto {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }
    /// z, the remote port; for ICMP query the identifier (T's side).
    #[inline(always)]
    pub(crate) fn remote_port(&self) -> u16 {
        if self.proto == Proto::Icmp as u8 {
            self.port4
        } else {
            self.dport
        }
    }
    #[inline(always)]
    pub(crate) fn h6(&self, seed: u64) -> u32 {
        h_sess6(
            seed,
            self.proto(),
            &self.src6,
            self.sport,
            self.dst4,
            self.dport,
        )
    }
    #[inline(always)]
    pub(crate) fn h4(&self, seed: u64) -> u32 {
        h_sess4(
            seed,
            self.proto(),
            self.dst4,
            self.dport,
            self.addr4,
            self.port4,
        )
    }
}

impl Bib {
    #[inline(always)]
    pub(crate) fn proto(&self) -> Proto {
        match self.proto {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }
    #[inline(always)]
    pub(crate) fn h6(&self, seed: u64) -> u32 {
        h_bib6(seed, self.proto(), &self.src6, self.sport)
    }
    #[inline(always)]
    pub(crate) fn h4(&self, seed: u64) -> u32 {
        h_bib4(seed, self.proto(), self.addr4, self.port4)
    }
}
