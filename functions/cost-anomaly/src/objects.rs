//! Objects as S3 lists or inventories them (current and noncurrent versions), tallied by group
//! and storage class in memory that does not grow with the number of objects: one [`Tally`]
//! per (group, class), however many millions of objects are fed through [`Breakdown::add`].
//!
//! A *group* is where a key sits in Lifeboat's layout ([`group_of`]): `backups/<kind>/<source>`
//! for a backup (the component is the source's), else the key's first folder (`reports`,
//! `runs`, ...), or `(root)`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// One object version, borrowed from a listing page or an inventory line.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    pub key: &'a str,
    pub size: u64,
    /// The S3 storage class as listings and inventory reports name it (`STANDARD`,
    /// `STANDARD_IA`, `INTELLIGENT_TIERING`, `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`, ...).
    /// Listings leave it out for STANDARD on some paths: pass `STANDARD` then.
    pub class: &'a str,
    pub last_modified: Option<DateTime<Utc>>,
    /// False for a noncurrent version.
    pub latest: bool,
    /// A delete marker holds no bytes and is not counted.
    pub delete_marker: bool,
}

/// Objects and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub objects: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }

    pub fn merge(&mut self, other: Tally) {
        self.objects += other.objects;
        self.bytes += other.bytes;
    }

    pub fn gb(&self) -> f64 {
        self.bytes as f64 / GB
    }
}

/// AWS bills storage in GB of 2^30 bytes.
pub const GB: f64 = 1_073_741_824.0;

/// Intelligent-Tiering never moves (nor charges monitoring for) objects under 128 KiB.
pub const IT_MIN_OBJECT: u64 = 128 * 1024;

/// Current objects in STANDARD older than the age limit: all, and those Intelligent-Tiering
/// would monitor (at least [`IT_MIN_OBJECT`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aged {
    pub all: Tally,
    pub it_eligible: Tally,
}

/// What [`Breakdown`] measures against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ages {
    /// The end of the evaluated day: ages are measured from here.
    pub at: DateTime<Utc>,
    /// STANDARD objects older than this are lifecycle candidates.
    pub standard_after: Duration,
    /// The evaluated day: objects last modified on it were written (and replicated) that day.
    pub day: NaiveDate,
}

/// The tallies of one bucket (or one prefix of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Current versions: group → class → tally.
    pub current: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Noncurrent versions: group → class → tally.
    pub noncurrent: BTreeMap<String, BTreeMap<String, Tally>>,
    /// Current STANDARD objects older than [`Ages::standard_after`], per group.
    pub aged_standard: BTreeMap<String, Aged>,
    /// Current objects last modified on [`Ages::day`], per group.
    pub written_on_day: BTreeMap<String, Tally>,
    /// Delete markers (no bytes; listed so a count of versions adds up).
    pub delete_markers: u64,
    /// Versions read in all.
    pub read: u64,
    #[serde(skip)]
    ages: Option<Ages>,
}

impl Breakdown {
    pub fn new(ages: Ages) -> Breakdown {
        Breakdown {
            current: BTreeMap::new(),
            noncurrent: BTreeMap::new(),
            aged_standard: BTreeMap::new(),
            written_on_day: BTreeMap::new(),
            delete_markers: 0,
            read: 0,
            ages: Some(ages),
        }
    }

    /// Counts one object version.
    pub fn add(&mut self, o: &Object<'_>) {
        self.read += 1;
        if o.delete_marker {
            self.delete_markers += 1;
            return;
        }
        let group = group_of(o.key);
        let class = if o.class.is_empty() {
            "STANDARD"
        } else {
            o.class
        };
        let map = if o.latest {
            &mut self.current
        } else {
            &mut self.noncurrent
        };
        bump(map, group, class, o.size);
        if !o.latest {
            return;
        }
        let (Some(ages), Some(modified)) = (self.ages, o.last_modified) else {
            return;
        };
        if class == "STANDARD" && ages.at - modified > ages.standard_after {
            let aged = entry(&mut self.aged_standard, group);
            aged.all.add(o.size);
            if o.size >= IT_MIN_OBJECT {
                aged.it_eligible.add(o.size);
            }
        }
        if modified.date_naive() == ages.day {
            entry(&mut self.written_on_day, group).add(o.size);
        }
    }

