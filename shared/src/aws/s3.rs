//! S3: object listings, read to the last page.

use std::collections::BTreeSet;

use super::errors::AwsError;

/// The keys of every object in `bucket` under `prefix`.
pub async fn keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<BTreeSet<String>, AwsError> {
    let mut keys = BTreeSet::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("ListObjectsV2", &e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aws::test_page;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn keys_are_listed_to_the_last_page() {
        // Given 2500 objects under a prefix, 1000 to a page as S3 lists them
        let rule = mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| r.bucket() == Some("backups") && r.prefix() == Some("lifeboat-"))
            .then_compute_output(|r| {
                let (items, next) = test_page(2500, 1000, r.continuation_token());
                ListObjectsV2Output::builder()
                    .set_contents(Some(
                        items
                            .map(|i| {
                                aws_sdk_s3::types::Object::builder()
                                    .key(format!("lifeboat-sessions-{i:04}-0001.rdb"))
                                    .build()
                            })
                            .collect(),
                    ))
                    .is_truncated(next.is_some())
                    .set_next_continuation_token(next)
                    .build()
            });
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
        // When they are listed
        let listed = keys(&s3, "backups", "lifeboat-").await.unwrap();
        // Then all three pages are in, the last object too
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(listed.len(), 2500);
        assert!(listed.contains("lifeboat-sessions-2499-0001.rdb"));
    }
}
