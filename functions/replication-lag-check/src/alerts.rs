//! Alerts on state change only — pure. The states of the last evaluation are kept in S3
//! (`state/replication-lag-check/checks.json`, conditional writes); an email goes out when a
//! check changes state (worst first: "orders-db backup age CRITICAL (was OK): 26 h against RPO
//! 24 h"), when a check still failing is due its reminder, and when one recovers ("OK again").

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::checks::{Check, State};

/// What the last evaluation left: every check's state, since when, and its last alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// The run that wrote it (a retried save recognises its own write).
    #[serde(default)]
    pub written_by: String,
    #[serde(default)]
    pub evaluated_at: Option<DateTime<Utc>>,
    /// The last full check (`monitoring.full_check_every`); the lag checks in between keep the
    /// other checks' states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_check_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub checks: BTreeMap<String, StoredCheck>,
    /// Per pair, the canaries not yet seen in the replica: (replica key, written, the last time
    /// a run looked and did not find it). Lag checks look for them (HEAD), so that an arrival
    /// is known within one schedule period.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canaries_pending: BTreeMap<String, Vec<PendingCanary>>,
    /// When a run first saw each canary in the replica (by replica key). S3 gives a replica the
    /// source object's time, so its LastModified cannot tell when it arrived: this does.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub canaries_seen: BTreeMap<String, DateTime<Utc>>,
}

/// A canary written and not yet seen in its replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCanary {
    /// Its key in the replica bucket.
    pub key: String,
    pub written: DateTime<Utc>,
    /// The last time a run looked for it there and did not find it.
    #[serde(default)]
    pub looked: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCheck {
    pub state: State,
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

/// Why a check is in this run's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Its state changed (or, first seen, it is not OK).
    Changed,
    /// Still not OK, and its reminder interval has passed.
    Reminder,
    /// Back to OK.
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub check: Check,
    pub was: Option<State>,
    pub why: Why,
    /// How long it has been in its state (for reminders).
    pub for_seconds: i64,
}

impl Change {
    /// "orders-db backup age CRITICAL (was OK): 26 h against RPO 24 h".
    pub fn sentence(&self) -> String {
        let c = &self.check;
        let was = match (self.why, self.was) {
            (Why::Reminder, _) => format!(
                " (still, for {})",
                crate::checks::human(Duration::seconds(self.for_seconds))
            ),
            (Why::Recovered, Some(w)) => format!(" again (was {w})"),
            (_, Some(w)) => format!(" (was {w})"),
            (_, None) => String::new(),
        };
        format!("{} {} {}{was}: {}", c.subject, c.what, c.state, c.detail)
    }
}

