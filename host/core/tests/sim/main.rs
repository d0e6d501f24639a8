//! Seeded simulation scenarios of the consensus core: every Byzantine behaviour and Twins,
//! for n in {4, 7, 10}, over a synchronous network, a lossy one and a partitioned one.
//!
//! # Layout
//! - `n4_*`, `n7_*`, `n10_*`: sweeps of [`Behaviour::FAULTY`] plus `mixed` and all-honest
//!   runs under three network conditions; every run must break no invariant. Together they
//!   run well over 1,000 seeded scenarios.
//! - `same_seed_same_trace`: determinism (the same seed twice gives one trace hash; other
//!   seeds give other hashes).
//! - `broken_quorum_is_caught`: the simulator is not blind — with the deliberately unsafe
//!   quorum rule it finds a safety violation.
//! - `governance_attacks_are_refused` and `unauthorized_ordering_is_caught`: every
//!   governance attacker at n = 4, 7 and 10 breaks no invariant, and with the host's
//!   authorisation switched off the same attackers make the simulator report violations of
//!   the governance invariants (the control).
//!
//! A failing run prints its scenario, its violations, where each honest node stood, and
//! the `spore simulate` command that replays it.

use spore_core::sim::{Behaviour, Report, Scenario, Violation, check_scenario, run_scenario};

/// Network conditions of a sweep: (name, drop probability in ppm, partition).
const CONDITIONS: [(&str, u32, bool); 3] = [
    ("sync", 0, false),
    ("drop", 100_000, false),
    ("partition", 50_000, true),
];

/// Every behaviour a sweep covers: each faulty one (Twins included), `mixed`, and honest.
fn behaviours() -> Vec<Behaviour> {
    Behaviour::FAULTY
        .into_iter()
        .chain([Behaviour::Mixed, Behaviour::Honest])
        .collect()
}

/// The command that replays `s` with the CLI.
fn replay(s: &Scenario) -> String {
    let mut cmd = format!(
        "spore simulate --nodes {} --byzantine {} --behaviour {} --seeds 1 --seed {} --operations {} --batch {}",
        s.nodes, s.byzantine, s.behaviour, s.seed, s.operations, s.max_batch
    );
    if s.drop_ppm > 0 {
        cmd.push_str(&format!(" --drop {}", f64::from(s.drop_ppm) / 1e6));
    }
    if s.partition {
        cmd.push_str(" --partition");
    }
    cmd
}

/// A description of a failed run.
fn describe(s: &Scenario, r: &Report) -> String {
    let mut out = format!("{s:?}\n  byzantine: {:?}\n", r.byzantine);
    for v in &r.violations {
        out.push_str(&format!("  violation: {v}\n"));
    }
    for n in &r.nodes {
        out.push_str(&format!("  {n}\n"));
    }
    out.push_str(&format!("  replay: {}\n", replay(s)));
    out
}

/// Seeds of sweep scenarios that expose a known, reported consensus bug; each one is also
/// its own (ignored) regression test, so it stays visible and runnable. None open.
const KNOWN_BUGS: [(usize, Behaviour, u64); 0] = [];

/// Regression (fixed): n = 4, one silent node, partition, an honest node restarted before
/// GST came back with its view-change backoff reset, one view ahead of the two other
/// honest nodes, and the three kept changing views in lockstep, one view apart, never
/// forming the 3-of-3 quorum. Fixed by PBFT's timer rule (the timer for view v+2 starts
/// only once a quorum asked for v+1 or later) and a backoff that follows the view number.
const N4_SILENT_RESTART_VIEW_SKEW: u64 = 4_206;

