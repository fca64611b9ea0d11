//! Inventory: what snapshot-export reads from AWS for one decision, as plain data, through the
//! shared paginated readers. A failed read is recorded in `read_errors` and leaves its part
//! empty, which the plan treats as "no proof": nothing is deleted on it.

use std::collections::BTreeMap;

use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::aws::rds::SnapshotFilter;
use lifeboat_shared::aws::ssm::{self, Side};
use lifeboat_shared::aws::{elasticache, rds, s3};
use lifeboat_shared::backup::{Snapshot, PREFIX};
use lifeboat_shared::policy::{Policy, ResourceKind, Settings};

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

/// What the backup target needs beside [`Clients`]: the target parameter's reader (SSM in the
/// primary region) and S3 in the DR region, where the secondary bucket (`buckets.dr_backup`,
/// the DR-region replica) is: S3 answers a request signed for another region with a redirect
/// the SDK does not follow.
#[derive(Clone, Debug)]
pub struct TargetClients {
    pub ssm: aws_sdk_ssm::Client,
    /// S3 in the DR region, when the policy has one.
    pub s3_dr: Option<aws_sdk_s3::Client>,
}

/// Where this run writes backups (exports, manifests, deletion intents), read once per run from
/// the target parameter (`buckets.target_parameter`) before any write; see
/// [`lifeboat_shared::aws::ssm`].
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Destination {
    /// `buckets.backup`: the policy has no target parameter, or it names the primary.
    #[default]
    Primary,
    /// `buckets.dr_backup`: the target parameter points there (failover).
    Secondary {
        bucket: String,
        parameter: String,
        /// The bucket's region: the DR region (`dr.region`), else the primary's.
        region: String,
    },
    /// The parameter could not be read, or names a bucket the policy does not: nothing is
    /// written to any bucket this run (why, naming the parameter).
    Unknown(String),
}

impl Destination {
    /// The bucket backups go to; `None` when the target is unknown.
    pub fn bucket<'a>(&'a self, policy: &'a Policy) -> Option<&'a str> {
        match self {
            Destination::Primary => Some(&policy.buckets.backup),
            Destination::Secondary { bucket, .. } => Some(bucket),
            Destination::Unknown(_) => None,
        }
    }

    /// The bucket for the report's lines: the target, or a placeholder saying it is unknown.
    pub fn label<'a>(&'a self, policy: &'a Policy) -> &'a str {
        self.bucket(policy).unwrap_or("<backup target unknown>")
    }

    /// Why nothing is written to a bucket this run, when the target is unknown.
    pub fn unknown(&self) -> Option<&str> {
        match self {
            Destination::Unknown(why) => Some(why),
            _ => None,
        }
    }

    /// Reads the target parameter once: its bucket, or `Unknown` with the error (never a quiet
    /// fall-back to the primary).
    pub async fn read(
        ssm: &aws_sdk_ssm::Client,
        policy: &Policy,
        primary_region: &str,
    ) -> Destination {
        match ssm::backup_target(ssm, policy).await {
            Ok(t) => Destination::of(policy, t, primary_region),
            Err(e) => Destination::Unknown(e.to_string()),
        }
    }

    /// The destination of a resolved target.
    pub fn of(policy: &Policy, t: ssm::Target, primary_region: &str) -> Destination {
        match (t.side, t.parameter) {
            (Side::Secondary, Some(parameter)) => Destination::Secondary {
                bucket: t.bucket,
                parameter,
                region: policy
                    .dr
                    .as_ref()
                    .map(|d| d.region.clone())
                    .unwrap_or_else(|| primary_region.to_string()),
            },
            _ => Destination::Primary,
        }
    }
}

/// A backup bucket with S3 in its region.
#[derive(Clone, Debug)]
pub struct Bucket {
    pub name: String,
    pub s3: aws_sdk_s3::Client,
}

/// The backup buckets one run touches. Writes go to the target alone. Reads of what earlier runs
/// wrote (manifests, deletion intents, ElastiCache exports) look in both of the policy's buckets
/// when it has a target parameter: runs before a failover wrote to the primary (S3 replication
/// copies that to the secondary, but it lags and may fail), runs during one to the secondary,
/// which nothing copies back after failback. Without a target parameter, `buckets.backup` alone,
/// as always.
#[derive(Clone, Debug)]
pub struct Buckets {
    /// `None`: the target is unknown, nothing is written.
    pub write: Option<Bucket>,
    /// The target first, then the policy's other backup bucket.
    pub read: Vec<Bucket>,
}

