//! Reconnecting after a lost link: [`Backoff`] (exponential, jittered, capped, deterministic from
//! a seed) and [`Recovery`], a sans-IO state machine per client that decides which steps to run
//! and when, and reports what happened as [`RecoveryEvent`]s.
//!
//! Recovery is opt-in ([`RecoveryPolicy::disabled`] is the default): without it a lost link is
//! only reported ([`RecoveryEvent::Lost`]).
//!
//! # The steps
//! After `+QMTSTAT`, `+QMTPING` or `RDY` on a client the user wants connected, and after the
//! backoff delay, one attempt runs [`Step::Configure`] (every `AT+QMTCFG` of the options: cheap,
//! and required after `RDY`, which resets the module's state, spec §9) → [`Step::Open`] →
//! [`Step::Connect`] → one [`Step::Subscribe`] per group of up to five remembered filters (spec §5
//! **(uncertain)** topic limit). If OPEN answers "identifier occupied" (`+QMTOPEN: idx,2`: the
//! module still holds the client, e.g. after a CONNACK failure), [`Step::Close`] and OPEN again are
//! inserted once per attempt. Any other failure ends the attempt and schedules the next one, until
//! [`RecoveryPolicy::max_attempts`]; errors of the request itself
//! ([`ClientError::is_transient`] false) give up at once.
//!
//! One loss is one episode: `+QMTPING: <idx>,1` is followed by `+QMTSTAT: <idx>,2` for the same
//! connection (spec §9), and that `+QMTSTAT` is not a second loss: it gives no second
//! [`RecoveryEvent::Lost`] and does not restart the backoff or a running attempt. So an episode
//! reports one `Lost`, then `Retrying`s, then one `Restored` (or `GaveUp`).
//!
//! `+QMTSTAT` code 5 ("normal end", recommended action: nothing) is reported and not recovered.
//! The spec's action for code 2 (reset the PDP context) needs commands outside the QMT set; the
//! action is reported in [`RecoveryEvent::Lost`] and the client is reopened.
//!
//! # Driving it (the IO glue)
//! Call [`on_lost`](Recovery::on_lost) with every loss of the client; at
//! [`poll_timeout`](Recovery::poll_timeout) (or any time) ask [`poll_step`](Recovery::poll_step),
//! run the step, and report it with [`step_done`](Recovery::step_done). One step runs at a time;
//! a result reported when no step is running is ignored.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use qmt_proto::codes::{OpenResult, RecommendedAction, StatCode};
use qmt_proto::command::MAX_TOPICS;
use qmt_proto::params::{Qos, Topic};
use qmt_transport::time::Instant;

use crate::error::ClientError;

/// A tiny deterministic PRNG (splitmix64, Steele et al. 2014): enough for jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits: exactly representable.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Parameters of [`Backoff`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    /// The base delay of the first retry.
    pub initial: Duration,
    /// The cap on the base delay.
    pub max: Duration,
    /// The factor between successive base delays (≥ 1).
    pub multiplier: u32,
    /// The jitter fraction in `[0, 1]`: each delay is drawn uniformly from
    /// `[base × (1 − jitter), base]`. 0 gives the bare exponential sequence.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    /// 1 s, doubling, capped at 60 s, jitter 0.5 ("equal jitter": never less than half the base,
    /// so retries of many modules spread out without hammering the broker).
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2,
            jitter: 0.5,
        }
    }
}

/// Exponential backoff with jitter and a cap.
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A backoff whose jitter comes from `seed` (same seed, same delays).
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The base delay (before jitter) of retry number `attempt` (0-based):
    /// `min(max, initial × multiplier^attempt)`, saturating.
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = self.config.multiplier.max(1).checked_pow(attempt);
        factor
            .and_then(|f| self.config.initial.checked_mul(f))
            .unwrap_or(Duration::MAX)
            .min(self.config.max)
    }

    /// The next delay; advances the attempt count.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter * self.rng.next_f64())
    }

    #[cfg(test)]
    /// How many delays were handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over at the initial delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Whether and how a client recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecoveryPolicy {
    /// Off: losses are only reported.
    pub enabled: bool,
    /// Delays between attempts.
    pub backoff: BackoffConfig,
    /// Give up after this many failed attempts (`None`: never).
    pub max_attempts: Option<u32>,
    /// Seed of the jitter.
    pub seed: u64,
}

