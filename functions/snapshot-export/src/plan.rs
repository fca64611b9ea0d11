//! The pure core of snapshot-export: from (policy, inventory, now) to a plan of steps, each
//! with its reason, and a keep/delete decision with its reason for every snapshot in scope.
//! No I/O and no clock reads here: `now` is a parameter.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Utc};
use lifeboat_shared::backup::{
    backup_prefix, export_task_id, manifest_key, period_start, snapshot_id, Manifest,
    ManifestCopy, ManifestExport, ManifestSnapshot, ManifestSource, Snapshot, MANIFEST_SCHEMA,
    TAG_COMPONENT, TAG_MANAGED, TAG_MANIFEST, TAG_PERIOD, TAG_RUN, TAG_SOURCE,
};
use lifeboat_shared::policy::{Policy, ResourceKind, Retention, Settings};
use lifeboat_shared::report::{Action, Decision, Finding, Severity, Verdict};
use serde::{Deserialize, Serialize};

/// The status in which RDS, Aurora and ElastiCache accept a snapshot request (a stopped,
/// modifying or backing-up resource is refused with an invalid-state error).
const SNAPSHOTTABLE: [&str; 1] = ["available"];

/// A database or cache that policy selects for backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub status: String,
    pub encrypted: bool,
    pub tags: BTreeMap<String, String>,
    pub component: String,
    pub settings: Settings,
    /// Where clients connect (for the data fingerprint at snapshot time).
    pub endpoint: Option<(String, u16)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportTask {
    pub id: String,
    pub source_arn: String,
    /// Upper-case as RDS reports it: STARTING, IN_PROGRESS, COMPLETE, CANCELING, CANCELED, FAILED.
    pub status: String,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub failure: Option<String>,
}

impl ExportTask {
    fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "CANCELED" | "CANCELING")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: i64,
    pub max: i64,
}

/// Everything read from AWS for one decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub sources: Vec<Source>,
    /// Primary-region snapshots of every kind: automated and manual, ours and not.
    pub snapshots: Vec<Snapshot>,
    /// DR-region manual snapshots (RDS and Aurora).
    pub dr_snapshots: Vec<Snapshot>,
    pub exports: Vec<ExportTask>,
    /// Object keys in the backup bucket that start with `lifeboat-` (ElastiCache exports).
    pub exported_objects: BTreeSet<String>,
    /// Account quotas for manual DB and cluster snapshots, when they could be read.
    pub instance_quota: Option<Quota>,
    pub cluster_quota: Option<Quota>,
    /// Reads that failed, with the AWS error: the plan works around them and says so.
    pub read_errors: Vec<(String, String)>,
}

/// Where the run works: regions and what a manual command narrowed it to.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub primary_region: String,
    pub dr_region: Option<String>,
    /// Component names or resource ids; empty means everything.
    pub only: Vec<String>,
    /// The time that decides the snapshot period (the schedule's time for scheduled runs).
    pub period_time: DateTime<Utc>,
    pub run_id: String,
}

impl Scope {
    fn includes(&self, component: &str, source_id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == component || o == source_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Primary,
    Dr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateSnapshot {
        kind: ResourceKind,
        source_id: String,
        snapshot_id: String,
        tags: BTreeMap<String, String>,
    },
    CopyToDr {
        snapshot: Snapshot,
        target_id: String,
        kms_key_id: Option<String>,
    },
    StartExport {
        snapshot: Snapshot,
        task_id: String,
        bucket: String,
        prefix: String,
        iam_role_arn: String,
        kms_key_id: String,
    },
    ExportToBucket {
        snapshot: Snapshot,
        target_name: String,
        bucket: String,
    },
    WriteManifest {
        snapshot: Snapshot,
        key: String,
        manifest: Box<Manifest>,
        /// The manifest records every location in its final state: tag the snapshot so later
        /// runs skip it.
        settled: bool,
        /// The component has database access: keep the fingerprint an earlier write recorded.
        carry_fingerprint: bool,
    },
    DeleteSnapshot {
        snapshot: Snapshot,
        place: Where,
    },
}

/// A step with the report line that explains it. `blocked` steps are not executed: they are
/// reported as failed with the reason (a configuration problem), `deferred` ones wait for a
/// later run.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub step: Step,
    pub action: Action,
    pub blocked: Option<String>,
    pub deferred: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Planned>,
    /// Creates found already done: reported, nothing to execute.
    pub already: Vec<Action>,
    pub decisions: Vec<Decision>,
    pub findings: Vec<Finding>,
}

impl Plan {
    pub fn count(&self, f: impl Fn(&Step) -> bool) -> usize {
        self.steps
            .iter()
            .filter(|p| !p.deferred && p.blocked.is_none() && f(&p.step))
            .count()
    }
}

const MAX_EXPORT_ATTEMPTS: usize = 3;

/// Which snapshots grandfather-father-son retention keeps, with the rule that keeps each.
/// `times` are (id, time); the newest snapshot in each of the last N hours/days/ISO weeks/months
/// (counting from `now`'s) is kept.
pub fn gfs_keep(
    times: &[(String, DateTime<Utc>)],
    r: Retention,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = times.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    // Contiguous bucket numbers, so "the last N" is a range back from now's bucket.
    type Bucket = fn(DateTime<Utc>) -> i64;
    let rules: [(&str, u32, Bucket); 4] = [
        ("hourly", r.hourly, |t| t.timestamp().div_euclid(3600)),
        ("daily", r.daily, |t| t.timestamp().div_euclid(86_400)),
        // ISO weeks start on Monday; the Unix epoch was a Thursday.
        ("weekly", r.weekly, |t| {
            (t.timestamp().div_euclid(86_400) + 3).div_euclid(7)
        }),
        ("monthly", r.monthly, |t| {
            t.year() as i64 * 12 + t.month0() as i64
        }),
    ];
    for (name, count, bucket) in rules {
        let now_bucket = bucket(now);
        let oldest = now_bucket - count as i64;
        let mut seen = BTreeSet::new();
        for (id, t) in &sorted {
            let b = bucket(*t);
            if b > oldest && b <= now_bucket && seen.insert(b) {
                keep.entry(id.clone())
                    .or_insert_with(|| format!("newest {name} backup of {}", label(name, *t)));
            }
        }
    }
    keep
}

fn label(rule: &str, t: DateTime<Utc>) -> String {
    match rule {
        "hourly" => t.format("%Y-%m-%d %H:00").to_string(),
        "daily" => t.format("%Y-%m-%d").to_string(),
        "weekly" => {
            let w = t.iso_week();
            format!("week {}-W{:02}", w.year(), w.week())
        }
        _ => t.format("%Y-%m").to_string(),
    }
}

