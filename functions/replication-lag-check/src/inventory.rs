//! Reads: everything the checks need, as plain observations. A read that fails is recorded where
//! its answer would have been (`Err` with the AWS error), never as an empty answer: the checks
//! turn it into "could not read" (no data), not into "nothing there".

use std::collections::BTreeMap;

use aws_sdk_s3::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use lifeboat_shared::aws::elasticache::{GlobalDatastore, ReplicationGroup};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::aws::rds::{DbCluster, DbInstance, GlobalCluster, SnapshotFilter};
use lifeboat_shared::aws::{backup, elasticache, rds};
use lifeboat_shared::backup::Snapshot;
use lifeboat_shared::policy::{Policy, ReplicationPair, ResourceKind};

/// Clients in the regions the policy names.
pub struct Clients {
    pub primary_region: String,
    pub dr_region: Option<String>,
    pub rds: aws_sdk_rds::Client,
    pub rds_dr: Option<aws_sdk_rds::Client>,
    pub elasticache: aws_sdk_elasticache::Client,
    /// ElastiCache in the DR region (global datastore secondaries there are read for their
    /// cache clusters).
    pub elasticache_dr: Option<aws_sdk_elasticache::Client>,
    pub backup: aws_sdk_backup::Client,
    /// CloudWatch by region (the primary's, the DR region's, the replica buckets').
    pub cloudwatch: BTreeMap<String, aws_sdk_cloudwatch::Client>,
    /// S3 by region (a bucket's requests go to its own region).
    pub s3: BTreeMap<String, aws_sdk_s3::Client>,
}

impl Clients {
    pub fn s3_in(&self, region: Option<&str>) -> &aws_sdk_s3::Client {
        let r = region.unwrap_or(&self.primary_region);
        self.s3
            .get(r)
            .or_else(|| self.s3.get(&self.primary_region))
            .expect("an S3 client for the primary region")
    }
}

/// One replication rule of a source bucket, as GetBucketReplication answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationRule {
    pub id: String,
    pub enabled: bool,
    /// The rule's filter prefix ("" covers the whole bucket).
    pub prefix: String,
    /// The destination bucket's name.
    pub destination: String,
    pub metrics: bool,
    pub rtc: bool,
    /// The rule's tag filter (`Filter.Tag`, or `Filter.And.Tags`): it replicates only the
    /// objects carrying every one of them. Empty: every object under the prefix.
    pub tags: Vec<(String, String)>,
}

/// Tags as the report says them: `k=v, k2=v2`.
pub fn tag_words(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was read about one replication pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairObs {
    /// `Ok(None)`: no replication configuration on the source.
    pub rules: Result<Option<Vec<ReplicationRule>>, String>,
    /// The reads of a full check; `None` in a lag check (those checks keep their state).
    pub full: Option<PairFull>,
}

/// The reads of a pair that only a full check makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PairFull {
    pub source_versioning: Result<bool, String>,
    pub replica_versioning: Result<bool, String>,
    /// The replica bucket exists (HeadBucket in its region).
    pub replica_exists: Result<bool, String>,
    /// Canary keys and their LastModified, on each side.
    pub canaries_source: Result<Vec<(String, DateTime<Utc>)>, String>,
    pub canaries_replica: Result<Vec<(String, DateTime<Utc>)>, String>,
}

/// How much a run reads (`monitoring.full_check_every`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every check.
    #[default]
    Full,
    /// The scheduled runs between full checks: each pair's replication configuration and
    /// ReplicationLatency, database replica lag, and backup ages (free reads); no canary, no
    /// versioning, no artifact listing, no rule metrics.
    Lag,
}

/// A source the policy selects, with its backups.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceObs {
    pub component: String,
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    pub latest_restorable: Option<DateTime<Utc>>,
    /// When the source was created (the restore window cannot reach further back).
    pub created_at: Option<DateTime<Utc>>,
    /// Its snapshots in the primary region (any type), or why they could not be read.
    pub snapshots: Result<Vec<Snapshot>, String>,
    /// Its snapshots in the DR region (Lifeboat's DR copies), when a DR region is configured.
    pub dr_snapshots: Option<Result<Vec<Snapshot>, String>>,
    /// Newest usable (COMPLETED or AVAILABLE) AWS Backup recovery point, or why it could not be
    /// read.
    pub recovery_point: Result<Option<DateTime<Utc>>, String>,
}

