//! What one hostile member can make a node hold or compute, bounded: votes remembered for
//! equivocation detection, messages buffered for a future slot or view, catch-up served,
//! and the checks a bogus entry in a catch-up response costs (docs/PROTOCOL.md, "The node
//! boundary"). Each test names the control that fails without its rule.

use super::*;
use crate::consensus::absence::Attest;

/// How many of `effects` send a message `to` (any peer if `None`) that `kind` matches.
fn sends(effects: &[Effect], to: Option<NodeId>, kind: impl Fn(&Message) -> bool) -> usize {
    effects
        .iter()
        .filter(|e| match e {
            Effect::Send { to: t, msg } => to.is_none_or(|to| *t == to) && kind(msg),
            _ => false,
        })
        .count()
}

/// Decide `k` slots, one operation each, on every node of `c`.
fn decide(c: &mut Cluster, k: u8) {
    for i in 0..k {
        c.submit(0, compute(i));
        assert!(c.run_until(10_000, |c| c.all_decided(usize::from(i) + 1)));
    }
}

/// A proof that `key` signed two view changes for `slot` (claiming different values).
fn self_incrimination(key: &Keypair, slot: Slot) -> Misbehaviour {
    Misbehaviour::conflicting(
        &claiming_view_change(key, slot, 1, 1),
        &claiming_view_change(key, slot, 2, 1),
    )
    .expect("a conflict")
}

/// Move `node`'s clock on by one `resend_interval`.
fn after_resend_interval(node: &mut Node<crate::state::ReplicatedState>) {
    let later = node.now.saturating_add(node.config.resend_interval);
    node.handle(Input::Tick { now: later });
}

/// A member signs a view change for each of a thousand views (each a different vote, so
/// each passes the signature check and reaches equivocation detection). Only the views a
/// node may still act on are remembered, and only their signing bytes.
///
/// Control: without the view window in `check_equivocation`, `seen_votes` reaches 1,000.
#[test]
fn view_changes_for_many_views_are_remembered_within_the_window() {
    let mut c = Cluster::new(4);
    let key = c.keys[3].clone();
    let from = key.id();
    let node = &mut c.nodes[0];
    for view in 1..=1_000u64 {
        node.handle(Input::Message {
            from,
            msg: view_change(&key, 0, view),
        });
    }
    let seen = node.footprint().seen_votes;
    assert!(
        seen <= usize::try_from(SEEN_VIEWS).unwrap_or(usize::MAX) + 1,
        "{seen} votes remembered"
    );
    // Equivocation inside the window is still caught: a second, different view change for
    // view 1 (another claim) is a conflicting-votes proof.
    let other = ViewChange {
        slot: 0,
        new_view: 1,
        prepared: Some(PreparedClaim {
            view: 0,
            value: crate::types::Digest([9; 32]),
            accepts: Vec::new(),
            tally: None,
        }),
    };
    node.handle(Input::Message {
        from,
        msg: Message::ViewChange(Box::new(Signed::new(other, &key))),
    });
    assert!(
        node.evidence.values().any(|p| matches!(
            p,
            Misbehaviour::ConflictingVotes {
                phase: VotePhase::ViewChange,
                ..
            }
        )),
        "the conflicting view change is proven"
    );
}

/// A signed reveal for `view` of slot 0 carrying one outcome of `bytes` bytes.
fn big_reveal(key: &Keypair, view: View, bytes: usize) -> Message {
    Message::Reveal(Signed::new(
        Reveal {
            slot: 0,
            view,
            batch: crate::types::Digest([1; 32]),
            outcomes: vec![Outcome::Accepted(vec![7; bytes])],
            salt: crate::types::Digest([2; 32]),
        },
        key,
    ))
}

