//! Checks of single fields: bucket names, regions, ARNs, KMS keys and resource identifiers.
//! Each error quotes at most a short excerpt of the value.

use crate::error::{Error, Result};
use crate::policy::regions::{partition_of, PARTITIONS, REGION_EXPECTED};
use crate::trigger::excerpt_str;

/// Whether `b` is an S3 bucket name: 3-63 lower-case letters, digits, '-' or '.', starting and
/// ending with a letter or digit.
pub(crate) fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

pub(crate) fn check_bucket(field: &str, b: &str) -> Result<()> {
    if is_bucket_name(b) {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!(
                "an S3 bucket name (3-63 lower-case letters, digits, '-' or '.'), got {}",
                excerpt_str(b)
            ),
        ))
    }
}

/// A region name of a known AWS partition (see `policy::regions`).
pub(crate) fn check_region(field: &str, r: &str) -> Result<()> {
    match partition_of(r) {
        Some(_) => Ok(()),
        None => Err(Error::policy(
            field,
            format!("{REGION_EXPECTED}, got {}", excerpt_str(r)),
        )),
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` for `service`: a known partition, a region of
/// that partition (none for IAM, which is global), a 12-digit account and a resource.
pub(super) fn check_arn(field: &str, arn: &str, service: &str) -> Result<()> {
    let region_part = if service == "iam" { "" } else { "REGION" };
    let shape = format!("an ARN like arn:aws:{service}:{region_part}:ACCOUNT:...");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if !(parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty()) {
        return Err(Error::policy(
            field,
            format!("{shape}, got {}", excerpt_str(arn)),
        ));
    }
    let (partition, region, account) = (parts[1], parts[3], parts[4]);
    if !PARTITIONS.contains(&partition) {
        return Err(Error::policy(
            field,
            format!(
                "{shape} in an AWS partition ({}), got partition {}",
                PARTITIONS.join(", "),
                excerpt_str(partition)
            ),
        ));
    }
    if service == "iam" {
        if !region.is_empty() {
            return Err(Error::policy(
                field,
                format!(
                    "{shape} (IAM is global: no region), got region {}",
                    excerpt_str(region)
                ),
            ));
        }
    } else {
        match partition_of(region) {
            None => {
                return Err(Error::policy(
                    field,
                    format!(
                        "{shape} whose region is {REGION_EXPECTED}, got region {}",
                        excerpt_str(region)
                    ),
                ))
            }
            Some(p) if p != partition => {
                return Err(Error::policy(
                    field,
                    format!(
                    "{shape} whose partition is its region's: {region} is in {p}, the ARN says {}",
                    excerpt_str(partition)
                ),
                ))
            }
            Some(_) => {}
        }
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::policy(
            field,
            format!(
                "{shape} with a 12-digit account id, got account {}",
                excerpt_str(account)
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_kms(field: &str, key: &str, region: Option<&str>) -> Result<()> {
    if key.starts_with("arn:") {
        check_arn(field, key, "kms")?;
        if let Some(r) = region {
            let key_region = key.split(':').nth(3).unwrap_or_default();
            if key_region != r {
                return Err(Error::policy(
                    field,
                    format!(
                        "a KMS key in {r} (the copy is encrypted in the DR region), got one in {}",
                        excerpt_str(key_region)
                    ),
                ));
            }
        }
        Ok(())
    } else if key.starts_with("alias/") || (key.len() == 36 && key.matches('-').count() == 4) {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!(
                "a KMS key ARN, key id or alias/NAME, got {}",
                excerpt_str(key)
            ),
        ))
    }
}

/// RDS and ElastiCache identifiers: a letter first, then letters, digits and single hyphens.
pub(crate) fn check_identifier(field: &str, id: &str) -> Result<()> {
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
            format!("a DB or replication group identifier (a letter, then letters, digits, single hyphens), got {}", excerpt_str(id)),
        ))
    }
}