/// A database replica (RDS read replica, Aurora reader, Aurora global database secondary or
/// ElastiCache global datastore secondary).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaObs {
    /// The component of its source.
    pub component: String,
    pub id: String,
    pub region: String,
    pub kind: ReplicaKind,
    /// `None` when it was not found (a replica the source lists but that is gone).
    pub status: Option<String>,
    /// Read replication status info (status, normal, message); for a global secondary, its
    /// synchronization (Aurora) or membership (ElastiCache) status.
    pub replication: Option<(String, bool, Option<String>)>,
    /// For a global secondary: the global database or datastore it belongs to.
    pub global: Option<GlobalLink>,
    /// Why it could not be looked up (its region's listing failed, or a region the policy does
    /// not name): no data, never "does not exist".
    pub unread: Option<String>,
}

/// How a global secondary is tied to its primary.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalLink {
    /// The Aurora global database or the ElastiCache global datastore.
    pub id: String,
    /// The primary (writer) it replicates from and that primary's region, when the global
    /// database or datastore names one.
    pub primary: Option<(String, String)>,
    /// The policy selects this secondary itself (its primary is elsewhere): it is checked as
    /// that primary's replica.
    pub selected: bool,
    /// ElastiCache: the secondary's cache clusters (its lag is published per node under their
    /// `CacheClusterId`), or why they could not be read. `None` for Aurora.
    pub cache_clusters: Option<Result<Vec<String>, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaKind {
    /// An RDS read replica: `ReplicaLag` (seconds).
    ReadReplica,
    /// An Aurora reader: `AuroraReplicaLag` (milliseconds).
    AuroraReader,
    /// An Aurora global database secondary cluster: `AuroraGlobalDBReplicationLag` and
    /// `AuroraGlobalDBRPOLag` (ms).
    GlobalSecondary,
    /// An ElastiCache global datastore secondary replication group:
    /// `GlobalDatastoreReplicationLag` (seconds).
    GlobalDatastoreSecondary,
}

/// The newest object of an artifact set.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactObs {
    /// (key, last modified, size) of the newest object; `Ok(None)`: the prefix is empty.
    pub newest: Result<Option<(String, DateTime<Utc>, i64)>, String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observations {
    pub scope: Scope,
    /// When earlier runs first saw each canary in its replica (replica key → time).
    pub canaries_seen: BTreeMap<String, DateTime<Utc>>,
    /// The last time a run looked for a canary in its replica and did not find it.
    pub canaries_looked: BTreeMap<String, DateTime<Utc>>,
    /// The time since the last full check (see [`crate::metrics::since_full_check`]): what the
    /// lag checks did not read is read back that far.
    pub since_full: chrono::Duration,
    pub pairs: BTreeMap<String, PairObs>,
    pub sources: Vec<SourceObs>,
    /// Components whose sources could not be listed, with the AWS error.
    pub unread_components: BTreeMap<String, String>,
    /// Resources a component names by id that their listing does not have: (component, id).
    pub missing: Vec<(String, String)>,
    pub replicas: Vec<ReplicaObs>,
    /// Global databases and datastores of selected sources that could not be read, or that do
    /// not list the source: (component, global id, why).
    pub unread_globals: Vec<(String, String, String)>,
    pub artifacts: BTreeMap<String, ArtifactObs>,
    /// restore-verification's newest verified backup time per component; `Err` if unreadable.
    pub verified: Option<Result<BTreeMap<String, DateTime<Utc>>, String>>,
}

fn text(e: AwsError) -> String {
    e.to_string()
}

