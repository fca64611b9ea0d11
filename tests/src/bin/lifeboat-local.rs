//! Local-emulator helper for `make demo` and the benchmark.
//!
//!   lifeboat-local seed STATE_DIR [--history-days N]   seed the emulator, write STATE_DIR/env
//!   lifeboat-local emails STATE_DIR                    print report emails received since last call
//!   lifeboat-local sweep-bench SRC REPLICA CONCURRENCY listing|checksum
//!                                                      one full integrity sweep of SRC/backups/
//!                                                      against REPLICA/backups/, JSON
//!   lifeboat-local crc-bench MIB                       CRC64NVME one-shot vs 64 KiB streaming, JSON
//!   lifeboat-local damage STATE_DIR                    damage the catalog's local database (rows
//!                                                      lost, orphaned items) after its snapshot
//!   lifeboat-local metrics STATE_DIR                   put the last minutes' replication and
//!                                                      seed-002 metrics again (CloudWatch), and
//!                                                      the DR replica's ReplicaLag (30 s)
//!   lifeboat-local failover-lag STATE_DIR SECONDS [REGION ID]
//!                                                      put ReplicaLag datapoints for a replica
//!                                                      (default: ecommerce-prod-db-replica in
//!                                                      us-west-2), a minute after the last put
//!   lifeboat-local failover-state STATE_DIR            the production state failover-orchestrator
//!                                                      changes: the DB record, the app secret's
//!                                                      host, the backup target, the RDS instances
//!   lifeboat-local cost-seed STATE_DIR                 cost-anomaly's account for yesterday (UTC):
//!                                                      what it reads for the day (Aurora's billed
//!                                                      backup bytes, cache snapshot sizes, 60 days
//!                                                      of exports and the buckets' inventory
//!                                                      reports and storage metrics) and 28 days of
//!                                                      history before it, as its runs store them
//!   lifeboat-local cost-anomaly STATE_DIR              the seeded anomaly, for today (the next
//!                                                      scheduled run's day): 12 manual snapshots of
//!                                                      the orders database no retention governs,
//!                                                      the backup bucket's lifecycle rule no
//!                                                      longer matching; today's Aurora metrics
//!   lifeboat-local lag-bench COMPONENTS PAIRS RULES    seed that many RDS components, replicated
//!                                                      bucket pairs and metric rules, run
//!                                                      replication-lag-check twice through the
//!                                                      request-counting proxy, JSON
//!
//! The emulator endpoint comes from AWS_ENDPOINT_URL and its clock file from
//! LIFEBOAT_EMULATOR_CLOCK_FILE (both set by scripts/local-aws.sh).
use std::path::PathBuf;
use std::process::ExitCode;

use lifeboat_tests::{failover, function_env, read_emails, seed, Emulator, Scenario, DR, PRIMARY};

/// The DR replica's lag as seeded, and as `metrics` keeps it (seconds).
const DEMO_REPLICA_LAG: f64 = 30.0;
/// The variable `seed` writes into STATE_DIR/env: the failover plan's hosted zone.
const ZONE_VAR: &str = "LIFEBOAT_DEMO_ZONE_ID";

/// ReplicaLag datapoints of `id` in `region` (the last three minutes at `seconds`). Readers take
/// the newest minute's Maximum: a lower value put within a minute of a higher one would share
/// its minute and not show, so such a put first waits until a minute has passed since the last
/// one for the same replica (its time and value are kept in STATE_DIR).
async fn failover_lag(
    endpoint: &str,
    dir: &std::path::Path,
    seconds: f64,
    region: &str,
    id: &str,
) -> ExitCode {
    let mark = dir.join(format!("replica-lag-{region}-{id}.put"));
    let last = std::fs::read_to_string(&mark).ok().and_then(|t| {
        let (at, value) = t.trim().split_once(' ')?;
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        Some((at.with_timezone(&chrono::Utc), value.parse::<f64>().ok()?))
    });
    if let Some((at, value)) = last {
        let wait = 61 - (chrono::Utc::now() - at).num_seconds();
        if seconds < value && wait > 0 {
            println!("  (waiting {wait} s: the minute of the last value, {value} s, must pass; readers take the newest minute's Maximum)");
            tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
        }
    }
    let config = lifeboat_tests::config_for(endpoint, PRIMARY).await;
    failover::replica_lag(&config, region, id, seconds).await;
    let put = format!("{} {seconds}", chrono::Utc::now().to_rfc3339());
    if let Err(e) = std::fs::write(&mark, put) {
        eprintln!("cannot write {}: {e}", mark.display());
        return ExitCode::FAILURE;
    }
    let behind = if seconds < 120.0 {
        format!("{seconds} s")
    } else {
        format!("{} min", (seconds / 60.0).round())
    };
    println!("  ReplicaLag of {id} ({region}) for the last 3 minutes: {behind} behind its source");
    ExitCode::SUCCESS
}

