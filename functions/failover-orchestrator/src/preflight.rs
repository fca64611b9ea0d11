//! `{"action": "preflight"}`: read-only checks on the real account of what the plans need, in
//! both regions: the primary resources and the DR replica, the DR snapshots a restore would use,
//! the secrets, the hosted zones and records, the backup-target parameter and buckets, the
//! alarms, the metrics and the report bucket. What read-only calls cannot prove (the writes) is
//! listed as not checked.

use chrono::Utc;
use lifeboat_shared::aws::{elasticache as ec, rds};
use lifeboat_shared::policy::failover::Action;
use lifeboat_shared::preflight::Preflight;

use crate::{inventory, App};

pub async fn check(app: &App, _run_id: &str) -> Preflight {
    let mut p = Preflight::new();
    let now = Utc::now();
    let c = &app.clients;
    p.call(
        &format!("s3://{}", app.env.report_bucket),
        None,
        "s3:HeadBucket",
        app.s3
            .head_bucket()
            .bucket(&app.env.report_bucket)
            .send()
            .await,
        "reachable (journals, status, reports)",
    );
    for (i, plan) in app.policy.failover.plans.iter().enumerate() {
        let at = format!("failover.plans[{i}]");
        let primary = c.at(&plan.primary_region);
        let dr = c.at(&plan.dr_region);
        if !plan.alarms.is_empty() {
            let out = p.attempt(
                &plan.name,
                Some(&format!("{at}.alarms")),
                "cloudwatch:DescribeAlarms",
                primary
                    .cloudwatch
                    .describe_alarms()
                    .set_alarm_names(Some(plan.alarms.clone()))
                    .send()
                    .await,
            );
            if let Some(out) = out {
                for a in &plan.alarms {
                    if out
                        .metric_alarms()
                        .iter()
                        .any(|m| m.alarm_name() == Some(a.as_str()))
                    {
                        p.ok(
                            &format!("alarm {a}"),
                            Some(&format!("{at}.alarms")),
                            "cloudwatch:DescribeAlarms",
                            "found",
                        );
                    } else {
                        p.missing(
                            &format!("alarm {a}"),
                            Some(&format!("{at}.alarms")),
                            "cloudwatch:DescribeAlarms",
                            format!("not in {}", plan.primary_region),
                        );
                    }
                }
            }
        }
        for h in &plan.health_checks {
            p.call(
                &format!("health check {h}"),
                Some(&format!("{at}.health_checks")),
                "route53:GetHealthCheckStatus",
                c.route53
                    .get_health_check_status()
                    .health_check_id(h)
                    .send()
                    .await,
                "readable",
            );
        }
        for (j, step) in plan.steps.iter().enumerate() {
            let f = format!("{at}.steps[{j}].params");
            match &step.action {
                Action::PromoteRdsReplica(x) => {
                    instance(&mut p, primary, &x.primary, &f, "the primary").await;
                    instance(&mut p, dr, &x.replica, &f, "the DR replica").await;
                    match inventory::replica_lag(dr, &x.replica, now).await {
                        Ok(Some(l)) => p.ok(
                            &format!("ReplicaLag of {}", x.replica),
                            Some(&f),
                            "cloudwatch:GetMetricData",
                            format!("{l} s in {}", plan.dr_region),
                        ),
                        Ok(None) => p.could_not_check(
                            &format!("ReplicaLag of {}", x.replica),
                            Some(&f),
                            "cloudwatch:GetMetricData",
                            "no datapoint in the last 10 min",
                        ),
                        Err(e) => p.failed(
                            &format!("ReplicaLag of {}", x.replica),
                            Some(&f),
                            "cloudwatch:GetMetricData",
                            &e,
                        ),
                    }
                }
                Action::AuroraGlobal(x) => match rds::global_clusters(&dr.rds).await {
                    Ok(all) if all.iter().any(|g| g.id == x.global_cluster) => p.ok(
                        &format!("global cluster {}", x.global_cluster),
                        Some(&f),
                        "rds:DescribeGlobalClusters",
                        "found",
                    ),
                    Ok(_) => p.missing(
                        &format!("global cluster {}", x.global_cluster),
                        Some(&f),
                        "rds:DescribeGlobalClusters",
                        "not found",
                    ),
                    Err(e) => p.failed(
                        &format!("global cluster {}", x.global_cluster),
                        Some(&f),
                        "rds:DescribeGlobalClusters",
                        &e,
                    ),
                },
                Action::RestoreRdsFromSnapshot(x) => {
                    match inventory::newest_dr_snapshot(dr, &app.policy, &x.component).await {
                        Ok(Some(s)) => p.ok(
                            &format!("DR snapshots of {}", x.component),
                            Some(&f),
                            "rds:DescribeDBSnapshots",
                            format!("newest {} in {}", s.id, plan.dr_region),
                        ),
                        Ok(None) => p.missing(
                            &format!("DR snapshots of {}", x.component),
                            Some(&f),
                            "rds:DescribeDBSnapshots",
                            format!("no available Lifeboat snapshot in {}", plan.dr_region),
                        ),
                        Err(e) => p.failed(
                            &format!("DR snapshots of {}", x.component),
                            Some(&f),
                            "rds:DescribeDBSnapshots",
                            &e,
                        ),
                    }
                }
                Action::RestoreRedis(x) => {
                    if let Some(src) = &x.source_group {
                        match inventory::newest_cache_snapshot(dr, src).await {
                            Ok(Some((n, _))) => p.ok(
                                &format!("snapshots of {src}"),
                                Some(&f),
                                "elasticache:DescribeSnapshots",
                                format!("newest {n} in {}", plan.dr_region),
                            ),
                            Ok(None) => p.missing(
                                &format!("snapshots of {src}"),
                                Some(&f),
                                "elasticache:DescribeSnapshots",
                                format!("none available in {}", plan.dr_region),
                            ),
                            Err(e) => p.failed(
                                &format!("snapshots of {src}"),
                                Some(&f),
                                "elasticache:DescribeSnapshots",
                                &e,
                            ),
                        }
                    }
                    if let Some(g) = &x.global_datastore {
                        match ec::global_datastores(&dr.elasticache).await {
                            Ok(all) if all.iter().any(|d| d.id == *g) => p.ok(
                                &format!("global datastore {g}"),
                                Some(&f),
                                "elasticache:DescribeGlobalReplicationGroups",
                                "found",
                            ),
                            Ok(_) => p.missing(
                                &format!("global datastore {g}"),
                                Some(&f),
                                "elasticache:DescribeGlobalReplicationGroups",
                                "not found",
                            ),
                            Err(e) => p.failed(
                                &format!("global datastore {g}"),
                                Some(&f),
                                "elasticache:DescribeGlobalReplicationGroups",
                                &e,
                            ),
                        }
                    }
                }
                Action::UpdateSecret(x) => {
                    p.call(
                        &format!("secret {} ({})", x.secret, plan.dr_region),
                        Some(&f),
                        "secretsmanager:DescribeSecret",
                        dr.secrets
                            .describe_secret()
                            .secret_id(&x.secret)
                            .send()
                            .await,
                        "present",
                    );
                }
                Action::Route53Switch(x) => {
                    p.call(
                        &format!("hosted zone {}", x.hosted_zone_id),
                        Some(&f),
                        "route53:GetHostedZone",
                        c.route53
                            .get_hosted_zone()
                            .id(&x.hosted_zone_id)
                            .send()
                            .await,
                        "present",
                    );
                    for r in &x.records {
                        match inventory::record(c, &x.hosted_zone_id, &r.name, &r.r#type).await {
                            Ok(Some(now)) => p.ok(
                                &format!("record {} {}", r.name, r.r#type),
                                Some(&f),
                                "route53:ListResourceRecordSets",
                                format!("now {}", now.values.join(",")),
                            ),
                            Ok(None) => p.ok(
                                &format!("record {} {}", r.name, r.r#type),
                                Some(&f),
                                "route53:ListResourceRecordSets",
                                "absent now (execute creates it)",
                            ),
                            Err(e) => p.failed(
                                &format!("record {} {}", r.name, r.r#type),
                                Some(&f),
                                "route53:ListResourceRecordSets",
                                &e,
                            ),
                        }
                    }
                }
                Action::SwitchBackupTarget(x) => {
                    match inventory::parameter(primary, &x.parameter).await {
                        Ok(Some(v)) => p.ok(
                            &format!("parameter {}", x.parameter),
                            Some(&f),
                            "ssm:GetParameter",
                            format!("now {v}"),
                        ),
                        Ok(None) => p.missing(
                            &format!("parameter {}", x.parameter),
                            Some(&f),
                            "ssm:GetParameter",
                            "not found",
                        ),
                        Err(e) => p.failed(
                            &format!("parameter {}", x.parameter),
                            Some(&f),
                            "ssm:GetParameter",
                            &e,
                        ),
                    }
                    p.call(
                        &format!("s3://{}", x.primary_bucket),
                        Some(&f),
                        "s3:HeadBucket",
                        primary
                            .s3
                            .head_bucket()
                            .bucket(&x.primary_bucket)
                            .send()
                            .await,
                        "reachable",
                    );
                    p.call(
                        &format!("s3://{}", x.secondary_bucket),
                        Some(&f),
                        "s3:HeadBucket",
                        dr.s3.head_bucket().bucket(&x.secondary_bucket).send().await,
                        "reachable",
                    );
                }
                Action::FenceOldPrimary(x) => {
                    instance(&mut p, primary, &x.instance, &f, "the old primary").await
                }
                Action::Assess | Action::Approval(_) | Action::Verify(_) => {}
            }
        }
    }
    p.note("not checked by read-only calls: the writes (PromoteReadReplica, PutSecretValue, ChangeResourceRecordSets, PutParameter, the restores, the renames), which a drill exercises for real on temporary copies");
    p
}

async fn instance(p: &mut Preflight, r: &inventory::Regional, id: &str, f: &str, what: &str) {
    match rds::find_instance(&r.rds, id).await {
        Ok(Some(i)) => p.ok(
            &format!("{id} ({})", r.region),
            Some(f),
            "rds:DescribeDBInstances",
            format!("{what}: {}", i.status),
        ),
        Ok(None) => p.missing(
            &format!("{id} ({})", r.region),
            Some(f),
            "rds:DescribeDBInstances",
            format!("{what} not found"),
        ),
        Err(e) => p.failed(
            &format!("{id} ({})", r.region),
            Some(f),
            "rds:DescribeDBInstances",
            &e,
        ),
    }
}
