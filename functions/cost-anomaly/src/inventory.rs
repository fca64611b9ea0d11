//! The only place that reads AWS for a decision: snapshots and their sources (RDS, Aurora,
//! ElastiCache) in the primary and DR regions, AWS Backup vaults, the backup buckets (CloudWatch
//! storage metrics per class, an S3 Inventory report or a listing, versioning, lifecycle,
//! replication, incomplete uploads), Aurora's billed backup metrics and Cost Explorer. Returns
//! plain data: [`Usage`] for the model, [`Facts`] for the savings. A source that cannot be read
//! is a [`Gap`] naming its error — its component's figure is "no data", never $0.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::aws::{backup as aws_backup, elasticache, rds};
use lifeboat_shared::backup::{Snapshot, TAG_COMPONENT};
use lifeboat_shared::policy::cost::Class;
use lifeboat_shared::policy::{Policy, ResourceKind};

use crate::objects::{source_of_group, Ages, Breakdown, GB};
use crate::plan::model::{Usage, Use};
use crate::plan::reconcile::Actual;
use crate::plan::savings::{BucketFact, Facts, Lifecycle, SnapshotFact};
use crate::plan::{Gap, Item};
use crate::s3_objects::{self, InventoryReport};

/// Resources outside every component of the policy.
pub const OUTSIDE: &str = "(outside the policy)";

/// Clients per region, built once per container.
pub struct Clients {
    pub primary: String,
    pub dr: Option<String>,
    pub rds: BTreeMap<String, aws_sdk_rds::Client>,
    pub elasticache: BTreeMap<String, aws_sdk_elasticache::Client>,
    pub cloudwatch: BTreeMap<String, aws_sdk_cloudwatch::Client>,
    pub s3: BTreeMap<String, aws_sdk_s3::Client>,
    pub backup: aws_sdk_backup::Client,
    /// Cost Explorer (its endpoint is in us-east-1), only when the policy enables it.
    pub ce: Option<aws_sdk_costexplorer::Client>,
}

impl Clients {
    /// The snapshot regions: the primary, then the DR region.
    pub fn regions(&self) -> Vec<String> {
        let mut r = vec![self.primary.clone()];
        r.extend(self.dr.clone());
        r
    }
}

/// Requests made, for the function's own cost.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Calls {
    /// Metrics requested from GetMetricData ($0.01 per 1,000).
    pub metrics: u32,
    pub get_metric_data: u32,
    /// S3 LIST-class requests ($0.005 per 1,000) and GET-class ($0.0004 per 1,000).
    pub s3_list: u32,
    pub s3_get: u32,
    /// Cost Explorer requests ($0.01 each).
    pub cost_explorer: u32,
    /// Free describe/list calls (RDS, ElastiCache, AWS Backup).
    pub describe: u32,
}

impl Calls {
    /// USD this run's requests cost at list price.
    pub fn usd(&self) -> f64 {
        self.metrics as f64 * 0.01 / 1000.0
            + self.s3_list as f64 * 0.005 / 1000.0
            + self.s3_get as f64 * 0.0004 / 1000.0
            + self.cost_explorer as f64 * 0.01
    }
}

/// Everything read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub usage: Usage,
    pub facts: Facts,
    /// What each bucket was broken down from ("S3 Inventory report of 2026-12-07", ...).
    pub sources: Vec<String>,
    pub calls: Calls,
}

/// A bucket to cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    /// Its objects' component when they are not in the backup layout (or not broken down).
    pub component: String,
}

/// The buckets the policy names: backup (primary), DR backup (DR region), `cost.buckets`.
pub fn buckets(policy: &Policy, primary: &str, dr: Option<&str>) -> Vec<Bucket> {
    let mut out = vec![Bucket {
        name: policy.buckets.backup.clone(),
        region: primary.to_string(),
        component: format!("s3:{}", policy.buckets.backup),
    }];
    if let (Some(b), Some(r)) = (&policy.buckets.dr_backup, dr) {
        out.push(Bucket {
            name: b.clone(),
            region: r.to_string(),
            component: format!("s3:{b}"),
        });
    }
    for b in &policy.cost.buckets {
        if out.iter().any(|o| o.name == b.name) {
            continue;
        }
        out.push(Bucket {
            name: b.name.clone(),
            region: b.region.clone().unwrap_or_else(|| primary.to_string()),
            component: b
                .component
                .clone()
                .unwrap_or_else(|| format!("s3:{}", b.name)),
        });
    }
    out
}

