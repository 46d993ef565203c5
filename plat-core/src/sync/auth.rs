//! Authentication of sync messages: every message ends in a trailer of
//! the sending node's epoch (u64, big endian) and an HMAC-SHA-256
//! (RFC 2104 with FIPS 180-4's SHA-256) over everything before the MAC:
//! header, body and epoch. The key is shared by the two nodes (`[ha]
//! key`); the MAC is checked in constant time (`verify_slice`) before the
//! message is interpreted, so a forged one changes nothing.
//!
//! The epoch tells one life of a sender from the next (the caller passes a
//! value that grows across restarts and every new [`super::Sender`],
//! [`super::Receiver`] or [`super::Node`]: the wall clock in ms when it is
//! made): a message from an earlier life is refused, one from a later life
//! starts the peer's stream over. Within a life, data messages are refused by
//! their stream sequence (a [`super::Receiver`]) and control messages by a
//! [`ReplayWindow`].

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use super::{decode_message, read_header, Header, Record, SyncError, HEADER_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the epoch in the trailer.
pub const EPOCH_LEN: usize = 8;
/// Bytes of the MAC: the whole HMAC-SHA-256 output, untruncated.
pub const TAG_LEN: usize = 32;
/// Bytes a message grows by when sealed.
pub const TRAILER_LEN: usize = EPOCH_LEN + TAG_LEN;
/// The shortest key accepted: 128 bits.
pub const MIN_KEY_LEN: usize = 16;

/// A sync key, ready to MAC (the HMAC state keyed once, cloned per
/// message). Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct Key(HmacSha256);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Why bytes are not a key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the key has {0} bytes, fewer than {MIN_KEY_LEN}")]
    Short(usize),
}

impl Key {
    /// A key of at least [`MIN_KEY_LEN`] bytes.
    pub fn new(bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::Short(bytes.len()));
        }
        // HMAC takes a key of any length (RFC 2104 2: longer ones are
        // hashed first), so this cannot fail.
        let mac = HmacSha256::new_from_slice(bytes).expect("HMAC accepts any key length");
        Ok(Key(mac))
    }

    fn mac(&self, signed: &[u8]) -> HmacSha256 {
        let mut m = self.0.clone();
        m.update(signed);
        m
    }

    /// Appends the trailer to `msg` (a header and body): `epoch`, then the
    /// MAC over all of it.
    pub fn seal(&self, epoch: u64, msg: &mut Vec<u8>) {
        msg.extend_from_slice(&epoch.to_be_bytes());
        let tag = self.mac(msg).finalize().into_bytes();
        msg.extend_from_slice(&tag);
    }

    /// Checks a received message: long enough, our magic and version, a
    /// known kind, then the MAC. Only what passes is looked at further.
    pub fn open<'a>(&self, buf: &'a [u8]) -> Result<Opened<'a>, SyncError> {
        let header = read_header(buf)?;
        if buf.len() < HEADER_LEN + TRAILER_LEN {
            return Err(SyncError::Truncated);
        }
        let (signed, tag) = buf.split_at(buf.len() - TAG_LEN);
        self.mac(signed)
            .verify_slice(tag)
            .map_err(|_| SyncError::Mac)?;
        let (msg, e) = signed.split_at(signed.len() - EPOCH_LEN);
        let mut epoch = [0u8; EPOCH_LEN];
        epoch.copy_from_slice(e);
        Ok(Opened {
            header,
            epoch: u64::from_be_bytes(epoch),
            msg,
        })
    }
}

/// A message whose MAC verified: its header, the sender's epoch, and the
/// header and body without the trailer.
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    pub header: Header,
    pub epoch: u64,
    msg: &'a [u8],
}

impl<'a> Opened<'a> {
    /// The body after the header.
    pub fn body(&self) -> &'a [u8] {
        &self.msg[HEADER_LEN..]
    }

    /// The records of a data message (none for a control message).
    pub fn records(&self) -> Result<Vec<Record>, SyncError> {
        decode_message(self.msg).map(|(_, r)| r)
    }
}

/// Bits of history a [`ReplayWindow`] keeps below the newest counter.
pub const REPLAY_WINDOW: u64 = 64;

/// Which (epoch, counter) pairs a peer's control messages have used, the
/// anti-replay window of RFC 4303 3.4.3: "a 'sliding' receive window ...
/// duplicates are rejected" and so are counters below the window. A
/// message reordered within the window is still taken once; a later epoch
/// starts afresh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    epoch: u64,
    top: u64,
    /// Bit `i`: counter `top - i` was taken.
    seen: u64,
}

impl ReplayWindow {
    /// Whether (`epoch`, `seq`) is new, without taking it (check first,
    /// take once everything else about the message is checked, so that a
    /// refused message leaves the window as it was).
    pub fn check(&self, epoch: u64, seq: u64) -> Result<(), SyncError> {
        if epoch < self.epoch {
            return Err(SyncError::StaleEpoch {
                epoch,
                current: self.epoch,
            });
        }
        if seq == 0 {
            return Err(SyncError::Field("control counter 0"));
        }
        if epoch > self.epoch || seq > self.top {
            return Ok(());
        }
        let back = self.top - seq;
        if back >= REPLAY_WINDOW || self.seen & (1 << back) != 0 {
            return Err(SyncError::Replay {
                seq,
                last: self.top,
            });
        }
        Ok(())
    }

