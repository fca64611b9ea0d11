//! Drill, execute and failback as resumable runs on the shared engine
//! ([`lifeboat_shared::resumable`]): the journal is the run's state and its single-flight lock;
//! one run is active for the function at a time, so two plans never act at once. A trigger
//! arriving during a run is attached to it (an alarm, an approval) or refused with what to do
//! (an execute while a drill runs). What a finished run leaves across runs ([`Status`]): which
//! plans stand failed over and by which run (so an execute never repeats and a failback knows
//! what to put back), and when each plan was last drilled.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::policy::failover::Plan;
use lifeboat_shared::report::Report;
use lifeboat_shared::resumable::{self, Arrival, Journaled, Resumable};
use lifeboat_shared::run::{Invocation, Response};
use lifeboat_shared::trigger::{Alarm, AlarmState, Trigger};
use lifeboat_shared::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::execute::{self, RunView};
use crate::plan::{self, Attached, AutoHold, Mode, Phase, RunState, StepRun};
use crate::{inventory, report, App};

/// The pause between polls of a step waiting on AWS within one invocation.
pub const POLL_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What the function keeps across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Plans that stand failed over: by plan, the execute run and what its steps recorded.
    #[serde(default)]
    pub failed_over: BTreeMap<String, Executed>,
    /// When each plan's last drill finished.
    #[serde(default)]
    pub last_drill: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    pub run_id: String,
    pub finished_at: DateTime<Utc>,
    pub steps: Vec<StepRun>,
}

/// How a run is asked for.
#[derive(Debug, Clone)]
pub enum Start {
    /// Drill, execute or failback of a plan (a scheduled drill: the plan drilled longest ago).
    Mode(Mode, Option<String>),
    /// An alarm with `automation.auto_failover`: execute once the conditions hold.
    Auto(Alarm, String),
    /// An approval: attaches to the active run (refused when no run is active).
    Approve,
}

/// failover-orchestrator's steps for the engine.
pub struct Runs<'a> {
    pub app: &'a App,
    pub start: Start,
}

/// A new trigger: plans a run, or advances (and attaches to) the active one.
pub async fn start(app: &App, inv: &Invocation, start: Start) -> Result<Response> {
    let runs = Runs { app, start };
    let r = Box::pin(resumable::advance(
        &runs,
        &app.store(),
        &app.outbox(),
        inv,
        None,
    ))
    .await?;
    loop_on(app, &r).await;
    Ok(r)
}

/// The Step Functions loop (or a local loop) resuming a run.
pub async fn resume(app: &App, inv: &Invocation, run_id: &str) -> Result<Response> {
    let runs = Runs {
        app,
        start: Start::Approve,
    };
    Box::pin(resumable::advance(
        &runs,
        &app.store(),
        &app.outbox(),
        inv,
        Some(run_id),
    ))
    .await
}

/// An alarm back to OK (or INSUFFICIENT_DATA): attached to the run in progress, if any; it
/// starts nothing and undoes nothing.
pub async fn attach_only(app: &App, inv: &Invocation) -> Result<Response> {
    let status = app.store().status::<Status>().await?;
    match status.state.active_run {
        Some(_) => start(app, inv, Start::Approve).await,
        None => Ok(Response::skipped(
            None,
            "the alarm left ALARM and no run is in progress: nothing to do (an alarm never undoes a failover; failback is armed by hand)",
        )),
    }
}

/// Starts the loop for a run in progress (named by the run id: a second start of the same run
/// finds it running). Without a state machine (local runs), the caller loops.
async fn loop_on(app: &App, r: &Response) {
    let (Some(arn), Response::InProgress { run_id, .. }) = (&app.state_machine, r) else {
        return;
    };
    let sent = app
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(arn)
        .name(run_id)
        .input(json!({"action": "resume", "run_id": run_id}).to_string())
        .send()
        .await;
    if let Err(e) = sent {
        let e = lifeboat_shared::aws::errors::AwsError::new("StartExecution", &e);
        if e.code != "ExecutionAlreadyExists" {
            tracing::error!(error = %e, run_id, "could not start the run loop; resume it with {{\"action\": \"resume\", \"run_id\": ...}}");
        }
    }
}

