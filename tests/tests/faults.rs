// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! The fault-injection suite: the functions run through `scripts/fault_proxy.py` (a test
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
//! - failover-orchestrator: every write of an execute, a drill and the restores refused once,
//!   then carried out with its answer lost (the SDK's third attempt must recognise its own
//!   write); an execute stopped after every round (its journal save failing before or after S3
//!   stored it) and finished by the next invocations; 100 concurrent alarm deliveries with lost
//!   answers; a drill's teardown failing (its temporaries named for the janitor). Each compared
//!   with a fault-free run's production state. Tests marked `#[ignore = "defect: ..."]` show
//!   defects found here, for the function's owner.
//!
//! With `LIFEBOAT_RELIABILITY_OUT=<file>` every scenario appends one JSON line of figures
//! (requests, faults, outcomes) for docs/RELIABILITY.md.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use lifeboat_shared::report::{Outcome, Report, Status};
use lifeboat_tests::faults::{self, AsAws, Fault, FaultProxy, Rule, When};
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

// ---------------------------------------------------------------------------------------------
// failover-orchestrator: every write's answer lost, runs stopped at every boundary, drills.
//
// The function talks through [`AsAws`] (tests/src/faults.rs) in front of the proxy: where moto
// answers a repeated write differently from AWS, the SDK's retry of a write whose answer was
// lost gets AWS's answer — a second PromoteReadReplica "DB Instance is not a read replica."
// (InvalidDBInstanceState; moto promotes again, 200), a second CreateDBInstanceReadReplica of one
// id DBInstanceAlreadyExists (moto replaces the instance, 200). Everything else is moto's.

/// The failover world (ecommerce-prod-db's DR read replica 30 s behind), the proxy in front of
/// its emulator, and failover-orchestrator talking through [`AsAws`] and the proxy.
struct Failover {
    h: Harness<()>,
    proxy: FaultProxy,
    as_aws: AsAws,
    app: failover_orchestrator::App,
}

async fn failover_world(dir: &'static str) -> Failover {
    failover_world_with(dir, |p| p).await
}

/// [`failover_world`] with the seeded policy rewritten by `edit`.
async fn failover_world_with(
    dir: &'static str,
    edit: impl FnOnce(String) -> String + 'static,
) -> Failover {
    let h = util::world()
        .dir(dir)
        .scenario(Scenario {
            failover_replica_lag: Some(30.0),
            ..Scenario::default()
        })
        .edit_policy(edit)
        .build(|_| ())
        .await;
    let proxy = FaultProxy::start(&h.emu.endpoint);
    let as_aws = AsAws::new();
    let config = as_aws.config(&lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await);
    let app = util::function_parts(config, &h.world)
        .await
        .failover_orchestrator();
    Failover {
        h,
        proxy,
        as_aws,
        app,
    }
}

/// failover-orchestrator's entry point, boxed (its future is large).
async fn fo_invoke(
    f: &Failover,
    payload: &Value,
    request_id: &str,
    stop_at: Option<std::time::Instant>,
) -> lifeboat_shared::Result<lifeboat_shared::run::Response> {
    Box::pin(failover_orchestrator::invoke(
        &f.app,
        payload,
        request_id,
        Utc::now(),
        stop_at,
    ))
    .await
}

const EXECUTE: &str = "region-failover";

fn armed() -> Value {
    json!({"action": "execute", "plan": EXECUTE, "confirm": EXECUTE})
}

/// A run as the Step Functions loop drives it: the answer's run id resumed while in progress,
/// the same payload again after an error (the loop's Retry; Lambda's for a first invocation).
struct Drive {
    tag: String,
    payload: Value,
    run_id: Option<String>,
    ended: Vec<Ended>,
    errors_in_a_row: usize,
}

impl Drive {
    fn new(tag: &str, first: Value) -> Drive {
        Drive {
            tag: tag.to_string(),
            payload: first,
            run_id: None,
            ended: Vec::new(),
            errors_in_a_row: 0,
        }
    }

    /// The run answered finished (or skipped: nothing more to do).
    fn over(&self) -> bool {
        self.ended
            .last()
            .and_then(Ended::json)
            .is_some_and(|v| v["outcome"] != json!("in_progress"))
    }

    /// The last answer (a report when the run finished).
    fn last(&self) -> Value {
        self.ended
            .last()
            .and_then(Ended::json)
            .cloned()
            .unwrap_or_else(|| panic!("{}: no answer: {:#?}", self.tag, self.ended))
    }

    /// One invocation.
    async fn once(&mut self, f: &Failover, stop_at: Option<std::time::Instant>) {
        let request = format!("{}-{}", self.tag, self.ended.len());
        match Box::pin(fo_invoke(f, &self.payload, &request, stop_at)).await {
            Ok(r) => {
                self.errors_in_a_row = 0;
                let v = r.to_json().unwrap();
                if let Some(id) = v["run_id"].as_str() {
                    self.run_id = Some(id.to_string());
                }
                if v["outcome"] == json!("in_progress") {
                    self.payload = json!({"action": "resume", "run_id": v["run_id"]});
                }
                self.ended.push(Ended::Answered(v));
            }
            Err(e) => {
                self.errors_in_a_row += 1;
                self.ended.push(Ended::Error(e.to_string()));
            }
        }
    }

    /// Invocations until the run is over, at most `limit`; panics past 5 errors in a row.
    async fn until_over(&mut self, f: &Failover, limit: usize) {
        for _ in 0..limit {
            self.once(f, None).await;
            assert!(
                self.errors_in_a_row <= 5,
                "{}: 6 errors in a row: {:#?}",
                self.tag,
                self.ended
            );
            if self.over() {
                return;
            }
        }
        panic!(
            "{}: not over after {limit} invocations: {:#?}",
            self.tag, self.ended
        );
    }
}

/// The run's journal (read from the emulator directly, not through the proxy).
async fn fo_journal(f: &Failover, run_id: &str) -> Value {
    lifeboat_tests::failover::journal_json(
        &f.h.emu.config(PRIMARY).await,
        &f.h.world.report_bucket,
        &format!("runs/failover-orchestrator/{run_id}.json"),
    )
    .await
}

