//! The test frames: the scenario's flows flattened into a table once,
//! written into mbufs by patching one template per frame size (address,
//! ports, the tag, the checksum updated incrementally), and recognised
//! again on the way back, translated or not.

use pktgen_scenarios::{Scenario, Traffic, IMIX, SERVER4};
use plat_core::wire::checksum::WideSum;
use plat_core::wire::{ethernet, proto};

/// Offsets in an untagged Ethernet + IPv6 + UDP frame.
const V6_SRC: usize = ethernet::HEADER_LEN + 8;
const V6_DST: usize = ethernet::HEADER_LEN + 24;
const V6_UDP: usize = ethernet::HEADER_LEN + 40;
/// Ethernet + IPv6 + UDP headers.
const V6_HEADERS: usize = V6_UDP + 8;

/// The tag at the end of a tagged frame's payload (RFC 8219 7.2 "tagged
/// frames"): a magic word, the send time and a sequence number. The
/// payload survives translation unchanged, so its end is found from the IP
/// length on either side.
pub const TAG_LEN: usize = 16;
const TAG_MAGIC: [u8; 4] = *b"pl8b";

/// Smallest frame that carries a tag.
pub const MIN_TAGGED_FRAME: usize = V6_HEADERS + TAG_LEN;

/// One flow's fields, as they go on the wire.
#[derive(Clone, Copy, Debug)]
pub struct FlowKey {
    src: [u8; 16],
    ports: [u8; 4],
}

/// Every flow of a scenario, in its order.
pub struct FlowTable {
    keys: Vec<FlowKey>,
}

impl FlowTable {
    /// The first `limit` flows of `sc` (all when `None`).
    pub fn new(sc: &Scenario, limit: Option<u64>) -> FlowTable {
        let n = limit.map_or(sc.flows(), |l| l.min(sc.flows()));
        let mut buf = [0u8; 2048];
        let keys = (0..n)
            .map(|i| {
                sc.frame(i, &mut buf);
                FlowKey {
                    src: buf[V6_SRC..V6_DST].try_into().expect("16 bytes"),
                    ports: buf[V6_UDP..V6_UDP + 4].try_into().expect("4 bytes"),
                }
            })
            .collect();
        FlowTable { keys }
    }

    /// Flows in the table.
    pub fn len(&self) -> u64 {
        self.keys.len() as u64
    }
}

/// A frame size's template: the scenario's first frame, and the checksum
/// part of the fields each frame rewrites.
pub struct Template {
    bytes: Vec<u8>,
    patched: WideSum,
    server6: [u8; 16],
    server4: [u8; 4],
    tagged: bool,
    /// Where the L4 checksum is (UDP or TCP).
    checksum_at: usize,
    tcp: bool,
}

impl Template {
    /// `sc`'s frames at `frame_len` bytes, tagged when they have room.
    pub fn new(sc: &Scenario, frame_len: usize) -> Template {
        // One size: the scenario's UDP frame at that length (an IMIX
        // scenario's sizes are separate templates, see `Sizes`).
        let traffic = match sc.traffic {
            Traffic::Imix => Traffic::Udp,
            t => t,
        };
        let sized = Scenario {
            frame_len,
            traffic,
            ..sc.clone()
        };
        let mut buf = vec![0u8; frame_len.max(V6_HEADERS)];
        let len = sized.frame(0, &mut buf);
        buf.truncate(len);
        let tcp = buf[ethernet::HEADER_LEN + 6] == proto::TCP;
        // A TCP scenario's frames are SYNs: no payload, no tag.
        let tagged = !tcp && len >= MIN_TAGGED_FRAME;
        // The checksum part of every field `write` replaces: address,
        // ports and, tagged, the payload's last 16 bytes.
        let tail: [u8; TAG_LEN] = if tagged {
            buf[len - TAG_LEN..].try_into().expect("16")
        } else {
            [0; TAG_LEN]
        };
        let patched = WideSum::default()
            .add16(buf[V6_SRC..V6_DST].try_into().expect("16"))
            .add4(buf[V6_UDP..V6_UDP + 4].try_into().expect("4"))
            .add16(&tail);
        Template {
            server6: buf[V6_DST..V6_UDP].try_into().expect("16"),
            server4: SERVER4.octets(),
            tagged,
            checksum_at: V6_UDP + if tcp { 16 } else { 6 },
            tcp,
            bytes: buf,
            patched,
        }
    }

