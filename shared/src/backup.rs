//! The backup contract between the functions: what snapshot-export names, tags and writes, and
//! what restore-verification (and every later reader) relies on. The `lifeboat:*` tag keys, the
//! `lifeboat-` name prefix, the names and S3 keys of one snapshot period, the snapshot record
//! with its identity rules, and the manifest as a versioned serde type. One definition, so the
//! writer and its readers cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::{ResourceKind, Span};

/// Name prefix of every snapshot Lifeboat makes (and of its temporary restore resources).
pub const PREFIX: &str = "lifeboat-";

/// Tags Lifeboat puts on every snapshot it makes (and that `CopyTags` carries to DR copies).
pub const TAG_MANAGED: &str = "lifeboat:managed";
pub const TAG_COMPONENT: &str = "lifeboat:component";
pub const TAG_SOURCE: &str = "lifeboat:source";
/// The start of the snapshot's period (RFC 3339): when its data was taken, also on a DR copy.
pub const TAG_PERIOD: &str = "lifeboat:period-start";
/// The run that made the snapshot, or the restore run that owns a temporary resource.
pub const TAG_RUN: &str = "lifeboat:run-id";
/// Set once the manifest recorded every copy and export in its final state.
pub const TAG_MANIFEST: &str = "lifeboat:manifest";

/// Name prefix of every temporary restore resource; the janitor looks at nothing else.
pub const TEMP_PREFIX: &str = "lifeboat-verify-";
/// Tag keys on temporary restore resources (with [`TAG_RUN`] and [`TAG_COMPONENT`]).
pub const TAG_PURPOSE: &str = "lifeboat:purpose";
pub const TAG_EXPIRES: &str = "lifeboat:expires-at";
pub const TAG_FROM: &str = "lifeboat:restored-from";

/// The `schema` of every manifest this build writes, and the only one it reads.
pub const MANIFEST_SCHEMA: &str = "lifeboat.manifest/v1";

/// A snapshot as inventoried (RDS, Aurora or ElastiCache; in the primary or the DR region),
/// converted once from the SDK's shape by the readers in [`crate::aws`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    /// The ARN of the snapshot this one was copied from, where AWS reports it (RDS
    /// `SourceDBSnapshotIdentifier` for a cross-region or cross-account copy,
    /// `SourceDBClusterSnapshotArn`): a DR copy is Lifeboat's copy of a primary snapshot only
    /// if this, when known, is the primary's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_snapshot_arn: Option<String>,
    pub source_id: String,
    pub region: String,
    /// Creation time as AWS reports it; some APIs (and emulators) leave it out.
    pub created_at: Option<DateTime<Utc>>,
    pub status: String,
    /// Manual (not automated) snapshot.
    pub manual: bool,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub size_gb: Option<i64>,
    pub engine: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Snapshot {
    /// Named the way Lifeboat names its snapshots: manual, with the `lifeboat-` prefix. A name
    /// proves nothing ([`Snapshot::managed`] does); it says where a manifest may be.
    pub fn lifeboat_named(&self) -> bool {
        self.manual && self.id.starts_with(PREFIX)
    }

    /// Made by Lifeboat: manual, our name prefix, and our tag. All three, or it is never ours.
    pub fn managed(&self) -> bool {
        self.lifeboat_named() && self.tags.get(TAG_MANAGED).map(String::as_str) == Some("true")
    }

    pub fn available(&self) -> bool {
        self.status == "available"
    }

    /// When the backup was taken, for retention: the period recorded in our tag (copied to DR
    /// copies with CopyTags), else AWS's creation time. A DR copy's own creation time is the
    /// time of the copy, not of the data: an old snapshot copied today must not count as
    /// today's backup (it would push today's real copy out of the daily tier).
    pub fn time(&self) -> Option<DateTime<Utc>> {
        period_of(&self.tags).or(self.created_at)
    }
}

/// Which snapshots grandfather-father-son retention keeps (snapshot-export's retention; what
/// cost-anomaly's savings say it lets go), with the rule that keeps each.
/// `times` are (id, time); the newest snapshot in each of the last N hours/days/ISO weeks/months
/// (counting from `now`'s) is kept.
pub fn gfs_keep(
    times: &[(String, DateTime<Utc>)],
    r: crate::policy::Retention,
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
                    .or_insert_with(|| format!("newest {name} backup of {}", gfs_label(name, *t)));
            }
        }
    }
    keep
}

