//! Which snapshots get a data fingerprint this run, and why one that has none gets none.
//!
//! A fingerprint (row counts and checksums of the source) describes a snapshot only if it is
//! taken close to the snapshot's time. It is due for every snapshot this run requested — also
//! when the create's answer was lost and its retry answered "already exists" — and for a recent
//! Lifeboat snapshot an earlier run requested but did not fingerprint (it stopped, or its
//! fingerprint failed): the executor reads that snapshot's manifest and takes one if it has none.
//! Past [`FINGERPRINT_WINDOW_MINUTES`] none is taken: the manifest says why instead.

use super::*;

/// Whether this deployment takes fingerprints: `LIFEBOAT_FINGERPRINTS` is `on` (or unset), or
/// `off: <reason>` — the template sets that when the operator gave the function no VPC
/// configuration, so it could reach no database. Off, the run makes no database connection and
/// reads no secret; the report says so once, and each manifest's `fingerprint_missing` carries
/// the reason (restore-verification quotes it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fingerprints {
    #[default]
    On,
    Off(String),
}

/// The environment variable [`Fingerprints`] is read from.
pub const FINGERPRINTS_VAR: &str = "LIFEBOAT_FINGERPRINTS";

/// How a manifest's `fingerprint_missing` starts when fingerprints are off.
pub const FINGERPRINTS_OFF: &str = "fingerprints are off";

impl Fingerprints {
    /// The variable's value: unset or `on` is on; `off` with an optional `: <reason>` is off;
    /// anything else is refused naming the variable.
    pub fn parse(value: Option<&str>) -> std::result::Result<Fingerprints, String> {
        let Some(v) = value.map(str::trim) else {
            return Ok(Fingerprints::On);
        };
        if v.is_empty() || v.eq_ignore_ascii_case("on") {
            return Ok(Fingerprints::On);
        }
        match v.get(..3) {
            Some(head) if head.eq_ignore_ascii_case("off") => {
                let reason = v[3..].trim_start_matches([':', ' ', '\t']).trim();
                Ok(Fingerprints::Off(if reason.is_empty() {
                    "no reason given".to_string()
                } else {
                    reason.chars().take(200).collect()
                }))
            }
            _ => Err(format!(
                "\"on\", or \"off: <reason>\", got {:?}",
                v.chars().take(40).collect::<String>()
            )),
        }
    }

    /// The manifest's `fingerprint_missing` when off; `None` when on.
    pub fn missing(&self) -> Option<String> {
        match self {
            Fingerprints::On => None,
            Fingerprints::Off(reason) => Some(format!(
                "{FINGERPRINTS_OFF} ({FINGERPRINTS_VAR}): {reason}; row counts cannot be compared"
            )),
        }
    }
}

/// How long after a snapshot's creation the live source still describes it closely enough for
/// restore-verification's row-count comparison.
pub const FINGERPRINT_WINDOW_MINUTES: i64 = 15;

/// A fingerprint to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub source_id: String,
    pub snapshot_id: String,
    /// An earlier run's snapshot: take it only if its manifest has no fingerprint yet.
    pub unless_recorded: bool,
}

/// The fingerprints due this run. `created`: (source id, snapshot id) of this run's creates that
/// were done or found already done.
pub fn fingerprints_due(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    created: &[(String, String)],
    now: DateTime<Utc>,
) -> Vec<Due> {
    let has_access = |src: &Source| {
        policy
            .components
            .iter()
            .any(|c| c.name == src.component && c.database.is_some())
    };
    let source = |id: &str, kind: Option<ResourceKind>| {
        inv.sources
            .iter()
            .find(|s| s.id == id && kind.is_none_or(|k| s.kind == k))
    };
    let mut due: Vec<Due> = created
        .iter()
        .filter(|(src, _)| source(src, None).is_some_and(has_access))
        .map(|(src, snap)| Due {
            source_id: src.clone(),
            snapshot_id: snap.clone(),
            unless_recorded: false,
        })
        .collect();
    for snap in inv.snapshots.iter().filter(|s| s.managed()) {
        if due.iter().any(|d| d.snapshot_id == snap.id)
            || snap.tags.get(TAG_MANIFEST).map(String::as_str) == Some("final")
            || !within_window(snap, now)
        {
            continue;
        }
        let Some(src) = source(&snap.source_id, Some(snap.kind)) else {
            continue;
        };
        if has_access(src) && scope.includes(&src.component, &src.id) {
            due.push(Due {
                source_id: src.id.clone(),
                snapshot_id: snap.id.clone(),
                unless_recorded: true,
            });
        }
    }
    due
}

/// The snapshot was created (or is still being created) no longer than the window ago.
pub fn within_window(snap: &Snapshot, now: DateTime<Utc>) -> bool {
    snap.created_at
        .is_none_or(|t| now - t <= chrono::Duration::minutes(FINGERPRINT_WINDOW_MINUTES))
}

