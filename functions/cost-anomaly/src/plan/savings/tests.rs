#![allow(clippy::unwrap_used)]
use super::*;
use crate::objects::{Ages, Object};
use chrono::{Duration, TimeZone};

fn policy(extra: &str) -> Policy {
    Policy::parse(&format!(
        "version: 1\nbuckets: {{backup: lifeboat-backups}}\ncomponents: [{{name: orders-db, kind: rds-instance, ids: [orders-db], retention: {{daily: 2, weekly: 0, monthly: 0}}}}]\n{extra}"
    ))
    .unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap()
}

fn bucket(
    objects: &[(&str, u64, &str, i64, bool)],
    lifecycle: Lifecycle,
    versioned: bool,
) -> BucketFact {
    let mut bd = Breakdown::new(Ages {
        at: now(),
        standard_after: Duration::days(30),
        day: (now() - Duration::days(1)).date_naive(),
    });
    for (key, size, class, age_days, latest) in objects {
        bd.add(&Object {
            key,
            size: *size,
            class,
            last_modified: Some(now() - Duration::days(*age_days)),
            latest: *latest,
            delete_marker: false,
        });
    }
    BucketFact {
        name: "lifeboat-backups".into(),
        region: "us-east-1".into(),
        versioned,
        lifecycle: Ok(lifecycle),
        breakdown: Some(bd),
        breakdown_error: None,
        uploads: Some((3, 2 * 1_073_741_824, 0)),
        groups: [(
            "backups/rds-instance/orders-db".to_string(),
            "orders-db".to_string(),
        )]
        .into(),
    }
}

const GIB: u64 = 1_073_741_824;

