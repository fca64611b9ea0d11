//! The backup target in the walk, under `aws-smithy-mocks` (one S3 client per bucket, as each
//! bucket is reached in its own region): writes go to the target alone, and what earlier runs
//! wrote is read from the bucket they wrote it to.

#![allow(clippy::unwrap_used)]
use super::*;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use lifeboat_shared::backup::{manifest_key, CacheFingerprint, DataFingerprint, Snapshot};

use crate::inventory::Bucket;

const PRIMARY: &str = "backups-primary";
const SECONDARY: &str = "backups-secondary";
const SNAP: &str = "lifeboat-orders-20261001-0000";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn policy() -> Policy {
    Policy::parse(&format!(
        "version: 1\nbuckets: {{backup: {PRIMARY}, dr_backup: {SECONDARY}, target_parameter: /lifeboat/backup-target}}\ncomponents:\n  - {{name: orders-db, kind: rds-instance, ids: [orders]}}\n"
    ))
    .unwrap()
}

fn scope() -> Scope {
    Scope {
        primary_region: "us-east-1".into(),
        dr_region: None,
        only: vec![],
        period_time: t("2026-11-21T03:00:00Z"),
        run_id: "run-9".into(),
    }
}

fn snapshot() -> Snapshot {
    let mut tags = BTreeMap::new();
    tags.insert("lifeboat:managed".to_string(), "true".to_string());
    tags.insert("lifeboat:component".to_string(), "orders-db".to_string());
    Snapshot {
        kind: ResourceKind::RdsInstance,
        id: SNAP.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{SNAP}"),
        source_snapshot_arn: None,
        source_id: "orders".into(),
        region: "us-east-1".into(),
        created_at: Some(t("2026-10-01T00:00:00Z")),
        status: "available".into(),
        manual: true,
        encrypted: false,
        kms_key_id: None,
        size_gb: Some(20),
        engine: Some("postgres".into()),
        tags,
    }
}

fn key() -> String {
    manifest_key(ResourceKind::RdsInstance, "orders", SNAP)
}

/// The manifest of [`SNAP`] as a run at `at` wrote it, with a fingerprint of `keys` keys.
fn manifest(at: &str, keys: Option<i64>) -> Manifest {
    let p = policy();
    let mut m = crate::plan::manifest_for(
        &snapshot(),
        "orders-db",
        &p.settings_by_name("orders-db"),
        None,
        &Inventory::default(),
        &scope(),
        PRIMARY,
        t(at),
    )
    .0;
    m.fingerprint = keys.map(|keys| {
        DataFingerprint::Redis(CacheFingerprint {
            taken_at: t(at),
            keys,
        })
    });
    m
}

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mocked reply)"))
        .build()
}

/// GetObject of `key` answering `body` (None: NoSuchKey).
fn get(key: String, body: Option<Vec<u8>>) -> Rule {
    let rule = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(move |r| r.key() == Some(key.as_str()));
    match body {
        Some(b) => rule.then_output(move || {
            GetObjectOutput::builder()
                .body(aws_sdk_s3::primitives::ByteStream::from(b.clone()))
                .e_tag("\"etag\"")
                .build()
        }),
        None => rule.then_error(|| {
            GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder()
                    .meta(meta("NoSuchKey"))
                    .build(),
            )
        }),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(v).unwrap())
}

/// The secondary as the target, the primary read after it (a failover).
fn failover(secondary: aws_sdk_s3::Client, primary: aws_sdk_s3::Client) -> Buckets {
    let s = Bucket {
        name: SECONDARY.into(),
        s3: secondary,
    };
    Buckets {
        write: Some(s.clone()),
        read: vec![
            s,
            Bucket {
                name: PRIMARY.into(),
                s3: primary,
            },
        ],
    }
}

