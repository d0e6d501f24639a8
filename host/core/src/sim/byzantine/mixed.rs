//! Byzantine participants of mixed behaviours: each faulty identity of a `mixed` scenario
//! picks one concrete behaviour by seed.

use super::Behaviour;
use crate::sim::rng::SimRng;

/// The concrete behaviour of each of `f` faulty identities under `behaviour` (`Mixed`
/// draws each from [`Behaviour::FAULTY`]; any other behaviour is used for all of them).
pub fn assign(behaviour: Behaviour, f: usize, rng: &mut SimRng) -> Vec<Behaviour> {
    (0..f).map(|_| behaviour.pick(rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_behaviours_are_uniform_and_mixed_varies_by_seed() {
        let mut rng = SimRng::new(1);
        assert_eq!(
            assign(Behaviour::Forger, 3, &mut rng),
            vec![Behaviour::Forger; 3]
        );
        let a = assign(Behaviour::Mixed, 8, &mut SimRng::new(2));
        let b = assign(Behaviour::Mixed, 8, &mut SimRng::new(3));
        assert_eq!(a, assign(Behaviour::Mixed, 8, &mut SimRng::new(2)));
        assert_ne!(a, b);
    }
}