/// Run `seeds` scenarios per behaviour and condition for `n` nodes, `f` of them Byzantine;
/// fail with every broken run described.
fn sweep(n: usize, f: usize, seeds: u64) {
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut decided = 0;
    for behaviour in behaviours() {
        for (i, (_, drop_ppm, partition)) in CONDITIONS.into_iter().enumerate() {
            for k in 0..seeds {
                let seed = 1_000 * n as u64 + 100 * i as u64 + k;
                if KNOWN_BUGS.contains(&(n, behaviour, seed)) {
                    continue;
                }
                let s = Scenario {
                    nodes: n,
                    byzantine: f,
                    behaviour,
                    seed,
                    drop_ppm,
                    partition,
                    ..Scenario::default()
                };
                let r = run_scenario(&s);
                runs += 1;
                decided += r.decided_ops + r.escalated_ops;
                if !r.violations.is_empty() {
                    failures.push(describe(&s, &r));
                }
            }
        }
    }
    println!(
        "n={n} f={f}: {runs} runs, {decided} operations decided or escalated, {} failing",
        failures.len()
    );
    assert!(decided > 0, "no operation was ever decided");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs broke an invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn n4_every_behaviour_and_network() {
    sweep(4, 1, 20);
}

#[test]
fn n7_every_behaviour_and_network() {
    sweep(7, 2, 8);
}

#[test]
fn n10_every_behaviour_and_network() {
    sweep(10, 3, 4);
}

/// Remembering verified signatures changes how fast a node answers, never what: a
/// Byzantine mix (forged and equivocating votes) gives the same trace with the cache off.
#[test]
fn signature_caching_changes_no_trace() {
    let s = Scenario {
        nodes: 4,
        byzantine: 1,
        behaviour: Behaviour::Mixed,
        seed: 7,
        drop_ppm: 50_000,
        ..Scenario::default()
    };
    let cached = run_scenario(&s);
    spore_core::crypto::set_verify_caching(false);
    let uncached = run_scenario(&s);
    spore_core::crypto::set_verify_caching(true);
    assert_eq!(cached.trace_hash, uncached.trace_hash);
    assert!(cached.decided_slots > 0);
}

#[test]
fn same_seed_same_trace() {
    let mut hashes = Vec::new();
    for (behaviour, drop_ppm, partition) in [
        (Behaviour::Mixed, 100_000, false),
        (Behaviour::Twins, 50_000, true),
        (Behaviour::Replayer, 0, false),
    ] {
        let s = Scenario {
            nodes: 7,
            byzantine: 2,
            behaviour,
            seed: 42,
            drop_ppm,
            partition,
            ..Scenario::default()
        };
        let a = run_scenario(&s);
        let b = run_scenario(&s);
        assert_eq!(
            a.trace_hash, b.trace_hash,
            "{behaviour}: same seed, different traces"
        );
        assert_eq!(a.decided_slots, b.decided_slots);
        assert!(a.deliveries > 0);
        let checked = check_scenario(&s);
        assert!(checked.violations.is_empty(), "{}", describe(&s, &checked));
        let other = run_scenario(&Scenario {
            seed: 43,
            ..s.clone()
        });
        assert_ne!(
            a.trace_hash, other.trace_hash,
            "{behaviour}: the trace hash ignores the seed"
        );
        hashes.push(a.trace_hash);
    }
    hashes.dedup();
    assert_eq!(hashes.len(), 3, "different scenarios gave one trace hash");
}

#[test]
fn broken_quorum_is_caught() {
    // Any 2 of 4 eligible signers form a "quorum": the two sides of a partition can then
    // each decide a slot on their own. The simulator must notice.
    let mut caught = Vec::new();
    for seed in 0..40 {
        let s = Scenario {
            nodes: 4,
            byzantine: 1,
            behaviour: Behaviour::Mixed,
            seed,
            drop_ppm: 50_000,
            partition: true,
            broken_quorum: Some(2),
            ..Scenario::default()
        };
        let r = run_scenario(&s);
        if r.safety_violations() > 0 {
            caught.push(seed);
        }
    }
    println!("broken quorum: safety violations found in seeds {caught:?}");
    assert!(
        !caught.is_empty(),
        "the broken quorum rule went unnoticed in 40 partitioned runs"
    );
    let honest = Scenario {
        nodes: 4,
        byzantine: 1,
        seed: caught[0],
        drop_ppm: 50_000,
        partition: true,
        ..Scenario::default()
    };
    let r = run_scenario(&honest);
    assert_eq!(
        r.safety_violations(),
        0,
        "the same seed is safe with the real quorum rule:\n{}",
        describe(&honest, &r)
    );
}

/// The Byzantine actors that attack governance (signed operations, roles, sponsorship,
/// evidence and replay).
const GOVERNANCE_ATTACKERS: [Behaviour; 5] = [
    Behaviour::ForgedExclusion,
    Behaviour::SybilFlood,
    Behaviour::AnonymousGovernor,
    Behaviour::EvidenceReplayer,
    Behaviour::OpReplayer,
];

#[test]
fn governance_attacks_are_refused() {
    let mut runs = 0;
    for (n, f) in [(4, 1), (7, 2), (10, 3)] {
        for behaviour in GOVERNANCE_ATTACKERS {
            for seed in 0..6 {
                let s = Scenario {
                    nodes: n,
                    byzantine: f,
                    behaviour,
                    seed: 77_000 + seed,
                    drop_ppm: if seed % 2 == 0 { 0 } else { 50_000 },
                    ..Scenario::default()
                };
                let r = run_scenario(&s);
                runs += 1;
                assert!(r.violations.is_empty(), "{}", describe(&s, &r));
                assert!(r.decided_ops > 0, "{}", describe(&s, &r));
            }
        }
    }
    println!("governance attackers: {runs} runs, no violation");
}

#[test]
fn unauthorized_ordering_is_caught() {
    // Control of the governance invariants: the same attackers, with the host's
    // authorisation check switched off in every honest node, get forged operations
    // ordered, and the simulator must say so.
    for behaviour in [
        Behaviour::AnonymousGovernor,
        Behaviour::ForgedExclusion,
        Behaviour::SybilFlood,
    ] {
        let mut caught = 0;
        for seed in 0..8 {
            let s = Scenario {
                nodes: 4,
                byzantine: 1,
                behaviour,
                seed,
                unauthorized: true,
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            let governance = r.violations.iter().any(|v| {
                matches!(
                    v,
                    spore_core::sim::Violation::Unauthorized { .. }
                        | spore_core::sim::Violation::HonestRemoved { .. }
                )
            });
            caught += u32::from(governance);
            // The same seed with the rule on is clean.
            let on = run_scenario(&Scenario {
                unauthorized: false,
                ..s.clone()
            });
            assert!(on.violations.is_empty(), "{}", describe(&s, &on));
        }
        println!("{behaviour} with authorisation off: caught in {caught} of 8 runs");
        assert!(
            caught > 0,
            "{behaviour}: switched-off authorisation went unnoticed"
        );
    }
}

#[test]
fn provable_misbehaviour_is_slashed() {
    // Always provable once a slot runs: a reveal that does not open its commitment (also
    // what a copycat ends up sending), and votes that differ between peers. A conflicting
    // proposer acts only while it is primary, and twins only sign two different votes
    // when the copies see different things: their runs use a lossy network, so views
    // rotate and the copies drift apart, and must be caught in some runs.
    for (behaviour, every_run, drop_ppm) in [
        (Behaviour::BadReveal, true, 0),
        (Behaviour::Copycat, true, 0),
        (Behaviour::Equivocator, true, 0),
        (Behaviour::ConflictingProposer, false, 100_000),
        (Behaviour::Twins, false, 100_000),
    ] {
        let mut slashed = 0;
        let runs = 16;
        for seed in 0..runs {
            let s = Scenario {
                nodes: 4,
                byzantine: 1,
                behaviour,
                seed,
                drop_ppm,
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            assert!(r.violations.is_empty(), "{}", describe(&s, &r));
            let culprit = r.byzantine.first().map(|(id, _)| *id);
            let caught = culprit.is_some_and(|id| r.slashed_byzantine.contains(&id));
            assert!(
                caught || !every_run,
                "{behaviour} was not slashed:\n{}",
                describe(&s, &r)
            );
            slashed += u32::from(caught);
        }
        println!("{behaviour}: slashed in {slashed} of {runs} runs");
        assert!(slashed > 0, "{behaviour} was never slashed in {runs} runs");
    }
}

#[test]
fn n4f1_silent_restart_view_skew() {
    let s = Scenario {
        nodes: 4,
        byzantine: 1,
        behaviour: Behaviour::Silent,
        seed: N4_SILENT_RESTART_VIEW_SKEW,
        drop_ppm: 50_000,
        partition: true,
        ..Scenario::default()
    };
    let r = run_scenario(&s);
    assert!(r.violations.is_empty(), "{}", describe(&s, &r));
}

#[test]
fn framing_primary_cannot_penalise_honest_members() {
    // A Byzantine primary leaves its victim's reveal (or commit and reveal) out of its
    // tallies, or keeps the proposal and tally from it. On a synchronous network no
    // honest member may lose trust for absence (the invariant `HonestSlashed`); with the
    // listening rule switched off (honest nodes attest the moment they decide: the
    // control), the victim kept out of the proposal is attested absent and penalised, and
    // the simulator must say so.
    let mut caught = 0;
    let mut runs = 0;
    for (n, f) in [(4, 1), (7, 2), (10, 3)] {
        for seed in 0..6 {
            let s = Scenario {
                nodes: n,
                byzantine: f,
                behaviour: Behaviour::OmittingPrimary,
                seed: 91_000 + seed,
                operations: 30,
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            runs += 1;
            assert!(r.violations.is_empty(), "{}", describe(&s, &r));
            assert!(r.decided_ops > 0, "{}", describe(&s, &r));
            let hasty = run_scenario(&Scenario {
                hasty_attest: true,
                ..s.clone()
            });
            caught += u32::from(
                hasty
                    .violations
                    .iter()
                    .any(|v| matches!(v, spore_core::sim::Violation::HonestSlashed { .. })),
            );
        }
    }
    println!("omitting primary: {runs} runs clean; without listening caught in {caught}");
    assert!(caught > 0, "attesting without listening went unnoticed");
}

#[test]
fn steering_primary_cannot_bend_results() {
    // A Byzantine primary with wrong results tallies without the honest quorum so the
    // resolver decides. On a synchronous network every operation must still be decided
    // by the honest quorum (`NotAgreed` otherwise); with the omission rule switched off
    // (the control) the steering succeeds and the simulator must say so.
    let mut caught = 0;
    let mut runs = 0;
    for (n, f) in [(4, 1), (7, 2), (10, 3)] {
        for seed in 0..6 {
            let s = Scenario {
                nodes: n,
                byzantine: f,
                behaviour: Behaviour::SteeringPrimary,
                seed: 92_000 + seed,
                operations: 30,
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            runs += 1;
            assert!(r.violations.is_empty(), "{}", describe(&s, &r));
            assert!(r.decided_ops > 0, "{}", describe(&s, &r));
            let off = run_scenario(&Scenario {
                unchecked_omission: true,
                ..s.clone()
            });
            caught += u32::from(
                off.violations
                    .iter()
                    .any(|v| matches!(v, spore_core::sim::Violation::NotAgreed { .. })),
            );
        }
    }
    println!("steering primary: {runs} runs clean; without the omission rule caught in {caught}");
    assert!(caught > 0, "switching the omission rule off went unnoticed");
}

#[test]
fn late_copycat_never_gains_trust() {
    // A member that never computes commits to copies of revealed results, late in one
    // view or early in the next. No copied result may ever gain trust (`CopyRewarded`);
    // without the commit set (the control) its late copies are counted and rewarded,
    // and the simulator must say so.
    let mut caught = 0;
    let mut runs = 0;
    for (n, f) in [(4, 1), (7, 2), (10, 3)] {
        for seed in 0..6 {
            let s = Scenario {
                nodes: n,
                byzantine: f,
                behaviour: Behaviour::LateCopycat,
                seed: 93_000 + seed,
                operations: 30,
                drop_ppm: if seed % 2 == 0 { 0 } else { 50_000 },
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            runs += 1;
            assert!(r.violations.is_empty(), "{}", describe(&s, &r));
            assert!(r.decided_ops > 0, "{}", describe(&s, &r));
            let off = run_scenario(&Scenario {
                unsealed: true,
                ..s.clone()
            });
            caught += u32::from(
                off.violations
                    .iter()
                    .any(|v| matches!(v, spore_core::sim::Violation::CopyRewarded { .. })),
            );
        }
    }
    println!("late copycat: {runs} runs clean; without the commit set caught in {caught}");
    assert!(caught > 0, "switching the commit set off went unnoticed");
}

#[test]
fn censoring_primary_cannot_keep_an_operation_out() {
    // A member that never takes one client's operations into its mempool: as primary it
    // decides everyone else's. Every operation must still be decided (liveness).
    for (n, f) in [(4, 1), (7, 2), (10, 3)] {
        for seed in 0..4 {
            let s = Scenario {
                nodes: n,
                byzantine: f,
                behaviour: Behaviour::Censor,
                seed: 94_000 + seed,
                operations: 40,
                drop_ppm: if seed % 2 == 0 { 0 } else { 50_000 },
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            assert!(r.violations.is_empty(), "{}", describe(&s, &r));
            assert!(r.decided_ops > 0, "{}", describe(&s, &r));
        }
    }
}

#[test]
fn every_fork_is_detected_by_every_honest_node() {
    // More than f members each run two copies, one per half of the honest members: both
    // halves reach quorums and decide different values (safety is lost, as it must be
    // beyond f). Every honest node must then detect the fork and halt with a proof that
    // names at least f + 1 culprits, all of them in the coalition. With comparison and
    // probing switched off (the control) nobody notices.
    for (n, coalition) in [(4usize, 2usize), (7, 3), (10, 4)] {
        let f = (n - 1) / 3;
        let mut forked = 0;
        let mut runs = 0;
        // Whether a coalition forks depends on the seed's timing (about 40% of seeds at
        // n = 10): seeds are tried until two forked runs were checked.
        for seed in 0..12 {
            if forked == 2 {
                break;
            }
            runs += 1;
            let s = Scenario {
                nodes: n,
                byzantine: coalition,
                behaviour: Behaviour::Forker,
                seed: 95_000 + seed,
                operations: 12,
                ..Scenario::default()
            };
            let r = run_scenario(&s);
            if r.safety_violations() == 0 {
                continue;
            }
            forked += 1;
            let byzantine: Vec<_> = r.byzantine.iter().map(|(id, _)| *id).collect();
            let honest = r.nodes.len();
            assert_eq!(
                r.forks.len(),
                honest,
                "not every honest node detected the fork:\n{}",
                describe(&s, &r)
            );
            for culprits in r.forks.values() {
                assert!(culprits.len() > f, "{culprits:?}");
                assert!(
                    culprits.iter().all(|c| byzantine.contains(c)),
                    "{culprits:?}"
                );
            }
            let blind = run_scenario(&Scenario {
                blind_to_forks: true,
                ..s.clone()
            });
            assert!(blind.forks.is_empty(), "the control detected a fork");
            // Then the honest nodes recover from a checkpoint without the culprits and
            // decide again, in agreement.
            let not_recovered = |r: &Report| {
                r.violations
                    .iter()
                    .filter(|v| matches!(v, Violation::NotRecovered { .. }))
                    .count()
            };
            let (resumed, decided) = r
                .recovered
                .clone()
                .unwrap_or_else(|| panic!("no recovery after the fork:\n{}", describe(&s, &r)));
            assert_eq!(not_recovered(&r), 0, "{}", describe(&s, &r));
            assert_eq!(decided.len(), honest, "resumed at {resumed}: {decided:?}");
            assert!(decided.values().all(|d| *d > 0), "{decided:?}");
            // Control: nodes that keep the abandoned entries cannot resume from the
            // checkpoint.
            let kept = run_scenario(&Scenario {
                keep_abandoned: true,
                ..s.clone()
            });
            assert!(not_recovered(&kept) > 0, "the control recovered");
        }
        println!(
            "forker n={n}: {forked} of {runs} runs forked, every honest node halted on the \
             proof and resumed from the recovery checkpoint"
        );
        assert!(forked > 0, "the coalition never forked at n={n}");
    }
}