/// A member floods the future buffer with large signed votes for later views: it holds
/// its own share, in count and bytes, and an honest member's buffered vote stays.
///
/// Control: with the node-wide count alone (the rule before), the flooder keeps all 300
/// messages (19 MiB) and the byte assertion fails.
#[test]
fn a_member_flooding_the_future_buffer_holds_its_share_only() {
    let mut c = Cluster::new(4);
    let flooder = c.keys[3].clone();
    let honest = c.keys[2].clone();
    let node = &mut c.nodes[0];
    // An honest vote for the next view arrives first.
    node.handle(Input::Message {
        from: honest.id(),
        msg: big_reveal(&honest, 1, 16),
    });
    // The same vote again (a re-send) takes no more room.
    node.handle(Input::Message {
        from: honest.id(),
        msg: big_reveal(&honest, 1, 16),
    });
    assert_eq!(
        node.footprint().future,
        1,
        "a re-sent vote is buffered once"
    );
    for view in 1..=300u64 {
        node.handle(Input::Message {
            from: flooder.id(),
            msg: big_reveal(&flooder, view, 64 * 1024),
        });
    }
    let mine: Vec<&Buffered> = node
        .future
        .iter()
        .filter(|b| b.key.0 == flooder.id())
        .collect();
    let bytes: usize = mine.iter().map(|b| b.bytes).sum();
    assert!(mine.len() <= FUTURE_PER_SIGNER, "{} buffered", mine.len());
    assert!(bytes <= FUTURE_BYTES_PER_SIGNER, "{bytes} bytes buffered");
    assert!(
        node.future.iter().any(|b| b.key.0 == honest.id()),
        "the honest vote was evicted"
    );
    // The flooder's newest messages are the ones kept (its oldest were evicted).
    assert!(mine.iter().any(|b| b.key.2 == 300));
}

/// Catch-up responses a member can ask for: at once when it asks past the last slot it
/// was sent, otherwise one per `resend_interval` (a repeat, or a walk back over slots it
/// was sent, one stale view change per slot), none for slots not decided.
///
/// Control: without `may_serve`, the ten repeated requests get ten responses of up to
/// 3 MiB each, and so does every step back.
#[test]
fn catch_up_is_served_once_per_interval_unless_the_peer_moves_on() {
    let mut c = Cluster::new(4);
    decide(&mut c, 3);
    let peer = c.keys[3].id();
    let node = &mut c.nodes[0];
    // One entry per response, so that moving on is possible within the three slots.
    node.config.catch_up_batch = 1;
    let responses = |effects: &[Effect]| {
        sends(effects, None, |m| {
            matches!(m, Message::CatchUpResponse { .. })
        })
    };
    let ask = |node: &mut Node<crate::state::ReplicatedState>, from: Slot| {
        responses(&node.handle(Input::Message {
            from: peer,
            msg: Message::CatchUpRequest { from },
        }))
    };
    let served: usize = (0..10).map(|_| ask(node, 0)).sum();
    assert_eq!(served, 1, "repeated requests are paced");
    assert_eq!(ask(node, 1), 1, "a peer moving on is served at once");
    assert_eq!(ask(node, 0), 0, "a walk back over slots sent is paced");
    assert_eq!(
        ask(node, 1_000),
        0,
        "nothing to serve past the decided slots"
    );
    after_resend_interval(node);
    assert_eq!(ask(node, 0), 1, "served again after the interval");
}

/// Stale view changes are requests the node did not ask for: a member that signs one for
/// each decided slot, in order, gets one response per `resend_interval`, not one per
/// step forward (which catch-up requests get).
///
/// Control: with `may_serve` for view changes too (the rule before), the three view
/// changes get three responses, and each walk through the retained log could be
/// repeated every interval.
#[test]
fn stale_view_changes_get_one_response_per_interval() {
    let mut c = Cluster::new(4);
    decide(&mut c, 3);
    let key = c.keys[3].clone();
    let node = &mut c.nodes[0];
    node.config.catch_up_batch = 1;
    let walk = |node: &mut Node<crate::state::ReplicatedState>| -> usize {
        (0..3u64)
            .map(|slot| {
                let effects = node.handle(Input::Message {
                    from: key.id(),
                    msg: view_change(&key, slot, 7),
                });
                sends(&effects, None, |m| {
                    matches!(m, Message::CatchUpResponse { .. })
                })
            })
            .sum()
    };
    assert_eq!(
        walk(node),
        1,
        "one response for a walk of three view changes"
    );
    after_resend_interval(node);
    assert_eq!(walk(node), 1, "and one more after the interval");
}

