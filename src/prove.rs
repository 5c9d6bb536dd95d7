//! Proof by rendering: does the pinned chart render what the pin promised,
//! and nothing else?
//!
//! A pin is computed from values files, but what runs is what the templates
//! render from them. [`prove`] takes two `helm template` outputs, the
//! chart's as it is and as it would be after the pin, and the digests the
//! pin applied, and checks, over the texts alone:
//!
//! - every rendered image whose name the pin covers carries exactly its
//!   digest (`digest-not-rendered` otherwise, naming the rendered object,
//!   the container and the values path that was pinned);
//! - nothing else in the render changed: documents are matched by kind,
//!   namespace and name, fields by path (not by lines), and a field that
//!   differs must be one [`crate::lint::rendered`] reads an image from, and
//!   differ only in those image references (`render-changed` otherwise: a
//!   label that now holds `@sha256:…` is a chart the pin would break).
//!
//! Values a chart generates afresh on every render (checksums of its own
//! config, `genCA` certificates, `randAlphaNum` secrets) differ between any
//! two renders; a field whose old and new values are both such opaque
//! tokens (hex, base64, PEM) is not counted as a change unless the new one
//! holds a digest the pin applied.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::{self, Finding, InputError};
use crate::lint::rendered::{self, RenderedImage};
use crate::lint::yaml::{self, Node};
use crate::reference::{Digest, ImageRef};
use crate::source::{Location, SourceFile};

/// A digest the pin applied: the image's normalised name
/// ([`ImageRef::name`]) and, when known, the values site it went to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub digest: Digest,
    /// The YAML path the pin wrote (`controller.image.digest`).
    pub path: Option<String>,
    /// Where that path is, for findings.
    pub location: Option<Location>,
}

/// What a proof found.
#[derive(Debug, Default)]
pub struct Proof {
    /// `digest-not-rendered` and `render-changed` findings; none means proven.
    pub findings: Vec<Finding>,
    /// Rendered images the pin covers that render with their digest.
    pub proven: usize,
}

/// A document's identity: kind, namespace, name, and which of several
/// documents with those three it is.
type DocKey = (String, String, String, usize);

/// One side of the comparison: a render, read once. The render before the
/// pin is read while helm renders the one after it ([`crate::release::run`]).
pub struct Side {
    images: Vec<RenderedImage>,
    /// Per document index: its key.
    keys: Vec<DocKey>,
    /// Per key: every scalar leaf by path (collections that are empty too).
    leaves: BTreeMap<DocKey, BTreeMap<String, String>>,
}

impl Side {
    /// Read `text`, a `helm template` output, for [`prove_sides`].
    pub fn read(text: &str) -> Result<Side, InputError> {
        side(text)
    }
}

fn side(text: &str) -> Result<Side, InputError> {
    let src = SourceFile::new("rendered manifests", text);
    // One parse gives both the images and the fields.
    let docs = yaml::parse_stream(&src)?;
    let images = rendered::images_in(&src, &docs);
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let mut keys = Vec::with_capacity(docs.len());
    let mut leaves = BTreeMap::new();
    for (n, doc) in docs.iter().enumerate() {
        let Some(root) = &doc.root else {
            keys.push((String::new(), String::new(), format!("#{n}"), 0));
            continue;
        };
        let field = |p: [&str; 2]| root.lookup(p).and_then(Node::as_str).map(str::to_string);
        let kind = root.get("kind").and_then(Node::as_str).unwrap_or_default();
        let id = match field(["metadata", "name"]) {
            Some(name) => (
                kind.to_string(),
                field(["metadata", "namespace"]).unwrap_or_default(),
                name,
            ),
            // Not an object, or an unnamed one: known by its place.
            None => (kind.to_string(), String::new(), format!("#{n}")),
        };
        let count = seen.entry(id.clone()).or_default();
        let key = (id.0, id.1, id.2, *count);
        *count += 1;
        let mut map = BTreeMap::new();
        collect_leaves(root, String::new(), &mut map);
        keys.push(key.clone());
        leaves.insert(key, map);
    }
    Ok(Side {
        images,
        keys,
        leaves,
    })
}

