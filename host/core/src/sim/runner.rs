//! The simulation driver: N nodes of the real consensus state machine (and the Byzantine
//! actors) on the seeded virtual network, with in-memory persistence, crash/restart, the
//! Rust stand-ins for the modules, clients, and the trace hash.
//!
//! # Design
//! [`run_scenario`] builds a genesis from the seed, one endpoint per node instance (two for
//! a twinned identity), and an event queue. Each event (a delivery, a timer, a module
//! answer, a client submission, a crash or a restart) is fed to its endpoint as an
//! [`Input`]; the returned [`Effect`]s are executed strictly in order, exactly as the
//! driver contract of the consensus module asks: `Persist` goes to the endpoint's store
//! (which survives a crash) before the next effect, sends go through the network model,
//! module calls are answered by [`super::modules`], and `SetTimer` schedules a tick.
//! Before every input the endpoint's clock is advanced with a `Tick{now}`.
//!
//! The run ends when every honest node has decided or escalated every operation of the
//! workload and every detected offender has been slashed, or at GST plus the liveness
//! window. [`check_scenario`] runs a scenario twice and adds a violation if the trace
//! hashes differ; the invariants of [`super::invariants`] are checked on every run.

use std::collections::{BTreeMap, BTreeSet};

use super::byzantine::{self, Adversary, Behaviour, Ctx, SimNode, mixed};
use super::clients::SimClients;
use super::invariants::{self, RunRecord, Violation};
use super::modules::{resolve, validate};
use super::network::{Endpoint, EventQueue, NetStats, Network, Time};
use super::rng::SimRng;
use super::scenario::Scenario;
use super::trace::Trace;
use super::workload;
use crate::consensus::{
    CallId, Config, DecidedEntry, Decision, Effect, Input, Message, ModuleReply, Node, Persist,
};
use crate::crypto::Keypair;
use crate::genesis::{Genesis, GenesisModules, GenesisNode};
use crate::ops::{Operation, OptimizationType, PerformanceOptimization, SignedOperation};
use crate::state::{Params, ReplicatedState, StateChange};
use crate::trust::Participation;
use crate::trust::{TrustCause, TrustChange};
use crate::types::{Digest, Hierarchy, NodeId, Slot};

/// Most events one run may process before it is declared stuck.
const EVENT_BUDGET: u64 = 5_000_000;

/// How often clients send fresh traffic after GST while something is still pending (ms).
const TRAFFIC_INTERVAL: Time = 1_000;

/// What happened in one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's seed.
    pub seed: u64,
    /// The trace hash.
    pub trace_hash: Digest,
    /// Slots decided (the most any honest node decided).
    pub decided_slots: u64,
    /// Workload operations decided with a result (at the honest node that decided most).
    pub decided_ops: u64,
    /// Workload operations recorded as escalated (at the same node).
    pub escalated_ops: u64,
    /// Why they were escalated: reason -> operations (at the same node).
    pub escalation_reasons: BTreeMap<String, u64>,
    /// Honest nodes that detected a fork and halted, with the culprits they named.
    pub forks: BTreeMap<NodeId, Vec<NodeId>>,
    /// Forker runs: the slot the honest nodes resumed at from a recovery checkpoint, and
    /// the slots each then decided.
    pub recovered: Option<(Slot, BTreeMap<NodeId, u64>)>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Honest nodes that were slashed or penalised in a way the invariants forbid.
    pub slashed_honest: BTreeSet<NodeId>,
    /// Byzantine identities slashed for provable misbehaviour.
    pub slashed_byzantine: BTreeSet<NodeId>,
    /// The behaviour of each Byzantine identity.
    pub byzantine: Vec<(NodeId, Behaviour)>,
    /// What the network did.
    pub net: NetStats,
    /// Messages delivered.
    pub deliveries: u64,
    /// Virtual time at which the run ended (ms).
    pub end_time: Time,
    /// Where each honest instance stood at the end.
    pub nodes: Vec<NodeSummary>,
}

/// Where one honest instance stood at the end of a run (for diagnosing failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSummary {
    /// Its identity.
    pub id: NodeId,
    /// Whether it was running (not crashed) at the end.
    pub up: bool,
    /// How many times it was crashed and restarted.
    pub restarts: u32,
    /// Next slot it would decide.
    pub slot: Slot,
    /// Its view.
    pub view: u64,
    /// Whether it was waiting for a new view.
    pub view_changing: bool,
    /// Operations pending in its mempool.
    pub mempool: usize,
    /// Messages it rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl std::fmt::Display for NodeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {}: {}, {} restart(s), slot {} view {}{} mempool {} rejected {:?}",
            self.id,
            if self.up { "up" } else { "down" },
            self.restarts,
            self.slot,
            self.view,
            if self.view_changing {
                " (changing)"
            } else {
                ""
            },
            self.mempool,
            self.rejected
        )
    }
}

impl Report {
    /// Number of safety violations (agreement, validity).
    pub fn safety_violations(&self) -> u64 {
        self.violations.iter().filter(|v| v.is_safety()).count() as u64
    }

    /// Number of liveness failures.
    pub fn liveness_failures(&self) -> u64 {
        self.violations.iter().filter(|v| v.is_liveness()).count() as u64
    }

    /// Number of other violations (accountability, determinism, setup).
    pub fn other_violations(&self) -> u64 {
        self.violations.len() as u64 - self.safety_violations() - self.liveness_failures()
    }
}

