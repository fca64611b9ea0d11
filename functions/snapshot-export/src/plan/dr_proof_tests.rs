//! `require_dr_copy` is the policy's proof rule: a Lifeboat snapshot outside retention without a
//! DR copy of its own is kept, whatever else is proven, and the run says once why and which
//! policy change would let it go. Given / When / Then.
use super::tests::{deletes, dr_copy, export, ours, policy, scope, source, t, verdict, NOW};

use super::*;

/// The newest snapshot, in retention, with its DR copy and export, so "a newer backup exists"
/// holds for the old ones.
fn with_proven_newest(p: &Policy) -> Inventory {
    let mut inv = Inventory {
        sources: vec![source(p)],
        ..Default::default()
    };
    let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    inv.snapshots.push(new.clone());
    inv.dr_snapshots.push(dr_copy(&new, "available"));
    inv.exports.push(export(&new, "COMPLETE"));
    inv
}

/// The run's one line about snapshots kept past retention for want of a DR copy.
fn kept_past_retention(p: &Plan) -> Vec<&Finding> {
    p.findings
        .iter()
        .filter(|f| {
            f.message
                .starts_with("kept past retention: require_dr_copy, and no DR copy exists")
        })
        .collect()
}

fn assert_kept_without_copy(plan: &Plan, ids: &[&str]) {
    assert!(deletes(plan).is_empty(), "{:#?}", plan.steps);
    for id in ids {
        let d = verdict(plan, id);
        assert_eq!(d.verdict, Verdict::Keep, "{id}: {}", d.reason);
        assert!(
            d.reason
                .contains("kept past retention: require_dr_copy, and no DR copy exists"),
            "{id}: {}",
            d.reason
        );
    }
    let lines = kept_past_retention(plan);
    assert_eq!(lines.len(), 1, "one line per run: {:#?}", plan.findings);
    let line = &lines[0].message;
    assert_eq!(lines[0].severity, Severity::Info, "{line}");
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains("require_dr_copy: false") && line.contains("orders-db"),
        "names the policy change: {line}"
    );
    for id in ids {
        assert!(line.contains(id), "names {id}: {line}");
    }
}

#[test]
fn given_an_exported_snapshot_outside_retention_without_a_dr_copy_then_it_is_kept_and_the_run_says_why_once(
) {
    // Given two old exported Lifeboat snapshots of orders-db (require_dr_copy by default with
    // copy_to_dr) that have no DR copy at all
    let p = policy("");
    let mut inv = with_proven_newest(&p);
    let old1 = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let old2 = ours("lifeboat-orders-20261002-0000", "2026-10-02T00:00:00Z");
    for old in [&old1, &old2] {
        inv.snapshots.push(old.clone());
        inv.exports.push(export(old, "COMPLETE"));
    }
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then neither is deleted, each says why, one line names the policy change, and no DR copy
    // is made for them
    assert_kept_without_copy(&plan, &[&old1.id, &old2.id]);
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::CopyToDr { .. })),
        "{:#?}",
        plan.steps
    );
}

#[test]
fn given_a_look_alike_dr_snapshot_of_its_name_then_an_old_snapshot_is_kept_past_retention() {
    // Given an old exported snapshot whose name in the DR region is held by an untagged
    // snapshot of another database: no proof
    let p = policy("");
    let mut inv = with_proven_newest(&p);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    let mut lookalike = dr_copy(&old, "available");
    lookalike.tags.clear();
    lookalike.source_id = "scratch-db".into();
    lookalike.source_snapshot_arn = None;
    inv.snapshots.push(old.clone());
    inv.dr_snapshots.push(lookalike);
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it is kept, and its reason says the look-alike is not its copy
    assert_kept_without_copy(&plan, &[&old.id]);
    assert!(
        verdict(&plan, &old.id).reason.contains("not its copy"),
        "{}",
        verdict(&plan, &old.id).reason
    );
}

#[test]
fn given_a_dr_copy_that_failed_days_ago_then_the_snapshot_is_kept_past_retention() {
    // Given an old exported snapshot whose DR copy failed when it was made, weeks ago
    let p = policy("");
    let mut inv = with_proven_newest(&p);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.dr_snapshots.push(dr_copy(&old, "failed"));
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned, on three later days
    for day in [NOW, "2026-11-22T03:00:00Z", "2026-11-25T03:00:00Z"] {
        let plan = plan(&p, &inv, &scope(), t(day));
        // Then it is kept every time, saying its copy failed
        assert_kept_without_copy(&plan, &[&old.id]);
        assert!(
            verdict(&plan, &old.id).reason.contains("failed"),
            "{}",
            verdict(&plan, &old.id).reason
        );
    }
}

#[test]
fn given_require_dr_copy_false_then_an_exported_snapshot_without_a_copy_goes() {
    // Given the same snapshot, and the policy change the line names
    let p = Policy::parse(
        &policy_text().replace("export: true}", "export: true, require_dr_copy: false}"),
    )
    .unwrap();
    let mut inv = with_proven_newest(&p);
    let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
    inv.snapshots.push(old.clone());
    inv.exports.push(export(&old, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it goes, and no line about keeping past retention is written
    assert_eq!(deletes(&plan), vec![old.id.clone()]);
    assert!(
        kept_past_retention(&plan).is_empty(),
        "{:#?}",
        plan.findings
    );
}

/// The test policy's text (see `tests::policy_keeping`), for edits.
fn policy_text() -> String {
    "version: 1\nbuckets: {backup: backups-primary}\ndr: {region: us-west-2, kms_key_id: 'arn:aws:kms:us-west-2:123456789012:key/0f5f8d2e-6a0b-4c8e-9d7a-3b2a1c0d9e8f'}\nexport: {iam_role_arn: 'arn:aws:iam::123456789012:role/export', kms_key_id: 'arn:aws:kms:us-east-1:123456789012:key/7c1d2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d'}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders], retention: {daily: 7}, copy_to_dr: true, export: true}\n".to_string()
}

#[test]
fn given_a_failed_dr_copy_inside_retention_then_the_run_warns_and_names_the_fix() {
    // Given the newest snapshot (inside retention) whose DR copy failed: the copy's name is
    // taken, so no run copies it again by itself
    let p = policy("");
    let mut inv = Inventory {
        sources: vec![source(&p)],
        ..Default::default()
    };
    let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
    inv.snapshots.push(new.clone());
    inv.dr_snapshots.push(dr_copy(&new, "failed"));
    inv.exports.push(export(&new, "COMPLETE"));
    // When the run is planned
    let plan = plan(&p, &inv, &scope(), t(NOW));
    // Then it does not pass silently: a warning names the copy and what to do
    let warned: Vec<&Finding> = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning && f.message.contains(&new.id))
        .collect();
    assert_eq!(warned.len(), 1, "{:#?}", plan.findings);
    assert!(
        warned[0].message.contains("failed") && warned[0].message.contains("delete-db-snapshot"),
        "{}",
        warned[0].message
    );
    // And no copy is attempted under the name the failed copy holds
    assert!(
        !plan.steps.iter().any(|s| s.action.kind == "copy-to-dr"),
        "{:#?}",
        plan.steps
    );
}
