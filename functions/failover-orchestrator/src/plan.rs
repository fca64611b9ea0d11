//! Pure: the run's state, the step graph (what is ready, what is blocked), the critical path
//! and the expected RTO, the readiness verdict, the auto-failover decision and the plan's
//! preview. No I/O, no clock: `now` is a parameter.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::policy::failover::{Action, Plan, Step};
use serde::{Deserialize, Serialize};

/// What a run does with the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// For real on temporary copies; production untouched; everything torn down.
    Drill,
    /// For real, armed.
    Execute,
    /// Back to the primary region, armed, from what the execute run recorded.
    Failback,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Drill => "drill",
            Mode::Execute => "execute",
            Mode::Failback => "failback",
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    /// Started; `memo` says how far.
    Running,
    Done,
    Failed,
    /// A step it depends on failed: not started.
    Blocked,
}

impl Phase {
    pub fn terminal(self) -> bool {
        matches!(self, Phase::Done | Phase::Failed | Phase::Blocked)
    }
}

/// A before/after of one thing a step changes (secret values are never in it: only the host
/// and port fields, and version ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub what: String,
    pub before: String,
    pub after: String,
}

impl Change {
    pub fn new(
        what: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Change {
        Change {
            what: what.into(),
            before: before.into(),
            after: after.into(),
        }
    }
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub name: String,
    /// The step as the plan held it when the run started: a policy change mid-run changes
    /// nothing of a run.
    pub action: Action,
    pub depends_on: Vec<String>,
    pub rto_seconds: i64,
    pub phase: Phase,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// What it did, in words.
    #[serde(default)]
    pub detail: String,
    /// The AWS error (or reason) when it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// What a person must do about it.
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
    /// The new endpoint (host, port) a later step may use.
    #[serde(default)]
    pub endpoint: Option<(String, u16)>,
    /// Data loss this step caused: the replica's lag at promotion, the restored snapshot's age.
    #[serde(default)]
    pub data_loss_seconds: Option<i64>,
    /// Step-private progress (ids, version ids, change ids, sub-phases): what a resumed
    /// invocation needs to go on without repeating a write.
    #[serde(default)]
    pub memo: BTreeMap<String, String>,
}

impl StepRun {
    pub fn from_step(s: &Step) -> StepRun {
        StepRun {
            name: s.name.clone(),
            action: s.action.clone(),
            depends_on: s.depends_on.clone(),
            rto_seconds: s.rto.0.num_seconds(),
            phase: Phase::Pending,
            started_at: None,
            ended_at: None,
            detail: String::new(),
            error: None,
            next: None,
            changes: Vec::new(),
            endpoint: None,
            data_loss_seconds: None,
            memo: BTreeMap::new(),
        }
    }

    pub fn seconds(&self) -> Option<i64> {
        Some((self.ended_at? - self.started_at?).num_seconds())
    }

    pub fn over_rto(&self) -> bool {
        self.seconds().is_some_and(|s| s > self.rto_seconds)
    }
}

/// A temporary resource a drill made (removed at its end, or by the janitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Temp {
    /// `rds-instance`, `elasticache-group`, `secret`, `ssm-parameter`, `route53-record`.
    pub kind: String,
    pub region: String,
    pub id: String,
    /// For a record: the record set as created (DELETE must match it exactly).
    #[serde(default)]
    pub spec: Option<serde_json::Value>,
    #[serde(default)]
    pub gone: bool,
    /// The last teardown error, once the teardown gave up on it.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: u32,
}

/// A trigger that arrived during the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    pub at: DateTime<Utc>,
    pub what: String,
}

/// The automatic start's hold: an alarm must stay in ALARM for the plan's `alarm_for`, and the
/// assessment must find the primary down, before any step acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoHold {
    pub alarm: String,
    /// Since when the alarm has been in ALARM.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Settled: true to go on, false when the run ended without acting.
    #[serde(default)]
    pub settled: Option<bool>,
}

/// One run's state (the journal holds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub plan: String,
    pub mode: Mode,
    pub primary_region: String,
    pub dr_region: String,
    pub rto_seconds: i64,
    pub rpo_seconds: i64,
    pub allow_data_loss: bool,
    pub steps: Vec<StepRun>,
    /// Why the run does nothing (refused when planned), if so.
    #[serde(default)]
    pub refused: Option<String>,
    #[serde(default)]
    pub auto: Option<AutoHold>,
    /// Failback: the execute run it undoes.
    #[serde(default)]
    pub undoes: Option<String>,
    #[serde(default)]
    pub temps: Vec<Temp>,
    #[serde(default)]
    pub attached: Vec<Attached>,
    /// Approvals received (step names).
    #[serde(default)]
    pub approved: BTreeSet<String>,
    #[serde(default)]
    pub janitor: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The assessment the first step recorded (headline lines).
    #[serde(default)]
    pub assessment: Vec<String>,
    /// When the first step started acting and the last ended (the achieved RTO).
    #[serde(default)]
    pub acting_since: Option<DateTime<Utc>>,
    /// The start email went out.
    #[serde(default)]
    pub start_sent: bool,
    /// Why the run was cut short (a drill, when production needs the plan).
    #[serde(default)]
    pub cut_short: Option<String>,
}

