//! The ICMP type, code and pointer mappings of RFC 7915 4.2 and 5.2, as
//! data: one table per mapping.

use crate::wire::icmpv4::msg_type as t4;
use crate::wire::icmpv6::msg_type as t6;

/// What to do with one ICMP type/code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Silently drop.
    Drop,
    /// Rewrite type and code; the four bytes after the checksum are kept
    /// for queries (identifier, sequence) and zeroed for errors.
    To(u8, u8),
    /// Packet Too Big <-> Fragmentation Needed: rewrite and adjust the MTU.
    Mtu(u8, u8),
    /// Parameter Problem: rewrite and map the pointer through the table.
    Pointer(u8, u8),
    /// ICMPv4 Protocol Unreachable -> ICMPv6 Parameter Problem,
    /// unrecognized Next Header, pointing at the Next Header field.
    NextHeaderProblem,
}

use Action::{Drop, Mtu, Pointer, To};

/// RFC 7915 4.2, ICMPv4 Destination Unreachable codes 0..=15 to ICMPv6.
pub const DEST_UNREACH_V4_TO_V6: [Action; 16] = [
    // "Code 0, 1 (Net Unreachable, Host Unreachable): Set the Code to 0
    // (No route to destination)."
    To(1, 0),
    To(1, 0),
    // "Code 2 (Protocol Unreachable): Translate to an ICMPv6 Parameter
    // Problem (Type 4, Code 1) and make the Pointer point to the IPv6
    // Next Header field (which is 6)."
    Action::NextHeaderProblem,
    // "Code 3 (Port Unreachable): Set the Code to 4 (Port unreachable)."
    To(1, 4),
    // "Code 4 (Fragmentation Needed and DF was Set): Translate to an
    // ICMPv6 Packet Too Big message (Type 2) with Code set to 0."
    Mtu(2, 0),
    // "Code 5 (Source Route Failed): Set the Code to 0 (No route to
    // destination)."
    To(1, 0),
    // "Code 6, 7, 8: Set the Code to 0 (No route to destination)."
    To(1, 0),
    To(1, 0),
    To(1, 0),
    // "Code 9, 10 (Communication with Destination Host Administratively
    // Prohibited): Set the Code to 1 (Communication with destination
    // administratively prohibited)."
    To(1, 1),
    To(1, 1),
    // "Code 11, 12: Set the Code to 0 (No route to destination)."
    To(1, 0),
    To(1, 0),
    // "Code 13 (Communication Administratively Prohibited): Set the Code
    // to 1 (Communication with destination administratively prohibited)."
    To(1, 1),
    // "Code 14 (Host Precedence Violation): Silently drop."
    Drop,
    // "Code 15 (Precedence cutoff in effect): Set the Code to 1
    // (Communication with destination administratively prohibited)."
    To(1, 1),
];

/// RFC 7915 4.2, ICMPv4 Parameter Problem codes 0..=2.
pub const PARAM_PROBLEM_V4_TO_V6: [Action; 3] = [
    // "Code 0 (Pointer indicates the error): Set the Code to 0 (Erroneous
    // header field encountered) and update the pointer as defined in
    // Figure 3."
    Pointer(4, 0),
    // "Code 1 (Missing a required option): Silently drop."
    Drop,
    // "Code 2 (Bad length): Set the Code to 0 (Erroneous header field
    // encountered) and update the pointer as defined in Figure 3."
    Pointer(4, 0),
];

/// RFC 7915 4.2 for an ICMPv4 type and code.
pub fn v4_to_v6(msg_type: u8, code: u8) -> Action {
    match msg_type {
        // "Echo and Echo Reply (Type 8 and Type 0): Adjust the Type values
        // to 128 and 129, respectively".
        t4::ECHO_REQUEST => To(t6::ECHO_REQUEST, code),
        t4::ECHO_REPLY => To(t6::ECHO_REPLY, code),
        t4::DEST_UNREACHABLE => *DEST_UNREACH_V4_TO_V6.get(code as usize).unwrap_or(&Drop),
        // "Time Exceeded (Type 11): Set the Type to 3, and adjust the ICMP
        // checksum ... The Code is unchanged."
        t4::TIME_EXCEEDED => To(t6::TIME_EXCEEDED, code),
        t4::PARAMETER_PROBLEM => *PARAM_PROBLEM_V4_TO_V6.get(code as usize).unwrap_or(&Drop),
        // "Information Request/Reply (Type 15 and Type 16): Obsoleted in
        // ICMPv6. Silently drop." Likewise Timestamp, Address Mask, Router
        // Advertisement/Solicitation, Redirect, Alternative Host Address,
        // Source Quench, and "Unknown ICMPv4 types: Silently drop."
        _ => Drop,
    }
}

