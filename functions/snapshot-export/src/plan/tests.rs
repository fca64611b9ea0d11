//! The planners' tables, Given / When / Then.
use super::*;
use chrono::TimeZone;
use lifeboat_shared::backup::bounded_id;
use lifeboat_shared::policy::Span;
use lifeboat_shared::report::Outcome;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) const NOW: &str = "2026-11-21T03:00:00Z";

pub(super) fn policy(extra: &str) -> Policy {
    policy_keeping(7, extra)
}

/// The test policy with orders-db keeping `daily` daily snapshots.
pub(super) fn policy_keeping(daily: u32, extra: &str) -> Policy {
    Policy::parse(&format!(
            "version: 1\nbuckets: {{backup: backups-primary}}\ndr: {{region: us-west-2, kms_key_id: 'arn:aws:kms:us-west-2:123456789012:key/0f5f8d2e-6a0b-4c8e-9d7a-3b2a1c0d9e8f'}}\nexport: {{iam_role_arn: 'arn:aws:iam::123456789012:role/export', kms_key_id: 'arn:aws:kms:us-east-1:123456789012:key/7c1d2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d'}}\ncomponents:\n  - {{name: orders-db, kind: rds-instance, ids: [orders], retention: {{daily: {daily}}}, copy_to_dr: true, export: true}}\n{extra}"
        ))
        .unwrap()
}

pub(super) fn scope() -> Scope {
    Scope {
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
        only: vec![],
        period_time: t(NOW),
        run_id: "run-1".into(),
    }
}

pub(super) fn source(p: &Policy) -> Source {
    let m = p
        .membership(ResourceKind::RdsInstance, "orders", &BTreeMap::new())
        .unwrap();
    Source {
        kind: ResourceKind::RdsInstance,
        id: "orders".into(),
        arn: "arn:aws:rds:us-east-1:123456789012:db:orders".into(),
        engine: "postgres".into(),
        engine_version: Some("16.4".into()),
        status: "available".into(),
        encrypted: false,
        tags: BTreeMap::new(),
        component: m.component,
        settings: m.settings,
        endpoint: None,
    }
}

pub(super) fn ours(id: &str, at: &str) -> Snapshot {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_MANAGED.into(), "true".into());
    tags.insert(TAG_COMPONENT.into(), "orders-db".into());
    Snapshot {
        kind: ResourceKind::RdsInstance,
        id: id.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
        source_snapshot_arn: None,
        source_id: "orders".into(),
        region: "us-east-1".into(),
        created_at: Some(t(at)),
        status: "available".into(),
        manual: true,
        encrypted: false,
        kms_key_id: None,
        size_gb: Some(20),
        engine: Some("postgres".into()),
        tags,
    }
}

pub(super) fn dr_copy(of: &Snapshot, status: &str) -> Snapshot {
    Snapshot {
        region: "us-west-2".into(),
        status: status.into(),
        arn: of.arn.replace("us-east-1", "us-west-2"),
        // RDS reports a cross-region copy's source by its ARN.
        source_snapshot_arn: Some(of.arn.clone()).filter(|a| !a.is_empty()),
        ..of.clone()
    }
}

pub(super) fn export(of: &Snapshot, status: &str) -> ExportTask {
    ExportTask {
        id: of.id.clone(),
        source_arn: of.arn.clone(),
        status: status.into(),
        bucket: None,
        prefix: None,
        failure: None,
    }
}

pub(super) fn verdict<'a>(p: &'a Plan, id: &str) -> &'a Decision {
    p.decisions
        .iter()
        .find(|d| d.subject == id)
        .unwrap_or_else(|| panic!("no decision for {id}: {:#?}", p.decisions))
}

