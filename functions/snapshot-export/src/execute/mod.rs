//! Execute: one run walks its phases in order — create this period's snapshots, fingerprint the
//! sources just snapshotted, copy and export, delete what retention lets go, write manifests.
//! Phases are data: each names the steps it performs and whether the inventory must be read
//! again (and the plan made again) before it, because an earlier phase changed AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lifeboat_shared::aws::errors::{self, AwsError, Settled};
use lifeboat_shared::aws::{elasticache, rds};
use lifeboat_shared::backup::{Manifest, TAG_MANIFEST};
use lifeboat_shared::data::DataFingerprint;
use lifeboat_shared::policy::{Policy, ResourceKind};
use lifeboat_shared::report::{Action, Outcome, Report, Severity};
use lifeboat_shared::run::Invocation;

use crate::inventory::{self, Buckets, Clients, Destination, Inventory, TargetClients};
use crate::plan::{self, Plan, Planned, Scope, Step, Where};

/// The passes of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// This period's snapshots. Where they become available at once (small databases), the
    /// copy/export phase copies and exports them in the same run; otherwise the next run does.
    Create,
    /// Row counts and checksums of each source just snapshotted, for restore-verification.
    Fingerprint,
    CopyAndExport,
    /// Deletions come before manifests, so a snapshot deleted now gets one manifest saying so
    /// instead of a progress update just before it goes.
    Delete,
    /// Manifests record the state after this run's copies, exports and deletions.
    Manifest,
}

pub const PHASES: [Phase; 5] = [
    Phase::Create,
    Phase::Fingerprint,
    Phase::CopyAndExport,
    Phase::Delete,
    Phase::Manifest,
];

/// The order of the actions in the report.
const REPORT_ORDER: [Phase; 5] = [
    Phase::Create,
    Phase::Fingerprint,
    Phase::CopyAndExport,
    Phase::Manifest,
    Phase::Delete,
];

/// What to read again before a phase when an earlier phase changed AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Nothing,
    Inventory,
    InventoryAndPlan,
}

impl Phase {
    /// The phase that performs a planned step.
    pub fn of(step: &Step) -> Phase {
        match step {
            Step::CreateSnapshot { .. } => Phase::Create,
            Step::CopyToDr { .. } | Step::StartExport { .. } | Step::ExportToBucket { .. } => {
                Phase::CopyAndExport
            }
            Step::DeleteSnapshot { .. } => Phase::Delete,
            Step::WriteManifest { .. } => Phase::Manifest,
        }
    }

    pub fn refresh_before(self) -> Refresh {
        match self {
            Phase::CopyAndExport => Refresh::InventoryAndPlan,
            Phase::Delete => Refresh::Inventory,
            Phase::Create | Phase::Fingerprint | Phase::Manifest => Refresh::Nothing,
        }
    }
}

/// The state a run carries from phase to phase.
struct Walk {
    inv: Inventory,
    plan: Plan,
    /// An earlier phase changed AWS since the inventory was read.
    changed: bool,
    inventory_passes: u32,
    /// (source id, snapshot id) of the snapshots this run requested.
    created: Vec<(String, String)>,
    fingerprints: BTreeMap<String, DataFingerprint>,
    /// Why a due fingerprint was not taken (it failed), by snapshot id, for the manifest.
    fingerprint_missing: BTreeMap<String, String>,
    /// This run's deletions whose intent was recorded (in a dry run: planned), with their
    /// outcome: the Manifest phase settles them.
    deletions: Vec<(plan::Intent, Outcome)>,
    actions: BTreeMap<Phase, Vec<Action>>,
}

