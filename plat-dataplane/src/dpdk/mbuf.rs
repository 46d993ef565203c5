//! Owned packet buffers and bursts of them.
//!
//! The per-packet helpers (`data`, `adj`, `prepend`, `append`) are a few
//! field updates on the first segment, written in Rust so the compiler
//! inlines them into the worker loop; DPDK itself is called once per burst.

use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;

/// One packet buffer, freed back to its pool when dropped.
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<rte_mbuf>,
}

// SAFETY: an mbuf owned by one Mbuf is reachable from no other thread; it
// may move between lcores (DPDK's rings do exactly that).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nobody else will use or free.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership without freeing.
    #[inline]
    pub fn into_raw(self) -> NonNull<rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    #[inline]
    fn hdr(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.raw.as_ref() }
    }

    #[inline]
    fn hdr_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: we own a valid mbuf exclusively.
        unsafe { self.raw.as_mut() }
    }

    /// Bytes of packet data in the first segment.
    #[inline]
    pub fn data_len(&self) -> usize {
        usize::from(self.hdr().data_len)
    }

    /// Bytes of packet data over all segments.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.hdr().pkt_len as usize
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// Free bytes in front of the data (room to prepend headers).
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.hdr().data_off)
    }

    /// Free bytes after the data of the first segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        let h = self.hdr();
        usize::from(h.buf_len) - usize::from(h.data_off) - usize::from(h.data_len)
    }

    /// The port the mbuf was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    /// Records a port in the mbuf (the appliance uses it to tell the
    /// control thread which link a frame belongs to).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.hdr_mut().port = port;
    }

    /// The RSS hash the NIC computed (valid when the PMD sets it).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reading a u32 from the hash union is always defined.
        unsafe { self.hdr().__bindgen_anon_2.hash.rss }
    }

    /// The first segment's data (`rte_pktmbuf_mtod`).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: buf_addr + data_off .. + data_len lies within the buffer
        // DPDK allocated for this mbuf, which we own.
        unsafe {
            std::slice::from_raw_parts(
                (h.buf_addr as *const u8).add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    /// The first segment's data, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let h = self.hdr();
        // SAFETY: as in `data`, and we own the mbuf exclusively. An mbuf
        // with refcnt > 1 (a clone) is never handed to us as owned.
        unsafe {
            std::slice::from_raw_parts_mut(
                (h.buf_addr as *mut u8).add(usize::from(h.data_off)),
                usize::from(h.data_len),
            )
        }
    }

    /// Makes `start..start + len` of the buffer the packet data (single
    /// segment): how a translator that moved the headers inside the buffer
    /// reports where the packet now is. `None` when out of the buffer.
    #[inline]
    pub fn set_data_range(&mut self, start: usize, len: usize) -> Option<()> {
        if self.segments() != 1 {
            return None;
        }
        let h = self.hdr_mut();
        let end = start.checked_add(len)?;
        if end > usize::from(h.buf_len) {
            return None;
        }
        h.data_off = u16::try_from(start).ok()?;
        h.data_len = u16::try_from(len).ok()?;
        h.pkt_len = u32::from(h.data_len);
        Some(())
    }

    /// The whole first-segment buffer, headroom and tailroom included,
    /// with the offset where data starts and its length.
    #[inline]
    pub fn whole_buffer_mut(&mut self) -> (&mut [u8], usize, usize) {
        let h = self.hdr();
        let (off, len, cap) = (
            usize::from(h.data_off),
            usize::from(h.data_len),
            usize::from(h.buf_len),
        );
        // SAFETY: buf_addr .. buf_addr + buf_len is the buffer DPDK
        // allocated for this mbuf, which we own exclusively.
        let buf = unsafe { std::slice::from_raw_parts_mut(h.buf_addr as *mut u8, cap) };
        (buf, off, len)
    }

    /// Removes `len` bytes from the front (`rte_pktmbuf_adj`); `None` when
    /// the first segment is shorter.
    #[inline]
    pub fn adj(&mut self, len: usize) -> Option<()> {
        let len16 = u16::try_from(len).ok()?;
        let h = self.hdr_mut();
        if len16 > h.data_len {
            return None;
        }
        h.data_off += len16;
        h.data_len -= len16;
        h.pkt_len -= u32::from(len16);
        Some(())
    }

    /// Opens `len` bytes at the front (`rte_pktmbuf_prepend`); `None` when
    /// the headroom is smaller.
    #[inline]
    pub fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        let h = self.hdr_mut();
        if len16 > h.data_off {
            return None;
        }
        h.data_off -= len16;
        h.data_len += len16;
        h.pkt_len += u32::from(len16);
        Some(&mut self.data_mut()[..len])
    }

    /// Appends `len` bytes at the end of a single-segment mbuf
    /// (`rte_pktmbuf_append`); `None` when there is no tailroom or the mbuf
    /// is chained.
    #[inline]
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        if self.segments() != 1 || len > self.tailroom() {
            return None;
        }
        let len16 = u16::try_from(len).ok()?;
        let h = self.hdr_mut();
        let old = usize::from(h.data_len);
        h.data_len += len16;
        h.pkt_len += u32::from(len16);
        Some(&mut self.data_mut()[old..])
    }

    /// Cuts `len` bytes from the end of a single-segment mbuf
    /// (`rte_pktmbuf_trim`).
    #[inline]
    pub fn trim(&mut self, len: usize) -> Option<()> {
        let len16 = u16::try_from(len).ok()?;
        if self.segments() != 1 || len16 > self.hdr().data_len {
            return None;
        }
        let h = self.hdr_mut();
        h.data_len -= len16;
        h.pkt_len -= u32::from(len16);
        Some(())
    }

    /// Sets the data to `bytes` (single segment, from the default headroom).
    pub fn write_packet(&mut self, bytes: &[u8]) -> Option<()> {
        let cur = self.data_len();
        self.trim(cur)?;
        self.append(bytes.len())?.copy_from_slice(bytes);
        Some(())
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain); it is freed exactly once.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// Default burst size of the poll loop (DPDK's customary 32).
pub const BURST_SIZE: usize = 32;

