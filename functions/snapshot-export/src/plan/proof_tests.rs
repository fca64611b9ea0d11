//! Proof by identity, DR copies and retention: the defects an outside tester found (a name is not
//! proof; a DR copy goes after its primary; no copies made only to be deleted; every kept
//! snapshot has a line), Given / When / Then.
use super::tests::{deletes, dr_copy, export, ours, policy, scope, source, t, verdict, NOW};
use super::*;

/// A snapshot in the DR region that is not Lifeboat's: manual, no tags.
fn foreign_dr(id: &str, source_id: &str, at: &str) -> Snapshot {
    Snapshot {
        region: "us-west-2".into(),
        arn: format!("arn:aws:rds:us-west-2:123456789012:snapshot:{id}"),
        source_id: source_id.into(),
        tags: BTreeMap::new(),
        ..ours(id, at)
    }
}

fn dr_deletes(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::DeleteSnapshot {
                snapshot,
                place: Where::Dr,
            } => Some(snapshot.id.clone()),
            _ => None,
        })
        .collect()
}

fn copies(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::CopyToDr { snapshot, .. } => Some(snapshot.id.clone()),
            _ => None,
        })
        .collect()
}

/// The newest snapshot, in retention, with its DR copy and export: the backdrop of the tests
/// below, so "a newer backup exists" holds.
fn proven_newest(inv: &mut Inventory) -> Snapshot {
    let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    inv.snapshots.push(new.clone());
    inv.dr_snapshots.push(dr_copy(&new, "available"));
    inv.exports.push(export(&new, "COMPLETE"));
    new
}

#[test]
fn given_look_alikes_in_the_dr_region_when_planned_then_they_are_no_proof_and_are_kept() {
    // Given two old Lifeboat snapshots whose names are taken in the DR region by snapshots
    // that are not their copies: an untagged snapshot of scratch-db, and a tagged snapshot of
    // orders from another period (another snapshot, renamed)
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let mut old1 = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    old1.tags
        .insert(TAG_PERIOD.into(), "2026-10-01T00:00:00Z".into());
    let mut old2 = ours("lifeboat-orders-20261002-0000", "2026-10-02T00:00:00Z");
    old2.tags
        .insert(TAG_PERIOD.into(), "2026-10-02T00:00:00Z".into());
    let scratch = foreign_dr(&old1.id, "scratch-db", "2026-10-01T00:00:00Z");
    let mut renamed = dr_copy(&old2, "available");
    renamed
        .tags
        .insert(TAG_PERIOD.into(), "2026-09-02T00:00:00Z".into());
    inv.snapshots.extend([old1.clone(), old2.clone()]);
    inv.dr_snapshots.extend([scratch.clone(), renamed.clone()]);
    inv.exports
        .extend([export(&old1, "COMPLETE"), export(&old2, "COMPLETE")]);

    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));

    // Then neither counts as a DR copy of the old snapshots
    for old in [&old1, &old2] {
        let d = verdict(&plan, &old.id);
        assert!(!d.reason.contains("DR copy available"), "{}", d.reason);
    }
    // And each look-alike has a line saying it is no proof and is kept: never deleted
    for lookalike in [&scratch, &renamed] {
        let d = verdict(&plan, &format!("us-west-2/{}", lookalike.id));
        assert_eq!(d.verdict, Verdict::Keep, "{}", d.reason);
        assert!(
            d.reason.contains("not proof") && d.reason.contains("not ours"),
            "{}",
            d.reason
        );
    }
    assert!(dr_deletes(&plan).is_empty(), "{:#?}", plan.steps);
    // And the manifest does not name the look-alike as the DR copy
    let (m, _) = manifest_for(
        &old1,
        "orders-db",
        &source(&p).settings,
        None,
        &inv,
        &scope(),
        "backups-primary",
        t(NOW),
    );
    let copy = m.dr_copy.unwrap();
    assert_eq!(copy.arn, None, "{copy:?}");
    assert_ne!(copy.status, "available");
}

#[test]
fn given_an_export_of_another_snapshot_when_planned_then_it_is_no_proof() {
    // Given an old snapshot whose ARN AWS did not report, its DR copy, and a completed export
    // task that names no source either
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let mut old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    old.arn = String::new();
    inv.snapshots.push(old.clone());
    inv.dr_snapshots.push(dr_copy(&old, "available"));
    inv.exports.push(ExportTask {
        id: "someone-elses-export".into(),
        ..export(&old, "COMPLETE")
    });
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then the export proves nothing about this snapshot: it is kept
    assert!(deletes(&plan).is_empty(), "{:#?}", plan.decisions);
    let d = verdict(&plan, &old.id);
    assert_eq!(d.verdict, Verdict::Keep);
    assert!(d.reason.contains("export"), "{}", d.reason);
}