fn retention_text(r: Retention) -> String {
    let mut parts = Vec::new();
    for (n, name) in [
        (r.hourly, "hourly"),
        (r.daily, "daily"),
        (r.weekly, "weekly"),
        (r.monthly, "monthly"),
    ] {
        if n > 0 {
            parts.push(format!("{name} {n}"));
        }
    }
    parts.join(", ")
}

/// The whole plan for one pass.
pub fn plan(policy: &Policy, inv: &Inventory, scope: &Scope, now: DateTime<Utc>) -> Plan {
    let mut out = Plan::default();
    for (what, err) in &inv.read_errors {
        out.findings.push(Finding {
            severity: Severity::Warning,
            resource: None,
            message: format!("could not read {what}: {err}"),
        });
    }
    let sources: Vec<&Source> = inv
        .sources
        .iter()
        .filter(|s| scope.includes(&s.component, &s.id))
        .collect();
    for o in &scope.only {
        let known = inv.sources.iter().any(|s| &s.component == o || &s.id == o)
            || inv.snapshots.iter().any(|s| {
                s.managed() && (&s.source_id == o || s.tags.get(TAG_COMPONENT) == Some(o))
            });
        if !known {
            out.findings.push(Finding {
                severity: Severity::Warning,
                resource: Some(o.clone()),
                message: "named in `only` but no selected resource or Lifeboat snapshot matches it"
                    .into(),
            });
        }
    }

    plan_creates(policy, inv, scope, &sources, &mut out);

    // Lifeboat's snapshots in scope, with the settings of their component.
    let by_source: BTreeMap<&str, &Source> =
        inv.sources.iter().map(|s| (s.id.as_str(), s)).collect();
    let settings_of = |snap: &Snapshot| -> (String, Settings) {
        match by_source.get(snap.source_id.as_str()) {
            Some(src) if src.kind == snap.kind => (src.component.clone(), src.settings.clone()),
            _ => {
                let comp = snap
                    .tags
                    .get(TAG_COMPONENT)
                    .cloned()
                    .unwrap_or_else(|| snap.source_id.clone());
                let settings = policy.settings_by_name(&comp);
                (comp, settings)
            }
        }
    };
    let ours: Vec<&Snapshot> = inv
        .snapshots
        .iter()
        .filter(|s| s.managed())
        .filter(|s| {
            let (comp, _) = settings_of(s);
            scope.includes(&comp, &s.source_id)
        })
        .collect();
    let dr_by_id: BTreeMap<&str, &Snapshot> = inv
        .dr_snapshots
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();

    plan_copies(policy, inv, scope, &ours, &dr_by_id, &settings_of, &mut out);
    plan_exports(policy, inv, &ours, &settings_of, &mut out);
    plan_retention(
        policy,
        inv,
        scope,
        &ours,
        &dr_by_id,
        &settings_of,
        now,
        &mut out,
    );
    out
}

