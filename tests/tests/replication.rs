// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! replication-lag-check against the local emulator (moto 5.2.5, one per test), on the seeded
//! account: the backup bucket replicated to the DR bucket by the rule `backups-to-dr`, the S3
//! artifact sets, the S3 replication and seed-002 metrics in CloudWatch (through the named
//! stand-in `scripts/cbor_stand_in.py`), and the policy's `monitoring` section.
//!
//! moto stores the replication configuration but replicates nothing: a test copies the canaries
//! from the source prefix to the replica the way S3 replication would ([`replicate`]), or does
//! not (replication broken or late). Ages are measured against the `now` a run is given: a test
//! moves `now` forward to make backups, canaries and metrics old.
//!
//! What moto 5.2.5 cannot answer, and the checks it leaves at NO DATA ([`emulator_gap`]):
//! ListRecoveryPointsByResource (no AWS Backup recovery points: HTTP 404). The second is harmless
//! where another backup is found (RDS and Aurora have point-in-time recovery); ElastiCache
//! snapshots in moto carry no creation time, so `sessions-redis` has no other backup and its
//! backup age is NO DATA. (moto's GetBucketVersioning shape and its non-atomic conditional
//! PutObject are answered by named stand-ins in `scripts/moto_server.py`.)

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lifeboat_shared::backup::{TAG_COMPONENT, TAG_MANAGED, TAG_PERIOD, TAG_SOURCE};
use lifeboat_shared::report::{Report, Severity};
use lifeboat_shared::run::Response;
use lifeboat_tests::{read_emails, Email, Scenario, DEMO_NAMESPACE, DR, PRIMARY};
use replication_lag_check::checks::{Check, State};
use replication_lag_check::App;
use serde_json::{json, Value};

use crate::util::{self, Harness};

/// The function under test and snapshot-export (which makes tonight's backups and DR copies).
struct Apps {
    check: App,
    export: snapshot_export::App,
}

type Fixture = Harness<Apps>;

const CANARY_PREFIX: &str = "backups/lifeboat-canary/";
const STATE_KEY: &str = "state/replication-lag-check/checks.json";

async fn fixture() -> Fixture {
    fixture_with(|p| p).await
}

async fn fixture_with(edit_policy: impl FnOnce(String) -> String + 'static) -> Fixture {
    util::world()
        .scenario(Scenario::default())
        .dir("lifeboat-replication-test")
        .edit_policy(edit_policy)
        .build(|parts| Apps {
            check: parts.replication_lag_check(),
            export: parts.snapshot_export(),
        })
        .await
}

/// The schedule's event (events/replication-lag-check/schedule.json) with its own event id: a
/// new trigger each, or the same one redelivered.
fn schedule(event_id: &str, at: DateTime<Utc>) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../events/replication-lag-check/schedule.json"
    ))
    .unwrap();
    v["id"] = json!(event_id);
    v["time"] = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true));
    v
}

async fn run(f: &Fixture, payload: Value, request_id: &str, now: DateTime<Utc>) -> Response {
    replication_lag_check::run(&f.check, &payload, request_id, now, None)
        .await
        .expect("the check runs")
}

/// A run that evaluated (emailed or quiet): its report.
async fn evaluate(f: &Fixture, payload: Value, request_id: &str, now: DateTime<Utc>) -> Report {
    match run(f, payload, request_id, now).await {
        Response::Finished(r) => *r,
        other => panic!("expected a finished evaluation, got {other:?}"),
    }
}

/// A manual check (always emailed, drained here): every check by id.
async fn manual(f: &Fixture, request_id: &str, now: DateTime<Utc>) -> BTreeMap<String, Check> {
    let r = evaluate(f, json!({"action": "check"}), request_id, now).await;
    emails(f).await;
    checks(&r)
}

fn checks(r: &Report) -> BTreeMap<String, Check> {
    let list: Vec<Check> = serde_json::from_value(r.details["checks"].clone()).unwrap();
    list.into_iter().map(|c| (c.id.clone(), c)).collect()
}

/// The checks of a run the emulator cannot answer.
fn gap_ids(r: &Report) -> BTreeSet<String> {
    checks(r)
        .into_values()
        .filter(emulator_gap)
        .map(|c| c.id)
        .collect()
}