    /// Frame length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether frames carry the latency tag.
    pub fn tagged(&self) -> bool {
        self.tagged
    }

    /// Whether the frames are TCP SYNs (tcp-cps).
    pub fn tcp(&self) -> bool {
        self.tcp
    }

    /// The server's IPv6 address (RFC 6052-embedded), as bytes.
    pub fn server6(&self) -> &[u8; 16] {
        &self.server6
    }

    /// Writes flow `key`'s frame, tagged with `now_ns` and `seq`, into
    /// `out` (exactly `len()` bytes).
    #[inline]
    pub fn write(&self, key: &FlowKey, now_ns: u64, seq: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.bytes);
        out[V6_SRC..V6_DST].copy_from_slice(&key.src);
        out[V6_UDP..V6_UDP + 4].copy_from_slice(&key.ports);
        let mut new = WideSum::default().add16(&key.src).add4(key.ports);
        if self.tagged {
            let tag = tag(now_ns, seq);
            let at = out.len() - TAG_LEN;
            out[at..].copy_from_slice(&tag);
            new = new.add16(&tag);
        }
        let at = self.checksum_at;
        let sum = WideSum::update([self.bytes[at], self.bytes[at + 1]], self.patched, new);
        // RFC 768: a computed zero goes out as all ones (TCP sends zero).
        let sum = if sum == [0, 0] && !self.tcp {
            [0xff, 0xff]
        } else {
            sum
        };
        out[at..at + 2].copy_from_slice(&sum);
    }
}

fn tag(now_ns: u64, seq: u64) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    t[..4].copy_from_slice(&TAG_MAGIC);
    t[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    t[8..].copy_from_slice(&now_ns.to_be_bytes());
    t
}

/// The templates of a run and the order their sizes follow: one for a
/// fixed frame size, three in the IMIX cycle of the scenario (7:4:1).
pub struct Sizes {
    templates: Vec<Template>,
    /// Index into `templates` of frame `seq % pattern.len()`.
    pattern: Vec<u8>,
}

impl Sizes {
    /// `sc`'s sizes: `frame_len` for every frame when given, else the
    /// scenario's own (its IMIX cycle for `Traffic::Imix`).
    pub fn new(sc: &Scenario, frame_len: Option<usize>) -> Sizes {
        match (frame_len, sc.traffic) {
            (None, Traffic::Imix) => {
                let cycle: u64 = IMIX.iter().map(|&(_, w)| w).sum();
                let templates = IMIX
                    .iter()
                    .map(|&(len, _)| Template::new(sc, len))
                    .collect();
                let pattern = (0..cycle)
                    .map(|n| {
                        let len = sc.frame_len_of(n);
                        IMIX.iter().position(|&(l, _)| l == len).unwrap_or(0) as u8
                    })
                    .collect();
                Sizes { templates, pattern }
            }
            (len, _) => Sizes {
                templates: vec![Template::new(sc, len.unwrap_or(sc.frame_len))],
                pattern: vec![0],
            },
        }
    }

    /// The template of frame `seq`.
    #[inline]
    pub fn at(&self, seq: u64) -> &Template {
        let i = self.pattern[(seq % self.pattern.len() as u64) as usize];
        &self.templates[usize::from(i)]
    }

    /// The first template: recognising and answering frames needs only
    /// the addresses, which every size shares.
    pub fn first(&self) -> &Template {
        &self.templates[0]
    }

    /// Whether some frames carry the latency tag.
    pub fn tagged(&self) -> bool {
        self.templates.iter().any(Template::tagged)
    }

    /// `64 B` or `IMIX 64/590/1514 B (7:4:1)` for records and humans.
    pub fn describe(&self) -> String {
        if self.templates.len() == 1 {
            return format!("{} B", self.templates[0].len());
        }
        let lens: Vec<String> = self.templates.iter().map(|t| t.len().to_string()).collect();
        let weights: Vec<String> = IMIX.iter().map(|&(_, w)| w.to_string()).collect();
        format!("IMIX {} B ({})", lens.join("/"), weights.join(":"))
    }

