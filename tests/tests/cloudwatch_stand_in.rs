// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! CloudWatch from the Rust SDK against the emulator, through the named test stand-in
//! `scripts/cbor_stand_in.py`: moto 5.2.5 does not speak Smithy rpcv2Cbor, the only protocol the
//! SDK's CloudWatch client speaks, so the launcher (`scripts/moto_server.py`) puts a translator in
//! front of moto (CBOR in, awsJson 1.0 to moto, CBOR back, timestamps as CBOR tag 1). These tests
//! pin what the stand-in must carry: metric data in and out with its values and timestamps, empty
//! answers, listing, moto's error codes (not a 404), gzip-compressed requests, alarms and
//! dashboards. The values are moto's: the stand-in only translates.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
    Statistic,
};
use aws_smithy_runtime_api::client::result::SdkError;
use lifeboat_tests::{config_for, Emulator, PRIMARY};

const NAMESPACE: &str = "AWS/S3";
const LATENCY: &str = "ReplicationLatency";

async fn client(emu: &Emulator) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&config_for(&emu.endpoint, PRIMARY).await)
}

/// The start of the current minute, epoch seconds: periods counted from a whole minute.
fn this_minute() -> i64 {
    let now = chrono::Utc::now().timestamp();
    now - now.rem_euclid(60)
}

fn replication_dimensions() -> Vec<Dimension> {
    [
        ("SourceBucket", "ecommerce-backups-prod-us-east-1"),
        ("DestinationBucket", "ecommerce-backups-prod-us-west-2"),
        ("RuleId", "backups-to-dr"),
    ]
    .into_iter()
    .map(|(name, value)| Dimension::builder().name(name).value(value).build())
    .collect()
}

fn datum(name: &str, at: i64, value: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(replication_dimensions()))
        .timestamp(DateTime::from_secs(at))
        .value(value)
        .unit(StandardUnit::Seconds)
        .build()
}

fn query(id: &str, metric: &str, stat: &str, period: i32) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(metric)
                        .set_dimensions(Some(replication_dimensions()))
                        .build(),
                )
                .period(period)
                .stat(stat)
                .build(),
        )
        .build()
}

/// Each query id's answer as (epoch seconds -> value), checking the two lists pair up.
fn answers(
    out: &aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput,
) -> BTreeMap<String, BTreeMap<i64, f64>> {
    out.metric_data_results()
        .iter()
        .map(|r| {
            assert_eq!(
                r.timestamps().len(),
                r.values().len(),
                "query {:?}: one timestamp per value",
                r.id()
            );
            let points = r
                .timestamps()
                .iter()
                .map(|t| t.secs())
                .zip(r.values().iter().copied())
                .collect();
            (r.id().unwrap().to_string(), points)
        })
        .collect()
}

#[tokio::test]
async fn metric_data_round_trips_with_values_and_timestamps() {
    let emu = Emulator::start();
    let cw = client(&emu).await;
    let minute = this_minute();

    cw.put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(datum(LATENCY, minute - 180, 10.0))
        .metric_data(datum(LATENCY, minute - 180 + 20, 30.0))
        .metric_data(datum(LATENCY, minute - 120, 5.5))
        .metric_data(datum(LATENCY, minute - 60 + 45, 7.0))
        .send()
        .await
        .unwrap();

    let out = cw
        .get_metric_data()
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute + 60))
        .metric_data_queries(query("latency_max", LATENCY, "Maximum", 60))
        .metric_data_queries(query("latency_sum", LATENCY, "Sum", 60))
        .metric_data_queries(query("latency_sum_5m", LATENCY, "Sum", 300))
        .metric_data_queries(query("absent", "OperationsFailedReplication", "Sum", 60))
        .send()
        .await
        .unwrap();
    let got = answers(&out);
    println!("GetMetricData answers: {got:?}");

    let expect = |points: &[(i64, f64)]| -> BTreeMap<i64, f64> {
        points.iter().map(|&(t, v)| (minute + t, v)).collect()
    };
    assert_eq!(
        got["latency_max"],
        expect(&[(-180, 30.0), (-120, 5.5), (-60, 7.0)])
    );
    assert_eq!(
        got["latency_sum"],
        expect(&[(-180, 40.0), (-120, 5.5), (-60, 7.0)])
    );
    // Periods count from StartTime (minute - 600): all four points fall in the second one.
    assert_eq!(got["latency_sum_5m"], expect(&[(-300, 52.5)]));
    // A metric with no data: an empty answer, not an error.
    assert_eq!(got["absent"], BTreeMap::new());
    assert_eq!(got.len(), 4, "one result per query: {got:?}");

    let listed = cw
        .list_metrics()
        .namespace(NAMESPACE)
        .metric_name(LATENCY)
        .send()
        .await
        .unwrap();
    let metric = listed
        .metrics()
        .iter()
        .find(|m| m.metric_name() == Some(LATENCY) && m.namespace() == Some(NAMESPACE))
        .unwrap_or_else(|| panic!("ListMetrics lacks {LATENCY}: {listed:?}"));
    let mut dims: Vec<_> = metric
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    dims.sort();
    assert_eq!(
        dims,
        [
            ("DestinationBucket", "ecommerce-backups-prod-us-west-2"),
            ("RuleId", "backups-to-dr"),
            ("SourceBucket", "ecommerce-backups-prod-us-east-1"),
        ]
    );
}

