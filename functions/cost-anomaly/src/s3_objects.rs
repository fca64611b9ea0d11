//! The objects of a backup bucket, read three ways into a [`Breakdown`]: an S3 Inventory report
//! ([`inventory`]: the only way through many millions of objects, one GetObject per data file),
//! a listing ([`listing`]: small buckets, one request per 1,000 versions), and the incomplete
//! multipart uploads a listing never shows ([`multipart_uploads`]).
//!
//! Every reader is all or nothing: a source that cannot be read whole is a [`SourceError`]
//! naming what failed, never a smaller figure. Memory does not grow with the number of objects:
//! an inventory's data files are streamed (GetObject body → gzip decoder → line splitter →
//! [`Breakdown::add`]), one line held at a time.
//!
//! The inventory layout is AWS's ("Locating your inventory list" in the S3 User Guide):
//! `<destination-prefix>/<source-bucket>/<config-ID>/YYYY-MM-DDTHH-MMZ/manifest.json` (with
//! `manifest.checksum`, and `hive/dt=.../symlink.txt` beside the dated folders), the data files
//! at the keys the manifest's `files[]` names (`.../<config-ID>/data/<uuid>.csv.gz`). A CSV data
//! file is gzip-compressed, every field quoted, the columns those of the manifest's
//! `fileSchema`, and the key URL-encoded (form encoding: a space is `+`, a `+` is `%2B`).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use aws_sdk_s3::Client;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use flate2::write::MultiGzDecoder;
use lifeboat_shared::aws::errors::{self, AwsError};
use lifeboat_shared::aws_time;
use serde::Deserialize;

use crate::objects::{Ages, Breakdown, Object};

/// Which inventory report to read (the inventory configuration of the source bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryReport {
    /// The bucket the report lists.
    pub source_bucket: String,
    /// The bucket AWS writes the report into (a name, not an ARN).
    pub destination_bucket: String,
    /// The configuration's destination prefix, if it has one.
    pub destination_prefix: Option<String>,
    /// The inventory configuration's id (its name).
    pub config_id: String,
    /// A report older than this is stale: refused, not read.
    pub max_age: Duration,
}

/// A source that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// What was being read: `S3 Inventory`, `S3 listing`, `S3 multipart uploads`.
    pub source: String,
    pub error: String,
}

impl SourceError {
    fn new(source: &str, error: impl Into<String>) -> SourceError {
        SourceError {
            source: source.to_string(),
            error: error.into(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.error)
    }
}

impl std::error::Error for SourceError {}

const INVENTORY: &str = "S3 Inventory";
const LISTING: &str = "S3 listing";
const UPLOADS: &str = "S3 multipart uploads";

/// An inventory report read whole.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRead {
    pub breakdown: Breakdown,
    /// When AWS began scanning the bucket for this report (the manifest's `creationTimestamp`).
    pub report_date: DateTime<Utc>,
    /// Data files read.
    pub files: usize,
    /// Rows read (object versions and delete markers).
    pub rows: u64,
    /// Compressed bytes of the data files read.
    pub bytes_read: u64,
    /// S3 requests made (LIST pages and GETs).
    pub requests: u32,
}

/// A CSV line longer than this is not an inventory row (a wrong format, a file without line
/// breaks): refused, so that one line cannot grow memory without bound. A row's longest field,
/// the URL-encoded key, is at most 1,024 bytes of UTF-8 encoded to three characters a byte.
const MAX_LINE: usize = 64 * 1024;

/// Reads the newest report of `report`'s inventory configuration into a [`Breakdown`].
///
/// Requests: one ListObjectsV2 page per 1,000 dated folders (a delimiter listing of the
/// configuration's folder, not of its objects), one GetObject for the manifest, one per data
/// file.
pub async fn inventory(
    s3: &Client,
    report: &InventoryReport,
    ages: Ages,
    now: DateTime<Utc>,
) -> Result<InventoryRead, SourceError> {
    let fail = |e: String| SourceError::new(INVENTORY, e);
    let dest = &report.destination_bucket;
    let base = report_base(report);
    let mut requests = 0u32;

    // The dated folders: `<base>YYYY-MM-DDTHH-MMZ/`; `data/` and `hive/` sit beside them.
    let mut newest: Option<String> = None;
    let mut pages = s3
        .list_objects_v2()
        .bucket(dest)
        .prefix(&base)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        requests += 1;
        let page = page.map_err(|e| {
            fail(AwsError::new("ListObjectsV2", &e).about(&format!("s3://{dest}/{base}")))
        })?;
        for p in page.common_prefixes() {
            let Some(folder) = p.prefix().and_then(|p| p.strip_prefix(base.as_str())) else {
                continue;
            };
            let folder = folder.trim_end_matches('/');
            if report_folder_time(folder).is_some() && newest.as_deref().is_none_or(|n| folder > n)
            {
                newest = Some(folder.to_string());
            }
        }
    }
    let Some(folder) = newest else {
        return Err(fail(format!(
            "no inventory report under s3://{dest}/{base} (no dated folder YYYY-MM-DDTHH-MMZ/ \
             there): is the inventory configuration {} of bucket {} writing to this bucket and \
             prefix, and has its first report been delivered (up to 48 hours after it is set up)?",
            report.config_id, report.source_bucket
        )));
    };

    let manifest_key = format!("{base}{folder}/manifest.json");
    let manifest_url = format!("s3://{dest}/{manifest_key}");
    requests += 1;
    let body = match s3.get_object().bucket(dest).key(&manifest_key).send().await {
        Ok(out) => out
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("{manifest_url}: the download broke: {}", chain(&e))))?,
        Err(e) => {
            let e = AwsError::new("GetObject", &e);
            return Err(fail(if errors::not_found(&e.code) {
                format!("no inventory report under s3://{dest}/{base}: the newest report folder {folder}/ has no manifest.json ({e})")
            } else {
                e.about(&manifest_url)
            }));
        }
    };
    let manifest =
        Manifest::parse(&body.into_bytes()).map_err(|e| fail(format!("{manifest_url}: {e}")))?;
    if manifest.source_bucket != report.source_bucket {
        return Err(fail(format!(
            "{manifest_url} is the inventory of bucket {}, not of {}",
            manifest.source_bucket, report.source_bucket
        )));
    }
    let created = manifest
        .created()
        .map_err(|e| fail(format!("{manifest_url}: {e}")))?;
    if now - created > report.max_age {
        return Err(fail(format!(
            "the newest inventory report ({manifest_url}) is stale: created {}, {} old, over the {} allowed",
            created.format("%Y-%m-%d %H:%M UTC"),
            age_words(now - created),
            age_words(report.max_age)
        )));
    }
    if !manifest.file_format.eq_ignore_ascii_case("CSV") {
        return Err(fail(format!(
            "{manifest_url}: the report is {}; only CSV can be read: set the inventory \
             configuration's output format to CSV",
            manifest.file_format
        )));
    }
    let columns = Columns::from_schema(&manifest.file_schema)
        .map_err(|e| fail(format!("{manifest_url}: {e}")))?;

    let mut breakdown = Breakdown::new(ages);
    let (mut rows, mut bytes_read) = (0u64, 0u64);
    for file in &manifest.files {
        requests += 1;
        let (r, b) = read_data_file(
            s3,
            dest,
            file,
            &columns,
            &report.source_bucket,
            &mut breakdown,
        )
        .await
        .map_err(fail)?;
        rows += r;
        bytes_read += b;
    }
    Ok(InventoryRead {
        breakdown,
        report_date: created,
        files: manifest.files.len(),
        rows,
        bytes_read,
        requests,
    })
}

