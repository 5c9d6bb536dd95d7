//! `Chart.yaml` metadata that follows the values: the `artifacthub.io/images`
//! annotation, a `|` block scalar holding a YAML list of `- name: x` /
//! `image: repo:tag[@digest]` entries (FIELD-NOTES §2).
//!
//! Why here, at the values layer: the annotation is edited the same way a
//! values file is (parse with [`ValuesFile`], splice [`Edit`]s with
//! [`apply_edits`]), so no third YAML tree is needed. The one twist is that
//! the images sit inside a string: the block's content is de-indented into
//! its own small YAML text, parsed, and every image scalar's span is mapped
//! back to the bytes of `Chart.yaml`. Only the image references change; the
//! header (`|`, `|-`), indentation, comments and every other byte stay as
//! written. A block whose content cannot be mapped byte for byte (a folded
//! `>` block, a quoted string with escapes) is refused with its position,
//! rather than rewritten.

use std::path::Path;

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef, RefError};
use crate::source::Span;
use crate::values::{Edit, Node, QuoteStyle, ValuesFile, YamlPath, apply_edits, set_scalar};

/// The annotation key Artifact Hub reads images from.
pub const IMAGES_ANNOTATION: &str = "artifacthub.io/images";

/// Every annotation that lists a chart's images in this form, kept in step
/// alike: Artifact Hub's, and `helm.sh/images`.
pub const IMAGE_ANNOTATIONS: &[&str] = &[IMAGES_ANNOTATION, "helm.sh/images"];

/// The YAML path of annotation `key`, as findings show it.
pub fn images_annotation_path(key: &str) -> YamlPath {
    YamlPath::default().key("annotations").key(key)
}

/// One `- name: …` / `image: …` entry of the annotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnotationImage {
    /// The annotation it is listed in (one of [`IMAGE_ANNOTATIONS`]).
    pub annotation: &'static str,
    /// Position in the list, from 0.
    pub index: usize,
    /// The entry's `name`, when it has one.
    pub name: Option<String>,
    /// The image as written.
    pub image: String,
    /// The parsed reference, or why it does not parse.
    pub reference: Result<ImageRef, RefError>,
    /// Bytes of the `image` scalar in `Chart.yaml` (quotes included).
    pub span: Span,
}

/// A digest to write for one repository: matched against annotation images by
/// normalised name, and by tag when several pins share a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePin {
    /// The reference the chart ran before the pin (its tag, if any, picks among pins of one name).
    pub image: ImageRef,
    pub digest: Digest,
}

/// One annotation image rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnotationUpdate {
    pub index: usize,
    pub old: String,
    pub new: String,
    /// Where the old reference was in `Chart.yaml`.
    pub span: Span,
}

/// The edits for one `Chart.yaml`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartMetaPlan {
    pub edits: Vec<Edit>,
    pub updates: Vec<AnnotationUpdate>,
    /// Annotation images no pin matched (left as they are).
    pub untouched: Vec<AnnotationImage>,
    /// The file's text with the edits applied.
    pub new_text: String,
}

/// A `|` block's content de-indented, with a map from its lines back to the
/// file (also used by lint for manifest text in values strings).
pub(crate) struct Block {
    pub(crate) inner: String,
    /// For each inner line: (offset in `inner`, offset in the outer text).
    pub(crate) lines: Vec<(usize, usize)>,
}

impl Block {
    /// The outer span of an inner span that lies within one line.
    pub(crate) fn outer(&self, inner: Span) -> Span {
        let i = match self.lines.binary_search_by_key(&inner.start, |l| l.0) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let (istart, ostart) = self.lines[i];
        Span::new(ostart + inner.start - istart, ostart + inner.end - istart)
    }
}

/// De-indent the content of a `|` block scalar whose content bytes are `span` of `text`.
pub(crate) fn block_content(text: &str, span: Span) -> Option<Block> {
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let region = &text[line_start..span.end];
    let indent = region
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())?;
    let mut inner = String::with_capacity(region.len());
    let mut lines = Vec::new();
    let mut offset = line_start;
    for line in region.split_inclusive('\n') {
        let body = line.trim_end_matches('\n').trim_end_matches('\r');
        let keep = if body.trim().is_empty() {
            ""
        } else if body.len() >= indent && body[..indent].bytes().all(|b| b == b' ') {
            &body[indent..]
        } else {
            return None;
        };
        lines.push((inner.len(), offset + (body.len() - keep.len()).min(indent)));
        inner.push_str(keep);
        if line.ends_with('\n') {
            inner.push('\n');
        }
        offset += line.len();
    }
    Some(Block { inner, lines })
}

