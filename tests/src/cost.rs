//! cost-anomaly's fixtures, shared by its integration tests (tests/tests/cost.rs), `make demo`
//! and the fault-injection suite. On top of [`crate::seed`] (the seeded shop: `ecommerce-prod-db`
//! with Lifeboat's snapshots and DR copies, `catalog-aurora`, the `ecommerce-redis-cluster`
//! sessions cache, the backup bucket replicated to the DR bucket), they put what cost-anomaly
//! reads for a day, as AWS would hold it:
//!
//! - [`seed_cost`]: Aurora's billed backup bytes (CloudWatch `AWS/RDS`), the sessions cache's
//!   Lifeboat snapshots with their sizes (the emulator's NodeSnapshots stand-in), 60 days of
//!   orders-db exports in the backup bucket in several storage classes (a lifecycle rule moves
//!   them to GLACIER_IR after 30 days), their replicas in the DR bucket, each bucket's S3
//!   Inventory report and its `AWS/S3` storage metrics;
//! - [`steady_history`] and [`seed_history`]: past days as the function stores them, so the
//!   anomaly rules have history without waiting 28 days;
//! - [`seed_anomaly`]: the demo's anomaly — a burst of manual snapshots of the orders database
//!   that no retention governs, and a backup bucket whose lifecycle rule stopped matching;
//! - [`queue_cost_explorer`] and [`ce_response`]: canned Cost Explorer results;
//! - [`CostPolicy`] / [`with_cost`]: the policy's `cost:` section.
//!
//! What the emulator cannot hold, said where it is stood in for: moto keeps objects in memory,
//! so the objects carry small bodies while their keys, classes, versions and ages are real, and
//! each bucket's S3 Inventory report (which is how cost-anomaly reads a large bucket) gives the
//! sizes those objects have on the real account ([`production_size`]): 6 GiB of parquet a day.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, StorageClass, Transition,
    TransitionStorageClass,
};
use aws_sdk_s3::Client as S3;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use cost_anomaly::execute::day_key;
use cost_anomaly::plan::{Day, Item};
use lifeboat_shared::backup::{backup_prefix, snapshot_id};
use lifeboat_shared::journal::Journal;
use lifeboat_shared::policy::ResourceKind;
use serde_json::{json, Value};

use crate::{put_metric, s3, Emulator, World, DR, PRIMARY};

/// The orders database (component `orders-db`).
pub const ORDERS_DB: &str = "ecommerce-prod-db";
/// The catalog Aurora cluster (component `catalog-aurora`).
pub const AURORA_CLUSTER: &str = "catalog-aurora";
/// The sessions cache (component `sessions-redis`).
pub const CACHE_GROUP: &str = "ecommerce-redis-cluster";

/// The backup buckets' lifecycle rules: backups to GLACIER_IR after this many days.
pub const TRANSITION_DAYS: i64 = 30;
/// The backup bucket's lifecycle rule (its filter stops matching in [`seed_anomaly`]).
pub const LIFECYCLE_RULE: &str = "backups-to-glacier-ir";
/// The DR bucket's.
pub const DR_LIFECYCLE_RULE: &str = "dr-backups-to-glacier-ir";
/// Days of daily orders-db exports kept in the backup bucket.
pub const EXPORT_DAYS: i64 = 60;
/// Days whose export was run twice (a retried export): its first parts are noncurrent versions.
pub const REEXPORTED_DAYS: [i64; 4] = [3, 10, 17, 24];

/// The S3 Inventory configuration of both backup buckets, and where its reports go (the
/// destination must be in the source bucket's region).
pub const INVENTORY_CONFIG: &str = "lifeboat-cost";
pub const INVENTORY_PREFIX: &str = "inventory";
pub const INVENTORY_BUCKET: &str = "ecommerce-s3-inventory-us-east-1";
pub const DR_INVENTORY_BUCKET: &str = "ecommerce-s3-inventory-us-west-2";
/// The inventory report's columns, as AWS names them (with the optional fields cost-anomaly
/// needs: size, last modified date, storage class, and the version fields).
pub const INVENTORY_SCHEMA: &str =
    "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, StorageClass";

/// Aurora's backup storage for `catalog-aurora` (bytes): the cluster volume is the free
/// allocation, TotalBackupStorageBilled = retention + snapshots − volume (AWS's definition).
pub const AURORA_VOLUME_GIB: f64 = 120.0;
pub const AURORA_RETENTION_GIB: f64 = 210.0;
pub const AURORA_SNAPSHOT_GIB: f64 = 60.0;

/// The sessions cache's Lifeboat snapshots: (age in hours, CacheSize as ElastiCache reports it).
pub const CACHE_SNAPSHOTS: [(i64, &str); 4] =
    [(1, "2.6 GB"), (2, "2.5 GB"), (25, "2.5 GB"), (49, "2.4 GB")];

/// The seeded anomaly: manual snapshots of the orders database made by hand, not by Lifeboat,
/// in one burst (every 20 minutes from 09:00 UTC) this many days before the evaluated day.
pub const UNMANAGED_SNAPSHOTS: usize = 12;
pub const BURST_DAYS_AGO: i64 = 3;
/// The days since the backup bucket's lifecycle rule stopped matching.
pub const STOPPED_DAYS: i64 = 14;
/// The filter the broken rule has instead of `backups/`.
pub const BROKEN_PREFIX: &str = "backup/";

const GIB: f64 = 1_073_741_824.0;

/// One object version seeded into a backup bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct SeededObject {
    pub key: String,
    /// AWS's storage class name (`STANDARD`, `GLACIER_IR`, `DEEP_ARCHIVE`).
    pub class: String,
    /// Its size on the real account (the inventory report's `Size`).
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub latest: bool,
}