pub fn gfs_label(rule: &str, t: DateTime<Utc>) -> String {
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

/// The period start recorded in a snapshot's [`TAG_PERIOD`] tag, when it is there and valid.
pub fn period_of(tags: &BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    tags.get(TAG_PERIOD)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Start of the snapshot period `t` falls in: periods of `frequency`, aligned to the Unix epoch.
pub fn period_start(t: DateTime<Utc>, frequency: Span) -> DateTime<Utc> {
    let len = frequency.0.num_seconds().max(1);
    let start = t.timestamp().div_euclid(len) * len;
    Utc.timestamp_opt(start, 0).single().unwrap_or(t)
}

/// `lifeboat-<source>-<yyyymmdd>-<hhmm>`: the same for every trigger in one period.
pub fn snapshot_id(source_id: &str, period: DateTime<Utc>) -> String {
    format!(
        "{PREFIX}{}-{}",
        source_id.to_ascii_lowercase(),
        period.format("%Y%m%d-%H%M")
    )
}

/// `base` if it fits in `max` characters, else a prefix of it and a stable 8-hex-digit hash.
pub fn bounded_id(base: &str, max: usize) -> String {
    if base.len() <= max {
        return base.to_string();
    }
    let keep = base[..max - 9].trim_end_matches('-');
    format!("{keep}-{:08x}", crate::fnv1a(base))
}

/// Export task ids: 1-60 letters, digits and hyphens; `-2`, `-3` for retries after a failure.
pub fn export_task_id(snapshot_id: &str, attempt: usize) -> String {
    let base = bounded_id(snapshot_id, 57);
    if attempt <= 1 {
        base
    } else {
        format!("{base}-{attempt}")
    }
}

/// Where a snapshot's manifest and RDS export live in the backup bucket: written by
/// snapshot-export, read by restore-verification.
pub fn backup_prefix(kind: ResourceKind, source_id: &str, snapshot_id: &str) -> String {
    format!("backups/{kind}/{source_id}/{snapshot_id}/")
}

/// The manifest beside a backup.
pub fn manifest_key(kind: ResourceKind, source_id: &str, snapshot_id: &str) -> String {
    format!(
        "{}manifest.json",
        backup_prefix(kind, source_id, snapshot_id)
    )
}

/// The record later functions rely on, written beside each backup in S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`] when written by this build.
    pub schema: String,
    pub component: String,
    pub source: ManifestSource,
    pub snapshot: ManifestSnapshot,
    pub dr_copy: Option<ManifestCopy>,
    pub export: Option<ManifestExport>,
    pub written_at: DateTime<Utc>,
    pub written_by: String,
    /// Row counts and primary-key checksums (SQL) or the key count (Redis) of the source, taken
    /// just after the snapshot was requested, where the policy gives database access.
    /// restore-verification compares the restored copy with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<DataFingerprint>,
    /// Why a component with database access has no fingerprint (the snapshot was already too
    /// old when a run could take one, or taking it failed): restore-verification says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_missing: Option<String>,
}

impl Manifest {
    /// The reader's check: a manifest of the schema this build reads.
    pub fn check(&self) -> Result<(), String> {
        check_schema(Some(&self.schema))
    }
}

/// The reader's check on a manifest's `schema` field (`None`: the field is missing). A
/// manifest of another schema is refused rather than misread.
pub fn check_schema(schema: Option<&str>) -> Result<(), String> {
    match schema {
        Some(MANIFEST_SCHEMA) => Ok(()),
        Some(other) => Err(format!(
            "manifest schema {other:?} is not the one this reader knows ({MANIFEST_SCHEMA:?})"
        )),
        None => Err(format!(
            "manifest has no schema field (expected {MANIFEST_SCHEMA:?})"
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSource {
    pub kind: ResourceKind,
    pub id: String,
    pub arn: Option<String>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub id: String,
    pub arn: String,
    pub created_at: Option<DateTime<Utc>>,
    pub size_gb: Option<i64>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestCopy {
    pub region: String,
    pub id: String,
    pub arn: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestExport {
    pub task_id: Option<String>,
    pub location: String,
    pub format: String,
    pub status: String,
}

/// What a manifest records about the data at snapshot time (taken and compared with feature
/// `data`; the record itself is part of the contract).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "engine_family", rename_all = "lowercase")]
pub enum DataFingerprint {
    Sql(Fingerprint),
    Redis(CacheFingerprint),
}

impl DataFingerprint {
    pub fn taken_at(&self) -> Option<DateTime<Utc>> {
        match self {
            DataFingerprint::Sql(f) => f.taken_at,
            DataFingerprint::Redis(f) => Some(f.taken_at),
        }
    }
}

/// Per-table row count and primary-key checksum, taken from the source at snapshot time and
/// recorded in the manifest; compared with the restored copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub taken_at: Option<DateTime<Utc>>,
    pub tables: BTreeMap<String, TableFingerprint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFingerprint {
    pub rows: i64,
    /// Engine-specific aggregate of the primary keys (same engine on both sides).
    pub pk_checksum: String,
}

/// A Redis source's key count at snapshot time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheFingerprint {
    pub taken_at: DateTime<Utc>,
    /// Keys over every logical database (INFO keyspace).
    pub keys: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn snap(id: &str, manual: bool, tags: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            kind: ResourceKind::RdsInstance,
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
            source_snapshot_arn: None,
            source_id: "orders".into(),
            region: "us-east-1".into(),
            created_at: Some(t("2026-11-21T14:00:00Z")),
            status: "available".into(),
            manual,
            encrypted: false,
            kms_key_id: None,
            size_gb: None,
            engine: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_snapshot_is_ours_only_by_name_kind_and_tag() {
        // Given snapshots that share some but not all of Lifeboat's marks
        let ours = snap(
            "lifeboat-orders-20261121-0000",
            true,
            &[(TAG_MANAGED, "true")],
        );
        let untagged = snap("lifeboat-orders-20261121-0000", true, &[]);
        let automated = snap(
            "lifeboat-orders-20261121-0000",
            false,
            &[(TAG_MANAGED, "true")],
        );
        let renamed = snap("orders-20261121", true, &[(TAG_MANAGED, "true")]);
        // Then only the one with all three is managed; the name alone says where to look
        assert!(ours.managed());
        assert!(!untagged.managed() && untagged.lifeboat_named());
        assert!(!automated.managed() && !automated.lifeboat_named());
        assert!(!renamed.managed() && !renamed.lifeboat_named());
    }

    #[test]
    fn the_period_tag_dates_a_copy_and_the_api_time_is_the_fallback() {
        // Given a copy made today of a snapshot from an earlier period
        let copy = snap("x", true, &[(TAG_PERIOD, "2026-10-14T00:00:00Z")]);
        let plain = snap("y", true, &[(TAG_PERIOD, "not a time")]);
        // Then its time is the period's, and a bad tag falls back to AWS's creation time
        assert_eq!(copy.time(), Some(t("2026-10-14T00:00:00Z")));
        assert_eq!(plain.time(), Some(t("2026-11-21T14:00:00Z")));
        assert_eq!(period_of(&plain.tags), None);
    }

    #[test]
    fn period_names_are_stable_and_fit_aws_limits() {
        // Given a time inside a daily period
        let p = period_start(t("2026-11-21T14:37:00Z"), Span(chrono::Duration::days(1)));
        // Then the period, the snapshot name and the keys are derived from it alone
        assert_eq!(p, t("2026-11-21T00:00:00Z"));
        let id = snapshot_id("Orders", p);
        assert_eq!(id, "lifeboat-orders-20261121-0000");
        assert_eq!(
            manifest_key(ResourceKind::RdsInstance, "orders", &id),
            "backups/rds-instance/orders/lifeboat-orders-20261121-0000/manifest.json"
        );
        assert_eq!(export_task_id(&id, 1), id);
        assert_eq!(export_task_id(&id, 2), format!("{id}-2"));
        let long = snapshot_id(&"a".repeat(70), p);
        assert!(export_task_id(&long, 3).len() <= 60);
        assert_eq!(bounded_id(&long, 20), bounded_id(&long, 20));
    }

    #[test]
    fn a_manifest_round_trips_and_the_reader_checks_its_schema() {
        // Given a manifest as snapshot-export writes it
        let m = Manifest {
            schema: MANIFEST_SCHEMA.into(),
            component: "orders-db".into(),
            source: ManifestSource {
                kind: ResourceKind::RdsInstance,
                id: "orders".into(),
                arn: None,
                engine: Some("postgres".into()),
                engine_version: None,
                region: "us-east-1".into(),
            },
            snapshot: ManifestSnapshot {
                id: "lifeboat-orders-20261121-0000".into(),
                arn: "arn".into(),
                created_at: None,
                size_gb: Some(20),
                encrypted: true,
                kms_key_id: None,
                status: "available".into(),
            },
            dr_copy: None,
            export: None,
            written_at: t("2026-11-21T00:10:00Z"),
            written_by: "run-1".into(),
            fingerprint: Some(DataFingerprint::Redis(CacheFingerprint {
                taken_at: t("2026-11-21T00:01:00Z"),
                keys: 42,
            })),
            fingerprint_missing: None,
        };
        // When it is written and read back
        let json = serde_json::to_value(&m).unwrap();
        let back: Manifest = serde_json::from_value(json.clone()).unwrap();
        // Then nothing is lost, the fingerprint says its family, and the schema passes
        assert_eq!(back, m);
        assert_eq!(json["schema"], "lifeboat.manifest/v1");
        assert_eq!(json["fingerprint"]["engine_family"], "redis");
        assert!(back.check().is_ok());
        // And another schema, or none, is refused by name
        let newer = Manifest {
            schema: "lifeboat.manifest/v2".into(),
            ..m
        };
        assert!(newer.check().unwrap_err().contains("lifeboat.manifest/v2"));
        assert!(check_schema(None).unwrap_err().contains("no schema"));
    }
}
