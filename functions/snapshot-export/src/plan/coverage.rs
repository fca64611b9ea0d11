//! Coverage: every component the policy selects ends the run with a decision. When a source
//! listing failed, or a resource the policy names does not exist, the component gets no snapshot
//! this period: that is a failed action naming why (with the AWS error), never silence.

use super::*;
use lifeboat_shared::report::Outcome;

/// The listing a kind's sources come from, in the report's words.
fn listing(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::RdsInstance => "RDS DB instances (DescribeDBInstances)",
        ResourceKind::AuroraCluster => "Aurora clusters (DescribeDBClusters)",
        ResourceKind::Elasticache => "ElastiCache replication groups (DescribeReplicationGroups)",
    }
}

fn failed(resource: String, reason: String, error: String) -> Action {
    let mut a = Action::new("create-snapshot", resource, reason);
    a.outcome = Outcome::Failed;
    a.error = Some(error);
    a
}

pub(super) fn plan_coverage(policy: &Policy, inv: &Inventory, scope: &Scope, out: &mut Plan) {
    for (kind, err) in &inv.unread_sources {
        out.findings.push(Finding {
            severity: Severity::Critical,
            resource: None,
            message: format!(
                "could not list {}: {err}; its components get no snapshot this run",
                listing(*kind)
            ),
        });
    }
    for c in &policy.components {
        // The named resources in scope, or the component itself when it selects by tags.
        let targets: Vec<&str> = if c.ids.is_empty() {
            vec![c.name.as_str()]
        } else {
            c.ids.iter().map(String::as_str).collect()
        };
        for id in targets.into_iter().filter(|id| scope.includes(&c.name, id)) {
            let what = if c.ids.is_empty() {
                format!("the resources component {} selects by tag", c.name)
            } else {
                id.to_string()
            };
            if let Some(err) = inv.unread_sources.get(&c.kind) {
                out.already.push(failed(
                    what,
                    format!(
                        "{}: no snapshot this period: {} could not be listed",
                        c.name,
                        listing(c.kind)
                    ),
                    err.clone(),
                ));
            } else if !c.ids.is_empty()
                && !inv.sources.iter().any(|s| s.kind == c.kind && s.id == id)
            {
                out.already.push(failed(
                    what,
                    format!("{}: no snapshot this period", c.name),
                    format!("no {} named {id} in {}", c.kind, listing(c.kind)),
                ));
            }
        }
    }
    // Resources opted in by tag have no name in the policy: one line for each unread kind.
    for (kind, err) in &inv.unread_sources {
        if scope.only.is_empty() {
            out.already.push(failed(
                format!(
                    "{} resources tagged {}={}",
                    kind, policy.opt_in_tag.key, policy.opt_in_tag.value
                ),
                "no snapshot this period for resources opted in by tag: they could not be listed"
                    .into(),
                err.clone(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> Policy {
        Policy::parse(
            "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders]}\n  - {name: catalog, kind: aurora-cluster, ids: [catalog]}\n  - {name: tagged, kind: rds-instance, tags: {team: shop}}\n",
        )
        .unwrap()
    }

    fn scope(only: &[&str]) -> Scope {
        Scope {
            primary_region: "us-east-1".into(),
            dr_region: None,
            only: only.iter().map(|s| s.to_string()).collect(),
            period_time: Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap(),
            run_id: "r".into(),
        }
    }

    #[test]
    fn given_the_instance_listing_failed_when_planned_then_each_of_its_components_fails_by_name() {
        let mut inv = Inventory::default();
        inv.unread_sources.insert(
            ResourceKind::RdsInstance,
            "AWS DescribeDBInstances failed: Throttling: Rate exceeded".into(),
        );
        let mut out = Plan::default();
        plan_coverage(&policy(), &inv, &scope(&[]), &mut out);
        let failed: Vec<(&str, &str)> = out
            .already
            .iter()
            .filter(|a| a.outcome == Outcome::Failed)
            .map(|a| (a.resource.as_str(), a.error.as_deref().unwrap_or("")))
            .collect();
        assert!(failed.contains(&(
            "orders",
            "AWS DescribeDBInstances failed: Throttling: Rate exceeded"
        )));
        assert!(failed
            .iter()
            .any(|(r, _)| *r == "the resources component tagged selects by tag"));
        assert!(failed
            .iter()
            .any(|(r, _)| r.contains("resources tagged lifeboat:backup=true")));
        assert!(
            failed.contains(&(
                "catalog",
                "no aurora-cluster named catalog in Aurora clusters (DescribeDBClusters)"
            )),
            "the cluster listing worked, and catalog is not in it: {failed:?}"
        );
        assert!(
            out.findings
                .iter()
                .any(|f| f.severity == Severity::Critical
                    && f.message.contains("DescribeDBInstances"))
        );
    }

    #[test]
    fn given_a_named_resource_that_does_not_exist_when_planned_then_its_component_fails() {
        let inv = Inventory::default();
        let mut out = Plan::default();
        plan_coverage(&policy(), &inv, &scope(&["catalog"]), &mut out);
        assert_eq!(out.already.len(), 1, "{:?}", out.already);
        let a = &out.already[0];
        assert_eq!(
            (a.resource.as_str(), a.outcome),
            ("catalog", Outcome::Failed)
        );
        assert!(a
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no aurora-cluster named catalog"));
    }
}
