//! The AWS APIs moto 5.2.5 lacks, with aws-smithy-mocks and responses shaped like AWS's:
//! - RDS export progress and failure (moto completes every export at once and never fails one),
//! - RDS DescribeAccountAttributes (moto answers HTTP 500),
//! - ElastiCache CopySnapshot to an S3 bucket, the Redis export (moto answers HTTP 500), and
//!   ElastiCache snapshot creation times (moto leaves NodeSnapshots out).
// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use aws_sdk_elasticache::operation as ec_op;
use aws_sdk_rds::operation as rds_op;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Utc};
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Outcome, Severity};
use snapshot_export::execute;
use snapshot_export::inventory::{self, Clients};
use snapshot_export::plan::{self, Scope};

const NOW: &str = "2026-11-21T03:00:00Z";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn sdk_time(s: &str) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t(s).timestamp())
}

fn rds_tag(k: &str, v: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(k).value(v).build()
}

fn ec_tag(k: &str, v: &str) -> aws_sdk_elasticache::types::Tag {
    aws_sdk_elasticache::types::Tag::builder()
        .key(k)
        .value(v)
        .build()
}

const POLICY: &str = r#"
version: 1
buckets: {backup: ecommerce-backups-prod-us-east-1}
dr: {region: us-west-2, kms_key_id: alias/lifeboat-dr}
export: {iam_role_arn: "arn:aws:iam::123456789012:role/rds-s3-export-role", kms_key_id: alias/lifeboat-export}
components:
  - {name: orders-db, kind: rds-instance, ids: [ecommerce-prod-db], copy_to_dr: true, export: true}
  - {name: sessions-redis, kind: elasticache, ids: [ecommerce-redis-cluster], frequency: 1h, retention: {hourly: 2}, export: true, require_export: true}
"#;

const SNAP: &str = "lifeboat-ecommerce-prod-db-20261121-0000";
const SNAP_ARN: &str =
    "arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-ecommerce-prod-db-20261121-0000";
const REDIS_NEW: &str = "lifeboat-ecommerce-redis-cluster-20261121-0300";
const REDIS_OLD: &str = "lifeboat-ecommerce-redis-cluster-20261120-2200";

fn managed_rds_tags() -> Vec<aws_sdk_rds::types::Tag> {
    vec![
        rds_tag("lifeboat:managed", "true"),
        rds_tag("lifeboat:component", "orders-db"),
        rds_tag("lifeboat:period-start", "2026-11-21T00:00:00Z"),
    ]
}

