//! Deletions and the manifests that record them: intent before, settlement after.
//!
//! Before retention deletes a snapshot (or a DR copy), the executor writes an [`Intent`] under
//! [`INTENTS`]; without it the deletion does not happen. After the deletion, the Manifest phase
//! settles every intent it finds — this run's and any an earlier run left (it stopped, or its
//! manifest write failed): the snapshot's manifest is rewritten to say what is true (snapshot
//! "deleted", DR copy "deleted") and the intent is removed. An intent whose deletion did not
//! happen (the snapshot is still there) is dropped with the manifest unchanged; one whose outcome
//! cannot be known yet (the deletion failed, or the inventory could not be read) stays for the
//! next run.

use super::*;

/// Where intents live in the backup bucket.
pub const INTENTS: &str = "state/snapshot-export/deleting/";

/// A deletion about to happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub snapshot: Snapshot,
    pub place: Where,
    /// The manifest that records the snapshot (a DR copy's: its primary's).
    pub manifest_key: String,
    pub run_id: String,
    pub at: DateTime<Utc>,
}

impl Intent {
    pub fn new(snapshot: &Snapshot, place: Where, run_id: &str, at: DateTime<Utc>) -> Intent {
        Intent {
            snapshot: snapshot.clone(),
            place,
            manifest_key: manifest_key(snapshot.kind, &snapshot.source_id, &snapshot.id),
            run_id: run_id.to_string(),
            at,
        }
    }

    /// `state/snapshot-export/deleting/<primary|dr>/<kind>/<snapshot id>.json`.
    pub fn key(&self) -> String {
        intent_key(self.place, self.snapshot.kind, &self.snapshot.id)
    }
}

pub fn intent_key(place: Where, kind: ResourceKind, snapshot_id: &str) -> String {
    let place = match place {
        Where::Primary => "primary",
        Where::Dr => "dr",
    };
    format!("{INTENTS}{place}/{kind}/{snapshot_id}.json")
}

/// What became of an intent's deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The snapshot is gone: the manifest says so.
    Deleted,
    /// The snapshot is still there: the deletion did not happen; the intent is dropped.
    StillThere,
    /// Not known yet: the intent stays for the next run, with the reason.
    Unknown(String),
}

/// Settles `intent` from this run's deletion outcome for it (if this run attempted it) or, for
/// an earlier run's intent, from the inventory — only when the inventory read that place.
pub fn settlement(intent: &Intent, this_run: Option<Outcome>, inv: &Inventory) -> Settlement {
    match this_run {
        Some(Outcome::Done | Outcome::AlreadyDone | Outcome::Planned) => {
            return Settlement::Deleted
        }
        Some(Outcome::Failed) => {
            return Settlement::Unknown(
                "the deletion failed (its answer may have been lost): the next run looks again"
                    .into(),
            )
        }
        // Deferred or skipped this run: nothing happened to it now; look at the inventory.
        Some(_) | None => {}
    }
    let (read, listed) = match intent.place {
        Where::Primary => (Read::Snapshots(intent.snapshot.kind), &inv.snapshots),
        Where::Dr => (Read::DrSnapshots, &inv.dr_snapshots),
    };
    if inv.unread(read) {
        return Settlement::Unknown(format!(
            "{} could not be read: whether the deletion happened is not known yet",
            read.label()
        ));
    }
    if listed
        .iter()
        .any(|s| s.kind == intent.snapshot.kind && s.id == intent.snapshot.id)
    {
        Settlement::StillThere
    } else {
        Settlement::Deleted
    }
}

