//! AWS Backup restore testing: when a restore-testing plan's restore job completes, check the
//! restored resource like any Lifeboat restore and tell AWS Backup the outcome with
//! PutRestoreValidationResult. AWS Backup deletes the resource itself after the plan's
//! retention, so nothing is torn down here.

use chrono::DateTime;
use lifeboat_shared::aws::rds::{DbCluster, DbInstance};
use lifeboat_shared::error::aws_error_parts;
use lifeboat_shared::policy::{Component, Policy, ResourceKind};
use lifeboat_shared::report::{Decision, Severity, Verdict};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::trigger::BackupJob;
use lifeboat_shared::{Error, Result};
use serde_json::json;

use super::plan::{Backup, Job, Origin, Phase};
use super::verify;
use super::Context;

/// `arn:aws:rds:REGION:ACCOUNT:db:ID` or `...:cluster:ID` -> (kind, id).
pub fn rds_resource(arn: &str) -> Option<(ResourceKind, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() != 7 || parts[0] != "arn" || parts[2] != "rds" {
        return None;
    }
    match parts[5] {
        "db" => Some((ResourceKind::RdsInstance, parts[6].to_string())),
        "cluster" => Some((ResourceKind::AuroraCluster, parts[6].to_string())),
        _ => None,
    }
}

/// The component with `verify` that lists the restored backup's source (an RDS instance or
/// Aurora cluster ARN), if any. A restore-testing job of anything else is another team's.
pub fn component_for<'p>(policy: &'p Policy, source_arn: &str) -> Option<&'p Component> {
    let (kind, source_id) = rds_resource(source_arn)?;
    policy
        .components
        .iter()
        .find(|c| c.kind == kind && c.ids.contains(&source_id) && c.verify.is_some())
}

/// Why a job no component matches is left alone.
fn not_ours(ev: &BackupJob, source_arn: &str) -> String {
    let source = if source_arn.is_empty() {
        "an unnamed resource"
    } else {
        source_arn
    };
    format!(
        "restore-testing job {} ({}) restored {source}, which no component with verify lists: \
         another plan's job, left to its owner (no validation result sent)",
        ev.job_id, ev.state
    )
}

