//! The rollout's decision table, kept pure (no I/O, no time) so it can be tested exhaustively:
//! which host starts next, when a batch is done, and when the rollout must halt.
//!
//! Invariants it enforces, whatever order hosts finish in:
//! - at most `max_unavailable` hosts are between "backup started" and "verified" at once; a
//!   host that failed and was not rolled back stays unavailable (it is out of service), so it
//!   keeps its slot for the rest of the rollout;
//! - hosts start in plan order, a batch only after the previous one has finished;
//! - once more than `max_failed` hosts have failed, no host starts again.

use std::collections::VecDeque;

/// How a host's pipeline ended, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEnd {
    /// Upgraded and verified: back in service.
    Verified,
    /// Failed, then restored by its rollback, or failed before changing anything: back in
    /// service, but counts against the failure budget.
    Restored,
    /// Failed and still out of service (no rollback, rollback failed, unreachable).
    Broken,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// More hosts failed than `max_failed` allows.
    FailureBudget { failed: usize, allowed: usize },
    /// Broken hosts hold every `max_unavailable` slot: taking another host down would break
    /// the invariant.
    NoCapacity {
        broken: usize,
        max_unavailable: usize,
    },
    /// Stopped from outside (Ctrl-C, canary not confirmed).
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start this host (an index into the plan's host list).
    Start(usize),
    /// Wait for a running host to finish, then report it with [`Scheduler::finished`].
    Wait,
    /// Batch `index` (0-based) is done and another follows: pause/confirm, then
    /// [`Scheduler::next_batch`].
    BatchDone(usize),
    /// Nothing more will start; hosts never started stay untouched.
    Halt(Halt),
    /// Every batch is done.
    Done,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    batches: Vec<Vec<usize>>,
    batch: usize,
    queue: VecDeque<usize>,
    max_unavailable: usize,
    max_failed: usize,
    running: usize,
    broken: usize,
    failed: usize,
    halt: Option<Halt>,
}

impl Scheduler {
    /// `batches` hold host indices in plan order; `max_unavailable` is at least 1.
    pub fn new(batches: Vec<Vec<usize>>, max_unavailable: usize, max_failed: usize) -> Self {
        let queue = batches.first().cloned().unwrap_or_default().into();
        Scheduler {
            batches,
            batch: 0,
            queue,
            max_unavailable: max_unavailable.max(1),
            max_failed,
            running: 0,
            broken: 0,
            failed: 0,
            halt: None,
        }
    }

    /// Hosts currently between "backup started" and the end of their pipeline, plus broken
    /// ones: what `max_unavailable` bounds.
    pub fn unavailable(&self) -> usize {
        self.running + self.broken
    }

    pub fn failed(&self) -> usize {
        self.failed
    }

    pub fn decide(&mut self) -> Decision {
        if self.halt.is_none() && self.failed > self.max_failed {
            self.halt = Some(Halt::FailureBudget {
                failed: self.failed,
                allowed: self.max_failed,
            });
        }
        if let Some(halt) = &self.halt {
            return if self.running > 0 {
                Decision::Wait
            } else {
                Decision::Halt(halt.clone())
            };
        }
        if let Some(&host) = self.queue.front() {
            if self.unavailable() < self.max_unavailable {
                self.queue.pop_front();
                self.running += 1;
                return Decision::Start(host);
            }
            if self.running > 0 {
                return Decision::Wait;
            }
            let halt = Halt::NoCapacity {
                broken: self.broken,
                max_unavailable: self.max_unavailable,
            };
            self.halt = Some(halt.clone());
            return Decision::Halt(halt);
        }
        if self.running > 0 {
            return Decision::Wait;
        }
        if self.batch + 1 < self.batches.len() {
            Decision::BatchDone(self.batch)
        } else {
            Decision::Done
        }
    }

    /// Whether [`Scheduler::decide`] would start a host now, and if so whether it is the
    /// first of its batch: what a maintenance window gates.
    pub fn next_start(&self) -> Option<bool> {
        let can_start = self.halt.is_none()
            && self.failed <= self.max_failed
            && !self.queue.is_empty()
            && self.unavailable() < self.max_unavailable;
        can_start.then(|| self.queue.len() == self.batches[self.batch].len())
    }