/// What [`seed_cost`] put, for tests that compute the expected cost by hand.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub day: NaiveDate,
    /// The backup bucket's object versions as its inventory report lists them.
    pub objects: Vec<SeededObject>,
    /// The DR bucket's.
    pub dr_objects: Vec<SeededObject>,
    /// The sessions cache's snapshots: (name, CacheSize).
    pub cache_snapshots: Vec<(String, String)>,
    /// Aurora's `TotalBackupStorageBilled` and `SnapshotStorageUsed` put for the day (bytes).
    pub aurora_billed: f64,
    pub aurora_snapshots: f64,
}

impl Seeded {
    /// GiB of the backup bucket's current (`latest`) or noncurrent versions in `class`.
    pub fn gib(&self, class: &str, latest: bool) -> f64 {
        gib_of(&self.objects, class, latest)
    }

    /// The same for the DR bucket.
    pub fn dr_gib(&self, class: &str, latest: bool) -> f64 {
        gib_of(&self.dr_objects, class, latest)
    }
}

fn gib_of(objects: &[SeededObject], class: &str, latest: bool) -> f64 {
    objects
        .iter()
        .filter(|o| o.class == class && o.latest == latest)
        .map(|o| o.size as f64)
        .sum::<f64>()
        / GIB
}

/// What to seed besides the defaults (see [`seed_cost_with`]).
#[derive(Debug, Clone)]
pub struct CostSeed {
    /// Put Aurora's `AWS/RDS` backup metrics for the day (false: the metric is absent, as for a
    /// cluster AWS has not reported yet).
    pub aurora_metrics: bool,
    /// Put the buckets' `AWS/S3` storage metrics for the day. moto keeps every datapoint put and
    /// averages those of one period (it cannot replace one), so a world that will be changed by
    /// [`seed_anomaly`] is seeded without them: `seed_anomaly` puts them, after its change.
    pub bucket_metrics: bool,
}

impl Default for CostSeed {
    fn default() -> Self {
        CostSeed {
            aurora_metrics: true,
            bucket_metrics: true,
        }
    }
}

/// Seeds what cost-anomaly reads for `day` (see the module docs), with every default of
/// [`CostSeed`]. `world` is [`crate::seed`]'s, with `Scenario::full` (Aurora and the cache).
/// Once per emulator (the snapshots and objects it makes are named by their dates).
pub async fn seed_cost(emu: &Emulator, world: &World, day: NaiveDate) -> Seeded {
    seed_cost_with(emu, world, day, &CostSeed::default()).await
}

/// [`seed_cost`] with `what`.
pub async fn seed_cost_with(
    emu: &Emulator,
    world: &World,
    day: NaiveDate,
    what: &CostSeed,
) -> Seeded {
    let primary = emu.config(PRIMARY).await;
    let dr = emu.config(DR).await;
    let (s3p, s3d) = (s3(&primary), s3(&dr));

    // Aurora: billed backup bytes through the day (AWS publishes them every few minutes; four
    // equal points average to the value).
    let aurora_billed = (AURORA_RETENTION_GIB + AURORA_SNAPSHOT_GIB - AURORA_VOLUME_GIB) * GIB;
    let aurora_snapshots = AURORA_SNAPSHOT_GIB * GIB;
    if what.aurora_metrics {
        let cw = aws_sdk_cloudwatch::Client::new(&primary);
        let through_day = |v: f64| -> Vec<(DateTime<Utc>, f64)> {
            (0..4).map(|h| (at(day, 6 * h, 0), v)).collect()
        };
        let dims = [("DBClusterIdentifier", AURORA_CLUSTER)];
        for (metric, v) in [
            ("TotalBackupStorageBilled", aurora_billed),
            ("SnapshotStorageUsed", aurora_snapshots),
            (
                "BackupRetentionPeriodStorageUsed",
                AURORA_RETENTION_GIB * GIB,
            ),
        ] {
            put_metric(&cw, "AWS/RDS", metric, &dims, &through_day(v)).await;
        }
    }

    // The sessions cache's Lifeboat snapshots, at their ages, with their sizes.
    let ec = aws_sdk_elasticache::Client::new(&primary);
    let now = Utc::now();
    let mut cache_snapshots = Vec::new();
    for (hours, size) in CACHE_SNAPSHOTS {
        let taken = now - Duration::hours(hours);
        let period = taken - Duration::seconds(taken.timestamp().rem_euclid(3600));
        let name = snapshot_id(CACHE_GROUP, period);
        emu.shift_clock(taken - now);
        ec.create_snapshot()
            .replication_group_id(CACHE_GROUP)
            .snapshot_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cache snapshot {name}: {e}"));
        cache_snapshots.push((name, size.to_string()));
    }
    emu.reset_clock();
    let sizes: BTreeMap<&str, Vec<&str>> = cache_snapshots
        .iter()
        .map(|(n, s)| (n.as_str(), vec![s.as_str()]))
        .collect();
    size_cache_snapshots(&emu.endpoint, PRIMARY, &sizes).await;

    // The backup buckets: lifecycle rules, 60 days of exports (replicated), inventory reports.
    put_lifecycle(
        &s3p,
        &world.backup_bucket,
        LIFECYCLE_RULE,
        "backups/",
        false,
    )
    .await;
    put_lifecycle(
        &s3d,
        &world.dr_backup_bucket,
        DR_LIFECYCLE_RULE,
        "backups/",
        true,
    )
    .await;
    seed_exports(emu, &s3p, &s3d, world, day, None).await;
    for (client, bucket, region) in [
        (&s3p, INVENTORY_BUCKET, PRIMARY),
        (&s3d, DR_INVENTORY_BUCKET, DR),
    ] {
        create_bucket(client, bucket, region).await;
    }
    let objects = write_inventory(&s3p, &world.backup_bucket, INVENTORY_BUCKET, now).await;
    let dr_objects = write_inventory(&s3d, &world.dr_backup_bucket, DR_INVENTORY_BUCKET, now).await;
    if what.bucket_metrics {
        put_bucket_metrics(&primary, &world.backup_bucket, day, &objects).await;
        put_bucket_metrics(&dr, &world.dr_backup_bucket, day, &dr_objects).await;
    }
    Seeded {
        day,
        objects,
        dr_objects,
        cache_snapshots,
        aurora_billed,
        aurora_snapshots,
    }
}

