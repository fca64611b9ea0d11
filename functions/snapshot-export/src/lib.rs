//! snapshot-export: manual snapshots per schedule period, DR-region copies, exports to S3, a
//! manifest beside each backup, and retention that deletes only with proof of a safe copy.
//!
//! Trigger → Inventory ([`aws::inventory`]) → Plan ([`plan::plan`], pure) → Execute
//! ([`aws::execute`]) → Report. A manual command: `{"action": "run", "dry_run": true,
//! "only": ["orders-db"]}`.

pub mod aws;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::journal::{Held, Lease};
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Outcome, Report, Severity};
use lifeboat_shared::trigger::Trigger;
use lifeboat_shared::{Error, Result};
use serde_json::Value;

use crate::plan::{Planned, Scope, Step};

pub const FUNCTION: &str = "snapshot-export";
/// Manual command actions: `run` (with `dry_run` for a plan) and `plan` (always a dry run).
pub const ACTIONS: [&str; 2] = ["run", "plan"];
const LEASE_KEY: &str = "locks/snapshot-export.json";

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub clients: aws::Clients,
    pub sns: aws_sdk_sns::Client,
    pub report_s3: aws_sdk_s3::Client,
}

impl App {
    /// Reads the environment and the policy, and builds the clients. Any error names the
    /// variable or policy field.
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?;
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        App::new(&aws, env, policy)
    }

    pub fn new(aws: &Aws, env: Env, policy: Policy) -> Result<App> {
        let dr_region = policy.dr.as_ref().map(|d| d.region.clone());
        if dr_region.as_deref() == Some(aws.region()) {
            return Err(Error::policy(
                "dr.region",
                format!(
                    "a region other than the primary {} (copies must leave it)",
                    aws.region()
                ),
            ));
        }
        let clients = aws::Clients {
            rds: aws_sdk_rds::Client::new(aws.config()),
            rds_dr: dr_region
                .as_deref()
                .map(|r| aws_sdk_rds::Client::new(&aws.config_in(r))),
            elasticache: aws_sdk_elasticache::Client::new(aws.config()),
            s3: aws.s3(),
            secrets: aws_sdk_secretsmanager::Client::new(aws.config()),
            primary_region: aws.region().to_string(),
            dr_region,
        };
        Ok(App {
            env,
            policy,
            sns: aws.sns(),
            report_s3: aws.s3(),
            clients,
        })
    }
}

/// The Lambda handler.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let stop_at = stop_time(event.context.deadline, std::time::SystemTime::now());
    tracing::info!(
        deadline_ms = event.context.deadline,
        bounded = stop_at.is_some(),
        "invocation time"
    );
    let stop_at = stop_at.map(|left| Instant::now() + left);
    let report = run(
        app,
        &event.payload,
        &event.context.request_id,
        Utc::now(),
        stop_at,
    )
    .await?;
    serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))
}

pub use lifeboat_shared::stop_time;

/// Parses the command before anything else: errors name the field, and nothing is read or
/// changed in AWS.
pub fn parse_command(payload: &Value) -> Result<(Trigger, bool, Vec<String>)> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &["schedule"], &ACTIONS)?;
    let (dry_run, only) = match &trigger {
        Trigger::Manual(m) => {
            if let Some(k) = m.args.keys().next() {
                return Err(Error::event(
                    format!("event.{k}"),
                    "no such field: a snapshot-export command has action, dry_run and only",
                ));
            }
            (m.dry_run || m.action == "plan", m.only.clone())
        }
        _ => (false, Vec::new()),
    };
    Ok((trigger, dry_run, only))
}

