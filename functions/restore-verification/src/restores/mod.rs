//! The restore run: a resumable state machine on the shared engine
//! ([`lifeboat_shared::resumable`]). A new run plans a restore per due component; each round
//! advances every restore one phase (start -> wait -> verify -> teardown); every invocation
//! starts with the janitor; once every restore is torn down the run reports once.
//!
//! [`inventory`] (which backups exist) → [`plan`] (pure: due components, chosen backups, names,
//! tags, the janitor's rule) → [`execute`] (start, poll, [`verify`], teardown) → [`report`]
//! (pure). [`testing`] validates AWS Backup restore-testing jobs with the same checks.

/// `mock_client!` without the SDK's `test-util` feature (S3 and SNS are built without it):
/// for the tests of the modules below (defined before them, so in scope there).
#[cfg(test)]
macro_rules! plain_mock_client {
    ($sdk: ident, $rules: expr) => {{
        let mut mocks = aws_smithy_mocks::MockResponseInterceptor::new()
            .rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            mocks = mocks.with_rule(rule);
        }
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .region($sdk::config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(mocks)
                .build(),
        )
    }};
}

#[cfg(test)]
mod aws_tests;
pub mod execute;
pub mod inventory;
pub mod janitor;
pub mod plan;
pub mod report;
pub mod testing;
pub mod verify;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Action, Outcome, Report, Severity};
use lifeboat_shared::resumable::{self, Resumable, Store};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde_json::{json, Value};

use self::execute::{step, Teardown};
use self::inventory::Clients;
use self::plan::{janitor_picks, Job, NewRun, Run, RunState, Status as RunStatus};
use self::report::build_report;
use crate::command::RestoreCommand;

/// What the restore run uses, and nothing more: the policy, its clients, where it keeps its
/// journals and sends its report.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub clients: &'a Clients,
    /// S3 in the primary region: manifests in the backup bucket.
    pub s3: &'a aws_sdk_s3::Client,
    /// `LIFEBOAT_LOCAL_ENDPOINTS` (local runs only).
    pub local_endpoints: &'a BTreeMap<String, (String, u16)>,
    pub region: &'a str,
    pub store: Store<'a>,
    pub outbox: Outbox<'a>,
}

/// One invocation of a restore run (or its dry run).
pub async fn invoke(cx: &Context<'_>, cmd: &RestoreCommand, inv: &Invocation) -> Result<Response> {
    let restores = Restores { cx, cmd };
    if inv.dry_run {
        return dry_run(&restores, inv).await;
    }
    resumable::advance(&restores, &cx.store, &cx.outbox, inv, cmd.run_id.as_deref()).await
}

/// restore-verification's steps for the engine.
pub struct Restores<'a> {
    pub cx: &'a Context<'a>,
    pub cmd: &'a RestoreCommand,
}

impl Resumable for Restores<'_> {
    type State = RunState;
    type Status = RunStatus;

    async fn plan(&self, inv: &Invocation, status: &RunStatus) -> Result<RunState> {
        let (jobs, skipped, unread) =
            plan_run(self.cx, self.cmd, &inv.run_id, inv.now, status).await;
        Ok(RunState {
            jobs,
            skipped,
            janitor: Vec::new(),
            warnings: Vec::new(),
            unread,
        })
    }

    fn has_work(&self, state: &RunState) -> bool {
        !state.jobs.is_empty()
    }

    async fn janitor(&self, state: &mut RunState, now: DateTime<Utc>) {
        janitor(self.cx, state, now).await
    }

    async fn round(&self, run_id: &str, state: &mut RunState) -> Result<bool> {
        let Some(target) = self.cx.policy.verification.restore.clone() else {
            return Err(Error::policy(
                "verification.restore",
                "the restore target (subnet group, security groups)",
            ));
        };
        let moved = futures::future::join_all(
            state
                .jobs
                .iter_mut()
                .map(|job| step(self.cx, &target, run_id, job)),
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
        build_report(self.cx, run, status, Utc::now())
    }
}

/// The restores a new run would make (due components, chosen backups), what it skips and why,
/// and the components whose backups could not be read (due ones only). The real run and the dry
/// run share it.
async fn plan_run(
    cx: &Context<'_>,
    cmd: &RestoreCommand,
    run_id: &str,
    now: DateTime<Utc>,
    status: &RunStatus,
) -> (Vec<Job>, Vec<(String, String)>, Vec<(String, String)>) {
    let cands = inventory::candidates(cx.clients, cx.policy).await;
    let planned = NewRun {
        policy: cx.policy,
        run_id,
        now,
        only: &cmd.only,
    }
    .plan(&cands.by_component, &cands.unread, status);
    (planned.jobs, planned.skipped, planned.unread)
}

/// The warning for a component whose backups could not be read.
pub(crate) fn unread_finding(error: &str) -> String {
    format!(
        "its backups could not be read ({error}): not verified this run, still due; the next run tries again"
    )
}

/// Removes expired temporary resources; records what it did in the run.
async fn janitor(cx: &Context<'_>, run: &mut RunState, now: DateTime<Utc>) {
    match inventory::scan_temp(cx.clients).await {
        Ok(found) => {
            for (r, why) in janitor_picks(&found, now) {
                match execute::remove(cx.clients, &r).await {
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

/// The plan without changes: which backup each due component would restore, into what, and
/// what the janitor would remove.
async fn dry_run(r: &Restores<'_>, inv: &Invocation) -> Result<Response> {
    let (cx, cmd, now) = (r.cx, r.cmd, inv.now);
    let status = cx.store.status::<RunStatus>().await?.state;
    let (jobs, skipped, unread) = plan_run(cx, cmd, &inv.run_id, now, &status.status).await;
    let mut report = inv.report();
    let target = cx.policy.verification.restore.as_ref();
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
    for (c, e) in &unread {
        report.finding(Severity::Warning, Some(c), unread_finding(e));
    }
    match inventory::scan_temp(cx.clients).await {
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
    run::deliver(&cx.outbox, report).await
}
