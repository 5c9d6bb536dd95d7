//! The structured formats, read from a [`super::tree`] that keeps byte offsets:
//! buildx metadata JSON, kbld and imgpkg locks, plain image → digest maps,
//! `skopeo inspect` output.
//!
//! Decisions worth knowing (docs/manifests.md has the long form):
//! - buildx: `containerimage.digest` or `containerimage.descriptor.digest` is
//!   the pin; `containerimage.config.digest` alone is refused (it is the image
//!   ID, which no registry serves as a manifest). `image.name` may join several
//!   names with commas: one entry each.
//! - A build without `image.name` named no image, so it pushed none: a single
//!   build is an error; in a bake file such targets are skipped as long as some
//!   other target names an image, and an error naming them otherwise.
//! - kbld and imgpkg: the entry is named after the repository that holds the
//!   digest (`newImage`, `image`); the original reference lends its tag when
//!   it names the same repository.

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef};
use crate::source::SourceFile;

use super::tree::{Node, Value, parse_json, parse_yaml};
use super::{EntryName, ManifestEntry, ManifestFormat, origin_at, parse_entry_name, split_pinned};

const DIGEST_KEY: &str = "containerimage.digest";
const DESCRIPTOR_KEY: &str = "containerimage.descriptor";
const CONFIG_KEY: &str = "containerimage.config.digest";
const NAME_KEY: &str = "image.name";
const BUILD_KEYS: &[&str] = &[DIGEST_KEY, DESCRIPTOR_KEY, CONFIG_KEY, NAME_KEY];
const SKOPEO_NAME: &str = "Name";
const SKOPEO_DIGEST: &str = "Digest";

/// Keys that hold a config digest (image ID) in the outputs people copy from.
const CONFIG_DIGEST_KEYS: &[&str] = &[
    CONFIG_KEY,
    "config.digest",
    "imageid",
    "imageID",
    "image_id",
];

fn config_digest_error(source: &SourceFile, at: usize, key: &str) -> InputError {
    InputError::at(
        source,
        at,
        format!(
            "`{key}` is a config digest (the image ID), not a pullable manifest digest: a registry \
             cannot serve the image by it; use `{DIGEST_KEY}` or `{DESCRIPTOR_KEY}.digest` \
             (build-push-action: `digest`, not `imageid`)"
        ),
    )
}

/// JSON content is buildx metadata when an object at the top or one level down
/// carries a buildx key; `skopeo inspect` output when the object (or the
/// first of a list of objects) has both `Name` and `Digest`; otherwise it is
/// a plain map.
pub(super) fn detect_json(source: &SourceFile) -> ManifestFormat {
    let Ok(root) = parse_json(source) else {
        return ManifestFormat::Map;
    };
    let is_skopeo = |n: &Node| n.get(SKOPEO_NAME).is_some() && n.get(SKOPEO_DIGEST).is_some();
    let first = match &root.value {
        Value::Seq(items) => items.first(),
        _ => Some(&root),
    };
    if first.is_some_and(is_skopeo) {
        return ManifestFormat::SkopeoInspect;
    }
    let is_buildx = |n: &Node| {
        n.entries().is_some_and(|es| {
            es.iter().any(|(k, _)| {
                BUILD_KEYS.contains(&k.text.as_str()) || k.text.starts_with("buildx.")
            })
        })
    };
    let nested = root
        .entries()
        .is_some_and(|es| es.iter().any(|(_, v)| is_buildx(v)));
    if is_buildx(&root) || nested {
        ManifestFormat::BuildxMetadata
    } else {
        ManifestFormat::Map
    }
}

/// YAML content: kbld's `kind: Config`, imgpkg's `kind: ImagesLock`, else a map.
/// `None` when it is not a YAML map at all.
pub(super) fn detect_yaml(source: &SourceFile) -> Option<ManifestFormat> {
    let root = match parse_yaml(source) {
        Ok(r) => r,
        // Broken YAML: the map reader reports the parse error with its position.
        Err(_) => return Some(ManifestFormat::Map),
    };
    root.entries()?;
    Some(match root.get("kind").and_then(Node::as_str) {
        Some("Config") if root.get("overrides").is_some() => ManifestFormat::KbldLock,
        Some("ImagesLock") => ManifestFormat::ImgpkgLock,
        _ => ManifestFormat::Map,
    })
}

fn parse_tree(source: &SourceFile) -> Result<Node, InputError> {
    if source
        .text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '['])
    {
        parse_json(source)
    } else {
        parse_yaml(source)
    }
}

