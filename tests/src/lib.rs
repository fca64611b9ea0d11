//! The local-AWS harness shared by the integration tests, the demo (`make demo`) and the
//! benchmark: start the pinned moto server on loopback, seed a realistic environment, read the
//! report emails back from the SQS queue subscribed to the report topic.

pub mod cost;
pub mod failover;
pub mod faults;
pub mod shop;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_rds::types::Tag as RdsTag;
use chrono::Utc;
use lifeboat_shared::data::sql::Engine;

pub const ACCOUNT: &str = "123456789012";
pub const PRIMARY: &str = "us-east-1";
pub const DR: &str = "us-west-2";
/// The explicit local mapping: restored (and source) database endpoints the emulator reports
/// are reached on these local servers instead.
pub const LOCAL_ENDPOINTS: &str =
    "postgres=127.0.0.1:5432,mysql=127.0.0.1:3306,redis=127.0.0.1:6379";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A moto server on a free loopback port, stopped when dropped.
pub struct Emulator {
    child: Option<Child>,
    pub endpoint: String,
    clock_file: PathBuf,
}

impl Emulator {
    /// Starts the pinned moto server (installing it with `scripts/tools.sh emulator` if needed).
    pub fn start() -> Emulator {
        let python = root().join(".tools/moto/bin/python");
        if !python.exists() {
            let ok = Command::new("bash")
                .arg(root().join("scripts/tools.sh"))
                .arg("emulator")
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "scripts/tools.sh emulator failed: cannot install the moto server"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(5055);
        let clock_file = std::env::temp_dir().join(format!("lifeboat-moto-clock-{port}"));
        let _ = std::fs::remove_file(&clock_file);
        let child = Command::new(&python)
            .arg(root().join("scripts/moto_server.py"))
            .arg(port.to_string())
            .env("LIFEBOAT_EMULATOR_CLOCK_FILE", &clock_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let emulator = Emulator {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
            clock_file,
        };
        // Generous: every test starts its own server, and importing moto takes CPU seconds that a
        // loaded 2-core machine (tests in parallel, a release link beside them) stretches.
        emulator.wait_ready(Duration::from_secs(120));
        emulator
    }

    /// Uses an emulator someone else started (the demo and benchmark scripts), with its clock file.
    pub fn attach(endpoint: &str, clock_file: &Path) -> Emulator {
        let emulator = Emulator {
            child: None,
            endpoint: endpoint.to_string(),
            clock_file: clock_file.to_path_buf(),
        };
        emulator.wait_ready(Duration::from_secs(30));
        emulator
    }

    fn wait_ready(&self, limit: Duration) {
        let start = Instant::now();
        let addr = self.endpoint.trim_start_matches("http://").to_string();
        while start.elapsed() < limit {
            if let Ok(mut s) = TcpStream::connect(&addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut buf = [0u8; 16];
                if s.read(&mut buf)
                    .map(|n| buf[..n].windows(3).any(|w| w == b"200"))
                    .unwrap_or(false)
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "moto server at {} did not answer within {limit:?}",
            self.endpoint
        );
    }

    /// Moves the emulator's clock by `offset` (negative: the past), so what is created now
    /// carries an older creation time.
    pub fn shift_clock(&self, offset: chrono::Duration) {
        std::fs::write(&self.clock_file, offset.num_seconds().to_string())
            .expect("write clock file");
    }

    pub fn reset_clock(&self) {
        let _ = std::fs::remove_file(&self.clock_file);
    }

    pub fn clock_file(&self) -> &Path {
        &self.clock_file
    }

    pub async fn config(&self, region: &str) -> SdkConfig {
        config_for(&self.endpoint, region).await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.clock_file);
        }
    }
}

/// SDK configuration for a local endpoint with the emulator's dummy credentials.
pub async fn config_for(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "lifeboat-local",
        ))
        .load()
        .await
}

pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// Creates a bucket in the DR region (us-west-2) with a client configured for it.
pub async fn create_dr_bucket(s3_dr: &aws_sdk_s3::Client, name: &str) {
    s3_dr
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create DR bucket {name}: {e}"));
}

