//! The few writes: this run's canary in each pair's source bucket, the removal of canaries that
//! served, and the states of the checks (conditional writes: a retried save recognises its own
//! write, another evaluation's save wins and this run then sends nothing).

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::journal::Journal;
use lifeboat_shared::policy::ReplicationPair;
use lifeboat_shared::report::{Action, Outcome};
use lifeboat_shared::Result;

use std::collections::BTreeMap;

use crate::alerts::{PendingCanary, Stored};
use crate::inventory::Clients;
use crate::plan::{canary_key, CanaryView};

/// Where the states of the checks live in the report bucket.
pub const STATE_KEY: &str = "state/replication-lag-check/checks.json";

/// Canaries that never arrived are kept this long (so the report can say so), then removed.
pub const LOST_KEPT_FOR: i64 = 1;

/// Writes this run's canary: a small JSON object with the run id and the time, carrying `tags`
/// (the tag filter of the rule that replicates the pair: [`crate::plan::canary_tags`]).
pub async fn write_canary(
    c: &Clients,
    p: &ReplicationPair,
    tags: &[(String, String)],
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
        .set_tagging((!tags.is_empty()).then(|| tagging(tags)))
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

/// The `x-amz-tagging` header: URL query parameters (`k=v&k2=v2`, percent-encoded).
pub fn tagging(tags: &[(String, String)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    tags.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
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
            // (S3 replication keeps keys: the replica's copy has the same key)
            (dst, &p.replica.bucket, k.clone()),
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

/// Whether a canary is in the replica now (a HEAD): `None` when the HEAD failed otherwise than
/// "not found" — nothing learnt, the next run looks again.
async fn in_replica(c: &Clients, p: &ReplicationPair, replica_key: &str) -> Option<bool> {
    match c
        .s3_in(p.replica.region.as_deref())
        .head_object()
        .bucket(&p.replica.bucket)
        .key(replica_key)
        .send()
        .await
    {
        Ok(_) => Some(true),
        Err(e)
            if lifeboat_shared::aws::errors::head_not_found(
                &lifeboat_shared::error::aws_error_parts(&e).0,
            ) =>
        {
            Some(false)
        }
        Err(_) => None,
    }
}

/// What a full check listed of a pair's canaries: the evaluation's view of them, and the
/// replica's canary keys with their times.
pub type Listed<'a> = (&'a CanaryView, &'a [(String, DateTime<Utc>)]);

/// The canaries' bookkeeping between runs (kept in the stored states): when each was first seen
/// in its replica, and per pair the ones not seen yet. S3 gives a replica the source object's
/// time, so a canary's arrival is when a run first sees it.
pub struct CanaryBook {
    pub seen: BTreeMap<String, DateTime<Utc>>,
    pub pending: BTreeMap<String, Vec<PendingCanary>>,
}

impl CanaryBook {
    pub fn from_stored(stored: &Stored) -> CanaryBook {
        CanaryBook {
            seen: stored.canaries_seen.clone(),
            pending: stored.canaries_pending.clone(),
        }
    }

    /// The last time a run looked for each pending canary and did not find it.
    pub fn looked(&self) -> BTreeMap<String, DateTime<Utc>> {
        self.pending
            .values()
            .flatten()
            .filter_map(|c| c.looked.map(|t| (c.key.clone(), t)))
            .collect()
    }

    /// A lag check looks for the pending canaries of `pairs` (a HEAD each, the newest three per
    /// pair), so that an arrival is known within a schedule period.
    pub async fn look<'a>(
        &mut self,
        c: &Clients,
        pairs: impl Iterator<Item = &'a ReplicationPair>,
        now: DateTime<Utc>,
    ) {
        for p in pairs {
            let Some(pending) = self.pending.get_mut(&p.name) else {
                continue;
            };
            for canary in pending.iter_mut().rev().take(3) {
                if self.seen.contains_key(&canary.key) {
                    continue;
                }
                match in_replica(c, p, &canary.key).await {
                    Some(true) => {
                        self.seen.insert(canary.key.clone(), now);
                    }
                    Some(false) => canary.looked = Some(now),
                    // (a HEAD that failed is no evidence of absence: a canary would look late)
                    None => {}
                }
            }
        }
    }

    /// A full check of a pair: removes the canaries that served, records what its replica
    /// listing shows (`view` is what the evaluation saw), writes this run's canary. The actions
    /// for the report.
    pub async fn full(
        &mut self,
        c: &Clients,
        p: &ReplicationPair,
        listed: Option<Listed<'_>>,
        tags: &[(String, String)],
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut pending = Vec::new();
        if let Some((view, replica)) = listed {
            actions.extend(clean_canaries(c, p, view, now).await);
            // What is in the replica now is seen (from now on, if not before); what left it is
            // forgotten; what has not arrived was looked for now (this run listed the replica).
            let prefix = p.canary_prefix();
            self.seen
                .retain(|k, _| !k.starts_with(&prefix) || replica.iter().any(|(r, _)| r == k));
            for (k, _) in replica {
                self.seen.entry(k.clone()).or_insert(now);
            }
            pending.extend(view.pending.iter().map(|(k, w)| PendingCanary {
                key: k.clone(),
                written: *w,
                looked: Some(now),
            }));
        }
        let wrote = write_canary(c, p, tags, run_id, now).await;
        if wrote.outcome == Outcome::Done {
            pending.push(PendingCanary {
                key: canary_key(&p.canary_prefix(), now, run_id),
                written: now,
                looked: None,
            });
        }
        self.pending.insert(p.name.clone(), pending);
        actions.push(wrote);
        actions
    }

    /// Into the next stored states.
    pub fn store(self, next: &mut Stored) {
        next.canaries_seen = self.seen;
        next.canaries_pending = self.pending;
    }
}

/// The stored states (empty on the first run).
pub async fn load_state(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Journal<Stored>> {
    Ok(Journal::load(s3, bucket, STATE_KEY)
        .await?
        .unwrap_or_else(|| Journal::new(STATE_KEY, Stored::default())))
}
