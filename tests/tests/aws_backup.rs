// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! AWS Backup recovery points, restore jobs and restore-testing validation. moto 5.2.5 has no
//! AWS Backup API, so the AWS Backup client is `aws-smithy-mocks` with realistic responses (the
//! shapes of ListRecoveryPointsByResource, StartRestoreJob, DescribeRestoreJob and
//! PutRestoreValidationResult); everything else (RDS, S3, Secrets Manager, SNS) is the moto
//! emulator, and the restored data is the local PostgreSQL through LIFEBOAT_LOCAL_ENDPOINTS.
//! What AWS Backup would do itself (create the restored instance) the test does in moto.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput;
use aws_sdk_backup::operation::list_recovery_points_by_resource::ListRecoveryPointsByResourceOutput;
use aws_sdk_backup::operation::put_restore_validation_result::PutRestoreValidationResultOutput;
use aws_sdk_backup::operation::start_restore_job::StartRestoreJobOutput;
use aws_sdk_backup::types::{RecoveryPointByResource, RecoveryPointStatus, RestoreJobStatus};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{Duration, Utc};
use lifeboat_shared::data::sql::Engine;
use lifeboat_tests::shop::{damage_in_place, Damage};
use lifeboat_tests::{Scenario, ACCOUNT, PRIMARY};
use serde_json::{json, Value};

use crate::util::{self, Harness};

/// A StartRestoreJob call: the recovery point and the metadata.
type RestoreCall = (String, std::collections::HashMap<String, String>);

const RP: &str = "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-3f9a1c2e-8d7b-4e6f-a5b4-c3d2e1f0a9b8";

fn when(h: i64) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs((Utc::now() - Duration::hours(h)).timestamp())
}

/// restore-verification on a seeded world (no Aurora, Redis or extra instances) with orders-db
/// verified from AWS Backup recovery points, its AWS Backup client `backup`. The test removes
/// the shop's databases and the state directory itself when it passes.
async fn app(backup: aws_sdk_backup::Client) -> Harness<restore_verification::App> {
    util::world()
        .scenario(Scenario {
            full: false,
            ..Scenario::default()
        })
        .dir("lifeboat-backup-test")
        .keep_on_failure()
        // orders-db verified from AWS Backup recovery points instead of snapshots.
        .edit_policy(|text| {
            text.replacen(
                "      every: 1d\n      select: latest\n",
                "      every: 1d\n      select: latest\n      source: aws-backup\n",
                1,
            )
            .replace(
                "    expiry: 6h\n",
                &format!("    expiry: 6h\n    backup_role_arn: arn:aws:iam::{ACCOUNT}:role/lifeboat-backup-restore\n"),
            )
        })
        .build(|parts| {
            let mut app = parts.restore_verification();
            app.cloud.backup = backup;
            app
        })
        .await
}