impl Buckets {
    /// For `target`: `c.s3` for the primary bucket and the secondary in the primary region,
    /// `s3_dr` for the secondary in the DR region.
    pub fn new(
        c: &Clients,
        s3_dr: Option<&aws_sdk_s3::Client>,
        policy: &Policy,
        target: &Destination,
    ) -> Buckets {
        let primary = Bucket {
            name: policy.buckets.backup.clone(),
            s3: c.s3.clone(),
        };
        let secondary = policy.buckets.dr_backup.as_ref().map(|name| Bucket {
            name: name.clone(),
            s3: match (&c.dr_region, s3_dr) {
                (Some(dr), Some(s3)) if dr != &c.primary_region => s3.clone(),
                _ => c.s3.clone(),
            },
        });
        let write = match target {
            Destination::Primary => Some(primary.clone()),
            Destination::Secondary { .. } => secondary.clone(),
            Destination::Unknown(_) => None,
        };
        let mut read = Vec::new();
        if let Some(w) = &write {
            read.push(w.clone());
        }
        if policy.buckets.target_parameter.is_some() {
            for b in [Some(primary), secondary].into_iter().flatten() {
                if !read.iter().any(|r| r.name == b.name) {
                    read.push(b);
                }
            }
        } else if read.is_empty() {
            read.push(primary);
        }
        Buckets { write, read }
    }

    /// `buckets.backup` alone, read and written with `c.s3`: a run of a policy without a target
    /// parameter.
    pub fn primary(c: &Clients, policy: &Policy) -> Buckets {
        Buckets::new(c, None, policy, &Destination::Primary)
    }
}

/// A database or cache that policy selects for backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub status: String,
    pub encrypted: bool,
    pub tags: BTreeMap<String, String>,
    pub component: String,
    pub settings: Settings,
    /// Where clients connect (for the data fingerprint at snapshot time).
    pub endpoint: Option<(String, u16)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportTask {
    pub id: String,
    pub source_arn: String,
    /// Upper-case as RDS reports it: STARTING, IN_PROGRESS, COMPLETE, CANCELING, CANCELED, FAILED.
    pub status: String,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub failure: Option<String>,
}

impl ExportTask {
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "CANCELED" | "CANCELING")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: i64,
    pub max: i64,
}

/// Everything read from AWS for one decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub sources: Vec<Source>,
    /// Primary-region snapshots of every kind: automated and manual, ours and not.
    pub snapshots: Vec<Snapshot>,
    /// DR-region manual snapshots (RDS and Aurora).
    pub dr_snapshots: Vec<Snapshot>,
    pub exports: Vec<ExportTask>,
    /// Object keys that start with `lifeboat-` (ElastiCache exports), with the backup bucket
    /// each is in (the target's copy when both hold one).
    pub exported_objects: BTreeMap<String, String>,
    /// Account quotas for manual DB and cluster snapshots, when they could be read.
    pub instance_quota: Option<Quota>,
    pub cluster_quota: Option<Quota>,
    /// The kinds of source whose listing failed, with the AWS error: components of that kind
    /// get no snapshot this run, and the plan says so for each one.
    pub unread_sources: BTreeMap<ResourceKind, String>,
    /// Reads that failed, with the AWS error: the plan works around them and says so.
    pub read_errors: Vec<ReadError>,
    /// Where this run writes backups (read once per run, carried through refreshes).
    pub target: Destination,
}

/// A read the inventory could not make. The guards that must not take an absence for a fact
/// (a DR copy's primary "gone", a DR copy "missing") ask for the read by kind, not by words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The primary region's snapshots of one kind.
    Snapshots(ResourceKind),
    /// The DR region's snapshots.
    DrSnapshots,
    ExportTasks,
    /// Objects in the backup bucket(s) (ElastiCache exports).
    ExportedObjects,
    /// The manual-snapshot quotas (read once per run).
    Quota,
}

