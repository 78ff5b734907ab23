//! The order providers are tried in, one rule for config providers and zone-file URI
//! records alike: RFC 7553 §4.5 (after RFC 2782). Lowest priority first; among equal
//! priorities a weighted random order, so a provider with twice the weight comes first
//! twice as often, and weight-0 providers last, for when nothing else answers.

/// A provider's place in the order: its priority and its share among equal priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among equal priorities; 0 means "only when no other answers".
    pub weight: u16,
}

/// Indices into `ranks` in the order to try them; weight-0 entries keep their given
/// order at the end of their priority.
///
/// `random(n)` must return a number in `0..n` (out-of-range draws are clamped); tests
/// pass a seeded or fixed sequence.
pub fn rfc7553_order(ranks: &[Rank], mut random: impl FnMut(u64) -> u64) -> Vec<usize> {
    let mut by_priority: Vec<usize> = (0..ranks.len()).collect();
    by_priority.sort_by_key(|&i| ranks[i].priority);
    let mut order = Vec::with_capacity(ranks.len());
    for group in by_priority.chunk_by(|&a, &b| ranks[a].priority == ranks[b].priority) {
        let (mut weighted, zero): (Vec<usize>, Vec<usize>) =
            group.iter().partition(|&&i| ranks[i].weight > 0);
        while !weighted.is_empty() {
            let total: u64 = weighted.iter().map(|&i| u64::from(ranks[i].weight)).sum();
            // Clamp so a bad generator cannot make us index out of range.
            let mut pick = random(total).min(total - 1);
            let position = weighted
                .iter()
                .position(|&i| {
                    let weight = u64::from(ranks[i].weight);
                    if pick < weight {
                        true
                    } else {
                        pick -= weight;
                        false
                    }
                })
                .expect("pick is below the total weight");
            order.push(weighted.remove(position));
        }
        order.extend(zero);
    }
    order
}

/// [`rfc7553_order`] with the thread's random generator.
pub fn rfc7553_order_random(ranks: &[Rank]) -> Vec<usize> {
    rfc7553_order(ranks, thread_draws())
}

/// Draws in `0..n` from the thread's random generator, for [`rfc7553_order`].
pub fn thread_draws() -> impl FnMut(u64) -> u64 {
    use secp256k1::rand::Rng;
    let mut rng = secp256k1::rand::rng();
    move |n| rng.random_range(0..n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(priority: u16, weight: u16) -> Rank {
        Rank { priority, weight }
    }

    /// A seeded linear congruential generator: the same draws on every run.
    fn seeded(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        }
    }

    #[test]
    fn lowest_priority_first_weight_zero_last() {
        let ranks = [rank(20, 1), rank(10, 0), rank(10, 5), rank(5, 1)];
        assert_eq!(rfc7553_order(&ranks, |_| 0), [3, 2, 1, 0]);
    }

    #[test]
    fn weighted_choice_follows_the_draw_and_clamps_bad_draws() {
        let ranks = [rank(10, 1), rank(10, 3)];
        assert_eq!(rfc7553_order(&ranks, |_| 0), [0, 1]);
        assert_eq!(rfc7553_order(&ranks, |_| 1), [1, 0]);
        assert_eq!(rfc7553_order(&ranks, |_| 3), [1, 0]);
        assert_eq!(rfc7553_order(&ranks, |n| n * 10), [1, 0]);
    }

    #[test]
    fn weights_set_the_odds_with_a_seeded_generator() {
        let ranks = [rank(10, 1), rank(10, 99), rank(10, 0)];
        let mut random = seeded(7);
        let mut firsts = [0usize; 3];
        for _ in 0..10_000 {
            firsts[rfc7553_order(&ranks, &mut random)[0]] += 1;
        }
        // Expect about 100 : 9900 : 0; ignoring weights would give 5000 : 5000 (in file
        // order) or a third each (shuffled).
        assert!((50..200).contains(&firsts[0]), "{firsts:?}");
        assert_eq!(firsts[2], 0, "weight 0 never comes first: {firsts:?}");
    }

    #[test]
    fn the_thread_generator_reads_weights_too() {
        let ranks = [rank(10, 1), rank(10, 99)];
        let heavy_first = (0..2000)
            .filter(|_| rfc7553_order_random(&ranks)[0] == 1)
            .count();
        // Binomial(2000, 0.99): mean 1980, sd about 4.5; 1900 is 17 sd away.
        assert!(heavy_first > 1900, "{heavy_first}");
    }
}
