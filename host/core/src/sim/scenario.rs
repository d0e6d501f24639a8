//! One simulated scenario: cluster size, faults, network conditions, workload and seed.
//!
//! # Design
//! A [`Scenario`] is plain data; together with its seed it determines a run completely.
//! [`Scenario::net_config`] derives the network model: with no loss and no partition the
//! network is synchronous from time zero (bounded delay, exactly-once delivery); otherwise
//! it is hostile until a global stabilisation time (GST) and synchronous after it.

use super::byzantine::Behaviour;
use super::network::{LinkConfig, NetConfig, Partition, Time};
use super::rng::SimRng;
use super::workload::WorkloadKind;

/// Everything that defines one simulated run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Number of distinct node identities `n`.
    pub nodes: usize,
    /// Number of Byzantine identities `f` (`n >= 3f + 1`).
    pub byzantine: usize,
    /// What the Byzantine identities do.
    pub behaviour: Behaviour,
    /// The seed every random choice is drawn from.
    pub seed: u64,
    /// Probability (parts per million) that a message is lost before GST.
    pub drop_ppm: u32,
    /// Probability (ppm) that a message is duplicated before GST (asynchronous runs only).
    pub duplicate_ppm: u32,
    /// Probability (ppm) that a message is held back (reordered) before GST (asynchronous
    /// runs only).
    pub reorder_ppm: u32,
    /// Split the cluster in two before GST, healing before it.
    pub partition: bool,
    /// Crash and restart one honest node before GST (asynchronous runs only).
    pub crash_restart: bool,
    /// Operations the clients submit.
    pub operations: usize,
    /// Which operations they are.
    pub workload: WorkloadKind,
    /// Largest batch per slot (1 = no batching).
    pub max_batch: usize,
    /// Smallest one-way message delay (ms).
    pub min_delay: Time,
    /// Largest one-way message delay (ms), before and after GST (Δ).
    pub max_delay: Time,
    /// GST of an asynchronous run (ms of virtual time).
    pub gst: Time,
    /// How long after GST every operation must be decided or escalated (ms).
    pub liveness_window: Time,
    /// DELIBERATELY UNSAFE (simulator self-check): any `k` eligible signers form a quorum.
    pub broken_quorum: Option<usize>,
    /// DELIBERATELY UNSAFE (simulator self-check): honest nodes order operations without
    /// the host's authorisation check (signatures, roles, sponsors, proofs, budgets).
    pub unauthorized: bool,
    /// DELIBERATELY UNSAFE (control of the absence rule): honest nodes attest absence the
    /// moment they decide a slot instead of listening first, so an honest member whose
    /// voice arrives a little later is attested absent.
    pub hasty_attest: bool,
    /// DELIBERATELY UNSAFE (control of the omission rule): honest nodes accept a tally
    /// whose decisions follow the rules without checking the reveals it leaves out.
    pub unchecked_omission: bool,
    /// DELIBERATELY UNSAFE (control of sealing): no commit set; honest nodes reveal on
    /// any quorum of commits and count every commit that arrives before the tally.
    pub unsealed: bool,
    /// DELIBERATELY UNSAFE (control of fork detection): honest nodes neither compare
    /// certified entries nor probe a differing history.
    pub blind_to_forks: bool,
    /// DELIBERATELY UNSAFE (control of the recovery): the honest nodes keep the entries of
    /// the abandoned history when they recover, so no checkpoint holds for them.
    pub keep_abandoned: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            nodes: 4,
            byzantine: 1,
            behaviour: Behaviour::Mixed,
            seed: 0,
            drop_ppm: 0,
            duplicate_ppm: 20_000,
            reorder_ppm: 50_000,
            partition: false,
            crash_restart: true,
            operations: 14,
            workload: WorkloadKind::Mixed,
            max_batch: 4,
            min_delay: 1,
            max_delay: 20,
            gst: 3_000,
            liveness_window: 120_000,
            broken_quorum: None,
            unauthorized: false,
            hasty_attest: false,
            unchecked_omission: false,
            unsealed: false,
            blind_to_forks: false,
            keep_abandoned: false,
        }
    }
}

