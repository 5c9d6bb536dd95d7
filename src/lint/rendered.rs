//! Rendered manifests (`helm template` output): the ground truth of what
//! will run. Every container, initContainer and ephemeralContainer image of
//! the workload kinds, and every `image:` field of other kinds (operators'
//! custom resources). Findings point at the template named by the
//! document's `# Source:` comment when the image is written there; documents
//! that are not Kubernetes objects are skipped with a `skipped-document`
//! warning.

use std::path::{Path, PathBuf};

use super::yaml::{self, Node};
use super::{FoundImage, ImageOrigin};
use crate::chart::Chart;
use crate::diag::{Code, Finding, InputError};
use crate::source::{Location, SourceFile, Span};

/// Where the pod spec sits in each workload kind.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// What a rendered stream held.
pub struct RenderedScan {
    pub images: Vec<FoundImage>,
    pub findings: Vec<Finding>,
}

/// An image as it appears in the rendered stream, before mapping to its template.
struct Hit {
    reference: String,
    span: Span,
    path: String,
    what: String,
}

/// Scan a rendered stream. `charts` are the charts it may come from, for `# Source:` mapping.
pub fn scan(src: &SourceFile, charts: &[&Chart]) -> Result<RenderedScan, InputError> {
    let docs = yaml::parse_stream(src)?;
    let mut out = RenderedScan {
        images: Vec::new(),
        findings: Vec::new(),
    };
    for (n, doc) in docs.iter().enumerate() {
        let Some(root) = &doc.root else {
            continue;
        };
        let api = root.get("apiVersion").and_then(Node::as_str);
        let kind = root.get("kind").and_then(Node::as_str);
        let (Some(_), Some(kind)) = (api, kind) else {
            let at = root.span().start;
            out.findings.push(
                Finding::new(
                    Code::SkippedDocument,
                    format!(
                        "document {} is not a Kubernetes object (no apiVersion and kind); skipped",
                        n + 1
                    ),
                )
                .at(src, Span::new(at, at)),
            );
            continue;
        };
        let name = root
            .lookup(["metadata", "name"])
            .and_then(Node::as_str)
            .unwrap_or("?");
        let mut hits = Vec::new();
        match pod_spec_path(kind) {
            Some(path) => {
                if let Some(spec) = root.lookup(path.iter().copied()) {
                    for list in CONTAINER_LISTS {
                        let Some(Node::Seq(seq)) = spec.get(list) else {
                            continue;
                        };
                        for (i, c) in seq.items.iter().enumerate() {
                            let cname = c.get("name").and_then(Node::as_str).unwrap_or("?");
                            if let Some(img @ Node::Scalar(_)) = c.get("image") {
                                hits.push(Hit {
                                    reference: img.as_str().unwrap_or("").to_string(),
                                    span: img.span(),
                                    path: format!("{}.{list}[{i}].image", path.join(".")),
                                    what: format!("{kind}/{name} container `{cname}`"),
                                });
                            }
                        }
                    }
                }
            }
            None => walk(root, &mut String::new(), kind, name, &mut hits),
        }
        if hits.is_empty() {
            continue;
        }
        let source = source_comment(&src.text[doc.span.range()]);
        for h in hits {
            out.images.push(place(src, h, source.as_deref(), charts));
        }
    }
    Ok(out)
}

/// Every `image:` field of a non-workload object: strings, and
/// `{repository, tag, digest}`/`{registry, …}` maps composed into a reference.
fn walk(node: &Node, path: &mut String, kind: &str, name: &str, hits: &mut Vec<Hit>) {
    match node {
        Node::Map(m) => {
            for (k, v) in &m.entries {
                let k = k.as_scalar().map_or("", |s| &*s.value);
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if k == "image" {
                    if let Some(s) = v.as_str() {
                        hits.push(Hit {
                            reference: s.to_string(),
                            span: v.span(),
                            path: path.clone(),
                            what: format!("{kind}/{name}"),
                        });
                    } else if let Some(r) = compose(v) {
                        hits.push(Hit {
                            reference: r,
                            span: v.span(),
                            path: path.clone(),
                            what: format!("{kind}/{name}"),
                        });
                    }
                }
                walk(v, path, kind, name, hits);
                path.truncate(len);
            }
        }
        Node::Seq(s) => {
            for (i, v) in s.items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(v, path, kind, name, hits);
                path.truncate(len);
            }
        }
        _ => {}
    }
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

fn place(src: &SourceFile, h: Hit, source: Option<&str>, charts: &[&Chart]) -> FoundImage {
    let shown_root = |c: &Chart| c.root.clone();
    if let Some(source) = source
        && let Some((chart, tpl)) = find_template(source, charts)
    {
        if !h.reference.is_empty()
            && let Some(at) = find_whole(&tpl.text, &h.reference)
        {
            let mut f = FoundImage::new(
                h.reference.clone(),
                ImageOrigin::Rendered,
                tpl,
                Span::new(at, at + h.reference.len()),
                Some(h.path),
                &shown_root(chart),
            );
            f.context = Some(h.what);
            return f;
        }
        // Built from values: name the template, without a line to point at.
        let mut f = FoundImage::new(
            h.reference,
            ImageOrigin::Rendered,
            src,
            h.span,
            Some(h.path),
            &shown_root(chart),
        );
        f.location = Location::file(&tpl.path);
        f.context = Some(h.what);
        return f;
    }
    let mut f = FoundImage::new(
        h.reference,
        ImageOrigin::Rendered,
        src,
        h.span,
        Some(h.path),
        Path::new(""),
    );
    f.chart_root = PathBuf::new();
    f.context = Some(match source {
        Some(s) => format!("{} (from {s})", h.what),
        None => h.what,
    });
    f
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn source_comments_point_into_templates() {
        let chart_src = crate::chart::Chart::in_memory(
            "charts/app",
            "app",
            [(
                "templates/deploy.yaml".to_string(),
                SourceFile::new(
                    "charts/app/templates/deploy.yaml",
                    "spec:\n  image: busybox:1.36\n  image: busybox\n  image: {{ .Values.image }}\n",
                ),
            )]
            .into_iter()
            .collect(),
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
}
