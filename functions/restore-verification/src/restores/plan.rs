//! The restore run as data: what is restored from which backup into which temporary resource,
//! where each restore stands (start -> wait -> verify -> teardown -> done), and the pure rules
//! that choose backups, name and tag temporary resources and decide what the janitor removes.
//! Saved as the run's journal in S3 between invocations.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::data::CheckResult;
use lifeboat_shared::fnv1a;
use lifeboat_shared::policy::{BackupSource, Policy, ResourceKind, Selection};
use serde::{Deserialize, Serialize};

/// The temporary resources' name prefix and tag keys are the backup contract's (re-exported
/// here for callers that name them through this module).
pub use lifeboat_shared::backup::{
    TAG_COMPONENT, TAG_EXPIRES, TAG_FROM, TAG_PURPOSE, TAG_RUN, TEMP_PREFIX,
};
/// The [`TAG_PURPOSE`] of restore-verification's temporary resources.
pub const PURPOSE: &str = "restore-verification";

/// A backup that can be restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// Snapshot identifier, or the recovery point ARN.
    pub id: String,
    pub arn: String,
    pub origin: Origin,
    pub created_at: DateTime<Utc>,
    /// The database, cluster or replication group it was taken of.
    pub source_id: String,
    pub engine: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A snapshot snapshot-export made (it has a manifest, maybe with a data fingerprint).
    Lifeboat,
    /// Any other manual or automated snapshot.
    Snapshot,
    /// An AWS Backup recovery point.
    RecoveryPoint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Start,
    Wait,
    Verify,
    Teardown,
    Done,
}

/// One restore: a component's chosen backup and its temporary resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub component: String,
    pub kind: ResourceKind,
    pub backup: Backup,
    /// Instance, cluster or replication group id of the temporary resource.
    pub temp_id: String,
    /// Aurora: the one instance added to the restored cluster.
    pub temp_instance_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub phase: Phase,
    /// AWS Backup restore job (source aws-backup).
    pub restore_job_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub available_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub torn_down_at: Option<DateTime<Utc>>,
    /// Host and port AWS reported for the restored resource.
    pub endpoint: Option<(String, u16)>,
    /// The connection went to the local endpoint mapping (local runs).
    #[serde(default)]
    pub mapped: bool,
    pub passed: Option<bool>,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// Why the restore failed or could not be verified (checks did not run).
    pub error: Option<String>,
    /// Teardown could not finish yet (e.g. an Aurora cluster waits for its instance to go).
    #[serde(default)]
    pub teardown_note: Option<String>,
    /// Verification attempts that could not read what they needed (the manifest, the secret,
    /// the restored endpoint).
    #[serde(default)]
    pub verify_attempts: u32,
    /// Could not be verified after [`VERIFY_ATTEMPTS`]: neither passed nor failed; the component
    /// stays due.
    #[serde(default)]
    pub inconclusive: Option<String>,
}

/// How many times a restore's verification is tried (one per invocation of the run) before it
/// is reported as could-not-verify.
pub const VERIFY_ATTEMPTS: u32 = 3;

impl Job {
    /// A restore about to start: nothing done yet.
    pub fn new(
        component: &str,
        kind: ResourceKind,
        backup: Backup,
        temp_id: String,
        expires_at: DateTime<Utc>,
    ) -> Job {
        Job {
            component: component.to_string(),
            kind,
            backup,
            // Aurora: one instance in the restored cluster.
            temp_instance_id: (kind == ResourceKind::AuroraCluster)
                .then(|| format!("{temp_id}-i1")),
            temp_id,
            expires_at,
            phase: Phase::Start,
            restore_job_id: None,
            started_at: None,
            available_at: None,
            verified_at: None,
            torn_down_at: None,
            endpoint: None,
            mapped: false,
            passed: None,
            checks: Vec::new(),
            error: None,
            teardown_note: None,
            verify_attempts: 0,
            inconclusive: None,
        }
    }

