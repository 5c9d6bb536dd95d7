//! Values files: finding every place an image reference lives in a chart's
//! `values.yaml` ([`ImageSite`]), over the span tree of [`crate::yaml`], so
//! a pin can write changes back as byte splices of single scalars.
//!
//! The chart conventions themselves (field names, globals, per-chart quirks)
//! are data in `values/conventions.rs`; this module walks the tree and applies them.
//!
//! Reading rejects what would make an edit unsafe or ambiguous, as an
//! [`InputError`] naming file, line and column: malformed YAML, tab
//! indentation, duplicate keys ([`crate::yaml::parse`]). Finding sites for an
//! edit ([`ValuesFile::image_sites`], pin and release) also rejects anchors or
//! aliases at an image site (an edit there would change other values too) and
//! block scalars at one; finding them for reading
//! ([`ValuesFile::readable_sites`], lint, verify, resolve) reads such a site
//! as Helm renders it and marks it [`ImageSite::uneditable`] instead.

mod conventions;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use conventions::{
    BLOCK_KEYS, CILIUM_OVERRIDE, CILIUM_USE_DIGEST, DETAIL_FIELDS, DIGEST_KEYS, DigestForm,
    FIELD_DIGEST, FIELD_MERGE, FIELDS, GLOBALS, GlobalRole, IMAGE_KEY_ALLOW, IMAGE_KEY_DENY,
    INGRESS_CHROOT_FLAG, INGRESS_CHROOT_SUFFIX, INGRESS_DIGEST_CHROOT, NAME_KEYED_KEYS, NOT_IMAGES,
    OSM_NAME_MAP, SIBLING_DIGEST_SUFFIX, SIBLING_TAG_SUFFIX,
};

use crate::diag::InputError;
use crate::reference::{Digest, ImageRef, RefError};
use crate::source::{SourceFile, Span};
use crate::yaml::{AliasBudget, Anchors, Text};
pub use crate::yaml::{
    Edit, EditError, Map, Node, PathSeg, QuoteStyle, Scalar, Seq, YamlPath, apply_edits,
    render_scalar, set_scalar,
};

/// The trees of a values file, borrowing their scalars from its text.
#[derive(Debug, Default)]
struct Trees<'a> {
    documents: Vec<Node<'a>>,
    /// What each alias stands for, for reading sites through aliases.
    anchors: Anchors<'a>,
}

self_cell::self_cell!(
    /// A source and the trees that borrow from it, held together so the
    /// text is kept once (issue 10: nothing held twice).
    struct Parsed {
        owner: SourceFile,
        #[covariant]
        dependent: Trees,
    }
    impl {Debug}
);

/// A parsed values file: its source and one tree per YAML document.
#[derive(Debug)]
pub struct ValuesFile {
    parsed: Parsed,
}

/// A copy is parsed again from the text: the trees borrow from their own
/// source, so they cannot be copied apart from it. Nothing on a hot path
/// clones a values file (pin takes them by reference).
impl Clone for ValuesFile {
    fn clone(&self) -> Self {
        ValuesFile::from_source(self.source().clone()).expect("a text that parsed parses again")
    }
}

/// Put `items` (sites, or what a reader kept of them) in file order by
/// where each starts. The walk goes in file order, so they nearly always
/// are; a stable sort would borrow a scratch buffer of up to half of them
/// (a site is about a kilobyte), so sort only when they are not.
pub fn in_file_order<T>(items: &mut [T], start: impl Fn(&T) -> usize) {
    if !items.is_sorted_by_key(&start) {
        items.sort_by_key(start);
    }
}

impl ValuesFile {
    /// Parse `text` (read from `path`), rejecting malformed YAML, tab
    /// indentation and duplicate keys with the position of the problem.
    pub fn parse(
        path: impl AsRef<Path>,
        text: impl Into<crate::source::SharedText>,
    ) -> Result<ValuesFile, InputError> {
        ValuesFile::from_source(SourceFile::new(path.as_ref(), text))
    }

    /// [`ValuesFile::parse`] of a source already read.
    pub fn from_source(source: SourceFile) -> Result<ValuesFile, InputError> {
        let parsed = Parsed::try_new(source, |source| {
            let yaml = crate::yaml::parse(source, crate::yaml::Options::default())?;
            Ok::<_, InputError>(Trees {
                anchors: yaml.anchors,
                documents: yaml.documents.into_iter().filter_map(|d| d.root).collect(),
            })
        })?;
        Ok(ValuesFile { parsed })
    }

    /// The file's path and text.
    pub fn source(&self) -> &SourceFile {
        self.parsed.borrow_owner()
    }

    /// The text as read, without the tree (positions taken in it stay valid).
    pub fn into_source(self) -> SourceFile {
        self.parsed.into_owner()
    }

    /// Give the trees back and keep the source: for a file whose sites have
    /// been read and of which only the text and positions are still needed
    /// (pin's report). Afterwards the file reads as having no document, so
    /// it has no node and no site (issue 10: a file dense in image sites
    /// must not hold its tree beside the plan made from it).
    pub fn forget_trees(&mut self) {
        let empty = || Parsed::new(SourceFile::new("", String::new()), |_| Trees::default());
        let source = std::mem::replace(&mut self.parsed, empty()).into_owner();
        self.parsed = Parsed::new(source, |_| Trees::default());
    }

    /// One tree per YAML document, in order.
    pub fn documents(&self) -> &[Node<'_>] {
        &self.parsed.borrow_dependent().documents
    }

