//! `chartpin lint`: find every image reference a chart will run and report
//! the ones that are still mutable.
//!
//! Lint looks in four places, because a tag can come back through any of
//! them: values files (every convention `pin` understands, subcharts
//! included), templates (images written literally or built from simple
//! values lookups), `Chart.yaml`'s images annotations (Artifact Hub's and
//! `helm.sh/images`), and rendered manifests (`--rendered`, `--render`),
//! which are the ground truth. It returns findings as data; rendering and
//! the exit status belong to [`crate::report`] and [`crate::diag::Exit`].
//!
//! [`discover_images`] is the same discovery without the rules, for `verify`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Finding, InputError};
use crate::reference::ImageRef;
use crate::source::{Location, SourceFile, Sources, Span};
use crate::values::ValuesView;

mod embedded;
pub mod rendered;
mod rules;
pub mod suppress;
mod templates;
mod truth;
pub mod yaml;

pub use crate::chart::Chart;
use crate::chart::{self, ChartOrigin};
pub use rules::{Verdict, classify};

/// Why lint could not run: unreadable or invalid input, or `helm` trouble.
/// All of these exit 2.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Helm(#[from] crate::helm::HelmError),
}

impl LintError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LintError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where an image reference was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageOrigin {
    /// An image site in a values file (the chart's own or a subchart's).
    Values,
    /// An `image:` key or `--flag=` argument in `templates/`.
    Template,
    /// `Chart.yaml`'s `artifacthub.io/images` or `helm.sh/images` annotation.
    ChartAnnotation,
    /// A container or `image:` field of a rendered manifest.
    Rendered,
}

/// One image reference found in a chart, pinned or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundImage {
    /// The reference as it resolves (what a runtime would pull), e.g.
    /// `docker.io/bitnami/nginx:1.25@sha256:…`. Unknown template parts show as `…`.
    pub reference: String,
    /// How it was written, when that differs (a template expression).
    pub written: Option<String>,
    pub origin: ImageOrigin,
    /// Where the reference is: its file (for rendered images: the template
    /// named by `# Source:`) and its span there, when known.
    pub location: Location,
    /// YAML path (`controller.image`), flag name (`--x-image`) or manifest path.
    pub path: Option<String>,
    /// Root of the chart the reference belongs to, shared by the chart's
    /// images (issue 10: a dense file has one every few hundred bytes).
    pub chart_root: Arc<Path>,
    /// Extra words for messages (`Deployment/web container app`).
    pub context: Option<String>,
    /// For template images: the values keys the reference was built from (`logger.tag`).
    pub values_paths: Vec<String>,
}

impl FoundImage {
    /// A reference at `span` of `src`.
    pub fn new(
        reference: String,
        origin: ImageOrigin,
        src: &SourceFile,
        span: Span,
        path: Option<String>,
        chart_root: impl Into<Arc<Path>>,
    ) -> Self {
        FoundImage {
            reference,
            written: None,
            origin,
            location: Location::at(src, span),
            path,
            chart_root: chart_root.into(),
            context: None,
            values_paths: Vec::new(),
        }
    }

    /// The parsed reference, when it follows the grammar.
    pub fn image_ref(&self) -> Option<ImageRef> {
        ImageRef::parse(&self.reference).ok()
    }

    /// The file the reference is in.
    pub fn file(&self) -> &Path {
        &self.location.file
    }

    /// Whether the reference carries a valid digest.
    pub fn is_pinned(&self) -> bool {
        self.image_ref().is_some_and(|r| r.is_pinned())
    }

    /// A finding of `code` placed at this reference.
    pub fn finding(&self, code: crate::diag::Code, message: String) -> Finding {
        let message = match &self.context {
            Some(c) => format!("{message} ({c})"),
            None => message,
        };
        let mut f = Finding::new(code, message).located(self.location.clone());
        if !self.reference.is_empty() {
            f = f.with_image(&self.reference);
        }
        if let Some(p) = &self.path {
            f = f.with_path(p.clone());
        }
        f
    }
}

/// Rendered manifests to lint besides the charts.
#[derive(Clone, Debug)]
pub enum RenderedInput {
    /// A file of `helm template` output.
    File(PathBuf),
    /// Text already read (standard input), shown under `name`.
    Text {
        name: PathBuf,
        text: crate::source::SharedText,
    },
}

/// What to lint besides the charts' own files.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    /// `--rendered FILE|-`.
    pub rendered: Option<RenderedInput>,
    /// `--render`: run `helm template` on each chart.
    pub render: bool,
    /// The `helm` binary (`None` looks it up on `PATH`) and the values
    /// (`--values-file`, `--set`) it renders with.
    pub helm: crate::helm::RenderSpec,
    /// `--config FILE`: one configuration for every chart. Without it, each
    /// chart's own `.chartpin.yaml` (beside `Chart.yaml`) is read.
    pub config: Option<PathBuf>,
    /// Renders already made, by chart root: a chart listed here is linted
    /// from this text as `--render` would lint it, and helm is not run for
    /// it again (release renders once for its proof and its lint).
    /// Shared, not copied: release's proof reads the same text.
    pub prerendered: Vec<(PathBuf, crate::source::SharedText)>,
}