    /// Seconds from the restore call to an available resource.
    pub fn restore_seconds(&self) -> Option<f64> {
        match (self.started_at, self.available_at) {
            (Some(s), Some(a)) => Some((a - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        }
    }

    /// Records a failure and sends the job to teardown (whatever was created goes).
    pub fn fail(&mut self, why: impl Into<String>) {
        self.error = Some(why.into());
        self.passed = Some(false);
        self.phase = Phase::Teardown;
    }

    /// "Could not verify" is not "failed verification": no verdict on the backup, torn down.
    pub fn inconclusive(&mut self, why: impl Into<String>) {
        self.inconclusive = Some(why.into());
        self.passed = None;
        self.phase = Phase::Teardown;
    }
}

/// A temporary resource found by the janitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TempResource {
    pub kind: TempKind,
    pub id: String,
    pub tags: BTreeMap<String, String>,
    /// Aurora cluster members (deleted before the cluster).
    #[serde(default)]
    pub members: Vec<String>,
    pub status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TempKind {
    DbInstance,
    DbCluster,
    ReplicationGroup,
}

/// What the janitor removes: Lifeboat's temporary resources (name prefix AND purpose tag AND a
/// parseable expiry) whose expiry has passed. Untagged or foreign resources are never touched.
pub fn janitor_picks(found: &[TempResource], now: DateTime<Utc>) -> Vec<(TempResource, String)> {
    found
        .iter()
        .filter(|r| r.id.starts_with(TEMP_PREFIX))
        .filter(|r| r.tags.get(TAG_PURPOSE).map(String::as_str) == Some(PURPOSE))
        .filter(|r| r.status != "deleting")
        .filter_map(|r| {
            let exp = r.tags.get(TAG_EXPIRES)?;
            let t = DateTime::parse_from_rfc3339(exp).ok()?.with_timezone(&Utc);
            (t <= now).then(|| {
                (
                    r.clone(),
                    format!(
                        "expired at {exp}, left by run {}",
                        r.tags.get(TAG_RUN).map(String::as_str).unwrap_or("?")
                    ),
                )
            })
        })
        .collect()
}

/// A run's own state, saved after every round. The resumable engine keeps the run id, the
/// trigger, the start, the invocation count and the finish beside it in the journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub jobs: Vec<Job>,
    /// Components not restored this run, with the reason (not due, no backup, ...).
    #[serde(default)]
    pub skipped: Vec<(String, String)>,
    /// Janitor removals over the run's invocations.
    #[serde(default)]
    pub janitor: Vec<(String, String)>,
    /// Reads or steps that went wrong outside any one restore (reported as warnings).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Components whose backups could not be read, with the AWS error (reported as warnings;
    /// they stay due).
    #[serde(default)]
    pub unread: Vec<(String, String)>,
}

/// The journal of a restore run: the engine's fields around [`RunState`].
pub type Run = lifeboat_shared::resumable::Journaled<RunState>;

impl RunState {
    pub fn done(&self) -> bool {
        self.jobs.iter().all(|j| j.phase == Phase::Done)
    }
}

/// What the status object keeps per component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentStatus {
    pub last_run: Option<String>,
    pub last_restored_at: Option<DateTime<Utc>>,
    pub last_backup: Option<String>,
    pub last_passed: Option<bool>,
    pub last_restore_seconds: Option<f64>,
    /// The newest backup that passed verification, and when it was taken: the verified RPO is
    /// the age of this backup.
    pub verified_backup: Option<String>,
    pub verified_backup_at: Option<DateTime<Utc>>,
}

/// What restore-verification keeps across runs (the engine keeps the active-run pointer beside
/// it in the status object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub components: BTreeMap<String, ComponentStatus>,
}

