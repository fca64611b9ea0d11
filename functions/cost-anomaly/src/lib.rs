//! cost-anomaly: what each component's backups cost, by region and storage class, from the
//! bytes AWS bills; anomalies against the seed's rules and a robust baseline, with their
//! contributors ranked; savings in dollars with the exact change; a month-end forecast; the
//! model reconciled with Cost Explorer when enabled. It changes nothing in the account but its
//! own history and alert state, and alerts on change only.
//!
//! [`command`] → the envelope ([`lifeboat_shared::run`]) → [`inventory`] (reads) →
//! [`plan`] (pure: model, anomalies, savings, forecast, reconcile) → [`execute`] (history and
//! alert state) → [`report`] (pure).

pub mod command;
pub mod execute;
pub mod inventory;
pub mod objects;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod s3_objects;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::alerts;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::Report;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde_json::Value;

use plan::{Day, Scope, DAY_SCHEMA};

pub const FUNCTION: &str = "cost-anomaly";

/// A check still not OK is emailed again after this long.
pub const REMINDER_EVERY: i64 = 7;

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

    /// Clients for the primary region, the DR region and every bucket's region; Cost Explorer
    /// (whose endpoint is in us-east-1) only when the policy enables it.
    pub fn new(aws: &Aws, env: Env, policy: Policy) -> Result<App> {
        let aws = &aws.for_function(FUNCTION);
        let primary = aws.region().to_string();
        let dr = policy.dr.as_ref().map(|d| d.region.clone());
        if dr.as_deref() == Some(primary.as_str()) {
            return Err(Error::policy(
                "dr.region",
                format!("a region other than the primary {primary}"),
            ));
        }
        let mut regions = vec![primary.clone()];
        regions.extend(dr.clone());
        for b in inventory::buckets(&policy, &primary, dr.as_deref()) {
            regions.push(b.region);
        }
        regions.sort();
        regions.dedup();
        let snapshot_regions: Vec<String> =
            std::iter::once(primary.clone()).chain(dr.clone()).collect();
        let clients = inventory::Clients {
            rds: snapshot_regions
                .iter()
                .map(|r| (r.clone(), aws_sdk_rds::Client::new(&aws.config_in(r))))
                .collect(),
            elasticache: snapshot_regions
                .iter()
                .map(|r| {
                    (
                        r.clone(),
                        aws_sdk_elasticache::Client::new(&aws.config_in(r)),
                    )
                })
                .collect(),
            cloudwatch: regions
                .iter()
                .map(|r| {
                    (
                        r.clone(),
                        aws_sdk_cloudwatch::Client::new(&aws.config_in(r)),
                    )
                })
                .collect(),
            s3: regions.iter().map(|r| (r.clone(), aws.s3_in(r))).collect(),
            backup: aws_sdk_backup::Client::new(aws.config()),
            ce: policy
                .cost
                .cost_explorer
                .enabled
                .then(|| aws_sdk_costexplorer::Client::new(&aws.config_in(CE_REGION))),
            primary,
            dr,
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

/// Cost Explorer's endpoint region (ce.us-east-1.amazonaws.com) in the aws partition.
pub const CE_REGION: &str = "us-east-1";

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
    Email(Report, Option<Box<Undo>>),
    Quiet(Report),
}

/// The alert states before this run's save, put back if the email fails.
struct Undo {
    journal: execute::Alerts,
    before: alerts::Stored<plan::anomalies::CostLevel>,
}

/// One invocation: the command (before any AWS call), then the evaluation once per run id.
pub async fn run(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Response> {
    let cmd = command::parse(payload, now)?;
    let inv = Invocation::new(
        FUNCTION,
        &app.clients.primary,
        cmd.trigger.clone(),
        cmd.dry_run,
        request_id,
        now,
        stop_at,
    );
    if cmd.preflight {
        let outbox = app.outbox();
        let report = preflight::run(app, &inv).await;
        return run::deliver(&outbox, report).await;
    }
    let outbox = app.outbox();
    let result = run::once(
        &app.report_s3,
        &app.env.report_bucket,
        &inv,
        Duration::minutes(10),
        || {
            Box::pin(async {
                match Box::pin(evaluate(app, &cmd, &inv)).await? {
                    Said::Email(report, undo) => match run::deliver(&outbox, report).await {
                        Ok(r) => Ok(r),
                        Err(e) => {
                            if let Some(mut u) = undo.map(|u| *u) {
                                u.journal.state = u.before;
                                if let Err(e) = u.journal.save(&app.report_s3, &app.env.report_bucket).await {
                                    tracing::error!(error = %e, "the email failed and the alert states could not be put back");
                                }
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

/// Days of history the rules read before the evaluated day.
pub fn lookback(policy: &Policy, day: chrono::NaiveDate) -> i64 {
    let a = &policy.cost.anomalies;
    let growth = a
        .growth
        .iter()
        .map(|g| 2 * g.period.0.num_days())
        .max()
        .unwrap_or(0);
    let avg = a
        .above_average
        .iter()
        .map(|g| g.period.0.num_days() + 1)
        .max()
        .unwrap_or(0);
    [
        a.baseline.days as i64,
        growth,
        avg,
        plan::forecast::TREND_DAYS,
        day.day() as i64,
    ]
    .into_iter()
    .max()
    .unwrap_or(28)
}

async fn evaluate(app: &App, cmd: &command::Command, inv: &Invocation) -> Result<Said> {
    let policy = &app.policy;
    let s3 = &app.report_s3;
    let bucket = &app.env.report_bucket;
    let mut e = report::Evaluation {
        day: Some(cmd.day),
        only: cmd.only.clone(),
        past: cmd.past,
        ..Default::default()
    };
    let from = cmd.day - Duration::days(lookback(policy, cmd.day));
    let mut calls = inventory::Calls::default();
    let mut days: BTreeMap<chrono::NaiveDate, Day> = BTreeMap::new();
    let history_to = if cmd.past {
        cmd.day
    } else {
        cmd.day - Duration::days(1)
    };
    match execute::load_days(s3, bucket, from, history_to).await {
        Ok((d, n)) => {
            calls.s3_get += n;
            days = d;
        }
        Err(err) => e.notes.push(format!(
            "history could not be read ({err}): anomalies are not judged this run"
        )),
    }
    let history_ok = e.notes.is_empty();
    e.history_days = days.len();
    // Cost Explorer (when enabled): one request for the day and the two before it (a day is
    // often not published yet when the schedule runs: the next runs fill it), and one backfill
    // when the actual series is short of what the rules read.
    let mut actual: Option<Result<Vec<plan::reconcile::Actual>, String>> = None;
    // (a dry run and a past day write nothing)
    let writes = !cmd.dry_run && !cmd.past;
    if let Some(ce) = &app.clients.ce {
        let tag = &policy.cost.cost_explorer.tag_key;
        let recent = inventory::cost_and_usage(
            ce,
            tag,
            cmd.day - Duration::days(2),
            cmd.day + Duration::days(1),
            &mut calls,
        )
        .await;
        let want = policy.cost.cost_explorer.backfill_days as i64;
        let have = plan::basis_view(&days, plan::Series::Actual).len() as i64;
        let mut fetched: Vec<plan::reconcile::Actual> = Vec::new();
        if history_ok && have < want.min(lookback(policy, cmd.day)) {
            match inventory::cost_and_usage(
                ce,
                tag,
                cmd.day - Duration::days(want),
                cmd.day - Duration::days(2),
                &mut calls,
            )
            .await
            {
                Ok(a) => fetched = a,
                Err(err) => e
                    .notes
                    .push(format!("Cost Explorer backfill failed: {err}")),
            }
        }
        if let Ok(r) = &recent {
            fetched.extend(r.iter().filter(|a| a.date < cmd.day).cloned());
        }
        // Days Cost Explorer has: stored as its days where nothing is stored, and as the
        // actual cost of stored model days that lack it.
        let by_day = plan::reconcile::backfill(
            &fetched,
            &app.clients.primary,
            policy.prices.taken(),
            &inv.run_id,
        );
        let mut new_days = Vec::new();
        let mut filled = 0;
        for d in by_day {
            match days.get_mut(&d.date) {
                None => new_days.push(d),
                Some(stored) if stored.source == "model" && stored.actual.is_none() => {
                    if writes {
                        execute::fill_actual(s3, bucket, d.date, &d.lines).await?;
                    }
                    stored.actual = Some(d.lines);
                    stored.actual_error = None;
                    filled += 1;
                }
                Some(_) => {}
            }
        }
        if writes {
            execute::backfill(s3, bucket, &new_days).await?;
        }
        e.backfilled = new_days.len() + filled;
        for d in new_days {
            days.insert(d.date, d);
        }
        actual = Some(recent.map(|r| r.into_iter().filter(|a| a.date == cmd.day).collect()));
    }
    // No group for the day: Cost Explorer has not published it yet — no data, never $0.
    let unpublished = format!(
        "Cost Explorer has no figures for {} yet (it refreshes at least once a day): a later run fills them",
        cmd.day
    );
    let mut first_run = false;
    let mut undo = None;
    if cmd.past {
        if !days.contains_key(&cmd.day) {
            if let Some(Ok(a)) = &actual {
                for d in plan::reconcile::backfill(
                    a,
                    &app.clients.primary,
                    policy.prices.taken(),
                    &inv.run_id,
                ) {
                    days.entry(d.date).or_insert(d);
                }
                if days.contains_key(&cmd.day) {
                    e.notes.push(format!(
                        "{}: no record; Cost Explorer's figures used (not written)",
                        cmd.day
                    ));
                }
            }
        }
        e.today = days.get(&cmd.day).cloned();
    } else {
        let read = inventory::read(&app.clients, policy, cmd.day, inv.now).await;
        calls.metrics += read.calls.metrics;
        calls.get_metric_data += read.calls.get_metric_data;
        calls.s3_list += read.calls.s3_list;
        calls.s3_get += read.calls.s3_get;
        calls.describe += read.calls.describe;
        e.sources = read.sources.clone();
        let mut facts = read.facts.clone();
        facts.rds_billed_share = plan::model::rds_billed_share(&read.usage);
        let mut day = Day {
            schema: DAY_SCHEMA.into(),
            date: cmd.day,
            source: "model".into(),
            lines: plan::model::lines(&read.usage, &policy.prices, cmd.day),
            gaps: read.usage.gaps.clone(),
            prices_taken: policy.prices.taken().into(),
            written_by: inv.run_id.clone(),
            actual: match &actual {
                Some(Ok(a)) if !a.is_empty() => Some(
                    plan::reconcile::backfill(
                        a,
                        &app.clients.primary,
                        policy.prices.taken(),
                        &inv.run_id,
                    )
                    .into_iter()
                    .find(|d| d.date == cmd.day)
                    .map(|d| d.lines)
                    .unwrap_or_default(),
                ),
                _ => None,
            },
            actual_error: match &actual {
                Some(Err(err)) => Some(err.clone()),
                Some(Ok(a)) if a.is_empty() => Some(unpublished.clone()),
                _ => None,
            },
        };
        plan::missing_as_gaps(&mut day, &days);
        let stored = if cmd.dry_run {
            day
        } else {
            let (rec, stored) = execute::record(s3, bucket, day).await?;
            e.recorded = Some(rec);
            stored
        };
        days.insert(cmd.day, stored.clone());
        e.today = Some(stored);
        let (savings, notes) = plan::savings::savings(policy, &facts);
        e.savings = savings
            .into_iter()
            .filter(|s| {
                cmd.only.is_empty()
                    || cmd
                        .only
                        .iter()
                        .any(|o| s.title.contains(o.as_str()) || s.evidence.contains(o.as_str()))
            })
            .collect();
        e.saving_notes = notes;
    }
    if let (Some(today), Some(actual)) = (&e.today, &actual) {
        e.reconciled = Some(match actual {
            Ok(a) if a.is_empty() => Err(unpublished.clone()),
            Ok(a) => Ok(plan::reconcile::reconcile(today, a)),
            Err(err) => Err(err.clone()),
        });
    }
    // The rules compare like with like: Cost Explorer's actual cost when it is enabled (and
    // backfilled days are its), else the model's figures.
    let series = if app.clients.ce.is_some() {
        e.notes.push("anomalies and the forecast are judged on Cost Explorer's actual cost (cost.cost_explorer.enabled); the breakdown is the model's".into());
        plan::Series::Actual
    } else {
        plan::Series::Model
    };
    let view = plan::basis_view(&days, series);
    if history_ok {
        e.judged = plan::anomalies::judge(&policy.cost.anomalies, &view, cmd.day);
    }
    if let Some(today) = view.get(&cmd.day) {
        e.forecasts
            .push(plan::forecast::forecast(&view, &Scope::Total, cmd.day));
        for c in today.components() {
            if e.only.is_empty() || e.only.contains(&c) {
                e.forecasts.push(plan::forecast::forecast(
                    &view,
                    &Scope::Component(c),
                    cmd.day,
                ));
            }
        }
    }
    if let Some(today) = &e.today {
        for o in &cmd.only {
            if !today.components().contains(o) {
                e.notes.push(format!(
                    "only: {o:?} is no component of {} ({})",
                    cmd.day,
                    today.components().join(", ")
                ));
            }
        }
    }
    // Alerts on change (the day's own run only: a past day or a dry run changes no state).
    if !cmd.past && history_ok {
        let mut journal = execute::load_alerts(s3, bucket).await?;
        first_run = journal.state.checks.is_empty();
        let diff = alerts::diff(
            &journal.state,
            &e.judged.checks,
            inv.now,
            Duration::days(REMINDER_EVERY),
            &inv.run_id,
        );
        e.changes = report::changes(&diff.changes);
        if !cmd.dry_run {
            let before = journal.state.clone();
            let mut next = diff.next;
            // Forget checks no longer produced only when every scope was judged: a scope
            // without data today keeps its rules' states for the day its data is back.
            if view.get(&cmd.day).is_some_and(|d| d.gaps.is_empty()) {
                next.keep_only(&e.judged.checks);
            }
            journal.state = next;
            match journal.save(s3, bucket).await {
                Ok(()) => undo = Some(Box::new(Undo { journal, before })),
                // another run of the day recorded these states first and alerted
                Err(Error::Internal(_)) => e.changes.clear(),
                Err(err) => return Err(err),
            }
        }
    }
    e.calls = calls;
    let email = cmd.manual || cmd.dry_run || first_run || !e.changes.is_empty();
    let report = report::build(policy, &e, inv.report());
    for line in report::component_lines(&e, inv.now) {
        println!("{line}");
    }
    Ok(if email {
        Said::Email(report, undo)
    } else {
        Said::Quiet(report)
    })
}
