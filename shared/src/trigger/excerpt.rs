//! Quoting input in errors: at most a short, safe excerpt, and serde's words turned into the
//! README's (no Rust type names).

use serde_json::Value;

/// `unknown field `x`, expected ...` -> `x` (bounded: the name came from outside).
pub(crate) fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let name = &rest[..rest.find('`')?];
    Some(bounded(name, 40))
}

/// At most `max` characters of outside text, marked when cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("...");
    out
}

/// A short, quoted excerpt of a string that came from outside, for error messages.
pub fn excerpt_str(s: &str) -> String {
    format!("{:?}", bounded(s, 40))
}

/// The field a serde error points at, e.g. `event.detail.state.value` or
/// `components[0].verify.every`, under `root`. Map keys (outside text) are cut to a short
/// excerpt, and the path stops where a key was not text (serde's `?`): such a key has no name.
pub fn field_path(root: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = root.to_string();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('.');
                out.push_str(&bounded(key, 40));
            }
            Segment::Unknown => break,
        }
    }
    out
}

/// A serde error message in plain words, and short: every quoted value (`...` or "...") cut to
/// an excerpt, Rust's type names replaced by what they mean (`struct Policy` -> `object`, `u32`
/// -> `a whole number of 0 or more`), at most 300 characters.
pub fn plain_serde(message: &str, object: &str) -> String {
    let mut out = String::with_capacity(message.len().min(400));
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[start] as char;
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        // serde quotes strings with Debug: an escaped quote does not end them.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            if c == quote && !escaped {
                end = Some(i);
                break;
            }
            escaped = quote == '"' && c == '\\' && !escaped;
        }
        let Some(end) = end else {
            out.push_str(&bounded(after, 40));
            rest = "";
            break;
        };
        out.push_str(&bounded(&after[..end], 40));
        out.push(quote);
        rest = &after[end + 1..];
        if out.len() > 600 {
            rest = "";
            break;
        }
    }
    out.push_str(&bounded(rest, 600));
    let mut plain = out
        .replace("field identifier", "a field name")
        .replace("unit value", "null")
        .replace("unit struct", "struct");
    for (rust, words) in [
        ("u8", "a whole number of 0 or more"),
        ("u16", "a whole number of 0 or more"),
        ("u32", "a whole number of 0 or more"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("isize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ] {
        plain = replace_word(
            &plain,
            &format!("expected {rust}"),
            &format!("expected {words}"),
        );
    }
    // `expected struct Name` / `expected enum Name`: the type's name says nothing to a reader.
    for (kind, what) in [("struct ", object), ("enum ", "one of the allowed values")] {
        let marker = format!("expected {kind}");
        while let Some(at) = plain.find(&marker) {
            let name_start = at + marker.len();
            let name_len = plain[name_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(plain.len() - name_start);
            plain.replace_range(at..name_start + name_len, &format!("expected {what}"));
        }
    }
    bounded(&plain, 300)
}

/// `text` with `word` replaced where no more of a word follows (`u32`, not `u320`).
pub(crate) fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let end = at + word.len();
        let whole = !rest[end..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { word });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