/// Run `scenario` twice, compare the trace hashes, and return the first run's report with
/// a [`Violation::Nondeterministic`] added if they differ.
pub fn check_scenario(scenario: &Scenario) -> Report {
    let mut first = run_scenario(scenario);
    let second = run_scenario(scenario);
    if first.trace_hash != second.trace_hash {
        first.violations.push(Violation::Nondeterministic {
            first: first.trace_hash,
            second: second.trace_hash,
        });
    }
    first
}

/// Run `scenario` once and check the invariants.
pub fn run_scenario(scenario: &Scenario) -> Report {
    if let Err(error) = scenario.validate() {
        return Report {
            seed: scenario.seed,
            trace_hash: Digest::default(),
            decided_slots: 0,
            decided_ops: 0,
            escalated_ops: 0,
            escalation_reasons: BTreeMap::new(),
            forks: BTreeMap::new(),
            recovered: None,
            violations: vec![Violation::Setup { error }],
            slashed_honest: BTreeSet::new(),
            slashed_byzantine: BTreeSet::new(),
            byzantine: Vec::new(),
            net: NetStats::default(),
            deliveries: 0,
            end_time: 0,
            nodes: Vec::new(),
        };
    }
    let mut world = World::new(scenario);
    world.run();
    world.report()
}

/// What runs at an endpoint.
enum Actor {
    /// The honest machine.
    Honest(Box<SimNode>),
    /// A Byzantine actor.
    Byzantine(Box<dyn Adversary>),
    /// A crashed node (until it restarts).
    Down,
}

/// One node instance on the network.
struct Instance {
    key: Keypair,
    id: NodeId,
    /// `None` for an honest node.
    behaviour: Option<Behaviour>,
    actor: Actor,
    /// Durable store: the node's own votes, in the order persisted.
    votes: Vec<Message>,
    /// Durable store: decided entries, in slot order.
    decided: Vec<DecidedEntry>,
    /// Latest timer asked for.
    timer: Option<Time>,
    /// Last `now` given to the node.
    clock: Time,
    /// Crash/restart cycles so far.
    restarts: u32,
    rng: SimRng,
    /// Which side of a forker coalition's split this endpoint is on: honest endpoints
    /// alternate 0, 1, 0, ...; each forker copy talks to its side only.
    side: usize,
}

/// A scheduled event.
enum Event {
    Deliver {
        to: Endpoint,
        from: NodeId,
        msg: Message,
    },
    Timer {
        to: Endpoint,
        at: Time,
    },
    Submit {
        to: Endpoint,
        op: SignedOperation,
    },
    Module {
        to: Endpoint,
        call: CallId,
        reply: ModuleReply,
    },
    Crash {
        to: Endpoint,
    },
    Restart {
        to: Endpoint,
    },
    ClientRetry,
    Traffic,
}

/// The whole simulated world.
struct World {
    scenario: Scenario,
    now: Time,
    end: Time,
    config: Config,
    genesis_state: ReplicatedState,
    instances: Vec<Instance>,
    routes: BTreeMap<NodeId, Vec<Endpoint>>,
    members: Vec<NodeId>,
    member_set: BTreeSet<NodeId>,
    queue: EventQueue<Event>,
    net: Network,
    client_rng: SimRng,
    trace: Trace,
    record: RunRecord,
    /// Honest nodes that halted on a fork, with the culprits their proof names.
    forks: BTreeMap<NodeId, Vec<NodeId>>,
    /// The slot the honest nodes resumed at from a recovery checkpoint (forker runs).
    recovered_at: Option<Slot>,
    /// Per honest node: what it decided from the recovery on.
    after_recovery: BTreeMap<NodeId, BTreeMap<Slot, Digest>>,
    /// The first honest node's state digest seen before each next slot (those from a
    /// recovery's resume slot on forgotten at the recovery): every honest node must hold
    /// the same state there.
    states: BTreeMap<Slot, (NodeId, Digest)>,
    /// Why the recovery could not be made, if it could not.
    recovery_failure: Option<String>,
    /// The recovery certificate the honest nodes resumed from (a restarted node replays
    /// it at its slot, as the node driver does from its store).
    recovery_cert: Option<crate::consensus::RecoveryCert>,
    /// Byzantine identities that never compute (late copycats): any agreement reward
    /// they get is a copied result rewarded.
    copiers: BTreeSet<NodeId>,
    /// Per honest node: the reason each escalated operation was escalated.
    escalation_reasons: BTreeMap<NodeId, BTreeMap<Digest, String>>,
    workload: Vec<SignedOperation>,
    clients: SimClients,
    /// The replicated state as the honest log builds it, slot by slot, for the governance
    /// invariants: every decided operation is checked against the state before its slot.
    reference: ReplicatedState,
    /// Decided entries not yet applied to `reference` (a later slot decided first).
    reference_pending: BTreeMap<Slot, DecidedEntry>,
    traffic: u64,
    events: u64,
    done: bool,
}

