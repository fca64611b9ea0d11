//! RDS and Aurora: DB instances, DB clusters, Aurora global databases, DB snapshots and DB
//! cluster snapshots as plain records, every list read to its last page; RDS tag lists both ways.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;

use super::errors::{not_found, AwsError};
use crate::aws_time as time;
use crate::backup::Snapshot;
use crate::policy::ResourceKind;

/// An RDS DB instance (also an Aurora cluster member).
#[derive(Debug, Clone, PartialEq)]
pub struct DbInstance {
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub status: String,
    pub encrypted: bool,
    /// The Aurora cluster it belongs to.
    pub cluster_id: Option<String>,
    /// Address and port, once AWS reports both.
    pub endpoint: Option<(String, u16)>,
    pub tags: BTreeMap<String, String>,
    /// For a read replica: its source (an id in the same region, an ARN across regions).
    pub replica_source: Option<String>,
    /// Its read replicas (ids, or ARNs for those in other regions).
    pub replicas: Vec<String>,
    /// The read replication status info (`StatusInfos` of type `read replication`): status
    /// (`replicating`, `error`, `stopped`, `terminated`), normal, and AWS's message.
    pub replication: Option<(String, bool, Option<String>)>,
    /// The latest time point-in-time recovery can restore to.
    pub latest_restorable: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Provisioned storage in GiB (`AllocatedStorage`; RDS backup storage is free up to the
    /// region's total of it).
    pub allocated_gb: Option<i64>,
    /// Days automated backups are kept (`BackupRetentionPeriod`).
    pub backup_retention_days: Option<i32>,
}

/// An RDS DB cluster (Aurora; Neptune and DocumentDB share the API).
#[derive(Debug, Clone, PartialEq)]
pub struct DbCluster {
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub status: String,
    pub encrypted: bool,
    /// The writer endpoint and port, once AWS reports both.
    pub endpoint: Option<(String, u16)>,
    /// Instance ids of the members.
    pub members: Vec<String>,
    /// Instance ids of the readers (members that are not the writer).
    pub readers: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// The latest time point-in-time recovery can restore to.
    pub latest_restorable: Option<chrono::DateTime<chrono::Utc>>,
    /// The global database it belongs to, if any.
    pub global_cluster: Option<String>,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An Aurora global database: its status and its member clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalCluster {
    pub id: String,
    /// As RDS reports it (`available` when healthy).
    pub status: String,
    pub members: Vec<GlobalMember>,
}

/// A member cluster of an Aurora global database.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalMember {
    /// The member's DB cluster ARN (its region and its identifier).
    pub cluster_arn: String,
    /// The primary cluster (read-write); the others are secondaries.
    pub writer: bool,
    /// For the writer: the ARNs of its secondary clusters.
    pub readers: Vec<String>,
    /// `connected` or `pending-resync`, when RDS reports it.
    pub synchronization: Option<String>,
}

impl GlobalCluster {
    /// `None` for a global cluster without an identifier.
    pub fn from_sdk(g: &aws_sdk_rds::types::GlobalCluster) -> Option<GlobalCluster> {
        Some(GlobalCluster {
            id: g.global_cluster_identifier()?.to_string(),
            status: g.status().unwrap_or_default().to_string(),
            members: g
                .global_cluster_members()
                .iter()
                .filter_map(|m| {
                    Some(GlobalMember {
                        cluster_arn: m.db_cluster_arn()?.to_string(),
                        writer: m.is_writer().unwrap_or(false),
                        readers: m.readers().to_vec(),
                        synchronization: m.synchronization_status().map(|s| s.as_str().to_string()),
                    })
                })
                .collect(),
        })
    }
}

/// Which snapshots a snapshot read returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotFilter<'a> {
    /// Only those of this DB instance or cluster.
    pub of: Option<&'a str>,
    /// Only manual snapshots (automated ones are left out by AWS).
    pub manual_only: bool,
}

/// RDS tags as a map (a tag without a key is dropped, one without a value is empty).
pub fn tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// A tag map as RDS takes it.
pub fn tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

