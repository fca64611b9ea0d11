//! The few writes: this run's canary in each pair's source bucket, the removal of canaries that
//! served, and the states of the checks (conditional writes: a retried save recognises its own
//! write, another evaluation's save wins and this run then sends nothing).

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::journal::Journal;
use lifeboat_shared::policy::ReplicationPair;
use lifeboat_shared::report::{Action, Outcome};
use lifeboat_shared::Result;

use crate::alerts::Stored;
use crate::evaluate::{canary_key, CanaryView};
use crate::inventory::{replica_key, Clients};

/// Where the states of the checks live in the report bucket.
pub const STATE_KEY: &str = "state/replication-lag-check/checks.json";

/// Canaries that never arrived are kept this long (so the report can say so), then removed.
pub const LOST_KEPT_FOR: i64 = 1;

/// Writes this run's canary: a small JSON object with the run id and the time.
pub async fn write_canary(
    c: &Clients,
    p: &ReplicationPair,
    run_id: &str,
    now: DateTime<Utc>,
) -> Action {
    let key = canary_key(&p.canary_prefix(), now, run_id);
    let mut a = Action::new(
        "write-canary",
        &p.name,
        "proves replication end to end: the next runs look for it in the replica",
    )
    .target(format!("s3://{}/{key}", p.source.bucket));
    let body = serde_json::json!({"run_id": run_id, "written_at": now}).to_string();
    match c
        .s3_in(p.source.region.as_deref())
        .put_object()
        .bucket(&p.source.bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await
    {
        Ok(_) => a.outcome = Outcome::Done,
        Err(e) => {
            a.outcome = Outcome::Failed;
            a.error = Some(
                lifeboat_shared::aws::errors::AwsError::new("PutObject", &e)
                    .about(&p.source.bucket)
                    .to_string(),
            );
        }
    }
    a
}

/// Removes canaries that served (arrived, older than the newest arrived one) on both sides, and
/// lost ones after a day. One action for the pair, failed if any removal failed.
pub async fn clean_canaries(
    c: &Clients,
    p: &ReplicationPair,
    v: &CanaryView,
    now: DateTime<Utc>,
) -> Option<Action> {
    let mut source_keys: Vec<String> = v.spent.clone();
    source_keys.extend(
        v.lost
            .iter()
            .filter(|(_, w)| now - *w > Duration::days(LOST_KEPT_FOR))
            .map(|(k, _)| k.clone()),
    );
    if source_keys.is_empty() {
        return None;
    }
    let src = c.s3_in(p.source.region.as_deref());
    let dst = c.s3_in(p.replica.region.as_deref());
    let mut errors = Vec::new();
    for k in &source_keys {
        for (s3, bucket, key) in [
            (src, &p.source.bucket, k.clone()),
            (dst, &p.replica.bucket, replica_key(p, k)),
        ] {
            // Deleting a missing key succeeds: a lost canary is absent from the replica.
            if let Err(e) = s3.delete_object().bucket(bucket).key(&key).send().await {
                errors.push(
                    lifeboat_shared::aws::errors::AwsError::new("DeleteObject", &e)
                        .about(bucket)
                        .to_string(),
                );
            }
        }
    }
    let mut a = Action::new(
        "remove-canaries",
        &p.name,
        format!(
            "{} canaries that served (or never arrived, after {} d)",
            source_keys.len(),
            LOST_KEPT_FOR
        ),
    );
    if errors.is_empty() {
        a.outcome = Outcome::Done;
    } else {
        a.outcome = Outcome::Failed;
        a.error = Some(errors.join("; "));
    }
    Some(a)
}

/// Whether a canary is in the replica now (a HEAD; a failed one counts as not yet: the next run
/// looks again).
pub async fn in_replica(c: &Clients, p: &ReplicationPair, replica_key: &str) -> bool {
    c.s3_in(p.replica.region.as_deref())
        .head_object()
        .bucket(&p.replica.bucket)
        .key(replica_key)
        .send()
        .await
        .is_ok()
}

/// The stored states (empty on the first run).
pub async fn load_state(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Journal<Stored>> {
    Ok(Journal::load(s3, bucket, STATE_KEY)
        .await?
        .unwrap_or_else(|| Journal::new(STATE_KEY, Stored::default())))
}
