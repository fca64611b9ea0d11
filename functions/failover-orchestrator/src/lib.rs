//! failover-orchestrator: the DR runbook as a plan of steps (`failover.plans[]` in the policy).
//!
//! - Readiness (its schedule, every 30 min; `{"action": "readiness"}`): every plan assessed,
//!   alerts on change only, `FailoverReady` per plan ([`readiness`]).
//! - Plan (`{"action": "plan", "plan": ...}`, and what an alarm does unless
//!   `automation.auto_failover`): the assessment, each step's before/after, the expected RTO by
//!   the critical path, the expected data loss; changes nothing ([`report::plan_report`]).
//! - Drill, execute, failback: a resumable run on the shared engine ([`runs`]): one active run
//!   for the function (two plans never run at once; an execute is refused while a drill runs),
//!   steps advanced one phase per round with independent branches in parallel, the journal
//!   saved after each round, the Step Functions loop (started by the function, named by the run
//!   id: one loop per run) re-invoking it until done.
//!
//! [`command`] parses every trigger into one [`command::Command`]; one `match` dispatches it.

pub mod command;
pub mod execute;
pub mod inventory;
pub mod plan;
pub mod preflight;
pub mod readiness;
pub mod report;
pub mod runs;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::resumable::Store;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::trigger::{AlarmState, Trigger};
use lifeboat_shared::{Error, Result};
use serde_json::Value;

use crate::command::Command;

pub const FUNCTION: &str = "failover-orchestrator";
/// The `lifeboat:purpose` tag of a drill's temporary resources.
pub const DRILL_PURPOSE: &str = "failover-drill";
/// The tag a fenced old primary carries: the run that fenced it.
pub const FENCED_TAG: &str = "lifeboat:fenced-by";
/// The lease of readiness evaluations and alarm plans (beside the runs' lease).
pub const ALERTS_LEASE: &str = "alerts";
/// The Step Functions loop the function starts for a run in progress (the template sets it).
pub const STATE_MACHINE_VAR: &str = "LIFEBOAT_STATE_MACHINE_ARN";

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub aws: Aws,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub clients: inventory::Clients,
    pub state_machine: Option<String>,
}

impl App {
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?.for_function(FUNCTION);
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        let sm = state_machine(std::env::var(STATE_MACHINE_VAR).ok())?;
        Ok(App::new(aws, env, policy).with_state_machine(sm))
    }

    pub fn new(aws: Aws, env: Env, policy: Policy) -> App {
        let aws = aws.for_function(FUNCTION);
        App {
            s3: aws.s3(),
            sns: aws.sns(),
            clients: inventory::Clients::new(&aws, &policy),
            env,
            policy,
            aws,
            state_machine: None,
        }
    }

    pub fn with_state_machine(mut self, arn: Option<String>) -> App {
        self.state_machine = arn;
        self
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox::new(&self.env, &self.s3, &self.sns)
    }

    pub fn store(&self) -> Store<'_> {
        Store {
            s3: &self.s3,
            bucket: &self.env.report_bucket,
            function: FUNCTION,
        }
    }

    pub fn cx(&self) -> execute::Cx<'_> {
        execute::Cx {
            policy: &self.policy,
            clients: &self.clients,
            local_endpoints: &self.env.local_endpoints,
            emulator: self.aws.custom_endpoint(),
        }
    }
}

/// `LIFEBOAT_STATE_MACHINE_ARN`: unset (local runs drive the loop themselves) or a state
/// machine ARN.
pub fn state_machine(v: Option<String>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) if s.starts_with("arn:") && s.contains(":states:") && s.contains(":stateMachine:") => Ok(Some(s)),
        Some(s) => Err(Error::env(
            STATE_MACHINE_VAR,
            format!(
                "a Step Functions state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME), got {}",
                lifeboat_shared::trigger::excerpt_str(&s)
            ),
        )),
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let (request_id, stop_at) = run::context(&event);
    invoke(app, &event.payload, &request_id, Utc::now(), stop_at)
        .await?
        .to_json()
}

/// One invocation: the command (before any AWS call), then one dispatch.
pub async fn invoke(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Response> {
    let cmd = command::parse(payload, &app.policy)?;
    let mut inv = Invocation::new(
        FUNCTION,
        app.aws.region(),
        cmd.trigger(),
        cmd.dry_run(),
        request_id,
        now,
        stop_at,
    );
    // Every delivery of one alarm state change (EventBridge, SNS, the alarm's Lambda action,
    // EventBridge's own redeliveries) is one run: its id comes from the alarm and the time it
    // entered its state, not from the delivery.
    // A resume works on (and a failure of it reports under) the run it resumes.
    if let Command::Resume { run_id, .. } = &cmd {
        inv.run_id = run_id.clone();
    }
    if let Trigger::Alarm(a) = &inv.trigger {
        let key = format!(
            "alarm:{}:{}:{}",
            a.name,
            a.state.as_str(),
            a.time.to_rfc3339()
        );
        inv.run_id = lifeboat_shared::run_id(a.time, &key);
        inv.event_key = key;
    }
    let result = Box::pin(dispatch(app, &inv, cmd)).await;
    run::or_report_failure(&app.outbox(), &inv, result).await
}

async fn dispatch(app: &App, inv: &Invocation, cmd: Command) -> Result<Response> {
    let inv = inv.clone();
    match cmd {
        Command::Readiness { only, .. } => readiness::run(app, &inv, &only).await,
        Command::Plan { plan, .. } => report::plan_run(app, &inv, &plan).await,
        Command::Run(r) => runs::start(app, &inv, runs::Start::Mode(r.mode, r.plan)).await,
        Command::Alarm { alarm, plans } => {
            if alarm.state != AlarmState::Alarm {
                runs::attach_only(app, &inv).await
            } else if app.policy.automation.auto_failover {
                runs::start(app, &inv, runs::Start::Auto(alarm, plans[0].clone())).await
            } else {
                report::alarm_plan(app, &inv, &alarm, &plans).await
            }
        }
        Command::Approve { .. } => runs::start(app, &inv, runs::Start::Approve).await,
        Command::Resume { run_id, .. } => runs::resume(app, &inv, &run_id).await,
        Command::Janitor { dry_run, .. } => runs::janitor_run(app, &inv, dry_run).await,
        Command::Preflight(_) => {
            let checks = preflight::check(app, &inv.run_id).await;
            lifeboat_shared::preflight::deliver(&app.outbox(), &inv, checks).await
        }
    }
}
