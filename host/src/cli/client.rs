//! Client commands against a running node: `spore submit`, `status`, `log`, `trust`,
//! `propose` (upload a module and submit its swap).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use spore_core::consensus::Decision;
use spore_core::crypto::{Keypair, Signature, sha256};
use spore_core::ops::{
    ConfigType, ImpactLevel, MAX_EXPIRY_WINDOW, NetworkConfigChange, Operation, Outcome, Param,
    SecurityDomain, SecurityPolicyUpdate, SignedOperation, Sponsorship,
};
use spore_core::state::{AUTHORITY_POLICY_PREFIX, Actor, Permission, authority_key_param};
use spore_core::types::{Digest, Hierarchy, NodeId};

use crate::modules::samples;
use crate::node::client::Client;
use crate::node::config::NodeConfig;
use crate::node::keyfile;
use crate::node::proto::{OpDecision, Request, Response, StatusReport};

/// Which node to talk to: `--node ADDR --node-id HEX`, or `--config` of that node.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The node's client address.
    #[arg(long, requires = "node_id", conflicts_with = "config")]
    pub node: Option<SocketAddr>,
    /// The node's id (hex); the connection is refused if the node presents another key.
    #[arg(long)]
    pub node_id: Option<NodeId>,
    /// The node's config file (client address and key file are read from it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The key to connect (and, for `submit` and `module propose`, to sign) with: a key
    /// file made by `spore keygen`. Without it: the node's own key when `--config` is
    /// given, else a fresh throw-away key (enough to read status, log and trust).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

impl Target {
    /// Resolve to (address, node id).
    pub fn resolve(&self) -> anyhow::Result<(SocketAddr, NodeId)> {
        if let (Some(addr), Some(id)) = (self.node, self.node_id) {
            return Ok((addr, id));
        }
        if let Some(path) = &self.config {
            let c = NodeConfig::load(path)?;
            let id = match self.node_id {
                Some(id) => id,
                None => keyfile::read(&c.key_file)?.id(),
            };
            return Ok((c.client_listen, id));
        }
        bail!("name the node with --node ADDR --node-id HEX, or --config FILE")
    }

    /// The key to connect and sign with (see `--key`), and whether it was named.
    pub fn key(&self) -> anyhow::Result<(Keypair, bool)> {
        if let Some(path) = &self.key {
            return Ok((keyfile::read(path)?, true));
        }
        if let Some(path) = &self.config {
            let c = NodeConfig::load(path)?;
            return Ok((keyfile::read(&c.key_file)?, true));
        }
        Ok((keyfile::generate(), false))
    }

    /// Connect.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let (addr, id) = self.resolve()?;
        let (key, _) = self.key()?;
        Ok(Client::connect(addr, id, &key).await?)
    }

    /// Connect with the signing key, which must be named (`--key` or `--config`).
    pub async fn connect_signing(&self) -> anyhow::Result<(Client, Keypair)> {
        let (addr, id) = self.resolve()?;
        let (key, named) = self.key()?;
        if !named {
            bail!(
                "submitting needs a signing key: --key FILE (a governor, operator or client \
                 key named by the genesis), or --config of a member node (its own key)"
            );
        }
        Ok((Client::connect(addr, id, &key).await?, key))
    }
}

/// Parse `ID:SIGNATURE` (both hex), as `spore sponsor` prints it.
pub fn parse_sponsorship(s: &str) -> Result<Sponsorship, String> {
    let (id, sig) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not ID:SIGNATURE"))?;
    let sponsor = NodeId::from_hex(id).map_err(|e| format!("sponsor id: {e}"))?;
    let sig = spore_core::types::decode_hex_array::<64>(sig)
        .map_err(|e| format!("sponsorship signature: {e}"))?;
    Ok(Sponsorship {
        sponsor,
        signature: Signature(sig),
    })
}

