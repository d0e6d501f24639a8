//! The event loop: one task owns the consensus machine and executes its effects.
//!
//! # Design
//! The loop waits for the next input (a peer frame, a module result, a client request,
//! a timer tick or shutdown), hands it to the machine, and executes the returned effects
//! strictly in order: every `Persist` (and `Decided` entry) goes to the storage thread
//! ([`super::flusher`]), which commits what collected in one transaction (one fsync) off
//! the loop; a `Send`/`Broadcast` or a client answer made after a record waits, in order,
//! for the commit that covers it, so a vote is on disk before it is on the wire, and the
//! loop goes on with other inputs meanwhile; the transport never blocks; module calls
//! run on tokio's blocking pool and come back as `ModuleResult`; `Decided` stores the
//! entry with its certificate, then followers are answered; `SetTimer` arms the one timer (no polling: the machine's
//! clock is advanced before each input, as in the simulator). After each batch the runtime's
//! active modules are brought in line with the replicated state (hot swap at the
//! deciding slot), fetching missing module bytes from peers by hash. Catch-up requests
//! are served from the store (every decided entry, with its certificate), paced per peer
//! ([`CATCH_UP_PACE`]), and every few seconds the node asks its peers for entries past
//! its own slot, so a node restarted into an idle cluster still catches up.
//!
//! The loop never waits on a peer or a client: what it reads out of the store for them
//! is cut by bytes before it is copied (catch-up responses, log pages), log pages take
//! room in the node-wide [`AnswerBudget`] at once or are answered `busy`, and answers go
//! to the client's stream task, which writes them within its own time bound.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spore_core::consensus::{
    CallId, DecidedEntry, Effect, Input, Message, ModuleReply, Node, Persist, ReplicaState,
    SubmitError,
};
use spore_core::ops::Role;
use spore_core::state::{Permission, ReplicatedState};
use spore_core::types::{Digest, NodeId, Slot};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use super::batch_check::{BatchCheck, MAX_DRAIN, MAX_DRAIN_BYTES, drain_weight};
use super::calls::{self, LocalFault};
use super::client::{Answer, AnswerBudget, ClientCall, LOG_ANSWER_BUDGET};
use super::client_reads::ClientReads;
use super::config::Byzantine;
use super::fetch::{self, Fetches, Part, Step};
use super::flusher::{self, Flusher, Held, Hold};
use super::http::{Scrape, ScrapeAsk};
use super::metrics::{self, Recorder, StoreFacts};
use super::pacing::{Pace, Pacer};
use super::phase_clock::PhaseClock;
use super::proto::{MemberRow, ModuleRow, OpDecision, Request, Response, StatusReport};
use super::wire::Wire;
use crate::modules::{Runtime, SnapshotView};
use crate::net::QuicTransport;
use crate::store::{Store, StoreError, VoteKey};

/// Test hook: `N:before` or `N:after` makes the process abort (as a kill -9 would stop it:
/// no clean-up) just before, or just after, its Nth durable commit, the points where a
/// crash could lose a vote or send one that is not stored; `N:between` aborts inside the
/// first commit from the Nth on that writes both decided entries (to the database) and
/// votes or certificate records (to the vote log), after the first write and before the
/// second. Read once at start; used by the cluster test that crashes a node at each
/// persist point.
pub const CRASH_ENV: &str = "SPORE_TEST_CRASH_AT_COMMIT";

/// Where in a durable commit the crash hook stops the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashWhen {
    /// Before the commit: nothing of it is durable.
    Before,
    /// Between its database write and its vote log write (the decided entries durable,
    /// the votes not).
    Between,
    /// After it: durable, nothing it held sent.
    After,
}

/// Where the crash hook stops the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashAt {
    /// The durable commit (1-based) it stops at (for [`CrashWhen::Between`], the first
    /// from this one on that has both kinds of write).
    pub commit: u64,
    /// Where in that commit.
    pub when: CrashWhen,
}

impl CrashAt {
    /// The hook from the environment, if set and well-formed.
    pub fn from_env() -> Option<Self> {
        Self::parse(&std::env::var(CRASH_ENV).ok()?)
    }

    /// `N:before`, `N:between` or `N:after`.
    pub fn parse(v: &str) -> Option<Self> {
        let (n, when) = v.split_once(':')?;
        Some(CrashAt {
            commit: n.parse().ok()?,
            when: match when {
                "before" => CrashWhen::Before,
                "between" => CrashWhen::Between,
                "after" => CrashWhen::After,
                _ => return None,
            },
        })
    }
}

/// Store metadata key of the fork proof this node halted on.
pub(crate) const FORK_META: &str = "fork";

/// Recent state changes kept for the status report.
const EVENT_HISTORY: usize = 512;

/// Bytes of one state change's text, in the log and the status report (so the events a
/// status report carries add up to at most 256 KiB).
const EVENT_TEXT_BYTES: usize = 512;

/// Most entries per catch-up response served from the store.
const CATCH_UP_BATCH: usize = 32;

/// Catch-up responses served to one peer per second: at most 16, and at most 16 MiB of
/// entries (about five responses at the 3 MiB cut), whichever comes first. A request past
/// either is dropped; an honest requester asks once per response and again on its
/// progress timeout or the next [`CATCH_UP_PROBE`]. Before, a member sending
/// `CatchUpRequest { from: 0 }` (about 10 bytes) in a loop made the node read, decode and
/// re-encode up to 3 MiB on its event loop for each one.
pub const CATCH_UP_PACE: Pace = Pace {
    per_second: 16,
    bytes_per_second: 16 * 1024 * 1024,
};

/// How often an idle node asks its peers whether it missed decisions.
const CATCH_UP_PROBE: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a client's upload is kept from collection, so it can be proposed.
const UPLOAD_GRACE: Duration = Duration::from_secs(600);

/// Most log entries per client log request.
const MAX_LOG_PAGE: u32 = 256;

/// Most bytes of entries per client log page (at least one entry): half the client frame.
const LOG_PAGE_BYTES: usize = crate::node::proto::MAX_CLIENT_FRAME as usize / 2;

/// Why the node loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Persisting a vote or a decision failed: continuing could lose data or equivocate.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// The storage thread could not be started.
    #[error("cannot start the storage thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The storage thread stopped (it panicked): no vote can be made durable any more.
    #[error("the storage thread stopped")]
    StorageThread,
}

/// The store's byte for a consensus phase.
pub fn phase_byte(phase: &str) -> u8 {
    spore_core::consensus::phase_rank(phase).unwrap_or(u8::MAX)
}

/// Tries of a module call that keeps failing for a local reason before the node counts
/// itself abstaining (backoff from 100 ms to 1.6 s: about 25 s); it keeps retrying at
/// the slowest pace while the slot is undecided.
pub const MAX_CALL_ATTEMPTS: u32 = 20;

/// What a module call runs on.
#[derive(Clone)]
enum CallInput {
    Validator {
        op: spore_core::ops::Operation,
        ctx: spore_core::consensus::CallContext,
    },
    Resolver {
        primary: spore_core::consensus::LayerResult,
        seed: spore_core::consensus::LayerResult,
        latent: spore_core::consensus::LayerResult,
        ctx: spore_core::consensus::CallContext,
    },
}

/// A finished module call: its id, its reply or local fault, and how long it ran.
type CallDone = (CallId, Result<ModuleReply, LocalFault>, Duration);

/// A module compiled off the loop for activation: its role, hash, and whether it loaded.
type LoadDone = (Role, Digest, Result<(), String>);

/// A module call in flight, kept until answered.
#[derive(Clone)]
struct PendingCall {
    slot: Slot,
    what: CallInput,
    snapshot: Arc<SnapshotView>,
    /// The modules the replicated state names for the call's slot.
    modules: calls::SlotModules,
    attempts: u32,
}

