//! Alerts on state change only — pure. A function that watches something on a schedule
//! (replication-lag-check: replication and backup freshness; failover-orchestrator: each plan's
//! readiness; cost-anomaly: each component's cost) evaluates its checks every run and keeps
//! their states between runs, but emails only what changed since the last evaluation:
//!
//! - a check whose state changed, worst first: "orders-db backup age CRITICAL (was OK): 26 h
//!   against RPO 24 h", "region-failover NOT READY (was READY): the orders-db replica lags
//!   22 min against RPO 15 min" ([`Why::Changed`]);
//! - a check still not OK once `reminder_every` has passed since its last email
//!   ([`Why::Reminder`]: "... CRITICAL (still, for 4 h): ...");
//! - a check back to OK ([`Why::Recovered`]: "... OK again (was CRITICAL): ...");
//! - on the first evaluation (nothing stored), every check once: the baseline.
//!
//! "No data" is a state of its own, never OK — but a read that failed once (a fault, a late
//! metric) is not a change worth an email: a check that loses its data keeps its stored state
//! and is *held* (not emailed) until the no data has lasted `reminder_every`; then it is a change
//! like any other. A check seen for the first time without data is held the same way, and goes
//! quietly if its data comes back OK before it was ever emailed. A check not evaluated in a run
//! (a focused run checks a few) keeps its stored state.
//!
//! # How a function uses it
//!
//! 1. **Its types.** Its check implements [`Check`]: a key stable across runs, a state, the
//!    words before the state ("orders-db backup age", "region-failover") and the detail. Its
//!    state implements [`Level`]: ordered by severity (greater is worse), with an OK state and a
//!    no-data state.
//! 2. **Load** the [`Stored`] states with [`Journal::load`](crate::journal::Journal::load) from
//!    its state key in the report bucket (`state/<function>/<what>.json`); nothing stored is
//!    `Stored::default()` in a [`Journal::new`](crate::journal::Journal::new). A function that
//!    keeps more between runs stores its own struct holding the `Stored` in a
//!    `#[serde(flatten)]` field (replication-lag-check keeps its canaries there).
//! 3. **Diff** ([`diff`]`(&stored, &checks, now, reminder_every, run_id)`, pure) → [`Diff`]: the
//!    changes to email, worst first; the checks held; the next stored states, stamped
//!    `written_by = run_id`. After a full evaluation of everything, [`Stored::keep_only`] forgets
//!    the checks no longer produced (a plan or component removed).
//! 4. **Save** the next states with [`Journal::save`](crate::journal::Journal::save), a
//!    conditional write (If-Match the ETag loaded; If-None-Match on the first save), *before*
//!    emailing. `Err(Error::Internal(_))` from the save means another evaluation recorded its
//!    states first and has alerted on these changes: send nothing. `written_by` makes every run's
//!    write its own bytes, so a save whose answer was lost (the SDK retries and gets 412)
//!    recognises its own write, never another run's.
//! 5. **Report**: one line per change, [`Change::sentence`], in order (the first is the most
//!    important: the headline). No change: a quiet run (metrics and the log, no email). If the
//!    email cannot be sent, save the states from before this run (the journal keeps its ETag),
//!    so the next run finds the same changes and sends them.
//!
//! ```
//! use std::fmt;
//!
//! use chrono::{DateTime, Duration, Utc};
//! use lifeboat_shared::alerts::{self, Check, Level, Stored, Why};
//! use lifeboat_shared::journal::Journal;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
//! #[serde(rename_all = "kebab-case")]
//! enum Readiness {
//!     Ready,
//!     NoData,
//!     NotReady,
//! }
//!
//! impl Level for Readiness {
//!     const OK: Self = Readiness::Ready;
//!     const NO_DATA: Self = Readiness::NoData;
//! }
//!
//! impl fmt::Display for Readiness {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         f.write_str(match self {
//!             Readiness::Ready => "READY",
//!             Readiness::NoData => "NO DATA",
//!             Readiness::NotReady => "NOT READY",
//!         })
//!     }
//! }
//!
//! /// One failover plan's readiness this run.
//! #[derive(Debug, Clone, Serialize)]
//! struct PlanReadiness {
//!     plan: String,
//!     state: Readiness,
//!     detail: String,
//! }
//!
//! impl Check for PlanReadiness {
//!     type State = Readiness;
//!     fn key(&self) -> &str {
//!         &self.plan
//!     }
//!     fn state(&self) -> Readiness {
//!         self.state
//!     }
//!     fn title(&self) -> String {
//!         self.plan.clone()
//!     }
//!     fn detail(&self) -> &str {
//!         &self.detail
//!     }
//! }
//!
//! /// One evaluation: load → diff → save → the report's lines (none: a quiet run).
//! async fn evaluate(
//!     s3: &aws_sdk_s3::Client,
//!     bucket: &str,
//!     checks: &[PlanReadiness],
//!     now: DateTime<Utc>,
//!     run_id: &str,
//! ) -> lifeboat_shared::Result<Vec<String>> {
//!     let key = "state/failover-orchestrator/readiness.json";
//!     let mut journal = Journal::load(s3, bucket, key)
//!         .await?
//!         .unwrap_or_else(|| Journal::new(key, Stored::default()));
//!     let diff = alerts::diff(&journal.state, checks, now, Duration::hours(4), run_id);
//!     journal.state = diff.next;
//!     match journal.save(s3, bucket).await {
//!         Ok(()) => {}
//!         // another evaluation recorded these states first, and alerted
//!         Err(lifeboat_shared::Error::Internal(_)) => return Ok(Vec::new()),
//!         Err(e) => return Err(e),
//!     }
//!     Ok(diff.changes.iter().map(|c| c.sentence()).collect())
//! }
//!
//! // The pure part, run by run:
//! let plan = |state, detail: &str| PlanReadiness {
//!     plan: "region-failover".into(),
//!     state,
//!     detail: detail.into(),
//! };
//! let t0 = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").unwrap().to_utc();
//! let every = Duration::hours(4);
//! let first = alerts::diff(
//!     &Stored::default(),
//!     &[plan(Readiness::Ready, "every replica within its RPO")],
//!     t0,
//!     every,
//!     "run-1",
//! );
//! assert!(first.first, "the baseline: every check once");
//! let lagging = plan(
//!     Readiness::NotReady,
//!     "the orders-db replica lags 22 min against RPO 15 min",
//! );
//! let d = alerts::diff(&first.next, &[lagging], t0 + Duration::minutes(5), every, "run-2");
//! assert_eq!(d.changes[0].why, Why::Changed);
//! assert_eq!(
//!     d.changes[0].sentence(),
//!     "region-failover NOT READY (was READY): the orders-db replica lags 22 min against RPO 15 min"
//! );
//! assert_eq!(d.next.written_by, "run-2");
//! # let _ = evaluate;
//! ```

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A check's state, ordered by severity: greater is worse (replication-lag-check: OK < NO DATA
/// < WARNING < CRITICAL; a readiness: READY < NO DATA < NOT READY). Changes are emailed worst
/// first. `Display` is the word an alert shows ("CRITICAL", "NOT READY").
pub trait Level: Copy + Ord + fmt::Debug + fmt::Display {
    /// Healthy: never reminded; a check back in it has recovered ("OK again").
    const OK: Self;
    /// Nothing could be measured (a read failed, no datapoints): held, not emailed, until it
    /// lasts `reminder_every`.
    const NO_DATA: Self;
}

