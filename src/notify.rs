//! systemd's service notifications (sd_notify(3)) spoken by hand: one
//! datagram of `KEY=VALUE` lines to the Unix socket `$NOTIFY_SOCKET`
//! names, no libsystemd. platd says `READY=1` once its ports are started
//! and the management socket listens (the unit is `Type=notify`),
//! `STATUS=` lines as it goes, `WATCHDOG=1` from the control loop (a
//! control thread that stops turning gets platd restarted) and
//! `STOPPING=1` on the way out.
//!
//! Not started by systemd (no `$NOTIFY_SOCKET`), every call does nothing;
//! a notification that cannot be sent is logged and never stops platd.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// The service manager's end, if there is one, and the watchdog's pace.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// How often to ping: half the watchdog timeout, as sd_watchdog_enabled(3)
    /// advises; `None`: no watchdog.
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    /// From platd's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`).
    pub fn from_env() -> Notifier {
        Notifier::from_vars(|k| std::env::var(k).ok(), std::process::id())
    }

    /// From these variables, for process `pid`.
    fn from_vars(var: impl Fn(&str) -> Option<String>, pid: u32) -> Notifier {
        let socket = var("NOTIFY_SOCKET").and_then(|path| match connect(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(socket = %path, error = %e, "NOTIFY_SOCKET unusable: systemd will not hear from platd");
                None
            }
        });
        // sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the
        // process the watchdog is for; a child that inherited it is not.
        let for_us = var("WATCHDOG_PID").is_none_or(|p| p.trim() == pid.to_string());
        let ping_every = var("WATCHDOG_USEC")
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us && socket.is_some())
            .map(|u| Duration::from_micros(u) / 2);
        Notifier {
            socket,
            ping_every,
            last_ping: None,
        }
    }

    /// Whether systemd expects the watchdog ping.
    pub fn watchdog_enabled(&self) -> bool {
        self.ping_every.is_some()
    }

    /// A free-form status line (`systemctl status` shows it).
    pub fn status(&self, text: &str) {
        self.send(&format!("STATUS={}", one_line(text)));
    }

    /// Startup is done: the ports are started and the management socket
    /// listens.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// Pings the watchdog when half its timeout has passed since the last
    /// ping; call it from the loop whose stalling should restart platd.
    pub fn watchdog(&mut self, now: Instant) {
        let Some(every) = self.ping_every else {
            return;
        };
        if self
            .last_ping
            .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.last_ping = Some(now);
            self.send("WATCHDOG=1");
        }
    }

    /// platd is shutting down.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    fn send(&self, message: &str) {
        if let Some((sock, addr)) = &self.socket {
            if let Err(e) = sock.send_to_addr(message.as_bytes(), addr) {
                tracing::warn!(error = %e, message, "notifying systemd");
            }
        }
    }
}

/// An unbound datagram socket and the address `$NOTIFY_SOCKET` names: a
/// path, or `@name` in the abstract namespace.
fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    Ok((UnixDatagram::unbound()?, addr))
}

/// A notification is newline-separated: a status keeps to its line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn listener(name: &str) -> (UnixDatagram, PathBuf) {
        let path = std::env::temp_dir().join(format!("platd-notify-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        (sock, path)
    }

    fn notifier(vars: &[(&str, &str)], pid: u32) -> Notifier {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Notifier::from_vars(|k| vars.get(k).cloned(), pid)
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn nothing_waiting(sock: &UnixDatagram) -> bool {
        sock.set_nonblocking(true).unwrap();
        let none = sock.recv(&mut [0u8; 64]).is_err();
        sock.set_nonblocking(false).unwrap();
        none
    }

    #[test]
    fn ready_status_and_stopping_reach_the_socket() {
        let (sock, path) = listener("ready");
        let n = notifier(&[("NOTIFY_SOCKET", path.to_str().unwrap())], 7);
        n.status("starting DPDK");
        n.ready("running: 2 workers\nsteering rss");
        n.stopping("signal");
        assert_eq!(recv(&sock), "STATUS=starting DPDK");
        assert_eq!(
            recv(&sock),
            "READY=1\nSTATUS=running: 2 workers steering rss"
        );
        assert_eq!(recv(&sock), "STOPPING=1\nSTATUS=signal");
        assert!(!n.watchdog_enabled());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_its_timeout() {
        let (sock, path) = listener("watchdog");
        let mut n = notifier(
            &[
                ("NOTIFY_SOCKET", path.to_str().unwrap()),
                ("WATCHDOG_USEC", "10000000"),
                ("WATCHDOG_PID", "42"),
            ],
            42,
        );
        assert!(n.watchdog_enabled());
        let t0 = Instant::now();
        n.watchdog(t0);
        assert_eq!(recv(&sock), "WATCHDOG=1");
        n.watchdog(t0 + Duration::from_secs(4));
        assert!(nothing_waiting(&sock), "pinged again before 5 s");
        n.watchdog(t0 + Duration::from_secs(5));
        assert_eq!(recv(&sock), "WATCHDOG=1");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_watchdog_meant_for_another_process_is_not_ours() {
        let (sock, path) = listener("pid");
        let mut n = notifier(
            &[
                ("NOTIFY_SOCKET", path.to_str().unwrap()),
                ("WATCHDOG_USEC", "10000000"),
                ("WATCHDOG_PID", "41"),
            ],
            42,
        );
        assert!(!n.watchdog_enabled());
        n.watchdog(Instant::now());
        assert!(nothing_waiting(&sock));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_abstract_socket_is_reached_by_its_name() {
        let name = format!("platd-notify-test-{}", std::process::id());
        let addr = {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
        };
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        notifier(&[("NOTIFY_SOCKET", &format!("@{name}"))], 1).ready("up");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=up");
    }

    #[test]
    fn without_systemd_nothing_is_sent_and_nothing_fails() {
        let mut n = notifier(&[("WATCHDOG_USEC", "10000000")], 1);
        assert!(!n.watchdog_enabled());
        n.ready("up");
        n.watchdog(Instant::now());
        n.stopping("done");
    }
}