    /// The file as a [`ValuesView`], which every reading goes through.
    pub fn view(&self) -> ValuesView<'_> {
        let trees = self.parsed.borrow_dependent();
        ValuesView {
            source: self.source(),
            documents: &trees.documents,
            anchors: &trees.anchors,
            globals: None,
        }
    }

    /// The file's text, byte for byte as read.
    pub fn text(&self) -> &str {
        &self.source().text
    }

    /// The node at `path` in the first document that has it.
    pub fn node_at(&self, path: &YamlPath) -> Option<&Node<'_>> {
        self.documents()
            .iter()
            .find_map(|d| crate::yaml::node_at(d, &path.0))
    }

    /// Every image site, in file order, for editing (what `pin` and
    /// `release` call). Fails on an anchor, alias or block scalar at a site,
    /// where an edit could not be made safely.
    pub fn image_sites(&self) -> Result<Vec<ImageSite>, InputError> {
        self.view().scan(true)
    }

    /// [`ValuesFile::image_sites`], each site given to `each` as the walk
    /// finds it ([`ValuesView::each_readable_site`] says why, and about order).
    pub fn each_image_site(&self, mut each: impl FnMut(ImageSite)) -> Result<(), InputError> {
        self.view().walk(true, &mut each)
    }

    /// Every image site, in file order, for reading ([`ValuesView::readable_sites`]).
    pub fn readable_sites(&self) -> Result<Vec<ImageSite>, InputError> {
        self.view().readable_sites()
    }
}

/// A values file read in place: a source and the trees parsed from it,
/// borrowed from whoever holds them (a [`ValuesFile`], or lint's chart,
/// which parses each file once for sites and template lookups alike).
#[derive(Clone, Copy, Debug)]
pub struct ValuesView<'a> {
    pub source: &'a SourceFile,
    /// One tree per YAML document, in order.
    pub documents: &'a [Node<'a>],
    pub anchors: &'a Anchors<'a>,
    /// Where the values every site is read with (`global.imageRegistry`,
    /// …) are read, when not from each document's root: the merged values,
    /// where other documents or a parent's section are laid over.
    pub globals: Option<&'a Node<'a>>,
}

impl<'a> ValuesView<'a> {
    /// A view of `yaml`, parsed from `source` with duplicate keys rejected.
    pub fn new(
        source: &'a SourceFile,
        documents: &'a [Node<'a>],
        anchors: &'a Anchors<'a>,
    ) -> Self {
        ValuesView {
            source,
            documents,
            anchors,
            globals: None,
        }
    }

    /// The file's text, byte for byte as read.
    pub fn text(&self) -> &'a str {
        &self.source.text
    }

    /// Every image site, in file order, for reading (what `lint`, `verify`
    /// and `resolve` call): a site behind an anchor, alias or block scalar is
    /// read as the chart renders it (an alias as its anchored value, a block
    /// scalar as its trimmed content) and carries in
    /// [`ImageSite::uneditable`] the error `pin` would give for it.
    pub fn readable_sites(&self) -> Result<Vec<ImageSite>, InputError> {
        self.scan(false)
    }

    /// [`ValuesView::readable_sites`], each site given to `each` as the walk
    /// finds it instead of gathered: a reader that makes its findings site by
    /// site never holds every site at once (issue 10: a site is most of a
    /// kilobyte, and a dense file has one every few hundred bytes). The walk
    /// goes in file order nearly always, not always: a reader that needs
    /// file order sorts by [`ImageSite::span`] what it keeps.
    pub fn each_readable_site(&self, mut each: impl FnMut(ImageSite)) -> Result<(), InputError> {
        self.walk(false, &mut each)
    }

    fn scan(&self, strict: bool) -> Result<Vec<ImageSite>, InputError> {
        let mut out = Vec::new();
        self.walk(strict, &mut |site| out.push(site))?;
        in_file_order(&mut out, |s| s.span.start);
        // A site is about a kilobyte: a file of many gives back the vector's slack.
        out.shrink_to_fit();
        Ok(out)
    }

    /// Walk every document, giving each site to `out` in walk order.
    fn walk(&self, strict: bool, out: &mut dyn FnMut(ImageSite)) -> Result<(), InputError> {
        let mut budget = AliasBudget::default();
        for (doc, root) in self.documents.iter().enumerate() {
            let globals = Globals::read(self.globals.unwrap_or(root));
            let mut w = Walker {
                source: self.source,
                globals: &globals,
                document: doc,
                out: &mut *out,
                strict,
                anchors: self.anchors,
                pending: None,
                alias_at: None,
                inherited: None,
                budget: &mut budget,
                string_sites: HashSet::new(),
            };
            w.walk(root, &mut YamlPath::default(), false)?;
        }
        Ok(())
    }
}

/// The image sites of a values text, for editing ([`ValuesFile::image_sites`]).
pub fn image_sites(path: &Path, text: &str) -> Result<Vec<ImageSite>, InputError> {
    ValuesFile::parse(path, text)?.image_sites()
}

/// The image sites of a values text, for reading ([`ValuesFile::readable_sites`]).
pub fn readable_sites(path: &Path, text: &str) -> Result<Vec<ImageSite>, InputError> {
    ValuesFile::parse(path, text)?.readable_sites()
}

// ---------------------------------------------------------------------------
// Image sites.

/// Which convention an image site follows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// A mapping of `registry`/`repository`/`image`/`name` + `tag`/`digest`/`sha`
    /// fields (Bitnami, ingress-nginx, cert-manager, kube-prometheus-stack, traefik…).
    Block,
    /// One string holding the whole reference (`image: prom/prometheus:v2.34.0`).
    String,
    /// Sibling keys `<key>` + `<key>Tag` in one mapping (`image` + `imageTag`).
    Sibling,
    /// One entry of a name-keyed digest map (OSM ≥ 1.2: `image.name.<key>` +
    /// `image.digest.<key>`, shared `registry` and `tag`; the tag wins when non-empty).
    NameKeyed {
        /// The key shared by the name and digest maps (`osmController`).
        key: String,
    },
    /// One entry of a digest map without a name map (OSM 0.11–1.0): the image
    /// name is in the chart's templates, so the reference cannot be composed.
    DigestKeyed {
        /// The digest map key (`osmController`).
        key: String,
        /// The image name guessed from the key (`osm-controller`), for matching.
        name_hint: String,
    },
}

/// A field of an image site: its YAML path (whose last key is the field's
/// key) and scalar (span and quoting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub path: YamlPath,
    pub scalar: Scalar<'static>,
    /// Byte offset where the field's key starts (for inserting siblings).
    pub key_offset: usize,
}