/// The retained log is held to its byte budget as well as its count (entries of several
/// MiB made 4,096 of them several GiB), and the newest entry stays whatever its size, so
/// the next proposal still has its parent and the cluster goes on deciding.
///
/// Control: with the count alone (the rule before), all six entries are kept and the
/// byte assertion fails.
#[test]
fn the_retained_log_is_held_to_its_byte_budget() {
    let mut c = Cluster::new(4);
    c.submit(0, compute(0));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    let one = c.nodes[0].footprint().log_bytes;
    assert!(one > 0, "the first entry is retained");
    let budget = one * 5 / 2;
    for node in &mut c.nodes {
        node.config.log_retention_bytes = budget;
    }
    for k in 1..6u8 {
        c.submit(0, compute(k));
        assert!(c.run_until(10_000, |c| c.all_decided(usize::from(k) + 1)));
    }
    let f = c.nodes[0].footprint();
    assert!(
        f.log_bytes <= budget && f.log < 6,
        "{} entries of {} bytes retained, budget {budget}",
        f.log,
        f.log_bytes
    );
    assert!(f.log >= 1);
    // A budget smaller than one entry keeps the newest, and deciding goes on.
    for node in &mut c.nodes {
        node.config.log_retention_bytes = 1;
    }
    c.submit(0, compute(9));
    assert!(c.run_until(10_000, |c| c.all_decided(7)));
    assert_eq!(c.nodes[0].footprint().log, 1);
    c.assert_agreement();
}

/// A view change of `key` for `(slot, 1)` whose prepared claim carries `accepts` accepts
/// for `value` (its signing bytes grow with them).
fn claiming_view_change(key: &Keypair, slot: Slot, value: u8, accepts: usize) -> Message {
    let accept = Signed::new(
        Accept {
            slot: 0,
            view: 0,
            value: crate::types::Digest([value; 32]),
        },
        key,
    );
    Message::ViewChange(Box::new(Signed::new(
        ViewChange {
            slot,
            new_view: 1,
            prepared: Some(PreparedClaim {
                view: 0,
                value: crate::types::Digest([value; 32]),
                accepts: vec![accept; accepts],
                tally: None,
            }),
        },
        key,
    )))
}

/// The evidence pool holds proofs that can be proposed, and shares its room among
/// offenders: a proof larger than a proposal may carry is refused (it could never be
/// recorded, and every pending proof is re-broadcast each `resend_interval`); a member signing
/// conflicting view changes about itself for slot after slot gets at most
/// `MAX_PROOFS_PER_OFFENDER` proofs kept; a proof against another member still gets in.
///
/// Control: with the pool's count alone (the rule before), the padded proof and all eight
/// proofs against one offender are kept (a member could hold about 4 GiB of 2 MiB proofs).
#[test]
fn the_evidence_pool_refuses_oversized_proofs_and_shares_room_per_offender() {
    let mut c = Cluster::new(4);
    // Slots 0..8 decided: proofs for each are within the window.
    decide(&mut c, 8);
    let flooder = c.keys[3].clone();
    let other = c.keys[2].clone();
    let node = &mut c.nodes[0];
    let send = |node: &mut Node<crate::state::ReplicatedState>, first, second| {
        let proof = Misbehaviour::conflicting(&first, &second).expect("a conflict");
        node.handle(Input::Message {
            from: flooder.id(),
            msg: Message::Evidence(Box::new(proof)),
        });
    };
    // Signing bytes of 5,000 accepts: more than a proposal may carry of proofs.
    let big = Misbehaviour::conflicting(
        &claiming_view_change(&flooder, 8, 1, 5_000),
        &claiming_view_change(&flooder, 8, 2, 5_000),
    )
    .expect("a conflict");
    assert!(crate::crypto::encoded_len(&big) > limits::MAX_PROOF_BYTES_PER_PROPOSAL);
    send(
        node,
        claiming_view_change(&flooder, 8, 1, 5_000),
        claiming_view_change(&flooder, 8, 2, 5_000),
    );
    assert_eq!(node.footprint().evidence, 0, "the oversized proof is kept");
    for slot in 0..8 {
        send(
            node,
            claiming_view_change(&flooder, slot, 1, 1),
            claiming_view_change(&flooder, slot, 2, 1),
        );
    }
    assert_eq!(node.footprint().evidence, MAX_PROOFS_PER_OFFENDER);
    send(
        node,
        claiming_view_change(&other, 8, 1, 1),
        claiming_view_change(&other, 8, 2, 1),
    );
    assert_eq!(
        node.footprint().evidence,
        MAX_PROOFS_PER_OFFENDER + 1,
        "a proof against another member gets in"
    );
}

