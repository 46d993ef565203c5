//! Ethernet ports: configure queues (and RSS where the device has it) and
//! the MTU, start, poll, read stats and link; stop and close on drop.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::eal::Eal;
use super::error::{check, DpdkError};
use super::mbuf::MbufBurst;
use super::mempool::Mempool;
use super::ring::Ring;

/// Receive-side scaling settings for a port.
#[derive(Clone, Debug, Default)]
pub struct RssConfig {
    /// Hash key (40 bytes on most NICs); `None` keeps the device's.
    pub key: Option<Vec<u8>>,
    /// Hash types wanted (`RTE_ETH_RSS_*`); masked with what the device
    /// offers, since `rte_eth_dev_configure` refuses anything else.
    pub hash_types: u64,
}

/// How to bring a port up.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Receive queues (one per worker).
    pub rx_queues: u16,
    /// Transmit queues (one per worker).
    pub tx_queues: u16,
    /// Descriptors per receive queue.
    pub rx_descriptors: u16,
    /// Descriptors per transmit queue.
    pub tx_descriptors: u16,
    /// RSS, when more than one receive queue should share the traffic.
    pub rss: Option<RssConfig>,
    /// Receive everything, not only frames for the port's MAC. Off for
    /// the appliance: a router on a shared segment must not translate
    /// frames meant for another host, and the NIC's own filter costs
    /// nothing per packet.
    pub promiscuous: bool,
    /// The link MTU (IP packet size) to give the device; `None` keeps
    /// the device's (1500 for most). Refused at start, naming the port
    /// and its limit, when the device cannot carry it
    /// ([`DeviceInfo::max_mtu_carried`]).
    pub mtu: Option<u16>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            rss: None,
            promiscuous: false,
            mtu: None,
        }
    }
}

/// What a device says of itself (`rte_eth_dev_info_get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// PMD name, e.g. `net_null`, `net_af_packet`.
    pub driver_name: String,
    /// Most receive queues the device supports.
    pub max_rx_queues: u16,
    /// Most transmit queues the device supports.
    pub max_tx_queues: u16,
    /// Receive queues configured now.
    pub rx_queues: u16,
    /// Transmit queues configured now.
    pub tx_queues: u16,
    /// RSS hash types the device can compute.
    pub flow_type_rss_offloads: u64,
    /// Size of the RSS redirection table (0 = none).
    pub reta_size: u16,
    /// RSS key length in bytes (0 = none).
    pub hash_key_size: u8,
    /// Smallest MTU ethdev accepts.
    pub min_mtu: u16,
    /// Largest MTU, as the device reports it (`u16::MAX` for "no limit
    /// of its own": see [`DeviceInfo::max_mtu_carried`]).
    pub max_mtu: u16,
    /// Largest frame the device receives, Ethernet header and CRC
    /// included, as it reports it.
    pub max_rx_pktlen: u32,
    /// The kernel interface behind the port (`net_af_packet`, `net_tap`),
    /// 0 for none.
    pub if_index: u32,
    /// The device's arguments (a vdev's `iface=a4,qpairs=2`), empty for
    /// none.
    pub devargs: String,
}

/// Ethernet header and CRC: the frame overhead ethdev assumes for a
/// device that does not state its own.
const ETHER_OVERHEAD: u32 = 18;
/// Ethernet header without CRC: what a frame in memory carries beyond its
/// IP packet.
const ETHER_HEADER: u32 = 14;
/// net_af_packet's ring frame size without a `framesz` devarg
/// (`DFLT_FRAME_SIZE` of drivers/net/af_packet).
const AF_PACKET_DEFAULT_FRAME: u32 = 2048;
/// Where the kernel writes a received frame into a TPACKET_V2 ring frame:
/// `TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14` = 80 - 14 (net/packet's
/// `tpacket_rcv`). A frame longer than framesz - 66 is cut there
/// (`tp_snaplen < tp_len`), and the PMD hands over the stump.
const AF_PACKET_RX_OFFSET: u32 = 66;
/// What net_af_packet keeps of a ring frame for its header when it copies
/// into an mbuf (`TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`); its
/// receive queue setup refuses a pool whose buffers (after the headroom)
/// are smaller than framesz less this.
const AF_PACKET_FRAME_HEADER: u32 = 32;