impl Field {
    /// The field's key (`repository`, `tag`), the last key of its path;
    /// empty for a string in a list.
    pub fn key(&self) -> &str {
        self.path.last_key().unwrap_or("")
    }
}

/// The fields an image site is made of; which are present depends on the kind.
/// Each is boxed: a site has one to three of the seven, and a file dense in
/// image sites must not hold room for all seven in each (issue 10: peak
/// memory within 4× the input).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteFields {
    pub registry: Option<Box<Field>>,
    /// `repository`, `image` or `name`: whichever holds the image name.
    pub repository: Option<Box<Field>>,
    pub tag: Option<Box<Field>>,
    pub digest: Option<Box<Field>>,
    pub sha: Option<Box<Field>>,
    /// cilium's `useDigest`: the digest renders only when it is `true`.
    pub use_digest: Option<Box<Field>>,
    /// The whole reference, for [`SiteKind::String`].
    pub string: Option<Box<Field>>,
}

/// What a site's digest (or `sha`) field holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestState {
    /// No digest or sha field (a string site without `@digest` is also Absent).
    Absent,
    /// The field is there but empty or null.
    Empty,
    /// A valid digest.
    Filled(Digest),
    /// Something that is not a digest (uppercase hex, wrong length, …): the text.
    Invalid(String),
}

/// Why a site's reference cannot be composed from values alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteError {
    /// A block names no repository: the chart's templates supply a default.
    NoRepository,
    /// The parts compose to text that is not an image reference.
    InvalidReference { written: String, error: RefError },
    /// An entry of OSM's name map is empty (`image.name.osmController`).
    EmptyName { field: String },
    /// An OSM digest key without a name map: the name is in the templates.
    NameInTemplates { key: String },
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::NoRepository => {
                f.write_str("no repository is set; the chart supplies its own default")
            }
            SiteError::InvalidReference { written, error } => {
                write!(f, "`{written}` is not a valid reference: {error}")
            }
            SiteError::EmptyName { field } => write!(f, "`{field}` is empty"),
            SiteError::NameInTemplates { key } => write!(
                f,
                "the image name for digest key `{key}` is written in the chart's templates, not its values"
            ),
        }
    }
}

impl std::error::Error for SiteError {}

/// The one way a site's reference is composed from its parts: the name
/// parts joined by `/`, `:tag` when the tag is non-empty, and `@digest`
/// replacing any digest the name or tag already carries (a traefik tag of
/// `<version>@<digest>`: the digest field wins).
fn compose(name_parts: &[&str], tag: &str, digest: Option<&str>) -> Result<ImageRef, SiteError> {
    let mut written = name_parts.join("/");
    if !tag.is_empty() {
        written.push(':');
        written.push_str(tag);
    }
    if let Some(d) = digest {
        if let Some(at) = written.find('@') {
            written.truncate(at);
        }
        written.push('@');
        written.push_str(d);
    }
    parse_reference(written)
}

/// `written` as a reference, or why it is not one.
fn parse_reference(written: String) -> Result<ImageRef, SiteError> {
    ImageRef::parse(&written).map_err(|error| SiteError::InvalidReference { written, error })
}

/// Where an image lives in a values file, and what the chart makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSite {
    /// Path of the block mapping or the string (`controller.image`, `osm.image.digest.osmController`).
    pub path: YamlPath,
    /// Index of the YAML document in the file.
    pub document: usize,
    pub kind: SiteKind,
    /// The reference as the chart renders it (registry overrides applied), or
    /// why it cannot be composed from values alone.
    pub reference: Result<ImageRef, SiteError>,
    pub fields: SiteFields,
    /// The state of the digest/sha field (for string sites, of the `@digest` part).
    pub digest_state: DigestState,
    /// A digest is set but the chart will not render it (OSM: a non-empty tag wins).
    pub digest_ignored: bool,
    /// The chart does not render this image with these values (ingress-nginx's
    /// plain image while `chroot: true`, its chroot image otherwise): pin still
    /// fills it when the manifest has it, lint does not judge it.
    pub unused: bool,
    /// Where to point messages: the string, or the block's key; for a site
    /// read through an alias, the alias.
    pub span: Span,
    /// Why `pin` cannot edit this site (an anchor, alias or block scalar at
    /// it), as the error `pin` gives; set only by [`ValuesFile::readable_sites`].
    /// Boxed: nearly every site has none.
    pub uneditable: Option<Box<InputError>>,
}

impl ImageSite {
    /// Whether the chart renders this image with a digest.
    pub fn is_pinned(&self) -> bool {
        if self.digest_ignored {
            return false;
        }
        match &self.reference {
            Ok(r) => r.is_pinned(),
            Err(_) => matches!(self.digest_state, DigestState::Filled(_)),
        }
    }

    /// The last path component of the image name (`nginx`, `osm-controller`),
    /// by which short manifest names match.
    pub fn short_name(&self) -> Option<String> {
        if let SiteKind::DigestKeyed { name_hint, .. } = &self.kind {
            return Some(name_hint.clone());
        }
        if let Ok(r) = &self.reference {
            return r.written_path().rsplit('/').next().map(str::to_string);
        }
        let repo = self.fields.repository.as_ref()?.scalar.text();
        let name = repo.split(['@', ':']).next()?.rsplit('/').next()?;
        (!name.is_empty()).then(|| name.to_string())
    }
}

/// Chart-wide registry overrides read from the document root.
#[derive(Default)]
struct Globals {
    /// `global.imageRegistry` (Bitnami): overrides every block's registry when non-empty.
    override_registry: Option<String>,
    /// `global.image.registry` (ingress-nginx), top-level `imageRegistry`
    /// (cert-manager ≥ 1.20), `global.hub` (istio): used when a block has none.
    default_registry: Option<String>,
    /// Top-level `imageNamespace` (cert-manager ≥ 1.20): prefixed to `name`.
    namespace: Option<String>,
}

