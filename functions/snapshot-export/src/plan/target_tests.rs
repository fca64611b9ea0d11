//! The backup target (`buckets.target_parameter`) in the plan, Given / When / Then: exports and
//! manifests go to the bucket it names, a failover's secondary is warned about, and a target
//! that is unknown blocks every write to a bucket and nothing else.
use super::tests::{dr_copy, export, ours, policy, scope, source, t, NOW};
use super::*;
use crate::inventory::Destination;

const PARAM: &str = "/lifeboat/backup-target";

/// The test policy with a secondary bucket and the target parameter.
fn failover_policy() -> Policy {
    let mut p = policy("");
    p.buckets.dr_backup = Some("backups-secondary".into());
    p.buckets.target_parameter = Some(PARAM.into());
    p
}

fn secondary_in(region: &str) -> Destination {
    Destination::Secondary {
        bucket: "backups-secondary".into(),
        parameter: PARAM.into(),
        region: region.into(),
    }
}

fn exports_planned(plan: &Plan) -> Vec<&Planned> {
    plan.steps
        .iter()
        .filter(|p| matches!(p.step, Step::StartExport { .. }))
        .collect()
}

#[test]
fn exports_and_manifests_go_to_the_secondary_the_parameter_points_at() {
    // Given a failover: the target parameter points at the secondary bucket (here in the
    // snapshots' own region), one snapshot exported before it (to the primary), one not yet
    let p = failover_policy();
    let before = ours("lifeboat-orders-20261120-0000", "2026-11-20T00:00:00Z");
    let today = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let mut done = export(&before, "COMPLETE");
    done.bucket = Some("backups-primary".into());
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![before.clone(), today.clone()],
        dr_snapshots: vec![dr_copy(&before, "available"), dr_copy(&today, "copying")],
        exports: vec![done],
        target: secondary_in("us-east-1"),
        ..Default::default()
    };
    // When planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then today's export goes to the secondary, and is started now
    let ex = exports_planned(&plan);
    assert_eq!(ex.len(), 1, "{:#?}", plan.steps);
    let Step::StartExport { bucket, .. } = &ex[0].step else {
        unreachable!()
    };
    assert_eq!(bucket, "backups-secondary");
    assert!(!ex[0].deferred && ex[0].blocked.is_none());
    assert!(
        ex[0]
            .action
            .target
            .as_deref()
            .is_some_and(|t| t.starts_with("s3://backups-secondary/")),
        "{:?}",
        ex[0].action
    );
    // And the report warns, naming the bucket and the parameter, in the runbook's words
    let warning = plan
        .findings
        .iter()
        .find(|f| f.severity == Severity::Warning && f.resource.as_deref() == Some(PARAM))
        .unwrap_or_else(|| panic!("{:#?}", plan.findings));
    assert_eq!(
        warning.message,
        "backups go to the secondary bucket backups-secondary: the backup target parameter /lifeboat/backup-target points there (failover); failback switches it back"
    );
    // And the manifests are written to the secondary, each export recorded where it is
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    assert_eq!(m.len(), 2);
    for planned in &m {
        let Step::WriteManifest {
            snapshot, manifest, ..
        } = &planned.step
        else {
            unreachable!()
        };
        assert!(
            planned
                .action
                .target
                .as_deref()
                .is_some_and(|t| t.starts_with("s3://backups-secondary/backups/")),
            "{:?}",
            planned.action
        );
        let location = &manifest.export.as_ref().unwrap().location;
        let want = if snapshot.id == before.id {
            "s3://backups-primary/"
        } else {
            "s3://backups-secondary/"
        };
        assert!(location.starts_with(want), "{}: {location}", snapshot.id);
    }
}

#[test]
fn an_export_waits_while_the_secondary_is_in_another_region() {
    // Given the target parameter pointing at the secondary in the DR region, and a snapshot in
    // the primary region not exported yet (RDS and ElastiCache export only to a bucket in the
    // snapshot's region)
    let p = failover_policy();
    let today = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![today.clone()],
        dr_snapshots: vec![dr_copy(&today, "available")],
        target: secondary_in("us-west-2"),
        ..Default::default()
    };
    // When planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then the export is deferred with the reason: never sent to the primary instead
    let ex = exports_planned(&plan);
    assert_eq!(ex.len(), 1, "{:#?}", plan.steps);
    assert!(ex[0].deferred && ex[0].blocked.is_none());
    let Step::StartExport { bucket, .. } = &ex[0].step else {
        unreachable!()
    };
    assert_eq!(bucket, "backups-secondary");
    assert!(
        ex[0]
            .action
            .reason
            .contains("snapshot's region (us-east-1)")
            && ex[0]
                .action
                .reason
                .contains("secondary bucket backups-secondary in us-west-2")
            && ex[0].action.reason.contains("once failback"),
        "{}",
        ex[0].action.reason
    );
    // And the manifest still goes to the secondary (S3 writes cross regions)
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    assert!(!m[0].deferred && m[0].blocked.is_none());
    assert!(m[0]
        .action
        .target
        .as_deref()
        .is_some_and(|t| t.starts_with("s3://backups-secondary/")));
}

