// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! The fault-injection suite: both functions run through `scripts/fault_proxy.py` (a test
//! stand-in for an unlucky day on AWS) in front of the emulator, with the SDK's own retries.
//!
//! - Lost answers (the call happened, its answer did not come back) on the lease, the journal
//!   and status saves, CreateDBSnapshot, DeleteDBSnapshot, the manifest and the intent writes
//!   and SNS Publish: each with its exact expected outcome.
//! - Random faults (5% here; 20% too with `LIFEBOAT_FAULTS=full`, as `scripts/reliability.sh`
//!   runs it), before and after forwarding: every invocation ends with a report, or an error
//!   with a FAILED email; nothing unsafe happens; one clean run converges to the state the same
//!   runs reach without faults (an extra deletion would show as a difference: deletions cannot
//!   be undone).
//! - S3 and RDS outages from the start and mid-run.
//!
//! With `LIFEBOAT_RELIABILITY_OUT=<file>` every scenario appends one JSON line of figures
//! (requests, faults, outcomes) for docs/RELIABILITY.md.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use lifeboat_shared::report::{Outcome, Report, Status};
use lifeboat_tests::faults::{self, Fault, FaultProxy, Rule, When};
use lifeboat_tests::{read_emails, Email, Scenario, DR, PRIMARY};
use serde_json::{json, Value};

use crate::util::{self, Harness};

/// A seeded world, the proxy in front of its emulator, and both functions talking through it.
struct Unlucky {
    h: Harness<()>,
    proxy: FaultProxy,
    se: snapshot_export::App,
    rv: restore_verification::App,
    rlc: replication_lag_check::App,
}

async fn unlucky(dir: &'static str) -> Unlucky {
    let h = util::world()
        .dir(dir)
        .scenario(Scenario::default())
        .build(|_| ())
        .await;
    let proxy = FaultProxy::start(&h.emu.endpoint);
    let se = util::function_parts(
        lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await,
        &h.world,
    )
    .await
    .snapshot_export();
    let rv = util::function_parts(
        lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await,
        &h.world,
    )
    .await
    .restore_verification();
    let rlc = util::function_parts(
        lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await,
        &h.world,
    )
    .await
    .replication_lag_check();
    Unlucky {
        h,
        proxy,
        se,
        rv,
        rlc,
    }
}

/// The functions' entry points, boxed: their futures are large and the tests nest several
/// (the default 2 MiB test-thread stack overflows otherwise).
async fn rv_invoke(
    u: &Unlucky,
    payload: &Value,
    request_id: &str,
    now: chrono::DateTime<Utc>,
) -> lifeboat_shared::Result<lifeboat_shared::run::Response> {
    Box::pin(restore_verification::invoke(
        &u.rv, payload, request_id, now, None,
    ))
    .await
}

async fn se_invoke(
    u: &Unlucky,
    payload: &Value,
    request_id: &str,
    now: chrono::DateTime<Utc>,
) -> lifeboat_shared::Result<lifeboat_shared::run::Response> {
    Box::pin(snapshot_export::run(&u.se, payload, request_id, now, None)).await
}

/// How one invocation ended.
#[derive(Debug, Clone)]
enum Ended {
    /// A report (finished, or in progress for a resumable run, or skipped with its reason).
    Answered(Value),
    /// An error: Lambda counts it; a FAILED email should say why.
    Error(String),
}

impl Ended {
    fn json(&self) -> Option<&Value> {
        match self {
            Ended::Answered(v) => Some(v),
            Ended::Error(_) => None,
        }
    }
}

async fn snapshot_export(u: &Unlucky, request_id: &str, later: Duration) -> Ended {
    match se_invoke(u, &json!({"action": "run"}), request_id, Utc::now() + later).await {
        Ok(r) => Ended::Answered(r.to_json().unwrap()),
        Err(e) => Ended::Error(e.to_string()),
    }
}

/// A restore run as the Step Functions loop drives it: invoked again while in progress, the same
/// payload retried after an error (at most 3 retries in a row, as the template's Retry), at most
/// `limit` invocations.
async fn restore_loop(u: &Unlucky, tag: &str, limit: usize) -> Vec<Ended> {
    let mut payload = json!({"action": "restore"});
    let mut out = Vec::new();
    let mut errors_in_a_row = 0;
    for i in 0..limit {
        let r = rv_invoke(u, &payload, &format!("{tag}-{i}"), Utc::now()).await;
        match r {
            Ok(r) => {
                errors_in_a_row = 0;
                let v = r.to_json().unwrap();
                out.push(Ended::Answered(v.clone()));
                if v["done"] != json!(false) {
                    break;
                }
                payload = json!({"action": "restore", "run_id": v["run_id"]});
            }
            Err(e) => {
                out.push(Ended::Error(e.to_string()));
                errors_in_a_row += 1;
                if errors_in_a_row > 3 {
                    break;
                }
            }
        }
    }
    out
}