/// The result of a lint run: findings in file order, and every file read
/// (so renderers can show source lines of in-memory files).
#[derive(Debug, Default)]
pub struct LintOutcome {
    pub findings: Vec<Finding>,
    /// The files lint checked, which its findings point into.
    pub sources: Vec<SourceFile>,
    /// The configurations whose `ignore:` rules applied (not counted as
    /// checked): `unused-suppression` findings of rules point into them.
    pub config_sources: Vec<SourceFile>,
    /// Charts linted (subcharts not counted).
    pub charts: usize,
}

/// Everything found before the rules and suppressions run.
#[derive(Default)]
struct Collected {
    images: Vec<FoundImage>,
    /// Findings that are not about one reference's form (unresolvable, digest fields, skipped documents).
    findings: Vec<Finding>,
    /// Findings from values sites (with their chart root), already decided
    /// by the site's digest-field state.
    site_findings: Vec<(Arc<Path>, Finding)>,
    /// Files lint read from the charts (suppression comments live here).
    sources: Vec<SourceFile>,
    /// Rendered streams (their comments are copies of the templates').
    rendered_sources: Vec<SourceFile>,
    /// `ignore:` rules of the configurations that apply.
    rules: Vec<suppress::ScopedRule>,
    /// The texts of those configurations.
    config_sources: Vec<SourceFile>,
    /// Roots of the charts named (not subcharts).
    roots: Vec<PathBuf>,
    /// Roots of the charts `--render` rendered: their render is the truth ([`truth`]).
    rendered_roots: Vec<PathBuf>,
}

/// Find and lint every chart under `paths`.
pub fn lint(paths: &[PathBuf], opts: &LintOptions) -> Result<LintOutcome, LintError> {
    lint_charts(load(paths)?, opts)
}

/// Every chart under `paths` ([`chart::discover`]).
fn load(paths: &[PathBuf]) -> Result<Vec<Chart>, LintError> {
    let mut charts = Vec::new();
    for p in paths {
        charts.extend(chart::discover(p)?);
    }
    Ok(charts)
}

/// Lint charts already read, as they are in memory: release lints the
/// chart it is about to write this way, its planned files replaced
/// ([`Chart::replace_file`]) and nothing copied, except for `--render`,
/// where helm renders a staged copy of each chart directory ([`chart::stage`]).
pub fn lint_charts(charts: Vec<Chart>, opts: &LintOptions) -> Result<LintOutcome, LintError> {
    let (charts, collected) = collect(charts, opts)?;
    let from_render = (!collected.rendered_roots.is_empty()).then(|| {
        truth::findings(
            &collected.images,
            &collected.site_findings,
            &collected.findings,
            &collected.rendered_roots,
        )
    });
    // A values site lint could not name is settled when a template builds
    // its image from the site's keys (`{{ .registry }}/fluent-bit:{{ .tag }}`).
    // Sorted, so that the keys below a site are one run, found by binary
    // search (a scan per site was quadratic on a chart dense in both).
    let mut resolved_by_templates: Vec<(&Path, &str)> = collected
        .images
        .iter()
        .filter(|i| i.origin == ImageOrigin::Template)
        .flat_map(|i| i.values_paths.iter().map(|p| (&*i.chart_root, p.as_str())))
        .collect();
    resolved_by_templates.sort_unstable();
    let used_below = |root: &Path, site: &str| {
        let below = format!("{site}.");
        let first = resolved_by_templates.partition_point(|&e| e < (root, below.as_str()));
        resolved_by_templates
            .get(first)
            .is_some_and(|&(r, used)| r == root && used.starts_with(&below))
    };
    let mut findings: Vec<Finding> = collected
        .site_findings
        .into_iter()
        .filter(|(root, f)| {
            f.code != crate::diag::Code::UnresolvableImage
                || !f.path.as_ref().is_some_and(|p| used_below(root, p))
        })
        .map(|(_, f)| f)
        .collect();
    findings.extend(collected.findings);
    let mut rendered_candidates = Vec::new();
    // A template image built wholly from one values site's keys (cert-manager's
    // `{{ .repository }}:{{ default $.Chart.AppVersion .tag }}` inside `with
    // .Values.acmesolver.image`) is that site's image, reported there.
    // Such a site is a dotted prefix of the image's first key: only those
    // are looked up, in a sorted list (a scan of every site per template
    // image was quadratic).
    let mut value_sites: Vec<(&Path, &str)> = collected
        .images
        .iter()
        .filter(|i| i.origin == ImageOrigin::Values && i.image_ref().is_some())
        .filter_map(|i| Some((&*i.chart_root, i.path.as_deref()?)))
        .collect();
    value_sites.sort_unstable();
    let built_from_a_site = |img: &FoundImage| {
        let Some(first) = img.values_paths.first() else {
            return false;
        };
        first.match_indices('.').any(|(at, _)| {
            let below = &first[..=at];
            value_sites
                .binary_search(&(&*img.chart_root, &first[..at]))
                .is_ok()
                && img.values_paths.iter().all(|p| p.starts_with(below))
        })
    };
    for img in &collected.images {
        if img.origin == ImageOrigin::Values {
            continue;
        }
        if img.origin == ImageOrigin::Template && built_from_a_site(img) {
            continue;
        }
        if let Some(f) = rules::check(img) {
            if img.origin == ImageOrigin::Rendered || img.origin == ImageOrigin::Template {
                rendered_candidates.push((img.origin, canonical(&img.reference), f));
            } else {
                findings.push(f);
            }
        }
    }
    // A template or rendered image that a values site already describes is
    // reported once, at the values site: that is where a pin goes.
    let known = |below: ImageOrigin| -> std::collections::HashSet<String> {
        collected
            .images
            .iter()
            .filter(|i| i.origin < below && i.origin != ImageOrigin::ChartAnnotation)
            .map(|i| canonical(&i.reference))
            .collect()
    };
    let before_template = known(ImageOrigin::Template);
    let before_rendered = known(ImageOrigin::Rendered);
    for (origin, key, f) in rendered_candidates {
        let seen = match origin {
            ImageOrigin::Template => &before_template,
            _ => &before_rendered,
        };
        if !seen.contains(&key) {
            findings.push(f);
        }
    }
    if let Some(f) = from_render {
        findings = f;
    }
    let files: Vec<&SourceFile> = collected.sources.iter().collect();
    let mut findings = suppress::apply(findings, &files, &collected.rules, &collected.roots);
    // By file, then place in it (byte order is line-and-column order).
    let key = |f: &Finding| {
        let start = f
            .location
            .as_ref()
            .and_then(|l| l.position)
            .map(|p| p.start());
        (
            f.file().map(Path::to_path_buf),
            start,
            f.code,
            f.image.clone(),
        )
    };
    findings.sort_by_cached_key(key);
    findings.dedup_by(|a, b| key(a) == key(b));

    let mut sources = collected.sources;
    sources.extend(collected.rendered_sources);
    Ok(LintOutcome {
        findings,
        sources,
        config_sources: collected.config_sources,
        charts,
    })
}

