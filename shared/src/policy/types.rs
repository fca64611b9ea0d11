//! The values a policy is written in: resource kinds, durations and retention.

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize};

/// The resource kinds Lifeboat backs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// An RDS DB instance (not an Aurora cluster member).
    RdsInstance,
    /// An Aurora DB cluster.
    AuroraCluster,
    /// An ElastiCache (Redis OSS / Valkey) replication group.
    Elasticache,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::RdsInstance => "rds-instance",
            ResourceKind::AuroraCluster => "aurora-cluster",
            ResourceKind::Elasticache => "elasticache",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration written as `30s`, `5m`, `1h`, `30d` or `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(s: &str) -> Option<Span> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = s.split_at(split);
        let n: i64 = n.parse().ok()?;
        let d = match unit.trim() {
            "s" => Duration::try_seconds(n)?,
            "m" | "min" => Duration::try_minutes(n)?,
            "h" => Duration::try_hours(n)?,
            "d" => Duration::try_days(n)?,
            "w" => Duration::try_weeks(n)?,
            _ => return None,
        };
        Some(Span(d))
    }

    pub fn minutes(m: i64) -> Span {
        Span(Duration::minutes(m))
    }

    pub fn hours(h: i64) -> Span {
        Span(Duration::hours(h))
    }

    pub fn days(d: i64) -> Span {
        Span(Duration::days(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.num_seconds();
        if s != 0 && s % 604_800 == 0 {
            write!(f, "{}w", s / 604_800)
        } else if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "a duration like \"5m\", \"1h\", \"30d\" or \"2w\", got {}",
                crate::trigger::excerpt_str(&s)
            ))
        })
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Grandfather-father-son retention: keep the newest backup of each of the last `daily` days,
/// `weekly` ISO weeks and `monthly` months (and of the last `hourly` hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default)]
    pub hourly: u32,
    #[serde(default)]
    pub daily: u32,
    #[serde(default)]
    pub weekly: u32,
    #[serde(default)]
    pub monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            hourly: 0,
            daily: 7,
            weekly: 4,
            monthly: 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_round_trip() {
        for s in ["30s", "5m", "1h", "30d", "2w"] {
            assert_eq!(Span::parse(s).unwrap().to_string(), s);
        }
        assert!(Span::parse("5 minutes").is_none());
        assert!(Span::parse("m").is_none());
    }
}
