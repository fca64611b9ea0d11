//! Wiring only: tracing, configuration and clients once per container, then the runtime loop.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lifeboat_shared::init_tracing();
    let app = cost_anomaly::App::from_env().await;
    lifeboat_shared::serve(app, cost_anomaly::handle).await
}
