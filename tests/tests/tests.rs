//! The integration tests, one test binary (`integration`) so the AWS SDK crates are linked
//! once: each file beside this one is a module. `util` is the world builder they share.
//!
//! Run one module with `cargo test -p lifeboat-tests --test integration restores::`.

mod aws_backup;
mod cloudwatch_stand_in;
mod cost;
mod data_checks;
mod failover;
mod failover_events;
mod fault_proxy;
mod faults;
mod integrity_sweep;
mod mocked;
mod pagination;
mod preflight;
mod redis_tls;
mod replication;
mod restores;
mod snapshot_export;
mod util;
