//! This period's snapshots: one per source per period, deferred past the quota.

use super::*;

pub(super) fn plan_creates(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    sources: &[&Source],
    out: &mut Plan,
) {
    let existing: BTreeSet<(ResourceKind, String)> = inv
        .snapshots
        .iter()
        .map(|s| (s.kind, s.id.to_ascii_lowercase()))
        .collect();
    let mut planned_instance = 0i64;
    let mut planned_cluster = 0i64;
    let mut creates = Vec::new();
    for src in sources {
        let period = period_start(scope.period_time, src.settings.frequency);
        let id = snapshot_id(&src.id, period);
        let period_text = format!(
            "{} period from {}",
            src.settings.frequency,
            period.format("%Y-%m-%d %H:%M UTC")
        );
        if existing.contains(&(src.kind, id.clone())) {
            let mut a = Action::new(
                "create-snapshot",
                &src.id,
                format!("the {period_text} already has its snapshot"),
            )
            .target(&id);
            a.outcome = lifeboat_shared::report::Outcome::AlreadyDone;
            out.already.push(a);
            continue;
        }
        if !SNAPSHOTTABLE.contains(&src.status.as_str()) {
            out.findings.push(Finding {
                severity: Severity::Warning,
                resource: Some(src.id.clone()),
                message: format!(
                    "status is {:?}: no snapshot can be taken for the {period_text}",
                    src.status
                ),
            });
            continue;
        }
        match src.kind {
            ResourceKind::RdsInstance => planned_instance += 1,
            ResourceKind::AuroraCluster => planned_cluster += 1,
            ResourceKind::Elasticache => {}
        }
        let mut tags = BTreeMap::new();
        tags.insert(TAG_MANAGED.to_string(), "true".to_string());
        tags.insert(TAG_COMPONENT.to_string(), src.component.clone());
        tags.insert(TAG_SOURCE.to_string(), src.id.clone());
        tags.insert(
            TAG_PERIOD.to_string(),
            period.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        tags.insert(TAG_RUN.to_string(), scope.run_id.clone());
        let action = Action::new(
            "create-snapshot",
            &src.id,
            format!("the {period_text} has no snapshot yet"),
        )
        .target(&id);
        creates.push(Planned {
            step: Step::CreateSnapshot {
                kind: src.kind,
                source_id: src.id.clone(),
                snapshot_id: id,
                tags,
            },
            action,
            blocked: None,
            deferred: false,
        });
    }
    // Account quota for manual snapshots: warn at the policy's share, never plan past the limit.
    let warn = policy.limits.snapshot_quota_warn_percent as i64;
    for (quota, planned, kind, name) in [
        (
            inv.instance_quota,
            planned_instance,
            ResourceKind::RdsInstance,
            "manual DB snapshot",
        ),
        (
            inv.cluster_quota,
            planned_cluster,
            ResourceKind::AuroraCluster,
            "manual cluster snapshot",
        ),
    ] {
        let Some(q) = quota else { continue };
        if q.max <= 0 {
            continue;
        }
        let after = q.used + planned;
        if after * 100 >= q.max * warn {
            out.findings.push(Finding {
                severity: if after > q.max {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                resource: None,
                message: format!(
                    "{name} quota: {} of {} used, {} after this run ({}%; warning at {warn}%)",
                    q.used,
                    q.max,
                    after.min(q.max),
                    after.min(q.max) * 100 / q.max
                ),
            });
        }
        let mut room = q.max - q.used;
        for p in creates
            .iter_mut()
            .filter(|p| matches!(&p.step, Step::CreateSnapshot { kind: k, .. } if *k == kind))
        {
            if room <= 0 {
                p.deferred = true;
                p.action.reason = format!(
                    "{name} quota is full ({} of {}): delete or raise the quota",
                    q.used, q.max
                );
            }
            room -= 1;
        }
    }
    out.steps.extend(creates);
}