/// Each step's name and phase.
fn phases(journal: &Value) -> Vec<(String, String)> {
    journal["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or_default().to_string(),
                        s["phase"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Production (the record, the secret's host, the backup target, every instance), with the
/// fenced primary's run-specific suffix (`-fenced-<hash of the run id>`) made comparable
/// between two worlds.
async fn fo_production(f: &Failover) -> lifeboat_tests::failover::Production {
    let mut p =
        lifeboat_tests::failover::production(&f.h.emu.config(PRIMARY).await, &f.h.world.zone_id)
            .await;
    for i in &mut p.instances {
        if let Some(at) = i.0.find("-fenced-") {
            i.0.replace_range(at.., "-fenced-<run>");
        }
    }
    p
}

/// The versions of the app's secret (in the DR region), and the backup-target parameter's
/// version: a write repeated with a new value would add one.
async fn fo_versions(f: &Failover) -> (usize, i64) {
    let dr = f.h.emu.config(DR).await;
    let versions = aws_sdk_secretsmanager::Client::new(&dr)
        .list_secret_version_ids()
        .secret_id(lifeboat_tests::failover::APP_SECRET)
        .send()
        .await
        .unwrap();
    let parameter = aws_sdk_ssm::Client::new(&f.h.emu.config(PRIMARY).await)
        .get_parameter()
        .name(lifeboat_tests::failover::TARGET_PARAMETER)
        .send()
        .await
        .unwrap();
    (
        versions.versions().len(),
        parameter
            .parameter()
            .map(|p| p.version())
            .unwrap_or_default(),
    )
}

/// PromoteReadReplica calls that reached moto (the proxy forwarded them).
fn promotions(log: &[faults::Request]) -> usize {
    log.iter()
        .filter(|r| r.operation == "PromoteReadReplica" && r.forwarded)
        .count()
}

/// A fault-free execute on its own world: (production after, secret versions, the final report).
async fn fo_reference() -> (lifeboat_tests::failover::Production, (usize, i64), Report) {
    let f = failover_world("lifeboat-faults-fo-reference").await;
    let mut d = Drive::new("fo-ref", armed());
    d.until_over(&f, 5).await;
    let r = report(&d.last());
    assert!(
        r.headline
            .starts_with("execute of region-failover: 7 of 7 steps done"),
        "{}",
        r.render_text()
    );
    (fo_production(&f).await, fo_versions(&f).await, r)
}

/// A rule faulting the first `service` `operation` before it reaches moto (the SDK retries it).
fn refused_once(service: &str, operation: &str) -> Rule {
    Rule::default()
        .service(service)
        .operation(operation)
        .when(When::Before)
        .count(1)
}

const JOURNALS: &str = "/runs/failover-orchestrator/";

/// Route 53 ChangeResourceRecordSets (`POST /2013-04-01/hostedzone/<id>/rrset`), faulted.
fn record_change() -> Rule {
    Rule::default()
        .service("route53")
        .method("POST")
        .path("/rrset$")
}

#[tokio::test]
async fn failover_execute_lost_answers() {
    // Given the failover world, and every production write of the execute refused once before
    // it reaches AWS, then carried out with its answer lost: the SDK's third attempt is the one
    // that must recognise its own earlier write (PromoteReadReplica: AWS's "not a read replica",
    // through AsAws; PutSecretValue: the same client token and value; Route 53 UPSERT and
    // PutParameter Overwrite: the same value again). The journal's creation (If-None-Match) and
    // a later save (If-Match) lose their answers too.
    let (f, (expected, expected_versions, _)) = tokio::join!(
        Box::pin(failover_world("lifeboat-faults-fo-lost")),
        Box::pin(fo_reference())
    );
    let before = fo_production(&f).await;
    let mut rules = Vec::new();
    for (service, op) in [
        ("rds", "PromoteReadReplica"),
        ("secretsmanager", "PutSecretValue"),
        ("ssm", "PutParameter"),
        ("rds", "AddTagsToResource"),
    ] {
        rules.push(refused_once(service, op));
        rules.push(Rule::lost_answer(service, op));
    }
    // Route 53 is REST: the proxy names its calls by method and path.
    rules.push(record_change().when(When::Before).count(1));
    rules.push(record_change().when(When::After).count(1));
    rules.push(refused_once("s3", "PutObject").path(JOURNALS));
    rules.push(Rule::lost_answer("s3", "PutObject").path(JOURNALS));
    rules.push(Rule::lost_answer("s3", "PutObject").path(JOURNALS).skip(4));
    f.proxy.set_rules(61, &rules);
    // When the execute is driven to its end
    let mut d = Drive::new("fo-lost", armed());
    d.until_over(&f, 10).await;
    let log = f.proxy.log();
    assert_eq!(
        faults::faults(&log),
        rules.len(),
        "every rule struck once: {log:#?}"
    );
    // Then no invocation failed, the run finished with every step done
    assert!(
        d.ended.iter().all(|e| e.json().is_some()),
        "no invocation fails on a lost answer: {:#?}",
        d.ended
    );
    let r = report(&d.last());
    assert!(
        r.headline
            .starts_with("execute of region-failover: 7 of 7 steps done"),
        "{}",
        r.render_text()
    );
    let run_id = d.run_id.clone().unwrap();
    let journal = fo_journal(&f, &run_id).await;
    assert!(
        phases(&journal).iter().all(|(_, p)| p == "done"),
        "{:?}",
        phases(&journal)
    );
    // The promote's retry heard AWS's "not a read replica" and counted it done: one promotion
    assert_eq!(
        f.as_aws.answered(),
        vec![format!(
            "PromoteReadReplica {DR} {}: InvalidDBInstanceState",
            lifeboat_tests::failover::REPLICA
        )]
    );
    assert_eq!(promotions(&log), 1, "one promotion reached RDS");
    let promote = journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "promote-orders-db")
        .unwrap();
    assert!(
        promote["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("promoted already"),
        "{promote:#}"
    );
    // And production is what a fault-free execute leaves: one new secret version (the retried
    // PutSecretValue with its client token added none); the parameter rewritten with the same
    // value by the retry (one version more than without faults, the value the same)
    let after = fo_production(&f).await;
    assert_ne!(after, before);
    assert_eq!(after, expected);
    let versions = fo_versions(&f).await;
    assert_eq!(versions.0, expected_versions.0, "secret versions");
    assert_eq!(versions.0, 2, "the seeded version and the execute's");
    assert_eq!(
        versions.1,
        expected_versions.1 + 1,
        "the retried PutParameter (Overwrite) wrote the same value once more"
    );
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator execute: every write refused once, then its answer lost (promote, secret, DNS, parameter, fence tag, journal)",
        &f.proxy,
        &d.ended,
        mail,
        "7 of 7 done; production as without faults; one promotion, one secret version",
    );
}

/// The emails of the failover world (read and removed).
async fn emails_fo(f: &Failover) -> usize {
    read_emails(&f.h.emu.config(PRIMARY).await, &f.h.world.queue_url)
        .await
        .len()
}

#[tokio::test]
async fn failover_execute_lost_answer_of_the_fence() {
    // Given the failover world, and the fence's rename (ModifyDBInstance
    // NewDBInstanceIdentifier, ApplyImmediately) refused once before it reaches RDS, then
    // carried out with its answer lost: the SDK's third attempt renames an instance that has
    // already been renamed
    let (f, (expected, _, _)) = tokio::join!(
        Box::pin(failover_world("lifeboat-faults-fo-fence")),
        Box::pin(fo_reference())
    );
    let rules = [
        refused_once("rds", "ModifyDBInstance"),
        Rule::lost_answer("rds", "ModifyDBInstance"),
    ];
    f.proxy.set_rules(62, &rules);
    // When the execute is driven to its end
    let mut d = Drive::new("fo-fence", armed());
    d.until_over(&f, 10).await;
    assert_eq!(faults::faults(&f.proxy.log()), 2, "both rules struck");
    // Then the fence is done (the old primary renamed and tagged by this run), as without faults
    let r = report(&d.last());
    let journal = fo_journal(&f, d.run_id.as_deref().unwrap()).await;
    assert!(
        phases(&journal).iter().all(|(_, p)| p == "done"),
        "{:?}\n{}",
        phases(&journal),
        r.render_text()
    );
    assert_eq!(fo_production(&f).await, expected);
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator execute: the fence's rename refused once, then its answer lost",
        &f.proxy,
        &d.ended,
        mail,
        "7 of 7 done; the old primary fenced once; production as without faults",
    );
}

/// An execute stopped after every round: the first invocation out of time before its first
/// round (it plans the run and answers in progress), then every invocation's journal save after
/// a round fails on all three SDK attempts — `before` it reaches S3 (the round's writes happened,
/// the journal does not know: the next invocation does that round again) or `after` (the journal
/// holds the round, the invocation failed anyway). The invocation after it finishes the run.
/// Returns the world, the run and each invocation's (phases before, phases after).
async fn stopped_at_every_round(
    when: When,
    dir: &'static str,
) -> (
    Failover,
    Drive,
    Vec<(Vec<(String, String)>, Vec<(String, String)>)>,
) {
    let f = failover_world(dir).await;
    let tag = format!("fo-stop-{}", when.as_str());
    let mut d = Drive::new(&tag, armed());
    d.once(&f, Some(std::time::Instant::now())).await;
    let v = d.last();
    assert_eq!(v["outcome"], json!("in_progress"), "{v:#}");
    let run_id = d.run_id.clone().unwrap();
    let mut boundaries = Vec::new();
    for i in 0..40 {
        let before = phases(&fo_journal(&f, &run_id).await);
        let all_ended = before
            .iter()
            .all(|(_, p)| matches!(p.as_str(), "done" | "failed" | "blocked"));
        // The saves of an invocation: after its janitor, then after each round. `before`: the
        // first invocation's first round is lost; later ones redo the lost round (saved), then
        // lose the next. `after`: every invocation saves one round and fails.
        let skip = match when {
            When::Before if i > 0 => 2,
            _ => 1,
        };
        if all_ended {
            f.proxy.clear_rules();
        } else {
            f.proxy.set_rules(
                70 + i as u64,
                &[Rule::default()
                    .service("s3")
                    .operation("PutObject")
                    .path(JOURNALS)
                    .when(when)
                    .skip(skip)
                    .count(3)],
            );
        }
        d.once(&f, None).await;
        let after = phases(&fo_journal(&f, &run_id).await);
        boundaries.push((before, after));
        if d.over() {
            break;
        }
    }
    f.proxy.clear_rules();
    (f, d, boundaries)
}

#[tokio::test]
async fn failover_stop_at_every_boundary() {
    let (
        (lost, lost_run, lost_rounds),
        (saved, saved_run, saved_rounds),
        (expected, expected_versions, _),
    ) = tokio::join!(
        Box::pin(stopped_at_every_round(
            When::Before,
            "lifeboat-faults-fo-stop-before"
        )),
        Box::pin(stopped_at_every_round(
            When::After,
            "lifeboat-faults-fo-stop-after"
        )),
        Box::pin(fo_reference())
    );
    for (f, d, rounds) in [
        (&lost, &lost_run, &lost_rounds),
        (&saved, &saved_run, &saved_rounds),
    ] {
        // Then every stopped invocation failed (Lambda counts it), the next one went on from
        // where the journal stood, and the run finished with every step done, once
        let errors = d.ended.iter().filter(|e| e.json().is_none()).count();
        eprintln!(
            "{}: {} invocations, {errors} stopped; phases after each: {:#?}",
            d.tag,
            d.ended.len(),
            rounds
                .iter()
                .map(|(_, a)| a
                    .iter()
                    .map(|(n, p)| format!("{n}={p}"))
                    .collect::<Vec<_>>()
                    .join(" "))
                .collect::<Vec<_>>()
        );
        assert!(
            errors >= 6,
            "{}: every round stopped once: {:#?}",
            d.tag,
            d.ended
        );
        for (i, (before, after)) in rounds.iter().enumerate() {
            for ((name, was), (_, is)) in before.iter().zip(after) {
                assert!(
                    !(was == "done" && is != "done"),
                    "{}: invocation {i} undid {name}: {was} → {is}",
                    d.tag
                );
            }
        }
        let r = report(&d.last());
        assert!(
            r.headline
                .starts_with("execute of region-failover: 7 of 7 steps done"),
            "{}: {}",
            d.tag,
            r.render_text()
        );
        let journal = fo_journal(f, d.run_id.as_deref().unwrap()).await;
        assert!(
            phases(&journal).iter().all(|(_, p)| p == "done"),
            "{}: {:?}",
            d.tag,
            phases(&journal)
        );
        // And production is what an uninterrupted execute leaves: one promotion, one new
        // secret version
        assert_eq!(fo_production(f).await, expected, "{}", d.tag);
        assert_eq!(fo_versions(f).await.0, expected_versions.0, "{}", d.tag);
        assert_eq!(promotions(&f.proxy.log()), 1, "{}", d.tag);
    }
    // A round whose journal was lost was done again: the promote's repeat heard AWS's "not a
    // read replica" (through AsAws) and counted it done
    assert_eq!(
        lost.as_aws.answered(),
        vec![format!(
            "PromoteReadReplica {DR} {}: InvalidDBInstanceState",
            lifeboat_tests::failover::REPLICA
        )]
    );
    assert!(saved.as_aws.answered().is_empty());
    for (f, d, what) in [
        (
            &lost,
            &lost_run,
            "before it reaches S3 (the round is done again)",
        ),
        (
            &saved,
            &saved_run,
            "after S3 stored it (the invocation fails anyway)",
        ),
    ] {
        // Each stopped invocation said so by email (one per invocation: see
        // failover_a_resume_failing_the_same_way_again_is_emailed_once_naming_its_run)
        let mail = read_emails(&f.h.emu.config(PRIMARY).await, &f.h.world.queue_url).await;
        assert!(
            mail.iter()
                .any(|m| m.subject.starts_with("[Lifeboat FAILED]")),
            "{}: {mail:#?}",
            d.tag
        );
        let mail = mail.len();
        record(
            &format!("failover-orchestrator execute stopped after every round: the journal save fails {what}"),
            &f.proxy,
            &d.ended,
            mail,
            "finished by the next invocations: 7 of 7 done, none undone; production as uninterrupted; one promotion, one secret version",
        );
    }
}

#[tokio::test]
async fn failover_execute_a_step_failing_on_a_transient_error_is_finished_later() {
    // Given the failover world, and Secrets Manager unavailable (503) for every attempt of the
    // secret's PutSecretValue in the execute's first try (the SDK's three attempts)
    let (f, (expected, expected_versions, _)) = tokio::join!(
        Box::pin(failover_world("lifeboat-faults-fo-transient")),
        Box::pin(fo_reference())
    );
    f.proxy.set_rules(
        63,
        &[Rule::outage("secretsmanager")
            .operation("PutSecretValue")
            .count(3)],
    );
    // When the execute is driven as the loop drives it, and resumed once more after
    let mut d = Drive::new("fo-transient", armed());
    d.until_over(&f, 10).await;
    assert_eq!(
        faults::faults(&f.proxy.log()),
        3,
        "all three attempts refused"
    );
    if let Some(id) = d.run_id.clone() {
        d.payload = json!({"action": "resume", "run_id": id});
        d.once(&f, None).await;
    }
    // Then the step was not given up for a passing outage: the run finished with every step
    // done, production as without faults
    let finished = d
        .ended
        .iter()
        .filter_map(Ended::json)
        .find(|v| v["outcome"] == json!("finished"))
        .cloned()
        .expect("the run finished");
    let r = report(&finished);
    assert!(
        r.headline
            .starts_with("execute of region-failover: 7 of 7 steps done"),
        "{}",
        r.render_text()
    );
    assert_eq!(fo_production(&f).await, expected);
    assert_eq!(fo_versions(&f).await.0, expected_versions.0);
}

#[tokio::test]
async fn failover_execute_whose_first_invocation_failed_is_finished_by_the_next() {
    // Given the failover world, and the journal save after the execute's first round failing
    // on all three attempts: the run exists (its journal, the active-run pointer), its first
    // invocation failed, so no loop was started for it
    let (f, (expected, _, _)) = tokio::join!(
        Box::pin(failover_world("lifeboat-faults-fo-first")),
        Box::pin(fo_reference())
    );
    f.proxy.set_rules(
        64,
        &[Rule::default()
            .service("s3")
            .operation("PutObject")
            .path(JOURNALS)
            .skip(2)
            .count(3)],
    );
    let mut d = Drive::new("fo-first", armed());
    d.once(&f, None).await;
    assert!(d.ended[0].json().is_none(), "{:?}", d.ended);
    f.proxy.clear_rules();
    // When the execute is invoked again a minute later (Lambda's retry of the event, or the
    // person who saw it fail) and driven to its end
    let again = Box::pin(failover_orchestrator::invoke(
        &f.app,
        &armed(),
        "fo-first-0",
        Utc::now() + Duration::minutes(1),
        None,
    ))
    .await;
    let v = again.map(|r| r.to_json().unwrap());
    let v = v.unwrap_or_else(|e| panic!("{e}"));
    if v["outcome"] == json!("in_progress") {
        d.payload = json!({"action": "resume", "run_id": v["run_id"]});
        d.until_over(&f, 10).await;
    } else {
        d.ended.push(Ended::Answered(v));
    }
    // Then the run that was started is finished (not left in progress with nothing advancing
    // it), as without the failure
    assert_eq!(d.last()["outcome"], json!("finished"), "{:#}", d.last());
    let r = report(&d.last());
    assert!(
        r.headline
            .starts_with("execute of region-failover: 7 of 7 steps done"),
        "{:#}",
        d.last()
    );
    assert_eq!(fo_production(&f).await, expected);
}

const DRILL: &str = "lifeboat-drill-";

fn drill() -> Value {
    json!({"action": "drill", "plan": EXECUTE})
}

/// The drill's temporaries still in the world: instances, secrets, parameters and records whose
/// names carry `lifeboat-drill-`.
async fn drill_leftovers(f: &Failover) -> Vec<String> {
    let p = fo_production(f).await;
    p.instances
        .iter()
        .map(|i| format!("instance {}", i.0))
        .chain(p.secrets.iter().map(|s| format!("secret {s}")))
        .chain(p.parameters.iter().map(|s| format!("parameter {s}")))
        .chain(p.records.iter().map(|s| format!("record {s}")))
        .filter(|x| x.contains(DRILL))
        .collect()
}

#[tokio::test]
async fn failover_drill_faults() {
    // Given the failover world, and every write of a drill refused once before it reaches AWS,
    // then carried out with its answer lost: the temporary replica of the replica
    // (CreateDBInstanceReadReplica: its retry hears AWS's DBInstanceAlreadyExists through
    // AsAws and adopts it by its run tag), its promotion, the drill secret (CreateSecret with a
    // client token), the drill record, the drill parameter, and the teardown's deletions
    let f = failover_world("lifeboat-faults-fo-drill").await;
    let before = fo_production(&f).await;
    let mut rules = Vec::new();
    for (service, op) in [
        ("rds", "CreateDBInstanceReadReplica"),
        ("rds", "PromoteReadReplica"),
        ("secretsmanager", "CreateSecret"),
        ("ssm", "PutParameter"),
        ("rds", "DeleteDBInstance"),
        ("secretsmanager", "DeleteSecret"),
        ("ssm", "DeleteParameter"),
    ] {
        rules.push(refused_once(service, op));
        rules.push(Rule::lost_answer(service, op));
    }
    for action in ["UPSERT", "DELETE"] {
        let change = record_change().body(&format!("<Action>{action}</Action>"));
        rules.push(change.clone().when(When::Before).count(1));
        rules.push(change.when(When::After).count(1));
    }
    rules.push(refused_once("s3", "PutObject").path(JOURNALS));
    rules.push(Rule::lost_answer("s3", "PutObject").path(JOURNALS));
    f.proxy.set_rules(65, &rules);
    // When the drill is driven to its end
    let mut d = Drive::new("fo-drill", drill());
    d.until_over(&f, 10).await;
    let log = f.proxy.log();
    assert_eq!(
        faults::faults(&log),
        rules.len(),
        "every rule struck once: {log:#?}"
    );
    // Then every step was done on temporaries, each removed, production untouched
    let r = report(&d.last());
    assert!(
        r.headline
            .starts_with("drill of region-failover: 7 of 7 steps done"),
        "{}",
        r.render_text()
    );
    assert!(
        r.findings.iter().any(|x| x
            .message
            .contains("temporaries created and removed; production untouched")),
        "{}",
        r.render_text()
    );
    assert_eq!(
        f.as_aws.answered().len(),
        2,
        "the temporary replica's create and promote retried: {:?}",
        f.as_aws.answered()
    );
    assert_eq!(fo_production(&f).await, before, "production untouched");
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator drill: every write and teardown deletion refused once, then its answer lost",
        &f.proxy,
        &d.ended,
        mail,
        "7 of 7 done on temporaries; every temporary removed; production untouched",
    );

    // When a second drill's temporary instance cannot be deleted (RDS refuses every attempt)
    f.proxy.clear_log();
    f.proxy
        .set_rules(66, &[Rule::outage("rds").operation("DeleteDBInstance")]);
    let mut d = Drive::new("fo-drill-stuck", drill());
    d.until_over(&f, 10).await;
    // Then the drill ends naming it for the janitor; production is untouched but for it
    let r = report(&d.last());
    let left = drill_leftovers(&f).await;
    assert_eq!(left.len(), 1, "{left:?}");
    let id = left[0].trim_start_matches("instance ").to_string();
    assert!(
        r.findings
            .iter()
            .any(|x| x.message.contains("drill: not removed")
                && x.message.contains(&id)
                && x.message
                    .contains("the janitor removes it once its lifeboat:expires-at has passed")),
        "{}",
        r.render_text()
    );
    let stuck = d.ended.clone();
    // And the janitor, on its schedule after the temporaries' expiry with RDS back, removes it
    f.proxy.clear_rules();
    let janitor = Box::pin(failover_orchestrator::invoke(
        &f.app,
        &json!({"action": "janitor"}),
        "fo-janitor",
        Utc::now() + Duration::hours(7),
        None,
    ))
    .await
    .unwrap();
    let jr = janitor.report().unwrap();
    assert!(
        jr.findings.iter().any(|x| x.message.contains(&id)),
        "{}",
        jr.render_text()
    );
    assert_eq!(
        fo_production(&f).await,
        before,
        "production as before both drills"
    );
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator drill: its temporary instance cannot be deleted, then the janitor",
        &f.proxy,
        &stuck,
        mail,
        "drill reports it for the janitor; the janitor removes it after expiry; production untouched",
    );
}