/// The role a module domain names.
pub const ROLES: [Role; 3] = [Role::Validator, Role::Admission, Role::Resolver];

/// Everything the loop owns.
pub struct Driver {
    /// The consensus machine.
    pub node: Node<ReplicatedState>,
    /// The store.
    pub store: Arc<Store>,
    /// The peer transport.
    pub net: QuicTransport<Wire>,
    /// The module runtime.
    pub runtime: Arc<Runtime>,
    /// Test hook: misbehave.
    pub byzantine: Option<Byzantine>,
    /// Client requests.
    pub clients: mpsc::Receiver<ClientCall>,
    /// Shutdown signal.
    pub shutdown: watch::Receiver<bool>,
    /// Scrapes of the metrics endpoint (closed when it is off).
    pub scrapes: mpsc::Receiver<ScrapeAsk>,
    /// Test hook: abort at a durable commit ([`CRASH_ENV`]).
    pub crash_at: Option<CrashAt>,
    /// Bytes of module blobs the store may hold before uploads must make room.
    pub module_quota: u64,
    /// Clock resolution (ms): the machine's clock is advanced before an input once at
    /// least this much time passed, and its timer fires at its deadline rounded up to it.
    pub tick_ms: u64,
    /// Effects to execute first (from `Node::restore`).
    pub initial: Vec<Effect>,
    /// The keys that may upload modules, for the client listener (kept current as
    /// decided entries change the authority or the membership).
    pub uploaders: watch::Sender<std::sync::Arc<std::collections::BTreeSet<NodeId>>>,
    /// Where every unexpired operation in the log was decided (slot, index in the batch,
    /// expiry slot): a resubmission is answered from the stored entry at once. Pruned
    /// once an operation's expiry passes (its replay is then refused by the expiry
    /// alone), so it covers a bounded window, not the whole log.
    pub decided: DecidedIndex,
}

/// Where each decided, unexpired operation is in the log: its digest to (slot, index in
/// the batch, expiry slot).
pub type DecidedIndex = HashMap<Digest, (Slot, u32, Slot)>;

/// Drop the operations whose expiry is before `next` (the next slot to decide).
pub fn prune_decided(index: &mut DecidedIndex, next: Slot) {
    index.retain(|_, (_, _, expires)| *expires >= next);
}

/// The decision of every operation of `entry`, by operation digest.
pub fn op_decisions(entry: &DecidedEntry) -> impl Iterator<Item = (Digest, OpDecision)> + '_ {
    entry
        .batch()
        .iter()
        .zip(entry.decisions())
        .enumerate()
        .map(|(i, (op, decision))| {
            let digest = op.id();
            (
                digest,
                OpDecision {
                    digest,
                    slot: entry.slot,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    decision: decision.clone(),
                },
            )
        })
}

/// The answer to a client's `Log { from, limit }`: whole entries from `from` on, at most
/// `limit` (and [`MAX_LOG_PAGE`]) and, at least one, within `cap` bytes and the room free
/// in `budget`. The room is taken for the page's bytes before it leaves (and held by the
/// answer until the client's stream wrote or dropped it); with no room free the answer is
/// `busy`, read nothing. Never waits: the event loop calls it.
pub fn log_page(
    store: &Store,
    budget: &AnswerBudget,
    from: Slot,
    limit: u32,
    cap: usize,
) -> (Answer, usize) {
    let room = budget.room(cap);
    if room == 0 {
        return (Response::Error(super::client::Busy.to_string()).into(), 0);
    }
    let rows = match store.decided_range_within(from, limit.min(MAX_LOG_PAGE) as usize, room) {
        Ok(rows) => rows,
        Err(e) => return (Response::Error(e.to_string()).into(), 0),
    };
    // Within `room` unless one entry alone is larger: then the budget may refuse it.
    let bytes: usize = rows.iter().map(|(_, b)| b.len()).sum();
    let permit = match budget.take(bytes) {
        Ok(permit) => permit,
        Err(busy) => return (Response::Error(busy.to_string()).into(), bytes),
    };
    let entries: Result<Vec<DecidedEntry>, _> =
        rows.iter().map(|(_, b)| postcard::from_bytes(b)).collect();
    let answer = match entries {
        Ok(entries) => Answer {
            response: Response::Log(entries),
            room: Some(permit),
        },
        Err(e) => Response::Error(format!("stored entry undecodable: {e}")).into(),
    };
    (answer, bytes)
}

struct Loop {
    d: Driver,
    start: Instant,
    results_tx: mpsc::UnboundedSender<CallDone>,
    results_rx: mpsc::UnboundedReceiver<CallDone>,
    /// Modules the replicated state names that are being compiled off the loop (see
    /// [`Loop::sync_modules`]), and where their compilations report.
    loading: HashSet<Digest>,
    loads_tx: mpsc::UnboundedSender<LoadDone>,
    loads_rx: mpsc::UnboundedReceiver<LoadDone>,
    /// Module calls asked for and not answered yet, kept to retry a local fault.
    pending: HashMap<CallId, PendingCall>,
    /// Calls abandoned after repeated local faults (the node abstained).
    abstained: u64,
    /// Module blobs from peers dropped (unsolicited or over the size limit).
    unsolicited_blobs: u64,
    /// Unreferenced module blobs deleted to make room within the quota.
    collected_blobs: u64,
    /// Blobs clients uploaded recently, kept from collection for [`UPLOAD_GRACE`] so they
    /// can be proposed.
    uploads: HashMap<Digest, Instant>,
    waiters: HashMap<Digest, Vec<mpsc::Sender<Answer>>>,
    /// Distributions recorded for the metrics endpoint.
    rec: Recorder,
    /// When this node's votes of a slot left it, for the phase latency histogram.
    phases: PhaseClock,
    /// Durable writes, committed off the loop; the sends that wait for them.
    flusher: Flusher,
    /// Module calls asked for by the effects being executed, started together at the end.
    new_calls: Vec<(CallId, PendingCall)>,
    /// The machine's clock as last handed to it (ms since `start`).
    clock: u64,
    /// The machine's armed timer (ms since `start`), from its last `SetTimer`.
    timer: Option<u64>,
    /// Module blobs being fetched from peers, and the pacing of what this node serves.
    fetches: Fetches,
    /// The blob served last (parts of one blob are asked for in a row).
    served: Option<(Digest, Arc<Vec<u8>>)>,
    /// The pacing of catch-up responses served from the store, per peer.
    catch_up_pace: Pacer,
    /// Catch-up requests dropped because their peer asked too fast.
    paced_catch_ups: u64,
    /// Bytes of log pages and status reports on their way to clients (shared with the
    /// client streams).
    answer_budget: AnswerBudget,
    /// The pace of store reads and status reports for clients.
    client_reads: ClientReads,
    events: VecDeque<(Slot, String)>,
    /// Signatures of arrived inputs checked in batches before the machine sees them.
    batch_check: BatchCheck,
    members: Vec<(NodeId, SocketAddr)>,
}

/// Peer addresses of the members of `state` (unparsable addresses are skipped).
pub fn peer_addresses(state: &ReplicatedState) -> Vec<(NodeId, SocketAddr)> {
    state
        .members()
        .iter()
        .filter_map(|(id, m)| match m.address.parse() {
            Ok(addr) => Some((*id, addr)),
            Err(_) => {
                warn!(node = %id, address = %m.address, "member address is not host:port");
                None
            }
        })
        .collect()
}

