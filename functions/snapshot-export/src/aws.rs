//! The AWS side of snapshot-export: the inventory (the only reads a decision rests on) and the
//! execution of planned steps, each idempotent (deterministic names; "already exists" and
//! "not found" count as done).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lifeboat_shared::aws::errors::{self, AwsError, Settled};
use lifeboat_shared::aws::rds::SnapshotFilter;
use lifeboat_shared::aws::{elasticache, rds, s3};
use lifeboat_shared::backup::{Manifest, Snapshot, PREFIX, TAG_MANIFEST};
use lifeboat_shared::policy::{Policy, ResourceKind};
use lifeboat_shared::report::{Action, Outcome};

use crate::plan::{ExportTask, Inventory, Planned, Quota, Source, Step, Where};

/// The clients one run needs, built once per container.
#[derive(Clone, Debug)]
pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    /// RDS in the DR region, when the policy has one.
    pub rds_dr: Option<aws_sdk_rds::Client>,
    pub elasticache: aws_sdk_elasticache::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub primary_region: String,
    pub dr_region: Option<String>,
}

/// The data fingerprint of each source whose snapshot this run just requested, where the
/// policy gives database access: taken right after the request, so it describes the data the
/// snapshot holds (rows written in between are within the row-count tolerance). Keyed by
/// snapshot id; one action per fingerprint.
pub async fn fingerprints(
    c: &Clients,
    policy: &Policy,
    local: &BTreeMap<String, (String, u16)>,
    inv: &Inventory,
    created: &[(String, String)],
    now: DateTime<Utc>,
) -> (
    BTreeMap<String, lifeboat_shared::data::DataFingerprint>,
    Vec<Action>,
) {
    use lifeboat_shared::data::{self, Family};
    let mut out = BTreeMap::new();
    let mut actions = Vec::new();
    for (source_id, snapshot_id) in created {
        let Some(src) = inv.sources.iter().find(|s| &s.id == source_id) else {
            continue;
        };
        let Some(access) = policy
            .components
            .iter()
            .find(|comp| comp.name == src.component)
            .and_then(|comp| comp.database.as_ref())
        else {
            continue;
        };
        let mut a = Action::new(
            "fingerprint",
            snapshot_id,
            "row counts and primary-key checksums (Redis: key count) at snapshot time, for restore-verification",
        )
        .target(format!("{} {}", src.kind, src.id));
        let taken = async {
            let family = Family::of(&src.engine)
                .ok_or_else(|| format!("engine {:?} cannot be fingerprinted", src.engine))?;
            let (host, port) = src
                .endpoint
                .clone()
                .ok_or_else(|| format!("{} reports no endpoint", src.id))?;
            let to = data::target(local, family, &host, port);
            let creds = data::credentials(&c.secrets, &access.secret_arn).await?;
            data::fingerprint(family, &to, access.name.as_deref(), &creds, access.tls, now).await
        }
        .await;
        match taken {
            Ok(fp) => {
                a.outcome = Outcome::Done;
                out.insert(snapshot_id.clone(), fp);
            }
            Err(e) => {
                a.outcome = Outcome::Failed;
                a.error = Some(e);
            }
        }
        actions.push(a);
    }
    (out, actions)
}

const QUOTA_READ: &str = "the manual-snapshot quota (DescribeAccountAttributes)";

/// Reads everything the plan needs. A failed read is recorded in `read_errors` and leaves its
/// part of the inventory empty, which the plan treats as "no proof": nothing is deleted on it.
pub async fn inventory(c: &Clients, policy: &Policy) -> Inventory {
    refresh(c, policy, None).await
}