#[tokio::test]
async fn failover_drill_temporaries_left_by_a_failed_teardown_are_removed_by_the_janitor_or_named_with_the_command(
) {
    // Given a drill whose teardown cannot delete its drill secret, parameter and record (each
    // refused on every attempt)
    let f = failover_world("lifeboat-faults-fo-drill-left").await;
    let before = fo_production(&f).await;
    f.proxy.set_rules(
        67,
        &[
            Rule::outage("secretsmanager").operation("DeleteSecret"),
            Rule::outage("ssm").operation("DeleteParameter"),
            record_change()
                .body("<Action>DELETE</Action>")
                .fault(Fault::Unavailable),
        ],
    );
    let mut d = Drive::new("fo-drill-left", drill());
    d.until_over(&f, 10).await;
    let r = report(&d.last());
    let left = drill_leftovers(&f).await;
    assert_eq!(left.len(), 3, "{left:?}\n{}", r.render_text());
    // Then the report says who removes each: the janitor the tagged ones; the record (Route 53
    // records carry no tags: nothing can prove one a drill's later) by hand, with the command
    let text = r.render_text();
    assert!(
        text.contains("secret ecommerce-prod-db-app-lifeboat-drill-")
            && text.contains("the janitor removes it once its lifeboat:expires-at has passed")
            && text.contains("remove it by hand: aws route53 change-resource-record-sets"),
        "{text}"
    );
    // When the janitor runs after their expiry with the services back
    f.proxy.clear_rules();
    let janitor = Box::pin(failover_orchestrator::invoke(
        &f.app,
        &json!({"action": "janitor"}),
        "fo-janitor",
        Utc::now() + Duration::hours(7),
        None,
    ))
    .await
    .unwrap();
    // Then what the drill report promised happened: only the record is left, for the person
    let left = drill_leftovers(&f).await;
    assert!(
        left.len() == 1 && left[0].contains("lifeboat-drill-"),
        "{left:?}\n{}",
        janitor
            .report()
            .map(Report::render_text)
            .unwrap_or_default()
    );
    let _ = before;
}

