//! cost-anomaly: what each component's backups cost, by region and storage class, from the
//! bytes AWS bills; anomalies against the seed's rules and a robust baseline, with their
//! contributors ranked; savings in dollars with the exact change. It changes nothing in the
//! account but its own history and alert state.

pub mod objects;
pub mod plan;
pub mod s3_objects;

pub const FUNCTION: &str = "cost-anomaly";
