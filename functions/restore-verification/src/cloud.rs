//! The AWS side of restores: which backups exist, starting a restore into a temporary resource,
//! watching it become available, tearing it down, and finding temporary resources for the
//! janitor. Every call is idempotent: a resumed or redelivered run repeats calls safely.

use std::collections::BTreeMap;

use aws_sdk_rds::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use lifeboat_shared::error::aws_error_parts;
use lifeboat_shared::policy::{BackupSource, Policy, ResourceKind, RestoreTarget};

use crate::state::{
    temp_tags, Backup, Job, Origin, TempKind, TempResource, TAG_PURPOSE, TAG_RUN, TEMP_PREFIX,
};

pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub backup: aws_sdk_backup::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

fn err<E>(op: &str, id: &str, e: &aws_sdk_rds::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, msg) = aws_error_parts(e);
    format!("{op} {id}: {code}: {msg}")
}

fn code<E>(e: &aws_sdk_rds::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    aws_error_parts(e).0
}

use lifeboat_shared::aws_time as time;

fn rds_tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn rds_tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Creation time from the API, else snapshot-export's period tag (some APIs and emulators omit
/// the time).
fn created(api: Option<DateTime<Utc>>, tags: &BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    api.or_else(|| {
        tags.get("lifeboat:period-start")
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    })
}

/// A resource a component covers: id, ARN, engine.
struct Member {
    id: String,
    arn: String,
    engine: String,
}

/// Restorable backups of every component with `verify`, by component. Read failures are
/// returned as warnings and leave that component without candidates.
pub async fn candidates(
    c: &Clients,
    policy: &Policy,
) -> (BTreeMap<String, Vec<Backup>>, Vec<String>) {
    let mut out: BTreeMap<String, Vec<Backup>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let wanted = |k: ResourceKind| {
        policy
            .components
            .iter()
            .any(|comp| comp.kind == k && comp.verify.is_some())
    };
    let mut members: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    if wanted(ResourceKind::RdsInstance) {
        match list_instances(c).await {
            Ok(list) => {
                for (i, tags) in list {
                    let id = i.db_instance_identifier().unwrap_or_default().to_string();
                    if id.starts_with(TEMP_PREFIX) || i.db_cluster_identifier().is_some() {
                        continue;
                    }
                    if let Some(m) = policy.membership(ResourceKind::RdsInstance, &id, &tags) {
                        members.entry(m.component).or_default().push(Member {
                            arn: i.db_instance_arn().unwrap_or_default().to_string(),
                            engine: i.engine().unwrap_or_default().to_string(),
                            id,
                        });
                    }
                }
            }
            Err(e) => warnings.push(e),
        }
    }
    if wanted(ResourceKind::AuroraCluster) {
        match list_clusters(c).await {
            Ok(list) => {
                for cl in list {
                    let id = cl.db_cluster_identifier().unwrap_or_default().to_string();
                    if id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    let tags = rds_tags(cl.tag_list());
                    if let Some(m) = policy.membership(ResourceKind::AuroraCluster, &id, &tags) {
                        members.entry(m.component).or_default().push(Member {
                            arn: cl.db_cluster_arn().unwrap_or_default().to_string(),
                            engine: cl.engine().unwrap_or_default().to_string(),
                            id,
                        });
                    }
                }
            }
            Err(e) => warnings.push(e),
        }
    }
    if wanted(ResourceKind::Elasticache) {
        // Tags only matter for components that select by tag.
        let needs_tags = policy
            .components
            .iter()
            .any(|comp| comp.kind == ResourceKind::Elasticache && !comp.tags.is_empty());
        match c.elasticache.describe_replication_groups().send().await {
            Ok(out) => {
                for g in out.replication_groups() {
                    let id = g.replication_group_id().unwrap_or_default().to_string();
                    if id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    let arn = g.arn().unwrap_or_default().to_string();
                    let tags = if needs_tags && !arn.is_empty() {
                        cache_tags(c, &arn).await.unwrap_or_else(|e| {
                            warnings.push(e);
                            BTreeMap::new()
                        })
                    } else {
                        BTreeMap::new()
                    };
                    if let Some(m) = policy.membership(ResourceKind::Elasticache, &id, &tags) {
                        members.entry(m.component).or_default().push(Member {
                            id,
                            arn,
                            engine: "redis".into(),
                        });
                    }
                }
            }
            Err(e) => warnings.push(err("DescribeReplicationGroups", "*", &e)),
        }
    }
    for comp in &policy.components {
        let Some(v) = &comp.verify else { continue };
        let list = out.entry(comp.name.clone()).or_default();
        for m in members.get(&comp.name).map(Vec::as_slice).unwrap_or(&[]) {
            let found = match (v.source, comp.kind) {
                (BackupSource::AwsBackup, _) => recovery_points(c, m).await,
                (BackupSource::Snapshot, ResourceKind::RdsInstance) => db_snapshots(c, m).await,
                (BackupSource::Snapshot, ResourceKind::AuroraCluster) => {
                    cluster_snapshots(c, m).await
                }
                (BackupSource::Snapshot, ResourceKind::Elasticache) => cache_snapshots(c, m).await,
            };
            match found {
                Ok(mut b) => list.append(&mut b),
                Err(e) => warnings.push(format!("{}: {e}", comp.name)),
            }
        }
    }
    (out, warnings)
}