/// Reads the inventory again within a run (after snapshots were created or copies started).
/// The account quota, read once per run, is carried over from `earlier`.
pub async fn refresh(c: &Clients, policy: &Policy, earlier: Option<&Inventory>) -> Inventory {
    let mut inv = Inventory::default();
    let (instances, clusters, groups, db_snaps, cl_snaps, ec_snaps, exports, quotas, dr) = tokio::join!(
        read_instances(c, policy),
        read_clusters(c, policy),
        read_groups(c, policy),
        rds::db_snapshots(&c.rds, &c.primary_region, SnapshotFilter::default()),
        rds::cluster_snapshots(&c.rds, &c.primary_region, SnapshotFilter::default()),
        read_cache_snapshots(c),
        read_exports(c),
        async {
            match earlier {
                Some(e) => Ok((e.instance_quota, e.cluster_quota)),
                None => read_quotas(c).await,
            }
        },
        read_dr(c),
    );
    let mut take = |what: &str, r: Result<(), String>| {
        if let Err(e) = r {
            inv.read_errors.push((what.to_string(), e));
        }
    };
    let mut sources = Vec::new();
    let mut snapshots = Vec::new();
    take(
        "RDS DB instances (DescribeDBInstances)",
        instances.map(|v| sources.extend(v)),
    );
    take(
        "Aurora clusters (DescribeDBClusters)",
        clusters.map(|v| sources.extend(v)),
    );
    take(
        "ElastiCache replication groups (DescribeReplicationGroups)",
        groups.map(|v| sources.extend(v)),
    );
    take(
        "DB snapshots (DescribeDBSnapshots)",
        db_snaps
            .map(|v| snapshots.extend(v))
            .map_err(|e| e.to_string()),
    );
    take(
        "cluster snapshots (DescribeDBClusterSnapshots)",
        cl_snaps
            .map(|v| snapshots.extend(v))
            .map_err(|e| e.to_string()),
    );
    take(
        "ElastiCache snapshots (DescribeSnapshots)",
        ec_snaps.map(|v| snapshots.extend(v)),
    );
    let mut export_tasks = Vec::new();
    take(
        "export tasks (DescribeExportTasks)",
        exports.map(|v| export_tasks = v),
    );
    let mut quota = (None, None);
    take(QUOTA_READ, quotas.map(|q| quota = q));
    let mut dr_snaps = Vec::new();
    take("DR-region snapshots", dr.map(|v| dr_snaps = v));
    if let Some(e) = earlier {
        let quota_errors = e.read_errors.iter().filter(|(what, _)| what == QUOTA_READ);
        inv.read_errors.extend(quota_errors.cloned());
    }
    inv.sources = sources;
    inv.snapshots = snapshots;
    inv.exports = export_tasks;
    inv.instance_quota = quota.0;
    inv.cluster_quota = quota.1;
    inv.dr_snapshots = dr_snaps;
    let wants_objects = inv
        .snapshots
        .iter()
        .any(|s| s.kind == ResourceKind::Elasticache && s.managed());
    if wants_objects {
        match s3::keys(&c.s3, &policy.buckets.backup, PREFIX).await {
            Ok(keys) => inv.exported_objects = keys,
            Err(e) => inv.read_errors.push((
                format!("objects in s3://{}", policy.buckets.backup),
                e.to_string(),
            )),
        }
    }
    inv
}

async fn read_instances(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for db in rds::instances(&c.rds).await.map_err(|e| e.to_string())? {
        // Aurora members are backed up through their cluster.
        if db.cluster_id.is_some() {
            continue;
        }
        let Some(m) = policy.membership(ResourceKind::RdsInstance, &db.id, &db.tags) else {
            continue;
        };
        out.push(Source {
            kind: ResourceKind::RdsInstance,
            id: db.id,
            arn: db.arn,
            engine: db.engine,
            engine_version: db.engine_version,
            status: db.status,
            encrypted: db.encrypted,
            tags: db.tags,
            component: m.component,
            settings: m.settings,
            endpoint: db.endpoint,
        });
    }
    Ok(out)
}

async fn read_clusters(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    for cl in rds::clusters(&c.rds).await.map_err(|e| e.to_string())? {
        if !cl.engine.starts_with("aurora") {
            continue; // Neptune and DocumentDB share this API
        }
        let Some(m) = policy.membership(ResourceKind::AuroraCluster, &cl.id, &cl.tags) else {
            continue;
        };
        out.push(Source {
            kind: ResourceKind::AuroraCluster,
            id: cl.id,
            arn: cl.arn,
            engine: cl.engine,
            engine_version: cl.engine_version,
            status: cl.status,
            encrypted: cl.encrypted,
            tags: cl.tags,
            component: m.component,
            settings: m.settings,
            endpoint: cl.endpoint,
        });
    }
    Ok(out)
}

