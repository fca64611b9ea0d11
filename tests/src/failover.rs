//! The failover world: what failover-orchestrator's plan in infra/policy.local.yaml names, in
//! the seeded account — a Route 53 zone with the database record, the application's database
//! secret in the DR region, the backup-target SSM parameter, the primary's "down" alarm, and
//! (with `Scenario::failover`) the DR read replica of ecommerce-prod-db with its ReplicaLag.

use aws_config::SdkConfig;
use chrono::Utc;

use crate::{put_metric, ACCOUNT, DR, PRIMARY};

/// The plan's names.
pub const REPLICA: &str = "ecommerce-prod-db-replica";
pub const PRIMARY_DB: &str = "ecommerce-prod-db";
pub const ZONE: &str = "ecommerce.internal.";
pub const RECORD: &str = "db.ecommerce.internal.";
pub const APP_SECRET: &str = "ecommerce-prod-db-app";
pub const TARGET_PARAMETER: &str = "/lifeboat/backup-target";
pub const ALARM: &str = "ecommerce-prod-db-down";
/// The host the record and the secret name before any failover.
pub const PRIMARY_HOST: &str = "ecommerce-prod-db.abcdefghijkl.us-east-1.rds.amazonaws.com";

fn dr(config: &SdkConfig) -> SdkConfig {
    config
        .to_builder()
        .region(aws_config::Region::new(DR))
        .build()
}

/// Seeds what every world has (harmless to the other functions); returns the hosted zone id.
pub async fn seed_names(primary: &SdkConfig, backup_bucket: &str) -> String {
    let r53 = aws_sdk_route53::Client::new(primary);
    let zone = r53
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference(format!(
            "lifeboat-{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ))
        .send()
        .await
        .expect("hosted zone");
    let zone_id = zone
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .unwrap_or_default();
    upsert_record(primary, &zone_id, PRIMARY_HOST).await;
    aws_sdk_secretsmanager::Client::new(&dr(primary))
        .create_secret()
        .name(APP_SECRET)
        .secret_string(format!(
            r#"{{"engine":"postgres","host":"{PRIMARY_HOST}","port":5432,"username":"postgres","password":""}}"#
        ))
        .send()
        .await
        .expect("app secret");
    aws_sdk_ssm::Client::new(primary)
        .put_parameter()
        .name(TARGET_PARAMETER)
        .value(backup_bucket)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("backup target parameter");
    aws_sdk_cloudwatch::Client::new(primary)
        .put_metric_alarm()
        .alarm_name(ALARM)
        .namespace("AWS/RDS")
        .metric_name("DatabaseConnections")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("DBInstanceIdentifier")
                .value(PRIMARY_DB)
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
        .send()
        .await
        .expect("alarm");
    zone_id
}

/// The record `db.ecommerce.internal.` CNAME `host`.
pub async fn upsert_record(config: &SdkConfig, zone_id: &str, host: &str) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    aws_sdk_route53::Client::new(config)
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(RECORD)
                                .r#type(RrType::Cname)
                                .ttl(60)
                                .resource_records(
                                    ResourceRecord::builder()
                                        .value(host)
                                        .build()
                                        .expect("value"),
                                )
                                .build()
                                .expect("record"),
                        )
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("record");
}

/// The DR read replica of ecommerce-prod-db, replicating with `lag_seconds` of lag.
pub async fn seed_replica(primary: &SdkConfig, lag_seconds: f64) {
    aws_sdk_rds::Client::new(&dr(primary))
        .create_db_instance_read_replica()
        .db_instance_identifier(REPLICA)
        .source_db_instance_identifier(format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:db:{PRIMARY_DB}"))
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .expect("DR replica");
    replica_lag(primary, DR, REPLICA, lag_seconds).await;
}

/// ReplicaLag datapoints for the last minutes (RDS publishes it in the replica's region).
pub async fn replica_lag(primary: &SdkConfig, region: &str, id: &str, lag_seconds: f64) {
    let cw = aws_sdk_cloudwatch::Client::new(
        &primary
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    );
    let now = Utc::now();
    let points: Vec<_> = (1..=3)
        .map(|m| (now - chrono::Duration::minutes(m), lag_seconds))
        .collect();
    put_metric(
        &cw,
        "AWS/RDS",
        "ReplicaLag",
        &[("DBInstanceIdentifier", id)],
        &points,
    )
    .await;
}

/// What the demo and the tests compare before and after: the DB record, the app secret's host,
/// the backup target, the replica's and the primary's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Production {
    pub record: String,
    pub secret_host: String,
    pub target: String,
    pub instances: Vec<(String, String, Option<String>)>,
    pub secrets: Vec<String>,
    pub parameters: Vec<String>,
    pub records: Vec<String>,
}

