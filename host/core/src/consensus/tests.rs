//! Unit tests of the consensus machine: a synchronous in-module harness of `n` real nodes
//! over the real replicated state, delivering effects in FIFO order, with hooks to
//! silence a node, tamper with what it sends, and pick validator and resolver answers.
//! (The seeded faulty network and the Byzantine catalogue belong to `sim/`.)

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::*;
use crate::crypto::{Canonical, canonical_bytes};
use crate::genesis::tests::{sign_op, signed};
use crate::ops::*;
use crate::state::ReplicatedState;
use crate::trust::Participation;
use crate::types::Layer;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Rewrites (or drops, with `None`) a message sent by node `from` to node `to`.
type Tamper = Box<dyn FnMut(usize, usize, Message) -> Option<Message>>;
/// The validator outcome of node `i` for an operation.
type Validator = Box<dyn Fn(usize, &Operation) -> Outcome>;
/// The resolver verdict for (primary, seed, latent).
type Resolver = Box<dyn Fn(&LayerResult, &LayerResult, &LayerResult) -> ResolverVerdict>;

struct Cluster {
    /// The genesis digest (what test operations are signed for).
    chain: crate::types::Digest,
    nodes: Vec<Node<ReplicatedState>>,
    keys: Vec<Keypair>,
    now: u64,
    queue: VecDeque<(usize, usize, Message)>,
    inputs: VecDeque<(usize, Input)>,
    timers: Vec<Option<u64>>,
    decided: Vec<Vec<DecidedEntry>>,
    evidence: Vec<Vec<Misbehaviour>>,
    /// Per node, every effect batch in order (for the persist-before-send check).
    traces: Vec<Vec<Vec<Effect>>>,
    down: BTreeSet<usize>,
    tamper: Option<Tamper>,
    validator: Validator,
    resolver: Resolver,
    resolver_calls: usize,
}

fn honest_validator() -> Validator {
    Box::new(|_, op| Outcome::Accepted(op.digest().0.to_vec()))
}

impl Cluster {
    fn new(n: u8) -> Self {
        let (genesis, keys) = signed(n);
        let nodes = keys
            .iter()
            .map(|k| {
                Node::new(
                    Config::default(),
                    k.clone(),
                    ReplicatedState::from_genesis_unverified(&genesis),
                )
            })
            .collect::<Vec<_>>();
        let n = nodes.len();
        Cluster {
            chain: genesis.digest(),
            nodes,
            keys,
            now: 0,
            queue: VecDeque::new(),
            inputs: VecDeque::new(),
            timers: vec![None; n],
            decided: vec![Vec::new(); n],
            evidence: vec![Vec::new(); n],
            traces: vec![Vec::new(); n],
            down: BTreeSet::new(),
            tamper: None,
            validator: honest_validator(),
            resolver: Box::new(|_, _, _| ResolverVerdict::Accept(Layer::Primary)),
            resolver_calls: 0,
        }
    }

    fn index_of(&self, id: NodeId) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id() == id)
            .unwrap_or(usize::MAX)
    }

    /// Index of the node holding `layer` in `view` (per node 0's state).
    fn layer(&self, layer: Layer, view: View) -> usize {
        let s = self.nodes[0].state();
        let id = match layer {
            Layer::Primary => s.primary(view),
            Layer::Seed => s.seed(view),
            Layer::Latent => s.latent(view).first().map(|(id, _)| *id),
        };
        id.map_or(usize::MAX, |id| self.index_of(id))
    }

    fn input(&mut self, i: usize, input: Input) {
        if self.down.contains(&i) {
            return;
        }
        let effects = self.nodes[i].handle(input);
        self.run_effects(i, effects);
    }

    fn run_effects(&mut self, i: usize, effects: Vec<Effect>) {
        self.traces[i].push(effects.clone());
        let n = self.nodes.len();
        for e in effects {
            match e {
                Effect::Send { to, msg } => {
                    let j = self.index_of(to);
                    if j < n {
                        self.queue.push_back((i, j, msg));
                    }
                }
                Effect::Broadcast { msg } => {
                    for j in (0..n).filter(|j| *j != i) {
                        self.queue.push_back((i, j, msg.clone()));
                    }
                }
                Effect::Persist(_) => {}
                Effect::CallValidator { call, op, .. } => {
                    let outcome = (self.validator)(i, &op);
                    self.inputs.push_back((
                        i,
                        Input::ModuleResult {
                            call,
                            result: ModuleReply::Validator(outcome),
                        },
                    ));
                }
                Effect::CallResolver {
                    call,
                    primary,
                    seed,
                    latent,
                    ..
                } => {
                    self.resolver_calls += 1;
                    let verdict = (self.resolver)(&primary, &seed, &latent);
                    self.inputs.push_back((
                        i,
                        Input::ModuleResult {
                            call,
                            result: ModuleReply::Resolver(verdict),
                        },
                    ));
                }
                Effect::Decided { entry, .. } => self.decided[i].push(*entry),
                Effect::Evidence(proof) => self.evidence[i].push(*proof),
                Effect::Fork(_) => {}
                Effect::SetTimer { at } => self.timers[i] = Some(at),
            }
        }
    }

    /// Deliver everything in flight (module answers first), then fire due timers,
    /// advancing virtual time, until `done` holds or `max_ms` of virtual time passed.
    fn run_until(&mut self, max_ms: u64, done: impl Fn(&Cluster) -> bool) -> bool {
        let deadline = self.now + max_ms;
        loop {
            if done(self) {
                return true;
            }
            if let Some((i, input)) = self.inputs.pop_front() {
                self.input(i, input);
                continue;
            }
            if let Some((from, to, msg)) = self.queue.pop_front() {
                if self.down.contains(&from) || self.down.contains(&to) {
                    continue;
                }
                let msg = match self.tamper.as_mut() {
                    Some(t) => t(from, to, msg),
                    None => Some(msg),
                };
                if let Some(msg) = msg {
                    let id = self.nodes[from].id();
                    self.input(to, Input::Message { from: id, msg });
                }
                continue;
            }
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.down.contains(i))
                .filter_map(|(_, t)| *t)
                .min();
            match next {
                Some(at) if at <= deadline => {
                    self.now = self.now.max(at);
                    for i in 0..self.nodes.len() {
                        if self.timers[i].is_some_and(|t| t <= self.now) {
                            self.timers[i] = None;
                            let now = self.now;
                            self.input(i, Input::Tick { now });
                        }
                    }
                }
                _ => return done(self),
            }
        }
    }

    /// Submit `op`, signed by the authorised test key its kind needs.
    fn submit(&mut self, to: usize, op: Operation) {
        let op = sign_op(self.chain, op);
        self.input(to, Input::Submit(op));
    }

    fn up(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| !self.down.contains(i))
            .collect()
    }

    /// Whether every live node decided at least `k` slots.
    fn all_decided(&self, k: usize) -> bool {
        self.up().iter().all(|i| self.decided[*i].len() >= k)
    }

    /// Every live node decided the same values, slot by slot.
    fn assert_agreement(&self) {
        let mut by_slot: BTreeMap<Slot, Digest> = BTreeMap::new();
        for i in self.up() {
            for e in &self.decided[i] {
                let v = by_slot.entry(e.slot).or_insert_with(|| e.value());
                assert_eq!(
                    *v,
                    e.value(),
                    "node {i} decided a different value at slot {}",
                    e.slot
                );
            }
        }
        let digests: BTreeSet<Digest> = self
            .up()
            .iter()
            .map(|i| self.nodes[*i].state().state_digest())
            .collect();
        let slots: BTreeSet<Slot> = self.up().iter().map(|i| self.nodes[*i].slot()).collect();
        if slots.len() == 1 {
            assert_eq!(digests.len(), 1, "replicated states diverge");
        }
    }
}

fn deploy(name: &str) -> Operation {
    Operation::ServiceDeployment(ServiceDeployment {
        name: name.into(),
        artifact: Digest([7; 32]),
        replicas: 2,
        strategy: DeploymentStrategy::Rolling,
        resources: ResourceRequirements {
            cpu_millis: 100,
            memory_mib: 64,
            storage_mib: 0,
        },
    })
}

fn maintenance(component: &str) -> Operation {
    Operation::MaintenanceTask(MaintenanceTask {
        task: MaintenanceType::Compaction,
        components: vec![component.into()],
        window: SlotWindow { start: 0, end: 100 },
    })
}

fn optimise(plan: &str) -> Operation {
    Operation::PerformanceOptimization(PerformanceOptimization {
        kind: OptimizationType::Caching,
        targets: vec![PerformanceMetric {
            name: "p99_ms".into(),
            target: 5,
        }],
        plan: plan.into(),
    })
}

fn compute(input: u8) -> Operation {
    Operation::Compute(ComputeTask {
        kind: "median-price".into(),
        input: vec![input],
    })
}