async fn emails(u: &Unlucky) -> Vec<Email> {
    read_emails(&u.h.emu.config(PRIMARY).await, &u.h.world.queue_url).await
}

fn report(v: &Value) -> Report {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a report ({e}): {v:#}"))
}

fn outcomes(r: &Report, kind: &str) -> Vec<(String, Outcome)> {
    r.actions
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| (a.resource.clone(), a.outcome))
        .collect()
}

/// What the backups look like — snapshots in both regions, export tasks, objects and manifests
/// in the backup bucket — for comparing a world that had faults with one that had none. moto's
/// automated snapshots (named after the minute of the instance's creation) are left out.
async fn backup_state(h: &Harness<()>) -> BTreeMap<String, String> {
    let p = h.emu.config(PRIMARY).await;
    let d = h.emu.config(DR).await;
    let mut out = BTreeMap::new();
    for (region, config) in [("primary", &p), ("dr", &d)] {
        let rds = aws_sdk_rds::Client::new(config);
        let dbs = rds.describe_db_snapshots().send().await.unwrap();
        for s in dbs.db_snapshots() {
            let id = s.db_snapshot_identifier().unwrap_or_default();
            if id.starts_with("lifeboat-") {
                out.insert(
                    format!("{region} db snapshot {id}"),
                    s.status().unwrap_or_default().to_string(),
                );
            }
        }
        let cls = rds.describe_db_cluster_snapshots().send().await.unwrap();
        for s in cls.db_cluster_snapshots() {
            let id = s.db_cluster_snapshot_identifier().unwrap_or_default();
            if id.starts_with("lifeboat-") {
                out.insert(
                    format!("{region} cluster snapshot {id}"),
                    s.status().unwrap_or_default().to_string(),
                );
            }
        }
    }
    let ec = aws_sdk_elasticache::Client::new(&p);
    for s in ec.describe_snapshots().send().await.unwrap().snapshots() {
        let id = s.snapshot_name().unwrap_or_default();
        if id.starts_with("lifeboat-") {
            out.insert(
                format!("cache snapshot {id}"),
                s.snapshot_status().unwrap_or_default().to_string(),
            );
        }
    }
    let rds = aws_sdk_rds::Client::new(&p);
    for t in rds
        .describe_export_tasks()
        .send()
        .await
        .unwrap()
        .export_tasks()
    {
        out.insert(
            format!(
                "export task {}",
                t.export_task_identifier().unwrap_or_default()
            ),
            t.status().unwrap_or_default().to_string(),
        );
    }
    let s3 = lifeboat_tests::s3(&p);
    let bucket = &h.world.backup_bucket;
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    for o in listed.contents() {
        let key = o.key().unwrap_or_default();
        if key.ends_with("manifest.json") {
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            let m: Value =
                serde_json::from_slice(&body.body.collect().await.unwrap().into_bytes()).unwrap();
            out.insert(
                format!("manifest {key}"),
                format!(
                    "snapshot {}, DR copy {}, export {}, fingerprint {}",
                    m["snapshot"]["status"],
                    m["dr_copy"]["status"],
                    m["export"]["status"],
                    !m["fingerprint"].is_null()
                ),
            );
        } else {
            // Deletion intents must all be settled; export objects must match.
            out.insert(format!("object {key}"), String::new());
        }
    }
    out
}

/// The differences between two backup states, for an assertion message.
fn differences(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: with faults {:?}, without {:?}", a.get(k), b.get(k)))
        .collect()
}

/// Temporary restored resources still up.
async fn temporaries(h: &Harness<()>) -> Vec<String> {
    let p = h.emu.config(PRIMARY).await;
    let rds = aws_sdk_rds::Client::new(&p);
    let ec = aws_sdk_elasticache::Client::new(&p);
    let mut out: Vec<String> = Vec::new();
    for i in rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
    {
        out.push(i.db_instance_identifier().unwrap_or_default().to_string());
    }
    for c in rds
        .describe_db_clusters()
        .send()
        .await
        .unwrap()
        .db_clusters()
    {
        out.push(c.db_cluster_identifier().unwrap_or_default().to_string());
    }
    for g in ec
        .describe_replication_groups()
        .send()
        .await
        .unwrap()
        .replication_groups()
    {
        if g.status() != Some("deleting") {
            out.push(g.replication_group_id().unwrap_or_default().to_string());
        }
    }
    out.retain(|id| id.starts_with(restore_verification::restores::plan::TEMP_PREFIX));
    out
}