/// The manifest's reason when a snapshot of a component with database access has no
/// fingerprint and no run recorded a more precise one.
pub fn missing_reason(created_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match created_at {
        Some(t) if now - t > chrono::Duration::minutes(FINGERPRINT_WINDOW_MINUTES) => format!(
            "none was taken within {FINGERPRINT_WINDOW_MINUTES} min of the snapshot ({}); \
             the source no longer describes it, so none will be: row counts cannot be compared",
            t.format("%Y-%m-%d %H:%M UTC")
        ),
        _ => format!(
            "not taken yet: a run within {FINGERPRINT_WINDOW_MINUTES} min of the snapshot takes it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ours, policy, scope, source, t, NOW};
    use super::*;

    #[test]
    fn the_switch_is_on_unless_it_says_off_with_a_reason() {
        assert_eq!(Fingerprints::parse(None), Ok(Fingerprints::On));
        assert_eq!(Fingerprints::parse(Some("on")), Ok(Fingerprints::On));
        assert_eq!(
            Fingerprints::parse(Some("off: no VpcConfig (FingerprintSubnetIds is empty)")),
            Ok(Fingerprints::Off(
                "no VpcConfig (FingerprintSubnetIds is empty)".into()
            ))
        );
        assert_eq!(
            Fingerprints::parse(Some("off")),
            Ok(Fingerprints::Off("no reason given".into()))
        );
        assert!(Fingerprints::parse(Some("maybe")).is_err());
        let why = Fingerprints::Off("no VPC".into()).missing().unwrap();
        assert!(
            why.starts_with(FINGERPRINTS_OFF) && why.contains("no VPC"),
            "{why}"
        );
        assert_eq!(Fingerprints::On.missing(), None);
    }

    fn with_access() -> Policy {
        Policy::parse(
            "version: 1\nbuckets: {backup: backups-primary}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders], database: {name: orders, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf'}}\n",
        )
        .unwrap()
    }

    fn inv(p: &Policy, snaps: Vec<Snapshot>) -> Inventory {
        Inventory {
            sources: vec![source(p)],
            snapshots: snaps,
            ..Inventory::default()
        }
    }

    #[test]
    fn a_create_found_already_done_still_gets_its_fingerprint() {
        // Given this run's create answered "already exists" (its first answer was lost)
        let p = with_access();
        let created = vec![(
            "orders".to_string(),
            "lifeboat-orders-20261121-0000".to_string(),
        )];
        // When the fingerprints are planned
        let due = fingerprints_due(&p, &inv(&p, vec![]), &scope(), &created, t(NOW));
        // Then it is due, without a manifest check (this run requested it)
        assert_eq!(
            due,
            vec![Due {
                source_id: "orders".into(),
                snapshot_id: "lifeboat-orders-20261121-0000".into(),
                unless_recorded: false,
            }]
        );
    }

    #[test]
    fn an_earlier_runs_snapshot_is_fingerprinted_only_inside_the_window() {
        // Given Lifeboat snapshots created 10 min, 16 min ago, and one final-tagged 5 min ago
        let p = with_access();
        let recent = ours("lifeboat-orders-recent", "2026-11-21T02:50:00Z");
        let old = ours("lifeboat-orders-old", "2026-11-21T02:44:00Z");
        let mut settled = ours("lifeboat-orders-final", "2026-11-21T02:55:00Z");
        settled.tags.insert(TAG_MANIFEST.into(), "final".into());
        // When planned
        let due = fingerprints_due(
            &p,
            &inv(&p, vec![recent, old, settled]),
            &scope(),
            &[],
            t(NOW),
        );
        // Then only the recent one, if its manifest has none
        assert_eq!(
            due,
            vec![Due {
                source_id: "orders".into(),
                snapshot_id: "lifeboat-orders-recent".into(),
                unless_recorded: true,
            }]
        );
    }

    #[test]
    fn without_database_access_nothing_is_due() {
        let p = policy("");
        let created = vec![("orders".to_string(), "lifeboat-orders-x".to_string())];
        let snaps = vec![ours("lifeboat-orders-y", "2026-11-21T02:59:00Z")];
        assert!(fingerprints_due(&p, &inv(&p, snaps), &scope(), &created, t(NOW)).is_empty());
    }

    #[test]
    fn the_manifest_says_why_there_is_none() {
        let late = missing_reason(Some(t("2026-11-21T01:00:00Z")), t(NOW));
        assert!(late.contains("none will be"), "{late}");
        assert!(late.contains("2026-11-21 01:00 UTC"), "{late}");
        let soon = missing_reason(Some(t("2026-11-21T02:55:00Z")), t(NOW));
        assert!(soon.starts_with("not taken yet"), "{soon}");
    }
}