impl LintOutcome {
    /// Every text the findings point into, borrowed: the files checked and
    /// the configurations.
    pub fn all_sources(&self) -> Sources<'_> {
        let mut sources = Sources::new();
        for s in self.sources.iter().chain(&self.config_sources) {
            sources.insert_ref(s);
        }
        sources
    }
}

/// Every image reference in the charts under `paths` (values sites,
/// templates, `Chart.yaml` annotations, and rendered manifests when `opts`
/// asks for them), pinned or not, in file order. `verify` checks the pinned
/// ones against their registries. Suppressions do not apply here.
pub fn discover_images(
    paths: &[PathBuf],
    opts: &LintOptions,
) -> Result<Vec<FoundImage>, LintError> {
    Ok(discover(paths, opts)?.images)
}

/// What [`discover`] found, with the files it read.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// As [`discover_images`] returns them, in file order.
    pub images: Vec<FoundImage>,
    /// Every file of the charts (packaged ones too), so a caller that wants
    /// the text around an image need not read the charts again.
    pub sources: Vec<SourceFile>,
}

/// [`discover_images`], also returning the charts' files.
pub fn discover(paths: &[PathBuf], opts: &LintOptions) -> Result<Discovered, LintError> {
    let (_, mut c) = collect(load(paths)?, opts)?;
    c.images.sort_by(|a, b| a.location.order(&b.location));
    Ok(Discovered {
        images: c.images,
        sources: c.sources,
    })
}

/// A dedup key: the normalised reference when it parses, else the text.
fn canonical(reference: &str) -> String {
    ImageRef::parse(reference)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| reference.to_string())
}

fn collect(charts: Vec<Chart>, opts: &LintOptions) -> Result<(usize, Collected), LintError> {
    let mut out = Collected::default();
    match &opts.config {
        Some(explicit) => {
            if let Some(cfg) = crate::config::Config::load(Path::new("."), Some(explicit))? {
                out.config_sources.extend(cfg.source);
                out.rules
                    .extend(cfg.ignore.into_iter().map(|rule| suppress::ScopedRule {
                        rule,
                        config: cfg.path.clone(),
                        chart_root: None,
                    }));
            }
        }
        None => {
            for c in &charts {
                if let Some(src) = c.file(crate::config::FILE_NAME) {
                    let cfg = crate::config::Config::parse(&src.path, &src.text)?;
                    out.config_sources.extend(cfg.source);
                    out.rules
                        .extend(cfg.ignore.into_iter().map(|rule| suppress::ScopedRule {
                            rule,
                            config: cfg.path.clone(),
                            chart_root: Some(c.root.clone()),
                        }));
                }
            }
        }
    }
    for c in &charts {
        out.roots.push(c.root.clone());
        scan_chart(c, None, &mut out)?;
    }
    let refs: Vec<&Chart> = charts.iter().collect();
    if let Some(input) = &opts.rendered {
        let src = match input {
            RenderedInput::File(p) => crate::diag::read_source(p)?,
            RenderedInput::Text { name, text } => SourceFile::new(name, text.clone()),
        };
        scan_rendered(&src, &refs, &mut out)?;
        out.rendered_sources.push(src);
    }
    let mut helm = None;
    for c in &charts {
        let text = match opts.prerendered.iter().find(|(root, _)| root == &c.root) {
            Some((_, text)) => text.clone(),
            None if opts.render => {
                let helm = match &helm {
                    Some(h) => h,
                    None => helm.insert(crate::helm::Helm::find(opts.helm.helm.as_deref())?),
                };
                match render_chart(helm, c, &opts.helm)? {
                    Some(text) => text.into(),
                    None => continue,
                }
            }
            None => continue,
        };
        let src = SourceFile::new(format!("helm template {}", c.root.display()), text);
        scan_rendered(&src, &refs, &mut out)?;
        out.rendered_sources.push(src);
        out.rendered_roots.push(c.root.clone());
    }
    // The charts' files move into the outcome (renderers show their lines).
    fn take_files(c: Chart, into: &mut Vec<SourceFile>) {
        into.extend(c.files.into_values());
        for s in c.subcharts {
            take_files(s, into);
        }
    }
    let count = charts.len();
    let mut files = Vec::new();
    for c in charts {
        take_files(c, &mut files);
    }
    files.append(&mut out.sources);
    out.sources = files;
    Ok((count, out))
}

