//! replication-lag-check: is every replica current and every backup fresh, right now — S3
//! replication pairs (configuration, metrics, an active canary), database replicas, backup age
//! against each component's RPO (every kind, the DR region, S3 artifact sets), the restore
//! window, the verified RPO, and metric rules as data. It alerts when a state changes, not on
//! every run.
//!
//! [`command`] → the envelope ([`lifeboat_shared::run`]) → [`inventory`] (reads) → [`metrics`]
//! (one batched read) → [`plan`] (pure, into [`checks`]) → [`execute`] (canary, state) →
//! [`alerts`] (pure, the shared machine: what changed) → [`report`] (pure).

pub mod alerts;
pub mod checks;
pub mod command;
pub mod execute;
pub mod inventory;
pub mod metrics;
pub mod plan;
pub mod preflight;
pub mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use inventory::Scope;
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Report, Severity};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde_json::Value;

pub const FUNCTION: &str = "replication-lag-check";

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub clients: inventory::Clients,
    pub sns: aws_sdk_sns::Client,
    pub report_s3: aws_sdk_s3::Client,
}

impl App {
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?.for_function(FUNCTION);
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        App::new(&aws, env, policy)
    }

    /// Clients for every region the policy names: the primary, the DR region, and the regions
    /// of replica and artifact buckets.
    pub fn new(aws: &Aws, env: Env, policy: Policy) -> Result<App> {
        let aws = &aws.for_function(FUNCTION);
        let primary = aws.region().to_string();
        let dr_region = policy.dr.as_ref().map(|d| d.region.clone());
        if dr_region.as_deref() == Some(primary.as_str()) {
            return Err(Error::policy(
                "dr.region",
                format!("a region other than the primary {primary}"),
            ));
        }
        let mut regions: Vec<String> = vec![primary.clone()];
        regions.extend(dr_region.clone());
        for p in &policy.monitoring.replication {
            regions.extend(p.source.region.clone());
            regions.extend(p.replica.region.clone());
        }
        regions.extend(
            policy
                .monitoring
                .artifacts
                .iter()
                .filter_map(|a| a.region.clone()),
        );
        regions.sort();
        regions.dedup();
        let s3: BTreeMap<String, aws_sdk_s3::Client> =
            regions.iter().map(|r| (r.clone(), aws.s3_in(r))).collect();
        let cloudwatch = regions
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    aws_sdk_cloudwatch::Client::new(&aws.config_in(r)),
                )
            })
            .collect();
        let clients = inventory::Clients {
            rds: aws_sdk_rds::Client::new(aws.config()),
            rds_dr: dr_region
                .as_deref()
                .map(|r| aws_sdk_rds::Client::new(&aws.config_in(r))),
            elasticache: aws_sdk_elasticache::Client::new(aws.config()),
            elasticache_dr: dr_region
                .as_deref()
                .map(|r| aws_sdk_elasticache::Client::new(&aws.config_in(r))),
            backup: aws_sdk_backup::Client::new(aws.config()),
            cloudwatch,
            s3,
            primary_region: primary,
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

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox::new(&self.env, &self.report_s3, &self.sns)
    }
}

/// The Lambda handler.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let (request_id, stop_at) = run::context(&event);
    run(app, &event.payload, &request_id, Utc::now(), stop_at)
        .await?
        .to_json()
}

/// What a run decided to say.
enum Said {
    /// Changes (or a first run, a manual check, a dry run): archived and emailed; with the
    /// states as they were before this run saved its own, to put back if the email fails.
    Email(Report, Option<Box<Undo>>),
    /// Nothing changed: EMF metrics and the log only.
    Quiet(Report),
}

/// The states before this run's save: an email that could not be sent puts them back, so the
/// next run finds the same changes and sends them (an alert is never recorded as sent when it
/// was not; at worst, with S3 failing too, it is sent twice).
struct Undo {
    journal: lifeboat_shared::journal::Journal<alerts::Stored>,
    before: alerts::Stored,
}

impl Undo {
    async fn apply(mut self, s3: &aws_sdk_s3::Client, bucket: &str) {
        self.journal.state = self.before;
        match self.journal.save(s3, bucket).await {
            Ok(()) => tracing::warn!("the email failed: states put back, the next run sends it"),
            Err(e) => {
                tracing::error!(error = %e, "the email failed and the states could not be put back")
            }
        }
    }
}