/// Operation kinds with a built-in example (`--example`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Example {
    /// network-config-change
    NetworkConfigChange,
    /// trust-modification
    TrustModification,
    /// node-admission
    NodeAdmission,
    /// node-exclusion
    NodeExclusion,
    /// security-policy-update
    SecurityPolicyUpdate,
    /// service-deployment
    ServiceDeployment,
    /// resource-allocation
    ResourceAllocation,
    /// maintenance-task
    MaintenanceTask,
    /// performance-optimization
    PerformanceOptimization,
    /// compute
    Compute,
}

/// The built-in example of a kind (the runtime's sample operations).
pub fn example(kind: Example) -> anyhow::Result<Operation> {
    let index = kind as usize;
    samples::operations()
        .into_iter()
        .nth(index)
        .context("no sample for this kind")
}

/// Arguments of `spore submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    target: Target,
    /// The operation as a JSON file (the `Operation` serde form, e.g.
    /// `{"TrustModification": {...}}`).
    #[arg(long, group = "op")]
    file: Option<PathBuf>,
    /// The operation as inline JSON.
    #[arg(long, group = "op")]
    json: Option<String>,
    /// A built-in example operation of this kind.
    #[arg(long, value_enum, group = "op")]
    example: Option<Example>,
    /// Exclude this node (reason: governance decision, no attached evidence).
    #[arg(long, group = "op")]
    exclude: Option<NodeId>,
    /// Admit this node (its id, hex) into the cluster, with `--address`, `--name` and
    /// its sponsors' signatures (`--sponsor-key` or `--sponsorship`, as many as the
    /// cluster's `membership.min-sponsors`); once decided, start it (`spore node run` with
    /// `listen` set to that address): it catches up from the members and takes part.
    #[arg(long, group = "op", requires_all = ["address", "name"])]
    admit: Option<NodeId>,
    /// The admitted node's peer address, `host:port` (with `--admit`).
    #[arg(long, requires = "admit")]
    address: Option<SocketAddr>,
    /// The admitted node's name (with `--admit`).
    #[arg(long, requires = "admit")]
    name: Option<String>,
    /// The hierarchy level the admitted node asks for (with `--admit`).
    #[arg(long, requires = "admit", default_value = "hyphae")]
    level: Hierarchy,
    /// A sponsoring member's node key file: sign its sponsorship here (repeat; with
    /// `--admit`).
    #[arg(long, requires = "admit")]
    sponsor_key: Vec<PathBuf>,
    /// A sponsorship signed elsewhere, `ID:SIGNATURE` as `spore sponsor` prints it
    /// (repeat; with `--admit`).
    #[arg(long, requires = "admit", value_parser = parse_sponsorship)]
    sponsorship: Vec<Sponsorship>,
    /// Change this node's trust by `--delta` bps.
    #[arg(long, group = "op", requires = "delta")]
    trust_of: Option<NodeId>,
    /// Trust change in bps (with `--trust-of`).
    #[arg(long, allow_hyphen_values = true)]
    delta: Option<i32>,
    /// Grant this client or operator key (its id, hex) the roles of `--roles`, replacing
    /// any it holds: an authority change (Full BFT, governors by default).
    #[arg(long, group = "op", requires = "roles")]
    grant: Option<NodeId>,
    /// Comma-separated roles for `--grant` (governor, operator, client).
    #[arg(long, value_delimiter = ',', value_parser = parse_actor)]
    roles: Vec<Actor>,
    /// Revoke every role of this key: an authority change.
    #[arg(long, group = "op")]
    revoke: Option<NodeId>,
    /// Set which actors the policy allows this permission (e.g. `trust-modification`,
    /// `compute`, `module-upload`) to, from `--actors`: an authority change.
    #[arg(long, group = "op", requires = "actors", value_parser = parse_permission)]
    allow: Option<Permission>,
    /// Comma-separated actors for `--allow` (governor, operator, client, member).
    #[arg(long, value_delimiter = ',', value_parser = parse_actor)]
    actors: Vec<Actor>,
    /// The operation may be decided at most this many slots from now (replay protection;
    /// at most 10000).
    #[arg(long, default_value_t = 1_000)]
    expires_in: u64,
    /// Return once accepted into the mempool instead of waiting for the decision.
    #[arg(long)]
    no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print the decision as JSON.
    #[arg(long)]
    json_output: bool,
}