    /// All current versions.
    pub fn total_current(&self) -> Tally {
        let mut t = Tally::default();
        for classes in self.current.values() {
            for c in classes.values() {
                t.merge(*c);
            }
        }
        t
    }
}

fn entry<'m, T: Default>(map: &'m mut BTreeMap<String, T>, key: &str) -> &'m mut T {
    // (no allocation for a group already seen: the common case, once per object)
    if !map.contains_key(key) {
        map.insert(key.to_string(), T::default());
    }
    map.get_mut(key).expect("inserted above")
}

fn bump(map: &mut BTreeMap<String, BTreeMap<String, Tally>>, group: &str, class: &str, size: u64) {
    entry(entry(map, group), class).add(size);
}

/// The group of a key: `backups/<kind>/<source>` in the backup layout
/// ([`lifeboat_shared::backup::backup_prefix`]), else its first folder, else `(root)`.
pub fn group_of(key: &str) -> &str {
    if let Some(rest) = key.strip_prefix("backups/") {
        // backups/<kind>/<source>/...
        let mut cut = "backups/".len();
        let mut parts = rest.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(kind), Some(source), Some(_)) if !kind.is_empty() && !source.is_empty() => {
                cut += kind.len() + 1 + source.len();
                return &key[..cut];
            }
            _ => return "backups",
        }
    }
    match key.find('/') {
        Some(i) if i > 0 => &key[..i],
        _ => "(root)",
    }
}

/// The source id of a backup group (`backups/rds/orders-db` → `orders-db`).
pub fn source_of_group(group: &str) -> Option<&str> {
    let rest = group.strip_prefix("backups/")?;
    rest.split_once('/').map(|(_, source)| source)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn groups_follow_the_backup_layout() {
        assert_eq!(
            group_of("backups/rds/orders-db/lifeboat-orders-db-x/manifest.json"),
            "backups/rds/orders-db"
        );
        assert_eq!(group_of("backups/rds/orders-db"), "backups");
        assert_eq!(group_of("reports/x.json"), "reports");
        assert_eq!(group_of("top.json"), "(root)");
        assert_eq!(group_of("/odd"), "(root)");
        assert_eq!(source_of_group("backups/rds/orders-db"), Some("orders-db"));
        assert_eq!(source_of_group("reports"), None);
    }

    #[test]
    fn tallies_current_noncurrent_aged_and_written() {
        let mut b = Breakdown::new(Ages {
            at: at(8),
            standard_after: Duration::days(30),
            day: at(7).date_naive(),
        });
        let old = Some(at(8) - Duration::days(40));
        let k = "backups/rds/orders-db/s/part-1.parquet";
        for (size, class, modified, latest, marker) in [
            (200_000, "STANDARD", old, true, false),
            (1_000, "", old, true, false),
            (5_000, "GLACIER", old, true, false),
            (7_000, "STANDARD", Some(at(7)), true, false),
            (9_000, "STANDARD", old, false, false),
            (0, "STANDARD", old, false, true),
        ] {
            b.add(&Object {
                key: k,
                size,
                class,
                last_modified: modified,
                latest,
                delete_marker: marker,
            });
        }
        let g = "backups/rds/orders-db";
        assert_eq!(
            b.current[g]["STANDARD"],
            Tally {
                objects: 3,
                bytes: 208_000
            }
        );
        assert_eq!(b.current[g]["GLACIER"].bytes, 5_000);
        assert_eq!(b.noncurrent[g]["STANDARD"].bytes, 9_000);
        assert_eq!(b.aged_standard[g].all.bytes, 201_000);
        assert_eq!(b.aged_standard[g].it_eligible.bytes, 200_000);
        assert_eq!(b.written_on_day[g].bytes, 7_000);
        assert_eq!(b.delete_markers, 1);
        assert_eq!(b.read, 6);
        assert_eq!(b.total_current().objects, 4);
    }
}