async fn list_instances(
    c: &Clients,
) -> Result<Vec<(aws_sdk_rds::types::DbInstance, BTreeMap<String, String>)>, String> {
    let items: Result<Vec<_>, _> = c
        .rds
        .describe_db_instances()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect();
    Ok(items
        .map_err(|e| err("DescribeDBInstances", "*", &e))?
        .into_iter()
        .map(|i| {
            let tags = rds_tags(i.tag_list());
            (i, tags)
        })
        .collect())
}

async fn list_clusters(c: &Clients) -> Result<Vec<aws_sdk_rds::types::DbCluster>, String> {
    let items: Result<Vec<_>, _> = c
        .rds
        .describe_db_clusters()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect();
    items.map_err(|e| err("DescribeDBClusters", "*", &e))
}

fn origin(id: &str, manual: bool) -> Origin {
    if manual && id.starts_with("lifeboat-") {
        Origin::Lifeboat
    } else {
        Origin::Snapshot
    }
}

async fn db_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let out = c
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(&m.id)
        .send()
        .await
        .map_err(|e| err("DescribeDBSnapshots", &m.id, &e))?;
    Ok(out
        .db_snapshots()
        .iter()
        .filter(|s| s.status() == Some("available"))
        .filter_map(|s| {
            let id = s.db_snapshot_identifier()?.to_string();
            let tags = rds_tags(s.tag_list());
            Some(Backup {
                origin: origin(&id, s.snapshot_type() != Some("automated")),
                arn: s.db_snapshot_arn().unwrap_or_default().to_string(),
                created_at: created(time(s.snapshot_create_time()), &tags)?,
                source_id: m.id.clone(),
                engine: s.engine().unwrap_or(&m.engine).to_string(),
                id,
            })
        })
        .collect())
}

async fn cluster_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let out = c
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(&m.id)
        .send()
        .await
        .map_err(|e| err("DescribeDBClusterSnapshots", &m.id, &e))?;
    Ok(out
        .db_cluster_snapshots()
        .iter()
        .filter(|s| s.status() == Some("available"))
        .filter_map(|s| {
            let id = s.db_cluster_snapshot_identifier()?.to_string();
            let tags = rds_tags(s.tag_list());
            Some(Backup {
                origin: origin(&id, s.snapshot_type() != Some("automated")),
                arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
                created_at: created(time(s.snapshot_create_time()), &tags)?,
                source_id: m.id.clone(),
                engine: s.engine().unwrap_or(&m.engine).to_string(),
                id,
            })
        })
        .collect())
}

async fn cache_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let out = c
        .elasticache
        .describe_snapshots()
        .replication_group_id(&m.id)
        .send()
        .await
        .map_err(|e| err("DescribeSnapshots", &m.id, &e))?;
    let mut list = Vec::new();
    for s in out.snapshots() {
        if s.snapshot_status() != Some("available") {
            continue;
        }
        let Some(id) = s.snapshot_name() else {
            continue;
        };
        let api = s
            .node_snapshots()
            .iter()
            .filter_map(|n| time(n.snapshot_create_time()))
            .max();
        // Only when the API gave no time: the tag snapshot-export set.
        let tags = if api.is_none() {
            cache_tags(c, s.arn().unwrap_or_default())
                .await
                .unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let Some(created_at) = created(api, &tags) else {
            continue;
        };
        list.push(Backup {
            id: id.to_string(),
            arn: s.arn().unwrap_or_default().to_string(),
            origin: origin(id, s.snapshot_source() != Some("automated")),
            created_at,
            source_id: m.id.clone(),
            engine: s.engine().unwrap_or("redis").to_string(),
        });
    }
    Ok(list)
}

