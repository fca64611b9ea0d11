//! cost-anomaly's sections: `prices` (USD list prices per storage class, the date they were
//! taken, per-region overrides) and `cost` (Cost Explorer, anomaly rules, the baseline, savings,
//! S3 Inventory reports, the buckets and vaults to cost).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::validate::{check_bucket, check_region, validate_name};
use super::Span;
use crate::error::{Error, Result};

/// What AWS bills backup storage as: a price key. The S3 names are AWS's storage classes (and
/// Intelligent-Tiering's access tiers as CloudWatch's `StorageType` names them); the rest are
/// the services' backup storage, and `transfer` is data moved between regions (per GB, not per
/// GB-month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    RdsSnapshot,
    AuroraBackup,
    ElasticacheSnapshot,
    BackupWarm,
    BackupCold,
    Standard,
    StandardIa,
    OnezoneIa,
    ReducedRedundancy,
    GlacierIr,
    Glacier,
    DeepArchive,
    ItFrequent,
    ItInfrequent,
    ItArchiveInstant,
    ItArchive,
    ItDeepArchive,
    Transfer,
}

/// Every class with its policy name and default USD price (per GB-month; per GB for
/// `transfer`): AWS's public list prices for us-east-1 as of [`LIST_PRICES_TAKEN`].
pub const CLASSES: [(Class, &str, f64); 18] = [
    // Amazon RDS backup storage beyond the free allocation (100% of provisioned storage).
    (Class::RdsSnapshot, "rds-snapshot", 0.095),
    // Aurora backup storage beyond the free allocation (billed as TotalBackupStorageBilled).
    (Class::AuroraBackup, "aurora-backup", 0.021),
    // ElastiCache backup storage beyond one free snapshot per cluster.
    (Class::ElasticacheSnapshot, "elasticache-snapshot", 0.085),
    // AWS Backup warm and cold storage (EFS and other resources AWS Backup stores itself; RDS
    // and Aurora recovery points are billed as their service's backup storage).
    (Class::BackupWarm, "backup-warm", 0.05),
    (Class::BackupCold, "backup-cold", 0.01),
    (Class::Standard, "STANDARD", 0.023),
    (Class::StandardIa, "STANDARD_IA", 0.0125),
    (Class::OnezoneIa, "ONEZONE_IA", 0.01),
    (Class::ReducedRedundancy, "REDUCED_REDUNDANCY", 0.024),
    (Class::GlacierIr, "GLACIER_IR", 0.004),
    (Class::Glacier, "GLACIER", 0.0036),
    (Class::DeepArchive, "DEEP_ARCHIVE", 0.00099),
    (Class::ItFrequent, "INTELLIGENT_TIERING", 0.023),
    (Class::ItInfrequent, "INTELLIGENT_TIERING_IA", 0.0125),
    (Class::ItArchiveInstant, "INTELLIGENT_TIERING_AIA", 0.004),
    (Class::ItArchive, "INTELLIGENT_TIERING_AA", 0.0036),
    (Class::ItDeepArchive, "INTELLIGENT_TIERING_DAA", 0.00099),
    // Inter-region data transfer out (us-east-1 to another region), per GB.
    (Class::Transfer, "transfer", 0.02),
];

/// When the default prices were read off AWS's public pricing pages.
pub const LIST_PRICES_TAKEN: &str = "2026-11-01";

/// Intelligent-Tiering's monitoring and automation fee, USD per 1,000 objects a month.
pub const IT_MONITORING_PER_1000: f64 = 0.0025;