impl Driver {
    /// Run until shutdown; returns the transport for a graceful close.
    pub async fn run(self) -> Result<QuicTransport<Wire>, DriverError> {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let (loads_tx, loads_rx) = mpsc::unbounded_channel();
        let members = peer_addresses(self.node.state());
        let flusher =
            Flusher::start(self.store.clone(), self.crash_at).map_err(DriverError::Thread)?;
        let mut l = Loop {
            d: self,
            start: Instant::now(),
            results_tx,
            results_rx,
            loading: HashSet::new(),
            loads_tx,
            loads_rx,
            pending: HashMap::new(),
            abstained: 0,
            unsolicited_blobs: 0,
            collected_blobs: 0,
            uploads: HashMap::new(),
            waiters: HashMap::new(),
            rec: Recorder::default(),
            phases: PhaseClock::default(),
            flusher,
            new_calls: Vec::new(),
            clock: 0,
            timer: None,
            fetches: Fetches::default(),
            served: None,
            catch_up_pace: Pacer::new(CATCH_UP_PACE),
            paced_catch_ups: 0,
            answer_budget: AnswerBudget::new(LOG_ANSWER_BUDGET),
            client_reads: ClientReads::default(),
            events: VecDeque::new(),
            batch_check: BatchCheck::default(),
            members,
        };
        let initial = std::mem::take(&mut l.d.initial);
        l.execute(initial)?;
        l.sync_modules();
        let mut probe = tokio::time::interval(CATCH_UP_PROBE);
        let origin = tokio::time::Instant::from_std(l.start);
        let timer = tokio::time::sleep_until(origin);
        tokio::pin!(timer);
        // The core's timer, armed by its `SetTimer` effects (one timer model with the
        // simulator: no polling); the deadline the sleep is set to.
        let mut armed: Option<u64> = None;
        loop {
            if l.timer != armed {
                armed = l.timer;
                if let Some(at) = armed {
                    let step = l.d.tick_ms.max(1);
                    let due = at.div_ceil(step).saturating_mul(step);
                    timer.as_mut().reset(origin + Duration::from_millis(due));
                }
            }
            tokio::select! {
                _ = l.d.shutdown.changed() => break,
                Some((call, result, took)) = l.results_rx.recv() => {
                    l.record_call(call, &result, took);
                    l.on_call_result(call, result)?;
                }
                Some(done) = l.loads_rx.recv() => l.on_module_loaded(done),
                done = l.flusher.finished() => match done {
                    Some(done) => l.on_flushed(done)?,
                    // The storage thread is gone (it panicked): nothing held can ever be
                    // released, so the node must stop rather than stall.
                    None => return Err(DriverError::StorageThread),
                },
                Some(ask) = l.d.scrapes.recv() => match ask {
                    ScrapeAsk::Ping(tx) => {
                        let _ = tx.send(());
                    }
                    ScrapeAsk::Scrape(tx) => {
                        let _ = tx.send(l.scrape());
                    }
                },
                frame = l.d.net.recv() => match frame {
                    Some(first) => l.on_wires(first)?,
                    None => break,
                },
                Some(call) = l.d.clients.recv() => l.on_clients(call)?,
                _ = probe.tick() => {
                    l.drop_left_followers();
                    l.probe_catch_up();
                    l.retry_fetches();
                }
                () = &mut timer, if armed.is_some() => {
                    l.timer = None;
                    armed = None;
                    l.tick()?;
                }
            }
        }
        info!("node loop stopped");
        Ok(l.d.net)
    }
}