/// `day` at `h:m` UTC.
pub fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0).unwrap_or_default())
}

/// Gives ElastiCache snapshots their sizes in the emulator: `sizes` maps a snapshot name to
/// one CacheSize per shard ("2.5 GB"). moto has no NodeSnapshots; `scripts/moto_server.py`'s
/// stand-in answers DescribeSnapshots with them from then on (see its comment).
pub async fn size_cache_snapshots(endpoint: &str, region: &str, sizes: &BTreeMap<&str, Vec<&str>>) {
    let body = json!({"region": region, "snapshots": sizes});
    let (status, answer) = post_json(
        endpoint,
        "/lifeboat-stand-in/elasticache/snapshot-sizes",
        &body,
    )
    .await;
    assert_eq!(status, 200, "snapshot sizes: {answer}");
}

/// Queues canned GetCostAndUsage answers in the emulator (moto's
/// `/moto-api/static/ce/cost-and-usage-results`): `results` is one response or an array of
/// them. moto hands the next queued response to each request body it has not seen (the same
/// body gets the same answer again), so they must be queued in the order the function asks:
/// cost-anomaly asks for the day and the two before it, then (when its history of actual cost
/// is short) for the days before those; [`ce_answers`] builds both. moto applies no filter nor
/// grouping: the groups are the test's.
pub async fn queue_cost_explorer(endpoint: &str, results: Value) {
    let results = match results {
        Value::Array(a) => a,
        one => vec![one],
    };
    let (status, answer) = post_json(
        endpoint,
        "/moto-api/static/ce/cost-and-usage-results",
        &json!({ "results": results }),
    )
    .await;
    assert!(
        status == 200 || status == 201,
        "queue Cost Explorer results: {status} {answer}"
    );
}

/// One group of a canned GetCostAndUsage result: a usage type, the component tag's value
/// (`None`: untagged), the day's UnblendedCost in USD and its UsageQuantity.
#[derive(Debug, Clone, PartialEq)]
pub struct CeGroup {
    pub usage_type: String,
    pub component: Option<String>,
    pub usd: f64,
    pub quantity: f64,
    /// The quantity's unit (`GB-Mo` for storage, `GB` for transfer).
    pub unit: String,
}

impl CeGroup {
    pub fn new(usage_type: &str, component: Option<&str>, usd: f64, quantity: f64) -> CeGroup {
        CeGroup {
            usage_type: usage_type.to_string(),
            component: component.map(str::to_string),
            usd,
            quantity,
            unit: if usage_type.ends_with("-Bytes") {
                "GB".into()
            } else {
                "GB-Mo".into()
            },
        }
    }
}

/// A GetCostAndUsage response as AWS gives it for a DAILY request grouped by `USAGE_TYPE` and
/// the tag `tag_key`: one `ResultsByTime` per day, each group keyed `[usage type,
/// "<tag_key>$<value>"]` (`"<tag_key>$"` untagged), `UnblendedCost` and `UsageQuantity`.
pub fn ce_response(tag_key: &str, days: &[(NaiveDate, Vec<CeGroup>)]) -> Value {
    let results: Vec<Value> = days
        .iter()
        .map(|(d, groups)| {
            json!({
                "TimePeriod": {"Start": d.to_string(), "End": (*d + Duration::days(1)).to_string()},
                "Groups": groups.iter().map(|g| json!({
                    "Keys": [g.usage_type, format!("{tag_key}${}", g.component.as_deref().unwrap_or(""))],
                    "Metrics": {
                        "UnblendedCost": {"Amount": format!("{:.10}", g.usd), "Unit": "USD"},
                        "UsageQuantity": {"Amount": format!("{:.10}", g.quantity), "Unit": g.unit},
                    }
                })).collect::<Vec<_>>(),
                // grouped results carry their amounts in the groups; Total stays empty
                "Total": {},
                "Estimated": *d + Duration::days(2) > Utc::now().date_naive(),
            })
        })
        .collect();
    json!({
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
            {"Type": "TAG", "Key": tag_key},
        ],
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    })
}

/// Cost Explorer's answers for `day` and the `days` before it, in the order cost-anomaly asks
/// (see [`queue_cost_explorer`]): first `[day - 2, day + 1)`, then `[day - days, day - 2)`.
/// Each day costs what `template` (a model day) does times `factor`; `published_day: false`
/// leaves the day itself without groups, as Cost Explorer answers before it has published it.
pub fn ce_answers(
    tag_key: &str,
    template: &Day,
    day: NaiveDate,
    days: i64,
    factor: f64,
    published_day: bool,
) -> Value {
    let on = |d: NaiveDate| {
        let mut t = template.clone();
        t.date = d;
        (d, ce_groups_like(&t, factor))
    };
    let mut recent: Vec<(NaiveDate, Vec<CeGroup>)> =
        (1..=2).rev().map(|b| on(day - Duration::days(b))).collect();
    recent.push(if published_day {
        on(day)
    } else {
        (day, Vec::new())
    });
    let earlier: Vec<(NaiveDate, Vec<CeGroup>)> = (3..=days)
        .rev()
        .map(|b| on(day - Duration::days(b)))
        .collect();
    json!([
        ce_response(tag_key, &recent),
        ce_response(tag_key, &earlier)
    ])
}