/// The annotation's images, each with its span in `Chart.yaml`; `None`
/// when there is no annotation. Refuses an annotation that is not a `|`
/// block holding a list of maps, naming where it is.
pub fn annotation_images(chart: &ValuesFile) -> Result<Option<Vec<AnnotationImage>>, InputError> {
    images_in(chart, false)
}

/// [`annotation_images`] for reading only (lint, verify): also accepts a
/// `>` block, a quoted or plain string, as long as the string's text maps
/// back to `Chart.yaml` exactly (so every span is the image's bytes). Still
/// refuses what cannot be mapped or is not a list of maps.
pub fn read_annotation_images(
    chart: &ValuesFile,
) -> Result<Option<Vec<AnnotationImage>>, InputError> {
    images_in(chart, true)
}

/// The text of a single-line flow scalar (quotes stripped), when its value
/// is exactly that text (no escapes, no folding).
fn flow_content(text: &str, scalar: &crate::values::Scalar) -> Option<Block> {
    let raw = text.get(scalar.span().range())?;
    let quoted = matches!(
        scalar.style,
        QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted
    );
    let (inner, start) = if quoted && raw.len() >= 2 {
        (&raw[1..raw.len() - 1], scalar.span().start + 1)
    } else {
        (raw, scalar.span().start)
    };
    (inner == scalar.value && !inner.contains('\n')).then(|| Block {
        inner: inner.to_string(),
        lines: vec![(0, start)],
    })
}

fn images_in(
    chart: &ValuesFile,
    any_style: bool,
) -> Result<Option<Vec<AnnotationImage>>, InputError> {
    let mut all: Option<Vec<AnnotationImage>> = None;
    for key in IMAGE_ANNOTATIONS {
        if let Some(images) = images_of(chart, key, any_style)? {
            all.get_or_insert_with(Vec::new).extend(images);
        }
    }
    Ok(all)
}

fn images_of(
    chart: &ValuesFile,
    key: &'static str,
    any_style: bool,
) -> Result<Option<Vec<AnnotationImage>>, InputError> {
    let Some(node) = chart.node_at(&images_annotation_path(key)) else {
        return Ok(None);
    };
    let path = &chart.source().path;
    let refuse = |offset: usize, why: &str| {
        InputError::at(
            chart.source(),
            offset,
            format!("the `{key}` annotation {why}"),
        )
    };
    let Some(scalar) = node.as_scalar() else {
        return Err(refuse(node.offset(), "is not a string"));
    };
    if scalar.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let text = chart.text();
    let block = match scalar.style {
        QuoteStyle::Literal => block_content(text, scalar.span()),
        QuoteStyle::Folded if any_style => block_content(text, scalar.span()),
        _ if any_style => flow_content(text, scalar),
        _ => {
            return Err(refuse(
                scalar.span().start,
                "is not a `|` block scalar; chartpin updates only `|` blocks, byte for byte",
            ));
        }
    };
    let block = block
        .filter(|b| b.inner.replace("\r\n", "\n").trim_end() == scalar.value.trim_end())
        .ok_or_else(|| {
            let why = if any_style {
                "has content chartpin cannot map back to the file (uneven indentation, folding or escapes)"
            } else {
                "has content chartpin cannot map back to the file (uneven indentation)"
            };
            refuse(scalar.span().start, why)
        })?;
    let list = ValuesFile::parse(path, block.inner.clone()).map_err(|e| {
        let inner_line = e.line.saturating_sub(1);
        let at = block
            .lines
            .get(inner_line)
            .map_or(scalar.span().start, |l| l.1);
        refuse(at, &format!("does not parse as YAML: {}", e.message))
    })?;
    let Some(Node::Seq(seq)) = list.documents().first() else {
        return Err(refuse(
            scalar.span().start,
            "is not a YAML list of `{name, image}` entries",
        ));
    };
    let mut out = Vec::new();
    for (index, item) in seq.items.iter().enumerate() {
        let Some(map) = item.as_map() else {
            return Err(refuse(
                block.outer(Span::new(item.offset(), item.offset())).start,
                "has an entry that is not a `{name, image}` map",
            ));
        };
        let Some(image) = map.get("image").and_then(Node::as_scalar) else {
            continue;
        };
        let span = block.outer(image.span());
        debug_assert_eq!(&text[span.range()], &list.text()[image.span().range()]);
        out.push(AnnotationImage {
            annotation: key,
            index,
            name: map
                .get("name")
                .and_then(Node::as_scalar)
                .map(|s| s.text().to_string()),
            image: image.text().to_string(),
            reference: ImageRef::parse(image.text()),
            span,
        });
    }
    Ok(Some(out))
}