/// RFC 7915 5.2, ICMPv6 Destination Unreachable codes 0..=4 to ICMPv4.
pub const DEST_UNREACH_V6_TO_V4: [Action; 5] = [
    // "Code 0 (No route to destination): Set the Code to 1 (Host
    // unreachable)."
    To(3, 1),
    // "Code 1 (Communication with destination administratively
    // prohibited): Set the Code to 10 (Communication with destination
    // host administratively prohibited)."
    To(3, 10),
    // "Code 2 (Beyond scope of source address): Set the Code to 1 (Host
    // unreachable)."
    To(3, 1),
    // "Code 3 (Address unreachable): Set the Code to 1 (Host
    // unreachable)."
    To(3, 1),
    // "Code 4 (Port unreachable): Set the Code to 3 (Port unreachable)."
    To(3, 3),
];

/// RFC 7915 5.2, ICMPv6 Parameter Problem codes 0..=1 (others dropped:
/// "Code 2 (Unrecognized IPv6 option encountered): Silently drop.").
pub const PARAM_PROBLEM_V6_TO_V4: [Action; 2] = [
    // "Code 0 (Erroneous header field encountered): Set to Type 12, Code
    // 0, and update the pointer as defined in Figure 6".
    Pointer(12, 0),
    // "Code 1 (Unrecognized Next Header type encountered): Translate this
    // to an ICMPv4 protocol unreachable (Type 3, Code 2)."
    To(3, 2),
];

/// RFC 7915 5.2 for an ICMPv6 type and code.
pub fn v6_to_v4(msg_type: u8, code: u8) -> Action {
    match msg_type {
        // "Echo Request and Echo Reply (Type 128 and 129): Adjust the Type
        // values to 8 and 0, respectively".
        t6::ECHO_REQUEST => To(t4::ECHO_REQUEST, code),
        t6::ECHO_REPLY => To(t4::ECHO_REPLY, code),
        t6::DEST_UNREACHABLE => *DEST_UNREACH_V6_TO_V4.get(code as usize).unwrap_or(&Drop),
        // "Packet Too Big (Type 2): Translate to an ICMPv4 Destination
        // Unreachable (Type 3) with Code 4, and adjust the ICMPv4 checksum
        // both to take the type change into account and to exclude the
        // ICMPv6 pseudo-header."
        t6::PACKET_TOO_BIG => Mtu(t4::DEST_UNREACHABLE, 4),
        // "Time Exceeded (Type 3): Set the Type to 11, and adjust the
        // ICMPv4 checksum ... The Code is unchanged."
        t6::TIME_EXCEEDED => To(t4::TIME_EXCEEDED, code),
        t6::PARAMETER_PROBLEM => *PARAM_PROBLEM_V6_TO_V4.get(code as usize).unwrap_or(&Drop),
        // "MLD Multicast Listener Query/Report/Done (Type 130, 131, 132):
        // Single-hop message. Silently drop." "Neighbor Discover messages
        // (Type 133 through 137): Single-hop message. Silently drop."
        // "Unknown informational messages: Silently drop." "Unknown error
        // messages: Silently drop."
        _ => Drop,
    }
}

/// RFC 7915 4.2 Figure 3: the IPv4 Parameter Problem pointer (index) to
/// the IPv6 one; `None` is "n/a", which drops the message.
pub const POINTER_V4_TO_V6: [Option<u8>; 20] = [
    Some(0),  // Version/IHL -> Version/Traffic Class
    Some(1),  // Type Of Service -> Traffic Class/Flow Label
    Some(4),  // Total Length -> Payload Length
    Some(4),  // Total Length -> Payload Length
    None,     // Identification
    None,     // Identification
    None,     // Flags/Fragment Offset
    None,     // Fragment Offset
    Some(7),  // Time to Live -> Hop Limit
    Some(6),  // Protocol -> Next Header
    None,     // Header Checksum
    None,     // Header Checksum
    Some(8),  // Source Address
    Some(8),  // Source Address
    Some(8),  // Source Address
    Some(8),  // Source Address
    Some(24), // Destination Address
    Some(24), // Destination Address
    Some(24), // Destination Address
    Some(24), // Destination Address
];

/// RFC 7915 5.2 Figure 6: the IPv6 Parameter Problem pointer (index) to
/// the IPv4 one; `None` is "n/a".
pub const POINTER_V6_TO_V4: [Option<u8>; 40] = {
    let mut t = [None; 40];
    t[0] = Some(0); // Version/Traffic Class -> Version/IHL, Type Of Service
    t[1] = Some(1); // Traffic Class/Flow Label -> Type Of Service
                    // 2, 3: Flow Label -> n/a
    t[4] = Some(2); // Payload Length -> Total Length
    t[5] = Some(2);
    t[6] = Some(9); // Next Header -> Protocol
    t[7] = Some(8); // Hop Limit -> Time to Live
    let mut i = 8;
    while i < 24 {
        t[i] = Some(12); // Source Address
        i += 1;
    }
    while i < 40 {
        t[i] = Some(16); // Destination Address
        i += 1;
    }
    t
};

