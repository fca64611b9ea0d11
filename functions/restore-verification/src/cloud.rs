//! The AWS side of restores: which backups exist, starting a restore into a temporary resource,
//! watching it become available, tearing it down, and finding temporary resources for the
//! janitor. Every call is idempotent: a resumed or redelivered run repeats calls safely.
//! Reads go through the shared readers (every page, plain records).

use std::collections::BTreeMap;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use lifeboat_shared::aws::errors::{already_exists, code, invalid_state, not_found, AwsError};
use lifeboat_shared::aws::rds::SnapshotFilter;
use lifeboat_shared::aws::{backup as aws_backup, elasticache, rds};
use lifeboat_shared::backup::{period_of, Snapshot, TAG_PURPOSE, TAG_RUN, TEMP_PREFIX};
use lifeboat_shared::policy::{BackupSource, Policy, ResourceKind, RestoreTarget};

use crate::state::{temp_tags, Backup, Job, Origin, TempKind, TempResource};

pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub backup: aws_sdk_backup::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// `<operation> <id>: <code>: <message>`.
fn err<E>(op: &'static str, id: &str, e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    AwsError::new(op, e).about(id)
}

/// The region the clients work in (the snapshots' region).
fn region(c: &Clients) -> String {
    c.rds
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default()
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
        match rds::instances(&c.rds).await {
            Ok(list) => {
                for i in list {
                    if i.id.starts_with(TEMP_PREFIX) || i.cluster_id.is_some() {
                        continue;
                    }
                    if let Some(m) = policy.membership(ResourceKind::RdsInstance, &i.id, &i.tags) {
                        members.entry(m.component).or_default().push(Member {
                            id: i.id,
                            arn: i.arn,
                            engine: i.engine,
                        });
                    }
                }
            }
            Err(e) => warnings.push(e.about("*")),
        }
    }
    if wanted(ResourceKind::AuroraCluster) {
        match rds::clusters(&c.rds).await {
            Ok(list) => {
                for cl in list {
                    if cl.id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    if let Some(m) =
                        policy.membership(ResourceKind::AuroraCluster, &cl.id, &cl.tags)
                    {
                        members.entry(m.component).or_default().push(Member {
                            id: cl.id,
                            arn: cl.arn,
                            engine: cl.engine,
                        });
                    }
                }
            }
            Err(e) => warnings.push(e.about("*")),
        }
    }
    if wanted(ResourceKind::Elasticache) {
        // Tags only matter for components that select by tag.
        let needs_tags = policy
            .components
            .iter()
            .any(|comp| comp.kind == ResourceKind::Elasticache && !comp.tags.is_empty());
        match elasticache::replication_groups(&c.elasticache).await {
            Ok(groups) => {
                for g in groups {
                    if g.id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    let tags = if needs_tags && !g.arn.is_empty() {
                        elasticache::tags(&c.elasticache, &g.arn)
                            .await
                            .unwrap_or_else(|e| {
                                warnings.push(e.about(&g.arn));
                                BTreeMap::new()
                            })
                    } else {
                        BTreeMap::new()
                    };
                    if let Some(m) = policy.membership(ResourceKind::Elasticache, &g.id, &tags) {
                        members.entry(m.component).or_default().push(Member {
                            id: g.id,
                            arn: g.arn,
                            engine: "redis".into(),
                        });
                    }
                }
            }
            Err(e) => warnings.push(e.about("*")),
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

/// A snapshot that can be restored: available, with a creation time (from the API, else the
/// period tag snapshot-export set: some APIs and emulators omit the time).
fn restorable(s: Snapshot, m: &Member) -> Option<Backup> {
    if !s.available() {
        return None;
    }
    Some(Backup {
        origin: if s.lifeboat_named() {
            Origin::Lifeboat
        } else {
            Origin::Snapshot
        },
        created_at: s.created_at.or_else(|| period_of(&s.tags))?,
        source_id: m.id.clone(),
        engine: s.engine.unwrap_or_else(|| m.engine.clone()),
        arn: s.arn,
        id: s.id,
    })
}

fn of(m: &Member) -> SnapshotFilter<'_> {
    SnapshotFilter {
        of: Some(&m.id),
        manual_only: false,
    }
}

async fn db_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = rds::db_snapshots(&c.rds, &region(c), of(m))
        .await
        .map_err(|e| e.about(&m.id))?;
    Ok(list.into_iter().filter_map(|s| restorable(s, m)).collect())
}

