//! The catalogue of Byzantine behaviours a scenario can assign to its faulty nodes.

use std::fmt;
use std::str::FromStr;

use crate::sim::rng::SimRng;

/// A Byzantine behaviour, or a rule for choosing one per faulty node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Behaviour {
    /// No faults: every node is honest (the `f` faulty slots stay empty).
    Honest,
    /// Sends nothing at all.
    Silent,
    /// Runs the protocol faithfully but reports a wrong validator result.
    WrongResult,
    /// Sends different commits and reveals to different peers.
    Equivocator,
    /// Reveals a result that does not open its commitment.
    BadReveal,
    /// Copies another node's revealed result instead of computing its own.
    Copycat,
    /// Replays old messages, its own and others'.
    Replayer,
    /// Forges signatures and impersonates other nodes.
    Forger,
    /// As primary, proposes different batches to different nodes.
    ConflictingProposer,
    /// Runs two copies of itself with the same key (after the Twins paper).
    Twins,
    /// Submits (and as primary proposes) exclusions of honest peers with forged evidence.
    ForgedExclusion,
    /// Submits admissions of made-up keys with missing or forged sponsorships.
    SybilFlood,
    /// Submits governance operations it holds no role for.
    AnonymousGovernor,
    /// Equivocates once, then replays the proof to get the act punished again.
    EvidenceReplayer,
    /// Re-submits and re-proposes operations that were already decided.
    OpReplayer,
    /// As primary, leaves a victim's reveal (or commit and reveal) out of its tallies and
    /// keeps proposals from it, to frame it as absent.
    OmittingPrimary,
    /// Reports wrong results and, as primary, tallies without the honest quorum so the
    /// resolver decides.
    SteeringPrimary,
    /// Never computes: commits to a copy of results it saw revealed (in the same view,
    /// late, or in a later view) and reveals them.
    LateCopycat,
    /// Keeps one client's operations out of its mempool (and so out of its proposals),
    /// deciding everyone else's.
    Censor,
    /// Each faulty node picks one of the behaviours above by seed.
    #[default]
    Mixed,
    /// A coalition of more than f members, each running two copies that each talk to one
    /// half of the honest members: both halves reach quorums and the log forks. Not in
    /// `FAULTY` or `mixed` (it needs more than f faulty members): every honest node must
    /// detect the fork and halt with a proof naming the coalition.
    Forker,
}

impl Behaviour {
    /// Every concrete faulty behaviour (not `Honest`, not `Mixed`): the eighteen above.
    pub const FAULTY: [Behaviour; 18] = [
        Behaviour::Silent,
        Behaviour::WrongResult,
        Behaviour::Equivocator,
        Behaviour::BadReveal,
        Behaviour::Copycat,
        Behaviour::Replayer,
        Behaviour::Forger,
        Behaviour::ConflictingProposer,
        Behaviour::Twins,
        Behaviour::ForgedExclusion,
        Behaviour::SybilFlood,
        Behaviour::AnonymousGovernor,
        Behaviour::EvidenceReplayer,
        Behaviour::OpReplayer,
        Behaviour::OmittingPrimary,
        Behaviour::SteeringPrimary,
        Behaviour::LateCopycat,
        Behaviour::Censor,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Honest => "honest",
            Behaviour::Silent => "silent",
            Behaviour::WrongResult => "wrong-result",
            Behaviour::Equivocator => "equivocator",
            Behaviour::BadReveal => "bad-reveal",
            Behaviour::Copycat => "copycat",
            Behaviour::Replayer => "replayer",
            Behaviour::Forger => "forger",
            Behaviour::ConflictingProposer => "conflicting-proposer",
            Behaviour::Twins => "twins",
            Behaviour::ForgedExclusion => "forged-exclusion",
            Behaviour::SybilFlood => "sybil-flood",
            Behaviour::AnonymousGovernor => "anonymous-governor",
            Behaviour::EvidenceReplayer => "evidence-replayer",
            Behaviour::OpReplayer => "op-replayer",
            Behaviour::OmittingPrimary => "omitting-primary",
            Behaviour::SteeringPrimary => "steering-primary",
            Behaviour::LateCopycat => "late-copycat",
            Behaviour::Censor => "censor",
            Behaviour::Mixed => "mixed",
            Behaviour::Forker => "forker",
        }
    }

    /// The concrete behaviour of one faulty node: itself, or for `Mixed` one drawn from `rng`.
    pub fn pick(self, rng: &mut SimRng) -> Behaviour {
        match self {
            Behaviour::Mixed => Behaviour::FAULTY[rng.index(Behaviour::FAULTY.len())],
            other => other,
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let all = [Behaviour::Honest, Behaviour::Mixed, Behaviour::Forker]
            .into_iter()
            .chain(Behaviour::FAULTY);
        for b in all {
            if b.name() == norm {
                return Ok(b);
            }
        }
        let names: Vec<&str> = [Behaviour::Honest, Behaviour::Mixed, Behaviour::Forker]
            .into_iter()
            .chain(Behaviour::FAULTY)
            .map(Behaviour::name)
            .collect();
        Err(format!(
            "unknown behaviour {s:?}; expected one of: {}",
            names.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_rejected() {
        for b in Behaviour::FAULTY
            .into_iter()
            .chain([Behaviour::Honest, Behaviour::Mixed])
        {
            assert_eq!(b.name().parse::<Behaviour>(), Ok(b));
        }
        assert_eq!("bad_reveal".parse::<Behaviour>(), Ok(Behaviour::BadReveal));
        assert_eq!(
            "Sybil_Flood".parse::<Behaviour>(),
            Ok(Behaviour::SybilFlood)
        );
        assert!("sneaky".parse::<Behaviour>().is_err());
    }

    #[test]
    fn mixed_picks_every_faulty_behaviour_eventually() {
        let mut rng = SimRng::new(11);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let b = Behaviour::Mixed.pick(&mut rng);
            assert!(Behaviour::FAULTY.contains(&b));
            seen.insert(b);
        }
        assert_eq!(seen.len(), Behaviour::FAULTY.len());
        assert_eq!(Behaviour::Forger.pick(&mut rng), Behaviour::Forger);
    }
}