impl Status {
    /// Folds a finished run in.
    pub fn record(&mut self, run: &Run) {
        for j in &run.state.jobs {
            let c = self.components.entry(j.component.clone()).or_default();
            c.last_run = Some(run.run_id.clone());
            if j.inconclusive.is_some() {
                // Not verified either way: the component stays due for the next run.
                continue;
            }
            c.last_restored_at = j.started_at.or(Some(run.started_at));
            c.last_backup = Some(j.backup.id.clone());
            c.last_passed = j.passed;
            c.last_restore_seconds = j.restore_seconds();
            if j.passed == Some(true)
                && c.verified_backup_at
                    .map(|t| j.backup.created_at > t)
                    .unwrap_or(true)
            {
                c.verified_backup = Some(j.backup.id.clone());
                c.verified_backup_at = Some(j.backup.created_at);
            }
        }
    }
}

/// `lifeboat-verify-<8 hex>`: the same for a resumed or redelivered run, fits ElastiCache's
/// 40-character limit.
pub fn temp_id(run_id: &str, component: &str) -> String {
    format!(
        "{TEMP_PREFIX}{:08x}",
        fnv1a(&format!("{run_id}/{component}"))
    )
}

/// Tags on every temporary resource.
pub fn temp_tags(
    run_id: &str,
    component: &str,
    backup: &str,
    expires_at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    [
        (TAG_PURPOSE, PURPOSE.to_string()),
        (TAG_RUN, run_id.to_string()),
        (
            TAG_EXPIRES,
            expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        (TAG_COMPONENT, component.to_string()),
        // Tag values allow 256 characters; recovery point ARNs fit.
        (TAG_FROM, backup.chars().take(256).collect()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether a component is due for a restore, and why not.
pub fn due(
    every: Duration,
    status: Option<&ComponentStatus>,
    now: DateTime<Utc>,
    forced: bool,
) -> Result<(), String> {
    if forced {
        return Ok(());
    }
    match status.and_then(|s| s.last_restored_at) {
        Some(t) if now - t < every => Err(format!(
            "restored {} h ago; due every {} h",
            (now - t).num_hours(),
            every.num_hours()
        )),
        _ => Ok(()),
    }
}

/// Picks the backup to restore: the newest, or a random one within the window (stable per run,
/// so a resumed run picks the same one).
pub fn select<'a>(
    candidates: &'a [Backup],
    selection: Selection,
    window: Duration,
    run_id: &str,
    component: &str,
    now: DateTime<Utc>,
) -> Option<&'a Backup> {
    let mut sorted: Vec<&Backup> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    match selection {
        Selection::Latest => sorted.first().copied(),
        Selection::Random => {
            let within: Vec<&Backup> = sorted
                .iter()
                .copied()
                .filter(|b| now - b.created_at <= window)
                .collect();
            if within.is_empty() {
                return None;
            }
            let i = fnv1a(&format!("{run_id}/{component}")) as usize % within.len();
            Some(within[i])
        }
    }
}

/// Builds the jobs of a new run.
pub struct NewRun<'a> {
    pub policy: &'a Policy,
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
    /// Manual `only`: these components, regardless of `every`.
    pub only: &'a [String],
}

impl NewRun<'_> {
    /// One job per due component with a backup; the rest skipped with the reason; and the due
    /// components without a backup whose backups could not be read (`unread`, with the AWS
    /// error): those are not "without backup".
    pub fn plan(
        &self,
        candidates: &BTreeMap<String, Vec<Backup>>,
        unread: &BTreeMap<String, String>,
        status: &Status,
    ) -> Planned {
        let mut out = Planned::default();
        let Some(target) = &self.policy.verification.restore else {
            return out;
        };
        let (jobs, skipped) = (&mut out.jobs, &mut out.skipped);
        for c in &self.policy.components {
            let Some(v) = &c.verify else { continue };
            if !self.only.is_empty() && !self.only.contains(&c.name) {
                continue;
            }
            if let Err(why) = due(
                v.every.0,
                status.components.get(&c.name),
                self.now,
                !self.only.is_empty(),
            ) {
                skipped.push((c.name.clone(), why));
                continue;
            }
            let list = candidates.get(&c.name).map(Vec::as_slice).unwrap_or(&[]);
            let Some(b) = select(list, v.select, v.window.0, self.run_id, &c.name, self.now) else {
                if let Some(e) = unread.get(&c.name) {
                    out.unread.push((c.name.clone(), e.clone()));
                    continue;
                }
                let what = match v.source {
                    BackupSource::Snapshot => "no available snapshot",
                    BackupSource::AwsBackup => "no completed AWS Backup recovery point",
                };
                let within = if v.select == Selection::Random {
                    format!(" within {}", v.window)
                } else {
                    String::new()
                };
                skipped.push((
                    c.name.clone(),
                    format!("{what}{within}: nothing to restore"),
                ));
                continue;
            };
            jobs.push(Job::new(
                &c.name,
                c.kind,
                b.clone(),
                temp_id(self.run_id, &c.name),
                self.now + target.expiry.0,
            ));
        }
        out
    }
}