#[test]
fn an_unknown_target_blocks_every_write_to_a_bucket_and_nothing_else() {
    // Given a target parameter that could not be resolved, an old proven snapshot retention lets
    // go, yesterday's snapshot without export or DR copy, and no snapshot for today
    let p = failover_policy();
    let why = "the backup target parameter /lifeboat/backup-target (buckets.target_parameter) does not exist in the primary region";
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let yesterday = ours("lifeboat-orders-20261120-0000", "2026-11-20T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![old.clone(), yesterday.clone()],
        dr_snapshots: vec![dr_copy(&old, "available")],
        exports: vec![export(&old, "COMPLETE")],
        target: Destination::Unknown(why.into()),
        ..Default::default()
    };
    // When planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then today's snapshot and yesterday's DR copy go ahead: they write to no bucket
    for kind in ["create-snapshot", "copy-to-dr"] {
        let s = plan
            .steps
            .iter()
            .find(|s| s.action.kind == kind)
            .unwrap_or_else(|| panic!("{kind}: {:#?}", plan.steps));
        assert!(s.blocked.is_none(), "{kind}: {s:?}");
    }
    // And the export and the deletion (whose intent goes to the bucket first) are blocked,
    // naming the parameter
    for s in plan.steps.iter().filter(|s| {
        matches!(
            s.step,
            Step::StartExport { .. } | Step::DeleteSnapshot { .. }
        )
    }) {
        let b = s.blocked.as_deref().unwrap_or_default();
        assert!(b.contains(why), "{s:?}");
    }
    assert!(plan
        .steps
        .iter()
        .any(|s| matches!(s.step, Step::DeleteSnapshot { .. })));
    assert_eq!(exports_planned(&plan).len(), 1);
    // And the report's critical line says so
    assert!(
        plan.findings
            .iter()
            .any(|f| f.severity == Severity::Critical && f.message.contains(why)),
        "{:#?}",
        plan.findings
    );
    // And no manifest is written: each one is blocked with the reason
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    assert_eq!(m.len(), 2);
    for s in &m {
        assert!(
            s.blocked.as_deref().is_some_and(|b| b.contains(why)) && !s.deferred,
            "{s:?}"
        );
    }
}

#[test]
fn the_primary_named_by_the_parameter_is_said_and_no_parameter_says_nothing_new() {
    // Given the target parameter naming the primary
    let p = failover_policy();
    let today = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![today.clone()],
        dr_snapshots: vec![dr_copy(&today, "available")],
        ..Default::default()
    };
    // When planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then one informational line names the bucket and the parameter, and the export goes there
    let said: Vec<&Finding> = plan
        .findings
        .iter()
        .filter(|f| f.resource.as_deref() == Some(PARAM))
        .collect();
    assert_eq!(said.len(), 1, "{:#?}", plan.findings);
    assert_eq!(said[0].severity, Severity::Info);
    assert_eq!(
        said[0].message,
        "backups go to the primary bucket backups-primary: the backup target parameter /lifeboat/backup-target names it"
    );
    let Step::StartExport { bucket, .. } = &exports_planned(&plan)[0].step else {
        unreachable!()
    };
    assert_eq!(bucket, "backups-primary");
    // And a policy without a target parameter reads as before: no such line
    let plain = policy("");
    let plan = super::plan(&plain, &inv, &scope(), t(NOW));
    assert!(
        !plan
            .findings
            .iter()
            .any(|f| f.message.contains("backups go to")),
        "{:#?}",
        plan.findings
    );
}

#[test]
fn an_elasticache_export_counts_in_whichever_backup_bucket_holds_it() {
    // Given a Redis snapshot whose export an earlier run wrote to the primary, while backups now
    // go to the secondary
    let p = Policy::parse(
        "version: 1\nbuckets: {backup: backups-primary, dr_backup: backups-secondary, target_parameter: /lifeboat/backup-target}\ncomponents:\n  - {name: cache, kind: elasticache, ids: [cache], export: true}\n",
    )
    .unwrap();
    let mut snap = ours("lifeboat-cache-20261121-0000", "2026-11-21T00:00:00Z");
    snap.kind = ResourceKind::Elasticache;
    snap.source_id = "cache".into();
    snap.tags.insert(TAG_COMPONENT.into(), "cache".into());
    let mut inv = Inventory {
        snapshots: vec![snap.clone()],
        target: secondary_in("us-east-1"),
        ..Default::default()
    };
    inv.exported_objects.insert(
        "lifeboat-cache-20261121-0000-0001.rdb".into(),
        "backups-primary".into(),
    );
    // When planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it is not exported again
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::ExportToBucket { .. })),
        "{:#?}",
        plan.steps
    );
    // And its manifest (written to the secondary) records the export where it is
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    let Step::WriteManifest { manifest, .. } = &m[0].step else {
        unreachable!()
    };
    let e = manifest.export.as_ref().unwrap();
    assert_eq!(
        (e.status.as_str(), e.location.as_str()),
        (
            "COMPLETE",
            "s3://backups-primary/lifeboat-cache-20261121-0000-0001.rdb"
        )
    );
}
