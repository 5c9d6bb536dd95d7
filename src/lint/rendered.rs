//! Rendered manifests (`helm template` output): the ground truth of what
//! will run. [`rendered_images`] reads every image a stream renders:
//!
//! - `image:` fields anywhere in an object (containers, initContainers and
//!   ephemeralContainers of every workload kind, CronJob's `jobTemplate`,
//!   custom resources of any kind; `{registry, repository, tag, digest}`
//!   maps are composed), judged whatever they hold;
//! - references in other strings: container `env` values, `args` and
//!   `command` entries (`--flag=ref`, or `--flag` and `ref` as two entries),
//!   fields whose key ends in `image` (`baseImage`), and ConfigMap `data`
//!   (one value, or a value holding YAML manifests, walked the same way).
//!   Such a string may hold a list: it is split on commas, semicolons and
//!   whitespace, and a `KEY=` or `--flag=` prefix is taken off each piece.
//!
//! A piece outside an `image:` field counts as an image only when it parses
//! as one *and* carries a tag or a digest *and* either has a path (`/`) or
//! sits under a key that names an image (`SIDECAR_IMAGE`, `--image`). So
//! CIDR lists (`10.0.0.0/8`), URLs, paths, durations, `host:port` and plain
//! words are never images, and a bare repository the program completes
//! itself (`MONGODB_REPO_URL=docker.io/mongodb`,
//! `--prometheus-default-base-image=quay.io/prometheus/prometheus`) is not
//! judged.
//!
//! [`scan`] maps each image to the chart template named by its document's
//! `# Source:` comment (at the line when the image is written literally
//! there); documents that are not Kubernetes objects are skipped with a
//! `skipped-document` warning.

use std::path::PathBuf;

use super::yaml::{self, Node};
use super::{FoundImage, ImageOrigin};
use crate::chart::Chart;
use crate::diag::{Code, Finding, InputError};
use crate::reference::ImageRef;
use crate::source::{Location, SourceFile, Span};

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Which kind of rendered field an image was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// An `image:` field (a string, or a `{repository, tag, …}` map).
    Image,
    /// A container `env` value.
    Env,
    /// A container `args` or `command` entry.
    Arg,
    /// A ConfigMap `data` value (or a manifest inside one).
    ConfigMapData,
    /// Another field whose key names an image (`baseImage`).
    Field,
}

/// One image reference in a rendered stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedImage {
    /// The object's `kind` and `metadata.name` (`?` when it has none).
    pub kind: String,
    pub name: String,
    /// The container's `name`, when the image is inside a container.
    pub container: Option<String>,
    /// Where in the object: `spec.template.spec.containers[0].env[2].value`.
    pub field: String,
    /// The env name, flag or data key the reference was read under
    /// (`SIDECAR_IMAGE`, `--thanos-default-base-image`, `plugin`).
    pub key: Option<String>,
    pub source: FieldKind,
    /// The reference as rendered (one piece of a list value).
    pub reference: String,
    /// Its bytes in the stream: an `image:` field's whole scalar (quotes
    /// included); a piece's own bytes (the whole scalar when the piece cannot
    /// be found in the scalar's text, e.g. after YAML escapes).
    pub span: Span,
    /// The document's `# Source:` path (`chart/templates/deploy.yaml`).
    pub template: Option<String>,
    /// 0-based index of the document in the stream.
    pub document: usize,
}

impl RenderedImage {
    /// Words for messages: `Deployment/web container \`app\` env SIDECAR_IMAGE`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}/{}", self.kind, self.name);
        if let Some(c) = &self.container {
            s.push_str(&format!(" container `{c}`"));
        }
        match (self.source, &self.key) {
            (FieldKind::Env, Some(k)) => s.push_str(&format!(" env {k}")),
            (FieldKind::Arg, Some(k)) => s.push_str(&format!(" arg {k}")),
            (FieldKind::Arg, None) => s.push_str(" arg"),
            (FieldKind::ConfigMapData, Some(k)) => s.push_str(&format!(" data `{k}`")),
            _ => {}
        }
        s
    }
}

