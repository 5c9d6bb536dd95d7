//! The line formats: one image a line, fields split on whitespace. Blank lines
//! and lines starting with `#` are skipped; a UTF-8 BOM and CRLF endings are
//! tolerated. Each reader knows the byte offset of every field, so every
//! error points at the offending field and every entry's origin is the
//! offset of its name field (the line and column are worked out
//! from the text when shown).

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef};
use crate::source::SourceFile;

use super::{EntryName, ManifestEntry, ManifestFormat, origin_at, parse_entry_name, split_pinned};

/// A field of a line: its byte offset in the whole text and its text.
type Field<'a> = (usize, &'a str);

/// The lines that carry content, each with its byte offset.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |raw| {
        let start = offset;
        offset += raw.len();
        let mut line = raw.trim_end_matches(['\n', '\r']);
        let mut start = start;
        if start == 0 && line.starts_with('\u{feff}') {
            line = &line[3..];
            start = 3;
        }
        let t = line.trim_start();
        (!t.is_empty() && !t.starts_with('#')).then_some((start, line))
    })
}

/// Whether `text` has a line that is neither blank nor a `#` comment.
pub(super) fn has_content(text: &str) -> bool {
    content_lines(text).next().is_some()
}

/// Whitespace-separated fields of `line` (which starts at byte `base`).
fn fields(base: usize, line: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((base + s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((base + s, &line[s..]));
    }
    out
}

fn is_hexish(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn looks_like_digest(s: &str) -> bool {
    s.starts_with("sha256:") || s.starts_with("sha512:") || s == "<none>"
}

/// The line format of `text`, judged by its first content line; `file_name` decides
/// only when the content fits no format.
pub(super) fn detect(text: &str, file_name: &str) -> Option<ManifestFormat> {
    let Some((base, line)) = content_lines(text).next() else {
        return by_name(file_name);
    };
    let f = fields(base, line);
    let words: Vec<&str> = f.iter().map(|(_, w)| *w).collect();
    match words.as_slice() {
        [hex, _] if is_hexish(hex) && hex.len() >= 32 => Some(ManifestFormat::Goreleaser),
        [r] if r.contains('@') => Some(ManifestFormat::RefLines),
        [first, ..] if *first == "REPOSITORY" => Some(ManifestFormat::DockerImages),
        [first, _, third, ..] if !first.ends_with(':') && looks_like_digest(third) => {
            Some(ManifestFormat::DockerImages)
        }
        [name, value]
            if name.ends_with(':')
                && (looks_like_digest(value) || is_hexish(value))
                && !text.contains(['"', '\'']) =>
        {
            // Quoted keys or values make it YAML: the map reader unquotes them.
            Some(ManifestFormat::NameDigestLines)
        }
        _ => None,
    }
    .or_else(|| {
        // Content that fits no line format may still be YAML; only a telling
        // file name makes it a line format.
        (!line.contains(": ") && !line.starts_with("---"))
            .then(|| by_name(file_name))
            .flatten()
    })
}

fn by_name(file_name: &str) -> Option<ManifestFormat> {
    if file_name == "digests.txt" {
        Some(ManifestFormat::Goreleaser)
    } else if file_name.starts_with("osm_image_digest_") {
        Some(ManifestFormat::DockerImages)
    } else {
        None
    }
}

fn digest_at(source: &SourceFile, (at, text): Field<'_>) -> Result<Digest, InputError> {
    Digest::parse(text)
        .map_err(|e| InputError::at(source, at, format!("invalid digest `{text}`: {e}")))
}

fn entry(
    source: &SourceFile,
    at: usize,
    name: EntryName,
    tag: Option<String>,
    digest: Digest,
) -> ManifestEntry {
    ManifestEntry {
        name,
        tag,
        digest,
        origin: origin_at(source, at),
    }
}

fn expect_fields<'a>(
    source: &SourceFile,
    base: usize,
    line: &'a str,
    what: &str,
    ok: impl Fn(usize) -> bool,
) -> Result<Vec<Field<'a>>, InputError> {
    let f = fields(base, line);
    if ok(f.len()) {
        Ok(f)
    } else {
        let at = f.first().map_or(base, |(a, _)| *a);
        Err(InputError::at(
            source,
            at,
            format!("expected {what}, found {} field(s)", f.len()),
        ))
    }
}