/// Names of what [`seed`] creates.
#[derive(Debug, Clone)]
pub struct World {
    /// The local databases standing in for the sources' data (and, through
    /// LIFEBOAT_LOCAL_ENDPOINTS, for their restored copies): orders-db on PostgreSQL,
    /// catalog-aurora on MariaDB.
    pub orders_database: String,
    pub catalog_database: String,
    pub security_group_id: String,
    pub backup_bucket: String,
    pub dr_backup_bucket: String,
    pub report_bucket: String,
    pub topic_arn: String,
    pub queue_url: String,
    pub policy_path: PathBuf,
    /// The Route 53 hosted zone of failover-orchestrator's plan.
    pub zone_id: String,
}

/// What to seed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Extra old Lifeboat snapshots of `ecommerce-prod-db` (one a day back from yesterday), each
    /// with a DR copy and a completed export, as an earlier Lifeboat would have left them. Days
    /// 38, 40 and 45 are always seeded (38 without DR copy or export), whatever this says.
    pub history_days: u32,
    /// Make `ecommerce-prod-db` storage-encrypted.
    pub encrypted_primary: bool,
    /// Seed the Aurora cluster, the Redis group and the extra instances.
    pub full: bool,
    /// Seed the DR read replica of ecommerce-prod-db (failover-orchestrator's plan) with this
    /// ReplicaLag in seconds (the other functions' tests run without it).
    pub failover_replica_lag: Option<f64>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            history_days: 0,
            encrypted_primary: false,
            full: true,
            failover_replica_lag: None,
        }
    }
}

fn rds_tags(pairs: &[(&str, &str)]) -> Vec<RdsTag> {
    pairs
        .iter()
        .map(|(k, v)| RdsTag::builder().key(*k).value(*v).build())
        .collect()
}

fn lifeboat_tags(component: &str, source: &str, period: chrono::DateTime<Utc>) -> Vec<RdsTag> {
    let period = period.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    rds_tags(&[
        ("lifeboat:managed", "true"),
        ("lifeboat:component", component),
        ("lifeboat:source", source),
        ("lifeboat:period-start", period.as_str()),
        ("lifeboat:run-id", "seeded-history"),
    ])
}