/// The pin for an annotation image: the one of the same normalised name; when
/// several pins share the name, the one with the same tag, else none
/// (ambiguous: lint reports the image if it stays unpinned).
fn pin_for<'a>(image: &ImageRef, pins: &'a [ImagePin]) -> Option<&'a ImagePin> {
    let name = image.name();
    let same: Vec<&ImagePin> = pins.iter().filter(|p| p.image.name() == name).collect();
    let first = same.first()?;
    if same.iter().all(|p| p.digest == first.digest) {
        return Some(first);
    }
    let by_tag: Vec<&&ImagePin> = same
        .iter()
        .filter(|p| p.image.tag().is_some() && p.image.tag() == image.tag())
        .collect();
    match by_tag.as_slice() {
        [one] => Some(one),
        [one, rest @ ..] if rest.iter().all(|p| p.digest == one.digest) => Some(one),
        _ => None,
    }
}

/// Write each pin's digest into the annotation images of its repository
/// (`repo:tag@sha256:…`, the tag as written kept), changing nothing else.
/// `Ok(None)` when `chart` has no annotation.
pub fn plan_annotation(
    chart: &ValuesFile,
    pins: &[ImagePin],
) -> Result<Option<ChartMetaPlan>, InputError> {
    let Some(images) = annotation_images(chart)? else {
        return Ok(None);
    };
    let text = chart.text();
    let mut plan = ChartMetaPlan::default();
    for img in images {
        let Some(pin) = img.reference.as_ref().ok().and_then(|r| pin_for(r, pins)) else {
            plan.untouched.push(img);
            continue;
        };
        let r = img.reference.as_ref().expect("matched references parse");
        let new = r.with_digest(&pin.digest).to_string();
        if new != img.image {
            let scalar = crate::values::Scalar::new(
                img.image.as_str(),
                img.span,
                style_of(&text[img.span.range()]),
            );
            plan.edits.push(set_scalar(text, &scalar, &new));
            plan.updates.push(AnnotationUpdate {
                index: img.index,
                old: img.image.clone(),
                new,
                span: img.span,
            });
        }
    }
    plan.new_text = apply_edits(text, &plan.edits)
        .map_err(|e| InputError::file(&chart.source().path, e.to_string()))?;
    Ok(Some(plan))
}

/// The quoting of a scalar from its written bytes.
fn style_of(written: &str) -> QuoteStyle {
    if written.starts_with('"') {
        QuoteStyle::DoubleQuoted
    } else if written.starts_with('\'') {
        QuoteStyle::SingleQuoted
    } else {
        QuoteStyle::Plain
    }
}