/// What failover-orchestrator changes, in a few lines: the DB record, the app secret's host,
/// the backup target, every RDS instance in both regions, and what else the zone, the DR
/// region's secrets and the primary region's parameters hold (a drill's temporaries would show
/// there).
async fn failover_state(endpoint: &str, zone: &str) {
    let config = lifeboat_tests::config_for(endpoint, PRIMARY).await;
    let p = failover::production(&config, zone).await;
    println!("  record  {} CNAME {}", failover::RECORD, p.record);
    println!(
        "  secret  {} ({DR}) host {}",
        failover::APP_SECRET,
        p.secret_host
    );
    println!(
        "  SSM     {} ({PRIMARY}) = {}",
        failover::TARGET_PARAMETER,
        p.target
    );
    // The instances the plan names (and a drill's temporaries); the seeded others are counted.
    let ours = |id: &str| id.starts_with(failover::PRIMARY_DB) || id.contains("lifeboat-drill");
    let mut others = 0;
    for region in [PRIMARY, DR] {
        let rds = aws_sdk_rds::Client::new(&lifeboat_tests::config_for(endpoint, region).await);
        let out = match rds.describe_db_instances().send().await {
            Ok(out) => out,
            Err(e) => {
                println!("  RDS     ({region}) could not be listed: {e}");
                continue;
            }
        };
        let mut rows: Vec<String> = Vec::new();
        for i in out.db_instances() {
            let id = i.db_instance_identifier().unwrap_or_default();
            if !ours(id) {
                others += 1;
                continue;
            }
            // A source in another region is named by its ARN.
            let of = match i.read_replica_source_db_instance_identifier() {
                Some(src) => match src.split(':').collect::<Vec<_>>().as_slice() {
                    ["arn", _, "rds", r, _, "db", name] => format!(", replica of {name} ({r})"),
                    _ => format!(", replica of {src}"),
                },
                None => String::new(),
            };
            let host = i.endpoint().and_then(|e| e.address()).unwrap_or("-");
            rows.push(format!(
                "  RDS     {id} ({region}) {}{of}; endpoint {host}",
                i.db_instance_status().unwrap_or_default()
            ));
        }
        rows.sort();
        for r in rows {
            println!("{r}");
        }
    }
    println!("  RDS     ({others} other seeded instances, not in the plan)");
    println!(
        "  zone    {} records: {}",
        p.records.len(),
        p.records
            .iter()
            .filter(|r| !r.contains(" NS ") && !r.contains(" SOA "))
            .map(|r| r.split(' ').next().unwrap_or(r))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  secrets ({DR}): {}", p.secrets.join(", "));
    println!("  parameters ({PRIMARY}): {}", p.parameters.join(", "));
}

/// The world `seed` made, as STATE_DIR/env (which the demo sources) names it.
fn world_from_env() -> lifeboat_tests::World {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    lifeboat_tests::World {
        orders_database: String::new(),
        catalog_database: var("LIFEBOAT_DEMO_CATALOG_DB"),
        security_group_id: String::new(),
        backup_bucket: "ecommerce-backups-prod-us-east-1".into(),
        dr_backup_bucket: "ecommerce-backups-prod-us-west-2".into(),
        report_bucket: var("LIFEBOAT_REPORT_BUCKET"),
        topic_arn: var("LIFEBOAT_REPORT_TOPIC_ARN"),
        queue_url: var("LIFEBOAT_REPORT_QUEUE_URL"),
        policy_path: PathBuf::from(var("LIFEBOAT_POLICY")),
        zone_id: var(ZONE_VAR),
    }
}

/// The emulator the demo started (its endpoint and clock file from the environment).
fn attach(endpoint: &str) -> Emulator {
    let clock = std::env::var("LIFEBOAT_EMULATOR_CLOCK_FILE").unwrap_or_default();
    Emulator::attach(endpoint, std::path::Path::new(&clock))
}

/// Days of history `cost-seed` writes before the day it costs: the baseline's default window.
const COST_HISTORY_DAYS: i64 = 28;
/// The CacheSize given to cache snapshots the demo's own runs made (snapshot-export's hourly
/// snapshots of the sessions cache): the size of the cost fixtures' newest one.
const DEMO_CACHE_SIZE: &str = "2.6 GB";

/// cost-anomaly's App, built as the Lambda builds it, on the demo's policy and environment.
async fn cost_app(
    endpoint: &str,
    world: &lifeboat_tests::World,
) -> Result<cost_anomaly::App, String> {
    let config = lifeboat_tests::config_for(endpoint, PRIMARY).await;
    let aws = lifeboat_shared::clients::Aws::from_config(config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&world.policy_path)
        .map_err(|e| format!("{}: {e}", world.policy_path.display()))?;
    let policy = lifeboat_shared::policy::Policy::parse(&text).map_err(|e| e.to_string())?;
    cost_anomaly::App::new(&aws, lifeboat_tests::env_for(world), policy).map_err(|e| e.to_string())
}

/// Demo-only: moto has no NodeSnapshots, and only the snapshots the cost fixtures made were given
/// sizes through the emulator's stand-in; the cache snapshots the demo's own runs made
/// (snapshot-export's) get [`DEMO_CACHE_SIZE`] the same way, so no cache figure is "no data".
async fn size_demo_cache_snapshots(endpoint: &str) -> Result<usize, String> {
    let mut sized = 0;
    for region in [PRIMARY, DR] {
        let ec =
            aws_sdk_elasticache::Client::new(&lifeboat_tests::config_for(endpoint, region).await);
        let out = ec
            .describe_snapshots()
            .send()
            .await
            .map_err(|e| format!("DescribeSnapshots in {region}: {e}"))?;
        let without_size: Vec<&str> = out
            .snapshots()
            .iter()
            .filter(|s| s.node_snapshots().is_empty())
            .filter_map(|s| s.snapshot_name())
            .collect();
        if without_size.is_empty() {
            continue;
        }
        let sizes: std::collections::BTreeMap<&str, Vec<&str>> = without_size
            .iter()
            .map(|n| (*n, vec![DEMO_CACHE_SIZE]))
            .collect();
        lifeboat_tests::cost::size_cache_snapshots(endpoint, region, &sizes).await;
        sized += without_size.len();
    }
    Ok(sized)
}

/// `cost-seed`: yesterday's account for cost-anomaly and the history before it.
async fn cost_seed(endpoint: &str) -> ExitCode {
    use lifeboat_tests::cost;
    let world = world_from_env();
    let emu = attach(endpoint);
    let now = chrono::Utc::now();
    let day = cost_anomaly::command::day_before(now);
    let seeded = cost::seed_cost(&emu, &world, day).await;
    let sized = match size_demo_cache_snapshots(endpoint).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match cost_app(endpoint, &world).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cost-anomaly's App: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The history: the day as the function models it from the account now, repeated back over
    // the baseline's window with weekends a little cheaper and a small day-to-day scatter.
    let template = cost::model_day(&app, day, chrono::Utc::now()).await;
    if !template.gaps.is_empty() {
        eprintln!("the seeded account has sources without data, not a history to seed:");
        for g in &template.gaps {
            eprintln!("  {}: {}: {}", g.component, g.source, g.error);
        }
        return ExitCode::FAILURE;
    }
    let days = cost::steady_history(&template, COST_HISTORY_DAYS, cost::Rhythm::default());
    let s3 = lifeboat_tests::s3(&lifeboat_tests::config_for(endpoint, PRIMARY).await);
    cost::seed_history(&s3, &world.report_bucket, &days).await;
    let gib = |class: &str, latest: bool| seeded.gib(class, latest);
    println!(
        "  Aurora catalog-aurora: AWS/RDS TotalBackupStorageBilled {:.0} GiB, SnapshotStorageUsed {:.0} GiB for {day}",
        seeded.aurora_billed / 1_073_741_824.0,
        seeded.aurora_snapshots / 1_073_741_824.0
    );
    println!(
        "  ElastiCache: {} Lifeboat snapshots of {} ({}), and {sized} snapshot(s) the demo's runs made sized {DEMO_CACHE_SIZE} (moto has no NodeSnapshots: the emulator's stand-in gives CacheSize)",
        seeded.cache_snapshots.len(),
        cost::CACHE_GROUP,
        seeded
            .cache_snapshots
            .iter()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  s3://{}: {} daily orders-db exports (6 GiB each) and {} versions in all: STANDARD {:.0} GiB, GLACIER_IR {:.0} GiB (rule {:?}: backups/ after {} days), DEEP_ARCHIVE {:.0} GiB, {:.0} GiB noncurrent",
        world.backup_bucket,
        cost::EXPORT_DAYS,
        seeded.objects.len(),
        gib("STANDARD", true),
        gib("GLACIER_IR", true),
        cost::LIFECYCLE_RULE,
        cost::TRANSITION_DAYS,
        gib("DEEP_ARCHIVE", true),
        ["STANDARD", "GLACIER_IR", "DEEP_ARCHIVE"]
            .iter()
            .map(|c| gib(c, false))
            .sum::<f64>()
    );
    println!(
        "  s3://{}: their replicas ({} versions); both buckets with an S3 Inventory report ({}, {}) and AWS/S3 storage metrics for {day} (the objects carry small bodies in the emulator; the reports give their real sizes)",
        world.dr_backup_bucket,
        seeded.dr_objects.len(),
        cost::INVENTORY_BUCKET,
        cost::DR_INVENTORY_BUCKET
    );
    let figure = |d: &cost_anomaly::plan::Day| {
        d.figure(&cost_anomaly::plan::Scope::Total)
            .unwrap_or(f64::NAN)
    };
    let (lo, hi) = days
        .iter()
        .map(|(_, d)| figure(d))
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    println!(
        "  history: {} days, {} to {}, as cost-anomaly stores them (s3://{}/{}/...): ${lo:.2} to ${hi:.2} a day (weekends 4% lower, ±1.5% a day)",
        days.len(),
        days.last().map(|(d, _)| d.to_string()).unwrap_or_default(),
        days.first().map(|(d, _)| d.to_string()).unwrap_or_default(),
        world.report_bucket,
        cost_anomaly::execute::HISTORY
    );
    ExitCode::SUCCESS
}

/// `cost-anomaly`: the seeded anomaly, for today.
async fn cost_anomaly_seed(endpoint: &str) -> ExitCode {
    use lifeboat_tests::cost;
    let world = world_from_env();
    let emu = attach(endpoint);
    let now = chrono::Utc::now();
    let day = now.date_naive();
    // Demo-only: Aurora's billed backup bytes for today as `cost-seed` put them for yesterday
    // (the fixtures put them for the day they seed; the anomaly changes nothing in Aurora).
    let primary = emu.config(PRIMARY).await;
    let cw = aws_sdk_cloudwatch::Client::new(&primary);
    let gib = 1_073_741_824.0;
    for (metric, v) in [
        (
            "TotalBackupStorageBilled",
            (cost::AURORA_RETENTION_GIB + cost::AURORA_SNAPSHOT_GIB - cost::AURORA_VOLUME_GIB)
                * gib,
        ),
        ("SnapshotStorageUsed", cost::AURORA_SNAPSHOT_GIB * gib),
        (
            "BackupRetentionPeriodStorageUsed",
            cost::AURORA_RETENTION_GIB * gib,
        ),
    ] {
        let points: Vec<(chrono::DateTime<chrono::Utc>, f64)> =
            (0..4).map(|h| (cost::at(day, 6 * h, 0), v)).collect();
        lifeboat_tests::put_metric(
            &cw,
            "AWS/RDS",
            metric,
            &[("DBClusterIdentifier", cost::AURORA_CLUSTER)],
            &points,
        )
        .await;
    }
    let a = cost::seed_anomaly(&emu, &world, day).await;
    if let Err(e) = size_demo_cache_snapshots(endpoint).await {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    println!(
        "  {} manual snapshots of {} made by hand since {} (tagged created-by=oncall, not lifeboat:managed): {}, ..., {}",
        a.unmanaged.len(),
        cost::ORDERS_DB,
        a.since,
        a.unmanaged.first().map(String::as_str).unwrap_or("-"),
        a.unmanaged.last().map(String::as_str).unwrap_or("-")
    );
    let standard_old: f64 = a
        .objects
        .iter()
        .filter(|o| o.latest && o.class == "STANDARD")
        // older than the rule's days now, as cost-anomaly ages objects
        .filter(|o| now - o.modified > chrono::Duration::days(cost::TRANSITION_DAYS))
        .map(|o| o.size as f64 / gib)
        .sum();
    println!(
        "  s3://{}: the lifecycle rule {:?} was edited {} days ago to filter {:?} instead of \"backups/\": it matches nothing, and the exports that turned {} days old since stayed in STANDARD ({standard_old:.0} GiB older than {} days now); the inventory report and AWS/S3 StandardStorage say so",
        world.backup_bucket,
        cost::LIFECYCLE_RULE,
        cost::STOPPED_DAYS,
        cost::BROKEN_PREFIX,
        cost::TRANSITION_DAYS,
        cost::TRANSITION_DAYS
    );
    println!("  Aurora catalog-aurora: today's AWS/RDS backup metrics, unchanged");
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("crc-bench") {
        let mib: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(256);
        println!("{}", crc_bench(mib));
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("lag-bench") {
        let n = |i: usize, d: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
        return lag_bench(n(1, 200), n(2, 50), n(3, 20)).await;
    }
    if args.first().map(String::as_str) == Some("sweep-bench") {
        let (Some(src), Some(rep), Some(conc), Some(compare)) =
            (args.get(1), args.get(2), args.get(3), args.get(4))
        else {
            eprintln!("usage: lifeboat-local sweep-bench SRC REPLICA CONCURRENCY listing|checksum");
            return ExitCode::from(2);
        };
        return sweep_bench(src, rep, conc.parse().unwrap_or(16), compare).await;
    }
    let (Some(cmd), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: lifeboat-local seed|emails STATE_DIR [--history-days N]");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!("AWS_ENDPOINT_URL is not set: start the emulator with scripts/local-aws.sh");
        return ExitCode::from(2);
    };
    match cmd.as_str() {
        "seed" => {
            // With the DR read replica of ecommerce-prod-db, 30 s behind: failover-orchestrator's
            // plan promotes it (replication-lag-check checks it as the instance's replica).
            let mut scenario = Scenario {
                failover_replica_lag: Some(DEMO_REPLICA_LAG),
                ..Scenario::default()
            };
            if let Some(i) = args.iter().position(|a| a == "--history-days") {
                match args.get(i + 1).and_then(|n| n.parse().ok()) {
                    Some(n) => scenario.history_days = n,
                    None => {
                        eprintln!("--history-days takes a whole number");
                        return ExitCode::from(2);
                    }
                }
            }
            let clock = std::env::var("LIFEBOAT_EMULATOR_CLOCK_FILE").unwrap_or_default();
            let emu = Emulator::attach(&endpoint, std::path::Path::new(&clock));
            let world = seed(&emu, &scenario, &dir).await;
            // cost-anomaly's section: the S3 Inventory reports of both backup buckets (which
            // `cost-seed` writes), Cost Explorer off (moto serves it canned results only).
            lifeboat_tests::cost::write_cost_policy(
                &world,
                &lifeboat_tests::cost::CostPolicy::default(),
            );
            let mut env = String::new();
            for (k, v) in function_env(&endpoint, &world) {
                // Quoted: values may hold '=' (LIFEBOAT_LOCAL_ENDPOINTS); dotenv and sh agree.
                env.push_str(&format!("{k}=\"{v}\"\n"));
            }
            env.push_str(&format!("LIFEBOAT_REPORT_QUEUE_URL={}\n", world.queue_url));
            env.push_str(&format!(
                "LIFEBOAT_DEMO_CATALOG_DB={}\n",
                world.catalog_database
            ));
            // The hosted zone of the failover plan's record (failover-state reads it).
            env.push_str(&format!("{ZONE_VAR}={}\n", world.zone_id));
            if let Err(e) = std::fs::write(dir.join("env"), env) {
                eprintln!("cannot write {}: {e}", dir.join("env").display());
                return ExitCode::FAILURE;
            }
            println!(
                "seeded: RDS ecommerce-prod-db (PostgreSQL, {} old Lifeboat snapshots + a person's manual snapshot + automated) and its DR read replica {} (us-west-2, ReplicaLag {DEMO_REPLICA_LAG} s), analytics-db (opted in by tag), scratch-db (not selected), Aurora MySQL catalog-aurora, Redis ecommerce-redis-cluster; restore subnet groups and security group; database secrets; the shop's data in local PostgreSQL {} and MariaDB {}; buckets {} and {}; report topic {} -> SQS inbox; for failover: hosted zone {} with {}, the app secret {} (us-west-2), the SSM parameter {}, the alarm {}",
                3 + scenario.history_days,
                failover::REPLICA,
                world.orders_database,
                world.catalog_database,
                world.backup_bucket,
                world.dr_backup_bucket,
                world.topic_arn,
                world.zone_id,
                failover::RECORD,
                failover::APP_SECRET,
                failover::TARGET_PARAMETER,
                failover::ALARM
            );
            ExitCode::SUCCESS
        }
        "emails" => {
            let Ok(queue) = std::env::var("LIFEBOAT_REPORT_QUEUE_URL") else {
                eprintln!("LIFEBOAT_REPORT_QUEUE_URL is not set (source STATE_DIR/env)");
                return ExitCode::from(2);
            };
            let config = lifeboat_tests::config_for(&endpoint, PRIMARY).await;
            let emails = read_emails(&config, &queue).await;
            if emails.is_empty() {
                println!("(no report email arrived)");
            }
            for e in emails {
                println!("----------------------------------------------------------------------");
                println!("Subject: {}\n", e.subject);
                println!("{}", e.body);
            }
            ExitCode::SUCCESS
        }
        "metrics" => {
            // The seeded series age out of the checks' windows: put the last minutes' again.
            let config = lifeboat_tests::config_for(&endpoint, PRIMARY).await;
            let world = world_from_env();
            lifeboat_tests::seed_metrics(&config, &world, chrono::Utc::now()).await;
            // The DR replica the seed made replicates on: its lag stays what the seed said.
            failover::replica_lag(&config, DR, failover::REPLICA, DEMO_REPLICA_LAG).await;
            println!("  put the last minutes' S3 replication, cert.s3.* and ReplicaLag metrics");
            ExitCode::SUCCESS
        }
        "cost-seed" => cost_seed(&endpoint).await,
        "cost-anomaly" => cost_anomaly_seed(&endpoint).await,
        "failover-lag" => {
            let Some(seconds) = args.get(2).and_then(|v| v.parse::<f64>().ok()) else {
                eprintln!("usage: lifeboat-local failover-lag STATE_DIR SECONDS [REGION ID]");
                return ExitCode::from(2);
            };
            let region = args.get(3).map(String::as_str).unwrap_or(DR);
            let id = args.get(4).map(String::as_str).unwrap_or(failover::REPLICA);
            failover_lag(&endpoint, &dir, seconds, region, id).await
        }
        "failover-state" => {
            let Ok(zone) = std::env::var(ZONE_VAR) else {
                eprintln!("{ZONE_VAR} is not set (source STATE_DIR/env)");
                return ExitCode::from(2);
            };
            failover_state(&endpoint, &zone).await;
            ExitCode::SUCCESS
        }
        "damage" => {
            let Ok(db) = std::env::var("LIFEBOAT_DEMO_CATALOG_DB") else {
                eprintln!("LIFEBOAT_DEMO_CATALOG_DB is not set (source STATE_DIR/env)");
                return ExitCode::from(2);
            };
            use lifeboat_shared::data::sql::Engine;
            use lifeboat_tests::shop::{damage_in_place, Damage};
            damage_in_place(Engine::Mysql, &db, Damage::LostRecentOrders).await;
            damage_in_place(Engine::Mysql, &db, Damage::OrphanedItems).await;
            println!("damaged MariaDB database {db}: the 5 newest orders and their items lost, 2 order_items rows orphaned");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}: seed, emails, metrics, damage, failover-lag, failover-state, cost-seed or cost-anomaly");
            ExitCode::from(2)
        }
    }
}

/// Single-core CRC64NVME speed: one call over the whole buffer (the microbenchmark) and the
/// sweep's way, a streaming digest fed 64 KiB chunks as response bodies arrive.
fn crc_bench(mib: usize) -> String {
    let buf: Vec<u8> = (0..mib * 1024 * 1024)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let best = |f: &dyn Fn() -> u64| {
        (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(f());
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let oneshot = best(&|| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &buf));
    let streaming = best(&|| {
        let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        for c in buf.chunks(64 * 1024) {
            d.update(c);
        }
        d.finalize()
    });
    let gbs = |s: f64| buf.len() as f64 / s / 1e9;
    format!(
        "{{\"mib\": {mib}, \"oneshot_gb_per_s\": {:.2}, \"streaming_64k_gb_per_s\": {:.2}, \"streaming_share\": {:.3}}}",
        gbs(oneshot),
        gbs(streaming),
        oneshot / streaming
    )
}

async fn sweep_bench(src: &str, rep: &str, concurrency: usize, compare: &str) -> ExitCode {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!("AWS_ENDPOINT_URL is not set");
        return ExitCode::from(2);
    };
    let config = lifeboat_tests::config_for(&endpoint, PRIMARY).await;
    let s3 = lifeboat_tests::s3(&config);
    let sides = restore_verification::sweeps::execute::Sides {
        source: s3.clone(),
        replica: s3,
    };
    let text = format!("{{name: bench, source: {{bucket: {src}, prefix: backups/}}, replica: {{bucket: {rep}, prefix: backups/}}, sample_rate: 1, concurrency: {concurrency}, compare: {compare}}}");
    let sw: lifeboat_shared::policy::Sweep = match serde_yaml_ng::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = restore_verification::sweeps::execute::Options {
        sample_rate: 1.0,
        seed: "bench".into(),
        repair: false,
        threshold_percent: 0.5,
        concurrency,
    };
    match restore_verification::sweeps::execute::run(&sides, &sw, &opts).await {
        Ok(r) => {
            println!(
                "{{\"objects\": {}, \"seconds\": {:.3}, \"api_calls\": {}, \"by_etag\": {}, \"by_checksum\": {}, \"by_hash\": {}, \"bytes_hashed\": {}, \"mismatches\": {}, \"errors\": {}}}",
                r.total_sampled, r.seconds, r.api_calls, r.compared_by_etag, r.compared_by_checksum, r.compared_by_hash, r.bytes_hashed, r.mismatch_details.len(), r.errors.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// replication-lag-check over `components` RDS components, `pairs` replicated bucket pairs and
/// `rules` metric rules: seeded in the emulator (AWS_ENDPOINT_URL), then two runs (the first
/// check, then a quiet one) through `scripts/fault_proxy.py` without rules, which counts every
/// request by service and operation. Prints one JSON object.
/// us-east-1 list prices (2026): GetMetricData per metric requested, S3 requests (PUT, COPY,
/// POST, LIST / GET and the rest; DELETE free), Lambda arm64 per GB-second and per request,
/// CloudWatch Logs ingestion per GB, a custom metric per month.
const PRICE_METRIC_REQUESTED: f64 = 0.01 / 1_000.0;
const PRICE_S3_PUT_LIST: f64 = 0.005 / 1_000.0;
const PRICE_S3_GET: f64 = 0.0004 / 1_000.0;
const PRICE_LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const PRICE_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
const PRICE_LOGS_GB: f64 = 0.50;
const PRICE_CUSTOM_METRIC_MONTH: f64 = 0.30;
/// The function's memory (infra/template.yaml) and what a run logs besides EMF (its report
/// line and a few info lines), measured from the demo's logs.
const LAMBDA_GB: f64 = 0.25;
const LOG_BYTES_BESIDES_EMF: usize = 4_096;

/// What one run costs, by part. RDS, ElastiCache and AWS Backup reads are free; each canary
/// written is also a replication PUT in the replica's bucket.
fn run_cost(
    by_op: &std::collections::BTreeMap<String, usize>,
    queries: f64,
    canaries: usize,
    wall: f64,
    emf_bytes: usize,
) -> serde_json::Value {
    let mut s3 = canaries as f64 * PRICE_S3_PUT_LIST;
    for (op, n) in by_op {
        let Some(op) = op.strip_prefix("s3:") else {
            continue;
        };
        s3 += *n as f64
            * match op {
                "PutObject"
                | "CopyObject"
                | "PostObject"
                | "ListObjectsV2"
                | "ListObjects"
                | "ListObjectVersions"
                | "CreateMultipartUpload"
                | "UploadPart"
                | "CompleteMultipartUpload" => PRICE_S3_PUT_LIST,
                "DeleteObject" | "DeleteObjects" => 0.0,
                _ => PRICE_S3_GET,
            };
    }
    serde_json::json!({
        "get_metric_data": queries * PRICE_METRIC_REQUESTED,
        "s3": s3,
        "lambda": wall * LAMBDA_GB * PRICE_LAMBDA_GB_SECOND + PRICE_LAMBDA_REQUEST,
        "logs": (emf_bytes + LOG_BYTES_BESIDES_EMF) as f64 / 1e9 * PRICE_LOGS_GB,
    })
}

/// The metrics (name and dimension values) an EMF line defines.
fn emf_metric_names(line: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in v["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let dims: Vec<String> = d["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|set| set.as_array().into_iter().flatten())
            .filter_map(|k| k.as_str())
            .map(|k| format!("{k}={}", v[k].as_str().unwrap_or("")))
            .collect();
        for m in d["Metrics"].as_array().into_iter().flatten() {
            out.push(format!(
                "{}/{}[{}]",
                d["Namespace"].as_str().unwrap_or(""),
                m["Name"].as_str().unwrap_or(""),
                dims.join(",")
            ));
        }
    }
    out
}

async fn lag_bench(components: usize, pairs: usize, rules: usize) -> ExitCode {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, Destination, Metrics, MetricsStatus, ReplicationConfiguration,
        ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus, VersioningConfiguration,
    };
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!("AWS_ENDPOINT_URL is not set");
        return ExitCode::from(2);
    };
    let primary = lifeboat_tests::config_for(&endpoint, PRIMARY).await;
    let dr = lifeboat_tests::config_for(&endpoint, lifeboat_tests::DR).await;
    let rds = aws_sdk_rds::Client::new(&primary);
    let s3p = lifeboat_tests::s3(&primary);
    let s3d = lifeboat_tests::s3(&dr);
    // (the replica buckets' region, where S3 publishes ReplicationLatency)
    let cw = aws_sdk_cloudwatch::Client::new(&dr);
    let started = std::time::Instant::now();
    for i in 0..components {
        let _ = rds
            .create_db_instance()
            .db_instance_identifier(format!("lag-db-{i}"))
            .db_instance_class("db.t4g.micro")
            .engine("postgres")
            .master_username("bench")
            .master_user_password("bench-password-1")
            .allocated_storage(20)
            .send()
            .await;
    }
    let report_bucket = "lag-bench-reports";
    let _ = s3p.create_bucket().bucket(report_bucket).send().await;
    let now = chrono::Utc::now();
    for i in 0..pairs {
        let (src, dst) = (format!("lag-src-{i}"), format!("lag-dst-{i}"));
        let _ = s3p.create_bucket().bucket(&src).send().await;
        lifeboat_tests::create_dr_bucket(&s3d, &dst).await;
        for (c, b) in [(&s3p, &src), (&s3d, &dst)] {
            let _ = c
                .put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await;
        }
        let rule = ReplicationRule::builder()
            .id("to-dr")
            .status(ReplicationRuleStatus::Enabled)
            .priority(1)
            .filter(ReplicationRuleFilter::builder().prefix("backups/").build())
            .destination(
                Destination::builder()
                    .bucket(format!("arn:aws:s3:::{dst}"))
                    .metrics(
                        Metrics::builder()
                            .status(MetricsStatus::Enabled)
                            .build()
                            .expect("a complete builder"),
                    )
                    .build()
                    .expect("a complete builder"),
            )
            .build()
            .expect("a complete builder");
        let _ = s3p
            .put_bucket_replication()
            .bucket(&src)
            .replication_configuration(
                ReplicationConfiguration::builder()
                    .role("arn:aws:iam::123456789012:role/replication")
                    .rules(rule)
                    .build()
                    .expect("a complete builder"),
            )
            .send()
            .await;
        lifeboat_tests::put_metric(
            &cw,
            "AWS/S3",
            "ReplicationLatency",
            &[
                ("SourceBucket", &src),
                ("DestinationBucket", &dst),
                ("RuleId", "to-dr"),
            ],
            // (through the benchmark's virtual quarter hour: the runs are at +0, +5, +10, +15)
            &[-2, 3, 8, 13].map(|m| (now + chrono::Duration::minutes(m), 40.0)),
        )
        .await;
    }
    let seeded = started.elapsed().as_secs_f64();
    let mut policy = format!("version: 1\nbuckets: {{backup: {report_bucket}}}\ncomponents:\n");
    for i in 0..components {
        policy.push_str(&format!(
            "  - {{name: lag-db-{i}, kind: rds-instance, ids: [lag-db-{i}], rpo: 24h}}\n"
        ));
    }
    policy.push_str("monitoring:\n  replication:\n");
    for i in 0..pairs {
        policy.push_str(&format!(
            "    - {{name: pair-{i}, source: {{bucket: lag-src-{i}, prefix: backups/}}, replica: {{bucket: lag-dst-{i}, prefix: backups/, region: us-west-2}}}}\n"
        ));
    }
    if rules > 0 {
        policy.push_str("  rules:\n");
        for i in 0..rules {
            policy.push_str(&format!(
                "    - {{name: rule-{i}, namespace: Bench, metric: fail-{i}, of: total-{i}, window: 10m, above: 5, severity: warning}}\n"
            ));
        }
    }
    let policy = match lifeboat_shared::policy::Policy::parse(&policy) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let proxy = lifeboat_tests::faults::FaultProxy::start(&endpoint);
    let through = lifeboat_tests::config_for(&proxy.endpoint, PRIMARY).await;
    let aws = match lifeboat_shared::clients::Aws::from_config(through) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let env = lifeboat_shared::config::Env::from_lookup(|k| match k {
        "LIFEBOAT_POLICY" => Some("inline".into()),
        "LIFEBOAT_REPORT_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:lag-bench".into()),
        "LIFEBOAT_REPORT_BUCKET" => Some(report_bucket.into()),
        _ => None,
    });
    let env = match env {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = aws_sdk_sns::Client::new(&primary)
        .create_topic()
        .name("lag-bench")
        .send()
        .await;
    let app = match replication_lag_check::App::new(&aws, env, policy) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The deployed rhythm: the schedule every 5 minutes, a full check every 15 (the default
    // `monitoring.full_check_every`). A manual check first (full, the baseline), then the
    // schedule at +5 and +10 minutes (lag checks) and +15 (full, quiet).
    let t0 = chrono::Utc::now();
    let schedule = |id: &str, at: chrono::DateTime<chrono::Utc>| serde_json::json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events", "time": at.to_rfc3339(), "detail": {}});
    let plan = [
        (
            "first (manual, full)",
            serde_json::json!({"action": "check"}),
            t0,
        ),
        (
            "lag",
            schedule("lag-bench-2", t0 + chrono::Duration::minutes(5)),
            t0 + chrono::Duration::minutes(5),
        ),
        (
            "lag",
            schedule("lag-bench-3", t0 + chrono::Duration::minutes(10)),
            t0 + chrono::Duration::minutes(10),
        ),
        (
            "full",
            schedule("lag-bench-4", t0 + chrono::Duration::minutes(15)),
            t0 + chrono::Duration::minutes(15),
        ),
    ];
    let mut runs = Vec::new();
    let mut metrics: std::collections::BTreeSet<String> = Default::default();
    for (i, (label, event, at)) in plan.iter().enumerate() {
        proxy.clear_log();
        let t = std::time::Instant::now();
        let r = replication_lag_check::run(&app, event, &format!("bench-{i}"), *at, None).await;
        let wall = t.elapsed().as_secs_f64();
        let log = proxy.log();
        let mut by_op: std::collections::BTreeMap<String, usize> = Default::default();
        for q in &log {
            // AWS Backup's REST paths carry the resource: one name for the operation.
            let op = if q.service == "backup" && q.operation.ends_with("/recovery-points") {
                "ListRecoveryPointsByResource".to_string()
            } else {
                q.operation.clone()
            };
            *by_op.entry(format!("{}:{op}", q.service)).or_default() += 1;
        }
        let (headline, queries, calls, canaries, emf_bytes) = match &r {
            Ok(resp) => {
                let rep = resp.report();
                let m = |n: &str| {
                    rep.and_then(|r| r.measurements.iter().find(|x| x.name == n).map(|x| x.value))
                        .unwrap_or(-1.0)
                };
                let canaries = rep
                    .map(|r| {
                        r.actions
                            .iter()
                            .filter(|a| a.kind == "write-canary")
                            .count()
                    })
                    .unwrap_or(0);
                let mut emf: Vec<String> = rep
                    .map(lifeboat_shared::metrics::emf_lines)
                    .unwrap_or_default();
                // and the function's own per-component lines (EMF properties, one metric)
                if let Some(r) = rep {
                    let values =
                        serde_json::from_value(r.details["components"].clone()).unwrap_or_default();
                    emf.extend(replication_lag_check::report::component_lines(
                        replication_lag_check::FUNCTION,
                        r.finished_at,
                        &values,
                    ));
                }
                for line in &emf {
                    for name in emf_metric_names(line) {
                        metrics.insert(name);
                    }
                }
                (
                    rep.map(|r| r.headline.clone()).unwrap_or_default(),
                    m("MetricQueries"),
                    m("GetMetricDataCalls"),
                    canaries,
                    emf.iter().map(|l| l.len() + 1).sum::<usize>(),
                )
            }
            Err(e) => (format!("error: {e}"), -1.0, -1.0, 0, 0),
        };
        let cost = run_cost(&by_op, queries.max(0.0), canaries, wall, emf_bytes);
        runs.push(serde_json::json!({
            "label": label,
            "wall_seconds": wall,
            "requests": log.len(),
            "requests_by_operation": by_op,
            "metric_queries": queries,
            "get_metric_data_calls": calls,
            "canaries_written": canaries,
            "emf_bytes": emf_bytes,
            "cost_usd": cost,
            "headline": headline,
        }));
    }
    // A month (30 days) at the 5-minute schedule: 8,640 runs, one in three full.
    let month = |runs: &[serde_json::Value], key: &str| -> f64 {
        let per = |i: usize| runs[i]["cost_usd"][key].as_f64().unwrap_or(0.0);
        2_880.0 * per(3) + 5_760.0 * (per(1) + per(2)) / 2.0
    };
    let keys = ["get_metric_data", "s3", "lambda", "logs"];
    let mut monthly = serde_json::Map::new();
    let mut total = 0.0;
    for k in keys {
        let v = month(&runs, k);
        total += v;
        monthly.insert(k.into(), serde_json::json!(v));
    }
    monthly.insert("total".into(), serde_json::json!(total));
    // For comparison: every run a full check (`full_check_every` at the schedule's rate).
    let all_full: f64 = keys
        .iter()
        .map(|k| 8_640.0 * runs[3]["cost_usd"][*k].as_f64().unwrap_or(0.0))
        .sum();
    monthly.insert(
        "total_if_every_run_were_full".into(),
        serde_json::json!(all_full),
    );
    // EMF custom metrics are billed per metric and month, not per request: outside the
    // request-driven total above.
    monthly.insert("custom_metrics".into(), serde_json::json!(metrics.len()));
    let shared = metrics.iter().filter(|m| !m.contains("Component=")).count();
    monthly.insert(
        "custom_metrics_without_per_component".into(),
        serde_json::json!(shared),
    );
    monthly.insert(
        "custom_metrics_without_per_component_usd".into(),
        serde_json::json!(shared as f64 * PRICE_CUSTOM_METRIC_MONTH),
    );
    monthly.insert(
        "custom_metrics_usd".into(),
        serde_json::json!(metrics.len() as f64 * PRICE_CUSTOM_METRIC_MONTH),
    );
    println!(
        "{}",
        serde_json::json!({
            "components": components,
            "pairs": pairs,
            "rules": rules,
            "seed_seconds": seeded,
            "runs": runs,
            "monthly_usd": monthly,
        })
    );
    ExitCode::SUCCESS
}