/// A second plan: orders-db restored from its newest DR copy, the sessions cache from its DR
/// snapshot (as tests/tests/failover.rs seeds it).
const RESTORES: &str = "restore-failover";

fn with_restores(policy: String) -> String {
    policy + lifeboat_tests::failover::RESTORE_PLAN
}

#[tokio::test]
async fn failover_restores_lost_answers() {
    // Given a plan of two restores in the DR region (the DR network, and a snapshot of the cache
    // there), and each restore refused once before it reaches AWS, then carried out with its
    // answer lost: the retry is refused as existing (RDS DBInstanceAlreadyExists, ElastiCache
    // ReplicationGroupAlreadyExists — moto answers both as AWS does) and the step adopts the
    // resource by its run tag
    let f = failover_world_with("lifeboat-faults-fo-restores", with_restores).await;
    let dr = f.h.emu.config(DR).await;
    let ec = aws_sdk_elasticache::Client::new(&dr);
    lifeboat_tests::failover::seed_restore_sources(&f.h.emu, &dr).await;
    let rules = [
        refused_once("rds", "RestoreDBInstanceFromDBSnapshot"),
        Rule::lost_answer("rds", "RestoreDBInstanceFromDBSnapshot"),
        refused_once("elasticache", "CreateReplicationGroup"),
        Rule::lost_answer("elasticache", "CreateReplicationGroup"),
        refused_once("rds", "DeleteDBInstance"),
        Rule::lost_answer("rds", "DeleteDBInstance"),
        refused_once("elasticache", "DeleteReplicationGroup"),
        Rule::lost_answer("elasticache", "DeleteReplicationGroup"),
    ];
    let groups = |ec: aws_sdk_elasticache::Client| async move {
        let mut ids: Vec<String> = ec
            .describe_replication_groups()
            .send()
            .await
            .unwrap()
            .replication_groups()
            .iter()
            .filter(|g| g.status() != Some("deleting"))
            .filter_map(|g| g.replication_group_id().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    let before = (fo_production(&f).await, groups(ec.clone()).await);
    // When a drill of the plan, then its execute, are driven to their ends
    f.proxy.set_rules(68, &rules);
    let mut drill = Drive::new(
        "fo-restore-drill",
        json!({"action": "drill", "plan": RESTORES}),
    );
    drill.until_over(&f, 10).await;
    let drill_faults = faults::faults(&f.proxy.log());
    // Then the drill restored both on temporaries and removed them (the deletions' answers lost
    // too: their retries hear "not found", or "deleting")
    let r = report(&drill.last());
    assert!(
        r.headline
            .starts_with("drill of restore-failover: 3 of 3 steps done"),
        "{}",
        r.render_text()
    );
    assert!(
        r.findings.iter().any(|x| x
            .message
            .contains("2 temporaries created and removed; production untouched")),
        "{}",
        r.render_text()
    );
    assert_eq!(drill_faults, rules.len(), "every rule struck once");
    assert_eq!(
        (fo_production(&f).await, groups(ec.clone()).await),
        before,
        "the drill leaves the world as it found it"
    );
    f.proxy.set_rules(69, &rules[..4]);
    let mut exec = Drive::new(
        "fo-restore-exec",
        json!({"action": "execute", "plan": RESTORES, "confirm": RESTORES}),
    );
    exec.until_over(&f, 10).await;
    let r = report(&exec.last());
    assert!(
        r.headline
            .starts_with("execute of restore-failover: 3 of 3 steps done"),
        "{}",
        r.render_text()
    );
    // And the execute restored each once: one orders-db-dr, one sessions-dr, adopted by tag
    let after = fo_production(&f).await;
    assert_eq!(
        after
            .instances
            .iter()
            .filter(|i| i.0 == "orders-db-dr")
            .count(),
        1,
        "{:?}",
        after.instances
    );
    let mut expected_groups = before.1.clone();
    expected_groups.push("sessions-dr".to_string());
    expected_groups.sort();
    assert_eq!(groups(ec.clone()).await, expected_groups);
    let log = f.proxy.log();
    assert_eq!(
        faults::faults(&log),
        drill_faults + 4,
        "every rule struck once"
    );
    for op in ["RestoreDBInstanceFromDBSnapshot", "CreateReplicationGroup"] {
        assert_eq!(
            log.iter()
                .filter(|r| r.operation == op && r.forwarded)
                .count(),
            4,
            "{op}: the drill's and the execute's, each carried out once and retried once"
        );
    }
    let mut ended = drill.ended.clone();
    ended.extend(exec.ended.clone());
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator restores (RDS from the DR copy, Redis from its DR snapshot): each create and teardown deletion refused once, then its answer lost; drill then execute",
        &f.proxy,
        &ended,
        mail,
        "3 of 3 done each; drill temporaries removed; one restored instance and one cache, adopted by their run tag",
    );
}

/// One alarm state change (ecommerce-prod-db-down into ALARM at `at`) as EventBridge delivers
/// it, and as the alarm's own Lambda action delivers it.
fn alarm_deliveries(at: chrono::DateTime<Utc>) -> [Value; 2] {
    let ts = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecommerce-prod-db-down";
    let state = json!({
        "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": ts},
        "previousState": {"value": "OK", "reason": "ok", "timestamp": ts},
        "configuration": {"metrics": []},
        "alarmName": "ecommerce-prod-db-down",
    });
    [
        json!({
            "version": "0", "id": "e1", "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": "123456789012", "time": at.to_rfc3339(),
            "region": "us-east-1", "resources": [arn], "detail": state,
        }),
        json!({
            "source": "aws.cloudwatch", "alarmArn": arn, "accountId": "123456789012",
            "time": at.to_rfc3339(), "region": "us-east-1", "alarmData": state,
        }),
    ]
}