/// One invocation: the command (before any AWS call), then the evaluation under the
/// single-flight lease. Concurrent and duplicate triggers find the lease held and do nothing; a
/// trigger after a finished evaluation finds nothing changed and sends nothing.
pub async fn run(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Response> {
    let cmd = command::parse(payload)?;
    let inv = Invocation::new(
        FUNCTION,
        &app.clients.primary_region,
        cmd.trigger.clone(),
        cmd.dry_run,
        request_id,
        now,
        stop_at,
    );
    if cmd.preflight {
        return preflight(app, &inv).await;
    }
    let outbox = app.outbox();
    // Once per run id: a redelivered event (EventBridge delivers at least once) answers from
    // the first run's result, and one arriving while it runs finds the lease held; neither
    // checks again nor sends email.
    let result = run::once(
        &app.report_s3,
        &app.env.report_bucket,
        &inv,
        Duration::minutes(4),
        || {
            Box::pin(async {
                match check(app, &cmd, &inv).await? {
                    Said::Email(report, undo) => match run::deliver(&outbox, report).await {
                        Ok(r) => Ok(r),
                        Err(e) => {
                            if let Some(undo) = undo {
                                undo.apply(&app.report_s3, &app.env.report_bucket).await;
                            }
                            Err(e)
                        }
                    },
                    Said::Quiet(report) => Ok(run::deliver_quietly(report)),
                }
            })
        },
    )
    .await;
    run::or_report_failure(&outbox, &inv, result).await
}

/// A full check when one is due (`monitoring.full_check_every` since the last, with a minute's
/// slack for the schedule's jitter), or asked for: the first run, an alarm, a manual check, a
/// dry run, a focused check. Otherwise the lag check.
pub fn scope(
    cmd: &command::Command,
    stored: &alerts::Stored,
    now: DateTime<Utc>,
    every: Duration,
) -> Scope {
    let asked = cmd.manual || cmd.dry_run || !cmd.only.is_empty() || command::alarm(cmd).is_some();
    let due = stored
        .full_check_at
        // (a stored time ahead of now — a clock set back — does not postpone it)
        .is_none_or(|t| now < t || now - t >= every - Duration::minutes(1));
    if asked || due {
        Scope::Full
    } else {
        Scope::Lag
    }
}

/// The evaluation: read, measure, decide, write the canary and the states.
async fn check(app: &App, cmd: &command::Command, inv: &Invocation) -> Result<Said> {
    let policy = &app.policy;
    let mut report = inv.report();
    let only = alarm_focus(policy, cmd, &mut report);
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut journal = execute::load_state(&app.report_s3, &app.env.report_bucket).await?;
    let scope = scope(
        cmd,
        &journal.state,
        inv.now,
        policy.monitoring.full_check_every.0,
    );
    let mut canaries = execute::CanaryBook::from_stored(&journal.state);
    let (obs, queries, fetched) =
        read(app, inv, &wanted, scope, &journal.state, &mut canaries).await;
    report.measure("MetricQueries", queries.len() as f64, "Count");
    report.measure("GetMetricDataCalls", fetched.calls as f64, "Count");
    let ev = plan::evaluate(policy, &obs, &queries, &fetched, inv.now);
    measure(policy, inv, &ev, &mut report);
    // The canaries: this run's, and the removal of those that served.
    if scope == Scope::Full && !inv.dry_run {
        write_canaries(app, inv, &wanted, &obs, &mut canaries, &mut report).await;
    }
    // The states: what changed since the last evaluation.
    let diff = lifeboat_shared::alerts::diff(
        &journal.state.states,
        &ev.checks,
        inv.now,
        policy.monitoring.reminder_every.0,
        &inv.run_id,
    );
    let changes = diff.changes;
    let mut next = alerts::Stored {
        states: diff.next,
        ..journal.state.clone()
    };
    canaries.store(&mut next);
    report::fill(&mut report, &ev.checks, &changes, &diff.held, diff.first);
    match scope {
        // A focused check (an alarm's, `only`) is not the full check of everything.
        Scope::Full if only.is_empty() => {
            next.full_check_at = Some(inv.now);
            // What a full check of everything no longer produces is gone (a resource removed,
            // a component renamed, a listing's stand-in NO DATA once the listing is back).
            next.states.keep_only(&ev.checks);
        }
        Scope::Full => {}
        Scope::Lag => report::lag_check(&mut report, &next, &ev.checks, policy),
    }
    // (each component's values, as its EMF log line carries them: the archived report has them)
    let components = report::component_values(&ev.measurements);
    report.details =
        serde_json::json!({ "checks": ev.checks, "changes": changes, "components": components });
    if inv.dry_run {
        return Ok(Said::Email(report, None));
    }
    let before = std::mem::replace(&mut journal.state, next);
    if let Err(e) = journal.save(&app.report_s3, &app.env.report_bucket).await {
        // Another evaluation saved in between: it has alerted on these changes.
        if matches!(e, Error::Internal(_)) {
            tracing::info!(error = %e, "another evaluation recorded the states first: no email");
            return Ok(Said::Quiet(report));
        }
        return Err(e);
    }
    if changes.is_empty() && !cmd.manual {
        Ok(Said::Quiet(report))
    } else {
        Ok(Said::Email(
            report,
            Some(Box::new(Undo { journal, before })),
        ))
    }
}

/// What an alarm's run checks (the names its alarm mentions; empty: everything), said in the
/// report; a run without an alarm checks its command's `only`.
fn alarm_focus(policy: &Policy, cmd: &command::Command, report: &mut Report) -> Vec<String> {
    let Some(alarm) = command::alarm(cmd) else {
        return cmd.only.clone();
    };
    let only = plan::focus(policy, &alarm.name);
    report.finding(
        Severity::Info,
        Some(&alarm.name),
        format!(
            "started by alarm {} ({} since {}): {}{}",
            alarm.name,
            alarm.state.as_str(),
            alarm.time.format("%Y-%m-%d %H:%M UTC"),
            lifeboat_shared::trigger::bounded(&alarm.reason, 200),
            if only.is_empty() {
                "; it names nothing Lifeboat watches, so everything is checked".to_string()
            } else {
                format!("; checked: {}", only.join(", "))
            }
        ),
    );
    only
}

/// Everything the checks read: the observations (a lag check first looks for the pending
/// canaries), then the metrics in one batched read and the backlog in a second, small one for
/// the pairs whose latency is high or silent.
async fn read(
    app: &App,
    inv: &Invocation,
    wanted: &dyn Fn(&str) -> bool,
    scope: Scope,
    stored: &alerts::Stored,
    canaries: &mut execute::CanaryBook,
) -> (
    inventory::Observations,
    Vec<metrics::Query>,
    metrics::Fetched,
) {
    let policy = &app.policy;
    let mut obs = inventory::observe(
        &app.clients,
        policy,
        &app.report_s3,
        &app.env.report_bucket,
        wanted,
        scope,
    )
    .await;
    // Canaries: a lag check looks for the pending ones in their replicas.
    if scope == Scope::Lag && !inv.dry_run {
        let pairs = policy.monitoring.replication.iter();
        canaries
            .look(
                &app.clients,
                pairs.filter(|p| p.canary.enabled && wanted(&p.name)),
                inv.now,
            )
            .await;
    }
    obs.canaries_seen = canaries.seen.clone();
    obs.canaries_looked = canaries.looked();
    obs.since_full = metrics::since_full_check(
        stored.full_check_at,
        inv.now,
        policy.monitoring.full_check_every.0,
    );
    let mut queries = metrics::queries(policy, &obs, &app.clients.primary_region);
    let mut fetched = metrics::fetch(&app.clients, &queries, inv.now).await;
    let backlog = metrics::pending_queries(policy, &queries, &fetched);
    if !backlog.is_empty() {
        fetched.merge_backlog(metrics::fetch(&app.clients, &backlog, inv.now).await);
        queries.extend(backlog);
    }
    (obs, queries, fetched)
}

/// The bill: per-pair and per-replica lag are metrics; per component, only the opt-in
/// (`monitoring.per_component_metrics`) makes metrics (never RpoSeconds, a constant). Every
/// component's values are EMF properties of its own log line, with the one metric of all
/// components' backup age against RPO; the count over RPO is a metric of the run.
fn measure(policy: &Policy, inv: &Invocation, ev: &plan::Evaluation, report: &mut Report) {
    let per_component = report::component_values(&ev.measurements);
    report.measure(
        "ComponentsOverRpo",
        report::over_rpo(&per_component) as f64,
        "Count",
    );
    report.measurements.extend(
        ev.measurements
            .iter()
            .filter(|m| match m.dimensions.contains_key("Component") {
                true => policy.monitoring.per_component_metrics && m.name != "RpoSeconds",
                false => true,
            })
            .cloned(),
    );
    for line in report::component_lines(FUNCTION, inv.now, &per_component) {
        println!("{line}");
    }
}

/// A full check's canaries: this run's in each pair (with the rule's tags), and the removal of
/// those that served.
async fn write_canaries(
    app: &App,
    inv: &Invocation,
    wanted: &dyn Fn(&str) -> bool,
    obs: &inventory::Observations,
    canaries: &mut execute::CanaryBook,
    report: &mut Report,
) {
    for p in app
        .policy
        .monitoring
        .replication
        .iter()
        .filter(|p| p.canary.enabled && wanted(&p.name))
    {
        let full = obs.pairs.get(&p.name).and_then(|o| o.full.as_ref());
        let listed = match full.map(|f| (&f.canaries_source, &f.canaries_replica)) {
            Some((Ok(s), Ok(d))) => Some((plan::canary_view(p, s, d, obs, inv.now), d)),
            _ => None,
        };
        let tags = plan::canary_tags(p, obs.pairs.get(&p.name));
        let actions = canaries
            .full(
                &app.clients,
                p,
                listed.as_ref().map(|(v, d)| (v, d.as_slice())),
                &tags,
                &inv.run_id,
                inv.now,
            )
            .await;
        report.actions.extend(actions);
    }
}

/// `{"action": "preflight"}`: the checks, then the report, delivered as a run's is.
async fn preflight(app: &App, inv: &Invocation) -> Result<Response> {
    let cx = preflight::Context {
        policy: &app.policy,
        clients: &app.clients,
        report_s3: &app.report_s3,
        report_bucket: &app.env.report_bucket,
    };
    let checks = preflight::check(&cx, &inv.run_id).await;
    let outbox = app.outbox();
    let result = lifeboat_shared::preflight::deliver(&outbox, inv, checks).await;
    run::or_report_failure(&outbox, inv, result).await
}