async fn recovery_points(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let out = c
        .backup
        .list_recovery_points_by_resource()
        .resource_arn(&m.arn)
        .send()
        .await
        .map_err(|e| err("ListRecoveryPointsByResource", &m.arn, &e))?;
    Ok(out
        .recovery_points()
        .iter()
        .filter(|p| p.status().map(|s| s.as_str()) == Some("COMPLETED"))
        .filter_map(|p| {
            let arn = p.recovery_point_arn()?.to_string();
            Some(Backup {
                id: arn.clone(),
                arn,
                origin: Origin::RecoveryPoint,
                created_at: time(p.creation_date())?,
                source_id: m.id.clone(),
                engine: m.engine.clone(),
            })
        })
        .collect())
}

/// Starts the restore (or finds it already started: the names are deterministic).
pub async fn start(
    c: &Clients,
    job: &mut Job,
    target: &RestoreTarget,
    source: BackupSource,
    run_id: &str,
) -> Result<(), String> {
    let tags = temp_tags(run_id, &job.component, &job.backup.id, job.expires_at);
    let sgs = target.security_group_ids.clone();
    if source == BackupSource::AwsBackup {
        let mut meta: std::collections::HashMap<String, String> = [
            ("DBSubnetGroupName", target.db_subnet_group.clone()),
            (
                "VpcSecurityGroupIds",
                format!("[\"{}\"]", sgs.join("\",\"")),
            ),
            ("PubliclyAccessible", "false".into()),
            ("MultiAZ", "false".into()),
            ("DeletionProtection", "false".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match job.kind {
            ResourceKind::AuroraCluster => {
                meta.insert("DBClusterIdentifier".into(), job.temp_id.clone());
                meta.insert("Engine".into(), job.backup.engine.clone());
            }
            _ => {
                meta.insert("DBInstanceIdentifier".into(), job.temp_id.clone());
                meta.insert("DBInstanceClass".into(), target.instance_class.clone());
            }
        }
        let out = c
            .backup
            .start_restore_job()
            .recovery_point_arn(&job.backup.arn)
            .set_iam_role_arn(target.backup_role_arn.clone())
            .set_metadata(Some(meta))
            .resource_type(match job.kind {
                ResourceKind::AuroraCluster => "Aurora",
                _ => "RDS",
            })
            // The same token for a resumed run: AWS Backup returns the same job.
            .idempotency_token(format!("{run_id}/{}", job.component))
            .send()
            .await
            .map_err(|e| err("StartRestoreJob", &job.backup.arn, &e))?;
        job.restore_job_id = out.restore_job_id().map(str::to_string);
        return Ok(());
    }
    match job.kind {
        ResourceKind::RdsInstance => {
            let r = c
                .rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&job.temp_id)
                .db_snapshot_identifier(&job.backup.id)
                .db_instance_class(&target.instance_class)
                .db_subnet_group_name(&target.db_subnet_group)
                .set_vpc_security_group_ids(Some(sgs))
                .publicly_accessible(false)
                .multi_az(false)
                .deletion_protection(false)
                .auto_minor_version_upgrade(false)
                .copy_tags_to_snapshot(false)
                .set_tags(Some(rds_tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if code(&e) == "DBInstanceAlreadyExists" => Ok(()),
                Err(e) => Err(err("RestoreDBInstanceFromDBSnapshot", &job.temp_id, &e)),
            }
        }
        ResourceKind::AuroraCluster => {
            let r = c
                .rds
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(&job.temp_id)
                .snapshot_identifier(&job.backup.id)
                .engine(&job.backup.engine)
                .db_subnet_group_name(&target.db_subnet_group)
                .set_vpc_security_group_ids(Some(sgs))
                .deletion_protection(false)
                .set_tags(Some(rds_tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => {}
                Err(e) if code(&e) == "DBClusterAlreadyExistsFault" => {}
                Err(e) => return Err(err("RestoreDBClusterFromSnapshot", &job.temp_id, &e)),
            }
            add_aurora_instance(c, job, target, &tags).await
        }
        ResourceKind::Elasticache => {
            let r = c
                .elasticache
                .create_replication_group()
                .replication_group_id(&job.temp_id)
                .replication_group_description(format!(
                    "Lifeboat restore check of {} ({})",
                    job.backup.id, job.component
                ))
                .snapshot_name(&job.backup.id)
                .engine("redis")
                .cache_node_type(&target.cache_node_type)
                .num_cache_clusters(1)
                .automatic_failover_enabled(false)
                .set_cache_subnet_group_name(target.cache_subnet_group.clone())
                .set_security_group_ids(Some(sgs))
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
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if code(&e) == "ReplicationGroupAlreadyExists" => Ok(()),
                Err(e) => Err(err("CreateReplicationGroup", &job.temp_id, &e)),
            }
        }
    }
}

async fn add_aurora_instance(
    c: &Clients,
    job: &Job,
    target: &RestoreTarget,
    tags: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(instance) = &job.temp_instance_id else {
        return Ok(());
    };
    let r = c
        .rds
        .create_db_instance()
        .db_instance_identifier(instance)
        .db_cluster_identifier(&job.temp_id)
        .engine(&job.backup.engine)
        .db_instance_class(&target.aurora_instance_class)
        .publicly_accessible(false)
        .auto_minor_version_upgrade(false)
        .set_tags(Some(rds_tag_list(tags)))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == "DBInstanceAlreadyExists" => Ok(()),
        Err(e) => Err(err("CreateDBInstance", instance, &e)),
    }
}

/// Where a restore stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Waiting(String),
    Ready {
        host: String,
        port: u16,
    },
    Failed(String),
    /// A resource of this name exists but is not this run's: left alone.
    Foreign(String),
}