/// The usage type AWS bills a storage class as in `region`: AWS's region code before it
/// (`USW2-RDS:ChargedBackupUsage`), none in us-east-1 (`RDS:ChargedBackupUsage`,
/// `TimedStorage-ByteHrs`), where usage types predate the codes; transfer names both ends
/// (`USE1-USW2-AWS-Out-Bytes`, to the DR region).
pub fn usage_type(class: &str, region: &str) -> String {
    let code = |r: &str| match r {
        "us-east-1" => "USE1".to_string(),
        "us-east-2" => "USE2".to_string(),
        "us-west-1" => "USW1".to_string(),
        "us-west-2" => "USW2".to_string(),
        "eu-west-1" => "EU".to_string(),
        other => other.to_ascii_uppercase(),
    };
    let here = |t: &str| {
        if region == "us-east-1" {
            t.to_string()
        } else {
            format!("{}-{t}", code(region))
        }
    };
    match class {
        "rds-snapshot" => here("RDS:ChargedBackupUsage"),
        "aurora-backup" => here("Aurora:BackupUsage"),
        "elasticache-snapshot" => here("ElastiCache:BackupUsage"),
        "backup-warm" => here("WarmStorage-ByteHrs-EFS"),
        "backup-cold" => here("ColdStorage-ByteHrs-EFS"),
        "STANDARD" | "INTELLIGENT_TIERING" => here("TimedStorage-ByteHrs"),
        "STANDARD_IA" => here("TimedStorage-SIA-ByteHrs"),
        "ONEZONE_IA" => here("TimedStorage-ZIA-ByteHrs"),
        "GLACIER_IR" => here("TimedStorage-GIR-ByteHrs"),
        "GLACIER" => here("TimedStorage-GlacierByteHrs"),
        "DEEP_ARCHIVE" => here("TimedStorage-GDA-ByteHrs"),
        "transfer" => {
            let to = if region == DR { PRIMARY } else { DR };
            format!("{}-{}-AWS-Out-Bytes", code(region), code(to))
        }
        other => here(other),
    }
}

/// What Cost Explorer would bill for a model day: one group per component, region and class,
/// its cost times `factor` (1.0: the model is exact; AWS's own figure differs by what the model
/// estimates), tagged with the component.
pub fn ce_groups_like(day: &Day, factor: f64) -> Vec<CeGroup> {
    let mut by: BTreeMap<(String, String, String), (f64, f64)> = BTreeMap::new();
    for l in &day.lines {
        let e = by
            .entry((
                l.key.component.clone(),
                l.key.region.clone(),
                l.key.class.name().to_string(),
            ))
            .or_default();
        e.0 += l.usd_day;
        e.1 += l.gb;
    }
    by.into_iter()
        .filter(|(_, (usd, _))| *usd > 0.0)
        .map(|((component, region, class), (usd, gb))| {
            CeGroup::new(
                &usage_type(&class, &region),
                Some(&component),
                usd * factor,
                gb * factor,
            )
        })
        .collect()
}

/// The policy's `cost:` section as the tests and the demo set it.
#[derive(Debug, Clone)]
pub struct CostPolicy {
    /// `cost_explorer.enabled`.
    pub cost_explorer: bool,
    /// `cost_explorer.backfill_days`, when not the default.
    pub backfill_days: Option<u32>,
    /// Name the seeded S3 Inventory reports of both backup buckets (`inventories`).
    pub inventories: bool,
    /// `backup_vaults`.
    pub backup_vaults: Vec<String>,
    /// The `anomalies:` block's body, indented four spaces (none: the seed's defaults).
    pub anomalies: Option<String>,
    /// More lines of the section, indented two spaces (`  list_up_to: 10\n`).
    pub extra: String,
}

impl Default for CostPolicy {
    fn default() -> Self {
        CostPolicy {
            cost_explorer: false,
            backfill_days: None,
            inventories: true,
            backup_vaults: Vec::new(),
            anomalies: None,
            extra: String::new(),
        }
    }
}

impl CostPolicy {
    /// The `cost:` section's YAML for a world whose backup buckets are `backup` and `dr_backup`.
    pub fn yaml(&self, backup: &str, dr_backup: &str) -> String {
        let mut y = String::from("\ncost:\n");
        y.push_str(&format!(
            "  cost_explorer: {{enabled: {}, tag_key: Component{}}}\n",
            self.cost_explorer,
            self.backfill_days
                .map(|d| format!(", backfill_days: {d}"))
                .unwrap_or_default()
        ));
        if self.inventories {
            y.push_str("  inventories:\n");
            for (bucket, dest) in [(backup, INVENTORY_BUCKET), (dr_backup, DR_INVENTORY_BUCKET)] {
                y.push_str(&format!(
                    "    - {{bucket: {bucket}, destination_bucket: {dest}, destination_prefix: {INVENTORY_PREFIX}, config_id: {INVENTORY_CONFIG}}}\n"
                ));
            }
        }
        if !self.backup_vaults.is_empty() {
            y.push_str(&format!(
                "  backup_vaults: [{}]\n",
                self.backup_vaults.join(", ")
            ));
        }
        if let Some(a) = &self.anomalies {
            y.push_str("  anomalies:\n");
            y.push_str(a);
            if !a.ends_with('\n') {
                y.push('\n');
            }
        }
        y.push_str(&self.extra);
        y
    }
}

/// `policy` (the seeded policy's text, e.g. in `util::world().edit_policy`) with the `cost:`
/// section `cost` appended, for the backup buckets its `buckets:` section names.
pub fn with_cost(policy: &str, cost: &CostPolicy) -> String {
    assert!(
        !policy.lines().any(|l| l.starts_with("cost:")),
        "the policy already has a cost section"
    );
    let named = |field: &str| -> String {
        policy
            .lines()
            .skip_while(|l| !l.starts_with("buckets:"))
            .skip(1)
            .take_while(|l| l.starts_with(' ') || l.is_empty())
            .find_map(|l| l.trim().strip_prefix(field).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("the policy's buckets section names no {field}"))
    };
    let yaml = cost.yaml(&named("backup:"), &named("dr_backup:"));
    format!("{}\n{yaml}", policy.trim_end())
}