/// Reads everything but the metrics (those come after, from what was found here).
pub async fn observe(
    c: &Clients,
    policy: &Policy,
    report_s3: &aws_sdk_s3::Client,
    report_bucket: &str,
    wanted: &dyn Fn(&str) -> bool,
    scope: Scope,
) -> Observations {
    let mut obs = Observations {
        scope,
        ..Observations::default()
    };
    let pairs: Vec<&ReplicationPair> = policy
        .monitoring
        .replication
        .iter()
        .filter(|p| wanted(&p.name))
        .collect();
    let pair_obs = join_all(pairs.iter().map(|p| observe_pair(c, p, scope))).await;
    for (p, o) in pairs.iter().zip(pair_obs) {
        obs.pairs.insert(p.name.clone(), o);
    }
    observe_sources(c, policy, wanted, &mut obs).await;
    for a in policy
        .monitoring
        .artifacts
        .iter()
        .filter(|a| scope == Scope::Full && wanted(&a.name))
    {
        // Canaries are not backups: a set whose prefix covers a pair's canary prefix (on
        // either side) must not take the newest canary for its newest dump.
        let canaries: Vec<String> = policy
            .monitoring
            .replication
            .iter()
            .flat_map(|p| {
                let prefix = p.canary_prefix();
                // (S3 replication keeps keys: the same prefix in the replica)
                [
                    (p.source.bucket.as_str(), prefix.clone()),
                    (p.replica.bucket.as_str(), prefix),
                ]
            })
            .filter(|(b, _)| *b == a.bucket)
            .map(|(_, prefix)| prefix)
            .collect();
        let newest = newest_object(
            c.s3_in(a.region.as_deref()),
            &a.bucket,
            &a.prefix,
            &canaries,
        )
        .await;
        obs.artifacts.insert(a.name.clone(), ArtifactObs { newest });
    }
    if policy.components.iter().any(|c| c.verify.is_some()) {
        obs.verified = Some(verified(report_s3, report_bucket).await);
    }
    obs
}

async fn observe_pair(c: &Clients, p: &ReplicationPair, scope: Scope) -> PairObs {
    let src = c.s3_in(p.source.region.as_deref());
    if scope == Scope::Lag {
        return PairObs {
            rules: replication_rules(src, &p.source.bucket).await,
            full: None,
        };
    }
    let dst = c.s3_in(p.replica.region.as_deref());
    // S3 replication keeps keys: the replica has the canaries under the same prefix.
    let prefix = p.canary_prefix();
    let (rules, sv, rv, exists, cs, cr) = tokio::join!(
        replication_rules(src, &p.source.bucket),
        versioning(src, &p.source.bucket),
        versioning(dst, &p.replica.bucket),
        bucket_exists(dst, &p.replica.bucket),
        canaries(src, &p.source.bucket, &prefix),
        canaries(dst, &p.replica.bucket, &prefix),
    );
    PairObs {
        rules,
        full: Some(PairFull {
            source_versioning: sv,
            replica_versioning: rv,
            replica_exists: exists,
            canaries_source: cs,
            canaries_replica: cr,
        }),
    }
}

fn s3_err<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &'static str,
    bucket: &str,
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    AwsError::new(op, e).about(bucket).to_string()
}

async fn replication_rules(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<Vec<ReplicationRule>>, String> {
    match s3.get_bucket_replication().bucket(bucket).send().await {
        Ok(out) => Ok(Some(
            out.replication_configuration()
                .map(|cfg| cfg.rules().iter().map(rule_from_sdk).collect())
                .unwrap_or_default(),
        )),
        Err(e) if e.code() == Some("ReplicationConfigurationNotFoundError") => Ok(None),
        Err(e) => Err(s3_err("GetBucketReplication", bucket, &e)),
    }
}

/// One rule as GetBucketReplication answers it: its prefix and tags from `Filter` (`Prefix`,
/// `Tag`, or `And`), or the legacy top-level `Prefix`.
pub fn rule_from_sdk(r: &aws_sdk_s3::types::ReplicationRule) -> ReplicationRule {
    #[allow(deprecated)] // rules written before filters existed
    let legacy = r.prefix();
    let filter = r.filter();
    let and = filter.and_then(|f| f.and());
    let prefix = filter
        .and_then(|f| f.prefix().or_else(|| and.and_then(|a| a.prefix())))
        .or(legacy)
        .unwrap_or_default()
        .to_string();
    let mut tags: Vec<(String, String)> = filter
        .and_then(|f| f.tag())
        .into_iter()
        .chain(and.map(|a| a.tags()).unwrap_or_default())
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags.dedup();
    let dest = r.destination();
    ReplicationRule {
        id: r.id().unwrap_or_default().to_string(),
        enabled: r.status().as_str() == "Enabled",
        prefix,
        destination: dest
            .map(|d| d.bucket().rsplit(':').next().unwrap_or("").to_string())
            .unwrap_or_default(),
        metrics: dest
            .and_then(|d| d.metrics())
            .is_some_and(|m| m.status().as_str() == "Enabled"),
        rtc: dest
            .and_then(|d| d.replication_time())
            .is_some_and(|t| t.status().as_str() == "Enabled"),
        tags,
    }
}

async fn versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<bool, String> {
    s3.get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map(|v| v.status().is_some_and(|s| s.as_str() == "Enabled"))
        .map_err(|e| s3_err("GetBucketVersioning", bucket, &e))
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<bool, String> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if lifeboat_shared::aws::errors::head_not_found(
                &lifeboat_shared::error::aws_error_parts(&e).0,
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(s3_err("HeadBucket", bucket, &e)),
    }
}

/// Every object under `prefix` with its LastModified (canaries are few: one per run, removed
/// once measured).
async fn canaries(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, DateTime<Utc>)>, String> {
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_err("ListObjectsV2", bucket, &e))?;
        for o in page.contents() {
            if let (Some(k), Some(t)) = (o.key(), lifeboat_shared::aws_time(o.last_modified())) {
                out.push((k.to_string(), t));
            }
        }
    }
    Ok(out)
}

