//! The model against Cost Explorer's actual cost (GetCostAndUsage, one day, grouped by usage
//! type and the component cost-allocation tag), by storage class and by component, with the
//! difference; and Cost Explorer's days as history for a backfill.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lifeboat_shared::policy::cost::Class;
use serde::Serialize;

use super::{usd, usd_signed, Basis, Day, Item, Key, Line, DAY_SCHEMA};

/// One group of a GetCostAndUsage result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Actual {
    pub date: NaiveDate,
    pub usage_type: String,
    /// The cost allocation tag's value; `None` for untagged usage.
    pub component: Option<String>,
    pub usd: f64,
    pub quantity: f64,
}

/// The backup storage class a usage type bills, when it is one (AWS's usage type names; in
/// us-east-1 S3's carry no region prefix).
pub fn class_of_usage(usage_type: &str) -> Option<Class> {
    let u = usage_type;
    let s3 = [
        ("TimedStorage-INT-FA-ByteHrs", Class::ItFrequent),
        ("TimedStorage-INT-IA-ByteHrs", Class::ItInfrequent),
        ("TimedStorage-INT-AIA-ByteHrs", Class::ItArchiveInstant),
        ("TimedStorage-INT-AA-ByteHrs", Class::ItArchive),
        ("TimedStorage-INT-DAA-ByteHrs", Class::ItDeepArchive),
        ("TimedStorage-SIA-ByteHrs", Class::StandardIa),
        ("TimedStorage-ZIA-ByteHrs", Class::OnezoneIa),
        ("TimedStorage-GIR-ByteHrs", Class::GlacierIr),
        ("TimedStorage-GlacierByteHrs", Class::Glacier),
        ("TimedStorage-GDA-ByteHrs", Class::DeepArchive),
        ("TimedStorage-RRS-ByteHrs", Class::ReducedRedundancy),
        ("TimedStorage-ByteHrs", Class::Standard),
    ];
    if let Some((_, c)) = s3.iter().find(|(name, _)| u.ends_with(name)) {
        return Some(*c);
    }
    if u.contains("Aurora:BackupUsage") {
        Some(Class::AuroraBackup)
    } else if u.contains("ChargedBackupUsage") {
        Some(Class::RdsSnapshot)
    } else if u.contains("ElastiCache:BackupUsage")
        || u.ends_with("-BackupUsage")
        || u == "BackupUsage"
    {
        Some(Class::ElasticacheSnapshot)
    } else if u.contains("WarmStorage-ByteHrs") {
        Some(Class::BackupWarm)
    } else if u.contains("ColdStorage-ByteHrs") {
        Some(Class::BackupCold)
    } else if u.ends_with("-AWS-Out-Bytes") {
        Some(Class::Transfer)
    } else {
        None
    }
}

/// AWS's region prefixes of usage types (those a backup is likely in), to a region name.
pub fn region_of_usage(usage_type: &str, default: &str) -> String {
    let prefix = usage_type.split('-').next().unwrap_or_default();
    let r = match prefix {
        "USE1" => "us-east-1",
        "USE2" => "us-east-2",
        "USW1" => "us-west-1",
        "USW2" => "us-west-2",
        "CAN1" => "ca-central-1",
        "EU" | "EUW1" => "eu-west-1",
        "EUW2" => "eu-west-2",
        "EUW3" => "eu-west-3",
        "EUC1" => "eu-central-1",
        "EUN1" => "eu-north-1",
        "EUS1" => "eu-south-1",
        "APN1" => "ap-northeast-1",
        "APN2" => "ap-northeast-2",
        "APN3" => "ap-northeast-3",
        "APS1" => "ap-southeast-1",
        "APS2" => "ap-southeast-2",
        "APS3" => "ap-south-1",
        "SAE1" => "sa-east-1",
        _ => default,
    };
    r.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub what: String,
    pub model: Option<f64>,
    pub actual: f64,
}