impl DbInstance {
    /// `None` for an instance without an identifier.
    pub fn from_sdk(i: &aws_sdk_rds::types::DbInstance) -> Option<DbInstance> {
        Some(DbInstance {
            id: i.db_instance_identifier()?.to_string(),
            arn: i.db_instance_arn().unwrap_or_default().to_string(),
            engine: i.engine().unwrap_or_default().to_string(),
            engine_version: i.engine_version().map(str::to_string),
            status: i.db_instance_status().unwrap_or_default().to_string(),
            encrypted: i.storage_encrypted().unwrap_or(false),
            cluster_id: i.db_cluster_identifier().map(str::to_string),
            endpoint: i
                .endpoint()
                .and_then(|e| Some((e.address()?.to_string(), e.port()? as u16))),
            tags: tags(i.tag_list()),
            replica_source: i
                .read_replica_source_db_instance_identifier()
                .map(str::to_string),
            replicas: i.read_replica_db_instance_identifiers().to_vec(),
            replication: i
                .status_infos()
                .iter()
                .find(|s| s.status_type() == Some("read replication"))
                .map(|s| {
                    (
                        s.status().unwrap_or_default().to_string(),
                        s.normal().unwrap_or(false),
                        s.message().map(str::to_string),
                    )
                }),
            latest_restorable: time(i.latest_restorable_time()),
            created_at: time(i.instance_create_time()),
            allocated_gb: i.allocated_storage().map(i64::from),
            backup_retention_days: i.backup_retention_period(),
        })
    }
}

impl DbCluster {
    /// `None` for a cluster without an identifier.
    pub fn from_sdk(c: &aws_sdk_rds::types::DbCluster) -> Option<DbCluster> {
        Some(DbCluster {
            id: c.db_cluster_identifier()?.to_string(),
            arn: c.db_cluster_arn().unwrap_or_default().to_string(),
            engine: c.engine().unwrap_or_default().to_string(),
            engine_version: c.engine_version().map(str::to_string),
            status: c.status().unwrap_or_default().to_string(),
            encrypted: c.storage_encrypted().unwrap_or(false),
            endpoint: c
                .endpoint()
                .zip(c.port())
                .map(|(h, p)| (h.to_string(), p as u16)),
            members: c
                .db_cluster_members()
                .iter()
                .filter_map(|m| m.db_instance_identifier().map(str::to_string))
                .collect(),
            readers: c
                .db_cluster_members()
                .iter()
                .filter(|m| m.is_cluster_writer() == Some(false))
                .filter_map(|m| m.db_instance_identifier().map(str::to_string))
                .collect(),
            tags: tags(c.tag_list()),
            latest_restorable: time(c.latest_restorable_time()),
            global_cluster: c.global_cluster_identifier().map(str::to_string),
            created_at: time(c.cluster_create_time()),
        })
    }
}

/// Every DB instance in the client's region.
pub async fn instances(rds: &Client) -> Result<Vec<DbInstance>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeDBInstances", &e))?;
        out.extend(page.db_instances().iter().filter_map(DbInstance::from_sdk));
    }
    Ok(out)
}

/// Every DB cluster in the client's region.
pub async fn clusters(rds: &Client) -> Result<Vec<DbCluster>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeDBClusters", &e))?;
        out.extend(page.db_clusters().iter().filter_map(DbCluster::from_sdk));
    }
    Ok(out)
}

/// Every Aurora global database of the account (global clusters are seen from any region).
pub async fn global_clusters(rds: &Client) -> Result<Vec<GlobalCluster>, AwsError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_global_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeGlobalClusters", &e))?;
        out.extend(
            page.global_clusters()
                .iter()
                .filter_map(GlobalCluster::from_sdk),
        );
    }
    Ok(out)
}

