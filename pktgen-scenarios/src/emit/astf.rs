//! TRex ASTF (advanced stateful) profiles: TRex plays both the IPv6
//! clients and the IPv4 server, so it answers through the translator and
//! counts connections per second (RFC 9693) and bidirectional traffic.
//!
//! How TRex's two sides map onto a NAT64 test:
//! - Client side (TRex port 0, platd's inside): with `ipv6.enable`, TRex
//!   builds each client's IPv6 address from `ipv6.src_msb` (the upper 96
//!   bits) and the 32-bit value its client IPv4 generator yields, and the
//!   destination from `ipv6.dst_msb` and the server generator's IPv4
//!   address. With `dst_msb` the NAT64 prefix and the server generator
//!   SERVER4, the destination is exactly the RFC 6052 /96 embedding.
//! - Server side (TRex port 1, platd's outside): stays IPv4 (its own
//!   global info without `ipv6.enable`); it accepts whatever source the
//!   translator chose (a pool4 address and port) because it associates
//!   flows by destination port (`ASTFAssociationRule`), and its answers
//!   go back to that pool4 binding, which platd translates to the client.
//!
//! TRex limits found in its documentation and examples:
//! - Clients vary only in the low 32 bits, so they share one /96: each is
//!   a /128, not a /64 of its own. Run platd with
//!   `subscriber_prefix_len = 128` so the per-subscriber port cap counts
//!   per client as the scenario intends.
//! - TRex picks client source ports itself (not RFC 4814's pseudorandom
//!   ones), and a template has one destination port: the profile spreads
//!   RFC 4814 destination ports over a few templates instead.
//! - ASTF carries UDP and TCP only; no ICMP, so `icmp-mix` has no ASTF
//!   profile.

use std::fmt::Write;

use crate::emit::{banner, commented};
use crate::{Scenario, Traffic, IMIX, LAB_PREFIX, SERVER4, SUBSCRIBER_BASE, TCP_DATA_LEN};

/// Destination ports (templates) a profile spreads its flows over.
const TEMPLATES: u64 = 4;

/// Headers in front of a UDP payload in an IPv6 frame.
const UDP6_HEADERS: usize = 14 + 40 + 8;

/// The scenario as a TRex ASTF profile, or `None` where ASTF cannot run it
/// (ICMP).
pub fn profile(sc: &Scenario) -> Option<String> {
    if sc.traffic == Traffic::IcmpMix {
        return None;
    }
    let mut s = commented("#", &banner(sc, "astf"));
    s.push_str(&commented(
        "#",
        "Client side IPv6 (src_msb + the client generator's 32 bits), server side\n\
         IPv4 behind the NAT64; see pktgen-scenarios/src/emit/astf.rs for the\n\
         mapping and TRex's limits (clients are /128s: subscriber_prefix_len = 128).\n\
         cps values are relative: scale them with TRex's -m.",
    ));
    let src_msb = {
        let mut o = SUBSCRIBER_BASE.octets();
        o[12..].fill(0);
        std::net::Ipv6Addr::from(o)
    };
    let clients = sc.subscribers;
    let last = std::net::Ipv4Addr::from(clients);
    let _ = write!(
        s,
        r#"try:
    from trex.astf.api import *
except ImportError:
    from trex_astf_lib.api import *


class Prof(object):
    def get_profile(self, **kwargs):
        ip_gen_c = ASTFIPGenDist(ip_range=["0.0.0.1", "{last}"], distribution="seq")
        ip_gen_s = ASTFIPGenDist(ip_range=["{SERVER4}", "{SERVER4}"], distribution="seq")
        ip_gen = ASTFIPGen(glob=ASTFIPGenGlobal(ip_offset="0.0.0.0"),
                           dist_client=ip_gen_c, dist_server=ip_gen_s)
        c_glob = ASTFGlobalInfo()
        c_glob.ipv6.src_msb = "{src_msb}"
        c_glob.ipv6.dst_msb = "{LAB_PREFIX}"
        c_glob.ipv6.enable = 1
        s_glob = ASTFGlobalInfo()  # the server side stays IPv4
        templates = []
"#
    );
    // Each template's flows: the scenario's, split over the templates.
    let per = sc.flows().div_ceil(TEMPLATES);
    let kinds: Vec<(usize, u64)> = match sc.traffic {
        Traffic::Imix => IMIX.to_vec(),
        _ => vec![(sc.frame_len, 1)],
    };
    let total_w: u64 = kinds.iter().map(|k| k.1).sum();
    for t in 0..TEMPLATES {
        let dport = sc.flow(t).dst_port;
        for &(len, w) in &kinds {
            let limit = (per * w / total_w).max(1);
            match sc.traffic {
                Traffic::Tcp => {
                    let _ = write!(
                        s,
                        r#"        # RFC 9293: handshake, {d} bytes each way, FIN each way (TRex closes
        # when the client program ends).
        prog_c = ASTFProgram(stream=True)
        prog_c.send(b"q" * {d})
        prog_c.recv({d})
        prog_s = ASTFProgram(stream=True)
        prog_s.recv({d})
        prog_s.send(b"r" * {d})
"#,
                        d = TCP_DATA_LEN
                    );
                }
                _ => {
                    let payload = len.saturating_sub(UDP6_HEADERS);
                    let _ = write!(
                        s,
                        "        # {len}-byte IPv6 frames: {payload} bytes of UDP payload.\n\
                         \x20       prog_c = ASTFProgram(stream=False)\n\
                         \x20       prog_c.send_msg(b\"q\" * {payload})\n\
                         \x20       prog_s = ASTFProgram(stream=False)\n\
                         \x20       prog_s.recv_msg(1)\n"
                    );
                    if sc.bidirectional {
                        let _ = write!(
                            s,
                            "        prog_c.recv_msg(1)\n\
                             \x20       prog_s.send_msg(b\"r\" * {payload})\n"
                        );
                    }
                }
            }
            let _ = write!(
                s,
                r#"        templates.append(ASTFTemplate(
            client_template=ASTFTCPClientTemplate(program=prog_c, ip_gen=ip_gen, port={dport},
                                                  cps={w}, limit={limit}),
            server_template=ASTFTCPServerTemplate(program=prog_s,
                                                  assoc=ASTFAssociationRule(port={dport}))))
"#
            );
        }
    }
    s.push_str(
        r#"        return ASTFProfile(default_ip_gen=ip_gen, templates=templates,
                           default_c_glob_info=c_glob, default_s_glob_info=s_glob)


def register():
    return Prof()
"#,
    );
    Some(s)
}