/// Seeds the demo/test environment into the emulator and writes the policy the functions read.
pub async fn seed(emu: &Emulator, scenario: &Scenario, dir: &Path) -> World {
    let primary = emu.config(PRIMARY).await;
    let dr = emu.config(DR).await;
    let s3p = s3(&primary);
    let s3d = s3(&dr);
    let rds = aws_sdk_rds::Client::new(&primary);
    let rds_dr = aws_sdk_rds::Client::new(&dr);
    let kms = aws_sdk_kms::Client::new(&primary);
    let kms_dr = aws_sdk_kms::Client::new(&dr);
    let sns = aws_sdk_sns::Client::new(&primary);
    let sqs = aws_sdk_sqs::Client::new(&primary);

    // Per emulator (tests run side by side); the demo names its own (LIFEBOAT_SHOP_SUFFIX).
    let port = std::env::var("LIFEBOAT_SHOP_SUFFIX")
        .unwrap_or_else(|_| emu.endpoint.rsplit(':').next().unwrap_or("0").to_string());
    let world = World {
        orders_database: format!("lifeboat_orders_{port}"),
        catalog_database: format!("lifeboat_catalog_{port}"),
        security_group_id: String::new(),
        backup_bucket: "ecommerce-backups-prod-us-east-1".into(),
        dr_backup_bucket: "ecommerce-backups-prod-us-west-2".into(),
        report_bucket: "lifeboat-reports-123456789012".into(),
        topic_arn: String::new(),
        queue_url: String::new(),
        policy_path: dir.join("policy.yaml"),
        zone_id: String::new(),
    };
    s3p.create_bucket()
        .bucket(&world.backup_bucket)
        .send()
        .await
        .expect("backup bucket");
    s3p.create_bucket()
        .bucket(&world.report_bucket)
        .send()
        .await
        .expect("report bucket");
    create_dr_bucket(&s3d, &world.dr_backup_bucket).await;
    // S3 replication of the backup bucket to the DR bucket: versioning at both ends and the
    // rule. moto stores the configuration but replicates nothing: the tests and the demo copy
    // objects themselves (scripts/replicate.py).
    for (client, bucket) in [
        (&s3p, &world.backup_bucket),
        (&s3d, &world.dr_backup_bucket),
    ] {
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("versioning on {bucket}: {e}"));
    }
    s3p.put_bucket_replication()
        .bucket(&world.backup_bucket)
        .replication_configuration(replication_configuration(&world.dr_backup_bucket))
        .send()
        .await
        .expect("backup bucket replication");
    seed_artifacts(emu, &s3p, &world.backup_bucket).await;
    seed_metrics(&primary, &world, Utc::now()).await;

    // KMS: the primary database key, the export key and the DR-region copy key, by alias.
    for (client, alias) in [
        (&kms, "alias/ecommerce-db"),
        (&kms, "alias/lifeboat-export"),
        (&kms_dr, "alias/lifeboat-dr"),
    ] {
        let key = client
            .create_key()
            .description(alias)
            .send()
            .await
            .expect("kms key");
        let id = key
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .unwrap_or_default();
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(id)
            .send()
            .await
            .expect("alias");
    }

    // Report emails: SNS topic with an SQS subscriber standing in for the mailbox.
    let topic = sns
        .create_topic()
        .name("lifeboat-reports")
        .send()
        .await
        .expect("topic");
    let topic_arn = topic.topic_arn().unwrap_or_default().to_string();
    let queue = sqs
        .create_queue()
        .queue_name("lifeboat-report-inbox")
        .send()
        .await
        .expect("queue");
    let queue_url = queue.queue_url().unwrap_or_default().to_string();
    let queue_arn = format!("arn:aws:sqs:{PRIMARY}:{ACCOUNT}:lifeboat-report-inbox");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .expect("subscribe");

    // The primary PostgreSQL database, with automated backups.
    let mut db = rds
        .create_db_instance()
        .db_instance_identifier("ecommerce-prod-db")
        .engine("postgres")
        .engine_version("16.4")
        .db_instance_class("db.r6g.large")
        .allocated_storage(100)
        .master_username("ecomadmin")
        .master_user_password("not-a-real-password-1")
        .backup_retention_period(30)
        .set_tags(Some(rds_tags(&[("app", "ecommerce"), ("env", "prod")])));
    if scenario.encrypted_primary {
        db = db.storage_encrypted(true).kms_key_id("alias/ecommerce-db");
    }
    db.send().await.expect("primary db");

    // History: what earlier Lifeboat runs and people left behind, at their real ages.
    let now = Utc::now();
    let day = |d: i64| chrono::Duration::days(d);
    let midnight = |d: i64| {
        let t = now - day(d);
        t - chrono::Duration::seconds(t.timestamp().rem_euclid(86_400))
    };
    let source_arn = |id: &str| format!("arn:aws:rds:{PRIMARY}:{ACCOUNT}:snapshot:{id}");
    // A person's pre-migration snapshot (never Lifeboat's to delete).
    emu.shift_clock(-day(60));
    rds.create_db_snapshot()
        .db_instance_identifier("ecommerce-prod-db")
        .db_snapshot_identifier("ecommerce-prod-db-pre-migration-2026")
        .send()
        .await
        .expect("foreign snapshot");
    // Old Lifeboat snapshots: 45 and 40 days old fully proven (copy + export), 38 days old
    // without a DR copy (must be kept), plus `history_days` recent daily ones.
    let mut history: Vec<(i64, bool)> = vec![(45, true), (40, true), (38, false)];
    let fixed: Vec<i64> = history.iter().map(|(d, _)| *d).collect();
    history.extend(
        (1..=scenario.history_days as i64)
            .filter(|d| !fixed.contains(d))
            .map(|d| (d, true)),
    );
    for (age, proven) in history {
        let period = midnight(age);
        let id = format!(
            "lifeboat-ecommerce-prod-db-{}",
            period.format("%Y%m%d-%H%M")
        );
        emu.shift_clock(-(now - period) + chrono::Duration::minutes(5));
        rds.create_db_snapshot()
            .db_instance_identifier("ecommerce-prod-db")
            .db_snapshot_identifier(&id)
            .set_tags(Some(lifeboat_tags(
                "orders-db",
                "ecommerce-prod-db",
                period,
            )))
            .send()
            .await
            .expect("history snapshot");
        if proven {
            let mut copy = rds_dr
                .copy_db_snapshot()
                .source_db_snapshot_identifier(source_arn(&id))
                .target_db_snapshot_identifier(&id)
                .copy_tags(true);
            if scenario.encrypted_primary {
                copy = copy.kms_key_id("alias/lifeboat-dr");
            }
            copy.send().await.expect("history DR copy");
            rds.start_export_task()
                .export_task_identifier(&id)
                .source_arn(source_arn(&id))
                .s3_bucket_name(&world.backup_bucket)
                .s3_prefix(format!(
                    "backups/rds-instance/ecommerce-prod-db/{id}/export"
                ))
                .iam_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/rds-s3-export-role"))
                .kms_key_id("alias/lifeboat-export")
                .send()
                .await
                .expect("history export");
        }
    }
    emu.reset_clock();

    if scenario.full {
        let ec = aws_sdk_elasticache::Client::new(&primary);
        // An instance opted in by tag alone, and one nobody asked to back up.
        for (id, tags) in [
            ("analytics-db", vec![("lifeboat:backup", "true")]),
            ("scratch-db", vec![("env", "dev")]),
        ] {
            rds.create_db_instance()
                .db_instance_identifier(id)
                .engine("mysql")
                .db_instance_class("db.t4g.micro")
                .allocated_storage(20)
                .master_username("admin")
                .master_user_password("not-a-real-password-2")
                .set_tags(Some(rds_tags(&tags)))
                .send()
                .await
                .expect("extra db");
        }
        // The catalog Aurora cluster (selected by tag) with one writer.
        rds.create_db_cluster()
            .db_cluster_identifier("catalog-aurora")
            .engine("aurora-mysql")
            .engine_version("8.0.mysql_aurora.3.08.0")
            .master_username("catalog")
            .master_user_password("not-a-real-password-3")
            .set_tags(Some(rds_tags(&[("app", "catalog")])))
            .send()
            .await
            .expect("aurora cluster");
        rds.create_db_instance()
            .db_instance_identifier("catalog-aurora-1")
            .db_cluster_identifier("catalog-aurora")
            .engine("aurora-mysql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .expect("aurora writer");
        // The session cache.
        ec.create_replication_group()
            .replication_group_id("ecommerce-redis-cluster")
            .replication_group_description("sessions and carts")
            .engine("redis")
            .cache_node_type("cache.r6g.large")
            .num_cache_clusters(2)
            .send()
            .await
            .expect("redis group");
    }

    // Restores: private subnets, their DB and cache subnet groups, a security group.
    let security_group_id = seed_network(emu, &primary).await;
    // Database credentials, as RDS keeps them in Secrets Manager (the local servers' users).
    let sm = aws_sdk_secretsmanager::Client::new(&primary);
    let secret = |name: &'static str, body: &'static str| {
        let sm = sm.clone();
        async move {
            sm.create_secret()
                .name(name)
                .secret_string(body)
                .send()
                .await
                .expect("secret")
                .arn()
                .unwrap_or_default()
                .to_string()
        }
    };
    let orders_secret = secret(
        "lifeboat/orders-db",
        r#"{"engine":"postgres","username":"postgres","password":""}"#,
    )
    .await;
    let catalog_secret = secret(
        "lifeboat/catalog-aurora",
        r#"{"engine":"mysql","username":"root","password":""}"#,
    )
    .await;
    let sessions_secret = secret(
        "lifeboat/sessions-redis",
        r#"{"username":"","password":""}"#,
    )
    .await;
    // The shop's data on the local servers.
    for (engine, name) in [
        (Engine::Postgres, &world.orders_database),
        (Engine::Mysql, &world.catalog_database),
    ] {
        shop::drop_db(engine, name).await;
        shop::build(engine, name, shop::Damage::None).await;
    }

    let zone_id = Box::pin(failover::seed_names(&primary, &world.backup_bucket)).await;
    if let Some(lag) = scenario.failover_replica_lag {
        Box::pin(failover::seed_replica(&primary, lag)).await;
    }
    let policy = include_str!("../../infra/policy.local.yaml")
        .replace("{zone_id}", &zone_id)
        .replace("{backup_bucket}", &world.backup_bucket)
        .replace("{dr_backup_bucket}", &world.dr_backup_bucket)
        .replace("{security_group_id}", &security_group_id)
        .replace("{orders_secret_arn}", &orders_secret)
        .replace("{catalog_secret_arn}", &catalog_secret)
        .replace("{sessions_secret_arn}", &sessions_secret)
        .replace("{orders_database}", &world.orders_database)
        .replace("{catalog_database}", &world.catalog_database);
    std::fs::create_dir_all(dir).expect("state dir");
    std::fs::write(&world.policy_path, policy).expect("write policy");
    World {
        topic_arn,
        queue_url,
        security_group_id,
        zone_id,
        ..world
    }
}

