// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! cost-anomaly against the local emulator (moto 5.2.5, one per test) on the seeded shop and the
//! cost fixtures of `lifeboat_tests::cost`: Aurora's billed backup bytes in CloudWatch, the
//! sessions cache's snapshots sized through the emulator's NodeSnapshots stand-in, 60 days of
//! orders-db exports in the backup bucket (STANDARD, GLACIER_IR after 30 days, a DEEP_ARCHIVE
//! archive; retried exports as noncurrent versions) and their replicas in the DR bucket, both
//! buckets read from their S3 Inventory reports (which carry the objects' production sizes:
//! moto holds small bodies), the history as the function stores it, and canned Cost Explorer
//! results.
//!
//! What moto 5.2.5 cannot do, and how these tests stand in for it: no NodeSnapshots (the
//! emulator's named stand-in sizes cache snapshots), no AWS Backup recovery points (the AWS
//! Backup client is `aws-smithy-mocks`, recorded for the permission check), no Cost Explorer
//! throttling (the fault proxy answers ThrottlingException), no way to replace a CloudWatch
//! datapoint (the fixtures put each day's once).
//!
//! Every figure a test expects is computed here by hand from AWS's list prices (us-east-1, as
//! of `prices.taken`), not read back from the function.

use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
use aws_sdk_backup::types::{CalculatedLifecycle, RecoveryPointByBackupVault, RecoveryPointStatus};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cost_anomaly::execute::{day_key, ALERTS_KEY};
use cost_anomaly::plan::model::days_in_month;
use cost_anomaly::plan::Day;
use cost_anomaly::App;
use lifeboat_shared::call_log::Recorder;
use lifeboat_shared::journal::Journal;
use lifeboat_shared::report::{Report, Section, Severity};
use lifeboat_shared::run::Response;
use lifeboat_tests::cost::{
    self, Anomaly, CeGroup, CostPolicy, CostSeed, Rhythm, Seeded, UNMANAGED_SNAPSHOTS,
};
use lifeboat_tests::faults::{Fault, FaultProxy, Rule, When};
use lifeboat_tests::{read_emails, Email, PRIMARY};
use serde_json::{json, Value};

use crate::util::{self, Harness};

/// AWS list prices (USD per GB-month; transfer per GB), us-east-1, as the policy's defaults.
const RDS_SNAPSHOT: f64 = 0.095;
const AURORA_BACKUP: f64 = 0.021;
const CACHE_SNAPSHOT: f64 = 0.085;
const STANDARD: f64 = 0.023;
const GLACIER_IR: f64 = 0.004;
const DEEP_ARCHIVE: f64 = 0.00099;
const INTELLIGENT_TIERING_IA: f64 = 0.0125;
const BACKUP_WARM: f64 = 0.05;
const BACKUP_COLD: f64 = 0.01;
const TRANSFER: f64 = 0.02;

const GIB: f64 = 1_073_741_824.0;
const VAULT: &str = "ecommerce-backup-vault";

/// The seed's cost alarms with a daily limit for this account's size: the seeded shop costs
/// about $2.43 a day (seed 003's $25/day is for a $553/month account).
const RULES: &str = "    limits:
      - {usd: 5, per: day}
      - {usd: 600, per: month}
    growth: [{percent: 20, period: 7d}]
    above_average: [{percent: 120, period: 7d}]
";

struct Fx {
    h: Harness<App>,
    seeded: Seeded,
    /// The day a manual run evaluates (yesterday).
    day: NaiveDate,
    now: DateTime<Utc>,
}

async fn fx(policy: CostPolicy, seed: CostSeed) -> Fx {
    let h = util::world()
        .dir("lifeboat-cost-test")
        .edit_policy(move |text| cost::with_cost(&text, &policy))
        .build(|parts| parts.cost_anomaly())
        .await;
    let now = Utc::now();
    let day = now.date_naive() - Duration::days(1);
    let seeded = cost::seed_cost_with(&h.emu, &h.world, day, &seed).await;
    Fx {
        h,
        seeded,
        day,
        now,
    }
}

impl Fx {
    async fn run(&self, payload: Value, request_id: &str) -> Response {
        self.run_at(payload, request_id, self.now).await
    }

    async fn run_at(&self, payload: Value, request_id: &str, now: DateTime<Utc>) -> Response {
        Box::pin(cost_anomaly::run(&self.h, &payload, request_id, now, None))
            .await
            .unwrap_or_else(|e| panic!("cost-anomaly {payload}: {e}"))
    }

    async fn emails(&self) -> Vec<Email> {
        read_emails(&self.h.emu.config(PRIMARY).await, &self.h.world.queue_url).await
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        self.h.report_s3.clone()
    }

    /// The keys under `prefix` in the report bucket.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .s3()
            .list_objects_v2()
            .bucket(&self.h.world.report_bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    async fn stored_day(&self, d: NaiveDate) -> Option<Day> {
        Journal::<Day>::load(&self.s3(), &self.h.world.report_bucket, &day_key(d))
            .await
            .unwrap()
            .map(|j| j.state)
    }

    /// 28 days of steady history before `day`, like the account as it is now.
    async fn steady_history(&self, day: NaiveDate, now: DateTime<Utc>) -> Day {
        let template = cost::model_day(&self.h, day, now).await;
        let days = cost::steady_history(&template, 28, Rhythm::default());
        cost::seed_history(&self.s3(), &self.h.world.report_bucket, &days).await;
        template
    }

    async fn done(self) {
        self.h.world.drop_databases().await;
    }
}

fn report(r: &Response) -> &Report {
    match r {
        Response::Finished(r) => r,
        other => panic!("not a finished run: {other:?}"),
    }
}

fn section<'a>(r: &'a Report, title: &str) -> &'a Section {
    r.sections
        .iter()
        .find(|s| s.title.starts_with(title))
        .unwrap_or_else(|| panic!("no section {title} in\n{}", r.render_text()))
}

/// The ANOMALIES section: (state, "title: detail", contributors).
fn anomalies(r: &Report) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = Vec::new();
    for l in &section(r, "ANOMALIES").lines {
        if let Some(rest) = l.strip_prefix('[') {
            let (state, text) = rest.split_once("] ").unwrap();
            out.push((state.to_string(), text.to_string(), Vec::new()));
        } else if let (Some(last), true) = (out.last_mut(), l.starts_with("    ")) {
            last.2.push(l.trim().to_string());
        }
    }
    out
}

/// The USD a day a contributor line says (`... +$3.66/day: ...`).
fn delta(contributor: &str) -> f64 {
    let after = contributor.split(" +$").nth(1).unwrap();
    after.split("/day").next().unwrap().parse().unwrap()
}

/// The day's total BackupCostDaily measurement (no dimensions), if the day had one.
fn total(r: &Report) -> Option<f64> {
    r.measurements
        .iter()
        .find(|m| m.name == "BackupCostDaily" && m.dimensions.is_empty())
        .map(|m| m.value)
}

fn schedule(id: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time.to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/lifeboat-cost-anomaly"],
        "detail": {}
    })
}

fn close(got: f64, want: f64, tolerance: f64, what: &str) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want} (± {tolerance})"
    );
}

/// The line of `day` for (component, item words, class, region), USD a day.
fn line_usd(day: &Day, component: &str, item: &str, class: &str, region: &str) -> f64 {
    day.lines
        .iter()
        .filter(|l| {
            l.key.component == component
                && l.key.item.words() == item
                && l.key.class.name() == class
                && l.key.region == region
        })
        .map(|l| l.usd_day)
        .sum()
}