/// `docker images --digests` output: REPOSITORY TAG DIGEST IMAGE-ID CREATED SIZE,
/// of which the first three count (CREATED holds spaces; widths vary). A header
/// line is skipped; a `<none>` repository is a dangling image and skipped; a
/// `<none>` tag means no tag; a `<none>` digest means the image was never pushed,
/// which is an error.
pub(super) fn docker_images(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let mut out = Vec::new();
    for (base, line) in content_lines(&source.text) {
        let f = expect_fields(source, base, line, "REPOSITORY TAG DIGEST …", |n| n >= 3)?;
        let (repo, tag, digest) = (f[0], f[1], f[2]);
        if repo.1 == "REPOSITORY" {
            continue;
        }
        if repo.1 == "<none>" {
            continue;
        }
        let name = ImageRef::parse(repo.1)
            .ok()
            .filter(|r| r.tag().is_none() && r.digest().is_none())
            .ok_or_else(|| {
                InputError::at(
                    source,
                    repo.0,
                    format!("`{}` is not a repository name", repo.1),
                )
            })?;
        let tag = match tag.1 {
            "<none>" => None,
            t if crate::reference::valid_tag(t) => Some(t.to_string()),
            t => return Err(InputError::at(source, tag.0, format!("invalid tag `{t}`"))),
        };
        if digest.1 == "<none>" {
            return Err(InputError::at(
                source,
                digest.0,
                format!(
                    "`{}` has no digest (`<none>`): the image was not pushed, so nothing can be pinned",
                    repo.1
                ),
            ));
        }
        if is_hexish(digest.1) && digest.1.len() == 12 {
            return Err(InputError::at(
                source,
                digest.0,
                format!(
                    "`{}` is a short image ID, not a digest: print the table with `docker images --digests`",
                    digest.1
                ),
            ));
        }
        let d = digest_at(source, digest)?;
        out.push(entry(source, repo.0, EntryName::Full(name), tag, d));
    }
    Ok(out)
}

/// `name: sha256:<hex>` lines. A name without `/` is a short name the chart
/// completes (`osm-controller`); with `/` it is a full reference, tag allowed.
pub(super) fn name_digest(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let mut out = Vec::new();
    for (base, line) in content_lines(&source.text) {
        let f = expect_fields(source, base, line, "`name: sha256:<hex>`", |n| n == 2)?;
        let (at, key) = f[0];
        let Some(name) = key.strip_suffix(':') else {
            return Err(InputError::at(
                source,
                at,
                format!(
                    "expected `name: sha256:<hex>`, found `{key}` without a `:` after the name"
                ),
            ));
        };
        let (name, tag) = parse_entry_name(name).map_err(|m| InputError::at(source, at, m))?;
        let d = digest_at(source, f[1])?;
        out.push(entry(source, at, name, tag, d));
    }
    Ok(out)
}

/// `ref[:tag]@sha256:<hex>` lines, one full reference each.
pub(super) fn ref_lines(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let mut out = Vec::new();
    for (base, line) in content_lines(&source.text) {
        let f = expect_fields(source, base, line, "one `ref@sha256:<hex>`", |n| n == 1)?;
        let (at, text) = f[0];
        let Some(digest_pos) = text.find('@') else {
            return Err(InputError::at(
                source,
                at,
                format!("`{text}` has no `@digest`; a digest manifest must pin every image"),
            ));
        };
        let d = digest_at(source, (at + digest_pos + 1, &text[digest_pos + 1..]))?;
        let r = ImageRef::parse(text).map_err(|e| {
            InputError::at(
                source,
                at,
                format!("`{text}` is not an image reference: {e}"),
            )
        })?;
        let (name, tag) = split_pinned(&r).map_err(|m| InputError::at(source, at, m))?;
        out.push(entry(source, at, name, tag, d));
    }
    Ok(out)
}

/// goreleaser `dist/digests.txt`: `<hex>  ref:tag`, bare hex of a sha256
/// (a `sha256:` prefix is tolerated).
pub(super) fn goreleaser(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let mut out = Vec::new();
    for (base, line) in content_lines(&source.text) {
        let f = expect_fields(source, base, line, "`<hex>  ref:tag`", |n| n == 2)?;
        let (hex_at, hex) = f[0];
        let d = Digest::parse_prefixed_or_bare(hex)
            .map_err(|e| InputError::at(source, hex_at, format!("invalid digest `{hex}`: {e}")))?;
        let (at, text) = f[1];
        let r = ImageRef::parse(text).map_err(|e| {
            InputError::at(
                source,
                at,
                format!("`{text}` is not an image reference: {e}"),
            )
        })?;
        if let Some(own) = r.digest()
            && *own != d
        {
            return Err(InputError::at(
                source,
                at,
                format!("`{text}` carries digest {own}, but the line says {d}"),
            ));
        }
        let (name, tag) = split_pinned(&r).map_err(|m| InputError::at(source, at, m))?;
        out.push(entry(source, at, name, tag, d));
    }
    Ok(out)
}