/// One DB instance; `None` when there is none of that name.
pub async fn find_instance(rds: &Client, id: &str) -> Result<Option<DbInstance>, AwsError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_instances().iter().find_map(DbInstance::from_sdk)),
        Err(e) => {
            let e = AwsError::new("DescribeDBInstances", &e);
            if not_found(&e.code) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// One DB cluster; `None` when there is none of that name.
pub async fn find_cluster(rds: &Client, id: &str) -> Result<Option<DbCluster>, AwsError> {
    match rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_clusters().iter().find_map(DbCluster::from_sdk)),
        Err(e) => {
            let e = AwsError::new("DescribeDBClusters", &e);
            if not_found(&e.code) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// DB (instance) snapshots in `region` (the client's).
pub async fn db_snapshots(
    rds: &Client,
    region: &str,
    filter: SnapshotFilter<'_>,
) -> Result<Vec<Snapshot>, AwsError> {
    let mut req = rds
        .describe_db_snapshots()
        .set_db_instance_identifier(filter.of.map(str::to_string));
    if filter.manual_only {
        req = req.snapshot_type("manual");
    }
    let mut out = Vec::new();
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeDBSnapshots", &e))?;
        for s in page.db_snapshots() {
            let Some(id) = s.db_snapshot_identifier() else {
                continue;
            };
            out.push(Snapshot {
                kind: ResourceKind::RdsInstance,
                id: id.to_string(),
                arn: s.db_snapshot_arn().unwrap_or_default().to_string(),
                // Set for cross-region and cross-account copies, as the source's ARN.
                source_snapshot_arn: s
                    .source_db_snapshot_identifier()
                    .filter(|a| a.starts_with("arn:"))
                    .map(str::to_string),
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
                tags: tags(s.tag_list()),
            });
        }
    }
    Ok(out)
}

/// DB cluster snapshots in `region` (the client's).
pub async fn cluster_snapshots(
    rds: &Client,
    region: &str,
    filter: SnapshotFilter<'_>,
) -> Result<Vec<Snapshot>, AwsError> {
    let mut req = rds
        .describe_db_cluster_snapshots()
        .set_db_cluster_identifier(filter.of.map(str::to_string));
    if filter.manual_only {
        req = req.snapshot_type("manual");
    }
    let mut out = Vec::new();
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeDBClusterSnapshots", &e))?;
        for s in page.db_cluster_snapshots() {
            let Some(id) = s.db_cluster_snapshot_identifier() else {
                continue;
            };
            out.push(Snapshot {
                kind: ResourceKind::AuroraCluster,
                id: id.to_string(),
                arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_string(),
                source_snapshot_arn: s.source_db_cluster_snapshot_arn().map(str::to_string),
                source_id: s.db_cluster_identifier().unwrap_or_default().to_string(),
                region: region.to_string(),
                created_at: time(s.snapshot_create_time()),
                status: s.status().unwrap_or_default().to_string(),
                manual: s.snapshot_type() == Some("manual"),
                encrypted: s.storage_encrypted().unwrap_or(false),
                kms_key_id: s.kms_key_id().map(str::to_string),
                size_gb: s.allocated_storage().map(i64::from),
                engine: s.engine().map(str::to_string),
                tags: tags(s.tag_list()),
            });
        }
    }
    date_same_region_copies(&mut out, region);
    Ok(out)
}

