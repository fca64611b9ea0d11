//! AWS configuration, loaded once per container and shared by reference.
//!
//! Standard retries with at most 3 attempts, connect/read/operation timeouts, and the standard
//! `AWS_ENDPOINT_URL` (a local emulator) honoured, with path-style S3 addressing when it is set.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Aws {
    config: SdkConfig,
    region: String,
}

impl Aws {
    /// Reads region, credentials and endpoint from the environment (as the Lambda runtime
    /// provides them). Fails with a named variable when no region is set.
    pub async fn load() -> Result<Aws> {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .read_timeout(Duration::from_secs(20))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            )
            .load()
            .await;
        Aws::from_config(config)
    }

    pub fn from_config(config: SdkConfig) -> Result<Aws> {
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| Error::env("AWS_REGION", "the AWS region to work in, e.g. us-east-1"))?;
        Ok(Aws { config, region })
    }

    /// The same configuration with every client's User-Agent carrying `app/lifeboat-<function>`:
    /// CloudTrail shows which Lifeboat function made a call, and the local emulator's call log
    /// (scripts/moto_server.py, LIFEBOAT_CALL_LOG) attributes each request to the function whose
    /// IAM role must allow it (scripts/iam/check.mjs). Called first by each function's
    /// `App::new`. A name AWS's app-name rules refuse is left out rather than failing the run.
    pub fn for_function(&self, function: &str) -> Aws {
        let config = match AppName::new(format!("lifeboat-{function}")) {
            Ok(name) => self.config.to_builder().app_name(name).build(),
            Err(e) => {
                tracing::warn!(function, error = %e, "User-Agent app name left out");
                self.config.clone()
            }
        };
        Aws {
            config,
            region: self.region.clone(),
        }
    }

    /// The primary region.
    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// The same configuration in another region (the DR region).
    pub fn config_in(&self, region: &str) -> SdkConfig {
        self.config
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// True when requests go to a custom endpoint (a local emulator).
    pub fn custom_endpoint(&self) -> bool {
        self.config.endpoint_url().is_some()
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_for(&self.config)
    }

    pub fn s3_in(&self, region: &str) -> aws_sdk_s3::Client {
        self.s3_for(&self.config_in(region))
    }

    fn s3_for(&self, config: &SdkConfig) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(self.custom_endpoint())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> Aws {
        Aws::from_config(
            SdkConfig::builder()
                .region(Region::new("us-east-1"))
                .behavior_version(BehaviorVersion::latest())
                .build(),
        )
        .unwrap()
    }

    #[test]
    fn for_function_names_the_function_in_every_region() {
        let aws = aws().for_function("snapshot-export");
        let name = |c: &SdkConfig| c.app_name().map(|a| a.to_string());
        assert_eq!(
            name(aws.config()).as_deref(),
            Some("lifeboat-snapshot-export")
        );
        assert_eq!(
            name(&aws.config_in("us-west-2")).as_deref(),
            Some("lifeboat-snapshot-export")
        );
        assert_eq!(aws.region(), "us-east-1");
    }

    #[test]
    fn a_name_aws_refuses_is_left_out() {
        assert!(aws()
            .for_function("no spaces")
            .config()
            .app_name()
            .is_none());
    }
}