/// The backup bucket's replication rule (seeded, and put back by tests that break it).
pub const REPLICATION_RULE: &str = "backups-to-dr";

/// The namespace of the seed-002 metrics (the certificate service's S3 saves).
pub const DEMO_NAMESPACE: &str = "Lifeboat/Demo";

/// The backup bucket's replication configuration: `backups/` to the DR bucket, with replication
/// metrics and Replication Time Control (15 minutes).
pub fn replication_configuration(dr_bucket: &str) -> aws_sdk_s3::types::ReplicationConfiguration {
    use aws_sdk_s3::types::{
        Destination, Metrics, MetricsStatus, ReplicationConfiguration, ReplicationRule,
        ReplicationRuleFilter, ReplicationRuleStatus, ReplicationTime, ReplicationTimeStatus,
        ReplicationTimeValue,
    };
    let fifteen = || ReplicationTimeValue::builder().minutes(15).build();
    ReplicationConfiguration::builder()
        .role(format!(
            "arn:aws:iam::{ACCOUNT}:role/lifeboat-s3-replication"
        ))
        .rules(
            ReplicationRule::builder()
                .id(REPLICATION_RULE)
                .priority(1)
                .status(ReplicationRuleStatus::Enabled)
                .filter(ReplicationRuleFilter::builder().prefix("backups/").build())
                .destination(
                    Destination::builder()
                        .bucket(format!("arn:aws:s3:::{dr_bucket}"))
                        .metrics(
                            Metrics::builder()
                                .status(MetricsStatus::Enabled)
                                .event_threshold(fifteen())
                                .build()
                                .expect("replication metrics"),
                        )
                        .replication_time(
                            ReplicationTime::builder()
                                .status(ReplicationTimeStatus::Enabled)
                                .time(fifteen())
                                .build()
                                .expect("replication time"),
                        )
                        .build()
                        .expect("replication destination"),
                )
                .build()
                .expect("replication rule"),
        )
        .build()
        .expect("replication configuration")
}