async fn read_groups(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    let groups = elasticache::replication_groups(&c.elasticache)
        .await
        .map_err(|e| e.to_string())?;
    for g in groups {
        // Tags only matter when no component names the group by id.
        let named = policy
            .components
            .iter()
            .any(|c| c.kind == ResourceKind::Elasticache && c.ids.contains(&g.id));
        let tags = if named || g.arn.is_empty() {
            BTreeMap::new()
        } else {
            elasticache::tags(&c.elasticache, &g.arn)
                .await
                .map_err(|e| e.to_string())?
        };
        let Some(m) = policy.membership(ResourceKind::Elasticache, &g.id, &tags) else {
            continue;
        };
        out.push(Source {
            kind: ResourceKind::Elasticache,
            id: g.id,
            arn: g.arn,
            engine: g.engine,
            engine_version: None,
            status: g.status,
            encrypted: g.encrypted,
            tags,
            component: m.component,
            settings: m.settings,
            endpoint: g.endpoint,
        });
    }
    Ok(out)
}

async fn read_cache_snapshots(c: &Clients) -> Result<Vec<Snapshot>, String> {
    let mut out = elasticache::snapshots(&c.elasticache, &c.primary_region, None)
        .await
        .map_err(|e| e.to_string())?;
    for s in &mut out {
        // Tags cost a call per snapshot: read them only where ownership must be proven.
        if s.lifeboat_named() && !s.arn.is_empty() {
            s.tags = elasticache::tags(&c.elasticache, &s.arn)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

async fn read_exports(c: &Clients) -> Result<Vec<ExportTask>, String> {
    let mut out = Vec::new();
    let mut pages = c.rds.describe_export_tasks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeExportTasks", &e).to_string())?;
        for t in page.export_tasks() {
            out.push(ExportTask {
                id: t.export_task_identifier().unwrap_or_default().to_string(),
                source_arn: t.source_arn().unwrap_or_default().to_string(),
                status: t.status().unwrap_or_default().to_ascii_uppercase(),
                bucket: t.s3_bucket().map(str::to_string),
                prefix: t.s3_prefix().map(str::to_string),
                failure: t.failure_cause().map(str::to_string),
            });
        }
    }
    Ok(out)
}

async fn read_quotas(c: &Clients) -> Result<(Option<Quota>, Option<Quota>), String> {
    let out = c
        .rds
        .describe_account_attributes()
        .send()
        .await
        .map_err(|e| AwsError::new("DescribeAccountAttributes", &e).to_string())?;
    let mut instance = None;
    let mut cluster = None;
    for q in out.account_quotas() {
        let quota = Quota {
            used: q.used().unwrap_or(0),
            max: q.max().unwrap_or(0),
        };
        match q.account_quota_name() {
            Some("ManualSnapshots") => instance = Some(quota),
            Some("ManualClusterSnapshots") => cluster = Some(quota),
            _ => {}
        }
    }
    Ok((instance, cluster))
}

async fn read_dr(c: &Clients) -> Result<Vec<Snapshot>, String> {
    let (Some(rds), Some(region)) = (&c.rds_dr, &c.dr_region) else {
        return Ok(Vec::new());
    };
    let manual = SnapshotFilter {
        manual_only: true,
        ..SnapshotFilter::default()
    };
    let (a, b) = tokio::join!(
        rds::db_snapshots(rds, region, manual),
        rds::cluster_snapshots(rds, region, manual)
    );
    let mut v = a.map_err(|e| e.to_string())?;
    v.extend(b.map_err(|e| e.to_string())?);
    Ok(v)
}

/// One step's call under its rule (see [`errors::settle`]): failures read `code: message`.
fn settle<T, E>(
    operation: &'static str,
    r: Result<T, aws_sdk_rds::error::SdkError<E>>,
    counts_as_done: fn(&str) -> bool,
) -> Result<Settled, String>
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    errors::settle(operation, r, counts_as_done).map_err(|e| e.to_string())
}

async fn run_step(c: &Clients, bucket: &str, step: &Step) -> Result<Settled, String> {
    match step {
        Step::CreateSnapshot {
            kind,
            source_id,
            snapshot_id,
            tags,
        } => match kind {
            ResourceKind::RdsInstance => settle(
                "CreateDBSnapshot",
                c.rds
                    .create_db_snapshot()
                    .db_instance_identifier(source_id)
                    .db_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
            ResourceKind::AuroraCluster => settle(
                "CreateDBClusterSnapshot",
                c.rds
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(source_id)
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
            ResourceKind::Elasticache => settle(
                "CreateSnapshot",
                c.elasticache
                    .create_snapshot()
                    .replication_group_id(source_id)
                    .snapshot_name(snapshot_id)
                    .set_tags(Some(elasticache::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
        },
        Step::CopyToDr {
            snapshot,
            target_id,
            kms_key_id,
        } => {
            let rds = c.rds_dr.as_ref().ok_or("no DR region configured")?;
            match snapshot.kind {
                ResourceKind::AuroraCluster => settle(
                    "CopyDBClusterSnapshot",
                    rds.copy_db_cluster_snapshot()
                        .source_db_cluster_snapshot_identifier(&snapshot.arn)
                        .target_db_cluster_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    errors::already_exists,
                ),
                _ => settle(
                    "CopyDBSnapshot",
                    rds.copy_db_snapshot()
                        .source_db_snapshot_identifier(&snapshot.arn)
                        .target_db_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    errors::already_exists,
                ),
            }
        }
        Step::StartExport {
            snapshot,
            task_id,
            bucket,
            prefix,
            iam_role_arn,
            kms_key_id,
        } => settle(
            "StartExportTask",
            c.rds
                .start_export_task()
                .export_task_identifier(task_id)
                .source_arn(&snapshot.arn)
                .s3_bucket_name(bucket)
                .s3_prefix(prefix)
                .iam_role_arn(iam_role_arn)
                .kms_key_id(kms_key_id)
                .send()
                .await,
            errors::already_exists,
        ),
        Step::ExportToBucket {
            snapshot,
            target_name,
            bucket,
        } => settle(
            "CopySnapshot",
            c.elasticache
                .copy_snapshot()
                .source_snapshot_name(&snapshot.id)
                .target_snapshot_name(target_name)
                .target_bucket(bucket)
                .send()
                .await,
            errors::already_exists,
        ),
        Step::WriteManifest {
            snapshot,
            key,
            manifest,
            settled,
            carry_fingerprint,
        } => {
            let mut manifest = manifest.clone();
            if *carry_fingerprint && manifest.fingerprint.is_none() {
                // Rewrites keep the fingerprint the first write recorded (one GET, only for
                // components with database access).
                if let Ok(Some((old, _))) =
                    lifeboat_shared::journal::read_json::<Manifest>(&c.s3, bucket, key).await
                {
                    if old.check().is_ok() {
                        manifest.fingerprint = old.fingerprint;
                    }
                }
            }
            let body = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
            settle(
                "PutObject",
                c.s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json")
                    .body(ByteStream::from(body))
                    .send()
                    .await,
                errors::never,
            )?;
            if *settled {
                match snapshot.kind {
                    ResourceKind::Elasticache => settle(
                        "AddTagsToResource",
                        c.elasticache
                            .add_tags_to_resource()
                            .resource_name(&snapshot.arn)
                            .tags(
                                aws_sdk_elasticache::types::Tag::builder()
                                    .key(TAG_MANIFEST)
                                    .value("final")
                                    .build(),
                            )
                            .send()
                            .await,
                        errors::never,
                    )?,
                    _ => settle(
                        "AddTagsToResource",
                        c.rds
                            .add_tags_to_resource()
                            .resource_name(&snapshot.arn)
                            .tags(
                                aws_sdk_rds::types::Tag::builder()
                                    .key(TAG_MANIFEST)
                                    .value("final")
                                    .build(),
                            )
                            .send()
                            .await,
                        errors::never,
                    )?,
                };
            }
            Ok(Settled::Done)
        }
        Step::DeleteSnapshot { snapshot, place } => {
            let rds = match place {
                Where::Primary => &c.rds,
                Where::Dr => c.rds_dr.as_ref().ok_or("no DR region configured")?,
            };
            match snapshot.kind {
                ResourceKind::RdsInstance => settle(
                    "DeleteDBSnapshot",
                    rds.delete_db_snapshot()
                        .db_snapshot_identifier(&snapshot.id)
                        .send()
                        .await,
                    errors::not_found,
                ),
                ResourceKind::AuroraCluster => settle(
                    "DeleteDBClusterSnapshot",
                    rds.delete_db_cluster_snapshot()
                        .db_cluster_snapshot_identifier(&snapshot.id)
                        .send()
                        .await,
                    errors::not_found,
                ),
                ResourceKind::Elasticache => settle(
                    "DeleteSnapshot",
                    c.elasticache
                        .delete_snapshot()
                        .snapshot_name(&snapshot.id)
                        .send()
                        .await,
                    errors::not_found,
                ),
            }
        }
    }
}

/// Performs planned steps with bounded concurrency. Blocked steps are reported failed with their
/// reason, deferred ones as deferred; a dry run performs nothing. Steps not started before
/// `deadline` are deferred to the next run.
pub async fn execute(
    c: &Clients,
    bucket: &str,
    planned: Vec<Planned>,
    dry_run: bool,
    concurrency: usize,
    deadline: Option<Instant>,
) -> Vec<Action> {
    stream::iter(planned)
        .map(|p| async move {
            let mut action = p.action;
            if let Some(reason) = p.blocked {
                action.outcome = Outcome::Failed;
                action.error = Some(reason);
            } else if p.deferred {
                action.outcome = Outcome::Deferred;
            } else if dry_run {
                action.outcome = Outcome::Planned;
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                action.outcome = Outcome::Deferred;
                action.reason = format!("{}; the invocation's time ran out, the next run continues", action.reason);
            } else {
                match run_step(c, bucket, &p.step).await {
                    Ok(Settled::Done) => action.outcome = Outcome::Done,
                    Ok(Settled::Already) => action.outcome = Outcome::AlreadyDone,
                    Err(e) => {
                        tracing::warn!(kind = %action.kind, resource = %action.resource, error = %e, "step failed");
                        action.outcome = Outcome::Failed;
                        action.error = Some(e);
                    }
                }
            }
            action
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Each step's call under `aws-smithy-mocks`, answered with every error code the step treats
/// as already done, and with one it does not.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_elasticache::operation as ec_op;
    use aws_sdk_rds::operation as rds_op;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} (mocked reply)"))
            .build()
    }

    fn clients(rds: &[&Rule], rds_dr: &[&Rule], ec: &[&Rule], s3: &[&Rule]) -> Clients {
        Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds),
            rds_dr: Some(mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds_dr)),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, ec),
            s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3),
            secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[] as &[&Rule]),
            primary_region: "us-east-1".into(),
            dr_region: Some("us-west-2".into()),
        }
    }

    fn snapshot(kind: ResourceKind, id: &str) -> Snapshot {
        Snapshot {
            kind,
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
            source_id: "orders".into(),
            region: "us-east-1".into(),
            created_at: None,
            status: "available".into(),
            manual: true,
            encrypted: false,
            kms_key_id: None,
            size_gb: None,
            engine: None,
            tags: BTreeMap::new(),
        }
    }

    fn step(kind: &str, resource: &str, step: Step) -> Planned {
        Planned {
            step,
            action: Action::new(kind, resource, "test"),
            blocked: None,
            deferred: false,
        }
    }

    fn create(kind: ResourceKind, id: &str) -> Planned {
        step(
            "create-snapshot",
            id,
            Step::CreateSnapshot {
                kind,
                source_id: "orders".into(),
                snapshot_id: id.into(),
                tags: BTreeMap::new(),
            },
        )
    }

    fn delete(kind: ResourceKind, id: &str) -> Planned {
        step(
            "delete-snapshot",
            id,
            Step::DeleteSnapshot {
                snapshot: snapshot(kind, id),
                place: Where::Primary,
            },
        )
    }

    #[tokio::test]
    async fn steps_found_done_by_an_earlier_attempt_are_already_done() {
        // Given each step's call answered "already exists" (creates, copies, exports) or
        // "not found" (deletes)
        let db_snap = mock!(aws_sdk_rds::Client::create_db_snapshot).then_error(|| {
            rds_op::create_db_snapshot::CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBSnapshotAlreadyExists"))
                    .build(),
            )
        });
        let cl_snap = mock!(aws_sdk_rds::Client::create_db_cluster_snapshot).then_error(|| {
            rds_op::create_db_cluster_snapshot::CreateDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbClusterSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBClusterSnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
        let export = mock!(aws_sdk_rds::Client::start_export_task).then_error(|| {
            rds_op::start_export_task::StartExportTaskError::ExportTaskAlreadyExistsFault(
                aws_sdk_rds::types::error::ExportTaskAlreadyExistsFault::builder()
                    .meta(meta("ExportTaskAlreadyExists"))
                    .build(),
            )
        });
        let db_gone = mock!(aws_sdk_rds::Client::delete_db_snapshot).then_error(|| {
            rds_op::delete_db_snapshot::DeleteDBSnapshotError::DbSnapshotNotFoundFault(
                aws_sdk_rds::types::error::DbSnapshotNotFoundFault::builder()
                    .meta(meta("DBSnapshotNotFound"))
                    .build(),
            )
        });
        let cl_gone = mock!(aws_sdk_rds::Client::delete_db_cluster_snapshot).then_error(|| {
            rds_op::delete_db_cluster_snapshot::DeleteDBClusterSnapshotError::DbClusterSnapshotNotFoundFault(
                aws_sdk_rds::types::error::DbClusterSnapshotNotFoundFault::builder()
                    .meta(meta("DBClusterSnapshotNotFoundFault"))
                    .build(),
            )
        });
        let copy = mock!(aws_sdk_rds::Client::copy_db_snapshot).then_error(|| {
            rds_op::copy_db_snapshot::CopyDBSnapshotError::DbSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBSnapshotAlreadyExists"))
                    .build(),
            )
        });
        let cl_copy = mock!(aws_sdk_rds::Client::copy_db_cluster_snapshot).then_error(|| {
            rds_op::copy_db_cluster_snapshot::CopyDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbClusterSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBClusterSnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
        let ec_snap = mock!(aws_sdk_elasticache::Client::create_snapshot).then_error(|| {
            ec_op::create_snapshot::CreateSnapshotError::SnapshotAlreadyExistsFault(
                aws_sdk_elasticache::types::error::SnapshotAlreadyExistsFault::builder()
                    .meta(meta("SnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
        let ec_export = mock!(aws_sdk_elasticache::Client::copy_snapshot).then_error(|| {
            ec_op::copy_snapshot::CopySnapshotError::SnapshotAlreadyExistsFault(
                aws_sdk_elasticache::types::error::SnapshotAlreadyExistsFault::builder()
                    .meta(meta("SnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
        let ec_gone = mock!(aws_sdk_elasticache::Client::delete_snapshot).then_error(|| {
            ec_op::delete_snapshot::DeleteSnapshotError::SnapshotNotFoundFault(
                aws_sdk_elasticache::types::error::SnapshotNotFoundFault::builder()
                    .meta(meta("SnapshotNotFoundFault"))
                    .build(),
            )
        });
        let c = clients(
            &[&db_snap, &cl_snap, &export, &db_gone, &cl_gone],
            &[&copy, &cl_copy],
            &[&ec_snap, &ec_export, &ec_gone],
            &[],
        );
        let s = snapshot(ResourceKind::RdsInstance, "lifeboat-orders-20261121-0000");
        let cl = snapshot(
            ResourceKind::AuroraCluster,
            "lifeboat-catalog-20261121-0000",
        );
        let ec = snapshot(ResourceKind::Elasticache, "lifeboat-sessions-20261121-0300");
        let planned = vec![
            create(ResourceKind::RdsInstance, &s.id),
            create(ResourceKind::AuroraCluster, &cl.id),
            create(ResourceKind::Elasticache, &ec.id),
            step(
                "copy-to-dr",
                &s.id,
                Step::CopyToDr {
                    snapshot: s.clone(),
                    target_id: s.id.clone(),
                    kms_key_id: None,
                },
            ),
            step(
                "copy-to-dr",
                &cl.id,
                Step::CopyToDr {
                    snapshot: cl.clone(),
                    target_id: cl.id.clone(),
                    kms_key_id: None,
                },
            ),
            step(
                "start-export",
                &s.id,
                Step::StartExport {
                    snapshot: s.clone(),
                    task_id: s.id.clone(),
                    bucket: "b-1".into(),
                    prefix: "backups/x/export".into(),
                    iam_role_arn: "arn:aws:iam::123456789012:role/export".into(),
                    kms_key_id: "alias/export".into(),
                },
            ),
            step(
                "export-to-s3",
                &ec.id,
                Step::ExportToBucket {
                    snapshot: ec.clone(),
                    target_name: ec.id.clone(),
                    bucket: "b-1".into(),
                },
            ),
            delete(ResourceKind::RdsInstance, &s.id),
            delete(ResourceKind::AuroraCluster, &cl.id),
            delete(ResourceKind::Elasticache, &ec.id),
        ];
        // When they are executed
        let actions = execute(&c, "b-1", planned, false, 4, None).await;
        // Then every one is already done, none failed
        for a in &actions {
            assert_eq!(a.outcome, Outcome::AlreadyDone, "{a:?}");
        }
        assert_eq!(actions.len(), 10);
    }

    #[tokio::test]
    async fn a_step_refused_for_another_reason_fails_with_the_code() {
        // Given a snapshot of a stopped instance (invalid state) and a manifest write AWS
        // refuses
        let stopped = mock!(aws_sdk_rds::Client::create_db_snapshot).then_error(|| {
            rds_op::create_db_snapshot::CreateDBSnapshotError::InvalidDbInstanceStateFault(
                aws_sdk_rds::types::error::InvalidDbInstanceStateFault::builder()
                    .meta(meta("InvalidDBInstanceState"))
                    .build(),
            )
        });
        let denied = mock!(aws_sdk_s3::Client::put_object).then_error(|| {
            aws_sdk_s3::operation::put_object::PutObjectError::generic(meta("AccessDenied"))
        });
        let c = clients(&[&stopped], &[], &[], &[&denied]);
        let s = snapshot(ResourceKind::RdsInstance, "lifeboat-orders-20261121-0000");
        let manifest = crate::plan::manifest_for(
            &s,
            "orders-db",
            &Policy::parse(
                "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders]}\n",
            )
            .unwrap()
            .settings_by_name("orders-db"),
            None,
            &Inventory::default(),
            &crate::plan::Scope {
                primary_region: "us-east-1".into(),
                dr_region: None,
                only: vec![],
                period_time: chrono::Utc::now(),
                run_id: "r".into(),
            },
            "b-1",
            chrono::Utc::now(),
        )
        .0;
        let planned = vec![
            create(ResourceKind::RdsInstance, &s.id),
            step(
                "write-manifest",
                &s.id,
                Step::WriteManifest {
                    snapshot: s.clone(),
                    key: "backups/rds-instance/orders/x/manifest.json".into(),
                    manifest: Box::new(manifest),
                    settled: false,
                    carry_fingerprint: false,
                },
            ),
        ];
        // When they are executed
        let actions = execute(&c, "b-1", planned, false, 1, None).await;
        // Then both fail, each with AWS's code and message
        let errors: Vec<(Outcome, Option<&str>)> = actions
            .iter()
            .map(|a| (a.outcome, a.error.as_deref()))
            .collect();
        assert_eq!(
            errors,
            [
                (
                    Outcome::Failed,
                    Some("InvalidDBInstanceState: InvalidDBInstanceState (mocked reply)")
                ),
                (
                    Outcome::Failed,
                    Some("AccessDenied: AccessDenied (mocked reply)")
                ),
            ]
        );
    }
}