#[test]
fn given_a_primary_and_its_dr_copy_outside_retention_when_planned_then_the_copy_goes_a_run_after_the_primary(
) {
    // Given an old snapshot with its DR copy and export, and a newer proven one
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.dr_snapshots.push(dr_copy(&old, "available"));
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let first = plan(&p, &inv, &scope(), t(NOW));
    // Then the primary goes and its DR copy waits: it is kept, saying why
    assert_eq!(deletes(&first), vec![old.id.clone()]);
    assert!(dr_deletes(&first).is_empty(), "{:#?}", first.steps);
    let d = verdict(&first, &format!("us-west-2/{}", old.id));
    assert_eq!(d.verdict, Verdict::Keep);
    assert!(d.reason.contains("primary"), "{}", d.reason);
    // When the next run finds the primary gone
    inv.snapshots.retain(|s| s.id != old.id);
    let next = plan(&p, &inv, &scope(), t(NOW));
    // Then the DR copy goes, and nothing is copied again
    assert_eq!(dr_deletes(&next), vec![old.id.clone()]);
    assert!(copies(&next).is_empty(), "{:#?}", next.steps);
}

#[test]
fn given_the_dr_copy_went_but_the_primary_deletion_failed_when_planned_then_it_is_neither_copied_again_nor_deleted(
) {
    // Given an old snapshot whose DR copy is gone while the primary stayed (its deletion
    // failed), exported, and a newer proven one
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it is not copied across regions again, and it stays: require_dr_copy has no proof
    assert!(copies(&plan).is_empty(), "{:#?}", plan.steps);
    assert!(deletes(&plan).is_empty(), "{:#?}", plan.steps);
    assert!(verdict(&plan, &old.id)
        .reason
        .starts_with("kept past retention: require_dr_copy, and no DR copy exists"));
}

#[test]
fn given_a_snapshot_first_seen_outside_retention_without_a_dr_copy_then_it_is_exported_not_copied_and_kept(
) {
    // Given a Lifeboat snapshot already outside retention, never copied nor exported
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    // When the run is planned
    let first = plan(&p, &inv, &scope(), t(NOW));
    // Then no DR copy is made for it, its export is started, and it is kept, saying both
    assert!(copies(&first).is_empty(), "{:#?}", first.steps);
    assert!(first.steps.iter().any(|s| matches!(
        &s.step,
        Step::StartExport { snapshot, .. } if snapshot.id == old.id
    )));
    let d = verdict(&first, &old.id);
    assert_eq!(d.verdict, Verdict::Keep);
    assert!(
        d.reason
            .starts_with("kept past retention: require_dr_copy, and no DR copy exists")
            && d.reason.contains("its export has not completed"),
        "{}",
        d.reason
    );
    // When its export has completed
    inv.exports.push(export(&old, "COMPLETE"));
    let next = plan(&p, &inv, &scope(), t(NOW));
    // Then it still stays (the export is not the DR copy the policy requires), uncopied
    assert!(copies(&next).is_empty(), "{:#?}", next.steps);
    assert!(deletes(&next).is_empty(), "{:#?}", next.steps);
    assert_eq!(verdict(&next, &old.id).verdict, Verdict::Keep);
}

#[test]
fn kept_snapshots_of_unselected_databases_and_dr_look_alikes_get_a_decision_line() {
    // Given snapshots of scratch-db, which the policy does not select, in both regions, and
    // in the DR region a look-alike named like a Lifeboat snapshot of no known primary
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let mut automated = ours("rds:scratch-db-2026-11-20-03-00", "2026-11-20T03:00:00Z");
    automated.manual = false;
    automated.source_id = "scratch-db".into();
    automated.tags.clear();
    let mut manual = ours("scratch-before-upgrade", "2026-11-01T00:00:00Z");
    manual.source_id = "scratch-db".into();
    manual.tags.clear();
    let dr_manual = foreign_dr("scratch-dr-copy", "scratch-db", "2026-11-01T00:00:00Z");
    let dr_lookalike = foreign_dr(
        "lifeboat-scratch-db-20261001-0000",
        "scratch-db",
        "2026-10-01T00:00:00Z",
    );
    inv.snapshots.extend([automated.clone(), manual.clone()]);
    inv.dr_snapshots
        .extend([dr_manual.clone(), dr_lookalike.clone()]);
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then each is kept with a line that says why
    for subject in [
        automated.id.clone(),
        manual.id.clone(),
        format!("us-west-2/{}", dr_manual.id),
        format!("us-west-2/{}", dr_lookalike.id),
    ] {
        let d = verdict(&plan, &subject);
        assert_eq!(d.verdict, Verdict::Keep, "{subject}: {}", d.reason);
        assert!(
            d.reason.contains("never deleted"),
            "{subject}: {}",
            d.reason
        );
    }
    assert!(verdict(&plan, &automated.id)
        .reason
        .contains("not selected"));
    assert!(verdict(&plan, &format!("us-west-2/{}", dr_lookalike.id))
        .reason
        .contains("not ours"));
    // And a run narrowed to orders-db does not report them
    let narrowed = Scope {
        only: vec!["orders-db".into()],
        ..scope()
    };
    let plan = plan_for(&p, &inv, &narrowed);
    assert!(
        !plan.decisions.iter().any(|d| d.subject.contains("scratch")),
        "{:#?}",
        plan.decisions
    );
}

