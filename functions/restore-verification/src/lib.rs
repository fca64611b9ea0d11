//! restore-verification: proves backups restore.
//!
//! - Restores (schedule, or `{"action": "restore"}`): each due component's chosen backup (RDS
//!   instance snapshot, Aurora cluster snapshot plus one instance, ElastiCache snapshot into a
//!   replication group, AWS Backup recovery point) is restored into a tagged, private temporary
//!   resource, its data checked, the resource torn down; restore time against the RTO and the
//!   verified RPO reported. A resumable state machine: see [`restores`].
//! - AWS Backup restore testing: on a "Restore Job State Change" COMPLETED event from a
//!   restore-testing plan, the restored resource is checked and the outcome sent with
//!   PutRestoreValidationResult ([`testing`]).
//! - S3 integrity sweeps (`{"action": "sweep"}`): a primary bucket/prefix against its replica,
//!   seed 002's validator ([`s3`], [`sweep`]).
//!
//! Commands: `{"action": "restore", "only": [...], "dry_run": true}`,
//! `{"action": "restore", "run_id": "..."}` (resume; the Step Functions loop sends it),
//! `{"action": "sweep", "only": [...], "sample_rate": 1, "repair": true}`.

pub mod cloud;
pub mod restores;
pub mod s3;
pub mod state;
pub mod sweep;
pub mod testing;
pub mod verify;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity};
use lifeboat_shared::trigger::{BackupJobKind, Trigger};
use lifeboat_shared::{Error, Result};
use serde_json::Value;

pub const FUNCTION: &str = "restore-verification";
pub const ACTIONS: [&str; 2] = ["restore", "sweep"];

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub aws: Aws,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub cloud: cloud::Clients,
}

impl App {
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?;
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        Ok(App::new(aws, env, policy))
    }

    pub fn new(aws: Aws, env: Env, policy: Policy) -> App {
        let conf = aws.config();
        let secrets = aws_sdk_secretsmanager::Client::new(conf);
        App {
            env,
            policy,
            sns: aws.sns(),
            s3: aws.s3(),
            cloud: cloud::Clients {
                rds: aws_sdk_rds::Client::new(conf),
                elasticache: aws_sdk_elasticache::Client::new(conf),
                backup: aws_sdk_backup::Client::new(conf),
                secrets: secrets.clone(),
            },
            secrets,
            aws,
        }
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox {
            s3: &self.s3,
            sns: &self.sns,
            bucket: &self.env.report_bucket,
            topic_arn: &self.env.report_topic_arn,
        }
    }

    fn s3_in(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        match region {
            Some(r) if r != self.aws.region() => self.aws.s3_in(r),
            _ => self.s3.clone(),
        }
    }
}

/// What a sweep command asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepCommand {
    pub trigger: Trigger,
    pub dry_run: bool,
    pub only: Vec<String>,
    pub sample_rate: Option<f64>,
    pub repair: bool,
}

/// What an invocation is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Sweep(SweepCommand),
    Restore(restores::RestoreCommand),
    /// AWS Backup restore testing: validate the restored resource.
    Validate(lifeboat_shared::trigger::BackupJob),
}