/// `<prefix>/<source-bucket>/<config-ID>/`, the folder of the configuration's reports.
fn report_base(report: &InventoryReport) -> String {
    let prefix = report
        .destination_prefix
        .as_deref()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    match prefix {
        Some(p) => format!("{p}/{}/{}/", report.source_bucket, report.config_id),
        None => format!("{}/{}/", report.source_bucket, report.config_id),
    }
}

/// The time a report folder is named for (`2016-11-06T21-32Z`), or None for another folder.
fn report_folder_time(folder: &str) -> Option<DateTime<Utc>> {
    if folder.len() != "YYYY-MM-DDTHH-MMZ".len() {
        return None;
    }
    NaiveDateTime::parse_from_str(folder, "%Y-%m-%dT%H-%MZ")
        .ok()
        .map(|t| t.and_utc())
}

fn age_words(d: Duration) -> String {
    if d.num_hours() >= 48 {
        format!("{} days", d.num_days())
    } else {
        format!("{} hours", d.num_hours())
    }
}

/// `manifest.json`: the fields read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    source_bucket: String,
    file_format: String,
    file_schema: String,
    /// Epoch milliseconds, as a string (AWS's example), or a number.
    creation_timestamp: serde_json::Value,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    key: String,
    /// Compressed bytes.
    size: u64,
}

impl Manifest {
    fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not an inventory manifest: {e}"))
    }

    fn created(&self) -> Result<DateTime<Utc>, String> {
        let ms = match &self.creation_timestamp {
            serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
            serde_json::Value::Number(n) => n.as_i64(),
            _ => None,
        };
        ms.and_then(DateTime::from_timestamp_millis).ok_or_else(|| {
            format!(
                "creationTimestamp {} is not a time in epoch milliseconds",
                self.creation_timestamp
            )
        })
    }
}

/// Where the fields the breakdown needs sit in a row, from the manifest's `fileSchema`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    count: usize,
    bucket: Option<usize>,
    key: usize,
    size: usize,
    class: usize,
    /// Absent from a current-versions-only report: every row is current.
    latest: Option<usize>,
    delete_marker: Option<usize>,
    modified: Option<usize>,
}

impl Columns {
    fn from_schema(schema: &str) -> Result<Columns, String> {
        let names: Vec<&str> = schema.split(',').map(str::trim).collect();
        let at = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let need = |name: &str, why: &str| {
            at(name).ok_or_else(|| {
                format!("the report's fileSchema has no {name} column ({why}): add it to the inventory configuration's optional fields; schema: {schema}")
            })
        };
        Ok(Columns {
            count: names.len(),
            bucket: at("Bucket"),
            key: need("Key", "every row needs its key")?,
            size: need("Size", "the breakdown counts bytes")?,
            class: need("StorageClass", "the breakdown is by storage class")?,
            latest: at("IsLatest"),
            delete_marker: at("IsDeleteMarker"),
            modified: at("LastModifiedDate"),
        })
    }
}

/// Streams one data file into `breakdown`: (rows, compressed bytes).
async fn read_data_file(
    s3: &Client,
    bucket: &str,
    file: &ManifestFile,
    columns: &Columns,
    source_bucket: &str,
    breakdown: &mut Breakdown,
) -> Result<(u64, u64), String> {
    let url = format!("s3://{bucket}/{}", file.key);
    let out = match s3.get_object().bucket(bucket).key(&file.key).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = AwsError::new("GetObject", &e);
            return Err(if errors::not_found(&e.code) {
                format!("data file {url}, listed in the manifest, is missing ({e})")
            } else {
                e.about(&url)
            });
        }
    };
    if let Some(len) = out
        .content_length()
        .filter(|&l| l >= 0 && l as u64 != file.size)
    {
        return Err(truncated(&url, len as u64, file.size));
    }
    let mut body = out.body;
    let mut gz = MultiGzDecoder::new(Rows::new(columns, source_bucket, &url, breakdown));
    let mut read = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            format!(
                "data file {url} is truncated: the download broke after {read} of {} bytes: {}",
                file.size,
                chain(&e)
            )
        })?;
        read += chunk.len() as u64;
        if let Err(e) = gz.write_all(&chunk) {
            return Err(gz
                .get_mut()
                .failed
                .take()
                .unwrap_or_else(|| corrupt(&url, &e)));
        }
    }
    if read != file.size {
        return Err(truncated(&url, read, file.size));
    }
    if let Err(e) = gz.try_finish() {
        return Err(gz
            .get_mut()
            .failed
            .take()
            .unwrap_or_else(|| corrupt(&url, &e)));
    }
    let rows = gz.get_mut();
    rows.last_line()
        .map_err(|_| rows.failed.take().unwrap_or_default())?;
    Ok((rows.rows, read))
}

/// An error and its sources, `a: b: c` (a body stream's error says little at its top).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn truncated(url: &str, got: u64, want: u64) -> String {
    format!("data file {url} is truncated: {got} bytes where the manifest says {want}")
}

fn corrupt(url: &str, e: &io::Error) -> String {
    format!("data file {url} is truncated or corrupt: its gzip stream does not decode: {e}")
}