impl Runs<'_> {
    fn plan_of(&self, name: &str) -> Result<&Plan> {
        self.app
            .policy
            .failover
            .plan(name)
            .ok_or_else(|| Error::event("event.plan", format!("a plan of the policy, got {name}")))
    }
}

impl Resumable for Runs<'_> {
    type State = RunState;
    type Status = Status;

    async fn plan(&self, inv: &Invocation, status: &Status) -> Result<RunState> {
        let (mode, name, auto) = match &self.start {
            Start::Approve => {
                return Err(Error::event(
                    "event.run_id",
                    "a run in progress to attach to; none is (it finished, or never started)",
                ))
            }
            Start::Mode(mode, Some(p)) => (*mode, p.clone(), None),
            Start::Mode(mode, None) => {
                // A scheduled drill: the plan drilled longest ago (never drilled first).
                let p = self
                    .app
                    .policy
                    .failover
                    .plans
                    .iter()
                    .min_by_key(|p| status.last_drill.get(&p.name).copied())
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                (*mode, p, None)
            }
            Start::Auto(alarm, p) => (Mode::Execute, p.clone(), Some(alarm.clone())),
        };
        let plan = self.plan_of(&name)?;
        let failed_over = status.failed_over.get(&name);
        let state = match mode {
            Mode::Execute => match plan::execute_refusal(failed_over.map(|e| e.run_id.as_str())) {
                Some(why) => RunState::refused(plan, mode, why),
                None => {
                    let mut s = RunState::new(plan, mode);
                    if let Some(a) = auto {
                        s.auto = Some(AutoHold {
                            alarm: a.name.clone(),
                            since: a.time,
                            until: a.time + plan.alarm_for.0,
                            settled: None,
                        });
                    }
                    s
                }
            },
            Mode::Failback => match failed_over {
                None => RunState::refused(
                    plan,
                    mode,
                    format!(
                        "{name} is not failed over (no execute run recorded): nothing to fail back"
                    ),
                ),
                Some(e) => {
                    let mut s = RunState::new(plan, mode);
                    s.steps = plan::failback_steps(&e.steps);
                    s.undoes = Some(e.run_id.clone());
                    s
                }
            },
            Mode::Drill => match failed_over {
                Some(e) => RunState::refused(
                    plan,
                    mode,
                    format!(
                        "{name} stands failed over (run {}): drill it after the failback",
                        e.run_id
                    ),
                ),
                None => RunState::new(plan, mode),
            },
        };
        let _ = inv;
        Ok(state)
    }

    fn has_work(&self, state: &RunState) -> bool {
        state.refused.is_none()
    }

    async fn janitor(&self, state: &mut RunState, now: DateTime<Utc>) {
        let (removed, warnings) = Box::pin(janitor(self.app, now, false)).await;
        state.janitor.extend(removed);
        state.warnings.extend(warnings);
    }

    async fn round(&self, run_id: &str, state: &mut RunState) -> Result<bool> {
        if state.refused.is_some() {
            return Ok(false);
        }
        let now = Utc::now();
        if !state.start_sent {
            Box::pin(report::notice(
                self.app,
                &report::start_notice(run_id, state, self.app.policy.failover.plan(&state.plan)),
            ))
            .await;
            state.start_sent = true;
        }
        // The automatic start's hold: the alarm must stay in ALARM for alarm_for, then the
        // assessment decides.
        if let Some(hold) = state.auto.clone() {
            if hold.settled.is_none() {
                let moved = Box::pin(self.hold(state, &hold, now)).await?;
                return Ok(moved);
            }
            if hold.settled == Some(false) {
                return Ok(false);
            }
        }
        let ready = plan::ready(&mut state.steps);
        if ready.is_empty() {
            return Ok(Box::pin(self.finish_drill(run_id, state)).await);
        }
        if state.acting_since.is_none() {
            state.acting_since = Some(now);
        }
        let view = RunView::of(run_id, state);
        let cx = self.app.cx();
        let before: Vec<Phase> = state.steps.iter().map(|s| s.phase).collect();
        let moved = futures::future::join_all(
            state
                .steps
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| ready.contains(i))
                .map(|(_, s)| Box::pin(execute::advance(&cx, &view, s))),
        )
        .await;
        // Temporaries are tracked as soon as a step makes them (a drill that fails midway
        // still tears them down).
        if state.mode == Mode::Drill {
            for s in &state.steps {
                for t in execute::temps_of(&view, s) {
                    if !state.temps.iter().any(|x| x.kind == t.kind && x.id == t.id) {
                        state.temps.push(t);
                    }
                }
            }
        }
        // A failure emails at once (not only at the end).
        for (i, s) in state.steps.iter().enumerate() {
            if s.phase == Phase::Failed && before.get(i) != Some(&Phase::Failed) {
                Box::pin(report::notice(
                    self.app,
                    &report::failure_notice(run_id, state, s),
                ))
                .await;
            }
        }
        let any = moved.iter().any(|m| *m);
        Ok(any || Box::pin(self.finish_drill(run_id, state)).await)
    }

    fn done(&self, state: &RunState) -> bool {
        state.done()
    }

    /// A step waiting on AWS (a promotion, a restore, a DNS change, a teardown) is polled again
    /// every few seconds within the invocation, not only at the loop's next one (30 s later):
    /// the RTO is not rounded up to the loop's period. A run waiting only on a person (an
    /// approval) or an automatic start's hold leaves the polling to the loop.
    fn wait_within(&self, state: &RunState) -> Option<std::time::Duration> {
        let on_aws = state.steps.iter().any(|s| {
            s.phase == Phase::Running
                && !matches!(
                    s.action,
                    lifeboat_shared::policy::failover::Action::Approval(_)
                )
        }) || (state.mode == Mode::Drill
            && state.steps.iter().all(|s| s.phase.terminal())
            && state.temps.iter().any(|t| !t.gone && t.error.is_none()));
        let holding = state.auto.as_ref().is_some_and(|h| h.settled.is_none());
        (on_aws && !holding).then_some(POLL_WITHIN)
    }

    fn progress(&self, state: &RunState) -> Value {
        state
            .steps
            .iter()
            .map(|s| json!({"step": s.name, "phase": s.phase, "detail": s.detail}))
            .collect()
    }

    fn arriving(&self, active: &str, state: &mut RunState, inv: &Invocation) -> Arrival {
        let now = inv.now;
        match &inv.trigger {
            Trigger::Alarm(a) => {
                let what = match a.state {
                    // A drill does not become a failover: the alarm is said loudly in its report.
                    AlarmState::Alarm if state.mode == Mode::Drill => {
                        if self.app.policy.automation.auto_failover {
                            state.cut_short(&format!("alarm {} in ALARM", a.name));
                        }
                        format!(
                        "alarm {} went to ALARM during this drill: no failover was started (a drill runs on temporary copies); if production is failing, execute once the drill has ended: {{\"action\": \"execute\", \"plan\": \"{}\", \"confirm\": \"{}\"}}",
                        a.name, state.plan, state.plan
                    )
                    }
                    AlarmState::Alarm => format!("alarm {} in ALARM ({}) attached to this run", a.name, a.delivery.as_str()),
                    _ => format!(
                        "alarm {} back to {} at {}: nothing undone, the run goes on",
                        a.name,
                        a.state.as_str(),
                        a.time.format("%H:%M:%SZ")
                    ),
                };
                // One line per alarm state change, however many deliveries.
                if !state.attached.iter().any(|x| x.what == what) {
                    state.attached.push(Attached { at: now, what });
                }
                Arrival::Attach
            }
            Trigger::Manual(m) if m.action == "approve" => {
                let run = m.args.get("run_id").and_then(Value::as_str).unwrap_or_default();
                let step = m.args.get("step").and_then(Value::as_str).unwrap_or_default();
                if run != active {
                    return Arrival::Refuse(format!(
                        "run {run:?} is not the run in progress ({active}, a {} of plan {}): nothing approved",
                        state.mode.as_str(),
                        state.plan
                    ));
                }
                let waiting = state
                    .steps
                    .iter()
                    .find(|s| s.name == step && matches!(s.action, lifeboat_shared::policy::failover::Action::Approval(_)));
                match waiting {
                    None => Arrival::Refuse(format!(
                        "no approval step {step:?} in the active run of plan {}: its approval steps are {}",
                        state.plan,
                        state
                            .steps
                            .iter()
                            .filter(|s| matches!(s.action, lifeboat_shared::policy::failover::Action::Approval(_)))
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    Some(s) if s.phase.terminal() => Arrival::Refuse(format!("step {step} has already ended ({:?})", s.phase)),
                    Some(_) => {
                        state.approved.insert(step.to_string());
                        state.attached.push(Attached { at: now, what: format!("step {step} approved (run {run})") });
                        Arrival::Attach
                    }
                }
            }
            // Production first: an execute (or failback) arriving during a drill cuts the drill
            // short (nothing more is started; its temporaries are torn down at once) and says
            // when to execute again.
            Trigger::Manual(m)
                if state.mode == Mode::Drill && (m.action == "execute" || m.action == "failback") =>
            {
                let why = format!(
                    "{} of plan {} requested at {}",
                    m.action,
                    m.args.get("plan").and_then(Value::as_str).unwrap_or("?"),
                    now.format("%H:%M:%SZ")
                );
                state.cut_short(&why);
                Arrival::Refuse(format!(
                    "a drill of plan {} (run {active}) is in progress: {} refused; the drill is cut short now (nothing more starts, its temporaries are being removed): run {} again once it reports, within a few minutes",
                    state.plan, m.action, m.action
                ))
            }
            // The same command again (a retry after a failed invocation, a second person):
            // it advances the run in progress.
            Trigger::Manual(m)
                if m.action == state.mode.as_str()
                    && m.args.get("plan").and_then(Value::as_str) == Some(state.plan.as_str()) =>
            {
                state.attached.push(Attached {
                    at: now,
                    what: format!("{} of {} asked for again: advanced this run", m.action, state.plan),
                });
                Arrival::Attach
            }
            Trigger::Manual(m) => Arrival::Refuse(format!(
                "a {} of plan {} is in progress (run {active}): {} refused; run it again once this run has reported",
                state.mode.as_str(),
                state.plan,
                m.action
            )),
            Trigger::Schedule(_) | Trigger::BackupJob(_) => Arrival::Refuse(format!(
                "a {} of plan {} is in progress: this trigger does nothing",
                state.mode.as_str(),
                state.plan
            )),
        }
    }

    fn report(&self, run: &Journaled<RunState>, status: &mut Status, _inv: &Invocation) -> Report {
        let now = Utc::now();
        match run.mode {
            Mode::Execute if run.changed_production() => {
                status.failed_over.insert(
                    run.plan.clone(),
                    Executed {
                        run_id: run.run_id.clone(),
                        finished_at: now,
                        steps: run.steps.clone(),
                    },
                );
            }
            Mode::Failback if run.refused.is_none() && !run.failed() => {
                status.failed_over.remove(&run.plan);
            }
            Mode::Drill if run.refused.is_none() => {
                status.last_drill.insert(run.plan.clone(), now);
            }
            _ => {}
        }
        report::run_report(self.app, run, status, now)
    }
}

impl Runs<'_> {
    /// The automatic start's hold; true when it settled.
    async fn hold(
        &self,
        state: &mut RunState,
        hold: &AutoHold,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let plan = self.plan_of(&state.plan)?.clone();
        let primary = self.app.clients.at(&plan.primary_region);
        let (alarms, _) = inventory::alarms(primary, std::slice::from_ref(&hold.alarm)).await;
        let in_alarm = alarms.first().map(|h| h.healthy == Some(false));
        let set = |state: &mut RunState, go: bool, why: String| {
            if let Some(h) = state.auto.as_mut() {
                h.settled = Some(go);
            }
            state.assessment.push(why);
        };
        match in_alarm {
            Some(false) => {
                set(
                    state,
                    false,
                    format!(
                        "alarm {} left ALARM before {}: no failover",
                        hold.alarm,
                        hold.until.format("%H:%M:%SZ")
                    ),
                );
                return Ok(true);
            }
            None => {
                // Unreadable: keep holding (the primary region may be the one failing).
            }
            Some(true) => {}
        }
        if now < hold.until {
            return Ok(false);
        }
        let a = inventory::assess(&self.app.clients, &self.app.policy, &plan, now).await;
        match plan::auto_failover(
            self.app.policy.automation.auto_failover,
            &plan,
            hold.since,
            &a,
            now,
        ) {
            plan::Auto::Go(why) => {
                set(state, true, format!("auto-failover: {why}"));
                Ok(true)
            }
            plan::Auto::Hold(_) => Ok(false),
            plan::Auto::No(why) => {
                set(state, false, format!("no auto-failover: {why}"));
                Ok(true)
            }
        }
    }

    /// A drill whose steps have all ended tears its temporaries down; true when any moved.
    async fn finish_drill(&self, run_id: &str, state: &mut RunState) -> bool {
        if state.mode != Mode::Drill || !state.steps.iter().all(|s| s.phase.terminal()) {
            return false;
        }
        let view = RunView::of(run_id, state);
        Box::pin(execute::teardown(&self.app.cx(), &view, &mut state.temps)).await
    }
}