/// Every image a rendered stream holds, in stream order (see the module
/// docs for which fields and which strings count). Documents that are not
/// Kubernetes objects are passed over.
pub fn rendered_images(text: &str) -> Result<Vec<RenderedImage>, InputError> {
    let src = SourceFile::new("rendered manifests", text);
    Ok(extract(&src)?.images)
}

/// What a stream held: its images, and the documents that are not objects.
struct Extracted {
    images: Vec<RenderedImage>,
    /// (0-based document index, offset of its start).
    skipped: Vec<(usize, usize)>,
}

fn extract(src: &SourceFile) -> Result<Extracted, InputError> {
    let mut out = Extracted {
        images: Vec::new(),
        skipped: Vec::new(),
    };
    // A document's `# Source:` comment sits before its first node, after
    // the previous document's end. Each document's tree is given back
    // before the next is read (issue 10: a long stream is never one tree).
    let mut prev_end = 0;
    let mut n = 0;
    yaml::parse_stream_each(src, |doc| {
        out.read(src, n, &mut prev_end, &doc);
        n += 1;
        Ok(())
    })?;
    Ok(out)
}

/// [`rendered_images`] of a stream already parsed ([`yaml::parse_stream`]
/// of `src`), for a reader that needs the documents too ([`crate::prove`]).
pub fn images_in(src: &SourceFile, docs: &[yaml::Document<'_>]) -> Vec<RenderedImage> {
    let mut out = Extracted {
        images: Vec::new(),
        skipped: Vec::new(),
    };
    let mut prev_end = 0;
    for (n, doc) in docs.iter().enumerate() {
        out.read(src, n, &mut prev_end, doc);
    }
    out.images
}

impl Extracted {
    /// Read document `index` of `src`; `prev_end` is where the previous one ended.
    fn read(&mut self, src: &SourceFile, index: usize, prev_end: &mut usize, doc: &yaml::Document) {
        let before = (*prev_end).min(doc.span.start);
        *prev_end = doc.span.end;
        let Some(root) = &doc.root else {
            return;
        };
        let api = root.get("apiVersion").and_then(Node::as_str);
        let kind = root.get("kind").and_then(Node::as_str);
        let (Some(_), Some(kind)) = (api, kind) else {
            self.skipped.push((index, root.span().start));
            return;
        };
        let name = root
            .lookup(["metadata", "name"])
            .and_then(Node::as_str)
            .unwrap_or("?");
        let mut w = Walker {
            src,
            kind,
            name,
            template: source_comment(&src.text[before..root.span().start.max(before)])
                .or_else(|| source_comment(&src.text[doc.span.range()])),
            document: index,
            out: &mut self.images,
        };
        w.object(root);
    }
}

/// Where the walk is inside one object.
#[derive(Clone, Default)]
struct At {
    path: String,
    container: Option<String>,
}

impl At {
    fn key(&self, k: &str) -> At {
        let path = if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        };
        At {
            path,
            container: self.container.clone(),
        }
    }

    fn index(&self, i: usize) -> At {
        At {
            path: format!("{}[{i}]", self.path),
            container: self.container.clone(),
        }
    }
}

struct Walker<'s, 'o> {
    src: &'s SourceFile,
    kind: &'s str,
    name: &'s str,
    template: Option<String>,
    document: usize,
    out: &'o mut Vec<RenderedImage>,
}

/// The entries of a mapping node with scalar keys.
fn entries<'n, 'a>(node: &'n Node<'a>) -> impl Iterator<Item = (&'n str, &'n Node<'a>)> {
    let e: &[(Node<'a>, Node<'a>)] = match node {
        Node::Map(m) => &m.entries,
        _ => &[],
    };
    e.iter()
        .filter_map(|(k, v)| k.as_scalar().map(|k| (&*k.value, v)))
}

/// The items of a sequence node.
fn items<'n, 'a>(node: &'n Node<'a>) -> &'n [Node<'a>] {
    match node {
        Node::Seq(s) => &s.items,
        _ => &[],
    }
}