/// One run: inventory, plan, execute (unless a dry run), report.
pub async fn run(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<Instant>,
) -> Result<Report> {
    let (trigger, dry_run, only) = parse_command(payload)?;
    let period_time = trigger.event_time().unwrap_or(now);
    let event_id = match &trigger {
        Trigger::Schedule(s) => s.event_id.clone().unwrap_or_else(|| request_id.to_string()),
        _ => request_id.to_string(),
    };
    let run_id = lifeboat_shared::run_id(period_time, &event_id);
    let scope = Scope {
        primary_region: app.clients.primary_region.clone(),
        dr_region: app.clients.dr_region.clone(),
        only,
        period_time,
        run_id: run_id.clone(),
    };
    let mut report = Report::new(
        FUNCTION,
        &run_id,
        &scope.primary_region,
        trigger.describe(),
        dry_run,
        now,
    );
    tracing::info!(run_id = %run_id, dry_run, trigger = %report.trigger, "run starts");

    // Single flight: a duplicate or concurrent trigger finds the lease held and does nothing.
    let lease = if dry_run {
        None
    } else {
        match Lease::acquire(
            &app.report_s3,
            &app.env.report_bucket,
            LEASE_KEY,
            &run_id,
            Duration::minutes(16),
            now,
        )
        .await?
        {
            Ok(l) => Some(l),
            Err(Held(holder)) => {
                report.headline = format!(
                    "skipped: run {} holds the lease since {}",
                    holder.owner,
                    holder.acquired_at.format("%H:%M:%S UTC")
                );
                report.finding(Severity::Info, None, format!("another run ({}) is in progress until at most {}; this trigger did nothing", holder.owner, holder.expires_at.to_rfc3339()));
                report.finish(Utc::now());
                tracing::info!(holder = %holder.owner, "lease held by another run; nothing done");
                return Ok(report);
            }
        }
    };

    // Every step's failure is recorded in its action: the work itself cannot fail.
    work(app, &scope, dry_run, now, stop_at, &mut report).await;
    if let Some(l) = lease {
        if let Err(e) = l.release(&app.report_s3).await {
            report.finding(
                Severity::Warning,
                None,
                format!("could not release the run lease (it expires by itself): {e}"),
            );
        }
    }
    summarize(&mut report);
    report.finish(Utc::now());
    let outbox = Outbox {
        s3: &app.report_s3,
        sns: &app.sns,
        bucket: &app.env.report_bucket,
        topic_arn: &app.env.report_topic_arn,
    };
    outbox.deliver(&mut report).await?;
    tracing::info!(status = ?report.status, headline = %report.headline, "run finished");
    Ok(report)
}

async fn work(
    app: &App,
    scope: &Scope,
    dry_run: bool,
    now: DateTime<Utc>,
    stop_at: Option<Instant>,
    report: &mut Report,
) {
    let c = &app.clients;
    let policy = &app.policy;
    let bucket = policy.buckets.backup.as_str();
    let n = policy.limits.max_concurrent_calls as usize;
    let started = Instant::now();
    let mut inv = aws::inventory(c, policy).await;
    let mut calls_inventory = 1;

    // Pass 1: create this period's snapshots. Where they become available at once (small
    // databases), pass 2 copies and exports them in the same run; otherwise the next run does.
    let first = plan::plan(policy, &inv, scope, now);
    let (creates, _) = split(first.steps.clone(), |s| {
        matches!(s, Step::CreateSnapshot { .. })
    });
    let created = creates.iter().any(|p| !p.deferred && p.blocked.is_none());
    let mut actions = first.already.clone();
    let create_actions = aws::execute(c, bucket, creates, dry_run, n, stop_at).await;
    let just_created: Vec<(String, String)> = create_actions
        .iter()
        .filter(|a| a.kind == "create-snapshot" && a.outcome == Outcome::Done)
        .filter_map(|a| Some((a.resource.clone(), a.target.clone()?)))
        .collect();
    actions.extend(create_actions);
    let (fingerprints, fp_actions) = if dry_run {
        (BTreeMap::new(), Vec::new())
    } else {
        aws::fingerprints(
            c,
            policy,
            &app.env.local_endpoints,
            &inv,
            &just_created,
            now,
        )
        .await
    };
    actions.extend(fp_actions);
    let final_plan = if created && !dry_run {
        inv = aws::refresh(c, policy, Some(&inv)).await;
        calls_inventory += 1;
        plan::plan(policy, &inv, scope, now)
    } else {
        first
    };
    let (_, rest) = split(final_plan.steps, |s| {
        matches!(s, Step::CreateSnapshot { .. })
    });
    let (deletes, moves) = split(rest, |s| matches!(s, Step::DeleteSnapshot { .. }));
    let moved = aws::execute(c, bucket, moves, dry_run, n, stop_at).await;
    let moved_any = moved.iter().any(|a| a.outcome == Outcome::Done);
    actions.extend(moved);

    // Manifests record the state after this pass's copies and exports started.
    if moved_any && !dry_run {
        inv = aws::refresh(c, policy, Some(&inv)).await;
        calls_inventory += 1;
    }
    // Deletions first, so that a snapshot deleted now gets one manifest saying so instead of a
    // progress update just before it goes.
    let deleted_actions = aws::execute(c, bucket, deletes, dry_run, n, stop_at).await;
    let deleted: BTreeSet<String> = deleted_actions
        .iter()
        .filter(|a| a.kind == "delete-snapshot")
        .filter(|a| {
            matches!(
                a.outcome,
                Outcome::Done | Outcome::AlreadyDone | Outcome::Planned
            )
        })
        .map(|a| a.resource.clone())
        .collect();
    let mut manifests = plan::manifests(policy, &inv, scope, now, &deleted);
    for m in &mut manifests {
        if let Step::WriteManifest {
            snapshot, manifest, ..
        } = &mut m.step
        {
            if let Some(fp) = fingerprints.get(&snapshot.id) {
                manifest.fingerprint = Some(fp.clone());
            }
        }
    }
    actions.extend(aws::execute(c, bucket, manifests, dry_run, n, stop_at).await);
    actions.extend(deleted_actions);

    report.actions.extend(actions);
    report.decisions = final_plan.decisions;
    report.findings.extend(final_plan.findings);
    report.measure("InventoryPasses", calls_inventory as f64, "Count");
    report.measure("Sources", inv.sources.len() as f64, "Count");
    report.measure(
        "SnapshotsSeen",
        (inv.snapshots.len() + inv.dr_snapshots.len()) as f64,
        "Count",
    );
    report.measure("WorkSeconds", started.elapsed().as_secs_f64(), "Seconds");
}

