//! restore-verification. Built so far: the S3 integrity sweep between a primary and a replica
//! bucket/prefix (seed 002's validator): sampled or full, comparing the checksums S3 stores
//! without downloading where both sides carry the same algorithm, streaming and hashing
//! (CRC64NVME) otherwise, with bounded concurrency; PASS below the policy's mismatch threshold;
//! mismatched objects re-copied from the source of truth only when the run is armed to repair.
//! Restores of RDS/Aurora/ElastiCache/AWS Backup recovery points are not built yet.
//!
//! Commands: `{"action": "sweep"}`, `{"action": "sweep", "dry_run": true}`,
//! `{"action": "sweep", "only": ["backups-crr"], "sample_rate": 1, "repair": true}`.

pub mod cache;
pub mod checks;
pub mod s3;
pub mod sweep;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity};
use lifeboat_shared::trigger::Trigger;
use lifeboat_shared::{Error, Result};
use serde_json::Value;

pub const FUNCTION: &str = "restore-verification";
pub const ACTIONS: [&str; 1] = ["sweep"];

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub aws: Aws,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
}

impl App {
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?;
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        Ok(App::new(aws, env, policy))
    }

    pub fn new(aws: Aws, env: Env, policy: Policy) -> App {
        App {
            env,
            policy,
            sns: aws.sns(),
            s3: aws.s3(),
            aws,
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
pub struct Command {
    pub trigger: Trigger,
    pub dry_run: bool,
    pub only: Vec<String>,
    pub sample_rate: Option<f64>,
    pub repair: bool,
}

/// Parses the command before any AWS call; errors name the field.
pub fn parse_command(payload: &Value, policy: &Policy) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &["schedule"], &ACTIONS)?;
    let mut cmd = Command {
        trigger: trigger.clone(),
        dry_run: false,
        only: Vec::new(),
        sample_rate: None,
        repair: false,
    };
    if let Trigger::Manual(m) = &trigger {
        cmd.dry_run = m.dry_run;
        cmd.only = m.only.clone();
        for (k, v) in &m.args {
            match k.as_str() {
                "repair" => {
                    cmd.repair = v.as_bool().ok_or_else(|| Error::event("event.repair", "true or false"))?;
                }
                "sample_rate" => {
                    let r = v.as_f64().filter(|r| *r > 0.0 && *r <= 1.0);
                    cmd.sample_rate = Some(r.ok_or_else(|| Error::event("event.sample_rate", format!("a share above 0 and at most 1, got {v}")))?);
                }
                other => {
                    return Err(Error::event(
                        format!("event.{other}"),
                        "no such field: a sweep command has action, dry_run, only, sample_rate and repair",
                    ))
                }
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
    }
    Ok(cmd)
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let report = run(app, &event.payload, &event.context.request_id, Utc::now()).await?;
    serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))
}

/// One run: every sweep in scope, then the report.
pub async fn run(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Report> {
    let cmd = parse_command(payload, &app.policy)?;
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
                "{} of {} sampled objects differ ({:.3}%, threshold {}%); {} proven by stored checksums, {} by hashing {} bytes; {} of {} listed sampled",
                r.mismatch_details.len(), r.total_sampled, r.mismatch_rate_percent, threshold, r.compared_by_checksum, r.compared_by_hash, r.bytes_hashed, r.total_sampled, r.total_listed
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
    let outbox = Outbox {
        s3: &app.s3,
        sns: &app.sns,
        bucket: &app.env.report_bucket,
        topic_arn: &app.env.report_topic_arn,
    };
    outbox.deliver(&mut report).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::parse("version: 1\nbuckets: {backup: b-1}\nverification:\n  sweeps:\n    - {name: crr, source: {bucket: b-1}, replica: {bucket: b-2}}\n").unwrap()
    }

    #[test]
    fn sweep_commands_and_their_errors() {
        let p = policy();
        let c = parse_command(
            &json!({"action": "sweep", "repair": true, "sample_rate": 1, "only": ["crr"]}),
            &p,
        )
        .unwrap();
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
        let e = parse_command(&json!({"action": "restore"}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("one of sweep for restore-verification"),
            "{e}"
        );
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
