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
//!                                                      seed-002 metrics again (CloudWatch)
//!
//! The emulator endpoint comes from AWS_ENDPOINT_URL and its clock file from
//! LIFEBOAT_EMULATOR_CLOCK_FILE (both set by scripts/local-aws.sh).
use std::path::PathBuf;
use std::process::ExitCode;

use lifeboat_tests::{function_env, read_emails, seed, Emulator, Scenario, PRIMARY};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("crc-bench") {
        let mib: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(256);
        println!("{}", crc_bench(mib));
        return ExitCode::SUCCESS;
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
            let mut scenario = Scenario::default();
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
            if let Err(e) = std::fs::write(dir.join("env"), env) {
                eprintln!("cannot write {}: {e}", dir.join("env").display());
                return ExitCode::FAILURE;
            }
            println!(
                "seeded: RDS ecommerce-prod-db (PostgreSQL, {} old Lifeboat snapshots + a person's manual snapshot + automated), analytics-db (opted in by tag), scratch-db (not selected), Aurora MySQL catalog-aurora, Redis ecommerce-redis-cluster; restore subnet groups and security group; database secrets; the shop's data in local PostgreSQL {} and MariaDB {}; buckets {} and {}; report topic {} -> SQS inbox",
                3 + scenario.history_days,
                world.orders_database,
                world.catalog_database,
                world.backup_bucket,
                world.dr_backup_bucket,
                world.topic_arn
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
            let var = |k: &str| std::env::var(k).unwrap_or_default();
            let world = lifeboat_tests::World {
                orders_database: String::new(),
                catalog_database: var("LIFEBOAT_DEMO_CATALOG_DB"),
                security_group_id: String::new(),
                backup_bucket: "ecommerce-backups-prod-us-east-1".into(),
                dr_backup_bucket: "ecommerce-backups-prod-us-west-2".into(),
                report_bucket: var("LIFEBOAT_REPORT_BUCKET"),
                topic_arn: var("LIFEBOAT_REPORT_TOPIC_ARN"),
                queue_url: var("LIFEBOAT_REPORT_QUEUE_URL"),
                policy_path: PathBuf::from(var("LIFEBOAT_POLICY")),
            };
            lifeboat_tests::seed_metrics(&config, &world, chrono::Utc::now()).await;
            println!("  put the last minutes' S3 replication and cert.s3.* metrics");
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
            eprintln!("unknown command {other:?}: seed, emails or damage");
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
