//! Reports: the plan (dry run), the run's timeline (each step's start, end, duration against its
//! RTO, outcome, the AWS error), the achieved RTO by the critical path against the plan's, the
//! data loss, what changed (before/after), what a person must do next and the failback
//! instructions; the start and failure notices; EMF `StepSeconds`, `AchievedRtoSeconds`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifeboat_shared::policy::failover::Plan;
use lifeboat_shared::report::{
    Action as ReportAction, Decision, Outcome, Report, Severity, Verdict,
};
use lifeboat_shared::resumable::Journaled;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::trigger::Alarm;
use lifeboat_shared::Result;
use serde_json::json;

use crate::plan::{self, words, Assessment, Mode, Phase, RunState, StepRun};
use crate::runs::Status;
use crate::{inventory, App};

/// The plan as a dry run: the assessment, what each step would change, the expected RTO by the
/// critical path (and the seed's sequential sum beside it), the expected data loss.
pub fn plan_report(inv: &Invocation, plan: &Plan, a: &Assessment, why: &str) -> Report {
    let mut r = inv.report();
    let ready = plan::readiness(plan, a);
    let (rto, path) = plan::expected_rto(plan);
    let seq = plan::sequential_rto(plan);
    r.headline = format!(
        "plan {}: {}; expected RTO {} (critical path) against {}; data loss {}",
        plan.name,
        if ready.ready { "READY" } else { "NOT READY" },
        words(rto),
        plan.rto,
        a.data_loss()
            .map(words)
            .unwrap_or_else(|| "none measured".into())
    );
    if !why.is_empty() {
        r.finding(Severity::Info, None, why.to_string());
    }
    for reason in &ready.reasons {
        r.finding(
            Severity::Warning,
            Some(&plan.name),
            format!("NOT READY: {reason}"),
        );
    }
    assessment_findings(&mut r, a);
    for step in &plan.steps {
        let facts = a.steps.iter().find(|f| f.step == step.name);
        let mut act = ReportAction::new(
            step.action.kind(),
            &step.name,
            format!(
                "RTO {}{}{}",
                step.rto,
                if step.depends_on.is_empty() {
                    String::new()
                } else {
                    format!("; after {}", step.depends_on.join(", "))
                },
                facts
                    .map(|f| match &f.dr {
                        Ok(d) if !d.is_empty() => format!("; {d}"),
                        Ok(_) => String::new(),
                        Err(e) => format!("; NOT READY: {e}"),
                    })
                    .unwrap_or_default()
            ),
        );
        if let Some(f) = facts {
            let changes: Vec<String> = f
                .changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.what, c.before, c.after))
                .collect();
            if !changes.is_empty() {
                act = act.target(changes.join("; "));
            }
        }
        act.outcome = Outcome::Planned;
        r.actions.push(act);
    }
    r.finding(
        Severity::Info,
        None,
        format!(
            "expected RTO {} by the critical path {} (the seed's sequential script: {}, the sum of the steps)",
            words(rto),
            path.join(" → "),
            words(seq)
        ),
    );
    r.measure("ExpectedRtoSeconds", rto as f64, "Seconds");
    r.details = json!({"plan": plan.name, "assessment": a, "expected_rto_seconds": rto, "critical_path": path, "sequential_rto_seconds": seq});
    r.finish(Utc::now());
    r
}

