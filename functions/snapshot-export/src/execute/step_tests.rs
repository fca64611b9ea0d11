//! Each step's call under `aws-smithy-mocks`, answered with every error code the step treats
//! as already done, and with one it does not.

#![allow(clippy::unwrap_used)]
use super::*;
use aws_sdk_elasticache::operation as ec_op;
use aws_sdk_rds::operation as rds_op;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use lifeboat_shared::backup::Snapshot;

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mocked reply)"))
        .build()
}

fn clients(rds: &[&Rule], rds_dr: &[&Rule], ec: &[&Rule], s3: &[&Rule]) -> Clients {
    Clients {
        rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds),
        rds_dr: Some(mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds_dr)),
        elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, ec),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3),
        secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[] as &[&Rule]),
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
    }
}

fn snapshot(kind: ResourceKind, id: &str) -> Snapshot {
    Snapshot {
        kind,
        id: id.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
        source_snapshot_arn: None,
        source_id: "orders".into(),
        region: "us-east-1".into(),
        created_at: None,
        status: "available".into(),
        manual: true,
        encrypted: false,
        kms_key_id: None,
        size_gb: None,
        engine: None,
        tags: BTreeMap::new(),
    }
}

fn cx() -> StepContext<'static> {
    StepContext {
        bucket: "b-1",
        run_id: "run-1",
        now: chrono::Utc::now(),
    }
}

fn step(kind: &str, resource: &str, step: Step) -> Planned {
    Planned {
        step,
        action: Action::new(kind, resource, "test"),
        blocked: None,
        deferred: false,
    }
}

fn create(kind: ResourceKind, id: &str) -> Planned {
    step(
        "create-snapshot",
        id,
        Step::CreateSnapshot {
            kind,
            source_id: "orders".into(),
            snapshot_id: id.into(),
            tags: BTreeMap::new(),
        },
    )
}

fn delete(kind: ResourceKind, id: &str) -> Planned {
    step(
        "delete-snapshot",
        id,
        Step::DeleteSnapshot {
            snapshot: snapshot(kind, id),
            place: Where::Primary,
        },
    )
}