impl World {
    fn new(s: &Scenario) -> Self {
        let root = SimRng::new(s.seed);
        let mut setup = root.fork(1);
        let keys: Vec<Keypair> = (0..s.nodes)
            .map(|_| {
                let mut seed = [0u8; 32];
                setup.fill(&mut seed);
                Keypair::from_seed(seed)
            })
            .collect();
        let params = Params::default();
        let nodes: Vec<GenesisNode> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisNode {
                id: k.id(),
                level: Hierarchy::ALL[i * 3 / s.nodes.max(1)],
                trust: 7_000,
                name: format!("sim-{i}"),
                address: format!("10.0.0.{}:7000", i + 1),
            })
            .collect();
        let modules = GenesisModules {
            validator: Digest([1; 32]),
            admission: Digest([2; 32]),
            resolver: Digest([3; 32]),
        };
        let clients = SimClients::new(&mut root.fork(5));
        let mut genesis = Genesis::new("spore-sim", nodes, params, modules);
        genesis.authority = clients.authority();
        let chain = genesis.digest();
        let genesis_state = ReplicatedState::from_genesis_unverified(&genesis);
        let mut members: Vec<NodeId> = keys.iter().map(Keypair::id).collect();
        members.sort();
        let member_set: BTreeSet<NodeId> = members.iter().copied().collect();

        // Byzantine identities and their behaviours.
        let mut order: Vec<usize> = (0..s.nodes).collect();
        setup.shuffle(&mut order);
        let faulty: Vec<usize> = if s.behaviour == Behaviour::Honest {
            Vec::new()
        } else {
            order[..s.byzantine].to_vec()
        };
        let behaviours = mixed::assign(s.behaviour, faulty.len(), &mut setup);
        let by_index: BTreeMap<usize, Behaviour> = faulty.iter().copied().zip(behaviours).collect();

