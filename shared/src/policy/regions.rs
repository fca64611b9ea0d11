//! AWS region names and the partition each belongs to, so that a made-up region
//! (`mars-north-1`) is refused before any AWS call.
//!
//! The rule is each partition's pattern as the AWS SDK's endpoint data (`partitions.json`)
//! writes it, with its `\w+` narrowed to the compass words every region uses:
//!
//! | partition | pattern |
//! |---|---|
//! | `aws` | `(us\|eu\|ap\|sa\|ca\|me\|af\|il\|mx)-DIRECTION-N` |
//! | `aws-us-gov` | `us-gov-DIRECTION-N` |
//! | `aws-cn` | `cn-DIRECTION-N` (`cn-north-1`, `cn-northwest-1`) |
//! | `aws-iso`, `aws-iso-b`, `aws-iso-f` | `us-iso-`, `us-isob-`, `us-isof-DIRECTION-N` |
//! | `aws-iso-e` | `eu-isoe-DIRECTION-N` |
//! | `aws-eusc` | `eusc-de-DIRECTION-N` |
//!
//! DIRECTION is one of north, south, east, west, central, northeast, southeast, northwest,
//! southwest; N is 1 to 99. A region AWS opens later in an existing area passes without a
//! change here; a new area code needs one line.

/// What a region field holds, for error messages.
pub const REGION_EXPECTED: &str =
    "an AWS region like us-west-2 (an AWS partition's area code, a compass direction and a number)";

const DIRECTIONS: [&str; 9] = [
    "north",
    "south",
    "east",
    "west",
    "central",
    "northeast",
    "southeast",
    "northwest",
    "southwest",
];

/// Area codes (the text before the direction) and their partition.
const AREAS: [(&str, &str); 16] = [
    ("us", "aws"),
    ("eu", "aws"),
    ("ap", "aws"),
    ("sa", "aws"),
    ("ca", "aws"),
    ("me", "aws"),
    ("af", "aws"),
    ("il", "aws"),
    ("mx", "aws"),
    ("us-gov", "aws-us-gov"),
    ("cn", "aws-cn"),
    ("us-iso", "aws-iso"),
    ("us-isob", "aws-iso-b"),
    ("us-isof", "aws-iso-f"),
    ("eu-isoe", "aws-iso-e"),
    ("eusc-de", "aws-eusc"),
];

/// The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`, ...), or `None` when the
/// name is no AWS region.
pub fn partition_of(region: &str) -> Option<&'static str> {
    let (rest, number) = region.rsplit_once('-')?;
    let number_ok = matches!(number.len(), 1 | 2)
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    let (area, direction) = rest.rsplit_once('-')?;
    if !number_ok || !DIRECTIONS.contains(&direction) {
        return None;
    }
    AREAS
        .iter()
        .find(|(code, _)| *code == area)
        .map(|(_, partition)| *partition)
}

/// Every partition an ARN may name.
pub const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_aws_has_are_known_and_made_up_ones_are_not() {
        // Given every region in the SDK's partitions.json, and names that only look like regions
        let real = [
            ("af-south-1", "aws"),
            ("ap-east-1", "aws"),
            ("ap-east-2", "aws"),
            ("ap-northeast-3", "aws"),
            ("ap-south-2", "aws"),
            ("ap-southeast-7", "aws"),
            ("ca-central-1", "aws"),
            ("ca-west-1", "aws"),
            ("eu-central-2", "aws"),
            ("eu-north-1", "aws"),
            ("eu-south-2", "aws"),
            ("eu-west-3", "aws"),
            ("il-central-1", "aws"),
            ("me-central-1", "aws"),
            ("me-south-1", "aws"),
            ("mx-central-1", "aws"),
            ("sa-east-1", "aws"),
            ("us-east-1", "aws"),
            ("us-west-2", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-iso-west-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("eusc-de-east-1", "aws-eusc"),
        ];
        for (region, partition) in real {
            // Then each real one is known, in its partition
            assert_eq!(partition_of(region), Some(partition), "{region}");
        }
        for fake in [
            "mars-north-1",
            "us-mars-1",
            "us-east",
            "us-east-0",
            "us-east-01",
            "us-east-100",
            "US-EAST-1",
            "us-east-1 ",
            "useast1",
            "",
            "-east-1",
            "us--east-1",
            "aws-global",
            "cn-mars-1",
        ] {
            // And none of the others is
            assert_eq!(partition_of(fake), None, "{fake:?}");
        }
    }
}