/// `helm template` on `c` as it is in memory: a directory chart through a
/// staged copy (the chart as in memory, release's planned files, and never
/// a FIFO or a symlink out of the chart that helm would follow), a packaged
/// one as it is. `None` for a chart that is neither. helm's message names
/// the chart, not the staged copy.
pub fn render_chart(
    helm: &crate::helm::Helm,
    c: &Chart,
    spec: &crate::helm::RenderSpec,
) -> Result<Option<String>, LintError> {
    let staged = match &c.origin {
        ChartOrigin::Dir(_) => Some(chart::stage::stage(c)?),
        _ => None,
    };
    let target = match (&staged, &c.origin) {
        (Some(s), _) => s.chart_dir().to_path_buf(),
        (None, ChartOrigin::Archive(a)) => a.clone(),
        (None, _) => return Ok(None),
    };
    let text = helm
        .template(&c.name, &target, spec, &[])
        .map_err(|e| match &staged {
            Some(s) => e.shown_as(s.chart_dir(), &c.root),
            None => e,
        })?;
    Ok(Some(text))
}

fn scan_rendered(
    src: &SourceFile,
    charts: &[&Chart],
    out: &mut Collected,
) -> Result<(), LintError> {
    let scan = rendered::scan(src, charts)?;
    out.images.extend(scan.images);
    out.findings.extend(scan.findings);
    Ok(())
}

/// Overrides a parent hands a subchart: its values under the subchart's key, and `global`.
struct ParentValues<'a> {
    /// The parent's merged values.
    merged: &'a yaml::Node<'a>,
    /// The parent's own values file and its image-site paths, to tell which
    /// overrides the parent already reports.
    own_sites: &'a [String],
    key: String,
}

