//! Wiring only: tracing, configuration and clients once per container, then the runtime loop.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lifeboat_shared::init_tracing();
    let app = restore_verification::App::from_env().await;
    lifeboat_shared::serve(app, restore_verification::handle).await
}