/// The changes a run emailed: (check id, why), worst first.
fn change_whys(r: &Report) -> Vec<(String, String)> {
    r.details["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"]["id"].as_str().unwrap().to_string(),
                c["why"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn emails(f: &Fixture) -> Vec<Email> {
    read_emails(&f.emu.config(PRIMARY).await, &f.world.queue_url).await
}

async fn s3(f: &Fixture, region: &str) -> aws_sdk_s3::Client {
    lifeboat_tests::s3(&f.emu.config(region).await)
}

async fn keys(f: &Fixture, region: &str, bucket: &str, prefix: &str) -> BTreeSet<String> {
    s3(f, region)
        .await
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// What S3 replication would do, as strictly as S3 does it: copies every canary of the source
/// prefix not yet in the replica that an enabled rule of the source bucket's replication
/// configuration covers — the rule's prefix, and every tag of its filter (`Tag`, `And.Tags`)
/// on the object — under the same key (S3 replication never rewrites keys). Returns how many it
/// copied.
async fn replicate(f: &Fixture) -> usize {
    use aws_sdk_s3::types::ReplicationRuleStatus;
    let (src, dst) = (s3(f, PRIMARY).await, s3(f, DR).await);
    let config = src
        .get_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .send()
        .await
        .unwrap();
    // (prefix, tags) of each enabled rule to the DR bucket
    let rules: Vec<(String, Vec<(String, String)>)> = config
        .replication_configuration()
        .map(|c| c.rules())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.status() == &ReplicationRuleStatus::Enabled)
        .filter(|r| {
            r.destination()
                .is_some_and(|d| d.bucket().ends_with(&f.world.dr_backup_bucket))
        })
        .map(|r| {
            let filter = r.filter();
            let and = filter.and_then(|x| x.and());
            let prefix = filter
                .and_then(|x| x.prefix().or_else(|| and.and_then(|a| a.prefix())))
                .unwrap_or_default()
                .to_string();
            let tags = filter
                .and_then(|x| x.tag())
                .into_iter()
                .chain(and.map(|a| a.tags()).unwrap_or_default())
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            (prefix, tags)
        })
        .collect();
    let there = keys(f, DR, &f.world.dr_backup_bucket, CANARY_PREFIX).await;
    let mut copied = 0;
    for key in keys(f, PRIMARY, &f.world.backup_bucket, CANARY_PREFIX).await {
        if there.contains(&key) {
            continue;
        }
        let tagging = src
            .get_object_tagging()
            .bucket(&f.world.backup_bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let has: BTreeSet<(String, String)> = tagging
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let covered = rules
            .iter()
            .any(|(prefix, tags)| key.starts_with(prefix) && tags.iter().all(|t| has.contains(t)));
        if !covered {
            continue;
        }
        let body = src
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
        dst.put_object()
            .bucket(&f.world.dr_backup_bucket)
            .key(&key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
        copied += 1;
    }
    copied
}

fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::seconds(t.timestamp().rem_euclid(86_400))
}

fn rds_tags(component: &str, source: &str, period: DateTime<Utc>) -> Vec<aws_sdk_rds::types::Tag> {
    let period = period.to_rfc3339_opts(SecondsFormat::Secs, true);
    [
        (TAG_MANAGED, "true"),
        (TAG_COMPONENT, component),
        (TAG_SOURCE, source),
        (TAG_PERIOD, period.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
    .collect()
}

/// A healthy account: tonight's backups made and copied to the DR region by snapshot-export,
/// Lifeboat backups of the Aurora cluster and the tag-selected MySQL instance from 25 days ago
/// (the restore window retention promises), and restore-verification's record of today's
/// verified backups. The emails of this setup are drained.
async fn healthy(f: &Fixture) {
    let out = snapshot_export::run(
        &f.export,
        &json!({"action": "run"}),
        "se-1",
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    assert!(out.report().is_some(), "snapshot-export ran");
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    let period = midnight(Utc::now() - Duration::days(25));
    let id = |source: &str| lifeboat_shared::backup::snapshot_id(source, period);
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier("catalog-aurora")
        .db_cluster_snapshot_identifier(id("catalog-aurora"))
        .set_tags(Some(rds_tags("catalog-aurora", "catalog-aurora", period)))
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier("analytics-db")
        .db_snapshot_identifier(id("analytics-db"))
        .set_tags(Some(rds_tags("analytics-db", "analytics-db", period)))
        .send()
        .await
        .unwrap();
    let verified = midnight(Utc::now()).to_rfc3339_opts(SecondsFormat::Secs, true);
    let status = json!({
        "active_run": null,
        "components": {
            "orders-db": {"last_passed": true, "verified_backup_at": verified},
            "catalog-aurora": {"last_passed": true, "verified_backup_at": verified},
            "sessions-redis": {"last_passed": true, "verified_backup_at": verified},
        }
    });
    s3(f, PRIMARY)
        .await
        .put_object()
        .bucket(&f.world.report_bucket)
        .key("state/restore-verification/status.json")
        .body(ByteStream::from(status.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
    emails(f).await;
}

/// The checks moto 5.2.5 leaves at NO DATA (see the module docs); nothing else may be.
fn emulator_gap(c: &Check) -> bool {
    c.state == State::NoData
        && c.id == "backup-age/sessions-redis"
        && c.detail
            .contains("AWS Backup recovery points could not be read")
}

/// Every check of the seeded account.
const ALL_CHECKS: [&str; 23] = [
    "artifacts/k8s-config",
    "artifacts/kafka-archives",
    "artifacts/secrets-backups",
    "backup-age/analytics-db",
    "backup-age/catalog-aurora",
    "backup-age/orders-db",
    "backup-age/sessions-redis",
    "canary/backups-crr",
    "dr-copy-age/analytics-db",
    "dr-copy-age/catalog-aurora",
    "dr-copy-age/orders-db",
    "replication-buckets/backups-crr",
    "replication-config/backups-crr",
    "replication-failures/backups-crr",
    "replication-latency/backups-crr",
    "restore-window/analytics-db",
    "restore-window/catalog-aurora",
    "restore-window/orders-db",
    "rule/cert.s3.save.fail",
    "rule/cert.s3.write.success",
    "verified-rpo/catalog-aurora",
    "verified-rpo/orders-db",
    "verified-rpo/sessions-redis",
];

/// Every check OK but the emulator's gaps and, when `canary_pending`, the first canary (NO DATA
/// until one has arrived).
fn assert_healthy(cs: &BTreeMap<String, Check>, canary_pending: bool) {
    for c in cs.values() {
        let first_canary =
            canary_pending && c.id == "canary/backups-crr" && c.state == State::NoData;
        assert!(
            c.state == State::Ok || first_canary || emulator_gap(c),
            "{}",
            c.sentence()
        );
    }
}

/// Failed S3 saves of the certificate service in the last minute (seed 002's metric).
async fn save_failures(f: &Fixture, at: DateTime<Utc>, count: f64) {
    let cw = aws_sdk_cloudwatch::Client::new(&f.emu.config(PRIMARY).await);
    let point = [(at - Duration::minutes(1), count)];
    lifeboat_tests::put_metric(&cw, DEMO_NAMESPACE, "cert.s3.save.fail", &[], &point).await;
}

/// Polls every future until all are done, in this task (the invocations share one App, as the
/// triggers of one container would if it took them all at once).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// The finding lines of an email, in its order.
fn finding_lines(e: &Email) -> Vec<String> {
    e.body
        .split("\nFINDINGS\n")
        .nth(1)
        .unwrap_or_default()
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[tokio::test]
async fn a_healthy_account_is_reported_once_then_only_what_changes() {
    // Given a healthy account: tonight's backups, their DR copies, the restore window, verified
    // backups, replication configured, fresh artifact sets and metrics
    let f = fixture().await;
    healthy(&f).await;

    // When the schedule fires for the first time
    let t0 = Utc::now();
    let first = evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;

    // Then one email, "first check", with every check once; every check is OK but the first
    // canary (written by this run: nothing to measure yet) and what the emulator cannot answer
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0].subject.contains("first check:"),
        "{}",
        mail[0].subject
    );
    let cs = checks(&first);
    assert_eq!(
        cs.keys().map(String::as_str).collect::<Vec<_>>(),
        ALL_CHECKS,
        "{}",
        first.render_text()
    );
    assert_healthy(&cs, true);
    assert_eq!(
        cs["canary/backups-crr"].detail,
        "no canary written yet: the next run measures the first"
    );
    assert_eq!(
        change_whys(&first).len(),
        ALL_CHECKS.len(),
        "the baseline names every check"
    );
    // Each check once: a non-OK one as a finding, an OK one as a decision (not both)
    for c in cs.values() {
        let line = if c.state == State::Ok {
            format!("{} {} - {}", c.subject, c.what, c.detail)
        } else {
            c.sentence()
        };
        assert_eq!(
            mail[0].body.matches(&line).count(),
            1,
            "{}: {}",
            c.id,
            mail[0].body
        );
        if c.state == State::Ok {
            assert!(!mail[0].body.contains(&c.sentence()), "{}", c.id);
        }
    }
    // The canary is written in the source prefix, the states kept in the report bucket
    assert_eq!(
        keys(&f, PRIMARY, &f.world.backup_bucket, CANARY_PREFIX)
            .await
            .len(),
        1
    );
    assert!(keys(&f, PRIMARY, &f.world.report_bucket, STATE_KEY)
        .await
        .contains(STATE_KEY));

    // When the schedule fires again and nothing changed (the canary still in flight)
    let t1 = t0 + Duration::minutes(1);
    let second = evaluate(&f, schedule("ev-2", t1), "req-2", t1).await;

    // Then no email: the run is quiet
    assert!(
        second.headline.starts_with("no change:"),
        "{}",
        second.headline
    );
    assert!(emails(&f).await.is_empty(), "nothing changed: no email");
    assert_eq!(
        checks(&second)["canary/backups-crr"].state,
        State::NoData,
        "the first canary in flight is not yet a measurement"
    );

    // When replication delivers the canaries and the schedule fires again
    assert_eq!(replicate(&f).await, 2);
    let t2 = t0 + Duration::minutes(2);
    let third = evaluate(&f, schedule("ev-3", t2), "req-3", t2).await;

    // Then one email, about the canary only: measured end to end, OK
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(
        change_whys(&third),
        [("canary/backups-crr".to_string(), "recovered".to_string())]
    );
    assert!(
        third
            .headline
            .starts_with("backups-crr canary OK again (was NO DATA): the last canary arrived "),
        "{}",
        third.headline
    );
    assert_healthy(&checks(&third), false);
    assert!(third
        .measurements
        .iter()
        .any(|m| m.name == "CanaryReplicationSeconds"));
    // and the canary that served was removed on both sides
    assert_eq!(
        keys(&f, DR, &f.world.dr_backup_bucket, CANARY_PREFIX)
            .await
            .len(),
        1,
        "the newest arrived canary is kept, the older one removed"
    );
}

#[tokio::test]
async fn transitions_are_emailed_worst_first_and_recoveries_say_ok_again() {
    // Given a healthy account, checked, with the canary measured
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();
    evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;
    replicate(&f).await;
    let baseline = evaluate(&f, schedule("ev-2", t0), "req-2", t0).await;
    assert_healthy(&checks(&baseline), false);
    emails(&f).await;

    // When replication is broken (its configuration deleted, canaries no longer copied) and two
    // days pass without backups, artifacts or metrics
    let src = s3(&f, PRIMARY).await;
    src.delete_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .send()
        .await
        .unwrap();
    // (a few minutes past two days: the hours in the sentences are whole)
    let later = t0 + Duration::days(2) + Duration::minutes(5);
    let broken = evaluate(&f, schedule("ev-3", later), "req-3", later).await;

    // Then one email whose findings are the transitions, critical first
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0]
            .subject
            .starts_with("[Lifeboat CRITICAL] replication-lag-check: "),
        "{}",
        mail[0].subject
    );
    let lines = finding_lines(&mail[0]);
    for must in [
        format!(
            "CRITICAL backups-crr: backups-crr replication configuration CRITICAL (was OK): s3://{} has no replication configuration",
            f.world.backup_bucket
        ),
        "CRITICAL orders-db: orders-db backup age CRITICAL (was OK): 48 h against RPO 5 min (point-in-time recovery)".into(),
        "CRITICAL catalog-aurora: catalog-aurora backup age CRITICAL (was OK): 48 h against RPO 15 min (point-in-time recovery)".into(),
        "CRITICAL kafka-archives: kafka-archives newest object CRITICAL (was OK): 48 h against RPO 2 h".into(),
        "CRITICAL orders-db: orders-db DR copy age CRITICAL (was OK): ".into(),
        "CRITICAL backups-crr: backups-crr canary CRITICAL (was OK): ".into(),
        // No data is held for the reminder interval (a failed read or a delayed metric is not a
        // state change worth an email yet): said in the report, not as a change
        "WARNING  cert.s3.save.fail: cert.s3.save.fail metric rule NO DATA: no datapoints in the last 10 min (alert above 5%) (not emailed yet".into(),
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&must)), "{must}\n{}", mail[0].body);
    }
    let canary = &checks(&broken)["canary/backups-crr"];
    assert!(
        canary
            .detail
            .contains("a canary written 48 h ago has not arrived"),
        "{}",
        canary.detail
    );
    let severities: Vec<Severity> = broken.findings.iter().map(|x| x.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(severities, sorted, "worst first: {}", broken.render_text());
    // (the checks the emulator cannot answer are still NO DATA two days on: reminded)
    let gaps = gap_ids(&broken);
    for (id, why) in change_whys(&broken) {
        assert_eq!(
            why,
            if gaps.contains(&id) {
                "reminder"
            } else {
                "changed"
            },
            "{id}"
        );
    }
    // (the latency and failure checks need the rule: not evaluated, they keep their state)
    assert!(!checks(&broken).contains_key("replication-latency/backups-crr"));

    // When replication is repaired (the configuration back, the canaries copied) and time is
    // back to now
    src.put_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .replication_configuration(lifeboat_tests::replication_configuration(
            &f.world.dr_backup_bucket,
        ))
        .send()
        .await
        .unwrap();
    replicate(&f).await;
    let t1 = Utc::now();
    let repaired = evaluate(&f, schedule("ev-4", t1), "req-4", t1).await;

    // Then one email: every check that had failed is "OK again", nothing else changed
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_healthy(&checks(&repaired), false);
    // (the rules' NO DATA was held, never emailed: their stored state stayed OK, so there is
    // no "OK again" for them)
    let failed: BTreeSet<String> = checks(&broken)
        .into_values()
        .filter(|c| c.state != State::Ok && c.state != State::NoData && !emulator_gap(c))
        .map(|c| c.id)
        .collect();
    let recovered: BTreeSet<String> = change_whys(&repaired)
        .into_iter()
        .map(|(id, why)| {
            assert_eq!(why, "recovered", "{id}");
            id
        })
        .collect();
    assert_eq!(recovered, failed);
    for must in [
        format!(
            "info     backups-crr: backups-crr replication configuration OK again (was CRITICAL): rule backups-to-dr replicates s3://{}/backups/ to {}",
            f.world.backup_bucket, f.world.dr_backup_bucket
        ),
        "info     orders-db: orders-db backup age OK again (was CRITICAL): ".into(),
        "info     backups-crr: backups-crr canary OK again (was CRITICAL): the last canary arrived ".into(),
    ] {
        assert!(finding_lines(&mail[0]).iter().any(|l| l.starts_with(&must)), "{must}\n{}", mail[0].body);
    }
}

/// What four healthy hours leave behind, four hours on (the emulator's clock moved with them):
/// new artifacts, fresh metrics, the canaries replicated as they were written.
async fn four_hours_pass(f: &Fixture, at: DateTime<Utc>) {
    f.emu.shift_clock(Duration::hours(4));
    let src = s3(f, PRIMARY).await;
    for (prefix, size) in [
        ("artifacts/kafka/orders-events/", 4096),
        ("artifacts/k8s-config/prod-cluster/", 2048),
        ("artifacts/secrets/", 1024),
    ] {
        let key = format!("{prefix}{}.later", at.format("%Y-%m-%dT%H%M"));
        lifeboat_tests::put_artifact(&src, &f.world.backup_bucket, &key, size).await;
    }
    lifeboat_tests::seed_metrics(&f.emu.config(PRIMARY).await, &f.world, at).await;
}

#[tokio::test]
async fn a_check_still_failing_is_reminded_after_reminder_every() {
    // Given a checked healthy account
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();
    evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;
    replicate(&f).await;
    emails(&f).await;

    // When S3 saves start failing (20 of 200, 10%) and the schedule fires
    save_failures(&f, t0, 18.0).await;
    let alerted = evaluate(&f, schedule("ev-2", t0), "req-2", t0).await;
    replicate(&f).await;
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(mail[0].body.contains("cert.s3.save.fail metric rule WARNING (was OK): 10% over 10 min (alert above 5%) — action: Check S3 service status, review error logs"), "{}", mail[0].body);
    assert!(change_whys(&alerted).contains(&("rule/cert.s3.save.fail".into(), "changed".into())));

    // Then the next run, the rule still failing, sends nothing
    let t1 = t0 + Duration::minutes(1);
    let quiet = evaluate(&f, schedule("ev-3", t1), "req-3", t1).await;
    replicate(&f).await;
    assert!(
        quiet.headline.starts_with("no change:"),
        "{}",
        quiet.headline
    );
    assert_eq!(
        checks(&quiet)["rule/cert.s3.save.fail"].state,
        State::Warning
    );
    assert!(emails(&f).await.is_empty());

    // When four hours pass (monitoring.reminder_every), everything else healthy, the failures
    // still at 10%
    let later = t0 + Duration::hours(4) + Duration::minutes(1);
    four_hours_pass(&f, later).await;
    save_failures(&f, later, 18.0).await;
    let reminded = evaluate(&f, schedule("ev-4", later), "req-4", later).await;

    // Then one email: the reminder, worst first, and nothing changed (the checks the emulator
    // cannot answer are still NO DATA too: reminded with it)
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let gaps = gap_ids(&reminded);
    let whys = change_whys(&reminded);
    assert_eq!(
        whys[0],
        ("rule/cert.s3.save.fail".to_string(), "reminder".to_string()),
        "{}",
        reminded.render_text()
    );
    for (id, why) in &whys[1..] {
        assert!(gaps.contains(id) && why == "reminder", "{id} {why}");
    }
    // "for 4 h" (and the minute the test itself took, "4 h 1 min", when it crosses one)
    let (start, end) = (
        "cert.s3.save.fail metric rule WARNING (still, for 4 h",
        "): 10% over 10 min (alert above 5%)",
    );
    assert!(
        reminded.headline.contains(start) && reminded.headline.contains(end),
        "{}",
        reminded.headline
    );
    assert!(
        finding_lines(&mail[0]).iter().any(|l| l
            .starts_with(&format!("WARNING  cert.s3.save.fail: {start}"))
            && l.ends_with(&format!(
                "{end} — action: Check S3 service status, review error logs"
            ))),
        "{}",
        mail[0].body
    );

    // and the run after it is quiet again
    let after = later + Duration::minutes(1);
    let next = evaluate(&f, schedule("ev-5", after), "req-5", after).await;
    f.emu.reset_clock();
    assert!(next.headline.starts_with("no change:"), "{}", next.headline);
    assert!(emails(&f).await.is_empty());
}

#[tokio::test]
async fn a_hundred_concurrent_triggers_after_a_change_send_one_email() {
    // Given a checked healthy account, and then S3 saves failing: a state change to report
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();
    evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;
    emails(&f).await;
    save_failures(&f, t0, 18.0).await;

    // When the same scheduled event reaches 100 invocations at once
    let event = schedule("ev-2", t0);
    let ids: Vec<String> = (0..100).map(|i| format!("req-c{i}")).collect();
    type Pending<'a> = std::pin::Pin<
        Box<dyn std::future::Future<Output = lifeboat_shared::Result<Response>> + 'a>,
    >;
    let invocations: Vec<Pending> = ids
        .iter()
        .map(|id| {
            Box::pin(replication_lag_check::run(
                &f.check,
                &event,
                id,
                Utc::now(),
                None,
            )) as Pending
        })
        .collect();
    let answers = join_all(invocations).await;
    let mut skipped = 0;
    let mut evaluated = Vec::new();
    for answer in answers {
        match answer.expect("every invocation answers") {
            Response::Skipped { reason, .. } => {
                // The same event: in progress in another invocation, or already done by it
                assert!(
                    reason.contains("is in progress in another invocation")
                        || reason.starts_with("already done: run "),
                    "{reason}"
                );
                skipped += 1;
            }
            Response::Finished(r) => evaluated.push(r.headline.clone()),
            other => panic!("{other:?}"),
        }
    }

    // Then exactly one email, naming the change; every other invocation found the lease held
    // or, after it, nothing changed
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}\n{evaluated:#?}");
    assert!(
        mail[0]
            .subject
            .contains("cert.s3.save.fail metric rule WARNING (was OK)"),
        "{}",
        mail[0].subject
    );
    assert_eq!(skipped + evaluated.len(), 100);
    // One delivery of one event is one evaluation (run::once), not one per invocation
    assert_eq!(evaluated.len(), 1, "{evaluated:#?}");

    // And when the same event is delivered again ten times after it finished (EventBridge
    // delivers at least once), each answers from the first run: nothing checked, nothing sent
    for i in 0..10 {
        match run(&f, event.clone(), &format!("req-again-{i}"), Utc::now()).await {
            Response::Skipped { reason, report, .. } => {
                assert!(reason.starts_with("already done: run "), "{reason}");
                assert!(report.is_some(), "the first run's report comes back");
            }
            other => panic!("a redelivery ran again: {other:?}"),
        }
    }
    assert!(emails(&f).await.is_empty(), "a redelivery sent email");
}

#[tokio::test]
async fn backup_freshness_of_every_kind_with_no_data_for_what_cannot_be_read() {
    // Given the seeded account (no backups made yet tonight) with an artifact set whose bucket
    // does not exist
    let f = fixture_with(|p| {
        p.replacen(
            "  artifacts:\n",
            "  artifacts:\n    - {name: audit-logs, bucket: ecommerce-audit-logs-gone, prefix: audit/, every: 1d}\n",
            1,
        )
    })
    .await;
    let now = Utc::now();

    // When checked
    let cs = manual(&f, "req-1", now).await;

    // Then RDS and Aurora are fresh by point-in-time recovery
    assert_eq!(cs["backup-age/orders-db"].state, State::Ok);
    assert!(cs["backup-age/orders-db"]
        .detail
        .ends_with("against RPO 5 min (point-in-time recovery)"));
    assert_eq!(cs["backup-age/catalog-aurora"].state, State::Ok);
    // the DR region holds only the seeded 40-day-old copy of orders-db, none of the Aurora cluster
    assert_eq!(cs["dr-copy-age/orders-db"].state, State::Critical);
    assert!(
        cs["dr-copy-age/orders-db"]
            .detail
            .contains(" d (the backup taken then; a copy is made every 24 h, alert above 48 h)"),
        "{}",
        cs["dr-copy-age/orders-db"].detail
    );
    assert_eq!(cs["dr-copy-age/catalog-aurora"].state, State::Critical);
    assert_eq!(
        cs["dr-copy-age/catalog-aurora"].detail,
        "no DR copy in the DR region"
    );
    // ElastiCache: no snapshot with a time, AWS Backup unreadable (moto): no data, not OK
    assert!(
        emulator_gap(&cs["backup-age/sessions-redis"]),
        "{:?}",
        cs["backup-age/sessions-redis"]
    );
    // an artifact set that cannot be listed is no data, with the AWS error
    let audit = &cs["artifacts/audit-logs"];
    assert_eq!(audit.state, State::NoData);
    assert!(
        audit
            .detail
            .starts_with("could not be listed (ListObjectsV2 ecommerce-audit-logs-gone"),
        "{}",
        audit.detail
    );
    assert!(audit.detail.contains("NoSuchBucket"), "{}", audit.detail);

    // When tonight's backups are made and copied
    snapshot_export::run(
        &f.export,
        &json!({"action": "run"}),
        "se-1",
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    let cs = manual(&f, "req-2", Utc::now()).await;
    // Then the DR copies are fresh
    for id in [
        "dr-copy-age/orders-db",
        "dr-copy-age/catalog-aurora",
        "dr-copy-age/analytics-db",
    ] {
        assert_eq!(cs[id].state, State::Ok, "{}", cs[id].sentence());
    }

    // When two days pass without a backup
    let cs = manual(
        &f,
        "req-3",
        Utc::now() + Duration::days(2) + Duration::minutes(5),
    )
    .await;
    // Then every backup, DR copy and artifact set is past its RPO
    for (id, detail) in [
        (
            "backup-age/orders-db",
            "48 h against RPO 5 min (point-in-time recovery)",
        ),
        (
            "backup-age/catalog-aurora",
            "48 h against RPO 15 min (point-in-time recovery)",
        ),
        (
            "backup-age/analytics-db",
            "48 h against RPO 24 h (point-in-time recovery)",
        ),
        ("dr-copy-age/orders-db", ""),
        (
            "artifacts/kafka-archives",
            "48 h against RPO 2 h (written every 60 min)",
        ),
        (
            "artifacts/k8s-config",
            "50 h against RPO 12 h (written every 6 h)",
        ),
        (
            "artifacts/secrets-backups",
            "51 h against RPO 48 h (written every 24 h)",
        ),
    ] {
        assert_eq!(cs[id].state, State::Critical, "{}", cs[id].sentence());
        assert!(cs[id].detail.starts_with(detail), "{}", cs[id].sentence());
    }
    assert!(cs["dr-copy-age/orders-db"]
        .detail
        .contains("alert above 48 h"));

    // When a person takes a manual snapshot an hour from now (newer than point-in-time recovery)
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    f.emu.shift_clock(Duration::hours(1));
    rds.create_db_snapshot()
        .db_instance_identifier("ecommerce-prod-db")
        .db_snapshot_identifier("ecommerce-prod-db-before-upgrade")
        .send()
        .await
        .unwrap();
    f.emu.reset_clock();
    let taken = Utc::now() + Duration::hours(1);
    // Then the snapshot is the newest backup: fresh 2 minutes after, stale 10 minutes after
    let cs = manual(&f, "req-4", taken + Duration::minutes(2)).await;
    let age = &cs["backup-age/orders-db"];
    assert_eq!(age.state, State::Ok, "{}", age.sentence());
    assert!(
        age.detail
            .ends_with("against RPO 5 min (snapshot ecommerce-prod-db-before-upgrade)"),
        "{}",
        age.detail
    );
    let cs = manual(&f, "req-5", taken + Duration::minutes(10)).await;
    let age = &cs["backup-age/orders-db"];
    assert_eq!(age.state, State::Critical, "{}", age.sentence());
    assert!(
        age.detail
            .starts_with("10 min against RPO 5 min (snapshot ecommerce-prod-db-before-upgrade)"),
        "{}",
        age.detail
    );

    // When the Kafka archive is overdue (past its cadence plus half the way to its RPO)
    let cs = manual(&f, "req-6", Utc::now() + Duration::minutes(80)).await;
    // Then it is a warning before it is critical
    let kafka = &cs["artifacts/kafka-archives"];
    assert_eq!(kafka.state, State::Warning, "{}", kafka.sentence());

    // When the newest Kafka archive is too small, and the secrets backups are all gone
    let src = s3(&f, PRIMARY).await;
    lifeboat_tests::put_artifact(
        &src,
        &f.world.backup_bucket,
        "artifacts/kafka/orders-events/truncated.avro.gz",
        100,
    )
    .await;
    for key in keys(&f, PRIMARY, &f.world.backup_bucket, "artifacts/secrets/").await {
        src.delete_object()
            .bucket(&f.world.backup_bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let cs = manual(&f, "req-7", Utc::now()).await;
    // Then the small one is a warning and the empty set critical
    let kafka = &cs["artifacts/kafka-archives"];
    assert_eq!(kafka.state, State::Warning, "{}", kafka.sentence());
    assert!(
        kafka
            .detail
            .ends_with("truncated.avro.gz, 100 bytes is below the 1024 expected"),
        "{}",
        kafka.detail
    );
    let secrets = &cs["artifacts/secrets-backups"];
    assert_eq!(secrets.state, State::Critical, "{}", secrets.sentence());
    assert_eq!(
        secrets.detail,
        format!(
            "no object under s3://{}/artifacts/secrets/ (RPO 48 h)",
            f.world.backup_bucket
        )
    );

    // When the database the policy names by id is deleted
    aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await)
        .delete_db_instance()
        .db_instance_identifier("ecommerce-prod-db")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let cs = manual(&f, "req-8", Utc::now()).await;
    // Then its backup age is critical, not silently gone
    let orders = &cs["backup-age/orders-db"];
    assert_eq!(orders.state, State::Critical, "{}", orders.sentence());
    assert_eq!(
        orders.detail,
        "ecommerce-prod-db was not found: the policy names it, and no backup of it can be checked"
    );
}

#[tokio::test]
async fn the_canary_arrived_late_or_missing() {
    // Given a healthy account whose first check wrote a canary
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();
    evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;

    // When replication copies it and the schedule fires
    replicate(&f).await;
    let arrived = evaluate(&f, schedule("ev-2", t0), "req-2", t0).await;
    // Then it was measured end to end: OK
    let canary = &checks(&arrived)["canary/backups-crr"];
    assert_eq!(canary.state, State::Ok, "{}", canary.sentence());
    assert!(
        canary.detail.starts_with("the last canary arrived "),
        "{}",
        canary.detail
    );
    let took = arrived
        .measurements
        .iter()
        .find(|m| m.name == "CanaryReplicationSeconds")
        .unwrap();
    assert!((0.0..60.0).contains(&took.value), "{took:?}");

    // When the next canary is not copied and 20 minutes pass
    let late = evaluate(
        &f,
        schedule("ev-3", t0 + Duration::minutes(20)),
        "req-3",
        t0 + Duration::minutes(20),
    )
    .await;
    // Then it is late: a warning
    let canary = &checks(&late)["canary/backups-crr"];
    assert_eq!(canary.state, State::Warning, "{}", canary.sentence());
    assert!(
        canary
            .detail
            .ends_with("a canary written 20 min ago has not arrived"),
        "{}",
        canary.detail
    );

    // When two hours pass and it still has not arrived
    let missing = evaluate(
        &f,
        schedule("ev-4", t0 + Duration::hours(2)),
        "req-4",
        t0 + Duration::hours(2),
    )
    .await;
    // Then it is missing: critical, with its age
    let canary = &checks(&missing)["canary/backups-crr"];
    assert_eq!(canary.state, State::Critical, "{}", canary.sentence());
    assert!(
        canary
            .detail
            .ends_with("a canary written 2 h ago has not arrived"),
        "{}",
        canary.detail
    );
    assert!(emails(&f)
        .await
        .iter()
        .any(|e| e.body.contains("backups-crr canary CRITICAL (was WARNING)")));
}

#[tokio::test]
async fn metric_rules_from_the_seeded_series() {
    // Given the seeded certificate-service metrics (2 of 200 S3 saves failed) and a rule on a
    // metric nothing reports
    let f = fixture_with(|p| {
        p.replacen(
            "  rules:\n",
            "  rules:\n    - {name: cert.s3.read.fail, namespace: Lifeboat/Demo, metric: cert.s3.read.fail, of: cert.s3.read.total, window: 10m, above: 5, severity: warning}\n",
            1,
        )
    })
    .await;
    let t0 = Utc::now();

    // When checked
    let first = evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;
    emails(&f).await;

    // Then the ratio rule is OK at 1%, the success floor OK at 99%, the silent metric NO DATA
    let cs = checks(&first);
    let fail = &cs["rule/cert.s3.save.fail"];
    assert_eq!(fail.state, State::Ok, "{}", fail.sentence());
    assert_eq!(fail.value, Some(1.0));
    assert_eq!(fail.detail, "1% over 10 min (alert above 5%)");
    let success = &cs["rule/cert.s3.write.success"];
    assert_eq!(
        (success.state, success.value),
        (State::Ok, Some(99.0)),
        "{}",
        success.sentence()
    );
    let silent = &cs["rule/cert.s3.read.fail"];
    assert_eq!(silent.state, State::NoData, "{}", silent.sentence());
    assert_eq!(
        silent.detail,
        "no datapoints in the last 10 min (alert above 5%)"
    );
    assert_eq!(
        first
            .measurements
            .iter()
            .find(|m| m.name == "GetMetricDataCalls")
            .unwrap()
            .value,
        // one per region: the primary (rules, failed replications) and the DR region (where
        // S3 publishes the replica bucket's ReplicationLatency)
        2.0
    );

    // When 18 more saves fail (20 of 200: 10%) and the schedule fires
    save_failures(&f, t0, 18.0).await;
    let t1 = t0 + Duration::minutes(1);
    let second = evaluate(&f, schedule("ev-2", t1), "req-2", t1).await;

    // Then one email: the rule is a warning, with the runbook's action
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let fail = &checks(&second)["rule/cert.s3.save.fail"];
    assert_eq!((fail.state, fail.value), (State::Warning, Some(10.0)));
    assert_eq!(
        second.headline,
        "cert.s3.save.fail metric rule WARNING (was OK): 10% over 10 min (alert above 5%)"
    );
    assert!(
        finding_lines(&mail[0]).contains(&"WARNING  cert.s3.save.fail: cert.s3.save.fail metric rule WARNING (was OK): 10% over 10 min (alert above 5%) — action: Check S3 service status, review error logs".to_string()),
        "{}",
        mail[0].body
    );
}

#[tokio::test]
async fn a_malformed_event_is_rejected_before_any_aws_call() {
    // Given the seeded account
    let f = fixture().await;
    let dir = lifeboat_tests::root().join("events/replication-lag-check");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("malformed-"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        // When a malformed event arrives
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
        let err = replication_lag_check::run(&f.check, &event, "req-bad", Utc::now(), None)
            .await
            .expect_err(&name);
        // Then it is refused, naming the field
        assert_eq!(err.error_type(), "Lifeboat.InvalidEvent", "{name}: {err}");
        assert!(
            err.to_string().starts_with("invalid event: event."),
            "{name}: {err}"
        );
    }
    // and nothing was written: no lease, state, report or canary, no email
    assert!(keys(&f, PRIMARY, &f.world.report_bucket, "")
        .await
        .is_empty());
    assert!(keys(&f, PRIMARY, &f.world.backup_bucket, CANARY_PREFIX)
        .await
        .is_empty());
    assert!(emails(&f).await.is_empty());
}

#[tokio::test]
async fn full_checks_every_15_minutes_and_lag_checks_in_between() {
    // Given the deployed default: a full check every 15 minutes, the schedule every 5
    let f = fixture_with(|p| p.replace("full_check_every: 1m", "full_check_every: 15m")).await;
    healthy(&f).await;
    let queries = |r: &Report| {
        r.measurements
            .iter()
            .find(|m| m.name == "MetricQueries")
            .map(|m| m.value)
            .unwrap()
    };
    let lag_line = |r: &Report| {
        r.findings
            .iter()
            .find(|x| x.message.starts_with("lag check: "))
            .map(|x| x.message.clone())
    };

    // When the schedule fires first: a full check (every check, a canary written)
    let t0 = Utc::now();
    let full = evaluate(&f, schedule("ev-1", t0), "req-1", t0).await;
    assert_eq!(checks(&full).len(), ALL_CHECKS.len());
    assert!(lag_line(&full).is_none());
    let canaries = || keys(&f, PRIMARY, &f.world.backup_bucket, CANARY_PREFIX);
    assert_eq!(canaries().await.len(), 1);
    replicate(&f).await;
    emails(&f).await;

    // Then 5 minutes later a lag check: replication configuration and latency, replica lag and
    // backup ages only — one metric query per pair (ReplicationLatency) instead of the full
    // check's two per pair plus the rules' — no canary, no email (nothing changed)
    let t1 = t0 + Duration::minutes(5);
    let lag = evaluate(&f, schedule("ev-2", t1), "req-2", t1).await;
    let line = lag_line(&lag).expect("a lag check says so");
    assert!(
        line.contains("keep the state of the last full check"),
        "{line}"
    );
    assert_eq!(queries(&lag), 1.0, "{}", lag.render_text());
    assert_eq!(queries(&full), 2.0 + 4.0, "{}", full.render_text());
    let ids = checks(&lag);
    for read in [
        "replication-config/backups-crr",
        "replication-latency/backups-crr",
        "backup-age/orders-db",
    ] {
        assert!(ids.contains_key(read), "{read}: {ids:#?}");
    }
    for kept in [
        "canary/backups-crr",
        "replication-buckets/backups-crr",
        "artifacts/kafka-archives",
        "rule/cert.s3.save.fail",
    ] {
        assert!(!ids.contains_key(kept), "{kept}");
    }
    assert_eq!(canaries().await.len(), 1, "no canary in a lag check");
    assert!(emails(&f).await.is_empty());
    // (it looked for the pending canary in the replica: its arrival is recorded, as S3 keeps
    // the source's time on a replica)
    let state = s3(&f, PRIMARY)
        .await
        .get_object()
        .bucket(&f.world.report_bucket)
        .key(STATE_KEY)
        .send()
        .await
        .unwrap();
    let state: Value =
        serde_json::from_slice(&state.body.collect().await.unwrap().into_bytes()).unwrap();
    let seen = state["canaries_seen"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(seen.len(), 1, "{state:#}");
    assert_eq!(
        seen.values()
            .next()
            .unwrap()
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        Some(t1)
    );

    // When replication breaks, the next lag check (10 minutes in) catches it
    s3(&f, PRIMARY)
        .await
        .delete_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .send()
        .await
        .unwrap();
    let t2 = t0 + Duration::minutes(10);
    let caught = evaluate(&f, schedule("ev-3", t2), "req-3", t2).await;
    assert!(lag_line(&caught).is_some());
    let mail = emails(&f).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0]
            .body
            .contains("backups-crr replication configuration CRITICAL (was OK): s3://"),
        "{}",
        mail[0].body
    );

    // And 15 minutes after the first, the full check again: the canary and the rest are read
    let t3 = t0 + Duration::minutes(15);
    let again = evaluate(&f, schedule("ev-4", t3), "req-4", t3).await;
    assert!(lag_line(&again).is_none(), "{}", again.render_text());
    assert!(checks(&again).contains_key("canary/backups-crr"));
    assert_eq!(canaries().await.len(), 2);
}

#[tokio::test]
async fn the_backlog_is_read_in_a_second_call_only_when_latency_is_high() {
    // Given a healthy account whose replication latency rose to 30 minutes with a backlog
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();
    let quick = evaluate(&f, json!({"action": "check"}), "req-1", t0).await;
    let calls = |r: &Report| {
        r.measurements
            .iter()
            .find(|m| m.name == "GetMetricDataCalls")
            .map(|m| m.value)
    };
    assert_eq!(
        calls(&quick),
        Some(2.0),
        "latency OK: one call per region (the DR region's latency, the primary's failures and rules), no backlog read"
    );
    emails(&f).await;
    // (where S3 publishes them: the destination bucket's region)
    let cw = aws_sdk_cloudwatch::Client::new(&f.emu.config(DR).await);
    let rule = [
        ("SourceBucket", f.world.backup_bucket.as_str()),
        ("DestinationBucket", f.world.dr_backup_bucket.as_str()),
        ("RuleId", lifeboat_tests::REPLICATION_RULE),
    ];
    let ago = |m: i64| t0 - Duration::minutes(m);
    for (metric, v) in [
        ("ReplicationLatency", 1_800.0),
        ("OperationsPendingReplication", 42.0),
        ("BytesPendingReplication", 5.0 * 1024.0 * 1024.0),
    ] {
        lifeboat_tests::put_metric(&cw, "AWS/S3", metric, &rule, &[(ago(1), v)]).await;
    }

    // When checked again
    let slow = evaluate(&f, json!({"action": "check"}), "req-2", t0).await;

    // Then the latency is a warning whose detail names the backlog, read in a second call
    let latency = &checks(&slow)["replication-latency/backups-crr"];
    assert_eq!(latency.state, State::Warning, "{}", latency.sentence());
    assert!(
        latency
            .detail
            .ends_with("; 42 operations (5.0 MiB) pending"),
        "{}",
        latency.detail
    );
    assert_eq!(calls(&slow), Some(3.0));
}

#[tokio::test]
async fn per_component_metrics_are_an_opt_in_and_the_default_is_a_few_aggregates() {
    // Given the seeded account with the default policy (no per_component_metrics)
    let f = fixture().await;
    healthy(&f).await;
    let t0 = Utc::now();

    // When checked
    let r = evaluate(&f, json!({"action": "check"}), "req-1", t0).await;

    // Then no measurement is per component; the count over RPO, the pair's lag and the check
    // counts are, and every check is still decided
    assert!(r
        .measurements
        .iter()
        .all(|m| !m.dimensions.contains_key("Component")));
    let over = r
        .measurements
        .iter()
        .find(|m| m.name == "ComponentsOverRpo");
    assert_eq!(over.map(|m| m.value), Some(0.0), "{:#?}", r.measurements);
    assert!(r
        .measurements
        .iter()
        .any(|m| m.name == "ReplicationLagSeconds" && m.dimensions.contains_key("Pair")));
    assert!(r.measurements.iter().any(|m| m.name == "ChecksOk"));
    assert_eq!(checks(&r).len(), ALL_CHECKS.len());

    // Given an account that opts in
    let f = fixture_with(|p| {
        p.replace(
            "full_check_every: 1m",
            "full_check_every: 1m\n  per_component_metrics: true",
        )
    })
    .await;
    healthy(&f).await;
    let r = evaluate(&f, json!({"action": "check"}), "req-1", t0).await;
    // Then backup ages are metrics per component, the RPO (a constant) never is
    let per: Vec<&str> = r
        .measurements
        .iter()
        .filter(|m| m.dimensions.contains_key("Component"))
        .map(|m| m.name.as_str())
        .collect();
    assert!(per.contains(&"BackupAgeSeconds"), "{per:?}");
    assert!(!per.contains(&"RpoSeconds"), "{per:?}");
}

#[tokio::test]
async fn an_artifact_set_over_the_canary_prefix_never_takes_a_canary_for_a_backup() {
    // Given an artifact set declared over the whole backups/ prefix, where the canaries live
    let f = fixture_with(|p| {
        // (the policy's buckets are substituted already: take the Kafka archives' one)
        let at = p.find("name: kafka-archives\n      bucket: ").unwrap();
        let rest = &p[at..];
        let line = rest.lines().nth(1).unwrap().trim().to_string();
        let bucket = line.trim_start_matches("bucket: ").to_string();
        p.replacen(
            "  artifacts:\n",
            &format!("  artifacts:\n    - {{name: all-backups, bucket: {bucket}, prefix: backups/, every: 1h}}\n"),
            1,
        )
    })
    .await;
    healthy(&f).await;
    let t0 = Utc::now();
    evaluate(&f, json!({"action": "check"}), "req-1", t0).await;
    assert!(!keys(&f, PRIMARY, &f.world.backup_bucket, CANARY_PREFIX)
        .await
        .is_empty());

    // When checked again, a fresh canary in the prefix
    let r = evaluate(&f, json!({"action": "check"}), "req-2", t0).await;

    // Then the set's newest object is not a canary
    let set = &checks(&r)["artifacts/all-backups"];
    assert!(
        !set.detail.contains("lifeboat-canary"),
        "{}",
        set.sentence()
    );
}

/// Two full checks a minute apart, the canary of the first copied in between the way S3
/// replication would ([`replicate`]): the canary check of the second.
async fn canary_after_replication(f: &Fixture) -> Check {
    let t0 = Utc::now();
    manual(f, "req-1", t0).await;
    replicate(f).await;
    let cs = manual(f, "req-2", t0 + Duration::minutes(1)).await;
    cs["canary/backups-crr"].clone()
}

#[tokio::test]
async fn the_canary_is_looked_for_under_its_own_key_when_the_replica_names_no_prefix() {
    // Given a pair whose replica names no prefix (S3 replication keeps keys: the canary is
    // under backups/lifeboat-canary/ in the replica too)
    let f = fixture_with(|text| {
        let pair = "replica: {bucket: ecommerce-backups-prod-us-west-2, prefix: backups/, region: us-west-2}\n      latency";
        assert!(text.contains(pair), "the local policy's pair");
        text.replacen(
            pair,
            "replica: {bucket: ecommerce-backups-prod-us-west-2, region: us-west-2}\n      latency",
            1,
        )
    })
    .await;
    // When a canary is written, replicated under its key, and looked for
    let canary = canary_after_replication(&f).await;
    // Then it arrived
    assert_eq!(canary.state, State::Ok, "{}", canary.sentence());
    assert!(
        canary.detail.starts_with("the last canary arrived "),
        "{}",
        canary.detail
    );
}

#[tokio::test]
async fn a_rule_filtered_by_tags_replicates_the_canary_because_it_carries_them() {
    use aws_sdk_s3::types::{ReplicationRuleAndOperator, ReplicationRuleFilter, Tag};
    // Given the backup bucket's rule replicates only objects tagged replicate=dr
    let f = fixture().await;
    let mut config = lifeboat_tests::replication_configuration(&f.world.dr_backup_bucket);
    let tag = Tag::builder().key("replicate").value("dr").build().unwrap();
    config.rules[0].filter = Some(
        ReplicationRuleFilter::builder()
            .and(
                ReplicationRuleAndOperator::builder()
                    .prefix("backups/")
                    .tags(tag)
                    .build(),
            )
            .build(),
    );
    s3(&f, PRIMARY)
        .await
        .put_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .replication_configuration(config)
        .send()
        .await
        .unwrap();
    // When a canary is written, replication runs (tagged objects only), and it is looked for
    let canary = canary_after_replication(&f).await;
    // Then the canary carried the tag and arrived
    assert_eq!(canary.state, State::Ok, "{}", canary.sentence());
    // and the configuration check says what the rule covers
    let cs = manual(&f, "req-3", Utc::now() + Duration::minutes(2)).await;
    let config = &cs["replication-config/backups-crr"];
    assert_eq!(config.state, State::Ok, "{}", config.sentence());
    assert!(
        config
            .detail
            .contains("objects tagged replicate=dr (only those"),
        "{}",
        config.detail
    );
}

#[tokio::test]
async fn a_stopped_read_replica_reporting_minus_one_is_critical_not_zero_behind() {
    // Given a read replica of orders-db whose ReplicaLag went to -1 two minutes ago (AWS: -1
    // when replication is not active, e.g. stopped on an error)
    let f = fixture().await;
    let primary = f.emu.config(PRIMARY).await;
    aws_sdk_rds::Client::new(&primary)
        .create_db_instance_read_replica()
        .db_instance_identifier("ecommerce-prod-db-replica")
        .source_db_instance_identifier("ecommerce-prod-db")
        .send()
        .await
        .unwrap();
    let now = Utc::now();
    let ago = |m: i64| now - Duration::minutes(m);
    lifeboat_tests::put_metric(
        &aws_sdk_cloudwatch::Client::new(&primary),
        "AWS/RDS",
        "ReplicaLag",
        &[("DBInstanceIdentifier", "ecommerce-prod-db-replica")],
        &[(ago(4), 3.0), (ago(3), 5.0), (ago(2), -1.0), (ago(1), -1.0)],
    )
    .await;
    // When checked
    let cs = manual(&f, "req-1", now).await;
    // Then the replica is critical: replication is not active, never "0 s behind"
    let replica = &cs["replica/orders-db ecommerce-prod-db-replica"];
    assert_eq!(replica.state, State::Critical, "{}", replica.sentence());
    assert!(
        replica.detail.starts_with("replication is not active"),
        "{}",
        replica.detail
    );
}