/// The line splitter and row parser behind the gzip decoder: whole lines are parsed where they
/// lie in the decoded buffer; only a line cut by a buffer boundary is copied (into `partial`).
struct Rows<'a> {
    columns: &'a Columns,
    source_bucket: &'a str,
    file: &'a str,
    breakdown: &'a mut Breakdown,
    partial: Vec<u8>,
    fields: Vec<Field>,
    line: u64,
    rows: u64,
    /// Why the last write was refused (the writer's io::Error carries no more than that).
    failed: Option<String>,
}

impl<'a> Rows<'a> {
    fn new(
        columns: &'a Columns,
        source_bucket: &'a str,
        file: &'a str,
        breakdown: &'a mut Breakdown,
    ) -> Rows<'a> {
        Rows {
            columns,
            source_bucket,
            file,
            breakdown,
            partial: Vec::new(),
            fields: Vec::with_capacity(columns.count),
            line: 0,
            rows: 0,
            failed: None,
        }
    }

    /// A last line without its line break.
    fn last_line(&mut self) -> io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        self.line(&line)
    }

    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self.line += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(());
        }
        match parse_row(line, self.columns, self.source_bucket, &mut self.fields) {
            Ok(row) => {
                let key = row.key.as_ref();
                self.breakdown.add(&Object {
                    key,
                    size: row.size,
                    class: row.class,
                    last_modified: row.modified,
                    latest: row.latest,
                    delete_marker: row.delete_marker,
                });
                self.rows += 1;
                Ok(())
            }
            Err(why) => self.refuse(format!(
                "data file {} line {}: {why}: {}",
                self.file,
                self.line,
                excerpt(line)
            )),
        }
    }

    fn refuse(&mut self, why: String) -> io::Result<()> {
        self.failed = Some(why);
        Err(io::Error::other("row refused"))
    }
}

impl Write for Rows<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.line(&rest[..i])?;
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&rest[..i]);
                self.line(&line)?;
                line.clear();
                self.partial = line;
            }
            rest = &rest[i + 1..];
        }
        if self.partial.len() + rest.len() > MAX_LINE {
            return self.refuse(format!(
                "data file {} line {}: longer than {} KiB without a line break: not a CSV inventory row: {}",
                self.file,
                self.line + 1,
                MAX_LINE / 1024,
                excerpt(if self.partial.is_empty() { rest } else { &self.partial })
            )).map(|()| 0);
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// At most 60 characters of a line for an error message (control characters shown as `?`),
/// with `…` when it was cut.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out: String = text
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(60).is_some() {
        out.push('…');
    }
    out
}

/// One field of a CSV line: `line[start..end]`, with `""` inside when `doubled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    start: usize,
    end: usize,
    doubled: bool,
}

/// Splits an RFC 4180 line (AWS quotes every field; unquoted fields are read too).
fn split_fields(line: &[u8], out: &mut Vec<Field>) -> Result<(), &'static str> {
    out.clear();
    let n = line.len();
    let mut i = 0;
    loop {
        if i < n && line[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut doubled = false;
            loop {
                match line[j..].iter().position(|&b| b == b'"') {
                    None => return Err("a quoted field is not closed"),
                    Some(p) => {
                        j += p;
                        if line.get(j + 1) == Some(&b'"') {
                            doubled = true;
                            j += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push(Field {
                start,
                end: j,
                doubled,
            });
            i = j + 1;
            if i == n {
                return Ok(());
            }
            if line[i] != b',' {
                return Err("text after a closing quote");
            }
            i += 1;
        } else {
            let end = line[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(n, |p| i + p);
            if line[i..end].contains(&b'"') {
                return Err("a quote inside an unquoted field");
            }
            out.push(Field {
                start: i,
                end,
                doubled: false,
            });
            if end == n {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

fn field_bytes(line: &[u8], f: Field) -> Cow<'_, [u8]> {
    let raw = &line[f.start..f.end];
    if !f.doubled {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        out.push(raw[i]);
        i += if raw[i] == b'"' { 2 } else { 1 };
    }
    Cow::Owned(out)
}

/// A URL-encoded key as S3 Inventory writes it in CSV: `%XX` escapes and `+` for a space (a
/// literal `+` is `%2B`).
fn url_decode(raw: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| "the key is not UTF-8");
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err("the key has a % not followed by two hex digits");
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| "the key is not UTF-8 once decoded")
}

/// One row, its key decoded.
#[derive(Debug, PartialEq)]
struct Row<'l> {
    key: Cow<'l, str>,
    size: u64,
    class: &'l str,
    modified: Option<DateTime<Utc>>,
    latest: bool,
    delete_marker: bool,
}

fn parse_row<'l>(
    line: &'l [u8],
    c: &Columns,
    source_bucket: &str,
    fields: &mut Vec<Field>,
) -> Result<Row<'l>, String> {
    split_fields(line, fields)?;
    if fields.len() != c.count {
        return Err(format!(
            "{} fields where the schema names {}",
            fields.len(),
            c.count
        ));
    }
    let text = |i: usize| -> Result<&'l str, String> {
        let f = fields[i];
        if f.doubled {
            return Err("a quote inside a field that cannot hold one".to_string());
        }
        std::str::from_utf8(&line[f.start..f.end]).map_err(|_| "a field is not UTF-8".to_string())
    };
    let flag = |i: Option<usize>, absent: bool, name: &str| -> Result<bool, String> {
        let Some(i) = i else { return Ok(absent) };
        let v = text(i)?;
        if v.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if v.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(format!("{name} is {v:?}, not true or false"))
        }
    };
    if let Some(b) = c.bucket {
        let bucket = text(b)?;
        if bucket != source_bucket {
            return Err(format!(
                "the row is of bucket {bucket:?}, not {source_bucket}"
            ));
        }
    }
    let delete_marker = flag(c.delete_marker, false, "IsDeleteMarker")?;
    let latest = flag(c.latest, true, "IsLatest")?;
    let key = match field_bytes(line, fields[c.key]) {
        Cow::Borrowed(raw) => url_decode(raw)?,
        Cow::Owned(raw) => Cow::Owned(url_decode(&raw)?.into_owned()),
    };
    if key.is_empty() {
        return Err("no key".to_string());
    }
    let size = match text(c.size)? {
        "" if delete_marker => 0,
        "" => return Err("no size".to_string()),
        s => s
            .parse::<u64>()
            .map_err(|_| format!("size {s:?} is not a number of bytes"))?,
    };
    let modified = match c.modified.map(text).transpose()? {
        None | Some("") => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| format!("LastModifiedDate {s:?} is not an ISO 8601 time"))?
                .with_timezone(&Utc),
        ),
    };
    Ok(Row {
        key,
        size,
        class: text(c.class)?,
        modified,
        latest,
        delete_marker,
    })
}

