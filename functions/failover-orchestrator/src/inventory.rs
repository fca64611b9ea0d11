//! The assessment: the only place that reads AWS for a decision. For each plan: the primary's
//! health (its resources' status in the primary region, the plan's alarms, its Route 53 health
//! checks), the DR side of every step (the replica present, available and replicating, its lag;
//! the newest DR snapshot and its age; the secret, the records, the parameter as they are now;
//! the secondary bucket writable) and so the data a failover would lose. Plain data out
//! ([`Facts`]); a read that fails is said ("could not read ..."), never taken as healthy.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::aws::{elasticache as ec, rds};
use lifeboat_shared::backup;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::policy::failover::{Action, Plan, Step};
use lifeboat_shared::policy::Policy;

use crate::plan::{Assessment, Change, Facts, Health};

/// The clients of one region.
pub struct Regional {
    pub region: String,
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub s3: aws_sdk_s3::Client,
}

/// Clients for every region the plans name, Route 53 (global) and Step Functions.
pub struct Clients {
    pub regions: BTreeMap<String, Regional>,
    pub route53: aws_sdk_route53::Client,
    pub sfn: aws_sdk_sfn::Client,
}

impl Clients {
    pub fn new(aws: &Aws, policy: &Policy) -> Clients {
        let mut regions = BTreeMap::new();
        let mut names: Vec<String> = vec![aws.region().to_string()];
        for p in &policy.failover.plans {
            names.push(p.primary_region.clone());
            names.push(p.dr_region.clone());
        }
        for r in names {
            if regions.contains_key(&r) {
                continue;
            }
            let conf = aws.config_in(&r);
            regions.insert(
                r.clone(),
                Regional {
                    region: r.clone(),
                    rds: aws_sdk_rds::Client::new(&conf),
                    elasticache: aws_sdk_elasticache::Client::new(&conf),
                    secrets: aws_sdk_secretsmanager::Client::new(&conf),
                    ssm: aws_sdk_ssm::Client::new(&conf),
                    cloudwatch: aws_sdk_cloudwatch::Client::new(&conf),
                    s3: aws.s3_in(&r),
                },
            );
        }
        // Route 53 is global: its API is served from us-east-1 (aws partition).
        let global = aws.config_in(route53_region(aws.region()));
        Clients {
            regions,
            route53: aws_sdk_route53::Client::new(&global),
            sfn: aws_sdk_sfn::Client::new(aws.config()),
        }
    }

    /// The clients of `region` (every region a plan names has them).
    pub fn at(&self, region: &str) -> &Regional {
        self.regions
            .get(region)
            .or_else(|| self.regions.values().next())
            .expect("Clients::new builds at least the function's own region")
    }
}

/// The region Route 53's control plane answers in for the function's partition.
pub fn route53_region(home: &str) -> &'static str {
    if home.starts_with("cn-") {
        "cn-northwest-1"
    } else if home.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

/// Assesses one plan at `now`.
pub async fn assess(c: &Clients, policy: &Policy, plan: &Plan, now: DateTime<Utc>) -> Assessment {
    let primary = c.at(&plan.primary_region);
    let (alarms, alarm_since) = alarms(primary, &plan.alarms).await;
    let health_checks = health_checks(c, &plan.health_checks).await;
    let facts = futures::future::join_all(
        plan.steps
            .iter()
            .map(|s| Box::pin(step_facts(c, policy, plan, s, now))),
    )
    .await;
    // A step using another's endpoint shows it as its "after".
    let endpoints: BTreeMap<String, Option<(String, u16)>> = facts
        .iter()
        .map(|f| (f.step.clone(), f.endpoint.clone()))
        .collect();
    let steps = facts
        .into_iter()
        .map(|mut f| {
            let from = plan
                .steps
                .iter()
                .find(|s| s.name == f.step)
                .and_then(|s| s.action.endpoint_from().map(str::to_string));
            if let Some(from) = from {
                let shown = match endpoints.get(&from).cloned().flatten() {
                    Some((h, p)) => format!("{h}:{p}"),
                    None => format!("the new endpoint of {from}"),
                };
                for ch in f.changes.iter_mut() {
                    ch.after = ch.after.replace("{endpoint}", &shown).replace(
                        "{host}",
                        shown.rsplit_once(':').map(|x| x.0).unwrap_or(&shown),
                    );
                }
            }
            f
        })
        .collect();
    Assessment {
        plan: plan.name.clone(),
        at: now,
        alarms,
        alarm_since,
        health_checks,
        steps,
    }
}