impl Class {
    pub fn name(self) -> &'static str {
        CLASSES
            .iter()
            .find(|(c, _, _)| *c == self)
            .map(|(_, n, _)| *n)
            .unwrap_or("?")
    }

    pub fn parse(s: &str) -> Option<Class> {
        CLASSES.iter().find(|(_, n, _)| *n == s).map(|(c, _, _)| *c)
    }

    /// The class of an object as S3 listings and inventory reports name it
    /// (`INTELLIGENT_TIERING` is counted at its frequent tier: a listing does not say the tier).
    pub fn of_s3(s: &str) -> Option<Class> {
        match s {
            "" | "STANDARD" => Some(Class::Standard),
            "GLACIER_IR" => Some(Class::GlacierIr),
            other => Class::parse(other).filter(|c| c.is_s3()),
        }
    }

    pub fn is_s3(self) -> bool {
        !matches!(
            self,
            Class::RdsSnapshot
                | Class::AuroraBackup
                | Class::ElasticacheSnapshot
                | Class::BackupWarm
                | Class::BackupCold
                | Class::Transfer
        )
    }

    fn default_price(self) -> f64 {
        CLASSES
            .iter()
            .find(|(c, _, _)| *c == self)
            .map(|(_, _, p)| *p)
            .unwrap_or(0.0)
    }

    fn known() -> String {
        CLASSES
            .iter()
            .map(|(_, n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl serde::Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Class, D::Error> {
        let s = String::deserialize(d)?;
        Class::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("a storage class ({}), got {s:?}", Class::known()))
        })
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// USD prices: the defaults above, overridden per class and per region.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    /// The date the prices below were taken (defaults: [`LIST_PRICES_TAKEN`]); said in the
    /// report beside every figure.
    pub taken: Option<String>,
    /// Class name → USD per GB-month (`transfer`: per GB), for every region.
    pub classes: BTreeMap<String, f64>,
    /// Region → class name → USD: overrides for one region.
    pub regions: BTreeMap<String, BTreeMap<String, f64>>,
    /// Intelligent-Tiering's monitoring fee per 1,000 objects a month.
    pub it_monitoring_per_1000: Option<f64>,
}

impl Prices {
    /// The price of `class` in `region`: the region's override, the policy's, AWS's list price.
    pub fn of(&self, class: Class, region: &str) -> f64 {
        let name = class.name();
        self.regions
            .get(region)
            .and_then(|r| r.get(name))
            .or_else(|| self.classes.get(name))
            .copied()
            .unwrap_or_else(|| class.default_price())
    }

    pub fn taken(&self) -> &str {
        self.taken.as_deref().unwrap_or(LIST_PRICES_TAKEN)
    }

    /// Whether any price differs from AWS's list price (the report says so).
    pub fn overridden(&self) -> bool {
        !self.classes.is_empty() || !self.regions.is_empty()
    }

    pub fn it_monitoring_per_1000(&self) -> f64 {
        self.it_monitoring_per_1000
            .unwrap_or(IT_MONITORING_PER_1000)
    }
}

/// The `cost` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cost {
    pub cost_explorer: CostExplorer,
    pub anomalies: Anomalies,
    pub savings: Savings,
    /// S3 Inventory reports to break buckets down by component prefix.
    pub inventories: Vec<InventoryReport>,
    /// Buckets with at most this many objects (CloudWatch `NumberOfObjects`) are listed to
    /// break them down; larger ones need an inventory report.
    pub list_up_to: u64,
    /// Buckets to cost besides `buckets.backup` and `buckets.dr_backup` (e.g. replicas of
    /// artifact buckets).
    pub buckets: Vec<CostBucket>,
    /// AWS Backup vaults whose recovery points are costed (none: AWS Backup is not costed).
    pub backup_vaults: Vec<String>,
    /// Incomplete multipart uploads whose parts are sized (ListParts) per bucket.
    pub size_uploads_up_to: usize,
    /// `BackupCostDaily` per component as a CloudWatch metric ($0.30 a metric a month). Off:
    /// the total and each storage class are metrics, and each component's figure is a property
    /// of its own EMF log line (Logs Insights and the dashboard's table read it).
    pub per_component_metrics: bool,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            cost_explorer: CostExplorer::default(),
            anomalies: Anomalies::default(),
            savings: Savings::default(),
            inventories: Vec::new(),
            list_up_to: 100_000,
            buckets: Vec::new(),
            backup_vaults: Vec::new(),
            size_uploads_up_to: 50,
            per_component_metrics: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostBucket {
    pub name: String,
    /// Its region (default: the primary).
    #[serde(default)]
    pub region: Option<String>,
    /// The component its objects are counted under (default: the bucket's own name).
    #[serde(default)]
    pub component: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostExplorer {
    /// One GetCostAndUsage a day ($0.01 a request), and a backfill when history is short.
    pub enabled: bool,
    /// The cost allocation tag whose values are component names (seed 003: `Component`).
    pub tag_key: String,
    /// Days of history to backfill from Cost Explorer when fewer are stored (one request).
    pub backfill_days: u32,
}

impl Default for CostExplorer {
    fn default() -> Self {
        CostExplorer {
            enabled: false,
            tag_key: "Component".into(),
            backfill_days: 28,
        }
    }
}

/// The seed's cost alarms as rules, and the robust baseline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Anomalies {
    /// Absolute limits: the whole backup cost (or one component's) per day or per month.
    pub limits: Vec<Limit>,
    /// Growth of the sum over `period` against the `period` before (seed: 20% week over week).
    pub growth: Vec<Growth>,
    /// A day above `percent` of the average of the `period` before it (seed: 120% of 7 days).
    pub above_average: Vec<AboveAverage>,
    pub baseline: Baseline,
}