fn scan_chart(
    chart: &Chart,
    parent: Option<ParentValues<'_>>,
    out: &mut Collected,
) -> Result<(), LintError> {
    let chart_yaml = match chart.file("Chart.yaml") {
        Some(src) => yaml::parse_one(src)?,
        None => None,
    };
    // The chart's values, parsed once: for its image sites and for the
    // templates' lookups alike (duplicate keys refused, as values are).
    let values_src = chart.file("values.yaml");
    let values_yaml = match values_src {
        Some(src) => Some(crate::yaml::parse(src, crate::yaml::Options::default())?),
        None => None,
    };
    let (roots, anchors): (Vec<yaml::Node>, _) = match values_yaml {
        Some(y) => (
            y.documents.into_iter().filter_map(|d| d.root).collect(),
            y.anchors,
        ),
        None => (Vec::new(), Default::default()),
    };
    // Helm reads every document of a values file, later ones over earlier.
    let documents = yaml::real_roots(&roots).count();
    // Values as the templates see them: the chart's own, with the parent's
    // section for this subchart and the parent's `global` laid over.
    let mut overlay: Option<yaml::Node> = None;
    if let Some(p) = &parent {
        let mut over = p.merged.get(&p.key).cloned();
        if let Some(g) = p.merged.get("global") {
            let gmap = yaml::map_of("global", g.clone());
            over = Some(match over {
                Some(o) => yaml::merged_with(&gmap, &o),
                None => gmap,
            });
        }
        overlay = over;
    }
    let (site_paths, merged_over);
    let merged = match values_src {
        // Several documents, or the parent's section laid over: the sites
        // are judged with the merge of only what the smaller documents and
        // the section set, and the values are merged in place once the
        // sites are read (issue 10: a merged copy of the largest document
        // was held beside it).
        Some(src) if documents > 1 || overlay.is_some() => {
            let view = ValuesView::new(src, &roots, &anchors);
            let set = Overlays::of(&view, overlay.as_ref());
            let own = yaml::merged_under(&roots, |key| set.keeps(key));
            let judged_with = match (own, &overlay) {
                (Some(own), Some(over)) => Some(yaml::merged_into(own, over)),
                (None, Some(over)) => Some(over.clone()),
                (own, None) => own,
            };
            site_paths = values_sites(
                chart,
                view,
                judged_with.as_ref(),
                Some(&set),
                parent.as_ref(),
                out,
            )?;
            drop(judged_with);
            merged_over = match (yaml::merged_in_place(roots), &overlay) {
                (Some(own), Some(over)) => Some(yaml::merged_into(own, over)),
                (None, Some(over)) => Some(over.clone()),
                (own, None) => own,
            };
            merged_over.as_ref()
        }
        _ => {
            let own_values = yaml::real_roots(&roots).next();
            merged_over = overlay.as_ref().map(|o| match own_values {
                Some(m) => yaml::merged_with(m, o),
                None => o.clone(),
            });
            let merged = merged_over.as_ref().or(own_values);
            site_paths = match values_src {
                Some(src) => values_sites(
                    chart,
                    ValuesView::new(src, &roots, &anchors),
                    merged,
                    None,
                    parent.as_ref(),
                    out,
                )?,
                None => Vec::new(),
            };
            merged
        }
    };
    let ctx = templates::Context {
        values: merged,
        chart: chart_yaml.as_ref(),
        chart_name: &chart.name,
        used: Default::default(),
        indexes: Default::default(),
    };
    // An expression lint cannot finish whose every lookup lies under one
    // values site (grafana's `{{ $registry }}/{{ .Values.sidecar.image.repository }}:…`)
    // is that site's image: the site is judged, and a pin goes there.
    // Such a site is the first mention or a dotted prefix of it.
    let under_one_site = |mentions: &[String]| {
        let Some(first) = mentions.first() else {
            return false;
        };
        let prefixes = first
            .match_indices('.')
            .map(|(i, _)| &first[..i])
            .chain(std::iter::once(first.as_str()));
        prefixes.filter(|p| has_site(&site_paths, p)).any(|site| {
            let below = format!("{site}.");
            mentions.iter().all(|m| m == site || m.starts_with(&below))
        })
    };
    for (_, src) in chart.templates().filter(|(rel, _)| linted_template(rel)) {
        let scan = templates::scan(src, &ctx, &chart.root);
        out.images.extend(scan.images);
        let described: std::collections::HashSet<usize> = scan
            .mentions
            .iter()
            .filter(|(_, m)| under_one_site(m))
            .map(|(i, _)| *i)
            .collect();
        out.findings.extend(
            scan.findings
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !described.contains(i))
                .map(|(_, f)| f),
        );
    }
    if let (Some(cy), Some(src)) = (&chart_yaml, chart.file("Chart.yaml")) {
        annotation_images(cy, src, &chart.root, out);
    }
    if let Some(m) = merged {
        for sub in &chart.subcharts {
            // Helm leaves a subchart out when its `condition:` is false.
            if !condition_holds(sub.condition.as_deref(), m) {
                continue;
            }
            let key = sub.values_key().to_string();
            scan_chart(
                sub,
                Some(ParentValues {
                    merged: m,
                    own_sites: &site_paths,
                    key,
                }),
                out,
            )?;
        }
    } else {
        for sub in &chart.subcharts {
            scan_chart(sub, None, out)?;
        }
    }
    Ok(())
}

/// The templates static lint reads: every file helm renders (whatever its
/// extension: `pod.YAML`, `pod`, `pod.txt`), and the partials whose
/// `image:` lines it can read (`_helpers.tpl`).
fn linted_template(rel: &str) -> bool {
    chart::helm_renders(rel)
        || [".yaml", ".yml", ".tpl", ".json"]
            .iter()
            .any(|e| rel.ends_with(e))
}

/// Helm's `condition:` for a subchart, against the parent's values: the
/// first of its comma-separated paths that holds a boolean decides; when
/// none does, the subchart is enabled. (`tags:` are not evaluated.)
fn condition_holds(condition: Option<&str>, values: &yaml::Node) -> bool {
    let Some(condition) = condition else {
        return true;
    };
    for path in condition
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if let Some(yaml::Node::Scalar(s)) = values.lookup(path.split('.'))
            && s.style == crate::yaml::QuoteStyle::Plain
        {
            match &*s.value {
                "true" | "True" | "TRUE" => return true,
                "false" | "False" | "FALSE" => return false,
                _ => {}
            }
        }
    }
    true
}

/// Images listed in `Chart.yaml`'s images annotations (`artifacthub.io/images`,
/// `helm.sh/images`), at their exact spans ([`crate::chartmeta::read_annotation_images`]). Where
/// chartmeta cannot map the annotation back to the file, lint still reports
/// what it can ([`annotation_images_by_search`]) rather than failing.
fn annotation_images(chart_yaml: &yaml::Node, src: &SourceFile, root: &Path, out: &mut Collected) {
    let mapped = crate::values::ValuesFile::parse(&src.path, src.text.clone())
        .ok()
        .and_then(|f| crate::chartmeta::read_annotation_images(&f).ok());
    let Some(images) = mapped else {
        return annotation_images_by_search(chart_yaml, src, root, out);
    };
    for img in images.into_iter().flatten() {
        let written = &src.text[img.span.range()];
        if matches!(written, "" | "null" | "~" | "Null" | "NULL") {
            continue;
        }
        // Quoted images are placed at their first character, as before.
        let span = if written.len() >= 2 && (written.starts_with('"') || written.starts_with('\''))
        {
            Span::new(img.span.start + 1, img.span.end - 1)
        } else {
            img.span
        };
        out.images.push(FoundImage::new(
            img.image,
            ImageOrigin::ChartAnnotation,
            src,
            span,
            Some(format!(
                "annotations.\"{}\"[{}].image",
                img.annotation, img.index
            )),
            root,
        ));
    }
}