async fn newest_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    skip: &[String],
) -> Result<Option<(String, DateTime<Utc>, i64)>, String> {
    let mut newest: Option<(String, DateTime<Utc>, i64)> = None;
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_err("ListObjectsV2", bucket, &e))?;
        for o in page.contents() {
            let (Some(k), Some(t)) = (o.key(), lifeboat_shared::aws_time(o.last_modified())) else {
                continue;
            };
            if k.ends_with('/') || skip.iter().any(|s| k.starts_with(s.as_str())) {
                continue; // a folder marker, a canary
            }
            if newest.as_ref().is_none_or(|(_, n, _)| t > *n) {
                newest = Some((k.to_string(), t, o.size().unwrap_or(0)));
            }
        }
    }
    Ok(newest)
}

/// restore-verification's status object: `components.<name>.verified_backup_at`.
async fn verified(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<BTreeMap<String, DateTime<Utc>>, String> {
    let key = "state/restore-verification/status.json";
    let read = lifeboat_shared::journal::read_json::<serde_json::Value>(s3, bucket, key)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    if let Some((v, _)) = read {
        if let Some(comps) = v["components"].as_object() {
            for (name, c) in comps {
                if let Some(t) = c["verified_backup_at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                {
                    out.insert(name.clone(), t.with_timezone(&Utc));
                }
            }
        }
    }
    Ok(out)
}

/// A selected source: component, kind, id, ARN, (latest restorable time, creation time).
type Selected = (
    String,
    ResourceKind,
    String,
    String,
    (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
);

/// The selected sources of every component, their backups, and their replicas.
async fn observe_sources(
    c: &Clients,
    policy: &Policy,
    wanted: &dyn Fn(&str) -> bool,
    obs: &mut Observations,
) {
    // Every kind is listed (free calls), as snapshot-export does: a resource carrying the opt-in
    // tag is backed up, and so checked, even when no component names its kind.
    let (instances, clusters, groups) = tokio::join!(
        async { Some(rds::instances(&c.rds).await.map_err(text)) },
        async { Some(rds::clusters(&c.rds).await.map_err(text)) },
        async {
            Some(
                elasticache::replication_groups(&c.elasticache)
                    .await
                    .map_err(text),
            )
        },
    );
    // The DR region's instances, for cross-region read replicas.
    let dr_instances: Option<Result<Vec<DbInstance>, String>> = match &c.rds_dr {
        Some(rds_dr) => Some(rds::instances(rds_dr).await.map_err(text)),
        None => None,
    };
    let mut selected: Vec<Selected> = Vec::new();
    // Selected sources that belong to a global database or datastore.
    let mut aurora_globals: Vec<(String, &DbCluster)> = Vec::new();
    let mut cache_globals: Vec<(String, &ReplicationGroup)> = Vec::new();
    // Marks the components of `kind` (only those selecting by tag when `tagged_only`) unread.
    let unread = |kind: ResourceKind, tagged_only: bool, e: &str, obs: &mut Observations| {
        for comp in policy
            .components
            .iter()
            .filter(|c| c.kind == kind && (!tagged_only || !c.tags.is_empty()))
        {
            if wanted(&comp.name) {
                obs.unread_components
                    .entry(comp.name.clone())
                    .or_insert_with(|| e.to_string());
            }
        }
        // Resources the opt-in tag selects are components too: their absence is said as well.
        let opted = format!(
            "{} tagged {}={}",
            kind.as_str(),
            policy.opt_in_tag.key,
            policy.opt_in_tag.value
        );
        if wanted(&opted) {
            obs.unread_components
                .entry(opted)
                .or_insert_with(|| e.to_string());
        }
    };
    let all_instances: &[DbInstance] = match &instances {
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            unread(ResourceKind::RdsInstance, false, e, obs);
            &[]
        }
        None => &[],
    };
    for db in all_instances.iter().filter(|d| d.cluster_id.is_none()) {
        // A read replica is checked as its source's replica, not as a source of its own.
        if db.replica_source.is_some() {
            continue;
        }
        if let Some(m) = policy.membership(ResourceKind::RdsInstance, &db.id, &db.tags) {
            if wanted(&m.component) || wanted(&db.id) {
                selected.push((
                    m.component.clone(),
                    ResourceKind::RdsInstance,
                    db.id.clone(),
                    db.arn.clone(),
                    (db.latest_restorable, db.created_at),
                ));
                for r in &db.replicas {
                    obs.replicas.push(read_replica(
                        &m.component,
                        r,
                        &c.primary_region,
                        all_instances,
                        c.dr_region.as_deref().zip(dr_instances.as_ref()),
                    ));
                }
            }
        }
    }
    let all_clusters: &[DbCluster] = match &clusters {
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            unread(ResourceKind::AuroraCluster, false, e, obs);
            &[]
        }
        None => &[],
    };
    for cl in all_clusters
        .iter()
        .filter(|c| c.engine.starts_with("aurora"))
    {
        if let Some(m) = policy.membership(ResourceKind::AuroraCluster, &cl.id, &cl.tags) {
            if wanted(&m.component) || wanted(&cl.id) {
                selected.push((
                    m.component.clone(),
                    ResourceKind::AuroraCluster,
                    cl.id.clone(),
                    cl.arn.clone(),
                    (cl.latest_restorable, cl.created_at),
                ));
                for reader in &cl.readers {
                    let found = all_instances.iter().find(|i| &i.id == reader);
                    obs.replicas.push(ReplicaObs {
                        component: m.component.clone(),
                        id: reader.clone(),
                        region: c.primary_region.clone(),
                        kind: ReplicaKind::AuroraReader,
                        status: found.map(|i| i.status.clone()),
                        replication: None,
                        global: None,
                        unread: match &instances {
                            Some(Err(e)) => {
                                Some(format!("the DB instances could not be listed ({e})"))
                            }
                            _ => None,
                        },
                    });
                }
                if cl.global_cluster.is_some() {
                    aurora_globals.push((m.component.clone(), cl));
                }
            }
        }
    }
    match &groups {
        Some(Ok(list)) => {
            for g in list {
                // Tags only matter when no component names the group by id (a tag-selected
                // component, the opt-in tag): one read per group then.
                let named = policy
                    .components
                    .iter()
                    .any(|c| c.kind == ResourceKind::Elasticache && c.ids.contains(&g.id));
                let tags = if !named && !g.arn.is_empty() {
                    match elasticache::tags(&c.elasticache, &g.arn).await {
                        Ok(t) => t,
                        Err(e) => {
                            // Its membership is unknown: every tag-selected component may miss it.
                            unread(
                                ResourceKind::Elasticache,
                                true,
                                &e.about(&g.arn).to_string(),
                                obs,
                            );
                            BTreeMap::new()
                        }
                    }
                } else {
                    BTreeMap::new()
                };
                if let Some(m) = policy.membership(ResourceKind::Elasticache, &g.id, &tags) {
                    if wanted(&m.component) || wanted(&g.id) {
                        selected.push((
                            m.component.clone(),
                            ResourceKind::Elasticache,
                            g.id.clone(),
                            g.arn.clone(),
                            (None, None),
                        ));
                        if g.global_datastore.is_some() {
                            cache_globals.push((m.component.clone(), g));
                        }
                    }
                }
            }
        }
        Some(Err(e)) => unread(ResourceKind::Elasticache, false, e, obs),
        None => {}
    }
    // The secondaries of their global databases and datastores (one read each, only when a
    // selected source belongs to one).
    let (aurora, cache) = tokio::join!(
        global_database_replicas(c, &aurora_globals),
        global_datastore_replicas(c, &cache_globals),
    );
    for (replicas, unread) in [aurora, cache] {
        obs.replicas.extend(replicas);
        obs.unread_globals.extend(unread);
    }
    // A resource the policy names by id that its listing does not have is said, not skipped
    // (a listing that failed is already "could not be listed").
    for comp in &policy.components {
        let listed: Vec<&str> = match (comp.kind, &instances, &clusters, &groups) {
            (ResourceKind::RdsInstance, Some(Ok(l)), _, _) => {
                l.iter().map(|i| i.id.as_str()).collect()
            }
            (ResourceKind::AuroraCluster, _, Some(Ok(l)), _) => {
                l.iter().map(|c| c.id.as_str()).collect()
            }
            (ResourceKind::Elasticache, _, _, Some(Ok(l))) => {
                l.iter().map(|g| g.id.as_str()).collect()
            }
            _ => continue,
        };
        for id in &comp.ids {
            if (wanted(&comp.name) || wanted(id)) && !listed.contains(&id.as_str()) {
                obs.missing.push((comp.name.clone(), id.clone()));
            }
        }
    }
    // Backups of each selected source, side by side (bounded by the number of sources).
    let backups = join_all(selected.iter().map(|(_, kind, id, arn, _)| async move {
        let snaps = match kind {
            ResourceKind::RdsInstance => rds::db_snapshots(
                &c.rds,
                &c.primary_region,
                SnapshotFilter {
                    of: Some(id),
                    manual_only: false,
                },
            )
            .await
            .map_err(text),
            ResourceKind::AuroraCluster => rds::cluster_snapshots(
                &c.rds,
                &c.primary_region,
                SnapshotFilter {
                    of: Some(id),
                    manual_only: false,
                },
            )
            .await
            .map_err(text),
            ResourceKind::Elasticache => {
                elasticache::snapshots(&c.elasticache, &c.primary_region, Some(id))
                    .await
                    .map_err(text)
            }
        };
        let dr = match (&c.rds_dr, &c.dr_region, kind) {
            (Some(rds_dr), Some(region), ResourceKind::RdsInstance) => Some(
                rds::db_snapshots(
                    rds_dr,
                    region,
                    SnapshotFilter {
                        of: Some(id),
                        manual_only: true,
                    },
                )
                .await
                .map_err(text),
            ),
            (Some(rds_dr), Some(region), ResourceKind::AuroraCluster) => Some(
                rds::cluster_snapshots(
                    rds_dr,
                    region,
                    SnapshotFilter {
                        of: Some(id),
                        manual_only: true,
                    },
                )
                .await
                .map_err(text),
            ),
            _ => None,
        };
        let point = if arn.is_empty() {
            Ok(None)
        } else {
            backup::recovery_points(&c.backup, arn)
                .await
                .map(|pts| {
                    pts.iter()
                        .filter(|p| p.usable())
                        .filter_map(|p| p.created_at)
                        .max()
                })
                .map_err(text)
        };
        (snaps, dr, point)
    }))
    .await;
    for (
        (component, kind, id, arn, (latest_restorable, created_at)),
        (snapshots, dr_snapshots, point),
    ) in selected.into_iter().zip(backups)
    {
        obs.sources.push(SourceObs {
            component,
            kind,
            id,
            arn,
            latest_restorable,
            created_at,
            snapshots,
            dr_snapshots,
            recovery_point: point,
        });
    }
}