/// The plan's alarms: ALARM is unhealthy; since when (StateUpdatedTimestamp).
pub async fn alarms(
    r: &Regional,
    names: &[String],
) -> (Vec<Health>, BTreeMap<String, DateTime<Utc>>) {
    let mut out = Vec::new();
    let mut since = BTreeMap::new();
    if names.is_empty() {
        return (out, since);
    }
    match r
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
    {
        Ok(page) => {
            for n in names {
                let found = page
                    .metric_alarms()
                    .iter()
                    .find(|a| a.alarm_name() == Some(n.as_str()));
                match found {
                    Some(a) => {
                        let state = a
                            .state_value()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_else(|| "UNKNOWN".into());
                        if let Some(t) = lifeboat_shared::aws_time(a.state_updated_timestamp()) {
                            since.insert(n.clone(), t);
                        }
                        out.push(Health {
                            what: format!("alarm {n}"),
                            healthy: match state.as_str() {
                                "ALARM" => Some(false),
                                "OK" => Some(true),
                                _ => None,
                            },
                            detail: state,
                        });
                    }
                    None => out.push(Health {
                        what: format!("alarm {n}"),
                        healthy: None,
                        detail: format!("not found in {}", r.region),
                    }),
                }
            }
        }
        Err(e) => {
            let e = AwsError::new("DescribeAlarms", &e);
            for n in names {
                out.push(Health {
                    what: format!("alarm {n}"),
                    healthy: None,
                    detail: format!("could not read: {e}"),
                });
            }
        }
    }
    (out, since)
}

pub async fn health_checks(c: &Clients, ids: &[String]) -> Vec<Health> {
    let mut out = Vec::new();
    for id in ids {
        let h = match c
            .route53
            .get_health_check_status()
            .health_check_id(id)
            .send()
            .await
        {
            Ok(s) => {
                let obs = s.health_check_observations();
                let failing = obs
                    .iter()
                    .filter(|o| {
                        !o.status_report()
                            .and_then(|r| r.status())
                            .unwrap_or("")
                            .starts_with("Success")
                    })
                    .count();
                Health {
                    what: format!("health check {id}"),
                    // Route 53 calls an endpoint healthy when more than 18% of checkers do.
                    healthy: if obs.is_empty() {
                        None
                    } else {
                        Some((obs.len() - failing) * 100 > obs.len() * 18)
                    },
                    detail: format!(
                        "{} of {} checkers report success",
                        obs.len() - failing,
                        obs.len()
                    ),
                }
            }
            Err(e) => Health {
                what: format!("health check {id}"),
                healthy: None,
                detail: format!(
                    "could not read: {}",
                    AwsError::new("GetHealthCheckStatus", &e)
                ),
            },
        };
        out.push(h);
    }
    out
}

fn facts(step: &Step) -> Facts {
    Facts {
        step: step.name.clone(),
        primary: None,
        dr: Ok(String::new()),
        data_loss_seconds: None,
        loss_unknown: None,
        changes: Vec::new(),
        endpoint: None,
    }
}

fn endpoint_words(e: &Option<(String, u16)>) -> String {
    match e {
        Some((h, p)) => format!("{h}:{p}"),
        None => "no endpoint".into(),
    }
}

