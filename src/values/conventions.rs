//! The chart conventions chartpin knows, as data (FIELD-NOTES §2): which key
//! names hold an image's parts, which chart-wide globals change a block's
//! registry, which keys name a single-string image and which only look like
//! they do, and the per-chart quirks (cilium, ingress-nginx, OSM, traefik).
//!
//! Why a table: the walker in [`super`] applies these the same way for every
//! chart, so a new convention is a row here, not a branch there. The
//! render-proof work (issue 9) replaces guessing by key name with what the
//! templates render; until then, and without helm, this table is the guess.

/// How a chart-wide global changes the registry of every image block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GlobalRole {
    /// Replaces every block's own `registry` when non-empty.
    OverrideRegistry,
    /// Used when a block names no registry and its repository has no domain.
    DefaultRegistry,
    /// Prefixed to a block's `name` (not to a `repository`).
    Namespace,
}

/// The globals, read from the document root; the first non-empty of a role wins.
pub(super) const GLOBALS: &[(&[&str], GlobalRole)] = &[
    // Bitnami (`common.images.image`).
    (&["global", "imageRegistry"], GlobalRole::OverrideRegistry),
    // ingress-nginx.
    (
        &["global", "image", "registry"],
        GlobalRole::DefaultRegistry,
    ),
    // cert-manager ≥ 1.20.
    (&["imageRegistry"], GlobalRole::DefaultRegistry),
    // istio (`global.hub` + `global.tag`).
    (&["global", "hub"], GlobalRole::DefaultRegistry),
    // cert-manager ≥ 1.20.
    (&["imageNamespace"], GlobalRole::Namespace),
];

/// The key names a mapping is looked up by while finding sites, in one pass
/// ([`super::KeyScan`]); the indexes below name the ones looked up by position.
pub(super) const FIELDS: [&str; 8] = [
    "tag",
    "digest",
    "sha",
    "registry",
    "repository",
    "image",
    "name",
    "<<",
];
pub(super) const FIELD_DIGEST: usize = 1;
pub(super) const FIELD_MERGE: usize = 7;

/// Fields whose presence beside a name field makes a mapping an image block.
pub(super) const DETAIL_FIELDS: [&str; 4] = ["tag", "digest", "sha", "registry"];

/// The keys an image block consumes (its other keys are walked for more sites).
pub(super) const BLOCK_KEYS: [&str; 8] = [
    "registry",
    "repository",
    "image",
    "tag",
    "digest",
    "sha",
    INGRESS_DIGEST_CHROOT,
    CILIUM_OVERRIDE,
];

/// The keys an OSM name-keyed block consumes.
pub(super) const NAME_KEYED_KEYS: [&str; 4] = ["registry", "tag", "digest", "name"];

/// A key names a single-string image when it contains `image` (any case)
/// and none of these (`imagePullPolicy`, `imageTag`, `imagePullSecrets`, …).
pub(super) const IMAGE_KEY_DENY: [&str; 12] = [
    "pull",
    "tag",
    "digest",
    "registry",
    "namespace",
    "enabled",
    "polic",
    "secret",
    "sha",
    "name",
    "override",
    "renderer",
];

/// Keys that are image keys although the deny-list matches them (grafana's
/// `rendererImage` is an image; `renderer` alone is not).
pub(super) const IMAGE_KEY_ALLOW: [&str; 1] = ["rendererimage"];

/// Sibling pairs: `<key>` + `<key>Tag` (+ `<key>Digest`) in one mapping.
pub(super) const SIBLING_TAG_SUFFIX: &str = "Tag";
pub(super) const SIBLING_DIGEST_SUFFIX: &str = "Digest";

/// cilium: a non-empty `override` is the whole reference.
pub(super) const CILIUM_OVERRIDE: &str = "override";
/// cilium: the digest renders only while `useDigest` is true.
pub(super) const CILIUM_USE_DIGEST: &str = "useDigest";

/// ingress-nginx: `chroot: true` renders `<image>-chroot` with `digestChroot`.
pub(super) const INGRESS_DIGEST_CHROOT: &str = "digestChroot";
pub(super) const INGRESS_CHROOT_FLAG: &str = "chroot";
pub(super) const INGRESS_CHROOT_SUFFIX: &str = "-chroot";

/// OSM ≥ 1.2: `name` beside a `digest` map is a map of image names by key.
pub(super) const OSM_NAME_MAP: &str = "name";

/// Which digest form a block's key renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DigestForm {
    /// `digest: sha256:<hex>` renders `…@<digest>` (Bitnami, traefik, cilium…).
    Prefixed,
    /// `sha:` is bare hex under `…@sha256:{{ .sha }}` (kube-prometheus-stack,
    /// grafana) or carries `sha256:` (kube-state-metrics): both are read.
    BareOrPrefixed,
}

/// The digest keys of a block, in precedence order (a `digest` wins over a `sha`).
/// A block with neither may carry one in its tag (`v1@sha256:…`, traefik).
pub(super) const DIGEST_KEYS: [(&str, DigestForm); 2] = [
    ("digest", DigestForm::Prefixed),
    ("sha", DigestForm::BareOrPrefixed),
];

/// YAML words and numbers that parse as a one-segment reference but are not images.
pub(super) const NOT_IMAGES: [&str; 9] = [
    "true", "false", "yes", "no", "on", "off", "null", "none", "latest",
];