fn assessment_findings(r: &mut Report, a: &Assessment) {
    for h in a.alarms.iter().chain(a.health_checks.iter()) {
        let sev = match h.healthy {
            Some(true) => Severity::Info,
            Some(false) => Severity::Warning,
            None => Severity::Warning,
        };
        r.finding(
            sev,
            Some(&h.what),
            format!("primary: {} {}", h.what, h.detail),
        );
    }
    for f in &a.steps {
        if let Some(h) = &f.primary {
            r.finding(
                if h.healthy == Some(true) {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                Some(&h.what),
                format!("primary: {} is {}", h.what, h.detail),
            );
        }
    }
}

/// `{"action": "plan", "plan": ...}`: the plan, changing nothing.
pub async fn plan_run(app: &App, inv: &Invocation, name: &str) -> Result<Response> {
    let Some(plan) = app.policy.failover.plan(name) else {
        return Err(lifeboat_shared::Error::event(
            "event.plan",
            format!("a plan of the policy, got {name}"),
        ));
    };
    let a = inventory::assess(&app.clients, &app.policy, plan, inv.now).await;
    run::deliver(&app.outbox(), plan_report(inv, plan, &a, "")).await
}

/// An alarm without `automation.auto_failover`: the plan of every plan it names, once per
/// alarm state change (every delivery of it answered from the first).
pub async fn alarm_plan(
    app: &App,
    inv: &Invocation,
    alarm: &Alarm,
    plans: &[String],
) -> Result<Response> {
    let mut inv = inv.clone();
    inv.lease_name = Some(crate::ALERTS_LEASE);
    let inv = &inv;
    lifeboat_shared::run::once(&app.s3, &app.env.report_bucket, inv, chrono::Duration::minutes(16), || async {
        let mut out = None;
        for name in plans {
            let Some(plan) = app.policy.failover.plan(name) else { continue };
            let a = inventory::assess(&app.clients, &app.policy, plan, inv.now).await;
            let why = format!(
                "alarm {} is in ALARM ({}): this is the plan, nothing was changed. automation.auto_failover is off; to fail over: {{\"action\": \"execute\", \"plan\": \"{name}\", \"confirm\": \"{name}\"}}",
                alarm.name,
                alarm.delivery.as_str()
            );
            let mut r = plan_report(inv, plan, &a, &why);
            r.dry_run = false;
            app.outbox().deliver(&mut r).await?;
            out = Some(r);
        }
        Ok(match out {
            Some(r) => Response::finished(r),
            None => Response::skipped(Some(inv.run_id.clone()), "no plan"),
        })
    })
    .await
}

/// An email now (start, failure): no archive, no metrics (the final report has them).
pub async fn notice(app: &App, (subject, body): &(String, String)) {
    let sent = app
        .sns
        .publish()
        .topic_arn(&app.env.report_topic_arn)
        .subject(subject)
        .message(body)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %lifeboat_shared::aws::errors::AwsError::new("Publish", &e), "the notice could not be sent; the final report still goes out");
    }
}

fn subject(s: String) -> String {
    if s.chars().count() > 99 {
        s.chars().take(96).collect::<String>() + "..."
    } else {
        s
    }
}

pub fn start_notice(run_id: &str, s: &RunState, plan: Option<&Plan>) -> (String, String) {
    let rto = plan
        .map(|p| words(plan::expected_rto(p).0))
        .unwrap_or_else(|| "?".into());
    let subject = subject(format!(
        "[Lifeboat STARTED] failover-orchestrator: {} of {} (run {run_id})",
        s.mode.as_str(),
        s.plan
    ));
    let mut body = format!(
        "{} of plan {} started, run {run_id}.\nRegions: {} → {}. Steps: {}. Expected RTO {rto} (plan RTO {}).\n",
        s.mode.as_str(),
        s.plan,
        s.primary_region,
        s.dr_region,
        s.steps.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", "),
        words(s.rto_seconds)
    );
    if let Some(h) = &s.auto {
        body.push_str(&format!(
            "Started by alarm {} (in ALARM since {}); nothing acts before {} and the assessment agrees.\n",
            h.alarm, h.since, h.until
        ));
    }
    body.push_str(
        "A failure is emailed when it happens; the report at the end has the timeline.\n",
    );
    (subject, body)
}

pub fn failure_notice(run_id: &str, s: &RunState, step: &StepRun) -> (String, String) {
    let subject = subject(format!(
        "[Lifeboat FAILED] failover-orchestrator: {} of {}: step {} failed",
        s.mode.as_str(),
        s.plan,
        step.name
    ));
    let dependants: Vec<&str> = s
        .steps
        .iter()
        .filter(|x| plan_depends(s, &x.name, &step.name))
        .map(|x| x.name.as_str())
        .collect();
    let body = format!(
        "Run {run_id}, {} of plan {}: step {} ({}) failed.\nError: {}\nWhat to do: {}\nNot started because of it: {}\nIndependent steps go on.\n",
        s.mode.as_str(),
        s.plan,
        step.name,
        step.action.kind(),
        step.error.clone().unwrap_or_default(),
        step.next.clone().unwrap_or_default(),
        if dependants.is_empty() { "none".to_string() } else { dependants.join(", ") }
    );
    (subject, body)
}

