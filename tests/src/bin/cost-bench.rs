//! cost-anomaly's S3 breakdown figures for docs/PERFORMANCE.md, run by `scripts/bench/cost.sh`
//! (a benchmark, not a test: it measures and asserts nothing). Every command talks to the
//! emulator at AWS_ENDPOINT_URL (scripts/local-aws.sh) and prints one JSON object.
//!
//!   cost-bench generate --objects N --dir DIR --bucket DEST --source SRC [--prefix P]
//!                       [--config ID] [--rows-per-file R] [--max-size B] [--versions]
//!                       [--today YYYY-MM-DD]
//!       An S3 Inventory report of a backup bucket of N objects, as AWS writes one (CSV, every
//!       field quoted, keys URL-encoded, gzip, split into data files of R rows, a manifest.json
//!       with each file's size and MD5 and a manifest.checksum, an older dated report folder and
//!       the hive/ symlink beside it), written under DIR and uploaded to DEST at
//!       `<P>/<SRC>/<ID>/...`. Created 5 hours ago. The objects: `object(i)` below.
//!   cost-bench seed --objects N --bucket SRC [--max-size B] [--concurrency C] [--today D]
//!       The same N objects (current versions), really put into SRC: one PutObject each, with
//!       its storage class and a body of its size (so --max-size keeps the emulator's memory
//!       small). Prints the seeding rate.
//!   cost-bench read --bucket DEST --source SRC [--prefix P] [--config ID]
//!       `cost_anomaly::s3_objects::inventory` on that report: seconds, CPU, peak RSS (VmHWM),
//!       rows, files, bytes, requests, groups, totals by class, the breakdown by group and class.
//!   cost-bench list --bucket SRC
//!       `cost_anomaly::s3_objects::listing` (ListObjectsV2) of SRC: the same figures.
//!
//!   cost-bench self-cost seed demo|COMPONENTS STATE_DIR
//!   cost-bench self-cost run STATE_DIR --ce off|on --run first|steady
//!   cost-bench self-cost reset STATE_DIR
//!   cost-bench self-cost tally <CALL_LOG_LINES
//!   cost-bench self-cost price [--init-seconds S] RUN.stdout...
//!       What a run of cost-anomaly itself costs (scripts/bench/cost-self.sh): see the
//!       `self_cost` module below.
//!
//! The objects (`object(i)`, a pure function of i, so `generate` and `seed` agree): 96% backup
//! objects in Lifeboat's layout `backups/<kind>/<source>/<snapshot-id>/...` over 20 sources (10
//! RDS instances and 4 Aurora clusters with RDS-export-style parquet parts, 6 ElastiCache groups
//! with .rdb files), last modified over two years, the storage class from a lifecycle by age
//! (STANDARD < 30 days, STANDARD_IA < 90, GLACIER < 365, DEEP_ARCHIVE after; ElastiCache
//! backups INTELLIGENT_TIERING after 30 days; audit-db never transitions); 4% reports, runs,
//! state and locks (a few keys with spaces and '+', a few at the root).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use cost_anomaly::objects::{Ages, Breakdown, Tally};
use cost_anomaly::s3_objects::{self, InventoryReport};
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::StreamExt;
use serde_json::{json, Value};

const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm";

const SOURCES: [(&str, &str); 20] = [
    ("rds-instance", "orders-db"),
    ("rds-instance", "payments-db"),
    ("rds-instance", "users-db"),
    ("rds-instance", "inventory-db"),
    ("rds-instance", "catalog-db"),
    ("rds-instance", "reviews-db"),
    ("rds-instance", "search-db"),
    ("rds-instance", "audit-db"),
    ("rds-instance", "billing-db"),
    ("rds-instance", "shipping-db"),
    ("aurora-cluster", "analytics-aurora"),
    ("aurora-cluster", "ledger-aurora"),
    ("aurora-cluster", "events-aurora"),
    ("aurora-cluster", "reporting-aurora"),
    ("elasticache", "sessions-redis"),
    ("elasticache", "cart-redis"),
    ("elasticache", "cache-redis"),
    ("elasticache", "rate-limit-redis"),
    ("elasticache", "queue-redis"),
    ("elasticache", "leaderboard-redis"),
];

const TABLES: [&str; 6] = [
    "public.orders",
    "public.order_items",
    "public.customers",
    "public.payments",
    "public.events",
    "public.audit_log",
];

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!(
            "usage: cost-bench generate|seed|read|list|self-cost [options] (see the source's header)"
        );
        return ExitCode::from(2);
    };
    if cmd == "self-cost" {
        return match self_cost::main(&args[1..]).await {
            Ok(v) => {
                println!("{v}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cost-bench self-cost: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let o = match Opts::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cost-bench {cmd}: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "generate" => generate(&o).await,
        "seed" => seed(&o).await,
        "read" => read(&o).await,
        "list" => list(&o).await,
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cost-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Opts {
    objects: u64,
    dir: Option<PathBuf>,
    bucket: String,
    source: String,
    prefix: Option<String>,
    config: String,
    rows_per_file: u64,
    max_size: Option<u64>,
    versions: bool,
    concurrency: usize,
    /// The day object ages count back from (keys carry dates: `generate` and `seed` must agree).
    today: NaiveDate,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            objects: 1_000_000,
            dir: None,
            bucket: String::new(),
            source: "lifeboat-backups".into(),
            prefix: Some("inventory".into()),
            config: "daily-csv".into(),
            rows_per_file: 100_000,
            max_size: None,
            versions: false,
            concurrency: 16,
            today: Utc::now().date_naive(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--versions" {
                o.versions = true;
                continue;
            }
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            let num = || {
                v.parse::<u64>()
                    .map_err(|_| format!("{a}: {v} is not a number"))
            };
            match a.as_str() {
                "--objects" => o.objects = num()?,
                "--dir" => o.dir = Some(PathBuf::from(v)),
                "--bucket" => o.bucket = v.clone(),
                "--source" => o.source = v.clone(),
                "--prefix" => o.prefix = Some(v.clone()).filter(|p| !p.is_empty()),
                "--config" => o.config = v.clone(),
                "--rows-per-file" => o.rows_per_file = num()?.max(1),
                "--max-size" => o.max_size = Some(num()?.max(1)),
                "--concurrency" => o.concurrency = num()?.max(1) as usize,
                "--today" => {
                    o.today = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                        .map_err(|_| format!("--today: {v} is not YYYY-MM-DD"))?
                }
                _ => return Err(format!("unknown option {a}")),
            }
        }
        if o.bucket.is_empty() {
            return Err("--bucket is required".into());
        }
        Ok(o)
    }

    fn base(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{}/{}/{}/", p.trim_matches('/'), self.source, self.config),
            None => format!("{}/{}/", self.source, self.config),
        }
    }
}

async fn client() -> Result<aws_sdk_s3::Client, String> {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is not set".to_string())?;
    let config = lifeboat_tests::config_for(&endpoint, "us-east-1").await;
    Ok(lifeboat_tests::s3(&config))
}

async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = lifeboat_shared::aws::errors::code(&e);
            if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                Ok(())
            } else {
                Err(format!("CreateBucket {bucket}: {code}"))
            }
        }
    }
}

// --- the objects -------------------------------------------------------------------------------

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A log-uniform size between `lo` and `hi` bytes.
fn log_size(h: u64, lo: f64, hi: f64) -> u64 {
    let u = (h % 1_000_000) as f64 / 1_000_000.0;
    (lo * (hi / lo).powf(u)) as u64
}

struct Obj {
    key: String,
    size: u64,
    class: &'static str,
    age_days: i64,
    /// Seconds into the day it was last modified.
    second: i64,
}

fn object(i: u64, max_size: Option<u64>, today: NaiveDate) -> Obj {
    let h = mix(i);
    let h2 = mix(h);
    let age_days = (h2 % 730) as i64;
    let second = ((h2 >> 20) % 86_400) as i64;
    let date = (today - Duration::days(age_days)).format("%Y%m%d");
    let (key, size, class) = if h % 100 < 96 {
        let (kind, source) = SOURCES[(h >> 8) as usize % SOURCES.len()];
        let snap = format!("lifeboat-{source}-{date}-0000");
        // audit-db's lifecycle rule never matched: it stays in STANDARD
        let lifecycle = if source == "audit-db" || age_days < 30 {
            "STANDARD"
        } else if kind == "elasticache" {
            "INTELLIGENT_TIERING"
        } else if age_days < 90 {
            "STANDARD_IA"
        } else if age_days < 365 {
            "GLACIER"
        } else {
            "DEEP_ARCHIVE"
        };
        match ((h >> 16) % 50, kind) {
            (0, _) => (
                format!("backups/{kind}/{source}/{snap}/manifest-{i:08}.json"),
                log_size(h >> 24, 1_000.0, 8_000.0),
                lifecycle,
            ),
            (_, "elasticache") => (
                format!("backups/{kind}/{source}/{snap}/{source}-0001-{i:08}.rdb"),
                log_size(h >> 24, 1e6, 512e6),
                lifecycle,
            ),
            _ => {
                let table = TABLES[(h >> 32) as usize % TABLES.len()];
                let db = source.split('-').next().unwrap_or(source);
                (
                    format!(
                        "backups/{kind}/{source}/{snap}/{snap}/{db}/{table}/1/part-{i:08}-{:08x}-c000.gz.parquet",
                        (h2 >> 32) as u32
                    ),
                    log_size(h >> 24, 64e3, 64e6),
                    lifecycle,
                )
            }
        }
    } else {
        let f = [
            "snapshot-export",
            "restore-verification",
            "failover-orchestrator",
            "cost-anomaly",
        ][(h >> 8) as usize % 4];
        match (h >> 16) % 100 {
            0 => (format!("README-{i:08}.txt"), 2_000, "STANDARD"),
            1..=4 => (
                format!("reports/{f}/notes/cost report {i:08}+draft.json"),
                log_size(h >> 24, 2e3, 5e4),
                "STANDARD",
            ),
            5..=59 => (
                format!("reports/{f}/{date}/run-{i:08}.json"),
                log_size(h >> 24, 2e3, 5e4),
                if age_days < 30 {
                    "STANDARD"
                } else {
                    "STANDARD_IA"
                },
            ),
            60..=89 => (
                format!("runs/{f}/{date}-{i:08}.json"),
                log_size(h >> 24, 1e3, 2e4),
                "STANDARD",
            ),
            90..=97 => (format!("state/{f}/status-{i:08}.json"), 800, "STANDARD"),
            _ => (format!("locks/{f}-{i:08}.json"), 200, "STANDARD"),
        }
    };
    let size = match max_size {
        Some(m) => 1 + mix(h2) % m,
        None => size,
    };
    Obj {
        key,
        size,
        class,
        age_days,
        second,
    }
}

