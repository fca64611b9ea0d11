//! Performs the steps, one phase per round, each write idempotent: it checks state first, uses
//! deterministic names, client tokens and change batches, records what it is about to change
//! (the "before") in the journal before changing it, and recognises its own earlier attempt
//! when an answer was lost (an "already exists" that carries this run's tag, a promote that
//! finds no read replica, a secret version with this run's token).
//!
//! Modes: execute changes production; a drill does the same on temporary copies (a replica of
//! the replica, a restore under a drill name, a drill secret, a drill record, a drill parameter)
//! and tears them down; failback puts back what the execute run recorded.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::aws::errors::{already_exists, not_found, AwsError};
use lifeboat_shared::aws::{elasticache as ec, rds};
use lifeboat_shared::backup::{TAG_EXPIRES, TAG_FROM, TAG_PURPOSE, TAG_RUN};
use lifeboat_shared::policy::failover::{self as fo, Action};
use lifeboat_shared::policy::Policy;

use crate::inventory::{self, Clients, Regional};
use crate::plan::{words, Change, Mode, Phase, RunState, StepRun, Temp};
use crate::{DRILL_PURPOSE, FENCED_TAG};

/// What the steps use.
pub struct Cx<'a> {
    pub policy: &'a Policy,
    pub clients: &'a Clients,
    pub local_endpoints: &'a BTreeMap<String, (String, u16)>,
    /// Requests go to a local emulator (AWS_ENDPOINT_URL): moto leaves a promoted replica's
    /// source set, so a promotion there is judged by status alone.
    pub emulator: bool,
}

/// Everything about the run a step reads but does not change.
pub struct RunView {
    pub run_id: String,
    pub mode: Mode,
    pub plan: String,
    pub primary_region: String,
    pub dr_region: String,
    pub rpo_seconds: i64,
    pub allow_data_loss: bool,
    /// The new endpoint of every finished step.
    pub endpoints: BTreeMap<String, (String, u16)>,
    pub approved: std::collections::BTreeSet<String>,
    /// The engine of every finished step's endpoint (for the data checks).
    pub engines: BTreeMap<String, String>,
    /// Finished steps' step-private records the data checks read (the restored backup's
    /// manifest key and time).
    pub memos: BTreeMap<String, BTreeMap<String, String>>,
}

impl RunView {
    pub fn of(run_id: &str, s: &RunState) -> RunView {
        RunView {
            run_id: run_id.to_string(),
            mode: s.mode,
            plan: s.plan.clone(),
            primary_region: s.primary_region.clone(),
            dr_region: s.dr_region.clone(),
            rpo_seconds: s.rpo_seconds,
            allow_data_loss: s.allow_data_loss,
            endpoints: s
                .steps
                .iter()
                .filter(|x| x.phase == Phase::Done)
                .filter_map(|x| Some((x.name.clone(), x.endpoint.clone()?)))
                .collect(),
            approved: s.approved.clone(),
            engines: s
                .steps
                .iter()
                .filter_map(|x| Some((x.name.clone(), x.memo.get("engine")?.clone())))
                .collect(),
            memos: s
                .steps
                .iter()
                .filter(|x| x.phase == Phase::Done)
                .map(|x| (x.name.clone(), x.memo.clone()))
                .collect(),
        }
    }

    fn endpoint(&self, step: &str) -> Result<(String, u16), Stop> {
        self.endpoints.get(step).cloned().ok_or_else(|| {
            Stop::fail(
                format!("{step} recorded no endpoint"),
                "check that step's outcome",
            )
        })
    }
}

/// How one advance of a step ended.
#[derive(Debug)]
pub enum Step {
    /// A phase moved on (the journal is saved before the next).
    Moved,
    /// Waiting on AWS (or a person): nothing moved.
    Waiting(String),
    Done(String),
}

/// A step that cannot go on: the error and what a person must do.
#[derive(Debug)]
pub struct Stop {
    pub error: String,
    pub next: String,
    /// An AWS error that may pass (throttling, a 5xx, no answer): the step tries again on the
    /// next rounds before it fails.
    pub transient: bool,
}

impl Stop {
    pub fn fail(error: impl Into<String>, next: impl Into<String>) -> Stop {
        Stop {
            error: error.into(),
            next: next.into(),
            transient: false,
        }
    }
}

/// AWS errors that may pass by themselves: throttling, the service's 5xx, no answer at all.
pub fn transient(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServerError"
            | "InternalServiceError"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "PriorRequestNotComplete"
            | "Unknown"
            | "HTTP 429"
    ) || code.starts_with("HTTP 5")
}

/// Rounds a step goes on trying after transient AWS errors (each after the SDK's own retries;
/// the Step Functions loop waits 30 s between invocations) before it fails.
pub const TRANSIENT_ROUNDS: u32 = 6;

impl From<AwsError> for Stop {
    fn from(e: AwsError) -> Stop {
        let mut stop = Stop::fail(
            e.to_string(),
            "fix the cause named by the AWS error, then resume the run",
        );
        stop.transient = transient(&e.code);
        stop
    }
}

type Out = Result<Step, Stop>;