/// The manifest that records a settled deletion: the existing one with the deleted place marked
/// "deleted", or, when there is none (or it is of another schema), one made from the intent's
/// record and the inventory — unless the inventory missed a read that manifest depends on: then
/// `Err` names it and the intent waits for a run that can read it.
pub fn settled_manifest(
    existing: Option<Manifest>,
    intent: &Intent,
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Manifest, Read> {
    let existing = existing.filter(|m| m.check().is_ok());
    if existing.is_none() {
        let (_, settings) = component_of(policy, inv, &intent.snapshot);
        if let Some(read) = unreadable_for(&intent.snapshot, &settings, inv, scope) {
            return Err(read);
        }
    }
    let mut m = existing.unwrap_or_else(|| {
        let (component, settings) = component_of(policy, inv, &intent.snapshot);
        let source = inv
            .sources
            .iter()
            .find(|s| s.id == intent.snapshot.source_id && s.kind == intent.snapshot.kind);
        let mut primary = intent.snapshot.clone();
        if intent.place == Where::Dr {
            // A DR copy's record: the manifest describes the primary, long gone — by the
            // primary's ARN, which its export names.
            primary.arn = intent
                .snapshot
                .source_snapshot_arn
                .clone()
                .unwrap_or_else(|| {
                    intent.snapshot.arn.replace(
                        &format!(":{}:", intent.snapshot.region),
                        &format!(":{}:", scope.primary_region),
                    )
                });
            primary.region = scope.primary_region.clone();
            primary.status = "deleted".into();
        }
        manifest_for(
            &primary,
            &component,
            &settings,
            source,
            inv,
            scope,
            inv.target.label(policy),
            now,
        )
        .0
    });
    match intent.place {
        Where::Primary => m.snapshot.status = "deleted".into(),
        Where::Dr => {
            let copy = m.dr_copy.get_or_insert_with(|| ManifestCopy {
                region: intent.snapshot.region.clone(),
                id: intent.snapshot.id.clone(),
                arn: Some(intent.snapshot.arn.clone()),
                status: String::new(),
            });
            copy.status = "deleted".into();
        }
    }
    m.written_at = now;
    m.written_by = scope.run_id.clone();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{dr_copy, export, ours, policy, scope, source, t, NOW};
    use super::*;

    fn world() -> (Policy, Snapshot, Inventory) {
        let p = policy("");
        let s = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
        let inv = Inventory {
            sources: vec![source(&p)],
            dr_snapshots: vec![dr_copy(&s, "available")],
            exports: vec![export(&s, "COMPLETE")],
            ..Default::default()
        };
        (p, s, inv)
    }

    #[test]
    fn an_intent_is_settled_by_this_runs_outcome_else_by_the_inventory() {
        let (_, s, mut inv) = world();
        let i = Intent::new(&s, Where::Primary, "run-0", t(NOW));
        assert_eq!(
            i.key(),
            "state/snapshot-export/deleting/primary/rds-instance/lifeboat-orders-20261001-0000.json"
        );
        // This run deleted it (or found it gone, or plans to in a dry run)
        for o in [Outcome::Done, Outcome::AlreadyDone, Outcome::Planned] {
            assert_eq!(settlement(&i, Some(o), &inv), Settlement::Deleted);
        }
        // This run's deletion failed: its answer may have been lost, so it is not known
        assert!(matches!(
            settlement(&i, Some(Outcome::Failed), &inv),
            Settlement::Unknown(_)
        ));
        // An earlier run's intent: the snapshot is gone ...
        assert_eq!(settlement(&i, None, &inv), Settlement::Deleted);
        // ... or still there
        inv.snapshots.push(s.clone());
        assert_eq!(settlement(&i, None, &inv), Settlement::StillThere);
        // ... or the primary region's snapshots could not be read: absence proves nothing
        inv.snapshots.clear();
        inv.read_errors.push(ReadError {
            what: Read::Snapshots(ResourceKind::RdsInstance),
            error: "Throttling: Rate exceeded".into(),
        });
        match settlement(&i, None, &inv) {
            Settlement::Unknown(why) => assert!(why.contains("could not be read"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A DR intent looks at the DR region only
        let d = Intent::new(&dr_copy(&s, "available"), Where::Dr, "run-0", t(NOW));
        assert_eq!(settlement(&d, None, &inv), Settlement::StillThere);
    }

    #[test]
    fn the_settled_manifest_says_what_is_true() {
        let (p, s, inv) = world();
        // Given the manifest an earlier run wrote: snapshot available, DR copy available
        let (before, _) = manifest_for(
            &s,
            "orders-db",
            &p.settings_by_name("orders-db"),
            None,
            &Inventory {
                snapshots: vec![s.clone()],
                ..inv.clone()
            },
            &scope(),
            "backups-primary",
            t("2026-10-02T00:00:00Z"),
        );
        assert_eq!(before.dr_copy.as_ref().unwrap().status, "available");
        // When the primary's deletion settles
        let primary = Intent::new(&s, Where::Primary, "run-1", t(NOW));
        let m =
            settled_manifest(Some(before.clone()), &primary, &p, &inv, &scope(), t(NOW)).unwrap();
        // Then the snapshot is deleted, the export and DR copy it names remain
        assert_eq!(m.snapshot.status, "deleted");
        assert_eq!(m.dr_copy.as_ref().unwrap().status, "available");
        assert_eq!(m.export.as_ref().unwrap().status, "COMPLETE");
        assert_eq!(m.written_by, "run-1");
        // And when its DR copy goes a run later, the same manifest says so
        let dr = Intent::new(&dr_copy(&s, "available"), Where::Dr, "run-2", t(NOW));
        let m = settled_manifest(Some(m), &dr, &p, &inv, &scope(), t(NOW)).unwrap();
        assert_eq!(m.snapshot.status, "deleted");
        assert_eq!(m.dr_copy.as_ref().unwrap().status, "deleted");
        // A manifest that was never written is made from the intent's record
        let m = settled_manifest(None, &primary, &p, &inv, &scope(), t(NOW)).unwrap();
        assert_eq!(m.snapshot.id, s.id);
        assert_eq!(m.snapshot.status, "deleted");
        assert_eq!(m.component, "orders-db");
        assert_eq!(m.export.as_ref().unwrap().status, "COMPLETE");
        // ... unless the export tasks could not be read: it would say "not started"
        let mut blind = inv.clone();
        blind.exports.clear();
        blind.read_errors.push(ReadError {
            what: Read::ExportTasks,
            error: "Throttling: Rate exceeded".into(),
        });
        assert_eq!(
            settled_manifest(None, &primary, &p, &blind, &scope(), t(NOW)),
            Err(Read::ExportTasks)
        );
        // A DR copy settled before its primary's intent (the primary's settlement failed):
        // the manifest made from its record names the primary's export
        let m = settled_manifest(None, &dr, &p, &inv, &scope(), t(NOW)).unwrap();
        assert_eq!(m.snapshot.arn, s.arn);
        assert_eq!(m.export.as_ref().unwrap().status, "COMPLETE");
        assert_eq!(m.dr_copy.as_ref().unwrap().status, "deleted");
        let mut no_source = dr_copy(&s, "available");
        no_source.source_snapshot_arn = None;
        let d2 = Intent::new(&no_source, Where::Dr, "run-2", t(NOW));
        let m = settled_manifest(None, &d2, &p, &inv, &scope(), t(NOW)).unwrap();
        assert_eq!(m.snapshot.arn, s.arn);
        // (an existing manifest needs no inventory: only the deleted place changes)
        assert!(settled_manifest(Some(before), &primary, &p, &blind, &scope(), t(NOW)).is_ok());
    }
}