/// Every scalar under `node` by path, in the syntax of [`RenderedImage::field`].
fn collect_leaves(node: &Node, at: String, out: &mut BTreeMap<String, String>) {
    match node {
        Node::Map(m) if !m.entries.is_empty() => {
            for (k, v) in &m.entries {
                let k = k.as_scalar().map_or("?", |s| s.text());
                let p = if at.is_empty() {
                    k.to_string()
                } else {
                    format!("{at}.{k}")
                };
                collect_leaves(v, p, out);
            }
        }
        Node::Seq(s) if !s.items.is_empty() => {
            for (i, item) in s.items.iter().enumerate() {
                collect_leaves(item, format!("{at}[{i}]"), out);
            }
        }
        Node::Map(_) => {
            out.insert(at, "{}".to_string());
        }
        Node::Seq(_) => {
            out.insert(at, "[]".to_string());
        }
        Node::Scalar(s) => {
            out.insert(at, s.text().to_string());
        }
        Node::Alias(_) => {
            out.insert(at, "*alias".to_string());
        }
    }
}

/// `Kind/name` (with the namespace when it has one) for messages.
fn object_name(k: &DocKey) -> String {
    match (k.0.is_empty(), k.1.is_empty()) {
        (true, _) => format!("document {}", k.2),
        (false, true) => format!("{}/{}", k.0, k.2),
        (false, false) => format!("{}/{}/{}", k.0, k.1, k.2),
    }
}

/// Whether `leaf` is, contains or lies inside the image field `field`.
fn related(leaf: &str, field: &str) -> bool {
    let inside = |a: &str, b: &str| {
        a == b || (a.starts_with(b) && matches!(a.as_bytes().get(b.len()), Some(b'.' | b'[')))
    };
    inside(leaf, field) || inside(field, leaf)
}

/// A value a chart may generate afresh on each render: a checksum, a key,
/// a certificate (hex, base64 or PEM, at least 16 characters).
fn opaque(v: &str) -> bool {
    let body: String = v
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    body.len() >= 16
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'))
}

/// Check `pinned` (the render after the pin) against `original` (before)
/// and the digests the pin applied.
pub fn prove(original: &str, pinned: &str, expected: &[Expected]) -> Result<Proof, InputError> {
    Ok(prove_sides(&side(original)?, &side(pinned)?, expected))
}

/// [`prove`] of two renders already read.
pub fn prove_sides(old: &Side, new: &Side, expected: &[Expected]) -> Proof {
    let mut proof = Proof::default();
    let mut by_name: HashMap<&str, Vec<&Expected>> = HashMap::new();
    for e in expected {
        by_name.entry(e.name.as_str()).or_default().push(e);
    }

    // Images by (document key, field), in order, on both sides.
    let group = |s: &Side| {
        let mut g: BTreeMap<(DocKey, String), Vec<String>> = BTreeMap::new();
        for img in &s.images {
            let key = s.keys[img.document].clone();
            g.entry((key, img.field.clone()))
                .or_default()
                .push(img.reference.clone());
        }
        g
    };
    let old_images = group(old);
    let new_images = group(new);

    // 1. Every covered image renders with its digest.
    let mut reported: HashSet<(DocKey, String, String)> = HashSet::new();
    let mut seen_at: HashMap<(usize, &str), usize> = HashMap::new();
    for img in &new.images {
        let key = &new.keys[img.document];
        let at = (key.clone(), img.field.clone());
        let index = {
            let n = seen_at
                .entry((img.document, img.field.as_str()))
                .or_default();
            *n += 1;
            *n - 1
        };
        let before = old_images.get(&at).and_then(|v| v.get(index));
        // The name the pin knows it by: the rendered one, or (when the pin
        // made it unreadable) the one it rendered before.
        let parsed = ImageRef::parse(&img.reference).ok();
        let name = parsed
            .as_ref()
            .or(before.and_then(|b| ImageRef::parse(b).ok()).as_ref())
            .map(ImageRef::name);
        let Some(candidates) = name.as_deref().and_then(|n| by_name.get(n)) else {
            continue;
        };
        let got = parsed.as_ref().and_then(|r| r.digest());
        if got.is_some_and(|d| candidates.iter().any(|e| &e.digest == d)) {
            proof.proven += 1;
            continue;
        }
        if !reported.insert((key.clone(), img.field.clone(), img.reference.clone())) {
            continue;
        }
        let e = candidates[0];
        let mut f = diag::digest_not_rendered(
            &format!(
                "{}{}",
                object_name(key),
                img.describe()
                    .split_once(' ')
                    .map_or(String::new(), |(_, rest)| format!(" {rest}"))
            ),
            &img.reference,
            &e.digest.to_string(),
            e.path.as_deref(),
        );
        if let Some(l) = &e.location {
            f = f.located(l.clone());
        }
        proof.findings.push(f);
    }

    // 2. Nothing else changed.
    let empty = BTreeMap::new();
    let doc_keys: std::collections::BTreeSet<&DocKey> =
        old.leaves.keys().chain(new.leaves.keys()).collect();
    for key in doc_keys {
        let (a, b) = (old.leaves.get(key), new.leaves.get(key));
        if a.is_none() || b.is_none() {
            proof.findings.push(diag::render_changed(
                &object_name(key),
                None,
                a.map(|_| ""),
                b.map(|_| ""),
            ));
            continue;
        }
        let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
        let fields: Vec<&String> = new_images
            .keys()
            .chain(old_images.keys())
            .filter(|(k, _)| k == key)
            .map(|(_, f)| f)
            .collect();
        let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for path in paths {
            let (va, vb) = (a.get(path), b.get(path));
            if va == vb {
                continue;
            }
            let image_fields: Vec<&&String> = fields.iter().filter(|f| related(path, f)).collect();
            if !image_fields.is_empty()
                && only_images_changed(key, path, va, vb, &image_fields, &old_images, &new_images)
            {
                continue;
            }
            if vb.is_some_and(|vb| digest_field(path, va, vb, expected)) {
                continue;
            }
            let gains_digest = vb.is_some_and(|vb| {
                expected.iter().any(|e| {
                    vb.contains(e.digest.hex()) && !va.is_some_and(|va| va.contains(e.digest.hex()))
                }) || vb.matches("sha256:").count()
                    > va.map_or(0, |va| va.matches("sha256:").count())
            });
            let generated = va.is_some_and(|v| opaque(v)) && vb.is_some_and(|v| opaque(v));
            if generated && !gains_digest {
                continue;
            }
            proof.findings.push(diag::render_changed(
                &object_name(key),
                Some(path),
                va.map(String::as_str),
                vb.map(String::as_str),
            ));
        }
    }
    proof
}