impl Row {
    pub fn sentence(&self) -> String {
        match self.model {
            Some(m) => format!(
                "{}: model {} against Cost Explorer {} ({})",
                self.what,
                usd(m),
                usd(self.actual),
                usd_signed(m - self.actual)
            ),
            None => format!(
                "{}: Cost Explorer {}; the model has no data",
                self.what,
                usd(self.actual)
            ),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reconciled {
    pub by_class: Vec<Row>,
    pub by_component: Vec<Row>,
    /// Cost Explorer's backup-related total, and what it billed that no class maps (shown,
    /// not compared).
    pub actual_total: f64,
    pub unmapped: BTreeMap<String, f64>,
}

/// The model's `day` against the actual cost of the same day. S3 storage in Cost Explorer is
/// the whole account's unless the buckets carry the tag: only tagged S3 usage is compared.
pub fn reconcile(day: &Day, actual: &[Actual]) -> Reconciled {
    let mut r = Reconciled::default();
    let mut model_class: BTreeMap<Class, f64> = BTreeMap::new();
    for l in &day.lines {
        *model_class.entry(l.key.class).or_default() += l.usd_day;
    }
    let mut actual_class: BTreeMap<Class, f64> = BTreeMap::new();
    let mut actual_comp: BTreeMap<String, f64> = BTreeMap::new();
    for a in actual.iter().filter(|a| a.date == day.date) {
        match class_of_usage(&a.usage_type) {
            Some(c) if c.is_s3() && a.component.is_none() => {
                // untagged S3: other buckets' storage too; not backup cost
                *r.unmapped.entry(a.usage_type.clone()).or_default() += a.usd;
            }
            Some(c) => {
                *actual_class.entry(c).or_default() += a.usd;
                r.actual_total += a.usd;
                *actual_comp
                    .entry(a.component.clone().unwrap_or_else(|| "(untagged)".into()))
                    .or_default() += a.usd;
            }
            None => *r.unmapped.entry(a.usage_type.clone()).or_default() += a.usd,
        }
    }
    let gapped = |c: Class| {
        // a class is without data if a gap covers every component (a source failed)
        !day.gaps.is_empty() && !day.lines.iter().any(|l| l.key.class == c)
    };
    for (c, a) in &actual_class {
        r.by_class.push(Row {
            what: c.name().to_string(),
            model: if gapped(*c) {
                None
            } else {
                Some(model_class.get(c).copied().unwrap_or(0.0))
            },
            actual: *a,
        });
    }
    for (c, m) in &model_class {
        if !actual_class.contains_key(c) && *m > 0.0 {
            r.by_class.push(Row {
                what: c.name().to_string(),
                model: Some(*m),
                actual: 0.0,
            });
        }
    }
    for (comp, a) in &actual_comp {
        let scope = super::Scope::Component(comp.clone());
        r.by_component.push(Row {
            what: comp.clone(),
            model: if comp == "(untagged)" {
                None
            } else {
                day.figure(&scope)
            },
            actual: *a,
        });
    }
    r
}

/// Cost Explorer's days as stored days (`source: cost-explorer`): one line per component tag
/// and usage type that bills backup storage or transfer.
pub fn backfill(actual: &[Actual], primary: &str, prices_taken: &str, run_id: &str) -> Vec<Day> {
    let mut days: BTreeMap<NaiveDate, Vec<Line>> = BTreeMap::new();
    for a in actual {
        let Some(class) = class_of_usage(&a.usage_type) else {
            continue;
        };
        if class.is_s3() && a.component.is_none() {
            continue;
        }
        days.entry(a.date).or_default().push(Line {
            key: Key {
                component: a.component.clone().unwrap_or_else(|| "(untagged)".into()),
                region: region_of_usage(&a.usage_type, primary),
                item: Item::Billed,
                class,
                at: a.usage_type.clone(),
            },
            gb: a.quantity,
            stored_gb: a.quantity,
            usd_day: a.usd,
            basis: Basis::CostExplorer,
            count: 0,
            ids: Vec::new(),
        });
    }
    days.into_iter()
        .map(|(date, mut lines)| {
            lines.sort_by(|a, b| a.key.cmp(&b.key));
            Day {
                schema: DAY_SCHEMA.into(),
                date,
                source: "cost-explorer".into(),
                lines,
                gaps: Vec::new(),
                prices_taken: prices_taken.into(),
                written_by: run_id.into(),
                actual: None,
                actual_error: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::anomalies::tests::{day_of, line};

    #[test]
    fn usage_types_map_to_classes() {
        for (u, c) in [
            ("USE1-RDS:ChargedBackupUsage", Some(Class::RdsSnapshot)),
            ("USW2-RDS:ChargedBackupUsage", Some(Class::RdsSnapshot)),
            ("Aurora:BackupUsage", Some(Class::AuroraBackup)),
            (
                "USE1-ElastiCache:BackupUsage",
                Some(Class::ElasticacheSnapshot),
            ),
            ("TimedStorage-ByteHrs", Some(Class::Standard)),
            ("USW2-TimedStorage-GlacierByteHrs", Some(Class::Glacier)),
            ("TimedStorage-INT-IA-ByteHrs", Some(Class::ItInfrequent)),
            ("USE1-USW2-AWS-Out-Bytes", Some(Class::Transfer)),
            ("USE1-WarmStorage-ByteHrs-EFS", Some(Class::BackupWarm)),
            ("USE1-BoxUsage:db.r6g.large", None),
            ("Requests-Tier1", None),
        ] {
            assert_eq!(class_of_usage(u), c, "{u}");
        }
        assert_eq!(
            region_of_usage("USW2-RDS:ChargedBackupUsage", "us-east-1"),
            "us-west-2"
        );
        assert_eq!(
            region_of_usage("TimedStorage-ByteHrs", "us-east-1"),
            "us-east-1"
        );
    }

    #[test]
    fn canned_results_reconcile_by_class_and_component() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let mut day = day_of(date, &[]);
        day.lines.push(line(
            "orders-db",
            Item::UnmanagedSnapshots,
            Class::RdsSnapshot,
            3.0,
            &[],
        ));
        let a = |u: &str, c: Option<&str>, usd: f64| Actual {
            date,
            usage_type: u.into(),
            component: c.map(str::to_string),
            usd,
            quantity: 1.0,
        };
        let actual = vec![
            a("USE1-RDS:ChargedBackupUsage", Some("orders-db"), 2.5),
            a("TimedStorage-ByteHrs", None, 9.0),
            a("USE1-BoxUsage:db.t3.micro", Some("orders-db"), 4.0),
        ];
        let r = reconcile(&day, &actual);
        assert!((r.actual_total - 2.5).abs() < 1e-12);
        let row = r
            .by_class
            .iter()
            .find(|r| r.what == "rds-snapshot")
            .unwrap();
        assert_eq!(row.model, Some(3.0));
        assert!(
            row.sentence()
                .contains("model $3.00 against Cost Explorer $2.50 (+$0.50)"),
            "{}",
            row.sentence()
        );
        let comp = r
            .by_component
            .iter()
            .find(|r| r.what == "orders-db")
            .unwrap();
        assert_eq!(comp.model, Some(3.0));
        assert_eq!(r.unmapped.len(), 2);
        let days = backfill(&actual, "us-east-1", "2026-11-01", "run");
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].lines.len(), 1);
        assert_eq!(days[0].figure(&crate::plan::Scope::Total), Some(2.5));
    }

    #[test]
    fn rules_compare_like_with_like() {
        use crate::plan::{basis_view, Scope, Series};
        let d = |n: u32| NaiveDate::from_ymd_opt(2026, 12, n).unwrap();
        // a model day before Cost Explorer was enabled, a backfilled day, a model day with its
        // actual cost, a model day whose Cost Explorer read failed
        let before = day_of(d(1), &[("orders-db", 5.0)]);
        let mut filled = day_of(d(2), &[("orders-db", 4.0)]);
        filled.source = "cost-explorer".into();
        let mut with = day_of(d(3), &[("orders-db", 5.0)]);
        with.actual = Some(vec![line(
            "orders-db",
            Item::Billed,
            Class::RdsSnapshot,
            4.5,
            &[],
        )]);
        let mut failed = day_of(d(4), &[("orders-db", 5.0)]);
        failed.actual_error = Some("ThrottlingException: Rate exceeded".into());
        let days: BTreeMap<NaiveDate, Day> = [before, filled, with, failed]
            .into_iter()
            .map(|x| (x.date, x))
            .collect();
        let actual = basis_view(&days, Series::Actual);
        assert_eq!(
            actual.keys().copied().collect::<Vec<_>>(),
            vec![d(2), d(3), d(4)]
        );
        assert_eq!(actual[&d(2)].figure(&Scope::Total), Some(4.0));
        assert_eq!(actual[&d(3)].figure(&Scope::Total), Some(4.5));
        assert_eq!(actual[&d(4)].figure(&Scope::Total), None);
        let model = basis_view(&days, Series::Model);
        assert_eq!(model.len(), 3);
        assert_eq!(model[&d(3)].figure(&Scope::Total), Some(5.0));
    }
}