// --- listings ----------------------------------------------------------------------------------

/// A bucket listed whole.
#[derive(Debug, Clone, PartialEq)]
pub struct ListingRead {
    pub breakdown: Breakdown,
    /// LIST requests made (one per page of up to 1,000 keys).
    pub requests: u32,
}

/// Lists every object of `bucket` into a [`Breakdown`]: with `versions`, every version and
/// delete marker (ListObjectVersions), else the current objects (ListObjectsV2). For small
/// buckets: a request per 1,000 entries.
pub async fn listing(
    s3: &Client,
    bucket: &str,
    versions: bool,
    ages: Ages,
) -> Result<ListingRead, SourceError> {
    let mut breakdown = Breakdown::new(ages);
    let mut requests = 0u32;
    if !versions {
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            requests += 1;
            let page = page.map_err(|e| {
                SourceError::new(
                    LISTING,
                    AwsError::new("ListObjectsV2", &e).about(&format!("s3://{bucket}")),
                )
            })?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                breakdown.add(&Object {
                    key,
                    size: bytes(o.size()),
                    class: o.storage_class().map_or("STANDARD", |c| c.as_str()),
                    last_modified: aws_time(o.last_modified()),
                    latest: true,
                    delete_marker: false,
                });
            }
        }
        return Ok(ListingRead {
            breakdown,
            requests,
        });
    }
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        requests += 1;
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| {
                SourceError::new(
                    LISTING,
                    AwsError::new("ListObjectVersions", &e).about(&format!("s3://{bucket}")),
                )
            })?;
        for v in page.versions() {
            let Some(key) = v.key() else { continue };
            breakdown.add(&Object {
                key,
                size: bytes(v.size()),
                class: v.storage_class().map_or("STANDARD", |c| c.as_str()),
                last_modified: aws_time(v.last_modified()),
                latest: v.is_latest().unwrap_or(true),
                delete_marker: false,
            });
        }
        for m in page.delete_markers() {
            let Some(key) = m.key() else { continue };
            breakdown.add(&Object {
                key,
                size: 0,
                class: "",
                last_modified: aws_time(m.last_modified()),
                latest: m.is_latest().unwrap_or(false),
                delete_marker: true,
            });
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() {
            return Err(SourceError::new(
                LISTING,
                format!("ListObjectVersions s3://{bucket}: a truncated page without NextKeyMarker; the listing cannot go on (read {} versions)", breakdown.read),
            ));
        }
    }
    Ok(ListingRead {
        breakdown,
        requests,
    })
}

fn bytes(size: Option<i64>) -> u64 {
    size.map_or(0, |s| s.max(0) as u64)
}

// --- multipart uploads -------------------------------------------------------------------------

/// An incomplete multipart upload: its parts are billed as storage until it is completed or
/// aborted.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Option<DateTime<Utc>>,
    /// The bytes of its uploaded parts (ListParts), None when not sized.
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Uploads {
    /// In the order S3 lists them (by key, then initiation).
    pub uploads: Vec<Upload>,
    /// Uploads listed but not sized: beyond `max_sized`, or initiated less than
    /// [`IN_PROGRESS`] before `now` (probably still being written, not forgotten).
    pub not_sized: usize,
    /// ListMultipartUploads and ListParts requests made.
    pub requests: u32,
}

/// An upload initiated less than this before `now` is taken for one in progress: listed, not
/// sized.
pub const IN_PROGRESS: Duration = Duration::hours(24);