#[tokio::test]
async fn failover_a_hundred_alarm_deliveries_with_lost_answers_make_one_run_and_one_promotion() {
    // Given automatic failover, the primary down and its alarm in ALARM for 10 minutes, and the
    // answers lost of the run lease's writes, the journal's creation, the status save (the
    // active-run pointer) and the promotion (refused once, then carried out with its answer lost)
    let f = failover_world_with("lifeboat-faults-fo-alarms", |p| {
        p.replace(
            "version: 1\n",
            "version: 1\nautomation: {auto_failover: true}\n",
        )
    })
    .await;
    let cfg = f.h.emu.config(PRIMARY).await;
    aws_sdk_rds::Client::new(&cfg)
        .stop_db_instance()
        .db_instance_identifier(lifeboat_tests::failover::PRIMARY_DB)
        .send()
        .await
        .unwrap();
    aws_sdk_cloudwatch::Client::new(&cfg)
        .set_alarm_state()
        .alarm_name(lifeboat_tests::failover::ALARM)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("primary down")
        .send()
        .await
        .unwrap();
    let rules = [
        Rule::lost_answer("s3", "PutObject")
            .path("/locks/failover-orchestrator\\.json$")
            .count(3),
        Rule::lost_answer("s3", "PutObject").path(JOURNALS).count(2),
        Rule::lost_answer("s3", "PutObject")
            .path("/state/failover-orchestrator/status\\.json$")
            .count(2),
        refused_once("rds", "PromoteReadReplica"),
        Rule::lost_answer("rds", "PromoteReadReplica"),
    ];
    f.proxy.set_rules(71, &rules);
    // When 100 deliveries of the one state change arrive at once (EventBridge's, the alarm
    // action's, and their redeliveries)
    let deliveries = alarm_deliveries(Utc::now() - Duration::minutes(10));
    let answers = futures::future::join_all((0..100).map(|i| {
        let ev = deliveries[i % 2].clone();
        let f = &f;
        async move { Box::pin(fo_invoke(f, &ev, &format!("alarm-{i}"), None)).await }
    }))
    .await;
    let mut ended: Vec<Ended> = answers
        .into_iter()
        .map(|a| match a {
            Ok(r) => Ended::Answered(r.to_json().unwrap()),
            Err(e) => Ended::Error(e.to_string()),
        })
        .collect();
    // Then they all name one run
    let run_ids: BTreeSet<String> = ended
        .iter()
        .filter_map(Ended::json)
        .filter_map(|v| v["run_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(run_ids.len(), 1, "one run for every delivery: {ended:#?}");
    let run_id = run_ids.into_iter().next().unwrap();
    // And (resumed to its end unless a delivery finished it) it promoted once and did every
    // step once
    let finished = |ended: &[Ended]| {
        ended
            .iter()
            .filter_map(Ended::json)
            .find(|v| v["outcome"] == json!("finished"))
            .cloned()
    };
    if finished(&ended).is_none() {
        let mut d = Drive::new("fo-alarms", json!({"action": "resume", "run_id": run_id}));
        d.until_over(&f, 10).await;
        ended.extend(d.ended);
    }
    let r = report(&finished(&ended).expect("the run finished"));
    assert!(
        r.headline
            .starts_with("execute of region-failover: 7 of 7 steps done"),
        "{}",
        r.render_text()
    );
    let log = f.proxy.log();
    assert_eq!(faults::faults(&log), 3 + 2 + 2 + 2, "every rule struck");
    assert_eq!(promotions(&log), 1, "one promotion reached RDS");
    let runs = lifeboat_tests::failover::keys(
        &cfg,
        &f.h.world.report_bucket,
        "runs/failover-orchestrator/",
    )
    .await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(fo_versions(&f).await.0, 2, "one new secret version");
    let mail = emails_fo(&f).await;
    record(
        "failover-orchestrator: 100 concurrent deliveries of one alarm, lease/journal/status/promote answers lost",
        &f.proxy,
        &ended,
        mail,
        "one run, one promotion, 7 of 7 done",
    );
}

#[tokio::test]
async fn failover_a_resume_failing_the_same_way_again_is_emailed_once_naming_its_run() {
    // Given an execute planned (its first invocation out of time at once), and its journal
    // saves refused on every attempt
    let f = failover_world("lifeboat-faults-fo-resume-mail").await;
    let mut d = Drive::new("fo-resume-mail", armed());
    d.once(&f, Some(std::time::Instant::now())).await;
    let run_id = d.run_id.clone().unwrap();
    let _ = emails_fo(&f).await;
    f.proxy.set_rules(
        72,
        &[Rule::outage("s3").operation("PutObject").path(JOURNALS)],
    );
    // When the loop resumes it three times (its Retry), each failing the same way
    for _ in 0..3 {
        d.once(&f, None).await;
    }
    assert!(
        d.ended[1..].iter().all(|e| e.json().is_none()),
        "{:#?}",
        d.ended
    );
    // Then one FAILED email says so, and it names the run
    let mail = read_emails(&f.h.emu.config(PRIMARY).await, &f.h.world.queue_url).await;
    let failed: Vec<&Email> = mail
        .iter()
        .filter(|m| m.subject.starts_with("[Lifeboat FAILED]"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0]
            .body
            .contains(&format!("failover-orchestrator run {run_id} ")),
        "{}",
        failed[0].body
    );
}

// ---------------------------------------------------------------------------------------------
// cost-anomaly: the answers of each of its writes lost (the day's history record, the alert
// states, the run's answer, its lease); sources that cannot be read (CloudWatch, RDS in the DR
// region, S3 listings, the S3 Inventory report, Cost Explorer throttled) are NO DATA naming the
// error, never $0 and never a fall that looks like savings, and a clean rerun of the day fills
// the record without alerting twice; random faults; concurrent deliveries of one day. On the
// seeded shop with the cost fixtures (`lifeboat_tests::cost`): Aurora's billed backup metrics,
// the sized cache snapshots, 60 days of exports in both backup buckets with their S3 Inventory
// reports and `AWS/S3` storage metrics, and 28 days of steady history so every rule is judged
// (a fault read as $0 would be a fall the rules see).

use cost_anomaly::plan::{Day, Scope};
use lifeboat_tests::cost::{self as cost_fx, CostPolicy};

/// The cost world: the seeded shop with the cost fixtures, the proxy in front of its emulator,
/// cost-anomaly talking through the proxy, and a twin App talking to the emulator itself (the
/// fault-free reference: what the function reads and models for a day without faults).
struct Costly {
    h: Harness<()>,
    proxy: FaultProxy,
    ca: cost_anomaly::App,
    clean: cost_anomaly::App,
}

/// `days[0]` gets the cost fixtures (`seed_cost`), every other day its own Aurora and `AWS/S3`
/// daily metrics (the account is the same; AWS reports it every day).
async fn costly(dir: &'static str, policy: CostPolicy, days: &[chrono::NaiveDate]) -> Costly {
    let h = Box::pin(
        util::world()
            .dir(dir)
            .scenario(Scenario::default())
            .edit_policy(move |text| cost_fx::with_cost(&text, &policy))
            .build(|_| ()),
    )
    .await;
    let seeded = Box::pin(cost_fx::seed_cost(&h.emu, &h.world, days[0])).await;
    let primary = h.emu.config(PRIMARY).await;
    let dr = h.emu.config(DR).await;
    let cw = aws_sdk_cloudwatch::Client::new(&primary);
    for d in &days[1..] {
        let through_day = |v: f64| -> Vec<(chrono::DateTime<Utc>, f64)> {
            (0..4).map(|i| (cost_fx::at(*d, 6 * i, 0), v)).collect()
        };
        for (metric, v) in [
            ("TotalBackupStorageBilled", seeded.aurora_billed),
            ("SnapshotStorageUsed", seeded.aurora_snapshots),
            (
                "BackupRetentionPeriodStorageUsed",
                cost_fx::AURORA_RETENTION_GIB * 1024.0 * 1024.0 * 1024.0,
            ),
        ] {
            lifeboat_tests::put_metric(
                &cw,
                "AWS/RDS",
                metric,
                &[("DBClusterIdentifier", cost_fx::AURORA_CLUSTER)],
                &through_day(v),
            )
            .await;
        }
        cost_fx::put_bucket_metrics(&primary, &h.world.backup_bucket, *d, &seeded.objects).await;
        cost_fx::put_bucket_metrics(&dr, &h.world.dr_backup_bucket, *d, &seeded.dr_objects).await;
    }
    let proxy = FaultProxy::start(&h.emu.endpoint);
    let ca = util::function_parts(
        lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await,
        &h.world,
    )
    .await
    .cost_anomaly();
    let clean = util::function_parts(primary, &h.world).await.cost_anomaly();
    Costly {
        h,
        proxy,
        ca,
        clean,
    }
}

/// The days a cost scenario evaluates: `n` whole days ending the day before yesterday.
fn cost_days(n: i64) -> Vec<chrono::NaiveDate> {
    let last = Utc::now().date_naive() - Duration::days(2);
    (0..n).rev().map(|i| last - Duration::days(i)).collect()
}

/// What the function reads and models for `day` without faults (its own read and model, on the
/// emulator directly); checked to have every source.
async fn cost_reference(c: &Costly, day: chrono::NaiveDate) -> Day {
    let d = Box::pin(cost_fx::model_day(&c.clean, day, Utc::now())).await;
    assert!(
        d.gaps.is_empty(),
        "the fault-free world reads every source: {:#?}",
        d.gaps
    );
    d
}

/// 28 days of steady history before `day` (the reference's figures, weekday rhythm), as the
/// function stores it: every rule has the history it needs.
async fn cost_history_before(c: &Costly, reference: &Day) {
    let s3 = lifeboat_tests::s3(&c.h.emu.config(PRIMARY).await);
    let days = cost_fx::steady_history(reference, 28, cost_fx::Rhythm::default());
    cost_fx::seed_history(&s3, &c.h.world.report_bucket, &days).await;
}

/// The scheduled event of `day`'s run: the schedule fires at 06:`minute` UTC the next morning
/// (the function evaluates the last whole day before its time).
fn cost_event(id: &str, day: chrono::NaiveDate, minute: u32) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(lifeboat_tests::root().join("events/cost-anomaly/schedule.json"))
            .unwrap(),
    )
    .unwrap();
    event["id"] = json!(id);
    event["time"] = json!(cost_fx::at(day + Duration::days(1), 6, minute).to_rfc3339());
    event
}

async fn cost_invoke(
    c: &Costly,
    event: &Value,
    request_id: &str,
    now: chrono::DateTime<Utc>,
) -> Ended {
    match Box::pin(cost_anomaly::run(&c.ca, event, request_id, now, None)).await {
        Ok(r) => Ended::Answered(r.to_json().unwrap()),
        Err(e) => Ended::Error(e.to_string()),
    }
}

/// Every object under `cost/history/` and its bytes.
async fn cost_history(c: &Costly) -> BTreeMap<String, Vec<u8>> {
    let s3 = lifeboat_tests::s3(&c.h.emu.config(PRIMARY).await);
    let bucket = &c.h.world.report_bucket;
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{}/", cost_anomaly::execute::HISTORY))
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            let key = o.key().unwrap_or_default().to_string();
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            out.insert(
                key,
                body.body.collect().await.unwrap().into_bytes().to_vec(),
            );
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out
}

/// The stored record of `day`: exactly one object, a day record of that date, each line once.
fn cost_record(history: &BTreeMap<String, Vec<u8>>, day: chrono::NaiveDate) -> Day {
    let key = cost_anomaly::execute::day_key(day);
    let bytes = history
        .get(&key)
        .unwrap_or_else(|| panic!("no history record of {day} ({key})"));
    let d: Day =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{key} is not a day record ({e})"));
    assert_eq!(d.date, day, "{key} holds another day");
    let keys: BTreeSet<_> = d.lines.iter().map(|l| &l.key).collect();
    assert_eq!(
        keys.len(),
        d.lines.len(),
        "{key} counts a line twice: {:#?}",
        d.lines
    );
    d
}

/// Every history object is the record of the day its key names, each line once (a day is
/// never held twice, nor counted twice within its record).
fn cost_history_sound(history: &BTreeMap<String, Vec<u8>>) {
    for key in history.keys() {
        let date = key
            .strip_prefix(&format!("{}/", cost_anomaly::execute::HISTORY))
            .and_then(|k| k.strip_suffix(".json"))
            .and_then(|k| chrono::NaiveDate::parse_from_str(k, "%Y/%m/%d").ok())
            .unwrap_or_else(|| panic!("not a day's key: {key}"));
        cost_record(history, date);
    }
}

async fn cost_object(c: &Costly, key: &str) -> Option<Vec<u8>> {
    let s3 = lifeboat_tests::s3(&c.h.emu.config(PRIMARY).await);
    match s3
        .get_object()
        .bucket(&c.h.world.report_bucket)
        .key(key)
        .send()
        .await
    {
        Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(_) => None,
    }
}

async fn cost_alerts(
    c: &Costly,
) -> lifeboat_shared::alerts::Stored<cost_anomaly::plan::anomalies::CostLevel> {
    let bytes = cost_object(c, cost_anomaly::execute::ALERTS_KEY)
        .await
        .expect("the alert states are stored");
    serde_json::from_slice(&bytes).expect("the alert states parse")
}

async fn cost_emails(c: &Costly) -> Vec<Email> {
    read_emails(&c.h.emu.config(PRIMARY).await, &c.h.world.queue_url).await
}

/// The run an email reports ("cost-anomaly run <run id> in ...").
fn emailed_run(e: &Email) -> String {
    e.body
        .split("cost-anomaly run ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_default()
        .to_string()
}

fn run_id(e: &Ended) -> String {
    e.json()
        .and_then(|v| v["run_id"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn outcome(e: &Ended) -> String {
    e.json()
        .and_then(|v| v["outcome"].as_str())
        .unwrap_or("error")
        .to_string()
}

/// A finished run's report.
fn finished(e: &Ended) -> Report {
    let v = e.json().unwrap_or_else(|| panic!("the run failed: {e:?}"));
    assert_eq!(v["outcome"], json!("finished"), "{v:#}");
    report(v)
}

/// The anomalies a report raised.
fn anomalies_raised(r: &Report) -> f64 {
    r.measurements
        .iter()
        .find(|m| m.name == "CostAnomalies")
        .map(|m| m.value)
        .unwrap_or_else(|| panic!("no CostAnomalies measurement: {:#?}", r.measurements))
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// A stored day against the fault-free reference of its day: every component the reference
/// costs has its reference figure, or no figure with a gap naming it and its error — never $0,
/// never less (a fall that looks like savings), never more — and the total is exact or "at
/// least" (no figure). Returns the components without data.
fn same_or_no_data(what: &str, got: &Day, reference: &Day) -> Vec<String> {
    let mut none = Vec::new();
    for c in reference.components() {
        let want = reference
            .figure(&Scope::Component(c.clone()))
            .unwrap_or_else(|| panic!("the reference of {} has no figure for {c}", reference.date));
        match got.figure(&Scope::Component(c.clone())) {
            Some(v) => assert!(
                near(v, want),
                "{what}: {c} costs ${v:.4}/day on {} where the fault-free read gives ${want:.4}: a \
                 source that failed was read as less (or more) cost; gaps: {:#?}",
                got.date,
                got.gaps
            ),
            None => {
                assert!(
                    got.gaps
                        .iter()
                        .any(|g| (g.component == c || g.component == "*")
                            && !g.error.is_empty()
                            && !g.source.is_empty()),
                    "{what}: {c} has no figure but no gap names it and its error: {:#?}",
                    got.gaps
                );
                none.push(c);
            }
        }
    }
    for c in got.components() {
        if !reference.components().contains(&c) {
            assert!(
                got.figure(&Scope::Component(c.clone())).is_none(),
                "{what}: {c} is costed with faults and not without"
            );
        }
    }
    match got.figure(&Scope::Total) {
        Some(v) => {
            let want = reference.figure(&Scope::Total).unwrap();
            assert!(near(v, want), "{what}: total ${v:.4} where ${want:.4}");
        }
        None => assert!(!got.gaps.is_empty(), "{what}: no total without a gap"),
    }
    none
}

// ---- 1. Lost answers on every write.

#[tokio::test]
async fn cost_lost_answers_on_every_write_one_record_one_email() {
    // Given the seeded shop, its cost and 28 days of steady history
    let days = cost_days(2);
    let (d0, d1) = (days[0], days[1]);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-lost",
        CostPolicy::default(),
        &days,
    ))
    .await;
    let reference = cost_reference(&c, d0).await;
    cost_history_before(&c, &reference).await;
    let lost = || {
        vec![
            Rule::lost_answer("s3", "PutObject").path("/cost/history/"),
            Rule::lost_answer("s3", "PutObject").path("/state/cost-anomaly/alerts.json"),
            Rule::lost_answer("s3", "PutObject").path("/reports/cost-anomaly/runs/"),
            Rule::lost_answer("s3", "PutObject").path("/locks/cost-anomaly"),
            Rule::lost_answer("s3", "DeleteObject").path("/locks/cost-anomaly"),
        ]
    };

    // When the function's first run, the day's schedule, has every write's answer lost once:
    // the history record's creation, the alert states' creation, the run's answer, the lease
    // and its release
    c.proxy.clear_log();
    c.proxy.set_rules(81, &lost());
    let a = cost_event("cost-ev-a", d0, 0);
    let first = cost_invoke(&c, &a, "req-a-1", Utc::now()).await;
    let log = c.proxy.log();
    assert_eq!(faults::faults(&log), 5, "every rule struck once");
    // Then the run recognises each write as its own and finishes: one record of the day with
    // this run's figures (the reference's), the alert states this run's, one email
    let r = finished(&first);
    let run_a = run_id(&first);
    assert_eq!(anomalies_raised(&r), 0.0, "{}", r.render_text());
    let history = cost_history(&c).await;
    let rec = cost_record(&history, d0);
    assert_eq!(rec.written_by, run_a);
    assert!(same_or_no_data("lost answers", &rec, &reference).is_empty());
    assert_eq!(cost_alerts(&c).await.written_by, run_a);
    assert!(
        cost_object(
            &c,
            &lifeboat_shared::run::answered_key("cost-anomaly", &run_a)
        )
        .await
        .is_some(),
        "the run's answer is recorded"
    );
    assert!(
        cost_object(&c, "locks/cost-anomaly.json").await.is_none(),
        "the lease is released"
    );
    let mail = cost_emails(&c).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(emailed_run(&mail[0]), run_a);
    // And a second delivery of the same event, and a second schedule event of the same day,
    // change nothing and send nothing
    c.proxy.clear_rules();
    let alerts_before = cost_alerts(&c).await;
    let again = cost_invoke(&c, &a, "req-a-2", Utc::now()).await;
    assert_eq!(outcome(&again), "skipped", "{again:?}");
    let b = cost_event("cost-ev-b", d0, 30);
    let second = cost_invoke(&c, &b, "req-b-1", Utc::now()).await;
    let r2 = finished(&second);
    assert!(
        r2.render_text()
            .contains(&format!("already recorded by run {run_a}")),
        "{}",
        r2.render_text()
    );
    assert_eq!(cost_history(&c).await, history, "the history is unchanged");
    let after = cost_alerts(&c).await;
    assert_eq!(
        after
            .checks
            .iter()
            .map(|(k, s)| (k.clone(), s.state))
            .collect::<Vec<_>>(),
        alerts_before
            .checks
            .iter()
            .map(|(k, s)| (k.clone(), s.state))
            .collect::<Vec<_>>(),
        "the same states"
    );
    let mail2 = cost_emails(&c).await;
    assert!(mail2.is_empty(), "{mail2:#?}");
    record(
        "cost-anomaly: lost answers (history record, alert states, run answer, lease and its release), the first run",
        &c.proxy,
        &[first, again, second],
        mail.len() + mail2.len(),
        "finished; one record of the day with the run's figures; one email; the event again and the day again: nothing written, nothing sent",
    );

    // When the next day a burst of manual snapshots makes an anomaly, and every write's answer
    // is lost once again (the alert states saved over the stored ones, If-Match)
    let rds = aws_sdk_rds::Client::new(&c.h.emu.config(PRIMARY).await);
    for i in 0..6 {
        rds.create_db_snapshot()
            .db_instance_identifier(cost_fx::ORDERS_DB)
            .db_snapshot_identifier(format!("by-hand-{i}"))
            .send()
            .await
            .unwrap();
    }
    let reference1 = cost_reference(&c, d1).await;
    c.proxy.clear_log();
    c.proxy.set_rules(82, &lost());
    let e = cost_event("cost-ev-e", d1, 0);
    let change = cost_invoke(&c, &e, "req-e-1", Utc::now()).await;
    assert_eq!(faults::faults(&c.proxy.log()), 5, "every rule struck once");
    // Then one email with the anomaly, one record with this run's figures
    let r = finished(&change);
    let run_e = run_id(&change);
    assert!(anomalies_raised(&r) > 0.0, "{}", r.render_text());
    let history = cost_history(&c).await;
    let rec = cost_record(&history, d1);
    assert_eq!(rec.written_by, run_e);
    assert!(same_or_no_data("lost answers", &rec, &reference1).is_empty());
    assert_eq!(cost_alerts(&c).await.written_by, run_e);
    let mail = cost_emails(&c).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(emailed_run(&mail[0]), run_e);
    assert!(
        mail[0].body.contains("changed since the last run"),
        "{}",
        mail[0].body
    );
    // And neither the event again nor the day again emails it twice
    c.proxy.clear_rules();
    let again = cost_invoke(&c, &e, "req-e-2", Utc::now()).await;
    assert_eq!(outcome(&again), "skipped", "{again:?}");
    let f = cost_event("cost-ev-f", d1, 30);
    let second = cost_invoke(&c, &f, "req-f-1", Utc::now()).await;
    finished(&second);
    assert_eq!(cost_history(&c).await, history, "the history is unchanged");
    let mail2 = cost_emails(&c).await;
    assert!(mail2.is_empty(), "{mail2:#?}");
    record(
        "cost-anomaly: lost answers (history record, alert states saved over, run answer, lease and its release), a day with an anomaly",
        &c.proxy,
        &[change, again, second],
        mail.len() + mail2.len(),
        "finished; one email with the anomaly; one record; the event again and the day again: nothing written, nothing sent",
    );
}

// ---- 2. Sources that cannot be read.

/// One source that cannot be read: the rules that fail it, the components it must leave
/// without data, and the error code the report must name.
struct Unread {
    name: &'static str,
    rules: Vec<Rule>,
    no_data: Vec<String>,
    error: &'static str,
}

/// `day` run with `u`'s rules in force, then again (another schedule event of the same day)
/// without them, each checked against the fault-free reference of the day.
async fn cost_unread_then_clean(c: &Costly, u: &Unread, day: chrono::NaiveDate, seed: u64) {
    let reference = cost_reference(c, day).await;
    cost_emails(c).await;
    c.proxy.clear_log();
    c.proxy.set_rules(seed, &u.rules);
    let tag = format!("cost-{day}");
    let faulted = cost_invoke(
        c,
        &cost_event(&format!("{tag}-a"), day, 0),
        &format!("req-{tag}-a"),
        Utc::now(),
    )
    .await;
    c.proxy.clear_rules();
    assert!(
        faults::faults(&c.proxy.log()) > 0,
        "{}: no fault struck",
        u.name
    );
    // Then the run finishes: the components it could not read are NO DATA naming the error,
    // the total is "at least", every other figure is the fault-free one, and no anomaly is
    // raised (the history is steady: a source read as $0 would be a fall the rules see)
    let r = finished(&faulted);
    let text = r.render_text();
    for comp in &u.no_data {
        assert!(
            text.contains(&format!("{comp}: NO DATA")),
            "{}: {comp} is not NO DATA in the report:\n{text}",
            u.name
        );
    }
    assert!(
        text.contains(u.error),
        "{}: the report does not name {}:\n{text}",
        u.name,
        u.error
    );
    assert!(
        r.headline.contains("at least"),
        "{}: the total is not 'at least': {}",
        u.name,
        r.headline
    );
    assert!(
        !text.contains("$-"),
        "{}: a negative figure:\n{text}",
        u.name
    );
    assert_eq!(anomalies_raised(&r), 0.0, "{}:\n{text}", u.name);
    let rec = cost_record(&cost_history(c).await, day);
    assert_eq!(rec.written_by, run_id(&faulted));
    let none = same_or_no_data(u.name, &rec, &reference);
    for comp in &u.no_data {
        assert!(none.contains(comp), "{}: {comp} has a figure", u.name);
    }
    let mail = cost_emails(c).await;
    assert!(mail.len() <= 1, "{}: {mail:#?}", u.name);
    for m in &mail {
        assert!(
            !m.body.contains("[WARNING]") && !m.body.contains("[CRITICAL]"),
            "{}: an anomaly emailed:\n{}",
            u.name,
            m.body
        );
    }
    // When the day runs again without faults
    let rerun = cost_invoke(
        c,
        &cost_event(&format!("{tag}-b"), day, 30),
        &format!("req-{tag}-b"),
        Utc::now(),
    )
    .await;
    // Then it replaces the record with gaps by its own, complete one, and alerts nothing
    let r2 = finished(&rerun);
    let text2 = r2.render_text();
    assert!(
        text2.contains("replaced by this run's"),
        "{}: the record is not replaced:\n{text2}",
        u.name
    );
    let history = cost_history(c).await;
    cost_history_sound(&history);
    let rec2 = cost_record(&history, day);
    assert_eq!(rec2.written_by, run_id(&rerun));
    assert!(same_or_no_data(u.name, &rec2, &reference).is_empty());
    assert!(rec2.gaps.is_empty(), "{:#?}", rec2.gaps);
    assert_eq!(anomalies_raised(&r2), 0.0, "{}:\n{text2}", u.name);
    let mail2 = cost_emails(c).await;
    assert!(mail2.is_empty(), "{}: the rerun emails: {mail2:#?}", u.name);
    record(
        &format!("cost-anomaly: {}, then a clean rerun of the day", u.name),
        &c.proxy,
        &[faulted, rerun],
        mail.len() + mail2.len(),
        &format!(
            "finished; {} NO DATA naming {}, total \"at least\", other figures exact, no anomaly; the rerun replaces the record, no email",
            none.join(", "),
            u.error
        ),
    );
}

#[tokio::test]
async fn cost_sources_that_cannot_be_read_are_no_data_and_a_clean_rerun_fills_the_day() {
    // Given the seeded shop, its cost, 28 days of steady history and a first clean run
    let days = cost_days(6);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-unread",
        CostPolicy::default(),
        &days,
    ))
    .await;
    let reference = cost_reference(&c, days[0]).await;
    cost_history_before(&c, &reference).await;
    let first = cost_invoke(
        &c,
        &cost_event("cost-first", days[0], 0),
        "req-first",
        Utc::now(),
    )
    .await;
    assert_eq!(anomalies_raised(&finished(&first)), 0.0, "a steady world");
    let unread = [
        Unread {
            name: "CloudWatch GetMetricData unavailable",
            rules: vec![Rule::outage("monitoring").operation("GetMetricData")],
            no_data: vec!["catalog-aurora".into()],
            error: "ServiceUnavailable",
        },
        Unread {
            name: "RDS DescribeDBSnapshots unavailable in the DR region",
            rules: vec![Rule::outage("rds")
                .operation("DescribeDBSnapshots")
                .region(DR)],
            no_data: vec!["orders-db".into()],
            error: "ServiceUnavailable",
        },
        Unread {
            name: "ElastiCache DescribeSnapshots unavailable",
            rules: vec![Rule::outage("elasticache").operation("DescribeSnapshots")],
            no_data: vec!["sessions-redis".into()],
            error: "ServiceUnavailable",
        },
        Unread {
            name: "S3 listings unavailable (ListObjectsV2, ListObjectVersions)",
            rules: vec![
                Rule::outage("s3").operation("ListObjectsV2"),
                Rule::outage("s3").operation("ListObjectVersions"),
            ],
            no_data: vec!["orders-db".into()],
            error: "ServiceUnavailable",
        },
        Unread {
            name: "the S3 Inventory reports cannot be read (GetObject unavailable)",
            rules: vec![Rule::outage("s3")
                .operation("GetObject")
                .path(&format!("/{}/", cost_fx::INVENTORY_BUCKET))],
            no_data: vec!["orders-db".into()],
            error: "ServiceUnavailable",
        },
    ];
    for (i, u) in unread.iter().enumerate() {
        // When a source cannot be read on a day, then the same day runs again without faults
        Box::pin(cost_unread_then_clean(&c, u, days[i + 1], 90 + i as u64)).await;
    }
}

#[tokio::test]
async fn cost_explorer_throttled_is_no_data_and_a_clean_rerun_fills_the_day() {
    // Given the seeded shop, its cost, Cost Explorer enabled with 28 days of its history
    // (backfilled by the first run) and each day's actual cost as the model's
    let days = cost_days(2);
    let (d0, d1) = (days[0], days[1]);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-ce",
        CostPolicy {
            cost_explorer: true,
            ..CostPolicy::default()
        },
        &days,
    ))
    .await;
    let reference = cost_reference(&c, d0).await;
    let reference1 = cost_reference(&c, d1).await;
    let like = |d: &Day| cost_fx::ce_groups_like(d, 1.0);
    let backfill: Vec<(chrono::NaiveDate, Vec<cost_fx::CeGroup>)> = (1..=28)
        .rev()
        .map(|i| (d0 - Duration::days(i), like(&reference)))
        .collect();
    cost_fx::queue_cost_explorer(
        &c.h.emu.endpoint,
        json!([
            cost_fx::ce_response("Component", &backfill),
            cost_fx::ce_response("Component", &[(d0, like(&reference))]),
            cost_fx::ce_response("Component", &[(d1, like(&reference1))]),
        ]),
    )
    .await;
    let first = cost_invoke(
        &c,
        &cost_event("cost-first", d0, 0),
        "req-first",
        Utc::now(),
    )
    .await;
    let r = finished(&first);
    assert_eq!(anomalies_raised(&r), 0.0, "{}", r.render_text());
    cost_emails(&c).await;

    // When Cost Explorer throttles every request of the next day's run
    c.proxy.clear_log();
    c.proxy
        .set_rules(95, &[Rule::default().service("ce").fault(Fault::Throttle)]);
    let faulted = cost_invoke(&c, &cost_event("cost-ce-a", d1, 0), "req-ce-a", Utc::now()).await;
    c.proxy.clear_rules();
    assert!(faults::faults(&c.proxy.log()) > 0);
    // Then the run finishes naming the throttle; the day's actual cost is recorded as
    // unread (the rules judge Cost Explorer's figures: no data, not $0), the model's figures
    // are the fault-free ones, no anomaly
    let r = finished(&faulted);
    let text = r.render_text();
    assert!(text.contains("ThrottlingException"), "{text}");
    assert_eq!(anomalies_raised(&r), 0.0, "{text}");
    let rec = cost_record(&cost_history(&c).await, d1);
    assert!(
        rec.actual.is_none()
            && rec
                .actual_error
                .as_deref()
                .is_some_and(|e| e.contains("ThrottlingException")),
        "actual {:?}, error {:?}",
        rec.actual,
        rec.actual_error
    );
    assert!(same_or_no_data("Cost Explorer throttled", &rec, &reference1).is_empty());
    let mail = cost_emails(&c).await;
    assert!(mail.len() <= 1, "{mail:#?}");
    for m in &mail {
        assert!(
            !m.body.contains("[WARNING]") && !m.body.contains("[CRITICAL]"),
            "{}",
            m.body
        );
    }
    // When the day runs again with Cost Explorer answering
    let rerun = cost_invoke(&c, &cost_event("cost-ce-b", d1, 30), "req-ce-b", Utc::now()).await;
    // Then the record gets the day's actual cost, and nothing is alerted
    let r2 = finished(&rerun);
    let text2 = r2.render_text();
    assert!(text2.contains("replaced by this run's"), "{text2}");
    let history = cost_history(&c).await;
    cost_history_sound(&history);
    let rec2 = cost_record(&history, d1);
    assert_eq!(rec2.written_by, run_id(&rerun));
    assert!(
        rec2.actual.as_ref().is_some_and(|a| !a.is_empty()) && rec2.actual_error.is_none(),
        "actual {:?}, error {:?}",
        rec2.actual,
        rec2.actual_error
    );
    assert!(same_or_no_data("Cost Explorer back", &rec2, &reference1).is_empty());
    assert_eq!(anomalies_raised(&r2), 0.0, "{text2}");
    let mail2 = cost_emails(&c).await;
    assert!(mail2.is_empty(), "{mail2:#?}");
    record(
        "cost-anomaly: Cost Explorer throttles every request (ThrottlingException), then a clean rerun of the day",
        &c.proxy,
        &[faulted, rerun],
        mail.len() + mail2.len(),
        "finished naming the throttle; the day's actual cost unread (no data, not $0), the model's figures exact, no anomaly; the rerun fills the record, no email",
    );
}

