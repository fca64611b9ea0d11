//! The pure part of the S3 integrity sweep (seed 002's backfill validator): which objects are
//! sampled, how two objects compare from their listings and from their stored metadata, and the
//! verdict. The S3 calls are in `execute.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What HeadObject (with checksum mode on) tells about one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Head {
    pub size: i64,
    /// Stored checksums by algorithm name (`CRC64NVME`, `CRC32C`, `CRC32`, `SHA256`, `SHA1`).
    pub checksums: BTreeMap<String, String>,
    /// `FULL_OBJECT` or `COMPOSITE` (multipart: a checksum of part checksums).
    pub checksum_type: Option<String>,
}

/// Stored checksums tried in this order: the cheapest strong one first.
pub const ALGORITHMS: [&str; 5] = ["CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1"];

#[derive(Debug, Clone, PartialEq)]
pub enum Compare {
    /// Equal by a checksum both sides store.
    Same(&'static str),
    /// Different, with the reason.
    Differ(String),
    /// The metadata cannot decide (no common checksum): the bodies must be hashed.
    NeedBodies,
}

/// The reason for a size mismatch, whichever way the sizes were read.
fn sizes_differ(source: i64, replica: i64) -> String {
    format!("size {source} in the source, {replica} in the replica")
}

/// Compares two objects from their metadata alone, without reading a byte of either.
pub fn compare_heads(source: &Head, replica: &Head) -> Compare {
    if source.size != replica.size {
        return Compare::Differ(sizes_differ(source.size, replica.size));
    }
    // A composite (multipart) checksum depends on the part sizes: only equal types compare.
    if source.checksum_type != replica.checksum_type {
        return Compare::NeedBodies;
    }
    for alg in ALGORITHMS {
        if let (Some(a), Some(b)) = (source.checksums.get(alg), replica.checksums.get(alg)) {
            return if a == b {
                Compare::Same(alg)
            } else {
                Compare::Differ(format!("{alg} {a} in the source, {b} in the replica"))
            };
        }
    }
    Compare::NeedBodies
}

/// What a ListObjectsV2 entry tells about one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub size: i64,
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListCompare {
    /// Same size and same ETag.
    Same,
    /// No such key in the replica's listing.
    Missing,
    /// Different sizes, with the reason.
    Differ(String),
    /// Same size, ETags differ or absent: an ETag is not always the body's MD5 (SSE-KMS, SSE-C,
    /// other multipart part sizes), so only the stored checksums or the bodies can tell.
    Undecided,
}

/// Compares two objects from the two listings alone (no request per object). Claims a mismatch
/// only where the listing proves it: a missing key or another size.
pub fn compare_listed(source: &Listed, replica: Option<&Listed>) -> ListCompare {
    let Some(replica) = replica else {
        return ListCompare::Missing;
    };
    if source.size != replica.size {
        return ListCompare::Differ(sizes_differ(source.size, replica.size));
    }
    let tag = |l: &Listed| {
        l.etag
            .as_deref()
            .map(|e| e.trim_matches('"').to_string())
            .filter(|e| !e.is_empty())
    };
    match (tag(source), tag(replica)) {
        (Some(a), Some(b)) if a == b => ListCompare::Same,
        _ => ListCompare::Undecided,
    }
}

/// Whether `key` is in this run's sample: a stable hash of the run seed and the key, so a
/// re-run with the same seed compares the same objects and different runs cover different ones.
pub fn sampled(key: &str, rate: f64, seed: &str) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain([0u8]).chain(key.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Finalise (splitmix64) so that similar keys spread over the whole range.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h as f64 / u64::MAX as f64) < rate
}

/// The replica's key for a source key: the source prefix replaced by the replica's.
pub fn replica_key(key: &str, source_prefix: &str, replica_prefix: &str) -> String {
    format!(
        "{replica_prefix}{}",
        key.strip_prefix(source_prefix).unwrap_or(key)
    )
}

/// The source's key for a replica key (the inverse of [`replica_key`]); `None` for a replica key
/// outside the replica prefix.
pub fn source_key(replica_key: &str, source_prefix: &str, replica_prefix: &str) -> Option<String> {
    replica_key
        .strip_prefix(replica_prefix)
        .map(|rest| format!("{source_prefix}{rest}"))
}

/// One object that did not match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    pub key: String,
    pub reason: String,
    /// Re-copied from the source of truth and, compared again after the copy, found equal to it
    /// (only when the run is armed to repair). A copy that failed or still differs is `false`,
    /// with why in `reason`.
    pub repaired: bool,
}

/// Seed 002's report, per sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub name: String,
    /// `PASS` below the threshold, else `FAIL`: what the sample measured, before any repair (an
    /// armed sweep that repaired every mismatch still says `FAIL` here; its verdict in the report
    /// is PASS, and each of `mismatch_details` says `repaired`).
    pub status: String,
    pub mismatch_rate_percent: f64,
    pub threshold_percent: f64,
    pub total_listed: usize,
    pub total_sampled: usize,
    pub mismatch_details: Vec<Mismatch>,
    /// How the matches were proven: equal size and ETag in the listings, a stored checksum both
    /// sides carry (HeadObject), or hashing both bodies.
    #[serde(default)]
    pub compared_by_etag: usize,
    pub compared_by_checksum: usize,
    pub compared_by_hash: usize,
    pub bytes_hashed: u64,
    /// Objects that could not be read on one side (not counted as mismatches: unknown).
    pub errors: Vec<Mismatch>,
    pub api_calls: usize,
    pub seconds: f64,
}

