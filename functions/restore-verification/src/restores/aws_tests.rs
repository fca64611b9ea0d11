//! Restores' AWS calls under `aws-smithy-mocks`: every page read, every error code that counts
//! as done, and the ones that do not.
#![allow(clippy::unwrap_used)]
use super::execute::*;
use super::inventory::*;
use super::plan::*;
use lifeboat_shared::policy::{BackupSource, Policy, ResourceKind};
use std::collections::BTreeMap;

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
    super::plan::select(
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
    let found = candidates(&c, &policy()).await;
    let cands = found.by_component;
    // Then every page was read, and the latest of each is the one on its last page
    assert!(found.unread.is_empty(), "{:?}", found.unread);
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
        remove(
            &c,
            &temp(TempKind::DbInstance, "lifeboat-verify-deny0001", &[])
        )
        .await,
        Err(
            "DeleteDBInstance lifeboat-verify-deny0001: AccessDenied: AccessDenied (mocked reply)"
                .into()
        )
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