/// Whether a key names an image (`SIDECAR_IMAGE`, `acme-http01-solver-image`, `baseImage`).
fn names_image(key: &str) -> bool {
    key.to_ascii_lowercase().contains("image")
}

impl Walker<'_, '_> {
    fn object(&mut self, root: &Node) {
        let at = At::default();
        for (k, v) in entries(root) {
            match k {
                // Labels and annotations are not what runs.
                "metadata" => {}
                "data" if self.kind == "ConfigMap" => {
                    for (dk, dv) in entries(v) {
                        self.config_data(dk, dv, &at.key("data").key(dk));
                    }
                }
                "binaryData" if self.kind == "ConfigMap" => {}
                _ => self.node(k, v, &at.key(k)),
            }
        }
    }

    /// The value `v` under key `k`, at `at`.
    fn node(&mut self, k: &str, v: &Node, at: &At) {
        match k {
            "metadata" => return,
            "image" => {
                // The whole scalar, quotes included, as lint has always placed it.
                if let Some(s) = v.as_str() {
                    self.push_at(s.to_string(), v.span(), at, FieldKind::Image, None);
                } else if let Some(r) = compose(v) {
                    self.push_at(r, v.span(), at, FieldKind::Image, None);
                }
                return;
            }
            "env" if matches!(v, Node::Seq(_)) => {
                for (i, item) in items(v).iter().enumerate() {
                    let (Some(name), Some(value)) =
                        (item.get("name").and_then(Node::as_str), item.get("value"))
                    else {
                        continue;
                    };
                    if let Some(s) = value.as_str() {
                        let at = at.index(i).key("value");
                        self.pieces(s, value.span(), &at, FieldKind::Env, Some(name));
                    }
                }
                return;
            }
            "args" | "command" if matches!(v, Node::Seq(_)) => {
                // `--image` then `ref`: the flag names the next entry.
                let mut flag: Option<&str> = None;
                for (i, item) in items(v).iter().enumerate() {
                    let Some(s) = item.as_str() else {
                        flag = None;
                        continue;
                    };
                    let at = at.index(i);
                    let t = s.trim();
                    if t.starts_with('-') && !t.contains('=') && !t.contains(char::is_whitespace) {
                        flag = Some(t);
                        continue;
                    }
                    self.pieces(s, item.span(), &at, FieldKind::Arg, flag.take());
                }
                return;
            }
            _ => {}
        }
        match v {
            Node::Map(_) => {
                for (k2, v2) in entries(v) {
                    self.node(k2, v2, &at.key(k2));
                }
            }
            Node::Seq(_) => {
                let containers = CONTAINER_LISTS.contains(&k);
                for (i, item) in items(v).iter().enumerate() {
                    let mut at = at.index(i);
                    if containers {
                        at.container = item.get("name").and_then(Node::as_str).map(str::to_string);
                    }
                    match item {
                        Node::Map(_) => {
                            for (k2, v2) in entries(item) {
                                self.node(k2, v2, &at.key(k2));
                            }
                        }
                        Node::Seq(_) => self.node(k, item, &at),
                        _ => {}
                    }
                }
            }
            Node::Scalar(_) if names_image(k) && k != "imagePullPolicy" => {
                if let Some(s) = v.as_str() {
                    self.pieces(s, v.span(), at, FieldKind::Field, Some(k));
                }
            }
            _ => {}
        }
    }