/// A cluster snapshot's SnapshotCreateTime is when it was made, and a copy is made when it is
/// copied: unlike DB snapshots (`OriginalSnapshotCreateTime`), RDS gives a cluster snapshot copy
/// no time of its data, only `SourceDBClusterSnapshotArn`. A same-region copy of an old snapshot
/// would look fresh. So a copy whose source is in the same region is dated by its source in the
/// same listing (a copy shares its source's DBClusterIdentifier), through chains of copies; a
/// copy whose source is gone has no known time (`None`: never counted as a fresh backup).
/// Copies from another region (DR copies) keep their own time: they are dated by their
/// `lifeboat:period` tag where it matters ([`Snapshot::time`]).
fn date_same_region_copies(snaps: &mut [Snapshot], region: &str) {
    let by_arn: BTreeMap<String, (Option<String>, Option<DateTime>)> = snaps
        .iter()
        .map(|s| (s.arn.clone(), (s.source_snapshot_arn.clone(), s.created_at)))
        .collect();
    let same_region = |arn: &str| arn.split(':').nth(3) == Some(region);
    for s in snaps.iter_mut() {
        // (a snapshot naming itself as its source is not a copy)
        let mut source = match &s.source_snapshot_arn {
            Some(a) if same_region(a) && *a != s.arn => a.clone(),
            _ => continue,
        };
        let mut at = None;
        // (bounded: a listing cannot hold a longer chain; a loop would otherwise never end)
        for _ in 0..=by_arn.len() {
            match by_arn.get(&source) {
                Some((Some(next), _)) if same_region(next) => source = next.clone(),
                Some((_, t)) => {
                    at = *t;
                    break;
                }
                None => break,
            }
        }
        s.created_at = at;
    }
}

