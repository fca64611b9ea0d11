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

use crate::aws::errors::{not_found, precondition_failed};
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
                    if !precondition_failed(&code) {
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
                tracing::info!(
                    key,
                    "lease write answered 412 but the lease is this invocation's own"
                );
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
                if !precondition_failed(&code) && !not_found(&code) {
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
                if precondition_failed(&code) || not_found(&code) {
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
            if not_found(&code) {
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
                if !precondition_failed(&code) {
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

/// The lost-answer paths, with S3 mocked: each answer as the SDK hands it over, and the calls
/// the code makes after it (in order: a sequential mock fails on any other call).
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_s3::operation::delete_object::{DeleteObjectError, DeleteObjectOutput};
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    use aws_sdk_s3::types::error::NoSuchKey;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use chrono::TimeZone;

    const BUCKET: &str = "lifeboat-state";
    const KEY: &str = "leases/snapshot-export.json";
    const ME: &str = "run-a";
    const MY_TOKEN: &str = "req-1111";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap()
    }

    fn ttl() -> Duration {
        Duration::minutes(15)
    }

    /// The error metadata a reply carries.
    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} (mocked reply)"))
            .build()
    }

    /// S3's reply to a write whose condition did not hold: 412 with code `PreconditionFailed`.
    fn http_412() -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(412).unwrap(),
            SdkBody::from(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>\
                 <Message>At least one of the pre-conditions you specified did not hold</Message>\
                 <Condition>If-None-Match</Condition></Error>",
            ),
        )
    }

    fn lease_body(owner: &str, token: &str, expires_at: DateTime<Utc>) -> LeaseBody {
        LeaseBody {
            owner: owner.to_string(),
            token: token.to_string(),
            acquired_at: expires_at - ttl(),
            expires_at,
        }
    }

    /// A GetObject answer: `bytes` with `etag`.
    fn stored(bytes: Vec<u8>, etag: &'static str) -> impl Fn() -> GetObjectOutput {
        move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(bytes.clone()))
                .e_tag(etag)
                .build()
        }
    }

    fn stored_lease(body: &LeaseBody, etag: &'static str) -> impl Fn() -> GetObjectOutput {
        stored(serde_json::to_vec(body).unwrap(), etag)
    }

    async fn acquire(s3: &aws_sdk_s3::Client, token: &str) -> std::result::Result<Lease, Held> {
        Lease::acquire(s3, BUCKET, KEY, ME, token, ttl(), now())
            .await
            .unwrap()
    }

    fn lease(etag: &str) -> Lease {
        Lease {
            bucket: BUCKET.to_string(),
            key: KEY.to_string(),
            etag: etag.to_string(),
            body: lease_body(ME, MY_TOKEN, now() + ttl()),
        }
    }

    // --- Lease::acquire ---

    #[tokio::test]
    async fn given_our_own_lease_write_answered_412_when_acquiring_then_the_lease_is_ours_with_the_stored_etag(
    ) {
        // Given a lease write that succeeded but whose answer was lost: the retry is answered
        // 412, and the stored lease carries this invocation's token
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_http_response(http_412);
        let mine = LeaseBody {
            owner: ME.to_string(),
            token: MY_TOKEN.to_string(),
            acquired_at: now(),
            expires_at: now() + ttl(),
        };
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&mine, "\"e-stored\""));
        let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
        // When this invocation acquires the lease
        let got = acquire(&s3, MY_TOKEN).await;
        // Then the lease is its own, with the ETag S3 holds (no delete, no second write)
        let got = got.expect("its own lost write is not another run's lease");
        assert_eq!(got.etag, "\"e-stored\"");
        assert_eq!(got.body, mine);
        assert_eq!((got.bucket.as_str(), got.key.as_str()), (BUCKET, KEY));
        assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn given_a_live_lease_of_another_invocation_when_acquiring_then_it_is_held_by_that_owner()
    {
        // Given a 412 and a stored lease of another run and invocation, not yet expired
        let theirs = lease_body("run-b", "req-2222", now() + Duration::minutes(5));
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&theirs, "\"e-b\""));
        let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
        // When this invocation acquires the lease
        let got = acquire(&s3, MY_TOKEN).await;
        // Then it is held, by that owner, and nothing is deleted
        let Err(Held(held)) = got else {
            panic!("a live lease of another run is not ours: {got:?}")
        };
        assert_eq!(held.owner, "run-b");
        assert_eq!(held, theirs);
        assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn given_a_live_lease_without_token_when_acquiring_without_token_then_it_is_held() {
        // Given a lease written before leases carried a token (it reads as ""), still live
        let old = lease_body("run-b", "", now() + Duration::minutes(5));
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(stored(
            serde_json::to_vec(&serde_json::json!({
                "owner": "run-b",
                "acquired_at": old.acquired_at,
                "expires_at": old.expires_at,
            }))
            .unwrap(),
            "\"e-b\"",
        ));
        let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
        // When an invocation without a token acquires it
        let got = acquire(&s3, "").await;
        // Then an empty token is nobody's: the lease is held
        assert_eq!(got.unwrap_err(), Held(old));
    }

    #[tokio::test]
    async fn given_an_expired_lease_when_acquiring_then_it_is_deleted_by_its_etag_and_retaken() {
        // Given a 412, a stored lease of a crashed run past its expiry, its delete (If-Match on
        // its ETag) accepted, and the second write accepted
        let crashed = lease_body("run-b", "req-2222", now() - Duration::seconds(1));
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&crashed, "\"e-old\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"e-old\"") && r.key() == Some(KEY))
            .then_output(|| DeleteObjectOutput::builder().build());
        let retake = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_output(|| PutObjectOutput::builder().e_tag("\"e-new\"").build());
        let s3 = mock_client!(aws_sdk_s3, [&put, &get, &delete, &retake]);
        // When this invocation acquires the lease
        let got = acquire(&s3, MY_TOKEN)
            .await
            .expect("an expired lease is taken over");
        // Then it holds the lease it wrote, with the new ETag
        assert_eq!(got.etag, "\"e-new\"");
        assert_eq!(
            (got.body.owner.as_str(), got.body.token.as_str()),
            (ME, MY_TOKEN)
        );
        assert_eq!(got.body.expires_at, now() + ttl());
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(retake.num_calls(), 1);
    }

    #[tokio::test]
    async fn given_an_expired_lease_already_gone_when_deleting_it_then_the_lease_is_still_retaken()
    {
        // Given a 412, an expired lease, its delete answered NoSuchKey (gone in between), and
        // the second write accepted
        let crashed = lease_body("run-b", "req-2222", now() - Duration::minutes(1));
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&crashed, "\"e-old\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| r.if_match() == Some("\"e-old\""))
            .then_error(|| DeleteObjectError::generic(meta("NoSuchKey")));
        let retake = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e-new\"").build());
        let s3 = mock_client!(aws_sdk_s3, [&put, &get, &delete, &retake]);
        // When this invocation acquires the lease
        let got = acquire(&s3, MY_TOKEN).await;
        // Then it goes on and takes it
        assert_eq!(got.expect("a lease already gone is free").etag, "\"e-new\"");
        assert_eq!((delete.num_calls(), retake.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn given_an_expired_lease_taken_over_first_by_another_run_when_acquiring_then_it_is_held()
    {
        // Given an expired lease whose delete is answered 412 (another run replaced it first),
        // and the second write answered 412 with that run's live lease stored
        let crashed = lease_body("run-b", "req-2222", now() - Duration::minutes(1));
        let winner = lease_body("run-c", "req-3333", now() + ttl());
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&crashed, "\"e-old\""));
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .then_error(|| DeleteObjectError::generic(meta("PreconditionFailed")));
        let put2 = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("ConditionalRequestConflict")));
        let get2 =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored_lease(&winner, "\"e-c\""));
        let s3 = mock_client!(aws_sdk_s3, [&put, &get, &delete, &put2, &get2]);
        // When this invocation acquires the lease
        let got = acquire(&s3, MY_TOKEN).await;
        // Then the winner holds it
        assert_eq!(got.unwrap_err(), Held(winner));
        assert_eq!(get2.num_calls(), 1);
    }

    #[tokio::test]
    async fn given_a_lease_write_denied_when_acquiring_then_it_fails_naming_put_object() {
        // Given a write answered AccessDenied
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("AccessDenied")));
        let s3 = mock_client!(aws_sdk_s3, [&put]);
        // When acquiring
        let got = Lease::acquire(&s3, BUCKET, KEY, ME, MY_TOKEN, ttl(), now()).await;
        // Then it fails, not "held"
        let Err(Error::Aws {
            operation, code, ..
        }) = got
        else {
            panic!("expected an AWS error: {got:?}")
        };
        assert_eq!(
            (operation.as_str(), code.as_str()),
            ("PutObject", "AccessDenied")
        );
    }

    // --- Lease::release ---

    #[tokio::test]
    async fn given_our_lease_when_releasing_then_it_is_deleted_by_its_etag() {
        // Given our lease and S3 accepting its delete on that ETag only
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .match_requests(|r| {
                r.bucket() == Some(BUCKET)
                    && r.key() == Some(KEY)
                    && r.if_match() == Some("\"e-1\"")
            })
            .then_output(|| DeleteObjectOutput::builder().build());
        let s3 = mock_client!(aws_sdk_s3, [&delete]);
        // When it is released / Then it is gone
        lease("\"e-1\"").release(&s3).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn given_a_lease_no_longer_ours_when_releasing_then_it_is_left_alone() {
        // Given the delete answered 412 (taken over after expiry) or NoSuchKey (gone)
        for code in ["PreconditionFailed", "NoSuchKey"] {
            let delete = mock!(aws_sdk_s3::Client::delete_object)
                .then_error(move || DeleteObjectError::generic(meta(code)));
            let s3 = mock_client!(aws_sdk_s3, [&delete]);
            // When it is released
            let got = lease("\"e-1\"").release(&s3).await;
            // Then that is fine: it is no longer ours to remove
            assert!(got.is_ok(), "{code}: {got:?}");
            assert_eq!(delete.num_calls(), 1, "{code}");
        }
    }

    #[tokio::test]
    async fn given_a_release_denied_when_releasing_then_it_fails_naming_delete_object() {
        // Given the delete answered AccessDenied
        let delete = mock!(aws_sdk_s3::Client::delete_object)
            .then_error(|| DeleteObjectError::generic(meta("AccessDenied")));
        let s3 = mock_client!(aws_sdk_s3, [&delete]);
        // When it is released
        let got = lease("\"e-1\"").release(&s3).await;
        // Then it fails with the operation, the key and the code
        let Err(Error::Aws {
            operation,
            resource,
            code,
            ..
        }) = got
        else {
            panic!("expected an AWS error: {got:?}")
        };
        assert_eq!(operation, "DeleteObject");
        assert_eq!(resource.as_deref(), Some(KEY));
        assert_eq!(code, "AccessDenied");
    }

    // --- read_bytes ---

    #[tokio::test]
    async fn given_no_object_when_reading_then_it_is_none() {
        // Given GetObject answered NoSuchKey (modeled), or a bare 404 (which the SDK names
        // NotFound)
        let modeled = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
            GetObjectError::NoSuchKey(NoSuchKey::builder().meta(meta("NoSuchKey")).build())
        });
        let bare = mock!(aws_sdk_s3::Client::get_object).then_http_response(|| {
            HttpResponse::new(StatusCode::try_from(404).unwrap(), SdkBody::empty())
        });
        let s3 = mock_client!(aws_sdk_s3, [&modeled, &bare]);
        // When it is read / Then there is none
        for _ in 0..2 {
            assert_eq!(read_bytes(&s3, BUCKET, KEY).await.unwrap(), None);
        }
        assert_eq!((modeled.num_calls(), bare.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn given_a_read_denied_when_reading_then_it_fails_naming_get_object() {
        // Given GetObject answered AccessDenied
        let get = mock!(aws_sdk_s3::Client::get_object)
            .then_error(|| GetObjectError::generic(meta("AccessDenied")));
        let s3 = mock_client!(aws_sdk_s3, [&get]);
        // When it is read
        let got = read_bytes(&s3, BUCKET, KEY).await;
        // Then it fails with the operation, the key and the code, not "absent"
        let Err(Error::Aws {
            operation,
            resource,
            code,
            ..
        }) = got
        else {
            panic!("expected an AWS error: {got:?}")
        };
        assert_eq!(operation, "GetObject");
        assert_eq!(resource.as_deref(), Some(KEY));
        assert_eq!(code, "AccessDenied");
    }

    // --- Journal::save ---

    const JOURNAL: &str = "journals/restore-verification.json";

    fn state() -> serde_json::Value {
        serde_json::json!({"run": "run-a", "done": ["orders", "catalog"], "next": 2})
    }

    fn saved(journal: &Journal<serde_json::Value>) -> Vec<u8> {
        serde_json::to_vec_pretty(&journal.state).unwrap()
    }

    fn loaded(etag: &str) -> Journal<serde_json::Value> {
        Journal {
            key: JOURNAL.to_string(),
            state: state(),
            etag: Some(etag.to_string()),
        }
    }

    #[tokio::test]
    async fn given_our_own_save_answered_412_when_saving_then_it_is_saved_with_the_read_etag() {
        // Given a save (If-Match its ETag) answered 412, S3 holding exactly the bytes it sent
        // (its earlier attempt landed, the answer was lost), and a later save accepted only
        // on the ETag read back
        let mut journal = loaded("\"e-1\"");
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.key() == Some(JOURNAL) && r.if_match() == Some("\"e-1\""))
            .then_http_response(http_412);
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_output(stored(saved(&journal), "\"e-2\""));
        let next = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"e-2\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"e-3\"").build());
        let s3 = mock_client!(aws_sdk_s3, [&put, &get, &next]);
        // When it is saved
        journal.save(&s3, BUCKET).await.unwrap();
        // Then it is saved, and the ETag is the one read back
        assert_eq!(journal.etag.as_deref(), Some("\"e-2\""));
        // And the next save is conditional on it
        journal.save(&s3, BUCKET).await.unwrap();
        assert_eq!(journal.etag.as_deref(), Some("\"e-3\""));
        assert_eq!(
            (put.num_calls(), get.num_calls(), next.num_calls()),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn given_a_save_answered_412_when_another_run_wrote_then_it_fails_as_changed() {
        // Given a first save (If-None-Match) answered 412, and S3 holding other bytes: another
        // run's state, or ours with one byte off
        let mut theirs = saved(&loaded("\"e-1\""));
        theirs.push(b'\n');
        for other in [
            serde_json::to_vec_pretty(&serde_json::json!({"run": "run-b"})).unwrap(),
            theirs,
        ] {
            let mut journal = Journal::new(JOURNAL, state());
            let put = mock!(aws_sdk_s3::Client::put_object)
                .match_requests(|r| r.if_none_match() == Some("*") && r.if_match().is_none())
                .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
            let get = mock!(aws_sdk_s3::Client::get_object).then_output(stored(other, "\"e-b\""));
            let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
            // When it is saved
            let got = journal.save(&s3, BUCKET).await;
            // Then it fails: changed by another run, and the journal keeps no ETag
            let Err(Error::Internal(msg)) = got else {
                panic!("expected a conflict: {got:?}")
            };
            assert!(msg.contains("was changed by another run"), "{msg}");
            assert_eq!(journal.etag, None);
            assert_eq!(get.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn given_a_save_answered_412_when_the_journal_is_gone_then_it_fails_as_changed() {
        // Given a save answered 412 and the journal gone when read back
        let mut journal = loaded("\"e-1\"");
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_error(|| PutObjectError::generic(meta("PreconditionFailed")));
        let get = mock!(aws_sdk_s3::Client::get_object)
            .then_error(|| GetObjectError::generic(meta("NoSuchKey")));
        let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
        // When it is saved / Then it is a conflict, not a success
        let got = journal.save(&s3, BUCKET).await;
        assert!(
            matches!(&got, Err(Error::Internal(m)) if m.contains("was changed by another run")),
            "{got:?}"
        );
    }
}