    /// The batch being worked on (0-based) and its size.
    pub fn batch(&self) -> (usize, usize) {
        (self.batch, self.batches.get(self.batch).map_or(0, Vec::len))
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// Moves on to the next batch after [`Decision::BatchDone`].
    pub fn next_batch(&mut self) {
        if self.batch + 1 < self.batches.len() {
            self.batch += 1;
            self.queue = self.batches[self.batch].clone().into();
        }
    }

    pub fn finished(&mut self, end: HostEnd) {
        self.running = self.running.saturating_sub(1);
        match end {
            HostEnd::Verified => {}
            HostEnd::Restored => self.failed += 1,
            HostEnd::Broken => {
                self.failed += 1;
                self.broken += 1;
            }
        }
    }

    /// Counts a host that ended in an earlier, interrupted run of this rollout (a resume):
    /// its failure still counts against the budget, and a broken host still holds a slot.
    pub fn carried(&mut self, end: HostEnd) {
        match end {
            HostEnd::Verified => {}
            HostEnd::Restored => self.failed += 1,
            HostEnd::Broken => {
                self.failed += 1;
                self.broken += 1;
            }
        }
    }

    /// Starts nothing more; running hosts finish.
    pub fn stop(&mut self) {
        if self.halt.is_none() {
            self.halt = Some(Halt::Stopped);
        }
    }

    /// Hosts that never started (for the report), in plan order.
    pub fn untouched(&self) -> Vec<usize> {
        let mut left: Vec<usize> = self.queue.iter().copied().collect();
        for batch in self.batches.iter().skip(self.batch + 1) {
            left.extend(batch);
        }
        left
    }
}

/// How long a batch is likely to take, from the batches so far: a batch runs in waves of at
/// most `max_unavailable` hosts, so the estimate is the slowest wave seen times the waves the
/// next batch needs. Unknown until a batch has finished.
#[derive(Debug, Clone)]
pub struct Pace {
    max_unavailable: usize,
    slowest_wave: Option<std::time::Duration>,
}

impl Pace {
    pub fn new(max_unavailable: usize) -> Self {
        Pace {
            max_unavailable: max_unavailable.max(1),
            slowest_wave: None,
        }
    }

    fn waves(&self, hosts: usize) -> u32 {
        let waves = hosts
            .max(1)
            .div_ceil(self.max_unavailable.min(hosts.max(1)));
        u32::try_from(waves).unwrap_or(u32::MAX)
    }

    /// A batch of `hosts` took `took`.
    pub fn finished(&mut self, hosts: usize, took: std::time::Duration) {
        let wave = took / self.waves(hosts);
        self.slowest_wave = Some(self.slowest_wave.map_or(wave, |w| w.max(wave)));
    }

