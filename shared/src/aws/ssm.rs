//! SSM Parameter Store: the backup target parameter (`buckets.target_parameter`), which names the
//! bucket backups go to now. failover-orchestrator's `switch-backup-target` step points it at
//! the secondary bucket (`buckets.dr_backup`) and failback points it back at the primary
//! (`buckets.backup`); Lifeboat's own writers read it once per run and write there.
//!
//! The parameter is trusted only to choose between the two buckets the policy names: any other
//! value, or a parameter that is not there, is an error, never a silent fall-back to the
//! primary (a backup written to a bucket the failover moved away from, or to a bucket nobody
//! vetted, is a backup nobody finds).

use std::fmt;

use super::errors::AwsError;
use crate::policy::Policy;
use crate::trigger::excerpt_str;

/// Which of the policy's two backup buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `buckets.backup`.
    Primary,
    /// `buckets.dr_backup`: the target parameter points there (failover).
    Secondary,
}

/// Where backups go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: String,
    pub side: Side,
    /// The parameter that named the bucket; `None` when the policy has no target parameter.
    pub parameter: Option<String>,
}

impl Target {
    /// `buckets.backup`, the target of a policy without a target parameter.
    pub fn primary(policy: &Policy) -> Target {
        Target {
            bucket: policy.buckets.backup.clone(),
            side: Side::Primary,
            parameter: None,
        }
    }

    /// The policy field that names the bucket.
    pub fn field(&self) -> &'static str {
        match self.side {
            Side::Primary => "buckets.backup",
            Side::Secondary => "buckets.dr_backup",
        }
    }
}