/// Why a resource is not this run's (`None`: it carries this run's tags). A resource that is not
/// ours is never waited on, checked or deleted.
fn not_ours(tags: &BTreeMap<String, String>, run_id: &str, id: &str) -> Option<String> {
    let ours = tags.get(TAG_PURPOSE).map(String::as_str) == Some(crate::state::PURPOSE)
        && tags.get(TAG_RUN).map(String::as_str) == Some(run_id);
    (!ours).then(|| {
        format!("{id} exists but is not tagged as this run's ({TAG_RUN}={run_id}): left alone")
    })
}

/// Ready when AWS reports an address and a port.
fn ready(host: Option<&str>, port: Option<i32>, id: &str) -> Poll {
    match (host, port) {
        (Some(h), Some(p)) => Poll::Ready {
            host: h.to_string(),
            port: p as u16,
        },
        _ => Poll::Waiting(format!("{id} has no endpoint yet")),
    }
}

pub async fn poll(
    c: &Clients,
    job: &mut Job,
    target: &RestoreTarget,
    run_id: &str,
) -> Result<Poll, String> {
    if let Some(rj) = job.restore_job_id.clone() {
        if job.endpoint.is_none() {
            let out = c
                .backup
                .describe_restore_job()
                .restore_job_id(&rj)
                .send()
                .await
                .map_err(|e| err("DescribeRestoreJob", &rj, &e))?;
            let status = out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            match status.as_str() {
                "COMPLETED" => {
                    // AWS Backup cannot tag what it restores: tag it now, before anything else,
                    // so that the janitor and teardown recognise it.
                    let arn = out.created_resource_arn().unwrap_or_default().to_string();
                    let tags = temp_tags(run_id, &job.component, &job.backup.id, job.expires_at);
                    c.rds
                        .add_tags_to_resource()
                        .resource_name(&arn)
                        .set_tags(Some(rds_tag_list(&tags)))
                        .send()
                        .await
                        .map_err(|e| err("AddTagsToResource", &arn, &e))?;
                    if job.kind == ResourceKind::AuroraCluster {
                        add_aurora_instance(c, job, target, &tags).await?;
                    }
                }
                "ABORTED" | "FAILED" => {
                    return Ok(Poll::Failed(format!(
                        "AWS Backup restore job {rj} {status}: {}",
                        out.status_message().unwrap_or("no message")
                    )))
                }
                other => return Ok(Poll::Waiting(format!("restore job {rj} {other}"))),
            }
        }
    }
    let id = job.temp_id.as_str();
    let not_visible = || Ok(Poll::Waiting(format!("{id} not visible yet")));
    match job.kind {
        ResourceKind::RdsInstance => {
            let Some((i, tags)) = describe_instance(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            let status = i.db_instance_status().unwrap_or_default();
            if status != "available" {
                return Ok(Poll::Waiting(format!("{id} {status}")));
            }
            let ep = i.endpoint();
            Ok(ready(
                ep.and_then(|e| e.address()),
                ep.and_then(|e| e.port()),
                id,
            ))
        }
        ResourceKind::AuroraCluster => {
            let Some(cl) = describe_cluster(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&rds_tags(cl.tag_list()), run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            let instance = job.temp_instance_id.clone().unwrap_or_default();
            let member = describe_instance(c, &instance).await?;
            let cstatus = cl.status().unwrap_or_default();
            let istatus = member
                .as_ref()
                .and_then(|(i, _)| i.db_instance_status())
                .unwrap_or("not created");
            if cstatus != "available" || istatus != "available" {
                return Ok(Poll::Waiting(format!(
                    "cluster {id} {cstatus}, instance {instance} {istatus}"
                )));
            }
            Ok(ready(cl.endpoint(), cl.port(), id))
        }
        ResourceKind::Elasticache => {
            let Some(g) = describe_group(c, id).await? else {
                return not_visible();
            };
            let status = g.status().unwrap_or_default();
            if status != "available" {
                return Ok(Poll::Waiting(format!("{id} {status}")));
            }
            let tags = cache_tags(c, g.arn().unwrap_or_default()).await?;
            if let Some(why) = not_ours(&tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            let ep = g
                .node_groups()
                .first()
                .and_then(|n| n.primary_endpoint())
                .or(g.configuration_endpoint());
            Ok(ready(
                ep.and_then(|e| e.address()),
                ep.and_then(|e| e.port()),
                id,
            ))
        }
    }
}

async fn cache_tags(c: &Clients, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let t = c
        .elasticache
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| err("ListTagsForResource", arn, &e))?;
    Ok(t.tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

async fn describe_instance(
    c: &Clients,
    id: &str,
) -> Result<Option<(aws_sdk_rds::types::DbInstance, BTreeMap<String, String>)>, String> {
    match c
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_instances().first().map(|i| {
            let tags = rds_tags(i.tag_list());
            (i.clone(), tags)
        })),
        Err(e) if code(&e) == "DBInstanceNotFound" || code(&e) == "DBInstanceNotFoundFault" => {
            Ok(None)
        }
        Err(e) => Err(err("DescribeDBInstances", id, &e)),
    }
}

async fn describe_cluster(
    c: &Clients,
    id: &str,
) -> Result<Option<aws_sdk_rds::types::DbCluster>, String> {
    match c
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_clusters().first().cloned()),
        Err(e) if code(&e) == "DBClusterNotFoundFault" => Ok(None),
        Err(e) => Err(err("DescribeDBClusters", id, &e)),
    }
}