/// Appends a scenario's figures for docs/RELIABILITY.md when the reliability script asks.
fn record(scenario: &str, proxy: &FaultProxy, ended: &[Ended], emails: usize, verdict: &str) {
    let Ok(path) = std::env::var("LIFEBOAT_RELIABILITY_OUT") else {
        return;
    };
    let log = proxy.log();
    let (mut answered, mut errors) = (0, Vec::new());
    for e in ended {
        match e {
            Ended::Answered(_) => answered += 1,
            Ended::Error(e) => errors.push(e.chars().take(120).collect::<String>()),
        }
    }
    let line = json!({
        "scenario": scenario,
        "requests": log.len(),
        "faults": faults::faults(&log),
        "faults_after_forwarding": log.iter().filter(|r| r.fault.is_some() && r.when.as_deref() == Some("after")).count(),
        "invocations": ended.len(),
        "answered": answered,
        "errors": errors.len(),
        "error_messages": errors,
        "emails": emails,
        "verdict": verdict,
    });
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// Every invocation ended with a report, or with an error a FAILED email explained (unless the
/// email itself could not be sent: then the proxy's log shows Publish failing).
fn every_invocation_accounted_for(ended: &[Ended], emails: &[Email], proxy: &FaultProxy) {
    let errors = ended
        .iter()
        .filter(|e| matches!(e, Ended::Error(_)))
        .count();
    let failed_emails = emails
        .iter()
        .filter(|e| e.subject.starts_with("[Lifeboat FAILED]"))
        .count();
    let publish_failures = proxy
        .log()
        .iter()
        .filter(|r| r.operation == "Publish" && r.fault.is_some())
        .count();
    assert!(
        failed_emails >= errors.saturating_sub(publish_failures / 3),
        "{errors} invocations failed but only {failed_emails} FAILED emails: {ended:#?}"
    );
    for e in ended {
        if let Some(v) = e.json() {
            assert!(
                v.get("outcome").is_some() && v.get("run_id").is_some(),
                "an answer without outcome or run id: {v:#}"
            );
        }
    }
}

fn full() -> bool {
    std::env::var("LIFEBOAT_FAULTS").is_ok_and(|v| v == "full")
}

// ---------------------------------------------------------------------------------------------
// Lost answers, each with its exact outcome.

#[tokio::test]
async fn snapshot_export_lost_answers_each_end_as_they_should() {
    // Given the default world (ecommerce-prod-db with 40- and 45-day-old proven snapshots that
    // retention deletes, a 38-day-old one it keeps for its export), and every write's first
    // answer lost once: the lease, the create, a deletion, its intent, a manifest, the email
    let u = unlucky("lifeboat-faults-se-lost").await;
    u.proxy.set_rules(
        1,
        &[
            Rule::lost_answer("s3", "PutObject").path("/locks/snapshot-export"),
            Rule::lost_answer("rds", "CreateDBSnapshot")
                .body("DBInstanceIdentifier=ecommerce-prod-db&"),
            Rule::lost_answer("rds", "DeleteDBSnapshot"),
            Rule::lost_answer("s3", "PutObject").path("/state/snapshot-export/deleting/"),
            Rule::lost_answer("s3", "PutObject").path("/manifest\\.json$"),
            Rule::lost_answer("sns", "Publish"),
        ],
    );
    // When snapshot-export runs
    let ended = snapshot_export(&u, "se-lost-1", Duration::zero()).await;
    let log = u.proxy.log();
    assert_eq!(faults::faults(&log), 6, "every rule struck once: {log:#?}");
    // Then the run finished (its lease was its own), with its report
    let v = ended.json().expect("the run answers").clone();
    assert_eq!(v["outcome"], json!("finished"), "{v:#}");
    let r = report(&v);
    assert_ne!(r.status, Status::Failed, "{}", r.render_text());
    // The create whose answer was lost is "already done" — one snapshot — and still has its
    // fingerprint (defect 5)
    let orders = "ecommerce-prod-db";
    let today = format!("lifeboat-{orders}-{}-0000", Utc::now().format("%Y%m%d"));
    let creates = outcomes(&r, "create-snapshot");
    assert!(
        creates.contains(&(orders.to_string(), Outcome::AlreadyDone)),
        "{creates:?}"
    );
    assert_eq!(
        creates
            .iter()
            .filter(|(_, o)| *o == Outcome::AlreadyDone)
            .count(),
        1,
        "{creates:?}"
    );
    assert!(
        outcomes(&r, "fingerprint").contains(&(today.clone(), Outcome::Done)),
        "the lost create's snapshot is fingerprinted: {}",
        r.render_text()
    );
    // The deletion whose answer was lost is already done on its retry; every deletion went
    let mut deletes = outcomes(&r, "delete-snapshot");
    deletes.extend(outcomes(&r, "delete-dr-copy"));
    assert!(!deletes.is_empty(), "{}", r.render_text());
    assert_eq!(
        deletes
            .iter()
            .filter(|(_, o)| *o == Outcome::AlreadyDone)
            .count(),
        1,
        "{deletes:?}"
    );
    assert!(deletes
        .iter()
        .all(|(_, o)| matches!(o, Outcome::Done | Outcome::AlreadyDone)));
    // ... and their manifests say so, the intents settled (defect 9)
    let state = backup_state(&u.h).await;
    for (kind, says) in [
        ("delete-snapshot", "snapshot \"deleted\""),
        ("delete-dr-copy", "DR copy \"deleted\""),
    ] {
        for (id, _) in outcomes(&r, kind) {
            let m = state
                .iter()
                .find(|(k, _)| k.starts_with("manifest ") && k.contains(id.as_str()))
                .unwrap_or_else(|| panic!("no manifest for {id}: {state:#?}"));
            assert!(m.1.contains(says), "{m:?}");
        }
    }
    assert!(
        !state
            .keys()
            .any(|k| k.contains("state/snapshot-export/deleting/")),
        "every intent settled: {state:#?}"
    );
    // Today's manifest carries the fingerprint
    assert!(
        state
            .iter()
            .any(|(k, v)| k.contains(&today) && v.ends_with("fingerprint true")),
        "{state:#?}"
    );
    // The email whose answer was lost went out twice (SNS standard topics have no
    // de-duplication and email subscriptions cannot use FIFO topics: at least once, never zero)
    let mail = emails(&u).await;
    assert_eq!(mail.len(), 2, "{mail:#?}");
    assert_eq!(mail[0].subject, mail[1].subject);
    // And a second run creates nothing and fails nothing
    let again = report(
        snapshot_export(&u, "se-lost-2", Duration::zero())
            .await
            .json()
            .unwrap(),
    );
    assert!(
        again.actions.iter().all(|a| a.outcome != Outcome::Failed
            && (a.kind != "create-snapshot" || a.outcome == Outcome::AlreadyDone)),
        "{}",
        again.render_text()
    );
    record(
        "snapshot-export: lost answers (lease, create, delete, intent, manifest, email)",
        &u.proxy,
        &[ended],
        mail.len(),
        "finished; one snapshot, fingerprinted; deletions already done; manifests settled; email twice",
    );
}

#[tokio::test]
async fn restore_verification_lost_answers_on_lease_journal_and_status() {
    // Given today's snapshots, and the first answer lost of the lease, a journal save and a
    // status save
    let u = unlucky("lifeboat-faults-rv-lost").await;
    let se = snapshot_export(&u, "se-1", Duration::zero()).await;
    assert_eq!(se.json().unwrap()["outcome"], json!("finished"));
    let _ = emails(&u).await;
    u.proxy.clear_log();
    u.proxy.set_rules(
        2,
        &[
            Rule::lost_answer("s3", "PutObject").path("/locks/restore-verification"),
            Rule::lost_answer("s3", "PutObject").path("/runs/restore-verification/"),
            Rule::lost_answer("s3", "PutObject").path("/state/restore-verification/"),
        ],
    );
    // When the restore run is driven to its end
    let ended = restore_loop(&u, "rv-lost", 12).await;
    let log = u.proxy.log();
    assert_eq!(faults::faults(&log), 3, "every rule struck once");
    // Then no invocation failed, the run finished with every verification passed, one email
    assert!(
        ended.iter().all(|e| e.json().is_some()),
        "no invocation fails on its own lost write: {ended:#?}"
    );
    let last = ended.last().unwrap().json().unwrap().clone();
    assert_eq!(last["done"], json!(true), "{last:#}");
    let r = report(&last);
    assert_eq!(r.status, Status::Ok, "{}", r.render_text());
    let mail = emails(&u).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(temporaries(&u.h).await.is_empty());
    record(
        "restore-verification: lost answers (lease, journal, status)",
        &u.proxy,
        &ended,
        mail.len(),
        "finished OK; one email; nothing left running",
    );
}

// ---------------------------------------------------------------------------------------------
// Random faults: accounted for, safe, and converging.

/// Clean runs a fault-free world needs to reach its steady state: retention deletes a DR copy
/// a run after its primary, and a snapshot whose export completes a run after it was started.
const STEADY: usize = 3;

/// The state without faults: [`STEADY`] clean runs on a fresh world.
async fn reference() -> BTreeMap<String, String> {
    let u = unlucky("lifeboat-faults-reference").await;
    for i in 0..STEADY {
        let e = snapshot_export(&u, &format!("ref-{i}"), Duration::zero()).await;
        assert_eq!(e.json().unwrap()["outcome"], json!("finished"), "{e:?}");
    }
    backup_state(&u.h).await
}

/// After the faults: the same [`STEADY`] clean runs, each finishing (a run that died holding
/// the lease is waited out: the trigger after its expiry, 16 min, takes over). Returns the state.
async fn clean_runs(u: &Unlucky) -> BTreeMap<String, String> {
    let mut later = Duration::zero();
    for i in 0..STEADY {
        let mut clean = snapshot_export(u, &format!("se-clean-{i}"), later).await;
        if clean
            .json()
            .is_some_and(|v| v["outcome"] == json!("skipped"))
        {
            later = Duration::minutes(17);
            clean = snapshot_export(u, &format!("se-clean-{i}-later"), later).await;
        }
        let v = clean.json().expect("a clean run answers").clone();
        assert_eq!(v["outcome"], json!("finished"), "{v:#}");
        let r = report(&v);
        assert!(
            !r.actions.iter().any(|a| a.outcome == Outcome::Failed),
            "a clean run failed an action: {}",
            r.render_text()
        );
    }
    backup_state(&u.h).await
}

/// snapshot-export `runs` times with random faults at `rate` (`when`), then clean runs: every
/// invocation accounted for, and the state equal to a fault-free world's.
async fn snapshot_export_random(rate: f64, when: When, seed: u64, runs: usize) {
    let scenario = format!(
        "snapshot-export: {:.0}% random faults {}, {runs} runs, then clean runs (seed {seed})",
        rate * 100.0,
        match when {
            When::Before => "before forwarding",
            When::After => "after forwarding (answers lost)",
        }
    );
    let (u, expected) = tokio::join!(unlucky("lifeboat-faults-se-random"), reference());
    let fault = |f: Fault, share: f64| Rule::random(rate * share, when).fault(f);
    // Faults of every kind; SQS is the test's own inbox, not the function's.
    let mut rules = vec![Rule::default().service("sqs").rate(0.0)];
    rules.extend([
        fault(Fault::Error, 0.4),
        fault(Fault::Throttle, 0.3),
        fault(Fault::Unavailable, 0.15),
        fault(Fault::Reset, 0.15),
    ]);
    u.proxy.set_rules(seed, &rules);
    let mut ended = Vec::new();
    for i in 0..runs {
        ended.push(snapshot_export(&u, &format!("se-random-{i}"), Duration::zero()).await);
    }
    let mail = emails(&u).await;
    every_invocation_accounted_for(&ended, &mail, &u.proxy);
    let stats = u.proxy.log();
    u.proxy.clear_rules();
    let state = clean_runs(&u).await;
    let diff = differences(&state, &expected);
    assert!(
        diff.is_empty(),
        "{scenario}: clean runs did not converge to the fault-free state:\n{}",
        diff.join("\n")
    );
    let faulted = faults::faults(&stats);
    assert!(faulted > 0, "{scenario}: no fault was injected");
    record(
        &scenario,
        &u.proxy,
        &ended,
        mail.len(),
        "accounted for; converged",
    );
    eprintln!(
        "{scenario}: {} requests, {faulted} faults, {} invocations, {} errors",
        stats.len(),
        ended.len(),
        ended.iter().filter(|e| e.json().is_none()).count()
    );
}

#[tokio::test]
async fn snapshot_export_with_5_percent_faults_before_forwarding() {
    Box::pin(snapshot_export_random(0.05, When::Before, 11, 2)).await;
}

#[tokio::test]
async fn snapshot_export_with_5_percent_lost_answers() {
    Box::pin(snapshot_export_random(0.05, When::After, 12, 2)).await;
}

#[tokio::test]
async fn snapshot_export_with_20_percent_faults_full_suite_only() {
    if !full() {
        return;
    }
    for seed in 21..=23 {
        Box::pin(snapshot_export_random(0.20, When::Before, seed, 3)).await;
        Box::pin(snapshot_export_random(0.20, When::After, seed + 10, 3)).await;
    }
    Box::pin(snapshot_export_random(0.05, When::Before, 41, 3)).await;
    Box::pin(snapshot_export_random(0.05, When::After, 42, 3)).await;
}

/// restore-verification with random faults: every invocation accounted for, no verdict the data
/// does not deserve (the data is sound: nothing may FAIL), nothing left running after one clean
/// run and the janitor.
async fn restore_verification_random(rate: f64, when: When, seed: u64) {
    let scenario = format!(
        "restore-verification: {:.0}% random faults {}, then a clean run (seed {seed})",
        rate * 100.0,
        match when {
            When::Before => "before forwarding",
            When::After => "after forwarding (answers lost)",
        }
    );
    let u = unlucky("lifeboat-faults-rv-random").await;
    let se = snapshot_export(&u, "se-1", Duration::zero()).await;
    assert_eq!(se.json().unwrap()["outcome"], json!("finished"));
    let _ = emails(&u).await;
    u.proxy.clear_log();
    u.proxy.set_rules(
        seed,
        &[
            Rule::default().service("sqs").rate(0.0),
            Rule::random(rate * 0.5, when).fault(Fault::Error),
            Rule::random(rate * 0.3, when).fault(Fault::Throttle),
            Rule::random(rate * 0.2, when).fault(Fault::Reset),
        ],
    );
    let ended = restore_loop(&u, "rv-random", 16).await;
    let mail = emails(&u).await;
    every_invocation_accounted_for(&ended, &mail, &u.proxy);
    for v in ended.iter().filter_map(Ended::json) {
        if v["outcome"] == json!("finished") {
            let r = report(v);
            assert!(
                !r.decisions.iter().any(|d| d.verdict == "FAIL"),
                "{scenario}: a sound backup reported FAILED verification: {}",
                r.render_text()
            );
        }
    }
    let stats = u.proxy.log();
    u.proxy.clear_rules();
    // The clean run: a new trigger finishes what is due, and the janitor clears what is left.
    let mut clean = restore_loop(&u, "rv-clean", 12).await;
    if clean
        .last()
        .and_then(Ended::json)
        .is_some_and(|v| v["outcome"] == json!("skipped"))
    {
        let later = rv_invoke(
            &u,
            &json!({"action": "restore"}),
            "rv-clean-later",
            Utc::now() + Duration::minutes(17),
        )
        .await;
        clean.push(match later {
            Ok(r) => Ended::Answered(r.to_json().unwrap()),
            Err(e) => Ended::Error(e.to_string()),
        });
    }
    let janitor = rv_invoke(
        &u,
        &json!({"action": "janitor"}),
        "rv-janitor",
        Utc::now() + Duration::hours(7),
    )
    .await;
    assert!(janitor.is_ok(), "{janitor:?}");
    let left = temporaries(&u.h).await;
    assert!(left.is_empty(), "{scenario}: left running: {left:?}");
    record(
        &scenario,
        &u.proxy,
        &ended,
        mail.len(),
        "accounted for; no false FAIL; nothing left running",
    );
    eprintln!(
        "{scenario}: {} requests, {} faults, {} invocations",
        stats.len(),
        faults::faults(&stats),
        ended.len()
    );
}

#[tokio::test]
async fn restore_verification_with_5_percent_faults() {
    Box::pin(restore_verification_random(0.05, When::Before, 31)).await;
    if full() {
        Box::pin(restore_verification_random(0.05, When::After, 32)).await;
        for seed in [33, 35] {
            Box::pin(restore_verification_random(0.20, When::Before, seed)).await;
            Box::pin(restore_verification_random(0.20, When::After, seed + 1)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Outages.

#[tokio::test]
async fn an_s3_outage_from_the_start_is_emailed_and_changes_nothing() {
    let u = unlucky("lifeboat-faults-s3-down").await;
    u.proxy.set_rules(3, &[Rule::outage("s3")]);
    let se = snapshot_export(&u, "se-s3-down", Duration::zero()).await;
    let rv = restore_loop(&u, "rv-s3-down", 1).await;
    let log = u.proxy.log();
    // Then both say so by email (SNS works), and no RDS write was attempted
    assert!(matches!(se, Ended::Error(_)), "{se:?}");
    assert!(matches!(rv[0], Ended::Error(_)), "{rv:?}");
    let mail = emails(&u).await;
    let failed: Vec<_> = mail
        .iter()
        .filter(|m| m.subject.starts_with("[Lifeboat FAILED]"))
        .collect();
    assert_eq!(failed.len(), 2, "{mail:#?}");
    assert!(
        failed.iter().all(|m| m.body.contains("ServiceUnavailable")),
        "{failed:#?}"
    );
    assert!(
        !log.iter().any(|r| r.service == "rds"
            && (r.operation.starts_with("Create")
                || r.operation.starts_with("Delete")
                || r.operation.starts_with("Restore"))),
        "nothing changed in RDS"
    );
    let mut ended = vec![se];
    ended.extend(rv);
    record(
        "both functions: S3 outage from the start",
        &u.proxy,
        &ended,
        mail.len(),
        "FAILED email from each, nothing changed",
    );
}

#[tokio::test]
async fn an_rds_outage_mid_run_leaves_no_component_without_a_decision_and_a_clean_run_converges() {
    // Given RDS answering its first 12 requests (the inventory), then unavailable
    let (u, expected) = tokio::join!(unlucky("lifeboat-faults-rds-mid"), reference());
    u.proxy
        .set_rules(4, &[Rule::outage("rds").region(PRIMARY).skip(12)]);
    let ended = snapshot_export(&u, "se-rds-mid", Duration::zero()).await;
    let v = ended.json().expect("the run answers").clone();
    let r = report(&v);
    // Then every selected source has a decision on this period's snapshot, and the run is not OK
    for src in ["ecommerce-prod-db", "catalog-aurora"] {
        assert!(
            r.actions
                .iter()
                .any(|a| a.kind == "create-snapshot" && a.resource == src),
            "{src} has no decision: {}",
            r.render_text()
        );
    }
    assert_ne!(r.status, Status::Ok, "{}", r.render_text());
    let mail = emails(&u).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    // And once RDS is back, clean runs converge
    u.proxy.clear_rules();
    let diff = differences(&clean_runs(&u).await, &expected);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    record(
        "snapshot-export: RDS outage mid-run, then a clean run",
        &u.proxy,
        &[ended],
        mail.len(),
        "every component decided, not OK; converged",
    );
}

#[tokio::test]
async fn an_s3_outage_mid_restore_is_retried_and_leaves_nothing_running() {
    // Given today's snapshots, and S3 failing after the restore run has started
    let u = unlucky("lifeboat-faults-s3-mid").await;
    let se = snapshot_export(&u, "se-1", Duration::zero()).await;
    assert_eq!(se.json().unwrap()["outcome"], json!("finished"));
    let _ = emails(&u).await;
    u.proxy.clear_log();
    u.proxy.set_rules(5, &[Rule::outage("s3").skip(6)]);
    let ended = restore_loop(&u, "rv-s3-mid", 6).await;
    let mail = emails(&u).await;
    every_invocation_accounted_for(&ended, &mail, &u.proxy);
    // When S3 comes back: the janitor (its own schedule) clears what the stopped run left
    u.proxy.clear_rules();
    let janitor = rv_invoke(
        &u,
        &json!({"action": "janitor"}),
        "rv-janitor",
        Utc::now() + Duration::hours(7),
    )
    .await;
    assert!(janitor.is_ok(), "{janitor:?}");
    assert!(temporaries(&u.h).await.is_empty());
    record(
        "restore-verification: S3 outage mid-run, then the janitor",
        &u.proxy,
        &ended,
        mail.len(),
        "every invocation accounted for; nothing left running",
    );
}

#[tokio::test]
async fn a_trigger_retried_after_the_same_failure_is_emailed_once() {
    // Given the lease cannot be written (S3 refuses that PUT), and the scheduled event that
    // Lambda retries twice after an error (the same event: the same run)
    let u = unlucky("lifeboat-faults-retried").await;
    u.proxy.set_rules(
        6,
        &[Rule::outage("s3")
            .method("PUT")
            .path("/locks/snapshot-export")],
    );
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            lifeboat_tests::root().join("events/snapshot-export/schedule.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // When the three attempts fail
    let mut ended = Vec::new();
    for attempt in 0..3 {
        let r = se_invoke(&u, &event, &format!("attempt-{attempt}"), Utc::now()).await;
        assert!(r.is_err(), "{r:?}");
        ended.push(Ended::Error(r.unwrap_err().to_string()));
    }
    // Then one FAILED email says why, not three
    let mail = emails(&u).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0].subject.starts_with("[Lifeboat FAILED]"),
        "{}",
        mail[0].subject
    );
    record(
        "snapshot-export: the same failure on three attempts of one trigger",
        &u.proxy,
        &ended,
        mail.len(),
        "one FAILED email",
    );
}

#[tokio::test]
async fn backups_that_cannot_be_listed_are_a_warning_for_their_component_which_stays_due() {
    // Given today's snapshots, and DescribeDBSnapshots failing for restore-verification
    let u = unlucky("lifeboat-faults-rv-unread").await;
    let se = snapshot_export(&u, "se-1", Duration::zero()).await;
    assert_eq!(se.json().unwrap()["outcome"], json!("finished"));
    let _ = emails(&u).await;
    u.proxy
        .set_rules(7, &[Rule::outage("rds").operation("DescribeDBSnapshots")]);
    // When the restore run goes through
    let ended = restore_loop(&u, "rv-unread", 8).await;
    let last = ended
        .last()
        .and_then(Ended::json)
        .expect("the run answers")
        .clone();
    let r = report(&last);
    // Then orders-db's line is a warning that says why, not "nothing to restore"
    let line = r
        .findings
        .iter()
        .find(|f| f.resource.as_deref() == Some("orders-db"))
        .unwrap_or_else(|| panic!("no line for orders-db: {}", r.render_text()));
    assert_eq!(
        line.severity,
        lifeboat_shared::report::Severity::Warning,
        "{line:?}"
    );
    assert!(
        line.message.contains("could not be read") && line.message.contains("still due"),
        "{line:?}"
    );
    assert_ne!(r.status, Status::Ok, "{}", r.render_text());
    // And with RDS answering again, the next run restores it
    u.proxy.clear_rules();
    let again = restore_loop(&u, "rv-unread-again", 8).await;
    let r = report(again.last().and_then(Ended::json).unwrap());
    assert!(
        r.decisions
            .iter()
            .any(|d| d.subject.starts_with("orders-db:") && d.verdict == "PASS"),
        "{}",
        r.render_text()
    );
    record(
        "restore-verification: snapshot listing unavailable",
        &u.proxy,
        &ended,
        1,
        "WARNING for the component, still due; restored on the next run",
    );
}

/// A scheduled replication-lag-check trigger (its own event id: a new trigger).
async fn lag_check(u: &Unlucky, event_id: &str) -> Ended {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            lifeboat_tests::root().join("events/replication-lag-check/schedule.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["id"] = json!(event_id);
    event["time"] = json!(Utc::now().to_rfc3339());
    match Box::pin(replication_lag_check::run(
        &u.rlc,
        &event,
        &format!("req-{event_id}"),
        Utc::now(),
        None,
    ))
    .await
    {
        Ok(r) => Ended::Answered(r.to_json().unwrap()),
        Err(e) => Ended::Error(e.to_string()),
    }
}

#[tokio::test]
async fn replication_lag_check_lost_answers_and_random_faults() {
    // Given a seeded account and a first, clean check (the baseline email)
    let u = unlucky("lifeboat-faults-rlc").await;
    lifeboat_tests::seed_metrics(&u.h.emu.config(PRIMARY).await, &u.h.world, Utc::now()).await;
    let first = lag_check(&u, "ev-0").await;
    assert_eq!(
        first.json().unwrap()["outcome"],
        json!("finished"),
        "{first:?}"
    );
    assert_eq!(emails(&u).await.len(), 1);
    // When the lease's and the state save's answers are lost, and the replication configuration
    // is gone (a change to report)
    let s3 = lifeboat_tests::s3(&u.h.emu.config(PRIMARY).await);
    s3.delete_bucket_replication()
        .bucket(&u.h.world.backup_bucket)
        .send()
        .await
        .unwrap();
    u.proxy.clear_log();
    u.proxy.set_rules(
        8,
        &[
            Rule::lost_answer("s3", "PutObject").path("/locks/replication-lag-check"),
            Rule::lost_answer("s3", "PutObject").path("/state/replication-lag-check/"),
        ],
    );
    let lost = lag_check(&u, "ev-1").await;
    assert_eq!(faults::faults(&u.proxy.log()), 2, "both rules struck");
    // Then the run recognises its own lease and its own save: one email with the change
    let v = lost.json().expect("the run answers").clone();
    assert_eq!(v["outcome"], json!("finished"), "{v:#}");
    let mail = emails(&u).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert!(
        mail[0]
            .body
            .contains("replication configuration CRITICAL (was OK)"),
        "{}",
        mail[0].body
    );
    // And the next trigger finds nothing changed: no email
    u.proxy.clear_rules();
    let again = lag_check(&u, "ev-2").await;
    assert!(again.json().is_some(), "{again:?}");
    assert!(
        emails(&u).await.is_empty(),
        "the state the lost save wrote is the run's own"
    );
    record(
        "replication-lag-check: lost answers (lease, state save)",
        &u.proxy,
        &[lost],
        mail.len(),
        "finished; one email with the change; the next run quiet",
    );

    // Random faults: every invocation answers or fails with a FAILED email; never a false OK
    for (rate, when, seed) in [(0.05, When::Before, 51), (0.05, When::After, 52)] {
        u.proxy.clear_log();
        u.proxy.set_rules(
            seed,
            &[
                Rule::default().service("sqs").rate(0.0),
                Rule::random(rate, when).fault(Fault::Error),
            ],
        );
        let mut ended = Vec::new();
        for i in 0..3 {
            ended.push(lag_check(&u, &format!("ev-r{seed}-{i}")).await);
        }
        let mail = emails(&u).await;
        every_invocation_accounted_for(&ended, &mail, &u.proxy);
        // A read that failed is NO DATA, never a check turned OK: the replication configuration
        // is still gone, so no run may say it is OK again
        for m in &mail {
            assert!(
                !m.body.contains("replication configuration OK again"),
                "a fault made a broken check look OK: {}",
                m.body
            );
        }
        record(
            &format!(
                "replication-lag-check: {:.0}% random faults {}, 3 triggers",
                rate * 100.0,
                match when {
                    When::Before => "before forwarding",
                    When::After => "after forwarding (answers lost)",
                }
            ),
            &u.proxy,
            &ended,
            mail.len(),
            "accounted for; no broken check reported OK",
        );
    }
    u.proxy.clear_rules();

    // When the configuration is back (a change: OK again) while SNS refuses every Publish
    lifeboat_tests::s3(&u.h.emu.config(PRIMARY).await)
        .put_bucket_replication()
        .bucket(&u.h.world.backup_bucket)
        .replication_configuration(lifeboat_tests::replication_configuration(
            &u.h.world.dr_backup_bucket,
        ))
        .send()
        .await
        .unwrap();
    lag_check(&u, "ev-s0").await;
    emails(&u).await;
    u.proxy.clear_log();
    u.proxy.set_rules(9, &[Rule::outage("sns")]);
    s3.delete_bucket_replication()
        .bucket(&u.h.world.backup_bucket)
        .send()
        .await
        .unwrap();
    let refused = lag_check(&u, "ev-s1").await;
    assert!(
        refused.json().is_none(),
        "the run fails with the email: {refused:?}"
    );
    assert!(emails(&u).await.is_empty());
    // Then the change is not recorded as sent: the next run, SNS back, emails it
    u.proxy.clear_rules();
    lag_check(&u, "ev-s2").await;
    let mail = emails(&u).await;
    assert!(
        mail.iter().any(|m| m
            .body
            .contains("replication configuration CRITICAL (was OK)")),
        "{mail:#?}"
    );
    record(
        "replication-lag-check: SNS refuses the email of a change",
        &u.proxy,
        &[refused],
        0,
        "the run fails; the states are put back; the next run emails the change",
    );
}