/// Attacker: a member that signs padded conflicting votes against itself, slot after
/// slot, and keeps doing so once excluded (it stays a member). Its first proof excludes it
/// for misbehaviour; a proof against it changes nothing after that, so none is kept,
/// gossiped or proposed.
///
/// Control: without the `misbehaved` refusal the later proof is kept.
#[test]
fn proofs_against_a_member_already_excluded_for_misbehaviour_are_not_kept() {
    let mut c = Cluster::new(4);
    decide(&mut c, 8);
    let flooder = c.keys[3].clone();
    let proof = |slot| Box::new(self_incrimination(&flooder, slot));
    let i = 0;
    // The proof is recorded, and the flooder is excluded.
    let id = flooder.id();
    for n in 0..3 {
        c.input(
            n,
            Input::Message {
                from: id,
                msg: Message::Evidence(proof(7)),
            },
        );
    }
    assert!(c.run_until(10_000, |c| {
        c.nodes[..3].iter().all(|n| n.state().misbehaved(&id))
    }));
    // A further proof against it is not kept.
    c.nodes[i].handle(Input::Message {
        from: id,
        msg: Message::Evidence(proof(8)),
    });
    assert_eq!(
        c.nodes[i].footprint().evidence,
        0,
        "the later proof is kept"
    );
}

/// Attacker: members whose attestations name non-members (up to 1,024 per list), so that
/// an absence proof holding them outgrows what a proposal may carry and the absence goes
/// unpunished. An attestation naming a non-member is refused (an attestation then names
/// at most twice the members, as an honest one may).
///
/// Control: without the member check the padded attestation is pooled.
#[test]
fn attestations_naming_non_members_are_refused() {
    let mut c = Cluster::new(10);
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    let value = c.decided[9][0].value();
    let ids: Vec<NodeId> = c.nodes.iter().map(|n| n.id()).collect();
    let victim = ids[8];
    let attest = |key: &Keypair, silent: Vec<NodeId>, unrevealed: Vec<NodeId>| {
        Message::Attest(Box::new(Signed::new(
            Attest {
                slot: 0,
                value,
                silent,
                unrevealed,
            },
            key,
        )))
    };
    let node = &mut c.nodes[9];
    let mut padded: Vec<NodeId> = (0..100u8)
        .map(|i| {
            let mut seed = [0xab; 32];
            seed[0] = i;
            Keypair::from_seed(seed).id()
        })
        .chain([victim])
        .collect();
    padded.sort();
    // Whatever the members attested of slot 0 so far is forgotten: the pool starts empty.
    node.attests.remove(&0);
    node.absences.clear();
    node.handle(Input::Message {
        from: ids[1],
        msg: attest(&c.keys[1], padded, Vec::new()),
    });
    assert_eq!(
        node.attests.get(&0).map_or(0, BTreeMap::len),
        0,
        "an attestation naming non-members is pooled"
    );
    // Attestations naming members only make the proof.
    for i in 0..7 {
        node.handle(Input::Message {
            from: c.keys[i].id(),
            msg: attest(&c.keys[i], vec![victim], Vec::new()),
        });
    }
    let proof = node.absences.get(&(0, victim)).expect("an absence proof");
    let signers: BTreeSet<NodeId> = proof.attests.iter().map(|a| a.signer).collect();
    assert!(ReplicaState::is_quorum(node.state(), &signers));
}