#[test]
fn lifecycle_intelligent_tiering_noncurrent_and_uploads_in_dollars() {
    // Given 100 GiB of 1 GiB exports in STANDARD older than 30 days, 10 GiB noncurrent, 2 GiB
    // of incomplete uploads, no lifecycle rules, versioning on
    let mut objs: Vec<(String, u64, &str, i64, bool)> = (0..100)
        .map(|i| {
            (
                format!("backups/rds-instance/orders-db/s{i}/part.parquet"),
                GIB,
                "STANDARD",
                45,
                true,
            )
        })
        .collect();
    objs.push((
        "backups/rds-instance/orders-db/old".into(),
        10 * GIB,
        "STANDARD",
        60,
        false,
    ));
    objs.push((
        "backups/rds-instance/orders-db/new".into(),
        GIB,
        "STANDARD",
        2,
        true,
    ));
    let borrowed: Vec<(&str, u64, &str, i64, bool)> = objs
        .iter()
        .map(|(k, s, c, a, l)| (k.as_str(), *s, *c, *a, *l))
        .collect();
    let facts = Facts {
        buckets: vec![bucket(&borrowed, Lifecycle::default(), true)],
        ..Facts::default()
    };
    let (s, _notes) = savings(&policy(""), &facts);
    let by = |kind: &str| s.iter().find(|x| x.kind == kind).unwrap();
    // lifecycle to GLACIER_IR: 100 GB × (0.023 − 0.004) = $1.90/month
    let l = by("lifecycle");
    assert!((l.monthly_usd - 1.9).abs() < 1e-9, "{}", l.monthly_usd);
    assert!(
        l.evidence.contains("100.0 GB in 100 objects"),
        "{}",
        l.evidence
    );
    assert!(l
        .change
        .starts_with("aws s3api put-bucket-lifecycle-configuration --bucket lifeboat-backups"));
    assert!(
        l.change
            .contains(r#""Days":30,"StorageClass":"GLACIER_IR""#),
        "{}",
        l.change
    );
    // Intelligent-Tiering: 100 GB × (0.023 − 0.0125) − 100 × $0.0025/1000 = $1.04975
    let it = by("intelligent-tiering");
    assert!(
        (it.monthly_usd - (1.05 - 0.00025)).abs() < 1e-9,
        "{}",
        it.monthly_usd
    );
    assert_eq!(it.alternative_to.as_deref(), Some(l.title.as_str()));
    // noncurrent: 10 GB × 0.023 = $0.23 (< $0.50: not listed); uploads: 2 GB × 0.023 = $0.046
    assert!(s
        .iter()
        .all(|x| x.kind != "noncurrent-versions" && x.kind != "incomplete-uploads"));
    let (s, _) = savings(&policy("cost: {savings: {min_monthly_usd: 0.01}}"), &facts);
    let n = s.iter().find(|x| x.kind == "noncurrent-versions").unwrap();
    assert!((n.monthly_usd - 0.23).abs() < 1e-9);
    assert!(n.change.contains("NoncurrentVersionExpiration"));
    let u = s.iter().find(|x| x.kind == "incomplete-uploads").unwrap();
    assert!((u.monthly_usd - 0.046).abs() < 1e-9);
    assert!(u.change.contains("AbortIncompleteMultipartUpload"));
}

#[test]
fn a_rule_that_stopped_matching_is_named_and_existing_rules_kept() {
    let objs = [(
        "backups/rds-instance/orders-db/s/p",
        50 * GIB,
        "STANDARD",
        40,
        true,
    )];
    let lc = Lifecycle {
        rules: 1,
        transition: Some((30, "to-glacier".into(), "GLACIER_IR".into())),
        noncurrent_expiry: true,
        abort_uploads: true,
    };
    let facts = Facts {
        buckets: vec![bucket(&objs, lc, false)],
        ..Facts::default()
    };
    let (s, _) = savings(&policy(""), &facts);
    let l = s.iter().find(|x| x.kind == "lifecycle").unwrap();
    assert!(l.evidence.contains("rule \"to-glacier\""), "{}", l.evidence);
    assert!(
        l.change.contains("include the bucket's 1 existing rule(s)"),
        "{}",
        l.change
    );
    assert!(s.iter().all(|x| x.kind != "incomplete-uploads"));
}

fn snap(item: Item, id: &str, source: &str, exists: bool, gb: f64, days_ago: i64) -> SnapshotFact {
    SnapshotFact {
        kind: ResourceKind::RdsInstance,
        item,
        id: id.into(),
        region: if item == Item::DrCopies {
            "us-west-2"
        } else {
            "us-east-1"
        }
        .into(),
        component: "orders-db".into(),
        source_id: source.into(),
        source_exists: exists,
        gb,
        created: Some(now() - Duration::days(days_ago)),
    }
}

#[test]
fn snapshots_orphaned_unmanaged_and_beyond_retention_with_commands() {
    let facts = Facts {
        snapshots: vec![
            snap(
                Item::UnmanagedSnapshots,
                "manual-1",
                "orders-db",
                true,
                100.0,
                3,
            ),
            snap(
                Item::UnmanagedSnapshots,
                "manual-2",
                "orders-db",
                true,
                100.0,
                2,
            ),
            snap(
                Item::UnmanagedSnapshots,
                "old-db-final",
                "old-db",
                false,
                50.0,
                90,
            ),
            snap(
                Item::LifeboatSnapshots,
                "lifeboat-orders-db-1",
                "orders-db",
                true,
                100.0,
                1,
            ),
            snap(
                Item::LifeboatSnapshots,
                "lifeboat-orders-db-2",
                "orders-db",
                true,
                100.0,
                2,
            ),
            snap(
                Item::LifeboatSnapshots,
                "lifeboat-orders-db-3",
                "orders-db",
                true,
                100.0,
                3,
            ),
            snap(
                Item::DrCopies,
                "lifeboat-orders-db-1",
                "orders-db",
                true,
                100.0,
                1,
            ),
        ],
        // half of the region's RDS snapshot bytes are billed
        rds_billed_share: [
            ("us-east-1".to_string(), 0.5),
            ("us-west-2".to_string(), 1.0),
        ]
        .into(),
        now: Some(now()),
        ..Facts::default()
    };
    let (s, _) = savings(&policy(""), &facts);
    let by = |kind: &str| {
        s.iter()
            .find(|x| x.kind == kind)
            .unwrap_or_else(|| panic!("{kind}: {s:#?}"))
    };
    // unmanaged: 200 GB × 0.5 × $0.095 = $9.50
    let u = by("unmanaged-snapshots");
    assert!((u.monthly_usd - 9.5).abs() < 1e-9);
    assert!(u.change.contains(
        "aws rds delete-db-snapshot --region us-east-1 --db-snapshot-identifier manual-1"
    ));
    // orphaned: 50 GB × 0.5 × $0.095 = $2.375
    let o = by("orphaned-snapshots");
    assert!((o.monthly_usd - 2.375).abs() < 1e-9);
    assert!(o.title.contains("old-db"));
    // daily: 2 keeps the newest of each of the last 2 days (Dec 8, Dec 7): the snapshots of
    // Dec 6 and Dec 5 go, 2 × 100 GB × 0.5 × $0.095 = $9.50
    let r = by("retention");
    assert!((r.monthly_usd - 9.5).abs() < 1e-9, "{}", r.monthly_usd);
    assert!(r.change.contains("lifeboat-orders-db-3") && r.change.contains("lifeboat-orders-db-2"));
    assert!(
        !r.change.contains("lifeboat-orders-db-1\n") && !r.change.ends_with("lifeboat-orders-db-1")
    );
    assert!(s.iter().all(|x| x.kind != "dr-copies"));
    // sorted by dollars
    assert!(s.windows(2).all(|w| w[0].monthly_usd >= w[1].monthly_usd));
}
