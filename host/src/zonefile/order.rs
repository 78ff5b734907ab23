//! The order a client tries URI records in (RFC 7553 §4.5), by the one rule every
//! provider list follows: [`crate::provider_order`].

use super::record::UriRecord;
use crate::provider_order::{rfc7553_order, Rank};

/// Indices into `records` in the order to try them: lowest priority first; among equal
/// priorities, a weighted random order of those with a weight above zero, then the
/// weight-0 records in file order.
///
/// `random(n)` must return a number in `0..n`; tests pass a fixed sequence.
pub fn order_uri_records(records: &[&UriRecord], random: impl FnMut(u64) -> u64) -> Vec<usize> {
    let ranks: Vec<Rank> = records
        .iter()
        .map(|r| Rank {
            priority: r.priority,
            weight: r.weight,
        })
        .collect();
    rfc7553_order(&ranks, random)
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
    fn records_are_ordered_by_priority_then_weight() {
        let records = [uri(20, 1), uri(10, 0), uri(10, 5), uri(5, 1)];
        let refs: Vec<&UriRecord> = records.iter().collect();
        assert_eq!(order_uri_records(&refs, |_| 0), [3, 2, 1, 0]);
        let records = [uri(10, 1), uri(10, 3)];
        let refs: Vec<&UriRecord> = records.iter().collect();
        assert_eq!(order_uri_records(&refs, |_| 1), [1, 0]);
    }
}