    /// Mean frame length over the cycle.
    pub fn mean_len(&self) -> f64 {
        let total: usize = self
            .pattern
            .iter()
            .map(|&i| self.templates[usize::from(i)].len())
            .sum();
        total as f64 / self.pattern.len() as f64
    }
}

/// What came back from the appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// One of ours, with its send time when tagged.
    Test { sent_ns: Option<u64> },
    /// Anything else (ARP, NDP, ICMP errors): counted apart.
    Other,
}

/// Where a test frame's IP header and UDP payload end are, in a frame
/// from either side: IPv4 (translated) or IPv6 (forward-only runs and the
/// tester's own loop).
struct Located {
    l3: usize,
    v6: bool,
    l4: usize,
    end: usize,
}

fn locate(frame: &[u8]) -> Option<Located> {
    let l3 = ethernet::HEADER_LEN;
    match u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]) {
        ethernet::ethertype::IPV4 => {
            let ihl = usize::from(frame.get(l3)? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([
                *frame.get(l3 + 2)?,
                *frame.get(l3 + 3)?,
            ]));
            let end = l3 + total;
            (frame.get(l3 + 9) == Some(&proto::UDP) && ihl >= 20 && end <= frame.len()).then_some(
                Located {
                    l3,
                    v6: false,
                    l4: l3 + ihl,
                    end,
                },
            )
        }
        ethernet::ethertype::IPV6 => {
            let plen = usize::from(u16::from_be_bytes([
                *frame.get(l3 + 4)?,
                *frame.get(l3 + 5)?,
            ]));
            let end = l3 + 40 + plen;
            (frame.get(l3 + 6) == Some(&proto::UDP) && end <= frame.len()).then_some(Located {
                l3,
                v6: true,
                l4: l3 + 40,
                end,
            })
        }
        _ => None,
    }
}

impl Template {
    /// Whether `frame` is a test frame on its way to the server (arriving
    /// on the outside), and its tag.
    #[inline]
    pub fn outbound(&self, frame: &[u8]) -> Seen {
        match locate(frame) {
            Some(at) if self.to_server(frame, &at) => Seen::Test {
                sent_ns: read_tag(frame, &at),
            },
            _ => Seen::Other,
        }
    }

    /// Whether `frame` is a reply from the server (arriving on the inside),
    /// and its tag.
    #[inline]
    pub fn inbound(&self, frame: &[u8]) -> Seen {
        match locate(frame) {
            Some(at) if at.v6 && frame[at.l3 + 8..at.l3 + 24] == self.server6 => Seen::Test {
                sent_ns: read_tag(frame, &at),
            },
            _ => Seen::Other,
        }
    }

    fn to_server(&self, frame: &[u8], at: &Located) -> bool {
        if at.v6 {
            frame[at.l3 + 24..at.l3 + 40] == self.server6
        } else {
            frame[at.l3 + 16..at.l3 + 20] == self.server4
        }
    }

    /// Turns an outbound test frame into the server's answer in place, as
    /// RFC 9693's responder does: MACs, addresses and ports swapped (the
    /// checksums stay right: the sum is the same), the tag restamped with
    /// `now_ns` so the return trip is timed on its own.
    #[inline]
    pub fn answer(&self, frame: &mut [u8], now_ns: u64) {
        let Some(at) = locate(frame) else { return };
        for i in 0..6 {
            frame.swap(i, 6 + i);
        }
        let (src, len) = if at.v6 {
            (at.l3 + 8, 16)
        } else {
            (at.l3 + 12, 4)
        };
        for i in 0..len {
            frame.swap(src + i, src + len + i);
        }
        frame.swap(at.l4, at.l4 + 2);
        frame.swap(at.l4 + 1, at.l4 + 3);
        if read_tag(frame, &at).is_some() {
            let t = at.end - 8;
            let old: [u8; 8] = frame[t..at.end].try_into().expect("8");
            let new = now_ns.to_be_bytes();
            frame[t..at.end].copy_from_slice(&new);
            let c = at.l4 + 6;
            let sum = [frame[c], frame[c + 1]];
            // A zero UDP checksum over IPv4 means "none": leave it so.
            if sum != [0, 0] {
                let s = WideSum::update(
                    sum,
                    WideSum::default().add8(&old),
                    WideSum::default().add8(&new),
                );
                let s = if s == [0, 0] { [0xff, 0xff] } else { s };
                frame[c..c + 2].copy_from_slice(&s);
            }
        }
    }
}