/// One check's outcome this run, as alerts see it.
pub trait Check: Clone {
    type State: Level;
    /// Stable across runs: the stored states are kept by it (`backup-age/orders-db`).
    fn key(&self) -> &str;
    fn state(&self) -> Self::State;
    /// The words before the state in an alert: "orders-db backup age", "region-failover".
    fn title(&self) -> String;
    /// The measurement against its threshold: "26 h against RPO 24 h".
    fn detail(&self) -> &str;
}

/// What the last evaluation left: every check's state, since when, and its last alert. The
/// JSON a function saves in its journal (or flattens into its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored<S> {
    /// The run that wrote it (a retried save recognises its own write).
    #[serde(default)]
    pub written_by: String,
    #[serde(default)]
    pub evaluated_at: Option<DateTime<Utc>>,
    /// By [`Check::key`].
    #[serde(default = "BTreeMap::new")]
    pub checks: BTreeMap<String, StoredCheck<S>>,
}

impl<S> Default for Stored<S> {
    fn default() -> Self {
        Stored {
            written_by: String::new(),
            evaluated_at: None,
            checks: BTreeMap::new(),
        }
    }
}

impl<S> Stored<S> {
    /// Forgets the stored checks that `checks` does not name: after a full evaluation of
    /// everything, what it no longer produces is gone (a resource removed, a plan renamed).
    /// Never after a focused run, whose unevaluated checks keep their states.
    pub fn keep_only<C: Check<State = S>>(&mut self, checks: &[C]) {
        self.checks
            .retain(|key, _| checks.iter().any(|c| c.key() == key));
    }
}