/// A digest field of an object that renders an image beside it
/// (prometheus-operator's `spec: {image, sha}`): a key naming a digest,
/// empty or absent before, now exactly a digest the pin applied (bare hex
/// or `sha256:…`).
fn digest_field(path: &str, va: Option<&String>, vb: &str, expected: &[Expected]) -> bool {
    let key = path
        .rsplit(['.', '['])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    (key.contains("sha") || key.contains("digest"))
        && va.is_none_or(|v| v.is_empty())
        && expected
            .iter()
            .any(|e| vb == e.digest.hex() || vb == e.digest.to_string())
}

/// Whether leaf `path` of document `key` changed from `va` to `vb` only in
/// the image references read from `fields`: the same images by name, and
/// the text around them as it was.
fn only_images_changed(
    key: &DocKey,
    path: &str,
    va: Option<&String>,
    vb: Option<&String>,
    fields: &[&&String],
    old_images: &BTreeMap<(DocKey, String), Vec<String>>,
    new_images: &BTreeMap<(DocKey, String), Vec<String>>,
) -> bool {
    let name = |r: &String| ImageRef::parse(r).map(|r| r.name()).ok();
    // A leaf inside a `{repository, tag, digest}` map: its image's name held.
    let inside_map = fields.iter().all(|f| path.len() > f.len());
    let mut pairs = Vec::new();
    for f in fields {
        let at = (key.clone(), (**f).clone());
        let (o, n) = (
            old_images.get(&at).map_or(&[][..], Vec::as_slice),
            new_images.get(&at).map_or(&[][..], Vec::as_slice),
        );
        if o.len() != n.len() {
            return false;
        }
        for (o, n) in o.iter().zip(n) {
            // A digest added to a reference whose name stays.
            if name(o).is_none() || name(o) != name(n) {
                return false;
            }
            pairs.push((o, n));
        }
    }
    if inside_map {
        return true;
    }
    match (va, vb) {
        (Some(va), Some(vb)) => {
            // The new text with each new reference put back as it was.
            let mut back = String::new();
            let mut rest = vb.as_str();
            for (o, n) in &pairs {
                if let Some(i) = rest.find(n.as_str()) {
                    back.push_str(&rest[..i]);
                    back.push_str(o);
                    rest = &rest[i + n.len()..];
                }
            }
            back.push_str(rest);
            &back == va
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