/// Temporary resources of a drill (and tags on what a run creates).
fn run_tags(view: &RunView, now: DateTime<Utc>) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert(TAG_RUN.to_string(), view.run_id.clone());
    t.insert("lifeboat:plan".to_string(), view.plan.clone());
    if view.mode == Mode::Drill {
        t.insert(TAG_PURPOSE.to_string(), DRILL_PURPOSE.to_string());
        t.insert(
            TAG_EXPIRES.to_string(),
            (now + Duration::hours(DRILL_EXPIRY_HOURS))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    t
}

/// A crashed drill's temporaries are the janitor's after this long.
pub const DRILL_EXPIRY_HOURS: i64 = 6;

/// `lifeboat-drill-<8 hex of run and step>`: a drill temporary's name.
pub fn drill_name(run_id: &str, step: &str) -> String {
    format!(
        "lifeboat-drill-{:08x}",
        lifeboat_shared::fnv1a(&format!("{run_id}/{step}"))
    )
}

/// A client request token for a write of `step` in `run` (32-64 characters, stable).
pub fn token(run_id: &str, step: &str, what: &str) -> String {
    let h1 = lifeboat_shared::fnv1a(&format!("{run_id}/{step}/{what}"));
    let h2 = lifeboat_shared::fnv1a(&format!("{what}/{step}/{run_id}"));
    let h3 = lifeboat_shared::fnv1a(run_id);
    let h4 = lifeboat_shared::fnv1a(step);
    format!("lifeboat-{h1:08x}-{h2:08x}-{h3:08x}-{h4:08x}")
}

/// One advance of one step; records start, end, outcome.
pub async fn advance(cx: &Cx<'_>, view: &RunView, step: &mut StepRun) -> bool {
    let now = Utc::now();
    if step.phase == Phase::Pending {
        step.phase = Phase::Running;
        step.started_at = Some(now);
    }
    let out = match &step.action.clone() {
        Action::Assess => Box::pin(assess(cx, view, step, now)).await,
        Action::PromoteRdsReplica(x) => Box::pin(promote(cx, view, step, x, now)).await,
        Action::AuroraGlobal(x) => Box::pin(aurora_global(cx, view, step, x)).await,
        Action::RestoreRdsFromSnapshot(x) => Box::pin(restore_rds(cx, view, step, x, now)).await,
        Action::RestoreRedis(x) => Box::pin(restore_redis(cx, view, step, x, now)).await,
        Action::UpdateSecret(x) => Box::pin(update_secret(cx, view, step, x, now)).await,
        Action::Route53Switch(x) => Box::pin(route53(cx, view, step, x)).await,
        Action::SwitchBackupTarget(x) => Box::pin(backup_target(cx, view, step, x)).await,
        Action::FenceOldPrimary(x) => Box::pin(fence(cx, view, step, x)).await,
        Action::Approval(a) => approval(view, step, a),
        Action::Verify(x) => Box::pin(verify(cx, view, step, x)).await,
    };
    let end = Utc::now();
    match out {
        Ok(Step::Moved) => true,
        Ok(Step::Waiting(why)) => {
            step.detail = why;
            false
        }
        Ok(Step::Done(detail)) => {
            step.phase = Phase::Done;
            step.ended_at = Some(end);
            step.detail = detail;
            true
        }
        Err(stop) if stop.transient => {
            let n: u32 = step
                .memo
                .get("transient")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
                + 1;
            step.memo.insert("transient".into(), n.to_string());
            if n < TRANSIENT_ROUNDS {
                step.detail = format!(
                    "AWS error, tried again on the next round ({n} of {TRANSIENT_ROUNDS}): {}",
                    stop.error
                );
                return false;
            }
            step.phase = Phase::Failed;
            step.ended_at = Some(end);
            step.error = Some(format!("{} (after {n} rounds)", stop.error));
            step.next = Some(stop.next);
            true
        }
        Err(stop) => {
            step.phase = Phase::Failed;
            step.ended_at = Some(end);
            step.error = Some(stop.error);
            step.next = Some(stop.next);
            true
        }
    }
}

async fn assess(cx: &Cx<'_>, view: &RunView, step: &mut StepRun, now: DateTime<Utc>) -> Out {
    let Some(plan) = cx.policy.failover.plan(&view.plan) else {
        return Err(Stop::fail(
            format!("plan {} is no longer in the policy", view.plan),
            "restore the plan in the policy, or let the run end",
        ));
    };
    if view.mode == Mode::Failback {
        // The primary region must answer before anything moves back.
        let primary = cx.clients.at(&view.primary_region);
        if let Err(e) = rds::instances(&primary.rds).await {
            return Err(Stop::fail(
                format!(
                    "the primary region {} does not answer: {e}",
                    view.primary_region
                ),
                "fail back once the primary region is back (run failback again)",
            ));
        }
        return Ok(Step::Done(format!(
            "the primary region {} answers",
            view.primary_region
        )));
    }
    let a = inventory::assess(cx.clients, cx.policy, plan, now).await;
    let r = crate::plan::readiness(plan, &a);
    let loss = a.data_loss();
    step.data_loss_seconds = loss;
    step.memo.insert(
        "primary".into(),
        a.primary_down().unwrap_or_else(|| {
            if a.primary_healthy() {
                "healthy".into()
            } else {
                "not all of it could be read".into()
            }
        }),
    );
    // A DR side that is not ready stops the run; so does data loss past the RPO, or data loss
    // that cannot be measured, unless the plan allows data loss (readiness says which).
    let blocking: Vec<&String> = r.reasons.iter().collect();
    if !blocking.is_empty() {
        return Err(Stop::fail(
            format!(
                "{} NOT READY: {}",
                view.plan,
                blocking.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; ")
            ),
            "make the DR side ready (or, for data loss past the RPO, set allow_data_loss on the plan), then run again",
        ));
    }
    Ok(Step::Done(format!(
        "READY: primary {}; expected data loss {}",
        step.memo.get("primary").cloned().unwrap_or_default(),
        loss.map(words).unwrap_or_else(|| "none measured".into())
    )))
}

/// Whether an error says the instance is no longer a read replica (PromoteReadReplica retried
/// after its answer was lost): that is done, not failed.
fn not_a_replica(e: &AwsError) -> bool {
    (e.code == "InvalidDBInstanceState" || e.code == "InvalidDBInstanceStateFault")
        && e.message
            .to_ascii_lowercase()
            .contains("not a read replica")
}

async fn promote(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::PromoteRdsReplica,
    now: DateTime<Utc>,
) -> Out {
    let dr = cx.clients.at(&view.dr_region);
    match view.mode {
        Mode::Execute => promote_instance(dr, step, &x.replica, &x.primary, now, cx.emulator).await,
        Mode::Drill => {
            // A temporary replica of the DR replica (same region), promoted: the drill times a
            // real promotion without touching the replica itself.
            let temp = drill_name(&view.run_id, &step.name);
            if !step.memo.contains_key("temp") {
                let tags = run_tags(view, now);
                let sent = dr
                    .rds
                    .create_db_instance_read_replica()
                    .db_instance_identifier(&temp)
                    .source_db_instance_identifier(&x.replica)
                    .publicly_accessible(false)
                    .set_tags(Some(rds::tag_list(&tags)))
                    .send()
                    .await;
                if let Err(e) = sent {
                    let e = AwsError::new("CreateDBInstanceReadReplica", &e);
                    if !already_exists(&e.code) {
                        return Err(e.into());
                    }
                    own_instance(dr, &temp, &view.run_id).await?;
                }
                step.memo.insert("temp".into(), temp.clone());
                return Ok(Step::Moved);
            }
            let Some(i) = rds::find_instance(&dr.rds, &temp).await? else {
                return Err(Stop::fail(
                    format!("drill replica {temp} vanished"),
                    "run the drill again",
                ));
            };
            if !step.memo.contains_key("temp_ready") {
                if i.status != "available" {
                    return Ok(Step::Waiting(format!(
                        "drill replica {temp} is {}",
                        i.status
                    )));
                }
                step.memo.insert("temp_ready".into(), now.to_rfc3339());
                return Ok(Step::Moved);
            }
            // The data a failover would lose now: the DR replica's lag (the temporary replica
            // of it has no lag of its own worth reporting).
            if step.data_loss_seconds.is_none() {
                if let Ok(Some(lag)) = inventory::replica_lag(dr, &x.replica, now).await {
                    step.data_loss_seconds = Some(lag.max(0.0).round() as i64);
                }
            }
            promote_instance(dr, step, &temp, &x.replica, now, cx.emulator).await
        }
        Mode::Failback => failback_promote(cx, view, step, x, now).await,
    }
}

/// PromoteReadReplica of `id`, then wait until available and standalone; the endpoint and the
/// lag at promotion (the data lost) recorded.
async fn promote_instance(
    r: &Regional,
    step: &mut StepRun,
    id: &str,
    source: &str,
    now: DateTime<Utc>,
    emulator: bool,
) -> Out {
    if !step.memo.contains_key("promoted") {
        if step.data_loss_seconds.is_none() {
            if let Ok(Some(lag)) = inventory::replica_lag(r, id, now).await {
                step.data_loss_seconds = Some(lag.max(0.0).round() as i64);
            }
        }
        let sent = r
            .rds
            .promote_read_replica()
            .db_instance_identifier(id)
            .backup_retention_period(7)
            .send()
            .await;
        match sent {
            Ok(_) => {}
            Err(e) => {
                let e = AwsError::new("PromoteReadReplica", &e);
                if not_a_replica(&e) {
                    step.memo.insert(
                        "already".into(),
                        "the retry found no read replica: promoted already".into(),
                    );
                } else if not_found(&e.code) {
                    return Err(Stop::fail(
                        format!("{id} not found in {}: {e}", r.region),
                        "check the plan's replica name; restore from the newest DR snapshot instead (restore-rds-from-snapshot)",
                    ));
                } else {
                    return Err(e.into());
                }
            }
        }
        step.memo.insert("promoted".into(), now.to_rfc3339());
        step.memo.insert("polls".into(), "0".into());
        return Ok(Step::Moved);
    }
    let Some(i) = rds::find_instance(&r.rds, id).await? else {
        return Err(Stop::fail(
            format!("{id} vanished during promotion"),
            "look at the RDS console events of the instance",
        ));
    };
    let polls: u32 = step
        .memo
        .get("polls")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        + 1;
    step.memo.insert("polls".into(), polls.to_string());
    if i.status != "available" {
        step.memo.insert("seen_busy".into(), i.status.clone());
        return Ok(Step::Waiting(format!("{id} is {}", i.status)));
    }
    // RDS clears the source once the promotion is done. Until then an available instance that
    // still names its source has not started promoting (or has not finished): wait. Seen busy
    // and available again, it is done; an emulator (which never clears the source) is judged by
    // status after two polls.
    let settled = i.replica_source.is_none()
        || step.memo.contains_key("seen_busy")
        || (emulator && polls >= 2);
    if !settled {
        return Ok(Step::Waiting(format!(
            "{id} promotion requested; waiting for RDS to finish it"
        )));
    }
    step.endpoint = i.endpoint.clone();
    step.memo.insert("engine".into(), i.engine.clone());
    step.changes = vec![Change::new(
        format!("rds {id} ({})", r.region),
        format!("read replica of {source}"),
        format!(
            "standalone writer at {}",
            i.endpoint
                .as_ref()
                .map(|(h, p)| format!("{h}:{p}"))
                .unwrap_or_else(|| "no endpoint".into())
        ),
    )];
    Ok(Step::Done(format!(
        "{id} promoted{}; data lost: replica lag {} at promotion",
        step.memo
            .get("already")
            .map(|a| format!(" ({a})"))
            .unwrap_or_default(),
        step.data_loss_seconds
            .map(words)
            .unwrap_or_else(|| "unknown".into())
    )))
}

/// The instance `id` is this run's (tagged with its run id): an "already exists" is its own
/// earlier attempt. Anything else of that name is a look-alike, never adopted.
async fn own_instance(r: &Regional, id: &str, run_id: &str) -> Result<(), Stop> {
    match rds::find_instance(&r.rds, id).await? {
        Some(i) if i.tags.get(TAG_RUN).map(String::as_str) == Some(run_id) => Ok(()),
        Some(_) => Err(Stop::fail(
            format!(
                "{id} exists in {} and is not this run's (no {TAG_RUN}={run_id} tag)",
                r.region
            ),
            format!("rename or remove the other {id}, then resume the run"),
        )),
        None => Err(Stop::fail(
            format!("{id}: refused as existing, then not found"),
            "resume the run",
        )),
    }
}

async fn failback_promote(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::PromoteRdsReplica,
    now: DateTime<Utc>,
) -> Out {
    let primary = cx.clients.at(&view.primary_region);
    let dr = cx.clients.at(&view.dr_region);
    // 1. A replica in the primary region, under the old primary's name (fencing renamed the
    //    old one), from the DR writer.
    if !step.memo.contains_key("replica") {
        let Some(src) = rds::find_instance(&dr.rds, &x.replica).await? else {
            return Err(Stop::fail(
                format!("the DR writer {} is not found", x.replica),
                "fail back by hand",
            ));
        };
        match rds::find_instance(&primary.rds, &x.primary).await? {
            Some(i) if i.tags.get(TAG_RUN).map(String::as_str) == Some(view.run_id.as_str()) => {}
            Some(i) => {
                return Err(Stop::fail(
                    format!("{} still exists in {} ({}): the old primary holds the name", x.primary, view.primary_region, i.status),
                    format!("fence it first (rename it, e.g. aws rds modify-db-instance --db-instance-identifier {} --new-db-instance-identifier {} --apply-immediately --region {}), then run failback again", x.primary, inventory::fenced_id(&x.primary, &view.run_id), view.primary_region),
                ))
            }
            None => {
                // A cross-region replica of an encrypted writer needs a key in the primary
                // region: the old primary's (kept on the fenced instance).
                let kms = if src.encrypted {
                    // The old primary: renamed <id>-fenced-<hash> and tagged by the fence
                    // step of the execute run (or never fenced, under its own name).
                    let fenced_prefix = format!("{}-fenced-", x.primary);
                    let old = rds::instances(&primary.rds)
                        .await?
                        .into_iter()
                        .find(|i| {
                            i.id.starts_with(&fenced_prefix) && i.tags.contains_key(crate::FENCED_TAG)
                        })
                        .map(|i| i.id)
                        .unwrap_or_else(|| x.primary.clone());
                    let key = old_key(primary, &old).await?;
                    Some(key.ok_or_else(|| {
                        Stop::fail(
                            format!("{} is encrypted and no KMS key of the old primary ({old}) is known in {}", x.replica, view.primary_region),
                            format!("create the replica by hand: aws rds create-db-instance-read-replica --db-instance-identifier {} --source-db-instance-identifier {} --kms-key-id <key in {}> --region {}; then run failback again", x.primary, src.arn, view.primary_region, view.primary_region),
                        )
                    })?)
                } else {
                    None
                };
                let tags = run_tags(view, now);
                let sent = primary
                    .rds
                    .create_db_instance_read_replica()
                    .db_instance_identifier(&x.primary)
                    .source_db_instance_identifier(&src.arn)
                    .publicly_accessible(false)
                    .set_kms_key_id(kms)
                    .set_tags(Some(rds::tag_list(&tags)))
                    .send()
                    .await;
                if let Err(e) = sent {
                    let e = AwsError::new("CreateDBInstanceReadReplica", &e);
                    if !already_exists(&e.code) {
                        return Err(e.into());
                    }
                    own_instance(primary, &x.primary, &view.run_id).await?;
                }
            }
        }
        step.memo.insert("replica".into(), x.primary.clone());
        return Ok(Step::Moved);
    }
    // 2. Available and caught up.
    if !step.memo.contains_key("caught_up") {
        let Some(i) = rds::find_instance(&primary.rds, &x.primary).await? else {
            return Err(Stop::fail(
                format!("{} vanished", x.primary),
                "run failback again",
            ));
        };
        if i.status != "available" {
            return Ok(Step::Waiting(format!(
                "{} (replica of {}) is {}",
                x.primary, x.replica, i.status
            )));
        }
        match inventory::replica_lag(primary, &x.primary, now).await {
            Ok(Some(lag)) if (0.0..=CAUGHT_UP_SECONDS).contains(&lag) => {}
            Ok(Some(lag)) => {
                return Ok(Step::Waiting(format!(
                    "{} lags {} behind {}",
                    x.primary,
                    words(lag.round() as i64),
                    x.replica
                )))
            }
            Ok(None) => {
                return Ok(Step::Waiting(format!(
                    "no ReplicaLag for {} yet",
                    x.primary
                )))
            }
            Err(e) => {
                return Ok(Step::Waiting(format!(
                    "could not read the lag of {}: {e}",
                    x.primary
                )))
            }
        }
        step.memo.insert("caught_up".into(), now.to_rfc3339());
        return Ok(Step::Moved);
    }
    // 3. Switched over: the caught-up replica promoted.
    let out = promote_instance(primary, step, &x.primary, &x.replica, now, cx.emulator).await?;
    if let Step::Done(d) = out {
        step.next = Some(format!(
            "{} in {} is still a standalone writer: stop writes to it, then recreate the DR replica (aws rds delete-db-instance --db-instance-identifier {} --region {} after a final snapshot; aws rds create-db-instance-read-replica --db-instance-identifier {} --source-db-instance-identifier <arn of {}> --region {})",
            x.replica, view.dr_region, x.replica, view.dr_region, x.replica, x.primary, view.dr_region
        ));
        return Ok(Step::Done(format!(
            "{d}; {} is the primary again",
            x.primary
        )));
    }
    Ok(out)
}

/// The KMS key of an instance (`None` when it has none or is not found).
async fn old_key(r: &Regional, id: &str) -> Result<Option<String>, Stop> {
    match r
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_instances()
            .first()
            .and_then(|i| i.kms_key_id())
            .map(str::to_string)),
        Err(e) => {
            let e = AwsError::new("DescribeDBInstances", &e);
            if not_found(&e.code) {
                Ok(None)
            } else {
                Err(e.into())
            }
        }
    }
}