/// The operation the flags describe, for the chain `chain` (sponsorships sign it).
fn operation(a: &SubmitArgs, chain: &Digest) -> anyhow::Result<Operation> {
    use spore_core::ops::{
        ExclusionReason, NodeAdmission, NodeExclusion, NodeIdentity, TrustModification, TrustReason,
    };
    if let Some(path) = &a.file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text).context("parsing the operation JSON");
    }
    if let Some(text) = &a.json {
        return serde_json::from_str(text).context("parsing the operation JSON");
    }
    if let Some(kind) = a.example {
        return example(kind);
    }
    if let Some(target) = a.exclude {
        return Ok(Operation::NodeExclusion(NodeExclusion {
            target,
            reason: ExclusionReason::GovernanceDecision,
            evidence: Vec::new(),
        }));
    }
    if let Some(id) = a.admit {
        let (Some(address), Some(name)) = (a.address, a.name.clone()) else {
            bail!("--admit needs --address and --name");
        };
        let candidate = NodeIdentity {
            id,
            level: a.level,
            name,
            address: address.to_string(),
        };
        let mut sponsors = a.sponsorship.clone();
        for path in &a.sponsor_key {
            let key = keyfile::read(path)?;
            sponsors.push(Sponsorship::sign(chain, &candidate, &key));
        }
        if sponsors.is_empty() {
            bail!(
                "--admit needs its sponsors' signatures: --sponsor-key FILE or --sponsorship ID:SIG"
            );
        }
        return Ok(Operation::NodeAdmission(NodeAdmission {
            candidate,
            sponsors,
        }));
    }
    if let (Some(target), Some(delta_bps)) = (a.trust_of, a.delta) {
        return Ok(Operation::TrustModification(TrustModification {
            target,
            delta_bps,
            reason: TrustReason::AuditFinding,
            justification: "operator adjustment".to_owned(),
        }));
    }
    if let Some(change) = authority_param(a)? {
        return Ok(Operation::NetworkConfigChange(NetworkConfigChange {
            config_type: ConfigType::Authority,
            changes: vec![change],
            impact: ImpactLevel::Critical,
        }));
    }
    bail!(
        "give the operation with --file, --json, --example, --admit, --exclude, --trust-of, \
         --grant, --revoke or --allow"
    )
}

/// The `authority.*` parameter of `--grant`, `--revoke` or `--allow`, if one is given.
fn authority_param(a: &SubmitArgs) -> anyhow::Result<Option<Param>> {
    let key_param = |id: &NodeId, roles: &[Actor]| -> anyhow::Result<Param> {
        if roles.contains(&Actor::Member) {
            bail!("--roles: `member` is held by members' node keys, not granted");
        }
        let set: BTreeSet<Actor> = roles.iter().copied().collect();
        Ok(Param {
            key: authority_key_param(id),
            value: Actor::mask(&set),
        })
    };
    if let Some(id) = &a.grant {
        return key_param(id, &a.roles).map(Some);
    }
    if let Some(id) = &a.revoke {
        return key_param(id, &[]).map(Some);
    }
    if let Some(p) = a.allow {
        let set: BTreeSet<Actor> = a.actors.iter().copied().collect();
        return Ok(Some(Param {
            key: format!("{AUTHORITY_POLICY_PREFIX}{}", p.name()),
            value: Actor::mask(&set),
        }));
    }
    Ok(None)
}