type DateTime = chrono::DateTime<chrono::Utc>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aws::test_page;
    use aws_sdk_rds::operation as op;
    use aws_sdk_rds::types;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    /// 2026-11-21T00:00:00Z plus `minutes`.
    fn at(minutes: usize) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(1_795_219_200 + 60 * minutes as i64)
    }

    fn tag(k: &str, v: &str) -> types::Tag {
        types::Tag::builder().key(k).value(v).build()
    }

    #[tokio::test]
    async fn db_snapshots_are_read_to_the_last_page_where_the_newest_is() {
        // Given 250 snapshots of one instance, 100 to a page as AWS pages them, oldest first:
        // the newest is on the third page
        let rule = mock!(Client::describe_db_snapshots)
            .match_requests(|r| r.db_instance_identifier() == Some("orders"))
            .then_compute_output(|r| {
                let (items, next) = test_page(250, 100, r.marker());
                op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
                    .set_db_snapshots(Some(
                        items
                            .map(|i| {
                                types::DbSnapshot::builder()
                                    .db_snapshot_identifier(format!("lifeboat-orders-{i:03}"))
                                    .db_instance_identifier("orders")
                                    .snapshot_create_time(at(i))
                                    .status("available")
                                    .snapshot_type("manual")
                                    .tag_list(tag("lifeboat:managed", "true"))
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_marker(next)
                    .build()
            });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        // When they are read
        let filter = SnapshotFilter {
            of: Some("orders"),
            manual_only: false,
        };
        let snaps = db_snapshots(&rds, "us-east-1", filter).await.unwrap();
        // Then every page was asked for, and the newest is there, converted
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(snaps.len(), 250);
        let newest = snaps.iter().max_by_key(|s| s.created_at).unwrap();
        assert_eq!(newest.id, "lifeboat-orders-249");
        assert_eq!(newest.created_at, crate::aws_time(Some(&at(249))));
        assert!(newest.managed() && newest.available());
        assert_eq!(
            (
                newest.kind,
                newest.region.as_str(),
                newest.source_id.as_str()
            ),
            (ResourceKind::RdsInstance, "us-east-1", "orders")
        );
    }

    #[tokio::test]
    async fn a_copy_is_dated_by_its_original() {
        // Given a DR copy made long after the snapshot it copies
        let rule = mock!(Client::describe_db_snapshots)
            .match_requests(|r| r.snapshot_type() == Some("manual"))
            .then_output(|| {
                op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
                    .db_snapshots(
                        types::DbSnapshot::builder()
                            .db_snapshot_identifier("lifeboat-orders-20261121-0000")
                            .snapshot_create_time(at(600))
                            .original_snapshot_create_time(at(4))
                            .source_db_snapshot_identifier(
                                "arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-orders-20261121-0000",
                            )
                            .snapshot_type("manual")
                            .build(),
                    )
                    .build()
            });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        // When the DR region's manual snapshots are read
        let filter = SnapshotFilter {
            of: None,
            manual_only: true,
        };
        let snaps = db_snapshots(&rds, "us-west-2", filter).await.unwrap();
        // Then its time is the original's, and the snapshot it was copied from is recorded
        assert_eq!(snaps[0].created_at, crate::aws_time(Some(&at(4))));
        assert_eq!(snaps[0].region, "us-west-2");
        assert_eq!(
            snaps[0].source_snapshot_arn.as_deref(),
            Some("arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-orders-20261121-0000")
        );
    }

    #[tokio::test]
    async fn cluster_snapshots_are_read_to_the_last_page() {
        // Given 3 pages of cluster snapshots, the newest on the last
        let rule = mock!(Client::describe_db_cluster_snapshots).then_compute_output(|r| {
            let (items, next) = test_page(7, 3, r.marker());
            op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
                .set_db_cluster_snapshots(Some(
                    items
                        .map(|i| {
                            types::DbClusterSnapshot::builder()
                                .db_cluster_snapshot_identifier(format!("catalog-{i}"))
                                .db_cluster_identifier("catalog")
                                .snapshot_create_time(at(i))
                                .status("available")
                                .snapshot_type("automated")
                                .build()
                        })
                        .collect(),
                ))
                .set_marker(next)
                .build()
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        // When they are read
        let snaps = cluster_snapshots(&rds, "us-east-1", SnapshotFilter::default())
            .await
            .unwrap();
        // Then all 7 are there, the newest last, none manual
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(snaps.len(), 7);
        let newest = snaps.iter().max_by_key(|s| s.created_at).unwrap();
        assert_eq!(newest.id, "catalog-6");
        assert!(snaps
            .iter()
            .all(|s| s.kind == ResourceKind::AuroraCluster && !s.manual));
    }

    #[tokio::test]
    async fn a_same_region_cluster_snapshot_copy_is_dated_by_its_source() {
        // Given an old cluster snapshot, its same-region copy made 1000 min later, a copy whose
        // source is gone, and a copy from another region (a DR copy: dated by its tag elsewhere)
        let arn = |region: &str, id: &str| {
            format!("arn:aws:rds:{region}:123456789012:cluster-snapshot:{id}")
        };
        let snap = |id: &str, minutes: usize, source: Option<String>| {
            types::DbClusterSnapshot::builder()
                .db_cluster_snapshot_identifier(id)
                .db_cluster_snapshot_arn(arn("us-east-1", id))
                .db_cluster_identifier("catalog")
                .snapshot_create_time(at(minutes))
                .set_source_db_cluster_snapshot_arn(source)
                .status("available")
                .snapshot_type("manual")
                .build()
        };
        let listing = vec![
            snap("catalog-old", 0, None),
            snap("catalog-copy", 1000, Some(arn("us-east-1", "catalog-old"))),
            snap(
                "catalog-copy-of-copy",
                1500,
                Some(arn("us-east-1", "catalog-copy")),
            ),
            snap(
                "catalog-orphan",
                2000,
                Some(arn("us-east-1", "catalog-gone")),
            ),
            snap(
                "catalog-from-eu",
                3000,
                Some(arn("eu-west-1", "catalog-eu")),
            ),
        ];
        let rule = mock!(Client::describe_db_cluster_snapshots).then_output(move || {
            op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
                .set_db_cluster_snapshots(Some(listing.clone()))
                .build()
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        // When they are read
        let snaps = cluster_snapshots(&rds, "us-east-1", SnapshotFilter::default())
            .await
            .unwrap();
        let time = |id: &str| snaps.iter().find(|s| s.id == id).unwrap().created_at;
        // Then a same-region copy carries its source's time (through a chain of copies); one
        // whose source is gone has no known time (never the copy's: it would look fresh)
        assert_eq!(time("catalog-copy"), crate::aws_time(Some(&at(0))));
        assert_eq!(time("catalog-copy-of-copy"), crate::aws_time(Some(&at(0))));
        assert_eq!(time("catalog-orphan"), None);
        assert_eq!(time("catalog-from-eu"), crate::aws_time(Some(&at(3000))));
        assert_eq!(time("catalog-old"), crate::aws_time(Some(&at(0))));
    }

    #[tokio::test]
    async fn instances_and_clusters_are_read_to_the_last_page() {
        // Given 3 pages of DB instances and 3 pages of clusters
        let instances = mock!(Client::describe_db_instances).then_compute_output(|r| {
            let (items, next) = test_page(5, 2, r.marker());
            op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .set_db_instances(Some(
                    items
                        .map(|i| {
                            types::DbInstance::builder()
                                .db_instance_identifier(format!("db-{i}"))
                                .db_instance_arn(format!("arn:aws:rds:us-east-1:1:db:db-{i}"))
                                .engine("postgres")
                                .db_instance_status("available")
                                .endpoint(
                                    types::Endpoint::builder()
                                        .address(format!("db-{i}.example"))
                                        .port(5432)
                                        .build(),
                                )
                                .tag_list(tag("team", "orders"))
                                .build()
                        })
                        .collect(),
                ))
                .set_marker(next)
                .build()
        });
        let clusters = mock!(Client::describe_db_clusters).then_compute_output(|r| {
            let (items, next) = test_page(3, 1, r.marker());
            op::describe_db_clusters::DescribeDbClustersOutput::builder()
                .set_db_clusters(Some(
                    items
                        .map(|i| {
                            types::DbCluster::builder()
                                .db_cluster_identifier(format!("cl-{i}"))
                                .engine("aurora-postgresql")
                                .status("available")
                                .endpoint(format!("cl-{i}.example"))
                                .port(5432)
                                .db_cluster_members(
                                    types::DbClusterMember::builder()
                                        .db_instance_identifier(format!("cl-{i}-a"))
                                        .build(),
                                )
                                .build()
                        })
                        .collect(),
                ))
                .set_marker(next)
                .build()
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&instances, &clusters]);
        // When both are read
        let dbs = super::instances(&rds).await.unwrap();
        let cls = super::clusters(&rds).await.unwrap();
        // Then every page was read and converted
        assert_eq!((instances.num_calls(), clusters.num_calls()), (3, 3));
        let ids: Vec<&str> = dbs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["db-0", "db-1", "db-2", "db-3", "db-4"]);
        assert_eq!(dbs[4].endpoint, Some(("db-4.example".into(), 5432)));
        assert_eq!(dbs[4].tags.get("team").map(String::as_str), Some("orders"));
        assert_eq!(cls.len(), 3);
        assert_eq!(cls[2].endpoint, Some(("cl-2.example".into(), 5432)));
        assert_eq!(cls[2].members, ["cl-2-a"]);
    }

    #[tokio::test]
    async fn an_instance_or_cluster_not_found_is_absent() {
        // Given describes answered "not found" (both spellings of the instance's code), and one
        // answered with another error
        let gone = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("gone"))
            .then_error(|| {
                op::describe_db_instances::DescribeDBInstancesError::DbInstanceNotFoundFault(
                    types::error::DbInstanceNotFoundFault::builder()
                        .meta(ErrorMetadata::builder().code("DBInstanceNotFound").build())
                        .build(),
                )
            });
        let gone_fault = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("gone-too"))
            .then_error(|| {
                op::describe_db_instances::DescribeDBInstancesError::generic(
                    ErrorMetadata::builder()
                        .code("DBInstanceNotFoundFault")
                        .build(),
                )
            });
        let denied = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("secret"))
            .then_error(|| {
                op::describe_db_instances::DescribeDBInstancesError::generic(
                    ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message("not authorized")
                        .build(),
                )
            });
        let no_cluster = mock!(Client::describe_db_clusters).then_error(|| {
            op::describe_db_clusters::DescribeDBClustersError::DbClusterNotFoundFault(
                types::error::DbClusterNotFoundFault::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("DBClusterNotFoundFault")
                            .build(),
                    )
                    .build(),
            )
        });
        let rds = mock_client!(
            aws_sdk_rds,
            RuleMode::MatchAny,
            [&gone, &gone_fault, &denied, &no_cluster]
        );
        // Then "not found" is absent, anything else an error with its code
        assert_eq!(find_instance(&rds, "gone").await, Ok(None));
        assert_eq!(find_instance(&rds, "gone-too").await, Ok(None));
        assert_eq!(find_cluster(&rds, "gone").await, Ok(None));
        let e = find_instance(&rds, "secret").await.unwrap_err();
        assert_eq!(
            e.about("secret"),
            "DescribeDBInstances secret: AccessDenied: not authorized"
        );
    }

    #[tokio::test]
    async fn global_clusters_are_read_to_the_last_page_with_their_members() {
        // Given 3 global databases, 2 to a page (a marker to the second page), each a writer in
        // us-east-1 and a secondary in us-west-2
        let rule = mock!(Client::describe_global_clusters).then_compute_output(|r| {
            let (items, next) = test_page(3, 2, r.marker());
            op::describe_global_clusters::DescribeGlobalClustersOutput::builder()
                .set_global_clusters(Some(
                    items
                        .map(|i| {
                            let dr = format!("arn:aws:rds:us-west-2:1:cluster:catalog-{i}-dr");
                            types::GlobalCluster::builder()
                                .global_cluster_identifier(format!("catalog-{i}-global"))
                                .status("available")
                                .global_cluster_members(
                                    types::GlobalClusterMember::builder()
                                        .db_cluster_arn(format!(
                                            "arn:aws:rds:us-east-1:1:cluster:catalog-{i}"
                                        ))
                                        .is_writer(true)
                                        .readers(&dr)
                                        .build(),
                                )
                                .global_cluster_members(
                                    types::GlobalClusterMember::builder()
                                        .db_cluster_arn(&dr)
                                        .is_writer(false)
                                        .synchronization_status(
                                            types::GlobalClusterMemberSynchronizationStatus::PendingResync,
                                        )
                                        .build(),
                                )
                                .build()
                        })
                        .collect(),
                ))
                .set_marker(next)
                .build()
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        // When they are read
        let globals = global_clusters(&rds).await.unwrap();
        // Then both pages were asked for, and each member is converted
        assert_eq!(rule.num_calls(), 2);
        let ids: Vec<&str> = globals.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(
            ids,
            ["catalog-0-global", "catalog-1-global", "catalog-2-global"]
        );
        let g = &globals[2];
        assert_eq!(g.status, "available");
        assert_eq!(
            g.members[0],
            GlobalMember {
                cluster_arn: "arn:aws:rds:us-east-1:1:cluster:catalog-2".into(),
                writer: true,
                readers: vec!["arn:aws:rds:us-west-2:1:cluster:catalog-2-dr".into()],
                synchronization: None,
            }
        );
        assert!(!g.members[1].writer);
        assert_eq!(
            g.members[1].synchronization.as_deref(),
            Some("pending-resync")
        );
    }

    #[tokio::test]
    async fn a_global_cluster_read_that_fails_is_an_error_with_its_code() {
        // Given DescribeGlobalClusters denied
        let denied = mock!(Client::describe_global_clusters).then_error(|| {
            op::describe_global_clusters::DescribeGlobalClustersError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized to perform: rds:DescribeGlobalClusters")
                    .build(),
            )
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&denied]);
        // Then the read is an error naming the operation and the code, never an empty list
        let e = global_clusters(&rds).await.unwrap_err();
        assert_eq!(e.operation, "DescribeGlobalClusters");
        assert_eq!(
            e.to_string(),
            "AccessDenied: not authorized to perform: rds:DescribeGlobalClusters"
        );
    }

    #[test]
    fn tags_convert_both_ways() {
        // Given a tag map
        let map = BTreeMap::from([
            ("lifeboat:managed".to_string(), "true".to_string()),
            ("empty".to_string(), String::new()),
        ]);
        // Then it survives the trip through RDS's tag list, and a key-less tag is dropped
        let mut list = tag_list(&map);
        assert_eq!(tags(&list), map);
        list.push(types::Tag::builder().value("orphan").build());
        assert_eq!(tags(&list), map);
    }
}
