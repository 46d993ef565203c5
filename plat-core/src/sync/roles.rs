//! Who translates: the two nodes' roles, their heartbeats, failover and
//! split brain. Sans-IO: the caller passes `now` (ms), sends what
//! [`Node::poll`] hands it and acts on the [`NodeEvent`]s.
//!
//! - Each node sends a heartbeat every `heartbeat_ms`; a peer with no
//!   valid heartbeat for `dead_ms` is dead, and a standby whose peer dies
//!   (or that never heard one since it started) becomes active.
//! - `takeover()` makes a standby active at once and *claims* the role:
//!   the claim wins the split brain it creates, so the old active turns
//!   standby. `release()` makes an active standby and *yielding*: the peer
//!   takes over, and the yielding node does not take the role back while
//!   the peer lives.
//! - Split brain (both active, neither or both claiming): the higher
//!   priority stays active, on a tie the lower node id; the other demotes
//!   and asks for dumps of all workers. Two standbys elect the same way
//!   (a yielding one loses).
//! - Compatibility, from the first heartbeat: the same worker count and
//!   the same port-partition fingerprint, refused naming the difference.
//!   An incompatible peer still counts as alive (so no split brain starts
//!   from it), but nothing is synced with it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::auth::{Key, ReplayWindow};
use super::control::{Control, Heartbeat, NODE};
use super::{Kind, Refused, SyncError};

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Role {
    /// Mirrors the peer's shards; translates nothing, answers no ARP for
    /// pool4 and no NDP for the inside address.
    Standby = 0,
    /// Translates and streams its shards' events to the standby.
    Active = 1,
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Unique in the pair; the lower one wins a tie of priorities.
    pub node_id: u32,
    /// The higher one stays active in a split brain.
    pub priority: u8,
    /// The role at start.
    pub role: Role,
    pub heartbeat_ms: u64,
    pub dead_ms: u64,
    /// Workers (one shard and one stream each): both nodes must agree.
    pub workers: u16,
    /// The port partitioning (pool4, ranges, the RSS plan), as the caller
    /// hashes it: both nodes must agree.
    pub fingerprint: u64,
}

/// Why this node became active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeoverReason {
    /// No valid heartbeat for `dead_ms`.
    PeerDead,
    /// `takeover()`.
    Manual,
    /// The active peer released the role.
    PeerReleased,
    /// Both were standby and this node wins on priority (or node id).
    Election,
}

/// Why this node became standby.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoteReason {
    /// Both active: the peer wins on priority (or node id).
    SplitBrain,
    /// The peer took over by hand.
    PeerClaimed,
    /// `release()`.
    Released,
}

/// What the caller must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// This node is active now: announce at once (gratuitous ARP for every
    /// pool4 address and the outside address, unsolicited NA with the
    /// override flag for the inside address), start translating, and
    /// stream from fresh senders.
    Takeover(TakeoverReason),
    /// This node is standby now: stop translating and announcing, and
    /// follow the peer from fresh receivers (they ask for a dump of every
    /// worker).
    Demoted(DemoteReason),
    /// A first valid heartbeat, or one after the peer was dead.
    PeerUp { node_id: u32, epoch: u64 },
    /// The peer started a new life: its streams start over.
    PeerRestarted { node_id: u32, epoch: u64 },
    /// No valid heartbeat for `dead_ms`.
    PeerDead,
}

/// How the peer differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Incompatibility {
    #[error("workers: this node has {ours}, the peer {theirs}")]
    Workers { ours: u16, theirs: usize },
    #[error(
        "port partitioning: this node's fingerprint is {ours:#018x}, the peer's {theirs:#018x} \
         (pool4, port ranges or the RSS plan differ)"
    )]
    Fingerprint { ours: u64, theirs: u64 },
    #[error("node_id: the peer has this node's id {0}")]
    SameNodeId(u32),
}

/// Why a heartbeat was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PeerError {
    #[error(transparent)]
    Refused(#[from] SyncError),
    #[error("HA peer incompatible: {0}")]
    Incompatible(Incompatibility),
}

/// Why `release()` did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ReleaseError {
    #[error("this node is not active")]
    NotActive,
    #[error("no live peer to take over")]
    NoPeer,
}

/// The peer, as its last heartbeat described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub epoch: u64,
    pub heartbeat: Heartbeat,
    pub compatible: bool,
}