    /// A ConfigMap `data` value: a reference (or list), or manifests in YAML.
    fn config_data(&mut self, key: &str, v: &Node, at: &At) {
        let Some(s) = v.as_str() else {
            return;
        };
        if !s.trim_end().contains('\n') {
            self.pieces(s, v.span(), at, FieldKind::ConfigMapData, Some(key));
            return;
        }
        // Several lines: only YAML (manifests, operator configuration) is read.
        let inner = SourceFile::new(&self.src.path, s.to_string());
        let Ok(docs) = yaml::parse_stream(&inner) else {
            return;
        };
        let found_from = self.out.len();
        for doc in docs {
            let Some(root) = doc.root else {
                continue;
            };
            if !matches!(root, Node::Map(_) | Node::Seq(_)) {
                continue;
            }
            self.node(key, &root, at);
        }
        // Spans found inside the inner text: place them in the stream.
        let outer = v.span();
        let mut cursor = outer.start;
        for img in &mut self.out[found_from..] {
            img.source = FieldKind::ConfigMapData;
            img.key.get_or_insert_with(|| key.to_string());
            let region = &self.src.text[cursor.min(outer.end)..outer.end];
            img.span = match region.find(&img.reference) {
                Some(i) => {
                    let s = Span::new(cursor + i, cursor + i + img.reference.len());
                    cursor = s.end;
                    s
                }
                None => outer,
            };
        }
    }

    /// The pieces of a string that may hold a list, each judged as an image.
    fn pieces(&mut self, s: &str, span: Span, at: &At, source: FieldKind, key: Option<&str>) {
        let mut flag = key.map(str::to_string);
        // Quotes and braces split too: a value may hold JSON (`{"image":"ref"}`).
        let separator = |c: char| {
            matches!(c, ',' | ';' | '"' | '\'' | '{' | '}' | '(' | ')') || c.is_whitespace()
        };
        for piece in s.split(separator) {
            if piece.is_empty() {
                continue;
            }
            // `--flag=ref`, `KEY=ref`, `--flag=KEY=ref`; a lone `--flag` names the next piece.
            let (k, value) = match piece.split_once('=') {
                Some((k, v)) if is_key(k) => match v.split_once('=') {
                    Some((k2, v2)) if is_key(k2) => (Some(k2.to_string()), v2),
                    _ => (Some(k.to_string()), v),
                },
                Some(_) => continue,
                None if piece.starts_with('-') => {
                    flag = Some(piece.to_string());
                    continue;
                }
                None => (flag.take(), piece),
            };
            let named = k.as_deref().or(key).is_some_and(names_image);
            if is_image_text(value, named) {
                self.push(value, span, at, source, k.as_deref().or(key));
            }
        }
    }

    fn push(&mut self, reference: &str, span: Span, at: &At, source: FieldKind, key: Option<&str>) {
        // The piece's own bytes, when the scalar is written as it reads.
        let raw = &self.src.text[span.range()];
        let span = match raw.find(reference) {
            Some(i) if !reference.is_empty() => {
                Span::new(span.start + i, span.start + i + reference.len())
            }
            _ => span,
        };
        self.push_at(reference.to_string(), span, at, source, key);
    }

    fn push_at(
        &mut self,
        reference: String,
        span: Span,
        at: &At,
        source: FieldKind,
        key: Option<&str>,
    ) {
        self.out.push(RenderedImage {
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            container: at.container.clone(),
            field: at.path.clone(),
            key: key.map(str::to_string),
            source,
            reference,
            span,
            template: self.template.clone(),
            document: self.document,
        });
    }
}