/// Lists the incomplete multipart uploads of `bucket` (every page) and sizes up to `max_sized`
/// of them, oldest first, with ListParts (every page). An upload that is gone by the time its
/// parts are listed (NoSuchUpload: completed or aborted meanwhile) is left out.
pub async fn multipart_uploads(
    s3: &Client,
    bucket: &str,
    max_sized: usize,
    now: DateTime<Utc>,
) -> Result<Uploads, SourceError> {
    let fail = |op: &'static str, e: AwsError, what: &str| {
        SourceError::new(UPLOADS, format!("{op} {what}: {e}"))
    };
    let mut uploads = Vec::new();
    let mut requests = 0u32;
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        requests += 1;
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .send()
            .await
            .map_err(|e| {
                fail(
                    "ListMultipartUploads",
                    AwsError::new("ListMultipartUploads", &e),
                    &format!("s3://{bucket}"),
                )
            })?;
        for u in page.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            uploads.push(Upload {
                key: key.to_string(),
                upload_id: id.to_string(),
                initiated: aws_time(u.initiated()),
                bytes: None,
            });
        }
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
        if key_marker.is_none() {
            return Err(SourceError::new(
                UPLOADS,
                format!("ListMultipartUploads s3://{bucket}: a truncated page without NextKeyMarker; the listing cannot go on"),
            ));
        }
    }

    // Oldest first; those of the last day are probably still being written.
    let mut order: Vec<usize> = (0..uploads.len())
        .filter(|&i| uploads[i].initiated.is_none_or(|t| now - t >= IN_PROGRESS))
        .collect();
    order.sort_by_key(|&i| uploads[i].initiated);
    order.truncate(max_sized);
    let mut gone = Vec::new();
    for i in order {
        let u = &uploads[i];
        let mut sum = 0u64;
        let mut pages = s3
            .list_parts()
            .bucket(bucket)
            .key(&u.key)
            .upload_id(&u.upload_id)
            .into_paginator()
            .send();
        let mut missing = false;
        while let Some(page) = pages.next().await {
            requests += 1;
            match page {
                Ok(page) => sum += page.parts().iter().map(|p| bytes(p.size())).sum::<u64>(),
                Err(e) => {
                    let e = AwsError::new("ListParts", &e);
                    if e.code == "NoSuchUpload" {
                        missing = true;
                        break;
                    }
                    return Err(fail(
                        "ListParts",
                        e,
                        &format!("s3://{bucket}/{} upload {}", u.key, u.upload_id),
                    ));
                }
            }
        }
        if missing {
            gone.push(i);
        } else {
            uploads[i].bytes = Some(sum);
        }
    }
    gone.sort_unstable();
    for i in gone.into_iter().rev() {
        uploads.remove(i);
    }
    let not_sized = uploads.iter().filter(|u| u.bytes.is_none()).count();
    Ok(Uploads {
        uploads,
        not_sized,
        requests,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::objects::Tally;
    use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
    use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::operation::list_parts::{ListPartsError, ListPartsOutput};
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{
        CommonPrefix, DeleteMarkerEntry, MultipartUpload, ObjectVersion, ObjectVersionStorageClass,
        Part,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use chrono::TimeZone;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    const SCHEMA: &str = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap()
    }

    fn ages() -> Ages {
        Ages {
            at: Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap(),
            standard_after: Duration::days(30),
            day: Utc
                .with_ymd_and_hms(2026, 12, 7, 0, 0, 0)
                .unwrap()
                .date_naive(),
        }
    }

    fn report() -> InventoryReport {
        InventoryReport {
            source_bucket: "lifeboat-backups".into(),
            destination_bucket: "lifeboat-inventory".into(),
            destination_prefix: Some("inventory/".into()),
            config_id: "daily-csv".into(),
            max_age: Duration::days(2),
        }
    }

    /// A row as AWS writes it: every field quoted.
    fn row(
        key: &str,
        version: &str,
        latest: bool,
        marker: bool,
        size: &str,
        modified: &str,
        class: &str,
    ) -> String {
        format!(
            "\"lifeboat-backups\",\"{key}\",\"{version}\",\"{latest}\",\"{marker}\",\"{size}\",\"{modified}\",\"0d5f4d1a6e0a2c1b9f0e3d2c1b0a9f8e\",\"{class}\",\"false\",\"COMPLETED\",\"SSE-S3\"\n"
        )
    }

    fn gz(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn manifest(created_ms: i64, format: &str, files: &[(&str, usize)]) -> String {
        let files: Vec<String> = files
            .iter()
            .map(|(k, n)| format!("{{\"key\": \"{k}\", \"size\": {n}, \"MD5checksum\": \"5b1f3c6a2d0e4f8a9b7c6d5e4f3a2b1c\"}}"))
            .collect();
        format!(
            "{{\n  \"sourceBucket\" : \"lifeboat-backups\",\n  \"destinationBucket\" : \"arn:aws:s3:::lifeboat-inventory\",\n  \"version\" : \"2016-11-30\",\n  \"creationTimestamp\" : \"{created_ms}\",\n  \"fileFormat\" : \"{format}\",\n  \"fileSchema\" : \"{SCHEMA}\",\n  \"files\" : [ {} ]\n}}",
            files.join(", ")
        )
    }

    fn columns() -> Columns {
        Columns::from_schema(SCHEMA).unwrap()
    }

    fn rows_of(text: &str) -> Result<(Breakdown, u64), String> {
        let c = columns();
        let mut b = Breakdown::new(ages());
        let mut rows = Rows::new(&c, "lifeboat-backups", "s3://x/data/a.csv.gz", &mut b);
        // written in small pieces: lines cut across writes
        for piece in text.as_bytes().chunks(7) {
            if rows.write_all(piece).is_err() {
                return Err(rows.failed.take().unwrap());
            }
        }
        if rows.last_line().is_err() {
            return Err(rows.failed.take().unwrap());
        }
        let n = rows.rows;
        Ok((b, n))
    }

    #[test]
    fn a_manifest_as_aws_writes_it_is_read() {
        // Given a CSV report's manifest.json
        let m = Manifest::parse(
            manifest(
                1_796_688_000_000,
                "CSV",
                &[(
                    "inventory/lifeboat-backups/daily-csv/data/1f0c.csv.gz",
                    1234,
                )],
            )
            .as_bytes(),
        )
        .unwrap();
        // Then its bucket, format, date, files and columns are read
        assert_eq!(m.source_bucket, "lifeboat-backups");
        assert_eq!(m.file_format, "CSV");
        assert_eq!(
            m.created().unwrap(),
            DateTime::from_timestamp_millis(1_796_688_000_000).unwrap()
        );
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].size, 1234);
        let c = Columns::from_schema(&m.file_schema).unwrap();
        assert_eq!(
            (
                c.count,
                c.key,
                c.size,
                c.class,
                c.latest,
                c.delete_marker,
                c.modified
            ),
            (12, 1, 5, 8, Some(3), Some(4), Some(6))
        );
        // And a current-versions-only schema has no IsLatest, one without StorageClass is refused
        let c = Columns::from_schema("Bucket, Key, Size, StorageClass").unwrap();
        assert_eq!((c.latest, c.delete_marker, c.modified), (None, None, None));
        let e = Columns::from_schema("Bucket, Key, Size, LastModifiedDate").unwrap_err();
        assert!(e.contains("no StorageClass column"), "{e}");
        assert!(Manifest::parse(b"{\"sourceBucket\": 1}").is_err());
    }

    #[test]
    fn report_folders_are_told_from_data_and_hive() {
        assert_eq!(
            report_folder_time("2016-11-06T21-32Z"),
            Some(Utc.with_ymd_and_hms(2016, 11, 6, 21, 32, 0).unwrap())
        );
        for other in [
            "data",
            "hive",
            "2016-11-06",
            "2016-11-06T21-32",
            "2016-13-06T21-32Z",
        ] {
            assert_eq!(report_folder_time(other), None, "{other}");
        }
        let mut r = report();
        assert_eq!(report_base(&r), "inventory/lifeboat-backups/daily-csv/");
        r.destination_prefix = None;
        assert_eq!(report_base(&r), "lifeboat-backups/daily-csv/");
    }

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            url_decode(b"backups/rds/orders-db/a.parquet").unwrap(),
            "backups/rds/orders-db/a.parquet"
        );
        assert!(matches!(
            url_decode(b"plain/key").unwrap(),
            Cow::Borrowed(_)
        ));
        // a space is '+', a literal '+' is %2B, UTF-8 is percent-encoded byte by byte
        assert_eq!(
            url_decode(b"reports/my+file%2B1.json").unwrap(),
            "reports/my file+1.json"
        );
        assert_eq!(url_decode(b"a%2Cb%22c%E2%82%ACd").unwrap(), "a,b\"c€d");
        assert_eq!(url_decode(b"x%2fy").unwrap(), "x/y");
        assert!(url_decode(b"bad%2").is_err());
        assert!(url_decode(b"bad%zz").is_err());
        assert!(url_decode(b"%FF%FE").is_err());
    }

    #[test]
    fn quoted_fields_may_hold_commas_and_quotes() {
        let mut f = Vec::new();
        let line = br#""a,b","say ""hi""",,plain,"""#;
        split_fields(line, &mut f).unwrap();
        let texts: Vec<Vec<u8>> = f
            .iter()
            .map(|&x| field_bytes(line, x).into_owned())
            .collect();
        assert_eq!(
            texts,
            vec![
                b"a,b".to_vec(),
                b"say \"hi\"".to_vec(),
                vec![],
                b"plain".to_vec(),
                vec![]
            ]
        );
        assert!(split_fields(br#""open,"x""#, &mut f).is_err());
        assert!(split_fields(br#""a"b,"c""#, &mut f).is_err());
        assert!(split_fields(br#"a"b,c"#, &mut f).is_err());
        // a trailing comma is an empty last field
        split_fields(b"\"a\",", &mut f).unwrap();
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn rows_are_tallied_by_group_class_and_version() {
        let day = "2026-12-07T10:00:00.000Z";
        let old = "2026-10-01T10:00:00.000Z";
        let text = [
            row(
                "backups/rds/orders-db/s1/part%2D1.parquet",
                "v1",
                true,
                false,
                "300000",
                old,
                "STANDARD",
            ),
            row(
                "backups/rds/orders-db/s2/part-1.parquet",
                "v2",
                true,
                false,
                "1000",
                day,
                "STANDARD",
            ),
            row(
                "backups/rds/orders-db/s0/part-1.parquet",
                "v0",
                false,
                false,
                "5000",
                old,
                "GLACIER",
            ),
            row(
                "backups/redis/sessions/s1/dump.rdb",
                "v3",
                true,
                false,
                "7000",
                old,
                "DEEP_ARCHIVE",
            ),
            row(
                "backups/redis/sessions/s1/gone.rdb",
                "v4",
                true,
                true,
                "",
                day,
                "",
            ),
            row(
                "reports/cost+report%2C2026.json",
                "null",
                true,
                false,
                "10",
                day,
                "STANDARD_IA",
            ),
        ]
        .concat();
        let (b, n) = rows_of(&text).unwrap();
        assert_eq!(n, 6);
        let g = "backups/rds/orders-db";
        assert_eq!(
            b.current[g]["STANDARD"],
            Tally {
                objects: 2,
                bytes: 301_000
            }
        );
        assert_eq!(
            b.noncurrent[g]["GLACIER"],
            Tally {
                objects: 1,
                bytes: 5_000
            }
        );
        assert_eq!(
            b.current["backups/redis/sessions"]["DEEP_ARCHIVE"].bytes,
            7_000
        );
        assert_eq!(b.current["reports"]["STANDARD_IA"].bytes, 10);
        assert_eq!(b.aged_standard[g].all.bytes, 300_000);
        assert_eq!(b.aged_standard[g].it_eligible.bytes, 300_000);
        assert_eq!(b.written_on_day[g].bytes, 1_000);
        assert_eq!(b.delete_markers, 1);
        assert_eq!(b.read, 6);
    }

    #[test]
    fn a_row_that_does_not_parse_is_named_by_file_and_line() {
        let good = row(
            "backups/rds/orders-db/s1/a",
            "v1",
            true,
            false,
            "1",
            "2026-12-07T10:00:00.000Z",
            "STANDARD",
        );
        for (bad, says) in [
            (
                row(
                    "backups/rds/orders-db/s1/b",
                    "v1",
                    true,
                    false,
                    "12x",
                    "2026-12-07T10:00:00.000Z",
                    "STANDARD",
                ),
                "size \"12x\" is not a number",
            ),
            (
                row(
                    "backups/rds/orders-db/s1/b",
                    "v1",
                    true,
                    false,
                    "",
                    "2026-12-07T10:00:00.000Z",
                    "STANDARD",
                ),
                "no size",
            ),
            (
                row(
                    "backups/%zz",
                    "v1",
                    true,
                    false,
                    "1",
                    "2026-12-07T10:00:00.000Z",
                    "STANDARD",
                ),
                "% not followed by two hex digits",
            ),
            (
                row("backups/b", "v1", true, false, "1", "yesterday", "STANDARD"),
                "LastModifiedDate \"yesterday\"",
            ),
            (
                "\"lifeboat-backups\",\"k\",\"1\"\n".to_string(),
                "3 fields where the schema names 12",
            ),
            (
                row("k", "v1", true, false, "1", "", "STANDARD")
                    .replace("lifeboat-backups", "other"),
                "of bucket \"other\"",
            ),
            (
                format!("\"{}\n", "x".repeat(100)),
                "a quoted field is not closed",
            ),
        ] {
            let e = rows_of(&format!("{good}{good}{bad}{good}")).unwrap_err();
            assert!(
                e.starts_with("data file s3://x/data/a.csv.gz line 3: "),
                "{e}"
            );
            assert!(e.contains(says), "{e}");
            // the excerpt is at most 60 characters of the line (and an ellipsis)
            let excerpt = e.rsplit(": ").next().unwrap();
            assert!(excerpt.chars().count() <= 61, "{excerpt}");
            assert!(bad.starts_with(excerpt.trim_end_matches('…')), "{excerpt}");
        }
        // A file without line breaks is refused before it fills memory
        let e = rows_of(&"\"x\",".repeat(20_000)).unwrap_err();
        assert!(e.contains("longer than 64 KiB without a line break"), "{e}");
    }

    // --- the whole read, against mocked S3 -----------------------------------------------------

    struct World {
        files: Vec<(String, Vec<u8>)>,
        manifest: String,
        folders: Vec<String>,
    }

    fn world(created: DateTime<Utc>) -> World {
        let base = "inventory/lifeboat-backups/daily-csv/";
        let day = "2026-12-07T10:00:00.000Z";
        let mut a = String::new();
        for i in 0..2500 {
            a += &row(
                &format!("backups/rds/orders-db/s{i}/part-1.parquet"),
                "v",
                true,
                false,
                "1000",
                day,
                "STANDARD",
            );
        }
        let b = row(
            "backups/redis/sessions/s1/dump.rdb",
            "v",
            true,
            false,
            "4096",
            day,
            "GLACIER",
        );
        let files = vec![
            (format!("{base}data/8e0f2a4c-1.csv.gz"), gz(&a)),
            (format!("{base}data/8e0f2a4c-2.csv.gz"), gz(&b)),
        ];
        let listed: Vec<(&str, usize)> = files.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        World {
            manifest: manifest(created.timestamp_millis(), "CSV", &listed),
            files,
            folders: ["2026-12-06T00-00Z/", "2026-12-07T00-00Z/", "data/", "hive/"]
                .iter()
                .map(|f| format!("{base}{f}"))
                .collect(),
        }
    }

    fn s3_of(w: &World, newest: &str) -> (Client, Vec<aws_smithy_mocks::Rule>) {
        let folders = w.folders.clone();
        let list = mock!(Client::list_objects_v2)
            .match_requests(|r| {
                r.bucket() == Some("lifeboat-inventory")
                    && r.prefix() == Some("inventory/lifeboat-backups/daily-csv/")
                    && r.delimiter() == Some("/")
            })
            .then_output(move || {
                ListObjectsV2Output::builder()
                    .set_common_prefixes(Some(
                        folders
                            .iter()
                            .map(|f| CommonPrefix::builder().prefix(f).build())
                            .collect(),
                    ))
                    .build()
            });
        let body = w.manifest.clone();
        let manifest_key = format!("inventory/lifeboat-backups/daily-csv/{newest}/manifest.json");
        let m = mock!(Client::get_object)
            .match_requests(move |r| r.key() == Some(manifest_key.as_str()))
            .then_output(move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(body.clone().into_bytes()))
                    .build()
            });
        let mut rules = vec![list, m];
        for (k, v) in &w.files {
            let (k, v) = (k.clone(), v.clone());
            rules.push(
                mock!(Client::get_object)
                    .match_requests(move |r| r.key() == Some(k.as_str()))
                    .then_output(move || {
                        GetObjectOutput::builder()
                            .content_length(v.len() as i64)
                            .body(ByteStream::from(v.clone()))
                            .build()
                    }),
            );
        }
        let missing = mock!(Client::get_object).then_error(|| {
            GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder()
                    .message("The specified key does not exist.")
                    .meta(
                        ErrorMetadata::builder()
                            .code("NoSuchKey")
                            .message("The specified key does not exist.")
                            .build(),
                    )
                    .build(),
            )
        });
        rules.push(missing);
        let refs: Vec<&aws_smithy_mocks::Rule> = rules.iter().collect();
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, refs);
        (s3, rules)
    }

    #[tokio::test]
    async fn the_newest_report_is_found_and_streamed_whole() {
        // Given two dated report folders beside data/ and hive/, the newest with a manifest of
        // two gzip data files
        let created = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        let w = world(created);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        // When the report is read
        let r = inventory(&s3, &report(), ages(), now()).await.unwrap();
        // Then every row of both files is tallied, from one LIST and three GETs
        assert_eq!((r.files, r.rows, r.requests), (2, 2501, 4));
        assert_eq!(r.report_date, created);
        assert_eq!(
            r.bytes_read,
            (w.files[0].1.len() + w.files[1].1.len()) as u64
        );
        assert_eq!(
            r.breakdown.current["backups/rds/orders-db"]["STANDARD"],
            Tally {
                objects: 2500,
                bytes: 2_500_000
            }
        );
        assert_eq!(
            r.breakdown.current["backups/redis/sessions"]["GLACIER"].bytes,
            4096
        );
    }

    #[tokio::test]
    async fn a_stale_or_missing_report_is_an_error_not_a_figure() {
        // Given the newest report created 5 days before now, against a 2-day limit
        let created = Utc.with_ymd_and_hms(2026, 12, 3, 6, 0, 0).unwrap();
        let w = world(created);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert_eq!(e.source, "S3 Inventory");
        assert!(
            e.error.contains(
                "is stale: created 2026-12-03 06:00 UTC, 5 days old, over the 2 days allowed"
            ),
            "{e}"
        );

        // Given a listing with no dated folder (only data/ and hive/)
        let mut w = world(now());
        w.folders.retain(|f| !f.contains("2026-"));
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(e.error.starts_with("no inventory report under s3://lifeboat-inventory/inventory/lifeboat-backups/daily-csv/"), "{e}");

        // Given a data file the manifest lists that is gone
        let mut w = world(now());
        w.files[1].0 = "inventory/lifeboat-backups/daily-csv/data/elsewhere.csv.gz".into();
        let listed = [
            (w.files[0].0.clone(), w.files[0].1.len()),
            (
                "inventory/lifeboat-backups/daily-csv/data/8e0f2a4c-2.csv.gz".to_string(),
                10,
            ),
        ];
        let listed: Vec<(&str, usize)> = listed.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        w.manifest = manifest(now().timestamp_millis(), "CSV", &listed);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(e.error.contains("data file s3://lifeboat-inventory/inventory/lifeboat-backups/daily-csv/data/8e0f2a4c-2.csv.gz, listed in the manifest, is missing (NoSuchKey"), "{e}");

        // Given an ORC report
        let mut w = world(now());
        w.manifest = w.manifest.replace("\"CSV\"", "\"ORC\"");
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(
            e.error.contains("the report is ORC; only CSV can be read"),
            "{e}"
        );

        // Given the manifest of another bucket's inventory
        let mut w = world(now());
        w.manifest = w.manifest.replace(
            "\"sourceBucket\" : \"lifeboat-backups\"",
            "\"sourceBucket\" : \"other\"",
        );
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(
            e.error
                .contains("is the inventory of bucket other, not of lifeboat-backups"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_truncated_data_file_is_an_error() {
        // Given a data file cut short, the manifest giving its full size
        let mut w = world(now());
        let full = w.files[0].1.len();
        w.files[0].1.truncate(full / 2);
        let listed: Vec<(&str, usize)> = vec![(w.files[0].0.as_str(), full)];
        w.manifest = manifest(now().timestamp_millis(), "CSV", &listed);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(e.error.contains("data file s3://lifeboat-inventory/inventory/lifeboat-backups/daily-csv/data/8e0f2a4c-1.csv.gz") && e.error.contains(&format!("is truncated: {} bytes where the manifest says {full}", full / 2)), "{e}");

        // Given the manifest agreeing with the cut file (its gzip stream ends early)
        let listed: Vec<(&str, usize)> = vec![(w.files[0].0.as_str(), full / 2)];
        w.manifest = manifest(now().timestamp_millis(), "CSV", &listed);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(
            e.error
                .contains("is truncated or corrupt: its gzip stream does not decode"),
            "{e}"
        );

        // Given a data file that is not gzip at all
        let mut w = world(now());
        w.files[0].1 = b"\"lifeboat-backups\",\"k\"\n".to_vec();
        let listed: Vec<(&str, usize)> = vec![(w.files[0].0.as_str(), w.files[0].1.len())];
        w.manifest = manifest(now().timestamp_millis(), "CSV", &listed);
        let (s3, _rules) = s3_of(&w, "2026-12-07T00-00Z");
        let e = inventory(&s3, &report(), ages(), now()).await.unwrap_err();
        assert!(e.error.contains("is truncated or corrupt"), "{e}");
    }

    /// The mocked client's config: us-east-1, its requests recorded for the permission check
    /// as cost-anomaly's (with LIFEBOAT_CALL_LOG set).
    fn recorded(c: aws_sdk_s3::config::Builder) -> aws_sdk_s3::config::Builder {
        c.region(aws_sdk_s3::config::Region::new("us-east-1"))
            .interceptor(lifeboat_shared::call_log::Recorder::new(
                "lifeboat-cost-anomaly",
            ))
    }

    #[tokio::test]
    async fn a_versioned_listing_counts_every_version_and_marker_on_every_page() {
        let page = |marker: Option<&str>| {
            let first = marker.is_none();
            let key = if first {
                "backups/rds/orders-db/s1/a"
            } else {
                "reports/r.json"
            };
            let mut b = ListObjectVersionsOutput::builder()
                .versions(
                    ObjectVersion::builder()
                        .key(key)
                        .size(100)
                        .is_latest(true)
                        .build(),
                )
                .versions(
                    ObjectVersion::builder()
                        .key(key)
                        .size(50)
                        .is_latest(false)
                        .storage_class(ObjectVersionStorageClass::from("GLACIER"))
                        .build(),
                )
                .delete_markers(
                    DeleteMarkerEntry::builder()
                        .key(key)
                        .is_latest(false)
                        .build(),
                )
                .is_truncated(first);
            if first {
                b = b.next_key_marker(key).next_version_id_marker("v2");
            }
            b.build()
        };
        let rule = mock!(Client::list_object_versions)
            .match_requests(|r| r.bucket() == Some("ecommerce-backups-prod-us-east-1"))
            .then_compute_output(move |r| page(r.key_marker()));
        // (recorded: the permission check sees ListObjectVersions, which the emulator tests
        // reach only for buckets without an inventory report)
        let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule], recorded);
        let r = listing(&s3, "ecommerce-backups-prod-us-east-1", true, ages())
            .await
            .unwrap();
        assert_eq!(r.requests, 2);
        assert_eq!(r.breakdown.read, 6);
        assert_eq!(r.breakdown.delete_markers, 2);
        assert_eq!(
            r.breakdown.current["backups/rds/orders-db"]["STANDARD"].bytes,
            100
        );
        assert_eq!(r.breakdown.noncurrent["reports"]["GLACIER"].bytes, 50);
    }

    #[tokio::test]
    async fn multipart_uploads_are_listed_and_the_oldest_sized() {
        let at = |d: u32| {
            aws_smithy_types::DateTime::from_secs(
                Utc.with_ymd_and_hms(2026, 12, d, 0, 0, 0)
                    .unwrap()
                    .timestamp(),
            )
        };
        let uploads = mock!(Client::list_multipart_uploads).then_compute_output(move |r| {
            if r.key_marker().is_none() {
                ListMultipartUploadsOutput::builder()
                    .uploads(
                        MultipartUpload::builder()
                            .key("backups/a")
                            .upload_id("u1")
                            .initiated(at(1))
                            .build(),
                    )
                    .uploads(
                        MultipartUpload::builder()
                            .key("backups/b")
                            .upload_id("u2")
                            .initiated(at(2))
                            .build(),
                    )
                    .is_truncated(true)
                    .next_key_marker("backups/b")
                    .next_upload_id_marker("u2")
                    .build()
            } else {
                ListMultipartUploadsOutput::builder()
                    .uploads(
                        MultipartUpload::builder()
                            .key("backups/c")
                            .upload_id("u3")
                            .initiated(at(3))
                            .build(),
                    )
                    .uploads(
                        MultipartUpload::builder()
                            .key("backups/d")
                            .upload_id("u4")
                            .initiated(at(8))
                            .build(),
                    )
                    .uploads(
                        MultipartUpload::builder()
                            .key("backups/e")
                            .upload_id("u5")
                            .initiated(at(4))
                            .build(),
                    )
                    .is_truncated(false)
                    .build()
            }
        });
        let parts = mock!(Client::list_parts)
            .match_requests(|r| r.upload_id() != Some("u2"))
            .then_compute_output(|r| {
                let first = r.part_number_marker().is_none();
                let b = ListPartsOutput::builder()
                    .parts(Part::builder().part_number(1).size(5 << 20).build())
                    .is_truncated(first);
                if first {
                    b.next_part_number_marker("1").build()
                } else {
                    b.build()
                }
            });
        let gone = mock!(Client::list_parts)
            .match_requests(|r| r.upload_id() == Some("u2"))
            .then_error(|| {
                ListPartsError::generic(
                    ErrorMetadata::builder()
                        .code("NoSuchUpload")
                        .message("The specified upload does not exist.")
                        .build(),
                )
            });
        // (recorded: the permission check sees ListMultipartUploads and ListParts)
        let s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&uploads, &parts, &gone],
            recorded
        );
        // When up to 3 are sized on 2026-12-08 06:00 (u4, of today, is in progress)
        let u = multipart_uploads(&s3, "ecommerce-backups-prod-us-east-1", 3, now())
            .await
            .unwrap();
        // Then u1 and u3 are sized over two ListParts pages, u2 is gone, u4 and u5 not sized
        let sized: Vec<(&str, Option<u64>)> = u
            .uploads
            .iter()
            .map(|u| (u.upload_id.as_str(), u.bytes))
            .collect();
        assert_eq!(
            sized,
            vec![
                ("u1", Some(10 << 20)),
                ("u3", Some(10 << 20)),
                ("u4", None),
                ("u5", None)
            ]
        );
        assert_eq!(u.not_sized, 2);
        assert_eq!(u.requests, 2 + 2 + 1 + 2);
    }
}