#[tokio::test]
async fn the_model_prices_the_seeded_account_by_hand_from_list_prices() {
    // Given the seeded shop and its backups as AWS would bill them on `day`
    let f = fx(CostPolicy::default(), CostSeed::default()).await;
    let days = days_in_month(f.day) as f64;

    // When a person asks for the cost of yesterday
    let r = f.run(json!({"action": "cost"}), "req-model-1").await;
    let rep = report(&r);
    let day = f.stored_day(f.day).await.expect("the day is recorded");

    // Then RDS snapshots are billed beyond the free allocation: in us-east-1 the snapshots hold
    // 541 GB allocated (ecommerce-prod-db: the automated one, the pre-migration one, Lifeboat's
    // of 45, 40 and 38 days ago: 5 × 100 GB; analytics-db's and scratch-db's automated ones:
    // 2 × 20 GB; moto's automated snapshot of the Aurora writer: 1 GB), the free allocation is
    // the 140 GB the three RDS instances provision, so 401 GB are billed, each snapshot for
    // 401/541 of its size; in us-west-2 the two DR copies (2 × 100 GB) have no free allocation
    let share = 401.0 / 541.0;
    let rds = |gb: f64| gb * share * RDS_SNAPSHOT / days;
    close(
        line_usd(
            &day,
            "orders-db",
            "Lifeboat snapshots",
            "rds-snapshot",
            "us-east-1",
        ),
        rds(300.0),
        1e-9,
        "orders-db Lifeboat snapshots",
    );
    close(
        line_usd(
            &day,
            "orders-db",
            "automated snapshots",
            "rds-snapshot",
            "us-east-1",
        ),
        rds(100.0),
        1e-9,
        "orders-db automated snapshot",
    );
    close(
        line_usd(
            &day,
            "orders-db",
            "manual snapshots not made by Lifeboat",
            "rds-snapshot",
            "us-east-1",
        ),
        rds(100.0),
        1e-9,
        "the pre-migration snapshot",
    );
    close(
        line_usd(&day, "orders-db", "DR copies", "rds-snapshot", "us-west-2"),
        200.0 * RDS_SNAPSHOT / days,
        1e-9,
        "DR copies",
    );
    // Aurora: TotalBackupStorageBilled 150 GiB (210 retention + 60 snapshots − the 120 GiB
    // volume), of which 60 GiB are the snapshots
    close(
        line_usd(
            &day,
            "catalog-aurora",
            "cluster snapshots",
            "aurora-backup",
            "us-east-1",
        ),
        60.0 * AURORA_BACKUP / days,
        1e-9,
        "Aurora cluster snapshots",
    );
    close(
        line_usd(
            &day,
            "catalog-aurora",
            "backup retention",
            "aurora-backup",
            "us-east-1",
        ),
        90.0 * AURORA_BACKUP / days,
        1e-9,
        "Aurora backup retention",
    );
    // ElastiCache: four snapshots of 2.6, 2.5, 2.5 and 2.4 GiB; the largest is the free one
    close(
        line_usd(
            &day,
            "sessions-redis",
            "cache snapshots",
            "elasticache-snapshot",
            "us-east-1",
        ),
        7.4 * CACHE_SNAPSHOT / days,
        1e-9,
        "cache snapshots (one free)",
    );
    // S3, per bucket and class, from the inventory reports: 30 days of exports in STANDARD
    // (180 GiB) and 30 in GLACIER_IR (180 GiB) with their 2,150-byte export_info files, four
    // retried exports' first parts noncurrent (24 GiB), the pre-migration archive in
    // DEEP_ARCHIVE (15 GiB); the replicas the same in us-west-2; the day's export (6 GiB)
    // replicated across regions
    let json_gib = 30.0 * 2150.0 / GIB;
    close(
        f.seeded.gib("STANDARD", true) - 28672.0 / GIB,
        180.0 + json_gib,
        1e-9,
        "seeded",
    );
    close(
        f.seeded.dr_gib("GLACIER_IR", true),
        180.0 + json_gib,
        1e-9,
        "seeded DR",
    );
    for (region, bucket) in [
        ("us-east-1", &f.h.world.backup_bucket),
        ("us-west-2", &f.h.world.dr_backup_bucket),
    ] {
        let l = |item: &str, class: &str| {
            day.lines
                .iter()
                .filter(|l| {
                    l.key.component == "orders-db"
                        && l.key.at == **bucket
                        && l.key.item.words() == item
                        && l.key.class.name() == class
                        && l.key.region == region
                })
                .map(|l| (l.gb, l.usd_day))
                .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
        };
        let (gb, usd) = l("objects", "STANDARD");
        close(gb, 180.0 + json_gib, 1e-6, "STANDARD GiB");
        close(usd, (180.0 + json_gib) * STANDARD / days, 1e-9, "STANDARD");
        let (gb, usd) = l("objects", "GLACIER_IR");
        close(gb, 180.0 + json_gib, 1e-6, "GLACIER_IR GiB");
        close(
            usd,
            (180.0 + json_gib) * GLACIER_IR / days,
            1e-9,
            "GLACIER_IR",
        );
        close(
            l("objects", "DEEP_ARCHIVE").1,
            15.0 * DEEP_ARCHIVE / days,
            1e-9,
            "DEEP_ARCHIVE",
        );
        close(
            l("noncurrent versions", "STANDARD").1,
            (24.0 + 4.0 * 2150.0 / GIB) * STANDARD / days,
            1e-9,
            "noncurrent versions",
        );
    }
    close(
        line_usd(
            &day,
            "orders-db",
            "replication transfer",
            "transfer",
            "us-east-1",
        ),
        (6.0 + 2150.0 / GIB) * TRANSFER,
        1e-9,
        "replication transfer",
    );
    // and the whole day is their sum (the artifacts' few KiB aside):
    // RDS (401 + 200) GB, Aurora 150, cache 7.4, STANDARD 2 × 204, GLACIER_IR 2 × 180,
    // DEEP_ARCHIVE 2 × 15 GB-months, 6 GB moved
    let by_hand = (601.0 * RDS_SNAPSHOT
        + 150.0 * AURORA_BACKUP
        + 7.4 * CACHE_SNAPSHOT
        + 408.0 * STANDARD
        + 360.0 * GLACIER_IR
        + 30.0 * DEEP_ARCHIVE)
        / days
        + 6.0 * TRANSFER;
    close(total(rep).unwrap(), by_hand, 0.0005, "the day's total");
    assert!(
        rep.headline
            .starts_with(&format!("backups cost {} on {}", usd(by_hand), f.day)),
        "{}",
        rep.headline
    );
    // the breakdown names each component with its figure, largest first
    let b = &section(rep, "COST ON").lines;
    let heads: Vec<&String> = b.iter().filter(|l| !l.starts_with(' ')).collect();
    assert!(heads[0].starts_with("orders-db: $"), "{heads:?}");
    for c in [
        "catalog-aurora: $0.10/day ($3.15/month)",
        "sessions-redis: $0.0203/day",
    ] {
        assert!(heads.iter().any(|h| h.starts_with(c)), "{c} in {heads:?}");
    }
    // and the email carries the breakdown
    let mail = f.emails().await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].body.contains("BY STORAGE CLASS"),
        "{}",
        mail[0].body
    );
    assert!(
        mail[0]
            .body
            .contains("s3://ecommerce-backups-prod-us-east-1: S3 Inventory report of"),
        "{}",
        mail[0].body
    );
    f.done().await;
}

fn usd(v: f64) -> String {
    cost_anomaly::plan::usd(v)
}

/// The seeded anomaly on yesterday, with 28 days of history before it: the account as it was
/// before the burst of manual snapshots, and as it is since.
struct Anomalous {
    f: Fx,
    anomaly: Anomaly,
    before: Day,
    after: Day,
}