#[test]
fn happy_path_full_bft_n4_decides_identically_everywhere() -> TestResult {
    let mut c = Cluster::new(4);
    for k in 0..3u8 {
        c.submit(usize::from(k), compute(k));
    }
    assert!(c.run_until(10_000, |c| {
        c.up()
            .iter()
            .all(|i| c.nodes[*i].mempool_len() == 0 && !c.decided[*i].is_empty())
    }));
    c.assert_agreement();
    let entry = &c.decided[0][0];
    assert!(
        entry
            .decisions()
            .iter()
            .all(|d| matches!(d, Decision::Agreed(_)))
    );
    assert_eq!(
        entry.tally.payload.commits.len(),
        4,
        "every member committed"
    );
    assert_eq!(
        entry.tally.payload.reveals.len(),
        4,
        "the primary waited for every reveal"
    );
    // The certificate verifies for anyone with the membership at the slot.
    let (genesis, _) = signed(4);
    let fresh = ReplicatedState::from_genesis_unverified(&genesis);
    entry.verify(&fresh, &|s| ReaderState(&fresh).quorum(s))?;
    // A certificate padded with a member's confirm twice is refused before any signature
    // is checked (a member can sign one confirm many ways: each copy would cost a check).
    let mut padded = entry.clone();
    padded.confirms.push(padded.confirms[0].clone());
    assert!(matches!(
        padded.verify(&fresh, &|s| ReaderState(&fresh).quorum(s)),
        Err(CertificateError::DuplicateSigner(_))
    ));
    // Trust: every member agreed.
    let report = entry.round_report(&ReplicaState::eligible(&fresh));
    assert!(
        report
            .participants
            .iter()
            .all(|(_, p)| *p == Participation::Agreed)
    );
    assert_eq!(c.nodes[1].stats().rejected.get("bad_signature"), None);
    Ok(())
}

/// The withholding misbehaviour (`Node::withholding_reveals`) keeps every reveal of the
/// node to itself, as primary too: none leaves it, none is in its tally, and the slot is
/// still decided on the others' reveals. Control: the same node without the switch
/// reveals, and its reveal is in the tally.
#[test]
fn a_withholding_node_reveals_nothing_even_as_primary() {
    for withhold in [true, false] {
        let mut c = Cluster::new(4);
        let p = c.layer(Layer::Primary, 0);
        let id = c.nodes[p].id();
        if withhold {
            let node = c.nodes.remove(p);
            c.nodes.insert(p, node.withholding_reveals());
        }
        c.submit(0, compute(1));
        assert!(c.run_until(10_000, |c| c.up().iter().all(|i| !c.decided[*i].is_empty())));
        c.assert_agreement();
        let sent = c.traces[p].iter().flatten().any(|e| match e {
            Effect::Send { msg, .. } | Effect::Broadcast { msg } => {
                matches!(msg, Message::Reveal(r) if r.signer == id)
            }
            _ => false,
        });
        let tallied = c.decided[0][0]
            .tally
            .payload
            .reveals
            .iter()
            .any(|r| r.signer == id);
        assert_eq!(
            (sent, tallied),
            (!withhold, !withhold),
            "withhold = {withhold}"
        );
    }
}

/// Lets a test evaluate the real quorum rule of a state.
struct ReaderState<'a>(&'a ReplicatedState);

impl ReaderState<'_> {
    fn quorum(&self, s: &BTreeSet<NodeId>) -> bool {
        ReplicaState::is_quorum(self.0, s)
    }
}

#[test]
fn batches_are_bounded_and_single_mechanism() {
    let mut c = Cluster::new(4);
    for node in &mut c.nodes {
        node.config.max_batch = 2;
    }
    let primary = c.layer(Layer::Primary, 0);
    for k in 0..3 {
        c.submit(primary, compute(k));
    }
    c.submit(primary, deploy("web"));
    assert!(c.run_until(20_000, |c| c.all_decided(3)));
    let sizes: Vec<usize> = c.decided[0].iter().map(|e| e.batch().len()).collect();
    // The first operation goes out alone (the primary proposes as soon as it has work);
    // the next two queue up during that slot and share a batch; the deployment takes
    // another mechanism, hence its own batch.
    assert_eq!(sizes, vec![1, 2, 1]);
    assert_eq!(
        c.decided[0][2].mechanism(),
        Some(Mechanism::Authority(AuthorityLevel::High))
    );
    c.assert_agreement();
}

