//! The AWS side of snapshot-export: the inventory (the only reads a decision rests on) and the
//! execution of planned steps, each idempotent (deterministic names; "already exists" and
//! "not found" count as done).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lifeboat_shared::error::aws_error_parts;
use lifeboat_shared::policy::{Policy, ResourceKind};
use lifeboat_shared::report::{Action, Outcome};

use crate::plan::{
    ExportTask, Inventory, Manifest, Planned, Quota, Snapshot, Source, Step, Where, TAG_MANIFEST,
};

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

use lifeboat_shared::aws_time as time;

fn rds_tags(list: Option<&[aws_sdk_rds::types::Tag]>) -> BTreeMap<String, String> {
    list.unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn err_text<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &aws_sdk_rds::error::SdkError<E>,
) -> String {
    let (code, message) = aws_error_parts(e);
    format!("{code}: {message}")
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
        read_db_snapshots(&c.rds, &c.primary_region, false),
        read_cluster_snapshots(&c.rds, &c.primary_region, false),
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
        db_snaps.map(|v| snapshots.extend(v)),
    );
    take(
        "cluster snapshots (DescribeDBClusterSnapshots)",
        cl_snaps.map(|v| snapshots.extend(v)),
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
        match list_objects(&c.s3, &policy.buckets.backup, crate::plan::PREFIX).await {
            Ok(keys) => inv.exported_objects = keys,
            Err(e) => inv
                .read_errors
                .push((format!("objects in s3://{}", policy.buckets.backup), e)),
        }
    }
    inv
}

async fn read_instances(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    let mut pages = c.rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for db in page.db_instances() {
            // Aurora members are backed up through their cluster.
            if db.db_cluster_identifier().is_some() {
                continue;
            }
            let Some(id) = db.db_instance_identifier() else {
                continue;
            };
            let tags = rds_tags(Some(db.tag_list()));
            let Some(m) = policy.membership(ResourceKind::RdsInstance, id, &tags) else {
                continue;
            };
            out.push(Source {
                kind: ResourceKind::RdsInstance,
                id: id.to_string(),
                arn: db.db_instance_arn().unwrap_or_default().to_string(),
                engine: db.engine().unwrap_or_default().to_string(),
                engine_version: db.engine_version().map(str::to_string),
                status: db.db_instance_status().unwrap_or_default().to_string(),
                encrypted: db.storage_encrypted().unwrap_or(false),
                tags,
                component: m.component,
                settings: m.settings,
                endpoint: db
                    .endpoint()
                    .and_then(|e| Some((e.address()?.to_string(), e.port()? as u16))),
            });
        }
    }
    Ok(out)
}

async fn read_clusters(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    let mut pages = c.rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for cl in page.db_clusters() {
            let engine = cl.engine().unwrap_or_default();
            if !engine.starts_with("aurora") {
                continue; // Neptune and DocumentDB share this API
            }
            let Some(id) = cl.db_cluster_identifier() else {
                continue;
            };
            let tags = rds_tags(Some(cl.tag_list()));
            let Some(m) = policy.membership(ResourceKind::AuroraCluster, id, &tags) else {
                continue;
            };
            out.push(Source {
                kind: ResourceKind::AuroraCluster,
                id: id.to_string(),
                arn: cl.db_cluster_arn().unwrap_or_default().to_string(),
                engine: engine.to_string(),
                engine_version: cl.engine_version().map(str::to_string),
                status: cl.status().unwrap_or_default().to_string(),
                encrypted: cl.storage_encrypted().unwrap_or(false),
                tags,
                component: m.component,
                settings: m.settings,
                endpoint: cl
                    .endpoint()
                    .zip(cl.port())
                    .map(|(h, p)| (h.to_string(), p as u16)),
            });
        }
    }
    Ok(out)
}

async fn cache_tags(c: &Clients, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let out = c
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| err_text(&e))?;
    Ok(out
        .tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

async fn read_groups(c: &Clients, policy: &Policy) -> Result<Vec<Source>, String> {
    let mut out = Vec::new();
    let mut pages = c
        .elasticache
        .describe_replication_groups()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for g in page.replication_groups() {
            let Some(id) = g.replication_group_id() else {
                continue;
            };
            let arn = g.arn().unwrap_or_default().to_string();
            // Tags only matter when no component names the group by id.
            let named = policy
                .components
                .iter()
                .any(|c| c.kind == ResourceKind::Elasticache && c.ids.iter().any(|i| i == id));
            let tags = if named || arn.is_empty() {
                BTreeMap::new()
            } else {
                cache_tags(c, &arn).await?
            };
            let Some(m) = policy.membership(ResourceKind::Elasticache, id, &tags) else {
                continue;
            };
            out.push(Source {
                kind: ResourceKind::Elasticache,
                id: id.to_string(),
                arn,
                engine: g.engine().unwrap_or("redis").to_string(),
                engine_version: None,
                status: g.status().unwrap_or_default().to_string(),
                encrypted: g.at_rest_encryption_enabled().unwrap_or(false),
                tags,
                component: m.component,
                settings: m.settings,
                endpoint: g
                    .node_groups()
                    .first()
                    .and_then(|n| n.primary_endpoint())
                    .or(g.configuration_endpoint())
                    .and_then(|e| Some((e.address()?.to_string(), e.port()? as u16))),
            });
        }
    }
    Ok(out)
}

