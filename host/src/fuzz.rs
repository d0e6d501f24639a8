//! Fuzz targets: every decoder of peer, client, store and module-facing input, misbehaviour
//! and certificate verification, and the consensus machine driven by a Byzantine signer.
//!
//! # Design
//! Each target is a plain function of bytes that must never panic, abort or allocate more
//! than its input allows, and that checks its own invariants (a value that decodes
//! re-encodes to the same bytes; a node's bounded collections stay within their bounds).
//! The cargo-fuzz crate in `fuzz/` calls them for long coverage-guided runs (nightly
//! Rust); [`run_bounded`] runs every target over its committed seed corpus and a fixed
//! number of deterministic mutations, inside `cargo test` on stable Rust.
//!
//! # Targets
//! [`TARGETS`]: `wire` (peer frames), `client` (client requests and answers), `operation`
//! (operations and signed operations, checked against a replicated state), `evidence`
//! (misbehaviour proofs), `store` (stored entries, votes and module records, and certificate
//! verification of a decided entry), `node` (sequences of inputs from a Byzantine member
//! into `Node::handle`), `module` (module bytes from a proposer or a peer, through the
//! shape checks the registry runs before any validation or compile).

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use spore_core::consensus::{
    Accept, Commit, Config, Confirm, DecidedEntry, Input, Message, Misbehaviour, Node, Proposal,
    ReplicaState, Reveal, ViewChange,
};
use spore_core::crypto::{Keypair, Signed, canonical_bytes};
use spore_core::genesis::{Genesis, GenesisModules, GenesisNode, Params};
use spore_core::ops::{ComputeTask, Operation, Outcome, SignedOperation};
use spore_core::state::ReplicatedState;
use spore_core::types::{Digest, Hierarchy};

use crate::net::frame;
use crate::node::proto::{Request, Response};
use crate::node::wire::Wire;

/// A fuzz target: a name and a function of the input bytes.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: [Target; 7] = [
    ("wire", wire),
    ("client", client),
    ("operation", operation),
    ("evidence", evidence),
    ("store", store),
    ("node", node),
    ("module", module),
];

/// A decoded value re-encodes to bytes that decode to the same value. (Postcard accepts
/// overlong varints, so the bytes themselves need not be canonical: nothing is signed
/// over received bytes, only over the canonical re-encoding of a decoded payload, and
/// operations enforce their canonical form in `Operation::decode`.)
fn round_trips<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let again = canonical_bytes(value);
    let back: Result<T, _> = postcard::from_bytes(&again);
    assert!(
        back.as_ref().is_ok_and(|b| b == value),
        "re-encoding does not decode to the same value: {back:?}"
    );
}

/// A peer frame body: decodes to a [`Wire`] or fails, never panics.
pub fn wire(data: &[u8]) {
    if let Ok(w) = frame::decode_body::<Wire>(data) {
        round_trips(&w);
    }
}

/// Module bytes as a proposer or a peer sends them: the registry reads their shape
/// before wasmtime validates anything, so these parsers see every byte first. (A count
/// taken from an instantiation's module index once sized a vector: a 20-byte component
/// asked for 16 GiB.)
pub fn module(data: &[u8]) {
    let _ = crate::modules::limits::refused_shape(data);
    let _ = crate::modules::limits::count_core_instances(data);
}

/// A client request or answer frame body.
pub fn client(data: &[u8]) {
    if let Ok(r) = frame::decode_body::<Request>(data) {
        round_trips(&r);
    }
    let _ = frame::decode_body::<Response>(data);
}

/// The four-member genesis the stateful targets run against (deterministic keys).
fn fixture() -> &'static (Vec<Keypair>, ReplicatedState) {
    static FIXTURE: OnceLock<(Vec<Keypair>, ReplicatedState)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys: Vec<Keypair> = (1..=4u8).map(|i| Keypair::from_seed([i; 32])).collect();
        let nodes = keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisNode {
                id: k.id(),
                level: if i == 0 {
                    Hierarchy::Sclerotia
                } else {
                    Hierarchy::Rhizomorph
                },
                trust: 8_000,
                name: format!("n{i}"),
                address: format!("127.0.0.1:{}", 7000 + i),
            })
            .collect();
        let modules = GenesisModules {
            validator: Digest([1; 32]),
            admission: Digest([2; 32]),
            resolver: Digest([3; 32]),
        };
        let genesis = Genesis::new("fuzz", nodes, Params::default(), modules);
        let state = ReplicatedState::from_genesis_unverified(&genesis);
        (keys, state)
    })
}