#[test]
fn writes_go_to_the_target_and_reads_to_both_buckets_when_a_parameter_is_set() {
    let c = Clients {
        rds: mock_client!(aws_sdk_rds, []),
        rds_dr: None,
        elasticache: mock_client!(aws_sdk_elasticache, []),
        s3: mock_client!(aws_sdk_s3, []),
        secrets: mock_client!(aws_sdk_secretsmanager, []),
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
    };
    let names = |b: &Buckets| {
        (
            b.write.as_ref().map(|w| w.name.clone()),
            b.read.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        )
    };
    let p = policy();
    let secondary = Destination::Secondary {
        bucket: SECONDARY.into(),
        parameter: "/lifeboat/backup-target".into(),
        region: "us-west-2".into(),
    };
    // Given each target of a policy with a target parameter
    for (target, write, read) in [
        (Destination::Primary, Some(PRIMARY), [PRIMARY, SECONDARY]),
        (secondary, Some(SECONDARY), [SECONDARY, PRIMARY]),
        (
            Destination::Unknown("why".into()),
            None,
            [PRIMARY, SECONDARY],
        ),
    ] {
        // Then writes go to the target alone, and reads look in it first, then the other
        let b = Buckets::new(&c, None, &p, &target);
        assert_eq!(
            names(&b),
            (
                write.map(str::to_string),
                read.iter().map(|s| s.to_string()).collect()
            ),
            "{target:?}"
        );
    }
    // And a policy without one reads and writes buckets.backup alone, as before
    let plain = Policy::parse(&format!(
        "version: 1\nbuckets: {{backup: {PRIMARY}, dr_backup: {SECONDARY}}}\n"
    ))
    .unwrap();
    assert_eq!(
        names(&Buckets::primary(&c, &plain)),
        (Some(PRIMARY.to_string()), vec![PRIMARY.to_string()])
    );
}

#[tokio::test]
async fn a_manifest_is_read_from_the_bucket_it_was_written_to_the_newer_copy_winning() {
    // Given the manifest only in the primary (written before the failover)
    let none = get(key(), None);
    let old = get(key(), json(&manifest("2026-10-01T00:10:00Z", Some(7))));
    let b = failover(
        mock_client!(aws_sdk_s3, [&none]),
        mock_client!(aws_sdk_s3, [&old]),
    );
    // Then it is found there
    let m = latest_manifest(&b, &key()).await.unwrap().unwrap();
    assert_eq!(m.written_at, t("2026-10-01T00:10:00Z"));
    assert_eq!((none.num_calls(), old.num_calls()), (1, 1));

    // Given a copy in each (the secondary's written during a failover, after the primary's)
    let newer = get(key(), json(&manifest("2026-11-20T00:10:00Z", Some(9))));
    let older = get(key(), json(&manifest("2026-10-01T00:10:00Z", Some(7))));
    let b = failover(
        mock_client!(aws_sdk_s3, [&newer]),
        mock_client!(aws_sdk_s3, [&older]),
    );
    // Then the newer is the manifest, whichever bucket holds it
    let m = latest_manifest(&b, &key()).await.unwrap().unwrap();
    assert_eq!(m.written_at, t("2026-11-20T00:10:00Z"));
    // ... also with the buckets the other way round (after failback)
    let newer = get(key(), json(&manifest("2026-11-20T00:10:00Z", Some(9))));
    let older = get(key(), json(&manifest("2026-10-01T00:10:00Z", Some(7))));
    let b = failover(
        mock_client!(aws_sdk_s3, [&older]),
        mock_client!(aws_sdk_s3, [&newer]),
    );
    let m = latest_manifest(&b, &key()).await.unwrap().unwrap();
    assert_eq!(m.written_at, t("2026-11-20T00:10:00Z"));

    // Given the primary unreachable (its region down)
    let down = mock!(aws_sdk_s3::Client::get_object)
        .then_error(|| GetObjectError::generic(meta("ServiceUnavailable")));
    let here = get(key(), json(&manifest("2026-11-20T00:10:00Z", None)));
    let b = failover(
        mock_client!(aws_sdk_s3, [&here]),
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&down]),
    );
    // Then the secondary's copy is the manifest
    assert!(latest_manifest(&b, &key()).await.unwrap().is_some());
    // And with none in the secondary, not knowing is the error, naming the bucket
    let none = get(key(), None);
    let b = failover(
        mock_client!(aws_sdk_s3, [&none]),
        mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&down]),
    );
    let e = latest_manifest(&b, &key()).await.unwrap_err();
    assert!(
        e.starts_with(&format!("s3://{PRIMARY}/")) && e.contains("ServiceUnavailable"),
        "{e}"
    );
}