/// Walks the phases. Every step's failure is recorded in its action: the walk itself cannot
/// fail, and every step ends in the report.
///
/// The backup target (`buckets.target_parameter`) is read once, first, before any write:
/// exports, manifests and deletion intents go to the bucket it names, written with S3 in that
/// bucket's region; what earlier runs wrote is read from both backup buckets (see [`Buckets`]).
#[allow(clippy::too_many_arguments)]
pub async fn work(
    c: &Clients,
    targets: &TargetClients,
    policy: &Policy,
    local_endpoints: &BTreeMap<String, (String, u16)>,
    switch: &plan::Fingerprints,
    scope: &Scope,
    inv: &Invocation,
    report: &mut Report,
) {
    let n = policy.limits.max_concurrent_calls as usize;
    let (dry_run, now, stop_at) = (inv.dry_run, inv.now, inv.stop_at);
    let started = Instant::now();
    let target = Destination::read(&targets.ssm, policy, &c.primary_region).await;
    let buckets = Buckets::new(c, targets.s3_dr.as_ref(), policy, &target);
    // The steps' S3 client is the target bucket's (its region); the rest is `c`'s.
    let writer = Clients {
        s3: buckets
            .write
            .as_ref()
            .map_or_else(|| c.s3.clone(), |b| b.s3.clone()),
        ..c.clone()
    };
    let cx = StepContext {
        // Unknown: every step that writes to a bucket is blocked (see `plan::plan`).
        bucket: buckets.write.as_ref().map_or("", |b| b.name.as_str()),
        run_id: &scope.run_id,
        now,
    };
    let first = inventory::read(c, &buckets, policy, target, None).await;
    let plan = plan::plan(policy, &first, scope, now);
    let mut w = Walk {
        inv: first,
        actions: [(Phase::Create, plan.already.clone())]
            .into_iter()
            .collect(),
        plan,
        changed: false,
        inventory_passes: 1,
        created: Vec::new(),
        fingerprints: BTreeMap::new(),
        fingerprint_missing: BTreeMap::new(),
        deletions: Vec::new(),
    };
    for phase in PHASES {
        let refresh = phase.refresh_before();
        if w.changed && !dry_run && refresh != Refresh::Nothing {
            w.inv = inventory::read(c, &buckets, policy, w.inv.target.clone(), Some(&w.inv)).await;
            w.inventory_passes += 1;
            w.changed = false;
            if refresh == Refresh::InventoryAndPlan {
                w.plan = plan::plan(policy, &w.inv, scope, now);
            }
        }
        let done = match phase {
            Phase::Fingerprint if dry_run => Vec::new(),
            // Off: no secret read, no connection; each due snapshot's manifest says why.
            Phase::Fingerprint if switch.missing().is_some() => {
                let why = switch.missing().unwrap_or_default();
                for d in plan::fingerprints_due(policy, &w.inv, scope, &w.created, now) {
                    w.fingerprint_missing.insert(d.snapshot_id, why.clone());
                }
                Vec::new()
            }
            Phase::Fingerprint => {
                let due = plan::fingerprints_due(policy, &w.inv, scope, &w.created, now);
                let (fps, missing, actions) =
                    fingerprints(c, &buckets, policy, local_endpoints, &w.inv, &due, now).await;
                w.fingerprints = fps;
                w.fingerprint_missing = missing;
                actions
            }
            Phase::Manifest => {
                let deleting: BTreeSet<String> = w
                    .deletions
                    .iter()
                    .filter(|(i, _)| i.place == Where::Primary)
                    .map(|(i, _)| i.snapshot.id.clone())
                    .collect();
                let mut manifests = plan::manifests(policy, &w.inv, scope, now, &deleting);
                for m in &mut manifests {
                    if let Step::WriteManifest {
                        snapshot,
                        manifest,
                        carry_fingerprint,
                        ..
                    } = &mut m.step
                    {
                        if let Some(fp) = w.fingerprints.get(&snapshot.id) {
                            manifest.fingerprint = Some(fp.clone());
                        } else if let Some(why) = w.fingerprint_missing.get(&snapshot.id) {
                            manifest.fingerprint_missing = Some(why.clone());
                        } else if let (Some(why), true) = (switch.missing(), *carry_fingerprint) {
                            // A component with database access, fingerprints off.
                            manifest.fingerprint_missing = Some(why);
                        }
                    }
                }
                if !dry_run {
                    carry_fingerprints(&buckets, &mut manifests).await;
                }
                let mut done = execute(&writer, &cx, manifests, dry_run, n, stop_at).await;
                done.extend(settle_intents(&buckets, &cx, policy, scope, &w, dry_run).await);
                done
            }
            Phase::Create | Phase::CopyAndExport | Phase::Delete => {
                let steps: Vec<Planned> = w
                    .plan
                    .steps
                    .iter()
                    .filter(|p| Phase::of(&p.step) == phase)
                    .cloned()
                    .collect();
                let attempted = steps.iter().any(|p| !p.deferred && p.blocked.is_none());
                let actions = execute(&writer, &cx, steps.clone(), dry_run, n, stop_at).await;
                // `execute` answers in the order of the steps.
                for (p, a) in steps.iter().zip(&actions) {
                    match (&p.step, a.outcome) {
                        (
                            Step::CreateSnapshot {
                                source_id,
                                snapshot_id,
                                ..
                            },
                            // Already done: the snapshot was absent when planned, so the
                            // create's answer was lost and its retry found it. It still needs
                            // its fingerprint.
                            Outcome::Done | Outcome::AlreadyDone,
                        ) => w.created.push((source_id.clone(), snapshot_id.clone())),
                        (Step::DeleteSnapshot { snapshot, place }, outcome)
                            if outcome != Outcome::Deferred
                                && !a
                                    .error
                                    .as_deref()
                                    .is_some_and(|e| e.starts_with(NO_INTENT)) =>
                        {
                            w.deletions.push((
                                plan::Intent::new(snapshot, *place, cx.run_id, now),
                                outcome,
                            ));
                        }
                        _ => {}
                    }
                }
                w.changed = match phase {
                    Phase::Create => attempted,
                    _ => actions.iter().any(|a| a.outcome == Outcome::Done),
                };
                actions
            }
        };
        w.actions.entry(phase).or_default().extend(done);
    }
    for phase in REPORT_ORDER {
        report
            .actions
            .extend(w.actions.remove(&phase).unwrap_or_default());
    }
    report.decisions = w.plan.decisions;
    report.findings.extend(w.plan.findings);
    if let plan::Fingerprints::Off(reason) = switch {
        let with_access: Vec<&str> = policy
            .components
            .iter()
            .filter(|c| c.database.is_some())
            .map(|c| c.name.as_str())
            .collect();
        if !with_access.is_empty() {
            report.finding(
                Severity::Info,
                None,
                format!(
                    "{} ({}): {reason}; no database was connected to, and the manifests of {} record no row counts for restore-verification to compare",
                    plan::FINGERPRINTS_OFF,
                    plan::FINGERPRINTS_VAR,
                    with_access.join(", ")
                ),
            );
        }
    }
    report.measure("InventoryPasses", w.inventory_passes as f64, "Count");
    report.measure("Sources", w.inv.sources.len() as f64, "Count");
    report.measure(
        "SnapshotsSeen",
        (w.inv.snapshots.len() + w.inv.dr_snapshots.len()) as f64,
        "Count",
    );
    report.measure("WorkSeconds", started.elapsed().as_secs_f64(), "Seconds");
}

