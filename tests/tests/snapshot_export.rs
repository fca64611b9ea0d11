// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! snapshot-export against the local AWS emulator (moto server, pinned; started per test on a
//! free loopback port). Where moto lacks an API the test says so and uses aws-smithy-mocks
//! (see the `mocked` module).

use std::collections::BTreeSet;

use chrono::Utc;
use lifeboat_shared::report::{Outcome, Report, Status};
use lifeboat_tests::{read_emails, Scenario, World, DR, PRIMARY};
use serde_json::{json, Value};
use snapshot_export::App;

use crate::util::{self, Harness};

/// A seeded world with snapshot-export's App (`f.app`).
type Fixture = Harness<App>;

async fn fixture(scenario: Scenario) -> Fixture {
    fixture_with(scenario, |p| p).await
}

async fn fixture_with(
    scenario: Scenario,
    edit_policy: impl Fn(String) -> String + 'static,
) -> Fixture {
    util::world()
        .scenario(scenario)
        .edit_policy(edit_policy)
        .build(|parts| parts.snapshot_export())
        .await
}

/// The function's App for `world`, talking to whatever `config` points at.
async fn app_for(config: aws_config::SdkConfig, world: &World) -> App {
    util::function_parts(config, world).await.snapshot_export()
}

async fn invoke(f: &Fixture, payload: Value, request_id: &str) -> Report {
    snapshot_export::run(&f.app, &payload, request_id, Utc::now(), None)
        .await
        .expect("run succeeds")
        .report()
        .expect("a report: the run's, or a skipped trigger's own account")
        .clone()
}

/// Every snapshot id in a region (DB and cluster), for before/after comparisons.
async fn snapshot_ids(f: &Fixture, region: &str) -> BTreeSet<String> {
    let rds = aws_sdk_rds::Client::new(&f.emu.config(region).await);
    let mut ids: BTreeSet<String> = rds
        .describe_db_snapshots()
        .send()
        .await
        .unwrap()
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
        .collect();
    ids.extend(
        rds.describe_db_cluster_snapshots()
            .send()
            .await
            .unwrap()
            .db_cluster_snapshots()
            .iter()
            .filter_map(|s| s.db_cluster_snapshot_identifier().map(str::to_string)),
    );
    if region == PRIMARY {
        let ec = aws_sdk_elasticache::Client::new(&f.emu.config(region).await);
        ids.extend(
            ec.describe_snapshots()
                .send()
                .await
                .unwrap()
                .snapshots()
                .iter()
                .filter_map(|s| s.snapshot_name().map(str::to_string)),
        );
    }
    ids
}

async fn export_ids(f: &Fixture) -> BTreeSet<String> {
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    rds.describe_export_tasks()
        .send()
        .await
        .unwrap()
        .export_tasks()
        .iter()
        .filter_map(|t| t.export_task_identifier().map(str::to_string))
        .collect()
}

async fn objects(f: &Fixture, bucket: &str) -> BTreeSet<String> {
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

fn today_id(source: &str) -> String {
    let now = Utc::now();
    let midnight = now - chrono::Duration::seconds(now.timestamp().rem_euclid(86_400));
    format!("lifeboat-{source}-{}", midnight.format("%Y%m%d-%H%M"))
}

#[tokio::test]
async fn first_run_snapshots_copies_exports_writes_manifests_and_emails() {
    let f = fixture(Scenario::default()).await;
    let report = invoke(&f, json!({"action": "run"}), "req-1").await;

    let primary = snapshot_ids(&f, PRIMARY).await;
    let dr = snapshot_ids(&f, DR).await;
    let orders = today_id("ecommerce-prod-db");
    let catalog = today_id("catalog-aurora");
    let analytics = today_id("analytics-db");
    for id in [&orders, &catalog, &analytics] {
        assert!(primary.contains(id), "{id} created: {primary:?}");
        assert!(dr.contains(id), "{id} copied to {DR}: {dr:?}");
    }
    assert!(
        primary
            .iter()
            .any(|s| s.starts_with("lifeboat-ecommerce-redis-cluster-")),
        "redis snapshot: {primary:?}"
    );
    assert!(
        !primary
            .iter()
            .any(|s| s.contains("scratch-db") && s.starts_with("lifeboat-")),
        "unselected db untouched"
    );
    assert!(
        export_ids(&f).await.contains(&orders),
        "export started for {orders}"
    );

    // The manifest beside the backup records source, copy and export.
    let key = format!("backups/rds-instance/ecommerce-prod-db/{orders}/manifest.json");
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    let body = s3
        .get_object()
        .bucket(&f.world.backup_bucket)
        .key(&key)
        .send()
        .await
        .expect("manifest written")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let m: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["source"]["engine"], "postgres");
    assert_eq!(m["snapshot"]["id"], orders.as_str());
    assert_eq!(m["dr_copy"]["region"], DR);
    assert_eq!(m["dr_copy"]["status"], "available");
    assert_eq!(m["export"]["status"], "COMPLETE");

    // Report: emailed, archived, every action with a reason.
    // The emulator answers DescribeAccountAttributes (scripts/moto_server.py's stand-in): the
    // quota is read, and a clean first run has nothing to warn about. Its one note: the seeded
    // 38-day-old snapshot without a DR copy is kept past retention (require_dr_copy); and which
    // bucket the backup target parameter (buckets.target_parameter) names.
    assert_eq!(report.status, Status::Ok, "{}", report.render_text());
    let notes: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        notes.len() == 2
            && notes[0].starts_with("kept past retention: require_dr_copy")
            && notes[1]
                .contains("backups go to the primary bucket ecommerce-backups-prod-us-east-1"),
        "{}",
        report.render_text()
    );
    assert!(report.actions.iter().all(|a| !a.reason.is_empty()));
    assert!(
        !report.actions.iter().any(|a| a.outcome == Outcome::Failed),
        "{}",
        report.render_text()
    );
    let emails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]
            .subject
            .starts_with("[Lifeboat OK] snapshot-export:"),
        "{}",
        emails[0].subject
    );
    assert!(emails[0].subject.len() < 100);
    assert!(emails[0].body.contains(&orders));
    let archived = objects(&f, &f.world.report_bucket).await;
    assert!(
        archived
            .iter()
            .any(|k| k.starts_with("reports/snapshot-export/") && k.ends_with(".json")),
        "{archived:?}"
    );
}