impl RecoveryPolicy {
    /// No recovery (the default).
    pub fn disabled() -> RecoveryPolicy {
        RecoveryPolicy {
            enabled: false,
            backoff: BackoffConfig::default(),
            max_attempts: None,
            seed: 0,
        }
    }

    /// Recovery with the default backoff, retrying forever.
    pub fn enabled() -> RecoveryPolicy {
        RecoveryPolicy {
            enabled: true,
            ..RecoveryPolicy::disabled()
        }
    }
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        RecoveryPolicy::disabled()
    }
}

/// Why a client's connection was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossCause {
    /// `+QMTSTAT: <idx>,<code>`.
    LinkLost(StatCode),
    /// `+QMTPING: <idx>,1`.
    PingTimeout,
    /// `RDY` (every client).
    ModuleRestarted,
}

impl LossCause {
    /// The spec's recommended action: the `+QMTSTAT` table's (§6); a ping timeout is followed by
    /// `+QMTSTAT` code 2 (§9) and takes its action; after `RDY`, reopen.
    pub fn action(&self) -> RecommendedAction {
        match self {
            LossCause::LinkLost(code) => code.recommended_action(),
            LossCause::PingTimeout => StatCode::PingFailed.recommended_action(),
            LossCause::ModuleRestarted => RecommendedAction::Reopen,
        }
    }
}

/// One thing the glue does for an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send the options' `AT+QMTCFG` commands (`ClientOptions::config_commands`).
    Configure,
    /// `AT+QMTCLOSE` (the module still held the client); its failure does not end the attempt.
    Close,
    /// `AT+QMTOPEN` and its result.
    Open,
    /// `AT+QMTCONN` and its result.
    Connect,
    /// `AT+QMTSUB` of these filters (at most five) and its result.
    Subscribe(Vec<(Topic, Qos)>),
    /// `AT+QMTUNS` of these filters (at most five): an unsubscribe the user asked for when the
    /// link was lost before its result (a persistent session would otherwise keep it).
    Unsubscribe(Vec<Topic>),
}

/// What recovery tells the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// The connection was lost; what the spec recommends.
    Lost {
        /// Why.
        cause: LossCause,
        /// The spec's recommended action.
        action: RecommendedAction,
    },
    /// Attempt `attempt` (1-based) starts after `after`.
    Retrying {
        /// The attempt's number.
        attempt: u32,
        /// The delay before it.
        after: Duration,
    },
    /// Reconnected and re-subscribed.
    Restored {
        /// The attempt that succeeded.
        attempts: u32,
        /// How many filters were subscribed again.
        resubscribed: usize,
    },
    /// No more attempts; the client stays disconnected until the user connects again.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last_error: ClientError,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// Connected, or not wanted, or recovery off.
    Idle,
    /// The next attempt starts at `until`.
    Waiting { until: Instant },
    /// An attempt is running: `queue` remains, `current` is out with the glue.
    Running {
        queue: VecDeque<Step>,
        current: Option<Step>,
        closed_once: bool,
    },
    /// Gave up.
    GaveUp,
}

/// The recovery state machine of one client.
#[derive(Clone, Debug)]
pub struct Recovery {
    policy: RecoveryPolicy,
    backoff: Backoff,
    state: State,
    wanted: bool,
    subscriptions: Vec<(Topic, Qos)>,
    /// Filters to unsubscribe after the next reconnect (see [`Step::Unsubscribe`]).
    unsubscribe: Vec<Topic>,
    attempt: u32,
    /// The last loss of the current connection (cleared when a connection opens): a
    /// `+QMTSTAT: <idx>,2` after a `+QMTPING` belongs to the same episode.
    last_loss: Option<LossCause>,
}

impl Recovery {
    /// A client not connected yet, with `policy`.
    pub fn new(policy: RecoveryPolicy) -> Recovery {
        Recovery {
            policy,
            backoff: Backoff::new(policy.backoff, policy.seed),
            state: State::Idle,
            wanted: false,
            subscriptions: Vec::new(),
            unsubscribe: Vec::new(),
            attempt: 0,
            last_loss: None,
        }
    }

