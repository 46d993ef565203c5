//! The role machine's rules, one test each: two Nodes exchanging
//! heartbeats through vectors.

use super::super::HEADER_LEN;
use super::*;

const HB: u64 = 200;
const DEAD: u64 = 1000;

fn key() -> Key {
    Key::new(&[42; 32]).unwrap()
}

fn cfg(node_id: u32, priority: u8, role: Role) -> NodeConfig {
    NodeConfig {
        node_id,
        priority,
        role,
        heartbeat_ms: HB,
        dead_ms: DEAD,
        workers: 2,
        fingerprint: 0xabcd,
    }
}

fn node(node_id: u32, priority: u8, role: Role, epoch: u64) -> Node {
    Node::new(cfg(node_id, priority, role), key(), epoch, 0)
}

/// Polls `n` at `now`: its heartbeat (if due) and events.
fn poll(n: &mut Node, now: u64) -> (Vec<Vec<u8>>, Vec<NodeEvent>) {
    let (mut out, mut ev) = (Vec::new(), Vec::new());
    n.poll(now, &[5, 6], &mut |m| out.push(m.to_vec()), &mut ev);
    (out, ev)
}

/// Delivers `from`'s heartbeat (if due) to `to`: `to`'s events.
fn hear(from: &mut Node, to: &mut Node, now: u64) -> Vec<NodeEvent> {
    let (msgs, _) = poll(from, now);
    let mut ev = Vec::new();
    for m in msgs {
        to.receive(&m, now, &mut ev).unwrap();
    }
    ev
}

/// Both hear each other at `now`.
fn exchange(a: &mut Node, b: &mut Node, now: u64) -> (Vec<NodeEvent>, Vec<NodeEvent>) {
    let eb = hear(a, b, now);
    let ea = hear(b, a, now);
    (ea, eb)
}

fn pair() -> (Node, Node) {
    let mut a = node(1, 100, Role::Active, 10);
    let mut b = node(2, 50, Role::Standby, 20);
    let (ea, eb) = exchange(&mut a, &mut b, 0);
    assert_eq!(
        eb,
        vec![NodeEvent::PeerUp {
            node_id: 1,
            epoch: 10
        }]
    );
    assert_eq!(
        ea,
        vec![NodeEvent::PeerUp {
            node_id: 2,
            epoch: 20
        }]
    );
    (a, b)
}

#[test]
fn heartbeats_go_every_heartbeat_ms_and_carry_the_streams() {
    let (mut a, mut b) = pair();
    assert!(poll(&mut a, HB - 1).0.is_empty());
    assert_eq!(poll(&mut a, HB).0.len(), 1);
    hear(&mut a, &mut b, 2 * HB);
    let p = b.peer().unwrap();
    assert_eq!(p.heartbeat.last_seq, vec![5, 6]);
    assert_eq!(p.heartbeat.uptime_ms, 2 * HB);
    assert_eq!(
        (p.heartbeat.role, p.epoch, p.compatible),
        (Role::Active, 10, true)
    );
    assert_eq!(a.counters.heartbeats_sent, 3);
}

#[test]
fn standby_takes_over_when_the_peer_is_silent_for_dead_ms() {
    let (mut a, mut b) = pair();
    hear(&mut a, &mut b, 600);
    assert!(poll(&mut b, 600 + DEAD - 1).1.is_empty());
    let (msgs, ev) = poll(&mut b, 600 + DEAD);
    assert_eq!(
        ev,
        vec![
            NodeEvent::PeerDead,
            NodeEvent::Takeover(TakeoverReason::PeerDead)
        ]
    );
    assert_eq!(b.role(), Role::Active);
    // The new role goes out at once.
    assert_eq!(msgs.len(), 1);
    assert_eq!((b.counters.takeovers, b.counters.peer_deaths), (1, 1));
    // The active only notes the death.
    assert_eq!(poll(&mut a, 2000).1, vec![NodeEvent::PeerDead]);
    assert_eq!(a.role(), Role::Active);
}

#[test]
fn a_standby_alone_serves_after_dead_ms() {
    let mut b = node(2, 50, Role::Standby, 20);
    assert!(poll(&mut b, DEAD - 1).1.is_empty());
    assert_eq!(
        poll(&mut b, DEAD).1,
        vec![NodeEvent::Takeover(TakeoverReason::PeerDead)]
    );
}

#[test]
fn replayed_heartbeat_is_refused_and_does_not_keep_a_dead_peer_alive() {
    let (mut a, mut b) = pair();
    let (old, _) = poll(&mut a, 400);
    let mut ev = Vec::new();
    b.receive(&old[0], 400, &mut ev).unwrap();
    assert!(matches!(
        b.receive(&old[0], 900, &mut ev),
        Err(PeerError::Refused(SyncError::Replay { .. }))
    ));
    assert_eq!(b.counters.refused.replay, 1);
    // The replay did not count as hearing the peer.
    assert_eq!(
        poll(&mut b, 400 + DEAD).1,
        vec![
            NodeEvent::PeerDead,
            NodeEvent::Takeover(TakeoverReason::PeerDead)
        ]
    );
}

#[test]
fn forged_heartbeat_is_refused_and_changes_nothing() {
    let (mut a, mut b) = pair();
    let (mut m, _) = poll(&mut a, 400);
    m[0][HEADER_LEN] ^= 1;
    let mut ev = Vec::new();
    assert_eq!(
        b.receive(&m[0], 400, &mut ev),
        Err(PeerError::Refused(SyncError::Mac))
    );
    assert_eq!(b.counters.refused.mac, 1);
    assert!(ev.is_empty());
}

