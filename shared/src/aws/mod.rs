//! The AWS edge shared by the functions: paginated readers that return plain records (every
//! list is read to its last page), tag maps, and the rules by which an AWS error counts as
//! done ([`errors`]). SDK types are converted here, once; the functions' plans see only
//! records. A function links only the SDKs it needs: features `rds`, `elasticache` and
//! `backup` (AWS Backup) of lifeboat-shared; S3 is always there.

#[cfg(feature = "backup")]
pub mod backup;
#[cfg(feature = "elasticache")]
pub mod elasticache;
pub mod errors;
#[cfg(feature = "rds")]
pub mod rds;
pub mod s3;
#[cfg(feature = "ssm")]
pub mod ssm;

pub use errors::{AwsError, Settled};

/// Test pages: `total` items, `size` to a page; the token names the first item of the next
/// page. Returns the items of the page `token` asks for and the next token.
#[cfg(test)]
pub(crate) fn test_page(
    total: usize,
    size: usize,
    token: Option<&str>,
) -> (std::ops::Range<usize>, Option<String>) {
    let first = token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let last = (first + size).min(total);
    (first..last, (last < total).then(|| last.to_string()))
}