fn split(steps: Vec<Planned>, f: impl Fn(&Step) -> bool) -> (Vec<Planned>, Vec<Planned>) {
    steps.into_iter().partition(|p| f(&p.step))
}

/// The headline and per-kind counts as metrics.
fn summarize(r: &mut Report) {
    let done_or_planned = if r.dry_run {
        Outcome::Planned
    } else {
        Outcome::Done
    };
    let mut parts = Vec::new();
    for (kind, noun, metric) in [
        (
            "create-snapshot",
            ("snapshot", "snapshots"),
            "SnapshotsCreated",
        ),
        ("copy-to-dr", ("DR copy", "DR copies"), "CopiesStarted"),
        ("start-export", ("export", "exports"), "ExportsStarted"),
        (
            "export-to-s3",
            ("cache export", "cache exports"),
            "CacheExportsStarted",
        ),
        (
            "delete-snapshot",
            ("deletion", "deletions"),
            "SnapshotsDeleted",
        ),
        (
            "delete-dr-copy",
            ("DR deletion", "DR deletions"),
            "DrCopiesDeleted",
        ),
        (
            "write-manifest",
            ("manifest", "manifests"),
            "ManifestsWritten",
        ),
    ] {
        let n = r.count(kind, done_or_planned);
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { noun.0 } else { noun.1 }));
        }
        r.measure(metric, n as f64, "Count");
    }
    let failed = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .count();
    let deferred = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::Deferred)
        .count();
    let already = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::AlreadyDone)
        .count();
    r.measure("ActionsDeferred", deferred as f64, "Count");
    let mut head = if parts.is_empty() {
        "nothing new to do".to_string()
    } else if r.dry_run {
        format!("would make {}", parts.join(", "))
    } else {
        parts.join(", ")
    };
    if failed > 0 {
        head.push_str(&format!("; {failed} failed"));
    }
    if deferred > 0 {
        head.push_str(&format!("; {deferred} deferred"));
    }
    if already > 0 {
        head.push_str(&format!("; {already} already done"));
    }
    let kept = r.decisions.iter().filter(|d| d.verdict == "keep").count();
    head.push_str(&format!("; {kept} kept"));
    r.headline = head;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration as StdDuration;
    use std::time::SystemTime;

    #[test]
    fn deadline_keeps_a_reserve_for_the_report() {
        let now = SystemTime::UNIX_EPOCH + StdDuration::from_secs(1_800_000_000);
        let in_15_min = 1_800_000_000_000 + 900_000;
        assert_eq!(stop_time(in_15_min, now), Some(StdDuration::from_secs(870)));
        assert_eq!(
            stop_time(1_800_000_000_000 + 20_000, now),
            Some(StdDuration::from_secs(15)),
            "a quarter of a short invocation"
        );
        assert_eq!(
            stop_time(600_000, now),
            None,
            "a bare timeout is not a deadline"
        );
    }

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/snapshot-export");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            match parse_command(&v) {
                Ok(_) => assert!(!name.starts_with("malformed-"), "{name} should be rejected"),
                Err(e) => {
                    assert!(name.starts_with("malformed-"), "{name}: {e}");
                    assert_eq!(e.error_type(), "Lifeboat.InvalidEvent");
                }
            }
        }
    }

    #[test]
    fn commands_and_their_errors() {
        let (_, dry, only) =
            parse_command(&json!({"action": "plan", "only": ["orders-db"]})).unwrap();
        assert!(dry, "plan is always a dry run");
        assert_eq!(only, vec!["orders-db"]);
        let e = parse_command(&json!({"action": "run", "dryrun": true})).unwrap_err();
        assert_eq!(e.to_string(), "invalid event: event.dryrun: no such field: a snapshot-export command has action, dry_run and only");
        let alarm: Value =
            serde_json::from_str(include_str!("../../../events/triggers/alarm-sns.json")).unwrap();
        let e = parse_command(&alarm).unwrap_err();
        assert!(
            e.to_string()
                .contains("snapshot-export is started by schedule or a manual command"),
            "{e}"
        );
    }
}