impl Read {
    /// The read in the report's words.
    pub fn label(self) -> &'static str {
        match self {
            Read::Snapshots(ResourceKind::RdsInstance) => "DB snapshots (DescribeDBSnapshots)",
            Read::Snapshots(ResourceKind::AuroraCluster) => {
                "cluster snapshots (DescribeDBClusterSnapshots)"
            }
            Read::Snapshots(ResourceKind::Elasticache) => {
                "ElastiCache snapshots (DescribeSnapshots)"
            }
            Read::DrSnapshots => "DR-region snapshots",
            Read::ExportTasks => "export tasks (DescribeExportTasks)",
            Read::ExportedObjects => "objects in the backup bucket (ListObjectsV2)",
            Read::Quota => "the manual-snapshot quota (DescribeAccountAttributes)",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReadError {
    pub what: Read,
    /// The AWS error.
    pub error: String,
}

impl Inventory {
    /// The read failed in this inventory.
    pub fn unread(&self, what: Read) -> bool {
        self.read_errors.iter().any(|e| e.what == what)
    }
}

/// Reads everything the plan needs, for a run whose backups go to `buckets.backup` (a policy
/// without a target parameter; a run reads its target first, see [`read`]). A failed read is
/// recorded in `read_errors` and leaves its part of the inventory empty, which the plan treats
/// as "no proof": nothing is deleted on it.
pub async fn inventory(c: &Clients, policy: &Policy) -> Inventory {
    let target = if policy.buckets.target_parameter.is_some() {
        Destination::Unknown(
            "the backup target parameter was not read (an inventory without its SSM client)".into(),
        )
    } else {
        Destination::Primary
    };
    read(c, &Buckets::primary(c, policy), policy, target, None).await
}

/// Reads the inventory of a run writing to `target` (read once per run, see
/// [`Destination::read`]); with `earlier`, again within the run (after snapshots were created or
/// copies started): the account quota, read once per run, is carried over from it.
pub async fn read(
    c: &Clients,
    buckets: &Buckets,
    policy: &Policy,
    target: Destination,
    earlier: Option<&Inventory>,
) -> Inventory {
    let mut inv = Inventory {
        target,
        ..Inventory::default()
    };
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
    let mut take = |what: Read, r: Result<(), String>| {
        if let Err(error) = r {
            inv.read_errors.push(ReadError { what, error });
        }
    };
    let mut sources = Vec::new();
    let mut snapshots = Vec::new();
    let mut unread = BTreeMap::new();
    for (kind, listed) in [
        (ResourceKind::RdsInstance, instances),
        (ResourceKind::AuroraCluster, clusters),
        (ResourceKind::Elasticache, groups),
    ] {
        match listed {
            Ok(v) => sources.extend(v),
            Err(e) => {
                unread.insert(kind, e);
            }
        }
    }
    take(
        Read::Snapshots(ResourceKind::RdsInstance),
        db_snaps
            .map(|v| snapshots.extend(v))
            .map_err(|e| e.to_string()),
    );
    take(
        Read::Snapshots(ResourceKind::AuroraCluster),
        cl_snaps
            .map(|v| snapshots.extend(v))
            .map_err(|e| e.to_string()),
    );
    take(
        Read::Snapshots(ResourceKind::Elasticache),
        ec_snaps.map(|v| snapshots.extend(v)),
    );
    let mut export_tasks = Vec::new();
    take(Read::ExportTasks, exports.map(|v| export_tasks = v));
    let mut quota = (None, None);
    take(Read::Quota, quotas.map(|q| quota = q));
    let mut dr_snaps = Vec::new();
    take(Read::DrSnapshots, dr.map(|v| dr_snaps = v));
    if let Some(e) = earlier {
        let quota_errors = e.read_errors.iter().filter(|r| r.what == Read::Quota);
        inv.read_errors.extend(quota_errors.cloned());
    }
    inv.sources = sources;
    inv.unread_sources = unread;
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
        // The other bucket first, so that the target's copy of a key is the one kept.
        for b in buckets.read.iter().rev() {
            match s3::keys(&b.s3, &b.name, PREFIX).await {
                Ok(keys) => inv
                    .exported_objects
                    .extend(keys.into_iter().map(|k| (k, b.name.clone()))),
                Err(e) => inv.read_errors.push(ReadError {
                    what: Read::ExportedObjects,
                    error: format!("s3://{}: {e}", b.name),
                }),
            }
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