impl Default for Anomalies {
    fn default() -> Self {
        Anomalies {
            limits: vec![
                Limit {
                    usd: 25.0,
                    per: Per::Day,
                    component: None,
                },
                Limit {
                    usd: 600.0,
                    per: Per::Month,
                    component: None,
                },
            ],
            growth: vec![Growth {
                percent: 20.0,
                period: Span::days(7),
                component: None,
            }],
            above_average: vec![AboveAverage {
                percent: 120.0,
                period: Span::days(7),
                component: None,
            }],
            baseline: Baseline::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Day,
    Month,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub usd: f64,
    pub per: Per,
    /// One component's cost (default: the whole backup cost).
    #[serde(default)]
    pub component: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    pub percent: f64,
    pub period: Span,
    #[serde(default)]
    pub component: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AboveAverage {
    pub percent: f64,
    pub period: Span,
    #[serde(default)]
    pub component: Option<String>,
}

/// A day against the median and MAD of the days before it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Baseline {
    /// Days of history the median and MAD are taken over.
    pub days: u32,
    /// Fewer days than this: the baseline says it has too little history.
    pub min_days: u32,
    /// How many (scaled) MADs above the median is an anomaly.
    pub threshold: f64,
    /// Compare a day with the same weekdays when there are at least 4 of them.
    pub weekday_aware: bool,
    /// Changes smaller than this (USD a day) are never anomalies, however steady the history.
    pub min_change_usd: f64,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            days: 28,
            min_days: 14,
            threshold: 3.5,
            weekday_aware: true,
            min_change_usd: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Savings {
    /// Backup objects kept in STANDARD longer than this are lifecycle candidates (seed 003:
    /// Standard for 0–30 days).
    pub standard_after_days: u32,
    /// The class a lifecycle rule would move them to.
    pub transition_to: String,
    /// Recommendations worth less than this (USD a month) are not listed.
    pub min_monthly_usd: f64,
}

impl Default for Savings {
    fn default() -> Self {
        Savings {
            standard_after_days: 30,
            transition_to: "GLACIER_IR".into(),
            min_monthly_usd: 0.5,
        }
    }
}

impl Savings {
    pub fn target(&self) -> Class {
        Class::parse(&self.transition_to).unwrap_or(Class::GlacierIr)
    }
}

/// An S3 Inventory configuration's reports (CSV), for one source bucket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryReport {
    /// The bucket the report lists.
    pub bucket: String,
    /// Where AWS writes the reports.
    pub destination_bucket: String,
    #[serde(default)]
    pub destination_prefix: Option<String>,
    /// The inventory configuration's id.
    pub config_id: String,
    /// A newest report older than this is refused as stale (AWS writes daily reports).
    #[serde(default = "two_days")]
    pub max_age: Span,
}

fn two_days() -> Span {
    Span::days(2)
}

fn check_usd(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an amount in USD of 0 or more, got {v}"),
        ))
    }
}