/// The data fingerprint of each snapshot due one (see [`plan::fingerprints_due`]): taken right
/// after the request, so it describes the data the snapshot holds (rows written in between are
/// within the row-count tolerance). An earlier run's snapshot is fingerprinted only if its
/// manifest records none (one GET). Keyed by snapshot id; one action per fingerprint taken or
/// failed, and the failures' reasons for the manifest.
pub async fn fingerprints(
    c: &Clients,
    buckets: &Buckets,
    policy: &Policy,
    local: &BTreeMap<String, (String, u16)>,
    inv: &Inventory,
    due: &[plan::Due],
    now: DateTime<Utc>,
) -> (
    BTreeMap<String, DataFingerprint>,
    BTreeMap<String, String>,
    Vec<Action>,
) {
    use lifeboat_shared::data::{self, Family};
    let mut out = BTreeMap::new();
    let mut missing = BTreeMap::new();
    let mut actions = Vec::new();
    for d in due {
        let Some(src) = inv.sources.iter().find(|s| s.id == d.source_id) else {
            continue;
        };
        let Some(access) = policy
            .components
            .iter()
            .find(|comp| comp.name == src.component)
            .and_then(|comp| comp.database.as_ref())
        else {
            continue;
        };
        let mut why = "row counts and primary-key checksums (Redis: key count) at snapshot time, for restore-verification".to_string();
        if d.unless_recorded {
            let key = lifeboat_shared::backup::manifest_key(src.kind, &src.id, &d.snapshot_id);
            match latest_manifest(buckets, &key).await {
                Ok(Some(m)) if m.fingerprint.is_some() => continue,
                Ok(_) => {
                    why = format!(
                        "an earlier run requested this snapshot but recorded no fingerprint; it is \
                         within {} min of the snapshot, so one is taken now",
                        plan::FINGERPRINT_WINDOW_MINUTES
                    )
                }
                // Unknown: taking one is harmless, the manifest write keeps either.
                Err(e) => why = format!("the manifest could not be read ({e}): taken in case"),
            }
        }
        let mut a = Action::new("fingerprint", &d.snapshot_id, why)
            .target(format!("{} {}", src.kind, src.id));
        let taken = async {
            let family = Family::of(&src.engine)
                .ok_or_else(|| format!("engine {:?} cannot be fingerprinted", src.engine))?;
            let (host, port) = src
                .endpoint
                .clone()
                .ok_or_else(|| format!("{} reports no endpoint", src.id))?;
            let to = data::target(local, family, &host, port);
            let creds = data::credentials(&c.secrets, &access.secret_arn).await?;
            data::fingerprint(family, &to, access.name.as_deref(), &creds, access.tls, now).await
        }
        .await;
        match taken {
            Ok(fp) => {
                a.outcome = Outcome::Done;
                out.insert(d.snapshot_id.clone(), fp);
            }
            Err(e) => {
                a.outcome = Outcome::Failed;
                missing.insert(
                    d.snapshot_id.clone(),
                    format!(
                        "taking it failed at {} ({e}); a run within {} min of the snapshot tries again",
                        now.format("%Y-%m-%d %H:%M UTC"),
                        plan::FINGERPRINT_WINDOW_MINUTES
                    ),
                );
                a.error = Some(e);
            }
        }
        actions.push(a);
    }
    (out, missing, actions)
}