/// Puts one artifact object of `size` bytes.
pub async fn put_artifact(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, size: usize) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(vec![b'a'; size].into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e}"));
}

/// Backups kept as S3 objects, at their real ages (the emulator's clock shifted while each is
/// written): Kafka topic archives every hour (the newest 20 minutes old), the Kubernetes
/// configuration every 6 hours (the newest 2 hours old), Secrets Manager backups daily (the
/// newest 3 hours old).
async fn seed_artifacts(emu: &Emulator, s3: &aws_sdk_s3::Client, bucket: &str) {
    let now = Utc::now();
    let minutes = chrono::Duration::minutes;
    let sets: [(&str, &str, i64, i64, usize); 3] = [
        ("artifacts/kafka/orders-events/", "avro.gz", 20, 60, 4096),
        (
            "artifacts/k8s-config/prod-cluster/",
            "tar.gz",
            120,
            360,
            2048,
        ),
        ("artifacts/secrets/", "json.enc", 180, 1440, 1024),
    ];
    for (prefix, ext, newest, every, size) in sets {
        for n in (0..4).rev() {
            let age = minutes(newest + n * every);
            emu.shift_clock(-age);
            let key = format!("{prefix}{}.{ext}", (now - age).format("%Y-%m-%dT%H%M"));
            put_artifact(s3, bucket, &key, size).await;
        }
    }
    emu.reset_clock();
}