fn string<'a>(source: &SourceFile, node: &'a Node, what: &str) -> Result<&'a str, InputError> {
    node.as_str().ok_or_else(|| {
        InputError::at(
            source,
            node.at,
            format!("expected {what} as a string, found {}", node.kind()),
        )
    })
}

fn digest(source: &SourceFile, node: &Node, what: &str) -> Result<Digest, InputError> {
    let s = string(source, node, what)?;
    Digest::parse(s).map_err(|e| {
        InputError::at(
            source,
            node.at,
            format!("invalid digest `{s}` in {what}: {e}"),
        )
    })
}

fn image_ref(source: &SourceFile, node: &Node, what: &str) -> Result<ImageRef, InputError> {
    let s = string(source, node, what)?;
    ImageRef::parse(s).map_err(|e| {
        InputError::at(
            source,
            node.at,
            format!("`{s}` in {what} is not an image reference: {e}"),
        )
    })
}

fn required<'a>(
    source: &SourceFile,
    node: &'a Node,
    key: &str,
    ctx: &str,
) -> Result<&'a Node, InputError> {
    node.get(key)
        .ok_or_else(|| InputError::at(source, node.at, format!("{ctx} has no `{key}`")))
}

fn expect_map(source: &SourceFile, node: &Node, what: &str) -> Result<(), InputError> {
    match node.value {
        Value::Map(_) => Ok(()),
        _ => Err(InputError::at(
            source,
            node.at,
            format!("expected {what}, found {}", node.kind()),
        )),
    }
}