fn read_tag(frame: &[u8], at: &Located) -> Option<u64> {
    if at.end < at.l4 + 8 + TAG_LEN {
        return None;
    }
    let t = &frame[at.end - TAG_LEN..at.end];
    (t[..4] == TAG_MAGIC).then(|| u64::from_be_bytes(t[8..].try_into().expect("8")))
}

impl FlowTable {
    /// Flow `i` (wrapping).
    #[inline]
    pub fn key(&self, i: u64) -> &FlowKey {
        &self.keys[(i % self.len()) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use pktgen_scenarios::scenario;

    fn udp_checksum_ok(frame: &[u8]) -> bool {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(TransportSlice::Udp(u)) = &p.transport else {
            return false;
        };
        let h = u.to_header();
        match &p.net {
            Some(NetSlice::Ipv6(ip)) => {
                h.checksum
                    == h.calc_checksum_ipv6(&ip.header().to_header(), u.payload())
                        .unwrap()
            }
            Some(NetSlice::Ipv4(ip)) => {
                h.checksum
                    == h.calc_checksum_ipv4(&ip.header().to_header(), u.payload())
                        .unwrap()
            }
            _ => false,
        }
    }

    #[test]
    fn written_frames_have_valid_checksums_tagged_or_not() {
        let sc = scenario("udp64-1k").unwrap();
        let flows = FlowTable::new(sc, None);
        for len in [64, 78, 128, 1518] {
            let t = Template::new(sc, len);
            assert_eq!(t.tagged(), len >= MIN_TAGGED_FRAME);
            let mut out = vec![0u8; t.len()];
            for i in [0u64, 1, 517, 999] {
                t.write(flows.key(i), 0x0123_4567_89ab_cdef ^ i, i, &mut out);
                assert!(udp_checksum_ok(&out), "len {len} flow {i}");
                let mut want = vec![0u8; 2048];
                let n = Scenario {
                    frame_len: len,
                    ..sc.clone()
                }
                .frame(i, &mut want);
                assert_eq!(out[..V6_HEADERS - 2], want[..V6_HEADERS - 2], "flow {i}");
                let _ = n;
            }
        }
    }

    #[test]
    fn the_answer_reaches_the_inside_check_with_a_fresh_valid_tag() {
        let sc = scenario("udp64-1k").unwrap();
        let flows = FlowTable::new(sc, None);
        let t = Template::new(sc, 128);
        let mut f = vec![0u8; t.len()];
        t.write(flows.key(5), 1000, 5, &mut f);
        assert_eq!(
            t.outbound(&f),
            Seen::Test {
                sent_ns: Some(1000)
            }
        );
        assert_eq!(t.inbound(&f), Seen::Other);
        t.answer(&mut f, 2500);
        assert!(udp_checksum_ok(&f));
        assert_eq!(
            t.inbound(&f),
            Seen::Test {
                sent_ns: Some(2500)
            }
        );
        assert_eq!(t.outbound(&f), Seen::Other);
    }

    #[test]
    fn imix_sizes_follow_the_scenario_cycle_7_4_1() {
        let sc = scenario("imix-bidir").unwrap();
        let sizes = Sizes::new(sc, None);
        let mut count = std::collections::HashMap::new();
        for seq in 0..1200 {
            let t = sizes.at(seq);
            assert_eq!(t.len(), sc.frame_len_of(seq), "frame {seq}");
            *count.entry(t.len()).or_insert(0) += 1;
        }
        assert_eq!((count[&64], count[&590], count[&1514]), (700, 400, 100));
        assert!(sizes.tagged(), "the 590 and 1514 B frames carry tags");
        assert_eq!(Sizes::new(sc, Some(128)).describe(), "128 B");
    }
}