pub(super) fn deletes(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::DeleteSnapshot {
                snapshot,
                place: Where::Primary,
            } => Some(snapshot.id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn given_a_period_without_snapshot_when_planned_then_one_deterministic_create() {
    let p = policy("");
    let inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    let creates: Vec<_> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::CreateSnapshot {
                snapshot_id, tags, ..
            } => Some((snapshot_id.clone(), tags.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].0, "lifeboat-orders-20261121-0000");
    assert_eq!(creates[0].1[TAG_MANAGED], "true");
    assert_eq!(creates[0].1[TAG_PERIOD], "2026-11-21T00:00:00Z");
}

#[test]
fn given_the_period_snapshot_exists_when_planned_again_then_nothing_is_created() {
    let p = policy("");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![ours(
            "lifeboat-orders-20261121-0000",
            "2026-11-21T03:00:05Z",
        )],
        ..Default::default()
    };
    let later = Scope {
        period_time: t("2026-11-21T23:59:59Z"),
        ..scope()
    };
    let plan = plan(&p, &inv, &later, t(NOW));
    assert!(!plan
        .steps
        .iter()
        .any(|s| matches!(s.step, Step::CreateSnapshot { .. })));
    assert_eq!(plan.already.len(), 1);
    assert_eq!(plan.already[0].outcome, Outcome::AlreadyDone);
}

#[test]
fn period_boundaries() {
    let day = Span::days(1);
    let hour = Span::hours(1);
    for (at, freq, want) in [
        ("2026-11-21T00:00:00Z", day, "2026-11-21T00:00:00+00:00"),
        ("2026-11-21T23:59:59Z", day, "2026-11-21T00:00:00+00:00"),
        ("2026-11-21T13:45:00Z", hour, "2026-11-21T13:00:00+00:00"),
        (
            "2026-11-21T13:45:00Z",
            Span::hours(12),
            "2026-11-21T12:00:00+00:00",
        ),
    ] {
        assert_eq!(
            period_start(t(at), freq).to_rfc3339(),
            want,
            "{at} every {freq}"
        );
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn gfs_table() {
    // (retention, snapshot times, ids expected kept)
    let days = |n: i64| (t(NOW) - chrono::Duration::days(n)).to_rfc3339();
    let cases: Vec<(Retention, Vec<(&str, String)>, Vec<&str>)> = vec![
        (
            Retention {
                hourly: 0,
                daily: 3,
                weekly: 0,
                monthly: 0,
            },
            vec![
                ("d0", days(0)),
                ("d1", days(1)),
                ("d2", days(2)),
                ("d3", days(3)),
                ("d9", days(9)),
            ],
            vec!["d0", "d1", "d2"],
        ),
        // Two in one day: only the newest of the day counts for the daily rule.
        (
            Retention {
                hourly: 0,
                daily: 2,
                weekly: 0,
                monthly: 0,
            },
            vec![
                ("a", "2026-11-21T01:00:00Z".into()),
                ("b", "2026-11-21T02:00:00Z".into()),
                ("c", days(1)),
            ],
            vec!["b", "c"],
        ),
        // Weekly: newest of this ISO week (Mon 2026-11-16..) and the one before.
        (
            Retention {
                hourly: 0,
                daily: 0,
                weekly: 2,
                monthly: 0,
            },
            vec![
                ("w0", "2026-11-17T00:00:00Z".into()),
                ("w0old", "2026-11-16T00:00:00Z".into()),
                ("w1", "2026-11-12T00:00:00Z".into()),
                ("w2", "2026-11-05T00:00:00Z".into()),
            ],
            vec!["w0", "w1"],
        ),
        // Monthly reaches back over a year boundary.
        (
            Retention {
                hourly: 0,
                daily: 0,
                weekly: 0,
                monthly: 12,
            },
            vec![
                ("m0", "2026-11-01T00:00:00Z".into()),
                ("m11", "2025-12-15T00:00:00Z".into()),
                ("m12", "2025-11-30T00:00:00Z".into()),
            ],
            vec!["m0", "m11"],
        ),
        // Rules add up: a monthly keeps an old one the daily rule dropped.
        (
            Retention {
                hourly: 0,
                daily: 1,
                weekly: 0,
                monthly: 2,
            },
            vec![
                ("today", days(0)),
                ("oct", "2026-10-31T00:00:00Z".into()),
                ("oct-early", "2026-10-01T00:00:00Z".into()),
            ],
            vec!["oct", "today"],
        ),
        // Gaps do not stretch the window: daily 3 with only old snapshots keeps none of them.
        (
            Retention {
                hourly: 0,
                daily: 3,
                weekly: 0,
                monthly: 0,
            },
            vec![("old", days(10))],
            vec![],
        ),
        // Hourly 2 at 03:00: hours 03 (empty) and 02 (newest of it: h0).
        (
            Retention {
                hourly: 2,
                daily: 0,
                weekly: 0,
                monthly: 0,
            },
            vec![
                ("h0", "2026-11-21T02:59:00Z".into()),
                ("h1", "2026-11-21T02:10:00Z".into()),
                ("h2", "2026-11-21T01:59:00Z".into()),
            ],
            vec!["h0"],
        ),
    ];
    for (i, (r, snaps, want)) in cases.into_iter().enumerate() {
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .map(|(id, at)| (id.to_string(), t(at)))
            .collect();
        let kept: Vec<String> = gfs_keep(&times, r, t(NOW)).into_keys().collect();
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(kept, want, "case {i}: {r:?}");
    }
}

/// Retention proof rules: (DR copy state, export state, expect deletion).
#[test]
fn deletion_needs_every_required_proof() {
    let cases = [
        (Some("available"), Some("COMPLETE"), true),
        // Outside retention without a DR copy: none is made for it (a copy made only to be
        // deleted is waste), and require_dr_copy is the policy's proof rule: kept past
        // retention (issue 15: it was deleted on its export alone).
        (None, Some("COMPLETE"), false),
        (Some("failed"), Some("COMPLETE"), false),
        (None, Some("IN_PROGRESS"), false),
        (None, None, false),
        (Some("copying"), Some("COMPLETE"), false),
        (Some("available"), None, false),
        (Some("available"), Some("FAILED"), false),
        (Some("available"), Some("IN_PROGRESS"), false),
    ];
    for (copy, exp, deleted) in cases {
        let p = policy("");
        let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
        let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        let mut inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![old.clone(), new.clone()],
            ..Default::default()
        };
        inv.dr_snapshots.push(dr_copy(&new, "available"));
        inv.exports.push(export(&new, "COMPLETE"));
        if let Some(c) = copy {
            inv.dr_snapshots.push(dr_copy(&old, c));
        }
        if let Some(e) = exp {
            inv.exports.push(export(&old, e));
        }
        let plan = plan(&p, &inv, &scope(), t(NOW));
        assert_eq!(
            deletes(&plan) == vec![old.id.clone()],
            deleted,
            "copy {copy:?} export {exp:?}: {:#?}",
            plan.decisions
        );
        let d = verdict(&plan, &old.id);
        assert_eq!(
            d.verdict,
            if deleted {
                Verdict::Delete
            } else {
                Verdict::Keep
            },
            "{}",
            d.reason
        );
        assert!(d.reason.contains("outside retention"), "{}", d.reason);
    }
}

#[test]
fn the_newest_restorable_backup_is_never_deleted() {
    // Only one Lifeboat snapshot, old, fully proven; no automated snapshot is newer.
    let p = policy("");
    let only = ours("lifeboat-orders-20260901-0000", "2026-09-01T00:00:00Z");
    let inv = Inventory {
        sources: vec![],
        snapshots: vec![only.clone()],
        dr_snapshots: vec![dr_copy(&only, "available")],
        exports: vec![export(&only, "COMPLETE")],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    assert!(deletes(&plan).is_empty());
    assert!(verdict(&plan, &only.id)
        .reason
        .contains("newest restorable backup"));
}

#[test]
fn automated_and_foreign_snapshots_are_never_deleted() {
    let p = policy("");
    let mut automated = ours("rds:orders-2026-01-01-03-00", "2026-01-01T03:00:00Z");
    automated.manual = false;
    automated.tags.clear();
    let mut foreign = ours("pre-migration-2026-01-01", "2026-01-01T00:00:00Z");
    foreign.tags.clear();
    // Our prefix but not our tag: still not ours.
    let mut lookalike = ours("lifeboat-orders-20260101-0000", "2026-01-01T00:00:00Z");
    lookalike.tags.remove(TAG_MANAGED);
    let newest = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![
            automated.clone(),
            foreign.clone(),
            lookalike.clone(),
            newest,
        ],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    assert!(deletes(&plan).is_empty());
    assert!(verdict(&plan, &automated.id).reason.contains("automated"));
    assert!(verdict(&plan, &foreign.id).reason.contains("did not make"));
    assert!(verdict(&plan, &lookalike.id)
        .reason
        .contains("did not make"));
}

#[test]
fn deletion_can_be_switched_off() {
    let p = policy("automation: {delete_expired_snapshots: false}\n");
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![old.clone(), new.clone()],
        dr_snapshots: vec![dr_copy(&old, "available"), dr_copy(&new, "available")],
        exports: vec![export(&old, "COMPLETE"), export(&new, "COMPLETE")],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    assert!(deletes(&plan).is_empty());
    assert!(verdict(&plan, &old.id).reason.contains("deletion is off"));
}

#[test]
fn copies_respect_the_in_flight_limit_newest_first() {
    // Daily 30: all eight snapshots are within retention (outside it none would be copied).
    let p = policy_keeping(30, "");
    let mut snaps = Vec::new();
    for d in 1..=8 {
        snaps.push(ours(
            &format!("lifeboat-orders-202611{:02}-0000", d + 10),
            &format!("2026-11-{:02}T00:00:00Z", d + 10),
        ));
    }
    // Two copies (not ours) are already copying into the DR region.
    let mut busy = ours("someone-elses-copy", "2026-11-20T00:00:00Z");
    busy.status = "copying".into();
    busy.region = "us-west-2".into();
    let busy2 = Snapshot {
        id: "another".into(),
        ..busy.clone()
    };
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: snaps,
        dr_snapshots: vec![busy, busy2],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    let copies: Vec<&Planned> = plan
        .steps
        .iter()
        .filter(|s| matches!(s.step, Step::CopyToDr { .. }))
        .collect();
    let started: Vec<&str> = copies
        .iter()
        .filter(|c| !c.deferred)
        .map(|c| c.action.resource.as_str())
        .collect();
    assert_eq!(
        started,
        vec![
            "lifeboat-orders-20261118-0000",
            "lifeboat-orders-20261117-0000",
            "lifeboat-orders-20261116-0000"
        ]
    );
    assert_eq!(copies.iter().filter(|c| c.deferred).count(), 5);
    assert!(copies
        .iter()
        .find(|c| c.deferred)
        .unwrap()
        .action
        .reason
        .contains("limit 5"));
}

#[test]
fn encrypted_copy_without_dr_key_is_blocked_not_attempted() {
    let p = Policy::parse("version: 1\nbuckets: {backup: b-1}\ndr: {region: us-west-2}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders]}\n").unwrap();
    let mut s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    s.encrypted = true;
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![s],
        ..Default::default()
    };
    let plan = plan(&p, &inv, &scope(), t(NOW));
    let copy = plan
        .steps
        .iter()
        .find(|s| matches!(s.step, Step::CopyToDr { .. }))
        .unwrap();
    assert!(copy.blocked.as_deref().unwrap().contains("dr.kms_key_id"));
}

#[test]
fn failed_exports_are_retried_with_a_new_id_then_given_up() {
    let p = policy("");
    let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![s.clone()],
        ..Default::default()
    };
    inv.exports.push(ExportTask {
        failure: Some("S3 access denied".into()),
        ..export(&s, "FAILED")
    });
    let plan1 = plan(&p, &inv, &scope(), t(NOW));
    let ex = plan1
        .steps
        .iter()
        .find_map(|p| match &p.step {
            Step::StartExport { task_id, .. } => Some((task_id.clone(), p.action.reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(ex.0, "lifeboat-orders-20261121-0000-2");
    assert!(ex.1.contains("S3 access denied"));
    inv.exports.push(export(&s, "FAILED"));
    inv.exports.push(export(&s, "FAILED"));
    let plan3 = plan(&p, &inv, &scope(), t(NOW));
    assert!(plan3
        .steps
        .iter()
        .any(|p| matches!(p.step, Step::StartExport { .. }) && p.blocked.is_some()));
}

#[test]
fn quota_warns_at_threshold_and_never_plans_past_it() {
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    inv.instance_quota = Some(Quota { used: 79, max: 100 });
    let plan1 = plan(&p, &inv, &scope(), t(NOW));
    assert!(
        plan1
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("80 after this run")),
        "{:#?}",
        plan1.findings
    );
    inv.instance_quota = Some(Quota {
        used: 100,
        max: 100,
    });
    let plan2 = plan(&p, &inv, &scope(), t(NOW));
    let create = plan2
        .steps
        .iter()
        .find(|s| matches!(s.step, Step::CreateSnapshot { .. }))
        .unwrap();
    assert!(create.deferred && create.action.reason.contains("quota is full"));
}

#[test]
fn only_narrows_the_run() {
    let p = policy("");
    let inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    let narrowed = Scope {
        only: vec!["catalog".into()],
        ..scope()
    };
    let plan = plan(&p, &inv, &narrowed, t(NOW));
    assert!(plan.steps.is_empty());
    assert!(plan
        .findings
        .iter()
        .any(|f| f.resource.as_deref() == Some("catalog")));
}

#[test]
fn ids_fit_aws_limits() {
    let long = "a".repeat(70);
    let id = export_task_id(&snapshot_id(&long, t(NOW)), 3);
    assert!(id.len() <= 60, "{id}");
    assert_eq!(bounded_id("short", 60), "short");
    assert_eq!(bounded_id(&long, 20), bounded_id(&long, 20), "stable");
}

#[test]
fn manifest_is_final_only_when_copy_and_export_are() {
    let p = policy("");
    let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![s.clone()],
        dr_snapshots: vec![dr_copy(&s, "copying")],
        exports: vec![export(&s, "COMPLETE")],
        ..Default::default()
    };
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    let Step::WriteManifest {
        settled,
        manifest,
        key,
        ..
    } = &m[0].step
    else {
        panic!()
    };
    assert!(!settled);
    assert_eq!(
        key,
        "backups/rds-instance/orders/lifeboat-orders-20261121-0000/manifest.json"
    );
    assert_eq!(manifest.dr_copy.as_ref().unwrap().status, "copying");
    assert_eq!(manifest.source.engine.as_deref(), Some("postgres"));
    inv.dr_snapshots[0].status = "available".into();
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    assert!(matches!(
        &m[0].step,
        Step::WriteManifest { settled: true, .. }
    ));
    inv.snapshots[0]
        .tags
        .insert(TAG_MANIFEST.into(), "final".into());
    assert!(
        manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new()).is_empty(),
        "a final manifest is not rewritten"
    );
    // When retention deletes it, its deletion intent settles the manifest (see `settle`).
    inv.snapshots[0].tags.remove(TAG_MANIFEST);
    let gone = BTreeSet::from([s.id.clone()]);
    assert!(manifests(&p, &inv, &scope(), t(NOW), &gone).is_empty());
}

#[test]
fn a_resource_that_is_not_available_gets_a_warning_not_a_snapshot() {
    let p = policy("");
    let mut src = source(&p);
    src.status = "stopped".into();
    let plan = plan(
        &p,
        &Inventory {
            sources: vec![src],
            ..Default::default()
        },
        &scope(),
        t(NOW),
    );
    assert!(!plan
        .steps
        .iter()
        .any(|s| matches!(s.step, Step::CreateSnapshot { .. })));
    let f = plan
        .findings
        .iter()
        .find(|f| f.resource.as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("\"stopped\""), "{}", f.message);
}

#[test]
fn a_copy_made_today_of_an_old_snapshot_is_as_old_as_its_data() {
    let period = Utc.with_ymd_and_hms(2026, 10, 14, 0, 0, 0).unwrap();
    let copy = Snapshot {
        kind: ResourceKind::RdsInstance,
        id: "lifeboat-orders-20261014-0000".into(),
        arn: "arn:aws:rds:us-west-2:123456789012:snapshot:lifeboat-orders-20261014-0000".into(),
        source_snapshot_arn: None,
        source_id: "orders".into(),
        region: "us-west-2".into(),
        // The copy's own creation time: today.
        created_at: Some(Utc.with_ymd_and_hms(2026, 11, 21, 14, 0, 0).unwrap()),
        status: "available".into(),
        manual: true,
        encrypted: false,
        kms_key_id: None,
        size_gb: None,
        engine: None,
        tags: [(TAG_PERIOD.to_string(), period.to_rfc3339())]
            .into_iter()
            .collect(),
    };
    assert_eq!(copy.time(), Some(period));
}

#[test]
fn a_manifest_waits_when_what_it_records_could_not_be_read() {
    // Given a snapshot whose export tasks could not be read (the export is in fact complete)
    let p = policy("");
    let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    let inv = Inventory {
        sources: vec![source(&p)],
        snapshots: vec![s.clone()],
        dr_snapshots: vec![dr_copy(&s, "available")],
        read_errors: vec![ReadError {
            what: Read::ExportTasks,
            error: "Throttling: Rate exceeded".into(),
        }],
        ..Default::default()
    };
    // When the manifests are planned
    let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
    // Then its manifest is deferred, not rewritten with export "NOT_STARTED"
    assert_eq!(m.len(), 1);
    assert!(m[0].deferred, "{:?}", m[0].action);
    assert!(
        m[0].action.reason.contains("export tasks"),
        "{}",
        m[0].action.reason
    );
}