#[tokio::test]
async fn steps_found_done_by_an_earlier_attempt_are_already_done() {
    // Given each step's call answered "already exists" (creates, copies, exports) or
    // "not found" (deletes)
    let db_snap = mock!(aws_sdk_rds::Client::create_db_snapshot).then_error(|| {
        rds_op::create_db_snapshot::CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
            aws_sdk_rds::types::error::DbSnapshotAlreadyExistsFault::builder()
                .meta(meta("DBSnapshotAlreadyExists"))
                .build(),
        )
    });
    let cl_snap = mock!(aws_sdk_rds::Client::create_db_cluster_snapshot).then_error(|| {
            rds_op::create_db_cluster_snapshot::CreateDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbClusterSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBClusterSnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
    let export = mock!(aws_sdk_rds::Client::start_export_task).then_error(|| {
        rds_op::start_export_task::StartExportTaskError::ExportTaskAlreadyExistsFault(
            aws_sdk_rds::types::error::ExportTaskAlreadyExistsFault::builder()
                .meta(meta("ExportTaskAlreadyExists"))
                .build(),
        )
    });
    let db_gone = mock!(aws_sdk_rds::Client::delete_db_snapshot).then_error(|| {
        rds_op::delete_db_snapshot::DeleteDBSnapshotError::DbSnapshotNotFoundFault(
            aws_sdk_rds::types::error::DbSnapshotNotFoundFault::builder()
                .meta(meta("DBSnapshotNotFound"))
                .build(),
        )
    });
    let cl_gone = mock!(aws_sdk_rds::Client::delete_db_cluster_snapshot).then_error(|| {
            rds_op::delete_db_cluster_snapshot::DeleteDBClusterSnapshotError::DbClusterSnapshotNotFoundFault(
                aws_sdk_rds::types::error::DbClusterSnapshotNotFoundFault::builder()
                    .meta(meta("DBClusterSnapshotNotFoundFault"))
                    .build(),
            )
        });
    let copy = mock!(aws_sdk_rds::Client::copy_db_snapshot).then_error(|| {
        rds_op::copy_db_snapshot::CopyDBSnapshotError::DbSnapshotAlreadyExistsFault(
            aws_sdk_rds::types::error::DbSnapshotAlreadyExistsFault::builder()
                .meta(meta("DBSnapshotAlreadyExists"))
                .build(),
        )
    });
    let cl_copy = mock!(aws_sdk_rds::Client::copy_db_cluster_snapshot).then_error(|| {
            rds_op::copy_db_cluster_snapshot::CopyDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                aws_sdk_rds::types::error::DbClusterSnapshotAlreadyExistsFault::builder()
                    .meta(meta("DBClusterSnapshotAlreadyExistsFault"))
                    .build(),
            )
        });
    let ec_snap = mock!(aws_sdk_elasticache::Client::create_snapshot).then_error(|| {
        ec_op::create_snapshot::CreateSnapshotError::SnapshotAlreadyExistsFault(
            aws_sdk_elasticache::types::error::SnapshotAlreadyExistsFault::builder()
                .meta(meta("SnapshotAlreadyExistsFault"))
                .build(),
        )
    });
    let ec_export = mock!(aws_sdk_elasticache::Client::copy_snapshot).then_error(|| {
        ec_op::copy_snapshot::CopySnapshotError::SnapshotAlreadyExistsFault(
            aws_sdk_elasticache::types::error::SnapshotAlreadyExistsFault::builder()
                .meta(meta("SnapshotAlreadyExistsFault"))
                .build(),
        )
    });
    let ec_gone = mock!(aws_sdk_elasticache::Client::delete_snapshot).then_error(|| {
        ec_op::delete_snapshot::DeleteSnapshotError::SnapshotNotFoundFault(
            aws_sdk_elasticache::types::error::SnapshotNotFoundFault::builder()
                .meta(meta("SnapshotNotFoundFault"))
                .build(),
        )
    });
    // The deletion intents are written first (see `plan::settle`).
    let intent = mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let c = clients(
        &[&db_snap, &cl_snap, &export, &db_gone, &cl_gone],
        &[&copy, &cl_copy],
        &[&ec_snap, &ec_export, &ec_gone],
        &[&intent],
    );
    let s = snapshot(ResourceKind::RdsInstance, "lifeboat-orders-20261121-0000");
    let cl = snapshot(
        ResourceKind::AuroraCluster,
        "lifeboat-catalog-20261121-0000",
    );
    let ec = snapshot(ResourceKind::Elasticache, "lifeboat-sessions-20261121-0300");
    let planned = vec![
        create(ResourceKind::RdsInstance, &s.id),
        create(ResourceKind::AuroraCluster, &cl.id),
        create(ResourceKind::Elasticache, &ec.id),
        step(
            "copy-to-dr",
            &s.id,
            Step::CopyToDr {
                snapshot: s.clone(),
                target_id: s.id.clone(),
                kms_key_id: None,
            },
        ),
        step(
            "copy-to-dr",
            &cl.id,
            Step::CopyToDr {
                snapshot: cl.clone(),
                target_id: cl.id.clone(),
                kms_key_id: None,
            },
        ),
        step(
            "start-export",
            &s.id,
            Step::StartExport {
                snapshot: s.clone(),
                task_id: s.id.clone(),
                bucket: "b-1".into(),
                prefix: "backups/x/export".into(),
                iam_role_arn: "arn:aws:iam::123456789012:role/export".into(),
                kms_key_id: "alias/export".into(),
            },
        ),
        step(
            "export-to-s3",
            &ec.id,
            Step::ExportToBucket {
                snapshot: ec.clone(),
                target_name: ec.id.clone(),
                bucket: "b-1".into(),
            },
        ),
        delete(ResourceKind::RdsInstance, &s.id),
        delete(ResourceKind::AuroraCluster, &cl.id),
        delete(ResourceKind::Elasticache, &ec.id),
    ];
    // When they are executed
    let actions = execute(&c, &cx(), planned, false, 4, None).await;
    // Then every one is already done, none failed
    for a in &actions {
        assert_eq!(a.outcome, Outcome::AlreadyDone, "{a:?}");
    }
    assert_eq!(actions.len(), 10);
}

#[tokio::test]
async fn a_step_refused_for_another_reason_fails_with_the_code() {
    // Given a snapshot of a stopped instance (invalid state) and a manifest write AWS
    // refuses
    let stopped = mock!(aws_sdk_rds::Client::create_db_snapshot).then_error(|| {
        rds_op::create_db_snapshot::CreateDBSnapshotError::InvalidDbInstanceStateFault(
            aws_sdk_rds::types::error::InvalidDbInstanceStateFault::builder()
                .meta(meta("InvalidDBInstanceState"))
                .build(),
        )
    });
    let denied = mock!(aws_sdk_s3::Client::put_object).then_error(|| {
        aws_sdk_s3::operation::put_object::PutObjectError::generic(meta("AccessDenied"))
    });
    let c = clients(&[&stopped], &[], &[], &[&denied]);
    let s = snapshot(ResourceKind::RdsInstance, "lifeboat-orders-20261121-0000");
    let manifest = crate::plan::manifest_for(
            &s,
            "orders-db",
            &Policy::parse(
                "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders]}\n",
            )
            .unwrap()
            .settings_by_name("orders-db"),
            None,
            &Inventory::default(),
            &crate::plan::Scope {
                primary_region: "us-east-1".into(),
                dr_region: None,
                only: vec![],
                period_time: chrono::Utc::now(),
                run_id: "r".into(),
            },
            "b-1",
            chrono::Utc::now(),
        )
        .0;
    let planned = vec![
        create(ResourceKind::RdsInstance, &s.id),
        step(
            "write-manifest",
            &s.id,
            Step::WriteManifest {
                snapshot: s.clone(),
                key: "backups/rds-instance/orders/x/manifest.json".into(),
                manifest: Box::new(manifest),
                settled: false,
                carry_fingerprint: false,
            },
        ),
    ];
    // When they are executed
    let actions = execute(&c, &cx(), planned, false, 1, None).await;
    // Then both fail, each with AWS's code and message
    let errors: Vec<(Outcome, Option<&str>)> = actions
        .iter()
        .map(|a| (a.outcome, a.error.as_deref()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                Outcome::Failed,
                Some("InvalidDBInstanceState: InvalidDBInstanceState (mocked reply)")
            ),
            (
                Outcome::Failed,
                Some("AccessDenied: AccessDenied (mocked reply)")
            ),
        ]
    );
}