/// An operation, or a signed operation judged by the host's authorisation rules.
pub fn operation(data: &[u8]) {
    if let Ok(op) = Operation::decode(data) {
        // Operations are canonical: the decoder refuses any other encoding.
        assert_eq!(
            canonical_bytes(&op),
            data,
            "a non-canonical operation decoded"
        );
    }
    if let Ok((op, _)) = postcard::take_from_bytes::<SignedOperation>(data) {
        let _ = fixture().1.authorize(&op);
        let _ = op.id();
    }
}

/// A misbehaviour proof as carried in an exclusion: decoded and verified.
pub fn evidence(data: &[u8]) {
    if let Ok(proof) = Misbehaviour::decode(data) {
        let _ = proof.verify();
        let _ = proof.key();
    }
}

/// What a node reads back from its store (decided entries, its votes, module records),
/// and the verification of a decided entry's certificate.
pub fn store(data: &[u8]) {
    if let Ok(entry) = postcard::from_bytes::<DecidedEntry>(data) {
        let state = &fixture().1;
        let quorum = |s: &std::collections::BTreeSet<_>| state.is_quorum(s);
        let _ = entry.verify(state, &quorum);
        let _ = entry.round_report(&ReplicaState::eligible(state));
    }
    let _ = postcard::from_bytes::<Message>(data);
    let _ = postcard::from_bytes::<crate::store::ActiveModule>(data);
    let _ = serde_json::from_slice::<Genesis>(data);
}

/// One input a Byzantine member (the fixture's fourth key) can make the node see.
#[derive(Debug, Arbitrary)]
enum Action {
    /// Time passes.
    Tick(u16),
    /// Raw bytes as a peer message.
    Raw(Vec<u8>),
    /// A vote of this phase, signed by the Byzantine member.
    Vote {
        phase: u8,
        slot: u8,
        view: u8,
        value: [u8; 4],
        outcomes: Vec<Vec<u8>>,
    },
    /// A compute task submitted as if by a client (signed by the Byzantine key).
    Submit(Vec<u8>),
}

/// Sequences of inputs from a Byzantine member into `Node::handle`: the node never panics
/// and its bounded collections stay within their bounds.
pub fn node(data: &[u8]) {
    let (keys, state) = fixture();
    let mut node = Node::new(Config::default(), keys[0].clone(), state.clone());
    let evil = &keys[3];
    let chain = state.genesis_digest();
    let mut u = Unstructured::new(data);
    let mut now = 0u64;
    let digest = |v: [u8; 4]| {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&v);
        Digest(d)
    };
    for _ in 0..256 {
        let Ok(action) = Action::arbitrary(&mut u) else {
            break;
        };
        let input = match action {
            Action::Tick(ms) => {
                now = now.saturating_add(u64::from(ms));
                Input::Tick { now }
            }
            Action::Raw(bytes) => match postcard::from_bytes::<Message>(&bytes) {
                Ok(msg) => Input::Message {
                    from: evil.id(),
                    msg,
                },
                Err(_) => continue,
            },
            Action::Submit(input) => {
                let op = Operation::Compute(ComputeTask {
                    kind: "fuzz".into(),
                    input,
                });
                Input::Submit(SignedOperation::sign(op, chain, 100, evil))
            }
            Action::Vote {
                phase,
                slot,
                view,
                value,
                outcomes,
            } => {
                let (slot, view, d) = (u64::from(slot % 4), u64::from(view % 8), digest(value));
                let msg = match phase % 7 {
                    0 => Message::Proposal(Signed::new(
                        Proposal {
                            slot,
                            view,
                            parent: d,
                            batch: vec![],
                            evidence: vec![],
                            absences: vec![],
                        },
                        evil,
                    )),
                    1 => Message::Commit(Signed::new(
                        Commit {
                            slot,
                            view,
                            batch: d,
                            commitment: d,
                        },
                        evil,
                    )),
                    2 => Message::Reveal(Signed::new(
                        Reveal {
                            slot,
                            view,
                            batch: d,
                            outcomes: outcomes.into_iter().map(Outcome::Accepted).collect(),
                            salt: d,
                        },
                        evil,
                    )),
                    3 => Message::Accept(Signed::new(
                        Accept {
                            slot,
                            view,
                            value: d,
                        },
                        evil,
                    )),
                    4 => Message::Confirm(Signed::new(
                        Confirm {
                            slot,
                            view,
                            value: d,
                        },
                        evil,
                    )),
                    5 => Message::ViewChange(Box::new(Signed::new(
                        ViewChange {
                            slot,
                            new_view: view,
                            prepared: None,
                        },
                        evil,
                    ))),
                    _ => Message::Attest(Box::new(Signed::new(
                        spore_core::consensus::absence::Attest {
                            slot,
                            value: d,
                            silent: vec![keys[(view % 3) as usize].id()],
                            unrevealed: vec![],
                        },
                        evil,
                    ))),
                };
                Input::Message {
                    from: evil.id(),
                    msg,
                }
            }
        };
        let _ = node.handle(input);
        let f = node.footprint();
        let c = Config::default();
        assert!(f.mempool <= c.mempool_limit && f.mempool_bytes <= c.mempool_bytes);
        assert!(f.future <= c.future_buffer);
        // Four signers at most (the fixture's members): each within its share.
        let members = keys.len();
        assert!(f.future <= members * spore_core::consensus::FUTURE_PER_SIGNER);
        assert!(f.future_bytes <= members * spore_core::consensus::FUTURE_BYTES_PER_SIGNER);
        // Votes remembered: at most one per signer, phase and view, views from the slot's
        // first to `SEEN_VIEWS` above the node's current one.
        let views = usize::try_from(
            node.view()
                .saturating_add(spore_core::consensus::SEEN_VIEWS),
        )
        .unwrap_or(usize::MAX)
        .saturating_add(1);
        assert!(f.seen_votes <= members.saturating_mul(9).saturating_mul(views));
        assert!(f.evidence <= spore_core::consensus::MAX_PENDING_EVIDENCE);
        assert!(f.view_change_views <= spore_core::consensus::MAX_VIEW_CHANGE_VIEWS);
        assert!(f.prepared_tallies <= spore_core::consensus::MAX_PREPARED_TALLIES);
    }
}

