//! The S3 side of the integrity sweep: list both sides (at once) and decide what the listings
//! prove; HEAD both sides with checksum mode on where they cannot (or for every object, with
//! `compare: checksum`); hash bodies only when the stored checksums cannot decide; re-copy from
//! the source of truth when armed, and compare again to verify each copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_s3::types::ChecksumMode;
use futures::stream::{self, StreamExt};
use lifeboat_shared::aws::errors::head_not_found;
use lifeboat_shared::error::aws_error_parts;
use lifeboat_shared::policy::{Sweep, SweepCompare};
use lifeboat_shared::{Error, Result};

use super::plan::{
    compare_heads, compare_listed, replica_key, sampled, source_key, verdict, Compare, Head,
    ListCompare, Listed, Mismatch, SweepReport,
};

/// Clients for the two sides (they may be in different regions).
pub struct Sides {
    pub source: aws_sdk_s3::Client,
    pub replica: aws_sdk_s3::Client,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub sample_rate: f64,
    /// Decides the sample: the run id, so a retried run compares the same objects.
    pub seed: String,
    /// Re-copy mismatched objects from the source (armed, and not a dry run).
    pub repair: bool,
    pub threshold_percent: f64,
    pub concurrency: usize,
}

#[derive(Clone, Copy)]
enum Proof {
    Etag,
    Checksum,
    Hash,
}

enum Outcome {
    Match { by: Proof, bytes: u64 },
    Mismatch(String, u64),
    Error(String),
}

struct Counters {
    calls: AtomicUsize,
}

impl Counters {
    fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    n: &Counters,
) -> std::result::Result<Option<Head>, String> {
    n.call();
    match s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(o) => {
            let mut h = Head {
                size: o.content_length().unwrap_or(0),
                checksum_type: o.checksum_type().map(|t| t.as_str().to_string()),
                ..Head::default()
            };
            for (alg, v) in [
                ("CRC64NVME", o.checksum_crc64_nvme()),
                ("CRC32C", o.checksum_crc32_c()),
                ("CRC32", o.checksum_crc32()),
                ("SHA256", o.checksum_sha256()),
                ("SHA1", o.checksum_sha1()),
            ] {
                if let Some(v) = v {
                    h.checksums.insert(alg.to_string(), v.to_string());
                }
            }
            Ok(Some(h))
        }
        Err(e) => {
            let (code, msg) = aws_error_parts(&e);
            if head_not_found(&code) {
                Ok(None)
            } else {
                Err(format!("HeadObject s3://{bucket}/{key}: {code}: {msg}"))
            }
        }
    }
}

/// CRC64NVME of an object's body, streamed (never held whole in memory), and its length.
async fn hash(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    n: &Counters,
) -> std::result::Result<(u64, u64), String> {
    n.call();
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            let (code, msg) = aws_error_parts(&e);
            format!("GetObject s3://{bucket}/{key}: {code}: {msg}")
        })?;
    let mut body = out.body;
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut len = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?
    {
        digest.update(&chunk);
        len += chunk.len() as u64;
    }
    Ok((digest.finalize(), len))
}

/// `bucket/key` for CopySource, percent-encoded except `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A source object with no replica, however its absence was seen.
fn missing(sw: &Sweep, key: &str) -> Outcome {
    Outcome::Mismatch(
        format!(
            "missing in the replica (s3://{}/{})",
            sw.replica.bucket,
            replica_key(key, &sw.source.prefix, &sw.replica.prefix)
        ),
        0,
    )
}

