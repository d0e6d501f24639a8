//! Governance under attack, on real processes: an outsider who knows only a node's client
//! address and id, with a fresh key of its own, tries every way to change trust,
//! membership, parameters or modules. Each attempt is refused at once with an error that
//! names the reason; the trust ledger, the membership, the modules and the log are
//! unchanged afterwards. A member's own node key may not govern either, a validly signed
//! operation is decided once only, and signatures for another chain or past their expiry
//! are worthless. The genesis governor key, finally, does govern.

use std::time::Duration;

use spore::cli::client::{status, submit};
use spore::node::client::Client;
use spore::node::cluster::Cluster;
use spore::node::keyfile;
use spore::node::proto::{MemberRow, Request, Response, StatusReport};
use spore_cluster_tests::{cluster, expect_refused, full_log, serial, signed};
use spore_core::crypto::{Keypair, sha256};
use spore_core::ops::{
    ComputeTask, ConfigType, Evidence, EvidenceKind, ExclusionReason, ImpactLevel,
    NetworkConfigChange, NodeAdmission, NodeExclusion, NodeIdentity, Operation, Param,
    SecurityDomain, SecurityPolicyUpdate, SignedOperation, Sponsorship, TrustModification,
    TrustReason,
};
use spore_core::state::authority_key_param;
use spore_core::types::{Digest, Hierarchy, NodeId, Slot};

const DECIDE: Option<Duration> = Some(Duration::from_secs(60));

/// What must not move while the cluster is under attack, as node `i` reports it.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    slot: Slot,
    members: Vec<MemberRow>,
    modules: Vec<(String, Digest)>,
    state: Digest,
}

fn observed(s: &StatusReport) -> Observed {
    Observed {
        slot: s.slot,
        members: s.members.clone(),
        modules: s
            .modules
            .iter()
            .map(|m| (m.role.clone(), m.active))
            .collect(),
        state: s.state_digest,
    }
}

/// Every node at the same slot (nothing in flight); their observations.
async fn settled(c: &Cluster) -> anyhow::Result<Vec<Observed>> {
    spore_cluster_tests::eventually(Duration::from_secs(30), "every node settled", || async {
        let mut all = Vec::new();
        for i in 0..c.nodes.len() {
            all.push(c.status(i).await?);
        }
        let same = all.windows(2).all(|w| w[0].slot == w[1].slot);
        let idle = all.iter().all(|s| s.mempool == 0);
        Ok((same && idle).then(|| all.iter().map(observed).collect()))
    })
    .await
}

fn trust_of(s: &StatusReport, id: &NodeId) -> anyhow::Result<(u32, bool)> {
    s.members
        .iter()
        .find(|m| m.id == *id)
        .map(|m| (m.trust, m.eligible))
        .ok_or_else(|| anyhow::anyhow!("{id} is not a member"))
}