/// A Node's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    pub heartbeats_sent: u64,
    pub heartbeats_received: u64,
    pub takeovers: u64,
    pub demotions: u64,
    pub peer_deaths: u64,
    /// Heartbeats refused as incompatible.
    pub incompatible: u64,
    pub refused: Refused,
}

/// This node's role machine.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    key: Key,
    epoch: u64,
    started: u64,
    role: Role,
    claim: bool,
    yielding: bool,
    counter: u64,
    next_heartbeat: u64,
    peer: Option<Peer>,
    peer_alive: bool,
    last_heard: u64,
    replay: ReplayWindow,
    buf: Vec<u8>,
    pub counters: NodeCounters,
}

impl Node {
    /// A node starting its life `epoch` (a value that grows across
    /// restarts: the wall clock at start, in ms) at `now`.
    pub fn new(cfg: NodeConfig, key: Key, epoch: u64, now: u64) -> Node {
        Node {
            cfg,
            key,
            epoch,
            started: now,
            role: cfg.role,
            claim: false,
            yielding: false,
            counter: 0,
            next_heartbeat: now,
            peer: None,
            // Silence since the start counts like silence since the last
            // heartbeat: a standby alone serves after `dead_ms`.
            peer_alive: true,
            last_heard: now,
            replay: ReplayWindow::default(),
            buf: Vec::new(),
            counters: NodeCounters::default(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The peer's last heartbeat, if any was valid.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }

    /// Whether a valid heartbeat came within `dead_ms`.
    pub fn peer_alive(&self) -> bool {
        self.peer_alive && self.peer.is_some()
    }

    /// Declares the peer dead when it has been silent for `dead_ms`, and
    /// sends a heartbeat when one is due (`last_seq`: per worker, the last
    /// sequence sent when active, applied when standby).
    pub fn poll(
        &mut self,
        now: u64,
        last_seq: &[u64],
        transmit: &mut impl FnMut(&[u8]),
        events: &mut Vec<NodeEvent>,
    ) {
        if self.peer_alive && now >= self.last_heard + self.cfg.dead_ms {
            self.peer_alive = false;
            self.claim = false;
            if self.peer.is_some() {
                self.counters.peer_deaths += 1;
                events.push(NodeEvent::PeerDead);
            }
            if self.role == Role::Standby {
                self.take(TakeoverReason::PeerDead, now, events);
            }
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.cfg.heartbeat_ms;
            let hb = Heartbeat {
                node_id: self.cfg.node_id,
                role: self.role,
                priority: self.cfg.priority,
                claim: self.claim,
                yielding: self.yielding,
                fingerprint: self.cfg.fingerprint,
                uptime_ms: now - self.started,
                last_seq: (0..usize::from(self.cfg.workers))
                    .map(|w| last_seq.get(w).copied().unwrap_or(0))
                    .collect(),
            };
            self.counter += 1;
            Control::Heartbeat(hb).encode(NODE, self.counter, &mut self.buf);
            self.key.seal(self.epoch, &mut self.buf);
            transmit(&self.buf);
            self.counters.heartbeats_sent += 1;
        }
    }

    /// Takes the peer's heartbeat. A refused one (forged, replayed,
    /// malformed, our own id) is counted and changes nothing; an
    /// incompatible one keeps the peer alive and is reported.
    pub fn receive(
        &mut self,
        buf: &[u8],
        now: u64,
        events: &mut Vec<NodeEvent>,
    ) -> Result<(), PeerError> {
        let (epoch, counter, hb) = match self.check(buf) {
            Ok(m) => m,
            Err(e) => return Err(PeerError::Refused(self.counters.refused.count(e))),
        };
        if hb.node_id == self.cfg.node_id {
            self.counters.incompatible += 1;
            return Err(PeerError::Incompatible(Incompatibility::SameNodeId(
                hb.node_id,
            )));
        }
        self.replay.take(epoch, counter);
        self.counters.heartbeats_received += 1;
        let (node_id, restarted) = (hb.node_id, self.peer.as_ref().map(|p| epoch > p.epoch));
        match restarted {
            Some(true) => events.push(NodeEvent::PeerRestarted { node_id, epoch }),
            Some(false) if self.peer_alive => {}
            _ => events.push(NodeEvent::PeerUp { node_id, epoch }),
        }
        let incompatible = if hb.last_seq.len() != usize::from(self.cfg.workers) {
            Some(Incompatibility::Workers {
                ours: self.cfg.workers,
                theirs: hb.last_seq.len(),
            })
        } else if hb.fingerprint != self.cfg.fingerprint {
            Some(Incompatibility::Fingerprint {
                ours: self.cfg.fingerprint,
                theirs: hb.fingerprint,
            })
        } else {
            None
        };
        self.last_heard = now;
        self.peer_alive = true;
        self.decide(&hb, now, events);
        self.peer = Some(Peer {
            epoch,
            heartbeat: hb,
            compatible: incompatible.is_none(),
        });
        match incompatible {
            Some(i) => {
                self.counters.incompatible += 1;
                Err(PeerError::Incompatible(i))
            }
            None => Ok(()),
        }
    }

    fn check(&self, buf: &[u8]) -> Result<(u64, u64, Heartbeat), SyncError> {
        let o = self.key.open(buf)?;
        if o.header.kind != Kind::Heartbeat {
            return Err(SyncError::Misrouted {
                kind: o.header.kind,
                worker: o.header.worker,
            });
        }
        let Control::Heartbeat(hb) = Control::decode(&o)? else {
            return Err(SyncError::Field("heartbeat"));
        };
        self.replay.check(o.epoch, o.header.seq)?;
        Ok((o.epoch, o.header.seq, hb))
    }

    /// Whether this node stays (or becomes) active against `peer`: a claim
    /// first, then priority, then the lower node id.
    fn wins(&self, peer: &Heartbeat) -> bool {
        if self.claim != peer.claim {
            return self.claim;
        }
        (self.cfg.priority, std::cmp::Reverse(self.cfg.node_id))
            > (peer.priority, std::cmp::Reverse(peer.node_id))
    }

    fn decide(&mut self, peer: &Heartbeat, now: u64, events: &mut Vec<NodeEvent>) {
        match (self.role, peer.role) {
            (Role::Active, Role::Active) => {
                if !self.wins(peer) {
                    let why = if peer.claim {
                        DemoteReason::PeerClaimed
                    } else {
                        DemoteReason::SplitBrain
                    };
                    self.demote(why, now, events);
                }
            }
            // The peer gave way: a claim has done its work.
            (Role::Active, Role::Standby) => self.claim = false,
            (Role::Standby, Role::Active) => self.yielding = false,
            (Role::Standby, Role::Standby) => {
                if peer.yielding && !self.yielding {
                    self.take(TakeoverReason::PeerReleased, now, events);
                } else if peer.yielding == self.yielding && self.wins(peer) {
                    self.take(TakeoverReason::Election, now, events);
                }
            }
        }
    }

    fn take(&mut self, why: TakeoverReason, now: u64, events: &mut Vec<NodeEvent>) {
        self.role = Role::Active;
        self.claim = why == TakeoverReason::Manual;
        self.yielding = false;
        self.next_heartbeat = now;
        self.counters.takeovers += 1;
        events.push(NodeEvent::Takeover(why));
    }

    fn demote(&mut self, why: DemoteReason, now: u64, events: &mut Vec<NodeEvent>) {
        self.role = Role::Standby;
        self.claim = false;
        self.yielding = why == DemoteReason::Released;
        self.next_heartbeat = now;
        self.counters.demotions += 1;
        events.push(NodeEvent::Demoted(why));
    }

    /// `platctl ha takeover`: a standby becomes active now, whatever the
    /// priorities (a planned switchover). Nothing on an active node.
    pub fn takeover(&mut self, now: u64, events: &mut Vec<NodeEvent>) {
        if self.role == Role::Standby {
            self.take(TakeoverReason::Manual, now, events);
        }
    }

    /// `platctl ha release`: an active node hands the role to its live
    /// peer and stays standby.
    pub fn release(&mut self, now: u64, events: &mut Vec<NodeEvent>) -> Result<(), ReleaseError> {
        if self.role != Role::Active {
            return Err(ReleaseError::NotActive);
        }
        if !self.peer_alive() {
            return Err(ReleaseError::NoPeer);
        }
        self.demote(DemoteReason::Released, now, events);
        Ok(())
    }
}

#[cfg(test)]
#[path = "roles_tests.rs"]
mod tests;