async fn read_db_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
    manual_only: bool,
) -> Result<Vec<Snapshot>, String> {
    let mut out = Vec::new();
    let mut req = rds.describe_db_snapshots();
    if manual_only {
        req = req.snapshot_type("manual");
    }
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for s in page.db_snapshots() {
            let Some(id) = s.db_snapshot_identifier() else {
                continue;
            };
            out.push(Snapshot {
                kind: ResourceKind::RdsInstance,
                id: id.to_string(),
                arn: s.db_snapshot_arn().unwrap_or_default().to_string(),
                source_id: s.db_instance_identifier().unwrap_or_default().to_string(),
                region: region.to_string(),
                // A copy's SnapshotCreateTime is the copy's; the original time is the data's.
                created_at: time(s.original_snapshot_create_time())
                    .or_else(|| time(s.snapshot_create_time())),
                status: s.status().unwrap_or_default().to_string(),
                manual: s.snapshot_type() == Some("manual"),
                encrypted: s.encrypted().unwrap_or(false),
                kms_key_id: s.kms_key_id().map(str::to_string),
                size_gb: s.allocated_storage().map(i64::from),
                engine: s.engine().map(str::to_string),
                tags: rds_tags(Some(s.tag_list())),
            });
        }
    }
    Ok(out)
}

async fn read_cluster_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
    manual_only: bool,
) -> Result<Vec<Snapshot>, String> {
    let mut out = Vec::new();
    let mut req = rds.describe_db_cluster_snapshots();
    if manual_only {
        req = req.snapshot_type("manual");
    }
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for s in page.db_cluster_snapshots() {
            let Some(id) = s.db_cluster_snapshot_identifier() else {
                continue;
            };
            out.push(Snapshot {
                kind: ResourceKind::AuroraCluster,
                id: id.to_string(),
                arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
                source_id: s.db_cluster_identifier().unwrap_or_default().to_string(),
                region: region.to_string(),
                created_at: time(s.snapshot_create_time()),
                status: s.status().unwrap_or_default().to_string(),
                manual: s.snapshot_type() == Some("manual"),
                encrypted: s.storage_encrypted().unwrap_or(false),
                kms_key_id: s.kms_key_id().map(str::to_string),
                size_gb: s.allocated_storage().map(i64::from),
                engine: s.engine().map(str::to_string),
                tags: rds_tags(Some(s.tag_list())),
            });
        }
    }
    Ok(out)
}

async fn read_cache_snapshots(c: &Clients) -> Result<Vec<Snapshot>, String> {
    let mut out = Vec::new();
    let mut pages = c.elasticache.describe_snapshots().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        for s in page.snapshots() {
            let Some(name) = s.snapshot_name() else {
                continue;
            };
            let manual = s.snapshot_source() == Some("manual");
            let arn = s.arn().unwrap_or_default().to_string();
            // Tags cost a call per snapshot: read them only where ownership must be proven.
            let tags = if manual && name.starts_with(crate::plan::PREFIX) && !arn.is_empty() {
                cache_tags(c, &arn).await?
            } else {
                BTreeMap::new()
            };
            let created = s
                .node_snapshots()
                .iter()
                .filter_map(|n| time(n.snapshot_create_time()))
                .min();
            out.push(Snapshot {
                kind: ResourceKind::Elasticache,
                id: name.to_string(),
                arn,
                source_id: s
                    .replication_group_id()
                    .or(s.cache_cluster_id())
                    .unwrap_or_default()
                    .to_string(),
                region: c.primary_region.clone(),
                created_at: created,
                status: s.snapshot_status().unwrap_or_default().to_string(),
                manual,
                encrypted: s.kms_key_id().is_some(),
                kms_key_id: s.kms_key_id().map(str::to_string),
                size_gb: None,
                engine: s.engine().map(str::to_string),
                tags,
            });
        }
    }
    Ok(out)
}