/// As S3 Inventory writes a key in CSV: URL-encoded, a space as '+'.
fn url_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// --- generate ----------------------------------------------------------------------------------

async fn generate(o: &Opts) -> Result<Value, String> {
    let dir = o.dir.clone().ok_or("--dir is required")?;
    let t0 = Instant::now();
    let created = (Utc::now() - Duration::hours(5))
        .duration_trunc(Duration::minutes(1))
        .map_err(|e| e.to_string())?;
    let base = o.base();
    let _ = std::fs::remove_dir_all(&dir);
    let mut files: Vec<(String, u64, String)> = Vec::new();
    let (mut rows, mut file_rows, mut uncompressed) = (0u64, 0u64, 0u64);
    let mut gz: Option<GzEncoder<std::io::BufWriter<std::fs::File>>> = None;
    let mut current_key = String::new();
    let mut line = String::new();
    for i in 0..o.objects {
        if gz.is_none() {
            current_key = format!("{base}data/{}.csv.gz", uuid(mix(i ^ 0xDA7A)));
            let path = dir.join(&current_key);
            std::fs::create_dir_all(path.parent().ok_or("no parent")?)
                .map_err(|e| e.to_string())?;
            let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            gz = Some(GzEncoder::new(
                std::io::BufWriter::new(f),
                Compression::default(),
            ));
        }
        let w = gz.as_mut().ok_or("no file")?;
        let ob = object(i, o.max_size, o.today);
        let modified = created - Duration::days(ob.age_days) - Duration::seconds(ob.second);
        let h = mix(i ^ 0x5EED);
        let key = url_encode(&ob.key);
        // Versions: 3% of objects have a noncurrent version, 0.5% are deleted (a delete marker
        // is current, the object a noncurrent version).
        let deleted = o.versions && h % 200 == 0;
        let older = o.versions && h % 100 < 3;
        let mut emit =
            |version: u64, latest: bool, marker: bool, size: u64, when: DateTime<Utc>| {
                line.clear();
                row(
                    &mut line, &o.source, &key, version, latest, marker, size, when, &ob,
                );
                uncompressed += line.len() as u64;
                w.write_all(line.as_bytes())
            };
        let r = if deleted {
            emit(h, true, true, 0, modified + Duration::hours(1))
                .and_then(|()| emit(h ^ 1, false, false, ob.size, modified))
        } else {
            emit(h, true, false, ob.size, modified)
        };
        r.map_err(|e| e.to_string())?;
        rows += 1 + u64::from(deleted);
        file_rows += 1 + u64::from(deleted);
        if older {
            emit(
                h ^ 2,
                false,
                false,
                ob.size / 2 + 1,
                modified - Duration::days(3),
            )
            .map_err(|e| e.to_string())?;
            rows += 1;
            file_rows += 1;
        }
        if file_rows >= o.rows_per_file || i + 1 == o.objects {
            let w = gz.take().ok_or("no file")?;
            let mut inner = w.finish().map_err(|e| e.to_string())?;
            inner.flush().map_err(|e| e.to_string())?;
            drop(inner);
            let path = dir.join(&current_key);
            let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
            files.push((current_key.clone(), size, md5_of(&path)?));
            file_rows = 0;
        }
    }
    // manifest.json (+ .checksum) in the dated folder, an older report folder beside it (its
    // manifest names the same files: the reader must take the newest), hive/ as AWS writes it.
    let manifest = json!({
        "sourceBucket": o.source,
        "destinationBucket": format!("arn:aws:s3:::{}", o.bucket),
        "version": "2016-11-30",
        "creationTimestamp": created.timestamp_millis().to_string(),
        "fileFormat": "CSV",
        "fileSchema": SCHEMA,
        "files": files.iter().map(|(k, s, m)| json!({"key": k, "size": s, "MD5checksum": m})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    for (when, stale) in [(created, false), (created - Duration::days(1), true)] {
        let folder = dir.join(format!("{base}{}", when.format("%Y-%m-%dT%H-%MZ")));
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        let body = if stale {
            text.replace(
                &created.timestamp_millis().to_string(),
                &when.timestamp_millis().to_string(),
            )
        } else {
            text.clone()
        };
        let m = folder.join("manifest.json");
        std::fs::write(&m, body).map_err(|e| e.to_string())?;
        let sum = md5_of(&m)?;
        std::fs::write(folder.join("manifest.checksum"), format!("{sum}\n"))
            .map_err(|e| e.to_string())?;
        let hive = dir.join(format!("{base}hive/dt={}", when.format("%Y-%m-%d-%H-%M")));
        std::fs::create_dir_all(&hive).map_err(|e| e.to_string())?;
        let links: String = files
            .iter()
            .map(|(k, _, _)| format!("s3://{}/{k}\n", o.bucket))
            .collect();
        std::fs::write(hive.join("symlink.txt"), links).map_err(|e| e.to_string())?;
    }
    let generated = t0.elapsed().as_secs_f64();

    // Upload every file written under DIR to the destination bucket, key = its path.
    let t1 = Instant::now();
    let s3 = client().await?;
    ensure_bucket(&s3, &o.bucket).await?;
    let mut paths = Vec::new();
    walk(&dir, &mut paths).map_err(|e| e.to_string())?;
    for p in &paths {
        let key = p
            .strip_prefix(&dir)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .to_string();
        let body = ByteStream::from_path(p).await.map_err(|e| e.to_string())?;
        s3.put_object()
            .bucket(&o.bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "PutObject {key}: {}",
                    lifeboat_shared::aws::errors::code(&e)
                )
            })?;
    }
    let compressed: u64 = files.iter().map(|(_, s, _)| s).sum();
    Ok(json!({
        "objects": o.objects,
        "rows": rows,
        "files": files.len(),
        "rows_per_file": o.rows_per_file,
        "compressed_bytes": compressed,
        "uncompressed_bytes": uncompressed,
        "versions": o.versions,
        "max_size": o.max_size,
        "created": created.to_rfc3339(),
        "manifest": format!("s3://{}/{base}{}/manifest.json", o.bucket, created.format("%Y-%m-%dT%H-%MZ")),
        "generate_seconds": round(generated),
        "upload_seconds": round(t1.elapsed().as_secs_f64()),
    }))
}

#[allow(clippy::too_many_arguments)]
fn row(
    out: &mut String,
    bucket: &str,
    key: &str,
    version: u64,
    latest: bool,
    marker: bool,
    size: u64,
    modified: DateTime<Utc>,
    o: &Obj,
) {
    use std::fmt::Write as _;
    let h = mix(version);
    let (size, class, etag) = if marker {
        (String::new(), "", String::new())
    } else {
        (
            size.to_string(),
            o.class,
            format!("{:016x}{:016x}", h, mix(h)),
        )
    };
    let tier = match (marker, o.class) {
        (false, "INTELLIGENT_TIERING") if o.age_days >= 120 => "ARCHIVE_INSTANT_ACCESS",
        (false, "INTELLIGENT_TIERING") if o.age_days >= 60 => "INFREQUENT_ACCESS",
        (false, "INTELLIGENT_TIERING") => "FREQUENT_ACCESS",
        _ => "",
    };
    let multipart = !marker && o.size > 16 << 20;
    let _ = writeln!(
        out,
        "\"{bucket}\",\"{key}\",\"{:032x}\",\"{latest}\",\"{marker}\",\"{size}\",\"{}\",\"{etag}\",\"{class}\",\"{multipart}\",\"{}\",\"{}\",\"\",\"\",\"\",\"{tier}\",\"{}\",\"\"",
        u128::from(h) << 64 | u128::from(mix(h ^ 7)),
        modified.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        if marker { "" } else { "COMPLETED" },
        if marker { "" } else { "SSE-S3" },
        if marker { "" } else { "ENABLED" },
    );
}

fn uuid(h: u64) -> String {
    let g = mix(h);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16 & 0xfff,
        (g >> 48) as u16 & 0xfff,
        g & 0xffff_ffff_ffff
    )
}