/// The next stored state, the changes to email, and the checks held (no data for less than
/// `reminder_every` where a state was known: stored as before, not emailed). A check not
/// evaluated this run (a focused alarm check, `only`) keeps its stored state. `first`: there was
/// no stored state at all — the first evaluation reports every check once (the baseline).
pub fn diff(
    prev: &Stored,
    checks: &[Check],
    now: DateTime<Utc>,
    reminder_every: Duration,
    run_id: &str,
) -> (Stored, Vec<Change>, Vec<String>) {
    let first = prev.checks.is_empty();
    let mut next = prev.clone();
    next.written_by = run_id.to_string();
    next.evaluated_at = Some(now);
    let mut changes = Vec::new();
    let mut held = Vec::new();
    for c in checks {
        let old = prev.checks.get(&c.id);
        if let Some(o) = old.filter(|o| c.state == State::NoData && o.state != State::NoData) {
            let since = o.no_data_since.unwrap_or(now);
            if now - since < reminder_every {
                next.checks.insert(
                    c.id.clone(),
                    StoredCheck {
                        no_data_since: Some(since),
                        ..o.clone()
                    },
                );
                held.push(c.id.clone());
                continue;
            }
        }
        // A check seen for the first time without data (a listing that failed names its
        // component instead of its resources) is held like a known one that lost its data.
        if old.is_none() && !first && c.state == State::NoData {
            next.checks.insert(
                c.id.clone(),
                StoredCheck {
                    state: State::NoData,
                    since: now,
                    alerted_at: None,
                    detail: c.detail.clone(),
                    no_data_since: Some(now),
                },
            );
            held.push(c.id.clone());
            continue;
        }
        let (why, since) = match old {
            None if first || c.state != State::Ok => (Some(Why::Changed), now),
            None => (None, now),
            // Back to OK from a state never emailed (a held NO DATA): nothing to take back.
            Some(o) if c.state == State::Ok && o.state != State::Ok && o.alerted_at.is_none() => {
                (None, now)
            }
            Some(o) if o.state != c.state => (
                Some(if c.state == State::Ok {
                    Why::Recovered
                } else {
                    Why::Changed
                }),
                now,
            ),
            Some(o) => {
                let last = o.alerted_at.unwrap_or(o.since);
                let due = c.state != State::Ok && now - last >= reminder_every;
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
            c.id.clone(),
            StoredCheck {
                state: c.state,
                since,
                alerted_at,
                detail: c.detail.clone(),
                no_data_since: None,
            },
        );
    }
    // Worst first, then changes before reminders before recoveries.
    changes.sort_by(|a, b| {
        b.check
            .state
            .cmp(&a.check.state)
            .then((a.why as u8).cmp(&(b.why as u8)))
            .then(a.check.id.cmp(&b.check.id))
    });
    (next, changes, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_219_200, 0).unwrap() + Duration::minutes(min)
    }

    fn check(state: State, detail: &str) -> Check {
        Check::new(
            "backup-age",
            "orders-db",
            "backup age",
            state,
            detail.into(),
        )
    }

    #[test]
    fn ok_warning_critical_ok_emails_each_change_and_nothing_in_between() {
        let every = Duration::hours(4);
        // The first evaluation is the baseline: every check once
        let (s, ch, _) = diff(
            &Stored::default(),
            &[check(State::Ok, "1 h against RPO 24 h")],
            t(0),
            every,
            "r0",
        );
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].why, Why::Changed);
        // No change: no email
        let (s, ch, _) = diff(
            &s,
            &[check(State::Ok, "1 h against RPO 24 h")],
            t(5),
            every,
            "r1",
        );
        assert!(ch.is_empty());
        // ok → warning
        let (s, ch, _) = diff(
            &s,
            &[check(State::Warning, "20 h against RPO 24 h")],
            t(10),
            every,
            "r2",
        );
        assert_eq!(
            ch[0].sentence(),
            "orders-db backup age WARNING (was OK): 20 h against RPO 24 h"
        );
        // warning → critical
        let (s, ch, _) = diff(
            &s,
            &[check(State::Critical, "26 h against RPO 24 h")],
            t(15),
            every,
            "r3",
        );
        assert_eq!(
            ch[0].sentence(),
            "orders-db backup age CRITICAL (was WARNING): 26 h against RPO 24 h"
        );
        // still critical: nothing until the reminder interval has passed
        let (s, ch, _) = diff(
            &s,
            &[check(State::Critical, "27 h against RPO 24 h")],
            t(60),
            every,
            "r4",
        );
        assert!(ch.is_empty());
        let (s, ch, _) = diff(
            &s,
            &[check(State::Critical, "30 h against RPO 24 h")],
            t(15 + 240),
            every,
            "r5",
        );
        assert_eq!(ch[0].why, Why::Reminder);
        assert_eq!(
            ch[0].sentence(),
            "orders-db backup age CRITICAL (still, for 4 h): 30 h against RPO 24 h"
        );
        let (s, ch, _) = diff(
            &s,
            &[check(State::Critical, "31 h against RPO 24 h")],
            t(15 + 300),
            every,
            "r6",
        );
        assert!(ch.is_empty(), "the next reminder counts from the last one");
        // critical → ok: "OK again"
        let (s, ch, _) = diff(
            &s,
            &[check(State::Ok, "1 h against RPO 24 h")],
            t(400),
            every,
            "r7",
        );
        assert_eq!(ch[0].why, Why::Recovered);
        assert_eq!(
            ch[0].sentence(),
            "orders-db backup age OK again (was CRITICAL): 1 h against RPO 24 h"
        );
        assert_eq!(s.written_by, "r7");
        // and quiet again after that
        let (_, ch, _) = diff(
            &s,
            &[check(State::Ok, "1 h against RPO 24 h")],
            t(405),
            every,
            "r8",
        );
        assert!(ch.is_empty());
    }

    #[test]
    fn no_data_is_a_state_of_its_own_and_worst_comes_first() {
        let every = Duration::hours(4);
        let a = Check::new(
            "canary",
            "backups-crr",
            "canary",
            State::Ok,
            "arrived".into(),
        );
        let b = Check::new(
            "rule",
            "cert.s3.save.fail",
            "metric rule",
            State::Ok,
            "1%".into(),
        );
        let c = check(State::Ok, "1 h");
        let (s, _, _) = diff(
            &Stored::default(),
            &[a.clone(), b.clone(), c.clone()],
            t(0),
            every,
            "r0",
        );
        let mut b2 = b.clone();
        b2.state = State::NoData;
        let mut c2 = c.clone();
        c2.state = State::Critical;
        let mut a2 = a.clone();
        a2.state = State::Warning;
        let (s, ch, held) = diff(&s, &[a2.clone(), b2.clone(), c2.clone()], t(5), every, "r1");
        let order: Vec<State> = ch.iter().map(|c| c.check.state).collect();
        assert_eq!(order, [State::Critical, State::Warning]);
        assert_eq!(held, vec!["rule/cert.s3.save.fail".to_string()]);
        // No data that lasts is a change of its own, after the worse ones (reminded here)
        let (_, ch, _) = diff(&s, &[a2, b2, c2], t(5 + 240), every, "r2");
        let order: Vec<State> = ch.iter().map(|c| c.check.state).collect();
        assert_eq!(order, [State::Critical, State::Warning, State::NoData]);
        assert_eq!(
            ch[2].sentence(),
            "cert.s3.save.fail metric rule NO DATA (was OK): 1%"
        );
    }

    #[test]
    fn a_check_not_evaluated_keeps_its_state() {
        let every = Duration::hours(4);
        let a = Check::new(
            "canary",
            "backups-crr",
            "canary",
            State::Critical,
            "late".into(),
        );
        let (s, _, _) = diff(
            &Stored::default(),
            &[a, check(State::Ok, "1 h")],
            t(0),
            every,
            "r0",
        );
        // A focused run evaluates only the backup age
        let (s2, ch, _) = diff(&s, &[check(State::Ok, "1 h")], t(5), every, "r1");
        assert!(ch.is_empty());
        assert_eq!(s2.checks["canary/backups-crr"].state, State::Critical);
    }

    #[test]
    fn a_new_check_without_data_is_held_and_recovers_silently_if_never_emailed() {
        let every = Duration::hours(4);
        let other = |state| {
            Check::new(
                "backup-age",
                "catalog catalog-global",
                "global replicas",
                state,
                "DescribeGlobalClusters: Throttling".into(),
            )
        };
        // Given a baseline
        let (s, _, _) = diff(
            &Stored::default(),
            &[check(State::Ok, "1 h")],
            t(0),
            every,
            "r0",
        );
        // When a read fails and a check appears for the first time with no data
        let (s, ch, held) = diff(
            &s,
            &[check(State::Ok, "1 h"), other(State::NoData)],
            t(5),
            every,
            "r1",
        );
        // Then it is held, not emailed
        assert!(ch.is_empty(), "{ch:?}");
        assert_eq!(held.len(), 1);
        // And when the read works again it goes quietly (never emailed, nothing to take back)
        let (s2, ch, _) = diff(
            &s,
            &[check(State::Ok, "1 h"), other(State::Ok)],
            t(10),
            every,
            "r2",
        );
        assert!(ch.is_empty(), "{ch:?}");
        assert_eq!(s2.checks[&other(State::Ok).id].state, State::Ok);
        // But no data that lasts is emailed after the reminder interval
        let (_, ch, _) = diff(
            &s,
            &[check(State::Ok, "1 h"), other(State::NoData)],
            t(5) + every,
            every,
            "r3",
        );
        assert_eq!(ch.len(), 1, "{ch:?}");
        assert_eq!(ch[0].check.state, State::NoData);
    }

    #[test]
    fn no_data_for_a_while_is_held_not_emailed() {
        let every = Duration::hours(4);
        let (s, _, _) = diff(
            &Stored::default(),
            &[check(State::Critical, "26 h")],
            t(0),
            every,
            "r0",
        );
        // A read fails once: no data, held (stored state unchanged, no email)
        let (s, ch, held) = diff(
            &s,
            &[check(State::NoData, "could not be read")],
            t(5),
            every,
            "r1",
        );
        assert!(ch.is_empty());
        assert_eq!(held, vec!["backup-age/orders-db".to_string()]);
        assert_eq!(s.checks["backup-age/orders-db"].state, State::Critical);
        // Back to what it was: nothing to say
        let (s, ch, _) = diff(&s, &[check(State::Critical, "27 h")], t(10), every, "r2");
        assert!(ch.is_empty());
        assert_eq!(s.checks["backup-age/orders-db"].no_data_since, None);
        // No data that lasts the reminder interval is a change
        let (s, _, _) = diff(&s, &[check(State::NoData, "x")], t(20), every, "r3");
        let (_, ch, held) = diff(&s, &[check(State::NoData, "x")], t(20 + 240), every, "r4");
        assert!(held.is_empty());
        assert_eq!(
            ch[0].sentence(),
            "orders-db backup age NO DATA (was CRITICAL): x"
        );
    }
}