async fn cluster_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = rds::cluster_snapshots(&c.rds, &region(c), of(m))
        .await
        .map_err(|e| e.about(&m.id))?;
    Ok(list.into_iter().filter_map(|s| restorable(s, m)).collect())
}

async fn cache_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = elasticache::snapshots(&c.elasticache, &region(c), Some(&m.id))
        .await
        .map_err(|e| e.about(&m.id))?;
    let mut out = Vec::new();
    for mut s in list {
        if !s.available() {
            continue;
        }
        // Only when the API gave no time: the tag snapshot-export set.
        if s.created_at.is_none() {
            s.tags = elasticache::tags(&c.elasticache, &s.arn)
                .await
                .unwrap_or_default();
        }
        out.extend(restorable(s, m));
    }
    Ok(out)
}

async fn recovery_points(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let points = aws_backup::recovery_points(&c.backup, &m.arn)
        .await
        .map_err(|e| e.about(&m.arn))?;
    Ok(points
        .into_iter()
        .filter(|p| p.status == "COMPLETED")
        .filter_map(|p| {
            Some(Backup {
                id: p.arn.clone(),
                created_at: p.created_at?,
                arn: p.arn,
                origin: Origin::RecoveryPoint,
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
                .set_tags(Some(rds::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if already_exists(&code(&e)) => Ok(()),
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
                .set_tags(Some(rds::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => {}
                Err(e) if already_exists(&code(&e)) => {}
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
                .set_tags(Some(elasticache::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if already_exists(&code(&e)) => Ok(()),
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
        .set_tags(Some(rds::tag_list(tags)))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if already_exists(&code(&e)) => Ok(()),
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
fn ready(endpoint: Option<(String, u16)>, id: &str) -> Poll {
    match endpoint {
        Some((host, port)) => Poll::Ready { host, port },
        None => Poll::Waiting(format!("{id} has no endpoint yet")),
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
                        .set_tags(Some(rds::tag_list(&tags)))
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
            let Some(i) = find_instance(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&i.tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            if i.status != "available" {
                return Ok(Poll::Waiting(format!("{id} {}", i.status)));
            }
            Ok(ready(i.endpoint, id))
        }
        ResourceKind::AuroraCluster => {
            let Some(cl) = find_cluster(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&cl.tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            let instance = job.temp_instance_id.clone().unwrap_or_default();
            let member = find_instance(c, &instance).await?;
            let cstatus = cl.status.as_str();
            let istatus = member
                .as_ref()
                .map(|i| i.status.as_str())
                .unwrap_or("not created");
            if cstatus != "available" || istatus != "available" {
                return Ok(Poll::Waiting(format!(
                    "cluster {id} {cstatus}, instance {instance} {istatus}"
                )));
            }
            Ok(ready(cl.endpoint, id))
        }
        ResourceKind::Elasticache => {
            let Some(g) = find_group(c, id).await? else {
                return not_visible();
            };
            if g.status != "available" {
                return Ok(Poll::Waiting(format!("{id} {}", g.status)));
            }
            let tags = group_tags(c, &g.arn).await?;
            if let Some(why) = not_ours(&tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            Ok(ready(g.endpoint, id))
        }
    }
}

async fn group_tags(c: &Clients, arn: &str) -> Result<BTreeMap<String, String>, String> {
    elasticache::tags(&c.elasticache, arn)
        .await
        .map_err(|e| e.about(arn))
}

async fn find_instance(c: &Clients, id: &str) -> Result<Option<rds::DbInstance>, String> {
    rds::find_instance(&c.rds, id)
        .await
        .map_err(|e| e.about(id))
}

async fn find_cluster(c: &Clients, id: &str) -> Result<Option<rds::DbCluster>, String> {
    rds::find_cluster(&c.rds, id).await.map_err(|e| e.about(id))
}

async fn find_group(
    c: &Clients,
    id: &str,
) -> Result<Option<elasticache::ReplicationGroup>, String> {
    elasticache::find_group(&c.elasticache, id)
        .await
        .map_err(|e| e.about(id))
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
            let Some(i) = find_instance(c, id).await? else {
                return Ok(Teardown::Gone);
            };
            if let Some(why) = not_ours(&i.tags, run_id, id) {
                return Ok(Teardown::Foreign(why));
            }
            if i.status == "deleting" {
                return Ok(Teardown::Gone);
            }
            delete_instance(c, id).await.map(|_| Teardown::Gone)
        }
        ResourceKind::AuroraCluster => {
            if let Some(instance) = &job.temp_instance_id {
                if let Some(i) = find_instance(c, instance).await? {
                    if let Some(why) = not_ours(&i.tags, run_id, instance) {
                        return Ok(Teardown::Foreign(why));
                    }
                    if i.status != "deleting" {
                        delete_instance(c, instance).await?;
                    }
                    // The cluster can go once its instance is gone.
                    if find_instance(c, instance).await?.is_some() {
                        return Ok(Teardown::Pending);
                    }
                }
            }
            match find_cluster(c, id).await? {
                None => Ok(Teardown::Gone),
                Some(cl) => {
                    if let Some(why) = not_ours(&cl.tags, run_id, id) {
                        return Ok(Teardown::Foreign(why));
                    }
                    delete_cluster(c, id).await
                }
            }
        }
        ResourceKind::Elasticache => match find_group(c, id).await? {
            None => Ok(Teardown::Gone),
            Some(g) if g.status == "deleting" => Ok(Teardown::Gone),
            Some(g) => {
                let tags = group_tags(c, &g.arn).await?;
                if let Some(why) = not_ours(&tags, run_id, id) {
                    return Ok(Teardown::Foreign(why));
                }
                delete_group(c, id).await
            }
        },
    }
}

/// Deleted, being deleted, or already gone (not found counts as done).
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
        Err(e) if not_found(&code(&e)) => Ok(()),
        Err(e) => Err(err("DeleteDBInstance", id, &e)),
    }
}

/// Pending while the cluster still has members being deleted (invalid state).
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
        Err(e) if not_found(&code(&e)) => Ok(Teardown::Gone),
        Err(e) if invalid_state(&code(&e)) => Ok(Teardown::Pending),
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
        Err(e) if not_found(&code(&e)) => Ok(Teardown::Gone),
        Err(e) if invalid_state(&code(&e)) => Ok(Teardown::Pending),
        Err(e) => Err(err("DeleteReplicationGroup", id, &e)),
    }
}

/// Every resource named like a temporary restore resource, with its tags (the janitor decides).
pub async fn scan_temp(c: &Clients) -> Result<Vec<TempResource>, String> {
    let mut out = Vec::new();
    let instances = rds::instances(&c.rds).await.map_err(|e| e.about("*"))?;
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in instances {
        if !i.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        if let Some(cl) = i.cluster_id {
            members.entry(cl).or_default().push(i.id);
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbInstance,
            id: i.id,
            tags: i.tags,
            members: Vec::new(),
            status: i.status,
        });
    }
    for cl in rds::clusters(&c.rds).await.map_err(|e| e.about("*"))? {
        if !cl.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbCluster,
            members: members.remove(&cl.id).unwrap_or_default(),
            id: cl.id,
            tags: cl.tags,
            status: cl.status,
        });
    }
    let groups = elasticache::replication_groups(&c.elasticache)
        .await
        .map_err(|e| e.about("*"))?;
    for g in groups {
        if !g.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::ReplicationGroup,
            tags: group_tags(c, &g.arn).await?,
            id: g.id,
            members: Vec::new(),
            status: g.status,
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

/// The AWS side with `aws-smithy-mocks`: replies shaped like AWS's, every page, and every error
/// code a call site treats specially.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_backup::types::{RecoveryPointByResource, RecoveryPointStatus};
    use aws_sdk_elasticache::operation as ec_op;
    use aws_sdk_rds::operation as rds_op;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use chrono::{DateTime, Utc};
    use lifeboat_shared::policy::Selection;

    const POLICY: &str = "version: 1
buckets: {backup: b-1}
components:
  - name: orders-db
    kind: rds-instance
    ids: [orders]
    database: {name: shop, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-AbCdEf'}
    verify: {every: 1d}
  - name: ledger-db
    kind: rds-instance
    ids: [ledger]
    database: {name: ledger, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ledger-AbCdEf'}
    verify: {every: 1d, source: aws-backup}
  - name: sessions-redis
    kind: elasticache
    ids: [sessions]
    verify: {every: 1d}
verification:
  restore:
    db_subnet_group: lifeboat-restore
    cache_subnet_group: lifeboat-restore
    security_group_ids: [sg-0a1b2c3d]
    backup_role_arn: 'arn:aws:iam::123456789012:role/lifeboat-backup-restore'
";

    fn policy() -> Policy {
        Policy::parse(POLICY).unwrap()
    }

    /// 2026-11-21T00:00:00Z plus `minutes`.
    fn at(minutes: usize) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(1_795_219_200 + 60 * minutes as i64)
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_219_200 + 60 * 10_000, 0).unwrap()
    }

    /// Item numbers of the page `token` asks for (`size` to a page, `total` in all) and the
    /// token of the next page, as AWS pages its lists.
    fn page(total: usize, size: usize, token: Option<&str>) -> (Vec<usize>, Option<String>) {
        let first: usize = token.map(|t| t.parse().unwrap()).unwrap_or(0);
        let last = (first + size).min(total);
        (
            (first..last).collect(),
            (last < total).then(|| last.to_string()),
        )
    }

    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} (mocked reply)"))
            .build()
    }

    fn clients(rds: &[&Rule], ec: &[&Rule], backup: &[&Rule]) -> Clients {
        Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, ec),
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, backup),
            secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[] as &[&Rule]),
        }
    }

    fn latest<'a>(cands: &'a BTreeMap<String, Vec<Backup>>, comp: &str) -> &'a Backup {
        let list = &cands[comp];
        crate::state::select(
            list,
            Selection::Latest,
            chrono::Duration::days(1),
            "r",
            comp,
            now(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_latest_backup_is_chosen_from_every_page() {
        // Given an instance with 250 snapshots (RDS pages at 100), an instance with 7 AWS
        // Backup recovery points (3 to a page) and a Redis group with 120 snapshots
        // (ElastiCache pages at 50), oldest first: each newest is on its last page
        let instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
            let db = |id: &str| {
                aws_sdk_rds::types::DbInstance::builder()
                    .db_instance_identifier(id)
                    .db_instance_arn(format!("arn:aws:rds:us-east-1:123456789012:db:{id}"))
                    .engine("postgres")
                    .db_instance_status("available")
                    .build()
            };
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(db("orders"))
                .db_instances(db("ledger"))
                .build()
        });
        let snapshots = mock!(aws_sdk_rds::Client::describe_db_snapshots)
            .match_requests(|r| r.db_instance_identifier() == Some("orders"))
            .then_compute_output(|r| {
                let (items, next) = page(250, 100, r.marker());
                rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
                    .set_db_snapshots(Some(
                        items
                            .into_iter()
                            .map(|i| {
                                aws_sdk_rds::types::DbSnapshot::builder()
                                    .db_snapshot_identifier(format!("orders-hourly-{i:03}"))
                                    .db_snapshot_arn(format!(
                                        "arn:aws:rds:us-east-1:123456789012:snapshot:orders-hourly-{i:03}"
                                    ))
                                    .db_instance_identifier("orders")
                                    .snapshot_create_time(at(60 * i))
                                    .status("available")
                                    .snapshot_type("manual")
                                    .engine("postgres")
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_marker(next)
                    .build()
            });
        let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
            .match_requests(|r| {
                r.resource_arn() == Some("arn:aws:rds:us-east-1:123456789012:db:ledger")
            })
            .then_compute_output(|r| {
                let (items, next) = page(7, 3, r.next_token());
                aws_sdk_backup::operation::list_recovery_points_by_resource::ListRecoveryPointsByResourceOutput::builder()
                    .set_recovery_points(Some(
                        items
                            .into_iter()
                            .map(|i| {
                                RecoveryPointByResource::builder()
                                    .recovery_point_arn(format!(
                                        "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-{i}"
                                    ))
                                    .status(RecoveryPointStatus::Completed)
                                    .creation_date(at(60 * i))
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_next_token(next)
                    .build()
            });
        let groups =
            mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
                ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    aws_sdk_elasticache::types::ReplicationGroup::builder()
                        .replication_group_id("sessions")
                        .arn("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions")
                        .status("available")
                        .build(),
                )
                .build()
            });
        let cache_snaps = mock!(aws_sdk_elasticache::Client::describe_snapshots)
            .match_requests(|r| r.replication_group_id() == Some("sessions"))
            .then_compute_output(|r| {
                let (items, next) = page(120, 50, r.marker());
                ec_op::describe_snapshots::DescribeSnapshotsOutput::builder()
                    .set_snapshots(Some(
                        items
                            .into_iter()
                            .map(|i| {
                                aws_sdk_elasticache::types::Snapshot::builder()
                                    .snapshot_name(format!("sessions-{i:03}"))
                                    .replication_group_id("sessions")
                                    .snapshot_status("available")
                                    .snapshot_source("automated")
                                    .node_snapshots(
                                        aws_sdk_elasticache::types::NodeSnapshot::builder()
                                            .snapshot_create_time(at(60 * i))
                                            .build(),
                                    )
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_marker(next)
                    .build()
            });
        let c = clients(
            &[&instances, &snapshots],
            &[&groups, &cache_snaps],
            &[&points],
        );
        // When the candidates are read
        let (cands, warnings) = candidates(&c, &policy()).await;
        // Then every page was read, and the latest of each is the one on its last page
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            (
                snapshots.num_calls(),
                points.num_calls(),
                cache_snaps.num_calls()
            ),
            (3, 3, 3)
        );
        assert_eq!(cands["orders-db"].len(), 250);
        assert_eq!(latest(&cands, "orders-db").id, "orders-hourly-249");
        assert_eq!(latest(&cands, "orders-db").origin, Origin::Snapshot);
        assert_eq!(
            latest(&cands, "ledger-db").id,
            "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-6"
        );
        assert_eq!(cands["sessions-redis"].len(), 120);
        assert_eq!(latest(&cands, "sessions-redis").id, "sessions-119");
        assert_eq!(latest(&cands, "sessions-redis").engine, "redis");
    }

    fn job(kind: ResourceKind, temp_id: &str) -> Job {
        let backup = Backup {
            id: "lifeboat-orders-20261121-0000".into(),
            arn: "arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-orders-20261121-0000".into(),
            origin: Origin::Lifeboat,
            created_at: now(),
            source_id: "orders".into(),
            engine: "postgres".into(),
        };
        Job::new("orders-db", kind, backup, temp_id.into(), now())
    }

    #[tokio::test]
    async fn a_restore_already_started_counts_as_started() {
        // Given restores whose temporary resources exist already (a resumed run), and one whose
        // snapshot is gone
        let instance = mock!(aws_sdk_rds::Client::restore_db_instance_from_db_snapshot)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-00000001"))
            .then_error(|| {
                rds_op::restore_db_instance_from_db_snapshot::RestoreDBInstanceFromDBSnapshotError::DbInstanceAlreadyExistsFault(
                    aws_sdk_rds::types::error::DbInstanceAlreadyExistsFault::builder()
                        .meta(meta("DBInstanceAlreadyExists"))
                        .build(),
                )
            });
        let no_snapshot = mock!(aws_sdk_rds::Client::restore_db_instance_from_db_snapshot)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-00000009"))
            .then_error(|| {
                rds_op::restore_db_instance_from_db_snapshot::RestoreDBInstanceFromDBSnapshotError::DbSnapshotNotFoundFault(
                    aws_sdk_rds::types::error::DbSnapshotNotFoundFault::builder()
                        .meta(meta("DBSnapshotNotFound"))
                        .build(),
                )
            });
        let cluster = mock!(aws_sdk_rds::Client::restore_db_cluster_from_snapshot).then_error(|| {
            rds_op::restore_db_cluster_from_snapshot::RestoreDBClusterFromSnapshotError::DbClusterAlreadyExistsFault(
                aws_sdk_rds::types::error::DbClusterAlreadyExistsFault::builder()
                    .meta(meta("DBClusterAlreadyExistsFault"))
                    .build(),
            )
        });
        let member = mock!(aws_sdk_rds::Client::create_db_instance).then_error(|| {
            rds_op::create_db_instance::CreateDBInstanceError::DbInstanceAlreadyExistsFault(
                aws_sdk_rds::types::error::DbInstanceAlreadyExistsFault::builder()
                    .meta(meta("DBInstanceAlreadyExists"))
                    .build(),
            )
        });
        let group = mock!(aws_sdk_elasticache::Client::create_replication_group).then_error(|| {
            ec_op::create_replication_group::CreateReplicationGroupError::ReplicationGroupAlreadyExistsFault(
                aws_sdk_elasticache::types::error::ReplicationGroupAlreadyExistsFault::builder()
                    .meta(meta("ReplicationGroupAlreadyExists"))
                    .build(),
            )
        });
        let c = clients(
            &[&instance, &no_snapshot, &cluster, &member],
            &[&group],
            &[],
        );
        let p = policy();
        let target = p.verification.restore.as_ref().unwrap();
        let source = BackupSource::Snapshot;
        // When they are started
        let mut rds_job = job(ResourceKind::RdsInstance, "lifeboat-verify-00000001");
        let mut aurora_job = job(ResourceKind::AuroraCluster, "lifeboat-verify-00000002");
        let mut cache_job = job(ResourceKind::Elasticache, "lifeboat-verify-00000003");
        let mut lost_job = job(ResourceKind::RdsInstance, "lifeboat-verify-00000009");
        // Then "already exists" is started, for the cluster and its instance too; "not found"
        // fails with the call, the resource and the code
        assert_eq!(start(&c, &mut rds_job, target, source, "r").await, Ok(()));
        assert_eq!(
            start(&c, &mut aurora_job, target, source, "r").await,
            Ok(())
        );
        assert_eq!(
            member.num_calls(),
            1,
            "the cluster's instance was asked for"
        );
        assert_eq!(start(&c, &mut cache_job, target, source, "r").await, Ok(()));
        assert_eq!(
            start(&c, &mut lost_job, target, source, "r").await,
            Err("RestoreDBInstanceFromDBSnapshot lifeboat-verify-00000009: DBSnapshotNotFound: DBSnapshotNotFound (mocked reply)".into())
        );
    }

    fn temp(kind: TempKind, id: &str, members: &[&str]) -> TempResource {
        TempResource {
            kind,
            id: id.into(),
            tags: BTreeMap::new(),
            members: members.iter().map(|m| m.to_string()).collect(),
            status: "available".into(),
        }
    }

    #[tokio::test]
    async fn removing_what_is_gone_is_done_and_a_busy_resource_waits() {
        // Given temporary resources AWS answers for: an instance already gone (both spellings of
        // the code), a cluster whose member is gone but which is still busy, a cluster already
        // gone, a group still changing, a group already gone, and an instance we may not delete
        let gone_instance = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-gone0001"))
            .then_error(|| {
                rds_op::delete_db_instance::DeleteDBInstanceError::DbInstanceNotFoundFault(
                    aws_sdk_rds::types::error::DbInstanceNotFoundFault::builder()
                        .meta(meta("DBInstanceNotFound"))
                        .build(),
                )
            });
        let gone_member = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-busy0001-i1"))
            .then_error(|| {
                rds_op::delete_db_instance::DeleteDBInstanceError::generic(meta(
                    "DBInstanceNotFoundFault",
                ))
            });
        let denied = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-deny0001"))
            .then_error(|| {
                rds_op::delete_db_instance::DeleteDBInstanceError::generic(meta("AccessDenied"))
            });
        let busy_cluster = mock!(aws_sdk_rds::Client::delete_db_cluster)
            .match_requests(|r| r.db_cluster_identifier() == Some("lifeboat-verify-busy0001"))
            .then_error(|| {
                rds_op::delete_db_cluster::DeleteDBClusterError::InvalidDbClusterStateFault(
                    aws_sdk_rds::types::error::InvalidDbClusterStateFault::builder()
                        .meta(meta("InvalidDBClusterStateFault"))
                        .build(),
                )
            });
        let gone_cluster = mock!(aws_sdk_rds::Client::delete_db_cluster)
            .match_requests(|r| r.db_cluster_identifier() == Some("lifeboat-verify-gone0002"))
            .then_error(|| {
                rds_op::delete_db_cluster::DeleteDBClusterError::DbClusterNotFoundFault(
                    aws_sdk_rds::types::error::DbClusterNotFoundFault::builder()
                        .meta(meta("DBClusterNotFoundFault"))
                        .build(),
                )
            });
        let busy_group = mock!(aws_sdk_elasticache::Client::delete_replication_group)
            .match_requests(|r| r.replication_group_id() == Some("lifeboat-verify-busy0003"))
            .then_error(|| {
                ec_op::delete_replication_group::DeleteReplicationGroupError::InvalidReplicationGroupStateFault(
                    aws_sdk_elasticache::types::error::InvalidReplicationGroupStateFault::builder()
                        .meta(meta("InvalidReplicationGroupState"))
                        .build(),
                )
            });
        let gone_group = mock!(aws_sdk_elasticache::Client::delete_replication_group)
            .match_requests(|r| r.replication_group_id() == Some("lifeboat-verify-gone0003"))
            .then_error(|| {
                ec_op::delete_replication_group::DeleteReplicationGroupError::ReplicationGroupNotFoundFault(
                    aws_sdk_elasticache::types::error::ReplicationGroupNotFoundFault::builder()
                        .meta(meta("ReplicationGroupNotFoundFault"))
                        .build(),
                )
            });
        let c = clients(
            &[
                &gone_instance,
                &gone_member,
                &denied,
                &busy_cluster,
                &gone_cluster,
            ],
            &[&busy_group, &gone_group],
            &[],
        );
        // When the janitor removes them
        let removed = [
            remove(
                &c,
                &temp(TempKind::DbInstance, "lifeboat-verify-gone0001", &[]),
            )
            .await,
            remove(
                &c,
                &temp(
                    TempKind::DbCluster,
                    "lifeboat-verify-busy0001",
                    &["lifeboat-verify-busy0001-i1"],
                ),
            )
            .await,
            remove(
                &c,
                &temp(TempKind::DbCluster, "lifeboat-verify-gone0002", &[]),
            )
            .await,
            remove(
                &c,
                &temp(TempKind::ReplicationGroup, "lifeboat-verify-busy0003", &[]),
            )
            .await,
            remove(
                &c,
                &temp(TempKind::ReplicationGroup, "lifeboat-verify-gone0003", &[]),
            )
            .await,
        ];
        // Then not found is gone, invalid state waits for a later pass
        assert_eq!(
            removed,
            [
                Ok(Teardown::Gone),
                Ok(Teardown::Pending),
                Ok(Teardown::Gone),
                Ok(Teardown::Pending),
                Ok(Teardown::Gone),
            ]
        );
        assert_eq!(gone_member.num_calls(), 1, "members go first");
        // And any other error fails with the call, the resource and the code
        assert_eq!(
            remove(&c, &temp(TempKind::DbInstance, "lifeboat-verify-deny0001", &[])).await,
            Err("DeleteDBInstance lifeboat-verify-deny0001: AccessDenied: AccessDenied (mocked reply)".into())
        );
    }

    #[tokio::test]
    async fn a_temporary_resource_not_found_is_not_visible_yet_or_gone() {
        // Given describes answered "not found" for the instance, the cluster and the group
        let instance = mock!(aws_sdk_rds::Client::describe_db_instances).then_error(|| {
            rds_op::describe_db_instances::DescribeDBInstancesError::DbInstanceNotFoundFault(
                aws_sdk_rds::types::error::DbInstanceNotFoundFault::builder()
                    .meta(meta("DBInstanceNotFound"))
                    .build(),
            )
        });
        let cluster = mock!(aws_sdk_rds::Client::describe_db_clusters).then_error(|| {
            rds_op::describe_db_clusters::DescribeDBClustersError::DbClusterNotFoundFault(
                aws_sdk_rds::types::error::DbClusterNotFoundFault::builder()
                    .meta(meta("DBClusterNotFoundFault"))
                    .build(),
            )
        });
        let group = mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_error(|| {
            ec_op::describe_replication_groups::DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
                aws_sdk_elasticache::types::error::ReplicationGroupNotFoundFault::builder()
                    .meta(meta("ReplicationGroupNotFoundFault"))
                    .build(),
            )
        });
        let c = clients(&[&instance, &cluster], &[&group], &[]);
        let p = policy();
        let target = p.verification.restore.as_ref().unwrap();
        // Then a restore is not visible yet, and a teardown has nothing left to do
        for kind in [
            ResourceKind::RdsInstance,
            ResourceKind::AuroraCluster,
            ResourceKind::Elasticache,
        ] {
            let mut j = job(kind, "lifeboat-verify-00000004");
            assert_eq!(
                poll(&c, &mut j, target, "r").await,
                Ok(Poll::Waiting(
                    "lifeboat-verify-00000004 not visible yet".into()
                )),
                "{kind}"
            );
            assert_eq!(teardown(&c, &j, "r").await, Ok(Teardown::Gone), "{kind}");
        }
    }
}