/// A failback replica counts as caught up at or below this lag.
pub const CAUGHT_UP_SECONDS: f64 = 5.0;

async fn aurora_global(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::AuroraGlobal,
) -> Out {
    let dr = cx.clients.at(&view.dr_region);
    if view.mode == Mode::Drill {
        return Ok(Step::Done(format!(
            "a drill does not switch {} over (it would move production's writer); its readiness was assessed",
            x.global_cluster
        )));
    }
    let all = rds::global_clusters(&dr.rds).await?;
    let Some(g) = all.iter().find(|g| g.id == x.global_cluster) else {
        return Err(Stop::fail(
            format!("global cluster {} not found", x.global_cluster),
            "check the plan",
        ));
    };
    let target_id = if view.mode == Mode::Failback {
        step.memo
            .get("executed:old_writer")
            .cloned()
            .ok_or_else(|| {
                Stop::fail(
                    "the execute run recorded no old writer",
                    "switch over by hand",
                )
            })?
    } else {
        x.target_cluster.clone()
    };
    let target = g
        .members
        .iter()
        .find(|m| m.cluster_arn.ends_with(&format!(":cluster:{target_id}")))
        .ok_or_else(|| {
            Stop::fail(
                format!("{target_id} is not a member of {}", g.id),
                "check the plan",
            )
        })?
        .clone();
    if !step.memo.contains_key("requested") {
        if let Some(w) = g.members.iter().find(|m| m.writer) {
            step.memo.insert(
                "old_writer".into(),
                w.cluster_arn
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        if target.writer {
            step.memo
                .insert("requested".into(), "already the writer".into());
            return Ok(Step::Moved);
        }
        let primary_healthy = step.memo.get("primary_healthy").map(|v| v == "true");
        let healthy = match primary_healthy {
            Some(h) => h,
            None => {
                let old = step.memo.get("old_writer").cloned().unwrap_or_default();
                let h =
                    match rds::find_cluster(&cx.clients.at(&view.primary_region).rds, &old).await {
                        Ok(Some(c)) => c.status == "available",
                        _ => false,
                    };
                step.memo.insert("primary_healthy".into(), h.to_string());
                h
            }
        };
        let result = if healthy || view.mode == Mode::Failback {
            dr.rds
                .switchover_global_cluster()
                .global_cluster_identifier(&g.id)
                .target_db_cluster_identifier(&target.cluster_arn)
                .send()
                .await
                .map(|_| "SwitchoverGlobalCluster (no data loss)")
                .map_err(|e| AwsError::new("SwitchoverGlobalCluster", &e))
        } else if view.allow_data_loss {
            dr.rds
                .failover_global_cluster()
                .global_cluster_identifier(&g.id)
                .target_db_cluster_identifier(&target.cluster_arn)
                .allow_data_loss(true)
                .send()
                .await
                .map(|_| "FailoverGlobalCluster (data loss allowed by the plan)")
                .map_err(|e| AwsError::new("FailoverGlobalCluster", &e))
        } else {
            return Err(Stop::fail(
                "the primary cluster is unhealthy: only FailoverGlobalCluster (with data loss) is possible, and the plan does not allow data loss",
                "set allow_data_loss on the plan and execute again, or wait for the primary",
            ));
        };
        match result {
            Ok(how) => step.memo.insert("requested".into(), how.into()),
            // A retry after a lost answer finds the operation under way.
            Err(e) if e.code == "InvalidGlobalClusterStateFault" => step
                .memo
                .insert("requested".into(), format!("already under way ({e})")),
            Err(e) => return Err(e.into()),
        };
        return Ok(Step::Moved);
    }
    if !target.writer || g.status != "available" {
        return Ok(Step::Waiting(format!(
            "{} is {}; {target_id} not yet the writer",
            g.id, g.status
        )));
    }
    if let Some(c) = rds::find_cluster(&dr.rds, &target_id).await? {
        step.memo.insert("engine".into(), c.engine.clone());
        step.endpoint = c.endpoint;
    }
    step.changes = vec![Change::new(
        format!("global cluster {}", g.id),
        format!(
            "writer {}",
            step.memo.get("old_writer").cloned().unwrap_or_default()
        ),
        format!("writer {target_id}"),
    )];
    Ok(Step::Done(format!(
        "{target_id} is the writer of {} ({})",
        g.id,
        step.memo.get("requested").cloned().unwrap_or_default()
    )))
}

async fn restore_rds(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::RestoreRds,
    now: DateTime<Utc>,
) -> Out {
    let dr = cx.clients.at(&view.dr_region);
    if view.mode == Mode::Failback {
        return Ok(Step::Done(format!(
            "{} (restored in {}) is left as it is: remove it once the primary serves again (aws rds delete-db-instance --db-instance-identifier {} --region {})",
            x.target, view.dr_region, x.target, view.dr_region
        )));
    }
    let target = if view.mode == Mode::Drill {
        drill_name(&view.run_id, &step.name)
    } else {
        x.target.clone()
    };
    if !step.memo.contains_key("snapshot") {
        let Some(s) = inventory::newest_dr_snapshot(dr, cx.policy, &x.component).await? else {
            return Err(Stop::fail(
                format!(
                    "no available Lifeboat snapshot of {} in {}",
                    x.component, view.dr_region
                ),
                "copy a snapshot to the DR region (snapshot-export with dr.copy) and run again",
            ));
        };
        step.data_loss_seconds = s.time().map(|t| (now - t).num_seconds());
        let mut tags = run_tags(view, now);
        tags.insert(TAG_FROM.to_string(), s.id.clone());
        let sent = dr
            .rds
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(&target)
            .db_snapshot_identifier(&s.arn)
            .db_instance_class(&x.instance_class)
            .db_subnet_group_name(&x.subnet_group)
            .set_vpc_security_group_ids(if x.security_groups.is_empty() {
                None
            } else {
                Some(x.security_groups.clone())
            })
            .publicly_accessible(false)
            .set_tags(Some(rds::tag_list(&tags)))
            .send()
            .await;
        if let Err(e) = sent {
            let e = AwsError::new("RestoreDBInstanceFromDBSnapshot", &e);
            if !already_exists(&e.code) {
                return Err(e.into());
            }
            own_instance(dr, &target, &view.run_id).await?;
        }
        if view.mode == Mode::Drill {
            step.memo.insert("temp".into(), target.clone());
        }
        step.memo.insert("snapshot".into(), s.id.clone());
        // Where snapshot-export recorded the data fingerprint of this backup: the verify
        // step compares the restored copy's counts with it.
        let source = s
            .tags
            .get(lifeboat_shared::backup::TAG_SOURCE)
            .cloned()
            .unwrap_or_else(|| s.source_id.clone());
        step.memo.insert(
            "manifest".into(),
            lifeboat_shared::backup::manifest_key(
                lifeboat_shared::policy::ResourceKind::RdsInstance,
                &source,
                &s.id,
            ),
        );
        if let Some(t) = s.time() {
            step.memo.insert("snapshot_at".into(), t.to_rfc3339());
        }
        return Ok(Step::Moved);
    }
    let Some(i) = rds::find_instance(&dr.rds, &target).await? else {
        return Err(Stop::fail(format!("{target} vanished"), "run again"));
    };
    if i.status != "available" {
        return Ok(Step::Waiting(format!("{target} is {}", i.status)));
    }
    restored(
        step,
        "rds",
        &target,
        &view.dr_region,
        i.endpoint.clone(),
        &i.engine,
    )
}

async fn restore_redis(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::RestoreRedis,
    now: DateTime<Utc>,
) -> Out {
    let dr = cx.clients.at(&view.dr_region);
    if view.mode == Mode::Failback {
        return Ok(Step::Done(format!(
            "{} (in {}) is left as it is: remove it once the primary's cache serves again (aws elasticache delete-replication-group --replication-group-id {} --region {})",
            x.target, view.dr_region, x.target, view.dr_region
        )));
    }
    if let Some(gd) = &x.global_datastore {
        if view.mode == Mode::Drill {
            return Ok(Step::Done(format!(
                "a drill does not fail over global datastore {gd} (it would move production's primary)"
            )));
        }
        if !step.memo.contains_key("requested") {
            let sent = dr
                .elasticache
                .failover_global_replication_group()
                .global_replication_group_id(gd)
                .primary_region(&view.dr_region)
                .primary_replication_group_id(&x.target)
                .send()
                .await;
            if let Err(e) = sent {
                let e = AwsError::new("FailoverGlobalReplicationGroup", &e);
                if e.code != "InvalidGlobalReplicationGroupState" {
                    return Err(e.into());
                }
            }
            step.memo.insert("requested".into(), now.to_rfc3339());
            return Ok(Step::Moved);
        }
        let all = ec::global_datastores(&dr.elasticache).await?;
        let Some(d) = all.iter().find(|d| d.id == *gd) else {
            return Err(Stop::fail(
                format!("global datastore {gd} vanished"),
                "check ElastiCache",
            ));
        };
        let primary_here = d
            .members
            .iter()
            .any(|m| m.group_id == x.target && m.role.eq_ignore_ascii_case("primary"));
        if d.status != "primary-only" && d.status != "available" || !primary_here {
            return Ok(Step::Waiting(format!("{gd} is {}", d.status)));
        }
        let g = ec::find_group(&dr.elasticache, &x.target).await?;
        if let Some(g) = g {
            step.memo.insert("engine".into(), g.engine.clone());
            step.endpoint = g.endpoint;
        }
        return Ok(Step::Done(format!("{} is the primary of {gd}", x.target)));
    }
    let source = x.source_group.clone().unwrap_or_default();
    let target = if view.mode == Mode::Drill {
        drill_name(&view.run_id, &step.name)
    } else {
        x.target.clone()
    };
    if !step.memo.contains_key("snapshot") {
        let Some((name, at)) = inventory::newest_cache_snapshot(dr, &source).await? else {
            return Err(Stop::fail(
                format!("no available snapshot of {source} in {}", view.dr_region),
                "restore the cache from its S3 export by hand, or make a snapshot available in the DR region",
            ));
        };
        step.data_loss_seconds = at.map(|t| (now - t).num_seconds());
        let mut tags = run_tags(view, now);
        tags.insert(TAG_FROM.to_string(), name.clone());
        let sent = dr
            .elasticache
            .create_replication_group()
            .replication_group_id(&target)
            .replication_group_description(format!(
                "Lifeboat {} of plan {} (run {})",
                view.mode.as_str(),
                view.plan,
                view.run_id
            ))
            .snapshot_name(&name)
            .set_cache_node_type(x.node_type.clone())
            .set_cache_subnet_group_name(x.subnet_group.clone())
            .set_security_group_ids(if x.security_groups.is_empty() {
                None
            } else {
                Some(x.security_groups.clone())
            })
            .transit_encryption_enabled(true)
            .at_rest_encryption_enabled(true)
            .set_tags(Some(ec::tag_list(&tags)))
            .send()
            .await;
        if let Err(e) = sent {
            let e = AwsError::new("CreateReplicationGroup", &e);
            if !already_exists(&e.code) {
                return Err(e.into());
            }
            let Some(g) = ec::find_group(&dr.elasticache, &target).await? else {
                return Err(Stop::fail(
                    format!("{target}: refused as existing, then not found"),
                    "resume the run",
                ));
            };
            let tags = ec::tags(&dr.elasticache, &g.arn).await?;
            if tags.get(TAG_RUN).map(String::as_str) != Some(view.run_id.as_str()) {
                return Err(Stop::fail(
                    format!(
                        "{target} exists in {} and is not this run's",
                        view.dr_region
                    ),
                    format!("remove or rename the other {target}, then resume"),
                ));
            }
        }
        if view.mode == Mode::Drill {
            step.memo.insert("temp".into(), target.clone());
        }
        step.memo.insert("snapshot".into(), name);
        return Ok(Step::Moved);
    }
    let Some(g) = ec::find_group(&dr.elasticache, &target).await? else {
        return Err(Stop::fail(format!("{target} vanished"), "run again"));
    };
    if g.status != "available" {
        return Ok(Step::Waiting(format!("{target} is {}", g.status)));
    }
    restored(
        step,
        "elasticache",
        &target,
        &view.dr_region,
        g.endpoint.clone(),
        &g.engine,
    )
}

/// A restore (RDS or ElastiCache) that has become available: its endpoint and engine recorded
/// for the steps after it, the change, the data lost (the snapshot's age).
fn restored(
    step: &mut StepRun,
    service: &str,
    target: &str,
    region: &str,
    endpoint: Option<(String, u16)>,
    engine: &str,
) -> Out {
    let snapshot = step.memo.get("snapshot").cloned().unwrap_or_default();
    step.endpoint = endpoint;
    step.memo.insert("engine".into(), engine.to_string());
    step.changes = vec![Change::new(
        format!("{service} {target} ({region})"),
        "absent",
        format!("restored from {snapshot}"),
    )];
    Ok(Step::Done(format!(
        "{target} restored from {snapshot}; data lost: the snapshot's age, {}",
        step.data_loss_seconds
            .map(words)
            .unwrap_or_else(|| "unknown".into())
    )))
}

/// The secret's name from a name or an ARN (`...:secret:NAME-AbCdEf`).
pub fn secret_name(secret: &str) -> String {
    match secret.split_once(":secret:") {
        Some((_, rest)) => match rest.rsplit_once('-') {
            Some((name, suffix)) if suffix.len() == 6 => name.to_string(),
            _ => rest.to_string(),
        },
        None => secret.to_string(),
    }
}

async fn update_secret(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::UpdateSecret,
    now: DateTime<Utc>,
) -> Out {
    let dr = cx.clients.at(&view.dr_region);
    let what = format!("secret {} {}/{}", x.secret, x.host_field, x.port_field);
    if view.mode == Mode::Failback {
        let Some(back) = step.memo.get("executed:before_version").cloned() else {
            return Err(Stop::fail(
                "the execute run recorded no previous version",
                "put the secret back by hand",
            ));
        };
        let (_, current) = inventory::secret_json(dr, &x.secret, None)
            .await
            .map_err(|e| Stop::fail(e, "check the secret"))?;
        if current != back {
            dr.secrets
                .update_secret_version_stage()
                .secret_id(&x.secret)
                .version_stage("AWSCURRENT")
                .move_to_version_id(&back)
                .remove_from_version_id(&current)
                .send()
                .await
                .map_err(|e| AwsError::new("UpdateSecretVersionStage", &e))?;
        }
        let after = inventory::secret_endpoint(dr, &x.secret, &x.host_field, &x.port_field)
            .await
            .map_err(|e| Stop::fail(e, "check the secret"))?;
        step.changes = vec![Change::new(
            what,
            step.memo.get("executed:after").cloned().unwrap_or_default(),
            after.clone(),
        )];
        return Ok(Step::Done(format!(
            "{} is back at version {back} ({after})",
            x.secret
        )));
    }
    let from = x.endpoint_from.clone();
    let (host, port) = view.endpoint(&from)?;
    // 1. Record the version and host/port before the change (saved before the write).
    if !step.memo.contains_key("before_version") {
        let (obj, version) = inventory::secret_json(dr, &x.secret, None)
            .await
            .map_err(|e| Stop::fail(e, "check the secret exists in the DR region and is JSON"))?;
        let before = format!(
            "{}:{}",
            obj.get(&x.host_field)
                .map(inventory::json_text)
                .unwrap_or_default(),
            obj.get(&x.port_field)
                .map(inventory::json_text)
                .unwrap_or_default()
        );
        step.memo.insert("before_version".into(), version);
        step.memo.insert("before".into(), before);
        return Ok(Step::Moved);
    }
    let before_version = step.memo.get("before_version").cloned().unwrap_or_default();
    let (mut obj, _) = inventory::secret_json(dr, &x.secret, Some(&before_version))
        .await
        .map_err(|e| Stop::fail(e, "check the secret"))?;
    obj.insert(
        x.host_field.clone(),
        serde_json::Value::String(host.clone()),
    );
    let port_value = match obj.get(&x.port_field) {
        Some(serde_json::Value::String(_)) => serde_json::Value::String(port.to_string()),
        _ => serde_json::Value::from(port),
    };
    obj.insert(x.port_field.clone(), port_value);
    let body = serde_json::Value::Object(obj).to_string();
    let tok = token(&view.run_id, &step.name, view.mode.as_str());
    let target = match view.mode {
        Mode::Drill => {
            let name = format!(
                "{}-{}",
                secret_name(&x.secret),
                drill_name(&view.run_id, &step.name)
            );
            let tags = run_tags(view, now);
            let sent = dr
                .secrets
                .create_secret()
                .name(&name)
                .client_request_token(&tok)
                .secret_string(&body)
                .description(format!(
                    "Lifeboat drill copy of {} (run {})",
                    x.secret, view.run_id
                ))
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| {
                            aws_sdk_secretsmanager::types::Tag::builder()
                                .key(k)
                                .value(v)
                                .build()
                        })
                        .collect(),
                ))
                .send()
                .await;
            if let Err(e) = sent {
                let e = AwsError::new("CreateSecret", &e);
                if e.code != "ResourceExistsException" {
                    return Err(e.into());
                }
                let d = dr
                    .secrets
                    .describe_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(|e| AwsError::new("DescribeSecret", &e))?;
                let ours = d
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_RUN) && t.value() == Some(view.run_id.as_str()));
                if !ours {
                    return Err(Stop::fail(
                        format!("secret {name} exists and is not this run's"),
                        format!("remove {name}, then resume"),
                    ));
                }
            }
            step.memo.insert("temp".into(), name.clone());
            name
        }
        _ => {
            let sent = dr
                .secrets
                .put_secret_value()
                .secret_id(&x.secret)
                .client_request_token(&tok)
                .secret_string(&body)
                .send()
                .await;
            if let Err(e) = sent {
                let e = AwsError::new("PutSecretValue", &e);
                // The same token again is the earlier attempt whose answer was lost (the value
                // is the same, computed from the recorded version).
                if e.code != "ResourceExistsException" {
                    return Err(e.into());
                }
            }
            x.secret.clone()
        }
    };
    let after = format!("{host}:{port}");
    step.memo.insert("after".into(), after.clone());
    step.changes = vec![Change::new(
        if view.mode == Mode::Drill {
            format!("secret {target} {}/{}", x.host_field, x.port_field)
        } else {
            what
        },
        step.memo.get("before").cloned().unwrap_or_default(),
        after,
    )];
    Ok(Step::Done(format!(
        "{target}: {}/{} set to the endpoint of {from}, other fields kept; the previous version {before_version} stays as AWSPREVIOUS",
        x.host_field, x.port_field
    )))
}