impl RunState {
    pub fn new(plan: &Plan, mode: Mode) -> RunState {
        RunState {
            plan: plan.name.clone(),
            mode,
            primary_region: plan.primary_region.clone(),
            dr_region: plan.dr_region.clone(),
            rto_seconds: plan.rto.0.num_seconds(),
            rpo_seconds: plan.rpo.0.num_seconds(),
            allow_data_loss: plan.allow_data_loss,
            steps: plan.steps.iter().map(StepRun::from_step).collect(),
            refused: None,
            auto: None,
            undoes: None,
            temps: Vec::new(),
            attached: Vec::new(),
            approved: BTreeSet::new(),
            janitor: Vec::new(),
            warnings: Vec::new(),
            assessment: Vec::new(),
            acting_since: None,
            start_sent: false,
            cut_short: None,
        }
    }

    /// A run that does nothing, saying why.
    pub fn refused(plan: &Plan, mode: Mode, why: impl Into<String>) -> RunState {
        let mut s = RunState::new(plan, mode);
        s.refused = Some(why.into());
        s
    }

    pub fn step(&self, name: &str) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Every step ended (and a drill's temporaries are gone or given up on).
    pub fn done(&self) -> bool {
        if self.refused.is_some() || self.auto.as_ref().is_some_and(|a| a.settled == Some(false)) {
            return true;
        }
        self.steps.iter().all(|s| s.phase.terminal())
            && (self.mode != Mode::Drill || self.temps.iter().all(|t| t.gone || t.error.is_some()))
    }

    /// Stops starting steps: every step not ended is blocked with the reason (a drill's
    /// temporaries are then torn down).
    pub fn cut_short(&mut self, why: &str) {
        if self.cut_short.is_some() {
            return;
        }
        self.cut_short = Some(why.to_string());
        for s in self.steps.iter_mut().filter(|s| !s.phase.terminal()) {
            s.phase = Phase::Blocked;
            s.detail = format!("not finished: the run was cut short ({why})");
        }
    }

    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.phase == Phase::Failed || s.phase == Phase::Blocked)
    }

    /// An execute changed production when a step that acts finished.
    pub fn changed_production(&self) -> bool {
        self.mode == Mode::Execute
            && self.steps.iter().any(|s| {
                s.phase == Phase::Done
                    && !matches!(
                        s.action,
                        Action::Assess | Action::Approval(_) | Action::Verify(_)
                    )
            })
    }
}

/// The steps that may start now (pending, every dependency done), in plan order; and marks
/// blocked the pending steps with a failed or blocked dependency (their dependants follow on
/// the next call). Independent branches are ready together: the caller runs them in parallel.
pub fn ready(steps: &mut [StepRun]) -> Vec<usize> {
    loop {
        let phases: BTreeMap<String, Phase> =
            steps.iter().map(|s| (s.name.clone(), s.phase)).collect();
        let mut changed = false;
        for s in steps.iter_mut().filter(|s| s.phase == Phase::Pending) {
            if let Some(bad) = s
                .depends_on
                .iter()
                .find(|d| matches!(phases.get(*d), Some(Phase::Failed | Phase::Blocked)))
            {
                s.phase = Phase::Blocked;
                s.detail = format!("not started: {bad} did not succeed");
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let done: BTreeSet<&str> = steps
        .iter()
        .filter(|s| s.phase == Phase::Done)
        .map(|s| s.name.as_str())
        .collect();
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.phase == Phase::Running
                || (s.phase == Phase::Pending
                    && s.depends_on.iter().all(|d| done.contains(d.as_str())))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The longest path through the graph by `weight` (seconds): its length and its steps in order.
pub fn critical_path<F>(steps: &[(String, Vec<String>)], weight: F) -> (i64, Vec<String>)
where
    F: Fn(&str) -> i64,
{
    let mut memo: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
    fn longest<F: Fn(&str) -> i64>(
        n: &str,
        steps: &[(String, Vec<String>)],
        weight: &F,
        memo: &mut BTreeMap<String, (i64, Vec<String>)>,
        depth: usize,
    ) -> (i64, Vec<String>) {
        if let Some(v) = memo.get(n) {
            return v.clone();
        }
        let deps = steps
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        // Plans are validated acyclic; the depth bound keeps a broken journal from recursing.
        let best = if depth > steps.len() {
            (0, Vec::new())
        } else {
            deps.iter()
                .map(|d| longest(d, steps, weight, memo, depth + 1))
                .max_by_key(|(len, _)| *len)
                .unwrap_or((0, Vec::new()))
        };
        let mut path = best.1;
        path.push(n.to_string());
        let v = (best.0 + weight(n), path);
        memo.insert(n.to_string(), v.clone());
        v
    }
    steps
        .iter()
        .map(|(n, _)| longest(n, steps, &weight, &mut memo, 0))
        .max_by_key(|(len, _)| *len)
        .unwrap_or((0, Vec::new()))
}

/// The plan's expected RTO: the critical path by the steps' RTOs.
pub fn expected_rto(plan: &Plan) -> (i64, Vec<String>) {
    let graph: Vec<(String, Vec<String>)> = plan
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.clone()))
        .collect();
    let rto: BTreeMap<&str, i64> = plan
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.rto.0.num_seconds()))
        .collect();
    critical_path(&graph, |n| rto.get(n).copied().unwrap_or(0))
}