/// The primary-side health of an RDS instance.
pub async fn instance_health(r: &Regional, id: &str) -> Health {
    match rds::find_instance(&r.rds, id).await {
        Ok(Some(i)) => Health {
            what: format!("{id} ({})", r.region),
            healthy: Some(i.status == "available"),
            detail: i.status,
        },
        Ok(None) => Health {
            what: format!("{id} ({})", r.region),
            healthy: Some(false),
            detail: "not found".into(),
        },
        Err(e) => Health {
            what: format!("{id} ({})", r.region),
            healthy: None,
            detail: format!("could not read: {e}"),
        },
    }
}

async fn step_facts(
    c: &Clients,
    policy: &Policy,
    plan: &Plan,
    step: &Step,
    now: DateTime<Utc>,
) -> Facts {
    let mut f = facts(step);
    let primary = c.at(&plan.primary_region);
    let dr = c.at(&plan.dr_region);
    match &step.action {
        Action::Assess | Action::Approval(_) => {}
        Action::PromoteRdsReplica(x) => {
            f.primary = Some(instance_health(primary, &x.primary).await);
            match rds::find_instance(&dr.rds, &x.replica).await {
                Err(e) => f.dr = Err(format!("could not read replica {}: {e}", x.replica)),
                Ok(None) => {
                    f.dr = Err(format!(
                        "replica {} not found in {}",
                        x.replica, plan.dr_region
                    ))
                }
                Ok(Some(i)) => {
                    f.endpoint = i.endpoint.clone();
                    if i.status != "available" {
                        f.dr = Err(format!("replica {} is {}", x.replica, i.status));
                    } else if i.replica_source.is_none() {
                        f.dr = Err(format!(
                            "{} is not a read replica (already promoted?)",
                            x.replica
                        ));
                    } else {
                        f.dr = Ok(format!("replica {} available", x.replica));
                        match replica_lag(dr, &x.replica, now).await {
                            Ok(Some(lag)) if lag < 0.0 => {
                                f.loss_unknown = Some(format!(
                                    "replica {} is not replicating (ReplicaLag -1): the data loss cannot be measured",
                                    x.replica
                                ))
                            }
                            Ok(Some(lag)) => {
                                f.data_loss_seconds = Some(lag.round() as i64);
                                f.dr = Ok(format!(
                                    "replica {} available, lag {}",
                                    x.replica,
                                    crate::plan::words(lag.round() as i64)
                                ));
                            }
                            Ok(None) => {
                                f.loss_unknown = Some(format!(
                                    "could not read the lag of {}: no ReplicaLag datapoint in the last 10 min",
                                    x.replica
                                ))
                            }
                            Err(e) => {
                                f.loss_unknown =
                                    Some(format!("could not read the lag of {}: {e}", x.replica))
                            }
                        }
                    }
                    f.changes.push(Change::new(
                        format!("rds {} ({})", x.replica, plan.dr_region),
                        format!(
                            "read replica of {}",
                            i.replica_source.clone().unwrap_or_else(|| "nothing".into())
                        ),
                        format!("standalone writer at {}", endpoint_words(&i.endpoint)),
                    ));
                }
            }
        }
        Action::AuroraGlobal(x) => {
            match rds::global_clusters(&dr.rds).await {
                Err(e) => {
                    f.dr = Err(format!(
                        "could not read global cluster {}: {e}",
                        x.global_cluster
                    ))
                }
                Ok(all) => match all.into_iter().find(|g| g.id == x.global_cluster) {
                    None => f.dr = Err(format!("global cluster {} not found", x.global_cluster)),
                    Some(g) => {
                        let target = g.members.iter().find(|m| {
                            m.cluster_arn
                                .ends_with(&format!(":cluster:{}", x.target_cluster))
                        });
                        let writer = g.members.iter().find(|m| m.writer);
                        match target {
                            None => {
                                f.dr =
                                    Err(format!("{} is not a member of {}", x.target_cluster, g.id))
                            }
                            Some(t) if t.writer => {
                                f.dr = Err(format!("{} is already the writer", x.target_cluster))
                            }
                            Some(_) => {
                                f.dr =
                                    Ok(format!("{} is a secondary of {}", x.target_cluster, g.id))
                            }
                        }
                        if let Some(w) = writer {
                            let id = w
                                .cluster_arn
                                .rsplit(':')
                                .next()
                                .unwrap_or_default()
                                .to_string();
                            f.primary = Some(match rds::find_cluster(&primary.rds, &id).await {
                                Ok(Some(cl)) => Health {
                                    what: format!("cluster {id}"),
                                    healthy: Some(cl.status == "available"),
                                    detail: cl.status,
                                },
                                Ok(None) => Health {
                                    what: format!("cluster {id}"),
                                    healthy: Some(false),
                                    detail: "not found".into(),
                                },
                                Err(e) => Health {
                                    what: format!("cluster {id}"),
                                    healthy: None,
                                    detail: format!("could not read: {e}"),
                                },
                            });
                            f.changes.push(Change::new(
                                format!("global cluster {}", g.id),
                                format!("writer {id}"),
                                format!("writer {}", x.target_cluster),
                            ));
                        }
                    }
                },
            }
            if f.dr.is_ok() {
                match metric(
                    dr,
                    "AWS/RDS",
                    "AuroraGlobalDBReplicationLag",
                    "DBClusterIdentifier",
                    &x.target_cluster,
                    now,
                )
                .await
                {
                    Ok(Some(ms)) => f.data_loss_seconds = Some((ms / 1000.0).round() as i64),
                    Ok(None) => {}
                    Err(e) => f.dr = Err(format!("could not read the global replication lag: {e}")),
                }
            }
        }
        Action::RestoreRdsFromSnapshot(x) => {
            match newest_dr_snapshot(dr, policy, &x.component).await {
                Err(e) => {
                    f.dr = Err(format!(
                        "could not read DR snapshots of {}: {e}",
                        x.component
                    ))
                }
                Ok(None) => {
                    f.dr = Err(format!(
                        "no available Lifeboat snapshot of {} in {}",
                        x.component, plan.dr_region
                    ))
                }
                Ok(Some(s)) => {
                    let age = s.time().map(|t| (now - t).num_seconds());
                    f.data_loss_seconds = age;
                    f.dr = Ok(format!(
                        "newest DR snapshot {} ({} old)",
                        s.id,
                        age.map(crate::plan::words)
                            .unwrap_or_else(|| "age unknown".into())
                    ));
                    f.changes.push(Change::new(
                        format!("rds {} ({})", x.target, plan.dr_region),
                        "absent",
                        format!("restored from {}", s.id),
                    ));
                }
            }
            if let Ok(Some(i)) = rds::find_instance(&dr.rds, &x.target).await {
                f.dr = Err(format!(
                    "{} already exists in {} ({})",
                    x.target, plan.dr_region, i.status
                ));
            }
        }
        Action::RestoreRedis(x) => {
            if let Some(g) = &x.global_datastore {
                match ec::global_datastores(&dr.elasticache).await {
                    Err(e) => f.dr = Err(format!("could not read global datastore {g}: {e}")),
                    Ok(all) => match all.into_iter().find(|d| d.id == *g) {
                        None => f.dr = Err(format!("global datastore {g} not found")),
                        Some(d) => {
                            f.dr = Ok(format!("global datastore {g} is {}", d.status));
                            f.changes.push(Change::new(
                                format!("global datastore {g}"),
                                "primary in the primary region",
                                format!("primary {} ({})", x.target, plan.dr_region),
                            ));
                        }
                    },
                }
            } else if let Some(src) = &x.source_group {
                match newest_cache_snapshot(dr, src).await {
                    Err(e) => {
                        f.dr = Err(format!(
                            "could not read snapshots of {src} in {}: {e}",
                            plan.dr_region
                        ))
                    }
                    Ok(None) => {
                        f.dr = Err(format!(
                            "no available snapshot of {src} in {}",
                            plan.dr_region
                        ))
                    }
                    Ok(Some((name, at))) => {
                        let age = at.map(|t| (now - t).num_seconds());
                        f.data_loss_seconds = age;
                        f.dr = Ok(format!(
                            "newest snapshot {name} ({})",
                            age.map(|a| format!("{} old", crate::plan::words(a)))
                                .unwrap_or_else(|| "age unknown".into())
                        ));
                        f.changes.push(Change::new(
                            format!("elasticache {} ({})", x.target, plan.dr_region),
                            "absent",
                            format!("restored from {name}"),
                        ));
                    }
                }
                match ec::find_group(&primary.elasticache, src).await {
                    Ok(Some(g)) => {
                        f.primary = Some(Health {
                            what: format!("{src} ({})", plan.primary_region),
                            healthy: Some(g.status == "available"),
                            detail: g.status,
                        })
                    }
                    Ok(None) => {
                        f.primary = Some(Health {
                            what: format!("{src} ({})", plan.primary_region),
                            healthy: Some(false),
                            detail: "not found".into(),
                        })
                    }
                    Err(e) => {
                        f.primary = Some(Health {
                            what: format!("{src} ({})", plan.primary_region),
                            healthy: None,
                            detail: format!("could not read: {e}"),
                        })
                    }
                }
                if let Ok(Some(g)) = ec::find_group(&dr.elasticache, &x.target).await {
                    f.dr = Err(format!(
                        "{} already exists in {} ({})",
                        x.target, plan.dr_region, g.status
                    ));
                }
            }
        }
        Action::UpdateSecret(x) => {
            match secret_endpoint(dr, &x.secret, &x.host_field, &x.port_field).await {
                Err(e) => f.dr = Err(e),
                Ok(now_at) => {
                    f.dr = Ok(format!("secret {} present in {}", x.secret, plan.dr_region));
                    f.changes.push(Change::new(
                        format!("secret {} {}/{}", x.secret, x.host_field, x.port_field),
                        now_at,
                        "{endpoint}",
                    ));
                }
            }
        }
        Action::Route53Switch(x) => {
            for r in &x.records {
                match record(c, &x.hosted_zone_id, &r.name, &r.r#type).await {
                    Err(e) => {
                        f.dr = Err(format!(
                            "could not read record {} {}: {e}",
                            r.name, r.r#type
                        ));
                        break;
                    }
                    Ok(cur) => f.changes.push(Change::new(
                        format!("record {} {}", r.name, r.r#type),
                        cur.map(|c| c.values.join(","))
                            .unwrap_or_else(|| "absent".into()),
                        r.value.clone().unwrap_or_else(|| "{host}".into()),
                    )),
                }
            }
            if f.dr.is_ok() {
                f.dr = Ok(format!("hosted zone {} answers", x.hosted_zone_id));
            }
        }
        Action::SwitchBackupTarget(x) => {
            match parameter(primary, &x.parameter).await {
                Ok(v) => f.changes.push(Change::new(
                    format!("parameter {}", x.parameter),
                    v.unwrap_or_else(|| "absent".into()),
                    x.secondary_bucket.clone(),
                )),
                Err(e) => f.changes.push(Change::new(
                    format!("parameter {}", x.parameter),
                    format!("could not read: {e}"),
                    x.secondary_bucket.clone(),
                )),
            }
            f.dr = match test_write(dr, &x.secondary_bucket, "failover-readiness").await {
                Ok(()) => Ok(format!("{} writable", x.secondary_bucket)),
                Err(e) => Err(format!(
                    "secondary bucket {} not writable: {e}",
                    x.secondary_bucket
                )),
            };
        }
        Action::FenceOldPrimary(x) => {
            let h = instance_health(primary, &x.instance).await;
            f.changes.push(Change::new(
                format!("rds {} ({})", x.instance, plan.primary_region),
                h.detail.clone(),
                format!(
                    "renamed {} and tagged {}",
                    fenced_id(&x.instance, "<run>"),
                    crate::FENCED_TAG
                ),
            ));
            f.primary = Some(h);
        }
        Action::Verify(x) => {
            let comp = policy.components.iter().find(|c| c.name == x.component);
            f.dr = match comp {
                Some(c) if c.verify.is_some() => {
                    Ok(format!("checks of {} on the new endpoint", x.component))
                }
                Some(_) => Err(format!("component {} has no verify section", x.component)),
                None => Err(format!("component {} is not in the policy", x.component)),
            };
        }
    }
    f
}

/// The name a fenced primary is renamed to: `<id>-fenced-<8 hex of the run>`, within 63.
pub fn fenced_id(id: &str, run_id: &str) -> String {
    let suffix = format!("-fenced-{:08x}", lifeboat_shared::fnv1a(run_id));
    let keep = 63usize.saturating_sub(suffix.len());
    format!(
        "{}{suffix}",
        &id[..id.len().min(keep)].trim_end_matches('-')
    )
}

/// The newest datapoint of an RDS/ElastiCache metric in the last 10 minutes.
pub async fn metric(
    r: &Regional,
    namespace: &str,
    name: &str,
    dimension: &str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let q = MetricDataQuery::builder()
        .id("m0")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(namespace)
                        .metric_name(name)
                        .dimensions(Dimension::builder().name(dimension).value(value).build())
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .return_data(true)
        .build();
    let out = r
        .cloudwatch
        .get_metric_data()
        .metric_data_queries(q)
        .start_time(aws_smithy_types::DateTime::from_secs(
            (now - Duration::minutes(10)).timestamp(),
        ))
        .end_time(aws_smithy_types::DateTime::from_secs(now.timestamp() + 60))
        .send()
        .await
        .map_err(|e| AwsError::new("GetMetricData", &e))?;
    let mut newest: Option<(DateTime<Utc>, f64)> = None;
    for res in out.metric_data_results() {
        for (t, v) in res.timestamps().iter().zip(res.values()) {
            if let Some(t) = lifeboat_shared::aws_time(Some(t)) {
                if newest.is_none_or(|(n, _)| t > n) {
                    newest = Some((t, *v));
                }
            }
        }
    }
    Ok(newest.map(|(_, v)| v))
}

/// RDS `ReplicaLag` (seconds; -1 when replication is not running) of a replica.
pub async fn replica_lag(
    r: &Regional,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<f64>, AwsError> {
    metric(r, "AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", id, now).await
}

/// The newest available Lifeboat-managed snapshot of a component in `r`'s region (a DR copy
/// snapshot-export made: identity by its tags, never by name).
pub async fn newest_dr_snapshot(
    r: &Regional,
    policy: &Policy,
    component: &str,
) -> Result<Option<backup::Snapshot>, AwsError> {
    let ids: Vec<String> = policy
        .components
        .iter()
        .filter(|c| c.name == component)
        .flat_map(|c| c.ids.iter().cloned())
        .collect();
    let all = rds::db_snapshots(
        &r.rds,
        &r.region,
        rds::SnapshotFilter {
            of: None,
            manual_only: true,
        },
    )
    .await?;
    Ok(all
        .into_iter()
        .filter(|s| s.managed() && s.available())
        .filter(|s| {
            s.tags.get(backup::TAG_COMPONENT).map(String::as_str) == Some(component)
                || ids.contains(&s.source_id)
        })
        .max_by_key(|s| s.time()))
}

/// The newest available snapshot of a replication group in `r`'s region.
pub async fn newest_cache_snapshot(
    r: &Regional,
    group: &str,
) -> Result<Option<(String, Option<DateTime<Utc>>)>, AwsError> {
    let all = ec::snapshots(&r.elasticache, &r.region, Some(group)).await?;
    Ok(all
        .into_iter()
        .filter(|s| s.available())
        .max_by_key(|s| s.time())
        .map(|s| (s.id.clone(), s.time())))
}

/// The secret's host and port fields as `host:port` (nothing else of it is read out).
pub async fn secret_endpoint(
    r: &Regional,
    secret: &str,
    host_field: &str,
    port_field: &str,
) -> Result<String, String> {
    let v = secret_json(r, secret, None).await?;
    Ok(format!(
        "{}:{}",
        v.0.get(host_field)
            .map(json_text)
            .unwrap_or_else(|| "(no host)".into()),
        v.0.get(port_field)
            .map(json_text)
            .unwrap_or_else(|| "(no port)".into())
    ))
}

pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A secret's JSON object and its version id (AWSCURRENT, or `version`). Errors never quote it.
pub async fn secret_json(
    r: &Regional,
    secret: &str,
    version: Option<&str>,
) -> Result<(serde_json::Map<String, serde_json::Value>, String), String> {
    let out = r
        .secrets
        .get_secret_value()
        .secret_id(secret)
        .set_version_id(version.map(str::to_string))
        // AWSCURRENT by name when no version is asked for (AWS's default; an emulator may not
        // move its default with UpdateSecretVersionStage).
        .set_version_stage(version.is_none().then(|| "AWSCURRENT".to_string()))
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not read secret {secret}: {}",
                AwsError::new("GetSecretValue", &e).code
            )
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret {secret} has no SecretString: expected a JSON object"))?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        format!("secret {secret} is not JSON: expected a JSON object with host and port")
    })?;
    let serde_json::Value::Object(m) = v else {
        return Err(format!("secret {secret} is not a JSON object"));
    };
    Ok((m, out.version_id().unwrap_or_default().to_string()))
}