impl DeviceInfo {
    /// Bytes of a frame beyond its MTU, by ethdev's reckoning
    /// (`eth_dev_get_overhead_len`): what the device implies with its
    /// limits, or Ethernet header and CRC.
    pub fn frame_overhead(&self) -> u32 {
        if self.max_mtu != u16::MAX && self.max_rx_pktlen > u32::from(self.max_mtu) {
            self.max_rx_pktlen - u32::from(self.max_mtu)
        } else {
            ETHER_OVERHEAD
        }
    }

    /// The largest MTU ethdev lets a port be given
    /// (`eth_dev_validate_mtu`: at most `max_mtu`, and a frame of at most
    /// `max_rx_pktlen`).
    pub fn ethdev_max_mtu(&self) -> u16 {
        let by_frame = self.max_rx_pktlen.saturating_sub(self.frame_overhead());
        u16::try_from(by_frame)
            .unwrap_or(u16::MAX)
            .min(self.max_mtu)
    }

    /// net_af_packet's ring frame size (its `framesz` devarg); `None` for
    /// other drivers.
    pub fn af_packet_frame(&self) -> Option<u32> {
        (self.driver_name == "net_af_packet").then(|| {
            devarg(&self.devargs, "framesz")
                .and_then(|v| v.parse().ok())
                .unwrap_or(AF_PACKET_DEFAULT_FRAME)
        })
    }

    /// The largest MTU the device carries whole: ethdev's bound, except
    /// for net_af_packet. DPDK reports a fixed `max_rx_pktlen` of 1518
    /// for it whatever its ring frames hold (22.11, and upstream since);
    /// what it carries is set by its `framesz` devarg, since the kernel
    /// cuts a received frame at framesz - 66 bytes.
    pub fn max_mtu_carried(&self) -> u16 {
        match self.af_packet_frame() {
            Some(frame) => {
                let mtu = frame.saturating_sub(AF_PACKET_RX_OFFSET + ETHER_HEADER);
                u16::try_from(mtu).unwrap_or(u16::MAX)
            }
            None => self.ethdev_max_mtu(),
        }
    }

    /// Why [`DeviceInfo::max_mtu_carried`] is what it is, where the device
    /// has a knob for it (for the operator who meets the limit).
    fn mtu_limit_reason(&self) -> String {
        match self.af_packet_frame() {
            Some(frame) => format!(
                ": its ring frames (framesz={frame}) hold frames of at most framesz - \
                 {AF_PACKET_RX_OFFSET} bytes; a larger framesz= (with a blocksz= that is a \
                 multiple of it and of the page size) on the vdev raises the limit"
            ),
            None => format!(
                " (max_mtu {}, max_rx_pktlen {})",
                self.max_mtu, self.max_rx_pktlen
            ),
        }
    }

    /// Bytes a receive buffer must hold after its headroom for the frames
    /// of a link of `mtu`: the largest frame, or for net_af_packet a
    /// whole ring frame less its header, which its queue setup demands
    /// whatever the MTU.
    pub fn rx_buffer_len(&self, mtu: u16) -> u32 {
        match self.af_packet_frame() {
            Some(frame) => frame.saturating_sub(AF_PACKET_FRAME_HEADER),
            None => u32::from(mtu) + self.frame_overhead(),
        }
    }
}

/// The value of `key` in DPDK device arguments (`k=v,k=v`); the last one
/// wins, as the PMDs read them.
fn devarg<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.rsplit(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// Sets the MTU of kernel interface `if_index` (`SIOCSIFMTU`), as
/// net_af_packet's own `mtu_set` does.
fn set_kernel_mtu(if_index: u32, mtu: u16) -> Result<(), DpdkError> {
    let os_error = |call| {
        let e = std::io::Error::last_os_error();
        DpdkError::Call {
            call,
            errno: e.raw_os_error().unwrap_or(0),
            reason: e.to_string(),
        }
    };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: ifr_name has IF_NAMESIZE bytes, as if_indextoname requires.
    if unsafe { libc::if_indextoname(if_index, ifr.ifr_name.as_mut_ptr()) }.is_null() {
        return Err(os_error("if_indextoname"));
    }
    // SAFETY: no pointers; the descriptor is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os_error("socket"));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    ifr.ifr_ifru.ifru_mtu = i32::from(mtu);
    // SAFETY: SIOCSIFMTU reads an ifreq, which lives across the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFMTU, &mut ifr) } < 0 {
        return Err(os_error("ioctl(SIOCSIFMTU)"));
    }
    Ok(())
}

