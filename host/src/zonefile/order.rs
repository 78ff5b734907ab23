//! The order a client tries URI records in (RFC 7553 §4.5, after RFC 2782).

use super::record::UriRecord;

/// Indices into `records` in the order to try them: lowest priority first; among equal
/// priorities, a weighted random order of those with a weight above zero (a record with
/// twice the weight is twice as likely to come first), then the weight-0 records in file
/// order, as they are meant only for when nothing else answers.
///
/// `random(n)` must return a number in `0..n`; tests pass a fixed sequence.
pub fn order_uri_records(records: &[&UriRecord], mut random: impl FnMut(u64) -> u64) -> Vec<usize> {
    let mut by_priority: Vec<usize> = (0..records.len()).collect();
    by_priority.sort_by_key(|&i| records[i].priority);
    let mut order = Vec::with_capacity(records.len());
    for group in by_priority.chunk_by(|&a, &b| records[a].priority == records[b].priority) {
        let (mut weighted, zero): (Vec<usize>, Vec<usize>) =
            group.iter().partition(|&&i| records[i].weight > 0);
        while !weighted.is_empty() {
            let total: u64 = weighted.iter().map(|&i| u64::from(records[i].weight)).sum();
            // Clamp so a bad generator cannot make us index out of range.
            let mut pick = random(total).min(total - 1);
            let position = weighted
                .iter()
                .position(|&i| {
                    let weight = u64::from(records[i].weight);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(priority: u16, weight: u16) -> UriRecord {
        UriRecord {
            priority,
            weight,
            target: format!("x://{priority}/{weight}"),
        }
    }

    #[test]
    fn lowest_priority_first_weight_zero_last() {
        let records = [uri(20, 1), uri(10, 0), uri(10, 5), uri(5, 1)];
        let refs: Vec<&UriRecord> = records.iter().collect();
        assert_eq!(order_uri_records(&refs, |_| 0), [3, 2, 1, 0]);
    }

    #[test]
    fn weighted_choice_follows_the_random_draw() {
        let records = [uri(10, 1), uri(10, 3)];
        let refs: Vec<&UriRecord> = records.iter().collect();
        // Draws below the first weight pick the first record, the rest the second.
        assert_eq!(order_uri_records(&refs, |_| 0), [0, 1]);
        assert_eq!(order_uri_records(&refs, |_| 1), [1, 0]);
        assert_eq!(order_uri_records(&refs, |_| 3), [1, 0]);
        assert_eq!(
            order_uri_records(&refs, |n| n * 10),
            [1, 0],
            "out-of-range draws are clamped"
        );
    }

    #[test]
    fn weights_set_the_odds() {
        let records = [uri(10, 1), uri(10, 3)];
        let refs: Vec<&UriRecord> = records.iter().collect();
        let mut state = 0u64;
        let mut firsts = [0usize; 2];
        for _ in 0..4000 {
            let first = order_uri_records(&refs, |n| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) % n
            })[0];
            firsts[first] += 1;
        }
        // Expect about 1000 : 3000.
        assert!((800..1200).contains(&firsts[0]), "{firsts:?}");
    }
}