fn plan_for(p: &Policy, inv: &Inventory, s: &Scope) -> Plan {
    plan(p, inv, s, t(NOW))
}

#[test]
fn given_the_primary_snapshots_could_not_be_read_then_no_dr_copy_is_deleted() {
    // Given DR copies outside retention, and a failed read of the primary region's snapshots
    let p = policy("");
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        dr_snapshots: vec![dr_copy(&old, "available"), dr_copy(&new, "available")],
        read_errors: vec![ReadError {
            what: Read::Snapshots(ResourceKind::RdsInstance),
            error: "Throttling: Rate exceeded".into(),
        }],
        ..Default::default()
    };
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then no DR copy goes: that its primary is gone cannot be shown
    assert!(dr_deletes(&plan).is_empty(), "{:#?}", plan.steps);
    let d = verdict(&plan, &format!("us-west-2/{}", old.id));
    assert_eq!(d.verdict, Verdict::Keep);
    assert!(d.reason.contains("could not be read"), "{}", d.reason);
}

#[test]
fn given_the_dr_region_could_not_be_read_then_an_old_snapshot_waits_for_it() {
    // Given an old exported snapshot and a failed read of the DR region
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        read_errors: vec![ReadError {
            what: Read::DrSnapshots,
            error: "AccessDenied: not authorized".into(),
        }],
        ..Default::default()
    };
    let new = proven_newest(&mut inv);
    inv.dr_snapshots.clear();
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then nothing goes: whether a DR copy of it is under way is unknown
    assert!(deletes(&plan).is_empty(), "{:#?}", plan.decisions);
    assert_eq!(verdict(&plan, &old.id).verdict, Verdict::Keep);
    assert_eq!(verdict(&plan, &new.id).verdict, Verdict::Keep);
}

#[test]
fn given_a_look_alike_holding_the_copy_name_when_planned_then_no_copy_is_counted_and_a_warning_says_why(
) {
    // Given a snapshot within retention whose name in the DR region is taken by an untagged
    // snapshot of scratch-db
    let p = policy("");
    let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![s.clone()],
        dr_snapshots: vec![foreign_dr(&s.id, "scratch-db", "2026-11-21T00:00:00Z")],
        ..Default::default()
    };
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then no copy is planned under the taken name, a warning names it and why, and the
    // manifest waits for a real DR copy
    assert!(copies(&plan).is_empty(), "{:#?}", plan.steps);
    let f = plan
        .findings
        .iter()
        .find(|f| f.resource.as_deref() == Some(&format!("us-west-2/{}", s.id)))
        .unwrap_or_else(|| panic!("{:#?}", plan.findings));
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("scratch-db"), "{}", f.message);
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    let Step::WriteManifest {
        settled, manifest, ..
    } = &m[0].step
    else {
        panic!()
    };
    assert!(!settled);
    assert_eq!(manifest.dr_copy.as_ref().unwrap().status, "not-started");
}

#[test]
fn given_a_snapshot_retention_lets_go_without_a_copy_when_its_manifest_is_written_then_it_says_none_is_made(
) {
    // Given an old exported snapshot without a DR copy, kept because deletion is off
    let p = policy("automation: {delete_expired_snapshots: false}\n");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.exports.push(export(&old, "COMPLETE"));
    // When its manifest is planned
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    let Some(Step::WriteManifest {
        settled, manifest, ..
    }) = m
        .iter()
        .map(|p| &p.step)
        .find(|s| matches!(s, Step::WriteManifest { snapshot, .. } if snapshot.id == old.id))
    else {
        panic!("{m:#?}")
    };
    // Then it records that no DR copy is made, and is final: nothing else will change
    assert_eq!(manifest.dr_copy.as_ref().unwrap().status, "not-made");
    assert!(settled);
}

#[test]
fn given_a_dr_snapshot_with_our_tags_copied_from_another_snapshot_when_planned_then_it_is_no_proof()
{
    // Given an old snapshot and, under its name in the DR region, a snapshot with the same
    // tags that AWS says was copied from another snapshot (another account's, same name)
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    proven_newest(&mut inv);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let mut other = dr_copy(&old, "available");
    other.source_snapshot_arn = Some(old.arn.replace("123456789012", "210987654321"));
    inv.snapshots.push(old.clone());
    inv.dr_snapshots.push(other.clone());
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it proves no DR copy, and is kept as not ours
    let d = verdict(&plan, &old.id);
    assert!(!d.reason.contains("DR copy available"), "{}", d.reason);
    let d = verdict(&plan, &format!("us-west-2/{}", other.id));
    assert_eq!(d.verdict, Verdict::Keep);
    assert!(
        d.reason.contains("not proof") && d.reason.contains("210987654321"),
        "{}",
        d.reason
    );
    // And the same snapshot copied from this one's ARN is its DR copy
    inv.dr_snapshots = vec![
        dr_copy(&old, "available"),
        dr_copy(&inv.snapshots[0], "available"),
    ];
    let plan = plan_for(&p, &inv, &scope());
    assert!(verdict(&plan, &old.id).reason.contains("DR copy available"));
}