/// Rewrites the policy file of `world` with the `cost:` section `cost` (read by an App built
/// afterwards: [`crate::env_for`] names this file).
pub fn write_cost_policy(world: &World, cost: &CostPolicy) {
    let text = std::fs::read_to_string(&world.policy_path).expect("read the policy");
    std::fs::write(&world.policy_path, with_cost(&text, cost)).expect("write the policy");
}

/// The day cost-anomaly would record for `day` from the account as it is now, built the way
/// its run builds it (its own inventory read and model): the template for [`steady_history`].
pub async fn model_day(app: &cost_anomaly::App, day: NaiveDate, now: DateTime<Utc>) -> Day {
    let read = cost_anomaly::inventory::read(&app.clients, &app.policy, day, now).await;
    let lines = cost_anomaly::plan::model::lines(&read.usage, &app.policy.prices, day);
    serde_json::from_value(json!({
        "schema": cost_anomaly::plan::DAY_SCHEMA,
        "date": day,
        "source": "model",
        "lines": lines,
        "gaps": read.usage.gaps,
        "prices_taken": app.policy.prices.taken(),
        "written_by": "seeded-history",
    }))
    .expect("a day record")
}

/// Whether a line's bytes vary from day to day: S3 objects, transfer and Aurora's continuous
/// backup do; a snapshot or recovery point is the size it was taken at (history keeps it).
fn varies(item: Item) -> bool {
    !matches!(
        item,
        Item::AutomatedSnapshots
            | Item::LifeboatSnapshots
            | Item::UnmanagedSnapshots
            | Item::DrCopies
            | Item::ClusterSnapshots
            | Item::CacheSnapshots
            | Item::RecoveryPoints
    )
}

/// How past days vary around the template (the lines whose bytes vary from day to day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rhythm {
    /// Saturdays and Sundays cost this much of a weekday (fewer writes, smaller exports).
    pub weekend: f64,
    /// Day-to-day scatter, ± this share (deterministic per date).
    pub jitter: f64,
    /// Growth per day back from the template: a day `n` days earlier costs `(1 - growth)^n` of
    /// it (0: steady).
    pub growth: f64,
}

impl Default for Rhythm {
    fn default() -> Self {
        Rhythm {
            weekend: 0.96,
            jitter: 0.015,
            growth: 0.0,
        }
    }
}

impl Rhythm {
    /// The factor of `date`, `back` days before the template's day.
    pub fn factor(&self, date: NaiveDate, back: i64) -> f64 {
        let weekday = if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            self.weekend
        } else {
            1.0
        };
        // a fixed pseudo-random value in [-1, 1) per date
        let mut x = date.num_days_from_ce() as u64;
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        let unit = (x % 2_000_000) as f64 / 1_000_000.0 - 1.0;
        weekday * (1.0 + self.jitter * unit) * (1.0 - self.growth).powi(back as i32)
    }
}

/// `days` days before `template`'s day, each its lines scaled by `rhythm` (the same resources,
/// no gaps), as cost-anomaly stores days (written by `seeded-history`).
pub fn steady_history(template: &Day, days: i64, rhythm: Rhythm) -> Vec<(NaiveDate, Day)> {
    changed_history(template, template, template.date, days, rhythm)
}

/// History of an account that changed on `since`: the `days` days before `after`'s day, those
/// before `since` like `before` (the account as it was), those from `since` on like `after` (as
/// it is now), each scaled by `rhythm`, as cost-anomaly stores days.
pub fn changed_history(
    before: &Day,
    after: &Day,
    since: NaiveDate,
    days: i64,
    rhythm: Rhythm,
) -> Vec<(NaiveDate, Day)> {
    (1..=days)
        .map(|back| {
            let date = after.date - Duration::days(back);
            let f = rhythm.factor(date, back);
            let mut d = if date < since {
                before.clone()
            } else {
                after.clone()
            };
            d.date = date;
            d.written_by = "seeded-history".into();
            d.gaps.clear();
            for l in d.lines.iter_mut().filter(|l| varies(l.key.item)) {
                l.usd_day *= f;
                l.gb *= f;
                l.stored_gb *= f;
            }
            (date, d)
        })
        .collect()
}

/// Writes `days` into the history as cost-anomaly writes it (`cost/history/YYYY/MM/DD.json`,
/// created only where absent), in the report bucket `bucket`.
pub async fn seed_history(s3: &S3, bucket: &str, days: &[(NaiveDate, Day)]) {
    for (date, day) in days {
        assert_eq!(
            *date, day.date,
            "a history day is stored under its own date"
        );
        let mut j = Journal::new(&day_key(*date), day.clone());
        j.save(s3, bucket)
            .await
            .unwrap_or_else(|e| panic!("history {date}: {e}"));
    }
}

/// What [`seed_anomaly`] did.
#[derive(Debug, Clone)]
pub struct Anomaly {
    /// The manual snapshots of the orders database no retention governs, oldest first.
    pub unmanaged: Vec<String>,
    /// The day they were made on.
    pub since: NaiveDate,
    /// The backup bucket's objects as its new inventory report lists them.
    pub objects: Vec<SeededObject>,
}

