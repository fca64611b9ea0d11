// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! The fault proxy itself (`scripts/fault_proxy.py` through [`lifeboat_tests::faults`]): the
//! faults it injects reach the SDK as the AWS errors they stand for, "after" faults lose the
//! answer of a call that happened, "before" faults keep the call from happening, and rates,
//! skips and counts are exact and repeatable. Each test has its own emulator and proxy, and
//! SDK clients without retries, so every fault is seen as it was injected.

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::result::SdkError;
use lifeboat_tests::faults::{self, Fault, FaultProxy, Rule, When};
use lifeboat_tests::{config_for, Emulator, PRIMARY};

/// An emulator, the proxy in front of it, and SDK configuration (no retries) for the proxy.
async fn setup() -> (Emulator, FaultProxy, SdkConfig) {
    let emu = Emulator::start();
    let proxy = FaultProxy::start(&emu.endpoint);
    let config = config_for(&proxy.endpoint, PRIMARY)
        .await
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    (emu, proxy, config)
}

fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: &str) -> Result<(), String> {
    s3.put_object()
        .bucket("faults")
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.code().unwrap_or("<no code>").to_string())
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> String {
    let out = s3
        .get_object()
        .bucket("faults")
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = out.body.collect().await.unwrap().into_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_lost_answer_is_an_error_for_a_write_that_happened() {
    let (_emu, proxy, config) = setup().await;
    let s3 = s3(&config);
    s3.create_bucket().bucket("faults").send().await.unwrap();
    proxy.set_rules(7, &[Rule::lost_answer("s3", "PutObject")]);

    let err = s3
        .put_object()
        .bucket("faults")
        .key("report.txt")
        .body(ByteStream::from_static(b"first"))
        .send()
        .await
        .expect_err("the lost answer is an error");
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    // ... yet the write happened.
    assert_eq!(get(&s3, "report.txt").await, "first");
    // count 1: the next write gets its answer.
    put(&s3, "report.txt", "second").await.unwrap();
    assert_eq!(get(&s3, "report.txt").await, "second");

    let log = proxy.log();
    let puts: Vec<_> = log.iter().filter(|r| r.operation == "PutObject").collect();
    assert_eq!(puts.len(), 2, "{log:#?}");
    let lost = puts[0];
    assert_eq!(lost.service, "s3");
    assert_eq!(lost.region, PRIMARY);
    assert_eq!(lost.method, "PUT");
    assert_eq!(lost.path, "/faults/report.txt");
    assert_eq!(lost.fault.as_deref(), Some("error"));
    assert_eq!(lost.when.as_deref(), Some("after"));
    assert!(lost.forwarded);
    assert_eq!(lost.status, Some(500));
    assert_eq!(lost.rule, Some(0));
    assert_eq!(puts[1].fault, None);
    assert_eq!(puts[1].status, Some(200));
    assert_eq!(faults::faults(&log), 1);
    assert_eq!(faults::count(&log, "s3", "GetObject"), 2);
    assert_eq!(faults::count(&log, "s3", "CreateBucket"), 1);
    // The log file has the same lines.
    let lines = std::fs::read_to_string(&proxy.log_file).unwrap();
    assert_eq!(lines.lines().count(), log.len());

    proxy.clear_log();
    assert!(proxy.log().is_empty());
}

#[tokio::test]
async fn before_faults_keep_the_call_from_happening() {
    let (_emu, proxy, config) = setup().await;
    let rds = aws_sdk_rds::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let s3 = s3(&config);
    rds.create_db_instance()
        .db_instance_identifier("faults-db")
        .engine("postgres")
        .db_instance_class("db.t4g.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("not-a-real-password")
        .send()
        .await
        .unwrap();
    let topic = sns.create_topic().name("faults").send().await.unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_string();
    s3.create_bucket().bucket("faults").send().await.unwrap();
    put(&s3, "a.txt", "a").await.unwrap();

    proxy.set_rules(
        1,
        &[
            Rule::default()
                .service("rds")
                .operation("CreateDBSnapshot")
                .fault(Fault::Throttle),
            Rule::default().service("sns").operation("Publish"),
            Rule::default()
                .service("s3")
                .operation("HeadObject")
                .fault(Fault::Reset),
        ],
    );

    // RDS (query protocol) throttled: the snapshot was never taken.
    let err = rds
        .create_db_snapshot()
        .db_instance_identifier("faults-db")
        .db_snapshot_identifier("faults-snap")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded"));
    let snapshots = rds
        .describe_db_snapshots()
        .db_instance_identifier("faults-db")
        .send()
        .await
        .unwrap();
    // (moto takes an automated snapshot of a new instance: only that one.)
    assert!(
        snapshots
            .db_snapshots()
            .iter()
            .all(|s| s.db_snapshot_identifier() != Some("faults-snap")),
        "{snapshots:?}"
    );

    // SNS (query protocol) failing: InternalFailure.
    let err = sns
        .publish()
        .topic_arn(&topic_arn)
        .message("hello")
        .send()
        .await
        .expect_err("publish fails");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));

    // A reset is no service error: the connection failed.
    let err = s3
        .head_object()
        .bucket("faults")
        .key("a.txt")
        .send()
        .await
        .expect_err("reset");
    assert!(err.as_service_error().is_none(), "{err:?}");
    assert!(
        matches!(&err, SdkError::DispatchFailure(d) if d.is_io()),
        "{err:?}"
    );

    // Everything else went through, and the log names every operation.
    let objects = s3.list_objects_v2().bucket("faults").send().await.unwrap();
    assert_eq!(objects.key_count(), Some(1));
    assert_eq!(get(&s3, "a.txt").await, "a");
    let log = proxy.log();
    let ops: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.service.as_str(), r.operation.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("rds", "CreateDBInstance"),
            ("sns", "CreateTopic"),
            ("s3", "CreateBucket"),
            ("s3", "PutObject"),
            ("rds", "CreateDBSnapshot"),
            ("rds", "DescribeDBSnapshots"),
            ("sns", "Publish"),
            ("s3", "HeadObject"),
            ("s3", "ListObjectsV2"),
            ("s3", "GetObject"),
        ],
        "{log:#?}"
    );
    let by_op = |op: &str| log.iter().find(|r| r.operation == op).unwrap();
    let snap = by_op("CreateDBSnapshot");
    assert_eq!(
        (snap.fault.as_deref(), snap.when.as_deref(), snap.forwarded),
        (Some("throttle"), Some("before"), false)
    );
    assert_eq!(snap.status, Some(400));
    assert_eq!(snap.rule, Some(0));
    let publish = by_op("Publish");
    assert_eq!(
        (publish.fault.as_deref(), publish.rule),
        (Some("error"), Some(1))
    );
    assert!(!publish.forwarded);
    let head = by_op("HeadObject");
    assert_eq!((head.fault.as_deref(), head.status), (Some("reset"), None));
    assert!(!head.forwarded);
    assert_eq!(faults::faults(&log), 3);
    assert!(log.iter().all(|r| r.region == PRIMARY), "{log:#?}");
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
}