/// A module call the driver never answers (its local fault outlived the slot: the driver
/// drops it) is forgotten once its slot is decided. Attacker: a module that makes every
/// call fail locally on one node, or a peer whose proposals make calls that never end
/// before the slot does; each left an entry in the core for the process's life.
///
/// Control: without the prune after a decision the unanswered call stays.
#[test]
fn calls_of_a_decided_slot_are_forgotten() {
    let mut c = Cluster::new(4);
    let lost = c.nodes[0].fresh_call(CallPurpose::Resolver {
        key: crate::types::Digest([3; 32]),
    });
    assert_eq!(c.nodes[0].footprint().calls, 1);
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    assert_eq!(
        c.nodes[0].footprint().calls,
        0,
        "call {lost:?} is still held"
    );
}

/// What a proposal may carry of misbehaviour proofs, one rule for the primary choosing
/// and the members checking (`proof_unfit`): a proof against a member a proof still
/// changes, about a slot within the window and at most one past the proposal's.
/// Attackers: a primary proposing proofs that change nothing (against an offender
/// excluded for misbehaviour already), or about far slots (recorded early, a proof
/// shields the equivocation it describes when that slot comes). The controls are the
/// same proof about a recent slot against a member, which fits.
#[test]
fn a_proposal_carries_only_proofs_that_change_something() {
    let mut c = Cluster::new(4);
    decide(&mut c, 3);
    let offender = c.keys[3].clone();
    let outsider = Keypair::from_seed([0xee; 32]);
    let proof = self_incrimination;
    let node = &c.nodes[0];
    let next = node.slot();
    let fits = |p: &Misbehaviour, by: &Keypair| node.proof_unfit(p, by.id(), next);
    assert_eq!(fits(&proof(&offender, 2), &offender), None, "control");
    assert_eq!(
        fits(&proof(&offender, next + 1), &offender),
        None,
        "control"
    );
    assert!(
        fits(&proof(&offender, next + 2), &offender).is_some(),
        "a far slot"
    );
    assert!(
        fits(&proof(&outsider, 2), &outsider).is_some(),
        "a non-member"
    );
    // Once the offender is excluded for misbehaviour, a proof changes nothing.
    let id = offender.id();
    for n in 0..3 {
        c.input(
            n,
            Input::Message {
                from: id,
                msg: Message::Evidence(Box::new(proof(&offender, 2))),
            },
        );
    }
    assert!(c.run_until(10_000, |c| c.nodes[0].state().misbehaved(&id)));
    let node = &c.nodes[0];
    let next = node.slot();
    assert!(
        node.proof_unfit(&proof(&offender, next), id, next)
            .is_some(),
        "a proof against a member excluded for misbehaviour"
    );
}