#[tokio::test]
async fn a_delete_denied_for_a_snapshot_already_gone_is_already_done() {
    // Given deletions answered AccessDenied, as AWS answers the SDK's retry of a delete whose
    // first answer was lost: the role's `aws:ResourceTag/lifeboat:managed` condition cannot
    // hold for a snapshot that no longer exists; and each snapshot looked up is not found
    let denied_db = mock!(aws_sdk_rds::Client::delete_db_snapshot).then_error(|| {
        rds_op::delete_db_snapshot::DeleteDBSnapshotError::generic(meta("AccessDenied"))
    });
    let denied_cl = mock!(aws_sdk_rds::Client::delete_db_cluster_snapshot).then_error(|| {
        rds_op::delete_db_cluster_snapshot::DeleteDBClusterSnapshotError::generic(meta(
            "AccessDenied",
        ))
    });
    let denied_ec = mock!(aws_sdk_elasticache::Client::delete_snapshot)
        .then_error(|| ec_op::delete_snapshot::DeleteSnapshotError::generic(meta("AccessDenied")));
    let no_db = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_error(|| {
        rds_op::describe_db_snapshots::DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
            aws_sdk_rds::types::error::DbSnapshotNotFoundFault::builder()
                .meta(meta("DBSnapshotNotFound"))
                .build(),
        )
    });
    let no_cl = mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_error(|| {
        rds_op::describe_db_cluster_snapshots::DescribeDBClusterSnapshotsError::DbClusterSnapshotNotFoundFault(
            aws_sdk_rds::types::error::DbClusterSnapshotNotFoundFault::builder()
                .meta(meta("DBClusterSnapshotNotFoundFault"))
                .build(),
        )
    });
    let no_ec = mock!(aws_sdk_elasticache::Client::describe_snapshots)
        .then_output(|| ec_op::describe_snapshots::DescribeSnapshotsOutput::builder().build());
    let intent = mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let c = clients(
        &[&denied_db, &denied_cl, &no_db, &no_cl],
        &[],
        &[&denied_ec, &no_ec],
        &[&intent],
    );
    let planned = vec![
        delete(ResourceKind::RdsInstance, "lifeboat-orders-20261121-0000"),
        delete(
            ResourceKind::AuroraCluster,
            "lifeboat-catalog-20261121-0000",
        ),
        delete(ResourceKind::Elasticache, "lifeboat-sessions-20261121-0300"),
    ];
    // When they are executed
    let actions = execute(&c, &cx(), planned, false, 3, None).await;
    // Then each is already done (the snapshot is gone), none failed
    for a in &actions {
        assert_eq!(a.outcome, Outcome::AlreadyDone, "{a:?}");
    }
    assert_eq!(actions.len(), 3);
}

#[tokio::test]
async fn a_delete_denied_for_a_snapshot_still_there_fails_with_the_denial() {
    // Given a deletion answered AccessDenied for a snapshot that still exists (not tagged
    // lifeboat:managed, or a role without the grant)
    let denied = mock!(aws_sdk_rds::Client::delete_db_snapshot).then_error(|| {
        rds_op::delete_db_snapshot::DeleteDBSnapshotError::generic(meta("AccessDenied"))
    });
    let there = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_output(|| {
        rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
            .db_snapshots(
                aws_sdk_rds::types::DbSnapshot::builder()
                    .db_snapshot_identifier("lifeboat-orders-20261121-0000")
                    .build(),
            )
            .build()
    });
    let intent = mock!(aws_sdk_s3::Client::put_object)
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let c = clients(&[&denied, &there], &[], &[], &[&intent]);
    // When it is executed
    let actions = execute(
        &c,
        &cx(),
        vec![delete(
            ResourceKind::RdsInstance,
            "lifeboat-orders-20261121-0000",
        )],
        false,
        1,
        None,
    )
    .await;
    // Then it failed with AWS's denial
    assert_eq!(actions[0].outcome, Outcome::Failed, "{:?}", actions[0]);
    assert_eq!(
        actions[0].error.as_deref(),
        Some("AccessDenied: AccessDenied (mocked reply)")
    );
}
