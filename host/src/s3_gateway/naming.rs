//! Where S3 names land in the store: bucket `b`'s object `k` is the store key `b/k`, and
//! the record that bucket `b` exists is the internal object `.mirra/s3/buckets/b`.
//!
//! Mapping buckets to plain key prefixes keeps S3 objects ordinary mirra objects: `mirra
//! get photos/cat.jpg` reads what `aws s3 cp` wrote to `s3://photos/cat.jpg`, and a
//! bucket made over existing keys shows them.

use mirra_driver_api::Key;
use s3s::{s3_error, S3Error};

/// Where bucket records live (one internal object per bucket).
pub(crate) const BUCKETS_PREFIX: &str = ".mirra/s3/buckets/";
/// Where open multipart uploads keep their record and parts.
pub(crate) const UPLOADS_PREFIX: &str = ".mirra/s3/uploads/";

/// Checks `name` against S3's bucket naming rules (3–63 characters of lowercase letters,
/// digits, `-` and `.`, starting and ending with a letter or digit). The rules also keep
/// a bucket name a single, safe key segment.
pub(crate) fn check_bucket(name: &str) -> Result<(), S3Error> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
        && !name.contains("..")
        && name != "mirra";
    if valid {
        Ok(())
    } else {
        Err(s3_error!(InvalidBucketName, "invalid bucket name {name:?}"))
    }
}

/// The record that `bucket` exists.
pub(crate) fn bucket_record(bucket: &str) -> Result<Key, S3Error> {
    check_bucket(bucket)?;
    parse(&format!("{BUCKETS_PREFIX}{bucket}"))
}

/// The store key of object `key` in `bucket`.
pub(crate) fn object_key(bucket: &str, key: &str) -> Result<Key, S3Error> {
    check_bucket(bucket)?;
    if key.starts_with(".mirra/") || key == ".mirra" {
        return Err(s3_error!(
            InvalidArgument,
            "keys under .mirra/ are reserved"
        ));
    }
    parse(&format!("{bucket}/{key}"))
}

/// The prefix of every store key in `bucket`.
pub(crate) fn bucket_prefix(bucket: &str) -> String {
    format!("{bucket}/")
}

/// The S3 key of store key `stored` in `bucket`, if it belongs there.
pub(crate) fn s3_key<'a>(bucket: &str, stored: &'a str) -> Option<&'a str> {
    stored.strip_prefix(bucket)?.strip_prefix('/')
}

/// The record of multipart upload `upload_id`.
pub(crate) fn upload_record(upload_id: &str) -> Result<Key, S3Error> {
    check_upload_id(upload_id)?;
    parse(&format!("{UPLOADS_PREFIX}{upload_id}/upload"))
}

/// Part `number` of multipart upload `upload_id`.
pub(crate) fn part_key(upload_id: &str, number: i32) -> Result<Key, S3Error> {
    check_upload_id(upload_id)?;
    if !(1..=10_000).contains(&number) {
        return Err(s3_error!(
            InvalidArgument,
            "part numbers run from 1 to 10000"
        ));
    }
    parse(&format!("{UPLOADS_PREFIX}{upload_id}/part-{number:05}"))
}

/// The prefix under which every part of `upload_id` lives.
pub(crate) fn parts_prefix(upload_id: &str) -> Result<String, S3Error> {
    check_upload_id(upload_id)?;
    Ok(format!("{UPLOADS_PREFIX}{upload_id}/part-"))
}

/// The part number of a part's store key.
pub(crate) fn part_number(stored: &str) -> Option<i32> {
    stored.rsplit_once("/part-")?.1.parse().ok()
}

/// Upload ids are ours (32 lowercase hex digits); anything else never names an upload.
fn check_upload_id(upload_id: &str) -> Result<(), S3Error> {
    let valid = upload_id.len() == 32
        && upload_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(())
    } else {
        Err(s3_error!(NoSuchUpload))
    }
}

fn parse(key: &str) -> Result<Key, S3Error> {
    Key::parse(key).map_err(|e| match e {
        mirra_driver_api::KeyError::TooLong(_) => s3_error!(KeyTooLongError),
        e => s3_error!(InvalidArgument, "object key not accepted: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket.2024", "a1b"] {
            assert!(check_bucket(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "a/b",
            "mirra",
            &"x".repeat(64),
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn objects_map_to_prefixed_keys_and_back() {
        let key = object_key("photos", "2024/cat.jpg").unwrap();
        assert_eq!(key.as_str(), "photos/2024/cat.jpg");
        assert_eq!(s3_key("photos", key.as_str()), Some("2024/cat.jpg"));
        assert_eq!(s3_key("photo", key.as_str()), None);
        assert!(object_key("photos", ".mirra/x").is_err());
        assert!(object_key("photos", "a/../b").is_err());
        assert!(object_key("photos", "dir/").is_err());
    }

    #[test]
    fn parts_are_numbered_and_ids_checked() {
        let id = "0123456789abcdef0123456789abcdef";
        let part = part_key(id, 7).unwrap();
        assert_eq!(part_number(part.as_str()), Some(7));
        assert!(part_key(id, 0).is_err());
        assert!(part_key("../../etc", 1).is_err());
        assert!(upload_record("ABC").is_err());
    }
}