#[tokio::test]
async fn cost_rds_unread_in_the_primary_region_leaves_components_opted_in_by_tag_no_data() {
    // Given the seeded shop (analytics-db opted in by its lifeboat:backup tag alone), its cost,
    // 28 days of steady history and a first clean run
    let days = cost_days(3);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-opted-in",
        CostPolicy::default(),
        &days,
    ))
    .await;
    let reference = cost_reference(&c, days[0]).await;
    assert!(reference.components().contains(&"analytics-db".to_string()));
    cost_history_before(&c, &reference).await;
    let first = cost_invoke(
        &c,
        &cost_event("cost-first", days[0], 0),
        "req-first",
        Utc::now(),
    )
    .await;
    assert_eq!(anomalies_raised(&finished(&first)), 0.0, "a steady world");
    // When RDS cannot list the primary region's snapshots, then its instances (each day rerun
    // clean), the components opted in by tag are NO DATA like the declared ones
    for (i, operation) in ["DescribeDBSnapshots", "DescribeDBInstances"]
        .iter()
        .enumerate()
    {
        let u = Unread {
            name: if i == 0 {
                "RDS DescribeDBSnapshots unavailable in the primary region"
            } else {
                "RDS DescribeDBInstances unavailable in the primary region"
            },
            rules: vec![Rule::outage("rds").operation(operation).region(PRIMARY)],
            no_data: vec!["orders-db".into(), "analytics-db".into()],
            error: "ServiceUnavailable",
        };
        Box::pin(cost_unread_then_clean(&c, &u, days[i + 1], 110 + i as u64)).await;
    }
}