/// The demo's anomaly on `day`: a burst of [`UNMANAGED_SNAPSHOTS`] manual snapshots of the
/// orders database made by a person [`BURST_DAYS_AGO`] days before `day` (not tagged as
/// Lifeboat's: no retention deletes them), and the backup bucket's lifecycle rule whose filter was edited to
/// `backup/` [`STOPPED_DAYS`] days ago: the exports that reached 30 days since then stayed in
/// STANDARD (the bucket and its inventory report say so, and `AWS/S3` StandardStorage grows).
/// Call it after [`seed_cost_with`] with `bucket_metrics: false` for the same `day` (or after
/// [`seed_cost`] of an earlier day): it puts the buckets' storage metrics of `day` itself, and
/// panics if they are already there (see [`CostSeed::bucket_metrics`]). Once per emulator.
pub async fn seed_anomaly(emu: &Emulator, world: &World, day: NaiveDate) -> Anomaly {
    let primary = emu.config(PRIMARY).await;
    let dr = emu.config(DR).await;
    let (s3p, s3d) = (s3(&primary), s3(&dr));
    let rds = aws_sdk_rds::Client::new(&primary);
    let since = day - Duration::days(BURST_DAYS_AGO);
    let now = Utc::now();
    let mut unmanaged = Vec::new();
    for n in 0..UNMANAGED_SNAPSHOTS {
        let taken =
            (at(since, 9, 0) + Duration::minutes(20 * n as i64)).min(now - Duration::minutes(5));
        let id = format!("{ORDERS_DB}-manual-{}-{:02}", since.format("%Y%m%d"), n + 1);
        emu.shift_clock(taken - Utc::now());
        rds.create_db_snapshot()
            .db_instance_identifier(ORDERS_DB)
            .db_snapshot_identifier(&id)
            .tags(
                aws_sdk_rds::types::Tag::builder()
                    .key("created-by")
                    .value("oncall")
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("manual snapshot {id}: {e}"));
        unmanaged.push(id);
    }
    emu.reset_clock();

    // The rule's filter no longer matches the backups; the exports that turned 30 since stayed
    // in STANDARD (each one's GLACIER_IR version is replaced by a STANDARD one of its age).
    put_lifecycle(
        &s3p,
        &world.backup_bucket,
        LIFECYCLE_RULE,
        BROKEN_PREFIX,
        false,
    )
    .await;
    seed_exports(emu, &s3p, &s3d, world, day, Some(STOPPED_DAYS)).await;
    let objects = write_inventory(&s3p, &world.backup_bucket, INVENTORY_BUCKET, now).await;
    let dr_objects = current_objects(&s3d, &world.dr_backup_bucket).await;
    if has_bucket_metrics(&primary, &world.backup_bucket, day).await {
        panic!(
            "seed_anomaly: the buckets' AWS/S3 metrics of {day} are already in the emulator \
             (moto averages a second datapoint with the first): seed with seed_cost_with(.., \
             CostSeed {{ bucket_metrics: false, .. }}) before seed_anomaly"
        );
    }
    // StandardStorage as it grew while the rule matched nothing: the days before `day` too
    // (a day already reported, e.g. by an earlier seed_cost, keeps its datapoint).
    for back in (0..STOPPED_DAYS).rev() {
        let d = day - Duration::days(back);
        if back > 0 && has_bucket_metrics(&primary, &world.backup_bucket, d).await {
            continue;
        }
        let as_of: Vec<SeededObject> = objects
            .iter()
            .filter(|o| o.modified.date_naive() <= d)
            .map(|o| SeededObject {
                class: class_on(o, d),
                ..o.clone()
            })
            .collect();
        put_bucket_metrics(&primary, &world.backup_bucket, d, &as_of).await;
    }
    if !has_bucket_metrics(&dr, &world.dr_backup_bucket, day).await {
        put_bucket_metrics(&dr, &world.dr_backup_bucket, day, &dr_objects).await;
    }
    Anomaly {
        unmanaged,
        since,
        objects,
    }
}

/// The class an object listed on `day` had on an earlier day `d` (GLACIER_IR objects were
/// STANDARD before they turned 30; one kept in STANDARD by the broken rule was STANDARD then).
fn class_on(o: &SeededObject, d: NaiveDate) -> String {
    if o.class == "GLACIER_IR" && (d - o.modified.date_naive()).num_days() <= TRANSITION_DAYS {
        "STANDARD".into()
    } else {
        o.class.clone()
    }
}

/// Production sizes: what each seeded key holds on the real account (the inventory report's
/// `Size`); `None` for keys the cost fixtures did not seed (their real size is used).
pub fn production_size(key: &str) -> Option<u64> {
    if !key.starts_with("backups/") {
        return None;
    }
    let gib = |g: f64| (g * GIB) as u64;
    if key.ends_with(".json") {
        return Some(2_150);
    }
    if key.contains("pre-migration") {
        return Some(gib(5.0));
    }
    for (table, g) in TABLES {
        if key.contains(&format!("/{table}/")) {
            return Some(gib(g));
        }
    }
    None
}

/// An export's parquet part per table, and its size in GiB (6 GiB an export).
pub const TABLES: [(&str, f64); 3] = [
    ("public.orders", 2.5),
    ("public.order_items", 2.75),
    ("public.customers", 0.75),
];

/// The keys of one orders-db export (the RDS export task's layout under Lifeboat's prefix).
fn export_keys(snapshot: &str) -> Vec<String> {
    let prefix = format!(
        "{}export/",
        backup_prefix(ResourceKind::RdsInstance, ORDERS_DB, snapshot)
    );
    let mut keys = vec![format!("{prefix}export_info_{snapshot}.json")];
    for (table, _) in TABLES {
        keys.push(format!(
            "{prefix}{snapshot}/ecommerce/{table}/part-00000-{}.gz.parquet",
            &snapshot[snapshot.len() - 13..]
        ));
    }
    keys
}