/// Which of `n` HeadBucket calls failed.
async fn head_buckets(s3: &aws_sdk_s3::Client, n: usize) -> Vec<bool> {
    let mut failed = Vec::with_capacity(n);
    for _ in 0..n {
        failed.push(s3.head_bucket().bucket("faults").send().await.is_err());
    }
    failed
}

#[tokio::test]
async fn rates_skips_and_counts_are_exact_and_repeatable() {
    let (_emu, proxy, config) = setup().await;
    let s3 = s3(&config);
    s3.create_bucket().bucket("faults").send().await.unwrap();

    let half = Rule::random(0.5, When::Before).service("s3");
    proxy.set_rules(42, std::slice::from_ref(&half));
    let first = head_buckets(&s3, 40).await;
    let failed = first.iter().filter(|f| **f).count();
    assert!((8..=32).contains(&failed), "{failed} of 40 failed");
    let log = proxy.log();
    assert_eq!(faults::faults(&log), failed);
    assert_eq!(faults::count(&log, "s3", "HeadBucket"), 40);
    // Replacing the rules restarts the counters and the random generator: the same sequence.
    proxy.set_rules(42, &[half]);
    assert_eq!(head_buckets(&s3, 40).await, first);

    proxy.set_rules(
        0,
        &[Rule::default()
            .service("s3")
            .operation("HeadBucket")
            .skip(3)
            .count(2)],
    );
    let failed = head_buckets(&s3, 8).await;
    assert_eq!(
        failed,
        [false, false, false, true, true, false, false, false]
    );

    // Secrets Manager (awsJson 1.1) failing: InternalFailure.
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    sm.create_secret()
        .name("faults/secret")
        .secret_string("s3cr3t")
        .send()
        .await
        .unwrap();
    proxy.set_rules(0, &[Rule::default().operation("GetSecretValue")]);
    let err = sm
        .get_secret_value()
        .secret_id("faults/secret")
        .send()
        .await
        .expect_err("fails");
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    proxy.clear_rules();
    let value = sm
        .get_secret_value()
        .secret_id("faults/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("s3cr3t"));
    let log = proxy.log();
    let last = log.last().unwrap();
    assert_eq!(
        (last.service.as_str(), last.operation.as_str()),
        ("secretsmanager", "GetSecretValue")
    );
}