/// One metric's datapoints (no dimensions unless given).
pub async fn put_metric(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, &str)],
    points: &[(chrono::DateTime<Utc>, f64)],
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let data = points
        .iter()
        .map(|(t, v)| {
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(
                    dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                        .collect(),
                ))
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                    t.timestamp(),
                ))
                .value(*v)
                .build()
        })
        .collect();
    cw.put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricData {namespace}/{metric}: {e}"));
}

/// The backup bucket's S3 replication metrics (latency 30 s to 2 min, nothing failed or
/// pending) and seed 002's certificate-service metrics (2 of 200 S3 saves failed: 1%), as
/// datapoints in the minutes before `at`. `config` is the primary region's.
///
/// Each S3 replication metric is published only in the region AWS publishes it:
/// `ReplicationLatency`, `OperationsPendingReplication` and `BytesPendingReplication` in the
/// destination bucket's region (the DR region), `OperationsFailedReplication` in the source
/// bucket's (the primary). A reader that asks the wrong region finds nothing, as on AWS.
pub async fn seed_metrics(config: &SdkConfig, world: &World, at: chrono::DateTime<Utc>) {
    let cw = aws_sdk_cloudwatch::Client::new(config);
    let cw_dr = aws_sdk_cloudwatch::Client::new(
        &config
            .to_builder()
            .region(aws_config::Region::new(DR))
            .build(),
    );
    let ago = |m: i64| at - chrono::Duration::minutes(m);
    let rule = [
        ("SourceBucket", world.backup_bucket.as_str()),
        ("DestinationBucket", world.dr_backup_bucket.as_str()),
        ("RuleId", REPLICATION_RULE),
    ];
    let latency = [
        (ago(4), 30.0),
        (ago(3), 75.0),
        (ago(2), 120.0),
        (ago(1), 45.0),
    ];
    put_metric(&cw_dr, "AWS/S3", "ReplicationLatency", &rule, &latency).await;
    let zero = [(ago(4), 0.0), (ago(3), 0.0), (ago(2), 0.0), (ago(1), 0.0)];
    put_metric(&cw, "AWS/S3", "OperationsFailedReplication", &rule, &zero).await;
    put_metric(
        &cw_dr,
        "AWS/S3",
        "OperationsPendingReplication",
        &rule,
        &zero,
    )
    .await;
    for (metric, per_minute) in [
        ("cert.s3.save.total", 100.0),
        ("cert.s3.save.success", 99.0),
        ("cert.s3.save.fail", 1.0),
    ] {
        let points = [(ago(3), per_minute), (ago(2), per_minute)];
        put_metric(&cw, DEMO_NAMESPACE, metric, &[], &points).await;
    }
}

/// The restore network: a VPC with two private subnets, the `lifeboat-restore` DB and cache
/// subnet groups, and the security group restored resources get. EC2 is called over its query
/// protocol directly (the SDK's EC2 crate would double the test build for four calls).
async fn seed_network(emu: &Emulator, primary: &SdkConfig) -> String {
    seed_network_in(emu, primary, PRIMARY).await
}