/// The manifest at `key` as last written: the newer (`written_at`) of the copies in the buckets
/// a run reads (the target's, then the policy's other backup bucket: a manifest is in the
/// bucket the run that wrote it wrote to, and after a failback the secondary's copy is the newer
/// one). An unreadable bucket is the error only when no other bucket holds the manifest.
pub async fn latest_manifest(buckets: &Buckets, key: &str) -> Result<Option<Manifest>, String> {
    let mut found: Option<Manifest> = None;
    let mut failed = None;
    for b in &buckets.read {
        match lifeboat_shared::journal::read_json::<Manifest>(&b.s3, &b.name, key).await {
            Ok(Some((m, _))) => {
                let newer = match &found {
                    None => true,
                    // A manifest of this schema is preferred to one that is not.
                    Some(f) => match (f.check().is_ok(), m.check().is_ok()) {
                        (false, true) => true,
                        (true, false) => false,
                        _ => m.written_at > f.written_at,
                    },
                };
                if newer {
                    found = Some(m);
                }
            }
            Ok(None) => {}
            Err(e) => {
                failed.get_or_insert(format!("s3://{}/{key}: {e}", b.name));
            }
        }
    }
    match (found, failed) {
        (Some(m), _) => Ok(Some(m)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}

/// Rewrites keep the fingerprint an earlier write recorded (one GET per bucket read, only for
/// components with database access), wherever that write went (see [`latest_manifest`]); a
/// manifest that cannot be read carries nothing.
async fn carry_fingerprints(buckets: &Buckets, manifests: &mut [Planned]) {
    for p in manifests.iter_mut() {
        if p.deferred || p.blocked.is_some() {
            continue;
        }
        let Step::WriteManifest {
            key,
            manifest,
            carry_fingerprint: true,
            ..
        } = &mut p.step
        else {
            continue;
        };
        if manifest.fingerprint.is_some() {
            continue;
        }
        if let Ok(Some(old)) = latest_manifest(buckets, key).await {
            if old.check().is_ok() {
                manifest.fingerprint = old.fingerprint;
                if manifest.fingerprint_missing.is_none() {
                    manifest.fingerprint_missing = old.fingerprint_missing;
                }
            }
        }
    }
}

/// PUT of a JSON object in the backup bucket (`s3`: a client in its region).
async fn put_json<T: serde::Serialize>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    value: &T,
) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    settle(
        "PutObject",
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await,
        errors::never,
    )
    .map(|_| ())
}

