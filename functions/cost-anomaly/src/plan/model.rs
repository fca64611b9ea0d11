//! Usage → cost lines. Usage is what AWS stores or bills, as the inventory read it; the model
//! applies each service's free allocation and the policy's prices:
//!
//! - RDS backup storage is free up to the provisioned storage of the region's instances
//!   (100%); beyond it, every RDS snapshot byte (automated, manual, AWS Backup's) is billed at
//!   `rds-snapshot`. Snapshot sizes are each snapshot's allocated storage: an *estimate* (RDS
//!   snapshots are incremental and AWS publishes no per-snapshot billed size), said as such.
//! - Aurora: `TotalBackupStorageBilled` is already what AWS bills beyond the free allocation;
//!   the part up to `SnapshotStorageUsed` is the cluster's snapshots, the rest its retention.
//! - ElastiCache: one snapshot per active cluster is free; the rest at `elasticache-snapshot`.
//! - S3 and AWS Backup: the bytes stored, at the class's price.
//! - Transfer: GB moved on the day at `transfer` (per GB, not per GB-month).
//!
//! Storage is billed per GB-month, prorated by the hour: a day is the month's price divided by
//! the days of that month.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use lifeboat_shared::policy::cost::{Class, Prices};

use super::{Basis, Gap, Item, Key, Line, IDS_KEPT};

/// One thing AWS stores or moves, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Use {
    /// An RDS snapshot (instance or AWS Backup point of one), sized by its allocated storage.
    RdsSnapshot {
        component: String,
        region: String,
        item: Item,
        id: String,
        gb: f64,
    },
    /// An Aurora cluster's backup storage from CloudWatch.
    Aurora {
        component: String,
        region: String,
        cluster: String,
        billed_gb: f64,
        snapshot_gb: f64,
    },
    /// An ElastiCache snapshot; `group_active`: its replication group exists (one snapshot of
    /// an active cluster is free).
    CacheSnapshot {
        component: String,
        region: String,
        group: String,
        group_active: bool,
        id: String,
        gb: f64,
    },
    /// An AWS Backup recovery point stored by AWS Backup itself (warm or cold).
    RecoveryPoint {
        component: String,
        region: String,
        vault: String,
        id: String,
        gb: f64,
        class: Class,
    },
    /// S3 bytes of one class under one component.
    S3 {
        component: String,
        region: String,
        bucket: String,
        item: Item,
        class: Class,
        gb: f64,
        objects: u64,
    },
    /// Bytes estimated from a resource's allocated storage, billed at `class` without a free
    /// allocation (an Aurora snapshot of a deleted cluster: no metric bills it any more).
    Estimated {
        component: String,
        region: String,
        item: Item,
        class: Class,
        id: String,
        gb: f64,
    },
    /// Bytes moved between regions on the day.
    Transfer {
        component: String,
        region: String,
        item: Item,
        gb: f64,
        ids: Vec<String>,
    },
}

/// Everything read for one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub uses: Vec<Use>,
    /// Region → GB provisioned by RDS instances (the free RDS backup allocation).
    pub rds_provisioned_gb: BTreeMap<String, f64>,
    pub gaps: Vec<Gap>,
}

pub fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = (d.year(), d.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .map(|last| last.day())
        .unwrap_or(30)
}

/// Region → the share of RDS snapshot bytes billed (beyond the region's free allocation).
pub fn rds_billed_share(usage: &Usage) -> BTreeMap<String, f64> {
    let mut stored: BTreeMap<String, f64> = BTreeMap::new();
    for u in &usage.uses {
        if let Use::RdsSnapshot { region, gb, .. } = u {
            *stored.entry(region.clone()).or_default() += gb;
        }
    }
    stored
        .into_iter()
        .map(|(region, s)| {
            let free = usage
                .rds_provisioned_gb
                .get(&region)
                .copied()
                .unwrap_or(0.0);
            let share = if s <= 0.0 {
                0.0
            } else {
                (s - free).max(0.0) / s
            };
            (region, share)
        })
        .collect()
}