fn plan_creates(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    sources: &[&Source],
    out: &mut Plan,
) {
    let existing: BTreeSet<(ResourceKind, String)> = inv
        .snapshots
        .iter()
        .map(|s| (s.kind, s.id.to_ascii_lowercase()))
        .collect();
    let mut planned_instance = 0i64;
    let mut planned_cluster = 0i64;
    let mut creates = Vec::new();
    for src in sources {
        let period = period_start(scope.period_time, src.settings.frequency);
        let id = snapshot_id(&src.id, period);
        let period_text = format!(
            "{} period from {}",
            src.settings.frequency,
            period.format("%Y-%m-%d %H:%M UTC")
        );
        if existing.contains(&(src.kind, id.clone())) {
            let mut a = Action::new(
                "create-snapshot",
                &src.id,
                format!("the {period_text} already has its snapshot"),
            )
            .target(&id);
            a.outcome = lifeboat_shared::report::Outcome::AlreadyDone;
            out.already.push(a);
            continue;
        }
        if !SNAPSHOTTABLE.contains(&src.status.as_str()) {
            out.findings.push(Finding {
                severity: Severity::Warning,
                resource: Some(src.id.clone()),
                message: format!(
                    "status is {:?}: no snapshot can be taken for the {period_text}",
                    src.status
                ),
            });
            continue;
        }
        match src.kind {
            ResourceKind::RdsInstance => planned_instance += 1,
            ResourceKind::AuroraCluster => planned_cluster += 1,
            ResourceKind::Elasticache => {}
        }
        let mut tags = BTreeMap::new();
        tags.insert(TAG_MANAGED.to_string(), "true".to_string());
        tags.insert(TAG_COMPONENT.to_string(), src.component.clone());
        tags.insert(TAG_SOURCE.to_string(), src.id.clone());
        tags.insert(
            TAG_PERIOD.to_string(),
            period.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        tags.insert(TAG_RUN.to_string(), scope.run_id.clone());
        let action = Action::new(
            "create-snapshot",
            &src.id,
            format!("the {period_text} has no snapshot yet"),
        )
        .target(&id);
        creates.push(Planned {
            step: Step::CreateSnapshot {
                kind: src.kind,
                source_id: src.id.clone(),
                snapshot_id: id,
                tags,
            },
            action,
            blocked: None,
            deferred: false,
        });
    }
    // Account quota for manual snapshots: warn at the policy's share, never plan past the limit.
    let warn = policy.limits.snapshot_quota_warn_percent as i64;
    for (quota, planned, kind, name) in [
        (
            inv.instance_quota,
            planned_instance,
            ResourceKind::RdsInstance,
            "manual DB snapshot",
        ),
        (
            inv.cluster_quota,
            planned_cluster,
            ResourceKind::AuroraCluster,
            "manual cluster snapshot",
        ),
    ] {
        let Some(q) = quota else { continue };
        if q.max <= 0 {
            continue;
        }
        let after = q.used + planned;
        if after * 100 >= q.max * warn {
            out.findings.push(Finding {
                severity: if after > q.max {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                resource: None,
                message: format!(
                    "{name} quota: {} of {} used, {} after this run ({}%; warning at {warn}%)",
                    q.used,
                    q.max,
                    after.min(q.max),
                    after.min(q.max) * 100 / q.max
                ),
            });
        }
        let mut room = q.max - q.used;
        for p in creates
            .iter_mut()
            .filter(|p| matches!(&p.step, Step::CreateSnapshot { kind: k, .. } if *k == kind))
        {
            if room <= 0 {
                p.deferred = true;
                p.action.reason = format!(
                    "{name} quota is full ({} of {}): delete or raise the quota",
                    q.used, q.max
                );
            }
            room -= 1;
        }
    }
    out.steps.extend(creates);
}

#[allow(clippy::too_many_arguments)]
fn plan_copies(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    ours: &[&Snapshot],
    dr_by_id: &BTreeMap<&str, &Snapshot>,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    out: &mut Plan,
) {
    let Some(dr_region) = scope.dr_region.as_deref() else {
        return;
    };
    let in_flight = inv
        .dr_snapshots
        .iter()
        .filter(|s| !s.available() && s.status != "failed")
        .count() as i64;
    let mut slots = policy.limits.max_copies_in_flight as i64 - in_flight;
    let mut started = 0;
    let mut wanted: Vec<&Snapshot> = ours
        .iter()
        .copied()
        .filter(|s| s.kind != ResourceKind::Elasticache && settings_of(s).1.copy_to_dr)
        .filter(|s| !dr_by_id.contains_key(s.id.as_str()))
        .collect();
    // Newest first: the newest backup matters most for the DR region's recovery point.
    wanted.sort_by(|a, b| b.time().cmp(&a.time()).then(a.id.cmp(&b.id)));
    for snap in wanted {
        let mut action = Action::new(
            "copy-to-dr",
            &snap.id,
            format!("no copy in {dr_region} yet"),
        )
        .target(format!("{dr_region}/{}", snap.id));
        let kms = if snap.encrypted {
            policy.dr.as_ref().and_then(|d| d.kms_key_id.clone())
        } else {
            None
        };
        let mut blocked = None;
        let mut deferred = false;
        if snap.encrypted && kms.is_none() {
            blocked = Some(
                "the snapshot is encrypted and the policy has no dr.kms_key_id for the DR region"
                    .to_string(),
            );
        } else if !snap.available() {
            deferred = true;
            action.reason = format!("snapshot is {}; it is copied once available", snap.status);
        } else if slots <= 0 {
            deferred = true;
            action.reason = format!(
                "{in_flight} cross-region copies to {dr_region} were in flight and this run starts {} more (limit {}); waits for a later run",
                started,
                policy.limits.max_copies_in_flight
            );
        } else {
            slots -= 1;
            started += 1;
        }
        out.steps.push(Planned {
            step: Step::CopyToDr {
                snapshot: snap.clone(),
                target_id: snap.id.clone(),
                kms_key_id: kms,
            },
            action,
            blocked,
            deferred,
        });
    }
}

fn plan_exports(
    policy: &Policy,
    inv: &Inventory,
    ours: &[&Snapshot],
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    out: &mut Plan,
) {
    let bucket = &policy.buckets.backup;
    for snap in ours.iter().copied() {
        if !settings_of(snap).1.export {
            continue;
        }
        match snap.kind {
            ResourceKind::RdsInstance | ResourceKind::AuroraCluster => {
                let tasks: Vec<&ExportTask> = inv
                    .exports
                    .iter()
                    .filter(|t| t.source_arn == snap.arn)
                    .collect();
                if tasks.iter().any(|t| !t.failed()) {
                    continue;
                }
                let attempt = tasks.len() + 1;
                let Some(ex) = policy.export.as_ref() else {
                    continue;
                };
                let prefix = format!(
                    "{}export",
                    backup_prefix(snap.kind, &snap.source_id, &snap.id)
                );
                let task_id = export_task_id(&snap.id, attempt);
                let mut action = Action::new(
                    "start-export",
                    &snap.id,
                    if attempt == 1 {
                        "no export to S3 yet".to_string()
                    } else {
                        format!(
                            "export attempt {attempt}: the previous one {}",
                            tasks
                                .last()
                                .map(|t| format!(
                                    "{} ({})",
                                    t.status,
                                    t.failure.clone().unwrap_or_default()
                                ))
                                .unwrap_or_default()
                        )
                    },
                )
                .target(format!("s3://{bucket}/{prefix}"));
                let mut blocked = None;
                let mut deferred = false;
                if attempt > MAX_EXPORT_ATTEMPTS {
                    blocked = Some(format!(
                        "{} export attempts failed; fix the cause and start one by hand",
                        attempt - 1
                    ));
                } else if !snap.available() {
                    deferred = true;
                    action.reason =
                        format!("snapshot is {}; it is exported once available", snap.status);
                }
                out.steps.push(Planned {
                    step: Step::StartExport {
                        snapshot: snap.clone(),
                        task_id,
                        bucket: bucket.clone(),
                        prefix,
                        iam_role_arn: ex.iam_role_arn.clone(),
                        kms_key_id: ex.kms_key_id.clone(),
                    },
                    action,
                    blocked,
                    deferred,
                });
            }
            ResourceKind::Elasticache => {
                if elasticache_exported(inv, &snap.id) || snap.status == "exporting" {
                    continue;
                }
                let mut action = Action::new(
                    "export-to-s3",
                    &snap.id,
                    "no export to the backup bucket yet",
                )
                .target(format!("s3://{bucket}/{}", snap.id));
                let deferred = !snap.available();
                if deferred {
                    action.reason =
                        format!("snapshot is {}; it is exported once available", snap.status);
                }
                out.steps.push(Planned {
                    step: Step::ExportToBucket {
                        snapshot: snap.clone(),
                        target_name: snap.id.clone(),
                        bucket: bucket.clone(),
                    },
                    action,
                    blocked: None,
                    deferred,
                });
            }
        }
    }
}

/// ElastiCache writes `<name>-0001.rdb` (one file per shard) into the bucket.
fn elasticache_exported(inv: &Inventory, snapshot_id: &str) -> bool {
    inv.exported_objects
        .iter()
        .any(|k| k.starts_with(&format!("{snapshot_id}-")) && k.ends_with(".rdb"))
}

/// The state of a snapshot's DR copy and export as the manifest records it.
#[allow(clippy::too_many_arguments)]
pub fn manifest_for(
    snap: &Snapshot,
    component: &str,
    settings: &Settings,
    source: Option<&Source>,
    inv: &Inventory,
    scope: &Scope,
    bucket: &str,
    now: DateTime<Utc>,
) -> (Manifest, bool) {
    let mut settled = snap.available();
    let dr_copy = match (
        &scope.dr_region,
        settings.copy_to_dr && snap.kind != ResourceKind::Elasticache,
    ) {
        (Some(region), true) => {
            let copy = inv.dr_snapshots.iter().find(|d| d.id == snap.id);
            let status = copy
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "not-started".into());
            settled &= status == "available";
            Some(ManifestCopy {
                region: region.clone(),
                id: snap.id.clone(),
                arn: copy.map(|c| c.arn.clone()),
                status,
            })
        }
        _ => None,
    };
    let export = if settings.export {
        Some(match snap.kind {
            ResourceKind::Elasticache => {
                let done = elasticache_exported(inv, &snap.id);
                settled &= done;
                ManifestExport {
                    task_id: None,
                    location: format!("s3://{bucket}/{}-0001.rdb", snap.id),
                    format: "rdb".into(),
                    status: if done {
                        "COMPLETE".into()
                    } else if snap.status == "exporting" {
                        "IN_PROGRESS".into()
                    } else {
                        "NOT_STARTED".into()
                    },
                }
            }
            _ => {
                let task = inv.exports.iter().rfind(|t| t.source_arn == snap.arn);
                let status = task
                    .map(|t| t.status.clone())
                    .unwrap_or_else(|| "NOT_STARTED".into());
                settled &= status == "COMPLETE";
                ManifestExport {
                    task_id: task.map(|t| t.id.clone()),
                    location: format!(
                        "s3://{bucket}/{}export/",
                        backup_prefix(snap.kind, &snap.source_id, &snap.id)
                    ),
                    format: "parquet".into(),
                    status,
                }
            }
        })
    } else {
        None
    };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.into(),
        component: component.to_string(),
        source: ManifestSource {
            kind: snap.kind,
            id: snap.source_id.clone(),
            arn: source.map(|s| s.arn.clone()),
            engine: source
                .map(|s| s.engine.clone())
                .or_else(|| snap.engine.clone()),
            engine_version: source.and_then(|s| s.engine_version.clone()),
            region: scope.primary_region.clone(),
        },
        snapshot: ManifestSnapshot {
            id: snap.id.clone(),
            arn: snap.arn.clone(),
            created_at: snap.time(),
            size_gb: snap.size_gb,
            encrypted: snap.encrypted,
            kms_key_id: snap.kms_key_id.clone(),
            status: snap.status.clone(),
        },
        dr_copy,
        export,
        written_at: now,
        written_by: scope.run_id.clone(),
        fingerprint: None,
    };
    (manifest, settled)
}