/// Settles every deletion intent: this run's (from their outcomes) and those earlier runs left
/// (from the inventory), in every backup bucket a run reads (an intent is where the run that
/// wrote it wrote backups). The settled manifest goes to the target; the intent is removed from
/// the bucket it was found in. One report line each; see [`plan::settlement`]. Nothing is
/// settled while the target is unknown (the plan's critical line says why).
async fn settle_intents(
    buckets: &Buckets,
    cx: &StepContext<'_>,
    policy: &Policy,
    scope: &Scope,
    w: &Walk,
    dry_run: bool,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(write) = &buckets.write else {
        return actions;
    };
    // Each intent with this run's outcome for it and the bucket holding it.
    let mut intents: Vec<(plan::Intent, Option<Outcome>, &inventory::Bucket)> = w
        .deletions
        .iter()
        .map(|(i, o)| (i.clone(), Some(*o), write))
        .collect();
    for b in &buckets.read {
        match lifeboat_shared::aws::s3::keys(&b.s3, &b.name, plan::INTENTS).await {
            Ok(keys) => {
                for key in keys {
                    if intents.iter().any(|(i, _, _)| i.key() == key) {
                        continue;
                    }
                    match lifeboat_shared::journal::read_json::<plan::Intent>(&b.s3, &b.name, &key)
                        .await
                    {
                        Ok(Some((i, _))) => intents.push((i, None, b)),
                        Ok(None) => {}
                        Err(e) => {
                            let mut a = Action::new(
                                "settle-deletion",
                                key.rsplit('/').next().unwrap_or(&key),
                                "an earlier run's deletion intent",
                            )
                            .target(format!("s3://{}/{key}", b.name));
                            a.outcome = Outcome::Failed;
                            a.error = Some(format!("could not read it: {e}"));
                            actions.push(a);
                        }
                    }
                }
            }
            Err(e) => {
                let mut a = Action::new(
                    "settle-deletion",
                    plan::INTENTS,
                    "deletion intents earlier runs left, to settle their manifests",
                )
                .target(format!("s3://{}/{}", b.name, plan::INTENTS));
                a.outcome = Outcome::Failed;
                a.error = Some(format!("could not list them: {e}"));
                actions.push(a);
            }
        }
    }
    for (intent, outcome, found_in) in intents {
        let what = match intent.place {
            Where::Primary => "the snapshot",
            Where::Dr => "its DR copy",
        };
        let earlier = if outcome.is_some() {
            String::new()
        } else {
            format!(
                " (deleted by run {} at {})",
                intent.run_id,
                intent.at.format("%Y-%m-%d %H:%M UTC")
            )
        };
        let target = format!("s3://{}/{}", write.name, intent.manifest_key);
        match plan::settlement(&intent, outcome, &w.inv) {
            plan::Settlement::Deleted => {
                let mut a = Action::new(
                    "write-manifest",
                    &intent.snapshot.id,
                    format!("records that {what} was deleted by retention{earlier}; the export and copies it names remain"),
                )
                .target(target);
                if dry_run {
                    a.outcome = Outcome::Planned;
                } else {
                    let r = async {
                        let existing = latest_manifest(buckets, &intent.manifest_key)
                            .await
                            .map_err(|e| format!("could not read the manifest: {e}"))?;
                        let m = match plan::settled_manifest(
                            existing, &intent, policy, &w.inv, scope, cx.now,
                        ) {
                            Ok(m) => m,
                            Err(read) => return Ok(Some(read)),
                        };
                        put_json(&write.s3, &write.name, &intent.manifest_key, &m).await?;
                        delete_object(&found_in.s3, &found_in.name, &intent.key())
                            .await
                            .map(|()| None)
                    }
                    .await;
                    match r {
                        Ok(None) => a.outcome = Outcome::Done,
                        Ok(Some(read)) => {
                            a.outcome = Outcome::Deferred;
                            a.reason = format!(
                                "{}; waits for a run that can read {}: there is no manifest to update, and one made now would say what was not seen",
                                a.reason,
                                read.label()
                            );
                        }
                        Err(e) => {
                            a.outcome = Outcome::Failed;
                            a.error =
                                Some(format!("{e}; the intent stays, the next run settles it"));
                        }
                    }
                }
                actions.push(a);
            }
            plan::Settlement::StillThere => {
                let mut a = Action::new(
                    "settle-deletion",
                    &intent.snapshot.id,
                    format!("run {} meant to delete {what}, which is still there: the manifest stands, the intent is dropped", intent.run_id),
                )
                .target(format!("s3://{}/{}", found_in.name, intent.key()));
                if dry_run {
                    a.outcome = Outcome::Planned;
                } else {
                    match delete_object(&found_in.s3, &found_in.name, &intent.key()).await {
                        Ok(()) => a.outcome = Outcome::Done,
                        Err(e) => {
                            a.outcome = Outcome::Failed;
                            a.error = Some(e);
                        }
                    }
                }
                actions.push(a);
            }
            plan::Settlement::Unknown(why) => {
                let mut a = Action::new(
                    "write-manifest",
                    &intent.snapshot.id,
                    format!("would record that {what} was deleted{earlier}: {why}"),
                )
                .target(target);
                a.outcome = Outcome::Deferred;
                actions.push(a);
            }
        }
    }
    actions
}