/// Removes expired drill temporaries a crashed drill left, by their tags
/// (`lifeboat:purpose=failover-drill`, `lifeboat:expires-at` past) and drill names: RDS
/// instances, replication groups and secret copies in the DR regions, backup-target parameter
/// copies in the primary regions. Route 53 drill records carry no tags: the drill's own run
/// removes them (a resumed run always finishes its teardown). Returns what it removed (or would
/// remove, dry) and warnings.
pub async fn janitor(app: &App, now: DateTime<Utc>, dry_run: bool) -> (Vec<String>, Vec<String>) {
    use lifeboat_shared::aws::{elasticache as ec, rds};
    use lifeboat_shared::backup::{TAG_EXPIRES, TAG_PURPOSE};
    let mut removed = Vec::new();
    let mut warnings = Vec::new();
    let expired = |tags: &BTreeMap<String, String>| {
        tags.get(TAG_PURPOSE).map(String::as_str) == Some(crate::DRILL_PURPOSE)
            && tags
                .get(TAG_EXPIRES)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t.with_timezone(&Utc) < now)
    };
    let regions: Vec<String> = app
        .policy
        .failover
        .plans
        .iter()
        .map(|p| p.dr_region.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for region in regions {
        let r = app.clients.at(&region);
        match rds::instances(&r.rds).await {
            Ok(all) => {
                for i in all
                    .into_iter()
                    .filter(|i| expired(&i.tags) && i.status != "deleting")
                {
                    if dry_run {
                        removed.push(format!("would remove drill instance {} ({region})", i.id));
                        continue;
                    }
                    match r
                        .rds
                        .delete_db_instance()
                        .db_instance_identifier(&i.id)
                        .skip_final_snapshot(true)
                        .delete_automated_backups(true)
                        .send()
                        .await
                    {
                        Ok(_) => removed.push(format!(
                            "drill instance {} ({region}) removed: expired",
                            i.id
                        )),
                        Err(e) => warnings.push(format!(
                            "janitor: {}",
                            lifeboat_shared::aws::errors::AwsError::new("DeleteDBInstance", &e)
                                .about(&i.id)
                        )),
                    }
                }
            }
            Err(e) => warnings.push(format!(
                "janitor could not list DB instances in {region}: {e}"
            )),
        }
        match ec::replication_groups(&r.elasticache).await {
            Ok(all) => {
                for g in all.into_iter().filter(|g| g.status == "available") {
                    let tags = match ec::tags(&r.elasticache, &g.arn).await {
                        Ok(t) => t,
                        Err(_) => continue,
                    };
                    if !expired(&tags) {
                        continue;
                    }
                    if dry_run {
                        removed.push(format!("would remove drill cache {} ({region})", g.id));
                        continue;
                    }
                    match r
                        .elasticache
                        .delete_replication_group()
                        .replication_group_id(&g.id)
                        .send()
                        .await
                    {
                        Ok(_) => removed
                            .push(format!("drill cache {} ({region}) removed: expired", g.id)),
                        Err(e) => warnings.push(format!(
                            "janitor: {}",
                            lifeboat_shared::aws::errors::AwsError::new(
                                "DeleteReplicationGroup",
                                &e
                            )
                            .about(&g.id)
                        )),
                    }
                }
            }
            Err(e) => warnings.push(format!(
                "janitor could not list replication groups in {region}: {e}"
            )),
        }
        // Drill copies of secrets, by their tags (ListSecrets returns them).
        let listed = r
            .secrets
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagKey)
                    .values(TAG_PURPOSE)
                    .build(),
            )
            .into_paginator()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut entries = Vec::new();
        for page in listed {
            match page {
                Ok(p) => entries.extend(p.secret_list().to_vec()),
                Err(e) => {
                    warnings.push(format!(
                        "janitor could not list secrets in {region}: {}",
                        AwsError::new("ListSecrets", &e)
                    ));
                    break;
                }
            }
        }
        for entry in entries {
            let tags: BTreeMap<String, String> = entry
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            let Some(name) = entry.name().map(str::to_string) else {
                continue;
            };
            if !expired(&tags) || !name.contains("-lifeboat-drill-") {
                continue;
            }
            if dry_run {
                removed.push(format!("would remove drill secret {name} ({region})"));
                continue;
            }
            match r
                .secrets
                .delete_secret()
                .secret_id(&name)
                .force_delete_without_recovery(true)
                .send()
                .await
            {
                Ok(_) => removed.push(format!("drill secret {name} ({region}) removed: expired")),
                Err(e) => warnings.push(format!(
                    "janitor: {}",
                    AwsError::new("DeleteSecret", &e).about(&name)
                )),
            }
        }
    }
    // Drill copies of the backup-target parameter, in the plans' primary regions, by tag.
    let primaries: std::collections::BTreeSet<String> = app
        .policy
        .failover
        .plans
        .iter()
        .map(|p| p.primary_region.clone())
        .collect();
    for region in primaries {
        let r = app.clients.at(&region);
        let listed = r
            .ssm
            .describe_parameters()
            .parameter_filters(
                aws_sdk_ssm::types::ParameterStringFilter::builder()
                    .key(format!("tag:{TAG_PURPOSE}"))
                    .values(crate::DRILL_PURPOSE)
                    .build()
                    .expect("key is set"),
            )
            .send()
            .await;
        let names: Vec<String> = match listed {
            Ok(out) => out
                .parameters()
                .iter()
                .filter_map(|p| p.name().map(str::to_string))
                .collect(),
            Err(e) => {
                warnings.push(format!(
                    "janitor could not list parameters in {region}: {}",
                    AwsError::new("DescribeParameters", &e)
                ));
                continue;
            }
        };
        for name in names.into_iter().filter(|n| n.contains("-lifeboat-drill-")) {
            let tags: BTreeMap<String, String> = match r
                .ssm
                .list_tags_for_resource()
                .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
                .resource_id(&name)
                .send()
                .await
            {
                Ok(t) => t
                    .tag_list()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                Err(e) => {
                    warnings.push(format!(
                        "janitor: {}",
                        AwsError::new("ListTagsForResource", &e).about(&name)
                    ));
                    continue;
                }
            };
            if !expired(&tags) {
                continue;
            }
            if dry_run {
                removed.push(format!("would remove drill parameter {name} ({region})"));
                continue;
            }
            match r.ssm.delete_parameter().name(&name).send().await {
                Ok(_) => removed.push(format!(
                    "drill parameter {name} ({region}) removed: expired"
                )),
                Err(e) => warnings.push(format!(
                    "janitor: {}",
                    AwsError::new("DeleteParameter", &e).about(&name)
                )),
            }
        }
    }
    (removed, warnings)
}

/// `{"action": "janitor"}`: the janitor outside any run.
pub async fn janitor_run(app: &App, inv: &Invocation, dry_run: bool) -> Result<Response> {
    let (removed, warnings) = janitor(app, inv.now, dry_run).await;
    let mut r = inv.report();
    r.headline = format!(
        "janitor: {} drill temporaries {}",
        removed.len(),
        if dry_run {
            "would be removed"
        } else {
            "removed"
        }
    );
    for x in removed {
        r.finding(lifeboat_shared::report::Severity::Info, None, x);
    }
    for w in warnings {
        r.finding(lifeboat_shared::report::Severity::Warning, None, w);
    }
    r.finish(Utc::now());
    lifeboat_shared::run::deliver(&app.outbox(), r).await
}