/// A record set as Route 53 holds it now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordNow {
    pub name: String,
    pub r#type: String,
    pub ttl: Option<i64>,
    pub values: Vec<String>,
}

/// The record set of `name` and `type` (simple routing), if present.
pub async fn record(
    c: &Clients,
    zone: &str,
    name: &str,
    r#type: &str,
) -> Result<Option<RecordNow>, AwsError> {
    let t = aws_sdk_route53::types::RrType::from(r#type);
    let out = c
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(t)
        .max_items(1)
        .send()
        .await
        .map_err(|e| AwsError::new("ListResourceRecordSets", &e))?;
    let want = name.trim_end_matches('.').to_ascii_lowercase();
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|r| {
            r.name().trim_end_matches('.').to_ascii_lowercase() == want
                && r.r#type().as_str() == r#type
        })
        .map(|r| RecordNow {
            name: r.name().to_string(),
            r#type: r.r#type().as_str().to_string(),
            ttl: r.ttl(),
            values: r
                .resource_records()
                .iter()
                .map(|v| v.value().to_string())
                .collect(),
        }))
}

/// An SSM parameter's value (None when absent).
pub async fn parameter(r: &Regional, name: &str) -> Result<Option<String>, AwsError> {
    match r.ssm.get_parameter().name(name).send().await {
        Ok(o) => Ok(o.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e) => {
            let e = AwsError::new("GetParameter", &e);
            if e.code == "ParameterNotFound" {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Writes and removes a small object under `lifeboat-canary/` (the bucket takes writes).
pub async fn test_write(r: &Regional, bucket: &str, what: &str) -> Result<(), AwsError> {
    let key = format!("{}failover-{what}", lifeboat_shared::policy::CANARY_FOLDER);
    r.s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"lifeboat failover test write\n",
        ))
        .send()
        .await
        .map_err(|e| AwsError::new("PutObject", &e))?;
    r.s3.delete_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| AwsError::new("DeleteObject", &e))?;
    Ok(())
}