#[tokio::test]
async fn large_put_metric_data_is_gzip_compressed_and_still_arrives() {
    // 400 datapoints make a CBOR body well over the SDK's 10 KiB request-compression threshold,
    // so the SDK sends it with Content-Encoding: gzip.
    let emu = Emulator::start();
    let cw = client(&emu).await;
    let minute = this_minute();
    let data: Vec<_> = (0..400)
        .map(|i| datum("OperationsPendingReplication", minute - 540 + i, 1.0))
        .collect();
    cw.put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
    let out = cw
        .get_metric_data()
        .start_time(DateTime::from_secs(minute - 600))
        .end_time(DateTime::from_secs(minute))
        .metric_data_queries(query("pending", "OperationsPendingReplication", "Sum", 600))
        .send()
        .await
        .unwrap();
    let got = answers(&out);
    assert_eq!(
        got["pending"],
        BTreeMap::from([(minute - 600, 400.0)]),
        "all 400 datapoints arrived"
    );
}

#[tokio::test]
async fn moto_errors_reach_the_sdk_with_their_codes() {
    let emu = Emulator::start();
    let cw = client(&emu).await;
    let minute = this_minute();

    // EndTime before StartTime: moto refuses it.
    let err = cw
        .get_metric_data()
        .start_time(DateTime::from_secs(minute))
        .end_time(DateTime::from_secs(minute - 600))
        .metric_data_queries(query("latency_max", LATENCY, "Maximum", 60))
        .send()
        .await
        .unwrap_err();
    let status = err.raw_response().map(|r| r.status().as_u16());
    println!(
        "GetMetricData EndTime < StartTime: status {status:?}, code {:?}, message {:?}",
        err.code(),
        err.message()
    );
    assert!(
        matches!(err, SdkError::ServiceError(_)),
        "a service error: {err:?}"
    );
    assert_eq!(status, Some(400));
    assert_eq!(err.code(), Some("ValidationError"));
    assert!(
        err.message()
            .is_some_and(|m| m.contains("EndTime must be greater than StartTime")),
        "moto's message: {:?}",
        err.message()
    );

    // A modeled error: the SDK maps moto's code onto its error variant.
    let err = cw
        .get_dashboard()
        .dashboard_name("no-such-dashboard")
        .send()
        .await
        .unwrap_err();
    println!(
        "GetDashboard of a missing dashboard: code {:?}, message {:?}",
        err.code(),
        err.message()
    );
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_dashboard_not_found_error()),
        "DashboardNotFoundError: {err:?}"
    );
    assert_eq!(err.code(), Some("ResourceNotFound"));
}