async fn delete_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    settle(
        "DeleteObject",
        s3.delete_object().bucket(bucket).key(key).send().await,
        errors::never,
    )
    .map(|_| ())
}

/// One step's call under its rule (see [`errors::settle`]): failures read `code: message`.
fn settle<T, E>(
    operation: &'static str,
    r: Result<T, aws_sdk_rds::error::SdkError<E>>,
    counts_as_done: fn(&str) -> bool,
) -> Result<Settled, String>
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    errors::settle(operation, r, counts_as_done).map_err(|e| e.to_string())
}

/// A snapshot deletion under its rule ("not found" is done), and one more: the role allows
/// deletions only of snapshots tagged `lifeboat:managed` (`aws:ResourceTag`), a condition that
/// cannot hold for a snapshot that no longer exists, so the SDK's retry of a delete whose first
/// answer was lost is answered AccessDenied, not NotFound. A denial is settled by looking:
/// a snapshot that is not there (`exists` is false, or its lookup says not found) is already
/// deleted; one still there keeps the denial as the step's error.
async fn settle_delete<T, E>(
    operation: &'static str,
    result: Result<T, aws_sdk_rds::error::SdkError<E>>,
    exists: impl std::future::Future<Output = Result<bool, AwsError>>,
) -> Result<Settled, String>
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match errors::settle(operation, result, errors::not_found) {
        Err(denied) if errors::access_denied(&denied.code) => match exists.await {
            Ok(false) => Ok(Settled::Already),
            Err(e) if errors::not_found(&e.code) => Ok(Settled::Already),
            Ok(true) => Err(denied.to_string()),
            Err(e) => Err(format!(
                "{denied} (and the snapshot could not be looked up: {e})"
            )),
        },
        other => other.map_err(|e| e.to_string()),
    }
}

/// What every step may need besides its own fields.
pub struct StepContext<'a> {
    /// The backup target this run writes manifests and deletion intents to (see [`Buckets`]),
    /// written with the steps' `Clients::s3`, a client in its region.
    pub bucket: &'a str,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
}

/// How a deletion's error starts when its intent could not be recorded (nothing was deleted).
const NO_INTENT: &str = "not deleted: the deletion intent could not be recorded";