#[tokio::test]
async fn second_run_in_the_same_period_creates_nothing_new() {
    let f = fixture(Scenario::default()).await;
    invoke(&f, json!({"action": "run"}), "req-1").await;
    let before = (
        snapshot_ids(&f, PRIMARY).await,
        snapshot_ids(&f, DR).await,
        export_ids(&f).await,
    );
    let schedule = json!({
        "version": "0", "id": "dup-delivery-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/lifeboat-daily"], "detail": {}
    });
    let second = invoke(&f, schedule, "req-2").await;
    let after = (
        snapshot_ids(&f, PRIMARY).await,
        snapshot_ids(&f, DR).await,
        export_ids(&f).await,
    );
    // Retention of old DR copies may remove some; nothing may be added.
    assert!(
        after.0.is_subset(&before.0) && after.1.is_subset(&before.1) && after.2 == before.2,
        "before {before:?}\nafter {after:?}"
    );
    assert_eq!(second.count("create-snapshot", Outcome::Done), 0);
    assert_eq!(second.count("copy-to-dr", Outcome::Done), 0);
    assert_eq!(second.count("start-export", Outcome::Done), 0);
    assert!(
        second.count("create-snapshot", Outcome::AlreadyDone) >= 4,
        "{}",
        second.render_text()
    );
    assert!(
        second.headline.contains("already done"),
        "{}",
        second.headline
    );
}

#[tokio::test]
async fn dry_run_shows_the_plan_and_changes_nothing() {
    let f = fixture(Scenario::default()).await;
    let before = (
        snapshot_ids(&f, PRIMARY).await,
        snapshot_ids(&f, DR).await,
        export_ids(&f).await,
        objects(&f, &f.world.backup_bucket).await,
    );
    let report = invoke(&f, json!({"action": "run", "dry_run": true}), "req-dry").await;
    let after = (
        snapshot_ids(&f, PRIMARY).await,
        snapshot_ids(&f, DR).await,
        export_ids(&f).await,
        objects(&f, &f.world.backup_bucket).await,
    );
    assert_eq!(before, after, "a dry run changes nothing");
    assert!(report.dry_run);
    assert!(
        report.actions.iter().all(|a| matches!(
            a.outcome,
            Outcome::Planned | Outcome::AlreadyDone | Outcome::Deferred
        )),
        "{}",
        report.render_text()
    );
    assert!(report.count("create-snapshot", Outcome::Planned) >= 4);
    assert!(
        report.count("delete-snapshot", Outcome::Planned) >= 1,
        "the plan shows deletions too"
    );
    assert!(report
        .render_text()
        .contains("DRY RUN: nothing was changed."));
    let emails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert!(
        emails[0].subject.contains("(dry run)"),
        "{}",
        emails[0].subject
    );
}