#[tokio::test]
async fn failed_export_is_retried_quota_warns_and_redis_is_exported_to_s3() {
    // --- RDS, primary region ---------------------------------------------------------------
    let instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
            .db_instances(
                aws_sdk_rds::types::DbInstance::builder()
                    .db_instance_identifier("ecommerce-prod-db")
                    .db_instance_arn("arn:aws:rds:us-east-1:123456789012:db:ecommerce-prod-db")
                    .engine("postgres")
                    .engine_version("16.4")
                    .db_instance_status("available")
                    .storage_encrypted(false)
                    .build(),
            )
            .build()
    });
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .then_output(|| rds_op::describe_db_clusters::DescribeDbClustersOutput::builder().build());
    let cluster_snaps =
        mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_output(|| {
            rds_op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
                .build()
        });
    let snaps = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_output(|| {
        rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
            .db_snapshots(
                aws_sdk_rds::types::DbSnapshot::builder()
                    .db_snapshot_identifier(SNAP)
                    .db_snapshot_arn(SNAP_ARN)
                    .db_instance_identifier("ecommerce-prod-db")
                    .snapshot_create_time(sdk_time("2026-11-21T00:04:00Z"))
                    .status("available")
                    .snapshot_type("manual")
                    .engine("postgres")
                    .allocated_storage(100)
                    .encrypted(false)
                    .set_tag_list(Some(managed_rds_tags()))
                    .build(),
            )
            .build()
    });
    // The first export failed (the role could not write to the bucket).
    let exports = mock!(aws_sdk_rds::Client::describe_export_tasks).then_output(|| {
        rds_op::describe_export_tasks::DescribeExportTasksOutput::builder()
            .export_tasks(
                aws_sdk_rds::types::ExportTask::builder()
                    .export_task_identifier(SNAP)
                    .source_arn(SNAP_ARN)
                    .status("FAILED")
                    .failure_cause("S3 bucket ecommerce-backups-prod-us-east-1 access denied for role rds-s3-export-role")
                    .s3_bucket("ecommerce-backups-prod-us-east-1")
                    .build(),
            )
            .build()
    });
    let quota = mock!(aws_sdk_rds::Client::describe_account_attributes).then_output(|| {
        rds_op::describe_account_attributes::DescribeAccountAttributesOutput::builder()
            .account_quotas(
                aws_sdk_rds::types::AccountQuota::builder()
                    .account_quota_name("ManualSnapshots")
                    .used(84)
                    .max(100)
                    .build(),
            )
            .account_quotas(
                aws_sdk_rds::types::AccountQuota::builder()
                    .account_quota_name("DBInstances")
                    .used(12)
                    .max(40)
                    .build(),
            )
            .build()
    });
    let start_export = mock!(aws_sdk_rds::Client::start_export_task)
        .match_requests(|r| {
            r.export_task_identifier() == Some("lifeboat-ecommerce-prod-db-20261121-0000-2")
                && r.source_arn() == Some(SNAP_ARN)
        })
        .then_output(|| {
            rds_op::start_export_task::StartExportTaskOutput::builder()
                .status("STARTING")
                .build()
        });
    let create = mock!(aws_sdk_rds::Client::create_db_snapshot)
        .then_output(|| rds_op::create_db_snapshot::CreateDbSnapshotOutput::builder().build());
    let rds = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [
            &instances,
            &clusters,
            &cluster_snaps,
            &snaps,
            &exports,
            &quota,
            &start_export,
            &create
        ]
    );

    // --- RDS, DR region: the copy is there ---------------------------------------------------
    let dr_snaps = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_output(|| {
        rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
            .db_snapshots(
                aws_sdk_rds::types::DbSnapshot::builder()
                    .db_snapshot_identifier(SNAP)
                    .db_snapshot_arn(SNAP_ARN.replace("us-east-1", "us-west-2"))
                    .db_instance_identifier("ecommerce-prod-db")
                    .snapshot_create_time(sdk_time("2026-11-21T00:20:00Z"))
                    .status("available")
                    .snapshot_type("manual")
                    .set_tag_list(Some(managed_rds_tags()))
                    .build(),
            )
            .build()
    });
    let dr_cluster_snaps =
        mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_output(|| {
            rds_op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
                .build()
        });
    let rds_dr = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&dr_snaps, &dr_cluster_snaps]
    );

    // --- ElastiCache ---------------------------------------------------------------------------
    let groups = mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
        ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
            .replication_groups(
                aws_sdk_elasticache::types::ReplicationGroup::builder()
                    .replication_group_id("ecommerce-redis-cluster")
                    .arn("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:ecommerce-redis-cluster")
                    .status("available")
                    .engine("redis")
                    .build(),
            )
            .build()
    });
    let cache_snap = |name: &str, at: &str| {
        aws_sdk_elasticache::types::Snapshot::builder()
            .snapshot_name(name)
            .arn(format!(
                "arn:aws:elasticache:us-east-1:123456789012:snapshot:{name}"
            ))
            .replication_group_id("ecommerce-redis-cluster")
            .snapshot_status("available")
            .snapshot_source("manual")
            .engine("redis")
            .node_snapshots(
                aws_sdk_elasticache::types::NodeSnapshot::builder()
                    .cache_cluster_id("ecommerce-redis-cluster-001")
                    .snapshot_create_time(sdk_time(at))
                    .build(),
            )
            .build()
    };
    let cache_snaps =
        mock!(aws_sdk_elasticache::Client::describe_snapshots).then_output(move || {
            ec_op::describe_snapshots::DescribeSnapshotsOutput::builder()
                .snapshots(cache_snap(REDIS_NEW, "2026-11-21T02:59:00Z"))
                .snapshots(cache_snap(REDIS_OLD, "2026-11-20T22:01:00Z"))
                .build()
        });
    let cache_tags = mock!(aws_sdk_elasticache::Client::list_tags_for_resource).then_output(|| {
        ec_op::list_tags_for_resource::ListTagsForResourceOutput::builder()
            .tag_list(ec_tag("lifeboat:managed", "true"))
            .tag_list(ec_tag("lifeboat:component", "sessions-redis"))
            .build()
    });
    let copy_to_s3 = mock!(aws_sdk_elasticache::Client::copy_snapshot)
        .match_requests(|r| {
            r.target_bucket() == Some("ecommerce-backups-prod-us-east-1")
                && r.source_snapshot_name() == Some(REDIS_NEW)
        })
        .then_output(|| ec_op::copy_snapshot::CopySnapshotOutput::builder().build());
    let cache_create = mock!(aws_sdk_elasticache::Client::create_snapshot)
        .then_output(|| ec_op::create_snapshot::CreateSnapshotOutput::builder().build());
    let cache_delete = mock!(aws_sdk_elasticache::Client::delete_snapshot)
        .then_output(|| ec_op::delete_snapshot::DeleteSnapshotOutput::builder().build());
    let elasticache = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [
            &groups,
            &cache_snaps,
            &cache_tags,
            &copy_to_s3,
            &cache_create,
            &cache_delete
        ]
    );

    // --- S3: the old Redis snapshot's export is in the bucket, the new one's is not -----------
    let listing = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder()
            .contents(
                aws_sdk_s3::types::Object::builder()
                    .key(format!("{REDIS_OLD}-0001.rdb"))
                    .size(734_003_200)
                    .build(),
            )
            .build()
    });
    // The deletion intent written before the old Redis snapshot goes.
    let intent = mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&listing, &intent]);

    let clients = Clients {
        rds,
        rds_dr: Some(rds_dr),
        elasticache,
        s3,
        // Not called here: no component has database access.
        secrets: mock_client!(aws_sdk_secretsmanager, []),
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
    };
    let policy = Policy::parse(POLICY).unwrap();
    let inv = inventory::inventory(&clients, &policy).await;
    assert!(inv.read_errors.is_empty(), "{:?}", inv.read_errors);
    assert_eq!(inv.instance_quota.map(|q| (q.used, q.max)), Some((84, 100)));
    let old = inv.snapshots.iter().find(|s| s.id == REDIS_OLD).unwrap();
    assert_eq!(
        old.created_at,
        Some(t("2026-11-20T22:01:00Z")),
        "ElastiCache creation time from NodeSnapshots"
    );

    let scope = Scope {
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
        only: vec![],
        period_time: t(NOW),
        run_id: "mocked".into(),
    };
    let planned = plan::plan(&policy, &inv, &scope, t(NOW));
    // Quota: 84 of 100 manual snapshots used (the period snapshot exists: no create): above 80%.
    assert!(
        planned
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning
                && f.message
                    .contains("84 of 100 used, 84 after this run (84%; warning at 80%)")),
        "{:#?}",
        planned.findings
    );
    // The old Redis snapshot: outside hourly-2 retention, its export is in S3: deleted.
    let old_decision = planned
        .decisions
        .iter()
        .find(|d| d.subject == REDIS_OLD)
        .unwrap();
    assert_eq!(old_decision.verdict, "delete", "{old_decision:?}");

    let (creates, rest): (Vec<_>, Vec<_>) = planned
        .steps
        .into_iter()
        .partition(|p| matches!(p.step, plan::Step::CreateSnapshot { .. }));
    assert!(
        creates.is_empty(),
        "both periods already have their snapshots"
    );
    let cx = execute::StepContext {
        bucket: &policy.buckets.backup,
        run_id: "run-1",
        now: t(NOW),
    };
    let actions = execute::execute(&clients, &cx, rest, false, 4, None).await;
    let export = actions.iter().find(|a| a.kind == "start-export").unwrap();
    assert_eq!(export.outcome, Outcome::Done);
    assert!(
        export.reason.contains("export attempt 2") && export.reason.contains("access denied"),
        "{}",
        export.reason
    );
    assert_eq!(
        start_export.num_calls(),
        1,
        "the retry uses a new deterministic id"
    );
    let cache_export = actions.iter().find(|a| a.kind == "export-to-s3").unwrap();
    assert_eq!(
        (cache_export.resource.as_str(), cache_export.outcome),
        (REDIS_NEW, Outcome::Done)
    );
    assert_eq!(copy_to_s3.num_calls(), 1);
    assert_eq!(
        cache_delete.num_calls(),
        1,
        "only the proven old Redis snapshot is deleted"
    );
    assert_eq!(create.num_calls() + cache_create.num_calls(), 0);
    assert_eq!(intent.num_calls(), 1, "the deletion's intent came first");
}