/// A `KEY` of `KEY=value` or a `--flag` of `--flag=value`.
fn is_key(k: &str) -> bool {
    let name = k.trim_start_matches('-');
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether a string outside an `image:` field is an image reference: it
/// parses as one, carries a tag or a digest, and has a path or sits under
/// a key that names an image (`named`).
pub fn is_image_text(v: &str, named: bool) -> bool {
    if v.contains("://") {
        return false;
    }
    let Ok(r) = ImageRef::parse(v) else {
        return false;
    };
    (r.tag().is_some() || r.digest().is_some()) && (v.contains('/') || named)
}

/// What a rendered stream held, as lint sees it.
pub struct RenderedScan {
    pub images: Vec<FoundImage>,
    pub findings: Vec<Finding>,
}

/// Scan a rendered stream. `charts` are the charts it may come from, for `# Source:` mapping.
pub fn scan(src: &SourceFile, charts: &[&Chart]) -> Result<RenderedScan, InputError> {
    let ex = extract(src)?;
    let findings = ex
        .skipped
        .iter()
        .map(|&(n, at)| {
            Finding::new(
                Code::SkippedDocument,
                format!(
                    "document {} is not a Kubernetes object (no apiVersion and kind); skipped",
                    n + 1
                ),
            )
            .at(src, Span::new(at, at))
        })
        .collect();
    let images = ex
        .images
        .into_iter()
        .map(|img| place(src, img, charts))
        .collect();
    Ok(RenderedScan { images, findings })
}

fn compose(v: &Node) -> Option<String> {
    let repo = v.get("repository").and_then(Node::as_str)?;
    let mut s = match v.get("registry").and_then(Node::as_str) {
        Some(r) if !r.is_empty() => format!("{r}/{repo}"),
        _ => repo.to_string(),
    };
    if let Some(t) = v
        .get("tag")
        .and_then(Node::as_str)
        .filter(|t| !t.is_empty())
    {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = v
        .get("digest")
        .and_then(Node::as_str)
        .filter(|d| !d.is_empty())
    {
        s.push('@');
        s.push_str(d);
    }
    Some(s)
}

/// The `# Source: chart/templates/x.yaml` comment of a document, if any.
fn source_comment(doc_text: &str) -> Option<String> {
    doc_text.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix("# Source: ")
            .map(|s| s.trim().to_string())
    })
}

/// The chart template a `# Source:` path names: `parent/charts/sub/templates/x.yaml`.
fn find_template<'c>(source: &str, charts: &[&'c Chart]) -> Option<(&'c Chart, &'c SourceFile)> {
    let (top, mut rest) = source.split_once('/')?;
    let mut chart: &Chart = charts.iter().find(|c| c.name == top)?;
    while let Some(r) = rest.strip_prefix("charts/") {
        let (sub, r2) = r.split_once('/')?;
        chart = chart
            .subcharts
            .iter()
            .find(|c| c.alias.as_deref() == Some(sub))
            .or_else(|| chart.subcharts.iter().find(|c| c.name == sub))?;
        rest = r2;
    }
    chart.file(rest).map(|f| (chart, f))
}

/// The first occurrence of `reference` in `text` that is not part of a longer
/// reference (`busybox` must not match inside `busybox:1.36`).
fn find_whole(text: &str, reference: &str) -> Option<usize> {
    let part =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '@' | '/' | '.' | '_' | '-');
    text.match_indices(reference).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back().is_none_or(|c| !part(c));
        let after = text[i + reference.len()..]
            .chars()
            .next()
            .is_none_or(|c| !part(c));
        before && after
    })
}