/// A view change for a view this node has moved past gets its new-view back at most once
/// per `resend_interval` to the signer, however often it arrives: anyone may replay an old
/// signed view change (its signature is cached), and a new-view is up to a frame of 4 MiB.
///
/// Control: without the pacing (the rule before), the hundred replays get a hundred
/// new-views.
#[test]
fn a_replayed_stale_view_change_gets_the_new_view_once_per_interval() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    c.down.insert(primary);
    for i in c.up() {
        c.submit(i, compute(5));
    }
    let moved = |c: &Cluster, i: usize| {
        c.nodes[i].new_view_msg.is_some() && c.nodes[i].mode == Mode::Normal
    };
    assert!(c.run_until(60_000, |c| c.up().iter().any(|&i| moved(c, i))));
    let node = c
        .up()
        .into_iter()
        .find(|&i| moved(&c, i))
        .expect("a node moved on");
    let others: Vec<usize> = c.up().into_iter().filter(|&i| i != node).collect();
    let (signer, relay) = (others[0], others[1]);
    let (slot, view) = (c.nodes[node].slot(), c.nodes[node].view);
    let msg = view_change(&c.keys[signer], slot, view);
    let to = c.keys[signer].id();
    let relay = c.keys[relay].id();
    let handed = |node: &mut Node<crate::state::ReplicatedState>| -> usize {
        (0..100)
            .map(|_| {
                let effects = node.handle(Input::Message {
                    from: relay,
                    msg: msg.clone(),
                });
                sends(&effects, Some(to), |m| matches!(m, Message::NewView(_)))
            })
            .sum()
    };
    let n = &mut c.nodes[node];
    assert_eq!(handed(n), 1, "a hundred replays");
    after_resend_interval(n);
    assert_eq!(handed(n), 1, "once more after the interval");
}

/// A vote for the next slot carrying more outcomes than any batch may hold is refused
/// before it is buffered: the buffer counts encoded bytes, and 20,000 `Failed` outcomes
/// take 2 bytes each encoded but about 40 in memory. One with as many as a batch may hold
/// is buffered.
///
/// Control: without the ceiling (the rule before), the long reveal is buffered too.
#[test]
fn a_vote_with_more_outcomes_than_any_batch_is_not_buffered() {
    let mut c = Cluster::new(4);
    let key = c.keys[3].clone();
    let node = &mut c.nodes[0];
    let reveal = |outcomes: usize| {
        Message::Reveal(Signed::new(
            Reveal {
                slot: 1,
                view: 0,
                batch: crate::types::Digest([1; 32]),
                outcomes: vec![Outcome::Failed(FailureKind::Trap); outcomes],
                salt: crate::types::Digest([2; 32]),
            },
            &key,
        ))
    };
    node.handle(Input::Message {
        from: key.id(),
        msg: reveal(crate::state::MAX_BATCH_CEILING + 1),
    });
    assert_eq!(node.footprint().future, 0, "the long reveal is buffered");
    node.handle(Input::Message {
        from: key.id(),
        msg: reveal(crate::state::MAX_BATCH_CEILING),
    });
    assert_eq!(
        node.footprint().future,
        1,
        "a reveal within the ceiling is buffered"
    );
}

/// A fork proof is checked in shape on both sides (membership, distinct signers, quorum)
/// before any signature, and the first side's signatures before the second's: a node
/// comparing a peer's bogus entry with its own (the peer's side first) checks none of its
/// own certificate's signatures.
///
/// Control: with each side checked whole in turn (the rule before), the proof below fails
/// on the first side's signature instead of the second side's missing quorum.
#[test]
fn a_fork_proof_is_checked_in_shape_before_any_signature() {
    let mut c = Cluster::new(4);
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    let entry = c.decided[0][0].clone();
    let mut first = fork::CertifiedValue::of(&entry);
    // A signature that does not verify on the first side...
    if let Some(c0) = first.confirms.first_mut() {
        c0.signature = c.keys[0].sign(b"spore/test", b"not the confirm");
    }
    // ...and a second side of one confirm: no quorum.
    let mut second = fork::CertifiedValue::of(&entry);
    second.value = crate::types::Digest([5; 32]);
    second.confirms.truncate(1);
    let proof = ForkProof { first, second };
    let node = &c.nodes[0];
    let quorum = |s: &BTreeSet<NodeId>| node.state.is_quorum(s);
    let err = proof.verify(&node.state, &quorum);
    assert!(
        matches!(
            err,
            Err(ForkError::Certificate(CertificateError::ConfirmMismatch))
                | Err(ForkError::Certificate(CertificateError::NoQuorum(_)))
        ),
        "{err:?}"
    );
}