#[test]
fn authority_high_is_decided_by_the_primary_in_one_round_trip() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    // The primary's result is authoritative even though the others would disagree.
    c.validator = Box::new(move |i, op| {
        if i == primary {
            Outcome::Accepted(vec![1])
        } else {
            Outcome::Accepted(op.digest().0.to_vec())
        }
    });
    c.submit(2, deploy("api"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[3][0];
    assert_eq!(
        e.decisions(),
        &[Decision::Authority {
            layer: Layer::Primary,
            outcome: Outcome::Accepted(vec![1])
        }]
    );
    assert!(
        e.tally.payload.commits.is_empty(),
        "no sealed round on the authority path"
    );
    assert_eq!(
        e.tally.payload.reveals.len(),
        1,
        "the primary's reveal decides"
    );
    // Every member ran the validator (its reveal is the fallback should the primary
    // stay silent).
    let calls: usize = c
        .traces
        .iter()
        .flatten()
        .flatten()
        .filter(|e| matches!(e, Effect::CallValidator { .. }))
        .count();
    assert_eq!(calls, 4);
}

#[test]
fn authority_medium_is_decided_by_the_seed() {
    let mut c = Cluster::new(4);
    let seed = c.layer(Layer::Seed, 0);
    c.validator = Box::new(move |i, _| Outcome::Accepted(vec![u8::try_from(i).unwrap_or(0)]));
    c.submit(0, maintenance("store"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let want = Outcome::Accepted(vec![u8::try_from(seed).unwrap_or(0)]);
    assert_eq!(
        c.decided[0][0].decisions(),
        &[Decision::Authority {
            layer: Layer::Seed,
            outcome: want
        }]
    );
}

#[test]
fn authority_low_is_decided_by_a_light_quorum_of_latent_members() {
    let mut c = Cluster::new(4);
    c.submit(1, optimise("cache more"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[0][0];
    assert!(matches!(e.decisions(), [Decision::Agreed(_)]));
    let revealers: BTreeSet<usize> = e
        .tally
        .payload
        .reveals
        .iter()
        .map(|r| c.index_of(r.signer))
        .collect();
    assert!(revealers.len() >= 2, "a light quorum or a quorum revealed");
}

#[test]
fn validator_disagreement_goes_to_the_resolver_and_its_verdict_is_applied() {
    let mut c = Cluster::new(4);
    let (p, s) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    // Primary and seed say A, the two latent members say B: no quorum of 3.
    c.validator =
        Box::new(move |i, _| Outcome::Accepted(vec![if i == p || i == s { 0xA } else { 0xB }]));
    c.resolver = Box::new(|primary, seed, latent| {
        assert_eq!(primary.agreement, 10_000);
        assert!(seed.result.is_some() && latent.agreement == 10_000);
        assert!(primary.confidence > 0 && primary.confidence < 10_000);
        ResolverVerdict::Accept(Layer::Seed)
    });
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert_eq!(
        c.decided[2][0].decisions(),
        &[Decision::Resolved {
            layer: Layer::Seed,
            outcome: Outcome::Accepted(vec![0xA])
        }]
    );
    assert!(
        c.resolver_calls >= 4,
        "every node ran the resolver to check the tally"
    );
    // A result the resolver chose is no quorum's: the latent members that revealed
    // another are not penalised for it (an honest member may rightly contradict it), and
    // the two that revealed the chosen one gain.
    let (genesis, _) = signed(4);
    let fresh = ReplicatedState::from_genesis_unverified(&genesis);
    let report = c.decided[0][0].round_report(&ReplicaState::eligible(&fresh));
    let count = |want: Participation| {
        report
            .participants
            .iter()
            .filter(|(_, p)| *p == want)
            .count()
    };
    assert_eq!(count(Participation::Dissented), 0);
    assert_eq!(count(Participation::Agreed), 2);
}

#[test]
fn no_agreeing_result_is_escalated_and_recorded_not_dropped() {
    let mut c = Cluster::new(4);
    c.validator = Box::new(|i, _| Outcome::Accepted(vec![u8::try_from(i).unwrap_or(0)]));
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("no clear authority".into()));
    c.submit(0, compute(9));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[1][0];
    let escalated: Vec<_> = e.escalations().collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].2, "no clear authority");
    assert!(
        c.up().iter().all(|i| c.nodes[*i].mempool_len() == 0),
        "an escalated operation leaves the mempool"
    );
}

#[test]
fn silent_primary_leads_to_a_view_change_and_the_seed_decides() {
    let mut c = Cluster::new(4);
    let (p, s) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    c.down.insert(p);
    for i in c.up() {
        c.submit(i, compute(5));
    }
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[s][0];
    assert_eq!(e.view, 1);
    assert_eq!(
        e.tally.signer,
        c.nodes[s].id(),
        "the seed of view 0 is the primary of view 1"
    );
    assert!(c.nodes[s].stats().view_changes >= 1);
}

#[test]
fn view_change_keeps_a_prepared_value() {
    // Confirms of view 0 are lost: everyone prepared, nobody decided. The new primary must
    // re-propose the prepared value, not a new batch.
    let mut c = Cluster::new(4);
    c.tamper = Some(Box::new(|_, _, m| match m {
        Message::Confirm(c) if c.payload.view == 0 => None,
        other => Some(other),
    }));
    c.submit(0, compute(1));
    assert!(c.run_until(1, |c| c.nodes.iter().all(|n| n.prepared.is_some())));
    // A second operation arrives; it must not displace the prepared value.
    c.submit(1, compute(2));
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let first = &c.decided[0][0];
    assert_eq!(first.view, 1);
    assert_eq!(first.batch().len(), 1);
    assert_eq!(first.batch()[0].op, compute(1));
}

/// Attacker: a primary that keeps its proposal, commit set, tally and its own confirm from
/// one idle member (whose mempool is empty, so it waits for nothing) and decides with the
/// others. The member holds the other two honest confirms, more than `f`: it asks for the
/// entry at once and decides, answering for itself (a late accept) before the others'
/// absence wait (2 s) ends. Control: asking only once a quorum confirmed (the rule
/// before), it holds no decision when the others attest (in a node that decision came
/// only from the driver's catch-up probe, every 3 s).
#[test]
fn a_member_kept_out_of_a_slot_learns_its_decision_from_more_than_f_confirms() {
    let mut c = Cluster::new(4);
    let p = c.layer(Layer::Primary, 0);
    let v = (0..4).find(|i| *i != p).unwrap_or(0);
    c.tamper = Some(Box::new(move |from, to, m| {
        let withheld = matches!(
            m,
            Message::Proposal(_)
                | Message::CommitSet(_)
                | Message::Tally(_)
                | Message::Confirm(_)
                | Message::Submit(_)
        );
        if from == p && to == v && withheld {
            None
        } else {
            Some(m)
        }
    }));
    c.submit(p, compute(1));
    assert!(c.run_until(60_000, |c| {
        (0..4).filter(|i| *i != v).all(|i| !c.decided[i].is_empty())
    }));
    let decided_at = c.now;
    assert!(
        c.nodes[v].mempool.is_empty(),
        "the member has no work of its own"
    );
    assert!(
        c.run_until(1_500, |c| !c.decided[v].is_empty()),
        "the kept-out member had not decided {} ms after the others",
        c.now - decided_at
    );
    c.assert_agreement();
}

/// One value confirmed in view 0 on one node and, locked and confirmed again after a view
/// change, in view 1 on the others leaves one replicated state: the state records the
/// view of the decided tally (which the value binds), not that of the confirms. Attacker:
/// a primary (or the network) delivering its view-0 confirms to one member only. Control:
/// with the confirms' view recorded, `assert_agreement` finds the states diverge after
/// slot 0, and the next slot rewards agreement on some nodes only.
#[test]
fn a_value_confirmed_in_two_views_leaves_one_state() {
    let mut c = Cluster::new(4);
    let next_primary = c.layer(Layer::Primary, 1);
    let a = (0..4).find(|i| *i != next_primary).unwrap_or(0);
    // `a` alone gets the view-0 confirms; nothing `a` sends reaches the others until
    // they decided, so they learn the value only through the view change.
    c.tamper = Some(Box::new(move |from, to, m| {
        let late_news = matches!(
            m,
            Message::CatchUpResponse { .. } | Message::Attest(_) | Message::CatchUpRequest { .. }
        );
        match m {
            Message::Confirm(cf) if cf.payload.view == 0 && to != a => None,
            _ if from == a && late_news => None,
            other => Some(other),
        }
    }));
    c.submit(0, compute(1));
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    assert_eq!(c.decided[a][0].view, 0, "a decided in view 0");
    for i in (0..4).filter(|i| *i != a) {
        assert_eq!(
            c.decided[i][0].view, 1,
            "node {i} decided after the view change"
        );
        assert_eq!(c.decided[i][0].value(), c.decided[a][0].value());
    }
    c.assert_agreement();
    c.tamper = None;
    c.submit(next_primary, compute(2));
    assert!(c.run_until(60_000, |c| c.all_decided(2)));
    c.assert_agreement();
    let trust: BTreeSet<Vec<u32>> = c
        .up()
        .iter()
        .map(|i| {
            let s = c.nodes[*i].state();
            c.nodes
                .iter()
                .map(|n| ReplicaState::trust(s, &n.id()))
                .collect()
        })
        .collect();
    assert_eq!(trust.len(), 1, "every node holds the same trust: {trust:?}");
}

#[test]
fn equivocating_commit_yields_evidence_and_the_offender_is_slashed() {
    let mut c = Cluster::new(4);
    let liar = c.layer(Layer::Latent, 0);
    let key = c.keys[liar].clone();
    let primary = c.layer(Layer::Primary, 0);
    let victim = (0..4).find(|i| *i != liar && *i != primary).unwrap_or(0);
    // The liar sends a different commitment to one victim only.
    c.tamper = Some(Box::new(move |from, to, m| match m {
        Message::Commit(cm) if from == liar && to == victim => {
            let mut body = cm.payload.clone();
            body.commitment = Digest([0xEE; 32]);
            Some(Message::Commit(Signed::new(body, &key)))
        }
        other => Some(other),
    }));
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    assert!(
        c.evidence[victim]
            .iter()
            .any(|e| matches!(e, Misbehaviour::ConflictingVotes { .. })),
        "the victim sees the other commit in the tally"
    );
    let offender = c.nodes[liar].id();
    assert!(
        c.evidence[victim]
            .iter()
            .all(|e| e.offender() == Some(offender) && e.verify() == Ok(offender))
    );
    // The proof is carried into the log and slashes the liar on every node.
    c.tamper = None;
    c.submit(0, compute(2));
    assert!(c.run_until(20_000, |c| {
        c.up()
            .iter()
            .all(|i| c.decided[*i].iter().any(|e| !e.evidence().is_empty()))
    }));
    c.assert_agreement();
    for i in c.up() {
        assert!(
            !c.nodes[i].state().is_eligible(&offender),
            "node {i} still trusts the equivocator"
        );
    }
}

#[test]
fn bad_reveal_yields_evidence() {
    let mut c = Cluster::new(4);
    let liar = c.layer(Layer::Latent, 0);
    let key = c.keys[liar].clone();
    c.tamper = Some(Box::new(move |from, _, m| match m {
        Message::Reveal(r) if from == liar => {
            let mut body = r.payload.clone();
            body.outcomes = vec![Outcome::Accepted(vec![0xBA, 0xD])];
            Some(Message::Reveal(Signed::new(body, &key)))
        }
        other => Some(other),
    }));
    c.submit(0, compute(3));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let offender = c.nodes[liar].id();
    let honest: Vec<usize> = c.up().into_iter().filter(|i| *i != liar).collect();
    for i in &honest {
        assert!(
            c.evidence[*i]
                .iter()
                .any(|e| matches!(e, Misbehaviour::BadReveal { .. }) && e.verify() == Ok(offender)),
            "node {i} did not detect the bad reveal"
        );
    }
    // The bad reveal did not count: the liar is reported as committed-without-reveal.
    let e = &c.decided[honest[0]][0];
    assert!(e.tally.payload.reveals.iter().all(|r| r.signer != offender));
}

#[test]
fn conflicting_proposals_yield_evidence() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    let key = c.keys[primary].clone();
    let chain = c.chain;
    c.tamper = Some(Box::new(move |from, to, m| match m {
        Message::Proposal(p) if from == primary && to % 2 == 1 => {
            let mut body = p.payload.clone();
            body.batch = vec![sign_op(chain, compute(200))];
            Some(Message::Proposal(Signed::new(body, &key)))
        }
        other => Some(other),
    }));
    c.submit(primary, compute(1));
    c.run_until(60_000, |c| c.all_decided(1));
    let offender = c.nodes[primary].id();
    let detected = (0..4)
        .filter(|i| {
            c.evidence[*i]
                .iter()
                .any(|e| e.offender() == Some(offender))
        })
        .count();
    assert!(detected >= 1, "nobody detected the conflicting proposals");
    c.assert_agreement();
}

/// Every vote is persisted before it is sent, except a reveal that opens the node's own
/// persisted commit (it is fixed by that commit: `Node::fixed_by_own_commit`); a reveal
/// on the authority path, which has no commit before it, is persisted like the rest.
#[test]
fn a_vote_is_never_sent_before_its_persist_effect() {
    let mut c = Cluster::new(4);
    c.down.insert(c.layer(Layer::Primary, 0));
    c.submit(1, compute(1));
    c.submit(2, deploy("x"));
    assert!(c.run_until(60_000, |c| c.all_decided(2)));
    let (mut votes, mut sealed_reveals, mut open_reveals) = (0, 0, 0);
    for (i, trace) in c.traces.iter().enumerate() {
        let me = c.nodes[i].id();
        // Persisted in this batch before the send, or in an earlier batch (a re-send).
        let mut persisted: Vec<Message> = Vec::new();
        for batch in trace {
            for e in batch {
                let msg = match e {
                    Effect::Persist(Persist::Vote(m)) => {
                        persisted.push(m.clone());
                        continue;
                    }
                    Effect::Broadcast { msg } | Effect::Send { to: _, msg } => msg,
                    _ => continue,
                };
                if msg.signer() != Some(me) {
                    continue;
                }
                votes += 1;
                if let Message::Reveal(r) = msg {
                    let own_commit = persisted.iter().find_map(|m| match m {
                        Message::Commit(cm)
                            if cm.payload.slot == r.payload.slot
                                && cm.payload.view == r.payload.view =>
                        {
                            Some(cm)
                        }
                        _ => None,
                    });
                    if let Some(cm) = own_commit {
                        assert!(
                            commitment::opens(&cm.payload, &r.payload, &me),
                            "node {i} revealed what its persisted commit does not bind"
                        );
                        sealed_reveals += 1;
                        continue;
                    }
                    open_reveals += 1;
                }
                assert!(
                    persisted.contains(msg),
                    "node {i} sent a {} vote before persisting it",
                    msg.phase()
                );
            }
        }
    }
    assert!(votes > 20 && sealed_reveals > 0 && open_reveals > 0);
}

/// A restart between commit and reveal: node 2 recomputes its results after the restart
/// and gets different ones (its validator now answers differently). It must never sign a
/// second commit, and never reveal results that do not open its own commitment (that
/// reveal would be signed proof of a "bad reveal" against itself): it abstains. The
/// control, with the check switched off, shows the self-incrimination.
fn restart_between_commit_and_reveal(check: bool) -> (Cluster, usize) {
    let mut c = Cluster::new(4);
    // Drop every reveal so the slot stalls after the commits.
    c.tamper = Some(Box::new(|_, _, m| {
        if matches!(m, Message::Reveal(_)) {
            None
        } else {
            Some(m)
        }
    }));
    c.submit(0, compute(1));
    c.run_until(1, |_| false);
    let i = 2;
    let votes: Vec<Message> = c.traces[i]
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Effect::Persist(Persist::Vote(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert!(votes.iter().any(|m| matches!(m, Message::Commit(_))));
    // It crashed after persisting its commit, before it revealed.
    let votes: Vec<Message> = votes
        .into_iter()
        .filter(|m| !matches!(m, Message::Reveal(_)))
        .collect();
    // "Restart" node 2 from its genesis state and its persisted votes, with a validator
    // that would now give a different result: it must not sign a second commit.
    let (genesis, keys) = signed(4);
    let fresh = Node::new(
        Config::default(),
        keys[i].clone(),
        ReplicatedState::from_genesis_unverified(&genesis),
    );
    let mut fresh = if check {
        fresh
    } else {
        fresh.with_unchecked_reveals()
    };
    let effects = fresh.restore(votes.clone());
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Broadcast {
            msg: Message::Commit(_)
        }
    )));
    c.nodes[i] = fresh;
    c.validator = Box::new(move |n, op| {
        if n == i {
            Outcome::Accepted(vec![0xFF])
        } else {
            Outcome::Accepted(op.digest().0.to_vec())
        }
    });
    // Node 3's reveals stay lost, so the slot needs node 2's reveal: the restarted node
    // reaches its reveal before the slot is decided without it.
    c.tamper = Some(Box::new(|from, _, m| match m {
        Message::Reveal(_) if from == 3 => None,
        other => Some(other),
    }));
    c.run_until(60_000, |c| c.all_decided(1));
    (c, i)
}