async fn read_exports(c: &Clients) -> Result<Vec<ExportTask>, String> {
    let mut out = Vec::new();
    let mut pages = c.rds.describe_export_tasks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
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
        .map_err(|e| err_text(&e))?;
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
    let (a, b) = tokio::join!(
        read_db_snapshots(rds, region, true),
        read_cluster_snapshots(rds, region, true)
    );
    let mut v = a?;
    v.extend(b?);
    Ok(v)
}

async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<BTreeSet<String>, String> {
    let mut keys = BTreeSet::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| err_text(&e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

/// Result of one AWS call: done, found already done, or failed with `code: message`.
enum Done {
    Done,
    Already,
}

fn settle<T, E>(
    r: Result<T, aws_sdk_rds::error::SdkError<E>>,
    already: &[&str],
) -> Result<Done, String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(_) => Ok(Done::Done),
        Err(e) => {
            let (code, message) = aws_error_parts(&e);
            if already.contains(&code.as_str()) {
                Ok(Done::Already)
            } else {
                Err(format!("{code}: {message}"))
            }
        }
    }
}

fn rds_tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

async fn run_step(c: &Clients, bucket: &str, step: &Step) -> Result<Done, String> {
    match step {
        Step::CreateSnapshot {
            kind,
            source_id,
            snapshot_id,
            tags,
        } => match kind {
            ResourceKind::RdsInstance => settle(
                c.rds
                    .create_db_snapshot()
                    .db_instance_identifier(source_id)
                    .db_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds_tag_list(tags)))
                    .send()
                    .await,
                &["DBSnapshotAlreadyExists"],
            ),
            ResourceKind::AuroraCluster => settle(
                c.rds
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(source_id)
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds_tag_list(tags)))
                    .send()
                    .await,
                &["DBClusterSnapshotAlreadyExistsFault"],
            ),
            ResourceKind::Elasticache => settle(
                c.elasticache
                    .create_snapshot()
                    .replication_group_id(source_id)
                    .snapshot_name(snapshot_id)
                    .set_tags(Some(
                        tags.iter()
                            .map(|(k, v)| {
                                aws_sdk_elasticache::types::Tag::builder()
                                    .key(k)
                                    .value(v)
                                    .build()
                            })
                            .collect(),
                    ))
                    .send()
                    .await,
                &["SnapshotAlreadyExistsFault"],
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
                    rds.copy_db_cluster_snapshot()
                        .source_db_cluster_snapshot_identifier(&snapshot.arn)
                        .target_db_cluster_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    &["DBClusterSnapshotAlreadyExistsFault"],
                ),
                _ => settle(
                    rds.copy_db_snapshot()
                        .source_db_snapshot_identifier(&snapshot.arn)
                        .target_db_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    &["DBSnapshotAlreadyExists"],
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
            &["ExportTaskAlreadyExists", "ExportTaskAlreadyExistsFault"],
        ),
        Step::ExportToBucket {
            snapshot,
            target_name,
            bucket,
        } => settle(
            c.elasticache
                .copy_snapshot()
                .source_snapshot_name(&snapshot.id)
                .target_snapshot_name(target_name)
                .target_bucket(bucket)
                .send()
                .await,
            &["SnapshotAlreadyExistsFault"],
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
                    manifest.fingerprint = old.fingerprint;
                }
            }
            let body = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
            settle(
                c.s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json")
                    .body(ByteStream::from(body))
                    .send()
                    .await,
                &[],
            )?;
            if *settled {
                match snapshot.kind {
                    ResourceKind::Elasticache => settle(
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
                        &[],
                    )?,
                    _ => settle(
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
                        &[],
                    )?,
                };
            }
            Ok(Done::Done)
        }
        Step::DeleteSnapshot { snapshot, place } => {
            let rds = match place {
                Where::Primary => &c.rds,
                Where::Dr => c.rds_dr.as_ref().ok_or("no DR region configured")?,
            };
            match snapshot.kind {
                ResourceKind::RdsInstance => settle(
                    rds.delete_db_snapshot()
                        .db_snapshot_identifier(&snapshot.id)
                        .send()
                        .await,
                    &["DBSnapshotNotFound", "DBSnapshotNotFoundFault"],
                ),
                ResourceKind::AuroraCluster => settle(
                    rds.delete_db_cluster_snapshot()
                        .db_cluster_snapshot_identifier(&snapshot.id)
                        .send()
                        .await,
                    &["DBClusterSnapshotNotFoundFault"],
                ),
                ResourceKind::Elasticache => settle(
                    c.elasticache
                        .delete_snapshot()
                        .snapshot_name(&snapshot.id)
                        .send()
                        .await,
                    &["SnapshotNotFoundFault"],
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
                    Ok(Done::Done) => action.outcome = Outcome::Done,
                    Ok(Done::Already) => action.outcome = Outcome::AlreadyDone,
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