/// A read replica named by its source: an id in the same region, or an ARN in another.
fn read_replica(
    component: &str,
    name: &str,
    primary_region: &str,
    primary: &[DbInstance],
    dr: Option<(&str, &Result<Vec<DbInstance>, String>)>,
) -> ReplicaObs {
    let (region, id) = match name.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = name.split(':').collect();
            (
                parts.get(3).copied().unwrap_or(primary_region).to_string(),
                parts.last().copied().unwrap_or(name).to_string(),
            )
        }
        None => (primary_region.to_string(), name.to_string()),
    };
    // Looked up in its own region's listing only: a failed listing, or a region without one,
    // is "could not be read".
    let (found, unread) = if region == primary_region {
        (primary.iter().find(|i| i.id == id).cloned(), None)
    } else {
        match dr.filter(|(r, _)| *r == region) {
            Some((_, Ok(list))) => (list.iter().find(|i| i.id == id).cloned(), None),
            Some((_, Err(e))) => (
                None,
                Some(format!("the DB instances in {region} could not be listed ({e})")),
            ),
            None => (
                None,
                Some(format!(
                    "it is in {region}, a region the policy names neither as primary nor as dr.region (no client there)"
                )),
            ),
        }
    };
    ReplicaObs {
        component: component.to_string(),
        id,
        region,
        kind: ReplicaKind::ReadReplica,
        status: found.as_ref().map(|i| i.status.clone()),
        replication: found.and_then(|i| i.replication),
        global: None,
        unread,
    }
}