/// CloudWatch `AWS/S3` `StorageType`s and the class each bills.
pub const STORAGE_TYPES: [(&str, Class); 21] = [
    ("StandardStorage", Class::Standard),
    ("IntelligentTieringFAStorage", Class::ItFrequent),
    ("IntelligentTieringIAStorage", Class::ItInfrequent),
    ("IntelligentTieringAIAStorage", Class::ItArchiveInstant),
    ("IntelligentTieringAAStorage", Class::ItArchive),
    ("IntelligentTieringDAAStorage", Class::ItDeepArchive),
    ("StandardIAStorage", Class::StandardIa),
    ("StandardIASizeOverhead", Class::StandardIa),
    ("OneZoneIAStorage", Class::OnezoneIa),
    ("OneZoneIASizeOverhead", Class::OnezoneIa),
    ("ReducedRedundancyStorage", Class::ReducedRedundancy),
    ("GlacierInstantRetrievalStorage", Class::GlacierIr),
    ("GlacierIRSizeOverhead", Class::GlacierIr),
    ("GlacierStorage", Class::Glacier),
    ("GlacierStagingStorage", Class::Glacier),
    ("GlacierObjectOverhead", Class::Glacier),
    ("GlacierS3ObjectOverhead", Class::Standard),
    ("DeepArchiveStorage", Class::DeepArchive),
    ("DeepArchiveObjectOverhead", Class::DeepArchive),
    ("DeepArchiveS3ObjectOverhead", Class::Standard),
    ("DeepArchiveStagingStorage", Class::DeepArchive),
];

/// Aurora's backup storage metrics (bytes), per cluster.
pub const AURORA_METRICS: [&str; 2] = ["TotalBackupStorageBilled", "SnapshotStorageUsed"];

/// One GetMetricData series: namespace, metric, dimensions (in this order), statistic.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    id: String,
    namespace: &'static str,
    metric: String,
    dims: Vec<(String, String)>,
}