async fn describe_group(
    c: &Clients,
    id: &str,
) -> Result<Option<aws_sdk_elasticache::types::ReplicationGroup>, String> {
    match c
        .elasticache
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.replication_groups().first().cloned()),
        Err(e) if code(&e) == "ReplicationGroupNotFoundFault" => Ok(None),
        Err(e) => Err(err("DescribeReplicationGroups", id, &e)),
    }
}

/// Where a teardown stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Teardown {
    /// Gone, or being deleted.
    Gone,
    /// Another pass is needed (an Aurora cluster waits for its instance to go).
    Pending,
    /// The resource is not this run's: not deleted.
    Foreign(String),
}

/// Removes a job's temporary resource. Only resources tagged with this run are deleted.
pub async fn teardown(c: &Clients, job: &Job, run_id: &str) -> Result<Teardown, String> {
    let id = job.temp_id.as_str();
    match job.kind {
        ResourceKind::RdsInstance => {
            let Some((i, tags)) = describe_instance(c, id).await? else {
                return Ok(Teardown::Gone);
            };
            if let Some(why) = not_ours(&tags, run_id, id) {
                return Ok(Teardown::Foreign(why));
            }
            if i.db_instance_status() == Some("deleting") {
                return Ok(Teardown::Gone);
            }
            delete_instance(c, id).await.map(|_| Teardown::Gone)
        }
        ResourceKind::AuroraCluster => {
            if let Some(instance) = &job.temp_instance_id {
                if let Some((i, tags)) = describe_instance(c, instance).await? {
                    if let Some(why) = not_ours(&tags, run_id, instance) {
                        return Ok(Teardown::Foreign(why));
                    }
                    if i.db_instance_status() != Some("deleting") {
                        delete_instance(c, instance).await?;
                    }
                    // The cluster can go once its instance is gone.
                    if describe_instance(c, instance).await?.is_some() {
                        return Ok(Teardown::Pending);
                    }
                }
            }
            match describe_cluster(c, id).await? {
                None => Ok(Teardown::Gone),
                Some(cl) => {
                    if let Some(why) = not_ours(&rds_tags(cl.tag_list()), run_id, id) {
                        return Ok(Teardown::Foreign(why));
                    }
                    delete_cluster(c, id).await
                }
            }
        }
        ResourceKind::Elasticache => match describe_group(c, id).await? {
            None => Ok(Teardown::Gone),
            Some(g) if g.status() == Some("deleting") => Ok(Teardown::Gone),
            Some(g) => {
                let tags = cache_tags(c, g.arn().unwrap_or_default()).await?;
                if let Some(why) = not_ours(&tags, run_id, id) {
                    return Ok(Teardown::Foreign(why));
                }
                delete_group(c, id).await
            }
        },
    }
}