/// The drill record name: `lifeboat-drill-<hash>.<name>`.
pub fn drill_record(run_id: &str, step: &str, name: &str) -> String {
    format!("{}.{}", drill_name(run_id, step), name)
}

fn record_set(
    name: &str,
    t: &str,
    ttl: i64,
    values: &[String],
) -> aws_sdk_route53::types::ResourceRecordSet {
    aws_sdk_route53::types::ResourceRecordSet::builder()
        .name(name)
        .r#type(aws_sdk_route53::types::RrType::from(t))
        .ttl(ttl)
        .set_resource_records(Some(
            values
                .iter()
                .filter_map(|v| {
                    aws_sdk_route53::types::ResourceRecord::builder()
                        .value(v)
                        .build()
                        .ok()
                })
                .collect(),
        ))
        .build()
        .expect("name and type are set")
}

async fn route53(cx: &Cx<'_>, view: &RunView, step: &mut StepRun, x: &fo::Route53Switch) -> Out {
    use aws_sdk_route53::types::{Change as R53Change, ChangeAction, ChangeBatch};
    let r53 = &cx.clients.route53;
    // Wait for a change already sent.
    if let Some(id) = step.memo.get("change").cloned() {
        let out = r53
            .get_change()
            .id(&id)
            .send()
            .await
            .map_err(|e| AwsError::new("GetChange", &e))?;
        let status = out
            .change_info()
            .map(|c| c.status().as_str().to_string())
            .unwrap_or_default();
        if status != "INSYNC" {
            return Ok(Step::Waiting(format!("change {id} is {status}")));
        }
        return Ok(Step::Done(format!(
            "{} record(s) in {} changed and INSYNC",
            step.changes.len(),
            x.hosted_zone_id
        )));
    }
    // 1. Record what is there now (saved before any change).
    if !step.memo.contains_key("captured") {
        for r in &x.records {
            let now = inventory::record(cx.clients, &x.hosted_zone_id, &r.name, &r.r#type).await?;
            let json = serde_json::to_string(&now).unwrap_or_default();
            step.memo
                .insert(format!("record:{} {}", r.name, r.r#type), json);
        }
        step.memo.insert("captured".into(), "yes".into());
        return Ok(Step::Moved);
    }
    let mut changes = Vec::new();
    let mut shown = Vec::new();
    for r in &x.records {
        let key = format!("record:{} {}", r.name, r.r#type);
        let before: Option<inventory::RecordNow> = step
            .memo
            .get(&key)
            .and_then(|j| serde_json::from_str(j).ok())
            .flatten();
        let (name, values) = match view.mode {
            Mode::Failback => {
                let back: Option<inventory::RecordNow> = step
                    .memo
                    .get(&format!("executed:{key}"))
                    .and_then(|j| serde_json::from_str(j).ok())
                    .flatten();
                match back {
                    Some(b) => (r.name.clone(), b.values),
                    None => {
                        // Absent before the failover: delete what is there now.
                        if let Some(cur) = &before {
                            changes.push(
                                R53Change::builder()
                                    .action(ChangeAction::Delete)
                                    .resource_record_set(record_set(
                                        &cur.name,
                                        &cur.r#type,
                                        cur.ttl.unwrap_or(r.ttl),
                                        &cur.values,
                                    ))
                                    .build()
                                    .expect("action and record set are set"),
                            );
                            shown.push(Change::new(
                                format!("record {} {}", r.name, r.r#type),
                                cur.values.join(","),
                                "absent",
                            ));
                        }
                        continue;
                    }
                }
            }
            _ => {
                let value = match (&r.value, &r.endpoint_from) {
                    (Some(v), _) => v.clone(),
                    (None, Some(from)) => view.endpoint(from)?.0,
                    (None, None) => String::new(),
                };
                let name = if view.mode == Mode::Drill {
                    drill_record(&view.run_id, &step.name, &r.name)
                } else {
                    r.name.clone()
                };
                (name, vec![value])
            }
        };
        if view.mode == Mode::Drill {
            step.memo.insert(
                format!("temp:{name} {}", r.r#type),
                serde_json::json!({"zone": x.hosted_zone_id, "name": name, "type": r.r#type, "ttl": r.ttl, "values": values}).to_string(),
            );
        }
        shown.push(Change::new(
            format!("record {name} {}", r.r#type),
            if view.mode == Mode::Drill {
                "absent".to_string()
            } else {
                before
                    .map(|b| b.values.join(","))
                    .unwrap_or_else(|| "absent".into())
            },
            values.join(","),
        ));
        changes.push(
            R53Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record_set(&name, &r.r#type, r.ttl, &values))
                .build()
                .expect("action and record set are set"),
        );
    }
    step.changes = shown;
    if changes.is_empty() {
        return Ok(Step::Done("nothing to change".into()));
    }
    let out = r53
        .change_resource_record_sets()
        .hosted_zone_id(&x.hosted_zone_id)
        .change_batch(
            ChangeBatch::builder()
                .comment(format!(
                    "Lifeboat {} {} run {} step {}",
                    view.mode.as_str(),
                    view.plan,
                    view.run_id,
                    step.name
                ))
                .set_changes(Some(changes))
                .build()
                .expect("changes are set"),
        )
        .send()
        .await
        .map_err(|e| AwsError::new("ChangeResourceRecordSets", &e))?;
    let id = out
        .change_info()
        .map(|c| c.id().to_string())
        .unwrap_or_default();
    step.memo.insert("change".into(), id);
    Ok(Step::Moved)
}

async fn backup_target(
    cx: &Cx<'_>,
    view: &RunView,
    step: &mut StepRun,
    x: &fo::SwitchBackupTarget,
) -> Out {
    let primary = cx.clients.at(&view.primary_region);
    let name = match view.mode {
        Mode::Drill => format!("{}-{}", x.parameter, drill_name(&view.run_id, &step.name)),
        _ => x.parameter.clone(),
    };
    if !step.memo.contains_key("before") {
        let before = inventory::parameter(primary, &x.parameter).await?;
        step.memo
            .insert("before".into(), before.unwrap_or_else(|| "absent".into()));
        return Ok(Step::Moved);
    }
    let value = match view.mode {
        Mode::Failback => {
            // Switched back only after a test write to the primary bucket succeeds.
            if let Err(e) = inventory::test_write(primary, &x.primary_bucket, "failback").await {
                return Err(Stop::fail(
                    format!(
                        "the test write to the primary bucket {} failed: {e}",
                        x.primary_bucket
                    ),
                    format!(
                        "backups stay on {}; run failback again once {} takes writes",
                        x.secondary_bucket, x.primary_bucket
                    ),
                ));
            }
            step.memo
                .get("executed:before")
                .filter(|v| *v != "absent")
                .cloned()
                .unwrap_or_else(|| x.primary_bucket.clone())
        }
        _ => x.secondary_bucket.clone(),
    };
    let put = |overwrite: bool, tagged: bool| {
        let mut req = primary
            .ssm
            .put_parameter()
            .name(&name)
            .value(&value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(overwrite)
            .description(format!(
                "Lifeboat backup target ({} of plan {})",
                view.mode.as_str(),
                view.plan
            ));
        if tagged {
            // A drill copy carries the drill's tags (the janitor finds a crashed drill's by
            // them); SSM takes tags only on a create (not with Overwrite).
            for (k, v) in run_tags(view, Utc::now()) {
                req = req.tags(
                    aws_sdk_ssm::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .expect("key and value are set"),
                );
            }
        }
        req.send()
    };
    if view.mode == Mode::Drill {
        if let Err(e) = put(false, true).await {
            let e = AwsError::new("PutParameter", &e);
            // The copy's name carries this run's hash: an existing one is this run's earlier
            // attempt whose answer was lost.
            if e.code != "ParameterAlreadyExists" {
                return Err(e.into());
            }
            put(true, false)
                .await
                .map_err(|e| AwsError::new("PutParameter", &e))?;
        }
    } else {
        put(true, false)
            .await
            .map_err(|e| AwsError::new("PutParameter", &e))?;
    }
    if view.mode == Mode::Drill {
        step.memo.insert("temp".into(), name.clone());
    }
    let before = if view.mode == Mode::Drill {
        "absent".to_string()
    } else {
        step.memo.get("before").cloned().unwrap_or_default()
    };
    step.changes = vec![Change::new(
        format!("parameter {name}"),
        before,
        value.clone(),
    )];
    Ok(Step::Done(format!("{name} → {value}")))
}

async fn fence(cx: &Cx<'_>, view: &RunView, step: &mut StepRun, x: &fo::FenceOldPrimary) -> Out {
    let primary = cx.clients.at(&view.primary_region);
    let fenced = inventory::fenced_id(&x.instance, &view.run_id);
    match view.mode {
        Mode::Drill => {
            return Ok(Step::Done(format!(
                "a drill never fences production: execute would rename {} to {fenced} and tag it {FENCED_TAG}",
                x.instance
            )))
        }
        Mode::Failback => {
            let executed = step.memo.get("executed:fenced").cloned();
            return Ok(Step::Done(match executed {
                Some(f) => format!("{f} (the fenced old primary) is kept: delete it when you are sure (aws rds delete-db-instance --db-instance-identifier {f} --region {})", view.primary_region),
                None => format!("{} was not fenced by the execute run", x.instance),
            }));
        }
        Mode::Execute => {}
    }
    let found = match rds::find_instance(&primary.rds, &x.instance).await {
        Ok(f) => f,
        Err(e) => {
            return Err(Stop::fail(
                format!("{} could not be read in {}: {e}", x.instance, view.primary_region),
                format!("when the primary region answers, fence it: aws rds add-tags-to-resource --resource-name <arn> --tags Key={FENCED_TAG},Value={} ; aws rds modify-db-instance --db-instance-identifier {} --new-db-instance-identifier {fenced} --apply-immediately --region {}", view.run_id, x.instance, view.primary_region),
            ))
        }
    };
    match found {
        Some(i) => {
            if i.tags.get(FENCED_TAG).map(String::as_str) != Some(view.run_id.as_str()) {
                primary
                    .rds
                    .add_tags_to_resource()
                    .resource_name(&i.arn)
                    .tags(
                        aws_sdk_rds::types::Tag::builder()
                            .key(FENCED_TAG)
                            .value(&view.run_id)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| AwsError::new("AddTagsToResource", &e))?;
            }
            let sent = primary
                .rds
                .modify_db_instance()
                .db_instance_identifier(&x.instance)
                .new_db_instance_identifier(&fenced)
                .apply_immediately(true)
                .send()
                .await;
            if let Err(e) = sent {
                let e = AwsError::new("ModifyDBInstance", &e);
                // A retry after a lost answer renames an instance already renamed: RDS says
                // not found; the fenced name tagged by this run is the proof it was done.
                let own = not_found(&e.code)
                    && matches!(
                        rds::find_instance(&primary.rds, &fenced).await?,
                        Some(f) if f.tags.get(FENCED_TAG).map(String::as_str) == Some(view.run_id.as_str())
                    );
                if !already_exists(&e.code) && !own {
                    return Err(e.into());
                }
            }
            step.memo.insert("fenced".into(), fenced.clone());
            Ok(Step::Moved)
        }
        None => match rds::find_instance(&primary.rds, &fenced).await? {
            Some(f) if f.tags.get(FENCED_TAG).map(String::as_str) == Some(view.run_id.as_str()) => {
                step.memo.insert("fenced".into(), fenced.clone());
                step.changes = vec![Change::new(
                    format!("rds {} ({})", x.instance, view.primary_region),
                    "the old primary",
                    format!("renamed {fenced}, tagged {FENCED_TAG}={}", view.run_id),
                )];
                Ok(Step::Done(format!("{} renamed {fenced} and tagged: it takes no writes under its old name; never deleted", x.instance)))
            }
            _ => Err(Stop::fail(
                format!(
                    "{} is not found in {} (nor {fenced})",
                    x.instance, view.primary_region
                ),
                "when it comes back, rename and tag it as the next line says, by hand",
            )),
        },
    }
}

fn approval(view: &RunView, step: &mut StepRun, a: &fo::Approval) -> Out {
    if view.mode == Mode::Drill {
        return Ok(Step::Done(
            "approval is not waited for in a drill (a drill changes nothing of production)".into(),
        ));
    }
    if view.approved.contains(&step.name) {
        return Ok(Step::Done("approved".into()));
    }
    Ok(Step::Waiting(format!(
        "waiting for approval{}: {{\"action\": \"approve\", \"run_id\": \"{}\", \"step\": \"{}\"}}",
        a.prompt
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
        view.run_id,
        step.name
    )))
}

async fn verify(cx: &Cx<'_>, view: &RunView, step: &mut StepRun, x: &fo::VerifyStep) -> Out {
    let Some(comp) = cx.policy.components.iter().find(|c| c.name == x.component) else {
        return Err(Stop::fail(
            format!("component {} is not in the policy", x.component),
            "fix the plan",
        ));
    };
    // In a failback the step's endpoint is the primary's again.
    let (host, port) = view.endpoint(&x.endpoint_from)?;
    let engine = view
        .engines
        .get(&x.endpoint_from)
        .cloned()
        .unwrap_or_default();
    // The step's DR-region secret (execute, drill), else the component's own.
    let mut comp = comp.clone();
    let mut secrets_region = comp
        .database
        .as_ref()
        .and_then(|d| d.secret_arn.split(':').nth(3).map(str::to_string))
        .unwrap_or_else(|| view.primary_region.clone());
    if let (Some(secret), false, Some(db)) = (
        &x.secret,
        view.mode == Mode::Failback,
        comp.database.as_mut(),
    ) {
        db.secret_arn = secret.clone();
        secrets_region = view.dr_region.clone();
    }
    let comp = &comp;
    let secrets = &cx.clients.at(&secrets_region).secrets;
    // A restored backup is compared with the fingerprint snapshot-export recorded for it (and
    // its freshness measured at the snapshot's time); a promoted replica holds newer data than
    // any backup's fingerprint: its counts are not compared, its freshness is measured now.
    let memo = view
        .memos
        .get(&x.endpoint_from)
        .cloned()
        .unwrap_or_default();
    let (expected, as_of) = match memo.get("manifest") {
        Some(key) => (
            recorded_fingerprint(cx, view, key).await,
            memo.get("snapshot_at")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        ),
        None => (None, Some(Utc::now())),
    };
    let checked = lifeboat_shared::data::check_endpoint(
        secrets,
        cx.local_endpoints,
        comp,
        &engine,
        &host,
        port,
        expected.as_ref(),
        as_of,
        true,
    )
    .await
    .map_err(|e| {
        Stop::fail(
            format!("could not check {host}:{port}: {e}"),
            "check the endpoint and the component's secret, then resume",
        )
    })?;
    let failing = lifeboat_shared::data::failing(&checked.results);
    step.memo
        .insert("checks".into(), checked.results.len().to_string());
    if !failing.is_empty() {
        return Err(Stop::fail(
            format!(
                "{} of {} checks failed: {}",
                failing.len(),
                checked.results.len(),
                failing.join("; ")
            ),
            "look at the data on the new endpoint before sending traffic to it",
        ));
    }
    Ok(Step::Done(format!(
        "{} checks passed on {host}:{port}{}",
        checked.results.len(),
        if checked.mapped {
            " (local stand-in)"
        } else {
            ""
        }
    )))
}

/// The data fingerprint a backup's manifest records, read from the DR backup bucket (the
/// replica S3 replication keeps in the DR region) and then the primary one; none when neither
/// answers or it has none (the count checks then say so).
async fn recorded_fingerprint(
    cx: &Cx<'_>,
    view: &RunView,
    key: &str,
) -> Option<lifeboat_shared::data::DataFingerprint> {
    let mut places = Vec::new();
    if let Some(b) = &cx.policy.buckets.dr_backup {
        places.push((view.dr_region.as_str(), b.as_str()));
    }
    places.push((
        view.primary_region.as_str(),
        cx.policy.buckets.backup.as_str(),
    ));
    for (region, bucket) in places {
        let s3 = &cx.clients.at(region).s3;
        if let Ok(Some(recorded)) = lifeboat_shared::data::recorded_at(s3, bucket, key).await {
            return recorded.fingerprint;
        }
    }
    None
}

/// Tears down a drill's temporaries (each by the identity its step recorded); true when any
/// moved.
pub async fn teardown(cx: &Cx<'_>, view: &RunView, temps: &mut [Temp]) -> bool {
    let mut moved = false;
    for t in temps.iter_mut().filter(|t| !t.gone && t.error.is_none()) {
        let r = cx.clients.at(&t.region);
        let result: Result<bool, AwsError> = match t.kind.as_str() {
            "rds-instance" => match rds::find_instance(&r.rds, &t.id).await {
                Err(e) => Err(e),
                Ok(None) => Ok(true),
                Ok(Some(i))
                    if i.tags.get(TAG_RUN).map(String::as_str) != Some(view.run_id.as_str()) =>
                {
                    t.error = Some(format!("{} is not tagged as this run's: left alone", t.id));
                    Ok(false)
                }
                Ok(Some(i)) if i.status == "deleting" => Ok(false),
                Ok(Some(_)) => r
                    .rds
                    .delete_db_instance()
                    .db_instance_identifier(&t.id)
                    .skip_final_snapshot(true)
                    .delete_automated_backups(true)
                    .send()
                    .await
                    .map(|_| false)
                    .or_else(|e| {
                        let e = AwsError::new("DeleteDBInstance", &e);
                        if not_found(&e.code) {
                            Ok(true)
                        } else {
                            Err(e)
                        }
                    }),
            },
            "elasticache-group" => match ec::find_group(&r.elasticache, &t.id).await {
                Err(e) => Err(e),
                Ok(None) => Ok(true),
                // Deleting is as good as gone (an emulator may keep it there).
                Ok(Some(g)) if g.status == "deleting" => Ok(true),
                Ok(Some(_)) => r
                    .elasticache
                    .delete_replication_group()
                    .replication_group_id(&t.id)
                    .send()
                    .await
                    .map(|_| true)
                    .or_else(|e| {
                        let e = AwsError::new("DeleteReplicationGroup", &e);
                        if not_found(&e.code) {
                            Ok(true)
                        } else {
                            Err(e)
                        }
                    }),
            },
            "secret" => r
                .secrets
                .delete_secret()
                .secret_id(&t.id)
                .force_delete_without_recovery(true)
                .send()
                .await
                .map(|_| true)
                .or_else(|e| {
                    let e = AwsError::new("DeleteSecret", &e);
                    if e.code == "ResourceNotFoundException" {
                        Ok(true)
                    } else {
                        Err(e)
                    }
                }),
            "ssm-parameter" => r
                .ssm
                .delete_parameter()
                .name(&t.id)
                .send()
                .await
                .map(|_| true)
                .or_else(|e| {
                    let e = AwsError::new("DeleteParameter", &e);
                    if e.code == "ParameterNotFound" {
                        Ok(true)
                    } else {
                        Err(e)
                    }
                }),
            "route53-record" => delete_record(cx, t).await,
            _ => Ok(true),
        };
        // The role deletes only what carries the drill tag; a resource already gone (a delete
        // retried after its answer was lost) has no tags, so AWS answers AccessDenied, not
        // NotFound: a lookup that finds nothing settles it as done.
        let result = match result {
            Err(e) if lifeboat_shared::aws::errors::access_denied(&e.code) && gone(r, t).await => {
                Ok(true)
            }
            other => other,
        };
        match result {
            Ok(true) => {
                t.gone = true;
                moved = true;
            }
            Ok(false) => {}
            Err(e) => {
                t.attempts += 1;
                if t.attempts >= TEARDOWN_ATTEMPTS {
                    t.error = Some(e.to_string());
                    moved = true;
                }
            }
        }
    }
    moved
}

/// True when a lookup finds no temporary of this kind and id (an error is not "gone").
async fn gone(r: &Regional, t: &Temp) -> bool {
    match t.kind.as_str() {
        "rds-instance" => matches!(rds::find_instance(&r.rds, &t.id).await, Ok(None)),
        "elasticache-group" => matches!(ec::find_group(&r.elasticache, &t.id).await, Ok(None)),
        "secret" => match r.secrets.describe_secret().secret_id(&t.id).send().await {
            Ok(_) => false,
            Err(e) => AwsError::new("DescribeSecret", &e).code == "ResourceNotFoundException",
        },
        _ => false,
    }
}

/// Rounds a teardown tries a temporary before it leaves it to the janitor (or to a person,
/// for a record) and says so.
pub const TEARDOWN_ATTEMPTS: u32 = 3;

async fn delete_record(cx: &Cx<'_>, t: &Temp) -> Result<bool, AwsError> {
    use aws_sdk_route53::types::{Change as R53Change, ChangeAction, ChangeBatch};
    let Some(spec) = &t.spec else { return Ok(true) };
    let zone = spec["zone"].as_str().unwrap_or_default();
    let name = spec["name"].as_str().unwrap_or_default();
    let typ = spec["type"].as_str().unwrap_or("CNAME");
    if inventory::record(cx.clients, zone, name, typ)
        .await?
        .is_none()
    {
        return Ok(true);
    }
    let values: Vec<String> = spec["values"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sent = cx
        .clients
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    R53Change::builder()
                        .action(ChangeAction::Delete)
                        .resource_record_set(record_set(
                            name,
                            typ,
                            spec["ttl"].as_i64().unwrap_or(60),
                            &values,
                        ))
                        .build()
                        .expect("action and record set are set"),
                )
                .build()
                .expect("changes are set"),
        )
        .send()
        .await;
    match sent {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = AwsError::new("ChangeResourceRecordSets", &e);
            // Deleted meanwhile (a retry after a lost answer).
            if e.code == "InvalidChangeBatch" && e.message.contains("not found") {
                Ok(true)
            } else {
                Err(e)
            }
        }
    }
}

/// The temporaries a drill step made, from its memo (rds, cache, secret, parameter, records).
pub fn temps_of(view: &RunView, step: &StepRun) -> Vec<Temp> {
    let mut out = Vec::new();
    let Some(temp) = step.memo.get("temp") else {
        return records_of(step);
    };
    let (kind, region) = match &step.action {
        Action::PromoteRdsReplica(_) | Action::RestoreRdsFromSnapshot(_) => {
            ("rds-instance", view.dr_region.clone())
        }
        Action::RestoreRedis(_) => ("elasticache-group", view.dr_region.clone()),
        Action::UpdateSecret(_) => ("secret", view.dr_region.clone()),
        Action::SwitchBackupTarget(_) => ("ssm-parameter", view.primary_region.clone()),
        _ => return out,
    };
    out.push(Temp {
        kind: kind.into(),
        region,
        id: temp.clone(),
        spec: None,
        gone: false,
        error: None,
        attempts: 0,
    });
    out.extend(records_of(step));
    out
}

fn records_of(step: &StepRun) -> Vec<Temp> {
    step.memo
        .iter()
        .filter(|(k, _)| k.starts_with("temp:"))
        .map(|(k, v)| Temp {
            kind: "route53-record".into(),
            region: "global".into(),
            id: k.trim_start_matches("temp:").to_string(),
            spec: serde_json::from_str(v).ok(),
            gone: false,
            error: None,
            attempts: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests;
