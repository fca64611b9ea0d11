//! Reads: everything the checks need, as plain observations. A read that fails is recorded where
//! its answer would have been (`Err` with the AWS error), never as an empty answer: the checks
//! turn it into "could not read" (no data), not into "nothing there".

use std::collections::BTreeMap;

use aws_sdk_s3::error::ProvideErrorMetadata;
use chrono::{DateTime, Utc};
use futures::future::join_all;
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::backup::Snapshot;
use lifeboat_shared::policy::{Policy, ReplicationPair, ResourceKind};

mod sources;

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
    sources::observe_sources(c, policy, wanted, &mut obs).await;
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
#[cfg(test)]
mod tests;