/// The day's lines, sorted by key.
pub fn lines(usage: &Usage, prices: &Prices, day: NaiveDate) -> Vec<Line> {
    let days = days_in_month(day) as f64;
    // The RDS pool per region: what is stored, and the share of it billed.
    let mut rds_stored: BTreeMap<&str, f64> = BTreeMap::new();
    for u in &usage.uses {
        if let Use::RdsSnapshot { region, gb, .. } = u {
            *rds_stored.entry(region).or_default() += gb;
        }
    }
    let billed_share = |region: &str| -> f64 {
        let stored = rds_stored.get(region).copied().unwrap_or(0.0);
        let free = usage.rds_provisioned_gb.get(region).copied().unwrap_or(0.0);
        if stored <= 0.0 {
            0.0
        } else {
            ((stored - free).max(0.0)) / stored
        }
    };
    // The free ElastiCache snapshot: the largest of each active group.
    let mut free_cache: BTreeMap<(&str, &str), (&str, f64)> = BTreeMap::new();
    for u in &usage.uses {
        if let Use::CacheSnapshot {
            region,
            group,
            group_active: true,
            id,
            gb,
            ..
        } = u
        {
            let e = free_cache
                .entry((region.as_str(), group.as_str()))
                .or_insert((id, *gb));
            if *gb > e.1 || (*gb == e.1 && id.as_str() < e.0) {
                *e = (id, *gb);
            }
        }
    }
    let mut out: BTreeMap<Key, Line> = BTreeMap::new();
    let mut add = |key: Key, stored: f64, billed: f64, basis: Basis, count: u64, ids: &[String]| {
        let per_day = if key.class == Class::Transfer {
            1.0
        } else {
            1.0 / days
        };
        let price = prices.of(key.class, &key.region);
        let line = out.entry(key.clone()).or_insert_with(|| Line {
            key,
            gb: 0.0,
            stored_gb: 0.0,
            usd_day: 0.0,
            basis,
            count: 0,
            ids: Vec::new(),
        });
        line.gb += billed;
        line.stored_gb += stored;
        line.usd_day += billed * price * per_day;
        line.count += count;
        for id in ids {
            if line.ids.len() < IDS_KEPT {
                line.ids.push(id.clone());
            }
        }
    };
    let key = |component: &str, region: &str, item: Item, class: Class, at: &str| Key {
        component: component.to_string(),
        region: region.to_string(),
        item,
        class,
        at: at.to_string(),
    };
    for u in &usage.uses {
        match u {
            Use::RdsSnapshot {
                component,
                region,
                item,
                id,
                gb,
            } => add(
                key(component, region, *item, Class::RdsSnapshot, ""),
                *gb,
                gb * billed_share(region),
                Basis::Estimate,
                1,
                std::slice::from_ref(id),
            ),
            Use::Aurora {
                component,
                region,
                cluster,
                billed_gb,
                snapshot_gb,
            } => {
                let snaps = snapshot_gb.min(*billed_gb).max(0.0);
                add(
                    key(
                        component,
                        region,
                        Item::ClusterSnapshots,
                        Class::AuroraBackup,
                        cluster,
                    ),
                    *snapshot_gb,
                    snaps,
                    Basis::Billed,
                    0,
                    &[],
                );
                add(
                    key(
                        component,
                        region,
                        Item::BackupRetention,
                        Class::AuroraBackup,
                        cluster,
                    ),
                    (billed_gb - snaps).max(0.0),
                    (billed_gb - snaps).max(0.0),
                    Basis::Billed,
                    0,
                    &[],
                );
            }
            Use::CacheSnapshot {
                component,
                region,
                group,
                id,
                gb,
                ..
            } => {
                let free = free_cache
                    .get(&(region.as_str(), group.as_str()))
                    .is_some_and(|(f, _)| *f == id.as_str());
                add(
                    key(
                        component,
                        region,
                        Item::CacheSnapshots,
                        Class::ElasticacheSnapshot,
                        "",
                    ),
                    *gb,
                    if free { 0.0 } else { *gb },
                    Basis::Measured,
                    1,
                    std::slice::from_ref(id),
                );
            }
            Use::RecoveryPoint {
                component,
                region,
                vault,
                id,
                gb,
                class,
            } => add(
                key(component, region, Item::RecoveryPoints, *class, vault),
                *gb,
                *gb,
                Basis::Measured,
                1,
                std::slice::from_ref(id),
            ),
            Use::S3 {
                component,
                region,
                bucket,
                item,
                class,
                gb,
                objects,
            } => add(
                key(component, region, *item, *class, bucket),
                *gb,
                *gb,
                Basis::Measured,
                *objects,
                &[],
            ),
            Use::Estimated {
                component,
                region,
                item,
                class,
                id,
                gb,
            } => add(
                key(component, region, *item, *class, ""),
                *gb,
                *gb,
                Basis::Estimate,
                1,
                std::slice::from_ref(id),
            ),
            Use::Transfer {
                component,
                region,
                item,
                gb,
                ids,
            } => {
                add(
                    key(component, region, *item, Class::Transfer, ""),
                    *gb,
                    *gb,
                    if *item == Item::CopyTransfer {
                        Basis::Estimate
                    } else {
                        Basis::Measured
                    },
                    ids.len().max(1) as u64,
                    ids,
                );
            }
        }
    }
    let mut lines: Vec<Line> = out.into_values().collect();
    for l in &mut lines {
        l.ids.sort();
        l.ids.dedup();
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    fn snap(component: &str, region: &str, item: Item, id: &str, gb: f64) -> Use {
        Use::RdsSnapshot {
            component: component.into(),
            region: region.into(),
            item,
            id: id.into(),
            gb,
        }
    }

    #[test]
    fn rds_snapshots_beyond_the_free_allocation_at_list_price() {
        // Given a 100 GB instance and 300 GB of its snapshots in us-east-1 (200 GB billed), and
        // a 100 GB DR copy in us-west-2 with no instance there (all billed)
        let usage = Usage {
            uses: vec![
                snap(
                    "orders-db",
                    "us-east-1",
                    Item::AutomatedSnapshots,
                    "rds:orders-db-1",
                    100.0,
                ),
                snap(
                    "orders-db",
                    "us-east-1",
                    Item::LifeboatSnapshots,
                    "lifeboat-orders-db-1",
                    100.0,
                ),
                snap(
                    "orders-db",
                    "us-east-1",
                    Item::UnmanagedSnapshots,
                    "manual-1",
                    100.0,
                ),
                snap(
                    "orders-db",
                    "us-west-2",
                    Item::DrCopies,
                    "lifeboat-orders-db-1",
                    100.0,
                ),
            ],
            rds_provisioned_gb: [("us-east-1".to_string(), 100.0)].into(),
            gaps: vec![],
        };
        let lines = lines(&usage, &Prices::default(), day());
        // Then each us-east-1 line bills 2/3 of its 100 GB: 66.67 GB × $0.095 / 31 days
        let east: Vec<&Line> = lines
            .iter()
            .filter(|l| l.key.region == "us-east-1")
            .collect();
        assert_eq!(east.len(), 3);
        for l in &east {
            assert!((l.gb - 200.0 / 3.0).abs() < 1e-9);
            assert!(
                (l.usd_day - 200.0 / 3.0 * 0.095 / 31.0).abs() < 1e-9,
                "{l:?}"
            );
            assert_eq!(l.basis, Basis::Estimate);
        }
        let west = lines.iter().find(|l| l.key.region == "us-west-2").unwrap();
        assert!((west.usd_day - 100.0 * 0.095 / 31.0).abs() < 1e-9);
        // $9.50 a month for the DR copy, by hand
        assert!((west.usd_day * 31.0 - 9.5).abs() < 1e-9);
    }

    #[test]
    fn aurora_billed_bytes_split_into_snapshots_and_retention() {
        let usage = Usage {
            uses: vec![Use::Aurora {
                component: "ledger".into(),
                region: "us-east-1".into(),
                cluster: "ledger-cluster".into(),
                billed_gb: 50.0,
                snapshot_gb: 20.0,
            }],
            ..Usage::default()
        };
        let lines = lines(&usage, &Prices::default(), day());
        assert_eq!(lines.len(), 2);
        let snaps = lines
            .iter()
            .find(|l| l.key.item == Item::ClusterSnapshots)
            .unwrap();
        let ret = lines
            .iter()
            .find(|l| l.key.item == Item::BackupRetention)
            .unwrap();
        assert!((snaps.usd_day - 20.0 * 0.021 / 31.0).abs() < 1e-12);
        assert!((ret.usd_day - 30.0 * 0.021 / 31.0).abs() < 1e-12);
        assert_eq!(ret.basis, Basis::Billed);
    }

    #[test]
    fn one_cache_snapshot_per_active_cluster_is_free_and_s3_by_class() {
        let cache = |id: &str, gb: f64, active: bool| Use::CacheSnapshot {
            component: "sessions".into(),
            region: "us-east-1".into(),
            group: "sessions".into(),
            group_active: active,
            id: id.into(),
            gb,
        };
        let usage = Usage {
            uses: vec![
                cache("a", 2.0, true),
                cache("b", 3.0, true),
                Use::S3 {
                    component: "orders-db".into(),
                    region: "us-east-1".into(),
                    bucket: "b".into(),
                    item: Item::Objects,
                    class: Class::Glacier,
                    gb: 1000.0,
                    objects: 10,
                },
                Use::Transfer {
                    component: "orders-db".into(),
                    region: "us-east-1".into(),
                    item: Item::ReplicationTransfer,
                    gb: 10.0,
                    ids: vec![],
                },
            ],
            ..Usage::default()
        };
        let lines = lines(&usage, &Prices::default(), day());
        let c = lines
            .iter()
            .find(|l| l.key.item == Item::CacheSnapshots)
            .unwrap();
        // the 3 GB snapshot is the free one; 2 GB billed
        assert!((c.gb - 2.0).abs() < 1e-12 && (c.stored_gb - 5.0).abs() < 1e-12);
        assert!((c.usd_day - 2.0 * 0.085 / 31.0).abs() < 1e-12);
        let g = lines
            .iter()
            .find(|l| l.key.class == Class::Glacier)
            .unwrap();
        assert!((g.usd_day * 31.0 - 3.6).abs() < 1e-9);
        let t = lines
            .iter()
            .find(|l| l.key.class == Class::Transfer)
            .unwrap();
        assert!((t.usd_day - 0.2).abs() < 1e-12);
    }

    #[test]
    fn days_in_months() {
        assert_eq!(
            days_in_month(NaiveDate::from_ymd_opt(2026, 2, 10).unwrap()),
            28
        );
        assert_eq!(
            days_in_month(NaiveDate::from_ymd_opt(2028, 2, 10).unwrap()),
            29
        );
        assert_eq!(days_in_month(day()), 31);
    }
}
