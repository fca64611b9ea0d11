//! The restore run: a resumable state machine on the shared engine
//! ([`lifeboat_shared::resumable`]). A new run plans a restore per due component; each round
//! advances every restore one phase (start -> wait -> verify -> teardown); every invocation
//! starts with the janitor; once every restore is torn down the run reports once.

use chrono::{DateTime, Utc};
use lifeboat_shared::data::Verdict as CheckVerdict;
use lifeboat_shared::policy::{BackupSource, Component};
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity, Verdict};
use lifeboat_shared::resumable::{self, Resumable};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde_json::{json, Value};

use crate::cloud::{self, Poll, Teardown};
use crate::command::RestoreCommand;
use crate::state::{janitor_picks, Job, NewRun, Phase, Run, RunState, Status as RunStatus};
use crate::verify;
use crate::{App, FUNCTION};

fn component<'a>(app: &'a App, name: &str) -> Option<&'a Component> {
    app.policy.components.iter().find(|c| c.name == name)
}

/// One invocation of a restore run (or its dry run).
pub async fn invoke(app: &App, cmd: &RestoreCommand, inv: &Invocation) -> Result<Response> {
    let restores = Restores { app, cmd };
    if inv.dry_run {
        return dry_run(&restores, inv).await;
    }
    resumable::advance(&restores, &app.store(), &app.outbox(), inv, cmd.run_id.as_deref()).await
}

/// restore-verification's steps for the engine.
pub struct Restores<'a> {
    pub app: &'a App,
    pub cmd: &'a RestoreCommand,
}

impl Resumable for Restores<'_> {
    type State = RunState;
    type Status = RunStatus;

    async fn plan(&self, inv: &Invocation, status: &RunStatus) -> Result<RunState> {
        let (jobs, skipped, warnings) = plan_run(self.app, self.cmd, &inv.run_id, inv.now, status).await;
        Ok(RunState {
            jobs,
            skipped,
            janitor: Vec::new(),
            warnings,
        })
    }

    fn has_work(&self, state: &RunState) -> bool {
        !state.jobs.is_empty()
    }

    async fn janitor(&self, state: &mut RunState, now: DateTime<Utc>) {
        janitor(self.app, state, now).await
    }

    async fn round(&self, run_id: &str, state: &mut RunState) -> Result<bool> {
        let Some(target) = self.app.policy.verification.restore.clone() else {
            return Err(Error::policy(
                "verification.restore",
                "the restore target (subnet group, security groups)",
            ));
        };
        let moved = futures::future::join_all(
            state
                .jobs
                .iter_mut()
                .map(|job| step(self.app, &target, run_id, job)),
        )
        .await;
        Ok(moved.iter().any(|m| *m))
    }

    fn done(&self, state: &RunState) -> bool {
        state.done()
    }

    fn progress(&self, state: &RunState) -> Value {
        state
            .jobs
            .iter()
            .map(|j| json!({"component": j.component, "phase": j.phase, "resource": j.temp_id}))
            .collect()
    }

    fn report(&self, run: &Run, status: &mut RunStatus, _inv: &Invocation) -> Report {
        status.record(run);
        build_report(self.app, run, status, Utc::now())
    }
}

/// The restores a new run would make (due components, chosen backups), what it skips and why,
/// and the reads that failed. The real run and the dry run share it.
async fn plan_run(
    app: &App,
    cmd: &RestoreCommand,
    run_id: &str,
    now: DateTime<Utc>,
    status: &RunStatus,
) -> (Vec<Job>, Vec<(String, String)>, Vec<String>) {
    let (cands, warnings) = cloud::candidates(&app.cloud, &app.policy).await;
    let (jobs, skipped) = NewRun {
        policy: &app.policy,
        run_id,
        now,
        only: &cmd.only,
    }
    .plan(&cands, status);
    (jobs, skipped, warnings)
}

/// Removes expired temporary resources; records what it did in the run.
async fn janitor(app: &App, run: &mut RunState, now: DateTime<Utc>) {
    match cloud::scan_temp(&app.cloud).await {
        Ok(found) => {
            for (r, why) in janitor_picks(&found, now) {
                match cloud::remove(&app.cloud, &r).await {
                    Ok(Teardown::Gone) => run.janitor.push((r.id.clone(), why)),
                    // The janitor only picks resources tagged as restore-verification's.
                    Ok(Teardown::Pending | Teardown::Foreign(_)) => run.warnings.push(format!(
                        "janitor: {} is still being emptied; removed on a later run",
                        r.id
                    )),
                    Err(e) => run.warnings.push(format!("janitor: {e}")),
                }
            }
        }
        Err(e) => run
            .warnings
            .push(format!("janitor could not list restore resources: {e}")),
    }
}