fn parse_actor(s: &str) -> Result<Actor, String> {
    Actor::from_name(s).ok_or_else(|| format!("{s:?} is not governor, operator, client or member"))
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    Permission::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
        format!("{s:?} is not a permission ({})", names.join(", "))
    })
}

/// Arguments of `spore sponsor`.
#[derive(Debug, Args)]
pub struct SponsorArgs {
    /// The sponsoring member's node key file.
    #[arg(long = "sponsor-key")]
    sponsor_key: PathBuf,
    /// The candidate's id (hex).
    #[arg(long)]
    candidate: NodeId,
    /// The candidate's peer address, `host:port`.
    #[arg(long)]
    address: SocketAddr,
    /// The candidate's name.
    #[arg(long)]
    name: String,
    /// The hierarchy level the candidate asks for.
    #[arg(long, default_value = "hyphae")]
    level: Hierarchy,
    /// The cluster's genesis digest (hex); without it, asked of the node named by
    /// `--node`/`--config`.
    #[arg(long)]
    chain: Option<Digest>,
    #[command(flatten)]
    target: Target,
}

/// Run `spore sponsor`: the sponsorship covers the chain and the whole candidate
/// identity, so it cannot be reused for another candidate, level, address or cluster.
pub fn run_sponsor(a: SponsorArgs) -> anyhow::Result<ExitCode> {
    let key = keyfile::read(&a.sponsor_key)?;
    let chain = match a.chain {
        Some(c) => c,
        None => runtime()?.block_on(async {
            let client = a.target.connect().await?;
            let s = status(&client).await?;
            client.close().await;
            anyhow::Ok(s.genesis)
        })?,
    };
    let candidate = spore_core::ops::NodeIdentity {
        id: a.candidate,
        level: a.level,
        name: a.name,
        address: a.address.to_string(),
    };
    let s = Sponsorship::sign(&chain, &candidate, &key);
    println!("{}:{}", s.sponsor.to_hex(), hex::encode(s.signature.0));
    Ok(ExitCode::SUCCESS)
}

/// Describe a decision in one line.
pub fn describe(d: &OpDecision) -> String {
    let what = match &d.decision {
        Decision::Agreed(o) => format!("agreed: {}", outcome(o)),
        Decision::Authority { layer, outcome: o } => format!("authority {layer}: {}", outcome(o)),
        Decision::Resolved { layer, outcome: o } => format!("resolved to {layer}: {}", outcome(o)),
        Decision::Escalated { reason } => format!("ESCALATED: {reason}"),
    };
    format!("slot {} #{}  {what}", d.slot, d.index)
}

fn outcome(o: &Outcome) -> String {
    match o {
        Outcome::Accepted(bytes) => format!("accepted ({} bytes)", bytes.len()),
        Outcome::Rejected { code, reason } => format!("rejected {code:?}: {reason}"),
        Outcome::Failed(kind) => format!("failed {kind:?}"),
        Outcome::Regressed(kind) => {
            format!("failed {kind:?} (where the validator it replaced did not)")
        }
    }
}

/// Sign `op` with `key` for the node's chain, to be decided within `expires_in` slots of
/// the node's current slot.
pub async fn sign(
    client: &Client,
    op: Operation,
    key: &Keypair,
    expires_in: u64,
) -> anyhow::Result<SignedOperation> {
    let s = status(client).await?;
    let expires = s.slot.saturating_add(expires_in.min(MAX_EXPIRY_WINDOW));
    Ok(SignedOperation::sign(op, s.genesis, expires, key))
}

