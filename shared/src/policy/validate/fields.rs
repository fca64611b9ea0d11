//! Checks of single fields: bucket names, regions, ARNs, KMS keys and resource identifiers.

use crate::error::{Error, Result};

pub(super) fn check_bucket(field: &str, b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an S3 bucket name (3-63 lower-case letters, digits, '-' or '.'), got {b:?}"),
        ))
    }
}

pub(crate) fn check_region(field: &str, r: &str) -> Result<()> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts[parts.len() - 1].bytes().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an AWS region like us-west-2, got {r:?}"),
        ))
    }
}

pub(super) fn check_arn(field: &str, arn: &str, service: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty() {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an arn:aws:{service}:... ARN, got {arn:?}"),
        ))
    }
}

pub(super) fn check_kms(field: &str, key: &str, region: Option<&str>) -> Result<()> {
    if key.starts_with("arn:") {
        check_arn(field, key, "kms")?;
        if let Some(r) = region {
            let key_region = key.split(':').nth(3).unwrap_or_default();
            if key_region != r {
                return Err(Error::policy(
                    field,
                    format!("a KMS key in {r} (the copy is encrypted in the DR region), got one in {key_region:?}"),
                ));
            }
        }
        Ok(())
    } else if key.starts_with("alias/") || (key.len() == 36 && key.matches('-').count() == 4) {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("a KMS key ARN, key id or alias/NAME, got {key:?}"),
        ))
    }
}

/// RDS and ElastiCache identifiers: a letter first, then letters, digits and single hyphens.
pub(super) fn check_identifier(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.as_bytes()[0].is_ascii_alphabetic()
        && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("a DB or replication group identifier (a letter, then letters, digits, single hyphens), got {id:?}"),
        ))
    }
}