    pub fn estimate(&self, hosts: usize) -> Option<std::time::Duration> {
        self.slowest_wave
            .map(|w| w.saturating_mul(self.waves(hosts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs a scheduler to the end, finishing running hosts in the order `picks` chooses and
    /// with the outcomes `ends` gives, checking the invariants at every step.
    fn simulate(
        batch_sizes: &[usize],
        max_unavailable: usize,
        max_failed: usize,
        ends: &[HostEnd],
        picks: &[usize],
    ) -> (Vec<usize>, Decision) {
        let mut batches = Vec::new();
        let mut next = 0;
        for &size in batch_sizes {
            batches.push((next..next + size).collect::<Vec<_>>());
            next += size;
        }
        let batch_of = |h: usize| batches.iter().position(|b| b.contains(&h)).unwrap_or(0);
        let mut s = Scheduler::new(batches.clone(), max_unavailable, max_failed);
        let mut running: Vec<usize> = Vec::new();
        let mut started = Vec::new();
        let mut failed = 0;
        let mut pick = 0;
        for _ in 0..10_000 {
            match s.decide() {
                Decision::Start(h) => {
                    assert!(
                        failed <= max_failed,
                        "started {h} after the budget was spent"
                    );
                    if let Some(&last) = started.last() {
                        assert!(h > last, "hosts start in plan order");
                    }
                    assert!(
                        running.iter().all(|&r| batch_of(r) == batch_of(h)),
                        "a batch starts only after the previous one finished"
                    );
                    running.push(h);
                    started.push(h);
                    assert!(s.unavailable() <= max_unavailable.max(1));
                }
                Decision::Wait => {
                    assert!(!running.is_empty(), "waits only for running hosts");
                    let i = picks.get(pick).copied().unwrap_or(0) % running.len();
                    pick += 1;
                    let h = running.remove(i);
                    let end = ends.get(h).copied().unwrap_or(HostEnd::Verified);
                    if end != HostEnd::Verified {
                        failed += 1;
                    }
                    s.finished(end);
                }
                Decision::BatchDone(_) => {
                    assert!(running.is_empty());
                    s.next_batch();
                }
                d @ (Decision::Halt(_) | Decision::Done) => {
                    assert!(running.is_empty(), "halts only when nothing runs");
                    return (started, d);
                }
            }
        }
        panic!("scheduler did not finish");
    }

    fn end() -> impl Strategy<Value = HostEnd> {
        prop_oneof![
            8 => Just(HostEnd::Verified),
            1 => Just(HostEnd::Restored),
            1 => Just(HostEnd::Broken),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_whatever_the_outcomes(
            batch_sizes in proptest::collection::vec(1usize..6, 1..6),
            max_unavailable in 1usize..5,
            max_failed in 0usize..3,
            ends in proptest::collection::vec(end(), 30),
            picks in proptest::collection::vec(0usize..10, 60),
        ) {
            let total: usize = batch_sizes.iter().sum();
            let (started, decision) = simulate(&batch_sizes, max_unavailable, max_failed, &ends, &picks);
            let failures = started.iter().filter(|&&h| ends[h] != HostEnd::Verified).count();
            match decision {
                Decision::Done => {
                    prop_assert_eq!(started.len(), total);
                    prop_assert!(failures <= max_failed);
                }
                Decision::Halt(Halt::FailureBudget { failed, .. }) => {
                    prop_assert!(failed > max_failed);
                }
                Decision::Halt(Halt::NoCapacity { broken, .. }) => {
                    prop_assert!(broken >= max_unavailable);
                }
                other => prop_assert!(false, "unexpected end {:?}", other),
            }
        }
    }

    #[test]
    fn failure_on_the_third_of_five_stops_the_rollout_there() {
        let ends = [
            HostEnd::Verified,
            HostEnd::Verified,
            HostEnd::Restored,
            HostEnd::Verified,
            HostEnd::Verified,
        ];
        let (started, decision) = simulate(&[1, 1, 1, 1, 1], 1, 0, &ends, &[]);
        assert_eq!(started, vec![0, 1, 2]);
        assert_eq!(
            decision,
            Decision::Halt(Halt::FailureBudget {
                failed: 1,
                allowed: 0
            })
        );
    }

    #[test]
    fn a_broken_host_keeps_its_slot() {
        let ends = [HostEnd::Broken, HostEnd::Verified, HostEnd::Verified];
        let (started, decision) = simulate(&[1, 1, 1], 1, 5, &ends, &[]);
        assert_eq!(started, vec![0]);
        assert_eq!(
            decision,
            Decision::Halt(Halt::NoCapacity {
                broken: 1,
                max_unavailable: 1
            })
        );
    }

    #[test]
    fn max_unavailable_splits_a_batch_into_waves() {
        let mut s = Scheduler::new(vec![vec![0, 1, 2, 3]], 2, 0);
        assert_eq!(s.decide(), Decision::Start(0));
        assert_eq!(s.decide(), Decision::Start(1));
        assert_eq!(s.decide(), Decision::Wait);
        s.finished(HostEnd::Verified);
        assert_eq!(s.decide(), Decision::Start(2));
        assert_eq!(s.untouched(), vec![3]);
    }

    #[test]
    fn pace_scales_the_slowest_wave_to_the_next_batch() {
        use std::time::Duration;
        let mut pace = Pace::new(2);
        assert_eq!(pace.estimate(4), None);
        // 1 host, one wave, 10 minutes.
        pace.finished(1, Duration::from_secs(600));
        assert_eq!(pace.estimate(1), Some(Duration::from_secs(600)));
        // 4 hosts with 2 at a time: two waves.
        assert_eq!(pace.estimate(4), Some(Duration::from_secs(1200)));
        // A faster batch does not lower the estimate: the slowest wave counts.
        pace.finished(4, Duration::from_secs(400));
        assert_eq!(pace.estimate(3), Some(Duration::from_secs(1200)));
        pace.finished(2, Duration::from_secs(900));
        assert_eq!(pace.estimate(2), Some(Duration::from_secs(900)));
    }

    #[test]
    fn next_start_says_when_a_batch_begins() {
        let mut s = Scheduler::new(vec![vec![0, 1], vec![2]], 1, 0);
        assert_eq!(s.next_start(), Some(true));
        assert_eq!(s.decide(), Decision::Start(0));
        // At capacity: nothing starts until host 0 finishes.
        assert_eq!(s.next_start(), None);
        s.finished(HostEnd::Verified);
        assert_eq!(s.next_start(), Some(false));
        assert_eq!(s.decide(), Decision::Start(1));
        s.finished(HostEnd::Verified);
        assert_eq!(s.next_start(), None);
        assert_eq!(s.decide(), Decision::BatchDone(0));
        s.next_batch();
        assert_eq!(s.next_start(), Some(true));
        s.stop();
        assert_eq!(s.next_start(), None);
    }
}