#[tokio::test]
async fn retention_deletes_only_proven_lifeboat_snapshots() {
    let f = fixture(Scenario {
        history_days: 3,
        ..Scenario::default()
    })
    .await;
    let report = invoke(&f, json!({"action": "run"}), "req-1").await;
    let primary = snapshot_ids(&f, PRIMARY).await;
    let dr = snapshot_ids(&f, DR).await;
    let now = Utc::now();
    let aged = |d: i64| {
        let t = now - chrono::Duration::days(d);
        let m = t - chrono::Duration::seconds(t.timestamp().rem_euclid(86_400));
        format!("lifeboat-ecommerce-prod-db-{}", m.format("%Y%m%d-%H%M"))
    };
    // 45 and 40 days old, outside retention, DR copy and export proven: deleted.
    assert!(
        !primary.contains(&aged(45)) && !primary.contains(&aged(40)),
        "{primary:?}"
    );
    // Their manifests record the deletion; the export they name stays.
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    let key = format!(
        "backups/rds-instance/ecommerce-prod-db/{}/manifest.json",
        aged(45)
    );
    let body = s3
        .get_object()
        .bucket(&f.world.backup_bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let m: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            m["snapshot"]["status"].as_str(),
            m["export"]["status"].as_str()
        ),
        (Some("deleted"), Some("COMPLETE"))
    );
    // 38 days old but never copied to DR: kept, with the reason.
    assert!(primary.contains(&aged(38)));
    let kept = report
        .decisions
        .iter()
        .find(|d| d.subject == aged(38))
        .unwrap();
    assert!(
        kept.reason.contains("no DR copy") && kept.verdict == "keep",
        "{kept:?}"
    );
    // Recent daily ones are within retention.
    for d in 1..=3 {
        assert!(primary.contains(&aged(d)), "day -{d} kept");
    }
    // Never touched: a person's manual snapshot and the automated ones.
    assert!(primary.contains("ecommerce-prod-db-pre-migration-2026"));
    assert!(
        primary
            .iter()
            .any(|s| s.starts_with("rds:ecommerce-prod-db")),
        "automated kept"
    );
    // DR copies outside retention go a run after their primary (never in the same run: a
    // failed primary deletion must not leave the primary without its copy); recent ones stay.
    assert!(dr.contains(&aged(45)) && dr.contains(&aged(40)), "{dr:?}");
    assert!(dr.contains(&aged(1)));
    // The 38-day-old one was first seen outside retention: not copied to earn proof.
    assert!(!dr.contains(&aged(38)), "{dr:?}");
    let deleted = report.count("delete-snapshot", Outcome::Done);
    assert_eq!(deleted, 2, "{}", report.render_text());
    let primary_deletes: Vec<_> = report
        .decisions
        .iter()
        .filter(|d| d.verdict == "delete" && !d.subject.contains('/'))
        .collect();
    assert_eq!(primary_deletes.len(), 2);
    assert!(primary_deletes.iter().all(|d| d.reason.contains("DR copy available") && d.reason.contains("export COMPLETE")), "{primary_deletes:?}");

    // The next run: the primaries are gone, so their DR copies go; nothing is copied. The
    // 38-day-old snapshot's export has completed (moto completes exports at once), but it has
    // no DR copy and orders-db requires one: it survives, and the run says so once, naming the
    // policy change that would let it go.
    let next = invoke(&f, json!({"action": "run"}), "req-2").await;
    let dr = snapshot_ids(&f, DR).await;
    assert!(!dr.contains(&aged(45)) && !dr.contains(&aged(40)), "{dr:?}");
    assert_eq!(
        next.count("delete-dr-copy", Outcome::Done),
        2,
        "{}",
        next.render_text()
    );
    assert!(
        snapshot_ids(&f, PRIMARY).await.contains(&aged(38)),
        "the 38-day-old snapshot without a DR copy was deleted:\n{}",
        next.render_text()
    );
    let kept = next
        .decisions
        .iter()
        .find(|d| d.subject == aged(38))
        .unwrap();
    assert!(
        kept.verdict == "keep"
            && kept
                .reason
                .contains("kept past retention: require_dr_copy, and no DR copy exists"),
        "{kept:?}"
    );
    let lines: Vec<_> = next
        .findings
        .iter()
        .filter(|f| f.message.starts_with("kept past retention"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", next.render_text());
    assert!(
        lines[0].message.contains(&aged(38))
            && lines[0].message.contains("require_dr_copy: false")
            && lines[0].message.contains("orders-db"),
        "{}",
        lines[0].message
    );
    assert_eq!(
        next.count("copy-to-dr", Outcome::Done),
        0,
        "{}",
        next.render_text()
    );
}

#[tokio::test]
async fn one_failing_copy_does_not_stop_the_others() {
    // The encrypted primary's copy needs the DR key; the policy names one that does not exist,
    // so CopyDBSnapshot fails with KMSKeyNotAccessibleFault (moto raises it as AWS does).
    let f = fixture_with(Scenario { encrypted_primary: true, ..Scenario::default() }, |p| p.replace("kms_key_id: alias/lifeboat-dr", "kms_key_id: arn:aws:kms:us-west-2:123456789012:key/00000000-0000-4000-8000-000000000000")).await;
    let report = invoke(&f, json!({"action": "run"}), "req-1").await;
    let failed: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .collect();
    assert!(!failed.is_empty());
    assert!(
        failed.iter().all(|a| a.kind == "copy-to-dr"
            && a.error
                .as_deref()
                .unwrap_or("")
                .starts_with("KMSKeyNotAccessibleFault")),
        "{}",
        report.render_text()
    );
    assert!(report.partial);
    assert_eq!(report.status, Status::Critical);
    let dr = snapshot_ids(&f, DR).await;
    assert!(
        dr.contains(&today_id("catalog-aurora")) && dr.contains(&today_id("analytics-db")),
        "the others were copied: {dr:?}"
    );
    assert!(!dr.contains(&today_id("ecommerce-prod-db")));
    let emails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert!(
        emails[0]
            .subject
            .starts_with("[Lifeboat CRITICAL] snapshot-export: PARTIAL"),
        "{}",
        emails[0].subject
    );
    let body = &emails[0].body;
    let failed_at = body
        .find("\nFAILED\n")
        .unwrap_or_else(|| panic!("no FAILED section:\n{body}"));
    assert!(
        failed_at < body.find("\nDONE\n").unwrap(),
        "failures come before what went well:\n{body}"
    );
    assert!(body.contains("KMSKeyNotAccessibleFault"));
}

#[tokio::test]
async fn a_concurrent_trigger_does_nothing_and_a_crashed_runs_lease_is_taken_over() {
    let f = fixture(Scenario::default()).await;
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    let live = json!({"owner": "other-run", "acquired_at": Utc::now().to_rfc3339(), "expires_at": (Utc::now() + chrono::Duration::minutes(10)).to_rfc3339()});
    s3.put_object()
        .bucket(&f.world.report_bucket)
        .key("locks/snapshot-export.json")
        .body(live.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let before = snapshot_ids(&f, PRIMARY).await;
    let skipped = invoke(&f, json!({"action": "run"}), "req-dup").await;
    assert!(
        skipped
            .headline
            .starts_with("skipped: run other-run holds the lease"),
        "{}",
        skipped.headline
    );
    assert_eq!(
        snapshot_ids(&f, PRIMARY).await,
        before,
        "nothing created while another run holds the lease"
    );

    let stale = json!({"owner": "crashed-run", "acquired_at": (Utc::now() - chrono::Duration::hours(2)).to_rfc3339(), "expires_at": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339()});
    s3.put_object()
        .bucket(&f.world.report_bucket)
        .key("locks/snapshot-export.json")
        .body(stale.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let ran = invoke(&f, json!({"action": "run"}), "req-after-crash").await;
    assert!(
        ran.count("create-snapshot", Outcome::Done) >= 4,
        "{}",
        ran.render_text()
    );
    let lock = s3
        .head_object()
        .bucket(&f.world.report_bucket)
        .key("locks/snapshot-export.json")
        .send()
        .await;
    assert!(lock.is_err(), "the lease is released at the end of the run");
}

#[tokio::test]
async fn malformed_events_are_rejected_before_any_aws_call() {
    // An App whose every AWS call would fail to connect: only input errors can come back.
    let world = World {
        orders_database: String::new(),
        catalog_database: String::new(),
        security_group_id: String::new(),
        backup_bucket: "b-1".into(),
        dr_backup_bucket: "b-2".into(),
        report_bucket: "r-1".into(),
        topic_arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
        queue_url: String::new(),
        policy_path: lifeboat_tests::root().join("infra/policy.example.yaml"),
        zone_id: String::new(),
    };
    let app = app_for(
        lifeboat_tests::config_for("http://127.0.0.1:9", PRIMARY).await,
        &world,
    )
    .await;
    let dir = lifeboat_tests::root().join("events");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("malformed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        std::fs::read_dir(dir.join("snapshot-export"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.display().to_string().contains("malformed-")),
    );
    files.extend(
        std::fs::read_dir(dir.join("triggers"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    assert!(files.len() >= 15);
    for path in files {
        let payload: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let err = snapshot_export::run(&app, &payload, "req", Utc::now(), None)
            .await
            .expect_err(&path.display().to_string());
        assert_eq!(
            err.error_type(),
            "Lifeboat.InvalidEvent",
            "{}: {err}",
            path.display()
        );
        assert!(
            err.to_string().contains("event"),
            "{}: {err}",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_policy_loads_from_s3_and_a_bad_one_is_named() {
    let emu = util::world().emulator_only();
    let config = emu.config(PRIMARY).await;
    let s3 = lifeboat_tests::s3(&config);
    s3.create_bucket()
        .bucket("lifeboat-config")
        .send()
        .await
        .unwrap();
    let good =
        std::fs::read_to_string(lifeboat_tests::root().join("infra/policy.example.yaml")).unwrap();
    s3.put_object()
        .bucket("lifeboat-config")
        .key("policy/policy.yaml")
        .body(good.into_bytes().into())
        .send()
        .await
        .unwrap();
    let policy = lifeboat_shared::load_policy("s3://lifeboat-config/policy/policy.yaml", &s3)
        .await
        .unwrap();
    assert_eq!(policy.components[0].name, "orders-db");

    let bad = "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds, ids: [x]}\n";
    s3.put_object()
        .bucket("lifeboat-config")
        .key("policy/bad.yaml")
        .body(bad.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let err = lifeboat_shared::load_policy("s3://lifeboat-config/policy/bad.yaml", &s3)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Lifeboat.InvalidPolicy");
    assert!(
        err.to_string()
            .starts_with("invalid policy: components[0].kind: unknown variant `rds`"),
        "{err}"
    );

    let missing = lifeboat_shared::load_policy("s3://lifeboat-config/policy/none.yaml", &s3)
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("LIFEBOAT_POLICY: s3://lifeboat-config/policy/none.yaml to exist"),
        "{missing}"
    );
}

#[tokio::test]
async fn an_rds_outage_fails_the_run_for_each_component_it_leaves_without_a_backup() {
    // Given RDS unreachable for the whole run (its client points at a closed loopback port: every
    // DescribeDBInstances/Clusters/Snapshots call fails after its retries), ElastiCache working
    let mut f = fixture(Scenario::default()).await;
    let conf = aws_sdk_rds::config::Builder::from(&f.emu.config(PRIMARY).await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    f.app.clients.rds = aws_sdk_rds::Client::from_conf(conf);
    // When the schedule's run goes
    let report = invoke(&f, json!({"action": "run"}), "req-outage").await;
    let text = report.render_text();
    // Then every RDS/Aurora component ends with a failed decision naming the listing and its error
    // (orders-db names its instance; catalog-aurora selects its cluster by tag)
    for component in ["orders-db", "catalog-aurora"] {
        let a = report
            .actions
            .iter()
            .find(|a| a.kind == "create-snapshot" && a.reason.starts_with(&format!("{component}:")))
            .unwrap_or_else(|| panic!("no decision for {component}:\n{text}"));
        assert_eq!(a.outcome, Outcome::Failed, "{text}");
        assert!(a.reason.contains("could not be listed"), "{text}");
        assert!(!a.error.as_deref().unwrap_or("").is_empty(), "{text}");
    }
    // and the cache still got this period's snapshot: one outage does not stop the others
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.kind == "create-snapshot" && a.outcome == Outcome::Done),
        "{text}"
    );
    // and the run is not OK or a mere WARNING
    assert!(report.status >= Status::Critical, "{text}");
    assert!(text.contains("could not list RDS DB instances"), "{text}");
}

#[tokio::test]
async fn with_the_report_bucket_unreachable_the_run_still_emails_why_it_could_not_run() {
    // Given S3 unreachable for the lease and the report archive (the backup-target outage of
    // seeds 000 and 002), SNS working
    let mut f = fixture(Scenario::default()).await;
    let conf = aws_sdk_s3::config::Builder::from(&f.emu.config(PRIMARY).await)
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .build();
    f.app.report_s3 = aws_sdk_s3::Client::from_conf(conf);
    // When the schedule's run goes
    let err = snapshot_export::run(
        &f.app,
        &json!({"action": "run"}),
        "req-s3-down",
        Utc::now(),
        None,
    )
    .await
    .expect_err("a run that could not start is an invocation error");
    // Then the invocation fails (Lambda counts it) and the email says what happened
    assert_eq!(err.error_type(), "Lifeboat.AwsError", "{err}");
    let emails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert_eq!(emails.len(), 1, "one email saying why");
    assert!(
        emails[0]
            .subject
            .starts_with("[Lifeboat FAILED] snapshot-export: could not run"),
        "{}",
        emails[0].subject
    );
    assert!(
        emails[0]
            .body
            .contains("this report could not be archived in S3"),
        "{}",
        emails[0].body
    );
    // and nothing was snapshotted without the lease
    assert!(!snapshot_ids(&f, PRIMARY)
        .await
        .contains(&today_id("ecommerce-prod-db")));
}

/// A schedule event as EventBridge delivers it (at least once: the same id, again and again).
fn schedule_event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/lifeboat-daily"], "detail": {}
    })
}

async fn answer(f: &Fixture, payload: &Value, request_id: &str) -> Value {
    snapshot_export::run(&f.app, payload, request_id, Utc::now(), None)
        .await
        .expect("an answer")
        .to_json()
        .unwrap()
}

#[tokio::test]
async fn an_event_delivered_ten_times_runs_and_emails_once() {
    let f = fixture(Scenario::default()).await;
    let inbox = || async { read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await };

    // Ten concurrent deliveries of one schedule event (distinct Lambda request ids).
    let event = schedule_event("at-least-once-concurrent");
    let a = |i: u32| {
        let event = event.clone();
        let f = &f;
        // Boxed: ten of the run's deep futures side by side overflow a test thread's stack.
        Box::pin(async move { answer(f, &event, &format!("req-c{i}")).await })
    };
    let (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9) =
        tokio::join!(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9));
    let concurrent = [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9];
    // Then and ten more, one after the other.
    let mut sequential = Vec::new();
    for i in 0..10 {
        sequential.push(answer(&f, &event, &format!("req-s{i}")).await);
    }
    let emails = inbox().await;
    assert_eq!(
        emails.len(),
        1,
        "one email for one event: {:?}",
        emails.iter().map(|e| &e.subject).collect::<Vec<_>>()
    );
    let run_ids: BTreeSet<String> = concurrent
        .iter()
        .chain(&sequential)
        .map(|r| r["run_id"].as_str().unwrap_or("<none>").to_string())
        .collect();
    assert_eq!(
        run_ids.len(),
        1,
        "every answer names the same run: {run_ids:?}"
    );
    let run_id = run_ids.into_iter().next().unwrap();
    assert!(emails[0].body.contains(&run_id), "{}", emails[0].body);
    let finished = concurrent
        .iter()
        .filter(|r| r["outcome"] == "finished")
        .count();
    assert_eq!(finished, 1, "{concurrent:#?}");
    // Every later delivery answers from the first run's report: its headline, nothing done.
    let first = concurrent
        .iter()
        .find(|r| r["outcome"] == "finished")
        .unwrap();
    for r in &sequential {
        assert_eq!(r["outcome"], "skipped", "{r:#}");
        assert_eq!(r["headline"], first["headline"], "{r:#}");
        assert!(
            r["note"].as_str().unwrap_or("").starts_with("already done"),
            "{r:#}"
        );
    }
    assert_eq!(
        objects(&f, &f.world.report_bucket)
            .await
            .iter()
            .filter(|k| k.starts_with("reports/snapshot-export/") && k.contains(&run_id))
            .count(),
        2,
        "one archived report and its answer"
    );

    // Another event, ten sequential deliveries: one more run, one more email.
    let other = schedule_event("at-least-once-sequential");
    let mut answers = Vec::new();
    for i in 0..10 {
        answers.push(answer(&f, &other, &format!("req-o{i}")).await);
    }
    assert_eq!(inbox().await.len(), 1);
    let ids: BTreeSet<&str> = answers
        .iter()
        .map(|r| r["run_id"].as_str().unwrap_or("<none>"))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(ids.into_iter().next(), Some(run_id.as_str()));
}

async fn manifest(f: &Fixture, source_kind: &str, source: &str, snapshot: &str) -> Value {
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    let body = s3
        .get_object()
        .bucket(&f.world.backup_bucket)
        .key(format!(
            "backups/{source_kind}/{source}/{snapshot}/manifest.json"
        ))
        .send()
        .await
        .expect("manifest written")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn with_fingerprints_off_no_database_is_reached_and_the_report_and_manifests_say_why() {
    // Given LIFEBOAT_FINGERPRINTS=off with the template's reason, and every database mapped to
    // a port nothing listens on (a connection attempt would show as a failed fingerprint)
    let mut f = fixture(Scenario::default()).await;
    let reason = "the function has no VpcConfig (FingerprintSubnetIds is empty)";
    f.app.fingerprints =
        snapshot_export::plan::Fingerprints::parse(Some(&format!("off: {reason}"))).unwrap();
    let dead = ("127.0.0.1".to_string(), free_port());
    for family in ["postgres", "mysql", "redis"] {
        f.app
            .env
            .local_endpoints
            .insert(family.into(), dead.clone());
    }
    // When the run goes through
    let report = invoke(&f, json!({"action": "run"}), "req-off").await;
    // Then no fingerprint was attempted, and nothing failed
    assert!(
        !report.actions.iter().any(|a| a.kind == "fingerprint"),
        "{}",
        report.render_text()
    );
    assert!(
        !report.actions.iter().any(|a| a.outcome == Outcome::Failed),
        "{}",
        report.render_text()
    );
    // And the report says once that fingerprints are off, with the reason
    let lines: Vec<&str> = report
        .findings
        .iter()
        .map(|x| x.message.as_str())
        .filter(|m| m.starts_with("fingerprints are off"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", report.render_text());
    assert!(lines[0].contains(reason), "{}", lines[0]);
    // And today's manifest of a component with database access carries it
    let orders = today_id("ecommerce-prod-db");
    let m = manifest(&f, "rds-instance", "ecommerce-prod-db", &orders).await;
    assert!(m["fingerprint"].is_null(), "{m:#}");
    let missing = m["fingerprint_missing"].as_str().unwrap_or_default();
    assert!(
        missing.starts_with("fingerprints are off") && missing.contains(reason),
        "{m:#}"
    );

    // When it is on again (unset), the same world gets its fingerprints
    let f = fixture(Scenario::default()).await;
    let report = invoke(&f, json!({"action": "run"}), "req-on").await;
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.kind == "fingerprint" && a.outcome == Outcome::Done),
        "{}",
        report.render_text()
    );
    let m = manifest(&f, "rds-instance", "ecommerce-prod-db", &orders).await;
    assert!(!m["fingerprint"].is_null(), "{m:#}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TARGET_PARAMETER: &str = "/lifeboat/backup-target";

/// The seeded policy with `buckets.target_parameter` (the seeded world has both buckets).
fn with_target_parameter(policy: String) -> String {
    if policy.contains("target_parameter:") {
        return policy;
    }
    policy.replace(
        "\n  dr_backup: ",
        &format!("\n  target_parameter: {TARGET_PARAMETER}\n  dr_backup: "),
    )
}

/// One SSM call (JSON protocol) to the primary region of the emulator, which does not check
/// signatures; the HTTP answer. Raw: snapshot-export only reads the parameter, and the test
/// needs no SSM client of its own for the two writes a failover makes.
fn ssm_call(f: &Fixture, operation: &str, body: Value) -> String {
    use std::io::{Read, Write};
    let addr = f.emu.endpoint.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let req = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonSSM.{operation}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261121/{PRIMARY}/ssm/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// What failover-orchestrator's switch-backup-target step does: the parameter now names `value`.
fn put_parameter(f: &Fixture, name: &str, value: &str) {
    let out = ssm_call(
        f,
        "PutParameter",
        json!({"Name": name, "Value": value, "Type": "String", "Overwrite": true}),
    );
    assert!(out.contains(" 200 "), "PutParameter {name}: {out}");
}

/// No parameter `name` (whether or not the seeded world made one).
fn delete_parameter(f: &Fixture, name: &str) {
    let out = ssm_call(f, "DeleteParameter", json!({"Name": name}));
    assert!(
        out.contains(" 200 ") || out.contains("ParameterNotFound"),
        "DeleteParameter {name}: {out}"
    );
}

/// The object at `key` in `bucket` (S3 in `region`), if there is one.
async fn object_json(f: &Fixture, region: &str, bucket: &str, key: &str) -> Option<Value> {
    let s3 = lifeboat_tests::s3(&f.emu.config(region).await);
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let body = out.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&body).unwrap())
}

/// The bucket of the export task `id`, as RDS recorded it.
async fn export_bucket(f: &Fixture, id: &str) -> Option<String> {
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    rds.describe_export_tasks()
        .send()
        .await
        .unwrap()
        .export_tasks()
        .iter()
        .find(|t| t.export_task_identifier() == Some(id))
        .and_then(|t| t.s3_bucket().map(str::to_string))
}

#[tokio::test]
async fn after_a_failover_manifests_land_in_the_dr_bucket_and_failback_brings_them_back() {
    // Given the backup target parameter pointing at the DR bucket (a failover switched it)
    let f = fixture_with(Scenario::default(), with_target_parameter).await;
    let (primary, secondary) = (
        f.world.backup_bucket.clone(),
        f.world.dr_backup_bucket.clone(),
    );
    put_parameter(&f, TARGET_PARAMETER, &secondary);
    // When snapshot-export runs
    let report = invoke(&f, json!({"action": "run"}), "req-failover").await;
    // Then today's snapshot is made and copied as always
    let orders = today_id("ecommerce-prod-db");
    assert!(snapshot_ids(&f, PRIMARY).await.contains(&orders));
    assert!(snapshot_ids(&f, DR).await.contains(&orders));
    // And its manifest lands in the DR bucket, not in the primary
    let key = format!("backups/rds-instance/ecommerce-prod-db/{orders}/manifest.json");
    let m = object_json(&f, DR, &secondary, &key)
        .await
        .unwrap_or_else(|| panic!("manifest in {secondary}: {}", report.render_text()));
    assert_eq!(m["snapshot"]["id"], orders.as_str());
    assert_eq!(m["dr_copy"]["status"], "available");
    assert!(
        object_json(&f, PRIMARY, &primary, &key).await.is_none(),
        "no manifest in the primary while backups go to the secondary"
    );
    // And the export waits for failback (the DR bucket is not in the snapshot's region), with
    // the manifest saying it has not started
    assert!(
        export_bucket(&f, &orders).await.is_none(),
        "no export task started: {}",
        report.render_text()
    );
    let export = report
        .actions
        .iter()
        .find(|a| a.kind == "start-export" && a.resource == orders)
        .unwrap_or_else(|| panic!("{}", report.render_text()));
    assert_eq!(export.outcome, Outcome::Deferred);
    assert!(export.reason.contains("once failback"), "{}", export.reason);
    assert_eq!(m["export"]["status"], "NOT_STARTED");
    // And the report warns which bucket backups go to and why
    assert_eq!(report.status, Status::Warning, "{}", report.render_text());
    let warning = format!(
        "backups go to the secondary bucket {secondary}: the backup target parameter {TARGET_PARAMETER} points there (failover); failback switches it back"
    );
    assert!(
        report.findings.iter().any(|x| x.message == warning),
        "{}",
        report.render_text()
    );
    assert!(
        !report.actions.iter().any(|a| a.outcome == Outcome::Failed),
        "{}",
        report.render_text()
    );

    // When failback points the parameter back at the primary and the next run goes through
    put_parameter(&f, TARGET_PARAMETER, &primary);
    let report = invoke(&f, json!({"action": "run"}), "req-failback").await;
    // Then the export starts, into the primary bucket
    assert_eq!(
        export_bucket(&f, &orders).await.as_deref(),
        Some(primary.as_str()),
        "{}",
        report.render_text()
    );
    // And the manifest is written to the primary again, keeping the fingerprint the failover
    // run recorded in the DR bucket
    let back = object_json(&f, PRIMARY, &primary, &key)
        .await
        .unwrap_or_else(|| panic!("manifest in {primary}: {}", report.render_text()));
    assert_eq!(back["export"]["status"], "COMPLETE", "{back:#}");
    assert_eq!(back["fingerprint"], m["fingerprint"], "{back:#}");
    assert!(!back["fingerprint"].is_null(), "{m:#}");
    assert!(!report
        .findings
        .iter()
        .any(|x| x.message.starts_with("backups go to the secondary")));
}

#[tokio::test]
async fn a_target_parameter_that_is_missing_or_names_another_bucket_writes_no_backup() {
    // Given a policy with the target parameter, and no such parameter
    let mut f = fixture_with(Scenario::default(), with_target_parameter).await;
    delete_parameter(&f, TARGET_PARAMETER);
    // Fingerprints are not what this test is about.
    f.app.fingerprints =
        snapshot_export::plan::Fingerprints::parse(Some("off: not under test")).unwrap();
    let parameter_check = |p: &lifeboat_shared::preflight::Preflight| {
        p.items
            .iter()
            .find(|i| i.call == "ssm:GetParameter")
            .cloned()
            .unwrap_or_else(|| panic!("{:#?}", p.items))
    };
    let preflight = || snapshot_export::preflight::Context {
        policy: &f.app.policy,
        clients: &f.app.clients,
        aws: &f.app.aws,
        report_s3: &f.app.report_s3,
        report_bucket: &f.app.env.report_bucket,
        local_endpoints: &f.app.env.local_endpoints,
        fingerprints: &f.app.fingerprints,
    };
    // Then preflight finds it missing, naming the field
    let item = parameter_check(&snapshot_export::preflight::check(&preflight(), "pf-1").await);
    assert_eq!(
        (item.verdict, item.field.as_deref()),
        (
            lifeboat_shared::preflight::Verdict::Missing,
            Some("buckets.target_parameter")
        ),
        "{item:?}"
    );
    // And a run makes today's snapshot and DR copy, but writes no manifest to either bucket,
    // and its report is critical, naming the parameter
    let report = invoke(&f, json!({"action": "run"}), "req-missing").await;
    let orders = today_id("ecommerce-prod-db");
    assert!(snapshot_ids(&f, PRIMARY).await.contains(&orders));
    assert!(snapshot_ids(&f, DR).await.contains(&orders));
    let key = format!("backups/rds-instance/ecommerce-prod-db/{orders}/manifest.json");
    assert!(object_json(&f, PRIMARY, &f.world.backup_bucket, &key)
        .await
        .is_none());
    assert!(object_json(&f, DR, &f.world.dr_backup_bucket, &key)
        .await
        .is_none());
    assert_eq!(report.status, Status::Critical, "{}", report.render_text());
    let why = format!(
        "the backup target parameter {TARGET_PARAMETER} (buckets.target_parameter) does not exist"
    );
    assert!(
        report.findings.iter().any(|x| x.message.contains(&why)),
        "{}",
        report.render_text()
    );
    let manifest_line = report
        .actions
        .iter()
        .find(|a| a.kind == "write-manifest" && a.resource == orders)
        .unwrap_or_else(|| panic!("{}", report.render_text()));
    assert_eq!(manifest_line.outcome, Outcome::Failed);
    assert!(manifest_line
        .error
        .as_deref()
        .unwrap_or_default()
        .contains(&why));

    // Given the parameter holding a bucket the policy does not name
    put_parameter(&f, TARGET_PARAMETER, "someone-elses-bucket");
    // Then preflight says so, quoting it
    let item = parameter_check(&snapshot_export::preflight::check(&preflight(), "pf-2").await);
    assert_eq!(
        item.verdict,
        lifeboat_shared::preflight::Verdict::Missing,
        "{item:?}"
    );
    assert!(item.detail.contains("\"someone-elses-bucket\""), "{item:?}");
    // And a run writes nothing there either
    let report = invoke(&f, json!({"action": "run"}), "req-elsewhere").await;
    assert_eq!(report.status, Status::Critical, "{}", report.render_text());
    assert!(object_json(&f, PRIMARY, &f.world.backup_bucket, &key)
        .await
        .is_none());

    // Given it names the DR bucket
    put_parameter(&f, TARGET_PARAMETER, &f.world.dr_backup_bucket.clone());
    // Then preflight finds it, and checks the DR bucket too
    let p = snapshot_export::preflight::check(&preflight(), "pf-3").await;
    let item = parameter_check(&p);
    assert_eq!(
        item.verdict,
        lifeboat_shared::preflight::Verdict::Ok,
        "{item:?}"
    );
    assert!(item.detail.contains("buckets.dr_backup"), "{item:?}");
    assert!(
        p.items
            .iter()
            .any(|i| i.field.as_deref() == Some("buckets.dr_backup")
                && i.call == "s3:HeadBucket"
                && i.verdict == lifeboat_shared::preflight::Verdict::Ok),
        "{:#?}",
        p.items
    );
}