async fn compare_one(sides: &Sides, sw: &Sweep, key: &str, n: &Counters) -> Outcome {
    let rkey = replica_key(key, &sw.source.prefix, &sw.replica.prefix);
    let (src, rep) = tokio::join!(
        head(&sides.source, &sw.source.bucket, key, n),
        head(&sides.replica, &sw.replica.bucket, &rkey, n)
    );
    let (src, rep) = match (src, rep) {
        (Ok(Some(s)), Ok(r)) => (s, r),
        (Ok(None), _) => return Outcome::Error("deleted from the source during the sweep".into()),
        (Err(e), _) | (_, Err(e)) => return Outcome::Error(e),
    };
    let Some(rep) = rep else {
        return missing(sw, key);
    };
    match compare_heads(&src, &rep) {
        Compare::Same(_) => Outcome::Match {
            by: Proof::Checksum,
            bytes: 0,
        },
        Compare::Differ(why) => Outcome::Mismatch(why, 0),
        Compare::NeedBodies => {
            let (a, b) = tokio::join!(
                hash(&sides.source, &sw.source.bucket, key, n),
                hash(&sides.replica, &sw.replica.bucket, &rkey, n)
            );
            match (a, b) {
                (Ok((ha, la)), Ok((hb, lb))) if ha == hb && la == lb => Outcome::Match {
                    by: Proof::Hash,
                    bytes: la + lb,
                },
                (Ok((ha, la)), Ok((hb, lb))) => Outcome::Mismatch(
                    format!("CRC64NVME of the bodies differ ({ha:016x} vs {hb:016x})"),
                    la + lb,
                ),
                (Err(e), _) | (_, Err(e)) => Outcome::Error(e),
            }
        }
    }
}

/// Lists `bucket/prefix` and keeps the entries `keep` maps to a (source) key, with their size and
/// ETag; returns them and how many objects were listed in all.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    keep: impl Fn(&str) -> Option<String>,
    n: &Counters,
) -> Result<(usize, Vec<(String, Listed)>)> {
    let mut kept = Vec::new();
    let mut listed = 0;
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        n.call();
        let page = page.map_err(|e| {
            Error::aws(
                "ListObjectsV2",
                Some(&format!("s3://{bucket}/{prefix}")),
                &e,
            )
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            listed += 1;
            if let Some(k) = keep(key) {
                kept.push((
                    k,
                    Listed {
                        size: o.size().unwrap_or(0),
                        etag: o.e_tag().map(str::to_string),
                    },
                ));
            }
        }
    }
    Ok((listed, kept))
}

/// A canary of replication-lag-check (`…lifeboat-canary/…`, the only folder its role writes
/// canaries in).
fn is_canary(key: &str) -> bool {
    key.contains(lifeboat_shared::policy::CANARY_FOLDER)
}