/// The seed's shell script runs the same steps one after another: its RTO is their sum.
pub fn sequential_rto(plan: &Plan) -> i64 {
    plan.steps.iter().map(|s| s.rto.0.num_seconds()).sum()
}

/// The achieved RTO of a run: the critical path by each step's measured duration, and the
/// wall time from the first step's start to the last step's end.
pub fn achieved_rto(run: &RunState) -> (i64, Vec<String>, Option<i64>) {
    let graph: Vec<(String, Vec<String>)> = run
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.clone()))
        .collect();
    let took: BTreeMap<&str, i64> = run
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.seconds().unwrap_or(0)))
        .collect();
    let (len, path) = critical_path(&graph, |n| took.get(n).copied().unwrap_or(0));
    let first = run.steps.iter().filter_map(|s| s.started_at).min();
    let last = run.steps.iter().filter_map(|s| s.ended_at).max();
    let wall = first.zip(last).map(|(a, b)| (b - a).num_seconds());
    (len, path, wall)
}

/// The health of a primary-side resource, as the assessment read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub what: String,
    /// None: could not be read (in a region failure, that is likely the answer).
    pub healthy: Option<bool>,
    pub detail: String,
}

/// What the assessment found for one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub step: String,
    /// The primary-side resource the step replaces.
    #[serde(default)]
    pub primary: Option<Health>,
    /// What the step needs in the DR region: ready (with what) or why not.
    pub dr: Result<String, String>,
    /// The data this step would lose now (replica lag, the newest snapshot's age), seconds.
    #[serde(default)]
    pub data_loss_seconds: Option<i64>,
    /// Why the data loss cannot be measured (no ReplicaLag, or -1: replication not running);
    /// ready only when the plan allows data loss.
    #[serde(default)]
    pub loss_unknown: Option<String>,
    /// What it would change: before (now) and after.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// The endpoint the DR side has now (a replica's), for the steps that use it.
    #[serde(default)]
    pub endpoint: Option<(String, u16)>,
}

/// The assessment of one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub plan: String,
    pub at: DateTime<Utc>,
    /// Each of the plan's alarms: its state and since when (or the error reading it).
    pub alarms: Vec<Health>,
    pub alarm_since: BTreeMap<String, DateTime<Utc>>,
    pub health_checks: Vec<Health>,
    pub steps: Vec<Facts>,
}

impl Assessment {
    /// The primary is down by the assessment (a resource unhealthy or a health check failing),
    /// not merely by an alarm.
    pub fn primary_down(&self) -> Option<String> {
        self.steps
            .iter()
            .filter_map(|f| f.primary.as_ref())
            .chain(self.health_checks.iter())
            .find(|h| h.healthy == Some(false))
            .map(|h| format!("{}: {}", h.what, h.detail))
    }

    /// Every primary-side resource answered healthy and no health check fails.
    pub fn primary_healthy(&self) -> bool {
        self.steps
            .iter()
            .filter_map(|f| f.primary.as_ref())
            .chain(self.health_checks.iter())
            .all(|h| h.healthy == Some(true))
    }

    /// The largest data loss a failover now would cause, seconds.
    pub fn data_loss(&self) -> Option<i64> {
        self.steps.iter().filter_map(|f| f.data_loss_seconds).max()
    }
}

/// READY or NOT READY, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    pub reasons: Vec<String>,
    /// True when something could not be read (the verdict is "no data", not NOT READY).
    pub unread: bool,
}