/// The region and the resource name of an ARN (`arn:<partition>:<service>:<region>:...:<name>`).
fn arn_region_name(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let region = parts.nth(2)?;
    let name = arn.rsplit(':').next()?;
    Some((region.to_string(), name.to_string()))
}

/// What the global reads found: the secondaries as replicas, and the global databases or
/// datastores that could not be read ([`Observations::unread_globals`]).
type GlobalReads = (Vec<ReplicaObs>, Vec<(String, String, String)>);

/// The secondaries of the selected Aurora clusters' global databases (one DescribeGlobalClusters
/// read for all of them).
async fn global_database_replicas(c: &Clients, sources: &[(String, &DbCluster)]) -> GlobalReads {
    let mut out: GlobalReads = Default::default();
    if sources.is_empty() {
        return out;
    }
    let globals = rds::global_clusters(&c.rds)
        .await
        .map_err(|e| format!("{}: {e}", e.operation));
    for (component, cl) in sources {
        match aurora_secondaries(component, cl, &globals, &c.primary_region) {
            Ok(replicas) => out.0.extend(replicas),
            Err((id, why)) => out.1.push((component.clone(), id, why)),
        }
    }
    out
}

/// The replicas a selected Aurora cluster's global database gives its component: the
/// secondaries when the cluster is the writer (none: nothing to check), the cluster itself when
/// it is a secondary. `Err((global id, why))` when the global database could not be read or
/// does not list the cluster.
fn aurora_secondaries(
    component: &str,
    source: &DbCluster,
    globals: &Result<Vec<GlobalCluster>, String>,
    primary_region: &str,
) -> Result<Vec<ReplicaObs>, (String, String)> {
    let Some(id) = &source.global_cluster else {
        return Ok(Vec::new());
    };
    let fail = |why: String| Err((id.clone(), why));
    let g = match globals {
        Err(e) => return fail(e.clone()),
        Ok(list) => match list.iter().find(|g| &g.id == id) {
            Some(g) => g,
            None => return fail("DescribeGlobalClusters does not list it".into()),
        },
    };
    let is_source = |arn: &str| {
        arn == source.arn
            || arn_region_name(arn).is_some_and(|(r, n)| r == primary_region && n == source.id)
    };
    let Some(me) = g.members.iter().find(|m| is_source(&m.cluster_arn)) else {
        return fail(format!("it does not list {} among its members", source.id));
    };
    let writer = g.members.iter().find(|m| m.writer);
    let primary = writer.and_then(|w| arn_region_name(&w.cluster_arn).map(|(r, n)| (n, r)));
    let status = if g.status.is_empty() {
        "available".to_string()
    } else {
        g.status.clone()
    };
    let replica =
        |arn: &str, member: Option<&lifeboat_shared::aws::rds::GlobalMember>, selected| {
            let (region, name) = arn_region_name(arn)
                .unwrap_or_else(|| (primary_region.to_string(), arn.to_string()));
            ReplicaObs {
                component: component.to_string(),
                id: name,
                region,
                kind: ReplicaKind::GlobalSecondary,
                status: member.map(|_| status.clone()),
                replication: member.and_then(|m| m.synchronization.clone()).map(|s| {
                    let normal = s == "connected";
                    (s, normal, None)
                }),
                unread: None,
                global: Some(GlobalLink {
                    id: id.clone(),
                    primary: primary.clone(),
                    selected,
                    cache_clusters: None,
                }),
            }
        };
    if !me.writer {
        return Ok(vec![replica(&me.cluster_arn, Some(me), true)]);
    }
    // The secondaries: the members that are not the writer, and any the writer names that the
    // global database does not list as a member (gone: "does not exist").
    let mut arns: Vec<&str> = g
        .members
        .iter()
        .filter(|m| !m.writer)
        .map(|m| m.cluster_arn.as_str())
        .collect();
    for r in &me.readers {
        if !arns.contains(&r.as_str()) {
            arns.push(r);
        }
    }
    Ok(arns
        .into_iter()
        .map(|arn| {
            let member = g.members.iter().find(|m| m.cluster_arn == arn);
            replica(arn, member, false)
        })
        .collect())
}

