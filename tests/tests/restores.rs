// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! restore-verification's restores against the local AWS emulator (moto, pinned) for RDS,
//! Aurora, ElastiCache, S3, Secrets Manager and SNS, with the restored endpoints mapped to the
//! local PostgreSQL, MariaDB and Redis servers by LIFEBOAT_LOCAL_ENDPOINTS (the explicit setting
//! for local runs). moto makes a restored resource available at once, so a run finishes in one
//! invocation here; the multi-invocation path is exercised by the killed-run test.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use lifeboat_shared::data::sql::Engine;
use lifeboat_shared::report::Report;
use lifeboat_tests::shop::{damage_in_place, Damage};
use lifeboat_tests::{read_emails, PRIMARY};
use restore_verification::restores::plan::{self as state, Phase, Run};
use serde_json::{json, Value};

use crate::util::{self, Harness};

/// Both functions' Apps on one seeded world: `f.rv` and `f.se`.
struct Apps {
    rv: restore_verification::App,
    se: snapshot_export::App,
}

type Fixture = Harness<Apps>;

async fn fixture() -> Fixture {
    util::world()
        .dir("lifeboat-restore-test")
        .build(|parts| Apps {
            se: parts.snapshot_export(),
            rv: parts.restore_verification(),
        })
        .await
}

impl Fixture {
    /// Today's Lifeboat snapshots, with their fingerprints in the manifests.
    async fn snapshots(&self) {
        let r = snapshot_export::run(
            &self.se,
            &json!({"action": "run"}),
            "se-1",
            Utc::now(),
            None,
        )
        .await
        .unwrap();
        let r = r.report().expect("a finished run").clone();
        assert_eq!(
            r.count("fingerprint", lifeboat_shared::report::Outcome::Done),
            3,
            "{}",
            r.render_text()
        );
    }

    async fn restore(&self, payload: Value, request_id: &str) -> Value {
        restore_verification::invoke(&self.rv, &payload, request_id, Utc::now(), None)
            .await
            .unwrap()
            .to_json()
            .unwrap()
    }

    async fn temp_resources(&self) -> Vec<String> {
        let c = &self.rv.cloud;
        let mut out = Vec::new();
        for i in c
            .rds
            .describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances()
        {
            out.push(i.db_instance_identifier().unwrap().to_string());
        }
        for cl in c
            .rds
            .describe_db_clusters()
            .send()
            .await
            .unwrap()
            .db_clusters()
        {
            out.push(cl.db_cluster_identifier().unwrap().to_string());
        }
        for g in c
            .elasticache
            .describe_replication_groups()
            .send()
            .await
            .unwrap()
            .replication_groups()
        {
            // Deleting is gone as far as teardown goes (AWS takes minutes; moto keeps it so).
            if g.status() != Some("deleting") {
                out.push(g.replication_group_id().unwrap().to_string());
            }
        }
        out.retain(|id| id.starts_with(state::TEMP_PREFIX));
        out.sort();
        out
    }

    async fn journal(&self, run_id: &str) -> Run {
        lifeboat_shared::journal::read_json::<Run>(
            &self.rv.s3,
            &self.world.report_bucket,
            &lifeboat_shared::resumable::journal_key(restore_verification::FUNCTION, run_id),
        )
        .await
        .unwrap()
        .unwrap()
        .0
    }
}

fn report(v: &Value) -> Report {
    serde_json::from_value(v.clone()).unwrap()
}

fn schedule(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/lifeboat-restore-verification"],
        "detail": {}
    })
}