impl Globals {
    fn read(root: &Node) -> Globals {
        let mut g = Globals::default();
        for (path, role) in GLOBALS {
            let p: Vec<PathSeg> = path.iter().map(|k| PathSeg::Key(k.to_string())).collect();
            let Some(text) = crate::yaml::node_at(root, &p)
                .and_then(Node::as_scalar)
                .map(|s| s.text().to_string())
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            let slot = match role {
                GlobalRole::OverrideRegistry => &mut g.override_registry,
                GlobalRole::DefaultRegistry => &mut g.default_registry,
                GlobalRole::Namespace => &mut g.namespace,
            };
            slot.get_or_insert(text);
        }
        g
    }
}

/// Whether a top-level key holds values every site is read with (Bitnami's
/// `global.imageRegistry`, cert-manager's `imageRegistry`, …): setting it
/// can change how any site of the file reads.
pub fn read_by_every_site(top_key: &str) -> bool {
    GLOBALS
        .iter()
        .any(|(path, _)| path.first() == Some(&top_key))
}

/// Whether a key names a single-string image (`image`, `curlImage`, `sidecarImage`).
fn image_key(k: &str) -> bool {
    if !contains_ignore_case(k, "image") {
        return false;
    }
    let l = k.to_ascii_lowercase();
    !IMAGE_KEY_DENY.iter().any(|x| l.contains(x)) || IMAGE_KEY_ALLOW.contains(&l.as_str())
}

/// Whether `hay` contains the lowercase ASCII `needle`, ignoring ASCII case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a string looks enough like a reference to report it when it does not parse.
fn looks_like_reference(v: &str) -> bool {
    !v.is_empty()
        && !v.contains(char::is_whitespace)
        && !v.contains("{{")
        // A path (trivy's `imageScanCacheDir: /tmp/trivy/.cache`) or a URL is no image.
        && !v.starts_with(['/', '.', '~'])
        && !v.contains("://")
        && (v.contains('/') || v.contains(':') || v.contains('@'))
}

/// One pass over a mapping's keys: the value of each of [`FIELDS`] (its
/// first occurrence, as [`Map::get`] finds it) and whether any key ends in
/// `Tag`. Most mappings hold none of them, and this answers that at once.
struct KeyScan<'a> {
    values: [Option<&'a Node<'a>>; FIELDS.len()],
    any_tag: bool,
}

impl<'a> KeyScan<'a> {
    fn of(m: &'a Map) -> KeyScan<'a> {
        let mut scan = KeyScan {
            values: [None; FIELDS.len()],
            any_tag: false,
        };
        for (k, v) in &m.entries {
            let Node::Scalar(k) = k else { continue };
            scan.any_tag |= k.value.ends_with(SIBLING_TAG_SUFFIX);
            if let Some(i) = FIELDS.iter().position(|f| *f == k.value)
                && scan.values[i].is_none()
            {
                scan.values[i] = Some(v);
            }
        }
        scan
    }

    /// The value under `FIELDS[i]`.
    fn value(&self, i: usize) -> Option<&'a Node<'a>> {
        self.values[i]
    }
}

/// Where a refused anchor, alias or block scalar sits.
#[derive(Clone, Copy)]
enum At {
    Site,
    Field,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            At::Site => "image site",
            At::Field => "image field",
        })
    }
}

