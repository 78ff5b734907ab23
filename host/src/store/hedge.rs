//! Hedged requests: ask providers one after another, asking the next too while the one
//! asked last is slower than its delay, and take the first answer that succeeds.
//!
//! Every read that races providers (a chunk, a manifest) goes through [`race`], so the
//! launch order, the hedge timer and failover after an error are written once.

use std::future::Future;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

/// The attempt that succeeded.
#[derive(Debug)]
pub(crate) struct Won<T> {
    /// What it returned.
    pub(crate) value: T,
    /// The provider (an index into the store's replicas).
    pub(crate) replica: usize,
    /// Its position in the order asked: 0 for the first provider asked.
    pub(crate) position: usize,
}

/// An attempt that failed, and which provider made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failed<E> {
    /// The provider (an index into the store's replicas).
    pub(crate) replica: usize,
    /// Why it failed.
    pub(crate) error: E,
}

/// What a race ended with: the first success, if any, and every attempt that failed
/// before it (in the order they failed). Attempts still in flight when one succeeded are
/// dropped and appear in neither.
#[derive(Debug)]
pub(crate) struct Raced<T, E> {
    /// The first attempt that succeeded; `None` when every provider failed.
    pub(crate) won: Option<Won<T>>,
    /// The attempts that failed.
    pub(crate) failed: Vec<Failed<E>>,
}

/// Asks the providers in `order` (indices into the store's replicas) through `attempt`,
/// one at a time: the next is asked when the one before failed, or, while it has not
/// answered, once `delay` for the provider asked last has passed (`None`: never hedge,
/// wait for its answer). The first success ends the race; the attempts still running
/// are dropped (a replica's driver call finishes on the blocking pool regardless and
/// still reports its outcome to the provider's health).
pub(crate) async fn race<T, E, Fut>(
    order: &[usize],
    delay: impl Fn(usize) -> Option<Duration>,
    mut attempt: impl FnMut(usize) -> Fut,
) -> Raced<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut failed = Vec::new();
    let mut in_flight = FuturesUnordered::new();
    let mut launched = 0;
    let mut launch = |launched: &mut usize, in_flight: &mut FuturesUnordered<_>| {
        let position = *launched;
        let replica = order[position];
        *launched += 1;
        let answer = attempt(replica);
        in_flight.push(async move { (position, answer.await) });
    };
    while launched < order.len() || !in_flight.is_empty() {
        if in_flight.is_empty() {
            launch(&mut launched, &mut in_flight);
        }
        let last = order[launched - 1];
        let hedge = async {
            match delay(last) {
                Some(delay) if launched < order.len() => tokio::time::sleep(delay).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            // An answer already in hand beats asking one more provider.
            biased;
            Some((position, answer)) = in_flight.next() => match answer {
                Ok(value) => {
                    return Raced {
                        won: Some(Won { value, replica: order[position], position }),
                        failed,
                    }
                }
                Err(error) => failed.push(Failed { replica: order[position], error }),
            },
            () = hedge => {
                tracing::debug!(replica = last, "slow provider; hedging with the next");
                launch(&mut launched, &mut in_flight);
            }
        }
    }
    Raced { won: None, failed }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// How each provider answers. No test depends on how fast anything runs: a hedge
    /// either cannot fire (no delay, or an hour) or is the only way forward.
    #[derive(Clone, Copy)]
    enum Answer {
        Ok,
        Err,
        /// Fails once the given provider has been asked too.
        ErrOnceAsked(usize),
        /// Succeeds once the given provider has been asked too.
        OkOnceAsked(usize),
        Never,
    }

    const HOUR: Option<Duration> = Some(Duration::from_secs(3600));
    const SOON: Option<Duration> = Some(Duration::from_millis(1));

    async fn run(
        answers: &[Answer],
        order: &[usize],
        delay: Option<Duration>,
    ) -> (Raced<usize, String>, Vec<usize>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let raced = race(
            order,
            |_| delay,
            |replica| {
                asked.lock().unwrap().push(replica);
                let answer = answers[replica];
                let asked = asked.clone();
                async move {
                    let wait_for = |other: usize| async move {
                        while !asked.lock().unwrap().contains(&other) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    };
                    match answer {
                        Answer::Ok => Ok(replica),
                        Answer::Err => Err(format!("{replica} failed")),
                        Answer::ErrOnceAsked(other) => {
                            wait_for(other).await;
                            Err(format!("{replica} failed"))
                        }
                        Answer::OkOnceAsked(other) => {
                            wait_for(other).await;
                            Ok(replica)
                        }
                        Answer::Never => std::future::pending().await,
                    }
                }
            },
        )
        .await;
        let asked = asked.lock().unwrap().clone();
        (raced, asked)
    }

    #[tokio::test]
    async fn a_first_provider_that_answers_is_the_only_one_asked() {
        let answers = [Answer::Ok, Answer::Ok];
        let (raced, asked) = run(&answers, &[0, 1], HOUR).await;
        let won = raced.won.unwrap();
        assert_eq!((won.value, won.replica, won.position), (0, 0, 0));
        assert!(raced.failed.is_empty());
        assert_eq!(asked, vec![0]);
    }

    #[tokio::test]
    async fn a_provider_that_never_answers_is_hedged_and_the_next_answer_wins() {
        let answers = [Answer::Never, Answer::Ok, Answer::Ok];
        let (raced, asked) = run(&answers, &[0, 1, 2], SOON).await;
        let won = raced.won.unwrap();
        assert_eq!((won.replica, won.position), (1, 1));
        assert!(
            raced.failed.is_empty(),
            "the black hole was dropped, not failed"
        );
        assert_eq!(asked, vec![0, 1], "the third was never needed");
    }

    #[tokio::test]
    async fn failures_fail_over_in_order_and_are_reported_with_their_provider() {
        let answers = [Answer::Err, Answer::Ok, Answer::Err];
        let (raced, asked) = run(&answers, &[2, 0, 1], None).await;
        let won = raced.won.unwrap();
        assert_eq!((won.replica, won.position), (1, 2));
        assert_eq!(asked, vec![2, 0, 1]);
        let failed = |replica: usize| Failed {
            replica,
            error: format!("{replica} failed"),
        };
        assert_eq!(raced.failed, vec![failed(2), failed(0)]);
    }

    #[tokio::test]
    async fn without_a_delay_a_provider_is_waited_for() {
        // The first answers only once the second was asked, which never happens
        // without a hedge: a hedge here would end the test with the wrong winner.
        let answers = [Answer::OkOnceAsked(0), Answer::Ok];
        let (raced, asked) = run(&answers, &[0, 1], None).await;
        assert_eq!(raced.won.unwrap().replica, 0);
        assert_eq!(asked, vec![0]);
    }

    #[tokio::test]
    async fn when_every_provider_fails_each_failure_is_reported() {
        // The first fails only after the hedge asked the second, which fails at once:
        // both are in flight together, and which failure lands first is up to the
        // scheduler, so only the set is checked.
        let answers = [Answer::ErrOnceAsked(1), Answer::Err];
        let (raced, asked) = run(&answers, &[0, 1], SOON).await;
        assert!(raced.won.is_none());
        assert_eq!(asked, vec![0, 1]);
        let mut failed: Vec<usize> = raced.failed.iter().map(|f| f.replica).collect();
        failed.sort_unstable();
        assert_eq!(failed, vec![0, 1]);
    }

    #[tokio::test]
    async fn no_provider_means_no_winner_and_no_failure() {
        let (raced, asked) = run(&[], &[], SOON).await;
        assert!(raced.won.is_none() && raced.failed.is_empty() && asked.is_empty());
    }
}