async fn anomalous() -> Anomalous {
    let f = fx(
        CostPolicy {
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed {
            bucket_metrics: false,
            ..CostSeed::default()
        },
    )
    .await;
    let before = cost::model_day(&f.h, f.day, f.now).await;
    let anomaly = cost::seed_anomaly(&f.h.emu, &f.h.world, f.day).await;
    let after = cost::model_day(&f.h, f.day, f.now).await;
    let days = cost::changed_history(&before, &after, anomaly.since, 28, Rhythm::default());
    cost::seed_history(&f.s3(), &f.h.world.report_bucket, &days).await;
    Anomalous {
        f,
        anomaly,
        before,
        after,
    }
}

#[tokio::test]
async fn each_seed_rule_fires_on_the_seeded_anomaly_with_its_contributors_ranked() {
    // Given 28 days of history, a burst of 12 manual snapshots of the orders database three
    // days ago and the backup bucket's lifecycle rule no longer matching its backups
    let a = anomalous().await;
    let f = &a.f;
    let extra = 1200.0 * (1601.0 / 1741.0) * RDS_SNAPSHOT / days_in_month(f.day) as f64;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-anomaly-1").await;
    let rep = report(&r);

    // Then every seed rule fires: the daily limit, week-over-week growth, above the 7-day
    // average, and the robust baseline (median and MAD of the same weekdays)
    let found = anomalies(rep);
    let fired = |key: &str| {
        found
            .iter()
            .find(|(state, text, _)| state == "WARNING" && text.starts_with(key))
            .unwrap_or_else(|| panic!("{key} did not fire:\n{}", rep.render_text()))
    };
    let limit = fired("backup cost daily limit $5.00/day");
    let growth = fired("backup cost 7-day growth above 20%");
    let average = fired("backup cost above 120% of the 7-day average");
    let baseline = fired("backup cost against its 28-day baseline");
    assert!(baseline
        .1
        .contains("threshold median + max(3.5 × 1.4826 × MAD, $0.50)"));
    assert!(growth.1.contains("(threshold 20%"), "{}", growth.1);
    // and each names its contributors, ranked by dollar impact
    for (_, title, contributors) in [limit, growth, average, baseline] {
        assert!(!contributors.is_empty(), "{title}: no contributors");
        let deltas: Vec<f64> = contributors.iter().map(|c| delta(c)).collect();
        assert!(
            deltas.windows(2).all(|w| w[0] >= w[1]),
            "{title}: not ranked: {contributors:?}"
        );
    }
    // the baseline's first contributor is the burst: 12 snapshots new since the reference
    // began, not made by Lifeboat, and what they add a day
    let first = &baseline.2[0];
    assert!(
        first.starts_with(
            "1. orders-db manual snapshots not made by Lifeboat (rds-snapshot, us-east-1) +$"
        ),
        "{first}"
    );
    assert!(
        first.contains(&format!(
            "{UNMANAGED_SNAPSHOTS} snapshots new since {}, not made by Lifeboat ({}, {}, {}, …)",
            f.day - Duration::days(28),
            a.anomaly.unmanaged[0],
            a.anomaly.unmanaged[1],
            a.anomaly.unmanaged[10],
        )) || first.contains(&format!(
            "{UNMANAGED_SNAPSHOTS} snapshots new since {}, not made by Lifeboat",
            f.day - Duration::days(28)
        )),
        "{first}"
    );
    // its dollars: the 12 × 100 GB beyond the free allocation (1,601 of 1,741 GB billed) and
    // the pre-migration snapshot's larger billed share, against its baseline
    let unmanaged_now = 1300.0 * (1601.0 / 1741.0) * RDS_SNAPSHOT / days_in_month(f.day) as f64;
    assert!(
        delta(first) > extra && delta(first) < unmanaged_now,
        "{first}: between {extra} and {unmanaged_now}"
    );
    // the bucket that stopped transitioning contributes its STANDARD growth
    assert!(
        baseline.2.iter().any(|c| c.contains(
            "orders-db objects in ecommerce-backups-prod-us-east-1 (STANDARD, us-east-1) +$"
        ) && c.contains("GB stored")),
        "{:?}",
        baseline.2
    );
    // and the email lists the anomalies first: its findings are the anomalies, then their
    // contributors, then the breakdown
    let mail = f.emails().await;
    assert_eq!(mail.len(), 1);
    let body = &mail[0].body;
    let headings: Vec<&str> = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(' ') && !l.contains(" - ") && !l.contains(": "))
        .filter(|l| {
            l.split(' ')
                .next()
                .is_some_and(|w| w.len() > 3 && w.to_uppercase() == w)
        })
        .collect();
    assert_eq!(headings[..2], ["FINDINGS", "ANOMALIES"], "{body}");
    assert!(headings[2].starts_with("COST ON"), "{headings:?}");
    let findings: Vec<&str> = body
        .lines()
        .skip_while(|l| *l != "FINDINGS")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        findings.len(),
        found.iter().filter(|x| x.0 == "WARNING").count()
    );
    assert!(
        findings
            .iter()
            .all(|l| l.trim_start().starts_with("WARNING")),
        "{findings:?}"
    );
    assert!(mail[0].subject.contains("anomalies"), "{}", mail[0].subject);
    // and the anomalies are said once: the day's scheduled run, and a second schedule event
    // for it, find the states already recorded and stay quiet
    for (id, minutes) in [
        ("5d1c0b2a-9e8f-4a7b-b6c5-d4e3f2a1b0c9", 5),
        ("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", 40),
    ] {
        let again = f
            .run(schedule(id, f.now + Duration::minutes(minutes)), id)
            .await;
        assert_eq!(anomalies(report(&again)).len(), found.len());
    }
    assert_eq!(f.emails().await.len(), 0, "no second alert");
    assert_eq!(f.keys(&day_key(f.day)).await.len(), 1);
    // the model's day moved by what was seeded, and no more
    let moved = a.after.figure(&cost_anomaly::plan::Scope::Total).unwrap()
        - a.before.figure(&cost_anomaly::plan::Scope::Total).unwrap();
    let s3_moved = 84.0 * (STANDARD - GLACIER_IR) / days_in_month(f.day) as f64;
    let rds_moved = (1601.0 - 401.0) * RDS_SNAPSHOT / days_in_month(f.day) as f64;
    close(
        moved,
        rds_moved + s3_moved,
        1e-6,
        "the anomaly's cost a day",
    );
    a.f.done().await;
}

#[tokio::test]
async fn savings_name_the_bucket_that_stopped_transitioning_and_the_unmanaged_snapshots() {
    // Given the seeded anomaly
    let a = anomalous().await;
    let f = &a.f;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-savings-1").await;
    let rep = report(&r);
    let lines = &section(rep, "SAVINGS").lines;
    let text = lines.join("\n");

    // Then the lifecycle recommendation prices the exports older than 30 days still in
    // STANDARD (the function's `now` decides which are: 30 days and more) at STANDARD against
    // GLACIER_IR, names the rule whose filter no longer matches, and gives the command
    let aged: f64 = a
        .anomaly
        .objects
        .iter()
        .filter(|o| {
            o.latest
                && o.class == "STANDARD"
                && o.size >= 128 * 1024
                && f.now - o.modified > Duration::days(30)
        })
        .map(|o| o.size as f64 / GIB)
        .sum();
    assert!(
        aged >= 84.0,
        "the 14 days the rule matched nothing: {aged} GiB"
    );
    let monthly = aged * (STANDARD - GLACIER_IR);
    let title = format!(
        "{}/month: s3://{}: move backup objects older than 30 days from STANDARD to GLACIER_IR",
        usd(monthly),
        f.h.world.backup_bucket
    );
    assert!(text.contains(&title), "{title} in\n{text}");
    assert!(
        text.contains(&format!(
            "the bucket's rule \"{}\" moves objects to GLACIER_IR after 30 days, yet these are still in STANDARD: its filter does not match them or it is disabled",
            cost::LIFECYCLE_RULE
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "change: aws s3api put-bucket-lifecycle-configuration --bucket {} --lifecycle-configuration '{{\"Rules\":[{{\"ID\":\"lifeboat-backups-to-glacier-ir\",\"Status\":\"Enabled\",\"Filter\":{{\"Prefix\":\"backups/\"}},\"Transitions\":[{{\"Days\":30,\"StorageClass\":\"GLACIER_IR\"}}]}}]}}'",
        f.h.world.backup_bucket
    )), "{text}");
    // Intelligent-Tiering as its alternative: the infrequent tier less the monitoring fee
    let objects = a
        .anomaly
        .objects
        .iter()
        .filter(|o| {
            o.latest
                && o.class == "STANDARD"
                && o.size >= 128 * 1024
                && f.now - o.modified > Duration::days(30)
        })
        .count() as f64;
    let it = aged * (STANDARD - INTELLIGENT_TIERING_IA) - objects * 0.0025 / 1000.0;
    assert!(
        text.contains(&format!(
            "{}/month: s3://{}: Intelligent-Tiering for backup objects older than 30 days",
            usd(it),
            f.h.world.backup_bucket
        )),
        "{text}"
    );
    // the manual snapshots no retention governs: the 12 and the pre-migration one, each at its
    // billed share (1,601 of 1,741 GB) of $0.095, with the commands that delete them
    let unmanaged = 1300.0 * (1601.0 / 1741.0) * RDS_SNAPSHOT;
    assert!(
        text.contains(&format!(
            "{}/month: orders-db: manual snapshots no retention governs",
            usd(unmanaged)
        )),
        "{text}"
    );
    assert!(text.contains("evidence: 13 snapshot(s), 1300 GB allocated (an estimate: RDS snapshots are incremental)"), "{text}");
    for id in a.anomaly.unmanaged.iter().take(9) {
        assert!(
            text.contains(&format!(
                "aws rds delete-db-snapshot --region us-east-1 --db-snapshot-identifier {id}"
            )),
            "{id} in {text}"
        );
    }
    assert!(text.contains("# … and 3 more like these"), "{text}");
    // the noncurrent versions the backup bucket never expires (24 GiB in STANDARD)
    assert!(
        text.contains(&format!(
            "{}/month: s3://{}: expire noncurrent versions after 30 days",
            usd(24.0 * STANDARD),
            f.h.world.backup_bucket
        )),
        "{text}"
    );
    // Lifeboat's snapshots of 38, 40 and 45 days ago and their DR copies, which the
    // retention (7 daily, 4 weekly, 1 monthly) no longer keeps
    let beyond = 300.0 * (1601.0 / 1741.0) * RDS_SNAPSHOT;
    let dr_beyond = 200.0 * RDS_SNAPSHOT;
    assert!(
        text.contains(&format!(
            "{}/month: orders-db: snapshots of ecommerce-prod-db beyond the retention",
            usd(beyond)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}/month: orders-db: DR copies of ecommerce-prod-db beyond the retention",
            usd(dr_beyond)
        )),
        "{text}"
    );
    // the largest first, the total counts an alternative once
    let total_monthly = unmanaged + beyond + dr_beyond + monthly + 24.0 * STANDARD;
    assert!(
        lines[0].contains(&format!("{} a month in all", usd(total_monthly))),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with(&format!("1. {}/month: orders-db", usd(unmanaged))));
    // the DR bucket, whose rule still matches, has no lifecycle recommendation
    assert!(!text.contains(&format!(
        "s3://{}: move backup objects",
        f.h.world.dr_backup_bucket
    )));
    a.f.done().await;
}