/// One check's stored state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCheck<S> {
    pub state: S,
    pub since: DateTime<Utc>,
    /// The last email that named this check.
    #[serde(default)]
    pub alerted_at: Option<DateTime<Utc>>,
    pub detail: String,
    /// Since when the check has had no data while its stored state is another: a read that
    /// failed once (a fault, a delayed metric) is not a state change worth an email; no data that
    /// lasts `reminder_every` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_since: Option<DateTime<Utc>>,
}

/// Why a check is in this run's email (in this order after severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Its state changed (or, first seen, it is not OK; or it is the first evaluation).
    Changed,
    /// Still not OK, and its reminder interval has passed.
    Reminder,
    /// Back to OK.
    Recovered,
}

/// A check to email, with what it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(bound(serialize = "C: Serialize, C::State: Serialize"))]
pub struct Change<C: Check> {
    pub check: C,
    pub was: Option<C::State>,
    pub why: Why,
    /// How long it has been in its state (for reminders).
    pub for_seconds: i64,
}

impl<C: Check> Change<C> {
    /// "orders-db backup age CRITICAL (was OK): 26 h against RPO 24 h"; a reminder "... CRITICAL
    /// (still, for 4 h): ..."; a recovery "... OK again (was CRITICAL): ...".
    pub fn sentence(&self) -> String {
        let c = &self.check;
        let was = match (self.why, self.was) {
            (Why::Reminder, _) => format!(
                " (still, for {})",
                human(Duration::seconds(self.for_seconds))
            ),
            (Why::Recovered, Some(w)) => format!(" again (was {w})"),
            (_, Some(w)) => format!(" (was {w})"),
            (_, None) => String::new(),
        };
        format!("{} {}{was}: {}", c.title(), c.state(), c.detail())
    }
}

/// What [`diff`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff<C: Check> {
    /// The states to save: this run's, the unevaluated checks' as they were, the held ones as
    /// they were (with since when they have had no data).
    pub next: Stored<C::State>,
    /// What to email, worst first, then changes before reminders before recoveries. Empty: a
    /// quiet run.
    pub changes: Vec<Change<C>>,
    /// The keys of the checks held: no data for less than `reminder_every` where a state was
    /// known (or first seen without data). Stored as before, not emailed; the report says so.
    pub held: Vec<String>,
    /// Nothing was stored: this evaluation is the baseline, every check in `changes` once.
    pub first: bool,
}

