//! Wiring only: tracing, configuration and clients once per container, then the runtime loop.
//! A configuration error is returned by every invocation (naming the variable or policy field)
//! instead of crashing the container.
use std::sync::Arc;

use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lifeboat_shared::init_tracing();
    let app = Arc::new(snapshot_export::App::from_env().await);
    if let Err(e) = app.as_ref() {
        tracing::error!(error = %e, "configuration rejected; every invocation returns this error");
    }
    run(service_fn(move |event: LambdaEvent<Value>| {
        let app = Arc::clone(&app);
        async move {
            match app.as_ref() {
                Ok(app) => snapshot_export::handle(app, event).await,
                Err(e) => Err(e.clone()),
            }
        }
    }))
    .await
}