/// Parses the command before any AWS call; errors name the field.
pub fn parse_command(payload: &Value, policy: &Policy) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &["schedule", "backup_job"], &ACTIONS)?;
    let m = match &trigger {
        Trigger::Schedule(_) => {
            return Ok(Command::Restore(restores::RestoreCommand {
                trigger,
                dry_run: false,
                only: Vec::new(),
                run_id: None,
            }))
        }
        Trigger::BackupJob(j) if j.kind == BackupJobKind::Restore => {
            return Ok(Command::Validate(j.clone()))
        }
        Trigger::BackupJob(_) => {
            return Err(Error::event(
                "event.detail-type",
                "Restore Job State Change (restore-verification validates restore-testing jobs; backup and copy jobs go elsewhere)",
            ))
        }
        Trigger::Manual(m) => m.clone(),
        _ => return Err(Error::event("event", "a schedule, restore job event or command")),
    };
    if m.action == "restore" {
        let mut run_id = None;
        for (k, v) in &m.args {
            match k.as_str() {
                "run_id" => {
                    let id = v.as_str().filter(|s| {
                        !s.is_empty()
                            && s.len() <= 64
                            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                    run_id = Some(
                        id.ok_or_else(|| {
                            Error::event(
                                "event.run_id",
                                format!("a run id like 20261121T030000Z-1a2b3c4d, got {v}"),
                            )
                        })?
                        .to_string(),
                    );
                }
                other => {
                    return Err(Error::event(
                        format!("event.{other}"),
                        "no such field: a restore command has action, dry_run, only and run_id",
                    ))
                }
            }
        }
        for (i, name) in m.only.iter().enumerate() {
            if !policy
                .components
                .iter()
                .any(|c| &c.name == name && c.verify.is_some())
            {
                let known: Vec<&str> = policy
                    .components
                    .iter()
                    .filter(|c| c.verify.is_some())
                    .map(|c| c.name.as_str())
                    .collect();
                return Err(Error::event(
                    format!("event.only[{i}]"),
                    format!(
                        "a component with verify in the policy ({}), got {name:?}",
                        known.join(", ")
                    ),
                ));
            }
        }
        if policy.verification.restore.is_none() {
            return Err(Error::policy(
                "verification.restore",
                "the restore target (subnet group, security groups): restore was asked for",
            ));
        }
        return Ok(Command::Restore(restores::RestoreCommand {
            dry_run: m.dry_run,
            only: m.only.clone(),
            run_id,
            trigger,
        }));
    }
    let mut cmd = SweepCommand {
        trigger: trigger.clone(),
        dry_run: m.dry_run,
        only: m.only.clone(),
        sample_rate: None,
        repair: false,
    };
    for (k, v) in &m.args {
        match k.as_str() {
            "repair" => {
                cmd.repair = v
                    .as_bool()
                    .ok_or_else(|| Error::event("event.repair", "true or false"))?;
            }
            "sample_rate" => {
                let r = v.as_f64().filter(|r| *r > 0.0 && *r <= 1.0);
                cmd.sample_rate = Some(r.ok_or_else(|| {
                    Error::event(
                        "event.sample_rate",
                        format!("a share above 0 and at most 1, got {v}"),
                    )
                })?);
            }
            other => return Err(Error::event(
                format!("event.{other}"),
                "no such field: a sweep command has action, dry_run, only, sample_rate and repair",
            )),
        }
    }
    for (i, name) in cmd.only.iter().enumerate() {
        if !policy.verification.sweeps.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = policy
                .verification
                .sweeps
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            return Err(Error::event(
                format!("event.only[{i}]"),
                format!(
                    "a sweep named in the policy ({}), got {name:?}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(Command::Sweep(cmd))
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let stop_at = lifeboat_shared::stop_time(event.context.deadline, std::time::SystemTime::now())
        .map(|left| std::time::Instant::now() + left);
    invoke(
        app,
        &event.payload,
        &event.context.request_id,
        Utc::now(),
        stop_at,
    )
    .await
}

/// One invocation: parse (before any AWS call), then the sweep, restore run or validation.
pub async fn invoke(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Value> {
    match parse_command(payload, &app.policy)? {
        Command::Sweep(_) => {
            let report = sweep(app, payload, request_id, now).await?;
            serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))
        }
        Command::Restore(cmd) => restores::invoke(app, &cmd, request_id, now, stop_at).await,
        Command::Validate(job) => testing::validate(app, &job, now).await,
    }
}

/// One sweep run: every sweep in scope, then the report.
pub async fn sweep(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Report> {
    let cmd = match parse_command(payload, &app.policy)? {
        Command::Sweep(c) => c,
        _ => {
            return Err(Error::event(
                "event.action",
                "sweep (this entry point runs integrity sweeps only)",
            ))
        }
    };
    // A redelivered event keeps its id: the same run id and the same sample.
    let event_key = match &cmd.trigger {
        Trigger::Schedule(s) => s.event_id.clone().unwrap_or_else(|| request_id.to_string()),
        _ => request_id.to_string(),
    };
    let run_id = lifeboat_shared::run_id(cmd.trigger.event_time().unwrap_or(now), &event_key);
    let mut report = Report::new(
        FUNCTION,
        &run_id,
        app.aws.region(),
        cmd.trigger.describe(),
        cmd.dry_run,
        now,
    );
    let threshold = app.policy.thresholds.mismatch_rate_percent;
    let mut results = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for sw in app
        .policy
        .verification
        .sweeps
        .iter()
        .filter(|s| cmd.only.is_empty() || cmd.only.contains(&s.name))
    {
        let sides = s3::Sides {
            source: app.s3_in(sw.source.region.as_deref()),
            replica: app.s3_in(sw.replica.region.as_deref()),
        };
        let opts = s3::Options {
            sample_rate: cmd.sample_rate.unwrap_or(sw.sample_rate),
            seed: event_key.clone(),
            repair: cmd.repair && !cmd.dry_run,
            threshold_percent: threshold,
            concurrency: sw.concurrency as usize,
        };
        let r = match s3::run(&sides, sw, &opts).await {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                report.finding(
                    Severity::Critical,
                    Some(&sw.name),
                    format!("sweep could not run: {e}"),
                );
                continue;
            }
        };
        let pass = r.status == "PASS";
        if pass {
            passed += 1
        } else {
            failed += 1
        }
        report.decisions.push(Decision {
            subject: sw.name.clone(),
            verdict: r.status.clone(),
            reason: format!(
                "{} of {} sampled objects differ ({:.3}%, threshold {}%); matches proven by size and ETag in the listings: {}, by stored checksums: {}, by hashing {} bytes: {}; {} of {} listed sampled",
                r.mismatch_details.len(), r.total_sampled, r.mismatch_rate_percent, threshold, r.compared_by_etag, r.compared_by_checksum, r.bytes_hashed, r.compared_by_hash, r.total_sampled, r.total_listed
            ),
        });
        if !r.mismatch_details.is_empty() {
            let sev = if pass {
                Severity::Warning
            } else {
                Severity::Critical
            };
            let keys: Vec<&str> = r
                .mismatch_details
                .iter()
                .take(10)
                .map(|m| m.key.as_str())
                .collect();
            report.finding(
                sev,
                Some(&sw.name),
                format!(
                    "{} object(s) differ from the source, e.g. {}",
                    r.mismatch_details.len(),
                    keys.join(", ")
                ),
            );
        }
        if !r.errors.is_empty() {
            report.finding(
                Severity::Warning,
                Some(&sw.name),
                format!(
                    "{} object(s) could not be compared (not counted): {}",
                    r.errors.len(),
                    r.errors[0].reason
                ),
            );
        }
        for m in &r.mismatch_details {
            let mut a = Action::new(
                "repair-object",
                format!(
                    "s3://{}/{}",
                    sw.replica.bucket,
                    sweep::replica_key(&m.key, &sw.source.prefix, &sw.replica.prefix)
                ),
                m.reason.clone(),
            )
            .target(format!("from s3://{}/{}", sw.source.bucket, m.key));
            a.outcome = if m.repaired {
                Outcome::Done
            } else if cmd.dry_run {
                Outcome::Planned
            } else if cmd.repair {
                Outcome::Failed
            } else {
                a.reason = format!(
                    "{}; not armed: re-copy with {{\"action\": \"sweep\", \"repair\": true}}",
                    a.reason
                );
                Outcome::Deferred
            };
            if a.outcome == Outcome::Failed {
                a.error = Some(m.reason.clone());
            }
            report.actions.push(a);
        }
        let dims = |name: &str, value: f64, unit: &str| Measurement {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            dimensions: [("Sweep".to_string(), sw.name.clone())]
                .into_iter()
                .collect(),
        };
        let per_object = if r.total_sampled > 0 {
            r.api_calls as f64 / r.total_sampled as f64
        } else {
            0.0
        };
        report.measurements.extend([
            dims("MismatchRatePercent", r.mismatch_rate_percent, "Percent"),
            dims("ObjectsSampled", r.total_sampled as f64, "Count"),
            dims(
                "ObjectsPerSecond",
                if r.seconds > 0.0 {
                    r.total_sampled as f64 / r.seconds
                } else {
                    0.0
                },
                "Count/Second",
            ),
            dims("BytesHashed", r.bytes_hashed as f64, "Bytes"),
            dims(
                "ApiCallsPerObject",
                (per_object * 100.0).round() / 100.0,
                "None",
            ),
        ]);
        results.push(r);
    }
    if app.policy.verification.sweeps.is_empty() {
        report.finding(
            Severity::Warning,
            None,
            "the policy has no verification.sweeps: nothing to verify",
        );
    }
    report.headline = format!("integrity sweeps: {passed} passed, {failed} failed");
    report.details = serde_json::json!({ "sweeps": results });
    report.finish(Utc::now());
    // A FAIL verdict is critical even when no action failed.
    if failed > 0 && report.status < lifeboat_shared::report::Status::Critical {
        report.status = lifeboat_shared::report::Status::Critical;
    }
    app.outbox().deliver(&mut report).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::parse("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [db-1], database: {name: shop, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'}, verify: {every: 1d}}\nverification:\n  restore: {db_subnet_group: restore, security_group_ids: [sg-0123abcd]}\n  sweeps:\n    - {name: crr, source: {bucket: b-1}, replica: {bucket: b-2}}\n").unwrap()
    }

    #[test]
    fn sweep_commands_and_their_errors() {
        let p = policy();
        let Command::Sweep(c) = parse_command(
            &json!({"action": "sweep", "repair": true, "sample_rate": 1, "only": ["crr"]}),
            &p,
        )
        .unwrap() else {
            panic!("a sweep")
        };
        assert!(c.repair && c.sample_rate == Some(1.0) && !c.dry_run);
        let e = parse_command(&json!({"action": "sweep", "sample_rate": 2}), &p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid event: event.sample_rate: a share above 0 and at most 1"),
            "{e}"
        );
        let e = parse_command(&json!({"action": "sweep", "only": ["nope"]}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("event.only[0]: a sweep named in the policy (crr)"),
            "{e}"
        );
        let e = parse_command(&json!({"action": "sweep", "repare": true}), &p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid event: event.repare: no such field"),
            "{e}"
        );
        let e = parse_command(&json!({"action": "restores"}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("one of restore, sweep for restore-verification"),
            "{e}"
        );
        let bare = Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        let e = parse_command(&json!({"action": "restore"}), &bare).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid policy: verification.restore"),
            "{e}"
        );
        let e = parse_command(&json!({"action": "restore", "only": ["catalog"]}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("event.only[0]: a component with verify in the policy (orders-db)"),
            "{e}"
        );
        let Command::Restore(r) = parse_command(
            &json!({"action": "restore", "run_id": "20261121T030000Z-7b1e2f40"}),
            &p,
        )
        .unwrap() else {
            panic!("a restore")
        };
        assert_eq!(r.run_id.as_deref(), Some("20261121T030000Z-7b1e2f40"));
    }

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/restore-verification");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            match parse_command(&v, &policy()) {
                Ok(_) => assert!(!name.starts_with("malformed-"), "{name} should be rejected"),
                Err(e) => assert!(
                    name.starts_with("malformed-") && e.error_type() == "Lifeboat.InvalidEvent",
                    "{name}: {e}"
                ),
            }
        }
    }
}