#[tokio::test]
async fn a_baseline_with_too_little_history_says_so_and_judges_nothing() {
    // Given five days of history only
    let f = fx(
        CostPolicy {
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = cost::model_day(&f.h, f.day, f.now).await;
    let days = cost::steady_history(&template, 5, Rhythm::default());
    cost::seed_history(&f.s3(), &f.h.world.report_bucket, &days).await;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-short-1").await;
    let rep = report(&r);

    // Then the baseline and growth say how much history they have and need, and are not judged
    let notes = &section(rep, "NOTES").lines;
    assert!(
        notes.contains(
            &"backup cost: baseline has 5 of the 14 days of history it needs (of 28): not judged"
                .to_string()
        ),
        "{notes:?}"
    );
    assert!(
        notes.contains(
            &"backup cost: growth-7d (the last 7 days against the 7 before) needs 14 days with data, has 6"
                .to_string()
        ),
        "{notes:?}"
    );
    // the above-average rule has its 7 days? no: 5 days before the day
    assert!(
        notes.iter().any(|n| n
            == &format!(
                "backup cost: above-average-7d needs the 7 days before {} with data, has 5",
                f.day
            )),
        "{notes:?}"
    );
    // and nothing is an anomaly for want of history
    assert!(anomalies(rep).is_empty(), "{}", rep.render_text());
    f.done().await;
}

#[tokio::test]
async fn cost_explorer_results_are_reconciled_with_the_model() {
    // Given Cost Explorer enabled, 28 days of history (no backfill) and its canned answer for
    // the day: RDS snapshots billed at 62% of the model's estimate (snapshots are
    // incremental), the rest as modelled, the untagged S3 storage of other buckets and an
    // instance's hours (not backup cost)
    let f = fx(
        CostPolicy {
            cost_explorer: true,
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = f.steady_history(f.day, f.now).await;
    let mut groups = cost::ce_groups_like(&template, 1.0);
    for g in &mut groups {
        if g.usage_type.ends_with("RDS:ChargedBackupUsage") {
            g.usd *= 0.62;
            g.quantity *= 0.62;
        }
    }
    let tagged: f64 = groups.iter().map(|g| g.usd).sum();
    groups.push(CeGroup::new("TimedStorage-ByteHrs", None, 1.37, 1787.0));
    groups.push(CeGroup::new(
        "USE1-InstanceUsage:db.r6g.large",
        Some("orders-db"),
        6.19,
        24.0,
    ));
    // (the function asks for the day and the two before it, then, its stored days having no
    // actual cost yet, for the days before those: one backfill)
    let on = |d: NaiveDate| {
        let mut t = template.clone();
        t.date = d;
        (d, cost::ce_groups_like(&t, 1.0))
    };
    let recent = vec![
        on(f.day - Duration::days(2)),
        on(f.day - Duration::days(1)),
        (f.day, groups),
    ];
    let earlier: Vec<(NaiveDate, Vec<CeGroup>)> = (3..=28)
        .rev()
        .map(|b| on(f.day - Duration::days(b)))
        .collect();
    cost::queue_cost_explorer(
        &f.h.emu.endpoint,
        json!([
            cost::ce_response("Component", &recent),
            cost::ce_response("Component", &earlier),
        ]),
    )
    .await;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-ce-1").await;
    let rep = report(&r);

    // Then the report shows Cost Explorer's backup cost beside the model's, by class and by
    // component, with the difference; untagged S3 and other usage are shown, not compared
    let ce = &section(rep, "COST EXPLORER").lines;
    let text = ce.join("\n");
    assert!(
        ce[0].starts_with(&format!(
            "actual backup cost {} on {} (by usage type",
            usd(tagged),
            f.day
        )),
        "{text}"
    );
    let model_rds: f64 = template
        .lines
        .iter()
        .filter(|l| l.key.class.name() == "rds-snapshot")
        .map(|l| l.usd_day)
        .sum();
    let day = f.stored_day(f.day).await.unwrap();
    let model_rds_today: f64 = day
        .lines
        .iter()
        .filter(|l| l.key.class.name() == "rds-snapshot")
        .map(|l| l.usd_day)
        .sum();
    close(model_rds_today, model_rds, 1e-9, "the model's RDS figure");
    assert!(
        text.contains(&format!(
            "class rds-snapshot: model {} against Cost Explorer {} (+{})",
            usd(model_rds),
            usd(model_rds * 0.62),
            usd(model_rds * 0.38)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "class aurora-backup: model {} against Cost Explorer {} (+$0.00)",
            usd(150.0 * AURORA_BACKUP / days_in_month(f.day) as f64),
            usd(150.0 * AURORA_BACKUP / days_in_month(f.day) as f64)
        )),
        "{text}"
    );
    assert!(text.contains("component orders-db: model $"), "{text}");
    assert!(
        text.contains("not compared: $7.56 of other usage types (2 types"),
        "{text}"
    );
    // two requests ($0.01 each): the recent days, and the stored days' actual cost
    assert!(
        section(rep, "NOTES")
            .lines
            .iter()
            .any(|n| n.contains("2 Cost Explorer request(s)")),
        "{:?}",
        section(rep, "NOTES").lines
    );
    f.done().await;
}

#[tokio::test]
async fn a_short_history_is_backfilled_from_cost_explorer_once() {
    // Given Cost Explorer enabled and no history: its 28 days (one request) and the day's
    let f = fx(
        CostPolicy {
            cost_explorer: true,
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = cost::model_day(&f.h, f.day, f.now).await;
    cost::queue_cost_explorer(
        &f.h.emu.endpoint,
        cost::ce_answers("Component", &template, f.day, 28, 0.9, true),
    )
    .await;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-backfill-1").await;
    let rep = report(&r);

    // Then the 28 days before it are stored from Cost Explorer (source cost-explorer), the day
    // itself from the model, and the report says so
    let notes = &section(rep, "NOTES").lines;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("28 backfilled from Cost Explorer")),
        "{notes:?}"
    );
    for back in 1..=28 {
        let d = f.stored_day(f.day - Duration::days(back)).await.unwrap();
        assert_eq!(d.source, "cost-explorer");
    }
    assert_eq!(f.stored_day(f.day).await.unwrap().source, "model");
    // and a second run reads them instead of asking again
    let again = f.run(json!({"action": "cost"}), "req-backfill-2").await;
    assert!(section(report(&again), "NOTES")
        .lines
        .iter()
        .any(|n| n.contains("1 Cost Explorer request(s)")));
    f.done().await;
}

#[tokio::test]
async fn an_absent_aurora_metric_is_no_data_never_zero_and_never_a_fall() {
    // Given 28 days of steady history and, today, no Aurora billed-bytes datapoint (only
    // yesterday's was put)
    let f = fx(
        CostPolicy {
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let later = f.now + Duration::days(1);
    let today = f.day + Duration::days(1);
    let mut template = cost::model_day(&f.h, f.day, f.now).await;
    template.date = today;
    let days = cost::steady_history(&template, 28, Rhythm::default());
    cost::seed_history(&f.s3(), &f.h.world.report_bucket, &days).await;

    // When today is evaluated (a day later)
    let r = f
        .run_at(json!({"action": "cost"}), "req-nodata-1", later)
        .await;
    let rep = report(&r);

    // Then catalog-aurora is NO DATA with the missing metric named, the total is "at least"
    // what was read, not a figure, and nothing reads as a fall or as $0
    let breakdown = &section(rep, "COST ON").lines;
    let aurora = breakdown
        .iter()
        .find(|l| l.starts_with("catalog-aurora: "))
        .unwrap();
    assert!(
        aurora.starts_with("catalog-aurora: NO DATA (at least $0.00/day from the sources read): CloudWatch AWS/RDS TotalBackupStorageBilled for catalog-aurora: no datapoint for"),
        "{aurora}"
    );
    // (what was read: yesterday's figures less Aurora's and less the replication of
    // yesterday's export: nothing was written today)
    let known = template.figure(&cost_anomaly::plan::Scope::Total).unwrap()
        - line_usd(
            &template,
            "catalog-aurora",
            "cluster snapshots",
            "aurora-backup",
            "us-east-1",
        )
        - line_usd(
            &template,
            "catalog-aurora",
            "backup retention",
            "aurora-backup",
            "us-east-1",
        )
        - line_usd(
            &template,
            "orders-db",
            "replication transfer",
            "transfer",
            "us-east-1",
        );
    assert!(
        rep.headline.starts_with("backups cost at least $"),
        "{}",
        rep.headline
    );
    assert!(rep
        .headline
        .contains(&format!("on {today}: no data for 1 source(s)")));
    let at_least: f64 = rep.headline["backups cost at least $".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    close(at_least, known, 0.005, "at least");
    assert_eq!(total(rep), None, "no total figure without Aurora's");
    assert!(
        rep.findings.iter().any(|x| x.severity == Severity::Warning
            && x.message
                .contains("catalog-aurora (CloudWatch AWS/RDS TotalBackupStorageBilled")),
        "{:?}",
        rep.findings
    );
    let found = anomalies(rep);
    assert!(
        found.iter().all(|(state, _, _)| state == "NO DATA"),
        "only NO DATA, no anomaly: {found:?}"
    );
    let stored = f.stored_day(today).await.unwrap();
    assert_eq!(stored.figure(&cost_anomaly::plan::Scope::Total), None);
    assert_eq!(
        stored.figure(&cost_anomaly::plan::Scope::Component(
            "catalog-aurora".into()
        )),
        None
    );
    f.done().await;
}

#[tokio::test]
async fn cost_explorer_throttled_is_named_and_the_model_stands() {
    // Given Cost Explorer enabled, 28 days of history and Cost Explorer throttling every
    // request (the fault proxy answers ThrottlingException: moto never throttles)
    let f = fx(
        CostPolicy {
            cost_explorer: true,
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = f.steady_history(f.day, f.now).await;
    let proxy = FaultProxy::start(&f.h.emu.endpoint);
    proxy.set_rules(
        1,
        &[Rule {
            service: Some("ce".into()),
            operation: Some("GetCostAndUsage".into()),
            when: When::Before,
            fault: Fault::Throttle,
            ..Rule::default()
        }],
    );
    let app = util::function_parts(
        lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await,
        &f.h.world,
    )
    .await
    .cost_anomaly();

    // (a malformed command is refused by field before any AWS call)
    proxy.clear_log();
    let refused = Box::pin(cost_anomaly::run(
        &app,
        &json!({"action": "cost", "date": "yesterday"}),
        "req-malformed-1",
        f.now,
        None,
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        refused.starts_with("invalid event: event.date"),
        "{refused}"
    );
    assert!(proxy.log().is_empty(), "no request: {:?}", proxy.log());

    // When the day is evaluated
    let r = Box::pin(cost_anomaly::run(
        &app,
        &json!({"action": "cost"}),
        "req-throttled-1",
        f.now,
        None,
    ))
    .await
    .unwrap();
    let rep = report(&r);

    // Then Cost Explorer's error is named, the model's figures stand (never $0), and no
    // anomaly comes of the missing figures
    let ce = section(rep, "COST EXPLORER").lines.join("\n");
    assert!(
        ce.contains("could not be read: ThrottlingException: Rate exceeded"),
        "{ce}"
    );
    close(
        total(rep).unwrap(),
        template.figure(&cost_anomaly::plan::Scope::Total).unwrap(),
        1e-6,
        "the model's total",
    );
    let found = anomalies(rep);
    assert!(
        found
            .iter()
            .all(|(state, _, _)| state != "WARNING" && state != "CRITICAL"),
        "{found:?}"
    );
    assert!(!rep.headline.contains("$0.00"), "{}", rep.headline);
    let tried = proxy
        .log()
        .iter()
        .filter(|x| x.operation == "GetCostAndUsage")
        .count();
    assert!(tried >= 1, "Cost Explorer was asked");
    f.done().await;
}

#[tokio::test]
async fn a_rerun_of_the_day_neither_counts_twice_nor_alerts_twice() {
    // Given 28 days of steady history
    let f = fx(CostPolicy::default(), CostSeed::default()).await;
    f.steady_history(f.day, f.now).await;
    let event = schedule("4f2b9c1e-6a3d-4e8b-9c7a-2d1e0f3b5a69", f.now);

    // When the schedule runs (the day's first run: its states are new, it emails), its event
    // is delivered again, a second schedule event comes for the same day, and a person asks
    let first = f.run(event.clone(), "req-rerun-1").await;
    let first_day = f.stored_day(f.day).await.unwrap();
    let redelivered = f.run(event, "req-rerun-2").await;
    let second = f
        .run(
            schedule(
                "9a0e7c55-1d2b-4c3e-8f4a-5b6c7d8e9f00",
                f.now + Duration::minutes(10),
            ),
            "req-rerun-3",
        )
        .await;
    let manual = f.run(json!({"action": "cost"}), "req-rerun-4").await;

    // Then the day is one record, written by the first run and kept by the others, with the
    // same figures in every report
    assert_eq!(f.keys(&day_key(f.day)).await, vec![day_key(f.day)]);
    let stored = f.stored_day(f.day).await.unwrap();
    assert_eq!(stored, first_day);
    assert_eq!(stored.written_by, report(&first).run_id);
    let t = total(report(&first)).unwrap();
    for r in [&second, &manual] {
        close(total(report(r)).unwrap(), t, 1e-12, "the same figures");
    }
    for r in [&second, &manual] {
        assert!(
            section(report(r), "NOTES").lines.contains(&format!(
                "history: {} was already recorded by run {}; kept (a day is one record, never counted twice)",
                f.day,
                report(&first).run_id
            )),
            "{}",
            report(r).render_text()
        );
    }
    // the redelivered event answers from the first run's record
    match &redelivered {
        Response::Skipped {
            run_id: Some(id),
            reason,
            ..
        } => {
            assert_eq!(id, &report(&first).run_id);
            assert!(reason.starts_with("already done"), "{reason}");
        }
        other => panic!("a redelivered event is answered from its run's record: {other:?}"),
    }
    // and only the first scheduled run and the person's run email: the second scheduled run
    // found nothing changed and stayed quiet
    let mail = f.emails().await;
    assert_eq!(
        mail.len(),
        2,
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(mail.iter().all(|m| m.subject.contains("[Lifeboat OK]")));
    f.done().await;
}

#[tokio::test]
async fn a_dry_run_writes_nothing_a_past_date_is_re_evaluated_from_history_and_only_narrows() {
    let f = fx(CostPolicy::default(), CostSeed::default()).await;

    // When a person runs a dry run
    let dry = f
        .run(json!({"action": "cost", "dry_run": true}), "req-dry-1")
        .await;

    // Then it reports the day (the same figure the model gives) but writes no history, no alert
    // state, no lease, no run record, and emits no BackupCostDaily (a dashboard point)
    let template = cost::model_day(&f.h, f.day, f.now).await;
    let figure = template.figure(&cost_anomaly::plan::Scope::Total).unwrap();
    assert!(
        report(&dry)
            .headline
            .starts_with(&format!("backups cost {} on {}", usd(figure), f.day)),
        "{}",
        report(&dry).headline
    );
    assert_eq!(total(report(&dry)), None);
    assert!(report(&dry).dry_run);
    for prefix in ["cost/history/", "state/cost-anomaly/", "locks/", "runs/"] {
        assert_eq!(f.keys(prefix).await, Vec::<String>::new(), "{prefix}");
    }

    // Given history for a week ago, and when a person asks for that date
    let days = cost::steady_history(&template, 8, Rhythm::default());
    cost::seed_history(&f.s3(), &f.h.world.report_bucket, &days).await;
    let week_ago = f.day - Duration::days(7);
    let before = f.keys("").await;
    let past = f
        .run(
            json!({"action": "cost", "date": week_ago.to_string()}),
            "req-past-1",
        )
        .await;

    // Then its figures are the stored day's (no dashboard point for a past day), and nothing
    // but the report's archive is written
    let stored = f.stored_day(week_ago).await.unwrap();
    let stored_total = stored.figure(&cost_anomaly::plan::Scope::Total).unwrap();
    assert!(
        report(&past)
            .headline
            .starts_with(&format!("backups cost {} on {week_ago}", usd(stored_total))),
        "{}",
        report(&past).headline
    );
    assert_eq!(total(report(&past)), None);
    let written: Vec<String> = f
        .keys("")
        .await
        .into_iter()
        .filter(|k| !before.contains(k) && !k.starts_with("reports/cost-anomaly/"))
        .collect();
    assert_eq!(written, Vec::<String>::new());
    assert!(f.keys(ALERTS_KEY).await.is_empty());

    // A date with no record (and Cost Explorer off) says so, and judges nothing
    let none = f
        .run(
            json!({"action": "cost", "date": (f.day - Duration::days(20)).to_string()}),
            "req-past-2",
        )
        .await;
    assert_eq!(
        report(&none).headline,
        format!("no cost recorded for {}", f.day - Duration::days(20))
    );

    // When a person asks for one component only
    let only = f
        .run(
            json!({"action": "cost", "only": ["catalog-aurora"], "dry_run": true}),
            "req-only-1",
        )
        .await;
    let b = &section(report(&only), "COST ON").lines;
    assert!(b[0].starts_with("catalog-aurora: $0.10/day"), "{b:?}");
    assert!(!b.iter().any(|l| l.starts_with("orders-db")), "{b:?}");
    let classes = &section(report(&only), "BY STORAGE CLASS").lines;
    assert_eq!(classes.len(), 1, "{classes:?}");
    assert!(classes[0].starts_with("aurora-backup"));
    // and a name that is no component is said
    let unknown = f
        .run(
            json!({"action": "cost", "only": ["catalog"], "dry_run": true}),
            "req-only-2",
        )
        .await;
    assert!(
        section(report(&unknown), "NOTES")
            .lines
            .iter()
            .any(|n| n.starts_with(&format!("only: \"catalog\" is no component of {}", f.day))),
        "{:?}",
        section(report(&unknown), "NOTES").lines
    );
    f.done().await;
}

#[tokio::test]
async fn preflight_answers_for_every_check() {
    // Given Cost Explorer enabled, the inventory reports and an AWS Backup vault (its client
    // mocked: moto has no recovery points)
    let mut f = fx(
        CostPolicy {
            cost_explorer: true,
            backup_vaults: vec![VAULT.into()],
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let rec = Recorder::new("lifeboat-cost-anomaly");
    f.h.app.clients.backup = vault_client(&rec, vec![]);

    // When a person runs the preflight
    let r = f
        .run(json!({"action": "preflight"}), "req-preflight-1")
        .await;
    let rep = report(&r);

    // Then every check has its answer, and on this account all are OK
    let items = rep.details["preflight"].as_array().unwrap();
    let calls: Vec<(String, String, String)> = items
        .iter()
        .map(|i| {
            (
                i["subject"].as_str().unwrap_or_default().to_string(),
                i["call"].as_str().unwrap_or_default().to_string(),
                i["verdict"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let bad: Vec<&(String, String, String)> = calls.iter().filter(|(_, _, v)| v != "OK").collect();
    assert!(bad.is_empty(), "{bad:?}\n{}", rep.render_text());
    for (subject, call) in [
        ("backups in us-east-1", "rds:DescribeDBSnapshots"),
        ("backups in us-west-2", "rds:DescribeDBSnapshots"),
        ("backups in us-east-1", "elasticache:DescribeSnapshots"),
        ("backups in us-east-1", "rds:DescribeDBClusters"),
        ("s3://ecommerce-backups-prod-us-east-1", "s3:GetBucketLifecycleConfiguration"),
        ("s3://ecommerce-backups-prod-us-west-2", "s3:GetBucketReplication"),
        ("s3://ecommerce-backups-prod-us-east-1", "cloudwatch:GetMetricData"),
        ("s3://ecommerce-backups-prod-us-east-1", "s3:ListMultipartUploads"),
        (
            "s3://ecommerce-s3-inventory-us-east-1/inventory/ecommerce-backups-prod-us-east-1/lifeboat-cost/",
            "s3:ListObjectsV2",
        ),
        ("AWS Backup vault ecommerce-backup-vault", "backup:ListRecoveryPointsByBackupVault"),
        ("Cost Explorer", "ce:GetCostAndUsage"),
    ] {
        assert!(
            calls.iter().any(|(s, c, _)| s == subject && c == call),
            "{subject} {call} in {calls:?}"
        );
    }
    // the report bucket's keys the runs read before they exist answer 404, not 403
    assert!(
        calls
            .iter()
            .filter(|(s, c, _)| s.contains("lifeboat-reports-123456789012") && c == "s3:GetObject")
            .count()
            >= 4,
        "{calls:?}"
    );
    // and nothing was written
    assert_eq!(f.keys("cost/").await, Vec::<String>::new());
    assert_eq!(f.keys("state/").await, Vec::<String>::new());
    f.done().await;
}

/// An AWS Backup client answering ListRecoveryPointsByBackupVault for [`VAULT`] with `points`,
/// recorded for the permission check.
fn vault_client(rec: &Recorder, points: Vec<RecoveryPointByBackupVault>) -> aws_sdk_backup::Client {
    let rule = mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault)
        .match_requests(|r| r.backup_vault_name() == Some(VAULT))
        .then_output(move || {
            ListRecoveryPointsByBackupVaultOutput::builder()
                .set_recovery_points(Some(points.clone()))
                .build()
        });
    let region = aws_sdk_backup::config::Region::new(PRIMARY);
    mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[&rule], |c| c
        .region(region.clone())
        .interceptor(rec.clone()))
}

#[tokio::test]
async fn aws_backup_vault_recovery_points_are_costed_warm_and_cold() {
    // Given the vault `ecommerce-backup-vault` holding an EFS file system's recovery points, one
    // still warm (it moves to cold storage in 20 days) and one cold since 60 days, and an RDS
    // one (billed as RDS snapshot storage, already counted there). This is a mock: moto 5.2.5
    // has no ListRecoveryPointsByBackupVault (it answers 404), so the AWS Backup client is
    // aws-smithy-mocks with the response shape AWS documents (BackupSizeInBytes,
    // CalculatedLifecycle.MoveToColdStorageAt), its calls recorded for the permission check.
    let mut f = fx(
        CostPolicy {
            backup_vaults: vec![VAULT.into()],
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let point = |id: &str, resource: &str, kind: &str, gib: f64, cold_days: i64| {
        RecoveryPointByBackupVault::builder()
            .recovery_point_arn(format!(
                "arn:aws:backup:us-east-1:123456789012:recovery-point:{id}"
            ))
            .backup_vault_name(VAULT)
            .resource_arn(resource)
            .resource_type(kind)
            .status(RecoveryPointStatus::Completed)
            .backup_size_in_bytes((gib * GIB) as i64)
            .creation_date(aws_smithy_types::DateTime::from_secs(
                (f.now - Duration::days(100 - cold_days)).timestamp(),
            ))
            .calculated_lifecycle(
                CalculatedLifecycle::builder()
                    .move_to_cold_storage_at(aws_smithy_types::DateTime::from_secs(
                        (f.now + Duration::days(cold_days)).timestamp(),
                    ))
                    .build(),
            )
            .build()
    };
    let efs = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0a1b2c3d4e5f60718";
    let rec = Recorder::new("lifeboat-cost-anomaly");
    f.h.app.clients.backup = vault_client(
        &rec,
        vec![
            point("3f1e2d4c-warm", efs, "EFS", 50.0, 20),
            point("8b7a6c5d-cold", efs, "EFS", 200.0, -60),
            point(
                "9c8d7e6f-rds",
                "arn:aws:rds:us-east-1:123456789012:db:ecommerce-prod-db",
                "RDS",
                100.0,
                -10,
            ),
        ],
    );

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-vault-1").await;
    let rep = report(&r);
    let day = f.stored_day(f.day).await.unwrap();

    // Then the warm point is billed at AWS Backup's warm price and the cold one at the cold
    // price, in the vault, and the RDS point is not counted a second time
    let days = days_in_month(f.day) as f64;
    let points: Vec<_> = day
        .lines
        .iter()
        .filter(|l| l.key.item.words() == "AWS Backup recovery points")
        .collect();
    assert_eq!(points.len(), 2, "{points:?}");
    for l in &points {
        assert_eq!(l.key.at, VAULT);
        assert_eq!(l.key.component, "(outside the policy)");
    }
    let warm = points
        .iter()
        .find(|l| l.key.class.name() == "backup-warm")
        .unwrap();
    close(warm.usd_day, 50.0 * BACKUP_WARM / days, 1e-9, "warm");
    let cold = points
        .iter()
        .find(|l| l.key.class.name() == "backup-cold")
        .unwrap();
    close(cold.usd_day, 200.0 * BACKUP_COLD / days, 1e-9, "cold");
    assert!(!points
        .iter()
        .any(|l| l.ids.iter().any(|i| i.contains("rds"))));
    assert!(
        section(rep, "BY STORAGE CLASS")
            .lines
            .iter()
            .any(|l| l.starts_with("backup-warm")),
        "{:?}",
        section(rep, "BY STORAGE CLASS").lines
    );
    f.done().await;
}

#[tokio::test]
async fn a_missing_inventory_report_is_no_data_and_a_later_run_that_reads_it_replaces_the_day() {
    // Given 28 days of steady history and the backup bucket's inventory report broken: its
    // manifest names a data file that is not there
    let f = fx(
        CostPolicy {
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = f.steady_history(f.day, f.now).await;
    let inventory = lifeboat_tests::s3(&f.h.emu.config(PRIMARY).await);
    let data = format!(
        "{}/{}/{}/data/",
        cost::INVENTORY_PREFIX,
        f.h.world.backup_bucket,
        cost::INVENTORY_CONFIG
    );
    let listed = inventory
        .list_objects_v2()
        .bucket(cost::INVENTORY_BUCKET)
        .prefix(&data)
        .send()
        .await
        .unwrap();
    for o in listed.contents() {
        inventory
            .delete_object()
            .bucket(cost::INVENTORY_BUCKET)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
    }

    // When the schedule runs
    let first = f
        .run(
            schedule("0b5c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d", f.now),
            "req-report-1",
        )
        .await;
    let rep = report(&first);

    // Then every component that may keep exports in that bucket is NO DATA with the missing
    // file named, the day's total is "at least", and nothing reads as a fall
    let breakdown = &section(rep, "COST ON").lines;
    let orders = breakdown
        .iter()
        .find(|l| l.starts_with("orders-db: "))
        .unwrap();
    assert!(
        orders.starts_with("orders-db: NO DATA (at least $"),
        "{orders}"
    );
    assert!(
        orders.contains(&format!(
            "S3 Inventory report for s3://{}: data file s3://{}/{data}",
            f.h.world.backup_bucket,
            cost::INVENTORY_BUCKET
        )) && orders.contains("listed in the manifest, is missing"),
        "{orders}"
    );
    assert!(
        rep.headline.starts_with("backups cost at least $"),
        "{}",
        rep.headline
    );
    assert_eq!(total(rep), None);
    assert!(
        anomalies(rep)
            .iter()
            .all(|(state, _, _)| state != "WARNING" && state != "CRITICAL"),
        "{}",
        rep.render_text()
    );
    // the savings do not claim the bucket is unreadable for want of a report: one is named
    let savings = section(rep, "SAVINGS").lines.join("\n");
    assert!(
        !savings.contains(&format!(
            "s3://{}: too many objects to list and no inventory report named",
            f.h.world.backup_bucket
        )),
        "{savings}"
    );
    let stored = f.stored_day(f.day).await.unwrap();
    assert!(!stored.gaps.is_empty());
    assert_eq!(stored.figure(&cost_anomaly::plan::Scope::Total), None);

    // When the report is delivered again and a second schedule event for the day comes
    cost::write_inventory(
        &inventory,
        &f.h.world.backup_bucket,
        cost::INVENTORY_BUCKET,
        Utc::now(),
    )
    .await;
    let second = f
        .run(
            schedule(
                "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5",
                f.now + Duration::minutes(30),
            ),
            "req-report-2",
        )
        .await;

    // Then the day's record is replaced by the run that read every source, and its figures
    // are the whole day's
    let rep2 = report(&second);
    assert!(
        section(rep2, "NOTES")
            .lines
            .iter()
            .any(|n| n.starts_with(&format!(
                "history: {} recorded by run {} with ",
                f.day,
                report(&first).run_id
            )) && n.ends_with("replaced by this run's")),
        "{:?}",
        section(rep2, "NOTES").lines
    );
    let stored = f.stored_day(f.day).await.unwrap();
    assert!(stored.gaps.is_empty(), "{:?}", stored.gaps);
    assert_eq!(stored.written_by, rep2.run_id);
    close(
        stored.figure(&cost_anomaly::plan::Scope::Total).unwrap(),
        template.figure(&cost_anomaly::plan::Scope::Total).unwrap(),
        1e-6,
        "the whole day",
    );
    f.done().await;
}

#[tokio::test]
async fn retention_savings_name_what_the_retention_lets_go_and_orphans_are_priced() {
    // Given orders-db kept by grandfather-father-son retention (7 daily, 3 monthly), 17 of
    // Lifeboat's snapshots (the last 14 days, and 38, 40 and 45 days ago) with their DR copies,
    // and a snapshot of scratch-db, dropped since
    let h = util::world()
        .dir("lifeboat-cost-test")
        .scenario(lifeboat_tests::Scenario {
            history_days: 14,
            ..lifeboat_tests::Scenario::default()
        })
        .edit_policy(move |text| {
            let text = text.replacen(
                "  - name: orders-db\n    kind: rds-instance\n",
                "  - name: orders-db\n    kind: rds-instance\n    retention: {daily: 7, monthly: 3}\n",
                1,
            );
            cost::with_cost(&text, &CostPolicy::default())
        })
        .build(|parts| parts.cost_anomaly())
        .await;
    let now = Utc::now();
    let day = now.date_naive() - Duration::days(1);
    cost::seed_cost(&h.emu, &h.world, day).await;
    let primary = h.emu.config(PRIMARY).await;
    let rds = aws_sdk_rds::Client::new(&primary);
    h.emu.shift_clock(-Duration::days(9));
    rds.create_db_snapshot()
        .db_instance_identifier("scratch-db")
        .db_snapshot_identifier("scratch-db-before-drop")
        .send()
        .await
        .unwrap();
    h.emu.reset_clock();
    rds.delete_db_instance()
        .db_instance_identifier("scratch-db")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();

    // When the day is evaluated
    let r = Box::pin(cost_anomaly::run(
        &h,
        &json!({"action": "cost"}),
        "req-retention-1",
        now,
        None,
    ))
    .await
    .unwrap();
    let rep = report(&r);
    let lines = &section(rep, "SAVINGS").lines;
    let text = lines.join("\n");

    // Then the snapshots the retention saving would delete are exactly those snapshot-export's
    // retention lets go (its own gfs_keep, on the same snapshots, policy and time)
    let listed = |title: &str, region: &str| -> Vec<String> {
        let start = lines
            .iter()
            .position(|l| l.contains(title))
            .unwrap_or_else(|| panic!("no saving {title} in\n{text}"));
        lines[start + 1..]
            .iter()
            .take_while(|l| {
                !l.chars().next().is_some_and(|c| c.is_ascii_digit()) && !l.starts_with("note:")
            })
            .filter_map(|l| {
                l.split(&format!("--region {region} --db-snapshot-identifier "))
                    .nth(1)
                    .map(str::to_string)
            })
            .collect()
    };
    let retention = h.policy.settings_by_name("orders-db").retention;
    for (region, title) in [
        (
            PRIMARY,
            "orders-db: snapshots of ecommerce-prod-db beyond the retention",
        ),
        (
            "us-west-2",
            "orders-db: DR copies of ecommerce-prod-db beyond the retention",
        ),
    ] {
        let client = aws_sdk_rds::Client::new(&h.emu.config(region).await);
        let ours: Vec<(String, DateTime<Utc>)> = lifeboat_shared::aws::rds::db_snapshots(
            &client,
            region,
            lifeboat_shared::aws::rds::SnapshotFilter::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.managed() && s.source_id == "ecommerce-prod-db")
        .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
        .collect();
        let keep = snapshot_export::plan::gfs_keep(&ours, retention, now);
        let mut let_go: Vec<String> = ours
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !keep.contains_key(id))
            .collect();
        let_go.sort();
        let mut named = listed(title, region);
        named.sort();
        for id in &named {
            assert!(
                !keep.contains_key(id),
                "{title}: {id} is kept by the retention ({}), yet its deletion is recommended",
                keep[id]
            );
        }
        assert_eq!(named, let_go, "{title}: what the retention lets go");
    }

    // and the orphaned snapshot is priced at its share of the billed RDS storage: us-east-1
    // holds 1,941 GB of snapshots (ecommerce-prod-db's 19 × 100, analytics-db's 20,
    // scratch-db's 20, moto's Aurora writer's 1) against 120 GB provisioned
    let orphan = 20.0 * (1821.0 / 1941.0) * RDS_SNAPSHOT;
    assert!(
        text.contains(&format!(
            "{}/month: delete snapshots of scratch-db, which no longer exists",
            usd(orphan)
        )),
        "{text}"
    );
    assert!(text.contains(
        "change: aws rds delete-db-snapshot --region us-east-1 --db-snapshot-identifier scratch-db-before-drop"
    ));
    h.world.drop_databases().await;
}

#[tokio::test]
async fn enabling_cost_explorer_on_a_model_history_gives_the_rules_their_history() {
    // Given 28 days recorded by the model before Cost Explorer was enabled, then Cost Explorer
    // enabled: its answers for those 28 days (one backfill request) and for the day
    let f = fx(
        CostPolicy {
            cost_explorer: true,
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = f.steady_history(f.day, f.now).await;
    cost::queue_cost_explorer(
        &f.h.emu.endpoint,
        cost::ce_answers("Component", &template, f.day, 28, 0.8, true),
    )
    .await;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-enable-ce-1").await;
    let rep = report(&r);

    // Then the rules, judged on Cost Explorer's actual cost, have their history: the model's
    // days are not comparable, so Cost Explorer's are read for them (one request), and the
    // baseline is judged rather than "too little history"
    let notes = &section(rep, "NOTES").lines;
    assert!(
        !notes
            .iter()
            .any(|n| n.starts_with("backup cost: baseline has ")),
        "the baseline lacks history although Cost Explorer could give it: {notes:?}"
    );
    let found = anomalies(rep);
    assert!(found.is_empty(), "steady: {found:?}");
    f.done().await;
}

#[tokio::test]
async fn a_day_cost_explorer_has_not_published_yet_is_no_data_not_zero() {
    // Given Cost Explorer enabled, with its days backfilled, and the evaluated day not yet in
    // Cost Explorer: AWS refreshes cost data at least once a day, so early in the morning
    // GetCostAndUsage answers yesterday with no groups (Estimated)
    let f = fx(
        CostPolicy {
            cost_explorer: true,
            anomalies: Some(RULES.into()),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let template = cost::model_day(&f.h, f.day, f.now).await;
    cost::queue_cost_explorer(
        &f.h.emu.endpoint,
        cost::ce_answers("Component", &template, f.day, 28, 0.8, false),
    )
    .await;

    // When the day is evaluated
    let r = f
        .run(json!({"action": "cost"}), "req-ce-unpublished-1")
        .await;
    let rep = report(&r);

    // Then Cost Explorer's figure for the day is "no data", never $0: not in the
    // reconciliation, not in the day's record, not in the series the rules judge
    let ce = section(rep, "COST EXPLORER").lines.join("\n");
    assert!(
        !ce.contains("actual backup cost $0.00"),
        "an unpublished day read as $0: {ce}"
    );
    let stored = f.stored_day(f.day).await.unwrap();
    assert!(
        stored.actual.as_ref().is_none_or(|a| !a.is_empty()),
        "the day's actual cost recorded as no lines ($0): {:?} / {:?}",
        stored.actual,
        stored.actual_error
    );
    assert!(
        stored
            .actual_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("no figures for {}", f.day))),
        "{:?}",
        stored.actual_error
    );

    // When the next day's run finds the day published
    let today = f.day + Duration::days(1);
    let on = |d: NaiveDate| {
        let mut t = template.clone();
        t.date = d;
        (d, cost::ce_groups_like(&t, 0.8))
    };
    cost::queue_cost_explorer(
        &f.h.emu.endpoint,
        cost::ce_response(
            "Component",
            &[on(f.day - Duration::days(1)), on(f.day), on(today)],
        ),
    )
    .await;
    f.run_at(
        json!({"action": "cost"}),
        "req-ce-unpublished-2",
        f.now + Duration::days(1),
    )
    .await;

    // Then it fills the day's actual cost into its record
    let stored = f.stored_day(f.day).await.unwrap();
    let actual: f64 = stored
        .actual
        .as_ref()
        .unwrap()
        .iter()
        .map(|l| l.usd_day)
        .sum();
    close(
        actual,
        0.8 * template.figure(&cost_anomaly::plan::Scope::Total).unwrap(),
        1e-6,
        "the day's actual cost, filled",
    );
    f.done().await;
}

#[tokio::test]
async fn a_large_bucket_without_an_inventory_report_is_costed_from_its_storage_metrics() {
    // Given no inventory report named and buckets past cost.list_up_to (CloudWatch says 271
    // and 259 objects; the policy lists at most 100): each bucket is costed from its AWS/S3
    // BucketSizeBytes per StorageType, as a whole, under its own component
    let f = fx(
        CostPolicy {
            inventories: false,
            extra: "  list_up_to: 100\n".into(),
            ..CostPolicy::default()
        },
        CostSeed::default(),
    )
    .await;
    let days = days_in_month(f.day) as f64;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-metrics-1").await;
    let rep = report(&r);
    let day = f.stored_day(f.day).await.unwrap();

    // Then the DR bucket's lines are its metrics' bytes at each class's price: STANDARD
    // (current and noncurrent), GLACIER_IR with the 128 KiB minimum of its small objects,
    // DEEP_ARCHIVE with its 32 KiB per object and the 8 KiB per object S3 bills at STANDARD
    let bucket = &f.h.world.dr_backup_bucket;
    let component = format!("s3:{bucket}");
    let class_gib = |class: &str| -> f64 {
        day.lines
            .iter()
            .filter(|l| l.key.component == component && l.key.class.name() == class)
            .map(|l| l.gb)
            .sum()
    };
    let seeded = &f.seeded.dr_objects;
    let of = |class: &str| -> Vec<&cost::SeededObject> {
        seeded.iter().filter(|o| o.class == class).collect()
    };
    let bytes = |objs: &[&cost::SeededObject]| objs.iter().map(|o| o.size as f64).sum::<f64>();
    let deep = of("DEEP_ARCHIVE");
    let gir = of("GLACIER_IR");
    let standard = bytes(&of("STANDARD")) + deep.len() as f64 * 8192.0;
    let glacier_ir = bytes(&gir)
        + gir
            .iter()
            .filter(|o| o.size < 128 * 1024)
            .map(|o| (128 * 1024 - o.size) as f64)
            .sum::<f64>();
    let deep_archive = bytes(&deep) + deep.len() as f64 * 32768.0;
    close(class_gib("STANDARD"), standard / GIB, 1e-9, "STANDARD");
    close(
        class_gib("GLACIER_IR"),
        glacier_ir / GIB,
        1e-9,
        "GLACIER_IR",
    );
    close(
        class_gib("DEEP_ARCHIVE"),
        deep_archive / GIB,
        1e-9,
        "DEEP_ARCHIVE",
    );
    let usd_day: f64 = day
        .lines
        .iter()
        .filter(|l| l.key.component == component)
        .map(|l| l.usd_day)
        .sum();
    close(
        usd_day,
        (standard * STANDARD + glacier_ir * GLACIER_IR + deep_archive * DEEP_ARCHIVE) / GIB / days,
        1e-9,
        "the DR bucket a day",
    );
    // the replicated backup bucket's transfer is unknown without a listing or a report: its
    // component is NO DATA, not $0
    let breakdown = &section(rep, "COST ON").lines;
    let primary = breakdown
        .iter()
        .find(|l| l.starts_with(&format!("s3:{}: ", f.h.world.backup_bucket)))
        .unwrap();
    assert!(primary.contains(": NO DATA (at least $"), "{primary}");
    assert!(
        primary.contains(
            "bytes written on the day are known only from a listing or an inventory report"
        ),
        "{primary}"
    );
    // and the savings say why they cannot judge the buckets' ages
    assert!(section(rep, "SAVINGS")
        .lines
        .iter()
        .any(|l| l.contains(&format!(
        "s3://{bucket}: too many objects to list and no inventory report named (cost.inventories)"
    ))));
    f.done().await;
}

#[tokio::test]
async fn a_manual_cache_snapshot_no_retention_governs_is_a_saving() {
    // Given a person's manual snapshot of the sessions cache before an upgrade (8 GiB), which
    // neither Lifeboat's retention nor the cache's automatic backup retention will delete
    let f = fx(CostPolicy::default(), CostSeed::default()).await;
    let ec = aws_sdk_elasticache::Client::new(&f.h.emu.config(PRIMARY).await);
    f.h.emu.shift_clock(-Duration::days(20));
    ec.create_snapshot()
        .replication_group_id(cost::CACHE_GROUP)
        .snapshot_name("sessions-before-redis7-upgrade")
        .send()
        .await
        .unwrap();
    f.h.emu.reset_clock();
    let sizes = [("sessions-before-redis7-upgrade", vec!["8 GB"])]
        .into_iter()
        .collect();
    cost::size_cache_snapshots(&f.h.emu.endpoint, PRIMARY, &sizes).await;

    // When the day is evaluated
    let r = f.run(json!({"action": "cost"}), "req-cache-manual-1").await;
    let rep = report(&r);

    // Then it is costed (it is now the largest, so the free one: the four Lifeboat snapshots
    // are all billed) and recommended for deletion with its command and dollars
    let day = f.stored_day(f.day).await.unwrap();
    close(
        line_usd(
            &day,
            "sessions-redis",
            "cache snapshots",
            "elasticache-snapshot",
            "us-east-1",
        ),
        10.0 * CACHE_SNAPSHOT / days_in_month(f.day) as f64,
        1e-9,
        "cache snapshots (the 8 GiB one free)",
    );
    let text = section(rep, "SAVINGS").lines.join("\n");
    assert!(
        text.contains(
            "aws elasticache delete-snapshot --region us-east-1 --snapshot-name sessions-before-redis7-upgrade"
        ),
        "a manual cache snapshot no retention governs is not among the savings:\n{text}"
    );
    f.done().await;
}