fn check_percent(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("a percentage above 0, got {v}"),
        ))
    }
}

fn check_period(field: &str, p: Span) -> Result<()> {
    let days = p.0.num_days();
    if p.0.num_seconds() % 86_400 == 0 && (1..=90).contains(&days) {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("whole days from 1d to 90d (history is daily), got {p}"),
        ))
    }
}

fn check_component(field: &str, c: &Option<String>, names: &[&str]) -> Result<()> {
    match c {
        Some(name) if !names.contains(&name.as_str()) => Err(Error::policy(
            field,
            format!(
                "the name of a component in components[] ({}), got {:?}",
                names.join(", "),
                crate::trigger::excerpt_str(name)
            ),
        )),
        _ => Ok(()),
    }
}

fn check_class(field: &str, name: &str) -> Result<Class> {
    Class::parse(name).ok_or_else(|| {
        Error::policy(
            field,
            format!(
                "a storage class ({}), got {:?}",
                Class::known(),
                crate::trigger::excerpt_str(name)
            ),
        )
    })
}

/// What serde cannot check in `prices`.
pub(super) fn validate_prices(p: &Prices) -> Result<()> {
    if let Some(t) = &p.taken {
        if chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_err() {
            return Err(Error::policy(
                "prices.taken",
                format!(
                    "a date like 2026-11-01, got {:?}",
                    crate::trigger::excerpt_str(t)
                ),
            ));
        }
    }
    for (name, v) in &p.classes {
        check_class(&format!("prices.classes.{name}"), name)?;
        check_usd(&format!("prices.classes.{name}"), *v)?;
    }
    for (region, classes) in &p.regions {
        check_region(&format!("prices.regions.{region}"), region)?;
        for (name, v) in classes {
            let at = format!("prices.regions.{region}.{name}");
            check_class(&at, name)?;
            check_usd(&at, *v)?;
        }
    }
    if let Some(v) = p.it_monitoring_per_1000 {
        check_usd("prices.it_monitoring_per_1000", v)?;
    }
    Ok(())
}