impl Loop {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Hand `input` to the machine, first advancing its clock (as the simulator does
    /// before every input) so that deadlines it sets count from the present.
    fn input(&mut self, input: Input) -> Result<(), DriverError> {
        if self.now() >= self.clock.saturating_add(self.d.tick_ms.max(1)) {
            self.tick()?;
        }
        let effects = self.d.node.handle(input);
        self.execute(effects)
    }

    /// Advance the machine's clock to now.
    fn tick(&mut self) -> Result<(), DriverError> {
        let now = self.now();
        self.clock = now;
        let effects = self.d.node.handle(Input::Tick { now });
        self.execute(effects)
    }

    fn execute(&mut self, effects: Vec<Effect>) -> Result<(), DriverError> {
        let mut decided = false;
        // The machine's state is the same for every effect of one batch (it changed while
        // the input was handled), so the module calls of a batch share one snapshot.
        let mut snapshot: Option<Arc<SnapshotView>> = None;
        for effect in effects {
            match effect {
                Effect::Persist(Persist::Vote(msg)) => {
                    let (Some(slot), Some(view)) = (msg.slot(), msg.view()) else {
                        continue;
                    };
                    if msg.signer() == Some(self.d.net.node_id()) {
                        let key = VoteKey {
                            slot,
                            view,
                            phase: phase_byte(msg.phase()),
                        };
                        self.flusher.vote(key, &msg);
                    } else {
                        self.flusher.cert(slot, msg);
                    }
                }
                Effect::Send { to, msg } => match self.frame_of(msg) {
                    Ok((msg, frame)) => self.leave(Held::Send { to, msg, frame }),
                    Err(e) => debug!(peer = %to, error = %e, "send failed"),
                },
                Effect::Broadcast { msg } => match self.frame_of(msg) {
                    Ok((msg, frame)) => self.leave(Held::Broadcast { msg, frame }),
                    Err(e) => debug!(error = %e, "broadcast failed"),
                },
                Effect::CallValidator {
                    call,
                    slot,
                    op,
                    ctx,
                    ..
                } => {
                    let snapshot = Arc::clone(snapshot.get_or_insert_with(|| {
                        calls::snapshot(self.d.node.state(), self.d.node.state().slot_view())
                    }));
                    let what = CallInput::Validator { op, ctx };
                    self.start_call(call, slot, what, snapshot);
                }
                Effect::CallResolver {
                    call,
                    slot,
                    primary,
                    seed,
                    latent,
                    ctx,
                    ..
                } => {
                    let snapshot = Arc::clone(snapshot.get_or_insert_with(|| {
                        calls::snapshot(self.d.node.state(), self.d.node.state().slot_view())
                    }));
                    let what = CallInput::Resolver {
                        primary,
                        seed,
                        latent,
                        ctx,
                    };
                    self.start_call(call, slot, what, snapshot);
                }
                Effect::Decided { slot, entry } => {
                    // Durable (with every vote before it) before any client hears of it.
                    self.flusher.decided(slot, &entry);
                    self.leave(Held::Decided(entry));
                    // Mark the module the state now names loaded (compiling it off the
                    // loop if need be). Calls do not wait for this: a call runs the
                    // module its slot names (`calls::slot_module`).
                    self.sync_modules();
                    decided = true;
                }
                Effect::Fork(proof) => {
                    // Kept across restarts: a halted node stays halted.
                    let kept = postcard::to_allocvec(&proof)
                        .map_err(|e| e.to_string())
                        .and_then(|b| {
                            self.d
                                .store
                                .set_meta(FORK_META, &b)
                                .map_err(|e| e.to_string())
                        });
                    if let Err(e) = kept {
                        error!(error = %e, "could not persist the fork proof");
                    }
                    error!(
                        slot = proof.slot(),
                        culprits = ?proof.culprits(),
                        "FORK: two certified values for one slot; this node has stopped ordering (see docs/OPERATIONS.md, \"Forks\")"
                    );
                }
                Effect::Evidence(proof) => {
                    warn!(offender = ?proof.offender(), kind = proof.kind(), slot = ?proof.slot(), "misbehaviour detected");
                }
                Effect::SetTimer { at } => {
                    // A later timer replaces an earlier one (the machine's contract).
                    self.timer = Some(at);
                }
            }
        }
        self.flusher.kick();
        let jobs = std::mem::take(&mut self.new_calls);
        self.spawn_calls(jobs, Duration::ZERO);
        if decided {
            self.after_decisions();
        }
        Ok(())
    }

    /// Feed the phase clock with a message this node sends: its own proposal opens the
    /// slot, its own votes are measured.
    fn time_phase(&mut self, msg: &Message) {
        if msg.signer() != Some(self.d.net.node_id()) {
            return;
        }
        let now = Instant::now();
        if !self.phases.saw(msg, self.d.node.slot(), now)
            && let Some((phase, secs)) = self.phases.sent(msg, now)
        {
            self.rec.phase(phase, secs);
        }
    }

    /// An effect that leaves the node: now, if every record made before it is durable,
    /// else when the commit covering them reports (`on_flushed`).
    /// `msg` with its frame (encoded once, without a copy of the message).
    fn frame_of(&self, msg: Message) -> Result<(Message, bytes::Bytes), crate::net::NetError> {
        let wire = Wire::Consensus(msg);
        let frame = self.d.net.encode(&wire)?;
        match wire {
            Wire::Consensus(msg) => Ok((msg, frame)),
            _ => Err(crate::net::NetError::Shutdown),
        }
    }

    fn leave(&mut self, item: Held) {
        match self.flusher.hold(item) {
            Hold::Now(item) => self.release(item),
            Hold::Held => {}
            Hold::Dropped => {
                debug!("send dropped: the sends waiting for a commit are at their byte budget");
            }
        }
    }

    /// A commit finished: release what waited for it, in order (a failed commit stops
    /// the node: continuing could lose a vote).
    fn on_flushed(&mut self, done: flusher::Done) -> Result<(), DriverError> {
        let released = self.flusher.complete(done)?;
        self.rec.flushed(released.records, released.seconds);
        for item in released.held {
            self.release(item);
        }
        Ok(())
    }

    /// Execute an effect whose records are durable.
    fn release(&mut self, item: Held) {
        match item {
            Held::Send { to, msg, frame } => {
                self.time_phase(&msg);
                if let Err(e) = self.d.net.send_frame(to, frame) {
                    debug!(peer = %to, error = %e, "send failed");
                }
            }
            Held::Broadcast { msg, frame } => {
                self.time_phase(&msg);
                if let Err(e) = self.d.net.broadcast_frame(frame) {
                    debug!(error = %e, "broadcast failed");
                }
            }
            Held::Decided(entry) => {
                let slot = entry.slot;
                if let Some(secs) = self.phases.decided(slot, Instant::now()) {
                    self.rec.phase("decided", secs);
                }
                info!(
                    slot,
                    view = entry.view,
                    ops = entry.batch().len(),
                    escalated = entry.escalations().count(),
                    "decided"
                );
                self.rec.decided(
                    entry.batch().len(),
                    op_decisions(&entry).map(|(_, d)| match d.decision.outcome() {
                        Some(spore_core::ops::Outcome::Accepted(_)) => "accepted",
                        Some(spore_core::ops::Outcome::Rejected { .. }) => "rejected",
                        Some(
                            spore_core::ops::Outcome::Failed(_)
                            | spore_core::ops::Outcome::Regressed(_),
                        ) => "failed",
                        None => "escalated",
                    }),
                );
                self.acknowledge(&entry);
            }
        }
    }

    /// Record a finished module call's time and result.
    fn record_call(&self, call: CallId, result: &Result<ModuleReply, LocalFault>, took: Duration) {
        let role = match self.pending.get(&call).map(|p| &p.what) {
            Some(CallInput::Validator { .. }) => "validator",
            Some(CallInput::Resolver { .. }) => "resolver",
            None => return,
        };
        let label = match result {
            Ok(ModuleReply::Validator(
                spore_core::ops::Outcome::Failed(kind) | spore_core::ops::Outcome::Regressed(kind),
            ))
            | Ok(ModuleReply::Resolver(spore_core::consensus::ResolverVerdict::Failed(kind))) => {
                failure_label(*kind)
            }
            Ok(_) => "ok",
            Err(_) => "local_fault",
        };
        self.rec.call(role, label, took.as_secs_f64());
    }

    /// Everything a metrics scrape shows.
    fn scrape(&self) -> Scrape {
        let status = self.status();
        let peers = self.d.net.peers();
        let store = StoreFacts {
            decided_entries: self.d.store.decided_count().unwrap_or(0),
            file_bytes: std::fs::metadata(self.d.store.path()).map_or(0, |m| m.len()),
        };
        let net = self.d.net.metrics().snapshot();
        Scrape {
            metrics: metrics::render(&self.rec, &status, &net, &peers, &store),
            ready: metrics::ready(&status, &peers),
        }
    }

    /// The decision of the operation `digest` at `(slot, index)`, read from the store.
    /// Also the bytes read, to charge to the client that asked ([`ClientReads`]).
    fn stored_decision(
        &self,
        (slot, index): (Slot, u32),
        digest: &Digest,
    ) -> (Option<OpDecision>, u64) {
        let bytes = match self.d.store.decided(slot) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return (None, 0),
            Err(e) => {
                warn!(slot, error = %e, "reading a decided entry failed");
                return (None, 0);
            }
        };
        let read = bytes.len() as u64;
        let decision = postcard::from_bytes::<DecidedEntry>(&bytes)
            .ok()
            .and_then(|entry| {
                op_decisions(&entry)
                    .nth(usize::try_from(index).ok()?)
                    .filter(|(d, _)| d == digest)
                    .map(|(_, decision)| decision)
            });
        (decision, read)
    }

    /// Run a module call on a blocking worker (after `delay`), keeping its inputs to retry
    /// a local fault.
    fn start_call(
        &mut self,
        call: CallId,
        slot: Slot,
        what: CallInput,
        snapshot: Arc<SnapshotView>,
    ) {
        let Some(modules) = calls::SlotModules::of(self.d.node.state()) else {
            warn!(slot, "no module named for a role: call not run");
            return;
        };
        let pending = PendingCall {
            slot,
            what,
            snapshot,
            modules,
            attempts: 0,
        };
        // Run with the other calls of this batch of effects (see `execute`).
        self.new_calls.push((call, pending.clone()));
        self.pending.insert(call, pending);
    }

    fn spawn_call(&self, call: CallId, p: &PendingCall, delay: Duration) {
        self.spawn_calls(vec![(call, p.clone())], delay);
    }