/// Advances one restore by one phase. Returns whether it moved.
async fn step(
    app: &App,
    target: &lifeboat_shared::policy::RestoreTarget,
    run_id: &str,
    job: &mut Job,
) -> bool {
    let now = Utc::now();
    let Some(comp) = component(app, &job.component) else {
        if job.phase != Phase::Done && job.phase != Phase::Teardown {
            job.fail(format!(
                "component {} is no longer in the policy",
                job.component
            ));
            return true;
        }
        return teardown_step(app, run_id, job).await;
    };
    let source = comp
        .verify
        .as_ref()
        .map(|v| v.source)
        .unwrap_or(BackupSource::Snapshot);
    match job.phase {
        Phase::Start => {
            match cloud::start(&app.cloud, job, target, source, run_id).await {
                Ok(()) => {
                    job.started_at = Some(now);
                    job.phase = Phase::Wait;
                }
                Err(e) => job.fail(format!("restore did not start: {e}")),
            }
            true
        }
        Phase::Wait => match cloud::poll(&app.cloud, job, target, run_id).await {
            Ok(Poll::Ready { host, port }) => {
                job.endpoint = Some((host, port));
                job.available_at = Some(now);
                job.phase = Phase::Verify;
                true
            }
            Ok(Poll::Failed(why)) => {
                job.fail(why);
                true
            }
            Ok(Poll::Foreign(why)) => {
                // Never torn down: it is not this run's.
                job.error = Some(why);
                job.passed = Some(false);
                job.phase = Phase::Done;
                true
            }
            Ok(Poll::Waiting(why)) | Err(why) => {
                let since = job.started_at.unwrap_or(now);
                if now - since > target.timeout.0 {
                    job.fail(format!(
                        "not available after {} min (timeout {}): {why}",
                        (now - since).num_minutes(),
                        target.timeout
                    ));
                    return true;
                }
                job.teardown_note = Some(why);
                false
            }
        },
        Phase::Verify => {
            job.teardown_note = None;
            let expected = match verify::recorded_fingerprint(
                &app.s3,
                &app.policy.buckets.backup,
                job,
            )
            .await
            {
                Ok(f) => f,
                Err(e) => {
                    job.error = Some(e);
                    None
                }
            };
            match verify::run_checks(
                &app.secrets,
                &app.env.local_endpoints,
                comp,
                job,
                expected.as_ref(),
            )
            .await
            {
                Ok(checks) => {
                    job.passed = Some(
                        !checks.is_empty()
                            && checks.iter().all(|c| c.verdict == CheckVerdict::Pass)
                            && job.error.is_none(),
                    );
                    job.checks = checks;
                    job.verified_at = Some(Utc::now());
                    job.phase = Phase::Teardown;
                }
                Err(e) => job.fail(format!("could not check the restored data: {e}")),
            }
            true
        }
        Phase::Teardown => teardown_step(app, run_id, job).await,
        Phase::Done => false,
    }
}

async fn teardown_step(app: &App, run_id: &str, job: &mut Job) -> bool {
    match cloud::teardown(&app.cloud, job, run_id).await {
        Ok(Teardown::Gone) => {
            job.torn_down_at = Some(Utc::now());
            job.teardown_note = None;
            job.phase = Phase::Done;
            true
        }
        Ok(Teardown::Pending) => {
            job.teardown_note = Some("waiting for the cluster's instance to be deleted".into());
            false
        }
        Ok(Teardown::Foreign(why)) => {
            job.teardown_note = Some(why);
            job.phase = Phase::Done;
            true
        }
        Err(e) => {
            // Retried next invocation; the janitor removes it at expiry in any case.
            job.teardown_note = Some(format!("teardown failed, retried: {e}"));
            false
        }
    }
}