/// Why the target is not known. Each names the parameter; a run that gets one writes no backup
/// to any bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// GetParameter answered ParameterNotFound.
    NotFound { parameter: String },
    /// The parameter holds something other than the policy's two buckets.
    NotAllowed {
        parameter: String,
        /// A short excerpt of the value.
        value: String,
        /// `buckets.backup`, then `buckets.dr_backup` when the policy has one.
        allowed: Vec<String>,
    },
    /// GetParameter failed otherwise (denied, throttled, no answer).
    Read { parameter: String, error: AwsError },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::NotFound { parameter } => write!(
                f,
                "the backup target parameter {parameter} (buckets.target_parameter) does not exist in the primary region: create it holding the bucket backups go to, or remove buckets.target_parameter from the policy"
            ),
            TargetError::NotAllowed {
                parameter,
                value,
                allowed,
            } => write!(
                f,
                "the backup target parameter {parameter} (buckets.target_parameter) holds {value}, which is not a bucket the policy names for backups ({}): no backup is written to any other bucket",
                allowed.join(" or ")
            ),
            TargetError::Read { parameter, error } => write!(
                f,
                "the backup target parameter {parameter} (buckets.target_parameter) could not be read: {}",
                error.about(parameter)
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// The target a value of `parameter` names: `buckets.backup` or `buckets.dr_backup`, exactly
/// (surrounding whitespace aside), else [`TargetError::NotAllowed`].
pub fn target_of(policy: &Policy, parameter: &str, value: &str) -> Result<Target, TargetError> {
    let b = &policy.buckets;
    let wanted = value.trim();
    let side = if wanted == b.backup {
        Side::Primary
    } else if b.dr_backup.as_deref() == Some(wanted) {
        Side::Secondary
    } else {
        let mut allowed = vec![format!("buckets.backup {}", b.backup)];
        if let Some(dr) = &b.dr_backup {
            allowed.push(format!("buckets.dr_backup {dr}"));
        }
        return Err(TargetError::NotAllowed {
            parameter: parameter.to_string(),
            value: excerpt_str(value),
            allowed,
        });
    };
    Ok(Target {
        bucket: wanted.to_string(),
        side,
        parameter: Some(parameter.to_string()),
    })
}

/// Which bucket backups go to now: `buckets.backup` without a target parameter; with one, the
/// bucket it names (GetParameter in the client's region, the primary), which must be one of the
/// policy's two (see [`target_of`]).
pub async fn backup_target(
    ssm: &aws_sdk_ssm::Client,
    policy: &Policy,
) -> Result<Target, TargetError> {
    let Some(parameter) = policy.buckets.target_parameter.as_deref() else {
        return Ok(Target::primary(policy));
    };
    let out = ssm
        .get_parameter()
        .name(parameter)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found())
            {
                TargetError::NotFound {
                    parameter: parameter.to_string(),
                }
            } else {
                TargetError::Read {
                    parameter: parameter.to_string(),
                    error: AwsError::new("GetParameter", &e),
                }
            }
        })?;
    let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
    target_of(policy, parameter, value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
    use aws_sdk_ssm::types::error::ParameterNotFound;
    use aws_sdk_ssm::types::Parameter;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    const PARAM: &str = "/lifeboat/backup-target";

    fn policy(target: bool) -> Policy {
        let target = if target {
            format!(", target_parameter: {PARAM}")
        } else {
            String::new()
        };
        Policy::parse(&format!(
            "version: 1\nbuckets: {{backup: backups-primary, dr_backup: backups-secondary{target}}}\n"
        ))
        .unwrap()
    }

    /// A client whose GetParameter of [`PARAM`] answers `value`.
    fn holding(value: &'static str) -> (aws_smithy_mocks::Rule, aws_sdk_ssm::Client) {
        let rule = mock!(aws_sdk_ssm::Client::get_parameter)
            .match_requests(|r| r.name() == Some(PARAM))
            .then_output(move || {
                GetParameterOutput::builder()
                    .parameter(
                        Parameter::builder()
                            .name(PARAM)
                            .r#type(aws_sdk_ssm::types::ParameterType::String)
                            .value(value)
                            .version(3)
                            .build(),
                    )
                    .build()
            });
        let c = mock_client!(aws_sdk_ssm, [&rule]);
        (rule, c)
    }

    #[tokio::test]
    async fn without_a_target_parameter_backups_go_to_the_primary_and_nothing_is_read() {
        // Given a policy without buckets.target_parameter
        let (rule, ssm) = holding("backups-secondary");
        // When the target is resolved
        let t = backup_target(&ssm, &policy(false)).await.unwrap();
        // Then it is buckets.backup, and SSM was not asked
        assert_eq!(t, Target::primary(&policy(false)));
        assert_eq!(
            (t.bucket.as_str(), t.field()),
            ("backups-primary", "buckets.backup")
        );
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn the_parameter_chooses_between_the_two_buckets_the_policy_names() {
        for (value, bucket, side) in [
            ("backups-primary", "backups-primary", Side::Primary),
            ("backups-secondary", "backups-secondary", Side::Secondary),
            // A value typed with a trailing newline still names the bucket
            ("backups-secondary\n", "backups-secondary", Side::Secondary),
        ] {
            // Given the parameter holding one of the policy's buckets
            let (rule, ssm) = holding(value);
            // When the target is resolved
            let t = backup_target(&ssm, &policy(true)).await.unwrap();
            // Then backups go to that bucket, read once, with the parameter named
            assert_eq!(t.bucket, bucket);
            assert_eq!(t.side, side);
            assert_eq!(t.parameter.as_deref(), Some(PARAM));
            assert_eq!(rule.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn a_bucket_the_policy_does_not_name_is_refused_naming_the_parameter_and_both_buckets() {
        // Given the parameter holding another bucket (a typo, or someone else's bucket)
        let (_, ssm) = holding("backups-elsewhere");
        // When the target is resolved
        let e = backup_target(&ssm, &policy(true)).await.unwrap_err();
        // Then it is refused, naming the parameter, what it holds and the two allowed buckets
        assert!(matches!(e, TargetError::NotAllowed { .. }), "{e:?}");
        let text = e.to_string();
        for part in [
            PARAM,
            "\"backups-elsewhere\"",
            "buckets.backup backups-primary",
            "buckets.dr_backup backups-secondary",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    #[test]
    fn a_huge_value_is_quoted_as_a_short_excerpt() {
        // Given a parameter holding 4 KB (the most a standard parameter holds)
        let huge = "x".repeat(4096);
        // When it is judged
        let e = target_of(&policy(true), PARAM, &huge).unwrap_err();
        // Then the error quotes a short excerpt only
        assert!(e.to_string().len() < 500, "{}", e.to_string().len());
        // And an empty value is no bucket either
        assert!(target_of(&policy(true), PARAM, " ").is_err());
    }

    #[tokio::test]
    async fn a_missing_parameter_is_an_error_naming_it_not_a_fall_back_to_the_primary() {
        // Given GetParameter answered ParameterNotFound
        let rule = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
            GetParameterError::ParameterNotFound(
                ParameterNotFound::builder()
                    .meta(ErrorMetadata::builder().code("ParameterNotFound").build())
                    .build(),
            )
        });
        let ssm = mock_client!(aws_sdk_ssm, [&rule]);
        // When the target is resolved
        let e = backup_target(&ssm, &policy(true)).await.unwrap_err();
        // Then the error names the parameter and says it is not there
        assert_eq!(
            e,
            TargetError::NotFound {
                parameter: PARAM.into()
            }
        );
        assert!(
            e.to_string().contains(&format!(
                "{PARAM} (buckets.target_parameter) does not exist"
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_aws_error() {
        // Given GetParameter denied
        let rule = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
            GetParameterError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: ssm:GetParameter")
                    .build(),
            )
        });
        let ssm = mock_client!(aws_sdk_ssm, [&rule]);
        // When the target is resolved
        let e = backup_target(&ssm, &policy(true)).await.unwrap_err();
        // Then the error is the read's, with the parameter and AWS's code
        match &e {
            TargetError::Read { parameter, error } => {
                assert_eq!(parameter, PARAM);
                assert_eq!(error.code, "AccessDeniedException");
                assert_eq!(error.operation, "GetParameter");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("ssm:GetParameter"), "{e}");
    }
}