/// The readiness verdict: every step's DR side ready and the data loss within the RPO (or the
/// plan allows data loss).
pub fn readiness(plan: &Plan, a: &Assessment) -> Readiness {
    let mut reasons = Vec::new();
    let mut unread = false;
    for f in &a.steps {
        if let Err(why) = &f.dr {
            if why.starts_with("could not read") {
                unread = true;
            }
            reasons.push(format!("{}: {why}", f.step));
        }
    }
    for f in &a.steps {
        if let (Some(why), false) = (&f.loss_unknown, plan.allow_data_loss) {
            if why.starts_with("could not read") {
                unread = true;
            }
            reasons.push(format!(
                "{}: {why} (the plan does not allow data loss)",
                f.step
            ));
        }
    }
    let rpo = plan.rpo.0.num_seconds();
    for f in &a.steps {
        if let Some(loss) = f.data_loss_seconds {
            if loss > rpo && !plan.allow_data_loss {
                reasons.push(format!(
                    "{}: would lose {} of data against RPO {}",
                    f.step,
                    words(loss),
                    plan.rpo
                ));
            }
        }
    }
    Readiness {
        ready: reasons.is_empty(),
        unread: unread && !reasons.is_empty(),
        reasons,
    }
}

/// What an alarm may do with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auto {
    /// Execute.
    Go(String),
    /// Not yet: the alarm has not been in ALARM for `alarm_for`.
    Hold(DateTime<Utc>),
    /// Not at all, and why.
    No(String),
}

/// The auto-failover decision: only with `automation.auto_failover`, the alarm in ALARM for the
/// plan's `alarm_for`, the primary down by the assessment (not merely by the alarm), DR ready,
/// and the data loss within the RPO unless the plan allows it.
pub fn auto_failover(
    armed: bool,
    plan: &Plan,
    alarm_since: DateTime<Utc>,
    a: &Assessment,
    now: DateTime<Utc>,
) -> Auto {
    if !armed {
        return Auto::No(
            "automation.auto_failover is off: an alarm only plans (execute by hand with {\"action\": \"execute\", \"plan\": ..., \"confirm\": ...})".into(),
        );
    }
    let until = alarm_since + plan.alarm_for.0;
    if now < until {
        return Auto::Hold(until);
    }
    let Some(down) = a.primary_down() else {
        return Auto::No(
            "the alarm fires but the assessment finds the primary healthy (or could not read it): not failing over on an alarm alone".into(),
        );
    };
    let r = readiness(plan, a);
    if !r.ready {
        return Auto::No(format!("DR is not ready: {}", r.reasons.join("; ")));
    }
    Auto::Go(format!(
        "alarm in ALARM since {} ({} ≥ {}), primary down ({down}), DR ready",
        alarm_since.format("%H:%M:%SZ"),
        words((now - alarm_since).num_seconds()),
        plan.alarm_for
    ))
}

/// An execute (by hand or by alarm) is refused while the plan stands failed over, while a
/// drill of it runs, and when the assessment finds the data loss past the RPO (unless allowed).
pub fn execute_refusal(failed_over_by: Option<&str>) -> Option<String> {
    failed_over_by.map(|run| {
        format!("already failed over by run {run}: failback first ({{\"action\": \"failback\", \"plan\": ..., \"confirm\": ...}}); nothing done again")
    })
}

/// The steps a failback undoes, in the execute run's order; the kinds with nothing to undo
/// (assessment, approval, verify) are run again against the primary region.
pub fn failback_steps(executed: &[StepRun]) -> Vec<StepRun> {
    executed
        .iter()
        .map(|s| {
            let mut b = StepRun {
                name: s.name.clone(),
                action: s.action.clone(),
                depends_on: s.depends_on.clone(),
                rto_seconds: s.rto_seconds,
                phase: Phase::Pending,
                started_at: None,
                ended_at: None,
                detail: String::new(),
                error: None,
                next: None,
                changes: Vec::new(),
                endpoint: None,
                data_loss_seconds: None,
                memo: BTreeMap::new(),
            };
            // What the execute run recorded: the failback puts these back.
            for c in &s.changes {
                b.memo
                    .insert(format!("before:{}", c.what), c.before.clone());
            }
            for (k, v) in &s.memo {
                b.memo.insert(format!("executed:{k}"), v.clone());
            }
            if s.phase != Phase::Done {
                b.memo.insert(
                    "executed:phase".into(),
                    format!("{:?}", s.phase).to_lowercase(),
                );
            }
            b
        })
        .collect()
}

/// Seconds in words: `45 s`, `22 min`, `3 h 5 min`.
pub fn words(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// A step's RTO in words.
pub fn span_words(d: Duration) -> String {
    words(d.num_seconds())
}

#[cfg(test)]
mod tests;