/// [`plan_annotation`] on a `Chart.yaml` text read from `path`.
pub fn plan_annotation_text(
    path: &Path,
    text: &str,
    pins: &[ImagePin],
) -> Result<Option<ChartMetaPlan>, InputError> {
    plan_annotation(&ValuesFile::parse(path, text)?, pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn pin(image: &str, digest: &str) -> ImagePin {
        ImagePin {
            image: ImageRef::parse(image).unwrap(),
            digest: Digest::parse(digest).unwrap(),
        }
    }

    /// `helm.sh/images` is kept in step as `artifacthub.io/images` is, in
    /// the same file, and a malformed one is named by its own key.
    #[test]
    fn helm_sh_images_is_pinned_beside_artifacthub_images() {
        let text = "annotations:\n  artifacthub.io/images: |\n    - name: a\n      image: ghcr.io/org/a:v1\n  helm.sh/images: |\n    - name: a\n      image: ghcr.io/org/a:v1\n    - name: b\n      image: ghcr.io/org/b:v2\n";
        let p = plan(
            text,
            &[pin("ghcr.io/org/a:v1", D1), pin("ghcr.io/org/b:v2", D2)],
        );
        assert_only_spans_changed(text, &p);
        assert_eq!(
            p.new_text,
            text.replace("ghcr.io/org/a:v1", &format!("ghcr.io/org/a:v1@{D1}"))
                .replace("ghcr.io/org/b:v2", &format!("ghcr.io/org/b:v2@{D2}"))
        );
        let read = annotation_images(&ValuesFile::parse("Chart.yaml", text).unwrap())
            .unwrap()
            .unwrap();
        let keys: Vec<(&str, usize)> = read.iter().map(|i| (i.annotation, i.index)).collect();
        assert_eq!(
            keys,
            [
                ("artifacthub.io/images", 0),
                ("helm.sh/images", 0),
                ("helm.sh/images", 1)
            ]
        );
        let bad = "annotations:\n  helm.sh/images: >\n    - image: a:1\n";
        let e = plan_annotation_text(Path::new("Chart.yaml"), bad, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the `helm.sh/images` annotation is not a `|` block"),
            "{e}"
        );
    }

    fn plan(text: &str, pins: &[ImagePin]) -> ChartMetaPlan {
        plan_annotation_text(Path::new("Chart.yaml"), text, pins)
            .unwrap()
            .expect("annotation present")
    }

    /// Everything outside the edited spans is byte-identical.
    fn assert_only_spans_changed(old: &str, p: &ChartMetaPlan) {
        let mut pos = 0;
        let mut rebuilt = String::new();
        let mut edits = p.edits.clone();
        edits.sort();
        for e in &edits {
            rebuilt.push_str(&old[pos..e.span.start]);
            rebuilt.push_str(&e.replacement);
            pos = e.span.end;
        }
        rebuilt.push_str(&old[pos..]);
        assert_eq!(rebuilt, p.new_text);
        for e in &edits {
            assert!(
                ImageRef::parse(old[e.span.range()].trim_matches(['"', '\''])).is_ok(),
                "edit covers only a reference: {:?}",
                &old[e.span.range()]
            );
        }
    }

    const CHART: &str = "apiVersion: v2\nname: demo # the name\nversion: 1.2.0\nannotations:\n  category: Networking\n  artifacthub.io/images: |\n    # images this chart runs\n    - name: controller\n      image: ghcr.io/org/controller:v1.2.0\n\n    - name: injector\n      image: \"ghcr.io/org/injector:v1.2.0\"   # quoted\n    - name: other\n      image: docker.io/library/busybox:1.36\n  artifacthub.io/license: Apache-2.0\n";

    #[test]
    fn pins_the_annotation_and_keeps_every_other_byte() {
        let pins = [
            pin("ghcr.io/org/controller:v1.2.0", D1),
            pin("ghcr.io/org/injector", D2),
        ];
        let p = plan(CHART, &pins);
        assert_only_spans_changed(CHART, &p);
        let expected = CHART
            .replace(
                "ghcr.io/org/controller:v1.2.0",
                &format!("ghcr.io/org/controller:v1.2.0@{D1}"),
            )
            .replace(
                "\"ghcr.io/org/injector:v1.2.0\"",
                &format!("\"ghcr.io/org/injector:v1.2.0@{D2}\""),
            );
        assert_eq!(p.new_text, expected);
        assert_eq!(p.updates.len(), 2);
        assert_eq!(p.untouched.len(), 1);
        assert_eq!(p.untouched[0].image, "docker.io/library/busybox:1.36");
        // The result still parses to the same list, now pinned.
        let again =
            annotation_images(&ValuesFile::parse("Chart.yaml", p.new_text.clone()).unwrap())
                .unwrap()
                .unwrap();
        assert!(again[0].reference.as_ref().unwrap().is_pinned());
        assert_eq!(again[1].image, format!("ghcr.io/org/injector:v1.2.0@{D2}"));
    }

    #[test]
    fn running_again_changes_nothing() {
        let pins = [pin("ghcr.io/org/controller:v1.2.0", D1)];
        let once = plan(CHART, &pins).new_text;
        let twice = plan(&once, &pins);
        assert!(twice.edits.is_empty());
        assert_eq!(twice.new_text, once);
    }

    #[test]
    fn a_new_digest_replaces_the_old_one() {
        let pinned = plan(CHART, &[pin("ghcr.io/org/controller", D1)]).new_text;
        let repinned = plan(&pinned, &[pin("ghcr.io/org/controller", D2)]).new_text;
        assert_eq!(
            repinned,
            CHART.replace("controller:v1.2.0", &format!("controller:v1.2.0@{D2}"))
        );
    }

    #[test]
    fn names_are_matched_normalised_and_tags_break_ties() {
        let text = "annotations:\n  artifacthub.io/images: |-\n    - name: a\n      image: busybox:1.36\n    - name: b\n      image: busybox:1.37\n";
        let pins = [
            pin("docker.io/library/busybox:1.36", D1),
            pin("index.docker.io/busybox:1.37", D2),
        ];
        let p = plan(text, &pins);
        assert_eq!(
            p.new_text,
            format!(
                "annotations:\n  artifacthub.io/images: |-\n    - name: a\n      image: busybox:1.36@{D1}\n    - name: b\n      image: busybox:1.37@{D2}\n"
            )
        );
        // Two digests for one name and no tag to choose by: left alone.
        let untagged = "annotations:\n  artifacthub.io/images: |\n    - image: busybox\n";
        assert!(plan(untagged, &pins).edits.is_empty());
    }

    #[test]
    fn crlf_and_deeper_indentation_are_kept() {
        let text = "annotations:\r\n    artifacthub.io/images: |\r\n        - name: a\r\n          image: ghcr.io/org/a:v1\r\nname: x\r\n";
        let p = plan(text, &[pin("ghcr.io/org/a:v1", D1)]);
        assert_eq!(p.new_text, text.replace("a:v1", &format!("a:v1@{D1}")));
    }

    #[test]
    fn a_chart_without_the_annotation_has_no_plan() {
        let none = plan_annotation_text(Path::new("Chart.yaml"), "name: x\n", &[]).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn annotations_that_cannot_be_spliced_are_refused_with_a_position() {
        let folded = "annotations:\n  artifacthub.io/images: >\n    - image: a:1\n";
        let e = plan_annotation_text(Path::new("Chart.yaml"), folded, &[]).unwrap_err();
        assert_eq!((e.line, e.file.to_str().unwrap()), (3, "Chart.yaml"));
        assert!(e.message.contains("`|` block"), "{e}");
        let quoted = "annotations:\n  artifacthub.io/images: \"- image: a:1\\n\"\n";
        assert!(plan_annotation_text(Path::new("Chart.yaml"), quoted, &[]).is_err());
        let not_list = "annotations:\n  artifacthub.io/images: |\n    image: a:1\n";
        let e = plan_annotation_text(Path::new("Chart.yaml"), not_list, &[]).unwrap_err();
        assert!(e.message.contains("list"), "{e}");
        let broken = "annotations:\n  artifacthub.io/images: |\n    - name: a\n      image: [a\n";
        let e = plan_annotation_text(Path::new("Chart.yaml"), broken, &[]).unwrap_err();
        assert!(e.line >= 3, "{e}");
    }

    #[test]
    fn the_read_only_variant_maps_folded_and_flow_strings_exactly() {
        let read = |text: &str| {
            let f = ValuesFile::parse("Chart.yaml", text).unwrap();
            let strict = annotation_images(&f);
            let images = read_annotation_images(&f).map(|o| o.unwrap()).map(|v| {
                v.iter()
                    .map(|i| (i.image.clone(), text[i.span.range()].to_string()))
                    .collect::<Vec<_>>()
            });
            (strict.is_ok(), images.map_err(|e| e.message))
        };
        let pair = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
        let folded = "annotations:\n  artifacthub.io/images: >\n    - name: a\n      image: a:1\n";
        assert_eq!(read(folded), (false, Ok(pair("a:1", "a:1"))));
        let flow = "annotations:\n  artifacthub.io/images: \"[{image: 'b:2'}]\"\n";
        assert_eq!(read(flow), (false, Ok(pair("b:2", "'b:2'"))));
        // Escapes and real folding do not map back byte for byte: refused.
        let escaped = "annotations:\n  artifacthub.io/images: \"- image: a:1\\n\"\n";
        assert!(read(escaped).1.unwrap_err().contains("cannot map back"));
        let folds =
            "annotations:\n  artifacthub.io/images: >\n    [{image: a:1},\n    {image: b:2}]\n";
        assert!(read(folds).1.unwrap_err().contains("cannot map back"));
        // A `|` block reads the same through both.
        assert_eq!(
            read(CHART).1.unwrap()[1],
            (
                "ghcr.io/org/injector:v1.2.0".to_string(),
                "\"ghcr.io/org/injector:v1.2.0\"".to_string()
            )
        );
        assert!(read(CHART).0);
    }
}