/// The next stored states, the changes to email and the checks held, from the stored states and
/// this run's checks. A check not evaluated this run keeps its stored state. Pure: `now` and
/// `run_id` (stamped as `written_by`) are the run's.
pub fn diff<C: Check>(
    prev: &Stored<C::State>,
    checks: &[C],
    now: DateTime<Utc>,
    reminder_every: Duration,
    run_id: &str,
) -> Diff<C> {
    let ok = <C::State as Level>::OK;
    let no_data = <C::State as Level>::NO_DATA;
    let first = prev.checks.is_empty();
    let mut next = prev.clone();
    next.written_by = run_id.to_string();
    next.evaluated_at = Some(now);
    let mut changes = Vec::new();
    let mut held = Vec::new();
    for c in checks {
        let (key, state) = (c.key(), c.state());
        let old = prev.checks.get(key);
        if let Some(o) = old.filter(|o| state == no_data && o.state != no_data) {
            let since = o.no_data_since.unwrap_or(now);
            if now - since < reminder_every {
                next.checks.insert(
                    key.to_string(),
                    StoredCheck {
                        no_data_since: Some(since),
                        ..o.clone()
                    },
                );
                held.push(key.to_string());
                continue;
            }
        }
        // A check seen for the first time without data (a listing that failed names its
        // component instead of its resources) is held like a known one that lost its data.
        if old.is_none() && !first && state == no_data {
            next.checks.insert(
                key.to_string(),
                StoredCheck {
                    state: no_data,
                    since: now,
                    alerted_at: None,
                    detail: c.detail().to_string(),
                    no_data_since: Some(now),
                },
            );
            held.push(key.to_string());
            continue;
        }
        let (why, since) = match old {
            None if first || state != ok => (Some(Why::Changed), now),
            None => (None, now),
            // Back to OK from a state never emailed (a held NO DATA): nothing to take back.
            Some(o) if state == ok && o.state != ok && o.alerted_at.is_none() => (None, now),
            Some(o) if o.state != state => (
                Some(if state == ok {
                    Why::Recovered
                } else {
                    Why::Changed
                }),
                now,
            ),
            Some(o) => {
                let last = o.alerted_at.unwrap_or(o.since);
                let due = state != ok && now - last >= reminder_every;
                (due.then_some(Why::Reminder), o.since)
            }
        };
        let alerted_at = if why.is_some() {
            Some(now)
        } else {
            old.and_then(|o| o.alerted_at)
        };
        if let Some(why) = why {
            changes.push(Change {
                check: c.clone(),
                was: old.map(|o| o.state),
                why,
                for_seconds: (now - since).num_seconds(),
            });
        }
        next.checks.insert(
            key.to_string(),
            StoredCheck {
                state,
                since,
                alerted_at,
                detail: c.detail().to_string(),
                no_data_since: None,
            },
        );
    }
    // Worst first, then changes before reminders before recoveries.
    changes.sort_by(|a, b| {
        b.check
            .state()
            .cmp(&a.check.state())
            .then(a.why.cmp(&b.why))
            .then(a.check.key().cmp(b.check.key()))
    });
    Diff {
        next,
        changes,
        held,
        first,
    }
}