#[tokio::test]
async fn alarms_and_dashboards_round_trip() {
    let emu = Emulator::start();
    let cw = client(&emu).await;

    cw.put_metric_alarm()
        .alarm_name("replication-lag")
        .alarm_description("S3 replication to the DR bucket lags")
        .namespace(NAMESPACE)
        .metric_name(LATENCY)
        .set_dimensions(Some(replication_dimensions()))
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(5)
        .datapoints_to_alarm(3)
        .threshold(900.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("breaching")
        .send()
        .await
        .unwrap();
    let alarms = cw
        .describe_alarms()
        .alarm_names("replication-lag")
        .send()
        .await
        .unwrap();
    let [alarm] = alarms.metric_alarms() else {
        panic!("one alarm: {alarms:?}");
    };
    assert_eq!(alarm.alarm_name(), Some("replication-lag"));
    assert_eq!(alarm.metric_name(), Some(LATENCY));
    assert_eq!(alarm.statistic(), Some(&Statistic::Maximum));
    assert_eq!(alarm.period(), Some(60));
    assert_eq!(alarm.evaluation_periods(), Some(5));
    assert_eq!(alarm.datapoints_to_alarm(), Some(3));
    assert_eq!(alarm.threshold(), Some(900.0));
    assert_eq!(
        alarm.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(alarm.treat_missing_data(), Some("breaching"));
    assert_eq!(alarm.dimensions().len(), 3);
    // A timestamp member: CBOR tag 1 from the stand-in, a recent time to the SDK.
    let updated = alarm
        .alarm_configuration_updated_timestamp()
        .unwrap()
        .secs();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - 300..=now + 60).contains(&updated),
        "configuration updated at {updated}, now {now}"
    );

    let body = r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":3,"properties":{"markdown":"Lifeboat"}}]}"#;
    let put = cw
        .put_dashboard()
        .dashboard_name("lifeboat")
        .dashboard_body(body)
        .send()
        .await
        .unwrap();
    assert!(put.dashboard_validation_messages().is_empty(), "{put:?}");
    let got = cw
        .get_dashboard()
        .dashboard_name("lifeboat")
        .send()
        .await
        .unwrap();
    assert_eq!(got.dashboard_name(), Some("lifeboat"));
    assert_eq!(got.dashboard_body(), Some(body));
    assert!(
        got.dashboard_arn()
            .is_some_and(|a| a.ends_with(":dashboard/lifeboat")),
        "{got:?}"
    );
}

#[tokio::test]
async fn s3_replication_metrics_are_refused_outside_the_region_aws_publishes_them_in() {
    // Given the seeded pair's buckets: the source in us-east-1, the destination in us-west-2
    let emu = Emulator::start();
    let primary = config_for(&emu.endpoint, PRIMARY).await;
    let dr = config_for(&emu.endpoint, lifeboat_tests::DR).await;
    lifeboat_tests::s3(&primary)
        .create_bucket()
        .bucket("ecommerce-backups-prod-us-east-1")
        .send()
        .await
        .unwrap();
    lifeboat_tests::create_dr_bucket(&lifeboat_tests::s3(&dr), "ecommerce-backups-prod-us-west-2")
        .await;
    let (cw, cw_dr) = (
        aws_sdk_cloudwatch::Client::new(&primary),
        aws_sdk_cloudwatch::Client::new(&dr),
    );
    let put = |cw: &aws_sdk_cloudwatch::Client, metric: &str| {
        cw.put_metric_data().namespace(NAMESPACE).metric_data(datum(
            metric,
            this_minute() - 60,
            1.0,
        ))
    };
    // When ReplicationLatency is put in the source's region, and failures in the destination's
    for (client, metric) in [(&cw, LATENCY), (&cw_dr, "OperationsFailedReplication")] {
        let err = put(client, metric).send().await.unwrap_err();
        // Then the stand-in refuses it, naming where AWS publishes it
        assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");
        assert!(
            err.message().unwrap_or_default().contains("AWS publishes"),
            "{err:?}"
        );
    }
    // and where AWS publishes them, they are taken
    put(&cw_dr, LATENCY).send().await.unwrap();
    put(&cw_dr, "OperationsPendingReplication")
        .send()
        .await
        .unwrap();
    put(&cw, "OperationsFailedReplication")
        .send()
        .await
        .unwrap();
}