#[test]
fn restart_restores_votes_and_never_equivocates_or_self_incriminates() {
    let (c, i) = restart_between_commit_and_reveal(true);
    let commits: BTreeSet<Digest> = c.traces[i]
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Effect::Persist(Persist::Vote(Message::Commit(cm))) if cm.payload.view == 0 => {
                Some(cm.payload.commitment)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        commits.len(),
        1,
        "the restarted node signed a second, different commit"
    );
    let node = c.nodes[i].id();
    let against: Vec<&Misbehaviour> = c
        .evidence
        .iter()
        .flatten()
        .filter(|p| p.offender() == Some(node))
        .collect();
    assert!(
        against.is_empty(),
        "evidence against the restarted node: {against:?}"
    );
    assert!(c.nodes[i].stats().abstained > 0, "it abstained instead");
    // Control: revealing the recomputed results unchecked signs a bad reveal.
    let (c, i) = restart_between_commit_and_reveal(false);
    let node = c.nodes[i].id();
    assert!(
        c.evidence
            .iter()
            .flatten()
            .any(|p| p.offender() == Some(node) && p.kind() == "bad-reveal"),
        "without the check the restarted node incriminates itself"
    );
}

#[test]
fn a_lagging_node_catches_up_by_certified_entries() {
    let mut c = Cluster::new(4);
    let late = c.layer(Layer::Latent, 0);
    c.down.insert(late);
    for k in 0..3 {
        c.submit(0, compute(k));
        assert!(c.run_until(10_000, |c| {
            c.up().iter().all(|i| c.decided[*i].len() > usize::from(k))
        }));
    }
    c.down.remove(&late);
    // New traffic at a later slot makes the late node ask for the entries it missed.
    c.submit(0, compute(10));
    assert!(c.run_until(30_000, |c| c.all_decided(4) && c.decided[late].len() >= 4));
    c.assert_agreement();
    assert_eq!(c.nodes[late].slot(), c.nodes[0].slot());
}

#[test]
fn forged_and_non_member_messages_are_rejected_and_counted() {
    let mut c = Cluster::new(4);
    let outsider = Keypair::from_seed([99; 32]);
    let body = Accept {
        slot: 0,
        view: 0,
        value: Digest([1; 32]),
    };
    let forged = Signed {
        payload: body.clone(),
        signer: c.nodes[1].id(),
        signature: outsider.sign(b"x", b"y"),
    };
    c.input(
        0,
        Input::Message {
            from: c.nodes[1].id(),
            msg: Message::Accept(forged),
        },
    );
    c.input(
        0,
        Input::Message {
            from: outsider.id(),
            msg: Message::Accept(Signed::new(body, &outsider)),
        },
    );
    let stats = c.nodes[0].stats();
    assert_eq!(stats.rejected.get("bad_signature"), Some(&1));
    assert_eq!(stats.rejected.get("not_member"), Some(&1));
    // The cluster is unaffected.
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
}