/// [`seed_network`] in `region` (`config` must be for that region): failover-orchestrator's
/// restores in the DR region need the same subnet groups there.
pub async fn seed_network_in(emu: &Emulator, primary: &SdkConfig, region: &str) -> String {
    let ec2 = |emu: &Emulator, params: &str| ec2_in(emu, region, params);
    let vpc = ec2(emu, "Action=CreateVpc&CidrBlock=10.20.0.0%2F16");
    let vpc_id = xml_value(&vpc, "vpcId");
    let mut subnets = Vec::new();
    for (cidr, az) in [
        ("10.20.1.0%2F24", format!("{region}a")),
        ("10.20.2.0%2F24", format!("{region}b")),
    ] {
        let out = ec2(
            emu,
            &format!("Action=CreateSubnet&VpcId={vpc_id}&CidrBlock={cidr}&AvailabilityZone={az}"),
        );
        subnets.push(xml_value(&out, "subnetId"));
    }
    let sg = ec2(
        emu,
        &format!("Action=CreateSecurityGroup&GroupName=lifeboat-restore&GroupDescription=restore-verification&VpcId={vpc_id}"),
    );
    let sg_id = xml_value(&sg, "groupId");
    aws_sdk_rds::Client::new(primary)
        .create_db_subnet_group()
        .db_subnet_group_name("lifeboat-restore")
        .db_subnet_group_description("private subnets for restore checks")
        .set_subnet_ids(Some(subnets.clone()))
        .send()
        .await
        .expect("db subnet group");
    aws_sdk_elasticache::Client::new(primary)
        .create_cache_subnet_group()
        .cache_subnet_group_name("lifeboat-restore")
        .cache_subnet_group_description("private subnets for restore checks")
        .set_subnet_ids(Some(subnets))
        .send()
        .await
        .expect("cache subnet group");
    sg_id
}

/// One EC2 query-protocol call to the emulator (it does not check signatures), in `region`.
fn ec2_in(emu: &Emulator, region: &str, params: &str) -> String {
    let addr = emu.endpoint.trim_start_matches("http://").to_string();
    let body = format!("{params}&Version=2016-11-15");
    let req = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20261121/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(&addr).expect("emulator");
    s.write_all(req.as_bytes()).expect("ec2 request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("ec2 response");
    assert!(out.contains(" 200 "), "EC2 {params}: {out}");
    out
}

fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    xml.split(&open)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        .to_string()
}

impl World {
    /// Drops the shop's local databases (tests call it when they pass).
    pub async fn drop_databases(&self) {
        shop::drop_db(Engine::Postgres, &self.orders_database).await;
        shop::drop_db(Engine::Mysql, &self.catalog_database).await;
    }

    /// The same from a `Drop` (a fixture torn down after a failed assertion too).
    pub fn drop_databases_blocking(&self) {
        if self.orders_database.is_empty() {
            return;
        }
        let (o, c) = (self.orders_database.clone(), self.catalog_database.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    shop::drop_db(Engine::Postgres, &o).await;
                    shop::drop_db(Engine::Mysql, &c).await;
                });
            }
        })
        .join();
    }
}

/// One report email as the mailbox would show it.
#[derive(Debug, Clone)]
pub struct Email {
    pub subject: String,
    pub body: String,
}

/// Drains the report inbox: every email published since the last call.
pub async fn read_emails(config: &SdkConfig, queue_url: &str) -> Vec<Email> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive from the report inbox");
        let msgs = got.messages();
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            let envelope: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            out.push(Email {
                subject: envelope["Subject"].as_str().unwrap_or_default().to_string(),
                body: envelope["Message"].as_str().unwrap_or_default().to_string(),
            });
            if let Some(h) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(h)
                    .send()
                    .await;
            }
        }
    }
    out
}

/// The environment a Lifeboat function needs to run against the emulator.
/// The function environment for `world` (as the Lambda would get it, with the local mapping).
pub fn env_for(world: &World) -> lifeboat_shared::config::Env {
    let vars = function_env("http://unused", world);
    lifeboat_shared::config::Env::from_lookup(|k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("the harness's environment is valid")
}

pub fn function_env(emu_endpoint: &str, world: &World) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", emu_endpoint.to_string()),
        ("AWS_REGION", PRIMARY.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("LIFEBOAT_POLICY", world.policy_path.display().to_string()),
        ("LIFEBOAT_REPORT_TOPIC_ARN", world.topic_arn.clone()),
        ("LIFEBOAT_REPORT_BUCKET", world.report_bucket.clone()),
        ("LIFEBOAT_LOCAL_ENDPOINTS", LOCAL_ENDPOINTS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