#[tokio::test]
async fn a_clean_backup_passes_a_damaged_one_fails_and_everything_is_torn_down() {
    let f = fixture().await;
    f.snapshots().await;
    // The catalog's data changes after its snapshot-time fingerprint: the restored copy (the
    // local database the mapping points at) no longer matches what the backup should hold.
    damage_in_place(
        Engine::Mysql,
        &f.world.catalog_database,
        Damage::LostRecentOrders,
    )
    .await;
    damage_in_place(
        Engine::Mysql,
        &f.world.catalog_database,
        Damage::OrphanedItems,
    )
    .await;
    read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;

    let out = f.restore(json!({"action": "restore"}), "rv-1").await;
    assert_eq!(out["done"], json!(true), "{out:#}");
    let r = report(&out);
    let text = r.render_text();
    assert_eq!(
        r.headline.split(';').next().unwrap(),
        "restores: 2 passed, 1 failed",
        "{text}"
    );
    assert_eq!(
        r.status,
        lifeboat_shared::report::Status::Critical,
        "{text}"
    );
    // Failures first, with the failing checks first.
    assert_eq!(r.decisions[0].verdict, "FAIL", "{text}");
    assert!(
        r.decisions[0]
            .subject
            .starts_with("catalog-aurora: lifeboat-catalog-aurora-"),
        "{text}"
    );
    for must in [
        "orphaned-rows order_items -> orders",
        "row-count orders",
        "pk-checksum orders",
        "freshness orders.created_at",
    ] {
        assert!(
            r.decisions[0].reason.contains(must),
            "{must} in {}",
            r.decisions[0].reason
        );
    }
    let passed: BTreeMap<String, String> = r
        .decisions
        .iter()
        .map(|d| {
            (
                d.subject.split(':').next().unwrap().to_string(),
                d.verdict.to_string(),
            )
        })
        .collect();
    assert_eq!(passed["orders-db"], "PASS", "{text}");
    assert_eq!(passed["sessions-redis"], "PASS", "{text}");
    // Restore time against the RTO and the verified RPO, as metrics too.
    assert!(
        r.decisions.iter().all(|d| d.reason.contains("against RTO")),
        "{text}"
    );
    let metric = |name: &str, comp: &str| {
        r.measurements
            .iter()
            .find(|m| {
                m.name == name && m.dimensions.get("Component").map(String::as_str) == Some(comp)
            })
            .map(|m| m.value)
    };
    assert!(metric("RestoreSeconds", "orders-db").is_some());
    let rpo = metric("VerifiedRpoSeconds", "orders-db").unwrap();
    assert!(
        (0.0..600.0).contains(&rpo),
        "today's snapshot passed: {rpo}"
    );
    assert_eq!(
        metric("VerifiedRpoSeconds", "catalog-aurora"),
        None,
        "never passed"
    );
    assert!(text.contains("verified RPO unknown"), "{text}");
    assert!(
        text.contains("LIFEBOAT_LOCAL_ENDPOINTS"),
        "mapped connections are said: {text}"
    );
    // The secrets never reach the report.
    assert!(!text.contains("not-a-real-password") && !out.to_string().contains("\"password\""));

    // Every temporary resource is gone; the journal says how each went.
    assert_eq!(f.temp_resources().await, Vec::<String>::new());
    let journal = f.journal(&r.run_id).await;
    assert!(journal.finished_at.is_some());
    for j in &journal.jobs {
        assert_eq!(j.phase, Phase::Done, "{j:?}");
        assert!(j.torn_down_at.is_some() && j.mapped, "{j:?}");
    }
    let aurora = journal
        .jobs
        .iter()
        .find(|j| j.component == "catalog-aurora")
        .unwrap();
    assert!(aurora.temp_instance_id.as_deref().unwrap().ends_with("-i1"));

    // One email, failing first.
    let mails = read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .subject
            .starts_with("[Lifeboat CRITICAL] restore-verification: restores: 2 passed, 1 failed"),
        "{}",
        mails[0].subject
    );
    assert!(mails[0].body.find("FAIL").unwrap() < mails[0].body.find("PASS").unwrap());

    // The same schedule again within `every`: nothing is due, nothing restored.
    let again = f.restore(schedule("sched-2"), "rv-2").await;
    let again = report(&again);
    assert!(
        again.headline.starts_with("no restore due (3 skipped)"),
        "{}",
        again.render_text()
    );
    assert_eq!(f.temp_resources().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_killed_run_is_finished_by_the_next_trigger_and_the_janitor_takes_expired_leftovers() {
    let f = fixture().await;
    f.snapshots().await;
    let rds = &f.rv.cloud.rds;
    // A run that stops before its first step (deadline reached): journal written, nothing
    // started. Then the invocation that started the restores is "killed" before saving.
    let out = restore_verification::invoke(
        &f.rv,
        &schedule("sched-killed"),
        "rv-k",
        Utc::now(),
        Some(std::time::Instant::now()),
    )
    .await
    .unwrap()
    .to_json()
    .unwrap();
    assert_eq!(out["done"], json!(false), "{out:#}");
    let run_id = out["run_id"].as_str().unwrap().to_string();
    let journal = f.journal(&run_id).await;
    assert_eq!(journal.jobs.len(), 3);
    assert!(journal.jobs.iter().all(|j| j.phase == Phase::Start));
    let target = f.rv.policy.verification.restore.clone().unwrap();
    for j in &journal.jobs {
        let mut j = j.clone();
        let source = lifeboat_shared::policy::BackupSource::Snapshot;
        restore_verification::restores::execute::start(
            &f.rv.cloud,
            &mut j,
            &target,
            source,
            &run_id,
        )
        .await
        .unwrap();
    }
    // What was started: private, smallest class, the policy's subnet group and security
    // group, tagged with the run and its expiry.
    let orders = journal
        .jobs
        .iter()
        .find(|j| j.component == "orders-db")
        .unwrap();
    let i = rds
        .describe_db_instances()
        .db_instance_identifier(&orders.temp_id)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone();
    assert_eq!(i.db_instance_class(), Some("db.t4g.micro"));
    // Requested with PubliclyAccessible=false; moto does not echo the flag, so "not true".
    assert_ne!(i.publicly_accessible(), Some(true));
    assert_eq!(
        i.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        Some("lifeboat-restore")
    );
    let tags: BTreeMap<_, _> = i
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags[state::TAG_RUN], run_id);
    assert_eq!(tags[state::TAG_PURPOSE], state::PURPOSE);
    assert!(tags.contains_key(state::TAG_EXPIRES));
    // Leftovers: an expired restore of a run nobody remembers, one not yet expired, and an
    // untagged look-alike a person made. Only the first may go.
    let snap = rds
        .describe_db_snapshots()
        .db_instance_identifier("ecommerce-prod-db")
        .send()
        .await
        .unwrap()
        .db_snapshots()[0]
        .db_snapshot_identifier()
        .unwrap()
        .to_string();
    for (id, expires) in [
        (
            "lifeboat-verify-0ld0ld00",
            Some(Utc::now() - Duration::hours(1)),
        ),
        (
            "lifeboat-verify-fresh000",
            Some(Utc::now() + Duration::hours(5)),
        ),
        ("lifeboat-verify-deadbeef", None),
    ] {
        let tags = match expires {
            Some(t) => state::temp_tags("20261101T000000Z-00000000", "orders-db", &snap, t)
                .into_iter()
                .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
                .collect(),
            None => vec![],
        };
        rds.restore_db_instance_from_db_snapshot()
            .db_instance_identifier(id)
            .db_snapshot_identifier(&snap)
            .db_subnet_group_name("lifeboat-restore")
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }

    let found = f.temp_resources().await;
    assert_eq!(
        found.len(),
        4 + 3,
        "3 jobs (Aurora: cluster + instance) + 3 leftovers: {found:?}"
    );

    // The next scheduled trigger finds the run unfinished and completes it instead of starting
    // another; its janitor removes the expired leftover only.
    let out = f.restore(schedule("sched-next"), "rv-n").await;
    assert_eq!(out["done"], json!(true), "{out:#}");
    let r = report(&out);
    assert_eq!(
        r.run_id, run_id,
        "the killed run was advanced, not a new one started"
    );
    let text = r.render_text();
    assert!(text.contains("was still in progress"), "{text}");
    assert!(
        text.contains("janitor-delete   lifeboat-verify-0ld0ld00"),
        "{text}"
    );
    assert_eq!(
        f.temp_resources().await,
        vec![
            "lifeboat-verify-deadbeef".to_string(),
            "lifeboat-verify-fresh000".to_string()
        ],
        "nothing of the run left; the untagged and the unexpired leftovers untouched"
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_and_changes_nothing() {
    let f = fixture().await;
    f.snapshots().await;
    let out = f
        .restore(
            json!({"action": "restore", "dry_run": true, "only": ["orders-db"]}),
            "rv-d",
        )
        .await;
    let r = report(&out);
    assert!(r.dry_run);
    assert_eq!(
        r.headline,
        "would restore 1 backup(s), skip 0",
        "{}",
        r.render_text()
    );
    assert!(
        r.actions[0].reason.contains("as db.t4g.micro, private"),
        "{:?}",
        r.actions[0]
    );
    assert_eq!(f.temp_resources().await, Vec::<String>::new());
    let journals =
        f.rv.s3
            .list_objects_v2()
            .bucket(&f.world.report_bucket)
            .prefix("runs/")
            .send()
            .await
            .unwrap();
    assert_eq!(journals.key_count(), Some(0), "no journal");
}

#[tokio::test]
async fn a_backup_that_could_not_be_verified_is_not_failed_and_stays_due() {
    // Given the other components restored and verified (not due now), orders-db due
    let mut f = fixture().await;
    f.snapshots().await;
    let first = report(
        &f.restore(
            json!({"action": "restore", "only": ["catalog-aurora", "sessions-redis"]}),
            "rv-ok",
        )
        .await,
    );
    assert!(
        first.headline.starts_with("restores: 2 passed, 0 failed"),
        "{}",
        first.render_text()
    );
    read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await;
    // and then Secrets Manager unreachable (the database secret cannot be read)
    let conf = aws_sdk_secretsmanager::config::Builder::from(&f.emu.config(PRIMARY).await)
        .endpoint_url("http://127.0.0.1:9")
        .build();
    f.app.rv.cloud.secrets = aws_sdk_secretsmanager::Client::from_conf(conf);
    // When the restore schedule fires (orders-db is due), and the loop invokes until done
    let mut out = f.restore(schedule("sched-secrets-down"), "rv-x").await;
    let mut invocations = 1;
    while out["done"] == json!(false) && invocations < 6 {
        let run_id = out["run_id"].as_str().unwrap().to_string();
        out = f
            .restore(json!({"action": "restore", "run_id": run_id}), "rv-loop")
            .await;
        invocations += 1;
    }
    let r = report(&out);
    let text = r.render_text();
    // Then it was tried 3 times (one per invocation), and reported as could-not-verify: a
    // warning naming what could not be read, never "FAILED verification"
    assert_eq!(invocations, 3, "{text}");
    assert_eq!(
        r.headline.split(';').next().unwrap(),
        "restores: 0 passed, 0 failed, 1 could not be verified",
        "{text}"
    );
    assert_eq!(r.status, lifeboat_shared::report::Status::Warning, "{text}");
    assert_eq!(r.decisions[0].verdict, "INCONCLUSIVE", "{text}");
    assert!(
        text.contains("could not be verified (not a failure of the backup)"),
        "{text}"
    );
    assert!(!text.contains("FAILED verification"), "{text}");
    assert!(
        f.temp_resources().await.is_empty(),
        "torn down all the same"
    );
    // and orders-db stays due: the next plan restores it, while the verified ones are not due
    let plan = report(
        &f.restore(json!({"action": "restore", "dry_run": true}), "rv-dry")
            .await,
    );
    let planned: Vec<&str> = plan.actions.iter().map(|a| a.reason.as_str()).collect();
    assert!(
        planned.iter().any(|r| r.starts_with("orders-db:")),
        "{}",
        plan.render_text()
    );
    assert!(
        !planned.iter().any(|r| r.starts_with("catalog-aurora:")),
        "{}",
        plan.render_text()
    );
}