#[test]
fn broken_quorum_hook_lets_two_nodes_decide() {
    // With the deliberately unsafe rule "any 2 signers", two nodes decide alone: the
    // simulator uses this to show that it detects the resulting safety violations.
    let mut c = Cluster::new(4);
    c.nodes = std::mem::take(&mut c.nodes)
        .into_iter()
        .map(|n| n.with_broken_quorum(2))
        .collect();
    let (p, s) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    for i in 0..4 {
        if i != p && i != s {
            c.down.insert(i);
        }
    }
    c.submit(p, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
}

#[test]
fn lost_votes_are_resent_without_a_view_change() {
    // The first copy of every commit, reveal and accept is lost; re-sending recovers
    // within the view.
    let mut c = Cluster::new(4);
    let mut seen: BTreeSet<(usize, usize, Option<Digest>)> = BTreeSet::new();
    c.tamper = Some(Box::new(move |from, to, m| {
        let lossy = matches!(
            m,
            Message::Commit(_) | Message::Reveal(_) | Message::Accept(_)
        );
        if lossy && seen.insert((from, to, m.payload_digest())) {
            None
        } else {
            Some(m)
        }
    }));
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert_eq!(c.decided[0][0].view, 0);
    assert!(c.nodes.iter().all(|n| n.stats().view_changes == 0));
}

#[test]
fn a_silent_seed_falls_back_to_the_quorum_not_escalation() {
    let mut c = Cluster::new(4);
    let seed = c.layer(Layer::Seed, 0);
    c.down.insert(seed);
    c.submit(0, maintenance("cache"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[0][0];
    assert_eq!(e.view, 0, "no view change needed");
    assert!(
        matches!(e.decisions(), [Decision::Agreed(_)]),
        "{:?}",
        e.decisions()
    );
}

#[test]
fn a_silent_latent_member_on_low_falls_back_to_the_quorum() {
    let mut c = Cluster::new(4);
    let latent = c.layer(Layer::Latent, 0);
    c.down.insert(latent);
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("not needed".into()));
    c.submit(0, optimise("warm caches"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert!(matches!(c.decided[0][0].decisions(), [Decision::Agreed(_)]));
    assert_eq!(c.resolver_calls, 0, "three of four agree: no resolver");
}

#[test]
fn truly_disagreeing_authority_results_still_reach_the_resolver() {
    // Seed silent and the three others disagree: no fallback rule matches.
    let mut c = Cluster::new(4);
    let seed = c.layer(Layer::Seed, 0);
    c.down.insert(seed);
    c.validator = Box::new(|i, _| Outcome::Accepted(vec![u8::try_from(i).unwrap_or(0)]));
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("no clear authority".into()));
    c.submit(0, maintenance("cache"));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert!(matches!(
        c.decided[0][0].decisions(),
        [Decision::Escalated { .. }]
    ));
}

/// The seed's reveal of a Medium operation never reaches the view-0 primary (every other
/// member gets it): the primary falls back to the quorum rule without the deciding layer.
fn drop_seed_reveal(c: &mut Cluster) -> usize {
    let (primary, seed) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    c.validator = Box::new(|_, _| Outcome::Accepted(vec![7]));
    c.tamper = Some(Box::new(move |from, to, m| match m {
        Message::Reveal(r) if from == seed && to == primary && r.payload.view == 0 => None,
        other => Some(other),
    }));
    c.submit(primary, maintenance("disk"));
    primary
}

/// A primary whose own reveal carries an outcome above the output cap (it reaches members
/// only inside its tally) has its tally refused, and the next view decides: a tally that
/// large could make every view change carrying it larger than a frame. Control: the
/// members refuse nothing when the primary's outcome is within the cap.
#[test]
fn a_tally_carrying_an_outcome_above_the_cap_is_refused() {
    for oversized in [true, false] {
        let mut c = Cluster::new(4);
        let primary = c.layer(Layer::Primary, 0);
        c.validator = Box::new(move |i, _| {
            if i == primary && oversized {
                Outcome::Accepted(vec![1; 20 * 1024])
            } else {
                Outcome::Accepted(vec![7])
            }
        });
        c.submit(primary, compute(1));
        assert!(c.run_until(20_000, |c| c.all_decided(1)));
        c.assert_agreement();
        let entry = &c.decided[0][0];
        assert_eq!(entry.view > 0, oversized, "view {}", entry.view);
        assert!(
            matches!(entry.decisions(), [Decision::Agreed(Outcome::Accepted(b))] if b == &vec![7])
        );
    }
}

#[test]
fn a_tally_leaving_out_the_deciding_layer_is_refused() {
    // Every member holds the seed's reveal: the fallback tally is refused by all, and
    // the next view decides by the seed's authority.
    let mut c = Cluster::new(4);
    drop_seed_reveal(&mut c);
    assert!(c.run_until(20_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let refused: u64 = c
        .nodes
        .iter()
        .map(|n| {
            n.stats()
                .rejected
                .get("omits_reveals")
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert!(refused >= 2, "the omission was refused ({refused})");
    assert!(c.decided[0][0].view > 0);
    assert!(matches!(
        c.decided[0][0].decisions(),
        [Decision::Authority {
            layer: Layer::Seed,
            ..
        }]
    ));
}

#[test]
fn without_the_omission_rule_the_primary_steers_the_decision() {
    // The control: with the rule off, the fallback tally is decided in view 0.
    let mut c = Cluster::new(4);
    for n in &mut c.nodes {
        n.omission_unchecked = true;
    }
    drop_seed_reveal(&mut c);
    assert!(c.run_until(20_000, |c| c.all_decided(1)));
    let stats: Vec<_> = c.nodes.iter().map(|n| n.stats().clone()).collect();
    assert_eq!(
        c.decided[0][0].view,
        0,
        "{stats:?} {:?}",
        c.decided[0][0].decisions()
    );
    assert!(matches!(c.decided[0][0].decisions(), [Decision::Agreed(_)]));
}

#[test]
fn restart_recovers_the_prepared_certificate() {
    let mut c = Cluster::new(4);
    c.tamper = Some(Box::new(|_, _, m| {
        if matches!(m, Message::Confirm(_)) {
            None
        } else {
            Some(m)
        }
    }));
    c.submit(0, compute(1));
    assert!(c.run_until(1, |c| c.nodes.iter().all(|n| n.prepared.is_some())));
    let i = 3;
    let records: Vec<Message> = c.traces[i]
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Effect::Persist(Persist::Vote(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let (genesis, keys) = signed(4);
    let mut fresh = Node::new(
        Config::default(),
        keys[i].clone(),
        ReplicatedState::from_genesis_unverified(&genesis),
    );
    let _ = fresh.restore(records);
    let before = c.nodes[i]
        .prepared
        .as_ref()
        .map(|p| (p.view, p.tally.payload.value()));
    assert_eq!(
        fresh
            .prepared
            .as_ref()
            .map(|p| (p.view, p.tally.payload.value())),
        before
    );
    assert!(before.is_some());
}

#[test]
fn a_node_far_behind_pulls_entries_in_batches() {
    let mut c = Cluster::new(4);
    for node in &mut c.nodes {
        node.config.catch_up_batch = 2;
    }
    let late = c.layer(Layer::Latent, 0);
    c.down.insert(late);
    for k in 0..5u8 {
        c.submit(0, compute(k));
        assert!(c.run_until(10_000, |c| {
            c.up().iter().all(|i| c.decided[*i].len() > usize::from(k))
        }));
    }
    c.down.remove(&late);
    // One request is enough: full responses make the node ask for the next batch.
    let ahead = c.nodes[0].id();
    c.nodes[late].ask_catch_up(ahead, 0);
    let effects = std::mem::take(&mut c.nodes[late].effects);
    c.run_effects(late, effects);
    let effects = std::mem::take(&mut c.nodes[late].effects);
    c.run_effects(late, effects);
    assert!(c.run_until(10_000, |c| c.decided[late].len() >= 5));
    let requests = c.traces[late]
        .iter()
        .flatten()
        .filter(|e| {
            matches!(
                e,
                Effect::Send {
                    msg: Message::CatchUpRequest { .. },
                    ..
                }
            )
        })
        .count();
    assert!(requests >= 2, "the node kept pulling after a full response");
    c.assert_agreement();
}

/// A signed view change of `key` for `slot`, asking for `view`.
fn view_change(key: &Keypair, slot: Slot, view: View) -> Message {
    let vc = ViewChange {
        slot,
        new_view: view,
        prepared: None,
    };
    Message::ViewChange(Box::new(Signed::new(vc, key)))
}

#[test]
fn f_plus_one_view_changes_pull_a_node_into_the_smallest_wanted_view() {
    // n = 4, f = 1: view changes of two distinct members for higher views make a node
    // join the smallest of those views before its own timer fires.
    let mut c = Cluster::new(4);
    let slot = c.nodes[0].slot();
    let (one, two) = (c.keys[1].clone(), c.keys[2].clone());
    // One member, even asking twice for different views, is not enough.
    for view in [5, 7] {
        let effects = c.nodes[0].handle(Input::Message {
            from: one.id(),
            msg: view_change(&one, slot, view),
        });
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Broadcast { .. })),
            "a single member pulled the node along"
        );
    }
    assert_eq!(c.nodes[0].view(), 0);
    assert!(!c.nodes[0].is_view_changing());
    // A second member asks for view 3: 3 is the smallest view the two want.
    let effects = c.nodes[0].handle(Input::Message {
        from: two.id(),
        msg: view_change(&two, slot, 3),
    });
    assert_eq!(c.nodes[0].view(), 3);
    assert!(c.nodes[0].is_view_changing());
    assert_eq!(c.nodes[0].stats().view_changes, 1);
    let persisted = effects.iter().position(|e| {
        matches!(e, Effect::Persist(Persist::Vote(Message::ViewChange(vc)))
            if vc.payload.new_view == 3 && vc.signer == c.nodes[0].id())
    });
    let sent = effects.iter().position(|e| {
        matches!(e, Effect::Broadcast { msg: Message::ViewChange(vc) }
            if vc.payload.new_view == 3 && vc.signer == c.nodes[0].id())
    });
    assert!(
        matches!((persisted, sent), (Some(p), Some(s)) if p < s),
        "the joined view change must be persisted, then broadcast: {effects:?}"
    );
}

#[test]
fn a_view_change_too_few_joined_does_not_time_out_again() {
    // Node 0 alone times out of view 0. Without a quorum of view changes for view 1 (or
    // later) it must wait, not run on to view 2, 3, ... ahead of the others.
    let mut c = Cluster::new(4);
    c.down.extend([1, 2, 3]);
    c.submit(0, compute(1));
    c.run_until(200_000, |_| false);
    assert_eq!(c.nodes[0].view(), 1);
    assert!(c.nodes[0].is_view_changing());
    assert_eq!(c.nodes[0].stats().view_changes, 1);
    // The others come back, one view behind, with the operation: they time out of view
    // 0, their view changes join node 0's, and view 1 decides it.
    c.down.clear();
    for i in 1..4 {
        c.submit(i, compute(1));
    }
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert_eq!(c.nodes[0].stats().view_changes, 1);
}

#[test]
fn a_restarted_node_keeps_the_backoff_of_its_view() {
    // A node that had voted in view 0 and asked for view 3 restarts: its timeout is the
    // one of view 3 for the slot (three views past its first), not the base timeout.
    let (genesis, keys) = signed(4);
    let slot = 0;
    let mut fresh = Node::new(
        Config::default(),
        keys[0].clone(),
        ReplicatedState::from_genesis_unverified(&genesis),
    );
    let base = fresh.config.base_timeout;
    let votes = vec![
        view_change(&keys[0], slot, 1),
        view_change(&keys[0], slot, 3),
    ];
    fresh.restore(votes);
    assert_eq!(fresh.view(), 3);
    assert!(fresh.is_view_changing());
    assert_eq!(fresh.timeout(), base << 3);
}

/// Restart every node of `c` as a driver does: `restore_log` with its decided log on the
/// genesis state; or, without `reload`, only the state rebuilt from the log (the control).
fn restart_all_from_logs(c: &mut Cluster, reload: bool) {
    let (genesis, keys) = signed(4);
    for (i, key) in keys.iter().enumerate().take(c.nodes.len()) {
        let mut state = ReplicatedState::from_genesis_unverified(&genesis);
        if !reload {
            for entry in &c.decided[i] {
                ReplicaState::apply(&mut state, entry);
            }
        }
        let mut fresh = Node::new(Config::default(), key.clone(), state);
        if reload {
            fresh.restore_log(c.decided[i].iter().cloned());
        }
        c.nodes[i] = fresh;
        c.timers[i] = None;
    }
}

#[test]
fn after_a_whole_cluster_restart_no_decided_operation_is_ordered_again() {
    // Control: without the reloaded log, the restarted cluster orders a replayed
    // operation a second time (what a Byzantine member resubmitting old traffic gets).
    for reload in [false, true] {
        let mut c = Cluster::new(4);
        c.submit(0, compute(1));
        assert!(c.run_until(10_000, |c| c.all_decided(1)));
        restart_all_from_logs(&mut c, reload);
        for i in 0..4 {
            c.submit(i, compute(1));
        }
        let twice = c.run_until(10_000, |c| c.decided.iter().any(|d| d.len() > 1));
        assert_eq!(twice, !reload, "reload = {reload}");
        if reload {
            // The retained tail is back: the node can serve catch-up for slot 0 again.
            assert!(c.nodes.iter().all(|n| n.entry(0).is_some()));
        }
    }
}

#[test]
fn a_restarted_node_starts_the_next_slot_in_the_view_of_the_last_decision() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    c.down.insert(primary);
    c.submit((primary + 1) % 4, compute(2));
    assert!(c.run_until(120_000, |c| {
        c.up().iter().all(|i| !c.decided[*i].is_empty())
    }));
    let i = (primary + 1) % 4;
    let view = c.decided[i][0].view;
    assert!(view > 0, "the slot was decided after a view change");
    c.down.remove(&primary);
    restart_all_from_logs(&mut c, true);
    assert_eq!(c.nodes[i].view(), view);
    assert_eq!(c.nodes[i].slot(), 1);
}

#[test]
fn a_late_honest_result_is_waited_for_before_the_resolver() {
    // One latent member reports a wrong result and the other honest latent member's
    // reveal reaches the primary only by re-send, after the reveal grace. The primary
    // must wait for it (the honest results then form a quorum) instead of handing the
    // operation to the resolver on the first three results. (A commit later than the
    // grace is another matter: the commit set has closed without it, and sealing means
    // it cannot count; see `a_commit_after_the_set_closed_does_not_count`.)
    let mut c = Cluster::new(4);
    let (p, s) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    let others: Vec<usize> = (0..4).filter(|i| *i != p && *i != s).collect();
    let (byz, late) = (others[0], others[1]);
    c.validator = Box::new(move |i, op| {
        if i == byz {
            Outcome::Accepted(vec![0xEE])
        } else {
            Outcome::Accepted(op.digest().0.to_vec())
        }
    });
    let mut dropped = false;
    c.tamper = Some(Box::new(move |from, to, m| {
        if from == late && to == p && matches!(m, Message::Reveal(_)) && !dropped {
            dropped = true;
            return None;
        }
        Some(m)
    }));
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("resolver asked".into()));
    c.submit(0, compute(3));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    assert!(
        matches!(c.decided[p][0].decisions(), [Decision::Agreed(_)]),
        "{:?}",
        c.decided[p][0].decisions()
    );
    assert_eq!(c.resolver_calls, 0, "resolver asked");
}

/// Gossip that a member can produce at will is bounded: proofs of its own equivocation in
/// far slots are refused (the window), and view changes for a thousand views keep at most
/// `MAX_VIEW_CHANGE_VIEWS` views in memory.
#[test]
fn evidence_and_view_change_gossip_are_bounded() {
    let mut c = Cluster::new(4);
    let key = c.keys[3].clone();
    let accept = |slot: u64, v: u8| {
        Message::Accept(Signed::new(
            Accept {
                slot,
                view: 0,
                value: crate::types::Digest([v; 32]),
            },
            &key,
        ))
    };
    let from = key.id();
    let far = Misbehaviour::conflicting(&accept(50_000, 1), &accept(50_000, 2));
    let near = Misbehaviour::conflicting(&accept(0, 1), &accept(0, 2));
    let (Some(far), Some(near)) = (far, near) else {
        panic!("no conflict");
    };
    let node = &mut c.nodes[0];
    node.handle(Input::Message {
        from,
        msg: Message::Evidence(Box::new(far)),
    });
    assert!(node.evidence.is_empty(), "a proof of a far slot is refused");
    node.handle(Input::Message {
        from,
        msg: Message::Evidence(Box::new(near)),
    });
    assert_eq!(node.evidence.len(), 1, "a proof of a recent slot is kept");
    for view in 1..1_000u64 {
        let vc = ViewChange {
            slot: 0,
            new_view: view,
            prepared: None,
        };
        node.handle(Input::Message {
            from,
            msg: Message::ViewChange(Box::new(Signed::new(vc, &key))),
        });
    }
    assert!(node.view_changes.len() <= super::view_change::MAX_VIEW_CHANGE_VIEWS);
}

#[test]
fn a_commit_after_the_set_closed_does_not_count() {
    // The honest latent member's commit reaches the primary only after the commit set
    // closed (a quorum of the three others, one of them reporting a wrong result): it is
    // not in the set, so it does not reveal and its result cannot count in view 0. The
    // others held its commit before the set arrived, so they refuse the unsettled tally
    // (it would send the operation to the resolver); the next view, whose primary has
    // every commit, decides the honest result. Nothing stalls.
    let mut c = Cluster::new(4);
    let (p, s) = (c.layer(Layer::Primary, 0), c.layer(Layer::Seed, 0));
    let others: Vec<usize> = (0..4).filter(|i| *i != p && *i != s).collect();
    let (byz, late) = (others[0], others[1]);
    c.validator = Box::new(move |i, op| {
        if i == byz {
            Outcome::Accepted(vec![0xEE])
        } else {
            Outcome::Accepted(op.digest().0.to_vec())
        }
    });
    let mut dropped = false;
    c.tamper = Some(Box::new(move |from, to, m| {
        if from == late && to == p && matches!(m, Message::Commit(_)) && !dropped {
            dropped = true;
            return None;
        }
        Some(m)
    }));
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("resolver asked".into()));
    c.submit(0, compute(3));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let e = &c.decided[p][0];
    let late_id = c.nodes[late].id();
    assert!(e.view > 0, "the view-0 tally was refused");
    assert!(e.tally.payload.commits.iter().any(|c| c.signer == late_id));
    assert!(
        matches!(e.decisions(), [Decision::Agreed(Outcome::Accepted(v))] if *v == compute(3).digest().0.to_vec()),
        "{:?}",
        e.decisions()
    );
}

/// Attacker: the holders of keys that no longer count (members excluded, or fallen below
/// the threshold, since they joined), one more than the eligible members' `f` allows
/// counted over every member ever admitted. They sign confirms of two values for one
/// slot: under a count of all members that was a proof, and every node that verified it
/// halted. Only a quorum by the verifier's rule over its eligible members makes one.
#[test]
fn keys_that_no_longer_count_cannot_forge_a_fork() {
    let (mut genesis, keys) = signed(10);
    let threshold = genesis.params.trust.exclusion_threshold;
    for n in genesis.nodes.iter_mut().skip(3) {
        n.trust = threshold - 1;
    }
    let st = ReplicatedState::from_genesis_unverified(&genesis);
    assert_eq!(st.eligible().len(), 3);
    let side = |value: Digest, signers: &[Keypair]| CertifiedValue {
        slot: 5,
        view: 0,
        value,
        confirms: signers
            .iter()
            .map(|k| {
                Signed::new(
                    Confirm {
                        slot: 5,
                        view: 0,
                        value,
                    },
                    k,
                )
            })
            .collect(),
    };
    let quorum = |s: &BTreeSet<NodeId>| ReplicaState::is_quorum(&st, s);
    // Seven of ten members: `m - f` of all of them, none of them eligible.
    let forged = ForkProof {
        first: side(Digest([7; 32]), &keys[3..]),
        second: side(Digest([8; 32]), &keys[3..]),
    };
    assert_eq!(
        forged.verify(&st, &quorum),
        Err(ForkError::Certificate(CertificateError::NoQuorum(7)))
    );
    // The eligible members confirming both values are a proof (they are more than f).
    let real = ForkProof {
        first: side(Digest([7; 32]), &keys[..3]),
        second: side(Digest([8; 32]), &keys[..3]),
    };
    assert_eq!(
        real.verify(&st, &quorum),
        Ok(keys[..3]
            .iter()
            .map(Keypair::id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect())
    );
}

/// A second certified entry for `e`'s slot with another value: the same tally with one
/// reveal fewer, re-signed by its primary, confirmed by `signers` (more than f of them
/// must equivocate for this to exist).
fn conflicting_entry(c: &Cluster, e: &DecidedEntry, signers: &[usize]) -> DecidedEntry {
    let primary = c.index_of(e.tally.signer);
    let mut tally = e.tally.payload.clone();
    tally.reveals.pop();
    let tally = Signed::new(tally, &c.keys[primary]);
    let value = tally.payload.value();
    let confirms = signers
        .iter()
        .map(|i| {
            Signed::new(
                Confirm {
                    slot: e.slot,
                    view: e.view,
                    value,
                },
                &c.keys[*i],
            )
        })
        .collect();
    DecidedEntry {
        slot: e.slot,
        view: e.view,
        tally,
        confirms,
    }
}

#[test]
fn a_fork_met_in_catch_up_halts_every_honest_node_with_its_culprits() {
    let mut c = Cluster::new(4);
    c.submit(0, compute(1));
    assert!(c.run_until(10_000, |c| c.all_decided(1)));
    let mine = c.decided[0][0].clone();
    // Three members (more than f = 1) confirm a second value for slot 0.
    let other = conflicting_entry(&c, &mine, &[1, 2, 3]);
    let proof = ForkProof {
        first: CertifiedValue::of(&mine),
        second: CertifiedValue::of(&other),
    };
    let expected: Vec<NodeId> = {
        let a: BTreeSet<NodeId> = mine.confirms.iter().map(|c| c.signer).collect();
        let mut v: Vec<NodeId> = [1, 2, 3]
            .iter()
            .map(|i| c.nodes[*i].id())
            .filter(|id| a.contains(id))
            .collect();
        v.sort();
        v
    };
    assert!(expected.len() >= 2, "at least f + 1 culprits");
    assert_eq!(proof.culprits(), expected);
    // Node 0 meets the other certificate in a catch-up response: it compares instead of
    // skipping, halts, and gossips the proof; every node halts on it.
    let from = c.nodes[1].id();
    c.input(
        0,
        Input::Message {
            from,
            msg: Message::CatchUpResponse {
                entries: vec![other],
            },
        },
    );
    assert!(c.nodes[0].fork().is_some(), "the comparison found the fork");
    assert!(c.run_until(1_000, |c| c.nodes.iter().all(|n| n.fork().is_some())));
    assert_eq!(c.nodes[2].fork().map(ForkProof::culprits), Some(expected));
    // Halted nodes order nothing more.
    c.submit(0, compute(2));
    c.run_until(5_000, |_| false);
    assert!(c.decided.iter().all(|d| d.len() == 1));
    // A proof that does not conflict, or whose certificate is short, is refused.
    let same = ForkProof {
        first: CertifiedValue::of(&mine),
        second: CertifiedValue::of(&mine),
    };
    let st = c.nodes[3].state();
    let quorum = |s: &BTreeSet<NodeId>| ReplicaState::is_quorum(st, s);
    assert_eq!(same.verify(st, &quorum), Err(ForkError::SameValue));
    let short = ForkProof {
        first: CertifiedValue::of(&mine),
        second: CertifiedValue::of(&conflicting_entry(&c, &mine, &[1])),
    };
    assert!(matches!(
        short.verify(st, &quorum),
        Err(ForkError::Certificate(_))
    ));
    // Nor one that pads a certificate with a member's confirm twice (refused before any
    // signature is checked); the same certificate without the copy verifies.
    let mut padded = proof.clone();
    let copy = padded.second.confirms[0].clone();
    padded.second.confirms.push(copy);
    assert!(matches!(
        padded.verify(st, &quorum),
        Err(ForkError::Certificate(CertificateError::DuplicateSigner(_)))
    ));
    assert!(proof.verify(st, &quorum).is_ok());
    // A proof is small whatever the entries: it carries values and confirms.
    assert!(canonical_bytes(&proof).len() < 2 * (canonical_bytes(&mine.confirms).len() + 256));
    // After a restart the kept proof halts the node again (and a bad one does not).
    let (genesis, keys) = signed(4);
    let mut fresh = Node::new(
        Config::default(),
        keys[0].clone(),
        ReplicatedState::from_genesis_unverified(&genesis),
    );
    assert!(fresh.adopt_fork(same).is_err());
    assert!(fresh.fork().is_none());
    let effects = fresh.adopt_fork(proof);
    assert!(effects.is_ok_and(|e| e.iter().any(|x| matches!(x, Effect::Fork(_)))));
    assert!(fresh.fork().is_some());
}

/// A new-view carries the tally of the one prepared certificate it re-proposes, not one per
/// view change: with every member prepared on a large batch, it stays about one tally in
/// size (it would be a quorum of tallies, past the frame limit for batches near it, if each
/// view change kept its own), and the slot is decided with the prepared value.
#[test]
fn a_new_view_carries_one_tally_whatever_the_quorum_prepared() {
    let mut c = Cluster::new(4);
    c.tamper = Some(Box::new(|_, _, m| match &m {
        Message::Confirm(x) if x.payload.view == 0 => None,
        _ => Some(m),
    }));
    for k in 0..6u8 {
        c.submit(
            0,
            Operation::Compute(ComputeTask {
                kind: "median-price".into(),
                input: vec![k; 60_000],
            }),
        );
    }
    assert!(c.run_until(1, |c| c.nodes.iter().all(|n| n.prepared.is_some())));
    let prepared = c.nodes[0].prepared.as_ref().map(|p| {
        (
            p.tally.payload.value(),
            crate::crypto::canonical_bytes(&p.tally).len(),
        )
    });
    let Some((value, tally_bytes)) = prepared else {
        panic!("not prepared");
    };
    assert!(tally_bytes > 60_000, "the batch is large: {tally_bytes}");
    assert!(c.run_until(60_000, |c| c.decided.iter().all(|d| !d.is_empty())));
    let new_views: Vec<usize> = c
        .traces
        .iter()
        .flatten()
        .flatten()
        .filter_map(|e| match e {
            Effect::Broadcast {
                msg: m @ Message::NewView(_),
            } => Some(crate::crypto::canonical_bytes(m).len()),
            _ => None,
        })
        .collect();
    assert!(!new_views.is_empty(), "no new-view was sent");
    for size in &new_views {
        assert!(
            *size < tally_bytes + tally_bytes / 4,
            "a new-view of {size} bytes for one tally of {tally_bytes}"
        );
    }
    for d in &c.decided {
        assert_eq!(d[0].value(), value, "the prepared value was not kept");
    }
}

/// A primary leaves an honest member's reveal out of its tally (it never got it, or
/// dropped it) and the view's confirms are lost, so the slot is decided in the next view
/// on that tally. The member revealed in the tally's view: it sends its reveal again once
/// the slot is decided, and nobody attests it `unrevealed`. Control: without the re-send
/// (the rule before), the three others named it `unrevealed`, a penalty a Byzantine
/// primary could repeat on every turn by also withholding its own confirm.
#[test]
fn a_reveal_left_out_of_a_tally_decided_in_a_later_view_is_not_an_absence() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    let x = (primary + 1) % 4;
    c.tamper = Some(Box::new(move |from, to, m| match m {
        Message::Reveal(r) if from == x && to == primary && r.payload.view == 0 => None,
        Message::Confirm(cf) if cf.payload.view == 0 => None,
        other => Some(other),
    }));
    c.submit(primary, compute(1));
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    c.assert_agreement();
    let entry = c.decided[0][0].clone();
    assert!(entry.view > 0, "decided in a later view");
    assert_eq!(entry.tally.payload.view(), 0, "on the view-0 tally");
    let xid = c.nodes[x].id();
    assert!(
        !entry.tally.payload.reveals.iter().any(|r| r.signer == xid),
        "the tally lacks the member's reveal"
    );
    // Past the listening window: every attestation is made. The primary never hears the
    // reveal (the link stays cut); the two others must have.
    c.run_until(3 * c.nodes[0].config.absence_wait, |_| false);
    let pid = c.nodes[primary].id();
    let named: BTreeSet<NodeId> = c
        .nodes
        .iter()
        .filter_map(|n| n.attests.get(&0))
        .flat_map(|by| by.values())
        .filter(|a| a.payload.unrevealed.contains(&xid))
        .map(|a| a.signer)
        .collect();
    assert!(
        named.iter().all(|s| *s == pid),
        "attested unrevealed by {} nodes besides the primary",
        named.iter().filter(|s| **s != pid).count()
    );
    assert!(
        !c.nodes
            .iter()
            .any(|n| n.absences.keys().any(|(_, m)| *m == xid)),
        "no absence proof against the member"
    );
}

/// A primary whose validator says 0xEE where every other says 0x11, a resolver that
/// escalates, and `drop(from, to, msg)` cutting messages: the entry the cluster decides
/// for one operation.
fn veto_scenario(drop: impl Fn(usize, usize, &Message) -> bool + 'static) -> DecidedEntry {
    let mut c = Cluster::new(4);
    let p = c.layer(Layer::Primary, 0);
    c.validator = Box::new(move |i, _| Outcome::Accepted(vec![if i == p { 0xEE } else { 0x11 }]));
    c.resolver = Box::new(|_, _, _| ResolverVerdict::Escalate("no clear authority".into()));
    c.tamper = Some(Box::new(move |from, to, m| {
        (!drop(from, to, &m)).then_some(m)
    }));
    c.submit(p, compute(1));
    assert!(c.run_until(60_000, |c| c.all_decided(1)));
    c.assert_agreement();
    c.decided[0][0].clone()
}

/// A primary with a wrong result closes its commit set at a quorum without an honest
/// member whose commit the others held in time (here the member's commit never reaches
/// it): the set has no matching quorum, and the resolver escalates. The members that held
/// the left-out commit before the set arrived refuse the unsettled tally; the next view
/// decides the honest result. Control: without the rule the operation is escalated in
/// view 0 (a Byzantine primary's veto on any operation of its slot).
#[test]
fn a_commit_set_leaving_out_a_timely_commit_cannot_send_an_operation_to_the_resolver() {
    let p = Cluster::new(4).layer(Layer::Primary, 0);
    let left_out = (p + 3) % 4;
    let entry = veto_scenario(
        move |from, to, m| matches!(m, Message::Commit(cm) if from == left_out && to == p && cm.payload.view == 0),
    );
    assert_eq!(
        entry.decisions(),
        &[Decision::Agreed(Outcome::Accepted(vec![0x11]))],
        "view {}",
        entry.view
    );
    assert!(entry.view > 0);
}

/// The same veto by delivery: the primary's commit set names every member, but never
/// reaches one of them, which therefore never reveals. A member holding the unsettled
/// tally sends the set on to the members whose reveals it lacks; the left-out member
/// reveals, and its reveal (a quorum with the others') makes the tally refused. Control:
/// without the relay the operation is escalated in view 0.
#[test]
fn a_commit_set_kept_from_a_member_is_relayed_to_it() {
    let p = Cluster::new(4).layer(Layer::Primary, 0);
    let kept = (p + 3) % 4;
    let entry = veto_scenario(
        move |from, to, m| matches!(m, Message::CommitSet(cs) if from == p && to == kept && cs.payload.view == 0),
    );
    assert!(
        matches!(entry.decisions(), [Decision::Agreed(Outcome::Accepted(v))] if v == &vec![0x11]),
        "{:?} in view {}",
        entry.decisions(),
        entry.view
    );
}

#[path = "boundary_tests.rs"]
mod boundary;

/// The lengths of the `Submit` bundles node `i` broadcast.
fn bundles(c: &Cluster, i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for e in c.traces[i].iter().flatten() {
        match e {
            Effect::Broadcast {
                msg: Message::Submit(ops),
            } => out.push(ops.len()),
            Effect::Send {
                msg: Message::Submit(_),
                ..
            } => panic!("a submission sent to one member"),
            _ => {}
        }
    }
    out
}

#[test]
fn submissions_are_forwarded_at_once_when_quiet_and_in_bundles_under_load() {
    let mut c = Cluster::new(4);
    let p = c.layer(Layer::Primary, 0);
    let x = (0..4)
        .find(|i| *i != p)
        .expect("a member that is not the primary");
    // The first submission after a quiet hold leaves at once.
    c.submit(x, compute(1));
    assert_eq!(bundles(&c, x), vec![1]);
    // Two more within the hold wait for it to end.
    c.submit(x, compute(2));
    c.submit(x, compute(3));
    assert_eq!(bundles(&c, x), vec![1]);
    // ... and the node asks for a tick when the hold ends (not only at its next resend).
    let hold = Config::default().gossip_hold;
    let asked = c.traces[x]
        .iter()
        .flatten()
        .any(|e| matches!(e, Effect::SetTimer { at } if *at == hold));
    assert!(asked, "no timer for the end of the hold");
    // The hold ends: one bundle of both, and every member decides all three.
    assert!(c.run_until(10_000, |c| {
        c.up().iter().all(|i| {
            c.decided[*i]
                .iter()
                .map(|e| e.tally.payload.proposal.payload.batch.len())
                .sum::<usize>()
                == 3
        })
    }));
    assert_eq!(bundles(&c, x), vec![1, 2]);
    c.assert_agreement();
}

#[test]
fn a_bundle_too_long_or_from_outside_is_refused_unread() {
    let mut c = Cluster::new(4);
    let outsider = Keypair::from_seed([99; 32]);
    let op = |i: usize| {
        let input = u8::try_from(i % 256).unwrap_or(0);
        sign_op(c.chain, compute(input))
    };
    let long: Vec<SignedOperation> = (0..=gossip::MAX_BUNDLE_OPS).map(op).collect();
    let member = c.nodes[1].id();
    c.input(
        0,
        Input::Message {
            from: member,
            msg: Message::Submit(long.clone()),
        },
    );
    c.input(
        0,
        Input::Message {
            from: outsider.id(),
            msg: Message::Submit(long[..2].to_vec()),
        },
    );
    let stats = c.nodes[0].stats();
    assert_eq!(stats.rejected.get("invalid"), Some(&1));
    assert_eq!(stats.rejected.get("not_member"), Some(&1));
    assert_eq!(c.nodes[0].footprint().mempool, 0);
    // A bundle at the limit is taken whole.
    let full = long[..gossip::MAX_BUNDLE_OPS].to_vec();
    c.input(
        0,
        Input::Message {
            from: member,
            msg: Message::Submit(full),
        },
    );
    assert_eq!(c.nodes[0].footprint().mempool, 256);
}

/// A member re-sends one real, large prepared certificate on a view change for each of
/// `MAX_VIEW_CHANGE_VIEWS` views: a node keeps the view changes without the tally and the
/// tally once (per value). Control: with the tally kept on each view change (the rule
/// before), the node held 64 copies, here 64 x 62 KB.
#[test]
fn a_prepared_tally_on_many_view_changes_is_kept_once() {
    let mut c = Cluster::new(4);
    c.tamper = Some(Box::new(|_, _, m| match &m {
        Message::Confirm(x) if x.payload.view == 0 => None,
        _ => Some(m),
    }));
    for k in 0..6u8 {
        c.submit(
            0,
            Operation::Compute(ComputeTask {
                kind: "median-price".into(),
                input: vec![k; 60_000],
            }),
        );
    }
    assert!(c.run_until(1, |c| c.nodes.iter().all(|n| n.prepared.is_some())));
    let Some(claim) = c.nodes[1].prepared.as_ref().map(|p| p.claim()) else {
        panic!("not prepared");
    };
    let tally_bytes = crate::crypto::canonical_bytes(&claim.tally).len();
    assert!(tally_bytes > 60_000, "the tally is large: {tally_bytes}");
    let target = 2;
    assert_eq!((c.nodes[target].view, c.nodes[target].slot()), (0, 0));
    for view in 1..=super::view_change::MAX_VIEW_CHANGE_VIEWS as u64 {
        let vc = ViewChange {
            slot: 0,
            new_view: view,
            prepared: Some(claim.clone()),
        };
        let r = c.nodes[target].handle(Input::Message {
            from: c.keys[1].id(),
            msg: Message::ViewChange(Box::new(Signed::new(vc, &c.keys[1]))),
        });
        drop(r);
    }
    let node = &c.nodes[target];
    let kept: usize = node.view_changes.values().map(|by| by.len()).sum();
    assert_eq!(
        kept,
        super::view_change::MAX_VIEW_CHANGE_VIEWS,
        "all are kept"
    );
    let held: usize = node
        .view_changes
        .values()
        .flat_map(|by| by.values())
        .map(|vc| crate::crypto::canonical_bytes(vc).len())
        .sum::<usize>()
        + node
            .prepared_tallies
            .values()
            .map(|(_, t)| crate::crypto::canonical_bytes(t).len())
            .sum::<usize>();
    assert_eq!(node.prepared_tallies.len(), 1);
    assert!(
        held < 2 * tally_bytes,
        "{held} bytes held for a tally of {tally_bytes}"
    );
}

/// A cluster of 4 whose members' results all differ and whose member after the primary
/// has its reveals lost, with one operation submitted: (cluster, primary, lost member).
fn results_disagree_and_one_reveal_is_lost() -> (Cluster, usize, usize) {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    let lost = (primary + 1) % 4;
    c.validator = Box::new(|i, _| Outcome::Accepted(vec![u8::try_from(i).unwrap_or(0)]));
    c.tamper = Some(Box::new(move |from, _, m| match m {
        Message::Reveal(_) if from == lost => None,
        other => Some(other),
    }));
    c.submit(primary, compute(1));
    (c, primary, lost)
}

/// The reveal the member `lost` broadcast (and the cluster dropped).
fn lost_reveal(c: &Cluster, lost: usize) -> Message {
    let reveal = c.traces[lost].iter().flatten().find_map(|e| match e {
        Effect::Broadcast {
            msg: msg @ Message::Reveal(_),
        } => Some(msg.clone()),
        _ => None,
    });
    let Some(reveal) = reveal else {
        panic!("the lost member did not reveal");
    };
    reveal
}

/// A member holding an unsettled tally (the results disagree, one member's reveal was
/// lost) waits under the omission rule; cheap inputs meanwhile do not make it weigh the
/// rule again (nor recompute the tally's decisions), a new reveal does. Control: with the
/// rule weighed on every pass (before), each of the 100 ticks weighed it.
#[test]
fn a_held_tally_is_weighed_again_only_when_what_the_rule_reads_moved() {
    let (mut c, primary, lost) = results_disagree_and_one_reveal_is_lost();
    let held = |c: &Cluster| {
        (0..4).find(|&i| {
            i != primary
                && i != lost
                && c.nodes[i].round.pending_tally.is_some()
                && c.nodes[i].round.omission_until.is_some()
        })
    };
    assert!(
        c.run_until(5_000, |c| held(c).is_some()),
        "no member holds the tally"
    );
    let Some(m) = held(&c) else {
        panic!("no member holds the tally");
    };
    let checks = c.nodes[m].stats().omission_checks;
    // The member's own clock (the cluster's may have moved past its patience).
    let now = c.nodes[m].now;
    assert!(c.nodes[m].round.omission_until.is_some_and(|u| now < u));
    for _ in 0..100 {
        let _ = c.nodes[m].handle(Input::Tick { now });
    }
    assert!(c.nodes[m].round.pending_tally.is_some(), "still held");
    assert_eq!(
        c.nodes[m].stats().omission_checks,
        checks,
        "weighed again though nothing it reads moved"
    );
    // The lost member's reveal arrives: weighed again.
    let reveal = lost_reveal(&c, lost);
    let from = c.nodes[lost].id();
    let _ = c.nodes[m].handle(Input::Message { from, msg: reveal });
    assert_eq!(c.nodes[m].stats().omission_checks, checks + 1);
}

/// The primary waiting for reveals (the results disagree, one member's reveal was lost)
/// does not weigh its tally again on inputs that move nothing the wait reads; the lost
/// reveal weighs it once. Control: with the wait weighed on every pass (before), each of
/// the 100 ticks weighed it.
#[test]
fn the_primary_weighs_its_tally_again_only_when_what_the_wait_reads_moved() {
    let (mut c, primary, lost) = results_disagree_and_one_reveal_is_lost();
    let waiting = |c: &Cluster| {
        let p = &c.nodes[primary];
        p.round.tally().is_none()
            && p.round
                .tally_read
                .is_some_and(|r| r.wake.is_some_and(|w| p.now < w))
    };
    assert!(
        c.run_until(5_000, waiting),
        "the primary does not wait for reveals"
    );
    let checks = c.nodes[primary].stats().tally_checks;
    let now = c.nodes[primary].now;
    for _ in 0..100 {
        let _ = c.nodes[primary].handle(Input::Tick { now });
    }
    assert!(c.nodes[primary].round.tally().is_none(), "still waiting");
    assert_eq!(
        c.nodes[primary].stats().tally_checks,
        checks,
        "weighed again though nothing the wait reads moved"
    );
    let reveal = lost_reveal(&c, lost);
    let from = c.nodes[lost].id();
    let _ = c.nodes[primary].handle(Input::Message { from, msg: reveal });
    assert_eq!(c.nodes[primary].stats().tally_checks, checks + 1);
}

/// A wait of the round that has passed but stays set (the primary waiting for resolver
/// verdicts after its grace) is not armed again: before, each tick re-armed a timer
/// already due and the driver ticked in a loop until the verdicts came. Control: with
/// the passed waits armed (before), the tick asks for a timer at the passed grace.
#[test]
fn a_passed_wait_is_not_armed_again() {
    let mut c = Cluster::new(4);
    let primary = c.layer(Layer::Primary, 0);
    let now = c.nodes[primary].now.saturating_add(1_000);
    let _ = c.nodes[primary].handle(Input::Tick { now });
    c.nodes[primary].round.grace_until = Some(now.saturating_sub(1));
    c.nodes[primary].round.patience_until = Some(now);
    for _ in 0..3 {
        let effects = c.nodes[primary].handle(Input::Tick { now });
        let due: Vec<u64> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::SetTimer { at } if *at <= now => Some(*at),
                _ => None,
            })
            .collect();
        assert!(due.is_empty(), "timers asked for at or before now: {due:?}");
    }
}
