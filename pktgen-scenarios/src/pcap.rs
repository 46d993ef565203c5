//! The classic libpcap file format (what `net_pcap`'s `rx_pcap` reads):
//! a 24-byte global header, then a 16-byte record header per frame.

use std::io::{self, Write};

/// Microsecond-resolution pcap magic.
const MAGIC: u32 = 0xa1b2_c3d4;
/// Nanosecond-resolution pcap magic (what DPDK's `tx_pcap` writes).
const MAGIC_NANO: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame recorded whole.
const SNAPLEN: u32 = 65_535;

/// Writes Ethernet frames as a pcap stream.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: io::BufWriter<W>,
    frames: u32,
}

impl<W: Write> Writer<W> {
    /// Starts a pcap stream (writes the global header).
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = io::BufWriter::with_capacity(1 << 20, out);
        out.write_all(&MAGIC.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&SNAPLEN.to_le_bytes())?;
        out.write_all(&LINKTYPE_ETHERNET.to_le_bytes())?;
        Ok(Writer { out, frames: 0 })
    }

    /// Appends one frame; timestamps count up one microsecond a frame.
    pub fn packet(&mut self, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "frame longer than the snap length",
                )
            })?;
        let (secs, usecs) = (self.frames / 1_000_000, self.frames % 1_000_000);
        self.out.write_all(&secs.to_le_bytes())?;
        self.out.write_all(&usecs.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes the stream.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a little-endian pcap (microsecond or nanosecond timestamps: the
/// ones [`Writer`] and DPDK's `tx_pcap` write) back into frames.
pub fn read_frames(bytes: &[u8]) -> io::Result<Vec<Vec<u8>>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    if bytes.len() < 24 || !matches!(magic, Some(MAGIC | MAGIC_NANO)) {
        return Err(bad("not a little-endian pcap"));
    }
    let mut at = 24;
    let mut out = Vec::new();
    while at < bytes.len() {
        let hdr = bytes
            .get(at..at + 16)
            .ok_or_else(|| bad("truncated record header"))?;
        let incl = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) as usize;
        let frame = bytes
            .get(at + 16..at + 16 + incl)
            .ok_or_else(|| bad("truncated frame"))?;
        out.push(frame.to_vec());
        at += 16 + incl;
    }
    Ok(out)
}
