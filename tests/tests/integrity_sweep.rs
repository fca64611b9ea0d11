//! restore-verification's S3 integrity sweep against the local emulator (moto server, pinned):
//! a primary bucket in us-east-1, its replica in us-west-2 (filled by this test the way S3
//! replication would, since moto stores replication rules but replicates nothing), with a known
//! number of injected mismatches. Both ways of proving a match: `compare: listing` (the default:
//! size and ETag from the two listings, HeadObject only where those cannot decide) and
//! `compare: checksum` (HeadObject for every object).
// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use aws_sdk_s3::types::ChecksumAlgorithm;
use chrono::Utc;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Outcome, Severity, Status, Verdict};
use lifeboat_tests::{Emulator, DR, PRIMARY};
use restore_verification::sweeps::plan::SweepReport;
use restore_verification::App;
use serde_json::{json, Value};

use crate::util;

const OBJECTS: usize = 200;

struct World {
    emu: Emulator,
    app: App,
    primary: aws_sdk_s3::Client,
    replica: aws_sdk_s3::Client,
}

fn body(i: usize) -> Vec<u8> {
    format!(
        "{{\"order\": {i}, \"items\": [{}]}}\n",
        (0..(i % 50))
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
    .repeat(20)
    .into_bytes()
}

/// Puts OBJECTS objects under backups/ in the primary and their copies in the replica, each side
/// with the given checksum algorithm; then damages `corrupt` replica objects and drops `missing`.
/// The sweep proves matches the `compare` way.
async fn world(
    source_alg: ChecksumAlgorithm,
    replica_alg: ChecksumAlgorithm,
    corrupt: usize,
    missing: usize,
    compare: &str,
) -> World {
    let emu = util::world().emulator_only();
    let primary = lifeboat_tests::s3(&emu.config(PRIMARY).await);
    let replica = lifeboat_tests::s3(&emu.config(DR).await);
    primary
        .create_bucket()
        .bucket("backups-primary")
        .send()
        .await
        .unwrap();
    primary
        .create_bucket()
        .bucket("lifeboat-reports")
        .send()
        .await
        .unwrap();
    lifeboat_tests::create_dr_bucket(&replica, "backups-replica").await;
    for i in 0..OBJECTS {
        let key = format!("backups/orders/part-{i:04}.json");
        primary
            .put_object()
            .bucket("backups-primary")
            .key(&key)
            .checksum_algorithm(source_alg.clone())
            .body(body(i).into())
            .send()
            .await
            .unwrap();
        if i < missing {
            continue;
        }
        let mut data = body(i);
        if i >= missing && i < missing + corrupt {
            data[3] ^= 0x20; // one flipped bit's worth of damage, same size
        }
        replica
            .put_object()
            .bucket("backups-replica")
            .key(&key)
            .checksum_algorithm(replica_alg.clone())
            .body(data.into())
            .send()
            .await
            .unwrap();
    }
    let sns = aws_sdk_sns::Client::new(&emu.config(PRIMARY).await);
    let topic = sns
        .create_topic()
        .name("lifeboat-reports")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let policy = Policy::parse(&format!(
        "version: 1\nbuckets: {{backup: backups-primary}}\nthresholds: {{mismatch_rate_percent: 0.5}}\nverification:\n  sweeps:\n    - {{name: crr, source: {{bucket: backups-primary, prefix: backups/}}, replica: {{bucket: backups-replica, prefix: backups/, region: us-west-2}}, sample_rate: 0.01, concurrency: 8, compare: {compare}}}\n",
    ))
    .unwrap();
    let aws = Aws::from_config(emu.config(PRIMARY).await).unwrap();
    let env = Env {
        policy: "inline".into(),
        report_topic_arn: topic,
        report_bucket: "lifeboat-reports".into(),
        local_endpoints: Default::default(),
    };
    World {
        app: App::new(aws, env, policy),
        emu,
        primary,
        replica,
    }
}

fn sweep_of(report: &lifeboat_shared::report::Report) -> SweepReport {
    serde_json::from_value(report.details["sweeps"][0].clone()).unwrap()
}

async fn run(w: &World, cmd: Value) -> lifeboat_shared::report::Report {
    restore_verification::invoke(&w.app, &cmd, "req-1", Utc::now(), None)
        .await
        .unwrap()
        .report()
        .expect("a sweep always reports")
        .clone()
}

#[tokio::test]
async fn listings_decide_and_only_what_they_cannot_is_read() {
    let w = world(
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc64Nvme,
        3,
        1,
        "listing",
    )
    .await;
    // A truncated replica object (another size) and one rewritten by a multipart upload: the
    // same bytes under another ETag, which the listing cannot prove equal.
    let last = format!("backups/orders/part-{:04}.json", OBJECTS - 1);
    let short = body(OBJECTS - 1)[..100].to_vec();
    w.replica
        .put_object()
        .bucket("backups-replica")
        .key(&last)
        .body(short.into())
        .send()
        .await
        .unwrap();
    let rewritten = format!("backups/orders/part-{:04}.json", OBJECTS - 2);
    let upload = w
        .replica
        .create_multipart_upload()
        .bucket("backups-replica")
        .key(&rewritten)
        .send()
        .await
        .unwrap();
    let part = w
        .replica
        .upload_part()
        .bucket("backups-replica")
        .key(&rewritten)
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .body(body(OBJECTS - 2).into())
        .send()
        .await
        .unwrap();
    w.replica
        .complete_multipart_upload()
        .bucket("backups-replica")
        .key(&rewritten)
        .upload_id(upload.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let report = run(&w, json!({"action": "sweep", "sample_rate": 1})).await;
    let s = sweep_of(&report);
    assert_eq!((s.total_listed, s.total_sampled), (OBJECTS, OBJECTS));
    let reasons: Vec<&str> = s
        .mismatch_details
        .iter()
        .map(|m| m.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert!(
        reasons[0].starts_with("missing in the replica"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.starts_with("CRC64NVME"))
            .count(),
        3,
        "the damaged objects (same size, other ETag) are proven different by their checksums"
    );
    assert_eq!(
        s.mismatch_details.last().unwrap().reason,
        format!(
            "size {} in the source, 100 in the replica",
            body(OBJECTS - 1).len()
        )
    );
    assert_eq!(
        s.compared_by_etag,
        OBJECTS - 6,
        "every other object by its listing"
    );
    // The rewrite carries no full-object CRC64NVME (a multipart upload without a checksum), so
    // its bytes decide: both sides streamed and hashed.
    assert_eq!(
        (s.compared_by_checksum, s.compared_by_hash, s.bytes_hashed),
        (0, 1, 2 * body(OBJECTS - 2).len() as u64),
        "the multipart rewrite is proven equal from its bytes, not its ETag"
    );
    // One LIST per side (200 objects: one page each), HEAD on both sides for the 3 damaged
    // objects and the rewritten one, and a GET per side for the rewritten one.
    assert_eq!(s.api_calls, 2 + 2 * 4 + 2, "{s:#?}");
    assert_eq!(s.status, "FAIL");
    assert_eq!(report.status, Status::Critical);
    drop(w.emu);
}

#[tokio::test]
async fn stored_checksums_decide_without_reading_a_byte() {
    let w = world(
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc64Nvme,
        3,
        1,
        "checksum",
    )
    .await;
    let report = run(&w, json!({"action": "sweep", "sample_rate": 1})).await;
    let s = sweep_of(&report);
    assert_eq!((s.total_listed, s.total_sampled), (OBJECTS, OBJECTS));
    assert_eq!(s.mismatch_details.len(), 4, "{:#?}", s.mismatch_details);
    assert_eq!(s.mismatch_rate_percent, 2.0);
    assert_eq!(s.status, "FAIL");
    assert_eq!(s.compared_by_checksum, OBJECTS - 4);
    assert_eq!(
        (s.compared_by_hash, s.bytes_hashed),
        (0, 0),
        "no body read when both sides store CRC64NVME"
    );
    assert!(s
        .mismatch_details
        .iter()
        .any(|m| m.reason.starts_with("missing in the replica")));
    assert!(
        s.mismatch_details
            .iter()
            .filter(|m| m.reason.starts_with("CRC64NVME"))
            .count()
            == 3
    );
    // One HEAD per object per side, plus the listing.
    assert_eq!(s.api_calls, 2 * OBJECTS + 1);
    assert_eq!(report.status, Status::Critical);
    // Not armed: nothing re-copied, and the report says how to arm it.
    let deferred: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.kind == "repair-object")
        .collect();
    assert_eq!(deferred.len(), 4);
    assert!(deferred
        .iter()
        .all(|a| a.outcome == Outcome::Deferred && a.reason.contains("not armed")));
    let head = w
        .replica
        .head_object()
        .bucket("backups-replica")
        .key("backups/orders/part-0000.json")
        .send()
        .await;
    assert!(head.is_err(), "the missing object is still missing");
    drop(w.emu);
}

#[tokio::test]
async fn different_algorithms_fall_back_to_streaming_and_hashing() {
    let w = world(
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Sha256,
        2,
        0,
        "checksum",
    )
    .await;
    let report = run(&w, json!({"action": "sweep", "sample_rate": 1})).await;
    let s = sweep_of(&report);
    assert_eq!(s.mismatch_details.len(), 2);
    assert!(s
        .mismatch_details
        .iter()
        .all(|m| m.reason.starts_with("CRC64NVME of the bodies differ")));
    assert_eq!(s.compared_by_hash, OBJECTS - 2);
    let total: usize = (0..OBJECTS).map(|i| body(i).len()).sum();
    assert_eq!(
        s.bytes_hashed,
        2 * total as u64,
        "both sides of every object read once"
    );
    assert_eq!(s.api_calls, 4 * OBJECTS + 1);
}

#[tokio::test]
async fn sampling_and_armed_repair() {
    let w = world(
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc64Nvme,
        2,
        1,
        "listing",
    )
    .await;
    // The policy's 1% sample of 200 objects: a handful, the same for the same run.
    let sampled = sweep_of(&run(&w, json!({"action": "sweep", "dry_run": true})).await);
    assert!(sampled.total_sampled < 20, "{}", sampled.total_sampled);
    let again = sweep_of(&run(&w, json!({"action": "sweep", "dry_run": true})).await);
    assert_eq!(
        sampled.total_sampled, again.total_sampled,
        "a retried run samples the same objects"
    );

    // A dry run plans the repair and changes nothing.
    let dry = run(
        &w,
        json!({"action": "sweep", "sample_rate": 1, "repair": true, "dry_run": true}),
    )
    .await;
    assert!(dry.actions.iter().all(|a| a.outcome == Outcome::Planned));
    assert_eq!(sweep_of(&dry).mismatch_details.len(), 3);

    // Armed: re-copied from the source of truth; the next sweep passes.
    let armed = run(
        &w,
        json!({"action": "sweep", "sample_rate": 1, "repair": true}),
    )
    .await;
    assert_eq!(
        armed
            .actions
            .iter()
            .filter(|a| a.outcome == Outcome::Done)
            .count(),
        3,
        "{}",
        armed.render_text()
    );
    // Every mismatch re-copied and verified equal: the sweep passes with a warning naming the
    // repaired objects (the replica was damaged), never a critical "0 passed, 1 failed".
    assert_eq!(armed.status, Status::Warning, "{}", armed.render_text());
    assert_eq!(armed.verdicts(Verdict::Pass), 1, "{}", armed.render_text());
    assert_eq!(armed.verdicts(Verdict::Fail), 0, "{}", armed.render_text());
    assert!(
        armed.decisions[0]
            .reason
            .starts_with("3 mismatches found and repaired (re-copied from the source, verified)"),
        "{}",
        armed.decisions[0].reason
    );
    assert!(
        armed.headline.starts_with("integrity sweeps: 1 passed")
            && armed.headline.ends_with("0 failed"),
        "{}",
        armed.headline
    );
    let repaired = armed
        .findings
        .iter()
        .find(|f| f.severity == Severity::Warning && f.message.contains("repaired"))
        .unwrap_or_else(|| {
            panic!(
                "a warning names the repaired objects: {}",
                armed.render_text()
            )
        });
    for i in 0..3 {
        assert!(
            repaired
                .message
                .contains(&format!("backups/orders/part-{i:04}.json")),
            "{}",
            repaired.message
        );
    }
    let after = sweep_of(&run(&w, json!({"action": "sweep", "sample_rate": 1})).await);
    assert_eq!(
        (after.status.as_str(), after.mismatch_details.len()),
        ("PASS", 0)
    );
    let fixed = w
        .replica
        .get_object()
        .bucket("backups-replica")
        .key("backups/orders/part-0001.json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        fixed.body.collect().await.unwrap().into_bytes().to_vec(),
        body(1)
    );
    let _ = &w.primary;
}

#[tokio::test]
async fn replication_lag_checks_canaries_in_flight_are_not_backups_to_compare() {
    // Given a clean replica, and a canary replication-lag-check just wrote under the swept
    // prefix (backups/lifeboat-canary/): not yet replicated, as a canary in flight is
    let w = world(
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Crc64Nvme,
        0,
        0,
        "listing",
    )
    .await;
    w.primary
        .put_object()
        .bucket("backups-primary")
        .key("backups/lifeboat-canary/20261207T2000Z-run.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    // When every object is swept
    let report = run(&w, json!({"action": "sweep", "sample_rate": 1})).await;
    let s = sweep_of(&report);
    // Then the canary is neither sampled nor a mismatch: the sweep passes
    assert!(s.mismatch_details.is_empty(), "{:#?}", s.mismatch_details);
    assert_eq!(s.total_sampled, OBJECTS);
    assert_eq!(s.status, "PASS");
    drop(w.emu);
}