        let base_timeout = (25 * s.max_delay).max(100);
        let config = Config {
            max_batch: s.max_batch,
            base_timeout,
            reveal_grace: (3 * s.max_delay).max(5),
            absence_wait: if s.hasty_attest { 0 } else { 2 * base_timeout },
            ..Config::default()
        };
        let mut instances = Vec::new();
        let mut routes: BTreeMap<NodeId, Vec<Endpoint>> = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            let behaviour = by_index.get(&i).copied();
            let copies = if matches!(behaviour, Some(Behaviour::Twins | Behaviour::Forker)) {
                2
            } else {
                1
            };
            for copy in 0..copies {
                let side = if behaviour.is_none() {
                    instances
                        .iter()
                        .filter(|x: &&Instance| x.behaviour.is_none())
                        .count()
                        % 2
                } else {
                    copy
                };
                let endpoint = instances.len();
                routes.entry(key.id()).or_default().push(endpoint);
                let node = new_node(&config, key, genesis_state.clone(), s);
                let actor = match behaviour {
                    None => Actor::Honest(Box::new(node)),
                    Some(b) => Actor::Byzantine(byzantine::actor(b, node)),
                };
                instances.push(Instance {
                    key: key.clone(),
                    id: key.id(),
                    behaviour,
                    actor,
                    votes: Vec::new(),
                    decided: Vec::new(),
                    timer: None,
                    clock: 0,
                    restarts: 0,
                    rng: root.fork(100 + endpoint as u64),
                    side,
                });
            }
        }

        let mut net_rng = root.fork(2);
        let net_cfg = s.net_config(instances.len(), &mut net_rng);
        let net = Network::new(net_cfg, net_rng);
        let gst = s.effective_gst();
        let mut record = RunRecord {
            honest: instances
                .iter()
                .filter(|i| i.behaviour.is_none())
                .map(|i| i.id)
                .collect(),
            synchronous: s.is_synchronous(),
            all_honest: by_index.is_empty(),
            ..RunRecord::default()
        };
        let mut client_rng = root.fork(3);
        let ops: Vec<SignedOperation> =
            workload::build(s.workload, s.operations, &members, &mut client_rng)
                .into_iter()
                .map(|op| clients.sign(op, chain))
                .collect();
        for op in &ops {
            let d = op.id();
            record.submitted.insert(d);
            // The host refuses some workload operations before ordering (see workload.rs):
            // only those it takes must be decided.
            if genesis_state.authorize(op).is_ok() {
                record.required.insert(d);
            }
        }
        let mut world = World {
            scenario: s.clone(),
            now: 0,
            end: gst + s.liveness_window,
            config,
            instances,
            routes,
            members,
            member_set,
            queue: EventQueue::new(),
            net,
            client_rng,
            trace: Trace::new(),
            record,
            escalation_reasons: BTreeMap::new(),
            forks: BTreeMap::new(),
            recovered_at: None,
            after_recovery: BTreeMap::new(),
            states: BTreeMap::new(),
            recovery_failure: None,
            recovery_cert: None,
            copiers: by_index
                .iter()
                .filter(|(_, b)| **b == Behaviour::LateCopycat)
                .filter_map(|(i, _)| keys.get(*i).map(Keypair::id))
                .collect(),
            workload: ops,
            clients,
            reference: genesis_state.clone(),
            reference_pending: BTreeMap::new(),
            genesis_state,
            traffic: 0,
            events: 0,
            done: false,
        };
        world.schedule_clients(gst);
        world.schedule_crash(&mut root.fork(4), gst);
        world
    }

    /// Clients submit each operation to `f + 1` distinct identities (so at least one honest
    /// node hears it) at a random time; in asynchronous runs they retry at GST.
    fn schedule_clients(&mut self, gst: Time) {
        let window = if self.scenario.is_synchronous() {
            20 * self.scenario.max_delay
        } else {
            gst / 2
        };
        let ids: Vec<NodeId> = self.routes.keys().copied().collect();
        let fanout = (self.scenario.byzantine + 1).min(ids.len());
        for op in self.workload.clone() {
            let at = self.client_rng.below(window.max(1));
            let mut targets = ids.clone();
            self.client_rng.shuffle(&mut targets);
            for id in &targets[..fanout] {
                for &to in self.routes.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                    self.queue.push(at, Event::Submit { to, op: op.clone() });
                }
            }
        }
        if !self.scenario.is_synchronous() {
            self.queue.push(gst, Event::ClientRetry);
        }
        self.queue.push(gst + TRAFFIC_INTERVAL, Event::Traffic);
    }

    /// In asynchronous runs with crashes enabled, crash one honest node before GST and
    /// restart it a little later.
    fn schedule_crash(&mut self, rng: &mut SimRng, gst: Time) {
        if !self.scenario.crash_restart || self.scenario.is_synchronous() || gst < 4 {
            return;
        }
        let honest: Vec<Endpoint> = (0..self.instances.len())
            .filter(|e| self.instances[*e].behaviour.is_none())
            .collect();
        if honest.is_empty() || !rng.chance(500_000) {
            return;
        }
        let victim = honest[rng.index(honest.len())];
        let at = rng.range(1, gst / 2);
        let back = at + rng.range(1, gst / 4);
        self.queue.push(at, Event::Crash { to: victim });
        self.queue.push(back, Event::Restart { to: victim });
    }

    fn run(&mut self) {
        while let Some((at, event)) = self.queue.pop() {
            if at > self.end {
                break;
            }
            self.events += 1;
            if self.events > EVENT_BUDGET {
                self.record.found.push(Violation::Setup {
                    error: format!("event budget of {EVENT_BUDGET} exhausted at t={at}ms"),
                });
                break;
            }
            self.now = at;
            self.dispatch(event);
            if self.scenario.behaviour == Behaviour::Forker
                && self.recovered_at.is_none()
                && self.recovery_failure.is_none()
                && self.forks.len() >= self.record.honest.len()
            {
                self.recover();
            }
            if self.done {
                break;
            }
        }
        self.record.liveness_required = true;
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver { to, from, msg } => {
                if matches!(self.instances[to].actor, Actor::Down) {
                    return;
                }
                self.trace.delivered(self.now, to, &from, &msg);
                self.input(to, Input::Message { from, msg });
            }
            Event::Timer { to, at } => {
                if self.instances[to].timer == Some(at) {
                    self.instances[to].timer = None;
                    self.input(to, Input::Tick { now: self.now });
                }
            }
            Event::Submit { to, op } => self.input(to, Input::Submit(op)),
            Event::Module { to, call, reply } => self.input(
                to,
                Input::ModuleResult {
                    call,
                    result: reply,
                },
            ),
            Event::Crash { to } => {
                let inst = &mut self.instances[to];
                inst.actor = Actor::Down;
                inst.timer = None;
            }
            Event::Restart { to } => self.restart(to),
            Event::ClientRetry => {
                for op in self.workload.clone() {
                    if !self.decided_anywhere(&op.id()) {
                        for to in 0..self.instances.len() {
                            self.queue
                                .push(self.now, Event::Submit { to, op: op.clone() });
                        }
                    }
                }
            }
            Event::Traffic => self.traffic(),
        }
    }

    /// After GST, while the run is not finished, clients keep sending fresh operations: they
    /// carry pending evidence into the log and let lagging nodes hear about new slots.
    fn traffic(&mut self) {
        self.traffic += 1;
        let op = Operation::PerformanceOptimization(PerformanceOptimization {
            kind: OptimizationType::Routing,
            targets: vec![],
            plan: format!("sim-traffic-{}", self.traffic),
        });
        let op = self.clients.sign(op, self.genesis_state.genesis_digest());
        self.record.submitted.insert(op.id());
        let honest: Vec<Endpoint> = (0..self.instances.len())
            .filter(|e| {
                self.instances[*e].behaviour.is_none()
                    && !matches!(self.instances[*e].actor, Actor::Down)
            })
            .collect();
        if !honest.is_empty() {
            let to = honest[self.client_rng.index(honest.len())];
            self.queue.push(self.now, Event::Submit { to, op });
        }
        self.queue.push(self.now + TRAFFIC_INTERVAL, Event::Traffic);
    }

    fn decided_anywhere(&self, op: &Digest) -> bool {
        self.record
            .op_slots
            .values()
            .any(|ops| ops.contains_key(op))
    }

    /// Rebuild a crashed node from its durable store, as the node driver does: `Node::new`
    /// on the genesis state, `restore_log` with the stored decided log (state, decided
    /// operations, recorded evidence, the retained tail to serve catch-up, the view), then
    /// `restore` with its persisted votes.
    fn restart(&mut self, to: Endpoint) {
        let inst = &self.instances[to];
        let mut node = new_node(
            &self.config,
            &inst.key,
            self.genesis_state.clone(),
            &self.scenario,
        );
        match &self.recovery_cert {
            Some(cert) => {
                let resume = cert.checkpoint.resume_slot;
                node.restore_log(inst.decided.iter().filter(|d| d.slot < resume).cloned());
                if node.slot() == resume
                    && let Err(err) = node.recover(cert)
                {
                    self.record.found.push(Violation::NotRecovered {
                        node: inst.id,
                        reason: format!("restarted: {err}"),
                    });
                }
                node.restore_log(inst.decided.iter().filter(|d| d.slot >= resume).cloned());
            }
            None => node.restore_log(inst.decided.iter().cloned()),
        }
        let mut effects = node.handle(Input::Tick { now: self.now });
        effects.extend(node.restore(inst.votes.clone()));
        let inst = &mut self.instances[to];
        inst.actor = Actor::Honest(Box::new(node));
        inst.clock = self.now;
        inst.restarts += 1;
        self.execute(to, effects);
    }

    /// Forker runs, once every honest node has halted on the fork: the recovery an operator
    /// makes with `spore recover` (`consensus::recovery`). The culprits are stopped; every
    /// honest node drops the entries from the forked slot on, replays the rest, and signs a
    /// checkpoint that resumes there in a view above every view any of them used; each
    /// resumes from the certificate of all their signatures, keeps its own votes, and is
    /// given again the operations of the abandoned entries (the clients resubmit them).
    fn recover(&mut self) {
        use crate::consensus::{Checkpoint, CheckpointSignature, RecoveryCert};
        let honest: Vec<Endpoint> = (0..self.instances.len())
            .filter(|e| self.instances[*e].behaviour.is_none())
            .collect();
        let resume = honest
            .iter()
            .filter_map(|e| match &self.instances[*e].actor {
                Actor::Honest(node) => node.fork().map(|p| p.slot()),
                _ => None,
            })
            .min();
        let Some(resume) = resume else {
            self.recovery_failure = Some("no honest node holds the fork proof".into());
            return;
        };
        // A proof names the slot where a node met the conflict, which can be later than
        // the first slot the histories differ at: the operators compare the logs and
        // resume at the first difference.
        let mut values: BTreeMap<Slot, BTreeSet<Digest>> = BTreeMap::new();
        for e in &honest {
            for d in &self.instances[*e].decided {
                values.entry(d.slot).or_default().insert(d.value());
            }
        }
        let resume = values
            .iter()
            .find(|(_, v)| v.len() > 1)
            .map_or(resume, |(s, _)| resume.min(*s));
        let mut culprits: Vec<NodeId> = self.forks.values().flatten().copied().collect();
        culprits.sort();
        culprits.dedup();
        // The view to resume in: above every view an honest node voted in or holds an
        // entry of, from the forked slot on.
        let mut highest = 0;
        let mut abandoned: Vec<SignedOperation> = Vec::new();
        for e in &honest {
            let inst = &self.instances[*e];
            for v in &inst.votes {
                if v.slot().is_some_and(|s| s >= resume) {
                    highest = highest.max(v.view().unwrap_or(0));
                }
            }
            for entry in inst.decided.iter().filter(|d| d.slot >= resume) {
                highest = highest.max(entry.view);
                abandoned.extend(entry.batch().iter().cloned());
            }
        }
        for i in &mut self.instances {
            if i.behaviour == Some(Behaviour::Forker) {
                i.actor = Actor::Down;
            }
        }
        let mut nodes = Vec::new();
        for e in &honest {
            let inst = &mut self.instances[*e];
            if !self.scenario.keep_abandoned {
                inst.decided.retain(|d| d.slot < resume);
            }
            let mut node = new_node(
                &self.config,
                &inst.key,
                self.genesis_state.clone(),
                &self.scenario,
            );
            node.restore_log(inst.decided.iter().cloned());
            nodes.push((*e, node));
        }
        let Some((_, first)) = nodes.first() else {
            return;
        };
        let checkpoint = Checkpoint {
            chain: first.state().genesis_digest(),
            resume_slot: resume,
            state: first.state().state_digest(),
            culprits,
            resume_view: highest.saturating_add(1),
        };
        let cert = RecoveryCert {
            signatures: honest
                .iter()
                .map(|e| CheckpointSignature::sign(&checkpoint, &self.instances[*e].key))
                .collect(),
            checkpoint,
        };
        self.recovered_at = Some(resume);
        // The honest nodes resume from one checkpoint (its culprits excluded): states are
        // compared afresh from there.
        self.states.retain(|next, _| *next < resume);
        self.recovery_cert = Some(cert.clone());
        for (e, mut node) in nodes {
            if let Err(err) = node.recover(&cert) {
                let id = self.instances[e].id;
                self.record.found.push(Violation::NotRecovered {
                    node: id,
                    reason: err.to_string(),
                });
                self.recovery_failure = Some(err.to_string());
                continue;
            }
            let mut effects = node.handle(Input::Tick { now: self.now });
            effects.extend(node.restore(self.instances[e].votes.clone()));
            for op in &abandoned {
                effects.extend(node.handle(Input::Submit(op.clone())));
            }
            let inst = &mut self.instances[e];
            inst.actor = Actor::Honest(Box::new(node));
            inst.clock = self.now;
            self.execute(e, effects);
        }
        self.done = self.finished();
    }

    /// Feed `input` to endpoint `to` (after advancing its clock) and execute the effects.
    fn input(&mut self, to: Endpoint, input: Input) {
        let now = self.now;
        let mut effects = Vec::new();
        {
            let inst = &mut self.instances[to];
            let needs_tick = now > inst.clock && !matches!(input, Input::Tick { .. });
            inst.clock = inst.clock.max(now);
            let mut ctx = Ctx {
                key: &inst.key,
                members: &self.members,
                rng: &mut inst.rng,
                now,
            };
            match &mut inst.actor {
                Actor::Down => return,
                Actor::Honest(node) => {
                    if needs_tick {
                        effects.extend(node.handle(Input::Tick { now }));
                    }
                    effects.extend(node.handle(input));
                    compare_state(
                        &mut self.states,
                        &mut self.record.found,
                        inst.id,
                        node.state(),
                    );
                }
                Actor::Byzantine(actor) => {
                    if needs_tick {
                        effects.extend(actor.handle(&mut ctx, Input::Tick { now }));
                    }
                    effects.extend(actor.handle(&mut ctx, input));
                }
            }
        }
        self.execute(to, effects);
    }

    /// Execute effects of endpoint `from` strictly in order.
    fn execute(&mut self, from: Endpoint, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { to, msg } => self.send(from, to, msg),
                Effect::Broadcast { msg } => {
                    let me = self.instances[from].id;
                    for peer in self.members.clone() {
                        if peer != me {
                            self.send(from, peer, msg.clone());
                        }
                    }
                }
                Effect::Persist(Persist::Vote(vote)) => self.instances[from].votes.push(vote),
                Effect::CallValidator { call, op, .. } => {
                    let reply = ModuleReply::Validator(validate(&op, &self.member_set));
                    self.queue.push(
                        self.now,
                        Event::Module {
                            to: from,
                            call,
                            reply,
                        },
                    );
                }
                Effect::CallResolver {
                    call,
                    primary,
                    seed,
                    latent,
                    ..
                } => {
                    let reply = ModuleReply::Resolver(resolve(&primary, &seed, &latent));
                    self.queue.push(
                        self.now,
                        Event::Module {
                            to: from,
                            call,
                            reply,
                        },
                    );
                }
                Effect::Decided { slot, entry } => {
                    let store = &mut self.instances[from].decided;
                    if store.last().is_none_or(|last| last.slot < slot) {
                        store.push((*entry).clone());
                    }
                    self.on_decided(from, slot, &entry);
                }
                Effect::Fork(proof) => {
                    if self.instances[from].behaviour.is_none() {
                        let id = self.instances[from].id;
                        self.forks.insert(id, proof.culprits());
                    }
                }
                Effect::Evidence(proof) => {
                    if self.instances[from].behaviour.is_none()
                        && let Some(offender) = proof.offender()
                    {
                        self.record
                            .detected
                            .entry(offender)
                            .or_insert_with(|| proof.kind().to_string());
                    }
                }
                Effect::SetTimer { at } => {
                    self.instances[from].timer = Some(at);
                    self.queue
                        .push(at.max(self.now), Event::Timer { to: from, at });
                }
            }
        }
    }

    /// Hand `msg` from endpoint `from` to the network, towards every instance of `to`.
    fn send(&mut self, from: Endpoint, to: NodeId, msg: Message) {
        let sender = self.instances[from].id;
        let Some(targets) = self.routes.get(&to).cloned() else {
            return;
        };
        let forker = |e: Endpoint| self.instances[e].behaviour == Some(Behaviour::Forker);
        for dst in targets {
            // A forker coalition splits the honest members in two: each copy of a forker
            // talks to one side only (the honest members still talk to each other).
            if (forker(from) || forker(dst))
                && self.instances[from].side != self.instances[dst].side
            {
                continue;
            }
            for at in self.net.route(self.now, from, dst) {
                self.queue.push(
                    at,
                    Event::Deliver {
                        to: dst,
                        from: sender,
                        msg: msg.clone(),
                    },
                );
            }
        }
    }

    /// Record a decision of endpoint `at` for the invariants, and stop once everything is in.
    fn on_decided(&mut self, at: Endpoint, slot: Slot, entry: &DecidedEntry) {
        let value = entry.value();
        self.trace.decided(self.now, at, slot, &value);
        let inst = &self.instances[at];
        if inst.behaviour.is_some() {
            return;
        }
        let id = inst.id;
        if self.recovered_at.is_some_and(|r| slot >= r) {
            // The history after the recovery: it must agree among the honest nodes.
            for (other, slots) in &self.after_recovery {
                if let Some(d) = slots.get(&slot)
                    && *d != value
                {
                    self.record.found.push(Violation::Agreement {
                        slot,
                        a: (*other, *d),
                        b: (id, value),
                    });
                }
            }
            self.after_recovery
                .entry(id)
                .or_default()
                .insert(slot, value);
            self.done = self.finished();
            return;
        }
        let slots = self.record.decided.entry(id).or_default();
        if let Some(old) = slots.get(&slot)
            && *old != value
        {
            self.record.found.push(Violation::Agreement {
                slot,
                a: (id, *old),
                b: (id, value),
            });
        }
        slots.insert(slot, value);
        for (op, decision) in entry.batch().iter().zip(entry.decisions()) {
            let d = op.id();
            // A member's own node key submits for itself where the policy lets it (a
            // proven exclusion): such an operation is a submission too. Whether it was
            // authorised is the governance invariant's business.
            if self.member_set.contains(&op.submitter) {
                self.record.submitted.insert(d);
            }
            self.record
                .op_slots
                .entry(id)
                .or_default()
                .entry(d)
                .or_default()
                .insert(slot);
            // A proven exclusion (an operation carrying the proof, checked when it was
            // ordered) slashes as a proof in the entry does: once it is applied, further
            // proofs against the offender change nothing and are no longer proposed.
            if let crate::ops::Operation::NodeExclusion(x) = &op.op
                && crate::state::is_provable(x.reason)
                && matches!(decision, Decision::Agreed(crate::ops::Outcome::Accepted(_)))
            {
                self.record
                    .slashed
                    .entry(id)
                    .or_default()
                    .insert(x.target, "proven exclusion".to_string());
            }
            if let Decision::Escalated { reason } = decision {
                self.record.escalated.entry(id).or_default().insert(d);
                self.escalation_reasons
                    .entry(id)
                    .or_default()
                    .insert(d, format!("{}: {reason}", path_name(entry)));
            }
        }
        for proof in entry.evidence() {
            if let Some(offender) = proof.offender() {
                self.record
                    .slashed
                    .entry(id)
                    .or_default()
                    .insert(offender, proof.kind().to_string());
            }
        }
        let report = entry.round_report(&self.members);
        for (node, participation) in report.participants.iter().chain(&report.absences) {
            let penalty = match participation {
                Participation::Dissented => "dissent",
                Participation::CommittedNoReveal => "commit without reveal",
                Participation::Silent => "silence",
                _ => continue,
            };
            self.record
                .penalised
                .entry(id)
                .or_default()
                .insert(*node, penalty.to_string());
        }
        self.check_results(id, slot, entry);
        self.check_governance(slot, entry);
        self.done = self.finished();
    }

    /// On a synchronous network the honest members' deterministic results form a quorum
    /// that agrees, so every operation must be decided by it (`Agreed`) or by its
    /// authority: a resolved or escalated decision means a primary steered the input.
    fn check_results(&mut self, node: NodeId, slot: Slot, entry: &DecidedEntry) {
        if !self.scenario.is_synchronous() {
            return;
        }
        for d in entry.decisions() {
            if matches!(d, Decision::Resolved { .. } | Decision::Escalated { .. }) {
                self.record.found.push(Violation::NotAgreed {
                    node,
                    slot,
                    decision: format!("{}: {d:?}", path_name(entry)),
                });
                return;
            }
        }
    }

    /// Apply honest decisions to the reference state in slot order, checking before each
    /// slot that every operation it orders passes the host's authorisation against the
    /// state it was ordered in, and after it that no honest member lost trust or
    /// membership to governance (the sim's governor never cuts an honest member's trust;
    /// misbehaviour proofs against honest members are checked by `HonestSlashed`).
    fn check_governance(&mut self, slot: Slot, entry: &DecidedEntry) {
        if slot < self.reference.next_slot() {
            return;
        }
        self.reference_pending
            .entry(slot)
            .or_insert_with(|| entry.clone());
        while let Some(entry) = self.reference_pending.remove(&self.reference.next_slot()) {
            for op in entry.batch() {
                if let Err(e) = self.reference.authorize(op) {
                    self.record.found.push(Violation::Unauthorized {
                        slot: entry.slot,
                        op: op.id(),
                        error: e.to_string(),
                    });
                }
            }
            let changes = crate::consensus::ReplicaState::apply(&mut self.reference, &entry);
            for change in changes {
                let StateChange::Trust(TrustChange { node, cause, .. }) = &change else {
                    continue;
                };
                if let StateChange::Trust(c) = &change
                    && c.delta() > 0
                    && *cause == TrustCause::Round(Participation::Agreed)
                    && self.copiers.contains(node)
                {
                    self.record.found.push(Violation::CopyRewarded {
                        copier: *node,
                        slot: entry.slot,
                    });
                }
                let by_governance =
                    matches!(cause, TrustCause::Exclusion(_) | TrustCause::Governance(_));
                let cut = match &change {
                    StateChange::Trust(c) => {
                        c.delta() < 0
                            || matches!(c.status, Some(crate::trust::StatusChange::Excluded(_)))
                    }
                    _ => false,
                };
                if by_governance && cut && self.record.honest.contains(node) {
                    self.record.found.push(Violation::HonestRemoved {
                        victim: *node,
                        slot: entry.slot,
                        change: change.to_string(),
                    });
                }
            }
        }
    }

    /// Whether every honest node has every workload operation and every detected offender
    /// has been slashed somewhere.
    fn finished(&self) -> bool {
        let all_decided = self.record.honest.iter().all(|id| {
            self.record
                .op_slots
                .get(id)
                .is_some_and(|ops| self.record.required.iter().all(|d| ops.contains_key(d)))
        });
        let all_slashed = self
            .record
            .detected
            .keys()
            .filter(|o| !self.record.honest.contains(o))
            .all(|o| self.record.slashed.values().any(|s| s.contains_key(o)));
        // A forker run goes on until every honest node has halted on the fork and then
        // decided again from the recovery checkpoint (or the run's time is up).
        if self.scenario.behaviour == Behaviour::Forker {
            return self.forks.len() >= self.record.honest.len()
                && self.recovered_at.is_some()
                && self
                    .record
                    .honest
                    .iter()
                    .all(|id| self.after_recovery.get(id).is_some_and(|s| !s.is_empty()));
        }
        all_decided && all_slashed
    }

    fn report(mut self) -> Report {
        // Forker runs: once every honest node halted on the fork, every honest node must
        // decide again from the recovery checkpoint.
        if self.scenario.behaviour == Behaviour::Forker
            && self.forks.len() >= self.record.honest.len()
            && self.recovery_failure.is_none()
        {
            for id in self.record.honest.clone() {
                if self.after_recovery.get(&id).is_none_or(BTreeMap::is_empty) {
                    self.record.found.push(Violation::NotRecovered {
                        node: id,
                        reason: "decided nothing after the recovery".into(),
                    });
                }
            }
        }
        let recovered = self.recovered_at.map(|r| {
            let decided = self
                .after_recovery
                .iter()
                .map(|(id, s)| (*id, s.len() as u64))
                .collect();
            (r, decided)
        });
        let violations = invariants::check(&self.record);
        let mut slashed_honest = BTreeSet::new();
        for v in &violations {
            if let Violation::HonestSlashed { victim, .. }
            | Violation::HonestAccused { victim, .. } = v
            {
                slashed_honest.insert(*victim);
            }
        }
        let slashed_byzantine: BTreeSet<NodeId> = self
            .record
            .slashed
            .values()
            .flat_map(|s| s.keys().copied())
            .filter(|id| !self.record.honest.contains(id))
            .collect();
        // The honest node that decided the most slots speaks for the run's totals.
        let best = self
            .record
            .decided
            .iter()
            .max_by_key(|(_, slots)| slots.len())
            .map(|(id, _)| *id);
        let decided_slots = best
            .and_then(|id| self.record.decided.get(&id))
            .map_or(0, |s| s.len() as u64);
        let (decided_ops, escalated_ops) = best.map_or((0, 0), |id| {
            let ops = self.record.op_slots.get(&id);
            let esc = self.record.escalated.get(&id);
            let in_workload = |d: &&Digest| self.record.required.contains(*d);
            let decided = ops.map_or(0, |o| o.keys().filter(in_workload).count()) as u64;
            let escalated = esc.map_or(0, |e| e.iter().filter(in_workload).count()) as u64;
            (decided - escalated.min(decided), escalated)
        });
        let mut escalation_reasons: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(reasons) = best.and_then(|id| self.escalation_reasons.get(&id)) {
            for (d, reason) in reasons {
                if self.record.required.contains(d) {
                    *escalation_reasons.entry(reason.clone()).or_default() += 1;
                }
            }
        }
        let nodes = self
            .instances
            .iter()
            .filter(|i| i.behaviour.is_none())
            .filter_map(|i| match &i.actor {
                Actor::Honest(node) => Some(NodeSummary {
                    id: i.id,
                    up: true,
                    restarts: i.restarts,
                    slot: node.slot(),
                    view: node.view(),
                    view_changing: node.is_view_changing(),
                    mempool: node.mempool_len(),
                    rejected: node.stats().rejected.clone(),
                }),
                Actor::Down => Some(NodeSummary {
                    id: i.id,
                    up: false,
                    restarts: i.restarts,
                    slot: 0,
                    view: 0,
                    view_changing: false,
                    mempool: 0,
                    rejected: BTreeMap::new(),
                }),
                Actor::Byzantine(_) => None,
            })
            .collect();
        let mut byzantine: Vec<(NodeId, Behaviour)> = self
            .instances
            .iter()
            .filter_map(|i| i.behaviour.map(|b| (i.id, b)))
            .collect();
        byzantine.dedup();
        Report {
            seed: self.scenario.seed,
            trace_hash: self.trace.finish(),
            decided_slots,
            decided_ops,
            escalated_ops,
            escalation_reasons,
            forks: self.forks.clone(),
            recovered,
            violations,
            slashed_honest,
            slashed_byzantine,
            byzantine,
            net: self.net.stats(),
            deliveries: self.trace.deliveries(),
            end_time: self.now,
            nodes,
        }
    }
}