    /// Run `jobs` one after another on one blocking worker (after `delay`): the calls a
    /// batch of effects asked for cost one task, not one each. Each result is sent as
    /// soon as it is known.
    fn spawn_calls(&self, jobs: Vec<(CallId, PendingCall)>, delay: Duration) {
        if jobs.is_empty() {
            return;
        }
        let runtime = self.d.runtime.clone();
        let tx = self.results_tx.clone();
        let byz = self.d.byzantine;
        let store = self.d.store.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let _ = tokio::task::spawn_blocking(move || {
                let lookup = |hash: &Digest| store.module(hash).ok().flatten();
                for (call, p) in jobs {
                    let started = Instant::now();
                    let (snapshot, modules) = (&p.snapshot, &p.modules);
                    // A panic below (in the engine, on a module's input) must not leave the
                    // call unanswered, which would hold the slot until a view change and
                    // every later call of the task: it is a local fault, retried and then
                    // abstained from like any other, never a result.
                    let reply = calls::unwound(AssertUnwindSafe(|| match &p.what {
                        CallInput::Validator { op, ctx } => {
                            calls::validate(&runtime, op, ctx, snapshot, &lookup, modules, byz)
                        }
                        CallInput::Resolver {
                            primary,
                            seed,
                            latent,
                            ctx,
                        } => calls::resolve(
                            &runtime, primary, seed, latent, ctx, snapshot, &lookup, modules,
                        ),
                    }));
                    if tx.send((call, reply, started.elapsed())).is_err() {
                        return; // the node loop stopped
                    }
                }
            })
            .await;
        });
    }

    /// A module call finished: a result goes to the machine; a local fault is retried
    /// (fetching missing module bytes first) with backoff, and after
    /// [`MAX_CALL_ATTEMPTS`] the node abstains — it never reports a local fault as a result.
    fn on_call_result(
        &mut self,
        call: CallId,
        result: Result<ModuleReply, LocalFault>,
    ) -> Result<(), DriverError> {
        let fault = match result {
            Ok(reply) => {
                self.pending.remove(&call);
                return self.input(Input::ModuleResult {
                    call,
                    result: reply,
                });
            }
            Err(fault) => fault,
        };
        let Some(mut p) = self.pending.remove(&call) else {
            return Ok(());
        };
        if p.slot < self.d.node.slot() {
            return Ok(()); // the slot was decided meanwhile: nothing to answer
        }
        if let LocalFault::MissingModule(hash) = &fault {
            self.fetch_module(*hash);
        }
        p.attempts = p.attempts.saturating_add(1);
        if p.attempts == MAX_CALL_ATTEMPTS {
            // The node abstains from this call's result (it sends nothing for it) but keeps
            // trying, at the slowest pace, while the slot is undecided: the fault may clear.
            self.abstained += 1;
            warn!(slot = p.slot, error = %fault, attempts = p.attempts, "module call failing locally: abstaining meanwhile (a local fault is never a result)");
        }
        let delay = Duration::from_millis(50u64 << p.attempts.min(5));
        debug!(slot = p.slot, error = %fault, attempt = p.attempts, "module call: local fault, retrying");
        self.spawn_call(call, &p, delay);
        self.pending.insert(call, p);
        Ok(())
    }

    fn acknowledge(&mut self, entry: &DecidedEntry) {
        for (digest, decision) in op_decisions(entry) {
            if let Some(waiters) = self.waiters.remove(&digest) {
                for w in waiters {
                    let _ = w.try_send(Response::Decided(decision.clone()).into());
                }
            }
            let expires = entry
                .batch()
                .get(decision.index as usize)
                .map_or(0, |op| op.expires);
            self.d
                .decided
                .insert(digest, (decision.slot, decision.index, expires));
        }
        let next = entry.slot.saturating_add(1);
        if next.is_multiple_of(64) {
            prune_decided(&mut self.d.decided, next);
        }
    }

    fn after_decisions(&mut self) {
        for (slot, changes) in self.d.node.drain_changes() {
            for change in changes {
                match &change {
                    spore_core::state::StateChange::Trust(t) => {
                        let excluded =
                            matches!(t.status, Some(spore_core::trust::StatusChange::Excluded(_)));
                        self.rec.trust_change(t.delta(), excluded);
                    }
                    // The cluster decided to use this module: a refusal this node remembers
                    // from compiling it (a compile bound depends on the machine and its
                    // load) is tried once more rather than abstaining until a restart.
                    spore_core::state::StateChange::ModuleSwapped { to, .. }
                    | spore_core::state::StateChange::ModuleRolledBack { to, .. }
                    | spore_core::state::StateChange::PolicySwapped { to, .. } => {
                        self.d.runtime.registry().forget_refusal(to);
                    }
                    _ => {}
                }
                // A change's text holds what modules and clients chose (a rejection's
                // reasons, up to `timing.max-output-bytes`): escaped and cut, for the log
                // and for the status reports any client may ask for.
                let text = crate::text::printable(change.to_string(), EVENT_TEXT_BYTES);
                info!(slot, "{text}");
                if self.events.len() >= EVENT_HISTORY {
                    self.events.pop_front();
                }
                self.events.push_back((slot, text));
            }
        }
        self.drop_left_followers();
        let uploaders = self.d.node.state().keys_with(Permission::ModuleUpload);
        if **self.d.uploaders.borrow() != uploaders {
            self.d
                .uploaders
                .send_replace(std::sync::Arc::new(uploaders));
        }
        let members = peer_addresses(self.d.node.state());
        if members != self.members {
            self.d.net.update_membership(members.clone());
            self.members = members;
        }
        // Votes of decided slots are never needed again.
        let next = self.d.node.slot();
        if next.is_multiple_of(64) {
            // With the next commit, after the decided entries handed over before it.
            self.flusher.prune(next.saturating_sub(1));
        }
    }

    /// Make the runtime's active module per role the one the replicated state names.
    fn sync_modules(&mut self) {
        for role in ROLES {
            let Some(want) = self.d.node.state().active_module(role) else {
                continue;
            };
            if self
                .d
                .runtime
                .active(role)
                .is_some_and(|m| m.hash() == want)
            {
                continue;
            }
            if self
                .d
                .runtime
                .registry()
                .get(&want)
                .is_some_and(|m| m.role() == role)
            {
                match self.d.runtime.activate(role, want) {
                    Ok(old) => {
                        info!(%role, new = %want, old = ?old, slot = self.d.node.slot(), "module activated")
                    }
                    Err(e) => error!(%role, error = %e, "activating module failed"),
                }
                continue;
            }
            if self.loading.contains(&want) {
                continue;
            }
            match self.d.store.has_module(&want) {
                Ok(true) => {
                    // Compiled on a worker thread, never on the loop: a module the cluster
                    // swapped in may take the whole compile bound, and the loop must go on
                    // voting meanwhile. Calls do not wait for this: they run the module
                    // their slot names, compiling it on their own worker if need be
                    // (`calls::slot_module`); activation only marks it loaded.
                    // The blob (up to the module size limit) is read there too.
                    self.loading.insert(want);
                    let runtime = Arc::clone(&self.d.runtime);
                    let store = Arc::clone(&self.d.store);
                    let tx = self.loads_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        // Always answer, even if the compiler panics: an unanswered load
                        // would stay "loading" (never retried, never ready) for good.
                        let load = std::panic::AssertUnwindSafe(|| match store.module(&want) {
                            Ok(Some(bytes)) => runtime
                                .load_verified(role, &bytes, want)
                                .map_err(|e| e.to_string()),
                            Ok(None) => Err("the module's bytes are gone from the store".into()),
                            Err(e) => Err(format!("reading the module: {e}")),
                        });
                        let loaded = match std::panic::catch_unwind(load) {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err("the compiler panicked".to_owned()),
                        };
                        let _ = tx.send((role, want, loaded));
                    });
                }
                Ok(false) => {
                    if !self.fetches.wants(&want) {
                        warn!(%role, hash = %want, "module bytes missing: asking peers");
                    }
                    self.fetch_module(want);
                }
                Err(e) => error!(hash = %want, error = %e, "reading module failed"),
            }
        }
    }

    /// A module compiled off the loop: activate it if the state still names it. A module
    /// that does not load is retried at the next decided slot, as before (never at once,
    /// which would compile it again in a loop).
    fn on_module_loaded(&mut self, (role, hash, loaded): LoadDone) {
        self.loading.remove(&hash);
        match loaded {
            Ok(()) => self.sync_modules(),
            Err(e) => error!(%role, %hash, error = %e, "module does not load"),
        }
    }

    /// Handle `first` and every frame that arrived behind it (at most [`MAX_DRAIN`] inputs,
    /// a bundle's operations each counted, and [`MAX_DRAIN_BYTES`] of frames), their
    /// signatures checked in batches first
    /// (`batch_check.rs`).
    fn on_wires(&mut self, first: (NodeId, Wire)) -> Result<(), DriverError> {
        let mut weight = drain_weight(&first.1);
        let mut frames = vec![first];
        let mut bytes = 0usize;
        while weight < MAX_DRAIN
            && bytes < MAX_DRAIN_BYTES
            && let Some((from, wire, charged)) = self.d.net.try_recv()
        {
            bytes = bytes.saturating_add(charged);
            weight = weight.saturating_add(drain_weight(&wire));
            frames.push((from, wire));
        }
        self.batch_check.frames(&self.d.node, &frames);
        for (from, wire) in frames {
            self.on_wire(from, wire)?;
        }
        Ok(())
    }

    /// Handle `first` and every client call that arrived behind it, as [`Self::on_wires`].
    fn on_clients(&mut self, first: ClientCall) -> Result<(), DriverError> {
        let mut calls = vec![first];
        while calls.len() < MAX_DRAIN
            && let Ok(next) = self.d.clients.try_recv()
        {
            calls.push(next);
        }
        self.batch_check.calls(self.d.node.state(), &calls);
        for call in calls {
            self.on_client(call)?;
        }
        Ok(())
    }

    fn on_wire(&mut self, from: NodeId, wire: Wire) -> Result<(), DriverError> {
        match wire {
            Wire::Consensus(Message::CatchUpRequest { from: slot })
                if self.d.node.state().is_member(&from) =>
            {
                // Served from the store, which holds every decided entry (the machine
                // keeps only the recent ones in memory).
                self.serve_catch_up(from, slot);
                Ok(())
            }
            Wire::Consensus(msg) => {
                self.phases.saw(&msg, self.d.node.slot(), Instant::now());
                self.input(Input::Message { from, msg })
            }
            Wire::ModuleRequest { hash, offset } => {
                self.serve_module_part(from, hash, offset);
                Ok(())
            }
            Wire::ModulePart {
                hash,
                total,
                offset,
                bytes,
            } => self.on_module_part(
                from,
                Part {
                    hash,
                    total,
                    offset,
                    bytes,
                },
            ),
        }
    }

    /// Ask peers for the start of module `hash`, unless a fetch of it progresses.
    fn fetch_module(&mut self, hash: Digest) {
        let now = self.now();
        if self.fetches.want(hash, now) {
            let ask = Wire::ModuleRequest { hash, offset: 0 };
            if let Err(e) = self.d.net.broadcast(&ask) {
                debug!(error = %e, "module request failed");
            }
        }
    }

    /// Restart fetches whose source stalled (called on a timer).
    fn retry_fetches(&mut self) {
        let wanted: Vec<Digest> = self.fetches.wanted().copied().collect();
        for hash in wanted {
            self.fetch_module(hash);
        }
    }

    /// Answer a peer's request for a part of a module blob this node holds.
    fn serve_module_part(&mut self, to: NodeId, hash: Digest, offset: u64) {
        if !self.fetches.may_serve(to, self.now()) {
            debug!(%hash, peer = %to, "module part not served: the peer asks too fast");
            return;
        }
        let blob = match &self.served {
            Some((h, blob)) if *h == hash => Arc::clone(blob),
            _ if !self.fetches.may_read(to, self.now()) => {
                return debug!(%hash, peer = %to, "module part not served: the peer makes us read blobs too fast");
            }
            _ => match self.d.store.module(&hash) {
                Ok(Some(bytes)) => {
                    let blob = Arc::new(bytes);
                    self.served = Some((hash, Arc::clone(&blob)));
                    blob
                }
                Ok(None) => return debug!(%hash, "asked for a module we lack"),
                Err(e) => return warn!(%hash, error = %e, "reading module failed"),
            },
        };
        let bytes = fetch::part_of(&blob, offset).to_vec();
        if bytes.is_empty() {
            return;
        }
        let part = Wire::ModulePart {
            hash,
            total: blob.len() as u64,
            offset,
            bytes,
        };
        if let Err(e) = self.d.net.send(to, &part) {
            debug!(error = %e, "module part send failed");
        }
    }

    /// A part of a module blob from a peer. Content-addressed: the assembled bytes are
    /// kept only under their own SHA-256, so a member cannot substitute a module, and
    /// activation still needs a decided update naming the hash. Only parts of blobs this
    /// node fetches are kept, within the cluster's module size limit: a member cannot fill
    /// memory or the store with unsolicited bytes.
    fn on_module_part(&mut self, from: NodeId, part: Part) -> Result<(), DriverError> {
        let (hash, total) = (part.hash, part.total);
        if !self.fetches.wants(&hash) && self.named_by_state(&hash) {
            return Ok(()); // a late answer for a module this node already has
        }
        let limit = self.d.node.state().params().timing.max_module_bytes;
        let now = self.now();
        match self.fetches.on_part(from, part, limit, now) {
            Step::Ignored => {}
            Step::Dropped(why) => {
                self.unsolicited_blobs += 1;
                debug!(%hash, from = %from, total, limit, "module part dropped: {why}");
            }
            Step::Ask { to, offset } => {
                if let Err(e) = self.d.net.send(to, &Wire::ModuleRequest { hash, offset }) {
                    debug!(error = %e, "module request failed");
                }
            }
            Step::Restart => {
                self.unsolicited_blobs += 1;
                warn!(%hash, from = %from, "module bytes from a peer do not match their hash: fetching from others");
                self.fetch_module(hash);
            }
            Step::Complete(bytes) => {
                if !self.d.store.has_module(&hash)? {
                    self.d.store.put_module(&bytes)?;
                    info!(%hash, from = %from, size = bytes.len(), "module bytes received (hash verified)");
                }
                self.sync_modules();
            }
        }
        Ok(())
    }

    /// Answer a member's catch-up request from the store: nothing when it asks from our
    /// next slot or beyond (nothing decided to send), nothing when it asks too fast
    /// ([`CATCH_UP_PACE`]); else whole entries from `slot` on, at most
    /// [`CATCH_UP_BATCH`] and, at least one, within `MAX_CATCH_UP_BYTES` and what is left
    /// of the peer's bytes this second, cut before they are copied out of the store.
    fn serve_catch_up(&mut self, peer: NodeId, slot: Slot) {
        if slot >= self.d.node.slot() {
            return;
        }
        let Some(left) = self.catch_up_pace.admit(peer, self.now()) else {
            self.paced_catch_ups += 1;
            debug!(peer = %peer, from = slot, dropped = self.paced_catch_ups, "catch-up request dropped: the peer asks too fast");
            return;
        };
        let budget = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(spore_core::consensus::limits::MAX_CATCH_UP_BYTES);
        match self
            .d
            .store
            .decided_range_within(slot, CATCH_UP_BATCH, budget)
        {
            Ok(rows) if !rows.is_empty() => {
                let bytes: usize = rows.iter().map(|(_, b)| b.len()).sum();
                self.catch_up_pace.charge(peer, bytes as u64);
                let entries: Vec<DecidedEntry> = rows
                    .iter()
                    .filter_map(|(_, b)| postcard::from_bytes(b).ok())
                    .collect();
                let msg = Message::CatchUpResponse { entries };
                if let Err(e) = self.d.net.send(peer, &Wire::Consensus(msg)) {
                    debug!(error = %e, "catch-up response not sent");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "reading the decided log failed"),
        }
    }

    /// Clients that stopped following (their stream task is gone: they left, or their
    /// stream was reset) leave no waiter behind, also for operations never decided.
    fn drop_left_followers(&mut self) {
        self.waiters.retain(|_, senders| {
            senders.retain(|s| !s.is_closed());
            !senders.is_empty()
        });
    }

    /// Ask every peer for entries after ours: how a node that restarted into an idle
    /// cluster (no traffic to reveal that it is behind) catches up.
    fn probe_catch_up(&mut self) {
        let msg = Message::CatchUpRequest {
            from: self.d.node.slot(),
        };
        if let Err(e) = self.d.net.broadcast(&Wire::Consensus(msg)) {
            debug!(error = %e, "catch-up probe not sent");
        }
    }

    fn named_by_state(&self, hash: &Digest) -> bool {
        ROLES
            .iter()
            .any(|r| self.d.node.state().active_module(*r) == Some(*hash))
    }

    fn on_client(&mut self, call: ClientCall) -> Result<(), DriverError> {
        // `_room` holds the request's bytes in the client pools until it is handled.
        let ClientCall {
            client,
            source,
            request,
            reply,
            room: _room,
        } = call;
        let reader = (client, source);
        match request {
            Request::Submit { op, follow } => {
                let digest = op.id();
                let stored = self
                    .d
                    .decided
                    .get(&digest)
                    .map(|(slot, index, _)| (*slot, *index));
                if let Some(at) = stored {
                    // Answered from the store: a read paced like a log page.
                    if let Err(paced) = self.client_reads.admit(reader, self.now()) {
                        let _ = reply.try_send(Response::Error(paced.to_string()).into());
                        return Ok(());
                    }
                    let (done, read) = self.stored_decision(at, &digest);
                    self.client_reads.charge(reader, read);
                    if let Some(done) = done {
                        // Already in the log: answer with its decision, do not re-order it.
                        let _ = reply.try_send(Response::Accepted(digest).into());
                        if follow {
                            let _ = reply.try_send(Response::Decided(done.clone()).into());
                        }
                        return Ok(());
                    }
                }
                match self.d.node.check_submission(&op) {
                    // Pending already (e.g. a retry): follow it like a fresh submission.
                    Ok(()) | Err(SubmitError::Pending) => {}
                    // Decided, its entry not durable yet: answered when it is.
                    Err(SubmitError::AlreadyDecided) if self.flusher.holds_decision(&digest) => {}
                    Err(e) => {
                        // The client gets the reason; any key may cause this at will.
                        debug!(submitter = %op.submitter, kind = op.op.kind_name(), error = %e, "submission refused");
                        let _ = reply.try_send(Response::Error(format!("refused: {e}")).into());
                        return Ok(());
                    }
                }
                if follow {
                    self.waiters.entry(digest).or_default().push(reply.clone());
                }
                let _ = reply.try_send(Response::Accepted(digest).into());
                self.input(Input::Submit(op))?;
            }
            Request::Status => {
                let answer = match self.client_reads.admit(reader, self.now()) {
                    Ok(_) => {
                        // Charged like a read: its size grows with the members and the
                        // events, and any key may ask. Like a log page it holds room in
                        // the answer budget until written, so clients that do not read
                        // their answers hold at most the budget.
                        let status = self.status();
                        let bytes =
                            postcard::experimental::serialized_size(&status).unwrap_or(usize::MAX);
                        self.client_reads
                            .charge(reader, u64::try_from(bytes).unwrap_or(u64::MAX));
                        match self.answer_budget.take(bytes) {
                            Ok(room) => Answer {
                                response: Response::Status(Box::new(status)),
                                room: Some(room),
                            },
                            Err(busy) => Response::Error(busy.to_string()).into(),
                        }
                    }
                    Err(paced) => Response::Error(paced.to_string()).into(),
                };
                let _ = reply.try_send(answer);
            }
            Request::Log { from, limit } => {
                let page = match self.client_reads.admit(reader, self.now()) {
                    Ok(left) => {
                        let cap = usize::try_from(left).unwrap_or(usize::MAX);
                        let (page, read) = log_page(
                            &self.d.store,
                            &self.answer_budget,
                            from,
                            limit,
                            LOG_PAGE_BYTES.min(cap),
                        );
                        self.client_reads.charge(reader, read as u64);
                        page
                    }
                    Err(paced) => Response::Error(paced.to_string()).into(),
                };
                let _ = reply.try_send(page);
            }
            Request::UploadModule(bytes) => {
                if let Err(e) = self
                    .d
                    .node
                    .state()
                    .check_permission(&client, Permission::ModuleUpload)
                {
                    debug!(client = %client, error = %e, "module upload refused");
                    let _ = reply.try_send(Response::Error(format!("refused: {e}")).into());
                    return Ok(());
                }
                // The cluster's replicated limit: a larger module could never run.
                let limit = self.d.node.state().params().timing.max_module_bytes;
                if bytes.len() as u64 > limit {
                    let _ = reply.try_send(
                        Response::Error(format!(
                            "refused: the module is {} bytes, the limit is {limit}",
                            bytes.len()
                        ))
                        .into(),
                    );
                    return Ok(());
                }
                // Within the store's module quota, collecting unreferenced blobs first.
                if let Err(e) = self.make_room(bytes.len() as u64) {
                    debug!(client = %client, error = %e, "module upload refused");
                    let _ = reply.try_send(Response::Error(format!("refused: {e}")).into());
                    return Ok(());
                }
                // Stored here only: peers fetch the bytes by hash when a proposed swap
                // names them (they drop blobs nobody asked for).
                let answer = match self.d.store.put_module(&bytes) {
                    Ok(hash) => {
                        info!(%hash, size = bytes.len(), client = %client, "module uploaded by a client");
                        self.uploads.retain(|_, at| at.elapsed() < UPLOAD_GRACE);
                        self.uploads.insert(hash, Instant::now());
                        Response::Uploaded(hash)
                    }
                    Err(e) => Response::Error(e.to_string()),
                };
                let _ = reply.try_send(answer.into());
            }
        }
        Ok(())
    }

    /// Make room for a blob of `len` bytes within the module quota: when the stored blobs
    /// and it would exceed the quota, delete the unreferenced blobs (not named by the
    /// replicated state as any role's active or previous module, not named by a pending
    /// operation, not uploaded within [`UPLOAD_GRACE`]); if that is not enough, refuse.
    fn make_room(&mut self, len: u64) -> Result<(), String> {
        let sizes = self.d.store.module_sizes().map_err(|e| e.to_string())?;
        let state = self.d.node.state();
        let mut keep: std::collections::BTreeSet<Digest> = ROLES
            .iter()
            .filter_map(|r| state.module_slot(*r))
            .flat_map(|s| std::iter::once(s.active).chain(s.previous))
            .collect();
        for op in self.d.node.pending_ops() {
            if let spore_core::ops::Operation::SecurityPolicyUpdate(u) = &op.op {
                keep.insert(u.new_policy);
                keep.insert(u.rollback_to);
            }
        }
        keep.extend(
            self.uploads
                .iter()
                .filter(|(_, at)| at.elapsed() < UPLOAD_GRACE)
                .map(|(h, _)| *h),
        );
        let hashes = super::quota::to_collect(&sizes, &keep, len, self.d.module_quota)?;
        if hashes.is_empty() {
            return Ok(());
        }
        let n = self
            .d
            .store
            .delete_modules(&hashes)
            .map_err(|e| e.to_string())?;
        self.collected_blobs += n;
        info!(
            collected = n,
            "unreferenced module blobs collected to make room for an upload"
        );
        Ok(())
    }

    fn status(&self) -> StatusReport {
        let node = &self.d.node;
        let state = node.state();
        let view = node.view();
        let members = state
            .members()
            .iter()
            .map(|(id, m)| MemberRow {
                id: *id,
                name: m.name.clone(),
                level: m.level,
                trust: ReplicaState::trust(state, id),
                eligible: state.is_eligible(id),
                address: m.address.clone(),
            })
            .collect();
        let modules = ROLES
            .iter()
            .filter_map(|role| {
                let slot = state.module_slot(*role)?;
                Some(ModuleRow {
                    role: role.to_string(),
                    active: slot.active,
                    previous: slot.previous,
                    since: slot.since,
                    loaded: self
                        .d
                        .runtime
                        .active(*role)
                        .is_some_and(|m| m.hash() == slot.active),
                })
            })
            .collect();
        let stats = node.stats();
        let net = self.d.net.metrics().snapshot();
        StatusReport {
            node: self.d.net.node_id(),
            chain_id: state.chain_id().to_owned(),
            abstained_calls: self.abstained,
            dropped_blobs: self.unsolicited_blobs,
            collected_blobs: self.collected_blobs,
            fork: node.fork().map(|p| crate::node::proto::ForkRow {
                slot: p.slot(),
                first: p.first.value,
                second: p.second.value,
                culprits: p.culprits(),
            }),
            genesis: state.genesis_digest(),
            slot: node.slot(),
            view,
            view_changing: node.is_view_changing(),
            primary: state.primary(view),
            seed: state.seed(view),
            mempool: node.mempool_len() as u64,
            members,
            modules,
            decided: stats.decided,
            view_changes: stats.view_changes,
            evidence: stats.evidence,
            rejected: stats
                .rejected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            rejected_frames: net.rejected_frames(),
            handshake_refusals: net.handshake_refusals,
            events: self.events.iter().cloned().collect(),
            state_digest: state.state_digest(),
        }
    }
}

