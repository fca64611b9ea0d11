//! Alerts on state change only, through the shared machine ([`lifeboat_shared::alerts`]: what
//! changed, reminders, recoveries, held no data). The states of the last evaluation are kept in
//! S3 (`state/replication-lag-check/checks.json`, conditional writes) with what this function
//! keeps besides: the last full check and the canaries' bookkeeping. An email goes out when a
//! check changes state (worst first: "orders-db backup age CRITICAL (was OK): 26 h against RPO
//! 24 h"), when a check still failing is due its reminder, and when one recovers ("OK again").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifeboat_shared::alerts;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, State};

pub use lifeboat_shared::alerts::Why;

/// A check to email: the shared [`alerts::Change`] of this function's [`Check`].
pub type Change = alerts::Change<Check>;

/// What the last evaluation left: every check's state, since when, and its last alert (the
/// shared part, flattened: the JSON has the layout it always had), the last full check, and the
/// canaries not yet seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// `written_by`, `evaluated_at`, `checks`.
    #[serde(flatten)]
    pub states: alerts::Stored<State>,
    /// The last full check (`monitoring.full_check_every`); the lag checks in between keep the
    /// other checks' states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_check_at: Option<DateTime<Utc>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    /// `state/replication-lag-check/checks.json` as the function wrote it before the alert states
    /// moved to the shared crate (the old `Stored`, serialized): a held check (`no_data_since`),
    /// a check never emailed (`alerted_at: null`), a NO DATA one, pending and seen canaries.
    const OLD_LAYOUT: &str = r#"{
  "written_by": "20261121T120500Z-5d1f0c2a",
  "evaluated_at": "2026-11-21T12:05:00Z",
  "full_check_at": "2026-11-21T12:00:00Z",
  "checks": {
    "backup-age/orders-db": {
      "state": "critical",
      "since": "2026-11-21T09:00:00Z",
      "alerted_at": "2026-11-21T09:00:00Z",
      "detail": "26 h against RPO 24 h (snapshot lifeboat-orders-db-daily-20261120)"
    },
    "canary/backups-crr": {
      "state": "ok",
      "since": "2026-11-20T08:00:00Z",
      "alerted_at": null,
      "detail": "arrived in 41 s"
    },
    "replica/orders-db-replica": {
      "state": "no-data",
      "since": "2026-11-21T11:00:00Z",
      "alerted_at": null,
      "detail": "DescribeDBInstances: Throttling",
      "no_data_since": "2026-11-21T11:00:00Z"
    },
    "rule/cert.s3.save.fail": {
      "state": "warning",
      "since": "2026-11-21T10:00:00Z",
      "alerted_at": "2026-11-21T10:00:00Z",
      "detail": "7% over 10 min (alert above 5%)",
      "no_data_since": "2026-11-21T12:05:00Z"
    }
  },
  "canaries_pending": {
    "backups-crr": [
      {
        "key": "backups/lifeboat-canary/20261121T114500Z-20261121T114500Z-0a1b2c3d.json",
        "written": "2026-11-21T11:45:00Z",
        "looked": "2026-11-21T12:00:00Z"
      },
      {
        "key": "backups/lifeboat-canary/20261121T120000Z-20261121T120000Z-4e5f6a7b.json",
        "written": "2026-11-21T12:00:00Z",
        "looked": null
      }
    ]
  },
  "canaries_seen": {
    "backups/lifeboat-canary/20261121T113000Z-20261121T113000Z-8c9d0e1f.json": "2026-11-21T11:35:00Z"
  }
}"#;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn states_stored_before_the_move_still_read_and_are_written_the_same() {
        // Given the states object as the function stored it before the move
        // When this version reads it
        let stored: Stored = serde_json::from_str(OLD_LAYOUT).unwrap();
        // Then every field is there
        assert_eq!(stored.states.written_by, "20261121T120500Z-5d1f0c2a");
        assert_eq!(stored.states.evaluated_at, Some(at("2026-11-21T12:05:00Z")));
        assert_eq!(stored.full_check_at, Some(at("2026-11-21T12:00:00Z")));
        assert_eq!(stored.states.checks.len(), 4);
        let age = &stored.states.checks["backup-age/orders-db"];
        assert_eq!(age.state, State::Critical);
        assert_eq!(age.alerted_at, Some(at("2026-11-21T09:00:00Z")));
        assert_eq!(age.no_data_since, None);
        let rule = &stored.states.checks["rule/cert.s3.save.fail"];
        assert_eq!(rule.state, State::Warning);
        assert_eq!(rule.no_data_since, Some(at("2026-11-21T12:05:00Z")));
        assert_eq!(
            stored.states.checks["replica/orders-db-replica"].state,
            State::NoData
        );
        assert_eq!(stored.states.checks["canary/backups-crr"].alerted_at, None);
        let pending = &stored.canaries_pending["backups-crr"];
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].looked, Some(at("2026-11-21T12:00:00Z")));
        assert_eq!(pending[1].looked, None);
        assert_eq!(stored.canaries_seen.len(), 1);
        // And when it writes it back, it is the same JSON (an older version reads it too)
        let old: serde_json::Value = serde_json::from_str(OLD_LAYOUT).unwrap();
        assert_eq!(serde_json::to_value(&stored).unwrap(), old);
        // And a first run's object, without canaries or a full check, reads as before
        let bare: Stored =
            serde_json::from_str(r#"{"written_by": "r0", "evaluated_at": null, "checks": {}}"#)
                .unwrap();
        assert_eq!(bare.states.written_by, "r0");
        assert_eq!(bare.full_check_at, None);
        assert!(bare.canaries_pending.is_empty() && bare.canaries_seen.is_empty());
    }

    #[test]
    fn a_change_reads_and_archives_as_before() {
        // Given orders-db's backup age OK, then 26 h old against RPO 24 h
        let age = |state, detail: &str| {
            Check::new(
                "backup-age",
                "orders-db",
                "backup age",
                state,
                detail.into(),
            )
        };
        let t0 = at("2026-11-21T12:00:00Z");
        let every = Duration::hours(4);
        let ok = alerts::diff(
            &alerts::Stored::default(),
            &[age(State::Ok, "1 h against RPO 24 h")],
            t0,
            every,
            "r1",
        );
        // When it turns critical
        let d = alerts::diff(
            &ok.next,
            &[age(State::Critical, "26 h against RPO 24 h").value(93_600.0)],
            t0 + Duration::minutes(5),
            every,
            "r2",
        );
        // Then the alert names it as before
        let ch: &Change = &d.changes[0];
        assert_eq!(
            ch.sentence(),
            "orders-db backup age CRITICAL (was OK): 26 h against RPO 24 h"
        );
        // and the archived report's "changes" entry has its old shape
        assert_eq!(
            serde_json::to_value(ch).unwrap(),
            serde_json::json!({
                "check": {
                    "id": "backup-age/orders-db",
                    "subject": "orders-db",
                    "what": "backup age",
                    "state": "critical",
                    "value": 93600.0,
                    "detail": "26 h against RPO 24 h"
                },
                "was": "ok",
                "why": "changed",
                "for_seconds": 0
            })
        );
    }
}