/// Puts the orders-db exports into both backup buckets at their ages (the emulator's clock
/// shifted while each is written): one a day for [`EXPORT_DAYS`] days before `day` (day `i`
/// written at 01:00 of `day - i`), in STANDARD until the lifecycle rule moved them to
/// GLACIER_IR (S3 transitions an object at the first midnight UTC after it turned
/// [`TRANSITION_DAYS`] days old), the [`REEXPORTED_DAYS`] written twice, and a person's
/// pre-migration export archived in DEEP_ARCHIVE. The DR bucket gets the replicas (same keys,
/// bodies and classes; versions written when replication would have).
///
/// `stopped`: the backup bucket's rule stopped matching that many days ago: the exports that
/// would have moved since stay in STANDARD there (only those are written again, their old
/// version removed; the DR bucket's rule still matches, its replicas are left as they are).
async fn seed_exports(
    emu: &Emulator,
    s3p: &S3,
    s3d: &S3,
    world: &World,
    day: NaiveDate,
    stopped: Option<i64>,
) {
    let real_now = Utc::now();
    for i in (0..EXPORT_DAYS).rev() {
        let d = day - Duration::days(i);
        let written = at(d, 1, 0);
        // transitioned at the first midnight after it turned 30 days old
        let moves = at(
            written.date_naive() + Duration::days(TRANSITION_DAYS + 1),
            0,
            0,
        );
        let moved = moves <= real_now;
        let class = match stopped {
            Some(s) if moved && moves > real_now - Duration::days(s) => "STANDARD",
            Some(_) => continue,
            None if moved => "GLACIER_IR",
            None => "STANDARD",
        };
        let snapshot = snapshot_id(ORDERS_DB, at(d, 0, 0));
        let keys = export_keys(&snapshot);
        if stopped.is_some() {
            for key in &keys {
                delete_versions(s3p, &world.backup_bucket, key).await;
            }
        }
        let times: Vec<DateTime<Utc>> = if stopped.is_none() && REEXPORTED_DAYS.contains(&i) {
            vec![written, written + Duration::hours(2)]
        } else {
            vec![written]
        };
        for t in times {
            emu.shift_clock(t - Utc::now());
            for key in &keys {
                put(s3p, &world.backup_bucket, key, class).await;
            }
            if stopped.is_some() {
                // the DR bucket's own rule still matches: its replicas moved
                continue;
            }
            emu.shift_clock(t + Duration::minutes(3) - Utc::now());
            for key in &keys {
                put(s3d, &world.dr_backup_bucket, key, class).await;
            }
        }
    }
    if stopped.is_none() {
        let archived = at(day - Duration::days(EXPORT_DAYS), 14, 0);
        let keys: Vec<String> = TABLES
            .iter()
            .map(|(table, _)| {
                format!(
                    "{}export/ecommerce/{table}/part-00000-pre-migration.gz.parquet",
                    backup_prefix(
                        ResourceKind::RdsInstance,
                        ORDERS_DB,
                        "ecommerce-prod-db-pre-migration-2026"
                    )
                )
            })
            .collect();
        emu.shift_clock(archived - Utc::now());
        for key in &keys {
            put(s3p, &world.backup_bucket, key, "DEEP_ARCHIVE").await;
        }
        emu.shift_clock(archived + Duration::minutes(3) - Utc::now());
        for key in &keys {
            put(s3d, &world.dr_backup_bucket, key, "DEEP_ARCHIVE").await;
        }
    }
    emu.reset_clock();
}

async fn put(s3: &S3, bucket: &str, key: &str, class: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .storage_class(StorageClass::from(class))
        .body(ByteStream::from(format!("{key}\n").into_bytes()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e}"));
}

/// Removes every version of `key` (S3 DeleteObject with a VersionId deletes it for good).
async fn delete_versions(s3: &S3, bucket: &str, key: &str) {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("list versions of s3://{bucket}/{key}: {e}"));
    for v in out.versions() {
        if v.key() != Some(key) {
            continue;
        }
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(v.version_id().map(str::to_string))
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete a version of s3://{bucket}/{key}: {e}"));
    }
}

async fn create_bucket(s3: &S3, bucket: &str, region: &str) {
    let mut create = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
}

/// A lifecycle rule moving `prefix` to GLACIER_IR after [`TRANSITION_DAYS`] days and aborting
/// incomplete uploads after 7; `expire_noncurrent`: noncurrent versions expire after 30 days.
async fn put_lifecycle(s3: &S3, bucket: &str, id: &str, prefix: &str, expire_noncurrent: bool) {
    let mut rule = LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
        .transitions(
            Transition::builder()
                .days(TRANSITION_DAYS as i32)
                .storage_class(TransitionStorageClass::GlacierIr)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(7)
                .build(),
        );
    if expire_noncurrent {
        rule = rule.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(30)
                .build(),
        );
    }
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule.build().expect("lifecycle rule"))
                .build()
                .expect("lifecycle configuration"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("lifecycle of {bucket}: {e}"));
}

/// Every version of `bucket` (and its delete markers: skipped), with production sizes.
async fn versions(s3: &S3, bucket: &str) -> Vec<(SeededObject, String)> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("list versions of {bucket}: {e}"));
        for v in page.versions() {
            let key = v.key().unwrap_or_default().to_string();
            let real = v.size().unwrap_or(0).max(0) as u64;
            out.push((
                SeededObject {
                    size: production_size(&key).unwrap_or(real),
                    class: v
                        .storage_class()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "STANDARD".into()),
                    modified: v
                        .last_modified()
                        .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single())
                        .unwrap_or_default(),
                    latest: v.is_latest().unwrap_or(true),
                    key,
                },
                v.version_id().unwrap_or("null").to_string(),
            ));
        }
        if page.is_truncated() == Some(true) {
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        } else {
            break;
        }
    }
    out
}

async fn current_objects(s3: &S3, bucket: &str) -> Vec<SeededObject> {
    versions(s3, bucket)
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect()
}