/// What serde cannot check in `cost`.
pub(super) fn validate_cost(c: &Cost, components: &[&str]) -> Result<()> {
    let ce = &c.cost_explorer;
    if ce.tag_key.is_empty() || ce.tag_key.len() > 128 {
        return Err(Error::policy(
            "cost.cost_explorer.tag_key",
            "a cost allocation tag key of 1 to 128 characters",
        ));
    }
    if !(1..=365).contains(&ce.backfill_days) {
        return Err(Error::policy(
            "cost.cost_explorer.backfill_days",
            format!("days from 1 to 365, got {}", ce.backfill_days),
        ));
    }
    let a = &c.anomalies;
    for (i, l) in a.limits.iter().enumerate() {
        let at = format!("cost.anomalies.limits[{i}]");
        check_usd(&format!("{at}.usd"), l.usd)?;
        check_component(&format!("{at}.component"), &l.component, components)?;
    }
    for (i, g) in a.growth.iter().enumerate() {
        let at = format!("cost.anomalies.growth[{i}]");
        check_percent(&format!("{at}.percent"), g.percent)?;
        check_period(&format!("{at}.period"), g.period)?;
        check_component(&format!("{at}.component"), &g.component, components)?;
    }
    for (i, g) in a.above_average.iter().enumerate() {
        let at = format!("cost.anomalies.above_average[{i}]");
        check_percent(&format!("{at}.percent"), g.percent)?;
        if g.percent <= 100.0 {
            return Err(Error::policy(
                format!("{at}.percent"),
                format!(
                    "a percentage of the average above 100 (seed: 120), got {}",
                    g.percent
                ),
            ));
        }
        check_period(&format!("{at}.period"), g.period)?;
        check_component(&format!("{at}.component"), &g.component, components)?;
    }
    let b = &a.baseline;
    if !(7..=365).contains(&b.days) {
        return Err(Error::policy(
            "cost.anomalies.baseline.days",
            format!("days from 7 to 365, got {}", b.days),
        ));
    }
    if b.min_days < 3 || b.min_days > b.days {
        return Err(Error::policy(
            "cost.anomalies.baseline.min_days",
            format!(
                "days from 3 to baseline.days ({}), got {}",
                b.days, b.min_days
            ),
        ));
    }
    if !(b.threshold.is_finite() && b.threshold > 0.0) {
        return Err(Error::policy(
            "cost.anomalies.baseline.threshold",
            format!("a number of MADs above 0, got {}", b.threshold),
        ));
    }
    check_usd("cost.anomalies.baseline.min_change_usd", b.min_change_usd)?;
    let s = &c.savings;
    if !(1..=3650).contains(&s.standard_after_days) {
        return Err(Error::policy(
            "cost.savings.standard_after_days",
            format!("days from 1 to 3650, got {}", s.standard_after_days),
        ));
    }
    let target = check_class("cost.savings.transition_to", &s.transition_to)?;
    if !target.is_s3()
        || matches!(target, Class::Standard)
        || target.name().contains('_') && target.name().starts_with("INTELLIGENT_TIERING_")
    {
        return Err(Error::policy(
            "cost.savings.transition_to",
            format!(
                "an S3 storage class a lifecycle rule can move objects to (STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE), got {:?}",
                s.transition_to
            ),
        ));
    }
    check_usd("cost.savings.min_monthly_usd", s.min_monthly_usd)?;
    for (i, r) in c.inventories.iter().enumerate() {
        let at = format!("cost.inventories[{i}]");
        check_bucket(&format!("{at}.bucket"), &r.bucket)?;
        check_bucket(&format!("{at}.destination_bucket"), &r.destination_bucket)?;
        if r.config_id.is_empty()
            || r.config_id.len() > 64
            || !r
                .config_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::policy(
                format!("{at}.config_id"),
                format!(
                    "an inventory configuration id (letters, digits, - _ .; up to 64), got {:?}",
                    crate::trigger::excerpt_str(&r.config_id)
                ),
            ));
        }
        if let Some(p) = &r.destination_prefix {
            if p.starts_with('/') || p.ends_with('/') || p.is_empty() {
                return Err(Error::policy(
                    format!("{at}.destination_prefix"),
                    "the prefix AWS writes reports under, without leading or trailing '/'",
                ));
            }
        }
        if r.max_age.0 < chrono::Duration::days(1) {
            return Err(Error::policy(
                format!("{at}.max_age"),
                format!(
                    "a duration of at least 1d (reports are daily), got {}",
                    r.max_age
                ),
            ));
        }
        if c.inventories[..i].iter().any(|o| o.bucket == r.bucket) {
            return Err(Error::policy(
                format!("{at}.bucket"),
                format!(
                    "one inventory report per bucket; {} is named twice",
                    r.bucket
                ),
            ));
        }
    }
    for (i, b) in c.buckets.iter().enumerate() {
        let at = format!("cost.buckets[{i}]");
        check_bucket(&format!("{at}.name"), &b.name)?;
        if let Some(r) = &b.region {
            check_region(&format!("{at}.region"), r)?;
        }
        if let Some(comp) = &b.component {
            validate_name(&format!("{at}.component"), comp)?;
        }
    }
    for (i, v) in c.backup_vaults.iter().enumerate() {
        if v.len() < 2
            || v.len() > 50
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::policy(
                format!("cost.backup_vaults[{i}]"),
                format!(
                    "a backup vault name (2 to 50 letters, digits, - and _), got {:?}",
                    crate::trigger::excerpt_str(v)
                ),
            ));
        }
    }
    if c.size_uploads_up_to > 1000 {
        return Err(Error::policy(
            "cost.size_uploads_up_to",
            format!(
                "at most 1000 uploads sized per bucket, got {}",
                c.size_uploads_up_to
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::err;
    use crate::policy::Policy;

    const BASE: &str = "version: 1\nbuckets: {backup: lifeboat-backups}\ncomponents: [{name: orders-db, kind: rds-instance, ids: [orders-db]}]\n";

    #[test]
    fn defaults_are_the_seed_rules_and_list_prices() {
        let p = Policy::parse(BASE).unwrap_or_else(|e| panic!("{e}"));
        let a = &p.cost.anomalies;
        assert_eq!(a.limits.len(), 2);
        assert_eq!(a.limits[0].usd, 25.0);
        assert_eq!(a.limits[1].usd, 600.0);
        assert_eq!(a.growth[0].percent, 20.0);
        assert_eq!(a.above_average[0].percent, 120.0);
        assert_eq!(p.prices.of(super::Class::Standard, "us-east-1"), 0.023);
        assert_eq!(p.prices.taken(), super::LIST_PRICES_TAKEN);
        let p = Policy::parse(&format!(
            "{BASE}prices: {{classes: {{STANDARD: 0.03}}, regions: {{us-west-2: {{STANDARD: 0.025}}}}}}\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.prices.of(super::Class::Standard, "us-east-1"), 0.03);
        assert_eq!(p.prices.of(super::Class::Standard, "us-west-2"), 0.025);
        assert_eq!(p.prices.of(super::Class::Glacier, "us-west-2"), 0.0036);
    }

    #[test]
    fn bad_cost_sections_are_named() {
        for (text, field) in [
            ("prices: {classes: {PLATINUM: 0.1}}", "prices.classes.PLATINUM"),
            ("prices: {classes: {STANDARD: -0.1}}", "prices.classes.STANDARD"),
            ("prices: {regions: {mars-1: {STANDARD: 0.1}}}", "prices.regions.mars-1"),
            ("prices: {taken: yesterday}", "prices.taken"),
            ("prices: {rds_snapshot_gb_month: 0.1}", "prices.rds_snapshot_gb_month"),
            ("cost: {anomalies: {growth: [{percent: 20}]}}", "cost.anomalies.growth[0]"),
            ("cost: {anomalies: {growth: [{percent: 20, period: 90m}]}}", "cost.anomalies.growth[0].period"),
            ("cost: {anomalies: {limits: [{usd: 25}]}}", "cost.anomalies.limits[0]"),
            ("cost: {anomalies: {limits: [{usd: -5, per: day}]}}", "cost.anomalies.limits[0].usd"),
            ("cost: {anomalies: {limits: [{usd: 5, per: week}]}}", "cost.anomalies.limits[0].per"),
            ("cost: {anomalies: {limits: [{usd: 5, per: day, component: nope}]}}", "cost.anomalies.limits[0].component"),
            ("cost: {anomalies: {above_average: [{percent: 90, period: 7d}]}}", "cost.anomalies.above_average[0].percent"),
            ("cost: {anomalies: {baseline: {min_days: 40}}}", "cost.anomalies.baseline.min_days"),
            ("cost: {savings: {transition_to: STANDARD}}", "cost.savings.transition_to"),
            ("cost: {savings: {transition_to: rds-snapshot}}", "cost.savings.transition_to"),
            ("cost: {inventories: [{bucket: lifeboat-backups, destination_bucket: x, config_id: all}]}", "cost.inventories[0].destination_bucket"),
            ("cost: {inventories: [{bucket: lifeboat-backups, destination_bucket: lifeboat-inv, config_id: 'a b'}]}", "cost.inventories[0].config_id"),
            ("cost: {backup_vaults: ['x']}", "cost.backup_vaults[0]"),
            ("cost: {colour: blue}", "cost.colour"),
        ] {
            let e = err(&format!("{BASE}{text}\n"));
            assert!(
                e.starts_with(&format!("invalid policy: {field}")),
                "{text}: {e}"
            );
        }
    }
}