/// Assert `msg` contains every one of `parts`.
fn names(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{p:?} missing from the refusal: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_and_members_cannot_govern_and_the_governor_can() -> anyhow::Result<()> {
    let _serial = serial().await;
    let (_dir, c) = cluster(4, &[]).await?;
    // One legitimate compute task (the client key), so that the next slot is past 0 and an
    // expired signature can be made below.
    let setup = c.client(0).await?;
    let (_, d) = submit(&setup, signed(&c, compute_op(0)), DECIDE).await?;
    anyhow::ensure!(d.is_some(), "the setup task was not decided");
    setup.close().await;
    let before = settled(&c).await?;

    // The attacker: a node's client address and id (public), a key of its own. Any key
    // may connect and read; the status tells it the chain and the slot.
    let attacker = keyfile::generate();
    let target = &c.nodes[1];
    let honest = target.id;
    let client = Client::connect(target.client_addr, target.id, &attacker).await?;
    let s = status(&client).await?;
    let (chain, slot) = (s.genesis, s.slot);
    let by = |key: &Keypair, op: Operation| SignedOperation::sign(op, chain, slot + 1_000, key);
    let who = attacker.id().to_string();

    // (a) Slash an honest member to nothing.
    let slash = Operation::TrustModification(TrustModification {
        target: honest,
        delta_bps: -10_000,
        reason: TrustReason::GovernanceDecision,
        justification: "trust me".to_owned(),
    });
    let msg = expect_refused(&client, by(&attacker, slash.clone())).await?;
    names(
        &msg,
        &[
            &who,
            "may not submit trust-modification",
            "needs the role governor",
        ],
    );

    // (b) Exclude it for "equivocation" with a one-byte proof: the attacker holds no role
    // for a proven exclusion; a member, which does, is refused for the proof itself.
    let forged_proof = Operation::NodeExclusion(NodeExclusion {
        target: honest,
        reason: ExclusionReason::Equivocation,
        evidence: vec![Evidence {
            kind: EvidenceKind::ConflictingVotes,
            payload: vec![0x01],
        }],
    });
    let msg = expect_refused(&client, by(&attacker, forged_proof.clone())).await?;
    names(
        &msg,
        &[
            &who,
            "may not submit proven-exclusion",
            "governor or operator or member",
        ],
    );
    let member2 = c.key(2)?;
    let msg = expect_refused(&client, by(&member2, forged_proof)).await?;
    names(&msg, &["evidence:"]);
    // And for a governance reason, which only the governor may give.
    let governance_exclusion = Operation::NodeExclusion(NodeExclusion {
        target: honest,
        reason: ExclusionReason::GovernanceDecision,
        evidence: Vec::new(),
    });
    let msg = expect_refused(&client, by(&attacker, governance_exclusion)).await?;
    names(
        &msg,
        &["may not submit node-exclusion", "needs the role governor"],
    );

    // (c) Admit a key of the attacker's with two members named as sponsors who never
    // signed (the signatures are the attacker's), and with one member's real sponsorship
    // only. The attacker may not submit admissions at all; an operator who does (tricked
    // into it) is refused for the sponsorships.
    let sybil = keyfile::generate();
    let candidate = NodeIdentity {
        id: sybil.id(),
        level: Hierarchy::Sclerotia,
        name: "sybil".to_owned(),
        address: "127.0.0.1:9".to_owned(),
    };
    let forged: Vec<Sponsorship> = [0, 1]
        .map(|i| Sponsorship {
            sponsor: c.nodes[i].id,
            ..Sponsorship::sign(&chain, &candidate, &attacker)
        })
        .into();
    let unsigned_sponsors = Operation::NodeAdmission(NodeAdmission {
        candidate: candidate.clone(),
        sponsors: forged,
    });
    let lonely = Operation::NodeAdmission(NodeAdmission {
        candidate: candidate.clone(),
        sponsors: c.sponsorships(&candidate, &[0])?,
    });
    for op in [&unsigned_sponsors, &lonely] {
        let msg = expect_refused(&client, by(&attacker, op.clone())).await?;
        names(
            &msg,
            &[
                &who,
                "may not submit node-admission",
                "governor or operator",
            ],
        );
    }
    let msg = expect_refused(&client, by(&c.operator, unsigned_sponsors)).await?;
    names(&msg, &["sponsorship:", "does not verify"]);
    let msg = expect_refused(&client, by(&c.operator, lonely)).await?;
    names(
        &msg,
        &["sponsorship:", "1 valid sponsorships", "min-sponsors is 2"],
    );

    // (d) Weaken the quorums.
    let quorum = Operation::NetworkConfigChange(NetworkConfigChange {
        config_type: ConfigType::Quorum,
        changes: vec![
            Param {
                key: "quorum.light-weight-bps".to_owned(),
                value: 5_000,
            },
            Param {
                key: "quorum.min-high-trust".to_owned(),
                value: 0,
            },
        ],
        impact: ImpactLevel::Low,
    });
    let msg = expect_refused(&client, by(&attacker, quorum)).await?;
    names(
        &msg,
        &[
            "may not submit network-config-change",
            "needs the role governor",
        ],
    );

    // (e) Upload a module and swap the resolver to it.
    match client
        .call_one(&Request::UploadModule(
            spore_artifacts::STRICT_RESOLVER.bytes.to_vec(),
        ))
        .await?
    {
        Response::Error(msg) => names(
            &msg,
            &[
                "refused:",
                "may not submit module-upload",
                "governor or operator",
            ],
        ),
        other => panic!("the upload was not refused: {other:?}"),
    }
    let resolver = s
        .modules
        .iter()
        .find(|m| m.role == "resolver")
        .map(|m| m.active)
        .ok_or_else(|| anyhow::anyhow!("no resolver"))?;
    let swap = Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain: SecurityDomain::ResolverModule,
        new_policy: sha256(spore_artifacts::STRICT_RESOLVER.bytes),
        rollback_to: resolver,
        description: "hostile takeover".to_owned(),
    });
    let msg = expect_refused(&client, by(&attacker, swap)).await?;
    names(
        &msg,
        &[
            "may not submit security-policy-update",
            "needs the role governor",
        ],
    );
    // Not even compute: the attacker's key is no client key of the genesis.
    let msg = expect_refused(&client, by(&attacker, compute_op(1))).await?;
    names(&msg, &["may not submit compute"]);

    // (f) A member's own node key, on its own node's client port, may not change trust.
    let member1 = c.key(1)?;
    let as_member = c.client_as(1, &member1).await?;
    let grant_self = Operation::TrustModification(TrustModification {
        target: member1.id(),
        delta_bps: 500,
        reason: TrustReason::RecoveryGrant,
        justification: "I deserve it".to_owned(),
    });
    let msg = expect_refused(&as_member, by(&member1, grant_self)).await?;
    names(
        &msg,
        &[
            &member1.id().to_string(),
            "may not submit trust-modification",
            "needs the role governor",
        ],
    );
    let msg = expect_refused(&as_member, by(&member1, slash.clone())).await?;
    names(&msg, &["may not submit trust-modification"]);
    as_member.close().await;

    // (g) Governor signatures that are worthless here: made for another chain, expired,
    // or reaching further ahead than the expiry window.
    let grant = Operation::TrustModification(TrustModification {
        target: honest,
        delta_bps: 50,
        reason: TrustReason::RecoveryGrant,
        justification: "clean audit".to_owned(),
    });
    let other_chain =
        SignedOperation::sign(grant.clone(), Digest([0x42; 32]), slot + 1_000, &c.governor);
    let msg = expect_refused(&client, other_chain).await?;
    names(&msg, &["signed for chain"]);
    let expired = SignedOperation::sign(grant.clone(), chain, slot - 1, &c.governor);
    let msg = expect_refused(&client, expired).await?;
    names(&msg, &["expired at slot"]);
    let too_far = SignedOperation::sign(grant.clone(), chain, slot + 20_000, &c.governor);
    let msg = expect_refused(&client, too_far).await?;
    names(&msg, &["slots ahead"]);

    // Nothing moved on any node: no slot decided, same trust, membership and modules, and
    // no operation of the attacker's or the members' in the log.
    let after = settled(&c).await?;
    assert_eq!(after, before, "the attacks changed the cluster");
    let log = full_log(&c, 0).await?;
    let strangers = [attacker.id(), member1.id(), member2.id()];
    assert!(
        log.iter()
            .flat_map(|e| e.batch().iter())
            .all(|op| !strangers.contains(&op.submitter)),
        "an attacker's operation was ordered"
    );

    // The governor key does govern: a small grant, decided and applied once.
    let governor = c.client_as(0, &c.governor).await?;
    let trust0 = trust_of(&c.status(0).await?, &honest)?;
    let grant = signed(&c, grant);
    assert_eq!(grant.submitter, c.governor.id());
    let (_, d) = submit(&governor, grant.clone(), DECIDE).await?;
    let d = d.ok_or_else(|| anyhow::anyhow!("the grant was not decided"))?;
    assert!(
        d.decision.outcome().is_some_and(|o| o.is_accepted()),
        "the grant was not accepted: {d:?}"
    );
    governor.close().await;
    let granted = settled(&c).await?;
    let s0 = c.status(0).await?;
    let trust1 = trust_of(&s0, &honest)?;
    assert!(
        trust1.1 && trust1.0 >= trust0.0 + 50,
        "{trust0:?} -> {trust1:?}"
    );
    let event = format!("{honest} trust");
    let applied = |s: &StatusReport| {
        s.events
            .iter()
            .filter(|(at, e)| {
                *at == d.slot && e.contains(&event) && e.contains("(+50) by Governance")
            })
            .count()
    };
    assert_eq!(applied(&s0), 1, "{:?}", s0.events);

    // Replay: the attacker reads the governor's operation from the public log and submits
    // it again, to every node: answered from the log (same decision) or refused, never
    // ordered twice. Tampered with, its signature no longer verifies.
    let from_log = full_log(&c, 0)
        .await?
        .iter()
        .flat_map(|e| e.batch().iter().cloned())
        .find(|op| op.id() == grant.id())
        .ok_or_else(|| anyhow::anyhow!("the grant is not in the log"))?;
    for i in 0..c.nodes.len() {
        let replayer = Client::connect(c.nodes[i].client_addr, c.nodes[i].id, &attacker).await?;
        match submit(&replayer, from_log.clone(), DECIDE).await {
            Ok((_, again)) => assert_eq!(again.as_ref(), Some(&d), "node {i} re-decided"),
            Err(e) => names(&format!("{e:#}"), &["refused:", "already decided"]),
        }
        replayer.close().await;
    }
    let mut tampered = from_log.clone();
    if let Operation::TrustModification(t) = &mut tampered.op {
        t.delta_bps = -10_000;
    }
    let msg = expect_refused(&client, tampered).await?;
    names(&msg, &["bad submitter signature"]);
    let replayed = settled(&c).await?;
    assert_eq!(replayed, granted, "the replay changed the cluster");
    for i in 0..c.nodes.len() {
        let times = full_log(&c, i)
            .await?
            .iter()
            .flat_map(|e| e.batch().iter())
            .filter(|op| op.id() == grant.id())
            .count();
        assert_eq!(times, 1, "node {i} holds the grant {times} times");
        assert_eq!(applied(&c.status(i).await?), 1, "node {i}");
    }

    // The authority itself changes only by a decided Full-BFT operation of a governor:
    // the attacker cannot grant itself a role; the governor hands governance to a fresh
    // key and revokes its own; from then on the old key is refused and the new one
    // governs, on every node.
    let successor = Keypair::from_seed([0x5a; 32]);
    let grant_to = |id: NodeId, mask: i64| {
        Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Authority,
            changes: vec![Param {
                key: authority_key_param(&id),
                value: mask,
            }],
            impact: ImpactLevel::Critical,
        })
    };
    let msg = expect_refused(&client, by(&attacker, grant_to(attacker.id(), 1))).await?;
    names(&msg, &["governor", "network-config-change"]);
    let governor = c.client_as(0, &c.governor).await?;
    for op in [grant_to(successor.id(), 1), grant_to(c.governor.id(), 0)] {
        let (_, d) = submit(&governor, by(&c.governor, op), DECIDE).await?;
        let d = d.ok_or_else(|| anyhow::anyhow!("the authority change was not decided"))?;
        assert!(
            d.decision.outcome().is_some_and(|o| o.is_accepted()),
            "the authority change was not accepted: {d:?}"
        );
    }
    governor.close().await;
    settled(&c).await?;
    let nudge = Operation::TrustModification(TrustModification {
        target: honest,
        delta_bps: 10,
        reason: TrustReason::RecoveryGrant,
        justification: "handover check".to_owned(),
    });
    for i in 0..c.nodes.len() {
        let old = c.client_as(i, &c.governor).await?;
        let msg = expect_refused(&old, by(&c.governor, nudge.clone())).await?;
        names(&msg, &["governor"]);
        old.close().await;
    }
    let new = Client::connect(c.nodes[1].client_addr, c.nodes[1].id, &successor).await?;
    let (_, d) = submit(&new, by(&successor, nudge), DECIDE).await?;
    let d = d.ok_or_else(|| anyhow::anyhow!("the successor's operation was not decided"))?;
    assert!(
        d.decision.outcome().is_some_and(|o| o.is_accepted()),
        "{d:?}"
    );
    new.close().await;
    client.close().await;
    Ok(())
}

fn compute_op(i: u64) -> Operation {
    Operation::Compute(ComputeTask {
        kind: "median-price".to_owned(),
        input: (0..3u64)
            .flat_map(|k| [k.to_le_bytes(), (1_000 + (k + i) as i64).to_le_bytes()].concat())
            .collect(),
    })
}