/// Runs one sweep. Listing failures end it with an error; per-object failures are reported as
/// errors of that object and do not count as mismatches.
pub async fn run(sides: &Sides, sw: &Sweep, opts: &Options) -> Result<SweepReport> {
    let started = Instant::now();
    let n = Counters {
        calls: AtomicUsize::new(0),
    };
    // replication-lag-check's canaries are not backups: written and deleted every full check,
    // each in flight to the replica for a while, they are never sampled (a canary in flight
    // would read as a missing object).
    let in_sample = |key: &str| !is_canary(key) && sampled(key, opts.sample_rate, &opts.seed);
    let source = list(
        &sides.source,
        &sw.source.bucket,
        &sw.source.prefix,
        |k| in_sample(k).then(|| k.to_string()),
        &n,
    );
    // The replica's sampled entries by their source key; none with `compare: checksum`, where
    // every object is read with HeadObject.
    let replica = async {
        if sw.compare == SweepCompare::Checksum {
            return Ok(None);
        }
        let (_, kept) = list(
            &sides.replica,
            &sw.replica.bucket,
            &sw.replica.prefix,
            |k| source_key(k, &sw.source.prefix, &sw.replica.prefix).filter(|s| in_sample(s)),
            &n,
        )
        .await?;
        Ok(Some(kept.into_iter().collect::<HashMap<String, Listed>>()))
    };
    let ((listed, sample), replica) = tokio::try_join!(source, replica)?;
    let by_listing = |key: &str, src: &Listed| -> Option<Outcome> {
        match compare_listed(src, replica.as_ref()?.get(key)) {
            ListCompare::Same => Some(Outcome::Match {
                by: Proof::Etag,
                bytes: 0,
            }),
            ListCompare::Missing => Some(missing(sw, key)),
            ListCompare::Differ(why) => Some(Outcome::Mismatch(why, 0)),
            ListCompare::Undecided => None,
        }
    };
    let mut hashed = 0;
    let mut results: Vec<(String, Outcome)> = Vec::with_capacity(sample.len());
    let mut undecided = Vec::new();
    for (key, src) in &sample {
        match by_listing(key, src) {
            Some(o) => results.push((key.clone(), o)),
            None => undecided.push(key),
        }
    }
    let headed: Vec<(String, Outcome)> = stream::iter(undecided)
        .map(|k| {
            let n = &n;
            async move { (k.clone(), compare_one(sides, sw, k, n).await) }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    results.extend(headed);
    let mut mismatches = Vec::new();
    let mut errors = Vec::new();
    let (mut by_etag, mut by_checksum, mut by_hash) = (0, 0, 0);
    for (key, outcome) in results {
        match outcome {
            Outcome::Match { by, bytes } => {
                hashed += bytes;
                match by {
                    Proof::Etag => by_etag += 1,
                    Proof::Checksum => by_checksum += 1,
                    Proof::Hash => by_hash += 1,
                }
            }
            Outcome::Mismatch(reason, bytes) => {
                hashed += bytes;
                mismatches.push(Mismatch {
                    key,
                    reason,
                    repaired: false,
                });
            }
            Outcome::Error(reason) => errors.push(Mismatch {
                key,
                reason,
                repaired: false,
            }),
        }
    }
    mismatches.sort_by(|a, b| a.key.cmp(&b.key));
    errors.sort_by(|a, b| a.key.cmp(&b.key));
    if opts.repair {
        for m in &mut mismatches {
            let rkey = replica_key(&m.key, &sw.source.prefix, &sw.replica.prefix);
            n.call();
            match sides
                .replica
                .copy_object()
                .bucket(&sw.replica.bucket)
                .key(&rkey)
                .copy_source(copy_source(&sw.source.bucket, &m.key))
                .send()
                .await
            {
                // A copy that succeeded is not yet proof: compare the two sides again, the
                // same way (stored checksums, else the bodies), before calling it repaired.
                Ok(_) => match compare_one(sides, sw, &m.key, &n).await {
                    Outcome::Match { .. } => m.repaired = true,
                    Outcome::Mismatch(why, _) => {
                        m.reason = format!(
                            "{}; re-copied, but the replica still differs: {why}",
                            m.reason
                        );
                    }
                    Outcome::Error(e) => {
                        m.reason = format!(
                            "{}; re-copied, but the copy could not be verified: {e}",
                            m.reason
                        );
                    }
                },
                Err(e) => {
                    let (code, msg) = aws_error_parts(&e);
                    m.reason = format!("{}; re-copy failed: {code}: {msg}", m.reason);
                }
            }
        }
    }
    let sampled_n = sample.len() - errors.len();
    let (status, rate) = verdict(mismatches.len(), sampled_n, opts.threshold_percent);
    Ok(SweepReport {
        name: sw.name.clone(),
        status,
        mismatch_rate_percent: (rate * 1000.0).round() / 1000.0,
        threshold_percent: opts.threshold_percent,
        total_listed: listed,
        total_sampled: sampled_n,
        mismatch_details: mismatches,
        compared_by_etag: by_etag,
        compared_by_checksum: by_checksum,
        compared_by_hash: by_hash,
        bytes_hashed: hashed,
        errors,
        api_calls: n.calls.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            super::copy_source("b", "backups/a b+c/ü.json"),
            "b/backups/a%20b%2Bc/%C3%BC.json"
        );
    }
}