/// The newest datapoint of each series in `[from, to)`, or the region's error. Up to 500
/// queries a call; every page.
async fn metrics(
    cw: &aws_sdk_cloudwatch::Client,
    series: &[Series],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    calls: &mut Calls,
) -> Result<BTreeMap<String, f64>, String> {
    let mut out: BTreeMap<String, (DateTime<Utc>, f64)> = BTreeMap::new();
    for batch in series.chunks(500) {
        calls.metrics += batch.len() as u32;
        let queries: Vec<MetricDataQuery> = batch
            .iter()
            .map(|s| {
                let mut metric = Metric::builder()
                    .namespace(s.namespace)
                    .metric_name(&s.metric);
                for (k, v) in &s.dims {
                    metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
                }
                MetricDataQuery::builder()
                    .id(&s.id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.build())
                            .period(86_400)
                            .stat("Average")
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut token = None;
        loop {
            calls.get_metric_data += 1;
            let page = cw
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(aws_smithy_types::DateTime::from_secs(from.timestamp()))
                .end_time(aws_smithy_types::DateTime::from_secs(to.timestamp()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::new("GetMetricData", &e).to_string())?;
            for r in page.metric_data_results() {
                let Some(id) = r.id() else { continue };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(t) = lifeboat_shared::aws_time(Some(t)) {
                        let e = out.entry(id.to_string()).or_insert((t, *v));
                        if t > e.0 {
                            *e = (t, *v);
                        }
                    }
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// The component a snapshot belongs to: its `lifeboat:component` tag (Lifeboat's snapshots and
/// their DR copies), else its source's membership, else a component naming its source id.
fn component_of(
    policy: &Policy,
    kind: ResourceKind,
    source_id: &str,
    tags: &BTreeMap<String, String>,
    source_tags: Option<&BTreeMap<String, String>>,
) -> String {
    if let Some(c) = tags.get(TAG_COMPONENT) {
        return c.clone();
    }
    let empty = BTreeMap::new();
    policy
        .membership(kind, source_id, source_tags.unwrap_or(&empty))
        .map(|m| m.component)
        .unwrap_or_else(|| OUTSIDE.to_string())
}

/// The components a failed read leaves without data: every component of `kind` (and the
/// resources outside the policy).
fn gaps_for(policy: &Policy, kind: ResourceKind, source: &str, error: &str) -> Vec<Gap> {
    let mut out: Vec<Gap> = policy
        .components
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| Gap {
            component: c.name.clone(),
            source: source.to_string(),
            error: error.to_string(),
        })
        .collect();
    out.push(Gap {
        component: OUTSIDE.into(),
        source: source.to_string(),
        error: error.to_string(),
    });
    out
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Reads everything for `day` (the account as it is `now`, recorded as the day's).
pub async fn read(clients: &Clients, policy: &Policy, day: NaiveDate, now: DateTime<Utc>) -> Read {
    let mut r = Read::default();
    r.facts.now = Some(now);
    let day_end = day_start(day) + Duration::days(1);
    for region in clients.regions() {
        let dr = Some(&region) != Some(&clients.primary);
        rds_region(clients, policy, &region, dr, day, &mut r).await;
        cache_region(clients, policy, &region, &mut r).await;
    }
    aurora_metrics(clients, policy, day, day_end, &mut r).await;
    vaults(clients, policy, now, &mut r).await;
    for b in buckets(policy, &clients.primary, clients.dr.as_deref()) {
        bucket(clients, policy, &b, day, now, &mut r).await;
    }
    r.usage.gaps.sort();
    r.usage.gaps.dedup();
    r
}

async fn rds_region(
    clients: &Clients,
    policy: &Policy,
    region: &str,
    dr: bool,
    day: NaiveDate,
    r: &mut Read,
) {
    let Some(client) = clients.rds.get(region) else {
        return;
    };
    r.calls.describe += 1;
    let instances = match rds::instances(client).await {
        Ok(i) => i,
        Err(e) => {
            r.usage.gaps.extend(gaps_for(
                policy,
                ResourceKind::RdsInstance,
                &format!("RDS instances in {region}"),
                &e.to_string(),
            ));
            return;
        }
    };
    let provisioned: f64 = instances
        .iter()
        .filter(|i| i.cluster_id.is_none())
        .filter_map(|i| i.allocated_gb)
        .map(|g| g as f64)
        .sum();
    r.usage
        .rds_provisioned_gb
        .insert(region.to_string(), provisioned);
    r.calls.describe += 1;
    let snaps = match rds::db_snapshots(client, region, rds::SnapshotFilter::default()).await {
        Ok(s) => s,
        Err(e) => {
            r.usage.gaps.extend(gaps_for(
                policy,
                ResourceKind::RdsInstance,
                &format!("RDS snapshots in {region}"),
                &e.to_string(),
            ));
            return;
        }
    };
    let by_id: BTreeMap<&str, &rds::DbInstance> =
        instances.iter().map(|i| (i.id.as_str(), i)).collect();
    // A DR copy's source lives in the primary region: read there once.
    let primary_ids: Option<Vec<String>> = if dr {
        match clients.rds.get(&clients.primary) {
            Some(c) => rds::instances(c)
                .await
                .ok()
                .map(|v| v.into_iter().map(|i| i.id).collect()),
            None => None,
        }
    } else {
        None
    };
    for s in snaps {
        let source = by_id.get(s.source_id.as_str()).copied();
        let item = snapshot_item(&s, dr);
        let component = component_of(
            policy,
            ResourceKind::RdsInstance,
            &s.source_id,
            &s.tags,
            source.map(|i| &i.tags),
        );
        let Some(gb) = s.size_gb.map(|g| g as f64) else {
            r.usage.gaps.push(Gap {
                component: component.clone(),
                source: format!("RDS snapshot {} in {region}", s.id),
                error: "AllocatedStorage not reported".into(),
            });
            continue;
        };
        let exists = source.is_some()
            || primary_ids
                .as_ref()
                .is_some_and(|ids| ids.iter().any(|i| i == &s.source_id));
        if item == Item::DrCopies && s.time().is_some_and(|t| t.date_naive() == day) {
            r.usage.uses.push(Use::Transfer {
                component: component.clone(),
                region: clients.primary.clone(),
                item: Item::CopyTransfer,
                gb,
                ids: vec![s.id.clone()],
            });
        }
        r.facts.snapshots.push(SnapshotFact {
            kind: ResourceKind::RdsInstance,
            item,
            id: s.id.clone(),
            region: region.to_string(),
            component: component.clone(),
            source_id: s.source_id.clone(),
            source_exists: exists || primary_ids.is_none() && dr,
            gb,
            // (the time retention uses: the period tag, else creation)
            created: s.time(),
        });
        r.usage.uses.push(Use::RdsSnapshot {
            component,
            region: region.to_string(),
            item,
            id: s.id,
            gb,
        });
    }
}

fn snapshot_item(s: &Snapshot, dr: bool) -> Item {
    if s.id.starts_with("awsbackup:") {
        Item::RecoveryPoints
    } else if !s.manual {
        Item::AutomatedSnapshots
    } else if s.managed() {
        if dr {
            Item::DrCopies
        } else {
            Item::LifeboatSnapshots
        }
    } else {
        Item::UnmanagedSnapshots
    }
}

async fn cache_region(clients: &Clients, policy: &Policy, region: &str, r: &mut Read) {
    let Some(ec) = clients.elasticache.get(region) else {
        return;
    };
    if !policy
        .components
        .iter()
        .any(|c| c.kind == ResourceKind::Elasticache)
    {
        // (opted-in caches are found by their snapshots below all the same)
    }
    r.calls.describe += 2;
    let groups = match elasticache::replication_groups(ec).await {
        Ok(g) => g,
        Err(e) => {
            r.usage.gaps.extend(gaps_for(
                policy,
                ResourceKind::Elasticache,
                &format!("ElastiCache replication groups in {region}"),
                &e.to_string(),
            ));
            return;
        }
    };
    let snaps = match elasticache::snapshots_sized(ec, region, None).await {
        Ok(s) => s,
        Err(e) => {
            r.usage.gaps.extend(gaps_for(
                policy,
                ResourceKind::Elasticache,
                &format!("ElastiCache snapshots in {region}"),
                &e.to_string(),
            ));
            return;
        }
    };
    for (s, bytes) in snaps {
        let component = policy
            .membership(ResourceKind::Elasticache, &s.source_id, &BTreeMap::new())
            .map(|m| m.component)
            .unwrap_or_else(|| {
                if s.id.starts_with(lifeboat_shared::backup::PREFIX) {
                    s.source_id.clone()
                } else {
                    OUTSIDE.to_string()
                }
            });
        let Some(bytes) = bytes else {
            r.usage.gaps.push(Gap {
                component,
                source: format!("ElastiCache snapshot {} in {region}", s.id),
                error: "DescribeSnapshots reported no NodeSnapshots[].CacheSize".into(),
            });
            continue;
        };
        let gb = bytes as f64 / GB;
        let active = groups.iter().any(|g| g.id == s.source_id);
        r.facts.snapshots.push(SnapshotFact {
            kind: ResourceKind::Elasticache,
            // A person's manual snapshot (not Lifeboat's by name, not the cache's automatic
            // backups, which SnapshotRetentionLimit governs) is one no retention governs. Lifeboat's
            // are not held against a retention here: without their tags, a name proves nothing.
            item: if s.manual && !s.lifeboat_named() {
                Item::UnmanagedSnapshots
            } else {
                Item::CacheSnapshots
            },
            id: s.id.clone(),
            region: region.to_string(),
            component: component.clone(),
            source_id: s.source_id.clone(),
            source_exists: active,
            gb,
            // (the time retention uses: the period tag, else creation)
            created: s.time(),
        });
        r.usage.uses.push(Use::CacheSnapshot {
            component,
            region: region.to_string(),
            group: s.source_id,
            group_active: active,
            id: s.id,
            gb,
        });
    }
}

async fn aurora_metrics(
    clients: &Clients,
    policy: &Policy,
    day: NaiveDate,
    day_end: DateTime<Utc>,
    r: &mut Read,
) {
    for region in clients.regions() {
        let Some(client) = clients.rds.get(&region) else {
            continue;
        };
        r.calls.describe += 1;
        let clusters = match rds::clusters(client).await {
            Ok(c) => c,
            Err(e) => {
                r.usage.gaps.extend(gaps_for(
                    policy,
                    ResourceKind::AuroraCluster,
                    &format!("Aurora clusters in {region}"),
                    &e.to_string(),
                ));
                continue;
            }
        };
        cluster_snapshots(client, policy, &region, &clusters, r).await;
        if clusters.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        let mut owner: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (i, c) in clusters.iter().enumerate() {
            let component = policy
                .membership(ResourceKind::AuroraCluster, &c.id, &c.tags)
                .map(|m| m.component)
                .unwrap_or_else(|| OUTSIDE.to_string());
            owner.insert(c.id.clone(), (component, region.clone()));
            for (j, m) in AURORA_METRICS.iter().enumerate() {
                series.push(Series {
                    id: format!("a{i}m{j}"),
                    namespace: "AWS/RDS",
                    metric: m.to_string(),
                    dims: vec![("DBClusterIdentifier".into(), c.id.clone())],
                });
            }
        }
        let Some(cw) = clients.cloudwatch.get(&region) else {
            continue;
        };
        let values = metrics(cw, &series, day_start(day), day_end, &mut r.calls).await;
        for (i, c) in clusters.iter().enumerate() {
            let (component, region) = owner[&c.id].clone();
            let got = match &values {
                Ok(v) => (
                    v.get(&format!("a{i}m0")).copied(),
                    v.get(&format!("a{i}m1")).copied(),
                ),
                Err(e) => {
                    r.usage.gaps.push(Gap {
                        component,
                        source: format!("CloudWatch AWS/RDS in {region}"),
                        error: e.clone(),
                    });
                    continue;
                }
            };
            match got {
                (Some(billed), snapshots) => r.usage.uses.push(Use::Aurora {
                    component,
                    region,
                    cluster: c.id.clone(),
                    billed_gb: billed / GB,
                    snapshot_gb: snapshots.unwrap_or(0.0) / GB,
                }),
                (None, _) => r.usage.gaps.push(Gap {
                    component,
                    source: format!("CloudWatch AWS/RDS TotalBackupStorageBilled for {}", c.id),
                    error: format!("no datapoint for {day} in {region}"),
                }),
            }
        }
    }
}

/// Aurora cluster snapshots: those of a live cluster are billed within its metrics (the
/// savings still see the manual ones no retention governs); those of a deleted cluster have no
/// metric any more and are estimated from their allocated storage.
async fn cluster_snapshots(
    client: &aws_sdk_rds::Client,
    policy: &Policy,
    region: &str,
    clusters: &[rds::DbCluster],
    r: &mut Read,
) {
    r.calls.describe += 1;
    let snaps = match rds::cluster_snapshots(client, region, rds::SnapshotFilter::default()).await {
        Ok(s) => s,
        Err(e) => {
            r.usage.gaps.extend(gaps_for(
                policy,
                ResourceKind::AuroraCluster,
                &format!("Aurora cluster snapshots in {region}"),
                &e.to_string(),
            ));
            return;
        }
    };
    for s in snaps {
        let cluster = clusters.iter().find(|c| c.id == s.source_id);
        let component = component_of(
            policy,
            ResourceKind::AuroraCluster,
            &s.source_id,
            &s.tags,
            cluster.map(|c| &c.tags),
        );
        let gb = s.size_gb.unwrap_or(0) as f64;
        let managed = s.managed();
        if s.manual && !managed {
            r.facts.snapshots.push(SnapshotFact {
                kind: ResourceKind::AuroraCluster,
                item: if cluster.is_some() {
                    Item::UnmanagedSnapshots
                } else {
                    Item::ClusterSnapshots
                },
                id: s.id.clone(),
                region: region.to_string(),
                component: component.clone(),
                source_id: s.source_id.clone(),
                source_exists: cluster.is_some(),
                gb,
                // (the time retention uses: the period tag, else creation)
                created: s.time(),
            });
        }
        if cluster.is_none() && s.manual {
            match s.size_gb {
                Some(_) => r.usage.uses.push(Use::Estimated {
                    component,
                    region: region.to_string(),
                    item: Item::ClusterSnapshots,
                    class: Class::AuroraBackup,
                    id: s.id.clone(),
                    gb,
                }),
                None => r.usage.gaps.push(Gap {
                    component,
                    source: format!("Aurora cluster snapshot {} in {region}", s.id),
                    error: "AllocatedStorage not reported".into(),
                }),
            }
        }
    }
}

async fn vaults(clients: &Clients, policy: &Policy, now: DateTime<Utc>, r: &mut Read) {
    for vault in &policy.cost.backup_vaults {
        r.calls.describe += 1;
        let points = match aws_backup::vault_points(&clients.backup, vault).await {
            Ok(p) => p,
            Err(e) => {
                r.usage.gaps.push(Gap {
                    component: "*".into(),
                    source: format!("AWS Backup vault {vault}"),
                    error: e.to_string(),
                });
                continue;
            }
        };
        for p in points {
            // RDS and Aurora recovery points are their service's snapshots: counted there.
            if matches!(
                p.resource_type.as_str(),
                "RDS" | "Aurora" | "DocumentDB" | "Neptune"
            ) {
                continue;
            }
            let id = p
                .resource_arn
                .rsplit([':', '/'])
                .next()
                .unwrap_or_default()
                .to_string();
            let component = policy
                .components
                .iter()
                .find(|c| c.ids.iter().any(|i| *i == id || *i == p.resource_arn))
                .map(|c| c.name.clone())
                .unwrap_or_else(|| OUTSIDE.to_string());
            let Some(bytes) = p.bytes else {
                r.usage.gaps.push(Gap {
                    component,
                    source: format!("AWS Backup recovery point {}", p.arn),
                    error: "BackupSizeInBytes not reported".into(),
                });
                continue;
            };
            let cold = p.cold_from.is_some_and(|t| t <= now);
            r.usage.uses.push(Use::RecoveryPoint {
                component,
                region: clients.primary.clone(),
                vault: vault.clone(),
                id: p.arn,
                gb: bytes as f64 / GB,
                class: if cold {
                    Class::BackupCold
                } else {
                    Class::BackupWarm
                },
            });
        }
    }
}

/// Group → component for a bucket's breakdown.
fn groups(policy: &Policy, bd: &Breakdown, default: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let keys = bd
        .current
        .keys()
        .chain(bd.noncurrent.keys())
        .chain(bd.written_on_day.keys());
    for g in keys {
        let c = match source_of_group(g) {
            Some(source) => {
                let kind = g
                    .strip_prefix("backups/")
                    .and_then(|r| r.split('/').next())
                    .and_then(|k| {
                        serde_json::from_value::<ResourceKind>(serde_json::Value::from(k)).ok()
                    });
                kind.and_then(|k| policy.membership(k, source, &BTreeMap::new()))
                    .map(|m| m.component)
                    .or_else(|| {
                        policy
                            .components
                            .iter()
                            .find(|c| c.ids.iter().any(|i| i == source))
                            .map(|c| c.name.clone())
                    })
                    .unwrap_or_else(|| source.to_string())
            }
            None => default.to_string(),
        };
        out.insert(g.clone(), c);
    }
    out
}

async fn bucket(
    clients: &Clients,
    policy: &Policy,
    b: &Bucket,
    day: NaiveDate,
    now: DateTime<Utc>,
    r: &mut Read,
) {
    let Some(s3) = clients.s3.get(&b.region) else {
        return;
    };
    let gap = |error: String, source: &str| Gap {
        component: b.component.clone(),
        source: format!("{source} s3://{}", b.name),
        error,
    };
    // CloudWatch: bytes per storage type and the object count, for the day.
    let mut series: Vec<Series> = STORAGE_TYPES
        .iter()
        .enumerate()
        .map(|(i, (t, _))| Series {
            id: format!("s{i}"),
            namespace: "AWS/S3",
            metric: "BucketSizeBytes".into(),
            dims: vec![
                ("BucketName".into(), b.name.clone()),
                ("StorageType".into(), t.to_string()),
            ],
        })
        .collect();
    series.push(Series {
        id: "n".into(),
        namespace: "AWS/S3",
        metric: "NumberOfObjects".into(),
        dims: vec![
            ("BucketName".into(), b.name.clone()),
            ("StorageType".into(), "AllStorageTypes".into()),
        ],
    });
    let cw = match clients.cloudwatch.get(&b.region) {
        Some(cw) => {
            metrics(
                cw,
                &series,
                day_start(day),
                day_start(day) + Duration::days(1),
                &mut r.calls,
            )
            .await
        }
        None => Err("no CloudWatch client for the bucket's region".into()),
    };
    let objects = cw.as_ref().ok().and_then(|v| v.get("n").copied());
    let measured = cw.as_ref().map(|v| !v.is_empty()).unwrap_or(false);
    // Versioning, lifecycle, replication.
    r.calls.s3_get += 3;
    let versioned = match s3.get_bucket_versioning().bucket(&b.name).send().await {
        Ok(v) => {
            v.status().map(|s| s.as_str()) == Some("Enabled")
                || v.status().map(|s| s.as_str()) == Some("Suspended")
        }
        Err(e) => {
            r.usage.gaps.push(gap(
                AwsError::new("GetBucketVersioning", &e).to_string(),
                "versioning of",
            ));
            false
        }
    };
    let lifecycle = lifecycle(s3, &b.name).await;
    let replicated = match s3.get_bucket_replication().bucket(&b.name).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let code = lifeboat_shared::aws::errors::code(&e);
            if code == "ReplicationConfigurationNotFoundError" {
                Ok(false)
            } else {
                Err(AwsError::new("GetBucketReplication", &e).to_string())
            }
        }
    };
    // The breakdown: an inventory report, else a listing of a small bucket.
    let ages = Ages {
        at: now,
        standard_after: Duration::days(policy.cost.savings.standard_after_days as i64),
        day,
    };
    let report = policy.cost.inventories.iter().find(|i| i.bucket == b.name);
    let mut breakdown_error = None;
    let breakdown = if let Some(inv) = report {
        let want = InventoryReport {
            source_bucket: inv.bucket.clone(),
            destination_bucket: inv.destination_bucket.clone(),
            destination_prefix: inv.destination_prefix.clone(),
            config_id: inv.config_id.clone(),
            max_age: inv.max_age.0,
        };
        let dest = clients.s3.get(&b.region).unwrap_or(s3);
        match s3_objects::inventory(dest, &want, ages, now).await {
            Ok(read) => {
                r.calls.s3_get += read.requests;
                r.sources.push(format!(
                    "s3://{}: S3 Inventory report of {} ({} objects in {} files)",
                    b.name,
                    read.report_date.format("%Y-%m-%d %H:%M UTC"),
                    read.rows,
                    read.files
                ));
                Some(read.breakdown)
            }
            Err(e) => {
                r.usage.gaps.extend(breakdown_gaps(
                    policy,
                    b,
                    "S3 Inventory report for",
                    &e.error,
                ));
                breakdown_error = Some(format!("S3 Inventory report: {}", e.error));
                None
            }
        }
    } else if objects.is_none_or(|n| n <= policy.cost.list_up_to as f64) {
        match s3_objects::listing(s3, &b.name, versioned, ages).await {
            Ok(read) => {
                r.calls.s3_list += read.requests;
                r.sources.push(format!(
                    "s3://{}: listed ({} {} in {} requests)",
                    b.name,
                    read.breakdown.read,
                    if versioned { "versions" } else { "objects" },
                    read.requests
                ));
                Some(read.breakdown)
            }
            Err(e) => {
                r.usage
                    .gaps
                    .extend(breakdown_gaps(policy, b, "listing of", &e.error));
                breakdown_error = Some(format!("listing: {}", e.error));
                None
            }
        }
    } else {
        r.sources.push(format!(
            "s3://{}: {:.0} objects: CloudWatch by class only (name an S3 Inventory report in cost.inventories to break it down by component)",
            b.name,
            objects.unwrap_or_default()
        ));
        None
    };
    // Uploads.
    let uploads =
        match s3_objects::multipart_uploads(s3, &b.name, policy.cost.size_uploads_up_to, now).await
        {
            Ok(u) => {
                r.calls.s3_list += u.requests;
                Some(u)
            }
            Err(e) => {
                r.usage
                    .gaps
                    .push(gap(e.error.clone(), "multipart uploads of"));
                None
            }
        };
    let mut group_map = BTreeMap::new();
    match &breakdown {
        Some(bd) => {
            group_map = groups(policy, bd, &b.component);
            for (items, map) in [
                (Item::Objects, &bd.current),
                (Item::NoncurrentVersions, &bd.noncurrent),
            ] {
                for (g, classes) in map {
                    for (class, t) in classes {
                        r.usage.uses.push(Use::S3 {
                            component: group_map[g].clone(),
                            region: b.region.clone(),
                            bucket: b.name.clone(),
                            item: items,
                            class: Class::of_s3(class).unwrap_or(Class::Standard),
                            gb: t.gb(),
                            objects: t.objects,
                        });
                    }
                }
            }
            match &replicated {
                Ok(true) => {
                    for (g, t) in &bd.written_on_day {
                        r.usage.uses.push(Use::Transfer {
                            component: group_map[g].clone(),
                            region: b.region.clone(),
                            item: Item::ReplicationTransfer,
                            gb: t.gb(),
                            ids: Vec::new(),
                        });
                    }
                }
                Ok(false) => {}
                Err(e) => r.usage.gaps.push(gap(e.clone(), "replication of")),
            }
        }
        None => match &cw {
            Ok(v) if measured => {
                for (i, (_, class)) in STORAGE_TYPES.iter().enumerate() {
                    if let Some(bytes) = v.get(&format!("s{i}")) {
                        r.usage.uses.push(Use::S3 {
                            component: b.component.clone(),
                            region: b.region.clone(),
                            bucket: b.name.clone(),
                            item: Item::Objects,
                            class: *class,
                            gb: bytes / GB,
                            objects: 0,
                        });
                    }
                }
                if replicated == Ok(true) {
                    r.usage.gaps.push(gap(
                        "bytes written on the day are known only from a listing or an inventory report".into(),
                        "replication transfer of",
                    ));
                }
            }
            Ok(_) => r.usage.gaps.push(gap(
                format!("no BucketSizeBytes datapoint for {day} and no breakdown"),
                "CloudWatch AWS/S3 for",
            )),
            Err(e) => r.usage.gaps.push(gap(e.clone(), "CloudWatch AWS/S3 for")),
        },
    }
    if let Some(u) = &uploads {
        let bytes: u64 = u.uploads.iter().filter_map(|x| x.bytes).sum();
        if bytes > 0 {
            r.usage.uses.push(Use::S3 {
                component: b.component.clone(),
                region: b.region.clone(),
                bucket: b.name.clone(),
                item: Item::IncompleteUploads,
                class: Class::Standard,
                gb: bytes as f64 / GB,
                objects: u.uploads.iter().filter(|x| x.bytes.is_some()).count() as u64,
            });
        }
    }
    r.facts.buckets.push(BucketFact {
        name: b.name.clone(),
        region: b.region.clone(),
        versioned,
        lifecycle,
        breakdown,
        breakdown_error,
        uploads: uploads.map(|u| {
            let sized: u64 = u.uploads.iter().filter_map(|x| x.bytes).sum();
            (u.uploads.len(), sized, u.not_sized)
        }),
        groups: group_map,
    });
}

/// A bucket whose breakdown failed: any component may keep backups in it (exports under
/// `backups/<kind>/<source>/`), so every component's figure is without data — never a fall
/// that looks like savings.
fn breakdown_gaps(policy: &Policy, b: &Bucket, source: &str, error: &str) -> Vec<Gap> {
    policy
        .components
        .iter()
        .map(|c| c.name.clone())
        .chain([OUTSIDE.to_string(), b.component.clone()])
        .map(|component| Gap {
            component,
            source: format!("{source} s3://{}", b.name),
            error: error.to_string(),
        })
        .collect()
}

/// What a bucket's lifecycle rules do; no configuration is no rules.
async fn lifecycle(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Lifecycle, String> {
    match s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => {
            let mut l = Lifecycle {
                rules: out.rules().len(),
                ..Lifecycle::default()
            };
            for rule in out.rules() {
                if rule.status().as_str() != "Enabled" {
                    continue;
                }
                for t in rule.transitions() {
                    if let Some(days) = t.days() {
                        let days = days.max(0) as u32;
                        if l.transition.as_ref().is_none_or(|(d, _, _)| days < *d) {
                            l.transition = Some((
                                days,
                                rule.id().unwrap_or_default().to_string(),
                                t.storage_class()
                                    .map(|c| c.as_str().to_string())
                                    .unwrap_or_default(),
                            ));
                        }
                    }
                }
                l.noncurrent_expiry |= rule.noncurrent_version_expiration().is_some();
                l.abort_uploads |= rule.abort_incomplete_multipart_upload().is_some();
            }
            Ok(l)
        }
        Err(e) => {
            if lifeboat_shared::aws::errors::code(&e) == "NoSuchLifecycleConfiguration" {
                Ok(Lifecycle::default())
            } else {
                Err(AwsError::new("GetBucketLifecycleConfiguration", &e).to_string())
            }
        }
    }
}

/// Services whose usage bills backup storage or its transfer.
pub const CE_SERVICES: [&str; 4] = [
    "Amazon Relational Database Service",
    "Amazon ElastiCache",
    "Amazon Simple Storage Service",
    "AWS Backup",
];

/// Cost Explorer's daily cost for `[from, to)`, grouped by usage type and the component tag.
pub async fn cost_and_usage(
    ce: &aws_sdk_costexplorer::Client,
    tag_key: &str,
    from: NaiveDate,
    to: NaiveDate,
    calls: &mut Calls,
) -> Result<Vec<Actual>, String> {
    use aws_sdk_costexplorer::types::{
        DateInterval, DimensionValues, Expression, Granularity, GroupDefinition,
        GroupDefinitionType,
    };
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        calls.cost_explorer += 1;
        let page = ce
            .get_cost_and_usage()
            .time_period(
                DateInterval::builder()
                    .start(from.format("%Y-%m-%d").to_string())
                    .end(to.format("%Y-%m-%d").to_string())
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .granularity(Granularity::Daily)
            .metrics("UnblendedCost")
            .metrics("UsageQuantity")
            .filter(
                Expression::builder()
                    .dimensions(
                        DimensionValues::builder()
                            .key(aws_sdk_costexplorer::types::Dimension::Service)
                            .set_values(Some(CE_SERVICES.iter().map(|s| s.to_string()).collect()))
                            .build(),
                    )
                    .build(),
            )
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Dimension)
                    .key("USAGE_TYPE")
                    .build(),
            )
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Tag)
                    .key(tag_key)
                    .build(),
            )
            .set_next_page_token(token)
            .send()
            .await
            .map_err(|e| AwsError::new("GetCostAndUsage", &e).to_string())?;
        for t in page.results_by_time() {
            let Some(date) = t
                .time_period()
                .and_then(|p| NaiveDate::parse_from_str(p.start(), "%Y-%m-%d").ok())
            else {
                continue;
            };
            for g in t.groups() {
                let keys = g.keys();
                let usage_type = keys.first().cloned().unwrap_or_default();
                // a tag group key is "<key>$<value>"; "<key>$" is untagged
                let component = keys
                    .get(1)
                    .and_then(|k| k.split_once('$'))
                    .map(|(_, v)| v.to_string())
                    .filter(|v| !v.is_empty());
                let amount = |m: &str| {
                    g.metrics()
                        .and_then(|ms| ms.get(m))
                        .and_then(|v| v.amount())
                        .and_then(|a| a.parse::<f64>().ok())
                };
                let Some(usd) = amount("UnblendedCost") else {
                    return Err(format!(
                        "GetCostAndUsage: a group for {date} without UnblendedCost ({usage_type})"
                    ));
                };
                out.push(Actual {
                    date,
                    usage_type,
                    component,
                    usd,
                    quantity: amount("UsageQuantity").unwrap_or(0.0),
                });
            }
        }
        token = page.next_page_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}