async fn delete_instance(c: &Clients, id: &str) -> Result<(), String> {
    match c
        .rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == "DBInstanceNotFound" || code(&e) == "DBInstanceNotFoundFault" => {
            Ok(())
        }
        Err(e) => Err(err("DeleteDBInstance", id, &e)),
    }
}

/// Pending while the cluster still has members being deleted.
async fn delete_cluster(c: &Clients, id: &str) -> Result<Teardown, String> {
    match c
        .rds
        .delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(true)
        .send()
        .await
    {
        Ok(_) => Ok(Teardown::Gone),
        Err(e) if code(&e) == "DBClusterNotFoundFault" => Ok(Teardown::Gone),
        Err(e) if code(&e) == "InvalidDBClusterStateFault" => Ok(Teardown::Pending),
        Err(e) => Err(err("DeleteDBCluster", id, &e)),
    }
}

async fn delete_group(c: &Clients, id: &str) -> Result<Teardown, String> {
    match c
        .elasticache
        .delete_replication_group()
        .replication_group_id(id)
        .retain_primary_cluster(false)
        .send()
        .await
    {
        Ok(_) => Ok(Teardown::Gone),
        Err(e) if code(&e) == "ReplicationGroupNotFoundFault" => Ok(Teardown::Gone),
        Err(e) if code(&e) == "InvalidReplicationGroupState" => Ok(Teardown::Pending),
        Err(e) => Err(err("DeleteReplicationGroup", id, &e)),
    }
}

/// Every resource named like a temporary restore resource, with its tags (the janitor decides).
pub async fn scan_temp(c: &Clients) -> Result<Vec<TempResource>, String> {
    let mut out = Vec::new();
    let instances = list_instances(c).await?;
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, tags) in &instances {
        let id = i.db_instance_identifier().unwrap_or_default();
        if !id.starts_with(TEMP_PREFIX) {
            continue;
        }
        if let Some(cl) = i.db_cluster_identifier() {
            members
                .entry(cl.to_string())
                .or_default()
                .push(id.to_string());
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbInstance,
            id: id.to_string(),
            tags: tags.clone(),
            members: Vec::new(),
            status: i.db_instance_status().unwrap_or_default().to_string(),
        });
    }
    for cl in list_clusters(c).await? {
        let id = cl.db_cluster_identifier().unwrap_or_default();
        if !id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbCluster,
            id: id.to_string(),
            tags: rds_tags(cl.tag_list()),
            members: members.remove(id).unwrap_or_default(),
            status: cl.status().unwrap_or_default().to_string(),
        });
    }
    let groups = c
        .elasticache
        .describe_replication_groups()
        .send()
        .await
        .map_err(|e| err("DescribeReplicationGroups", "*", &e))?;
    for g in groups.replication_groups() {
        let id = g.replication_group_id().unwrap_or_default();
        if !id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::ReplicationGroup,
            id: id.to_string(),
            tags: cache_tags(c, g.arn().unwrap_or_default()).await?,
            members: Vec::new(),
            status: g.status().unwrap_or_default().to_string(),
        });
    }
    Ok(out)
}

/// Deletes what the janitor picked (members first; a cluster whose members are still going is
/// left for the next run).
pub async fn remove(c: &Clients, r: &TempResource) -> Result<Teardown, String> {
    match r.kind {
        TempKind::DbInstance => delete_instance(c, &r.id).await.map(|_| Teardown::Gone),
        TempKind::DbCluster => {
            for m in &r.members {
                delete_instance(c, m).await?;
            }
            delete_cluster(c, &r.id).await
        }
        TempKind::ReplicationGroup => delete_group(c, &r.id).await,
    }
}