/// Manifest steps for every Lifeboat snapshot whose manifest is not final yet.
/// `deleted`: snapshots this run deleted; their manifest is written once more to record it (the
/// export and the DR copy it names outlive the snapshot).
pub fn manifests(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    now: DateTime<Utc>,
    deleted: &BTreeSet<String>,
) -> Vec<Planned> {
    let by_source: BTreeMap<&str, &Source> =
        inv.sources.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut steps = Vec::new();
    for snap in inv.snapshots.iter().filter(|s| s.managed()) {
        let gone = deleted.contains(&snap.id);
        if !gone && snap.tags.get(TAG_MANIFEST).map(String::as_str) == Some("final") {
            continue;
        }
        let source = by_source
            .get(snap.source_id.as_str())
            .copied()
            .filter(|s| s.kind == snap.kind);
        let (component, settings) = match source {
            Some(s) => (s.component.clone(), s.settings.clone()),
            None => {
                let c = snap
                    .tags
                    .get(TAG_COMPONENT)
                    .cloned()
                    .unwrap_or_else(|| snap.source_id.clone());
                let s = policy.settings_by_name(&c);
                (c, s)
            }
        };
        if !scope.includes(&component, &snap.source_id) {
            continue;
        }
        let (manifest, settled) = manifest_for(
            snap,
            &component,
            &settings,
            source,
            inv,
            scope,
            &policy.buckets.backup,
            now,
        );
        let key = manifest_key(snap.kind, &snap.source_id, &snap.id);
        let (mut manifest, mut settled) = (manifest, settled);
        let reason = if gone {
            manifest.snapshot.status = "deleted".into();
            settled = false; // nothing left to tag
            "records the deletion by retention; the export and DR copy it names remain".to_string()
        } else if settled {
            "every copy and export is final: last manifest update".to_string()
        } else {
            let mut waiting = Vec::new();
            if !snap.available() {
                waiting.push(format!("snapshot {}", snap.status));
            }
            if let Some(c) = &manifest.dr_copy {
                if c.status != "available" {
                    waiting.push(format!("DR copy {}", c.status));
                }
            }
            if let Some(e) = &manifest.export {
                if e.status != "COMPLETE" {
                    waiting.push(format!("export {}", e.status));
                }
            }
            format!("records progress ({})", waiting.join(", "))
        };
        steps.push(Planned {
            action: Action::new("write-manifest", &snap.id, reason)
                .target(format!("s3://{}/{key}", policy.buckets.backup)),
            step: Step::WriteManifest {
                snapshot: snap.clone(),
                key,
                carry_fingerprint: policy
                    .components
                    .iter()
                    .any(|c| c.name == manifest.component && c.database.is_some()),
                manifest: Box::new(manifest),
                settled,
            },
            blocked: None,
            deferred: false,
        });
    }
    steps
}