/// The fallback for annotations chartmeta refuses: each image's text
/// searched for in the annotation's region of the file, for every images
/// annotation ([`crate::chartmeta::IMAGE_ANNOTATIONS`]).
fn annotation_images_by_search(
    chart_yaml: &yaml::Node,
    src: &SourceFile,
    root: &Path,
    out: &mut Collected,
) {
    for key in crate::chartmeta::IMAGE_ANNOTATIONS {
        let Some(node) = chart_yaml.lookup(["annotations", key]) else {
            continue;
        };
        let Some(text) = node.as_str() else {
            continue;
        };
        let inner = SourceFile::new(&src.path, text.to_string());
        let Ok(Some(yaml::Node::Seq(list))) = yaml::parse_one(&inner) else {
            let at = node.span();
            out.findings.push(
                Finding::new(
                    crate::diag::Code::InvalidReference,
                    format!(
                        "the `{key}` annotation is not a YAML list of `{{name, image}}` entries"
                    ),
                )
                .at(src, Span::new(at.start, at.start))
                .with_path(format!("annotations.\"{key}\"")),
            );
            continue;
        };
        let region = node.span();
        let mut cursor = region.start;
        for (i, item) in list.items.iter().enumerate() {
            let Some(image) = item.get("image").and_then(yaml::Node::as_str) else {
                continue;
            };
            // The annotation is a string holding YAML: find each image's text in the outer file.
            let at = src.text[cursor..region.end.max(cursor)]
                .find(image)
                .map(|i| cursor + i)
                .unwrap_or(region.start);
            cursor = (at + image.len()).min(src.text.len());
            out.images.push(FoundImage::new(
                image.to_string(),
                ImageOrigin::ChartAnnotation,
                src,
                Span::new(at, at + image.len()),
                Some(format!("annotations.\"{key}\"[{i}].image")),
                root,
            ));
        }
    }
}

/// The places in a values file's values that something laid over it sets
/// (the parent's section for the chart, the file's other documents): a site
/// at, above or below one may read otherwise once merged, and any other
/// site reads as it is written ([`values_sites`]).
struct Overlays {
    /// Every node path of the overlay and of each document but the one
    /// with the most nodes, sorted.
    paths: Vec<String>,
    /// The parent's section is laid over: merged nodes may be at places
    /// in the parent's text.
    from_parent: bool,
}

impl Overlays {
    fn of(file: &ValuesView<'_>, overlay: Option<&yaml::Node<'_>>) -> Overlays {
        fn size(n: &yaml::Node<'_>) -> usize {
            match n {
                yaml::Node::Map(m) => 1 + m.entries.iter().map(|(_, v)| size(v)).sum::<usize>(),
                yaml::Node::Seq(s) => 1 + s.items.iter().map(size).sum::<usize>(),
                _ => 1,
            }
        }
        type Out = Vec<String>;
        fn collect(n: &yaml::Node<'_>, at: &mut crate::yaml::YamlPath, out: &mut Out) {
            let mut visit = |seg: crate::yaml::PathSeg, child: &yaml::Node<'_>, out: &mut Out| {
                at.0.push(seg);
                out.push(at.to_string());
                collect(child, at, out);
                at.0.pop();
            };
            match n {
                yaml::Node::Map(m) => {
                    for (k, v) in m.entries.iter() {
                        if let Some(k) = k.as_scalar() {
                            visit(crate::yaml::PathSeg::Key(k.text().to_string()), v, out);
                        }
                    }
                }
                yaml::Node::Seq(s) => {
                    for (i, v) in s.items.iter().enumerate() {
                        visit(crate::yaml::PathSeg::Index(i), v, out);
                    }
                }
                _ => {}
            }
        }
        let largest = (0..file.documents.len()).max_by_key(|&d| size(&file.documents[d]));
        let mut paths = Vec::new();
        let others = file
            .documents
            .iter()
            .enumerate()
            .filter(|(d, _)| Some(*d) != largest)
            .map(|(_, n)| n);
        for n in others.chain(overlay) {
            collect(n, &mut crate::yaml::YamlPath::default(), &mut paths);
        }
        paths.sort_unstable();
        paths.dedup();
        Overlays {
            paths,
            from_parent: overlay.is_some(),
        }
    }

    /// Whether the merge that sites are judged with keeps the top-level
    /// `key`: what is laid over may change a site under it, or every site
    /// is read with it (`global`).
    fn keeps(&self, key: &str) -> bool {
        let path = crate::yaml::YamlPath(vec![crate::yaml::PathSeg::Key(key.to_string())]);
        crate::values::read_by_every_site(key) || self.touch(&path.to_string())
    }

    /// Whether what is laid over may change the site at `path`: it sets
    /// `path`, a place below it, or one above it.
    fn touch(&self, path: &str) -> bool {
        let below = self.paths.partition_point(|p| p.as_str() < path);
        if self.paths.get(below).is_some_and(|p| p.starts_with(path)) {
            return true;
        }
        path.match_indices(['.', '['])
            .any(|(at, _)| has_site(&self.paths, &path[..at]))
    }
}