/// Why pin cannot edit a site: the refusals, each message written once.
enum Refusal<'p> {
    /// An alias where the image is: editing it would edit the anchored value.
    Alias(At, &'p YamlPath),
    /// An alias of a node that holds an image site.
    AliasHoldingSite(&'p YamlPath),
    /// An anchor on the image's scalar: its aliases would change too.
    Anchor(At, &'p YamlPath),
    /// The site lies inside an anchored mapping or sequence.
    InsideAnchored(&'p YamlPath),
    /// A `|` or `>` block scalar: re-rendering it would change its layout.
    BlockScalar(At, &'p YamlPath),
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALIAS: &str = "pin cannot edit it without changing the anchored value too";
        const ANCHOR: &str = "an edit would change its aliases too";
        match self {
            Refusal::Alias(at, p) => write!(f, "an alias at {at} `{p}`: {ALIAS}"),
            Refusal::AliasHoldingSite(p) => {
                write!(f, "an alias at `{p}` holds an image site: {ALIAS}")
            }
            Refusal::Anchor(at, p) => write!(f, "an anchor at {at} `{p}`: {ANCHOR}"),
            Refusal::InsideAnchored(p) => {
                write!(f, "image site `{p}` is inside an anchored node: {ANCHOR}")
            }
            Refusal::BlockScalar(at, p) => write!(
                f,
                "a block scalar (`|` or `>`) at {at} `{p}`: write it as a plain or quoted string"
            ),
        }
    }
}

struct Walker<'a> {
    source: &'a SourceFile,
    globals: &'a Globals,
    document: usize,
    /// Where each site found goes.
    out: &'a mut dyn FnMut(ImageSite),
    /// Refuse uneditable sites (for pin) instead of reading them.
    strict: bool,
    anchors: &'a Anchors<'a>,
    /// The first reason the site being built cannot be edited.
    pending: Option<InputError>,
    /// The alias being read through: sites under it are reported there.
    alias_at: Option<Span>,
    /// Why no site under the alias being read through can be edited.
    inherited: Option<InputError>,
    budget: &'a mut AliasBudget,
    /// Where the string sites found so far start: an alias of one is an
    /// image wherever it is written.
    string_sites: HashSet<usize>,
}

impl<'a> Walker<'a> {
    /// An anchor, alias or block scalar at a site: an error when scanning
    /// for edits, the site's `uneditable` reason when scanning for reading.
    fn refuse(&mut self, offset: usize, message: String) -> Result<(), InputError> {
        let err = InputError::at(self.source, offset, message);
        if self.strict {
            return Err(err);
        }
        self.pending.get_or_insert(err);
        Ok(())
    }

    /// The node an alias stands for, when reading (never when editing) and
    /// while the expansion budget lasts.
    fn follow(&mut self, alias: Span) -> Option<&'a Node<'a>> {
        if self.strict {
            return None;
        }
        self.budget.follow(self.anchors, alias)
    }

    /// Record `site`, with `refusal` as its reason not to edit; under an
    /// alias, every span of it points at the alias.
    fn push(&mut self, mut site: ImageSite, refusal: Option<InputError>) {
        if let Some(at) = self.alias_at {
            site.span = at;
            let f = &mut site.fields;
            for field in [
                &mut f.registry,
                &mut f.repository,
                &mut f.tag,
                &mut f.digest,
                &mut f.sha,
                &mut f.use_digest,
                &mut f.string,
            ]
            .into_iter()
            .flatten()
            {
                field.scalar.set_span(at);
                field.key_offset = at.start;
            }
        }
        site.uneditable = self.inherited.clone().or(refusal).map(Box::new);
        (self.out)(site);
    }

    /// Read the node the alias at `path` stands for as if it were written
    /// there (reading only; editing never follows an alias). `message` says
    /// why a site found through it cannot be edited.
    fn walk_alias(
        &mut self,
        alias: Span,
        path: &mut YamlPath,
        image_keyed: bool,
        message: String,
    ) -> Result<(), InputError> {
        let Some(target) = self.follow(alias) else {
            return Ok(());
        };
        let outer = (self.alias_at, self.inherited.clone());
        self.alias_at = Some(self.alias_at.unwrap_or(alias));
        self.inherited
            .get_or_insert_with(|| InputError::at(self.source, alias.start, message));
        let saved = self.pending.take();
        let r = match target {
            Node::Scalar(sc) => {
                let keyed = image_keyed || self.string_sites.contains(&sc.span().start);
                self.string_site(sc, path, keyed, true)
            }
            other => self.walk(other, path, true),
        };
        self.pending = saved;
        (self.alias_at, self.inherited) = outer;
        r
    }
    /// Visit `node` at `path`. The path is one buffer for the whole walk:
    /// each level pushes its segment, rewrites it per child and pops it, so
    /// no path is cloned unless a site keeps it.
    fn walk(
        &mut self,
        node: &Node,
        path: &mut YamlPath,
        anchored_above: bool,
    ) -> Result<(), InputError> {
        match node {
            Node::Map(m) => self.walk_map(m, path, anchored_above || m.anchored()),
            Node::Seq(s) => {
                let image_list = path.last_key().is_some_and(image_key);
                path.0.push(PathSeg::Index(0));
                for (i, item) in s.items.iter().enumerate() {
                    if let Some(last) = path.0.last_mut() {
                        *last = PathSeg::Index(i);
                    }
                    self.pending = None;
                    match item {
                        Node::Scalar(sc) => {
                            self.string_site(sc, path, image_list, anchored_above || s.anchored())?
                        }
                        Node::Alias(at) => {
                            let m = Refusal::Alias(At::Site, path).to_string();
                            self.walk_alias(at.span(), path, image_list, m)?
                        }
                        _ => self.walk(item, path, anchored_above || s.anchored())?,
                    }
                }
                path.0.pop();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn walk_map(&mut self, m: &Map, path: &mut YamlPath, anchored: bool) -> Result<(), InputError> {
        let key_name = path.last_key().unwrap_or("");
        let keys = KeyScan::of(m);
        let mut used: Vec<&str> = Vec::new();
        self.pending = None;
        if let Some(Node::Map(digests)) = keys.value(FIELD_DIGEST) {
            self.name_keyed(m, digests, path, anchored)?;
            used.extend(NAME_KEYED_KEYS);
        } else if let Some(fields) = self.block_fields(m, &keys, key_name, path)? {
            used.extend(BLOCK_KEYS);
            if fields
                .repository
                .as_ref()
                .is_some_and(|f| f.key() == "name")
            {
                used.push("name");
            }
            self.block_site(m, fields, path, anchored)?;
        }
        // Sibling pairs: `<key>` + `<key>Tag`. Looked up through a set of the
        // `…Tag` keys so a mapping with thousands of keys stays linear.
        let tag_keys: HashSet<&str> = m
            .entries
            .iter()
            .take(if keys.any_tag { usize::MAX } else { 0 })
            .filter_map(|(k, _)| k.as_scalar())
            .map(|k| &*k.value)
            .filter(|k| k.ends_with(SIBLING_TAG_SUFFIX))
            .collect();
        for (k, v) in &m.entries {
            let (Some(k), Some(v)) = (k.as_scalar(), v.as_scalar()) else {
                continue;
            };
            let tag_key = format!("{}{SIBLING_TAG_SUFFIX}", k.value);
            if tag_keys.is_empty() || !tag_keys.contains(tag_key.as_str()) {
                continue;
            }
            if let Some(Node::Scalar(t)) = m.get(&tag_key)
                && !used.contains(&&*k.value)
                && !k.value.is_empty()
            {
                self.pending = None;
                self.sibling_site(m, k, v, &tag_key, t, path, anchored)?;
                used.push(&*k.value);
            }
        }
        path.0.push(PathSeg::Key(String::new()));
        for (k, v) in &m.entries {
            let Some(ks) = k.as_scalar() else { continue };
            if used.contains(&&*ks.value)
                || used
                    .iter()
                    .any(|u| ks.value.strip_suffix(SIBLING_TAG_SUFFIX) == Some(*u))
            {
                continue;
            }
            if let Some(PathSeg::Key(last)) = path.0.last_mut() {
                last.clear();
                last.push_str(&ks.value);
            }
            let p = &mut *path;
            self.pending = None;
            match v {
                Node::Scalar(s) => self.string_site(s, p, image_key(&ks.value), anchored)?,
                Node::Alias(at) if image_key(&ks.value) => {
                    let m = Refusal::Alias(At::Site, p).to_string();
                    self.refuse(at.span().start, m.clone())?;
                    self.walk_alias(at.span(), p, true, m)?;
                }
                Node::Alias(at) => {
                    let m = Refusal::AliasHoldingSite(p).to_string();
                    self.walk_alias(at.span(), p, false, m)?;
                }
                _ => self.walk(v, p, anchored)?,
            }
        }
        path.0.pop();
        Ok(())
    }

    fn field(
        &mut self,
        m: &Map,
        key: &str,
        path: &YamlPath,
    ) -> Result<Option<Box<Field>>, InputError> {
        let Some(node) = m.get(key) else {
            return Ok(None);
        };
        let p = path.key(key);
        let mut scalar = match node {
            Node::Scalar(s) => s.clone().into_owned(),
            Node::Alias(at) => {
                let span = at.span();
                self.refuse(span.start, Refusal::Alias(At::Field, &p).to_string())?;
                // Read as the anchored value, at the alias.
                match self.follow(span) {
                    Some(Node::Scalar(s)) => s.clone().into_owned().with_span(span),
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        if scalar.anchored {
            self.refuse(
                scalar.span().start,
                Refusal::Anchor(At::Field, &p).to_string(),
            )?;
        }
        if scalar.style.is_block() {
            self.refuse(
                scalar.span().start,
                Refusal::BlockScalar(At::Field, &p).to_string(),
            )?;
            scalar.value = scalar.value.trim().to_string().into();
        }
        Ok(Some(Box::new(Field {
            path: p,
            key_offset: m
                .key_of(key)
                .map_or(scalar.span().start, |k| k.span().start),
            scalar,
        })))
    }

    /// The fields of `m` if it is an image block.
    fn block_fields(
        &mut self,
        m: &Map,
        keys: &KeyScan<'_>,
        key_name: &str,
        path: &YamlPath,
    ) -> Result<Option<SiteFields>, InputError> {
        let is_scalar = |k: &str| {
            FIELDS
                .iter()
                .position(|f| *f == k)
                .is_some_and(|i| matches!(keys.value(i), Some(Node::Scalar(_) | Node::Alias(_))))
        };
        let keyed_image = contains_ignore_case(key_name, "image");
        let has_detail = DETAIL_FIELDS.iter().any(|k| is_scalar(k));
        let repo_key = if is_scalar("repository") && (has_detail || keyed_image) {
            Some("repository")
        } else if is_scalar("image") && has_detail {
            Some("image")
        } else if is_scalar("name") && keyed_image && (has_detail || is_scalar("repository")) {
            Some("name")
        } else {
            None
        };
        if let Some(merge) = keys.value(FIELD_MERGE)
            && (keyed_image || has_detail || repo_key.is_some())
        {
            return Err(InputError::at(
                self.source,
                merge.offset(),
                format!(
                    "a merge key (`<<`) at image site `{path}`: pin cannot see or edit the merged fields safely"
                ),
            ));
        }
        if repo_key.is_none() && !(is_scalar("registry") && is_scalar("tag")) {
            return Ok(None);
        }
        let mut f = SiteFields {
            registry: self.field(m, "registry", path)?,
            tag: self.field(m, "tag", path)?,
            digest: self.field(m, "digest", path)?,
            sha: self.field(m, "sha", path)?,
            use_digest: self.field(m, CILIUM_USE_DIGEST, path)?,
            ..SiteFields::default()
        };
        // The first non-empty of `repository`, `image`, `name`: a legacy full
        // `repository` wins over `image` (ingress-nginx), `name` is used when
        // `repository` is empty (cert-manager ≥ 1.20).
        let mut candidates = vec![self.field(m, "repository", path)?];
        if is_scalar("image") && has_detail {
            candidates.push(self.field(m, "image", path)?);
        }
        if is_scalar("name") && keyed_image {
            candidates.push(self.field(m, "name", path)?);
        }
        let candidates: Vec<Box<Field>> = candidates.into_iter().flatten().collect();
        f.repository = candidates
            .iter()
            .find(|c| !c.scalar.is_empty())
            .or(candidates.first())
            .cloned();
        Ok(Some(f))
    }

    /// The reference a block's fields render, `suffix` appended to an `image`
    /// name (ingress-nginx's chroot variant is `<image>-chroot`; a legacy full
    /// `repository` is used as written).
    fn compose_block(&self, fields: &SiteFields, suffix: &str) -> Result<ImageRef, SiteError> {
        let g = self.globals;
        let text = |f: &Option<Box<Field>>| {
            f.as_ref()
                .map(|f| f.scalar.text().to_string())
                .filter(|s| !s.is_empty())
        };
        let repo_field = fields.repository.as_ref();
        let repo = text(&fields.repository).ok_or(SiteError::NoRepository)?;
        let uses_name = repo_field.is_some_and(|f| f.key() == "name");
        let repo_has_domain = ImageRef::parse(&repo).is_ok_and(|r| r.written_domain().is_some());
        let registry = g
            .override_registry
            .clone()
            .or_else(|| text(&fields.registry))
            .or_else(|| {
                if repo_has_domain {
                    None
                } else {
                    g.default_registry.clone()
                }
            });
        let namespace = if uses_name { g.namespace.clone() } else { None };
        let repo = if repo_field.is_some_and(|f| f.key() == "image") {
            format!("{repo}{suffix}")
        } else {
            repo
        };
        let registry = registry.as_deref().map(|r| r.trim_end_matches('/'));
        let parts: Vec<&str> = [registry, namespace.as_deref(), Some(repo.as_str())]
            .into_iter()
            .flatten()
            .collect();
        // The first digest key that is set, in the form it renders.
        let digest = DIGEST_KEYS.iter().find_map(|(key, form)| {
            let field = match *key {
                "digest" => &fields.digest,
                _ => &fields.sha,
            };
            let d = text(field)?;
            Some(match form {
                DigestForm::BareOrPrefixed if !d.contains(':') => format!("sha256:{d}"),
                _ => d,
            })
        });
        compose(
            &parts,
            &text(&fields.tag).unwrap_or_default(),
            digest.as_deref(),
        )
    }

    fn block_site(
        &mut self,
        m: &Map,
        fields: SiteFields,
        path: &YamlPath,
        anchored: bool,
    ) -> Result<(), InputError> {
        let span = self.site_span(m, path);
        if anchored {
            self.refuse(span.start, Refusal::InsideAnchored(path).to_string())?;
        }
        // cilium: a non-empty `override` is the whole reference, used instead of
        // repository/tag/digest; the site is that string.
        if let Some(o) = self.field(m, CILIUM_OVERRIDE, path)?
            && !o.scalar.is_empty()
        {
            return self.string_site(&o.scalar, &o.path, true, anchored);
        }
        // ingress-nginx: `chroot: true` renders `<image>-chroot` with `digestChroot`
        // instead of this image; its own site below.
        let digest_chroot = self.field(m, INGRESS_DIGEST_CHROOT, path)?;
        let chroot = digest_chroot.is_some()
            && m.get(INGRESS_CHROOT_FLAG)
                .and_then(Node::as_scalar)
                .is_some_and(|c| c.text() == "true");
        let refusal = self.pending.take();
        let reference = self.compose_block(&fields, "");
        let text = |f: &Option<Box<Field>>| {
            f.as_ref()
                .map(|f| f.scalar.text().to_string())
                .filter(|s| !s.is_empty())
        };
        let digest_state = if let Some(d) = &fields.digest {
            digest_state(d.scalar.text(), false)
        } else if let Some(s) = &fields.sha {
            digest_state(s.scalar.text(), true)
        } else {
            match text(&fields.tag).and_then(|t| t.split_once('@').map(|(_, d)| d.to_string())) {
                Some(d) => digest_state(&d, false),
                None => DigestState::Absent,
            }
        };
        self.push(
            ImageSite {
                path: path.clone(),
                document: self.document,
                kind: SiteKind::Block,
                reference: reference.map(|r| match (&fields.use_digest, r.digest()) {
                    // cilium renders `repo:tag` while `useDigest` is false.
                    (Some(u), Some(_)) if u.scalar.text() == "false" => {
                        ImageRef::parse(r.as_str().split('@').next().unwrap_or_default())
                            .unwrap_or(r)
                    }
                    _ => r,
                }),
                digest_ignored: matches!(digest_state, DigestState::Filled(_))
                    && fields
                        .use_digest
                        .as_ref()
                        .is_some_and(|u| u.scalar.text() == "false"),
                fields: fields.clone(),
                digest_state,
                unused: chroot,
                span,
                uneditable: None,
            },
            refusal.clone(),
        );
        if let Some(dc) = digest_chroot {
            self.chroot_site(fields, dc, chroot, refusal);
        }
        Ok(())
    }

    /// ingress-nginx's chroot variant of a block: `<image>-chroot:<tag>@<digestChroot>`,
    /// rendered instead of the plain image when `chroot: true`. A site of its
    /// own, at the `digestChroot` field, so pin fills it from the `-chroot`
    /// image's entry; `unused` (lint skips it) while `chroot` is not true.
    fn chroot_site(
        &mut self,
        mut fields: SiteFields,
        dc: Box<Field>,
        chroot: bool,
        refusal: Option<InputError>,
    ) {
        let digest_state = digest_state(dc.scalar.text(), false);
        fields.sha = None;
        fields.use_digest = None;
        fields.digest = Some(dc.clone());
        let reference = self.compose_block(&fields, INGRESS_CHROOT_SUFFIX);
        self.push(
            ImageSite {
                path: dc.path.clone(),
                document: self.document,
                kind: SiteKind::Block,
                reference,
                fields,
                digest_state,
                digest_ignored: false,
                unused: !chroot,
                span: Span::new(dc.key_offset, dc.key_offset),
                uneditable: None,
            },
            refusal,
        );
    }

    /// The span to point at for a mapping site: its first key.
    fn site_span(&self, m: &Map, _path: &YamlPath) -> Span {
        m.entries
            .first()
            .map(|(k, _)| Span::new(k.offset(), k.offset()))
            .unwrap_or(m.span())
    }

    fn name_keyed(
        &mut self,
        m: &Map,
        digests: &Map,
        path: &YamlPath,
        anchored: bool,
    ) -> Result<(), InputError> {
        if anchored || digests.anchored() {
            let at = self.site_span(m, path);
            self.refuse(at.start, Refusal::InsideAnchored(path).to_string())?;
        }
        let registry = self.field(m, "registry", path)?;
        let tag = self.field(m, "tag", path)?;
        let names = m.get(OSM_NAME_MAP).and_then(Node::as_map);
        let digest_path = path.key(FIELDS[FIELD_DIGEST]);
        let name_path = path.key(OSM_NAME_MAP);
        let mut keys: Vec<String> = digests
            .entries
            .iter()
            .filter_map(|(k, _)| k.as_scalar().map(|s| s.value.to_string()))
            .collect();
        if let Some(n) = names {
            for (k, _) in &n.entries {
                if let Some(k) = k.as_scalar()
                    && !keys.iter().any(|x| *x == k.value)
                {
                    keys.push(k.value.to_string());
                }
            }
        }
        let tag_text = tag
            .as_ref()
            .map(|t| t.scalar.text().to_string())
            .unwrap_or_default();
        let registry_text = self.globals.override_registry.clone().or_else(|| {
            registry
                .as_ref()
                .map(|r| r.scalar.text().to_string())
                .filter(|s| !s.is_empty())
        });
        let shared = self.pending.take();
        for key in keys {
            self.pending = shared.clone();
            let digest = self.field(digests, &key, &digest_path)?;
            let name = match names {
                Some(n) => self.field(n, &key, &name_path)?,
                None => None,
            };
            let state = match &digest {
                Some(d) => digest_state(d.scalar.text(), false),
                None => DigestState::Absent,
            };
            let filled = matches!(state, DigestState::Filled(_));
            let kind = if names.is_some() {
                SiteKind::NameKeyed { key: key.clone() }
            } else {
                SiteKind::DigestKeyed {
                    key: key.clone(),
                    name_hint: kebab(&key),
                }
            };
            let reference = match &name {
                Some(n) if !n.scalar.is_empty() => {
                    let parts: Vec<&str> = registry_text
                        .as_deref()
                        .into_iter()
                        .chain([n.scalar.text()])
                        .collect();
                    // The tag wins over the digests when it is non-empty.
                    let digest = match &state {
                        DigestState::Filled(d) if tag_text.is_empty() => Some(d.to_string()),
                        _ => None,
                    };
                    compose(&parts, &tag_text, digest.as_deref())
                }
                Some(_) => Err(SiteError::EmptyName {
                    field: format!("{name_path}.{key}"),
                }),
                None => Err(SiteError::NameInTemplates { key: key.clone() }),
            };
            let span = digest
                .as_ref()
                .or(name.as_ref())
                .map_or(m.span(), |f| Span::new(f.key_offset, f.key_offset));
            let refusal = self.pending.take();
            self.push(
                ImageSite {
                    path: match &digest {
                        Some(d) => d.path.clone(),
                        None => digest_path.key(&key),
                    },
                    document: self.document,
                    kind,
                    reference,
                    fields: SiteFields {
                        registry: registry.clone(),
                        repository: name,
                        tag: tag.clone(),
                        digest,
                        ..SiteFields::default()
                    },
                    digest_state: state,
                    digest_ignored: filled && !tag_text.is_empty(),
                    unused: false,
                    span,
                    uneditable: None,
                },
                refusal,
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn sibling_site(
        &mut self,
        m: &Map,
        key: &Scalar,
        value: &Scalar,
        tag_key: &str,
        _tag: &Scalar,
        path: &YamlPath,
        anchored: bool,
    ) -> Result<(), InputError> {
        let repo = self.field(m, &key.value, path)?;
        let tag = self.field(m, tag_key, path)?;
        let digest = self.field(m, &format!("{}{SIBLING_DIGEST_SUFFIX}", key.value), path)?;
        if anchored {
            let site = path.key(&key.value);
            self.refuse(key.span().start, Refusal::InsideAnchored(&site).to_string())?;
        }
        let t = tag
            .as_ref()
            .map(|t| t.scalar.text().to_string())
            .unwrap_or_default();
        let dtext = digest
            .as_ref()
            .map(|d| d.scalar.text().to_string())
            .unwrap_or_default();
        let reference = compose(
            &[value.text()],
            &t,
            Some(dtext.as_str()).filter(|d| !d.is_empty()),
        );
        let state = if let Some(d) = &digest {
            digest_state(d.scalar.text(), false)
        } else {
            match t.split_once('@') {
                Some((_, d)) => digest_state(d, false),
                None => DigestState::Absent,
            }
        };
        let refusal = self.pending.take();
        self.push(
            ImageSite {
                path: path.key(&key.value),
                document: self.document,
                kind: SiteKind::Sibling,
                reference,
                fields: SiteFields {
                    repository: repo,
                    tag,
                    digest,
                    ..SiteFields::default()
                },
                digest_state: state,
                digest_ignored: false,
                unused: false,
                span: value.span(),
                uneditable: None,
            },
            refusal,
        );
        Ok(())
    }

    fn string_site(
        &mut self,
        s: &Scalar,
        path: &YamlPath,
        image_keyed: bool,
        anchored: bool,
    ) -> Result<(), InputError> {
        let mut v = s.text();
        if s.is_null || v.is_empty() {
            return Ok(());
        }
        // Off an image key only a pinned reference (`…@digest`) is a site:
        // skip the grammar for the many values that hold no `@`.
        if !image_keyed && !v.contains('@') {
            return Ok(());
        }
        if s.style.is_block() {
            // grafana's `extraContainers: |` holds manifest text, not a reference.
            if !(image_keyed && looks_like_reference(v.trim())) {
                return Ok(());
            }
            self.refuse(
                s.span().start,
                Refusal::BlockScalar(At::Site, path).to_string(),
            )?;
            // Read as its content, as a one-line image renders.
            v = v.trim();
        }
        let parsed = ImageRef::parse(v);
        let is_site = match &parsed {
            Ok(r) => {
                (image_keyed && (s.style != QuoteStyle::Plain || !plain_keyword(v)))
                    || (r.is_pinned() && r.written_path().contains('/'))
            }
            Err(_) => image_keyed && looks_like_reference(v),
        };
        if !is_site {
            return Ok(());
        }
        if s.anchored || anchored {
            self.refuse(s.span().start, Refusal::Anchor(At::Site, path).to_string())?;
        }
        let digest_state = match v.split_once('@') {
            Some((_, d)) => digest_state(d, false),
            None => DigestState::Absent,
        };
        let refusal = self.pending.take();
        if self.alias_at.is_none() {
            self.string_sites.insert(s.span().start);
        }
        self.push(
            ImageSite {
                path: path.clone(),
                document: self.document,
                kind: SiteKind::String,
                reference: parsed.map_err(|error| SiteError::InvalidReference {
                    written: v.to_string(),
                    error,
                }),
                fields: SiteFields {
                    string: Some(Box::new(Field {
                        path: path.clone(),
                        scalar: s.with_value(Text::owned(v)),
                        key_offset: s.span().start,
                    })),
                    ..SiteFields::default()
                },
                digest_state,
                digest_ignored: false,
                unused: false,
                span: s.span(),
                uneditable: None,
            },
            refusal,
        );
        Ok(())
    }
}

/// YAML words and numbers that parse as a one-segment reference but are not images.
fn plain_keyword(v: &str) -> bool {
    v.parse::<f64>().is_ok() || NOT_IMAGES.contains(&v.to_ascii_lowercase().as_str())
}

fn digest_state(text: &str, bare_ok: bool) -> DigestState {
    if text.is_empty() {
        return DigestState::Empty;
    }
    let parsed = if bare_ok {
        Digest::parse_prefixed_or_bare(text)
    } else {
        Digest::parse(text)
    };
    match parsed {
        Ok(d) => DigestState::Filled(d),
        Err(_) => DigestState::Invalid(text.to_string()),
    }
}

/// `osmController` → `osm-controller`, `osmCRDs` → `osm-crds`.
pub fn kebab(key: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && !chars[i - 1].is_ascii_uppercase();
            let next_lower = chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_lowercase() && *n != 's');
            if i > 0 && (prev_lower || next_lower) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