/// The finding location of a rendered image: the template line that writes
/// it literally (when only one line does), else the template file, else the
/// stream itself.
fn place(src: &SourceFile, img: RenderedImage, charts: &[&Chart]) -> FoundImage {
    let what = img.describe();
    let source = img.template.as_deref();
    let chart = source.and_then(|s| find_template(s, charts));
    let literal = chart.and_then(|(_, tpl)| {
        Some(&img.reference)
            .filter(|r| !r.is_empty())
            .and_then(|r| {
                // Only a line that is the one place: two literal copies of
                // the reference leave the template file without a line.
                let at = find_whole(&tpl.text, r)?;
                let end = at + r.len();
                find_whole(&tpl.text[end..], r).is_none().then_some(at)
            })
            .map(|at| (tpl, Span::new(at, at + img.reference.len())))
    });
    let (file, span) = literal.unwrap_or((src, img.span));
    let root = chart.map_or_else(PathBuf::new, |(c, _)| c.root.clone());
    let mut f = FoundImage::new(
        img.reference,
        ImageOrigin::Rendered,
        file,
        span,
        Some(img.field),
        root.as_path(),
    );
    if let (None, Some((_, tpl))) = (literal, chart) {
        // Built from values: name the template, without a line to point at.
        f.location = Location::file(&tpl.path);
    }
    f.context = Some(match (chart, source) {
        (None, Some(s)) => format!("{what} (from {s})"),
        _ => what,
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const STREAM: &str = "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: busybox\n      containers:\n        - name: web\n          image: \"nginx:1.25\"\n---\n# Source: app/templates/cron.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: c, image: 'alpine:3'}]\n---\nthis is: not kubernetes\n---\n- a list\n---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: p}\nspec:\n  image: quay.io/prometheus/prometheus:v2.50.0\n  thanos:\n    image: {repository: quay.io/thanos/thanos, tag: v0.34.0}\n";

    #[test]
    fn every_workload_container_and_custom_resource_image() {
        let src = SourceFile::new("rendered.yaml", STREAM);
        let scan = scan(&src, &[]).unwrap();
        let refs: Vec<&str> = scan.images.iter().map(|i| i.reference.as_str()).collect();
        assert_eq!(
            refs,
            [
                "busybox",
                "nginx:1.25",
                "alpine:3",
                "quay.io/prometheus/prometheus:v2.50.0",
                "quay.io/thanos/thanos:v0.34.0"
            ]
        );
        assert_eq!(
            scan.images[0].path.as_deref(),
            Some("spec.template.spec.initContainers[0].image")
        );
        let line = |l: &Location| l.line_col_in(&src).map_or(0, |lc| lc.line);
        assert_eq!(line(&scan.images[1].location), 15);
        let skipped: Vec<usize> = scan
            .findings
            .iter()
            .filter(|f| f.code == Code::SkippedDocument)
            .map(|f| f.location.as_ref().map_or(0, line))
            .collect();
        assert_eq!(skipped, [28, 30]);
    }

    /// A chart `app` under `charts/app` whose one template is `templates/deploy.yaml`.
    fn app_chart(deploy: &str) -> crate::chart::Chart {
        crate::chart::Chart::in_memory(
            "charts/app",
            "app",
            [(
                "templates/deploy.yaml".to_string(),
                SourceFile::new("charts/app/templates/deploy.yaml", deploy),
            )]
            .into_iter()
            .collect(),
        )
    }

    #[test]
    fn source_comments_point_into_templates() {
        let chart_src = app_chart(
            "spec:\n  image: busybox:1.36\n  image: busybox\n  image: {{ .Values.image }}\n",
        );
        let src = SourceFile::new("rendered.yaml", STREAM);
        let scan = scan(&src, &[&chart_src]).unwrap();
        let busybox = &scan.images[0];
        assert_eq!(
            busybox.file(),
            Path::new("charts/app/templates/deploy.yaml")
        );
        let template = chart_src.file("templates/deploy.yaml").unwrap();
        let lc = busybox.location.line_col_in(template).unwrap();
        assert_eq!((lc.line, lc.column), (3, 10));
        let nginx = &scan.images[1];
        assert_eq!(nginx.file(), Path::new("charts/app/templates/deploy.yaml"));
        assert_eq!(nginx.location.position, None);
    }

    #[test]
    fn a_literal_written_twice_leaves_the_template_without_a_line() {
        let chart_src = app_chart("spec:\n  image: \"nginx:1.25\"\n  image: nginx:1.25\n");
        let src = SourceFile::new("rendered.yaml", STREAM);
        let scan = scan(&src, &[&chart_src]).unwrap();
        let nginx = &scan.images[1];
        assert_eq!(nginx.file(), Path::new("charts/app/templates/deploy.yaml"));
        assert_eq!(nginx.location.position, None);
    }

    const SHAPES: &str = r#"# Source: op/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: op
  annotations: {image: "not/judged:1"}
spec:
  template:
    spec:
      containers:
        - name: manager
          image: quay.io/op/manager:v1
          args:
            - --cluster-networks=10.0.0.0/8,192.168.0.0/16
            - --submitter-service-url=http://svc:8080/api/v1
            - --config=/etc/op/config.yaml
            - --timeout=30s
            - --addr=svc.ns.svc.cluster.local:8443
            - --sidecar-image=quay.io/op/sidecar:v2
            - --init-image
            - busybox:1.36
            - --log-level
            - info
          command: ["/manager", "-c", "run docker.io/library/redis:7 now"]
          env:
            - name: RELATED_IMAGES
              value: "AGENT=quay.io/op/agent:1.0,PROBE=quay.io/op/probe:2.0 HOOK=quay.io/op/hook@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            - name: SIDECAR_IMAGE
              value: ghcr.io/op/daprd:edge
            - name: WEBHOOK_IMAGE
              value: "pause:3.9"
            - name: MONGODB_REPO_URL
              value: docker.io/mongodb
            - name: MONGODB_IMAGE
              value: mongodb-community-server
            - name: PLACEMENT
              value: dapr-placement-server:50005
            - name: WAIT
              value: 5m
            - name: FROM
              valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
      ephemeralContainers:
        - name: debug
          image: busybox
---
# Source: op/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: images}
data:
  plugin: quay.io/cephcsi/cephcsi:v3.17.0
  node.collector.imageRef: ghcr.io/aquasecurity/node-collector:0.3.1
  nginx.conf: |
    location / { proxy_pass http://up:8080/; }
  jobs.yaml: |
    apiVersion: batch/v1
    kind: Job
    spec:
      template:
        spec:
          containers:
            - name: scan
              image: mirror.gcr.io/aquasec/trivy:0.72.0
  enabled: "true"
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  image: {repository: quay.io/w/w, tag: "1.2"}
  baseImage: quay.io/prometheus/prometheus
  helperImage: quay.io/w/helper:3
  imagePullPolicy: Always
"#;

    fn shapes() -> Vec<RenderedImage> {
        rendered_images(SHAPES).unwrap()
    }

    #[test]
    fn a_stream_parsed_once_gives_the_same_images() {
        // The proof reads images from the documents it parses anyway.
        for text in [STREAM, SHAPES] {
            let src = SourceFile::new("rendered manifests", text);
            let docs = yaml::parse_stream(&src).unwrap();
            let images = images_in(&src, &docs);
            assert!(!images.is_empty());
            assert_eq!(images, rendered_images(text).unwrap());
        }
    }

    #[test]
    fn env_args_and_config_map_shapes() {
        let imgs = shapes();
        let got: Vec<(FieldKind, String, Option<String>)> = imgs
            .iter()
            .map(|i| (i.source, i.reference.clone(), i.key.clone()))
            .collect();
        let k = |s: &str| Some(s.to_string());
        use FieldKind::*;
        assert_eq!(
            got,
            vec![
                (Image, "quay.io/op/manager:v1".into(), None),
                (Arg, "quay.io/op/sidecar:v2".into(), k("--sidecar-image")),
                // Flag and value as two entries.
                (Arg, "busybox:1.36".into(), k("--init-image")),
                // A reference inside a command line.
                (Arg, "docker.io/library/redis:7".into(), k("-c")),
                // `KEY=ref` lists, comma or space separated.
                (Env, "quay.io/op/agent:1.0".into(), k("AGENT")),
                (Env, "quay.io/op/probe:2.0".into(), k("PROBE")),
                (
                    Env,
                    format!("quay.io/op/hook@sha256:{}", "0".repeat(64)),
                    k("HOOK")
                ),
                (Env, "ghcr.io/op/daprd:edge".into(), k("SIDECAR_IMAGE")),
                // No path, but the env name says image.
                (Env, "pause:3.9".into(), k("WEBHOOK_IMAGE")),
                (Image, "busybox".into(), None),
                (
                    ConfigMapData,
                    "quay.io/cephcsi/cephcsi:v3.17.0".into(),
                    k("plugin")
                ),
                (
                    ConfigMapData,
                    "ghcr.io/aquasecurity/node-collector:0.3.1".into(),
                    k("node.collector.imageRef")
                ),
                (
                    ConfigMapData,
                    "mirror.gcr.io/aquasec/trivy:0.72.0".into(),
                    k("jobs.yaml")
                ),
                (Image, "quay.io/w/w:1.2".into(), None),
                (Field, "quay.io/w/helper:3".into(), k("helperImage")),
            ]
        );
    }

    #[test]
    fn images_point_at_their_bytes_object_and_container() {
        let imgs = shapes();
        for i in imgs.iter().filter(|i| i.source != FieldKind::Image) {
            assert_eq!(&SHAPES[i.span.range()], i.reference, "{i:?}");
        }
        let agent = imgs.iter().find(|i| i.reference.contains("agent")).unwrap();
        assert_eq!(agent.field, "spec.template.spec.containers[0].env[0].value");
        assert_eq!(agent.container.as_deref(), Some("manager"));
        assert_eq!(agent.template.as_deref(), Some("op/templates/deploy.yaml"));
        assert_eq!(
            agent.describe(),
            "Deployment/op container `manager` env AGENT"
        );
        let init = imgs.iter().find(|i| i.reference == "busybox:1.36").unwrap();
        assert_eq!(init.field, "spec.template.spec.containers[0].args[7]");
        let debug = imgs.iter().find(|i| i.reference == "busybox").unwrap();
        assert_eq!(
            debug.field,
            "spec.template.spec.ephemeralContainers[0].image"
        );
        let trivy = imgs.iter().find(|i| i.reference.contains("trivy")).unwrap();
        assert_eq!((trivy.kind.as_str(), trivy.document), ("ConfigMap", 1));
    }

    #[test]
    fn lists_inside_flags_json_and_multi_line_values() {
        let stream = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: op}
spec:
  template:
    spec:
      containers:
        - name: op
          image: quay.io/op/op:v1
          args:
            - --related-images=agent=quay.io/op/agent:1.0,probe=quay.io/op/probe:2.0
            - --cluster-networks=10.0.0.0/8,fd00::/8
            - --endpoint=http://quay.io/op/notanimage:80/path
          env:
            - name: IMAGES_JSON
              value: '{"agent":"quay.io/op/j:1","sidecars":["quay.io/op/s:2"]}'
            - name: IMAGES
              value: |
                quay.io/op/m1:1
                quay.io/op/m2:2
            - name: CONFIG
              value: "mode=fast timeout=30s url=https://svc.ns:8443/x"
"#;
        let imgs = rendered_images(stream).unwrap();
        let got: Vec<(&str, Option<&str>)> = imgs
            .iter()
            .map(|i| (i.reference.as_str(), i.key.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("quay.io/op/op:v1", None),
                ("quay.io/op/agent:1.0", Some("agent")),
                ("quay.io/op/probe:2.0", Some("probe")),
                ("quay.io/op/j:1", Some("IMAGES_JSON")),
                ("quay.io/op/s:2", Some("IMAGES_JSON")),
                ("quay.io/op/m1:1", Some("IMAGES")),
                ("quay.io/op/m2:2", Some("IMAGES")),
            ]
        );
        for i in imgs.iter().filter(|i| i.source != FieldKind::Image) {
            assert_eq!(&stream[i.span.range()], i.reference, "{i:?}");
        }
    }

    #[test]
    fn non_images_are_not_images() {
        for (v, named) in [
            ("10.0.0.0/8", false),
            ("192.168.0.0/16", false),
            ("http://svc:8080/api/v1", false),
            ("http://svc:8080/api/v1", true),
            ("/etc/op/config.yaml", false),
            ("30s", false),
            ("info", false),
            ("svc.ns.svc.cluster.local:8443", false),
            ("dapr-placement-server:50005", false),
            ("docker.io/mongodb", false),
            ("quay.io/prometheus/prometheus", true),
            ("mongodb-community-server", true),
            ("$(POD_NAMESPACE)/ingress-nginx-controller", false),
            ("[$(HOST_IP)]:9100", false),
        ] {
            assert!(!is_image_text(v, named), "{v}");
        }
        for (v, named) in [
            ("quay.io/a/b:1", false),
            (
                "a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                false,
            ),
            ("nginx:1.25", true),
        ] {
            assert!(is_image_text(v, named), "{v}");
        }
    }
}