/// Handles a "Restore Job State Change" event.
pub async fn validate(cx: &Context<'_>, ev: &BackupJob, inv: &Invocation) -> Result<Response> {
    let Some(plan) = &ev.restore_testing_plan_arn else {
        return Ok(Response::skipped(
            None,
            "not a restore-testing job: nothing to validate",
        ));
    };
    let mut report = inv.report();
    report.trigger = format!("AWS Backup restore testing job {} {}", ev.job_id, ev.state);
    if ev.state != "COMPLETED" {
        if matches!(ev.state.as_str(), "FAILED" | "ABORTED") {
            // Only Lifeboat's components' failures are Lifeboat's to report. A job that cannot
            // be described is reported: better a stranger's failure than a silent own one.
            if let Ok(out) = cx
                .clients
                .backup
                .describe_restore_job()
                .restore_job_id(&ev.job_id)
                .send()
                .await
            {
                let source_arn = out.source_resource_arn().unwrap_or_default();
                if component_for(cx.policy, source_arn).is_none() {
                    return Ok(Response::skipped(None, not_ours(ev, source_arn)));
                }
            }
            report.finding(
                Severity::Critical,
                Some(plan),
                format!(
                    "restore-testing job {} ended {}: the recovery point {} did not restore",
                    ev.job_id,
                    ev.state,
                    ev.recovery_point_arn.as_deref().unwrap_or("?")
                ),
            );
            report.headline = format!("restore testing job {}", ev.state);
            return run::deliver(&cx.outbox, report).await;
        }
        return Ok(Response::skipped(
            None,
            format!("restore job {}: nothing to validate yet", ev.state),
        ));
    }
    let job_out = cx
        .clients
        .backup
        .describe_restore_job()
        .restore_job_id(&ev.job_id)
        .send()
        .await
        .map_err(|e| Error::aws("DescribeRestoreJob", Some(&ev.job_id), &e))?;
    let created = job_out
        .created_resource_arn()
        .map(str::to_string)
        .or(ev.created_resource_arn.clone())
        .unwrap_or_default();
    let source_arn = job_out
        .source_resource_arn()
        .unwrap_or_default()
        .to_string();
    let Some(comp) = component_for(cx.policy, &source_arn) else {
        return Ok(Response::skipped(None, not_ours(ev, &source_arn)));
    };
    let (outcome, message, decision) =
        match check(cx, ev, comp, &created, &source_arn, &job_out).await {
            Ok((passed, message)) => (
                if passed { "SUCCESSFUL" } else { "FAILED" },
                message.clone(),
                Decision {
                    subject: format!("{created} (restore-testing job {})", ev.job_id),
                    verdict: Verdict::pass_fail(passed),
                    reason: message,
                },
            ),
            Err(why) => (
                "FAILED",
                why.clone(),
                Decision {
                    subject: format!("{created} (restore-testing job {})", ev.job_id),
                    verdict: Verdict::Fail,
                    reason: why,
                },
            ),
        };
    let put = cx
        .clients
        .backup
        .put_restore_validation_result()
        .restore_job_id(&ev.job_id)
        .validation_status(outcome.into())
        // AWS Backup keeps a short message.
        .validation_status_message(message.chars().take(1000).collect::<String>())
        .send()
        .await;
    if let Err(e) = put {
        let (code, msg) = aws_error_parts(&e);
        report.finding(
            Severity::Warning,
            Some(&ev.job_id),
            format!("PutRestoreValidationResult: {code}: {msg} (a validation result may already be recorded)"),
        );
    }
    let failed = decision.verdict == Verdict::Fail;
    if failed {
        report.finding(
            Severity::Critical,
            Some(&created),
            format!("restore-testing validation FAILED: {}", decision.reason),
        );
    }
    report.decisions.push(decision);
    report.headline = format!("restore testing validation {outcome}");
    report.details =
        json!({"restore_job_id": ev.job_id, "plan": plan, "validation_status": outcome});
    run::deliver(&cx.outbox, report).await
}