fn minutes(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

/// The report of a finished run.
pub fn build_report(app: &App, run: &Run, status: &RunStatus, now: DateTime<Utc>) -> Report {
    let mut report = Report::new(
        FUNCTION,
        &run.run_id,
        app.aws.region(),
        run.trigger.clone(),
        false,
        run.started_at,
    );
    let (mut passed, mut failed) = (0, 0);
    let mut jobs: Vec<&Job> = run.state.jobs.iter().collect();
    // Failures first.
    jobs.sort_by_key(|j| j.passed == Some(true));
    for j in jobs {
        let settings = app.policy.settings_by_name(&j.component);
        let ok = j.passed == Some(true);
        if ok {
            passed += 1
        } else {
            failed += 1
        }
        let failing = lifeboat_shared::data::failing(&j.checks);
        let restore = j.restore_seconds();
        let rto = settings.rto.0.num_seconds() as f64;
        let timing = match restore {
            Some(s) => format!(
                "restore {} against RTO {} ({})",
                minutes(s),
                settings.rto,
                if s <= rto { "within" } else { "OVER" }
            ),
            None => "restore time not measured (never available)".into(),
        };
        let mut reason = Vec::new();
        if let Some(e) = &j.error {
            reason.push(e.clone());
        }
        reason.extend(failing.iter().cloned());
        reason.push(format!(
            "{} of {} checks passed",
            j.checks
                .iter()
                .filter(|c| c.verdict == CheckVerdict::Pass)
                .count(),
            j.checks.len()
        ));
        reason.push(timing);
        report.decisions.push(Decision {
            subject: format!("{}: {} -> {}", j.component, j.backup.id, j.temp_id),
            verdict: Verdict::pass_fail(ok),
            reason: reason.join("; "),
        });
        if !ok {
            let what = j
                .error
                .clone()
                .into_iter()
                .chain(failing)
                .collect::<Vec<_>>()
                .join("; ");
            report.finding(
                Severity::Critical,
                Some(&j.component),
                format!("backup {} FAILED verification: {what}", j.backup.id),
            );
        }
        if let Some(s) = restore {
            if s > rto {
                report.finding(
                    Severity::Warning,
                    Some(&j.component),
                    format!("restore took {} (RTO {})", minutes(s), settings.rto),
                );
            }
        }
        if j.mapped {
            report.finding(
                Severity::Info,
                Some(&j.component),
                format!(
                    "checks connected through LIFEBOAT_LOCAL_ENDPOINTS (a local run), not to {}",
                    j.endpoint
                        .as_ref()
                        .map(|(h, p)| format!("{h}:{p}"))
                        .unwrap_or_default()
                ),
            );
        }
        let mut restore_action = Action::new(
            "restore",
            &j.temp_id,
            format!(
                "from {} ({} backup of {}, taken {})",
                j.backup.id,
                match j.backup.origin {
                    crate::state::Origin::Lifeboat => "Lifeboat",
                    crate::state::Origin::Snapshot => "snapshot",
                    crate::state::Origin::RecoveryPoint => "AWS Backup",
                },
                j.backup.source_id,
                j.backup.created_at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
        restore_action.outcome = if j.available_at.is_some() {
            Outcome::Done
        } else {
            restore_action.error = j.error.clone();
            Outcome::Failed
        };
        report.actions.push(restore_action);
        let mut teardown = Action::new(
            "teardown",
            &j.temp_id,
            "temporary resource deleted (no final snapshot)",
        );
        teardown.outcome = if j.torn_down_at.is_some() {
            Outcome::Done
        } else {
            teardown.error = j.teardown_note.clone();
            Outcome::Failed
        };
        report.actions.push(teardown);
        let dims = |name: &str, value: f64, unit: &str| Measurement {
            name: name.into(),
            value,
            unit: unit.into(),
            dimensions: [("Component".to_string(), j.component.clone())]
                .into_iter()
                .collect(),
        };
        if let Some(s) = restore {
            report
                .measurements
                .push(dims("RestoreSeconds", s, "Seconds"));
        }
        report.measurements.push(dims(
            "VerificationPassed",
            if ok { 1.0 } else { 0.0 },
            "Count",
        ));
    }
    for (c, why) in &run.state.skipped {
        report.finding(
            Severity::Info,
            Some(c),
            format!("not restored this run: {why}"),
        );
    }
    for (id, why) in &run.state.janitor {
        let mut a = Action::new("janitor-delete", id, why.clone());
        a.outcome = Outcome::Done;
        report.actions.push(a);
    }
    for w in &run.state.warnings {
        report.finding(Severity::Warning, None, w.clone());
    }
    // Verified RPO: age of the newest backup that passed, per component with verify.
    let mut rpo = serde_json::Map::new();
    for c in app.policy.components.iter().filter(|c| c.verify.is_some()) {
        let st = status.components.get(&c.name);
        let settings = app.policy.settings_by_name(&c.name);
        match st.and_then(|s| s.verified_backup_at) {
            Some(at) => {
                let age = (now - at).num_seconds().max(0) as f64;
                report.measurements.push(Measurement {
                    name: "VerifiedRpoSeconds".into(),
                    value: age,
                    unit: "Seconds".into(),
                    dimensions: [("Component".to_string(), c.name.clone())]
                        .into_iter()
                        .collect(),
                });
                rpo.insert(
                    c.name.clone(),
                    json!({
                        "backup": st.and_then(|s| s.verified_backup.clone()),
                        "backup_time": at,
                        "age_seconds": age,
                        "rpo": settings.rpo.to_string(),
                    }),
                );
            }
            None => {
                // Info: a failure this run is already critical; a component not yet due says
                // so here without turning a passing run into a warning.
                report.finding(
                    Severity::Info,
                    Some(&c.name),
                    "no backup of this component has passed verification yet: verified RPO unknown",
                );
                rpo.insert(c.name.clone(), Value::Null);
            }
        }
    }
    let rpo_text: Vec<String> = rpo
        .iter()
        .filter_map(|(c, v)| {
            let age = v.get("age_seconds")?.as_f64()?;
            Some(format!("{c} {:.1} h", age / 3600.0))
        })
        .collect();
    report.headline = if run.state.jobs.is_empty() {
        format!("no restore due ({} skipped)", run.state.skipped.len())
    } else {
        format!(
            "restores: {passed} passed, {failed} failed{}",
            if rpo_text.is_empty() {
                String::new()
            } else {
                format!("; verified RPO {}", rpo_text.join(", "))
            }
        )
    };
    report.details = json!({
        "restores": run.state.jobs,
        "skipped": run.state.skipped,
        "janitor": run.state.janitor,
        "verified_rpo": rpo,
        "invocations": run.invocations,
    });
    report
}

/// The plan without changes: which backup each due component would restore, into what, and
/// what the janitor would remove.
async fn dry_run(r: &Restores<'_>, inv: &Invocation) -> Result<Response> {
    let (app, cmd, now) = (r.app, r.cmd, inv.now);
    let status = app.store().status::<RunStatus>().await?.state;
    let (jobs, skipped, warnings) = plan_run(app, cmd, &inv.run_id, now, &status.status).await;
    let mut report = inv.report();
    let target = app.policy.verification.restore.as_ref();
    for j in &jobs {
        let class = match (j.kind, target) {
            (lifeboat_shared::policy::ResourceKind::Elasticache, Some(t)) => {
                t.cache_node_type.clone()
            }
            (lifeboat_shared::policy::ResourceKind::AuroraCluster, Some(t)) => {
                t.aurora_instance_class.clone()
            }
            (_, Some(t)) => t.instance_class.clone(),
            _ => String::new(),
        };
        let mut a = Action::new(
            "restore",
            &j.temp_id,
            format!(
                "{}: {} taken {}, as {class}, private, expires {}; then checks and teardown",
                j.component,
                j.backup.id,
                j.backup.created_at.format("%Y-%m-%d %H:%M UTC"),
                j.expires_at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
        a.outcome = Outcome::Planned;
        report.actions.push(a);
    }
    for (c, why) in &skipped {
        report.finding(
            Severity::Info,
            Some(c),
            format!("would not be restored: {why}"),
        );
    }
    for w in &warnings {
        report.finding(Severity::Warning, None, w.clone());
    }
    match cloud::scan_temp(&app.cloud).await {
        Ok(found) => {
            for (r, why) in janitor_picks(&found, now) {
                let mut a = Action::new("janitor-delete", &r.id, why);
                a.outcome = Outcome::Planned;
                report.actions.push(a);
            }
        }
        Err(e) => report.finding(
            Severity::Warning,
            None,
            format!("janitor could not list: {e}"),
        ),
    }
    if let Some(active) = &status.active_run {
        report.finding(
            Severity::Info,
            None,
            format!("run {active} is in progress: a real trigger would advance it first"),
        );
    }
    report.headline = format!(
        "would restore {} backup(s), skip {}",
        jobs.len(),
        skipped.len()
    );
    report.details = json!({ "restores": jobs, "skipped": skipped });
    run::deliver(&app.outbox(), report).await
}