/// A fresh honest machine, with the deliberately broken rules the scenario asks for.
fn new_node(config: &Config, key: &Keypair, state: ReplicatedState, s: &Scenario) -> SimNode {
    let node = Node::new(config.clone(), key.clone(), state);
    broken_rules(node, s)
}

#[cfg(any(test, feature = "broken-quorum"))]
fn broken_rules(node: SimNode, s: &Scenario) -> SimNode {
    let node = match s.broken_quorum {
        Some(k) => node.with_broken_quorum(k),
        None => node,
    };
    let node = if s.blind_to_forks {
        node.without_fork_detection()
    } else {
        node
    };
    let node = if s.unsealed {
        node.without_commit_set()
    } else {
        node
    };
    let node = if s.unchecked_omission {
        node.without_omission_check()
    } else {
        node
    };
    if s.unauthorized {
        node.without_authorization()
    } else {
        node
    }
}

/// Without the `broken-quorum` feature the switches do not exist, and
/// [`Scenario::validate`] refuses scenarios that ask for them.
#[cfg(not(any(test, feature = "broken-quorum")))]
fn broken_rules(node: SimNode, _s: &Scenario) -> SimNode {
    node
}

/// The path a decided entry's batch took, for the escalation breakdown.
fn path_name(entry: &DecidedEntry) -> &'static str {
    use crate::ops::{AuthorityLevel, Mechanism};
    match entry.mechanism() {
        None => "empty",
        Some(Mechanism::FullBft) => "full BFT",
        Some(Mechanism::Authority(AuthorityLevel::High)) => "authority high",
        Some(Mechanism::Authority(AuthorityLevel::Medium)) => "authority medium",
        Some(Mechanism::Authority(AuthorityLevel::Low)) => "authority low",
    }
}

/// Record honest node `id`'s state before its next slot, or a [`Violation::StateDiverged`]
/// (once) when another honest node held a different state there.
fn compare_state(
    states: &mut BTreeMap<Slot, (NodeId, Digest)>,
    found: &mut Vec<Violation>,
    id: NodeId,
    state: &ReplicatedState,
) {
    let (next, digest) = (state.next_slot(), state.state_digest());
    match states.get(&next) {
        None => {
            states.insert(next, (id, digest));
        }
        Some(first) if first.1 != digest => {
            let v = Violation::StateDiverged {
                next_slot: next,
                a: *first,
                b: (id, digest),
            };
            if !found.contains(&v) {
                found.push(v);
            }
        }
        Some(_) => {}
    }
}