async fn run_step(c: &Clients, cx: &StepContext<'_>, step: &Step) -> Result<Settled, String> {
    let bucket = cx.bucket;
    match step {
        Step::CreateSnapshot {
            kind,
            source_id,
            snapshot_id,
            tags,
        } => match kind {
            ResourceKind::RdsInstance => settle(
                "CreateDBSnapshot",
                c.rds
                    .create_db_snapshot()
                    .db_instance_identifier(source_id)
                    .db_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
            ResourceKind::AuroraCluster => settle(
                "CreateDBClusterSnapshot",
                c.rds
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(source_id)
                    .db_cluster_snapshot_identifier(snapshot_id)
                    .set_tags(Some(rds::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
            ResourceKind::Elasticache => settle(
                "CreateSnapshot",
                c.elasticache
                    .create_snapshot()
                    .replication_group_id(source_id)
                    .snapshot_name(snapshot_id)
                    .set_tags(Some(elasticache::tag_list(tags)))
                    .send()
                    .await,
                errors::already_exists,
            ),
        },
        Step::CopyToDr {
            snapshot,
            target_id,
            kms_key_id,
        } => {
            let rds = c.rds_dr.as_ref().ok_or("no DR region configured")?;
            match snapshot.kind {
                ResourceKind::AuroraCluster => settle(
                    "CopyDBClusterSnapshot",
                    rds.copy_db_cluster_snapshot()
                        .source_db_cluster_snapshot_identifier(&snapshot.arn)
                        .target_db_cluster_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    errors::already_exists,
                ),
                _ => settle(
                    "CopyDBSnapshot",
                    rds.copy_db_snapshot()
                        .source_db_snapshot_identifier(&snapshot.arn)
                        .target_db_snapshot_identifier(target_id)
                        .copy_tags(true)
                        .set_kms_key_id(kms_key_id.clone())
                        .send()
                        .await,
                    errors::already_exists,
                ),
            }
        }
        Step::StartExport {
            snapshot,
            task_id,
            bucket,
            prefix,
            iam_role_arn,
            kms_key_id,
        } => settle(
            "StartExportTask",
            c.rds
                .start_export_task()
                .export_task_identifier(task_id)
                .source_arn(&snapshot.arn)
                .s3_bucket_name(bucket)
                .s3_prefix(prefix)
                .iam_role_arn(iam_role_arn)
                .kms_key_id(kms_key_id)
                .send()
                .await,
            errors::already_exists,
        ),
        Step::ExportToBucket {
            snapshot,
            target_name,
            bucket,
        } => settle(
            "CopySnapshot",
            c.elasticache
                .copy_snapshot()
                .source_snapshot_name(&snapshot.id)
                .target_snapshot_name(target_name)
                .target_bucket(bucket)
                .send()
                .await,
            errors::already_exists,
        ),
        Step::WriteManifest {
            snapshot,
            key,
            manifest,
            settled,
            carry_fingerprint,
        } => {
            let mut manifest = manifest.clone();
            // The fingerprint an earlier write recorded was carried in before (the walk's
            // `carry_fingerprints`, which reads every backup bucket).
            if *carry_fingerprint {
                if manifest.fingerprint.is_some() {
                    manifest.fingerprint_missing = None;
                } else if manifest.fingerprint_missing.is_none()
                    || (!plan::within_window(snapshot, manifest.written_at)
                        && !manifest
                            .fingerprint_missing
                            .as_deref()
                            .is_some_and(|m| m.starts_with(plan::FINGERPRINTS_OFF)))
                {
                    // Past the window a failure's "tries again" no longer holds.
                    manifest.fingerprint_missing = Some(plan::missing_reason(
                        manifest.snapshot.created_at,
                        manifest.written_at,
                    ));
                }
            }
            put_json(&c.s3, bucket, key, &manifest).await?;
            if *settled {
                match snapshot.kind {
                    ResourceKind::Elasticache => settle(
                        "AddTagsToResource",
                        c.elasticache
                            .add_tags_to_resource()
                            .resource_name(&snapshot.arn)
                            .tags(
                                aws_sdk_elasticache::types::Tag::builder()
                                    .key(TAG_MANIFEST)
                                    .value("final")
                                    .build(),
                            )
                            .send()
                            .await,
                        errors::never,
                    )?,
                    _ => settle(
                        "AddTagsToResource",
                        c.rds
                            .add_tags_to_resource()
                            .resource_name(&snapshot.arn)
                            .tags(
                                aws_sdk_rds::types::Tag::builder()
                                    .key(TAG_MANIFEST)
                                    .value("final")
                                    .build(),
                            )
                            .send()
                            .await,
                        errors::never,
                    )?,
                };
            }
            Ok(Settled::Done)
        }
        Step::DeleteSnapshot { snapshot, place } => {
            // The intent first: a deletion no manifest could ever record does not happen.
            let intent = plan::Intent::new(snapshot, *place, cx.run_id, cx.now);
            put_json(&c.s3, bucket, &intent.key(), &intent)
                .await
                .map_err(|e| format!("{NO_INTENT} ({e})"))?;
            let rds = match place {
                Where::Primary => &c.rds,
                Where::Dr => c.rds_dr.as_ref().ok_or("no DR region configured")?,
            };
            let id = &snapshot.id;
            match snapshot.kind {
                ResourceKind::RdsInstance => {
                    let r = rds
                        .delete_db_snapshot()
                        .db_snapshot_identifier(id)
                        .send()
                        .await;
                    settle_delete("DeleteDBSnapshot", r, async {
                        match rds
                            .describe_db_snapshots()
                            .db_snapshot_identifier(id)
                            .send()
                            .await
                        {
                            Ok(o) => Ok(!o.db_snapshots().is_empty()),
                            Err(e) => Err(AwsError::new("DescribeDBSnapshots", &e)),
                        }
                    })
                    .await
                }
                ResourceKind::AuroraCluster => {
                    let r = rds
                        .delete_db_cluster_snapshot()
                        .db_cluster_snapshot_identifier(id)
                        .send()
                        .await;
                    settle_delete("DeleteDBClusterSnapshot", r, async {
                        match rds
                            .describe_db_cluster_snapshots()
                            .db_cluster_snapshot_identifier(id)
                            .send()
                            .await
                        {
                            Ok(o) => Ok(!o.db_cluster_snapshots().is_empty()),
                            Err(e) => Err(AwsError::new("DescribeDBClusterSnapshots", &e)),
                        }
                    })
                    .await
                }
                ResourceKind::Elasticache => {
                    let r = c
                        .elasticache
                        .delete_snapshot()
                        .snapshot_name(id)
                        .send()
                        .await;
                    settle_delete("DeleteSnapshot", r, async {
                        match c
                            .elasticache
                            .describe_snapshots()
                            .snapshot_name(id)
                            .send()
                            .await
                        {
                            Ok(o) => Ok(!o.snapshots().is_empty()),
                            Err(e) => Err(AwsError::new("DescribeSnapshots", &e)),
                        }
                    })
                    .await
                }
            }
        }
    }
}

/// Performs planned steps with bounded concurrency. Blocked steps are reported failed with their
/// reason, deferred ones as deferred; a dry run performs nothing. Steps not started before
/// `deadline` are deferred to the next run.
pub async fn execute(
    c: &Clients,
    cx: &StepContext<'_>,
    planned: Vec<Planned>,
    dry_run: bool,
    concurrency: usize,
    deadline: Option<Instant>,
) -> Vec<Action> {
    stream::iter(planned)
        .map(|p| async move {
            let mut action = p.action;
            if let Some(reason) = p.blocked {
                action.outcome = Outcome::Failed;
                action.error = Some(reason);
            } else if p.deferred {
                action.outcome = Outcome::Deferred;
            } else if dry_run {
                action.outcome = Outcome::Planned;
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                action.outcome = Outcome::Deferred;
                action.reason = format!("{}; the invocation's time ran out, the next run continues", action.reason);
            } else {
                match run_step(c, cx, &p.step).await {
                    Ok(Settled::Done) => action.outcome = Outcome::Done,
                    Ok(Settled::Already) => action.outcome = Outcome::AlreadyDone,
                    Err(e) => {
                        tracing::warn!(kind = %action.kind, resource = %action.resource, error = %e, "step failed");
                        action.outcome = Outcome::Failed;
                        action.error = Some(e);
                    }
                }
            }
            action
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_after_a_change_reads_what_it_needs_again() {
        assert_eq!(PHASES[0], Phase::Create, "creates come first");
        assert_eq!(
            Phase::CopyAndExport.refresh_before(),
            Refresh::InventoryAndPlan,
            "copies are planned from the snapshots just created"
        );
        assert_eq!(Phase::Delete.refresh_before(), Refresh::Inventory);
        assert!(
            PHASES.iter().position(|p| *p == Phase::Delete)
                < PHASES.iter().position(|p| *p == Phase::Manifest),
            "a snapshot deleted now gets one manifest saying so"
        );
    }
}

#[cfg(test)]
mod step_tests;
#[cfg(test)]
mod target_tests;