#[allow(clippy::too_many_arguments)]
fn plan_retention(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    ours: &[&Snapshot],
    dr_by_id: &BTreeMap<&str, &Snapshot>,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    now: DateTime<Utc>,
    out: &mut Plan,
) {
    // Snapshots Lifeboat did not make are never touched; say so once per snapshot.
    for s in inv.snapshots.iter().filter(|s| !s.managed()) {
        let in_scope = inv.sources.iter().any(|src| {
            src.id == s.source_id && src.kind == s.kind && scope.includes(&src.component, &src.id)
        });
        if in_scope {
            out.decisions.push(Decision {
                subject: s.id.clone(),
                verdict: Verdict::Keep,
                reason: if s.manual {
                    "never deleted: a manual snapshot Lifeboat did not make".into()
                } else {
                    "never deleted: an automated snapshot (AWS manages it)".into()
                },
            });
        }
    }

    // Newest restorable backup per source, over every snapshot (automated ones too).
    let mut newest: BTreeMap<(ResourceKind, &str), (&str, DateTime<Utc>)> = BTreeMap::new();
    for s in inv.snapshots.iter().filter(|s| s.available()) {
        if let Some(t) = s.time() {
            let e = newest
                .entry((s.kind, s.source_id.as_str()))
                .or_insert((s.id.as_str(), t));
            if t > e.1 {
                *e = (s.id.as_str(), t);
            }
        }
    }

    let mut groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in ours {
        groups
            .entry((s.kind, s.source_id.as_str()))
            .or_default()
            .push(s);
    }
    for ((kind, source), snaps) in groups {
        let settings = settings_of(snaps[0]).1;
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .filter(|s| s.available())
            .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
            .collect();
        let keep = gfs_keep(&times, settings.retention, now);
        let rule = retention_text(settings.retention);
        for s in snaps {
            let verdict = |v: Verdict, reason: String| Decision {
                subject: s.id.clone(),
                verdict: v,
                reason,
            };
            if !s.available() {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "status {}: only available snapshots are considered",
                        s.status
                    ),
                ));
                continue;
            }
            let Some(t) = s.time() else {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    "no creation time known: age cannot be judged".into(),
                ));
                continue;
            };
            if let Some(why) = keep.get(&s.id) {
                out.decisions
                    .push(verdict(Verdict::Keep, format!("within retention ({rule}): {why}")));
                continue;
            }
            let mut missing = Vec::new();
            let mut proof = Vec::new();
            if settings.require_dr_copy && kind != ResourceKind::Elasticache {
                match dr_by_id.get(s.id.as_str()) {
                    Some(c) if c.available() => {
                        proof.push(format!("DR copy available in {}", c.region))
                    }
                    Some(c) => missing.push(format!("its DR copy is {}", c.status)),
                    None => missing.push("it has no DR copy".to_string()),
                }
            }
            if settings.require_export {
                let done = match kind {
                    ResourceKind::Elasticache => elasticache_exported(inv, &s.id),
                    _ => inv
                        .exports
                        .iter()
                        .any(|e| e.source_arn == s.arn && e.status == "COMPLETE"),
                };
                if done {
                    proof.push("export COMPLETE".into());
                } else {
                    missing.push("its export has not completed".into());
                }
            }
            if newest.get(&(kind, source)).map(|n| n.0) == Some(s.id.as_str()) {
                missing.push(format!("it is the newest restorable backup of {source}"));
            }
            let age = (now - t).num_days();
            if !missing.is_empty() {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "outside retention ({rule}, {age} days old) but {}: kept until proven safe",
                        missing.join(" and ")
                    ),
                ));
                continue;
            }
            if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(Verdict::Keep, format!("outside retention ({rule}, {age} days old); deletion is off (automation.delete_expired_snapshots)")));
                continue;
            }
            let reason = format!(
                "outside retention ({rule}, {age} days old); {}",
                if proof.is_empty() {
                    "no copy is required by policy; a newer backup exists".to_string()
                } else {
                    format!("{}; a newer backup exists", proof.join(", "))
                }
            );
            out.decisions.push(verdict(Verdict::Delete, reason.clone()));
            out.steps.push(Planned {
                action: Action::new("delete-snapshot", &s.id, reason).target(&scope.primary_region),
                step: Step::DeleteSnapshot {
                    snapshot: (*s).clone(),
                    place: Where::Primary,
                },
                blocked: None,
                deferred: false,
            });
        }
    }

    // DR copies: the same retention; never the newest DR copy of a source.
    let mut dr_groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in inv.dr_snapshots.iter().filter(|s| s.managed()) {
        let (comp, _) = settings_of(s);
        if scope.includes(&comp, &s.source_id) {
            dr_groups
                .entry((s.kind, s.source_id.as_str()))
                .or_default()
                .push(s);
        }
    }
    for ((_, source), snaps) in dr_groups {
        let settings = settings_of(snaps[0]).1;
        let rule = retention_text(settings.retention);
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .filter(|s| s.available())
            .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
            .collect();
        let keep = gfs_keep(&times, settings.retention, now);
        let newest_dr = times
            .iter()
            .max_by_key(|(_, t)| *t)
            .map(|(id, _)| id.clone());
        for s in snaps {
            let subject = format!("{}/{}", s.region, s.id);
            let verdict = |v: Verdict, reason: String| Decision {
                subject: subject.clone(),
                verdict: v,
                reason,
            };
            if !s.available() {
                out.decisions
                    .push(verdict(Verdict::Keep, format!("DR copy is {}", s.status)));
                continue;
            }
            let Some(t) = s.time() else {
                out.decisions
                    .push(verdict(Verdict::Keep, "no creation time known".into()));
                continue;
            };
            if let Some(why) = keep.get(&s.id) {
                out.decisions
                    .push(verdict(Verdict::Keep, format!("within retention ({rule}): {why}")));
            } else if newest_dr.as_deref() == Some(s.id.as_str()) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!("outside retention but the newest DR copy of {source}"),
                ));
            } else if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    "outside retention; deletion is off (automation.delete_expired_snapshots)"
                        .into(),
                ));
            } else {
                let reason = format!(
                    "DR copy outside retention ({rule}, {} days old); a newer DR copy exists",
                    (now - t).num_days()
                );
                out.decisions.push(verdict(Verdict::Delete, reason.clone()));
                out.steps.push(Planned {
                    action: Action::new("delete-dr-copy", &s.id, reason).target(&s.region),
                    step: Step::DeleteSnapshot {
                        snapshot: s.clone(),
                        place: Where::Dr,
                    },
                    blocked: None,
                    deferred: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lifeboat_shared::backup::bounded_id;
    use lifeboat_shared::policy::Span;
    use lifeboat_shared::report::Outcome;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NOW: &str = "2026-11-21T03:00:00Z";

    fn policy(extra: &str) -> Policy {
        Policy::parse(&format!(
            "version: 1\nbuckets: {{backup: backups-primary}}\ndr: {{region: us-west-2, kms_key_id: 'arn:aws:kms:us-west-2:123456789012:key/0f5f8d2e-6a0b-4c8e-9d7a-3b2a1c0d9e8f'}}\nexport: {{iam_role_arn: 'arn:aws:iam::123456789012:role/export', kms_key_id: 'arn:aws:kms:us-east-1:123456789012:key/7c1d2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d'}}\ncomponents:\n  - {{name: orders-db, kind: rds-instance, ids: [orders], retention: {{daily: 7}}, copy_to_dr: true, export: true}}\n{extra}"
        ))
        .unwrap()
    }

    fn scope() -> Scope {
        Scope {
            primary_region: "us-east-1".into(),
            dr_region: Some("us-west-2".into()),
            only: vec![],
            period_time: t(NOW),
            run_id: "run-1".into(),
        }
    }

    fn source(p: &Policy) -> Source {
        let m = p
            .membership(ResourceKind::RdsInstance, "orders", &BTreeMap::new())
            .unwrap();
        Source {
            kind: ResourceKind::RdsInstance,
            id: "orders".into(),
            arn: "arn:aws:rds:us-east-1:123456789012:db:orders".into(),
            engine: "postgres".into(),
            engine_version: Some("16.4".into()),
            status: "available".into(),
            encrypted: false,
            tags: BTreeMap::new(),
            component: m.component,
            settings: m.settings,
            endpoint: None,
        }
    }

    fn ours(id: &str, at: &str) -> Snapshot {
        let mut tags = BTreeMap::new();
        tags.insert(TAG_MANAGED.into(), "true".into());
        tags.insert(TAG_COMPONENT.into(), "orders-db".into());
        Snapshot {
            kind: ResourceKind::RdsInstance,
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
            source_id: "orders".into(),
            region: "us-east-1".into(),
            created_at: Some(t(at)),
            status: "available".into(),
            manual: true,
            encrypted: false,
            kms_key_id: None,
            size_gb: Some(20),
            engine: Some("postgres".into()),
            tags,
        }
    }

    fn dr_copy(of: &Snapshot, status: &str) -> Snapshot {
        Snapshot {
            region: "us-west-2".into(),
            status: status.into(),
            arn: of.arn.replace("us-east-1", "us-west-2"),
            ..of.clone()
        }
    }

    fn export(of: &Snapshot, status: &str) -> ExportTask {
        ExportTask {
            id: of.id.clone(),
            source_arn: of.arn.clone(),
            status: status.into(),
            bucket: None,
            prefix: None,
            failure: None,
        }
    }

    fn verdict<'a>(p: &'a Plan, id: &str) -> &'a Decision {
        p.decisions
            .iter()
            .find(|d| d.subject == id)
            .unwrap_or_else(|| panic!("no decision for {id}: {:#?}", p.decisions))
    }

    fn deletes(p: &Plan) -> Vec<String> {
        p.steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::DeleteSnapshot {
                    snapshot,
                    place: Where::Primary,
                } => Some(snapshot.id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn given_a_period_without_snapshot_when_planned_then_one_deterministic_create() {
        let p = policy("");
        let inv = Inventory {
            sources: vec![source(&p)],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        let creates: Vec<_> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::CreateSnapshot {
                    snapshot_id, tags, ..
                } => Some((snapshot_id.clone(), tags.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(creates.len(), 1);
        assert_eq!(creates[0].0, "lifeboat-orders-20261121-0000");
        assert_eq!(creates[0].1[TAG_MANAGED], "true");
        assert_eq!(creates[0].1[TAG_PERIOD], "2026-11-21T00:00:00Z");
    }

    #[test]
    fn given_the_period_snapshot_exists_when_planned_again_then_nothing_is_created() {
        let p = policy("");
        let inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![ours(
                "lifeboat-orders-20261121-0000",
                "2026-11-21T03:00:05Z",
            )],
            ..Default::default()
        };
        let later = Scope {
            period_time: t("2026-11-21T23:59:59Z"),
            ..scope()
        };
        let plan = plan(&p, &inv, &later, t(NOW));
        assert!(!plan
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::CreateSnapshot { .. })));
        assert_eq!(plan.already.len(), 1);
        assert_eq!(plan.already[0].outcome, Outcome::AlreadyDone);
    }

    #[test]
    fn period_boundaries() {
        let day = Span::days(1);
        let hour = Span::hours(1);
        for (at, freq, want) in [
            ("2026-11-21T00:00:00Z", day, "2026-11-21T00:00:00+00:00"),
            ("2026-11-21T23:59:59Z", day, "2026-11-21T00:00:00+00:00"),
            ("2026-11-21T13:45:00Z", hour, "2026-11-21T13:00:00+00:00"),
            (
                "2026-11-21T13:45:00Z",
                Span::hours(12),
                "2026-11-21T12:00:00+00:00",
            ),
        ] {
            assert_eq!(
                period_start(t(at), freq).to_rfc3339(),
                want,
                "{at} every {freq}"
            );
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn gfs_table() {
        // (retention, snapshot times, ids expected kept)
        let days = |n: i64| (t(NOW) - chrono::Duration::days(n)).to_rfc3339();
        let cases: Vec<(Retention, Vec<(&str, String)>, Vec<&str>)> = vec![
            (
                Retention {
                    hourly: 0,
                    daily: 3,
                    weekly: 0,
                    monthly: 0,
                },
                vec![
                    ("d0", days(0)),
                    ("d1", days(1)),
                    ("d2", days(2)),
                    ("d3", days(3)),
                    ("d9", days(9)),
                ],
                vec!["d0", "d1", "d2"],
            ),
            // Two in one day: only the newest of the day counts for the daily rule.
            (
                Retention {
                    hourly: 0,
                    daily: 2,
                    weekly: 0,
                    monthly: 0,
                },
                vec![
                    ("a", "2026-11-21T01:00:00Z".into()),
                    ("b", "2026-11-21T02:00:00Z".into()),
                    ("c", days(1)),
                ],
                vec!["b", "c"],
            ),
            // Weekly: newest of this ISO week (Mon 2026-11-16..) and the one before.
            (
                Retention {
                    hourly: 0,
                    daily: 0,
                    weekly: 2,
                    monthly: 0,
                },
                vec![
                    ("w0", "2026-11-17T00:00:00Z".into()),
                    ("w0old", "2026-11-16T00:00:00Z".into()),
                    ("w1", "2026-11-12T00:00:00Z".into()),
                    ("w2", "2026-11-05T00:00:00Z".into()),
                ],
                vec!["w0", "w1"],
            ),
            // Monthly reaches back over a year boundary.
            (
                Retention {
                    hourly: 0,
                    daily: 0,
                    weekly: 0,
                    monthly: 12,
                },
                vec![
                    ("m0", "2026-11-01T00:00:00Z".into()),
                    ("m11", "2025-12-15T00:00:00Z".into()),
                    ("m12", "2025-11-30T00:00:00Z".into()),
                ],
                vec!["m0", "m11"],
            ),
            // Rules add up: a monthly keeps an old one the daily rule dropped.
            (
                Retention {
                    hourly: 0,
                    daily: 1,
                    weekly: 0,
                    monthly: 2,
                },
                vec![
                    ("today", days(0)),
                    ("oct", "2026-10-31T00:00:00Z".into()),
                    ("oct-early", "2026-10-01T00:00:00Z".into()),
                ],
                vec!["oct", "today"],
            ),
            // Gaps do not stretch the window: daily 3 with only old snapshots keeps none of them.
            (
                Retention {
                    hourly: 0,
                    daily: 3,
                    weekly: 0,
                    monthly: 0,
                },
                vec![("old", days(10))],
                vec![],
            ),
            // Hourly 2 at 03:00: hours 03 (empty) and 02 (newest of it: h0).
            (
                Retention {
                    hourly: 2,
                    daily: 0,
                    weekly: 0,
                    monthly: 0,
                },
                vec![
                    ("h0", "2026-11-21T02:59:00Z".into()),
                    ("h1", "2026-11-21T02:10:00Z".into()),
                    ("h2", "2026-11-21T01:59:00Z".into()),
                ],
                vec!["h0"],
            ),
        ];
        for (i, (r, snaps, want)) in cases.into_iter().enumerate() {
            let times: Vec<(String, DateTime<Utc>)> = snaps
                .iter()
                .map(|(id, at)| (id.to_string(), t(at)))
                .collect();
            let kept: Vec<String> = gfs_keep(&times, r, t(NOW)).into_keys().collect();
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(kept, want, "case {i}: {r:?}");
        }
    }

    /// Retention proof rules: (DR copy state, export state, expect deletion).
    #[test]
    fn deletion_needs_every_required_proof() {
        let cases = [
            (Some("available"), Some("COMPLETE"), true),
            (None, Some("COMPLETE"), false),
            (Some("copying"), Some("COMPLETE"), false),
            (Some("available"), None, false),
            (Some("available"), Some("FAILED"), false),
            (Some("available"), Some("IN_PROGRESS"), false),
        ];
        for (copy, exp, deleted) in cases {
            let p = policy("");
            let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
            let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
            let mut inv = Inventory {
                sources: vec![source(&p)],
                snapshots: vec![old.clone(), new.clone()],
                ..Default::default()
            };
            inv.dr_snapshots.push(dr_copy(&new, "available"));
            inv.exports.push(export(&new, "COMPLETE"));
            if let Some(c) = copy {
                inv.dr_snapshots.push(dr_copy(&old, c));
            }
            if let Some(e) = exp {
                inv.exports.push(export(&old, e));
            }
            let plan = plan(&p, &inv, &scope(), t(NOW));
            assert_eq!(
                deletes(&plan) == vec![old.id.clone()],
                deleted,
                "copy {copy:?} export {exp:?}: {:#?}",
                plan.decisions
            );
            let d = verdict(&plan, &old.id);
            assert_eq!(
                d.verdict,
                if deleted { Verdict::Delete } else { Verdict::Keep },
                "{}",
                d.reason
            );
            assert!(d.reason.contains("outside retention"), "{}", d.reason);
        }
    }

    #[test]
    fn the_newest_restorable_backup_is_never_deleted() {
        // Only one Lifeboat snapshot, old, fully proven; no automated snapshot is newer.
        let p = policy("");
        let only = ours("lifeboat-orders-20260901-0000", "2026-09-01T00:00:00Z");
        let inv = Inventory {
            sources: vec![],
            snapshots: vec![only.clone()],
            dr_snapshots: vec![dr_copy(&only, "available")],
            exports: vec![export(&only, "COMPLETE")],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        assert!(deletes(&plan).is_empty());
        assert!(verdict(&plan, &only.id)
            .reason
            .contains("newest restorable backup"));
    }

    #[test]
    fn automated_and_foreign_snapshots_are_never_deleted() {
        let p = policy("");
        let mut automated = ours("rds:orders-2026-01-01-03-00", "2026-01-01T03:00:00Z");
        automated.manual = false;
        automated.tags.clear();
        let mut foreign = ours("pre-migration-2026-01-01", "2026-01-01T00:00:00Z");
        foreign.tags.clear();
        // Our prefix but not our tag: still not ours.
        let mut lookalike = ours("lifeboat-orders-20260101-0000", "2026-01-01T00:00:00Z");
        lookalike.tags.remove(TAG_MANAGED);
        let newest = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        let inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![
                automated.clone(),
                foreign.clone(),
                lookalike.clone(),
                newest,
            ],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        assert!(deletes(&plan).is_empty());
        assert!(verdict(&plan, &automated.id).reason.contains("automated"));
        assert!(verdict(&plan, &foreign.id).reason.contains("did not make"));
        assert!(verdict(&plan, &lookalike.id)
            .reason
            .contains("did not make"));
    }

    #[test]
    fn deletion_can_be_switched_off() {
        let p = policy("automation: {delete_expired_snapshots: false}\n");
        let old = ours("lifeboat-orders-20261001-0000", "2026-10-01T00:00:00Z");
        let new = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        let inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![old.clone(), new.clone()],
            dr_snapshots: vec![dr_copy(&old, "available"), dr_copy(&new, "available")],
            exports: vec![export(&old, "COMPLETE"), export(&new, "COMPLETE")],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        assert!(deletes(&plan).is_empty());
        assert!(verdict(&plan, &old.id).reason.contains("deletion is off"));
    }

    #[test]
    fn copies_respect_the_in_flight_limit_newest_first() {
        let p = policy("");
        let mut snaps = Vec::new();
        for d in 1..=8 {
            snaps.push(ours(
                &format!("lifeboat-orders-202611{:02}-0000", d + 10),
                &format!("2026-11-{:02}T00:00:00Z", d + 10),
            ));
        }
        // Two copies (not ours) are already copying into the DR region.
        let mut busy = ours("someone-elses-copy", "2026-11-20T00:00:00Z");
        busy.status = "copying".into();
        busy.region = "us-west-2".into();
        let busy2 = Snapshot {
            id: "another".into(),
            ..busy.clone()
        };
        let inv = Inventory {
            sources: vec![source(&p)],
            snapshots: snaps,
            dr_snapshots: vec![busy, busy2],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        let copies: Vec<&Planned> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.step, Step::CopyToDr { .. }))
            .collect();
        let started: Vec<&str> = copies
            .iter()
            .filter(|c| !c.deferred)
            .map(|c| c.action.resource.as_str())
            .collect();
        assert_eq!(
            started,
            vec![
                "lifeboat-orders-20261118-0000",
                "lifeboat-orders-20261117-0000",
                "lifeboat-orders-20261116-0000"
            ]
        );
        assert_eq!(copies.iter().filter(|c| c.deferred).count(), 5);
        assert!(copies
            .iter()
            .find(|c| c.deferred)
            .unwrap()
            .action
            .reason
            .contains("limit 5"));
    }

    #[test]
    fn encrypted_copy_without_dr_key_is_blocked_not_attempted() {
        let p = Policy::parse("version: 1\nbuckets: {backup: b-1}\ndr: {region: us-west-2}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders]}\n").unwrap();
        let mut s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        s.encrypted = true;
        let inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![s],
            ..Default::default()
        };
        let plan = plan(&p, &inv, &scope(), t(NOW));
        let copy = plan
            .steps
            .iter()
            .find(|s| matches!(s.step, Step::CopyToDr { .. }))
            .unwrap();
        assert!(copy.blocked.as_deref().unwrap().contains("dr.kms_key_id"));
    }

    #[test]
    fn failed_exports_are_retried_with_a_new_id_then_given_up() {
        let p = policy("");
        let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        let mut inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![s.clone()],
            ..Default::default()
        };
        inv.exports.push(ExportTask {
            failure: Some("S3 access denied".into()),
            ..export(&s, "FAILED")
        });
        let plan1 = plan(&p, &inv, &scope(), t(NOW));
        let ex = plan1
            .steps
            .iter()
            .find_map(|p| match &p.step {
                Step::StartExport { task_id, .. } => {
                    Some((task_id.clone(), p.action.reason.clone()))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(ex.0, "lifeboat-orders-20261121-0000-2");
        assert!(ex.1.contains("S3 access denied"));
        inv.exports.push(export(&s, "FAILED"));
        inv.exports.push(export(&s, "FAILED"));
        let plan3 = plan(&p, &inv, &scope(), t(NOW));
        assert!(plan3
            .steps
            .iter()
            .any(|p| matches!(p.step, Step::StartExport { .. }) && p.blocked.is_some()));
    }

    #[test]
    fn quota_warns_at_threshold_and_never_plans_past_it() {
        let p = policy("");
        let mut inv = Inventory {
            sources: vec![source(&p)],
            ..Default::default()
        };
        inv.instance_quota = Some(Quota { used: 79, max: 100 });
        let plan1 = plan(&p, &inv, &scope(), t(NOW));
        assert!(plan1.findings.iter().any(|f| f.severity == Severity::Warning && f.message.contains("80 after this run")), "{:#?}", plan1.findings);
        inv.instance_quota = Some(Quota {
            used: 100,
            max: 100,
        });
        let plan2 = plan(&p, &inv, &scope(), t(NOW));
        let create = plan2
            .steps
            .iter()
            .find(|s| matches!(s.step, Step::CreateSnapshot { .. }))
            .unwrap();
        assert!(create.deferred && create.action.reason.contains("quota is full"));
    }

    #[test]
    fn only_narrows_the_run() {
        let p = policy("");
        let inv = Inventory {
            sources: vec![source(&p)],
            ..Default::default()
        };
        let narrowed = Scope {
            only: vec!["catalog".into()],
            ..scope()
        };
        let plan = plan(&p, &inv, &narrowed, t(NOW));
        assert!(plan.steps.is_empty());
        assert!(plan
            .findings
            .iter()
            .any(|f| f.resource.as_deref() == Some("catalog")));
    }

    #[test]
    fn ids_fit_aws_limits() {
        let long = "a".repeat(70);
        let id = export_task_id(&snapshot_id(&long, t(NOW)), 3);
        assert!(id.len() <= 60, "{id}");
        assert_eq!(bounded_id("short", 60), "short");
        assert_eq!(bounded_id(&long, 20), bounded_id(&long, 20), "stable");
    }

    #[test]
    fn manifest_is_final_only_when_copy_and_export_are() {
        let p = policy("");
        let s = ours("lifeboat-orders-20261121-0000", "2026-11-21T00:00:00Z");
        let mut inv = Inventory {
            sources: vec![source(&p)],
            snapshots: vec![s.clone()],
            dr_snapshots: vec![dr_copy(&s, "copying")],
            exports: vec![export(&s, "COMPLETE")],
            ..Default::default()
        };
        let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
        let Step::WriteManifest {
            settled,
            manifest,
            key,
            ..
        } = &m[0].step
        else {
            panic!()
        };
        assert!(!settled);
        assert_eq!(
            key,
            "backups/rds-instance/orders/lifeboat-orders-20261121-0000/manifest.json"
        );
        assert_eq!(manifest.dr_copy.as_ref().unwrap().status, "copying");
        assert_eq!(manifest.source.engine.as_deref(), Some("postgres"));
        inv.dr_snapshots[0].status = "available".into();
        let m = manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new());
        assert!(matches!(
            &m[0].step,
            Step::WriteManifest { settled: true, .. }
        ));
        inv.snapshots[0]
            .tags
            .insert(TAG_MANIFEST.into(), "final".into());
        assert!(
            manifests(&p, &inv, &scope(), t(NOW), &BTreeSet::new()).is_empty(),
            "a final manifest is not rewritten"
        );
        // ... except once more when retention deletes the snapshot.
        let gone = BTreeSet::from([s.id.clone()]);
        let m = manifests(&p, &inv, &scope(), t(NOW), &gone);
        let Step::WriteManifest {
            settled, manifest, ..
        } = &m[0].step
        else {
            panic!()
        };
        assert_eq!(manifest.snapshot.status, "deleted");
        assert_eq!(
            manifest.export.as_ref().unwrap().status,
            "COMPLETE",
            "the export outlives it"
        );
        assert!(!settled, "a deleted snapshot cannot be tagged");
    }

    #[test]
    fn a_resource_that_is_not_available_gets_a_warning_not_a_snapshot() {
        let p = policy("");
        let mut src = source(&p);
        src.status = "stopped".into();
        let plan = plan(
            &p,
            &Inventory {
                sources: vec![src],
                ..Default::default()
            },
            &scope(),
            t(NOW),
        );
        assert!(!plan
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::CreateSnapshot { .. })));
        let f = plan
            .findings
            .iter()
            .find(|f| f.resource.as_deref() == Some("orders"))
            .unwrap();
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.message.contains("\"stopped\""), "{}", f.message);
    }

    #[test]
    fn a_copy_made_today_of_an_old_snapshot_is_as_old_as_its_data() {
        let period = Utc.with_ymd_and_hms(2026, 10, 14, 0, 0, 0).unwrap();
        let copy = Snapshot {
            kind: ResourceKind::RdsInstance,
            id: "lifeboat-orders-20261014-0000".into(),
            arn: "arn:aws:rds:us-west-2:123456789012:snapshot:lifeboat-orders-20261014-0000".into(),
            source_id: "orders".into(),
            region: "us-west-2".into(),
            // The copy's own creation time: today.
            created_at: Some(Utc.with_ymd_and_hms(2026, 11, 21, 14, 0, 0).unwrap()),
            status: "available".into(),
            manual: true,
            encrypted: false,
            kms_key_id: None,
            size_gb: None,
            engine: None,
            tags: [(TAG_PERIOD.to_string(), period.to_rfc3339())]
                .into_iter()
                .collect(),
        };
        assert_eq!(copy.time(), Some(period));
    }
}