pub async fn production(primary: &SdkConfig, zone_id: &str) -> Production {
    let r53 = aws_sdk_route53::Client::new(primary);
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .expect("records");
    let mut records: Vec<String> = sets
        .resource_record_sets()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.name(),
                r.r#type().as_str(),
                r.resource_records()
                    .iter()
                    .map(|v| v.value())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    records.sort();
    let record = sets
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == RECORD)
        .and_then(|r| r.resource_records().first().map(|v| v.value().to_string()))
        .unwrap_or_default();
    let sm = aws_sdk_secretsmanager::Client::new(&dr(primary));
    let secret = sm
        .get_secret_value()
        .secret_id(APP_SECRET)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("secret");
    let v: serde_json::Value =
        serde_json::from_str(secret.secret_string().unwrap_or("{}")).unwrap_or_default();
    let mut secrets: Vec<String> = sm
        .list_secrets()
        .send()
        .await
        .expect("secrets")
        .secret_list()
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect();
    secrets.sort();
    let ssm = aws_sdk_ssm::Client::new(primary);
    let target = ssm
        .get_parameter()
        .name(TARGET_PARAMETER)
        .send()
        .await
        .ok()
        .and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string))
        .unwrap_or_default();
    let mut parameters: Vec<String> = ssm
        .describe_parameters()
        .send()
        .await
        .expect("parameters")
        .parameters()
        .iter()
        .filter_map(|p| p.name().map(str::to_string))
        .collect();
    parameters.sort();
    let mut instances = Vec::new();
    for cfg in [primary.clone(), dr(primary)] {
        let out = aws_sdk_rds::Client::new(&cfg)
            .describe_db_instances()
            .send()
            .await
            .expect("instances");
        for i in out.db_instances() {
            instances.push((
                i.db_instance_identifier().unwrap_or_default().to_string(),
                i.db_instance_status().unwrap_or_default().to_string(),
                i.read_replica_source_db_instance_identifier()
                    .map(str::to_string),
            ));
        }
    }
    instances.sort();
    Production {
        record,
        secret_host: v["host"].as_str().unwrap_or_default().to_string(),
        target,
        instances,
        secrets,
        parameters,
        records,
    }
}

/// The keys under `prefix` in `bucket`.
pub async fn keys(config: &SdkConfig, bucket: &str, prefix: &str) -> Vec<String> {
    let out = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
    .list_objects_v2()
    .bucket(bucket)
    .prefix(prefix)
    .send()
    .await
    .expect("list");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// A JSON object in `bucket` (a run's journal).
pub async fn journal_json(config: &SdkConfig, bucket: &str, key: &str) -> serde_json::Value {
    let out = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
    .get_object()
    .bucket(bucket)
    .key(key)
    .send()
    .await
    .expect("get");
    let bytes = out.body.collect().await.expect("body").into_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

/// One state change of the plan's alarm into ALARM at `at`, as each way it arrives: through
/// EventBridge, through SNS, and as the alarm's Lambda action (the same state timestamp).
pub fn alarm_events(at: chrono::DateTime<Utc>) -> Vec<serde_json::Value> {
    let ts = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let eb = serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": at.to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecommerce-prod-db-down"],
        "detail": {"alarmName": "ecommerce-prod-db-down", "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": ts},
                   "previousState": {"value": "OK", "reason": "ok", "timestamp": ts}, "configuration": {"metrics": []}}
    });
    let msg = serde_json::json!({"AlarmName": "ecommerce-prod-db-down", "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecommerce-prod-db-down",
        "NewStateValue": "ALARM", "OldStateValue": "OK", "NewStateReason": "Threshold Crossed", "StateChangeTime": ts, "Region": "US East (N. Virginia)", "Trigger": {}});
    let sns = serde_json::json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alarms:1",
        "Sns": {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms", "Subject": "ALARM",
                "Message": msg.to_string(), "Timestamp": at.to_rfc3339(), "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://x", "UnsubscribeUrl": "https://x", "MessageAttributes": {}}}]});
    let action = serde_json::json!({"source": "aws.cloudwatch", "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecommerce-prod-db-down",
        "accountId": "123456789012", "time": at.to_rfc3339(), "region": "us-east-1",
        "alarmData": {"alarmName": "ecommerce-prod-db-down", "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": ts},
                      "previousState": {"value": "OK", "reason": "ok", "timestamp": ts}, "configuration": {"metrics": []}}});
    vec![eb, sns, action]
}

/// A second plan, `restore-failover`, appended to the seeded policy's plans: orders-db restored
/// from its newest DR copy, the sessions cache from its DR snapshot ([`seed_restore_sources`]).
pub const RESTORE_PLAN: &str = r#"    - name: restore-failover
      primary_region: us-east-1
      dr_region: us-west-2
      rto: 1h
      rpo: 1d
      allow_data_loss: true
      steps:
        - {name: assess, kind: assess}
        - name: orders-from-snapshot
          kind: restore-rds-from-snapshot
          rto: 20m
          params: {component: orders-db, target: orders-db-dr, instance_class: db.r6g.large, subnet_group: lifeboat-restore}
        - name: sessions
          kind: restore-redis
          rto: 15m
          params: {target: sessions-dr, source_group: sessions-dr-seed, node_type: cache.t3.micro}
"#;

/// What [`RESTORE_PLAN`] restores from in the DR region: the restore network (subnet groups)
/// and a snapshot of a cache there (what a team keeps in the DR region for such a plan).
pub async fn seed_restore_sources(emu: &crate::Emulator, dr_config: &SdkConfig) {
    let ec = aws_sdk_elasticache::Client::new(dr_config);
    ec.create_replication_group()
        .replication_group_id("sessions-dr-seed")
        .replication_group_description("seed")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("DR cache");
    ec.create_snapshot()
        .replication_group_id("sessions-dr-seed")
        .snapshot_name("sessions-dr-seed-nightly")
        .send()
        .await
        .expect("DR cache snapshot");
    crate::seed_network_in(emu, dr_config, DR).await;
}
