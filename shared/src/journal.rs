//! Run state in S3 with conditional writes.
//!
//! A [`Lease`] is a single-flight lock: an object created with `If-None-Match: *`, so two
//! concurrent triggers cannot both hold it; a lease past its expiry (a crashed run) is taken
//! over with `If-Match` on its ETag. [`Journal`] keeps a resumable run's state between
//! invocations, saved with `If-Match` so two writers cannot overwrite each other.
//!
//! A conditional write can succeed while its answer is lost; the SDK then retries it and the
//! retry gets 412. Both recognise their own earlier attempt: the lease carries the invocation's
//! token, and a journal save compares what is stored with what it sent, before calling anything
//! a conflict.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{aws_error_parts, Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseBody {
    /// The run that holds it.
    pub owner: String,
    /// The invocation that took it (its request id): a lease whose write succeeded while the
    /// answer was lost is recognised as this invocation's own, not another run's.
    #[serde(default)]
    pub token: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub body: LeaseBody,
}

/// Another run holds the lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Held(pub LeaseBody);

fn conflict(code: &str) -> bool {
    matches!(code, "PreconditionFailed" | "ConditionalRequestConflict")
}

impl Lease {
    /// Takes the lease at `key` for run `owner` in the invocation `token`, or reports who
    /// holds it.
    pub async fn acquire(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        owner: &str,
        token: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Lease, Held>> {
        let body = LeaseBody {
            token: token.to_string(),
            owner: owner.to_string(),
            acquired_at: now,
            expires_at: now + ttl,
        };
        for _ in 0..2 {
            let put = s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(
                    serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?,
                ))
                .send()
                .await;
            match put {
                Ok(out) => {
                    return Ok(Ok(Lease {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        etag: out.e_tag.unwrap_or_default(),
                        body,
                    }))
                }
                Err(e) => {
                    let (code, _) = aws_error_parts(&e);
                    if !conflict(&code) {
                        return Err(Error::aws("PutObject", Some(key), &e));
                    }
                }
            }
            let (current, etag) = match read_json::<LeaseBody>(s3, bucket, key).await? {
                Some(x) => x,
                None => continue, // released in between: try again
            };
            if !token.is_empty() && current.token == token {
                // Our own write, whose answer was lost: the lease is ours.
                tracing::info!(key, "lease write answered 412 but the lease is this invocation's own");
                return Ok(Ok(Lease {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    etag,
                    body: current,
                }));
            }
            if current.expires_at > now {
                return Ok(Err(Held(current)));
            }
            // Expired: a crashed run. Remove exactly that lease, then try once more.
            let del = s3
                .delete_object()
                .bucket(bucket)
                .key(key)
                .if_match(&etag)
                .send()
                .await;
            if let Err(e) = del {
                let (code, _) = aws_error_parts(&e);
                if !conflict(&code) && code != "NoSuchKey" {
                    return Err(Error::aws("DeleteObject", Some(key), &e));
                }
            }
        }
        match read_json::<LeaseBody>(s3, bucket, key).await? {
            Some((current, _)) => Ok(Err(Held(current))),
            None => Err(Error::Internal(format!(
                "lease s3://{bucket}/{key} could not be taken"
            ))),
        }
    }

    /// Gives the lease back (only if it is still ours).
    pub async fn release(self, s3: &aws_sdk_s3::Client) -> Result<()> {
        let del = s3
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .if_match(&self.etag)
            .send()
            .await;
        match del {
            Ok(_) => Ok(()),
            Err(e) => {
                let (code, _) = aws_error_parts(&e);
                if conflict(&code) || code == "NoSuchKey" {
                    Ok(()) // taken over after expiry: it is no longer ours to remove
                } else {
                    Err(Error::aws("DeleteObject", Some(&self.key), &e))
                }
            }
        }
    }
}

/// Reads an object's bytes and its ETag; `None` when it does not exist.
pub async fn read_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>> {
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o,
        Err(e) => {
            let (code, _) = aws_error_parts(&e);
            if code == "NoSuchKey" || code == "NotFound" {
                return Ok(None);
            }
            return Err(Error::aws("GetObject", Some(key), &e));
        }
    };
    let etag = out.e_tag.clone().unwrap_or_default();
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| Error::Internal(format!("reading s3://{bucket}/{key}: {e}")))?
        .into_bytes();
    Ok(Some((bytes.to_vec(), etag)))
}

/// Reads a JSON object and its ETag; `None` when it does not exist.
pub async fn read_json<T: DeserializeOwned>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(T, String)>> {
    let Some((bytes, etag)) = read_bytes(s3, bucket, key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Internal(format!("s3://{bucket}/{key} is not the expected JSON: {e}"))
    })?;
    Ok(Some((value, etag)))
}

/// A resumable run's state, saved between invocations with optimistic concurrency.
#[derive(Debug, Clone)]
pub struct Journal<T> {
    pub key: String,
    pub state: T,
    etag: Option<String>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    pub async fn load(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Journal<T>>> {
        Ok(read_json(s3, bucket, key)
            .await?
            .map(|(state, etag)| Journal {
                key: key.to_string(),
                state,
                etag: Some(etag),
            }))
    }

    pub fn new(key: &str, state: T) -> Journal<T> {
        Journal {
            key: key.to_string(),
            state,
            etag: None,
        }
    }

    /// Saves; fails with `Lifeboat.Internal` when someone else saved in between.
    pub async fn save(&mut self, s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
        let sent =
            serde_json::to_vec_pretty(&self.state).map_err(|e| Error::Internal(e.to_string()))?;
        let mut put = s3
            .put_object()
            .bucket(bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(sent.clone()));
        put = match &self.etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => {
                self.etag = out.e_tag;
                Ok(())
            }
            Err(e) => {
                let (code, _) = aws_error_parts(&e);
                if !conflict(&code) {
                    return Err(Error::aws("PutObject", Some(&self.key), &e));
                }
                // 412: another writer, or our own earlier attempt whose answer was lost.
                if let Some((stored, etag)) = read_bytes(s3, bucket, &self.key).await? {
                    if stored == sent {
                        tracing::info!(key = %self.key, "journal save answered 412 but holds what this run wrote");
                        self.etag = Some(etag);
                        return Ok(());
                    }
                }
                Err(Error::Internal(format!(
                    "journal s3://{bucket}/{} was changed by another run",
                    self.key
                )))
            }
        }
    }
}