/// A fixed-capacity burst of owned mbufs, filled by `rx_burst` and drained
/// by `tx_burst`. Mbufs still in it when it is dropped are freed.
#[derive(Debug)]
pub struct MbufBurst<const N: usize = BURST_SIZE> {
    slots: [*mut rte_mbuf; N],
    len: usize,
}

// SAFETY: the burst owns its mbufs exclusively, like Mbuf.
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst.
    pub const fn new() -> Self {
        MbufBurst {
            slots: [std::ptr::null_mut(); N],
            len: 0,
        }
    }

    /// Number of mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more mbufs fit.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Adds an mbuf; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.slots[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Takes the mbufs out, in order; any the caller does not take are
    /// freed when the iterator drops.
    pub fn drain(&mut self) -> Drain<'_> {
        let n = std::mem::replace(&mut self.len, 0);
        Drain {
            slots: &self.slots[..n],
            next: 0,
        }
    }

    /// The packet data (first segment) of every mbuf held, in order: for
    /// a look at a whole burst (prefetching) before it is drained.
    #[inline]
    pub fn data_iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.slots[..self.len].iter().map(|&p| {
            // SAFETY: slots[..len] are owned, valid mbufs; the slice lives
            // no longer than the shared borrow of the burst that owns them.
            let h = unsafe { &*p };
            // SAFETY: an mbuf's first segment holds data_len bytes from
            // buf_addr + data_off, inside its buffer.
            unsafe {
                std::slice::from_raw_parts(
                    (h.buf_addr as *const u8).add(usize::from(h.data_off)),
                    usize::from(h.data_len),
                )
            }
        })
    }

    /// Raw room for DPDK to fill: pointer to the first free slot and how
    /// many are free.
    #[inline]
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut rte_mbuf, u16) {
        let free = (N - self.len) as u16;
        // SAFETY: len <= N, so the pointer is within or one past the array.
        (unsafe { self.slots.as_mut_ptr().add(self.len) }, free)
    }

    /// Records that DPDK filled `n` more slots.
    ///
    /// # Safety
    /// The `n` slots after the current length must now hold owned mbufs.
    #[inline]
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= N);
        self.len += n;
    }

    /// Raw held mbufs for DPDK to consume (tx).
    #[inline]
    pub(crate) fn held_raw(&mut self) -> (*mut *mut rte_mbuf, u16) {
        (self.slots.as_mut_ptr(), self.len as u16)
    }

    /// Forgets the first `n` mbufs (DPDK took them) and moves the rest to
    /// the front.
    #[inline]
    pub(crate) fn consumed(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        self.slots.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Frees every mbuf held.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: slots[..len] are owned mbufs, freed once; len reset.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.slots.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Iterator over the mbufs taken out of a burst.
#[derive(Debug)]
pub struct Drain<'a> {
    slots: &'a [*mut rte_mbuf],
    next: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;
    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        let p = *self.slots.get(self.next)?;
        self.next += 1;
        // SAFETY: the slots were owned by the burst, whose length was reset
        // when the Drain was made, so each is handed out exactly once.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}