async fn check(
    cx: &Context<'_>,
    ev: &BackupJob,
    comp: &Component,
    created: &str,
    source_arn: &str,
    job_out: &aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput,
) -> std::result::Result<(bool, String), String> {
    let (kind, id) = rds_resource(created).ok_or_else(|| {
        format!("restored resource {created:?} is not an RDS instance or Aurora cluster: Lifeboat checks only those")
    })?;
    if kind != comp.kind {
        return Err(format!(
            "restored resource {created:?} is not a {} like its source",
            comp.kind
        ));
    }
    let source_id = rds_resource(source_arn)
        .map(|(_, id)| id)
        .unwrap_or_default();
    let rds = &cx.clients.rds;
    let (host, port, engine) = match kind {
        ResourceKind::AuroraCluster => {
            let out = rds
                .describe_db_clusters()
                .db_cluster_identifier(&id)
                .send()
                .await
                .map_err(|e| format!("DescribeDBClusters {id}: {}", aws_error_parts(&e).0))?;
            let cl = out
                .db_clusters()
                .iter()
                .find_map(DbCluster::from_sdk)
                .ok_or("cluster not found")?;
            if cl.members.is_empty() {
                return Err(format!(
                    "restored cluster {id} has no instance to connect to"
                ));
            }
            let (host, port) = cl.endpoint.unwrap_or_default();
            (host, port, cl.engine)
        }
        _ => {
            let out = rds
                .describe_db_instances()
                .db_instance_identifier(&id)
                .send()
                .await
                .map_err(|e| format!("DescribeDBInstances {id}: {}", aws_error_parts(&e).0))?;
            let i = out
                .db_instances()
                .iter()
                .find_map(DbInstance::from_sdk)
                .ok_or("instance not found")?;
            let (host, port) = i.endpoint.unwrap_or_default();
            (host, port, i.engine)
        }
    };
    let created_at = job_out
        .recovery_point_creation_date()
        .and_then(|t| DateTime::from_timestamp(t.secs(), 0))
        .unwrap_or(ev.time);
    // AWS Backup made and will remove the resource: only the checks are Lifeboat's.
    let backup = Backup {
        id: ev.recovery_point_arn.clone().unwrap_or_default(),
        arn: ev.recovery_point_arn.clone().unwrap_or_default(),
        origin: Origin::RecoveryPoint,
        created_at,
        source_id,
        engine,
    };
    let mut job = Job {
        temp_instance_id: None,
        phase: Phase::Verify,
        restore_job_id: Some(ev.job_id.clone()),
        endpoint: Some((host, port)),
        ..Job::new(&comp.name, kind, backup, id, ev.time)
    };
    let checks = verify::run_checks(
        &cx.clients.secrets,
        cx.local_endpoints,
        comp,
        &mut job,
        None,
    )
    .await?;
    let failing = lifeboat_shared::data::failing(&checks);
    let passed = failing.is_empty() && !checks.is_empty();
    let message = if passed {
        format!("Lifeboat: {} checks passed on {}", checks.len(), comp.name)
    } else {
        format!(
            "Lifeboat: {} of {} checks failed: {}",
            failing.len(),
            checks.len(),
            failing.join("; ")
        )
    };
    Ok((passed, message))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput;
    use aws_sdk_backup::operation::put_restore_validation_result::PutRestoreValidationResultOutput;
    use aws_sdk_backup::types::RestoreJobStatus;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use lifeboat_shared::notify::Outbox;
    use lifeboat_shared::policy::Policy;
    use lifeboat_shared::resumable::Store;
    use lifeboat_shared::trigger::{BackupJobKind, Trigger};
    use std::collections::BTreeMap;

    use super::super::inventory::Clients;

    const PLAN: &str =
        "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:lifeboat_weekly-3fa2";

    /// orders-db verified weekly; nothing else.
    fn policy() -> Policy {
        Policy::parse(
            "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - name: orders-db\n    kind: rds-instance\n    ids: [ecommerce-prod-db]\n    database: {name: shop, secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf}\n    verify: {every: 7d}\nverification:\n  restore: {db_subnet_group: r, security_group_ids: [sg-0123456789abcdef0]}\n",
        )
        .unwrap()
    }

    fn job(state: &str) -> BackupJob {
        BackupJob {
            kind: BackupJobKind::Restore,
            job_id: "RT-9".into(),
            state: state.into(),
            resource_arn: None,
            recovery_point_arn: Some(
                "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1".into(),
            ),
            created_resource_arn: Some(
                "arn:aws:rds:us-east-1:123456789012:db:awsbackup-restore-test-9".into(),
            ),
            restore_testing_plan_arn: Some(PLAN.into()),
            time: DateTime::from_timestamp(1_795_219_200, 0).unwrap(),
            detail: serde_json::Value::Null,
        }
    }

    /// Runs `validate` on a restore-testing job whose DescribeRestoreJob names `source` (an
    /// RDS instance id): the number of validation results sent and of reports emailed.
    async fn validate_job_of(source: &str, state: &str) -> (Response, usize, usize) {
        let source_arn = format!("arn:aws:rds:us-east-1:123456789012:db:{source}");
        let describe = mock!(aws_sdk_backup::Client::describe_restore_job).then_output(move || {
            DescribeRestoreJobOutput::builder()
                .restore_job_id("RT-9")
                .status(RestoreJobStatus::Completed)
                .created_resource_arn(
                    "arn:aws:rds:us-east-1:123456789012:db:awsbackup-restore-test-9",
                )
                .source_resource_arn(&source_arn)
                .build()
        });
        let put_result = mock!(aws_sdk_backup::Client::put_restore_validation_result)
            .then_output(|| PutRestoreValidationResultOutput::builder().build());
        let instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
            aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput::builder()
                .build()
        });
        let archive = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let earlier = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
            aws_sdk_s3::operation::get_object::GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder().build(),
            )
        });
        let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| {
            aws_sdk_sns::operation::publish::PublishOutput::builder()
                .message_id("m-1")
                .build()
        });
        let clients = Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, &[&instances]),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &[] as &[&Rule]),
            backup: mock_client!(
                aws_sdk_backup,
                RuleMode::MatchAny,
                &[&describe, &put_result]
            ),
            secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[] as &[&Rule]),
        };
        let s3 = plain_mock_client!(aws_sdk_s3, &[&archive, &earlier]);
        let sns = plain_mock_client!(aws_sdk_sns, &[&publish]);
        let policy = policy();
        let endpoints = BTreeMap::new();
        let cx = Context {
            policy: &policy,
            clients: &clients,
            s3: &s3,
            local_endpoints: &endpoints,
            region: "us-east-1",
            store: Store {
                s3: &s3,
                bucket: "reports",
                function: crate::FUNCTION,
            },
            outbox: Outbox {
                s3: &s3,
                sns: &sns,
                bucket: "reports",
                topic_arn: "arn:aws:sns:us-east-1:123456789012:reports",
            },
        };
        let ev = job(state);
        let inv = Invocation::new(
            crate::FUNCTION,
            "us-east-1",
            Trigger::BackupJob(ev.clone()),
            false,
            "req-1",
            ev.time,
            None,
        );
        let r = validate(&cx, &ev, &inv).await.unwrap();
        (r, put_result.num_calls(), publish.num_calls())
    }

    #[tokio::test]
    async fn another_teams_completed_job_is_skipped_not_failed() {
        // Given a completed restore-testing job of a database no component lists
        // When restore-verification receives its event
        let (r, sent, emailed) = validate_job_of("billing-team-db", "COMPLETED").await;
        // Then nothing is sent to AWS Backup (no FAILED for another team's job), nobody is
        // emailed, and the answer says why
        assert_eq!((sent, emailed), (0, 0));
        let Response::Skipped { reason, .. } = &r else {
            panic!("skipped, got {:?}", r.to_json().unwrap())
        };
        assert!(reason.contains("billing-team-db"), "{reason}");
        assert!(reason.contains("no component"), "{reason}");
    }

    #[tokio::test]
    async fn another_teams_failed_job_is_skipped_and_lifeboats_own_is_reported() {
        // Given a restore-testing job that FAILED, of a database no component lists
        let (r, sent, emailed) = validate_job_of("billing-team-db", "FAILED").await;
        // Then it is skipped with the reason, not reported as Lifeboat's failure
        assert_eq!((sent, emailed), (0, 0));
        assert!(matches!(r, Response::Skipped { .. }), "{:?}", r.to_json());
        // And the same failure of a database a component lists is reported critical
        let (r, sent, emailed) = validate_job_of("ecommerce-prod-db", "FAILED").await;
        assert_eq!((sent, emailed), (0, 1));
        let report = r.report().unwrap();
        assert!(report.findings[0].message.contains("did not restore"));
    }

    #[test]
    fn rds_arns() {
        assert_eq!(
            rds_resource("arn:aws:rds:us-east-1:123456789012:db:awsbackup-restore-test-1"),
            Some((ResourceKind::RdsInstance, "awsbackup-restore-test-1".into()))
        );
        assert_eq!(
            rds_resource("arn:aws:rds:us-east-1:123456789012:cluster:c1"),
            Some((ResourceKind::AuroraCluster, "c1".into()))
        );
        assert_eq!(
            rds_resource("arn:aws:elasticfilesystem:us-east-1:1:file-system/fs-1"),
            None
        );
    }
}