/// Whether `sorted` (the paths [`values_sites`] returns) holds `path`.
fn has_site(sorted: &[String], path: &str) -> bool {
    sorted.binary_search_by(|s| s.as_str().cmp(path)).is_ok()
}

/// Values image sites of `chart`, judged with the parent's overrides when
/// there are any. Returns the sites' YAML paths (for the subcharts' turn),
/// sorted, so that a path is looked up by binary search (a sorted list costs
/// no more than the paths, where a hash set would add to a dense file's peak).
fn values_sites(
    chart: &Chart,
    file: ValuesView<'_>,
    merged: Option<&yaml::Node<'_>>,
    overlays: Option<&Overlays>,
    parent: Option<&ParentValues<'_>>,
    out: &mut Collected,
) -> Result<Vec<String>, LintError> {
    let has_overlay = overlays.is_some();
    use crate::values::{self, ImageSite};
    let src = file.source;
    // A site that a later document of the file sets again is not what helm
    // renders. Only a file of several documents has one, and only then is
    // the file walked twice (a map of every site's path, on a file dense in
    // sites, is memory spent on nothing).
    let mut last_document: std::collections::HashMap<String, usize> = Default::default();
    if file.documents.len() > 1 {
        file.each_readable_site(|site| {
            let d = last_document.entry(site.path.to_string()).or_default();
            *d = (*d).max(site.document);
        })?;
    }
    // Each site is judged as helm sees it: with the other documents and the
    // parent's values laid over. Only a site those touch can read otherwise
    // than where it is written, so only such sites are kept from the merged
    // values (issue 10: all of them, for a dense file of two documents,
    // came to 17 times its size).
    let mut effective: std::collections::HashMap<String, ImageSite> = Default::default();
    let mut take = |site: ImageSite| {
        let path = site.path.to_string();
        if overlays.is_some_and(|o| o.touch(&path)) {
            effective.insert(path, site);
        }
    };
    match (overlays, merged) {
        // The parent's values are in the merged tree, at places in its
        // text: the merged values are read as a text of their own.
        (Some(o), Some(m)) if o.from_parent => {
            let json = serde_json::to_string_pretty(&yaml::to_json(m)).unwrap_or_default();
            values::readable_sites(&src.path, &json)
                .unwrap_or_default()
                .into_iter()
                .for_each(&mut take);
        }
        // The documents alone: every merged node is at its place in this
        // file, so the merged tree is walked where it is.
        (Some(_), Some(m)) => {
            ValuesView::new(src, std::slice::from_ref(m), file.anchors)
                .each_readable_site(&mut take)?;
        }
        _ => {}
    }
    // Each site is judged as the walk finds it and given back (issue 10: a
    // dense file's sites are never all held). The walk is in file order
    // nearly always; when it was not, what was kept is put in file order
    // after, as the sites themselves were.
    let mut paths = Vec::new();
    let mut starts = Vec::new();
    let first = out.images.len();
    let root: Arc<Path> = chart.root.as_path().into();
    // Every site is read with the values all sites read (`global…`) as
    // merged: another document or the parent's section may set them.
    let file = ValuesView {
        globals: merged.filter(|_| has_overlay),
        ..file
    };
    file.each_readable_site(|site| {
        let path = site.path.to_string();
        if last_document.get(&path).is_some_and(|&d| d > site.document) {
            return;
        }
        paths.push(path.clone());
        let mut note = None;
        if let Some(p) = parent {
            let full = format!("{}.{path}", p.key);
            if has_site(p.own_sites, &full) {
                // The parent overrides this whole site and reports it in its own file.
                return;
            }
            if p.merged
                .lookup(std::iter::once(p.key.as_str()).chain(path.split('.')))
                .is_some()
            {
                note = Some(format!("with the parent chart's values for `{full}`"));
            }
        }
        let judged = effective.get(&path).unwrap_or(&site);
        if judged.unused {
            // Not rendered with these values (ingress-nginx's chroot image while `chroot` is off).
            return;
        }
        let (found, finding) = judge_site(judged, &site, src, &root, note);
        starts.push((site.span.start, finding.is_some()));
        out.images.push(found);
        out.site_findings.extend(finding.map(|f| (root.clone(), f)));
    })?;
    if !starts.is_sorted_by_key(|(at, _)| *at) {
        file_order(&starts, first, out);
    }
    paths.sort_unstable();
    // Container images inside `|` strings of manifest text (grafana's `extraContainers: |`).
    for img in embedded::embedded_images(file) {
        let found = FoundImage::new(
            img.image,
            ImageOrigin::Values,
            src,
            img.span,
            Some(img.path.to_string()),
            root.clone(),
        );
        let finding = rules::check(&found);
        out.images.push(found);
        out.site_findings.extend(finding.map(|f| (root.clone(), f)));
    }
    Ok(paths)
}