/// What AWS Backup does on StartRestoreJob: a new, untagged instance from the backup.
async fn aws_backup_restores(rds: &aws_sdk_rds::Client, id: &str) {
    // AWS Backup's own calls, not the function's: without the function's app name, so the
    // permission check (scripts/iam/check.mjs) does not hold them against its role.
    let mut conf = rds.config().to_builder();
    conf.set_app_name(None);
    let rds = &aws_sdk_rds::Client::from_conf(conf.build());
    rds.create_db_snapshot()
        .db_instance_identifier("ecommerce-prod-db")
        .db_snapshot_identifier(format!("rp-{id}"))
        .send()
        .await
        .unwrap();
    rds.restore_db_instance_from_db_snapshot()
        .db_instance_identifier(id)
        .db_snapshot_identifier(format!("rp-{id}"))
        .db_subnet_group_name("lifeboat-restore")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_recovery_point_is_restored_with_start_restore_job_tagged_checked_and_torn_down() {
    let started: Arc<Mutex<Vec<RestoreCall>>> = Arc::default();
    let created = Arc::new(Mutex::new(String::new()));
    let points =
        mock!(aws_sdk_backup::Client::list_recovery_points_by_resource).then_output(|| {
            ListRecoveryPointsByResourceOutput::builder()
                // AWS Backup: AVAILABLE is "successfully created ... ready for use", as
                // usable as COMPLETED (an older COMPLETED one must not win over it)
                .recovery_points(
                    RecoveryPointByResource::builder()
                        .recovery_point_arn(format!("{RP}-older"))
                        .creation_date(when(30))
                        .status(RecoveryPointStatus::Completed)
                        .backup_vault_name("lifeboat-vault")
                        .build(),
                )
                .recovery_points(
                    RecoveryPointByResource::builder()
                        .recovery_point_arn(RP)
                        .creation_date(when(2))
                        .status(RecoveryPointStatus::Available)
                        .backup_vault_name("lifeboat-vault")
                        .build(),
                )
                .recovery_points(
                    RecoveryPointByResource::builder()
                        .recovery_point_arn(format!("{RP}-partial"))
                        .creation_date(when(1))
                        .status(RecoveryPointStatus::Partial)
                        .build(),
                )
                .build()
        });
    let seen = started.clone();
    let start = mock!(aws_sdk_backup::Client::start_restore_job).then_compute_output(move |i| {
        seen.lock().unwrap().push((
            i.recovery_point_arn().unwrap_or_default().to_string(),
            i.metadata().cloned().unwrap_or_default(),
        ));
        assert!(i.idempotency_token().is_some() && i.iam_role_arn().is_some());
        StartRestoreJobOutput::builder()
            .restore_job_id("RJ-1")
            .build()
    });
    let arn = created.clone();
    let describe = mock!(aws_sdk_backup::Client::describe_restore_job)
        .sequence()
        .output(|| {
            DescribeRestoreJobOutput::builder()
                .restore_job_id("RJ-1")
                .status(RestoreJobStatus::Running)
                .build()
        })
        .output(move || {
            DescribeRestoreJobOutput::builder()
                .restore_job_id("RJ-1")
                .status(RestoreJobStatus::Completed)
                .created_resource_arn(arn.lock().unwrap().clone())
                .build()
        })
        .repeatedly()
        .build();
    let backup = mock_client!(
        aws_sdk_backup,
        RuleMode::MatchAny,
        [&points, &start, &describe]
    );
    let h = app(backup).await;
    let (app, world, dir) = (&h.app, &h.world, &h.dir);

    // First invocation: the restore job starts and is still running.
    let out = restore_verification::invoke(
        app,
        &json!({"action": "restore", "only": ["orders-db"]}),
        "r-1",
        Utc::now(),
        None,
    )
    .await
    .unwrap()
    .to_json()
    .unwrap();
    assert_eq!(out["done"], json!(false), "{out:#}");
    let run_id = out["run_id"].as_str().unwrap().to_string();
    let temp = out["jobs"][0]["resource"].as_str().unwrap().to_string();
    {
        let calls = started.lock().unwrap();
        assert_eq!(calls.len(), 1);
        let (rp, meta) = &calls[0];
        assert_eq!(rp, RP, "the newest usable (AVAILABLE) recovery point");
        assert_eq!(meta["DBInstanceIdentifier"], temp);
        assert_eq!(meta["DBInstanceClass"], "db.t4g.micro");
        assert_eq!(meta["DBSubnetGroupName"], "lifeboat-restore");
        assert_eq!(meta["PubliclyAccessible"], "false");
        assert_eq!(
            meta["VpcSecurityGroupIds"],
            format!("[\"{}\"]", world.security_group_id)
        );
    }
    // AWS Backup finishes the restore; the Step Functions loop invokes again with the run id.
    aws_backup_restores(&app.cloud.rds, &temp).await;
    *created.lock().unwrap() = format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:{temp}");
    let out = restore_verification::invoke(
        app,
        &json!({"action": "restore", "run_id": run_id}),
        "r-2",
        Utc::now(),
        None,
    )
    .await
    .unwrap()
    .to_json()
    .unwrap();
    assert_eq!(out["done"], json!(true), "{out:#}");
    assert_eq!(out["decisions"][0]["verdict"], json!("PASS"), "{out:#}");
    assert!(
        out["actions"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("AWS Backup backup"),
        "{out:#}"
    );
    // Tagged by Lifeboat before anything else, then deleted by teardown.
    let gone = app
        .cloud
        .rds
        .describe_db_instances()
        .db_instance_identifier(&temp)
        .send()
        .await;
    assert!(gone.is_err(), "the restored instance is deleted");
    world.drop_databases().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn testing_event(job: &str, created: &str) -> Value {
    json!({
        "version": "0", "id": format!("evt-{job}"), "detail-type": "Restore Job State Change",
        "source": "aws.backup", "account": ACCOUNT, "time": Utc::now().to_rfc3339(),
        "region": PRIMARY, "resources": [],
        "detail": {
            "restoreJobId": job, "recoveryPointArn": RP, "createdResourceArn": created,
            "resourceType": "RDS", "status": "COMPLETED",
            "restoreTestingPlanArn": "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:lifeboat_weekly-3fa2"
        }
    })
}

#[tokio::test]
async fn restore_testing_jobs_are_validated_and_the_result_sent_to_aws_backup() {
    let results: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let describe = mock!(aws_sdk_backup::Client::describe_restore_job).then_compute_output(|i| {
        let job = i.restore_job_id().unwrap_or_default().to_string();
        DescribeRestoreJobOutput::builder()
            .restore_job_id(&job)
            .status(RestoreJobStatus::Completed)
            .created_resource_arn(format!(
                "arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:awsbackup-{}",
                job.to_lowercase()
            ))
            .source_resource_arn(format!(
                "arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:ecommerce-prod-db"
            ))
            .recovery_point_creation_date(when(1))
            .build()
    });
    let seen = results.clone();
    let put = mock!(aws_sdk_backup::Client::put_restore_validation_result).then_compute_output(
        move |i| {
            seen.lock().unwrap().push((
                i.restore_job_id().unwrap_or_default().to_string(),
                i.validation_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                i.validation_status_message()
                    .unwrap_or_default()
                    .to_string(),
            ));
            PutRestoreValidationResultOutput::builder().build()
        },
    );
    let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&describe, &put]);
    let h = app(backup).await;
    let (app, world, dir) = (&h.app, &h.world, &h.dir);

    aws_backup_restores(&app.cloud.rds, "awsbackup-rt-1").await;
    let out = restore_verification::invoke(
        app,
        &testing_event(
            "RT-1",
            &format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:awsbackup-rt-1"),
        ),
        "t-1",
        Utc::now(),
        None,
    )
    .await
    .unwrap()
    .to_json()
    .unwrap();
    assert_eq!(out["decisions"][0]["verdict"], json!("PASS"), "{out:#}");
    // Damage the data the next restore shows: negative totals and bad emails.
    damage_in_place(Engine::Postgres, &world.orders_database, Damage::BadValues).await;
    aws_backup_restores(&app.cloud.rds, "awsbackup-rt-2").await;
    let out = restore_verification::invoke(
        app,
        &testing_event(
            "RT-2",
            &format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:awsbackup-rt-2"),
        ),
        "t-2",
        Utc::now(),
        None,
    )
    .await
    .unwrap()
    .to_json()
    .unwrap();
    assert_eq!(out["decisions"][0]["verdict"], json!("FAIL"), "{out:#}");
    let sent = results.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].0.as_str(), sent[0].1.as_str()),
        ("RT-1", "SUCCESSFUL")
    );
    assert_eq!((sent[1].0.as_str(), sent[1].1.as_str()), ("RT-2", "FAILED"));
    assert!(
        sent[1].2.contains("Negative Order Totals") && sent[1].2.contains("Invalid Email Formats"),
        "{}",
        sent[1].2
    );
    // Not a restore-testing job (no plan): nothing to validate, nothing sent.
    let mut plain = testing_event("RT-3", "arn:aws:rds:us-east-1:123456789012:db:x");
    plain["detail"]
        .as_object_mut()
        .unwrap()
        .remove("restoreTestingPlanArn");
    let out = restore_verification::invoke(app, &plain, "t-3", Utc::now(), None)
        .await
        .unwrap()
        .to_json()
        .unwrap();
    assert!(out["note"]
        .as_str()
        .unwrap()
        .contains("not a restore-testing job"));
    assert_eq!(results.lock().unwrap().len(), 2);
    world.drop_databases().await;
    let _ = std::fs::remove_dir_all(dir);
}