#[tokio::test]
async fn a_rewrite_keeps_the_fingerprint_an_earlier_run_wrote_to_the_other_bucket() {
    // Given a manifest update for the secondary, of a component with database access, whose
    // fingerprint the run before the failover recorded in the primary
    let none = get(key(), None);
    let old = get(key(), json(&manifest("2026-10-01T00:10:00Z", Some(7))));
    let b = failover(
        mock_client!(aws_sdk_s3, [&none]),
        mock_client!(aws_sdk_s3, [&old]),
    );
    let mut steps = vec![Planned {
        step: Step::WriteManifest {
            snapshot: snapshot(),
            key: key(),
            manifest: Box::new(manifest("2026-11-21T03:00:00Z", None)),
            settled: false,
            carry_fingerprint: true,
        },
        action: Action::new("write-manifest", SNAP, "test"),
        blocked: None,
        deferred: false,
    }];
    // When the fingerprints are carried
    carry_fingerprints(&b, &mut steps).await;
    // Then the update carries the primary's fingerprint
    let Step::WriteManifest { manifest, .. } = &steps[0].step else {
        unreachable!()
    };
    assert_eq!(
        manifest.fingerprint,
        Some(DataFingerprint::Redis(CacheFingerprint {
            taken_at: t("2026-10-01T00:10:00Z"),
            keys: 7
        }))
    );
}

#[tokio::test]
async fn an_intent_left_in_the_other_bucket_is_settled_into_the_target_and_removed_where_it_was() {
    // Given backups going to the secondary, and a deletion intent a run before the failover left
    // in the primary (the snapshot is gone now; no manifest in either bucket)
    let p = policy();
    let intent = plan::Intent::new(
        &snapshot(),
        Where::Primary,
        "run-0",
        t("2026-11-20T03:00:00Z"),
    );
    let intent_key = intent.key();
    let listed_key = intent_key.clone();
    let list_primary = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(move || {
        ListObjectsV2Output::builder()
            .contents(
                aws_sdk_s3::types::Object::builder()
                    .key(listed_key.clone())
                    .build(),
            )
            .build()
    });
    let list_secondary = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().build());
    let read_intent = get(intent_key.clone(), json(&intent));
    let no_manifest_p = get(key(), None);
    let no_manifest_s = get(key(), None);
    let written = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.bucket() == Some(SECONDARY))
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    let ik = intent_key.clone();
    let removed = mock!(aws_sdk_s3::Client::delete_object)
        .match_requests(move |r| r.bucket() == Some(PRIMARY) && r.key() == Some(ik.as_str()))
        .then_output(|| {
            aws_sdk_s3::operation::delete_object::DeleteObjectOutput::builder().build()
        });
    let b = failover(
        mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&list_secondary, &no_manifest_s, &written]
        ),
        mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&list_primary, &read_intent, &no_manifest_p, &removed]
        ),
    );
    let w = Walk {
        inv: Inventory {
            target: Destination::Secondary {
                bucket: SECONDARY.into(),
                parameter: "/lifeboat/backup-target".into(),
                region: "us-east-1".into(),
            },
            ..Inventory::default()
        },
        plan: Plan::default(),
        changed: false,
        inventory_passes: 1,
        created: Vec::new(),
        fingerprints: BTreeMap::new(),
        fingerprint_missing: BTreeMap::new(),
        deletions: Vec::new(),
        actions: BTreeMap::new(),
    };
    let cx = StepContext {
        bucket: SECONDARY,
        run_id: "run-9",
        now: t("2026-11-21T03:00:00Z"),
    };
    // When the intents are settled
    let actions = settle_intents(&b, &cx, &p, &scope(), &w, false).await;
    // Then the manifest recording the deletion is written to the secondary, and the intent is
    // removed from the primary, where it was
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert_eq!(actions[0].outcome, Outcome::Done, "{:?}", actions[0]);
    assert_eq!(
        actions[0].target.as_deref(),
        Some(format!("s3://{SECONDARY}/{}", key()).as_str())
    );
    assert_eq!((written.num_calls(), removed.num_calls()), (1, 1));
    assert_eq!(list_primary.num_calls() + list_secondary.num_calls(), 2);
}