/// The secondaries of the selected replication groups' global datastores (one
/// DescribeGlobalReplicationGroups read for all of them), with their cache clusters.
async fn global_datastore_replicas(
    c: &Clients,
    sources: &[(String, &ReplicationGroup)],
) -> GlobalReads {
    let mut out: GlobalReads = Default::default();
    if sources.is_empty() {
        return out;
    }
    let globals = elasticache::global_datastores(&c.elasticache)
        .await
        .map_err(|e| format!("{}: {e}", e.operation));
    for (component, g) in sources {
        match datastore_secondaries(component, g, &globals, &c.primary_region) {
            Ok(replicas) => {
                for mut r in replicas {
                    if let Some(link) = r.global.as_mut().filter(|l| l.cache_clusters.is_none()) {
                        link.cache_clusters = Some(secondary_clusters(c, &r.id, &r.region).await);
                    }
                    out.0.push(r);
                }
            }
            Err((id, why)) => out.1.push((component.clone(), id, why)),
        }
    }
    out
}

/// The replicas a selected replication group's global datastore gives its component: the
/// SECONDARY members when the group is the PRIMARY (their cache clusters left to read, `None`),
/// the group itself when it is a secondary. `Err((global id, why))` when the datastore could not
/// be read or does not list the group.
fn datastore_secondaries(
    component: &str,
    source: &ReplicationGroup,
    globals: &Result<Vec<GlobalDatastore>, String>,
    primary_region: &str,
) -> Result<Vec<ReplicaObs>, (String, String)> {
    let Some((id, _)) = &source.global_datastore else {
        return Ok(Vec::new());
    };
    let fail = |why: String| Err((id.clone(), why));
    let d = match globals {
        Err(e) => return fail(e.clone()),
        Ok(list) => match list.iter().find(|d| &d.id == id) {
            Some(d) => d,
            None => return fail("DescribeGlobalReplicationGroups does not list it".into()),
        },
    };
    let Some(me) = d
        .members
        .iter()
        .find(|m| m.group_id == source.id && m.region == primary_region)
    else {
        return fail(format!("it does not list {} among its members", source.id));
    };
    let primary = d
        .members
        .iter()
        .find(|m| m.role.eq_ignore_ascii_case("primary"))
        .map(|m| (m.group_id.clone(), m.region.clone()));
    let status = if d.status.is_empty() {
        "available".to_string()
    } else {
        d.status.clone()
    };
    let replica =
        |m: &lifeboat_shared::aws::elasticache::GlobalDatastoreMember, selected| ReplicaObs {
            component: component.to_string(),
            id: m.group_id.clone(),
            region: m.region.clone(),
            kind: ReplicaKind::GlobalDatastoreSecondary,
            status: Some(status.clone()),
            replication: m.status.clone().map(|s| {
                let normal = s == "associated";
                (s, normal, None)
            }),
            unread: None,
            global: Some(GlobalLink {
                id: id.clone(),
                primary: primary.clone(),
                selected,
                cache_clusters: selected.then(|| Ok(source.member_clusters.clone())),
            }),
        };
    if !me.role.eq_ignore_ascii_case("primary") {
        return Ok(vec![replica(me, true)]);
    }
    Ok(d.members
        .iter()
        .filter(|m| m.role.eq_ignore_ascii_case("secondary"))
        .map(|m| replica(m, false))
        .collect())
}

/// The cache clusters of a global datastore secondary, read in its region (the primary and
/// the DR region have clients; another region's are not read).
async fn secondary_clusters(c: &Clients, id: &str, region: &str) -> Result<Vec<String>, String> {
    let client = if region == c.primary_region {
        Some(&c.elasticache)
    } else if c.dr_region.as_deref() == Some(region) {
        c.elasticache_dr.as_ref()
    } else {
        None
    };
    let Some(ec) = client else {
        return Err(format!(
            "no ElastiCache client for {region} (a region the policy does not name)"
        ));
    };
    match elasticache::find_group(ec, id).await {
        Ok(Some(g)) => Ok(g.member_clusters),
        Ok(None) => Err(format!("{id} was not found in {region}")),
        Err(e) => Err(e.about(id)),
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