/// Port counters (`rte_eth_stats_get`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped because the rx queue was full.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive failures for want of an mbuf.
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// Up or down.
    pub up: bool,
    /// Speed in Mbit/s.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// A started Ethernet port. Stopped and closed when dropped.
#[derive(Debug)]
pub struct Port {
    id: u16,
    rx_queues: u16,
    tx_queues: u16,
    _eal: Eal,
}

impl Port {
    /// Looks up a port by its device name (e.g. `net_null0`).
    pub fn id_by_name(name: &str) -> Result<u16, DpdkError> {
        let c = CString::new(name).map_err(|e| DpdkError::InvalidArgument {
            call: "rte_eth_dev_get_port_by_name",
            reason: e.to_string(),
        })?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string; id is a valid out-pointer.
        check("rte_eth_dev_get_port_by_name", unsafe {
            dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id)
        })?;
        Ok(id)
    }

    /// The device name of port `id` (what configurations name it by).
    pub fn name_of(id: u16) -> Result<String, DpdkError> {
        let mut buf = [0 as std::ffi::c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, as DPDK requires.
        check("rte_eth_dev_get_name_by_port", unsafe {
            dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr())
        })?;
        // SAFETY: DPDK wrote a NUL-terminated name into buf.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    /// Number of usable ports.
    pub fn count(_eal: &Eal) -> u16 {
        // SAFETY: EAL initialised (the argument proves it).
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Creates a virtual device after EAL start (e.g. `net_af_packet0`,
    /// `iface=veth0,qpairs=2`) and returns its port id.
    pub fn attach_vdev(_eal: &Eal, name: &str, args: &str) -> Result<u16, DpdkError> {
        let (n, a) = (CString::new(name), CString::new(args));
        let (Ok(n), Ok(a)) = (n, a) else {
            return Err(DpdkError::InvalidArgument {
                call: "rte_vdev_init",
                reason: "NUL byte in device name or arguments".into(),
            });
        };
        // SAFETY: both are valid C strings.
        check("rte_vdev_init", unsafe {
            dpdk_sys::rte_vdev_init(n.as_ptr(), a.as_ptr())
        })?;
        Self::id_by_name(name)
    }

    /// Creates a `net_ring` port whose receive queue i reads `rx[i]` and
    /// transmit queue i writes `tx[i]`: lets a test or a handoff own both
    /// ends of a port.
    pub fn create_from_rings(
        eal: &Eal,
        name: &str,
        rx: &[&Ring],
        tx: &[&Ring],
    ) -> Result<u16, DpdkError> {
        let n = CString::new(name).map_err(|e| DpdkError::InvalidArgument {
            call: "rte_eth_from_rings",
            reason: e.to_string(),
        })?;
        let mut rxp: Vec<_> = rx.iter().map(|r| r.as_ptr()).collect();
        let mut txp: Vec<_> = tx.iter().map(|r| r.as_ptr()).collect();
        // SAFETY: the ring arrays are valid for the call; the rings outlive
        // the port (the caller keeps them).
        let ret = unsafe {
            dpdk_sys::rte_eth_from_rings(
                n.as_ptr(),
                rxp.as_mut_ptr(),
                rxp.len() as u32,
                txp.as_mut_ptr(),
                txp.len() as u32,
                dpdk_sys::rte_socket_id(),
            )
        };
        let _ = eal;
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_eth_from_rings"));
        }
        Ok(ret as u16)
    }

    /// Reads the device information of port `id`.
    pub fn info_of(id: u16) -> Result<DeviceInfo, DpdkError> {
        // SAFETY: rte_eth_dev_info is plain data; zero is a valid value.
        let mut raw: dpdk_sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: raw is a valid out-pointer.
        check("rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(id, &mut raw)
        })?;
        let driver_name = if raw.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's driver name is a static C string.
            unsafe { CStr::from_ptr(raw.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let devargs = if raw.device.is_null() {
            String::new()
        } else {
            // SAFETY: the device of a probed port lives as long as the
            // port, and so do its devargs (NULL when it has none); `args`
            // is NULL or a NUL-terminated string.
            unsafe {
                let d = dpdk_sys::rte_dev_devargs(raw.device);
                match d.as_ref().map(|d| d.__bindgen_anon_1.args) {
                    Some(a) if !a.is_null() => CStr::from_ptr(a).to_string_lossy().into_owned(),
                    _ => String::new(),
                }
            }
        };
        Ok(DeviceInfo {
            driver_name,
            max_rx_queues: raw.max_rx_queues,
            max_tx_queues: raw.max_tx_queues,
            rx_queues: raw.nb_rx_queues,
            tx_queues: raw.nb_tx_queues,
            flow_type_rss_offloads: raw.flow_type_rss_offloads,
            reta_size: raw.reta_size,
            hash_key_size: raw.hash_key_size,
            min_mtu: raw.min_mtu,
            max_mtu: raw.max_mtu,
            max_rx_pktlen: raw.max_rx_pktlen,
            if_index: raw.if_index,
            devargs,
        })
    }

    /// Configures port `id` with `cfg`, sets up its queues on `pool` and
    /// starts it.
    pub fn start(eal: &Eal, id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Port, DpdkError> {
        let info = Self::info_of(id)?;
        if cfg.rx_queues == 0 || cfg.rx_queues > info.max_rx_queues {
            return Err(DpdkError::InvalidArgument {
                call: "rte_eth_dev_configure",
                reason: format!(
                    "{} rx queues asked, device {} has 1..={}",
                    cfg.rx_queues, info.driver_name, info.max_rx_queues
                ),
            });
        }
        if cfg.tx_queues == 0 || cfg.tx_queues > info.max_tx_queues {
            return Err(DpdkError::InvalidArgument {
                call: "rte_eth_dev_configure",
                reason: format!(
                    "{} tx queues asked, device {} has 1..={}",
                    cfg.tx_queues, info.driver_name, info.max_tx_queues
                ),
            });
        }
        // SAFETY: rte_eth_conf is plain data; all-zero is DPDK's default.
        let mut conf: dpdk_sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        if let Some(mtu) = cfg.mtu {
            let (min, max) = (info.min_mtu, info.max_mtu_carried());
            if !(min..=max).contains(&mtu) {
                return Err(DpdkError::Mtu {
                    port: Self::name_of(id).unwrap_or_else(|_| format!("port {id}")),
                    driver: info.driver_name.clone(),
                    mtu,
                    min,
                    max,
                    why: info.mtu_limit_reason(),
                });
            }
            // Every PMD applies rxmode.mtu at start; net_af_packet
            // ignores it (its MTU is the kernel interface's, set below),
            // and ethdev would refuse above its fixed 1500.
            if info.af_packet_frame().is_none() {
                conf.rxmode.mtu = u32::from(mtu);
            }
        }
        let mut key = cfg.rss.as_ref().and_then(|r| r.key.clone());
        if let Some(rss) = &cfg.rss {
            let hf = rss.hash_types & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
                if let Some(k) = key.as_mut() {
                    conf.rx_adv_conf.rss_conf.rss_key = k.as_mut_ptr();
                    conf.rx_adv_conf.rss_conf.rss_key_len = k.len() as u8;
                }
            }
        }
        // SAFETY: conf (and the key it may point at) live across the call.
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        // From here on a failure must close the port again.
        let port = Port {
            id,
            rx_queues: cfg.rx_queues,
            tx_queues: cfg.tx_queues,
            _eal: eal.clone(),
        };
        if let Some(mtu) = cfg.mtu {
            if info.af_packet_frame().is_some() {
                // What net_af_packet's mtu_set does, which ethdev lets it
                // do only up to 1500 (see `max_mtu_carried`): the kernel
                // interface must take and send frames of the MTU too.
                set_kernel_mtu(info.if_index, mtu)?;
            } else {
                // Devices with a kernel side of their own (net_tap) carry
                // the MTU there; for the rest rxmode.mtu said it already,
                // and those without an mtu_set (net_null, net_ring) have
                // nothing to set.
                // SAFETY: configured port.
                let ret = unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) };
                if ret != -libc::ENOTSUP {
                    check("rte_eth_dev_set_mtu", ret)?;
                }
            }
        }
        // SAFETY: port id is valid.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.rx_queues {
            // SAFETY: the pool outlives the port (the owner drops ports
            // first); a null rxconf means the device default.
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    cfg.rx_descriptors,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: as above; null txconf is the device default.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(
                    id,
                    q,
                    cfg.tx_descriptors,
                    socket,
                    std::ptr::null(),
                )
            })?;
        }
        // SAFETY: configured port.
        check("rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(id)
        })?;
        // Some virtual devices have neither mode: not an error. Multicast
        // stays open either way: NDP speaks to solicited-node and all-nodes
        // groups.
        // SAFETY: started port.
        unsafe {
            if cfg.promiscuous {
                let _ = dpdk_sys::rte_eth_promiscuous_enable(id);
            }
            let _ = dpdk_sys::rte_eth_allmulticast_enable(id);
        }
        Ok(port)
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Receive queues.
    pub fn rx_queues(&self) -> u16 {
        self.rx_queues
    }

    /// Transmit queues.
    pub fn tx_queues(&self) -> u16 {
        self.tx_queues
    }

    /// Device information.
    pub fn info(&self) -> Result<DeviceInfo, DpdkError> {
        Self::info_of(self.id)
    }

    /// Counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        // SAFETY: plain data, zero is valid.
        let mut s: dpdk_sys::rte_eth_stats = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer, valid port.
        check("rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.id, &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Link state without waiting.
    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        // SAFETY: plain data, zero is valid.
        let mut l: dpdk_sys::rte_eth_link = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointer, valid port.
        check("rte_eth_link_get_nowait", unsafe {
            dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l)
        })?;
        Ok(LinkStatus {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        })
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid out-pointer, valid port.
        check("rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.id, &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// Sets the port's MAC address (for testers and replays that send to a
    /// fixed MAC).
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid in-pointer, valid port.
        check("rte_eth_dev_default_mac_addr_set", unsafe {
            dpdk_sys::rte_eth_dev_default_mac_addr_set(self.id, &mut a)
        })?;
        Ok(())
    }

    /// Programs the RSS redirection table: hash bucket i goes to receive
    /// queue `table[i]`. The table length must be the device's RETA size.
    pub fn set_reta(&self, table: &[u16]) -> Result<(), DpdkError> {
        const GROUP: usize = dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let size = u16::try_from(table.len()).map_err(|_| DpdkError::InvalidArgument {
            call: "rte_eth_dev_rss_reta_update",
            reason: format!("RETA of {} entries", table.len()),
        })?;
        let mut conf: Vec<dpdk_sys::rte_eth_rss_reta_entry64> = table
            .chunks(GROUP)
            .map(|chunk| {
                let mut e = dpdk_sys::rte_eth_rss_reta_entry64 {
                    mask: if chunk.len() == GROUP {
                        u64::MAX
                    } else {
                        (1u64 << chunk.len()) - 1
                    },
                    reta: [0; GROUP],
                };
                e.reta[..chunk.len()].copy_from_slice(chunk);
                e
            })
            .collect();
        // SAFETY: conf holds ceil(size / 64) entries as DPDK requires.
        check("rte_eth_dev_rss_reta_update", unsafe {
            dpdk_sys::rte_eth_dev_rss_reta_update(self.id, conf.as_mut_ptr(), size)
        })?;
        Ok(())
    }

    /// The handle a worker polls queue `queue` of this port with.
    pub fn queue(&self, queue: u16) -> PortQueue {
        PortQueue {
            port: self.id,
            queue,
        }
    }

    /// Receives from queue `queue` (see [`PortQueue::rx_burst`]).
    #[inline]
    pub fn rx_burst<const N: usize>(&self, queue: u16, burst: &mut MbufBurst<N>) -> usize {
        self.queue(queue).rx_burst(burst)
    }

    /// Sends on queue `queue` (see [`PortQueue::tx_burst`]).
    #[inline]
    pub fn tx_burst<const N: usize>(&self, queue: u16, burst: &mut MbufBurst<N>) -> usize {
        self.queue(queue).tx_burst(burst)
    }
}