impl Scenario {
    /// Check the parameters: `n >= 3f + 1`, at least one node, a batch of at least one, and
    /// sane delays.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("a scenario needs at least one node".into());
        }
        if self.behaviour == Behaviour::Forker {
            if self.byzantine == 0 || self.nodes < self.byzantine + 2 {
                return Err(
                    "a forker coalition needs at least one forker and two honest nodes".into(),
                );
            }
        } else if self.nodes < 3 * self.byzantine + 1 {
            return Err(format!(
                "{} Byzantine nodes need at least {} nodes (n >= 3f + 1), got {}",
                self.byzantine,
                3 * self.byzantine + 1,
                self.nodes
            ));
        }
        if self.max_batch == 0 {
            return Err("the batch size must be at least 1".into());
        }
        if self.min_delay > self.max_delay {
            return Err("min_delay must not exceed max_delay".into());
        }
        #[cfg(not(any(test, feature = "broken-quorum")))]
        if self.broken_quorum.is_some()
            || self.unauthorized
            || self.hasty_attest
            || self.unchecked_omission
            || self.unsealed
            || self.blind_to_forks
            || self.keep_abandoned
        {
            return Err("the broken rules need the `broken-quorum` feature".into());
        }
        if self.behaviour == Behaviour::Twins && self.byzantine == 0 {
            return Err("twins needs at least one Byzantine identity".into());
        }
        Ok(())
    }

    /// Whether the network is synchronous for the whole run (no loss, no partition).
    pub fn is_synchronous(&self) -> bool {
        self.drop_ppm == 0 && !self.partition
    }

    /// The GST of this run: 0 if synchronous.
    pub fn effective_gst(&self) -> Time {
        if self.is_synchronous() { 0 } else { self.gst }
    }

    /// The network model, given the number of endpoints and a generator for the partition.
    pub fn net_config(&self, endpoints: usize, rng: &mut SimRng) -> NetConfig {
        if self.is_synchronous() {
            let mut cfg = NetConfig::synchronous(self.max_delay);
            cfg.link.min_delay = self.min_delay;
            return cfg;
        }
        let partition = self.partition.then(|| {
            let mut sides: Vec<u8> = (0..endpoints).map(|i| u8::from(i % 2 == 1)).collect();
            rng.shuffle(&mut sides);
            let start = rng.below(self.gst / 3);
            let heal_at = start + self.gst / 3 + rng.below(self.gst / 3);
            Partition {
                sides,
                start,
                heal_at: heal_at.min(self.gst),
                hold: false,
            }
        });
        NetConfig {
            link: LinkConfig {
                min_delay: self.min_delay,
                max_delay: self.max_delay,
                drop_ppm: self.drop_ppm,
                duplicate_ppm: self.duplicate_ppm,
                reorder_ppm: self.reorder_ppm,
                reorder_extra: 10 * self.max_delay,
            },
            gst: self.gst,
            gst_max_delay: self.max_delay,
            partition,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_enforces_bft_bounds() {
        assert!(Scenario::default().validate().is_ok());
        let bad = Scenario {
            nodes: 6,
            byzantine: 2,
            ..Scenario::default()
        };
        assert!(bad.validate().is_err());
        let ok = Scenario {
            nodes: 7,
            byzantine: 2,
            ..Scenario::default()
        };
        assert!(ok.validate().is_ok());
        assert!(
            Scenario {
                max_batch: 0,
                ..Scenario::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn synchrony_depends_on_loss_and_partition() {
        let mut rng = SimRng::new(1);
        let sync = Scenario::default();
        assert!(sync.net_config(4, &mut rng).is_synchronous());
        let lossy = Scenario {
            drop_ppm: 100_000,
            ..Scenario::default()
        };
        let cfg = lossy.net_config(4, &mut rng);
        assert!(!cfg.is_synchronous());
        assert_eq!(cfg.gst, lossy.gst);
        let split = Scenario {
            partition: true,
            ..Scenario::default()
        };
        let cfg = split.net_config(5, &mut rng);
        let p = cfg
            .partition
            .as_ref()
            .map(|p| (p.sides.len(), p.heal_at <= cfg.gst));
        assert_eq!(p, Some((5, true)));
    }
}