/// Seeds of every target: real encodings of the inputs it decodes.
pub fn seed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let (keys, state) = fixture();
    let chain = state.genesis_digest();
    let op = crate::modules::samples::compute_op();
    let signed = SignedOperation::sign(op.clone(), chain, 100, &keys[0]);
    let accept = |v: u8| {
        Message::Accept(Signed::new(
            Accept {
                slot: 0,
                view: 0,
                value: Digest([v; 32]),
            },
            &keys[3],
        ))
    };
    let proof = Misbehaviour::conflicting(&accept(1), &accept(2));
    let mut out = vec![
        ("wire", canonical_bytes(&Wire::Consensus(accept(1)))),
        (
            "wire",
            canonical_bytes(&Wire::ModuleRequest {
                hash: Digest([5; 32]),
                offset: 0,
            }),
        ),
        (
            "wire",
            canonical_bytes(&Wire::ModulePart {
                hash: Digest([6; 32]),
                total: 4,
                offset: 0,
                bytes: vec![0, b'a', b's', b'm'],
            }),
        ),
        (
            "wire",
            canonical_bytes(&Wire::Consensus(Message::Submit(vec![
                signed.clone(),
                signed.clone(),
            ]))),
        ),
        (
            "client",
            canonical_bytes(&Request::Submit {
                op: signed.clone(),
                follow: true,
            }),
        ),
        ("client", canonical_bytes(&Request::Status)),
        ("operation", canonical_bytes(&op)),
        ("operation", canonical_bytes(&signed)),
        ("store", canonical_bytes(&accept(3))),
        ("node", vec![0u8; 64]),
        ("module", spore_artifacts::HOSTILE_LOOP.bytes.to_vec()),
        // A component instantiating core module index 2^32 - 1, none being defined.
        (
            "module",
            vec![
                0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x02, 0x08, 0x01, 0x00, 0xff, 0xff,
                0xff, 0xff, 0x0f, 0x00,
            ],
        ),
        ("node", (0..=255u8).collect()),
    ];
    if let Some(p) = proof {
        out.push(("evidence", p.encode()));
        out.push((
            "wire",
            canonical_bytes(&Wire::Consensus(Message::Evidence(Box::new(p)))),
        ));
    }
    out
}

/// Run `target` over `seeds` and `mutations` deterministic mutations of them (bit flips,
/// truncations, insertions, random bytes): what `cargo test` runs of every target.
pub fn run_bounded(target: fn(&[u8]), seeds: &[Vec<u8>], mutations: usize, seed: u64) {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for s in seeds {
        target(s);
    }
    for _ in 0..mutations {
        let mut bytes = if seeds.is_empty() || next() % 4 == 0 {
            (0..next() % 512).map(|_| next() as u8).collect()
        } else {
            seeds[(next() % seeds.len() as u64) as usize].clone()
        };
        for _ in 0..=(next() % 4) {
            let len = bytes.len();
            match next() % 4 {
                0 if len > 0 => bytes[(next() % len as u64) as usize] ^= 1 << (next() % 8),
                1 if len > 0 => bytes.truncate((next() % len as u64) as usize),
                2 => bytes.insert((next() % (len as u64 + 1)) as usize, next() as u8),
                _ => bytes.extend((0..next() % 16).map(|_| next() as u8)),
            }
        }
        target(&bytes);
    }
}