/// The persisted certificate records (others' tallies and accepts), decoded.
pub(super) fn cert_records(store: &Store) -> Result<Vec<Message>, StoreError> {
    Ok(store
        .cert_records()?
        .iter()
        .filter_map(|bytes| match postcard::from_bytes::<Message>(bytes) {
            Ok(m) => Some(m),
            Err(e) => {
                warn!(error = %e, "certificate record undecodable; ignored");
                None
            }
        })
        .collect())
}

/// Decode the votes the store holds for slots from `from` on, with the certificate
/// records of those slots (everything `Node::restore` needs).
pub fn stored_votes(store: &Store, from: Slot) -> Result<Vec<Message>, StoreError> {
    Ok(store
        .votes_from(from)?
        .into_iter()
        .filter_map(
            |(key, bytes)| match postcard::from_bytes::<Message>(&bytes) {
                Ok(m) => Some(m),
                Err(e) => {
                    warn!(?key, error = %e, "stored vote undecodable");
                    None
                }
            },
        )
        .chain(
            cert_records(store)?
                .into_iter()
                .filter(|m| m.slot().is_some_and(|s| s >= from)),
        )
        .collect())
}

/// The metric label of a failure kind.
fn failure_label(kind: spore_core::ops::FailureKind) -> &'static str {
    use spore_core::ops::FailureKind as K;
    match kind {
        K::OutOfFuel => "out_of_fuel",
        K::Trap => "trap",
        K::StackOverflow => "stack_overflow",
        K::MemoryLimit => "memory_limit",
        K::OutputTooLarge => "output_too_large",
        K::InvalidOutput => "invalid_output",
        K::ModuleUnavailable => "module_unavailable",
        K::ResourceLimit => "resource_limit",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crash_hook_reads_its_three_points_and_refuses_others() {
        let at = |s: &str| CrashAt::parse(s).map(|c| (c.commit, c.when));
        assert_eq!(at("3:before"), Some((3, CrashWhen::Before)));
        assert_eq!(at("4:between"), Some((4, CrashWhen::Between)));
        assert_eq!(at("5:after"), Some((5, CrashWhen::After)));
        assert_eq!(at("5:during"), None);
        assert_eq!(at("x:after"), None);
        assert_eq!(at("5"), None);
    }

    #[test]
    fn the_resubmission_index_forgets_expired_operations() {
        let mut index = DecidedIndex::new();
        index.insert(Digest([1; 32]), (3, 0, 10));
        index.insert(Digest([2; 32]), (4, 1, 200));
        prune_decided(&mut index, 10);
        assert_eq!(
            index.len(),
            2,
            "an operation expiring at the next slot is kept"
        );
        prune_decided(&mut index, 11);
        assert_eq!(index.len(), 1);
        assert!(index.contains_key(&Digest([2; 32])));
    }

    /// A decodable entry of `slot` whose stored bytes are about `pad` bytes longer than
    /// the smallest (the padding is a decision's bytes).
    fn entry(slot: Slot, pad: usize) -> Vec<u8> {
        use spore_core::consensus::{Proposal, Tally};
        use spore_core::crypto::{Keypair, Signed};
        let key = Keypair::from_seed([3; 32]);
        let proposal = Proposal {
            slot,
            view: 0,
            batch: Vec::new(),
            parent: Digest::default(),
            evidence: Vec::new(),
            absences: Vec::new(),
        };
        let tally = Tally {
            proposal: Signed::new(proposal, &key),
            commits: Vec::new(),
            reveals: Vec::new(),
            decisions: vec![spore_core::consensus::Decision::Agreed(
                spore_core::ops::Outcome::Accepted(vec![0; pad]),
            )],
        };
        let entry = DecidedEntry {
            slot,
            view: 0,
            tally: Signed::new(tally, &key),
            confirms: Vec::new(),
        };
        postcard::to_allocvec(&entry).expect("encodable")
    }

    fn log_store(slots: u64, pad: usize) -> (tempfile::TempDir, Store, usize) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("db"), NodeId::from([9; 32])).expect("open");
        let mut len = 0;
        for slot in 0..slots {
            let bytes = entry(slot, pad);
            len = bytes.len();
            store.put_decided(slot, &bytes).expect("put");
        }
        (dir, store, len)
    }

    fn busy(answer: &Answer) -> bool {
        matches!(&answer.response, Response::Error(e) if e.starts_with("busy"))
    }

    /// A log page takes room for its bytes and holds it until the answer is dropped; with
    /// the budget full the answer is `busy`. The control is the first page: with room free
    /// the same request gets its entries, so `busy` is the budget, not the request.
    #[test]
    fn a_log_page_holds_its_room_until_dropped_and_a_full_budget_answers_busy() {
        let (_dir, store, len) = log_store(10, 1_000);
        let budget = AnswerBudget::new(5 * len);
        let first = log_page(&store, &budget, 0, 256, usize::MAX).0;
        let Response::Log(page) = &first.response else {
            panic!("not a page: {:?}", first.response);
        };
        // Cut by the budget's room (five entries), before the copy out of the store.
        assert_eq!(page.len(), 5);
        assert_eq!(budget.available(), 0, "the page holds its room");
        assert!(busy(&log_page(&store, &budget, 5, 256, usize::MAX).0));
        drop(first);
        assert_eq!(budget.available(), 5 * len, "room returned with the answer");
        let second = log_page(&store, &budget, 5, 256, usize::MAX).0;
        assert!(matches!(&second.response, Response::Log(p) if p.len() == 5));
    }

    /// The page cap and the count cut too (control: a cap of everything reads all ten);
    /// an entry larger than the free room is `busy`, not served past the budget.
    #[test]
    fn a_log_page_is_cut_by_its_cap_and_count() {
        let (_dir, store, len) = log_store(10, 1_000);
        let budget = AnswerBudget::new(100 * len);
        let page = |limit, cap| match log_page(&store, &budget, 0, limit, cap).0.response {
            Response::Log(p) => p.len(),
            other => panic!("not a page: {other:?}"),
        };
        assert_eq!(page(256, usize::MAX), 10);
        assert_eq!(page(256, 3 * len), 3);
        assert_eq!(page(256, 1), 1, "at least one entry");
        assert_eq!(page(2, usize::MAX), 2);
        let small = AnswerBudget::new(len / 2);
        assert!(busy(&log_page(&store, &small, 0, 256, usize::MAX).0));
        assert_eq!(small.available(), len / 2);
    }

    #[test]
    fn every_vote_phase_has_its_own_store_byte() {
        let phases = [
            "proposal",
            "commit",
            "commit-set",
            "reveal",
            "tally",
            "accept",
            "confirm",
            "view-change",
            "new-view",
        ];
        let bytes: std::collections::BTreeSet<u8> = phases.iter().map(|p| phase_byte(p)).collect();
        assert_eq!(bytes.len(), phases.len());
        assert!(!bytes.contains(&255));
        assert_eq!(phase_byte("evidence"), 255);
    }
}