/// `docker buildx build|bake|imagetools create --metadata-file` output.
pub(super) fn buildx(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let root = parse_json(source)?;
    expect_map(source, &root, "a buildx metadata object")?;
    let is_build = |n: &Node| {
        n.entries().is_some_and(|es| {
            es.iter()
                .any(|(k, _)| BUILD_KEYS.contains(&k.text.as_str()))
        })
    };
    if is_build(&root) {
        if root.get(NAME_KEY).is_none() {
            return Err(InputError::at(
                source,
                root.at,
                "the build metadata has no `image.name`: the build named no image, so it pushed \
                 none and its digest cannot be pulled (build with `--tag … --push`)",
            ));
        }
        return build_entries(source, &root, "the build metadata");
    }
    // A bake file: one object per target, beside `buildx.*` bookkeeping keys.
    let mut out = Vec::new();
    let mut nameless = Vec::new();
    for (key, target) in root.entries().unwrap_or_default() {
        if key.text.starts_with("buildx.") {
            continue;
        }
        let ctx = format!("bake target `{}`", key.text);
        expect_map(source, target, &format!("{ctx} to be an object"))?;
        if target.get(NAME_KEY).is_none() {
            nameless.push(key);
            continue;
        }
        out.extend(build_entries(source, target, &ctx)?);
    }
    if out.is_empty()
        && let Some(first) = nameless.first()
    {
        let names: Vec<_> = nameless.iter().map(|k| format!("`{}`", k.text)).collect();
        return Err(InputError::at(
            source,
            first.at,
            format!(
                "bake target(s) {} have no `image.name`: they pushed no image, so there is nothing \
                 to pin (give the targets `tags` and push; targets without a name are skipped only \
                 when another target names an image)",
                names.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// The entries of one build's metadata object (`ctx` names it in messages).
fn build_entries(
    source: &SourceFile,
    obj: &Node,
    ctx: &str,
) -> Result<Vec<ManifestEntry>, InputError> {
    let top = obj.get(DIGEST_KEY);
    let descriptor = obj.get(DESCRIPTOR_KEY);
    if let Some(desc) = descriptor {
        expect_map(
            source,
            desc,
            &format!("`{DESCRIPTOR_KEY}` in {ctx} to be an object"),
        )?;
        if let Some(mt) = desc.get("mediaType").and_then(Node::as_str)
            && mt.contains("config")
        {
            return Err(config_digest_error(
                source,
                desc.at,
                &format!("{DESCRIPTOR_KEY}.digest"),
            ));
        }
    }
    let nested = descriptor.and_then(|d| d.get("digest"));
    let d = match (top, nested) {
        (Some(t), Some(n)) => {
            let (a, b) = (
                digest(source, t, DIGEST_KEY)?,
                digest(source, n, "containerimage.descriptor.digest")?,
            );
            if a != b {
                return Err(InputError::at(
                    source,
                    n.at,
                    format!(
                        "{ctx}: `{DESCRIPTOR_KEY}.digest` {b} disagrees with `{DIGEST_KEY}` {a}"
                    ),
                ));
            }
            a
        }
        (Some(t), None) => digest(source, t, DIGEST_KEY)?,
        (None, Some(n)) => digest(source, n, "containerimage.descriptor.digest")?,
        (None, None) => {
            if let Some(k) = obj.key(CONFIG_KEY) {
                return Err(config_digest_error(source, k.at, CONFIG_KEY));
            }
            return Err(InputError::at(
                source,
                obj.at,
                format!("{ctx} has no `{DIGEST_KEY}` or `{DESCRIPTOR_KEY}.digest`"),
            ));
        }
    };
    let names_node = required(source, obj, NAME_KEY, ctx)?;
    let names = string(source, names_node, NAME_KEY)?;
    let mut out = Vec::new();
    // Point each name at its own text when the JSON string has no escapes.
    let raw_start = names_node.at + 1;
    let verbatim = source
        .text
        .get(raw_start..)
        .is_some_and(|t| t.starts_with(names));
    let mut offset = 0;
    for raw_piece in names.split(',') {
        let piece = raw_piece.trim();
        let piece_at = if verbatim {
            raw_start + offset + (raw_piece.len() - raw_piece.trim_start().len())
        } else {
            names_node.at
        };
        offset += raw_piece.len() + 1;
        let r = ImageRef::parse(piece).map_err(|e| {
            InputError::at(
                source,
                piece_at,
                format!("`{piece}` in `{NAME_KEY}` is not an image reference: {e}"),
            )
        })?;
        check_own_digest(source, piece_at, &r, &d)?;
        let (name, tag) = split_pinned(&r).map_err(|m| InputError::at(source, piece_at, m))?;
        out.push(ManifestEntry {
            name,
            tag,
            digest: d.clone(),
            origin: origin_at(source, piece_at),
        });
    }
    Ok(out)
}

fn check_own_digest(
    source: &SourceFile,
    at: usize,
    r: &ImageRef,
    d: &Digest,
) -> Result<(), InputError> {
    match r.digest() {
        Some(own) if own != d => Err(InputError::at(
            source,
            at,
            format!(
                "`{}` carries digest {own}, but the entry's digest is {d}",
                r.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// Name an entry by `holder` (the reference that holds the digest), taking the
/// tag of `original` when it names the same repository.
fn name_and_tag(
    source: &SourceFile,
    at: usize,
    holder: &ImageRef,
    original: Option<&ImageRef>,
) -> Result<(EntryName, Option<String>), InputError> {
    let chosen = match original {
        Some(o) if o.name() == holder.name() => o,
        _ => holder,
    };
    split_pinned(chosen).map_err(|m| InputError::at(source, at, m))
}

/// What messages call a Carvel lock: the document, the lock with an indefinite
/// and with a definite article.
struct LockNames {
    document: &'static str,
    a_lock: &'static str,
    the_lock: &'static str,
}

/// The item list of a Carvel lock: checks the root is a map with `kind: KIND`
/// and that `list_key` is a list.
fn lock_items<'a>(
    source: &SourceFile,
    root: &'a Node,
    names: LockNames,
    kind_expected: &str,
    list_key: &str,
) -> Result<&'a [Node], InputError> {
    expect_map(source, root, names.document)?;
    let kind = required(source, root, "kind", names.the_lock)?;
    if kind.as_str() != Some(kind_expected) {
        return Err(InputError::at(
            source,
            kind.at,
            format!("{} has `kind: {kind_expected}`", names.a_lock),
        ));
    }
    let list = required(source, root, list_key, names.the_lock)?;
    let Value::Seq(items) = &list.value else {
        return Err(InputError::at(
            source,
            list.at,
            format!("expected `{list_key}` to be a list, found {}", list.kind()),
        ));
    };
    Ok(items)
}

/// The digest a lock entry's pinned reference carries; a lock must pin every image.
fn lock_digest(
    source: &SourceFile,
    node: &Node,
    image: &ImageRef,
    field: &str,
) -> Result<Digest, InputError> {
    image.digest().cloned().ok_or_else(|| {
        InputError::at(
            source,
            node.at,
            format!(
                "{field} `{}` has no digest; a lock must pin every image",
                image.as_str()
            ),
        )
    })
}

/// kbld lock: `kind: Config` with `overrides: [{image, newImage, preresolved}]`.
pub(super) fn kbld(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let root = parse_tree(source)?;
    let items = lock_items(
        source,
        &root,
        LockNames {
            document: "a kbld lock (`kind: Config`)",
            a_lock: "a kbld lock",
            the_lock: "the kbld lock",
        },
        "Config",
        "overrides",
    )?;
    let mut out = Vec::new();
    for item in items {
        expect_map(source, item, "an override (`image`, `newImage`)")?;
        let image_node = required(source, item, "image", "the override")?;
        let new_node = required(source, item, "newImage", "the override")?;
        let original = image_ref(source, image_node, "`image`")?;
        let new = image_ref(source, new_node, "`newImage`")?;
        let d = lock_digest(source, new_node, &new, "`newImage`")?;
        check_own_digest(source, image_node.at, &original, &d)?;
        let (name, tag) = name_and_tag(source, image_node.at, &new, Some(&original))?;
        out.push(ManifestEntry {
            name,
            tag,
            digest: d,
            origin: origin_at(source, image_node.at),
        });
    }
    Ok(out)
}

/// imgpkg `ImagesLock`: `images: [{image: ref@digest, annotations: {kbld.carvel.dev/id: ref}}]`.
pub(super) fn imgpkg(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let root = parse_tree(source)?;
    let items = lock_items(
        source,
        &root,
        LockNames {
            document: "an imgpkg `ImagesLock`",
            a_lock: "an imgpkg lock",
            the_lock: "the imgpkg lock",
        },
        "ImagesLock",
        "images",
    )?;
    let mut out = Vec::new();
    for item in items {
        expect_map(source, item, "an image (`image`, `annotations`)")?;
        let image_node = required(source, item, "image", "the image")?;
        let image = image_ref(source, image_node, "`image`")?;
        let d = lock_digest(source, image_node, &image, "`image`")?;
        let original = match item
            .get("annotations")
            .and_then(|a| a.get("kbld.carvel.dev/id"))
        {
            Some(n) => Some(image_ref(source, n, "`kbld.carvel.dev/id`")?),
            None => None,
        };
        let (name, tag) = name_and_tag(source, image_node.at, &image, original.as_ref())?;
        out.push(ManifestEntry {
            name,
            tag,
            digest: d,
            origin: origin_at(source, image_node.at),
        });
    }
    Ok(out)
}

/// A plain YAML or JSON map of image name → `sha256:<hex>`.
pub(super) fn map(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let root = parse_tree(source)?;
    let Some(entries) = root.entries() else {
        return Err(InputError::at(
            source,
            root.at,
            format!("expected a map of image → digest, found {}", root.kind()),
        ));
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        if CONFIG_DIGEST_KEYS.contains(&key.text.as_str()) {
            return Err(config_digest_error(source, key.at, &key.text));
        }
        let (name, tag) =
            parse_entry_name(&key.text).map_err(|m| InputError::at(source, key.at, m))?;
        let d = digest(source, value, &format!("the digest of `{}`", key.text))?;
        out.push(ManifestEntry {
            name,
            tag,
            digest: d,
            origin: origin_at(source, key.at),
        });
    }
    Ok(out)
}

/// `skopeo inspect docker://REF` output, one object or a list of them (`jq -s`):
/// `{"Name": "docker.io/library/nginx", "Digest": "sha256:…", "RepoTags": […], …}`.
/// `Digest` is the digest of the manifest (or index) the reference resolved
/// to, the usual pin. `Name` carries no tag (`RepoTags` lists every tag of
/// the repository, not the one inspected), so the entry is untagged.
pub(super) fn skopeo(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    let root = parse_tree(source)?;
    let items: Vec<&Node> = match &root.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![&root],
    };
    let mut out = Vec::new();
    for item in items {
        expect_map(source, item, "a `skopeo inspect` object (`Name`, `Digest`)")?;
        let name_node = required(source, item, SKOPEO_NAME, "the skopeo inspect output")?;
        let digest_node = required(source, item, SKOPEO_DIGEST, "the skopeo inspect output")?;
        let written = string(source, name_node, "`Name`")?;
        let (name, tag) =
            parse_entry_name(written).map_err(|m| InputError::at(source, name_node.at, m))?;
        let d = digest(source, digest_node, "`Digest`")?;
        out.push(ManifestEntry {
            name,
            tag,
            digest: d,
            origin: origin_at(source, digest_node.at),
        });
    }
    Ok(out)
}
