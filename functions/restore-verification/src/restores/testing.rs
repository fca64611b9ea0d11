//! AWS Backup restore testing: when a restore-testing plan's restore job completes, check the
//! restored resource like any Lifeboat restore and tell AWS Backup the outcome with
//! PutRestoreValidationResult. AWS Backup deletes the resource itself after the plan's
//! retention, so nothing is torn down here.

use chrono::DateTime;
use lifeboat_shared::aws::rds::{DbCluster, DbInstance};
use lifeboat_shared::error::aws_error_parts;
use lifeboat_shared::policy::ResourceKind;
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
    let (outcome, message, decision) = match check(cx, ev, &created, &source_arn, &job_out).await {
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
    created: &str,
    source_arn: &str,
    job_out: &aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput,
) -> std::result::Result<(bool, String), String> {
    let (kind, id) = rds_resource(created).ok_or_else(|| {
        format!("restored resource {created:?} is not an RDS instance or Aurora cluster: Lifeboat checks only those")
    })?;
    let source_id = rds_resource(source_arn)
        .map(|(_, id)| id)
        .unwrap_or_default();
    let comp = cx
        .policy
        .components
        .iter()
        .find(|c| c.kind == kind && c.ids.contains(&source_id) && c.verify.is_some())
        .ok_or_else(|| {
            format!("no component with verify lists {source_id:?} (the restored backup's source) in its ids")
        })?;
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
    use super::*;

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