    /// The user connected: from now on a loss is recovered (if enabled).
    pub fn connected(&mut self) {
        self.wanted = true;
        self.state = State::Idle;
        self.last_loss = None;
        self.attempt = 0;
        self.backoff.reset();
    }

    /// The user disconnected or closed the client: nothing is recovered, filters are forgotten.
    pub fn stopped(&mut self) {
        self.wanted = false;
        self.state = State::Idle;
        self.last_loss = None;
        self.subscriptions.clear();
        self.unsubscribe.clear();
    }

    /// Remembers filters the broker granted, to subscribe again after a reconnect (a filter given
    /// again replaces its QoS).
    pub fn subscribed(&mut self, filters: impl IntoIterator<Item = (Topic, Qos)>) {
        for (topic, qos) in filters {
            match self.subscriptions.iter_mut().find(|(t, _)| *t == topic) {
                Some(entry) => entry.1 = qos,
                None => self.subscriptions.push((topic, qos)),
            }
        }
    }

    /// Forgets filters after an unsubscribe.
    pub fn unsubscribed<'a>(&mut self, filters: impl IntoIterator<Item = &'a Topic>) {
        for topic in filters {
            self.subscriptions.retain(|(t, _)| t != topic);
        }
    }

    /// Forgets filters and unsubscribes them after the next reconnect: the user's unsubscribe
    /// was cut off by a loss, and a persistent session may still hold them.
    pub fn unsubscribe_later(&mut self, filters: impl IntoIterator<Item = Topic>) {
        for topic in filters {
            self.subscriptions.retain(|(t, _)| *t != topic);
            if !self.unsubscribe.contains(&topic) {
                self.unsubscribe.push(topic);
            }
        }
    }

    /// The remembered filters.
    pub fn subscriptions(&self) -> &[(Topic, Qos)] {
        &self.subscriptions
    }

    /// Whether an attempt is scheduled or running.
    pub fn is_recovering(&self) -> bool {
        matches!(self.state, State::Waiting { .. } | State::Running { .. })
    }

    /// The connection was lost. Reports [`RecoveryEvent::Lost`] (except for the
    /// `+QMTSTAT: <idx>,2` that follows a `+QMTPING` of the same connection: one episode, see the
    /// module docs); schedules an attempt when recovery is enabled, the user wants the connection
    /// and the spec's action reopens.
    pub fn on_lost(&mut self, cause: LossCause, now: Instant) -> Vec<RecoveryEvent> {
        let previous = self.last_loss.replace(cause);
        if cause == LossCause::LinkLost(StatCode::PingFailed)
            && previous == Some(LossCause::PingTimeout)
        {
            tracing::debug!("+QMTSTAT 2 after +QMTPING: the same loss");
            return Vec::new();
        }
        let action = cause.action();
        let mut events = vec![RecoveryEvent::Lost { cause, action }];
        if !self.policy.enabled || !self.wanted || !action.reopens() {
            if !action.reopens() {
                self.state = State::Idle;
            }
            return events;
        }
        match self.state {
            // Already scheduled: the attempt will find the new state.
            State::Waiting { .. } => {}
            State::Idle => {
                self.attempt = 0;
                self.backoff.reset();
                events.extend(self.schedule(now));
            }
            // The running step is void; the next attempt starts over.
            State::Running { .. } => events.extend(self.schedule(now)),
            State::GaveUp => {}
        }
        events
    }

    /// Schedules the next attempt, or gives up.
    fn schedule(&mut self, now: Instant) -> Vec<RecoveryEvent> {
        self.attempt += 1;
        let after = self.backoff.next_delay();
        self.state = State::Waiting { until: now + after };
        tracing::debug!(attempt = self.attempt, ?after, "recovery scheduled");
        vec![RecoveryEvent::Retrying {
            attempt: self.attempt,
            after,
        }]
    }

    /// When the next attempt is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            _ => None,
        }
    }

    /// The next step to run, if one is due and none is out.
    pub fn poll_step(&mut self, now: Instant) -> Option<Step> {
        if let State::Waiting { until } = self.state {
            if now < until {
                return None;
            }
            let mut queue: VecDeque<Step> = [Step::Configure, Step::Open, Step::Connect].into();
            queue.extend(
                self.subscriptions
                    .chunks(MAX_TOPICS)
                    .map(|c| Step::Subscribe(c.to_vec())),
            );
            queue.extend(
                self.unsubscribe
                    .chunks(MAX_TOPICS)
                    .map(|c| Step::Unsubscribe(c.to_vec())),
            );
            self.state = State::Running {
                queue,
                current: None,
                closed_once: false,
            };
        }
        let State::Running { queue, current, .. } = &mut self.state else {
            return None;
        };
        if current.is_some() {
            return None;
        }
        let step = queue.pop_front()?;
        *current = Some(step.clone());
        Some(step)
    }

    /// The result of the step [`poll_step`](Self::poll_step) gave out.
    pub fn step_done(
        &mut self,
        result: Result<(), ClientError>,
        now: Instant,
    ) -> Vec<RecoveryEvent> {
        let State::Running {
            queue,
            current,
            closed_once,
        } = &mut self.state
        else {
            return Vec::new();
        };
        let Some(step) = current.take() else {
            return Vec::new();
        };
        match result {
            Ok(()) => {
                if step == Step::Open {
                    // A new connection: its losses are new episodes.
                    self.last_loss = None;
                }
                if let Step::Unsubscribe(done) = &step {
                    self.unsubscribe.retain(|t| !done.contains(t));
                }
            }
            // A close that fails is fine: the client may not have been open.
            Err(_) if step == Step::Close => {}
            Err(ClientError::OpenFailed {
                result: OpenResult::IdentifierOccupied,
            }) if step == Step::Open && !*closed_once => {
                *closed_once = true;
                queue.push_front(Step::Open);
                queue.push_front(Step::Close);
            }
            Err(e) => return self.attempt_failed(e, now),
        }
        if queue.is_empty() {
            let resubscribed = self.subscriptions.len();
            let attempts = self.attempt;
            self.state = State::Idle;
            self.attempt = 0;
            self.backoff.reset();
            return vec![RecoveryEvent::Restored {
                attempts,
                resubscribed,
            }];
        }
        Vec::new()
    }

    fn attempt_failed(&mut self, error: ClientError, now: Instant) -> Vec<RecoveryEvent> {
        let exhausted = self.policy.max_attempts.is_some_and(|m| self.attempt >= m);
        if exhausted || !error.is_transient() {
            self.state = State::GaveUp;
            return vec![RecoveryEvent::GaveUp {
                attempts: self.attempt,
                last_error: error,
            }];
        }
        self.schedule(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(jitter: f64) -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            multiplier: 2,
            jitter,
        }
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs[0], xs[1]);
        // The reference value of splitmix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64::new(1);
        assert!(
            (0..1000)
                .map(|_| r.next_f64())
                .all(|x| (0.0..1.0).contains(&x))
        );
    }

    #[test]
    fn backoff_without_jitter_doubles_up_to_the_cap() {
        let mut b = Backoff::new(cfg(0.0), 1);
        let ms: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
        assert_eq!(b.attempt(), 8);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
        // Huge attempt numbers saturate at the cap, never overflow.
        assert_eq!(b.base(10_000), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_its_range_and_varies() {
        let mut b = Backoff::new(cfg(0.5), 42);
        let mut seen = alloc::collections::BTreeSet::new();
        for attempt in 0..200u32 {
            let base = b.base(attempt);
            let d = b.next_delay();
            assert!(d <= base, "{d:?} > {base:?}");
            assert!(d >= base / 2, "{d:?} < half of {base:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 50, "jitter should vary the delays");
        // Same seed, same delays.
        let mut x = Backoff::new(cfg(0.5), 9);
        let mut y = Backoff::new(cfg(0.5), 9);
        assert!((0..20).all(|_| x.next_delay() == y.next_delay()));
    }

    fn topic(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    fn policy() -> RecoveryPolicy {
        RecoveryPolicy {
            enabled: true,
            backoff: cfg(0.0),
            max_attempts: Some(2),
            seed: 3,
        }
    }

    #[test]
    fn disabled_recovery_only_reports() {
        let now = Instant::ZERO;
        let mut r = Recovery::new(RecoveryPolicy::disabled());
        r.connected();
        let ev = r.on_lost(LossCause::LinkLost(StatCode::ClosedByPeer), now);
        assert_eq!(
            ev,
            vec![RecoveryEvent::Lost {
                cause: LossCause::LinkLost(StatCode::ClosedByPeer),
                action: RecommendedAction::Reopen
            }]
        );
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.poll_step(now + Duration::from_secs(100)), None);
    }

    #[test]
    fn full_sequence_reconfigures_reopens_reconnects_and_resubscribes() {
        let now = Instant::ZERO;
        let mut r = Recovery::new(policy());
        r.connected();
        let filters: Vec<_> = (0..7)
            .map(|n| (topic(&format!("t/{n}")), Qos::AtLeastOnce))
            .collect();
        r.subscribed(filters.clone());
        r.subscribed([(topic("t/0"), Qos::ExactlyOnce)]);
        r.unsubscribed([&topic("t/6")]);
        assert_eq!(r.subscriptions().len(), 6);
        let ev = r.on_lost(LossCause::PingTimeout, now);
        assert_eq!(
            ev,
            vec![
                RecoveryEvent::Lost {
                    cause: LossCause::PingTimeout,
                    action: RecommendedAction::ResetPdpThenReopen
                },
                RecoveryEvent::Retrying {
                    attempt: 1,
                    after: Duration::from_millis(500)
                }
            ]
        );
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_millis(500)));
        assert_eq!(r.poll_step(now), None, "not due yet");
        let t = now + Duration::from_millis(500);
        let mut steps = Vec::new();
        while let Some(step) = r.poll_step(t) {
            assert_eq!(r.poll_step(t), None, "one step at a time");
            steps.push(step);
            let ev = r.step_done(Ok(()), t);
            if r.is_recovering() {
                assert!(ev.is_empty());
            } else {
                assert_eq!(
                    ev,
                    vec![RecoveryEvent::Restored {
                        attempts: 1,
                        resubscribed: 6
                    }]
                );
            }
        }
        let mut expect_first = vec![(topic("t/0"), Qos::ExactlyOnce)];
        expect_first.extend(filters[1..5].iter().cloned());
        assert_eq!(
            steps,
            vec![
                Step::Configure,
                Step::Open,
                Step::Connect,
                Step::Subscribe(expect_first),
                Step::Subscribe(vec![(topic("t/5"), Qos::AtLeastOnce)]),
            ]
        );
        assert!(!r.is_recovering());
    }

    #[test]
    fn occupied_client_is_closed_then_reopened_once() {
        let now = Instant::ZERO;
        let mut r = Recovery::new(policy());
        r.connected();
        r.on_lost(LossCause::LinkLost(StatCode::ConnackFailed), now);
        let t = now + Duration::from_secs(1);
        assert_eq!(r.poll_step(t), Some(Step::Configure));
        r.step_done(Ok(()), t);
        assert_eq!(r.poll_step(t), Some(Step::Open));
        let occupied = ClientError::OpenFailed {
            result: OpenResult::IdentifierOccupied,
        };
        assert!(r.step_done(Err(occupied.clone()), t).is_empty());
        assert_eq!(r.poll_step(t), Some(Step::Close));
        // A failing close does not end the attempt.
        assert!(r.step_done(Err(ClientError::Closed), t).is_empty());
        assert_eq!(r.poll_step(t), Some(Step::Open));
        // Occupied again: now the attempt fails and the next is scheduled after 1 s.
        assert_eq!(
            r.step_done(Err(occupied), t),
            vec![RecoveryEvent::Retrying {
                attempt: 2,
                after: Duration::from_secs(1)
            }]
        );
        let t2 = t + Duration::from_secs(1);
        assert_eq!(r.poll_step(t2), Some(Step::Configure));
        r.step_done(Ok(()), t2);
        assert_eq!(r.poll_step(t2), Some(Step::Open));
        r.step_done(Ok(()), t2);
        assert_eq!(r.poll_step(t2), Some(Step::Connect));
        let refused = ClientError::Refused {
            connack: qmt_proto::codes::ConnackCode::ServerUnavailable,
        };
        // Second failure with max_attempts 2: give up.
        assert_eq!(
            r.step_done(Err(refused.clone()), t2),
            vec![RecoveryEvent::GaveUp {
                attempts: 2,
                last_error: refused
            }]
        );
        assert!(!r.is_recovering());
        assert_eq!(r.poll_step(t2 + Duration::from_secs(99)), None);
        // A new loss after giving up does nothing until the user connects again.
        assert_eq!(r.on_lost(LossCause::ModuleRestarted, t2).len(), 1);
        r.connected();
        assert_eq!(r.on_lost(LossCause::ModuleRestarted, t2).len(), 2);
    }

    #[test]
    fn no_recovery_for_a_normal_end_or_an_unwanted_client() {
        let now = Instant::ZERO;
        let mut r = Recovery::new(policy());
        // Never connected: not wanted.
        assert_eq!(r.on_lost(LossCause::ModuleRestarted, now).len(), 1);
        assert!(!r.is_recovering());
        r.connected();
        let ev = r.on_lost(LossCause::LinkLost(StatCode::Disconnected), now);
        assert_eq!(
            ev,
            vec![RecoveryEvent::Lost {
                cause: LossCause::LinkLost(StatCode::Disconnected),
                action: RecommendedAction::Nothing
            }]
        );
        assert!(!r.is_recovering());
        r.stopped();
        assert_eq!(r.on_lost(LossCause::PingTimeout, now).len(), 1);
        assert!(r.subscriptions().is_empty());
    }

    #[test]
    fn ping_timeout_then_stat_2_is_one_episode() {
        let now = Instant::ZERO;
        for enabled in [true, false] {
            let mut r = Recovery::new(RecoveryPolicy {
                enabled,
                ..policy()
            });
            r.connected();
            let ev = r.on_lost(LossCause::PingTimeout, now);
            assert!(matches!(ev[0], RecoveryEvent::Lost { .. }));
            assert_eq!(ev.len(), if enabled { 2 } else { 1 });
            let due = r.poll_timeout();
            // §9: +QMTSTAT: idx,2 follows: nothing new, the schedule stands.
            assert_eq!(
                r.on_lost(LossCause::LinkLost(StatCode::PingFailed), now),
                vec![]
            );
            assert_eq!(r.poll_timeout(), due);
            if !enabled {
                continue;
            }
            let t = now + Duration::from_secs(1);
            assert_eq!(r.poll_step(t), Some(Step::Configure));
            r.step_done(Ok(()), t);
            assert_eq!(r.poll_step(t), Some(Step::Open));
            r.step_done(Ok(()), t);
            // A new connection: its own ping timeout and stat are a new episode.
            assert_eq!(r.on_lost(LossCause::PingTimeout, t).len(), 2);
            assert_eq!(
                r.on_lost(LossCause::LinkLost(StatCode::PingFailed), t),
                vec![]
            );
        }
        // Another code after a ping timeout is a loss of its own.
        let mut r = Recovery::new(RecoveryPolicy::disabled());
        r.connected();
        r.on_lost(LossCause::PingTimeout, now);
        assert_eq!(
            r.on_lost(LossCause::LinkLost(StatCode::ClosedByPeer), now)
                .len(),
            1
        );
    }

    #[test]
    fn loss_during_an_attempt_restarts_it_and_stale_results_are_ignored() {
        let now = Instant::ZERO;
        let mut r = Recovery::new(RecoveryPolicy {
            max_attempts: None,
            ..policy()
        });
        r.connected();
        r.on_lost(LossCause::LinkLost(StatCode::LinkDown), now);
        let t = now + Duration::from_secs(1);
        assert_eq!(r.poll_step(t), Some(Step::Configure));
        let ev = r.on_lost(LossCause::LinkLost(StatCode::LinkDown), t);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[1],
            RecoveryEvent::Retrying {
                attempt: 2,
                after: Duration::from_secs(1)
            }
        );
        // The void step's result changes nothing.
        assert!(r.step_done(Ok(()), t).is_empty());
        assert_eq!(r.poll_timeout(), Some(t + Duration::from_secs(1)));
        // A loss while waiting does not schedule twice.
        assert_eq!(r.on_lost(LossCause::PingTimeout, t).len(), 1);
        // A request error gives up at once.
        let t2 = t + Duration::from_secs(1);
        assert_eq!(r.poll_step(t2), Some(Step::Configure));
        let invalid = ClientError::Invalid(qmt_proto::error::ParamError::Invalid {
            param: "x",
            reason: "y",
        });
        assert!(matches!(
            r.step_done(Err(invalid), t2)[..],
            [RecoveryEvent::GaveUp { attempts: 2, .. }]
        ));
    }
}
