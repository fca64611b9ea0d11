//! snapshot-export against the local AWS emulator (moto server, pinned; started per test on a
//! free loopback port). Where moto lacks an API the test says so and uses aws-smithy-mocks
//! (see `mocked.rs`).

use std::collections::BTreeSet;

use chrono::Utc;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::report::{Outcome, Report, Status};
use lifeboat_tests::{read_emails, seed, Emulator, Scenario, World, DR, PRIMARY};
use serde_json::{json, Value};
use snapshot_export::App;

struct Fixture {
    emu: Emulator,
    world: World,
    app: App,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fixture(scenario: Scenario) -> Fixture {
    fixture_with(scenario, |p| p).await
}

async fn fixture_with(scenario: Scenario, edit_policy: impl Fn(String) -> String) -> Fixture {
    let emu = Emulator::start();
    let dir = std::env::temp_dir().join(format!("lifeboat-test-{}", emu.endpoint.rsplit(':').next().unwrap_or("0")));
    let world = seed(&emu, &scenario, &dir).await;
    let text = std::fs::read_to_string(&world.policy_path).unwrap();
    std::fs::write(&world.policy_path, edit_policy(text)).unwrap();
    let app = app_for(&emu, &world).await;
    Fixture { emu, world, app, _dir: TempDir(dir) }
}

async fn app_for(emu: &Emulator, world: &World) -> App {
    let aws = Aws::from_config(emu.config(PRIMARY).await).unwrap();
    let env = Env {
        policy: world.policy_path.display().to_string(),
        report_topic_arn: world.topic_arn.clone(),
        report_bucket: world.report_bucket.clone(),
    };
    let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await.unwrap();
    App::new(&aws, env, policy).unwrap()
}

async fn invoke(f: &Fixture, payload: Value, request_id: &str) -> Report {
    snapshot_export::run(&f.app, &payload, request_id, Utc::now(), None).await.expect("run succeeds")
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
    ids.extend(rds.describe_db_cluster_snapshots().send().await.unwrap().db_cluster_snapshots().iter().filter_map(|s| s.db_cluster_snapshot_identifier().map(str::to_string)));
    if region == PRIMARY {
        let ec = aws_sdk_elasticache::Client::new(&f.emu.config(region).await);
        ids.extend(ec.describe_snapshots().send().await.unwrap().snapshots().iter().filter_map(|s| s.snapshot_name().map(str::to_string)));
    }
    ids
}

async fn export_ids(f: &Fixture) -> BTreeSet<String> {
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    rds.describe_export_tasks().send().await.unwrap().export_tasks().iter().filter_map(|t| t.export_task_identifier().map(str::to_string)).collect()
}

async fn objects(f: &Fixture, bucket: &str) -> BTreeSet<String> {
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    s3.list_objects_v2().bucket(bucket).send().await.unwrap().contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
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
    assert!(primary.iter().any(|s| s.starts_with("lifeboat-ecommerce-redis-cluster-")), "redis snapshot: {primary:?}");
    assert!(!primary.iter().any(|s| s.contains("scratch-db") && s.starts_with("lifeboat-")), "unselected db untouched");
    assert!(export_ids(&f).await.contains(&orders), "export started for {orders}");

    // The manifest beside the backup records source, copy and export.
    let key = format!("backups/rds-instance/ecommerce-prod-db/{orders}/manifest.json");
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    let body = s3.get_object().bucket(&f.world.backup_bucket).key(&key).send().await.expect("manifest written").body.collect().await.unwrap().into_bytes();
    let m: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["source"]["engine"], "postgres");
    assert_eq!(m["snapshot"]["id"], orders.as_str());
    assert_eq!(m["dr_copy"]["region"], DR);
    assert_eq!(m["dr_copy"]["status"], "available");
    assert_eq!(m["export"]["status"], "COMPLETE");

    // Report: emailed, archived, every action with a reason.
    assert_eq!(report.status, Status::Warning, "moto lacks DescribeAccountAttributes: a warning names it\n{}", report.render_text());
    assert!(report.findings.iter().any(|x| x.message.contains("DescribeAccountAttributes")));
    assert!(report.actions.iter().all(|a| !a.reason.is_empty()));
    assert!(!report.actions.iter().any(|a| a.outcome == Outcome::Failed), "{}", report.render_text());
    let emails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].subject.starts_with("[Lifeboat WARNING] snapshot-export:"), "{}", emails[0].subject);
    assert!(emails[0].subject.len() < 100);
    assert!(emails[0].body.contains(&orders));
    let archived = objects(&f, &f.world.report_bucket).await;
    assert!(archived.iter().any(|k| k.starts_with("reports/snapshot-export/") && k.ends_with(".json")), "{archived:?}");
}