// ---- 3. Random faults.

/// The component lines of a finished report's breakdown: each reference component has a figure
/// or NO DATA there (no component silently missing).
fn cost_no_silent_gap(what: &str, r: &Report, reference: &Day) {
    let breakdown = r
        .sections
        .iter()
        .find(|s| s.title.starts_with("COST ON"))
        .unwrap_or_else(|| panic!("{what}: a finished run without its breakdown: {r:#?}"));
    for c in reference.components() {
        assert!(
            breakdown
                .lines
                .iter()
                .any(|l| l.starts_with(&format!("{c}: $"))
                    || l.starts_with(&format!("{c}: NO DATA ("))),
            "{what}: {c} is neither costed nor NO DATA: {:#?}",
            breakdown.lines
        );
    }
}

#[tokio::test]
async fn cost_random_faults_every_invocation_decides_and_a_day_is_one_record() {
    Box::pin(cost_random(&[
        (0.05, When::Before, 71),
        (0.05, When::After, 72),
    ]))
    .await;
}

#[tokio::test]
async fn cost_random_faults_20_percent_full_suite_only() {
    if !full() {
        return;
    }
    Box::pin(cost_random(&[
        (0.20, When::Before, 73),
        (0.20, When::After, 74),
    ]))
    .await;
}

/// Random faults at each `(rate, when, seed)`: two days each, every day by its schedule, its
/// schedule delivered again and a second schedule event of the day; then every day once more
/// without faults.
async fn cost_random(settings: &[(f64, When, u64)]) {
    // Given the seeded shop, its cost, 28 days of steady history and a first clean run
    let days = cost_days(1 + 2 * settings.len() as i64);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-random",
        CostPolicy::default(),
        &days,
    ))
    .await;
    let mut references = BTreeMap::new();
    for d in &days {
        references.insert(*d, cost_reference(&c, *d).await);
    }
    cost_history_before(&c, &references[&days[0]]).await;
    let first = cost_invoke(
        &c,
        &cost_event("cost-first", days[0], 0),
        "req-first",
        Utc::now(),
    )
    .await;
    assert_eq!(anomalies_raised(&finished(&first)), 0.0, "a steady world");
    cost_emails(&c).await;

    for (k, (rate, when, seed)) in settings.iter().copied().enumerate() {
        // When two days run under random faults, each by its schedule, its schedule delivered
        // again, and a second schedule event of the day
        let mine = [days[1 + 2 * k], days[2 + 2 * k]];
        c.proxy.clear_log();
        c.proxy.set_rules(
            seed,
            &[
                Rule::default().service("sqs").rate(0.0),
                Rule::random(rate, when).fault(Fault::Error),
            ],
        );
        let mut ended = Vec::new();
        let mut on = Vec::new();
        for d in mine {
            let a = cost_event(&format!("cost-r{seed}-{d}-a"), d, 0);
            let b = cost_event(&format!("cost-r{seed}-{d}-b"), d, 30);
            for (event, request) in [(&a, "1"), (&a, "2"), (&b, "1")] {
                let req = format!("req-{}-{request}", event["id"].as_str().unwrap());
                ended.push(cost_invoke(&c, event, &req, Utc::now()).await);
                on.push(d);
            }
        }
        c.proxy.clear_rules();
        let mail = cost_emails(&c).await;
        // Then every invocation ended with a decision: a report, or an error with its FAILED
        // email
        every_invocation_accounted_for(&ended, &mail, &c.proxy);
        // And a finished run's figures are the fault-free ones or NO DATA, every component said,
        // no anomaly (a steady world)
        for (e, d) in ended.iter().zip(&on) {
            if outcome(e) == "finished" {
                let r = finished(e);
                let what = format!("{:.0}% {when:?}, {d}", rate * 100.0);
                cost_no_silent_gap(&what, &r, &references[d]);
                assert_eq!(anomalies_raised(&r), 0.0, "{what}:\n{}", r.render_text());
            }
        }
        // And the history holds one record of each day, its figures the fault-free ones or NO
        // DATA
        let history = cost_history(&c).await;
        cost_history_sound(&history);
        for d in mine {
            if history.contains_key(&cost_anomaly::execute::day_key(d)) {
                let rec = cost_record(&history, d);
                same_or_no_data(&format!("random faults, {d}"), &rec, &references[&d]);
            }
        }
        record(
            &format!(
                "cost-anomaly: {:.0}% random faults {}, 2 days x (schedule, its redelivery, a second schedule of the day)",
                rate * 100.0,
                match when {
                    When::Before => "before forwarding",
                    When::After => "after forwarding (answers lost)",
                }
            ),
            &c.proxy,
            &ended,
            mail.len(),
            "accounted for; one record a day; figures exact or NO DATA, never $0; no anomaly; a clean rerun completes every day",
        );
    }

    // When every faulted day runs once more without faults (after any lease a failed run left
    // has expired)
    let later = Utc::now() + Duration::minutes(11);
    for d in &days[1..] {
        let e = cost_invoke(
            &c,
            &cost_event(&format!("cost-clean-{d}"), *d, 45),
            &format!("req-clean-{d}"),
            later,
        )
        .await;
        finished(&e);
    }
    // Then every day is one complete record with the fault-free figures
    let history = cost_history(&c).await;
    cost_history_sound(&history);
    for d in &days {
        let rec = cost_record(&history, *d);
        assert!(rec.gaps.is_empty(), "{d}: {:#?}", rec.gaps);
        assert!(same_or_no_data(&format!("converged, {d}"), &rec, &references[d]).is_empty());
    }
}