/// Writes `source`'s S3 Inventory report (CSV, every version) into `dest` as AWS delivers it:
/// `<prefix>/<source>/<config>/data/<uuid>.csv.gz`, then the dated folder's `manifest.json`
/// (file keys, sizes and MD5s; `creationTimestamp` in epoch milliseconds, two hours before
/// `now`) and `manifest.checksum`. The rows are the bucket's versions with production sizes.
pub async fn write_inventory(
    s3: &S3,
    source: &str,
    dest: &str,
    now: DateTime<Utc>,
) -> Vec<SeededObject> {
    let all = versions(s3, source).await;
    let created = now - Duration::hours(2);
    let base = format!("{INVENTORY_PREFIX}/{source}/{INVENTORY_CONFIG}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for (o, version) in &all {
        let line = format!(
            "\"{source}\",\"{}\",\"{version}\",\"{}\",\"false\",\"{}\",\"{}\",\"{}\"\n",
            url_encode(&o.key),
            o.latest,
            o.size,
            o.modified.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            o.class
        );
        gz.write_all(line.as_bytes()).expect("gzip");
    }
    let data = gz.finish().expect("gzip");
    let data_key = format!(
        "{base}/data/{:08x}-0000-4000-8000-{:012x}.csv.gz",
        created.timestamp() as u32,
        all.len()
    );
    let put = s3
        .put_object()
        .bucket(dest)
        .key(&data_key)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{dest}/{data_key}: {e}"));
    // a single-part upload's ETag is its MD5
    let md5 = put
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let manifest = json!({
        "sourceBucket": source,
        "destinationBucket": format!("arn:aws:s3:::{dest}"),
        "version": "2016-11-30",
        "creationTimestamp": created.timestamp_millis().to_string(),
        "fileFormat": "CSV",
        "fileSchema": INVENTORY_SCHEMA,
        "files": [{"key": data_key, "size": data.len(), "MD5checksum": md5}],
    })
    .to_string();
    let folder = format!("{base}/{}", created.format("%Y-%m-%dT%H-%MZ"));
    let manifest_put = s3
        .put_object()
        .bucket(dest)
        .key(format!("{folder}/manifest.json"))
        .body(ByteStream::from(manifest.into_bytes()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put the manifest in {dest}: {e}"));
    let checksum = manifest_put
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    s3.put_object()
        .bucket(dest)
        .key(format!("{folder}/manifest.checksum"))
        .body(ByteStream::from(format!("{checksum}\n").into_bytes()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put the manifest checksum in {dest}: {e}"));
    all.into_iter().map(|(o, _)| o).collect()
}

/// An S3 Inventory key: URL-encoded (form encoding: a space is `+`).
fn url_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The CloudWatch `StorageType`s AWS reports an object's bytes under: its class's storage, and
/// the per-object overheads of the archive classes (and GLACIER_IR's 128 KiB minimum).
fn storage_types(o: &SeededObject) -> Vec<(&'static str, f64)> {
    let size = o.size as f64;
    match o.class.as_str() {
        "GLACIER_IR" => {
            let mut v = vec![("GlacierInstantRetrievalStorage", size)];
            if o.size < 128 * 1024 {
                v.push(("GlacierIRSizeOverhead", (128 * 1024 - o.size) as f64));
            }
            v
        }
        "GLACIER" => vec![
            ("GlacierStorage", size),
            ("GlacierObjectOverhead", 32.0 * 1024.0),
            ("GlacierS3ObjectOverhead", 8.0 * 1024.0),
        ],
        "DEEP_ARCHIVE" => vec![
            ("DeepArchiveStorage", size),
            ("DeepArchiveObjectOverhead", 32.0 * 1024.0),
            ("DeepArchiveS3ObjectOverhead", 8.0 * 1024.0),
        ],
        "STANDARD_IA" => vec![("StandardIAStorage", size)],
        _ => vec![("StandardStorage", size)],
    }
}

/// The bucket's `AWS/S3` daily storage metrics for `day` (00:00 UTC, as S3 stamps them):
/// `BucketSizeBytes` per StorageType and `NumberOfObjects`, from `objects` (all versions),
/// with the dimensions in the order cost-anomaly queries them: BucketName, StorageType.
pub async fn put_bucket_metrics(
    config: &aws_config::SdkConfig,
    bucket: &str,
    day: NaiveDate,
    objects: &[SeededObject],
) {
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let mut by: BTreeMap<&str, f64> = BTreeMap::new();
    for o in objects {
        for (t, bytes) in storage_types(o) {
            *by.entry(t).or_default() += bytes;
        }
    }
    let t = at(day, 0, 0);
    for (storage_type, bytes) in by {
        put_metric(
            &cw,
            "AWS/S3",
            "BucketSizeBytes",
            &[("BucketName", bucket), ("StorageType", storage_type)],
            &[(t, bytes)],
        )
        .await;
    }
    put_metric(
        &cw,
        "AWS/S3",
        "NumberOfObjects",
        &[("BucketName", bucket), ("StorageType", "AllStorageTypes")],
        &[(t, objects.len() as f64)],
    )
    .await;
}

/// Whether `AWS/S3` `BucketSizeBytes` (StandardStorage) of `bucket` has a datapoint on `day`.
async fn has_bucket_metrics(config: &aws_config::SdkConfig, bucket: &str, day: NaiveDate) -> bool {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let out = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("s")
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/S3")
                                .metric_name("BucketSizeBytes")
                                .dimensions(
                                    Dimension::builder()
                                        .name("BucketName")
                                        .value(bucket)
                                        .build(),
                                )
                                .dimensions(
                                    Dimension::builder()
                                        .name("StorageType")
                                        .value("StandardStorage")
                                        .build(),
                                )
                                .build(),
                        )
                        .period(86_400)
                        .stat("Average")
                        .build(),
                )
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_secs(
            at(day, 0, 0).timestamp(),
        ))
        .end_time(aws_smithy_types::DateTime::from_secs(
            at(day + Duration::days(1), 0, 0).timestamp(),
        ))
        .send()
        .await
        .expect("GetMetricData");
    out.metric_data_results()
        .iter()
        .any(|r| !r.values().is_empty())
}

/// POSTs JSON to the emulator (its moto-api and the stand-ins' own endpoints): (status, body).
async fn post_json(endpoint: &str, path: &str, body: &Value) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let req = format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut s = std::net::TcpStream::connect(&addr).expect("emulator");
        s.write_all(req.as_bytes()).expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("answer");
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let answer = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, answer)
    })
    .await
    .expect("post")
}