/// One receive/transmit queue pair of a started port: what a worker owns.
/// DPDK queues are not thread-safe: one queue, one lcore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortQueue {
    /// Port id.
    pub port: u16,
    /// Queue index (same for rx and tx).
    pub queue: u16,
}

impl PortQueue {
    /// Receives into the free slots of `burst`; returns how many arrived.
    #[inline]
    pub fn rx_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let (ptr, free) = burst.spare_raw();
        // SAFETY: ptr has room for `free` mbuf pointers; the queue exists
        // while the Port lives, which the appliance guarantees for its
        // workers' lifetime.
        let n = unsafe { dpdk_sys::rte_eth_rx_burst(self.port, self.queue, ptr, free) } as usize;
        // SAFETY: DPDK filled n slots with mbufs it hands over to us.
        unsafe { burst.commit(n) };
        n
    }

    /// Sends from the front of `burst`; what the device did not take stays
    /// in it. Returns how many were sent.
    #[inline]
    pub fn tx_burst<const N: usize>(&self, burst: &mut MbufBurst<N>) -> usize {
        let (ptr, len) = burst.held_raw();
        // SAFETY: ptr holds len owned mbufs; DPDK takes ownership of the
        // first n it returns.
        let n = unsafe { dpdk_sys::rte_eth_tx_burst(self.port, self.queue, ptr, len) } as usize;
        burst.consumed(n);
        n
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port was started by us and is stopped/closed once.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(driver: &str, max_mtu: u16, max_rx_pktlen: u32, devargs: &str) -> DeviceInfo {
        DeviceInfo {
            driver_name: driver.into(),
            max_rx_queues: 1,
            max_tx_queues: 1,
            rx_queues: 1,
            tx_queues: 1,
            flow_type_rss_offloads: 0,
            reta_size: 0,
            hash_key_size: 0,
            min_mtu: 46,
            max_mtu,
            max_rx_pktlen,
            if_index: 0,
            devargs: devargs.into(),
        }
    }

    #[test]
    fn a_nic_carries_what_its_frame_limit_and_max_mtu_allow() {
        // A NIC that states both: its overhead is the difference.
        let nic = device("net_ixgbe", 9702, 9728, "");
        assert_eq!(nic.frame_overhead(), 26);
        assert_eq!(nic.max_mtu_carried(), 9702);
        assert_eq!(nic.rx_buffer_len(9000), 9026);
        // One that states only a frame limit: Ethernet header and CRC.
        let plain = device("net_tap", u16::MAX, 1522, "");
        assert_eq!(plain.max_mtu_carried(), 1504);
        // No limit at all (net_null, net_ring).
        assert_eq!(
            device("net_null", u16::MAX, u32::MAX, "").max_mtu_carried(),
            u16::MAX
        );
    }

    #[test]
    fn af_packet_carries_what_its_ring_frames_hold_not_what_ethdev_says() {
        // DPDK reports 1518 whatever framesz is.
        let dflt = device("net_af_packet", u16::MAX, 1518, "iface=a4,qpairs=2");
        assert_eq!(dflt.ethdev_max_mtu(), 1500);
        assert_eq!(dflt.af_packet_frame(), Some(2048));
        assert_eq!(dflt.max_mtu_carried(), 2048 - 80);
        assert_eq!(dflt.rx_buffer_len(1500), 2016);
        let jumbo = device(
            "net_af_packet",
            u16::MAX,
            1518,
            "iface=a4,framesz=9216,blocksz=36864",
        );
        assert_eq!(jumbo.max_mtu_carried(), 9136);
        assert_eq!(jumbo.rx_buffer_len(9000), 9184);
        assert!(jumbo.mtu_limit_reason().contains("framesz=9216"));
    }

    #[test]
    fn devargs_are_read_as_the_pmds_read_them() {
        assert_eq!(devarg("iface=a4,framesz=4096", "framesz"), Some("4096"));
        assert_eq!(
            devarg("framesz=4096,iface=a4,framesz=8192", "framesz"),
            Some("8192")
        );
        assert_eq!(devarg("iface=a4", "framesz"), None);
        assert_eq!(devarg("", "framesz"), None);
    }
}