/// What [`NewRun::plan`] decided.
#[derive(Debug, Default)]
pub struct Planned {
    pub jobs: Vec<Job>,
    /// Components not restored, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Due components whose backups could not be read, with the AWS error.
    pub unread: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap() + Duration::hours(h)
    }

    fn backup(id: &str, at: DateTime<Utc>) -> Backup {
        Backup {
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
            origin: Origin::Lifeboat,
            created_at: at,
            source_id: "db".into(),
            engine: "postgres".into(),
        }
    }

    fn temp(id: &str, tags: &[(&str, &str)]) -> TempResource {
        TempResource {
            kind: TempKind::DbInstance,
            id: id.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            members: vec![],
            status: "available".into(),
        }
    }

    #[test]
    fn latest_and_random_within_the_window() {
        let list = vec![
            backup("a", t(-100)),
            backup("b", t(-30)),
            backup("c", t(-5)),
            backup("d", t(-1)),
        ];
        let now = t(0);
        let latest = select(&list, Selection::Latest, Duration::days(7), "r", "c", now);
        assert_eq!(latest.unwrap().id, "d");
        let mut seen = std::collections::BTreeSet::new();
        for run in 0..64 {
            let b = select(
                &list,
                Selection::Random,
                Duration::hours(48),
                &format!("run-{run}"),
                "c",
                now,
            )
            .unwrap();
            assert_ne!(b.id, "a", "outside the window");
            seen.insert(b.id.clone());
            // Stable for the same run.
            let again = select(
                &list,
                Selection::Random,
                Duration::hours(48),
                &format!("run-{run}"),
                "c",
                now,
            );
            assert_eq!(again.unwrap().id, b.id);
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(select(
            &list,
            Selection::Random,
            Duration::minutes(30),
            "r",
            "c",
            now
        )
        .is_none());
        assert!(select(&[], Selection::Latest, Duration::days(7), "r", "c", now).is_none());
    }

    #[test]
    fn due_every_period_unless_forced() {
        let s = ComponentStatus {
            last_restored_at: Some(t(-30)),
            ..Default::default()
        };
        assert!(due(Duration::days(7), Some(&s), t(0), false).is_err());
        assert!(due(Duration::days(7), Some(&s), t(0), true).is_ok());
        assert!(due(Duration::hours(24), Some(&s), t(0), false).is_ok());
        assert!(due(Duration::days(7), None, t(0), false).is_ok());
    }

    #[test]
    fn temp_names_are_deterministic_and_fit_every_service() {
        let a = temp_id("20261121T030000Z-1a2b3c4d", "orders-db");
        assert_eq!(a, temp_id("20261121T030000Z-1a2b3c4d", "orders-db"));
        assert_ne!(a, temp_id("20261121T030000Z-1a2b3c4d", "sessions-redis"));
        assert_ne!(a, temp_id("20261122T030000Z-9a2b3c4d", "orders-db"));
        assert!(a.len() <= 40 && a.starts_with(TEMP_PREFIX));
        assert!(format!("{a}-i1").len() <= 63);
    }

    #[test]
    fn janitor_removes_only_expired_lifeboat_resources() {
        let now = t(0);
        let ours =
            |exp: &'static str| vec![(TAG_PURPOSE, PURPOSE), (TAG_RUN, "r1"), (TAG_EXPIRES, exp)];
        let found = vec![
            temp("lifeboat-verify-00000001", &ours("2026-11-21T11:00:00Z")),
            temp("lifeboat-verify-00000002", &ours("2026-11-21T13:00:00Z")),
            // Right name, no tags: never touched.
            temp("lifeboat-verify-00000003", &[]),
            // Tags but not our name.
            temp("orders-copy", &ours("2026-11-21T11:00:00Z")),
            // Unreadable expiry: kept.
            temp("lifeboat-verify-00000004", &ours("soon")),
            // Another purpose.
            temp(
                "lifeboat-verify-00000005",
                &[
                    (TAG_PURPOSE, "other"),
                    (TAG_EXPIRES, "2026-11-21T11:00:00Z"),
                ],
            ),
        ];
        let picks = janitor_picks(&found, now);
        assert_eq!(picks.len(), 1);
        assert_eq!(picks[0].0.id, "lifeboat-verify-00000001");
        assert!(picks[0].1.contains("left by run r1"));
    }

    #[test]
    fn status_keeps_the_newest_passing_backup() {
        let mut status = Status::default();
        let mut job = Job {
            phase: Phase::Done,
            started_at: Some(t(0)),
            available_at: Some(t(0) + Duration::seconds(420)),
            passed: Some(true),
            ..Job::new(
                "orders-db",
                ResourceKind::RdsInstance,
                backup("new", t(-2)),
                "x".into(),
                t(6),
            )
        };
        let mut run = Run {
            run_id: "r2".into(),
            trigger: "t".into(),
            started_at: t(0),
            state: RunState {
                jobs: vec![job.clone()],
                ..Default::default()
            },
            finished_at: None,
            invocations: 1,
        };
        status.record(&run);
        let c = &status.components["orders-db"];
        assert_eq!(c.verified_backup.as_deref(), Some("new"));
        assert_eq!(c.last_restore_seconds, Some(420.0));
        // A later failing restore of an older backup keeps the verified one.
        job.backup = backup("old", t(-50));
        job.passed = Some(false);
        run.state.jobs = vec![job];
        run.run_id = "r3".into();
        status.record(&run);
        let c = &status.components["orders-db"];
        assert_eq!(c.verified_backup.as_deref(), Some("new"));
        assert_eq!(c.last_passed, Some(false));
    }

    #[test]
    fn given_a_restore_that_could_not_be_verified_when_recorded_then_the_component_stays_due() {
        let mut status = Status::default();
        let mut job = Job::new(
            "orders-db",
            ResourceKind::RdsInstance,
            backup("b1", t(-2)),
            "x".into(),
            t(6),
        );
        job.started_at = Some(t(0));
        job.inconclusive("could not read the backup's manifest: AWS GetObject failed (3 attempts)");
        let run = Run {
            run_id: "r9".into(),
            trigger: "t".into(),
            started_at: t(0),
            state: RunState {
                jobs: vec![job],
                ..Default::default()
            },
            finished_at: None,
            invocations: 3,
        };
        status.record(&run);
        let c = &status.components["orders-db"];
        assert_eq!((c.last_passed, c.verified_backup.as_deref()), (None, None));
        assert!(
            due(Duration::days(1), Some(c), t(1), false).is_ok(),
            "not verified either way: due again"
        );
    }
}