#[test]
fn a_peer_with_another_worker_count_or_partition_is_refused_naming_it() {
    let mut a = Node::new(
        NodeConfig {
            workers: 4,
            ..cfg(1, 100, Role::Active)
        },
        key(),
        10,
        0,
    );
    let mut b = node(2, 50, Role::Standby, 20);
    let (m, _) = poll(&mut a, 0);
    let mut ev = Vec::new();
    let e = b.receive(&m[0], 0, &mut ev).unwrap_err();
    assert_eq!(
        e.to_string(),
        "HA peer incompatible: workers: this node has 2, the peer 4"
    );
    assert!(!b.peer().unwrap().compatible);
    // Alive all the same: the standby does not start a split brain.
    assert!(b.peer_alive());
    let mut c = Node::new(
        NodeConfig {
            fingerprint: 0x1234,
            ..cfg(3, 100, Role::Active)
        },
        key(),
        30,
        0,
    );
    let (m, _) = poll(&mut c, 0);
    let e = b.receive(&m[0], 0, &mut ev).unwrap_err();
    assert!(e.to_string().contains("port partitioning"), "{e}");
    assert_eq!(b.counters.incompatible, 2);
}

#[test]
fn a_peer_with_this_nodes_id_is_refused() {
    let mut a = node(1, 100, Role::Active, 10);
    let mut b = node(1, 50, Role::Standby, 20);
    let (m, _) = poll(&mut a, 0);
    let mut ev = Vec::new();
    assert_eq!(
        b.receive(&m[0], 0, &mut ev),
        Err(PeerError::Incompatible(Incompatibility::SameNodeId(1)))
    );
    assert!(b.peer().is_none());
}

#[test]
fn split_brain_higher_priority_stays_active_the_other_demotes() {
    let mut a = node(1, 100, Role::Active, 10);
    let mut b = node(2, 150, Role::Active, 20);
    let (ea, eb) = exchange(&mut a, &mut b, 0);
    assert!(ea.contains(&NodeEvent::Demoted(DemoteReason::SplitBrain)));
    assert!(!eb.iter().any(|e| matches!(e, NodeEvent::Demoted(_))));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
}

#[test]
fn split_brain_on_equal_priority_lower_node_id_stays_active() {
    let mut a = node(7, 100, Role::Active, 10);
    let mut b = node(3, 100, Role::Active, 20);
    exchange(&mut a, &mut b, 0);
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    assert_eq!(a.counters.demotions, 1);
}

#[test]
fn manual_takeover_wins_over_a_higher_priority_active() {
    let (mut a, mut b) = pair();
    let mut ev = Vec::new();
    b.takeover(300, &mut ev);
    assert_eq!(ev, vec![NodeEvent::Takeover(TakeoverReason::Manual)]);
    let ea = hear(&mut b, &mut a, 300);
    assert!(ea.contains(&NodeEvent::Demoted(DemoteReason::PeerClaimed)));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    // Once the old active is standby, the claim is spent: a later split
    // brain goes by priority again.
    hear(&mut a, &mut b, 400);
    let (m, _) = poll(&mut b, 500);
    let mut ev = Vec::new();
    a.receive(&m[0], 500, &mut ev).unwrap();
    assert!(!a.peer().unwrap().heartbeat.claim);
    // Takeover on an active node does nothing.
    let mut ev = Vec::new();
    b.takeover(600, &mut ev);
    assert!(ev.is_empty());
}

#[test]
fn release_hands_the_role_to_the_live_peer_and_does_not_take_it_back() {
    let (mut a, mut b) = pair();
    let mut ev = Vec::new();
    assert_eq!(b.release(300, &mut ev), Err(ReleaseError::NotActive));
    a.release(300, &mut ev).unwrap();
    assert_eq!(ev, vec![NodeEvent::Demoted(DemoteReason::Released)]);
    let eb = hear(&mut a, &mut b, 300);
    assert_eq!(eb, vec![NodeEvent::Takeover(TakeoverReason::PeerReleased)]);
    // Both hear each other: a (higher priority) stays standby.
    exchange(&mut a, &mut b, 500);
    exchange(&mut a, &mut b, 700);
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    // With no live peer there is nobody to release to.
    let mut lone = node(9, 1, Role::Active, 1);
    assert_eq!(lone.release(0, &mut ev), Err(ReleaseError::NoPeer));
}

#[test]
fn two_standbys_elect_the_higher_priority() {
    let mut a = node(1, 100, Role::Standby, 10);
    let mut b = node(2, 50, Role::Standby, 20);
    let (ea, eb) = exchange(&mut a, &mut b, 0);
    assert!(eb.iter().all(|e| !matches!(e, NodeEvent::Takeover(_))));
    assert!(ea.contains(&NodeEvent::Takeover(TakeoverReason::Election)));
    assert_eq!((a.role(), b.role()), (Role::Active, Role::Standby));
}

#[test]
fn a_restarted_peer_is_reported_and_its_old_life_refused() {
    let (mut a, mut b) = pair();
    let (old, _) = poll(&mut a, 200);
    let mut a2 = node(1, 100, Role::Active, 11);
    let eb = hear(&mut a2, &mut b, 300);
    assert_eq!(
        eb,
        vec![NodeEvent::PeerRestarted {
            node_id: 1,
            epoch: 11
        }]
    );
    let mut ev = Vec::new();
    assert!(matches!(
        b.receive(&old[0], 300, &mut ev),
        Err(PeerError::Refused(SyncError::StaleEpoch {
            epoch: 10,
            current: 11
        }))
    ));
}

#[test]
fn a_peer_back_from_the_dead_is_up_again() {
    let (mut a, mut b) = pair();
    poll(&mut a, DEAD); // a declares b dead
    let ea = hear(&mut b, &mut a, DEAD + 10);
    assert_eq!(
        ea,
        vec![NodeEvent::PeerUp {
            node_id: 2,
            epoch: 20
        }]
    );
}