/// Put the values sites [`values_sites`] kept (the images from `first`
/// on and their findings) in file order, as a stable sort by where each
/// starts. `starts` holds each kept image's start and whether it has a finding.
fn file_order(starts: &[(usize, bool)], first: usize, out: &mut Collected) {
    let findings = starts.iter().filter(|(_, f)| *f).count();
    let mut kept_findings = out
        .site_findings
        .split_off(out.site_findings.len() - findings)
        .into_iter();
    let mut kept: Vec<_> = starts
        .iter()
        .zip(out.images.split_off(first))
        .map(|(&(at, has), found)| (at, found, has.then(|| kept_findings.next()).flatten()))
        .collect();
    kept.sort_by_key(|(at, ..)| *at);
    for (_, found, finding) in kept {
        out.images.push(found);
        out.site_findings.extend(finding);
    }
}

/// The reference and the finding (if any) for a values site. `judged` holds
/// the effective values (parent overrides applied); `at` the spans in the file.
fn judge_site(
    judged: &crate::values::ImageSite,
    at: &crate::values::ImageSite,
    src: &SourceFile,
    root: &Arc<Path>,
    note: Option<String>,
) -> (FoundImage, Option<Finding>) {
    use crate::diag::Code;
    use crate::values::DigestState;
    let fields = &at.fields;
    let text_of =
        |f: &Option<Box<crate::values::Field>>| f.as_ref().map(|f| f.scalar.text().to_string());
    let reference = match &judged.reference {
        Ok(r) => r.as_str().to_string(),
        Err(_) => text_of(&fields.string)
            .or_else(|| text_of(&fields.repository))
            .filter(|t| !t.is_empty())
            .unwrap_or_default(),
    };
    let span_of = |f: &Option<Box<crate::values::Field>>| f.as_ref().map(|f| f.scalar.span());
    let digest_span = span_of(&fields.digest).or(span_of(&fields.sha));
    let tag_span = span_of(&fields.tag).or(span_of(&fields.string));
    let path = at.path.to_string();
    let mut found = FoundImage::new(
        reference.clone(),
        ImageOrigin::Values,
        src,
        at.span,
        Some(path.clone()),
        root.clone(),
    );
    found.context = note;
    let digest_path = fields
        .digest
        .as_ref()
        .or(fields.sha.as_ref())
        .map(|f| f.path.to_string())
        .unwrap_or_else(|| path.clone());
    let place = |found: &FoundImage, span: Option<Span>, code: Code, msg: String| -> Finding {
        let mut g = found.clone();
        if let Some(s) = span {
            g.location = Location::at(src, s);
        }
        g.finding(code, msg)
    };
    let finding = if judged.digest_ignored {
        let tag = text_of(&fields.tag).unwrap_or_default();
        Some(place(
            &found,
            digest_span,
            Code::DigestFieldIgnored,
            format!(
                "`{digest_path}` is set but the chart renders the tag `{tag}` instead (a non-empty tag wins); set the tag to \"\" so the digest is used"
            ),
        ))
    } else {
        match (&judged.reference, &judged.digest_state) {
            (_, DigestState::Invalid(t)) => Some(place(
                &found,
                digest_span.or(tag_span),
                Code::InvalidDigest,
                format!(
                    "`{t}` at `{digest_path}` is not a digest (sha256 needs 64 lowercase hex characters)"
                ),
            )),
            (Ok(r), _) if r.is_pinned() => None,
            // A digest with no name (`@sha256:…`) is pinned to nothing a runtime can pull.
            (Err(why @ crate::values::SiteError::InvalidReference { .. }), _) => Some(place(
                &found,
                tag_span,
                Code::InvalidReference,
                why.to_string(),
            )),
            (Err(_), DigestState::Filled(_)) => None,
            (_, DigestState::Empty) => Some(place(
                &found,
                digest_span,
                Code::EmptyDigest,
                if reference.is_empty() {
                    format!(
                        "`{digest_path}` is empty, so the image the chart defaults to renders by its mutable tag"
                    )
                } else {
                    format!("`{digest_path}` is empty, so `{reference}` renders by its mutable tag")
                },
            )),
            (Ok(r), _) if r.tag().is_none() && judged.kind == crate::values::SiteKind::Block => {
                Some(place(
                    &found,
                    tag_span.or(Some(at.span)),
                    Code::ImplicitLatest,
                    format!(
                        "`{reference}` has neither tag nor digest in values; the chart's template may fill a tag in (often its appVersion), but either way the image is not pinned"
                    ),
                ))
            }
            (Ok(_), _) => rules::check(&found).map(|f| {
                let mut g = found.clone();
                if let Some(s) = tag_span {
                    g.location = Location::at(src, s);
                }
                let mut f2 = g.finding(f.code, String::new());
                f2.message = f.message;
                f2
            }),
            (Err(why), _) => Some(place(
                &found,
                None,
                Code::UnresolvableImage,
                why.to_string(),
            )),
        }
    };
    (found, finding)
}
