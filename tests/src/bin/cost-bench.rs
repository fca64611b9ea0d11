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
        eprintln!("usage: cost-bench generate|seed|read|list [options] (see the source's header)");
        return ExitCode::from(2);
    };
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
