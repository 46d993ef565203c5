//! Hairpinning (RFC 6146 3.8): a packet from the IPv6 side to a pool4
//! address goes back in as if it had arrived on the IPv4 side.

use super::shard::Shard;
use super::{Endpoint4, NatDrop, Outcome, Proto, TcpFlags, Time, Tuple4};

impl Shard {
    /// RFC 6146 3.8: "If the destination IPv6 address is an IPv4-embedded
    /// address whose IPv4 part belongs to the pool4, the packet is
    /// hairpinned": processed as if it had left as IPv4 and come back in.
    pub(super) fn hairpin(
        &mut self,
        proto: Proto,
        src: Endpoint4,
        dst: Endpoint4,
        flags: TcpFlags,
        now: Time,
        prefix: u8,
    ) -> Result<Outcome, NatDrop> {
        self.stats.hairpins += 1;
        if !self.pool.owns(proto, dst.addr, dst.port) {
            return Ok(Outcome::HairpinHandoff { src, dst });
        }
        let t4 = Tuple4 {
            proto,
            src: src.addr,
            sport: src.port,
            dst: dst.addr,
            dport: dst.port,
        };
        let h = self.hash4(&t4);
        let v = self.v4_inner(h, &t4, flags, now)?;
        // The other subscriber sees the sender under the prefix the
        // sender used (RFC 8683 4.5).
        self.sessions[v.session.0 as usize].prefix = prefix;
        Ok(v.outcome)
    }
}