/// A duration as alerts say it: `45 s`, `12 min`, `2 h 20 min`, `26 h`, `3 d`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 2 * 3600 {
        format!("{} min", s / 60)
    } else if s < 10 * 3600 && (s % 3600) / 60 != 0 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s < 3 * 86_400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} d", s / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state like replication-lag-check's: OK < NO DATA < WARNING < CRITICAL.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum St {
        Ok,
        NoData,
        Warning,
        Critical,
    }

    impl Level for St {
        const OK: Self = St::Ok;
        const NO_DATA: Self = St::NoData;
    }

    impl fmt::Display for St {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                St::Ok => "OK",
                St::NoData => "NO DATA",
                St::Warning => "WARNING",
                St::Critical => "CRITICAL",
            })
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    struct C {
        key: String,
        title: String,
        state: St,
        detail: String,
    }

    impl Check for C {
        type State = St;
        fn key(&self) -> &str {
            &self.key
        }
        fn state(&self) -> St {
            self.state
        }
        fn title(&self) -> String {
            self.title.clone()
        }
        fn detail(&self) -> &str {
            &self.detail
        }
    }

    fn c(key: &str, title: &str, state: St, detail: &str) -> C {
        C {
            key: key.into(),
            title: title.into(),
            state,
            detail: detail.into(),
        }
    }

    /// orders-db's backup age.
    fn age(state: St, detail: &str) -> C {
        c(
            "backup-age/orders-db",
            "orders-db backup age",
            state,
            detail,
        )
    }

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_219_200, 0).unwrap() + Duration::minutes(min)
    }

    const EVERY: Duration = Duration::hours(4);

    fn states<X: Check>(d: &Diff<X>) -> Vec<X::State> {
        d.changes.iter().map(|ch| ch.check.state()).collect()
    }

    #[test]
    fn ok_warning_critical_ok_emails_each_change_and_nothing_in_between() {
        // Given nothing stored, when the first evaluation runs, then every check is said once
        let d = diff(
            &Stored::default(),
            &[age(St::Ok, "1 h against RPO 24 h")],
            t(0),
            EVERY,
            "r0",
        );
        assert!(d.first);
        assert_eq!(d.changes.len(), 1);
        assert_eq!(d.changes[0].why, Why::Changed);
        // When nothing changed, then no email
        let d = diff(
            &d.next,
            &[age(St::Ok, "1 h against RPO 24 h")],
            t(5),
            EVERY,
            "r1",
        );
        assert!(!d.first);
        assert!(d.changes.is_empty());
        // When OK becomes WARNING, then that change
        let d = diff(
            &d.next,
            &[age(St::Warning, "20 h against RPO 24 h")],
            t(10),
            EVERY,
            "r2",
        );
        assert_eq!(
            d.changes[0].sentence(),
            "orders-db backup age WARNING (was OK): 20 h against RPO 24 h"
        );
        // When WARNING becomes CRITICAL, then that change
        let d = diff(
            &d.next,
            &[age(St::Critical, "26 h against RPO 24 h")],
            t(15),
            EVERY,
            "r3",
        );
        assert_eq!(
            d.changes[0].sentence(),
            "orders-db backup age CRITICAL (was WARNING): 26 h against RPO 24 h"
        );
        // When it stays CRITICAL, then nothing until the reminder interval has passed
        let d = diff(
            &d.next,
            &[age(St::Critical, "27 h against RPO 24 h")],
            t(60),
            EVERY,
            "r4",
        );
        assert!(d.changes.is_empty());
        let d = diff(
            &d.next,
            &[age(St::Critical, "30 h against RPO 24 h")],
            t(15 + 240),
            EVERY,
            "r5",
        );
        assert_eq!(d.changes[0].why, Why::Reminder);
        assert_eq!(
            d.changes[0].sentence(),
            "orders-db backup age CRITICAL (still, for 4 h): 30 h against RPO 24 h"
        );
        // and the next reminder counts from the last one
        let d = diff(
            &d.next,
            &[age(St::Critical, "31 h against RPO 24 h")],
            t(15 + 300),
            EVERY,
            "r6",
        );
        assert!(d.changes.is_empty());
        // When CRITICAL becomes OK, then "OK again"
        let d = diff(
            &d.next,
            &[age(St::Ok, "1 h against RPO 24 h")],
            t(400),
            EVERY,
            "r7",
        );
        assert_eq!(d.changes[0].why, Why::Recovered);
        assert_eq!(
            d.changes[0].sentence(),
            "orders-db backup age OK again (was CRITICAL): 1 h against RPO 24 h"
        );
        assert_eq!(d.next.written_by, "r7");
        assert_eq!(d.next.evaluated_at, Some(t(400)));
        // and quiet again after that: OK is never reminded
        let d = diff(
            &d.next,
            &[age(St::Ok, "1 h against RPO 24 h")],
            t(405 + 600),
            EVERY,
            "r8",
        );
        assert!(d.changes.is_empty());
    }

    #[test]
    fn no_data_is_a_state_of_its_own_and_worst_comes_first() {
        // Given three checks, all OK
        let a = c(
            "canary/backups-crr",
            "backups-crr canary",
            St::Ok,
            "arrived",
        );
        let b = c(
            "rule/cert.s3.save.fail",
            "cert.s3.save.fail metric rule",
            St::Ok,
            "1%",
        );
        let d0 = diff(
            &Stored::default(),
            &[a.clone(), b.clone(), age(St::Ok, "1 h")],
            t(0),
            EVERY,
            "r0",
        );
        let a2 = C {
            state: St::Warning,
            ..a
        };
        let b2 = C {
            state: St::NoData,
            ..b
        };
        let c2 = age(St::Critical, "26 h");
        // When one turns WARNING, one CRITICAL and one loses its data
        let d = diff(
            &d0.next,
            &[a2.clone(), b2.clone(), c2.clone()],
            t(5),
            EVERY,
            "r1",
        );
        // Then the worst comes first, and the one without data is held
        assert_eq!(states(&d), [St::Critical, St::Warning]);
        assert_eq!(d.held, ["rule/cert.s3.save.fail"]);
        // When the no data lasts the reminder interval, then it is a change of its own, after
        // the worse ones (reminded here)
        let d = diff(&d.next, &[a2, b2, c2], t(5 + 240), EVERY, "r2");
        assert_eq!(states(&d), [St::Critical, St::Warning, St::NoData]);
        assert_eq!(
            d.changes[2].sentence(),
            "cert.s3.save.fail metric rule NO DATA (was OK): 1%"
        );
    }

    #[test]
    fn changes_come_before_reminders_before_recoveries_in_one_state() {
        // Given two checks CRITICAL since t0 and one OK, and one CRITICAL since later
        let x = |k: &str, s| c(k, k, s, "d");
        let d = diff(
            &Stored::default(),
            &[x("a", St::Critical), x("b", St::Ok), x("c", St::Critical)],
            t(0),
            EVERY,
            "r0",
        );
        // When a reminder is due for "a", "b" turns CRITICAL and "c" recovers
        let d = diff(
            &d.next,
            &[x("a", St::Critical), x("b", St::Critical), x("c", St::Ok)],
            t(240),
            EVERY,
            "r1",
        );
        // Then the change comes before the reminder (same state), the recovery last
        let order: Vec<(&str, Why)> = d
            .changes
            .iter()
            .map(|ch| (ch.check.key(), ch.why))
            .collect();
        assert_eq!(
            order,
            [
                ("b", Why::Changed),
                ("a", Why::Reminder),
                ("c", Why::Recovered)
            ]
        );
    }

    #[test]
    fn a_check_not_evaluated_keeps_its_state() {
        // Given a CRITICAL canary and an OK backup age
        let canary = c(
            "canary/backups-crr",
            "backups-crr canary",
            St::Critical,
            "late",
        );
        let d = diff(
            &Stored::default(),
            &[canary, age(St::Ok, "1 h")],
            t(0),
            EVERY,
            "r0",
        );
        // When a focused run evaluates only the backup age
        let d = diff(&d.next, &[age(St::Ok, "1 h")], t(5), EVERY, "r1");
        // Then nothing is said and the canary keeps its state
        assert!(d.changes.is_empty());
        assert_eq!(d.next.checks["canary/backups-crr"].state, St::Critical);
        // And a full evaluation that no longer produces it forgets it
        let mut next = d.next.clone();
        next.keep_only(&[age(St::Ok, "1 h")]);
        assert_eq!(
            next.checks.keys().collect::<Vec<_>>(),
            ["backup-age/orders-db"]
        );
    }

    #[test]
    fn a_new_check_without_data_is_held_and_recovers_silently_if_never_emailed() {
        let other = |state| {
            c(
                "backup-age/catalog catalog-global",
                "catalog catalog-global global replicas",
                state,
                "DescribeGlobalClusters: Throttling",
            )
        };
        // Given a baseline
        let d = diff(&Stored::default(), &[age(St::Ok, "1 h")], t(0), EVERY, "r0");
        // When a read fails and a check appears for the first time with no data
        let held = diff(
            &d.next,
            &[age(St::Ok, "1 h"), other(St::NoData)],
            t(5),
            EVERY,
            "r1",
        );
        // Then it is held, not emailed
        assert!(held.changes.is_empty(), "{:?}", held.changes);
        assert_eq!(held.held, ["backup-age/catalog catalog-global"]);
        // When the read works again, then it goes quietly (never emailed, nothing to take back)
        let d = diff(
            &held.next,
            &[age(St::Ok, "1 h"), other(St::Ok)],
            t(10),
            EVERY,
            "r2",
        );
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert_eq!(d.next.checks[other(St::Ok).key()].state, St::Ok);
        // But when the no data lasts the reminder interval, then it is emailed
        let d = diff(
            &held.next,
            &[age(St::Ok, "1 h"), other(St::NoData)],
            t(5) + EVERY,
            EVERY,
            "r3",
        );
        assert_eq!(states(&d), [St::NoData]);
    }

    #[test]
    fn no_data_for_a_while_is_held_not_emailed() {
        // Given a CRITICAL check
        let d = diff(
            &Stored::default(),
            &[age(St::Critical, "26 h")],
            t(0),
            EVERY,
            "r0",
        );
        // When a read fails once
        let d = diff(
            &d.next,
            &[age(St::NoData, "could not be read")],
            t(5),
            EVERY,
            "r1",
        );
        // Then it is held: stored state unchanged, no email
        assert!(d.changes.is_empty());
        assert_eq!(d.held, ["backup-age/orders-db"]);
        let stored = &d.next.checks["backup-age/orders-db"];
        assert_eq!(stored.state, St::Critical);
        assert_eq!(stored.no_data_since, Some(t(5)));
        // When it is back to what it was, then there is nothing to say
        let d = diff(&d.next, &[age(St::Critical, "27 h")], t(10), EVERY, "r2");
        assert!(d.changes.is_empty());
        assert_eq!(d.next.checks["backup-age/orders-db"].no_data_since, None);
        // When no data lasts the reminder interval, then it is a change
        let d = diff(&d.next, &[age(St::NoData, "x")], t(20), EVERY, "r3");
        let d = diff(&d.next, &[age(St::NoData, "x")], t(20 + 240), EVERY, "r4");
        assert!(d.held.is_empty());
        assert_eq!(
            d.changes[0].sentence(),
            "orders-db backup age NO DATA (was CRITICAL): x"
        );
    }

    #[test]
    fn stored_states_are_plain_json_that_reads_back() {
        // Given stored states with a held check
        let d = diff(
            &Stored::default(),
            &[age(St::Critical, "26 h")],
            t(0),
            EVERY,
            "r0",
        );
        let d = diff(&d.next, &[age(St::NoData, "x")], t(5), EVERY, "r1");
        // When saved as JSON and read back
        let stored = d.next;
        let json = serde_json::to_value(&stored).unwrap();
        // Then the layout is the documented one
        assert_eq!(
            json,
            serde_json::json!({
                "written_by": "r1",
                "evaluated_at": "2026-11-21T00:05:00Z",
                "checks": {"backup-age/orders-db": {
                    "state": "critical",
                    "since": "2026-11-21T00:00:00Z",
                    "alerted_at": "2026-11-21T00:00:00Z",
                    "detail": "26 h",
                    "no_data_since": "2026-11-21T00:05:00Z"
                }}
            })
        );
        assert_eq!(serde_json::from_value::<Stored<St>>(json).unwrap(), stored);
        // and an empty object is nothing stored
        let empty: Stored<St> = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Stored::default());
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(human(Duration::seconds(45)), "45 s");
        assert_eq!(human(Duration::minutes(12)), "12 min");
        assert_eq!(human(Duration::minutes(140)), "2 h 20 min");
        assert_eq!(human(Duration::hours(26)), "26 h");
        assert_eq!(human(Duration::days(4)), "4 d");
        assert_eq!(human(Duration::seconds(-5)), "0 s");
    }
}
