//! One error type for the shared crate, mapped to a Lambda `Diagnostic` with a stable `error_type`.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// Every failure a Lifeboat function reports as an invocation error.
///
/// Input errors (`InvalidEvent`, `InvalidPolicy`, `InvalidEnvironment`) are raised before any
/// AWS call and name the field and what was expected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid event: {field}: {expected}")]
    InvalidEvent { field: String, expected: String },
    #[error("invalid policy: {field}: {expected}")]
    InvalidPolicy { field: String, expected: String },
    #[error("invalid environment: {var}: {expected}")]
    InvalidEnvironment { var: String, expected: String },
    #[error("AWS {operation} failed{}: {code}: {message}", resource.as_deref().map(|r| format!(" for {r}")).unwrap_or_default())]
    Aws {
        operation: String,
        resource: Option<String>,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn event(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::InvalidEvent {
            field: field.into(),
            expected: expected.into(),
        }
    }

    pub fn policy(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::InvalidPolicy {
            field: field.into(),
            expected: expected.into(),
        }
    }

    pub fn env(var: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::InvalidEnvironment {
            var: var.into(),
            expected: expected.into(),
        }
    }

    /// Builds an `Aws` error from any SDK error, keeping the service's error code.
    pub fn aws<E>(operation: &str, resource: Option<&str>, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = aws_error_parts(err);
        Error::Aws {
            operation: operation.to_string(),
            resource: resource.map(str::to_string),
            code,
            message,
        }
    }

    /// Stable identifier for the Lambda error response and for alarms on it.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::InvalidEvent { .. } => "Lifeboat.InvalidEvent",
            Error::InvalidPolicy { .. } => "Lifeboat.InvalidPolicy",
            Error::InvalidEnvironment { .. } => "Lifeboat.InvalidEnvironment",
            Error::Aws { .. } => "Lifeboat.AwsError",
            Error::Internal(_) => "Lifeboat.Internal",
        }
    }
}

/// The AWS error code and message of an SDK error. A reply without a code the SDK could read
/// gives `HTTP <status>` and the start of the body; a transport failure (no reply) gives
/// `Unknown` and the whole error chain.
pub fn aws_error_parts<E>(err: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.code() {
        Some(code) => (
            code.to_string(),
            err.message().unwrap_or("no message").to_string(),
        ),
        None if err.raw_response().is_some() => {
            let raw = err.raw_response().expect("checked");
            let body = raw
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            let mut body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            // An HTML error page (a proxy, an emulator): its title says enough.
            if let (Some(a), Some(b)) = (body.find("<title>"), body.find("</title>")) {
                if a < b {
                    body = body[a + 7..b].to_string();
                }
            }
            let body: String = body.chars().take(300).collect();
            (
                format!("HTTP {}", raw.status().as_u16()),
                if body.is_empty() {
                    "reply without an error code or body".to_string()
                } else {
                    body
                },
            )
        }
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            ("Unknown".to_string(), text)
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        Diagnostic {
            error_type: err.error_type().to_string(),
            error_message: err.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