/// Submit a signed operation and (unless `no_wait`) wait for its decision. A refusal
/// (e.g. the missing role) is an error naming the reason.
pub async fn submit(
    client: &Client,
    op: SignedOperation,
    wait: Option<Duration>,
) -> anyhow::Result<(Digest, Option<OpDecision>)> {
    let (first, mut answers) = client
        .call_patient(&Request::Submit {
            op,
            follow: wait.is_some(),
        })
        .await?;
    let digest = match first {
        Response::Accepted(d) => d,
        Response::Error(e) => bail!("refused: {e}"),
        other => bail!("unexpected answer {other:?}"),
    };
    let Some(wait) = wait else {
        return Ok((digest, None));
    };
    match tokio::time::timeout(wait, answers.next()).await {
        Ok(Ok(Some(Response::Decided(d)))) => Ok((digest, Some(d))),
        Ok(Ok(other)) => bail!("unexpected answer {other:?}"),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => bail!("not decided within {} s", wait.as_secs()),
    }
}

/// Ask a node for its status.
pub async fn status(client: &Client) -> anyhow::Result<StatusReport> {
    match client.call_patient(&Request::Status).await?.0 {
        Response::Status(s) => Ok(*s),
        Response::Error(e) => bail!("{e}"),
        other => bail!("unexpected answer {other:?}"),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Run `spore submit`.
pub fn run_submit(a: SubmitArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (client, key) = a.target.connect_signing().await?;
        let chain = status(&client).await?.genesis;
        let op = operation(&a, &chain)?;
        let signed = sign(&client, op, &key, a.expires_in).await?;
        eprintln!(
            "signed by {} ({}), expires at slot {}",
            key.id(),
            key.id().to_hex(),
            signed.expires
        );
        let wait = (!a.no_wait).then(|| Duration::from_secs(a.timeout));
        let (digest, decision) = submit(&client, signed, wait).await?;
        match decision {
            None => println!("accepted {}", digest.to_hex()),
            Some(d) if a.json_output => println!("{}", serde_json::to_string_pretty(&d)?),
            Some(d) => println!("{}  {}", &digest.to_hex()[..16], describe(&d)),
        }
        client.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `spore status` and `spore trust`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Print a status report.
pub fn print_status(s: &StatusReport) {
    let short = |id: &Option<NodeId>| id.map(|i| i.to_string()).unwrap_or_else(|| "-".into());
    println!("node {}  chain {}", s.node, s.chain_id);
    println!(
        "slot {}  view {}{}  primary {}  seed {}  mempool {}",
        s.slot,
        s.view,
        if s.view_changing { " (changing)" } else { "" },
        short(&s.primary),
        short(&s.seed),
        s.mempool
    );
    println!(
        "decided {}  view changes {}  evidence {}  refused frames {}  refused handshakes {}  state {}",
        s.decided,
        s.view_changes,
        s.evidence,
        s.rejected_frames,
        s.handshake_refusals,
        &s.state_digest.to_hex()[..16]
    );
    if !s.rejected.is_empty() {
        let r: Vec<String> = s.rejected.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("refused messages: {}", r.join(" "));
    }
    if s.abstained_calls > 0 || s.dropped_blobs > 0 || s.collected_blobs > 0 {
        println!(
            "abstained module calls (local faults) {}  dropped module blobs {}  collected module blobs {}",
            s.abstained_calls, s.dropped_blobs, s.collected_blobs
        );
    }
    if let Some(f) = &s.fork {
        let culprits: Vec<String> = f.culprits.iter().map(ToString::to_string).collect();
        println!(
            "FORK at slot {}: values {} and {} are both certified; this node has stopped ordering.\n  members that confirmed both: {}\n  see docs/OPERATIONS.md, \"Forks\"",
            f.slot,
            &f.first.to_hex()[..16],
            &f.second.to_hex()[..16],
            culprits.join(" ")
        );
    }
    print_members(s);
    println!("modules:");
    for m in &s.modules {
        println!(
            "  {:<10} {}  since slot {:<5}{}",
            m.role,
            &m.active.to_hex()[..16],
            m.since,
            if m.loaded {
                ""
            } else {
                "  (fetching or compiling)"
            }
        );
    }
}

fn print_members(s: &StatusReport) {
    println!("members:");
    for m in &s.members {
        println!(
            "  {} {:<10} {:<11} trust {:>5} bps  {}",
            m.id,
            m.name,
            m.level.to_string(),
            m.trust,
            if m.eligible { "eligible" } else { "EXCLUDED" }
        );
    }
}

/// Run `spore status`.
pub fn run_status(a: StatusArgs, trust_only: bool) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = a.target.connect().await?;
        let s = status(&client).await?;
        client.close().await;
        if a.json && trust_only {
            println!("{}", serde_json::to_string_pretty(&s.members)?);
        } else if a.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else if trust_only {
            print_members(&s);
        } else {
            print_status(&s);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `spore log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    target: Target,
    /// First slot.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Most entries.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print the entries (with certificates) as JSON.
    #[arg(long)]
    json: bool,
}

/// Run `spore log`.
pub fn run_log(a: LogArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = a.target.connect().await?;
        let entries = client.log(a.from, a.limit).await?;
        client.close().await;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
            return Ok(ExitCode::SUCCESS);
        }
        for e in &entries {
            println!(
                "slot {:<5} view {:<3} value {}  {} confirms",
                e.slot,
                e.view,
                &e.value().to_hex()[..16],
                e.confirms.len()
            );
            for (i, (op, d)) in e.batch().iter().zip(e.decisions()).enumerate() {
                let d = OpDecision {
                    digest: sha256(&[]),
                    slot: e.slot,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    decision: d.clone(),
                };
                println!(
                    "    {:<26} {}  signed by {}",
                    op.op.kind_name(),
                    describe(&d),
                    op.submitter
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Module roles that can be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SwapRole {
    /// The validator module.
    Validator,
    /// The admission module.
    Admission,
    /// The resolver module.
    Resolver,
}

/// Arguments of `spore module propose`.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    #[command(flatten)]
    target: Target,
    /// The module (a WebAssembly component).
    pub file: PathBuf,
    /// The role it should take.
    #[arg(long, value_enum)]
    pub role: SwapRole,
    /// Description recorded with the update.
    #[arg(long, default_value = "module swap")]
    pub description: String,
}

/// Upload `bytes` and submit the security policy update swapping `role` to it, signed
/// by `key` (the current module is the rollback plan); returns the decision.
pub async fn propose(
    client: &Client,
    key: &Keypair,
    bytes: Vec<u8>,
    role: SwapRole,
    description: String,
) -> anyhow::Result<OpDecision> {
    let s = status(client).await?;
    let role_name = match role {
        SwapRole::Validator => "validator",
        SwapRole::Admission => "admission",
        SwapRole::Resolver => "resolver",
    };
    let current = s
        .modules
        .iter()
        .find(|m| m.role == role_name)
        .map(|m| m.active)
        .context("the node reports no module for this role")?;
    let hash = match client.call_one(&Request::UploadModule(bytes)).await? {
        Response::Uploaded(h) => h,
        Response::Error(e) => bail!("upload refused: {e}"),
        other => bail!("unexpected answer {other:?}"),
    };
    let domain = match role {
        SwapRole::Validator => SecurityDomain::ValidatorModule,
        SwapRole::Admission => SecurityDomain::AdmissionModule,
        SwapRole::Resolver => SecurityDomain::ResolverModule,
    };
    let op = Operation::SecurityPolicyUpdate(SecurityPolicyUpdate {
        domain,
        new_policy: hash,
        rollback_to: current,
        description,
    });
    let signed = sign(client, op, key, 1_000).await?;
    let (_, d) = submit(client, signed, Some(Duration::from_secs(60))).await?;
    d.context("no decision")
}

/// Run `spore module propose`.
pub fn run_propose(a: ProposeArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    // The nodes refuse a swap to a module that does not load for the role; say so now,
    // before anything is uploaded or submitted.
    let role = match a.role {
        SwapRole::Validator => crate::modules::Role::Validator,
        SwapRole::Admission => crate::modules::Role::Admission,
        SwapRole::Resolver => crate::modules::Role::Resolver,
    };
    crate::modules::Runtime::for_local_tool(crate::modules::RuntimeConfig::default())?
        .load(role, &bytes)
        .with_context(|| {
            format!(
                "{} is not a fit {role} module (see `spore module check {} --role {role}`)",
                a.file.display(),
                a.file.display()
            )
        })?;
    println!("proposing {} as the {role} module", a.file.display());
    println!("hash  {}", spore_core::crypto::sha256(&bytes).to_hex());
    super::module::print_build_info(&bytes);
    runtime()?.block_on(async {
        let (client, key) = a.target.connect_signing().await?;
        let d = propose(&client, &key, bytes, a.role, a.description).await?;
        println!("{}", describe(&d));
        client.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use spore_core::crypto::Keypair;
    use spore_core::ops::{Operation, Sponsorship};
    use spore_core::types::{Digest, Hierarchy, NodeId};

    use super::{SubmitArgs, operation};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        submit: SubmitArgs,
    }

    fn id(b: u8) -> NodeId {
        NodeId([b; 32])
    }

    #[test]
    fn admit_flags_build_a_signed_node_admission() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let chain = Digest([7; 32]);
        let (a, b) = (Keypair::from_seed([2; 32]), Keypair::from_seed([3; 32]));
        let a_file = dir.path().join("a.key");
        crate::node::keyfile::write(&a_file, &a, true)?;
        let new = id(1).to_hex();
        // b signs elsewhere (`spore sponsor`) and hands over ID:SIGNATURE.
        let candidate = spore_core::ops::NodeIdentity {
            id: id(1),
            level: Hierarchy::Rhizomorph,
            name: "e".into(),
            address: "10.0.0.5:7000".into(),
        };
        let remote = Sponsorship::sign(&chain, &candidate, &b);
        let remote_arg = format!("{}:{}", b.id().to_hex(), hex::encode(remote.signature.0));
        let a_path = a_file.to_string_lossy().to_string();
        let cli = Cli::try_parse_from([
            "submit",
            "--admit",
            &new,
            "--address",
            "10.0.0.5:7000",
            "--name",
            "e",
            "--sponsor-key",
            &a_path,
            "--sponsorship",
            &remote_arg,
            "--level",
            "rhizomorph",
        ])?;
        let Operation::NodeAdmission(op) = operation(&cli.submit, &chain)? else {
            anyhow::bail!("not an admission");
        };
        assert_eq!(op.candidate, candidate);
        assert_eq!(op.sponsor_ids(), vec![b.id(), a.id()]);
        for s in &op.sponsors {
            s.verify(&chain, &candidate)?;
        }
        // A sponsorship for another chain does not verify here.
        assert!(op.sponsors[0].verify(&Digest([8; 32]), &candidate).is_err());
        assert!(
            Cli::try_parse_from([
                "submit",
                "--admit",
                &new,
                "--address",
                "1.2.3.4:5",
                "--name",
                "e",
                "--sponsorship",
                "zz"
            ])
            .is_err(),
            "a malformed sponsorship is refused by the parser"
        );
        Ok(())
    }

    #[test]
    fn admit_without_address_or_sponsor_is_refused() -> anyhow::Result<()> {
        let new = id(1).to_hex();
        assert!(Cli::try_parse_from(["submit", "--admit", &new, "--name", "e"]).is_err());
        let bare = Cli::try_parse_from([
            "submit",
            "--admit",
            &new,
            "--name",
            "e",
            "--address",
            "1.2.3.4:5",
        ])?;
        assert!(
            operation(&bare.submit, &Digest([7; 32])).is_err(),
            "no sponsors"
        );
        assert!(Cli::try_parse_from(["submit", "--name", "e"]).is_err());
        assert!(
            Cli::try_parse_from(["submit", "--admit", &new, "--exclude", &new]).is_err(),
            "two operations at once"
        );
        Ok(())
    }
}