/// MD5 of a file, by coreutils' md5sum (the manifest records each data file's).
fn md5_of(path: &Path) -> Result<String, String> {
    let out = std::process::Command::new("md5sum")
        .arg(path)
        .output()
        .map_err(|e| format!("md5sum: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("md5sum {}: no output", path.display()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(())
}

// --- seed --------------------------------------------------------------------------------------

async fn seed(o: &Opts) -> Result<Value, String> {
    let s3 = client().await?;
    ensure_bucket(&s3, &o.bucket).await?;
    let t0 = Instant::now();
    let (max, today) = (o.max_size, o.today);
    let mut puts = futures::stream::iter(0..o.objects)
        .map(|i| {
            let s3 = s3.clone();
            let bucket = o.bucket.clone();
            async move {
                let ob = object(i, max, today);
                s3.put_object()
                    .bucket(bucket)
                    .key(&ob.key)
                    .storage_class(StorageClass::from(ob.class))
                    .body(ByteStream::from(vec![0u8; ob.size as usize]))
                    .send()
                    .await
                    .map(|_| ob.size)
                    .map_err(|e| {
                        format!(
                            "PutObject {}: {}",
                            ob.key,
                            lifeboat_shared::aws::errors::code(&e)
                        )
                    })
            }
        })
        .buffer_unordered(o.concurrency);
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(r) = puts.next().await {
        bytes += r?;
        n += 1;
        if n % 10_000 == 0 {
            eprintln!(
                "[cost-bench seed] {n} objects, {:.0}/s",
                n as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(json!({
        "objects": n,
        "bytes": bytes,
        "seconds": round(secs),
        "per_second": round(n as f64 / secs),
        "concurrency": o.concurrency,
    }))
}

// --- read and list -----------------------------------------------------------------------------

fn ages() -> Ages {
    let now = Utc::now();
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    Ages {
        at: midnight,
        standard_after: Duration::days(30),
        day: (midnight - Duration::days(1)).date_naive(),
    }
}

async fn read(o: &Opts) -> Result<Value, String> {
    let s3 = client().await?;
    let before = proc_status();
    let report = InventoryReport {
        source_bucket: o.source.clone(),
        destination_bucket: o.bucket.clone(),
        destination_prefix: o.prefix.clone(),
        config_id: o.config.clone(),
        max_age: Duration::days(2),
    };
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let r = s3_objects::inventory(&s3, &report, ages(), Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut v = figures(&r.breakdown, secs, cpu, before);
    v["way"] = json!("inventory");
    v["rows"] = json!(r.rows);
    v["files"] = json!(r.files);
    v["compressed_bytes_read"] = json!(r.bytes_read);
    v["requests"] = json!(r.requests);
    v["report_date"] = json!(r.report_date.to_rfc3339());
    v["rows_per_second"] = json!(round(r.rows as f64 / secs));
    Ok(v)
}

async fn list(o: &Opts) -> Result<Value, String> {
    let s3 = client().await?;
    let before = proc_status();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let r = s3_objects::listing(&s3, &o.bucket, false, ages())
        .await
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let mut v = figures(&r.breakdown, secs, cpu, before);
    v["way"] = json!("listing (ListObjectsV2)");
    v["rows"] = json!(r.breakdown.read);
    v["requests"] = json!(r.requests);
    Ok(v)
}

fn figures(b: &Breakdown, secs: f64, cpu: f64, before: (u64, u64)) -> Value {
    let after = proc_status();
    let mut by_class: BTreeMap<&str, Tally> = BTreeMap::new();
    for classes in b.current.values() {
        for (c, t) in classes {
            by_class.entry(c).or_default().merge(*t);
        }
    }
    let mut noncurrent = Tally::default();
    for classes in b.noncurrent.values() {
        for t in classes.values() {
            noncurrent.merge(*t);
        }
    }
    let total = b.total_current();
    json!({
        "seconds": round(secs),
        "cpu_seconds": round(cpu),
        "peak_rss_kb": after.1,
        "rss_before_kb": before.0,
        "peak_rss_before_kb": before.1,
        "groups": b.current.len(),
        "current": {"objects": total.objects, "bytes": total.bytes, "gb": round(total.gb())},
        "noncurrent": {"objects": noncurrent.objects, "bytes": noncurrent.bytes},
        "delete_markers": b.delete_markers,
        "current_by_class": by_class,
        "aged_standard_groups": b.aged_standard.len(),
        "breakdown": b.current,
    })
}

/// (VmRSS, VmHWM) in kB.
fn proc_status() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU of this process (from /proc/self/stat, in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name (which is in parentheses): state is field 3; utime 14, stime 15
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// --- self-cost: what a run of cost-anomaly costs (its own bill) ---------------------------------

/// What one scheduled run of cost-anomaly costs on its own account, at the demo's size and at N
/// components, counted from the requests the emulator served (not from the function's report)
/// and priced at list prices. Run by `scripts/bench/cost-self.sh`, which starts a fresh emulator
/// per size with `LIFEBOAT_CALL_LOG` set (scripts/moto_server.py logs every request it serves
/// with the caller's User-Agent app name, its SigV4 service and its JSON/query body):
///
/// - `seed demo|N STATE_DIR`: the account. `demo` is the demo's seeded world
///   (`lifeboat_tests::seed` with the demo's scenario, the cost section `lifeboat-local seed`
///   writes, `cost::seed_cost` for yesterday). `N` is N components: 70% RDS instances (an
///   automated snapshot each, 7 daily Lifeboat snapshots with their DR copies, every fifth a
///   person's manual snapshot), 15% Aurora clusters (AWS/RDS billed backup metrics), 15%
///   ElastiCache groups (2 sized Lifeboat snapshots); the backup bucket with three exports per
///   database (RDS export parts) and two per cache, replicated into the DR bucket, lifecycle
///   rules, both buckets' S3 Inventory reports and AWS/S3 storage metrics; a policy naming every
///   component. Both: 28 days of history as the function stores them (the day as it models it,
///   `cost::steady_history`), and Cost Explorer's canned answers (`cost::ce_answers`). Writes
///   STATE_DIR/self-cost.json, policy.yaml (Cost Explorer off), policy-ce.yaml (on), env (the
///   function's environment) and event.json (the schedule event).
/// - `run STATE_DIR --ce off|on --run first|steady`: one run of `cost_anomaly::run` with the
///   schedule event, in this process, with the function's own tracing (stderr) and EMF (stdout).
///   `first`: the report bucket put back as seeded (no alert state yet: the run emails), the
///   history as stored with Cost Explorer off, or on for a while (each day's actual cost
///   beside the model's: no backfill is due);
///   `steady`: after a first run, the day's record removed, so the run is a day like any other
///   (history and alert state there, nothing changed: no email). The last stdout line is the
///   figures: wall, CPU, peak RSS, and the function's requests from the call log, by operation.
/// - `reset STATE_DIR`: the report bucket as seeded, Cost Explorer off (before the release
///   binary's run);
///   `tally`: the function's requests among call log lines on stdin, by operation.
/// - `price [--init-seconds S] FILE.stdout...`: prices each run (its stdout: EMF lines and the
///   figures; FILE.stderr beside it: its log lines; Lambda's own platform lines) and the month:
///   30 steady runs, plus the custom metrics its EMF lines define (a full metric-month each, and
///   prorated to the hours a daily run sends them).
mod self_cost {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus, LifecycleRule,
        LifecycleRuleFilter, StorageClass, Transition, TransitionStorageClass,
        VersioningConfiguration,
    };
    use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
    use futures::StreamExt;
    use lifeboat_shared::backup::{
        backup_prefix, snapshot_id, TAG_COMPONENT, TAG_MANAGED, TAG_PERIOD, TAG_RUN, TAG_SOURCE,
    };
    use lifeboat_shared::policy::ResourceKind;
    use lifeboat_tests::cost::{self, CostPolicy};
    use lifeboat_tests::{Emulator, Scenario, World, DR, PRIMARY};
    use serde_json::{json, Value};

    use super::{cpu_seconds, proc_status, round};

    // us-east-1 list prices (the same as replication-lag-check's in lifeboat-local).
    /// GetMetricData, per metric requested.
    const PRICE_METRIC_REQUESTED: f64 = 0.01 / 1_000.0;
    /// S3 PUT, COPY, POST and LIST requests (ListParts and ListMultipartUploads among them).
    const PRICE_S3_PUT_LIST: f64 = 0.005 / 1_000.0;
    /// S3 GET and every other request (HEAD, GetBucket*); DELETE is free.
    const PRICE_S3_GET: f64 = 0.0004 / 1_000.0;
    /// Cost Explorer, per API request.
    const PRICE_CE_REQUEST: f64 = 0.01;
    /// Lambda arm64, per GB-second and per request.
    const PRICE_LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    const PRICE_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
    /// CloudWatch custom metrics, per metric-month (the first 10,000). AWS prorates them by
    /// the hour and meters them only in hours data is sent (CloudWatch User Guide, "Analyzing,
    /// optimizing, and reducing CloudWatch costs"): a metric a daily run sends is metered one
    /// hour a day, [`METERED_HOURS`] of a month's [`HOURS_A_MONTH`].
    const PRICE_CUSTOM_METRIC_MONTH: f64 = 0.30;
    const HOURS_A_MONTH: f64 = 730.0;
    const METERED_HOURS: f64 = 30.0;
    /// CloudWatch Logs ingestion, per GB.
    const PRICE_LOGS_GB: f64 = 0.50;
    /// SNS: a publish, and its delivery to one email subscription.
    const PRICE_SNS_PUBLISH: f64 = 0.50 / 1_000_000.0;
    const PRICE_SNS_EMAIL: f64 = 2.00 / 100_000.0;
    /// infra/template.yaml, CostAnomalyFunction MemorySize.
    const LAMBDA_MEMORY_MB: f64 = 256.0;
    /// The schedule: one run a day.
    const RUNS_A_MONTH: f64 = 30.0;
    /// What Lambda itself logs for a cold invocation of a custom runtime (its platform lines,
    /// as it writes them; request id, versions and figures of typical length).
    const PLATFORM_LINES: [&str; 4] = [
        "INIT_START Runtime Version: provided:al2023.v104\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:5e8de6bd50d624376ae13237e86c698fc23138eacd8186371c6930c98779d08f",
        "START RequestId: 3f6d2a1c-8b7e-4c5d-9e0f-1a2b3c4d5e6f Version: $LATEST",
        "END RequestId: 3f6d2a1c-8b7e-4c5d-9e0f-1a2b3c4d5e6f",
        "REPORT RequestId: 3f6d2a1c-8b7e-4c5d-9e0f-1a2b3c4d5e6f\tDuration: 1234.56 ms\tBilled Duration: 1262 ms\tMemory Size: 256 MB\tMax Memory Used: 24 MB\tInit Duration: 27.31 ms\t",
    ];
    /// The User-Agent app name of the function's requests (`Aws::for_function`).
    const APP: &str = "lifeboat-cost-anomaly";
    /// Days of history seeded before the day (the baseline's default window).
    const HISTORY_DAYS: i64 = 28;
    /// Daily Lifeboat snapshots kept per database (the policy's `retention: {daily: 7}`).
    const LIFEBOAT_SNAPSHOTS: i64 = 7;
    /// Exports kept in the backup bucket per database (the newest), and .rdb files per cache.
    const EXPORTS: i64 = 3;
    const CACHE_SNAPSHOTS: i64 = 2;
    const CACHE_SIZE: &str = "1.4 GB";
    const BUCKET: &str = "bench-backups-us-east-1";
    const DR_BUCKET: &str = "bench-backups-us-west-2";
    const REPORT_BUCKET: &str = "bench-lifeboat-reports";
    const TOPIC: &str = "bench-lifeboat-reports";
    /// In-flight requests while seeding.
    const SEED_CONCURRENCY: usize = 8;

    pub async fn main(args: &[String]) -> Result<Value, String> {
        let usage = "self-cost seed demo|COMPONENTS STATE_DIR | run STATE_DIR --ce off|on --run first|steady | reset STATE_DIR | tally <CALL_LOG_LINES | price [--init-seconds S] FILE.stdout...";
        match args.first().map(String::as_str) {
            Some("seed") => {
                let (Some(size), Some(dir)) = (args.get(1), args.get(2)) else {
                    return Err(usage.into());
                };
                let size = match size.as_str() {
                    "demo" => None,
                    n => Some(
                        n.parse::<usize>()
                            .ok()
                            .filter(|n| *n >= 7)
                            .ok_or_else(|| format!("{n}: demo or a number of components >= 7"))?,
                    ),
                };
                seed(size, Path::new(dir)).await
            }
            Some("run") => {
                let dir = args.get(1).ok_or(usage)?;
                let opt = |name: &str| {
                    args.iter()
                        .position(|a| a == name)
                        .and_then(|i| args.get(i + 1))
                        .map(String::as_str)
                };
                let ce = match opt("--ce") {
                    Some("on") => true,
                    Some("off") => false,
                    _ => return Err(usage.into()),
                };
                let steady = match opt("--run") {
                    Some("steady") => true,
                    Some("first") => false,
                    _ => return Err(usage.into()),
                };
                run(Path::new(dir), ce, steady).await
            }
            Some("reset") => {
                let dir = args.get(1).ok_or(usage)?;
                let (state, s3, world) = load(Path::new(dir)).await?;
                let deleted = reset(&state, &s3, &world.report_bucket).await?;
                set_history(Path::new(dir), &s3, &world.report_bucket, false).await?;
                Ok(json!({ "deleted": deleted }))
            }
            Some("tally") => {
                // call log lines on stdin (e.g. those a release binary's run added)
                use std::io::BufRead;
                let calls: Vec<Value> = std::io::stdin()
                    .lock()
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|l| serde_json::from_str(&l).ok())
                    .collect();
                Ok(Tally::of(calls.iter().filter(|c| c["app"].as_str() == Some(APP))).to_json())
            }
            Some("price") => {
                let mut init = 0.0;
                let mut files = Vec::new();
                let mut it = args[1..].iter();
                while let Some(a) = it.next() {
                    if a == "--init-seconds" {
                        init = it
                            .next()
                            .and_then(|v| v.parse().ok())
                            .ok_or("--init-seconds takes seconds")?;
                    } else {
                        files.push(PathBuf::from(a));
                    }
                }
                price(&files, init)
            }
            _ => Err(usage.into()),
        }
    }

    fn endpoint() -> Result<String, String> {
        std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
            "AWS_ENDPOINT_URL is not set: start the emulator with scripts/local-aws.sh".to_string()
        })
    }

    fn emulator(endpoint: &str) -> Emulator {
        let clock = std::env::var("LIFEBOAT_EMULATOR_CLOCK_FILE").unwrap_or_default();
        Emulator::attach(endpoint, Path::new(&clock))
    }

    fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(Duration::days(1)).unwrap_or(t)
    }

    fn rds_tags(pairs: &[(&str, &str)]) -> Vec<aws_sdk_rds::types::Tag> {
        pairs
            .iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build())
            .collect()
    }

    /// Runs `jobs` with [`SEED_CONCURRENCY`] in flight; the first error ends the seeding.
    async fn all<F>(jobs: Vec<F>) -> Result<(), String>
    where
        F: std::future::Future<Output = Result<(), String>>,
    {
        let results: Vec<Result<(), String>> = futures::stream::iter(jobs)
            .buffer_unordered(SEED_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    fn code<E>(e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        lifeboat_shared::aws::errors::code(e)
    }

    // --- seed ------------------------------------------------------------------------------

    /// The N-component account's resources, by kind.
    struct Fleet {
        rds: Vec<String>,
        aurora: Vec<String>,
        caches: Vec<String>,
    }

    impl Fleet {
        fn of(n: usize) -> Fleet {
            let aurora_n = n * 15 / 100;
            let cache_n = n * 15 / 100;
            let rds_n = n - aurora_n - cache_n;
            Fleet {
                rds: (0..rds_n).map(|i| format!("bench-db-{i:03}")).collect(),
                aurora: (0..aurora_n)
                    .map(|i| format!("bench-aurora-{i:03}"))
                    .collect(),
                caches: (0..cache_n)
                    .map(|i| format!("bench-cache-{i:03}"))
                    .collect(),
            }
        }

        /// The policy's components: the resource id without `bench-` is the component.
        fn policy(&self) -> String {
            use lifeboat_tests::ACCOUNT;
            let mut p = format!(
                "version: 1\ndr: {{region: {DR}}}\nbuckets:\n  backup: {BUCKET}\n  dr_backup: {DR_BUCKET}\nexport:\n  iam_role_arn: arn:aws:iam::{ACCOUNT}:role/rds-s3-export-role\n  kms_key_id: alias/lifeboat-export\ndefaults:\n  frequency: 1d\n  retention: {{daily: 7, weekly: 4, monthly: 1}}\n  copy_to_dr: true\n  export: true\ncomponents:\n"
            );
            for (kind, ids, extra) in [
                ("rds-instance", &self.rds, ""),
                ("aurora-cluster", &self.aurora, ""),
                (
                    "elasticache",
                    &self.caches,
                    ", frequency: 1h, copy_to_dr: false, export: false",
                ),
            ] {
                for id in ids {
                    p.push_str(&format!(
                        "  - {{name: {}, kind: {kind}, ids: [{id}], rpo: 24h{extra}}}\n",
                        id.trim_start_matches("bench-")
                    ));
                }
            }
            p
        }
    }

    async fn seed(size: Option<usize>, dir: &Path) -> Result<Value, String> {
        let endpoint = endpoint()?;
        let emu = emulator(&endpoint);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let t0 = Instant::now();
        let now = Utc::now();
        let day = cost_anomaly::command::day_before(now);
        let primary = emu.config(PRIMARY).await;
        let (world, base_policy, fleet) = match size {
            None => {
                // The demo's world (`lifeboat-local seed` and `cost-seed`).
                let scenario = Scenario {
                    failover_replica_lag: Some(30.0),
                    ..Scenario::default()
                };
                let world = lifeboat_tests::seed(&emu, &scenario, dir).await;
                let base = std::fs::read_to_string(&world.policy_path)
                    .map_err(|e| format!("{}: {e}", world.policy_path.display()))?;
                cost::write_cost_policy(&world, &CostPolicy::default());
                cost::seed_cost(&emu, &world, day).await;
                // (the shop's local databases: cost-anomaly never reads them)
                world.drop_databases().await;
                (world, base, None)
            }
            Some(n) => {
                let fleet = Fleet::of(n);
                let world = seed_fleet(&emu, &fleet, dir, day).await?;
                let base = fleet.policy();
                std::fs::write(
                    &world.policy_path,
                    cost::with_cost(&base, &CostPolicy::default()),
                )
                .map_err(|e| format!("{}: {e}", world.policy_path.display()))?;
                (world, base, Some(fleet))
            }
        };
        let ce_policy = dir.join("policy-ce.yaml");
        std::fs::write(
            &ce_policy,
            cost::with_cost(
                &base_policy,
                &CostPolicy {
                    cost_explorer: true,
                    ..CostPolicy::default()
                },
            ),
        )
        .map_err(|e| format!("{}: {e}", ce_policy.display()))?;

        // The history: the day as the function models it, over the baseline's window.
        let app = app(&endpoint, &world, false).await?;
        let template = cost::model_day(&app, day, Utc::now()).await;
        if !template.gaps.is_empty() {
            let gaps: Vec<String> = template
                .gaps
                .iter()
                .map(|g| format!("{}: {}: {}", g.component, g.source, g.error))
                .collect();
            return Err(format!(
                "the seeded account has sources without data: {}",
                gaps.join("; ")
            ));
        }
        std::fs::write(
            dir.join("template.json"),
            serde_json::to_string(&template).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let days = history(&template, false);
        let s3p = lifeboat_tests::s3(&primary);
        cost::seed_history(&s3p, &world.report_bucket, &days).await;
        // Cost Explorer's answers, in the order cost-anomaly asks: the day and the two before,
        // then (asked only when the stored actual series is short) the backfill. moto hands
        // each request body it has not seen the next one; the same body gets it again.
        cost::queue_cost_explorer(
            &endpoint,
            cost::ce_answers("Component", &template, day, HISTORY_DAYS, 1.0, true),
        )
        .await;
        let seeded_keys = keys(&s3p, &world.report_bucket).await?;

        // The function's environment (the release binary's run) and the schedule event.
        let mut env = String::new();
        for (k, v) in lifeboat_tests::function_env(&endpoint, &world) {
            env.push_str(&format!("{k}=\"{v}\"\n"));
        }
        std::fs::write(dir.join("env"), env).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("event.json"), event(day, "release").to_string())
            .map_err(|e| e.to_string())?;

        let components = template.components();
        let policy_components = app.policy.components.len();
        let (rds, dr) = snapshot_counts(&endpoint).await?;
        let state = json!({
            "size": size.map_or("demo".to_string(), |n| n.to_string()),
            "day": day,
            "endpoint": endpoint,
            "world": {
                "backup_bucket": world.backup_bucket,
                "dr_backup_bucket": world.dr_backup_bucket,
                "report_bucket": world.report_bucket,
                "topic_arn": world.topic_arn,
                "policy": world.policy_path,
                "policy_ce": ce_policy,
            },
            "policy_components": policy_components,
            "day_components": components.len(),
            "fleet": fleet.as_ref().map(|f| json!({"rds_instances": f.rds.len(), "aurora_clusters": f.aurora.len(), "elasticache_groups": f.caches.len()})),
            "snapshots": {"rds_primary": rds, "rds_dr": dr},
            "day_lines": template.lines.len(),
            "day_usd": template.figure(&cost_anomaly::plan::Scope::Total),
            "history_days": days.len(),
            "seeded_keys": seeded_keys,
            "seed_seconds": round(t0.elapsed().as_secs_f64()),
        });
        std::fs::write(dir.join("self-cost.json"), state.to_string()).map_err(|e| e.to_string())?;
        let mut summary = state;
        if let Some(o) = summary.as_object_mut() {
            o.remove("seeded_keys");
        }
        Ok(summary)
    }

    /// Manual (primary, DR) RDS snapshots and automated ones in the primary region.
    async fn snapshot_counts(endpoint: &str) -> Result<(Value, Value), String> {
        let mut out = Vec::new();
        for region in [PRIMARY, DR] {
            let rds = aws_sdk_rds::Client::new(&lifeboat_tests::config_for(endpoint, region).await);
            let mut by: BTreeMap<String, usize> = BTreeMap::new();
            let mut marker = None;
            loop {
                let page = rds
                    .describe_db_snapshots()
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| format!("DescribeDBSnapshots in {region}: {e}"))?;
                for s in page.db_snapshots() {
                    *by.entry(s.snapshot_type().unwrap_or("?").to_string())
                        .or_default() += 1;
                }
                marker = page.marker().map(str::to_string);
                if marker.is_none() {
                    break;
                }
            }
            out.push(json!(by));
        }
        let dr = out.pop().unwrap_or_default();
        Ok((out.pop().unwrap_or_default(), dr))
    }

    async fn seed_fleet(
        emu: &Emulator,
        fleet: &Fleet,
        dir: &Path,
        day: NaiveDate,
    ) -> Result<World, String> {
        let primary = emu.config(PRIMARY).await;
        let dr = emu.config(DR).await;
        let (s3p, s3d) = (lifeboat_tests::s3(&primary), lifeboat_tests::s3(&dr));
        let rds = aws_sdk_rds::Client::new(&primary);
        let rds_dr = aws_sdk_rds::Client::new(&dr);
        let ec = aws_sdk_elasticache::Client::new(&primary);
        let cw = aws_sdk_cloudwatch::Client::new(&primary);
        let now = Utc::now();
        let gib = 1_073_741_824.0;

        // Buckets: the backup bucket replicated to the DR bucket (versioned, lifecycle rules),
        // the report bucket, the inventory reports' destinations; the report topic.
        s3p.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .map_err(|e| format!("CreateBucket {BUCKET}: {}", code(&e)))?;
        s3p.create_bucket()
            .bucket(REPORT_BUCKET)
            .send()
            .await
            .map_err(|e| format!("CreateBucket {REPORT_BUCKET}: {}", code(&e)))?;
        s3p.create_bucket()
            .bucket(cost::INVENTORY_BUCKET)
            .send()
            .await
            .map_err(|e| format!("CreateBucket {}: {}", cost::INVENTORY_BUCKET, code(&e)))?;
        lifeboat_tests::create_dr_bucket(&s3d, DR_BUCKET).await;
        lifeboat_tests::create_dr_bucket(&s3d, cost::DR_INVENTORY_BUCKET).await;
        for (client, bucket) in [(&s3p, BUCKET), (&s3d, DR_BUCKET)] {
            client
                .put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| format!("versioning of {bucket}: {}", code(&e)))?;
            let rule = LifecycleRule::builder()
                .id("backups-to-glacier-ir")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("backups/").build())
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::GlacierIr)
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?;
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .rules(rule)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| format!("lifecycle of {bucket}: {}", code(&e)))?;
        }
        s3p.put_bucket_replication()
            .bucket(BUCKET)
            .replication_configuration(lifeboat_tests::replication_configuration(DR_BUCKET))
            .send()
            .await
            .map_err(|e| format!("replication of {BUCKET}: {}", code(&e)))?;
        let topic = aws_sdk_sns::Client::new(&primary)
            .create_topic()
            .name(TOPIC)
            .send()
            .await
            .map_err(|e| format!("CreateTopic: {e}"))?
            .topic_arn()
            .unwrap_or_default()
            .to_string();

        // RDS instances (moto takes each one's automated snapshot when it is created).
        all(fleet
            .rds
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let rds = rds.clone();
                async move {
                    rds.create_db_instance()
                        .db_instance_identifier(id)
                        .engine("postgres")
                        .db_instance_class("db.t4g.medium")
                        .allocated_storage(20 + (i as i32 * 37) % 480)
                        .master_username("bench")
                        .master_user_password("bench-password-1")
                        .backup_retention_period(7)
                        .set_tags(Some(rds_tags(&[("env", "prod")])))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("CreateDBInstance {id}: {e}"))
                }
            })
            .collect())
        .await?;
        // Lifeboat's daily snapshots at their ages, each copied to the DR region minutes later.
        for age in (1..=LIFEBOAT_SNAPSHOTS).rev() {
            let period = midnight(now - Duration::days(age));
            let period_text = period.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            emu.shift_clock(period + Duration::minutes(5) - Utc::now());
            all(fleet
                .rds
                .iter()
                .map(|id| {
                    let (rds, period_text) = (rds.clone(), period_text.clone());
                    async move {
                        let name = snapshot_id(id, period);
                        let component = id.trim_start_matches("bench-");
                        rds.create_db_snapshot()
                            .db_instance_identifier(id)
                            .db_snapshot_identifier(&name)
                            .set_tags(Some(rds_tags(&[
                                (TAG_MANAGED, "true"),
                                (TAG_COMPONENT, component),
                                (TAG_SOURCE, id),
                                (TAG_PERIOD, &period_text),
                                (TAG_RUN, "seeded-history"),
                            ])))
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("CreateDBSnapshot {name}: {e}"))
                    }
                })
                .collect())
            .await?;
            emu.shift_clock(period + Duration::minutes(25) - Utc::now());
            all(fleet
                .rds
                .iter()
                .map(|id| {
                    let rds_dr = rds_dr.clone();
                    async move {
                        let name = snapshot_id(id, period);
                        rds_dr
                            .copy_db_snapshot()
                            .source_db_snapshot_identifier(format!(
                                "arn:aws:rds:{PRIMARY}:{}:snapshot:{name}",
                                lifeboat_tests::ACCOUNT
                            ))
                            .target_db_snapshot_identifier(&name)
                            .copy_tags(true)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("CopyDBSnapshot {name}: {e}"))
                    }
                })
                .collect())
            .await?;
        }
        // A person's manual snapshot of every fifth database, ten days ago (no retention
        // governs it).
        let manual = midnight(now - Duration::days(10)) + Duration::hours(14);
        emu.shift_clock(manual - Utc::now());
        all(fleet
            .rds
            .iter()
            .step_by(5)
            .map(|id| {
                let rds = rds.clone();
                async move {
                    let name = format!("{id}-before-upgrade-{}", manual.format("%Y%m%d"));
                    rds.create_db_snapshot()
                        .db_instance_identifier(id)
                        .db_snapshot_identifier(&name)
                        .set_tags(Some(rds_tags(&[("created-by", "oncall")])))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("CreateDBSnapshot {name}: {e}"))
                }
            })
            .collect())
        .await?;
        emu.reset_clock();

        // Aurora clusters and the day's billed backup bytes AWS/RDS publishes for each.
        all(fleet
            .aurora
            .iter()
            .map(|id| {
                let rds = rds.clone();
                async move {
                    rds.create_db_cluster()
                        .db_cluster_identifier(id)
                        .engine("aurora-mysql")
                        .engine_version("8.0.mysql_aurora.3.08.0")
                        .master_username("bench")
                        .master_user_password("bench-password-1")
                        .backup_retention_period(7)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("CreateDBCluster {id}: {e}"))
                }
            })
            .collect())
        .await?;
        all(fleet
            .aurora
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let cw = cw.clone();
                async move {
                    let volume = 100.0 + (i * 53 % 400) as f64;
                    let retention = volume * 1.6;
                    let snapshots = volume * 0.4;
                    for (metric, v) in [
                        (
                            "TotalBackupStorageBilled",
                            (retention + snapshots - volume) * gib,
                        ),
                        ("SnapshotStorageUsed", snapshots * gib),
                        ("BackupRetentionPeriodStorageUsed", retention * gib),
                    ] {
                        let points: Vec<(DateTime<Utc>, f64)> =
                            (0..4).map(|h| (cost::at(day, 6 * h, 0), v)).collect();
                        lifeboat_tests::put_metric(
                            &cw,
                            "AWS/RDS",
                            metric,
                            &[("DBClusterIdentifier", id)],
                            &points,
                        )
                        .await;
                    }
                    Ok(())
                }
            })
            .collect())
        .await?;

        // ElastiCache groups and their hourly Lifeboat snapshots (two kept here), sized through
        // the emulator's NodeSnapshots stand-in.
        all(fleet
            .caches
            .iter()
            .map(|id| {
                let ec = ec.clone();
                async move {
                    ec.create_replication_group()
                        .replication_group_id(id)
                        .replication_group_description("bench cache")
                        .engine("redis")
                        .cache_node_type("cache.t4g.small")
                        .num_cache_clusters(1)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("CreateReplicationGroup {id}: {e}"))
                }
            })
            .collect())
        .await?;
        let mut cache_names = Vec::new();
        for hours in [1, 25].into_iter().take(CACHE_SNAPSHOTS as usize) {
            let t = now - Duration::hours(hours);
            let period = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
            emu.shift_clock(t - Utc::now());
            let names: Vec<String> = fleet
                .caches
                .iter()
                .map(|id| snapshot_id(id, period))
                .collect();
            all(fleet
                .caches
                .iter()
                .zip(&names)
                .map(|(id, name)| {
                    let ec = ec.clone();
                    async move {
                        ec.create_snapshot()
                            .replication_group_id(id)
                            .snapshot_name(name)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| format!("CreateSnapshot {name}: {e}"))
                    }
                })
                .collect())
            .await?;
            cache_names.extend(names);
        }
        emu.reset_clock();
        let sizes: BTreeMap<&str, Vec<&str>> = cache_names
            .iter()
            .map(|n| (n.as_str(), vec![CACHE_SIZE]))
            .collect();
        cost::size_cache_snapshots(&emu.endpoint, PRIMARY, &sizes).await;

        // The backup bucket: each database's newest exports (RDS export parts, production sizes
        // from the inventory report), each cache's newest .rdb files; their replicas minutes
        // later in the DR bucket.
        for age in (1..=EXPORTS).rev() {
            let period = midnight(now - Duration::days(age));
            let mut keys = Vec::new();
            for (kind, ids) in [
                (ResourceKind::RdsInstance, &fleet.rds),
                (ResourceKind::AuroraCluster, &fleet.aurora),
            ] {
                for id in ids {
                    let snap = snapshot_id(id, period);
                    let prefix = format!("{}export/", backup_prefix(kind, id, &snap));
                    keys.push(format!("{prefix}export_info_{snap}.json"));
                    for (table, _) in cost::TABLES {
                        keys.push(format!(
                            "{prefix}{snap}/app/{table}/part-00000-{}.gz.parquet",
                            &snap[snap.len() - 13..]
                        ));
                    }
                }
            }
            if age <= CACHE_SNAPSHOTS {
                for id in &fleet.caches {
                    let snap = snapshot_id(id, period);
                    keys.push(format!(
                        "{}{snap}-0001.rdb",
                        backup_prefix(ResourceKind::Elasticache, id, &snap)
                    ));
                }
            }
            for (client, bucket, after) in [(&s3p, BUCKET, 60), (&s3d, DR_BUCKET, 63)] {
                emu.shift_clock(period + Duration::minutes(after) - Utc::now());
                all(keys
                    .iter()
                    .map(|key| {
                        let client = client.clone();
                        async move {
                            client
                                .put_object()
                                .bucket(bucket)
                                .key(key)
                                .storage_class(StorageClass::Standard)
                                .body(ByteStream::from(format!("{key}\n").into_bytes()))
                                .send()
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("PutObject {bucket}/{key}: {}", code(&e)))
                        }
                    })
                    .collect())
                .await?;
            }
        }
        emu.reset_clock();
        let objects = cost::write_inventory(&s3p, BUCKET, cost::INVENTORY_BUCKET, now).await;
        let dr_objects =
            cost::write_inventory(&s3d, DR_BUCKET, cost::DR_INVENTORY_BUCKET, now).await;
        cost::put_bucket_metrics(&primary, BUCKET, day, &objects).await;
        cost::put_bucket_metrics(&dr, DR_BUCKET, day, &dr_objects).await;

        Ok(World {
            orders_database: String::new(),
            catalog_database: String::new(),
            security_group_id: String::new(),
            backup_bucket: BUCKET.into(),
            dr_backup_bucket: DR_BUCKET.into(),
            report_bucket: REPORT_BUCKET.into(),
            topic_arn: topic,
            queue_url: String::new(),
            policy_path: dir.join("policy.yaml"),
            zone_id: String::new(),
        })
    }

    /// Every key of `bucket`.
    async fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| format!("ListObjectsV2 {bucket}: {}", code(&e)))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// The stored days before the template's: as the function stores them with Cost Explorer
    /// off, or (`ce`) with Cost Explorer's actual cost of each day beside the model's, as it
    /// stores them once Cost Explorer has been enabled for a while (here equal to the model).
    fn history(
        template: &cost_anomaly::plan::Day,
        ce: bool,
    ) -> Vec<(NaiveDate, cost_anomaly::plan::Day)> {
        let mut days = cost::steady_history(template, HISTORY_DAYS, cost::Rhythm::default());
        if ce {
            for (_, d) in &mut days {
                d.actual = Some(d.lines.clone());
            }
        }
        days
    }

    /// Rewrites the stored history as [`history`] gives it.
    async fn set_history(
        dir: &Path,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        ce: bool,
    ) -> Result<(), String> {
        let file = dir.join("template.json");
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let template: cost_anomaly::plan::Day =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let days = history(&template, ce);
        for (d, _) in &days {
            let key = cost_anomaly::execute::day_key(*d);
            s3.delete_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| format!("DeleteObject {key}: {}", code(&e)))?;
        }
        cost::seed_history(s3, bucket, &days).await;
        Ok(())
    }

    /// The daily schedule's event for the run that costs `day` (06:00 UTC the next day, as the
    /// template's `cron(0 6 * * ? *)` sends it).
    fn event(day: NaiveDate, id: &str) -> Value {
        let time = cost::at(day + Duration::days(1), 6, 0);
        json!({
            "version": "0",
            "id": format!("self-cost-{id}-{}", Utc::now().timestamp_millis()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": lifeboat_tests::ACCOUNT,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": PRIMARY,
            "resources": [format!("arn:aws:events:{PRIMARY}:{}:rule/lifeboat-cost-anomaly", lifeboat_tests::ACCOUNT)],
            "detail": {}
        })
    }

    /// cost-anomaly's App as the Lambda builds it (its clients carry its User-Agent app name).
    async fn app(endpoint: &str, world: &World, ce: bool) -> Result<cost_anomaly::App, String> {
        let mut world = world.clone();
        if ce {
            world.policy_path = world.policy_path.with_file_name("policy-ce.yaml");
        }
        let config = lifeboat_tests::config_for(endpoint, PRIMARY).await;
        let aws = lifeboat_shared::clients::Aws::from_config(config).map_err(|e| e.to_string())?;
        let text = std::fs::read_to_string(&world.policy_path)
            .map_err(|e| format!("{}: {e}", world.policy_path.display()))?;
        let policy = lifeboat_shared::policy::Policy::parse(&text).map_err(|e| e.to_string())?;
        cost_anomaly::App::new(&aws, lifeboat_tests::env_for(&world), policy)
            .map_err(|e| e.to_string())
    }

    // --- run -------------------------------------------------------------------------------

    /// The seeded state, an S3 client of the primary region and the world.
    async fn load(dir: &Path) -> Result<(Value, aws_sdk_s3::Client, World), String> {
        let endpoint = endpoint()?;
        let file = dir.join("self-cost.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e} (seed first)", file.display()))?;
        let state: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let w = &state["world"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let world = World {
            orders_database: String::new(),
            catalog_database: String::new(),
            security_group_id: String::new(),
            backup_bucket: s(&w["backup_bucket"]),
            dr_backup_bucket: s(&w["dr_backup_bucket"]),
            report_bucket: s(&w["report_bucket"]),
            topic_arn: s(&w["topic_arn"]),
            queue_url: String::new(),
            policy_path: PathBuf::from(s(&w["policy"])),
            zone_id: String::new(),
        };
        let s3 = lifeboat_tests::s3(&lifeboat_tests::config_for(&endpoint, PRIMARY).await);
        Ok((state, s3, world))
    }

    /// The report bucket as seeded: no alert state, no run records, no report (the keys
    /// written since the seeding deleted). Returns how many.
    async fn reset(state: &Value, s3: &aws_sdk_s3::Client, bucket: &str) -> Result<usize, String> {
        let seeded: BTreeSet<String> = state["seeded_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        let mut n = 0;
        for key in keys(s3, bucket).await? {
            if !seeded.contains(&key) {
                s3.delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| format!("DeleteObject {key}: {}", code(&e)))?;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn run(dir: &Path, ce: bool, steady: bool) -> Result<Value, String> {
        let endpoint = endpoint()?;
        let (state, s3, world) = load(dir).await?;
        let day: NaiveDate =
            serde_json::from_value(state["day"].clone()).map_err(|e| format!("day: {e}"))?;
        let bucket = &world.report_bucket;
        let day_key = cost_anomaly::execute::day_key(day);
        if steady {
            // a day like any other: the history and the alert state as the first run left
            // them, the day not yet recorded
            s3.delete_object()
                .bucket(bucket)
                .key(&day_key)
                .send()
                .await
                .map_err(|e| format!("DeleteObject {day_key}: {}", code(&e)))?;
        } else {
            reset(&state, &s3, bucket).await?;
            set_history(dir, &s3, bucket, ce).await?;
        }
        let app = app(&endpoint, &world, ce).await?;
        // The function's own log lines, as in Lambda (stderr; its EMF lines go to stdout).
        lifeboat_shared::init_tracing();
        let label = format!(
            "{}-{}",
            if ce { "ce" } else { "noce" },
            if steady { "steady" } else { "first" }
        );
        let event = event(day, &label);
        let mark = CallLog::mark()?;
        let before = proc_status();
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let result = cost_anomaly::run(
            &app,
            &event,
            &format!("self-cost-{label}"),
            Utc::now(),
            None,
        )
        .await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let after = proc_status();
        // (the call log is written before moto answers; a moment for the last line anyway)
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let calls = mark.since()?;
        let tally = Tally::of(calls.iter().filter(|c| c["app"].as_str() == Some(APP)));
        let (headline, status, says) = match &result {
            Ok(r) => match r.report() {
                Some(rep) => (
                    rep.headline.clone(),
                    format!("{:?}", rep.status),
                    rep.measurements
                        .iter()
                        .find(|m| m.name == "RunCostUsd")
                        .map(|m| m.value),
                ),
                None => ("(no report)".into(), "?".into(), None),
            },
            Err(e) => (format!("error: {e}"), "error".into(), None),
        };
        let record_bytes = s3
            .head_object()
            .bucket(bucket)
            .key(&day_key)
            .send()
            .await
            .ok()
            .and_then(|h| h.content_length());
        Ok(json!({
            "size": state["size"],
            "policy_components": state["policy_components"],
            "day_components": state["day_components"],
            "ce": ce,
            "run": if steady { "steady" } else { "first" },
            "day": day,
            "wall_seconds": round(wall),
            "cpu_seconds": round(cpu),
            "peak_rss_kb": after.1,
            "rss_before_run_kb": before.0,
            "headline": headline,
            "status": status,
            "function_says_usd": says,
            "day_record_bytes": record_bytes,
            "requests": tally.to_json(),
        }))
    }

    /// The call log of scripts/moto_server.py (LIFEBOAT_CALL_LOG): where each file stood.
    struct CallLog {
        at: Vec<(PathBuf, u64)>,
        dir: PathBuf,
    }

    impl CallLog {
        fn mark() -> Result<CallLog, String> {
            let dir = std::env::var("LIFEBOAT_CALL_LOG").map_err(|_| {
                "LIFEBOAT_CALL_LOG is not set: the emulator must log its calls (scripts/bench/cost-self.sh sets it)".to_string()
            })?;
            let dir = PathBuf::from(dir);
            Ok(CallLog {
                at: Self::files(&dir)
                    .into_iter()
                    .map(|f| {
                        let n = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                        (f, n)
                    })
                    .collect(),
                dir,
            })
        }

        fn files(dir: &Path) -> Vec<PathBuf> {
            let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            out.sort();
            out
        }

        /// The entries written since the mark.
        fn since(&self) -> Result<Vec<Value>, String> {
            let mut out = Vec::new();
            for f in Self::files(&self.dir) {
                let from = self.at.iter().find(|(p, _)| *p == f).map_or(0, |(_, n)| *n) as usize;
                let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                for line in bytes.get(from..).unwrap_or_default().split(|b| *b == b'\n') {
                    if line.is_empty() {
                        continue;
                    }
                    out.push(
                        serde_json::from_slice(line)
                            .map_err(|e| format!("{}: not a call log line: {e}", f.display()))?,
                    );
                }
            }
            if out.is_empty() && self.at.is_empty() && Self::files(&self.dir).is_empty() {
                return Err(format!(
                    "no call log in {} (was the emulator started with LIFEBOAT_CALL_LOG?)",
                    self.dir.display()
                ));
            }
            Ok(out)
        }
    }

    /// The query parameters' names of a raw query string.
    fn params(query: &str) -> Vec<String> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split('=').next().unwrap_or_default().to_string())
            .collect()
    }

    /// The S3 operation of a REST request (path style: /bucket/key).
    fn s3_operation(e: &Value) -> String {
        let method = e["method"].as_str().unwrap_or_default();
        let path = e["path"].as_str().unwrap_or_default();
        let q = params(e["query"].as_str().unwrap_or_default());
        let has = |n: &str| q.iter().any(|p| p == n);
        let key = path
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(_, k)| !k.is_empty());
        let copy = e["headers"]["x-amz-copy-source"].is_string();
        let op = match method {
            "GET" if has("list-type") => "ListObjectsV2",
            "GET" if has("versions") => "ListObjectVersions",
            "GET" if has("uploads") => "ListMultipartUploads",
            "GET" if has("uploadId") => "ListParts",
            "GET" if has("versioning") => "GetBucketVersioning",
            "GET" if has("lifecycle") => "GetBucketLifecycleConfiguration",
            "GET" if has("replication") => "GetBucketReplication",
            "GET" if has("location") => "GetBucketLocation",
            "GET" if has("tagging") => "GetTagging",
            "GET" if key => "GetObject",
            "GET" => "ListObjects",
            "HEAD" if key => "HeadObject",
            "HEAD" => "HeadBucket",
            "PUT" if copy => "CopyObject",
            "PUT" if has("uploadId") => "UploadPart",
            "PUT" if key => "PutObject",
            "PUT" => "PutBucketConfiguration",
            "POST" if has("delete") => "DeleteObjects",
            "POST" if has("uploads") => "CreateMultipartUpload",
            "POST" if has("uploadId") => "CompleteMultipartUpload",
            "DELETE" if has("uploadId") => "AbortMultipartUpload",
            "DELETE" if key => "DeleteObject",
            _ => "Other",
        };
        op.to_string()
    }

    /// (service, operation) of a call log entry.
    fn operation(e: &Value) -> (String, String) {
        let service = e["service"].as_str().unwrap_or("?").to_string();
        if let Some(t) = e["headers"]["x-amz-target"].as_str() {
            return (service, t.rsplit('.').next().unwrap_or(t).to_string());
        }
        if service == "s3" {
            let op = s3_operation(e);
            return (service, op);
        }
        let body = e["body"].as_str().unwrap_or_default();
        let query = e["query"].as_str().unwrap_or_default();
        for part in body.split('&').chain(query.split('&')) {
            if let Some(a) = part.strip_prefix("Action=") {
                return (service, a.to_string());
            }
        }
        // REST-JSON (AWS Backup): the method and the path's resource kind.
        let path = e["path"].as_str().unwrap_or_default();
        let op = if service == "backup" && path.ends_with("/recovery-points/") {
            "ListRecoveryPointsByBackupVault".to_string()
        } else {
            format!(
                "{} /{}",
                e["method"].as_str().unwrap_or_default(),
                path.trim_start_matches('/')
                    .split('/')
                    .next()
                    .unwrap_or_default()
            )
        };
        (service, op)
    }

    /// The function's requests, by operation and by what they are billed as.
    #[derive(Debug, Default)]
    struct Tally {
        requests: usize,
        by_operation: BTreeMap<String, usize>,
        /// GetMetricData calls and the metrics (MetricDataQueries) they requested.
        get_metric_data_calls: usize,
        metrics_requested: usize,
        /// GetMetricData bodies the call log cut at 64 KiB (their queries undercounted).
        truncated_bodies: usize,
        s3_put_list: usize,
        s3_get: usize,
        s3_delete: usize,
        cost_explorer: usize,
        sns_publish: usize,
        /// RDS, ElastiCache and AWS Backup describe/list calls: free.
        free: usize,
        other: usize,
        /// Answered with an HTTP status of 400 or above (still requests, still billed by S3).
        errors: usize,
    }

    impl Tally {
        fn to_json(&self) -> Value {
            json!({
                "requests": self.requests,
                "by_operation": self.by_operation,
                "get_metric_data_calls": self.get_metric_data_calls,
                "metrics_requested": self.metrics_requested,
                "truncated_bodies": self.truncated_bodies,
                "s3_put_list": self.s3_put_list,
                "s3_get": self.s3_get,
                "s3_delete": self.s3_delete,
                "cost_explorer": self.cost_explorer,
                "sns_publish": self.sns_publish,
                "free": self.free,
                "other": self.other,
                "errors": self.errors,
            })
        }

        fn of<'a>(calls: impl Iterator<Item = &'a Value>) -> Tally {
            let mut t = Tally::default();
            for e in calls {
                let (service, op) = operation(e);
                t.requests += 1;
                *t.by_operation.entry(format!("{service}:{op}")).or_default() += 1;
                if e["status"].as_u64().is_some_and(|s| s >= 400) {
                    t.errors += 1;
                }
                match (service.as_str(), op.as_str()) {
                    ("monitoring", "GetMetricData") => {
                        t.get_metric_data_calls += 1;
                        let body = e["body"].as_str().unwrap_or_default();
                        if body.len() >= 64 * 1024 {
                            t.truncated_bodies += 1;
                        }
                        t.metrics_requested += serde_json::from_str::<Value>(body)
                            .ok()
                            .and_then(|b| b["MetricDataQueries"].as_array().map(Vec::len))
                            .unwrap_or(0);
                    }
                    ("ce", _) => t.cost_explorer += 1,
                    ("sns", "Publish") => t.sns_publish += 1,
                    ("s3", op) => match op {
                        "PutObject"
                        | "CopyObject"
                        | "PutBucketConfiguration"
                        | "ListObjectsV2"
                        | "ListObjects"
                        | "ListObjectVersions"
                        | "ListMultipartUploads"
                        | "ListParts"
                        | "CreateMultipartUpload"
                        | "UploadPart"
                        | "CompleteMultipartUpload" => t.s3_put_list += 1,
                        "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => {
                            t.s3_delete += 1
                        }
                        _ => t.s3_get += 1,
                    },
                    ("rds" | "elasticache" | "backup", _) => t.free += 1,
                    _ => t.other += 1,
                }
            }
            t
        }
    }

    // --- price -----------------------------------------------------------------------------

    /// The metrics (namespace, name and dimension values) an EMF line defines.
    fn emf_metrics(line: &str) -> Vec<String> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for d in v["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for set in d["Dimensions"].as_array().into_iter().flatten() {
                let dims: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
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
        }
        out
    }

    /// One run's figures and its price.
    fn price_run(stdout: &Path, init: f64) -> Result<(Value, BTreeSet<String>), String> {
        let text =
            std::fs::read_to_string(stdout).map_err(|e| format!("{}: {e}", stdout.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        let (last, rest) = lines
            .split_last()
            .ok_or_else(|| format!("{}: empty", stdout.display()))?;
        let mut f: Value = serde_json::from_str(last).map_err(|e| {
            format!(
                "{}: the last line is not the figures: {e}",
                stdout.display()
            )
        })?;
        let stderr = stdout.with_extension("stderr");
        let err_text = std::fs::read_to_string(&stderr).unwrap_or_default();
        let mut metrics = BTreeSet::new();
        let (mut emf_lines, mut component_lines) = (0, 0);
        for l in rest {
            let m = emf_metrics(l);
            if m.is_empty() {
                component_lines += 1;
            } else {
                emf_lines += 1;
            }
            metrics.extend(m);
        }
        let out_bytes: usize = rest.iter().map(|l| l.len() + 1).sum();
        let platform: usize = PLATFORM_LINES.iter().map(|l| l.len() + 1).sum();
        let log_bytes = out_bytes + err_text.len() + platform;
        let log_events = rest.len() + err_text.lines().count() + PLATFORM_LINES.len();
        let r = &f["requests"];
        let n = |k: &str| r[k].as_u64().unwrap_or(0) as f64;
        let wall = f["wall_seconds"].as_f64().unwrap_or(0.0);
        // Lambda bills a custom runtime's init too: this size's measured cold start when the
        // script measured one (`<size>-coldstart.json` beside), else `init`.
        let init = stdout
            .parent()
            .map(|d| {
                d.join(format!(
                    "{}-coldstart.json",
                    f["size"].as_str().unwrap_or("?")
                ))
            })
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|c| c["ready_ms_median"].as_f64())
            .map_or(init, |ms| ms / 1000.0);
        let billed_seconds = ((wall + init) * 1000.0).ceil() / 1000.0;
        let usd = json!({
            "get_metric_data": n("metrics_requested") * PRICE_METRIC_REQUESTED,
            "s3": n("s3_put_list") * PRICE_S3_PUT_LIST + n("s3_get") * PRICE_S3_GET,
            "cost_explorer": n("cost_explorer") * PRICE_CE_REQUEST,
            "sns": n("sns_publish") * (PRICE_SNS_PUBLISH + PRICE_SNS_EMAIL),
            "lambda": billed_seconds * LAMBDA_MEMORY_MB / 1024.0 * PRICE_LAMBDA_GB_SECOND + PRICE_LAMBDA_REQUEST,
            "logs": log_bytes as f64 / 1e9 * PRICE_LOGS_GB,
        });
        let total: f64 = usd
            .as_object()
            .map(|o| o.values().filter_map(Value::as_f64).sum())
            .unwrap_or(0.0);
        f["usd"] = usd;
        f["usd"]["total"] = json!(total);
        f["billed_seconds"] = json!(billed_seconds);
        f["init_seconds"] = json!(init);
        f["log_bytes"] = json!(log_bytes);
        f["log_events"] = json!(log_events);
        f["emf_lines"] = json!(emf_lines);
        f["component_lines"] = json!(component_lines);
        f["emf_metrics"] = json!(metrics.len());
        Ok((f, metrics))
    }

    /// A size and Cost Explorer setting: its runs' figures by run, and the metrics they define.
    type Group = (BTreeMap<String, Value>, BTreeSet<String>);

    fn price(files: &[PathBuf], init: f64) -> Result<Value, String> {
        // (size, ce) -> run -> figures; and the metrics all its runs define
        let mut groups: BTreeMap<(String, bool), Group> = BTreeMap::new();
        for f in files {
            let (fig, metrics) = price_run(f, init)?;
            let size = fig["size"].as_str().unwrap_or("?").to_string();
            let ce = fig["ce"].as_bool().unwrap_or(false);
            let run = fig["run"].as_str().unwrap_or("?").to_string();
            let g = groups.entry((size, ce)).or_default();
            g.0.insert(run, fig);
            g.1.extend(metrics);
        }
        let mut rows = Vec::new();
        for ((size, ce), (runs, metrics)) in groups {
            let per_run = |r: &str, k: &str| runs.get(r).and_then(|f| f["usd"][k].as_f64());
            // The month: 30 days like the steady run (the first run's, when there is none).
            let basis = if runs.contains_key("steady") {
                "steady"
            } else {
                "first"
            };
            let mut month = serde_json::Map::new();
            let mut requests_total = 0.0;
            for k in [
                "get_metric_data",
                "s3",
                "cost_explorer",
                "sns",
                "lambda",
                "logs",
            ] {
                let v = per_run(basis, k).unwrap_or(0.0) * RUNS_A_MONTH;
                requests_total += v;
                month.insert(k.into(), json!(v));
            }
            month.insert("runs".into(), json!(requests_total));
            // a full metric-month each (the upper bound), and metered one hour a day
            let custom = metrics.len() as f64 * PRICE_CUSTOM_METRIC_MONTH;
            let prorated = custom * METERED_HOURS / HOURS_A_MONTH;
            month.insert("custom_metrics".into(), json!(metrics.len()));
            month.insert("custom_metrics_usd".into(), json!(custom));
            month.insert("custom_metrics_usd_prorated".into(), json!(prorated));
            month.insert("total".into(), json!(requests_total + custom));
            month.insert("total_prorated".into(), json!(requests_total + prorated));
            month.insert(
                "basis".into(),
                json!(format!("{RUNS_A_MONTH} {basis} runs")),
            );
            let components = runs.values().next().map(|f| f["day_components"].clone());
            let policy_components = runs.values().next().map(|f| f["policy_components"].clone());
            let per_component = runs.get(basis).map(|f| {
                let req = f["requests"]["requests"].as_f64().unwrap_or(0.0);
                let pc = f["policy_components"].as_f64().unwrap_or(1.0).max(1.0);
                round(req / pc)
            });
            rows.push(json!({
                "size": size,
                "cost_explorer": ce,
                "policy_components": policy_components,
                "day_components": components,
                "requests_per_component": per_component,
                "runs": runs,
                "metrics": metrics,
                "month_usd": month,
            }));
        }
        Ok(json!({
            "prices": {
                "get_metric_data_per_metric": PRICE_METRIC_REQUESTED,
                "s3_put_list": PRICE_S3_PUT_LIST,
                "s3_get": PRICE_S3_GET,
                "cost_explorer_request": PRICE_CE_REQUEST,
                "lambda_gb_second": PRICE_LAMBDA_GB_SECOND,
                "lambda_request": PRICE_LAMBDA_REQUEST,
                "lambda_memory_mb": LAMBDA_MEMORY_MB,
                "custom_metric_month": PRICE_CUSTOM_METRIC_MONTH,
                "custom_metric_metered_hours_of_month": [METERED_HOURS, HOURS_A_MONTH],
                "logs_gb": PRICE_LOGS_GB,
                "sns_publish": PRICE_SNS_PUBLISH,
                "sns_email": PRICE_SNS_EMAIL,
            },
            "init_seconds": init,
            "rows": rows,
        }))
    }
}