    /// Takes a pair [`check`](Self::check) passed.
    pub fn take(&mut self, epoch: u64, seq: u64) {
        if epoch > self.epoch {
            *self = ReplayWindow {
                epoch,
                top: seq,
                seen: 1,
            };
        } else if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= REPLAY_WINDOW {
                1
            } else {
                self.seen << shift | 1
            };
            self.top = seq;
        } else {
            self.seen |= 1 << (self.top - seq);
        }
    }

    /// The epoch of the newest message taken (0: none yet).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_message, write_header, Kind};
    use super::*;

    fn key() -> Key {
        Key::new(b"0123456789abcdef").unwrap()
    }

    fn sealed() -> Vec<u8> {
        let mut m = Vec::new();
        write_header(Kind::Events, 2, 0, 9, &mut m);
        key().seal(77, &mut m);
        m
    }

    #[test]
    fn a_key_shorter_than_16_bytes_is_refused() {
        assert_eq!(Key::new(&[7; 15]).unwrap_err(), KeyError::Short(15));
        assert!(Key::new(&[7; 16]).is_ok());
        assert_eq!(format!("{:?}", key()), "Key(..)");
    }

    #[test]
    fn a_sealed_message_opens_with_its_epoch_and_header() {
        let m = sealed();
        assert_eq!(m.len(), HEADER_LEN + TRAILER_LEN);
        let o = key().open(&m).unwrap();
        assert_eq!(o.epoch, 77);
        assert_eq!(
            (o.header.kind, o.header.worker, o.header.seq),
            (Kind::Events, 2, 9)
        );
        assert!(o.body().is_empty());
        assert_eq!(o.records().unwrap(), vec![]);
    }

    #[test]
    fn any_flipped_bit_fails_the_mac() {
        let m = sealed();
        // Header bytes past magic, version and kind; the epoch; the MAC.
        for i in 4..m.len() {
            let mut f = m.clone();
            f[i] ^= 0x10;
            assert_eq!(key().open(&f).unwrap_err(), SyncError::Mac, "byte {i}");
        }
        let other = Key::new(b"fedcba9876543210").unwrap();
        assert_eq!(other.open(&m).unwrap_err(), SyncError::Mac);
    }

    #[test]
    fn truncated_bad_magic_and_other_versions_are_malformed() {
        let m = sealed();
        for n in [0, 3, HEADER_LEN, m.len() - 1] {
            let e = key().open(&m[..n]).unwrap_err();
            assert!(
                matches!(e, SyncError::Truncated | SyncError::Mac),
                "{n}: {e:?}"
            );
        }
        assert_eq!(
            key().open(&m[..HEADER_LEN + 39]).unwrap_err(),
            SyncError::Truncated
        );
        let mut f = m.clone();
        f[0] = b'X';
        assert_eq!(key().open(&f).unwrap_err(), SyncError::Magic);
        let mut f = m.clone();
        f[2] = 1;
        assert_eq!(key().open(&f).unwrap_err(), SyncError::Version(1));
        let mut f = m.clone();
        f[3] = 99;
        assert_eq!(
            key().open(&f).unwrap_err(),
            SyncError::Field("message kind")
        );
        for e in [
            SyncError::Truncated,
            SyncError::Magic,
            SyncError::Version(1),
        ] {
            assert_eq!(e.refusal(), super::super::Refusal::Malformed);
        }
    }

    #[test]
    fn records_survive_sealing() {
        let rec = Record::AddressesExhausted {
            time: 1,
            proto: crate::nat::Proto::Udp,
        };
        let mut m = Vec::new();
        // An alarm is not synced: the message has no record, and opens.
        encode_message(1, 0, Kind::Events, &[rec], 1400, &mut m);
        key().seal(1, &mut m);
        assert_eq!(key().open(&m).unwrap().header.count, 0);
    }

    #[test]
    fn replay_window_takes_each_counter_once_and_refuses_old_epochs() {
        let mut w = ReplayWindow::default();
        for s in [5, 3, 4, 70] {
            w.check(1, s).unwrap();
            w.take(1, s);
        }
        for s in [3, 4, 5, 70] {
            assert!(
                matches!(w.check(1, s), Err(SyncError::Replay { .. })),
                "{s}"
            );
        }
        // 7 is within 64 of 70 and unseen; 6 is below the window.
        w.check(1, 7).unwrap();
        assert!(matches!(w.check(1, 6), Err(SyncError::Replay { .. })));
        // A later epoch starts over; an earlier one is refused.
        w.check(2, 1).unwrap();
        w.take(2, 1);
        assert_eq!(w.epoch(), 2);
        assert_eq!(
            w.check(1, 100),
            Err(SyncError::StaleEpoch {
                epoch: 1,
                current: 2
            })
        );
        assert!(w.check(2, 0).is_err());
    }
}