/// PASS when the mismatch rate is below the threshold (seed 002: > 0.5% is critical).
pub fn verdict(mismatches: usize, sampled: usize, threshold_percent: f64) -> (String, f64) {
    let rate = if sampled == 0 {
        0.0
    } else {
        mismatches as f64 * 100.0 / sampled as f64
    };
    let status = if rate < threshold_percent || (mismatches == 0 && threshold_percent == 0.0) {
        "PASS"
    } else {
        "FAIL"
    };
    (status.to_string(), rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(size: i64, sums: &[(&str, &str)], kind: Option<&str>) -> Head {
        Head {
            size,
            checksums: sums
                .iter()
                .map(|(a, v)| (a.to_string(), v.to_string()))
                .collect(),
            checksum_type: kind.map(str::to_string),
        }
    }

    #[test]
    fn metadata_comparison_table() {
        let full = Some("FULL_OBJECT");
        let cases = [
            (
                head(10, &[("CRC64NVME", "a")], full),
                head(10, &[("CRC64NVME", "a")], full),
                Compare::Same("CRC64NVME"),
            ),
            (
                head(10, &[("CRC64NVME", "a")], full),
                head(10, &[("CRC64NVME", "b")], full),
                Compare::Differ("CRC64NVME a in the source, b in the replica".into()),
            ),
            (
                head(10, &[("CRC64NVME", "a")], full),
                head(11, &[("CRC64NVME", "a")], full),
                Compare::Differ("size 10 in the source, 11 in the replica".into()),
            ),
            // Different algorithms on each side: only the bodies can tell.
            (
                head(10, &[("CRC32", "a")], full),
                head(10, &[("SHA256", "x")], full),
                Compare::NeedBodies,
            ),
            // A common algorithm among several is found.
            (
                head(10, &[("CRC32", "a"), ("SHA256", "s")], full),
                head(10, &[("SHA256", "s")], full),
                Compare::Same("SHA256"),
            ),
            // Composite vs full-object checksums are not comparable.
            (
                head(10, &[("CRC32C", "a-3")], Some("COMPOSITE")),
                head(10, &[("CRC32C", "b")], full),
                Compare::NeedBodies,
            ),
            (
                head(10, &[], None),
                head(10, &[], None),
                Compare::NeedBodies,
            ),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(compare_heads(&a, &b), want, "case {i}");
        }
    }

    #[test]
    fn listing_comparison_table() {
        let l = |size: i64, etag: Option<&str>| Listed {
            size,
            etag: etag.map(str::to_string),
        };
        let md5 = Some("\"9b2cf535f27731c974343645a3985328\"");
        let cases = [
            (l(10, md5), Some(l(10, md5)), ListCompare::Same),
            // Quoted or not, the same ETag.
            (
                l(10, md5),
                Some(l(10, Some("9b2cf535f27731c974343645a3985328"))),
                ListCompare::Same,
            ),
            (l(10, md5), None, ListCompare::Missing),
            (
                l(10, md5),
                Some(l(12, md5)),
                ListCompare::Differ("size 10 in the source, 12 in the replica".into()),
            ),
            // A different ETag is not proof: SSE-KMS and part sizes change it.
            (
                l(10, md5),
                Some(l(10, Some("\"0cc175b9c0f1b6a831c399e269772661\""))),
                ListCompare::Undecided,
            ),
            (l(10, md5), Some(l(10, None)), ListCompare::Undecided),
            (
                l(10, Some("\"\"")),
                Some(l(10, Some("\"\""))),
                ListCompare::Undecided,
            ),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(compare_listed(&a, b.as_ref()), want, "case {i}");
        }
    }

    #[test]
    fn sampling_is_stable_and_close_to_the_rate() {
        let keys: Vec<String> = (0..20_000)
            .map(|i| format!("backups/rds/snap-{i:05}/part-{}.parquet", i % 7))
            .collect();
        let picked = keys.iter().filter(|k| sampled(k, 0.05, "run-1")).count();
        assert!((850..=1150).contains(&picked), "{picked} of 20000 at 5%");
        let again = keys.iter().filter(|k| sampled(k, 0.05, "run-1")).count();
        assert_eq!(picked, again, "same seed, same sample");
        let other: Vec<&String> = keys.iter().filter(|k| sampled(k, 0.05, "run-2")).collect();
        let overlap = other.iter().filter(|k| sampled(k, 0.05, "run-1")).count();
        assert!(
            overlap < picked / 5,
            "another run samples other objects ({overlap} shared)"
        );
        assert!(
            keys.iter().all(|k| sampled(k, 1.0, "x")),
            "rate 1 compares everything"
        );
    }

    #[test]
    fn verdict_against_the_threshold() {
        assert_eq!(verdict(0, 1000, 0.5), ("PASS".to_string(), 0.0));
        assert_eq!(verdict(4, 1000, 0.5).0, "PASS", "0.4% is below 0.5%");
        assert_eq!(verdict(5, 1000, 0.5).0, "FAIL", "0.5% is not below 0.5%");
        assert_eq!(verdict(0, 0, 0.5), ("PASS".to_string(), 0.0));
        assert_eq!(
            verdict(0, 10, 0.0).0,
            "PASS",
            "a zero threshold passes only a clean sweep"
        );
        assert_eq!(verdict(1, 10, 0.0).0, "FAIL");
    }

    #[test]
    fn replica_keys_follow_the_prefixes() {
        assert_eq!(
            replica_key("backups/a/b.json", "backups/", "dr/backups/"),
            "dr/backups/a/b.json"
        );
        assert_eq!(replica_key("a.json", "", ""), "a.json");
        assert_eq!(
            source_key("dr/backups/a/b.json", "backups/", "dr/backups/").as_deref(),
            Some("backups/a/b.json")
        );
        assert_eq!(source_key("other/a.json", "backups/", "dr/"), None);
    }
}