fn plan_depends(s: &RunState, name: &str, on: &str) -> bool {
    let steps: Vec<lifeboat_shared::policy::failover::Step> = s
        .steps
        .iter()
        .map(|x| lifeboat_shared::policy::failover::Step {
            name: x.name.clone(),
            action: x.action.clone(),
            depends_on: x.depends_on.clone(),
            rto: lifeboat_shared::policy::Span(chrono::Duration::seconds(x.rto_seconds)),
        })
        .collect();
    lifeboat_shared::policy::failover::ancestors(&steps, name).contains(on)
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The finished run's report.
pub fn run_report(
    app: &App,
    run: &Journaled<RunState>,
    status: &Status,
    now: DateTime<Utc>,
) -> Report {
    let mut r = Report::new(
        crate::FUNCTION,
        &run.run_id,
        app.aws.region(),
        run.trigger.clone(),
        false,
        run.started_at,
    );
    let mode = run.mode.as_str();
    if let Some(why) = &run.refused {
        r.headline = format!("{mode} of {} refused: {why}", run.plan);
        r.finding(Severity::Warning, Some(&run.plan), why.clone());
        r.finish(now);
        return r;
    }
    if let Some(h) = &run.auto {
        if h.settled == Some(false) {
            r.headline = format!(
                "no failover of {}: {}",
                run.plan,
                run.assessment.last().cloned().unwrap_or_default()
            );
            for a in &run.assessment {
                r.finding(Severity::Info, Some(&run.plan), a.clone());
            }
            for a in &run.attached {
                r.finding(Severity::Info, None, a.what.clone());
            }
            r.finish(now);
            return r;
        }
    }
    let (achieved, path, wall) = plan::achieved_rto(run);
    let loss = run.steps.iter().filter_map(|s| s.data_loss_seconds).max();
    let failed: Vec<&StepRun> = run
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Failed)
        .collect();
    let blocked = run
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Blocked)
        .count();
    r.headline = format!(
        "{mode} of {}: {} of {} steps done{}; RTO {} against {}{}",
        run.plan,
        run.steps.iter().filter(|s| s.phase == Phase::Done).count(),
        run.steps.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(", {} FAILED", failed.len())
        },
        words(achieved),
        words(run.rto_seconds),
        if run.mode == Mode::Failback {
            String::new()
        } else {
            format!(
                "; data loss {}",
                loss.map(words).unwrap_or_else(|| "none measured".into())
            )
        }
    );
    // Timeline.
    for s in &run.steps {
        let took = s.seconds();
        let mut a = ReportAction::new(
            s.action.kind(),
            &s.name,
            format!(
                "{} → {} ({} against RTO {}{}): {}",
                time(s.started_at),
                time(s.ended_at),
                took.map(words).unwrap_or_else(|| "not run".into()),
                words(s.rto_seconds),
                if s.over_rto() { ", OVER" } else { "" },
                s.detail
            ),
        );
        let changes: Vec<String> = s
            .changes
            .iter()
            .map(|c| format!("{}: {} → {}", c.what, c.before, c.after))
            .collect();
        if !changes.is_empty() {
            a = a.target(changes.join("; "));
        }
        a.outcome = match s.phase {
            Phase::Done => Outcome::Done,
            Phase::Failed => Outcome::Failed,
            Phase::Blocked | Phase::Pending | Phase::Running => Outcome::Deferred,
        };
        a.error = s.error.clone();
        r.actions.push(a);
        if let Some(t) = took {
            let mut dims = BTreeMap::new();
            dims.insert("Plan".to_string(), run.plan.clone());
            dims.insert("Step".to_string(), s.name.clone());
            dims.insert("Mode".to_string(), mode.to_string());
            r.measurements.push(lifeboat_shared::report::Measurement {
                name: "StepSeconds".into(),
                value: t as f64,
                unit: "Seconds".into(),
                dimensions: dims,
            });
        }
        if s.over_rto() {
            r.finding(
                Severity::Warning,
                Some(&s.name),
                format!(
                    "{} took {} against its RTO {}",
                    s.name,
                    words(s.seconds().unwrap_or(0)),
                    words(s.rto_seconds)
                ),
            );
        }
        if let (Phase::Failed, Some(next)) = (s.phase, &s.next) {
            r.finding(
                Severity::Critical,
                Some(&s.name),
                format!(
                    "{} failed: {}. Next: {next}",
                    s.name,
                    s.error.clone().unwrap_or_default()
                ),
            );
        } else if let Some(next) = &s.next {
            r.finding(Severity::Info, Some(&s.name), format!("next: {next}"));
        }
    }
    if let Some(why) = &run.cut_short {
        r.finding(
            Severity::Warning,
            Some(&run.plan),
            format!("cut short: {why}; nothing more was started and the temporaries were removed"),
        );
    }
    if blocked > 0 && run.cut_short.is_none() {
        r.finding(Severity::Warning, None, format!("{blocked} step(s) not started because a step they depend on failed; the independent branches ran"));
    }
    let mut dims = BTreeMap::new();
    dims.insert("Plan".to_string(), run.plan.clone());
    dims.insert("Mode".to_string(), mode.to_string());
    r.measurements.push(lifeboat_shared::report::Measurement {
        name: "AchievedRtoSeconds".into(),
        value: achieved as f64,
        unit: "Seconds".into(),
        dimensions: dims,
    });
    r.decisions.push(Decision::new(
        format!("RTO of {}", run.plan),
        Verdict::pass_fail(failed.is_empty() && achieved <= run.rto_seconds),
        format!(
            "achieved {} by the critical path {} (wall {}) against the plan's {}",
            words(achieved),
            path.join(" → "),
            wall.map(words).unwrap_or_else(|| "-".into()),
            words(run.rto_seconds)
        ),
    ));
    if run.mode != Mode::Failback {
        r.decisions.push(Decision::new(
            format!("RPO of {}", run.plan),
            Verdict::pass_fail(loss.is_none_or(|l| l <= run.rpo_seconds)),
            format!(
                "data loss {} (replica lag at promotion, or the restored snapshot's age) against RPO {}",
                loss.map(words).unwrap_or_else(|| "none measured".into()),
                words(run.rpo_seconds)
            ),
        ));
    }
    for a in &run.attached {
        let sev = if a.what.contains("during this drill") {
            Severity::Critical
        } else {
            Severity::Info
        };
        r.finding(sev, None, a.what.clone());
    }
    for j in &run.janitor {
        r.finding(Severity::Info, None, format!("janitor: {j}"));
    }
    for w in &run.warnings {
        r.finding(Severity::Warning, None, w.clone());
    }
    match run.mode {
        Mode::Drill => {
            let left: Vec<String> = run
                .temps
                .iter()
                .filter(|t| !t.gone)
                .map(|t| {
                    let who = if t.kind == "route53-record" {
                        // Records carry no tags: no janitor can prove them a drill's.
                        match &t.spec {
                            Some(spec) => format!(
                                "remove it by hand: aws route53 change-resource-record-sets --hosted-zone-id {} --change-batch '{{\"Changes\": [{{\"Action\": \"DELETE\", \"ResourceRecordSet\": {{\"Name\": \"{}\", \"Type\": \"{}\", \"TTL\": {}, \"ResourceRecords\": [{{\"Value\": \"{}\"}}]}}}}]}}'",
                                spec["zone"].as_str().unwrap_or_default(),
                                spec["name"].as_str().unwrap_or_default(),
                                spec["type"].as_str().unwrap_or_default(),
                                spec["ttl"].as_i64().unwrap_or(60),
                                spec["values"][0].as_str().unwrap_or_default()
                            ),
                            None => "remove it by hand".to_string(),
                        }
                    } else {
                        "the janitor removes it once its lifeboat:expires-at has passed".to_string()
                    };
                    format!(
                        "{} {} ({}){}: {who}",
                        t.kind,
                        t.id,
                        t.region,
                        t.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                    )
                })
                .collect();
            r.finding(
                if left.is_empty() {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                None,
                if left.is_empty() {
                    format!(
                        "drill: {} temporaries created and removed; production untouched",
                        run.temps.len()
                    )
                } else {
                    format!("drill: not removed: {}", left.join("; "))
                },
            );
        }
        Mode::Execute => {
            if run.changed_production() {
                r.finding(
                    Severity::Warning,
                    Some(&run.plan),
                    format!(
                        "{} stands failed over (run {}). Failback once the primary region is back: {{\"action\": \"failback\", \"plan\": \"{}\", \"confirm\": \"{}\"}} — it recreates the primary as a replica of the DR writer, waits until caught up, switches over, and puts the secrets, records and backup target back to the values recorded here",
                        run.plan, run.run_id, run.plan, run.plan
                    ),
                );
            }
        }
        Mode::Failback => {
            if let Some(undone) = &run.undoes {
                r.finding(
                    Severity::Info,
                    None,
                    format!("failback of the execute run {undone}"),
                );
            }
        }
    }
    if status.failed_over.contains_key(&run.plan) && run.mode == Mode::Failback {
        r.finding(
            Severity::Warning,
            Some(&run.plan),
            "the failback did not finish: the plan still stands failed over".to_string(),
        );
    }
    r.details = json!({"plan": run.plan, "mode": run.mode, "steps": run.steps, "achieved_rto_seconds": achieved, "critical_path": path, "wall_seconds": wall, "data_loss_seconds": loss, "temporaries": run.temps});
    r.finish(now);
    // Run's own failures as status (a failed step makes the run critical at least).
    if !failed.is_empty() && r.status.level() < lifeboat_shared::report::Status::Critical.level() {
        r.status = lifeboat_shared::report::Status::Critical;
    }
    r
}
