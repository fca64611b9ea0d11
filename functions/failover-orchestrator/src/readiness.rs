//! Readiness: every plan assessed without acting (its schedule, every 30 min by default), alerts
//! on change only through the shared alert-on-change states ([`lifeboat_shared::alerts`]):
//! "region-failover NOT READY (was READY): promote-orders: would lose 22 min of data against RPO
//! 15m". A plan whose definition changed is a new check (its key carries the plan's
//! fingerprint): its readiness is emailed at the next evaluation. `FailoverReady` (1 or 0) per
//! plan as EMF.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;
use lifeboat_shared::alerts::{self, Check, Level, Stored};
use lifeboat_shared::journal::Journal;
use lifeboat_shared::policy::failover::Plan;
use lifeboat_shared::report::{Measurement, Severity};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::plan::{self, Readiness};
use crate::{inventory, App, FUNCTION};

/// A plan's readiness, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Ready,
    NoData,
    NotReady,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Ready => "READY",
            State::NoData => "NO DATA",
            State::NotReady => "NOT READY",
        })
    }
}

impl Level for State {
    const OK: Self = State::Ready;
    const NO_DATA: Self = State::NoData;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanCheck {
    pub key: String,
    pub plan: String,
    pub state: State,
    pub detail: String,
}

impl Check for PlanCheck {
    type State = State;
    fn key(&self) -> &str {
        &self.key
    }
    fn state(&self) -> State {
        self.state
    }
    fn title(&self) -> String {
        self.plan.clone()
    }
    fn detail(&self) -> &str {
        &self.detail
    }
}

/// Where the readiness states are kept.
pub fn state_key() -> String {
    format!("state/{FUNCTION}/readiness.json")
}

/// The check of one plan from its readiness (pure). The key carries the plan's fingerprint.
pub fn check_of(plan: &Plan, r: &Readiness, loss: Option<i64>) -> PlanCheck {
    let fingerprint = lifeboat_shared::fnv1a(&serde_json::to_string(plan).unwrap_or_default());
    let state = if r.ready {
        State::Ready
    } else if r.unread {
        State::NoData
    } else {
        State::NotReady
    };
    let detail = if r.ready {
        format!(
            "expected RTO {} against {}, data loss {} against RPO {}",
            plan::words(plan::expected_rto(plan).0),
            plan.rto,
            loss.map(plan::words)
                .unwrap_or_else(|| "none measured".into()),
            plan.rpo
        )
    } else {
        r.reasons.join("; ")
    };
    PlanCheck {
        key: format!("{}#{fingerprint:08x}", plan.name),
        plan: plan.name.clone(),
        state,
        detail,
    }
}

/// `{"action": "readiness"}` and the schedule: once per run id.
/// Under a lease of its own (`locks/failover-orchestrator-alerts.json`): an evaluation never
/// holds up a drill, an execute or a failback.
pub async fn run(app: &App, inv: &Invocation, only: &[String]) -> Result<Response> {
    let mut inv = inv.clone();
    inv.lease_name = Some(crate::ALERTS_LEASE);
    let inv = &inv;
    run::once(
        &app.s3,
        &app.env.report_bucket,
        inv,
        Duration::minutes(16),
        || Box::pin(evaluate(app, inv, only)),
    )
    .await
}

async fn evaluate(app: &App, inv: &Invocation, only: &[String]) -> Result<Response> {
    let plans: Vec<&Plan> = app
        .policy
        .failover
        .plans
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .collect();
    let assessed = futures::future::join_all(
        plans
            .iter()
            .map(|p| Box::pin(inventory::assess(&app.clients, &app.policy, p, inv.now))),
    )
    .await;
    let mut checks = Vec::new();
    let mut report = inv.report();
    for (p, a) in plans.iter().zip(&assessed) {
        let r = plan::readiness(p, a);
        let c = check_of(p, &r, a.data_loss());
        if c.state != State::NoData {
            let mut dims = BTreeMap::new();
            dims.insert("Plan".to_string(), p.name.clone());
            report.measurements.push(Measurement {
                name: "FailoverReady".into(),
                value: if c.state == State::Ready { 1.0 } else { 0.0 },
                unit: "None".into(),
                dimensions: dims,
            });
        }
        checks.push(c);
    }
    let key = state_key();
    let mut journal = Journal::<Stored<State>>::load(&app.s3, &app.env.report_bucket, &key)
        .await?
        .unwrap_or_else(|| Journal::new(&key, Stored::default()));
    let d = alerts::diff(
        &journal.state,
        &checks,
        inv.now,
        app.policy.monitoring.reminder_every.0,
        &inv.run_id,
    );
    let mut next = d.next.clone();
    if only.is_empty() {
        next.keep_only(&checks);
    }
    journal.state = next;
    match journal.save(&app.s3, &app.env.report_bucket).await {
        Ok(()) => {}
        // Another evaluation saved first and has alerted: nothing to send.
        Err(Error::Internal(e)) => {
            return Ok(Response::skipped(
                Some(inv.run_id.clone()),
                format!("another readiness evaluation saved first ({e}); it alerts"),
            ))
        }
        Err(e) => return Err(e),
    }
    let ready = checks.iter().filter(|c| c.state == State::Ready).count();
    report.headline = match d.changes.first() {
        Some(c) => c.sentence(),
        None => format!(
            "readiness: {ready} of {} plans READY (no change)",
            checks.len()
        ),
    };
    for c in &d.changes {
        let sev = match c.check.state {
            State::Ready => Severity::Info,
            State::NoData => Severity::Warning,
            State::NotReady => Severity::Critical,
        };
        report.finding(sev, Some(&c.check.plan), c.sentence());
    }
    for c in &checks {
        if !d.changes.iter().any(|x| x.check.key == c.key) {
            report.finding(
                Severity::Info,
                Some(&c.plan),
                format!("{} {}: {}", c.plan, c.state, c.detail),
            );
        }
    }
    for h in &d.held {
        report.finding(
            Severity::Info,
            None,
            format!("{h}: no data this time; held at its last state"),
        );
    }
    report.details = serde_json::json!({"assessments": assessed});
    if d.changes.is_empty() {
        return Ok(run::deliver_quietly(report));
    }
    report.finish(chrono::Utc::now());
    run::deliver(&app.outbox(), report).await
}