// ---- 4. Concurrent deliveries.

#[tokio::test]
async fn cost_concurrent_deliveries_make_one_record_and_at_most_one_email_per_run() {
    // Given the seeded shop, its cost and 28 days of steady history
    let days = cost_days(2);
    let (d0, d1) = (days[0], days[1]);
    let c = Box::pin(costly(
        "lifeboat-faults-cost-concurrent",
        CostPolicy::default(),
        &days,
    ))
    .await;
    let reference = cost_reference(&c, d0).await;
    let reference1 = cost_reference(&c, d1).await;
    cost_history_before(&c, &reference).await;
    let lost = [
        Rule::lost_answer("s3", "PutObject").path("/locks/cost-anomaly"),
        Rule::lost_answer("s3", "PutObject").path("/cost/history/"),
        Rule::lost_answer("s3", "PutObject").path("/state/cost-anomaly/alerts.json"),
    ];

    // When one schedule event is delivered 20 times at once, the lease's, the record's and
    // the alert states' answers lost once
    c.proxy.clear_log();
    c.proxy.set_rules(97, &lost);
    let a = cost_event("cost-conc-a", d0, 0);
    let ended: Vec<Ended> = futures::future::join_all((0..20).map(|i| {
        let (c, a) = (&c, &a);
        async move { cost_invoke(c, a, &format!("req-conc-a-{i}"), Utc::now()).await }
    }))
    .await;
    c.proxy.clear_rules();
    // Then one run did it, the others said why they did nothing; one record, one email
    let outcomes: Vec<String> = ended.iter().map(outcome).collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "finished").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "skipped").count(),
        19,
        "{ended:#?}"
    );
    for e in &ended {
        assert!(
            outcome(e) != "skipped" || e.json().unwrap()["note"].is_string(),
            "{e:?}"
        );
    }
    let run_a = run_id(&ended[0]);
    let history = cost_history(&c).await;
    cost_history_sound(&history);
    let rec = cost_record(&history, d0);
    assert_eq!(rec.written_by, run_a);
    assert!(same_or_no_data("20 deliveries", &rec, &reference).is_empty());
    let mail = cost_emails(&c).await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(emailed_run(&mail[0]), run_a);
    record(
        "cost-anomaly: 20 concurrent deliveries of one schedule event, lease/record/alert-state answers lost",
        &c.proxy,
        &ended,
        mail.len(),
        "one run finished, 19 skipped saying why; one record; one email",
    );

    // When two schedule events of the next day are delivered 10 times each, all at once
    c.proxy.clear_log();
    c.proxy.set_rules(98, &lost);
    let b = cost_event("cost-conc-b", d1, 0);
    let e2 = cost_event("cost-conc-c", d1, 30);
    let ended: Vec<Ended> = futures::future::join_all((0..20).map(|i| {
        let event = if i % 2 == 0 { &b } else { &e2 };
        let c = &c;
        async move { cost_invoke(c, event, &format!("req-conc-{i}"), Utc::now()).await }
    }))
    .await;
    c.proxy.clear_rules();
    // Then at most one run per event finished, none failed; one record of the day; no run
    // emailed twice; the alert states are one finished run's, every check OK
    assert!(ended.iter().all(|e| e.json().is_some()), "{ended:#?}");
    let finished_runs: Vec<String> = ended
        .iter()
        .filter(|e| outcome(e) == "finished")
        .map(run_id)
        .collect();
    let distinct: BTreeSet<&String> = finished_runs.iter().collect();
    assert!(
        !finished_runs.is_empty() && distinct.len() == finished_runs.len(),
        "{finished_runs:?}"
    );
    let history = cost_history(&c).await;
    cost_history_sound(&history);
    let rec = cost_record(&history, d1);
    assert!(
        finished_runs.contains(&rec.written_by),
        "{}",
        rec.written_by
    );
    assert!(same_or_no_data("two events x 10", &rec, &reference1).is_empty());
    let mail = cost_emails(&c).await;
    let mut emailed: BTreeMap<String, usize> = BTreeMap::new();
    for m in &mail {
        *emailed.entry(emailed_run(m)).or_default() += 1;
    }
    assert!(emailed.values().all(|n| *n == 1), "{emailed:?}");
    let alerts = cost_alerts(&c).await;
    assert!(
        finished_runs.contains(&alerts.written_by),
        "{} not among {finished_runs:?}",
        alerts.written_by
    );
    assert!(
        !alerts.checks.is_empty()
            && alerts
                .checks
                .values()
                .all(|s| s.state == cost_anomaly::plan::anomalies::CostLevel::Ok),
        "{alerts:#?}"
    );
    record(
        "cost-anomaly: 2 schedule events of one day x 10 concurrent deliveries, lease/record/alert-state answers lost",
        &c.proxy,
        &ended,
        mail.len(),
        "at most one run per event; one record of the day; no run emailed twice; alert states one run's",
    );
}