/// Figure 3 lookup.
pub fn pointer_v4_to_v6(p: u8) -> Option<u8> {
    POINTER_V4_TO_V6.get(p as usize).copied().flatten()
}

/// Figure 6 lookup (the IPv6 pointer is 32 bits).
pub fn pointer_v6_to_v4(p: u32) -> Option<u8> {
    POINTER_V6_TO_V4.get(p as usize).copied().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7915_4_2_every_dest_unreachable_code() {
        let want = [
            (0, To(1, 0)),
            (1, To(1, 0)),
            (2, Action::NextHeaderProblem),
            (3, To(1, 4)),
            (4, Mtu(2, 0)),
            (5, To(1, 0)),
            (6, To(1, 0)),
            (7, To(1, 0)),
            (8, To(1, 0)),
            (9, To(1, 1)),
            (10, To(1, 1)),
            (11, To(1, 0)),
            (12, To(1, 0)),
            (13, To(1, 1)),
            (14, Drop),
            (15, To(1, 1)),
            (16, Drop),
        ];
        for (code, action) in want {
            assert_eq!(v4_to_v6(3, code), action, "code {code}");
        }
    }

    #[test]
    fn rfc7915_4_2_queries_and_obsolete_types() {
        assert_eq!(v4_to_v6(8, 0), To(128, 0));
        assert_eq!(v4_to_v6(0, 0), To(129, 0));
        assert_eq!(v4_to_v6(11, 1), To(3, 1));
        assert_eq!(v4_to_v6(12, 0), Pointer(4, 0));
        assert_eq!(v4_to_v6(12, 1), Drop);
        assert_eq!(v4_to_v6(12, 2), Pointer(4, 0));
        for t in [4, 5, 6, 9, 10, 13, 14, 15, 16, 17, 18, 42, 255] {
            assert_eq!(v4_to_v6(t, 0), Drop, "type {t}");
        }
    }

    #[test]
    fn rfc7915_5_2_every_type_and_code() {
        assert_eq!(v6_to_v4(128, 0), To(8, 0));
        assert_eq!(v6_to_v4(129, 0), To(0, 0));
        let du = [
            (0, To(3, 1)),
            (1, To(3, 10)),
            (2, To(3, 1)),
            (3, To(3, 1)),
            (4, To(3, 3)),
            (5, Drop),
            (6, Drop),
        ];
        for (code, a) in du {
            assert_eq!(v6_to_v4(1, code), a, "code {code}");
        }
        assert_eq!(v6_to_v4(2, 0), Mtu(3, 4));
        assert_eq!(v6_to_v4(3, 0), To(11, 0));
        assert_eq!(v6_to_v4(3, 1), To(11, 1));
        assert_eq!(v6_to_v4(4, 0), Pointer(12, 0));
        assert_eq!(v6_to_v4(4, 1), To(3, 2));
        assert_eq!(v6_to_v4(4, 2), Drop);
        for t in [130, 131, 132, 133, 134, 135, 136, 137, 143, 200, 5, 100] {
            assert_eq!(v6_to_v4(t, 0), Drop, "type {t}");
        }
    }

    #[test]
    fn rfc7915_4_2_figure_3_pointer_table() {
        let want: [(u8, Option<u8>); 11] = [
            (0, Some(0)),
            (1, Some(1)),
            (2, Some(4)),
            (3, Some(4)),
            (4, None),
            (7, None),
            (8, Some(7)),
            (9, Some(6)),
            (10, None),
            (12, Some(8)),
            (19, Some(24)),
        ];
        for (p, q) in want {
            assert_eq!(pointer_v4_to_v6(p), q, "pointer {p}");
        }
        assert_eq!(pointer_v4_to_v6(20), None);
    }

    #[test]
    fn rfc7915_5_2_figure_6_pointer_table() {
        let want: [(u32, Option<u8>); 12] = [
            (0, Some(0)),
            (1, Some(1)),
            (2, None),
            (3, None),
            (4, Some(2)),
            (5, Some(2)),
            (6, Some(9)),
            (7, Some(8)),
            (8, Some(12)),
            (23, Some(12)),
            (24, Some(16)),
            (39, Some(16)),
        ];
        for (p, q) in want {
            assert_eq!(pointer_v6_to_v4(p), q, "pointer {p}");
        }
        assert_eq!(pointer_v6_to_v4(40), None);
        assert_eq!(pointer_v6_to_v4(u32::MAX), None);
    }
}