#[tokio::test]
async fn an_export_in_progress_is_neither_restarted_nor_proof() {
    let snaps = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_output(|| {
        rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
            .db_snapshots(
                aws_sdk_rds::types::DbSnapshot::builder()
                    .db_snapshot_identifier("lifeboat-ecommerce-prod-db-20260901-0000")
                    .db_snapshot_arn("arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-ecommerce-prod-db-20260901-0000")
                    .db_instance_identifier("ecommerce-prod-db")
                    .snapshot_create_time(sdk_time("2026-09-01T00:04:00Z"))
                    .status("available")
                    .snapshot_type("manual")
                    // Its own period (the shared helper's tags are today's).
                    .set_tag_list(Some(vec![
                        rds_tag("lifeboat:managed", "true"),
                        rds_tag("lifeboat:component", "orders-db"),
                        rds_tag("lifeboat:period-start", "2026-09-01T00:00:00Z"),
                    ]))
                    .build(),
            )
            .db_snapshots(
                aws_sdk_rds::types::DbSnapshot::builder()
                    .db_snapshot_identifier("rds:ecommerce-prod-db-2026-11-21-03-10")
                    .db_instance_identifier("ecommerce-prod-db")
                    .snapshot_create_time(sdk_time("2026-11-21T03:10:00Z"))
                    .status("available")
                    .snapshot_type("automated")
                    .build(),
            )
            .build()
    });
    let exports = mock!(aws_sdk_rds::Client::describe_export_tasks).then_output(|| {
        rds_op::describe_export_tasks::DescribeExportTasksOutput::builder()
            .export_tasks(
                aws_sdk_rds::types::ExportTask::builder()
                    .export_task_identifier("lifeboat-ecommerce-prod-db-20260901-0000")
                    .source_arn("arn:aws:rds:us-east-1:123456789012:snapshot:lifeboat-ecommerce-prod-db-20260901-0000")
                    .status("IN_PROGRESS")
                    .percent_progress(42)
                    .build(),
            )
            .build()
    });
    let empty_instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        rds_op::describe_db_instances::DescribeDbInstancesOutput::builder().build()
    });
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .then_output(|| rds_op::describe_db_clusters::DescribeDbClustersOutput::builder().build());
    let cluster_snaps =
        mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_output(|| {
            rds_op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder()
                .build()
        });
    let quota = mock!(aws_sdk_rds::Client::describe_account_attributes).then_output(|| {
        rds_op::describe_account_attributes::DescribeAccountAttributesOutput::builder().build()
    });
    let start_export = mock!(aws_sdk_rds::Client::start_export_task)
        .then_output(|| rds_op::start_export_task::StartExportTaskOutput::builder().build());
    let rds = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [
            &snaps,
            &exports,
            &empty_instances,
            &clusters,
            &cluster_snaps,
            &quota,
            &start_export
        ]
    );
    let groups =
        mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
            ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder().build()
        });
    let cache_snaps = mock!(aws_sdk_elasticache::Client::describe_snapshots)
        .then_output(|| ec_op::describe_snapshots::DescribeSnapshotsOutput::builder().build());
    let elasticache = mock_client!(
        aws_sdk_elasticache,
        RuleMode::MatchAny,
        [&groups, &cache_snaps]
    );
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, []);
    let clients = Clients {
        rds,
        rds_dr: None,
        elasticache,
        s3,
        // Not called here: no component has database access.
        secrets: mock_client!(aws_sdk_secretsmanager, []),
        primary_region: "us-east-1".into(),
        dr_region: None,
    };
    let policy = Policy::parse("version: 1\nbuckets: {backup: b-1}\nexport: {iam_role_arn: 'arn:aws:iam::123456789012:role/x', kms_key_id: alias/x}\ndefaults: {export: true, retention: {daily: 7}}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [ecommerce-prod-db]}\n").unwrap();
    let inv = inventory::inventory(&clients, &policy).await;
    let scope = Scope {
        primary_region: "us-east-1".into(),
        dr_region: None,
        only: vec![],
        period_time: t(NOW),
        run_id: "mocked".into(),
    };
    let planned = plan::plan(&policy, &inv, &scope, t(NOW));
    assert!(
        !planned
            .steps
            .iter()
            .any(|p| matches!(p.step, plan::Step::StartExport { .. })),
        "an export in progress is not started again"
    );
    let d = planned
        .decisions
        .iter()
        .find(|d| d.subject == "lifeboat-ecommerce-prod-db-20260901-0000")
        .unwrap();
    assert_eq!(d.verdict, "keep");
    assert!(
        d.reason.contains("its export has not completed"),
        "{}",
        d.reason
    );
    let manifests = plan::manifests(&policy, &inv, &scope, t(NOW), &Default::default());
    let plan::Step::WriteManifest {
        manifest, settled, ..
    } = &manifests[0].step
    else {
        panic!()
    };
    assert_eq!(manifest.export.as_ref().unwrap().status, "IN_PROGRESS");
    assert!(!settled);
    assert_eq!(start_export.num_calls(), 0);
}
