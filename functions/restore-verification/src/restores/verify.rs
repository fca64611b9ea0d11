//! The checks on a restored copy: SQL (PostgreSQL, MySQL/MariaDB) with the source's credentials
//! from Secrets Manager, or Redis; compared with the data fingerprint snapshot-export recorded in
//! the backup's manifest when there is one.

use std::collections::BTreeMap;

use lifeboat_shared::backup;
use lifeboat_shared::data::{self, CheckResult, DataFingerprint};
use lifeboat_shared::policy::Component;

use super::plan::{Job, Origin};

pub use lifeboat_shared::data::Recorded;

/// The fingerprint recorded at snapshot time, if the backup is Lifeboat's and one was taken.
pub async fn recorded_fingerprint(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    job: &Job,
) -> Result<Recorded, String> {
    if job.backup.origin != Origin::Lifeboat {
        return Ok(Recorded::default());
    }
    let key = backup::manifest_key(job.kind, &job.backup.source_id, &job.backup.id);
    Ok(data::recorded_at(s3, bucket, &key)
        .await?
        .unwrap_or_default())
}

/// The row-count line of a backup without a fingerprint carries the manifest's reason.
pub fn explain_missing(checks: &mut [CheckResult], missing: Option<&str>) {
    let Some(why) = missing else { return };
    for c in checks.iter_mut().filter(|c| {
        c.detail.starts_with("no fingerprint recorded")
            || c.detail.ends_with("no count recorded at snapshot time")
    }) {
        c.detail = format!("{} (the manifest says: {why})", c.detail);
    }
}

/// Runs every check the policy asks for on the restored endpoint (the shared checks,
/// [`data::check_endpoint`]). Failing checks come first.
pub async fn run_checks(
    secrets: &aws_sdk_secretsmanager::Client,
    local: &BTreeMap<String, (String, u16)>,
    comp: &Component,
    job: &mut Job,
    expected: Option<&DataFingerprint>,
) -> Result<Vec<CheckResult>, String> {
    let (host, port) = job
        .endpoint
        .clone()
        .ok_or("no endpoint recorded for the restored resource")?;
    // The restored copy has the source's users and passwords as of the snapshot; a restored
    // cache has no AUTH inside the restore subnets.
    let checked = data::check_endpoint(
        secrets,
        local,
        comp,
        &job.backup.engine,
        &host,
        port,
        expected,
        Some(job.backup.created_at),
        false,
    )
    .await?;
    job.mapped = checked.mapped;
    Ok(checked.results)
}
