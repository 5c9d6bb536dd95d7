use super::*;
use crate::manifest::Origin;
use std::path::Path;

fn dg(c: char) -> Digest {
    Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
}

fn full(name: &str, tag: Option<&str>, d: &Digest) -> ManifestEntry {
    ManifestEntry {
        name: EntryName::Full(ImageRef::parse(name).unwrap()),
        tag: tag.map(str::to_string),
        digest: d.clone(),
        origin: Origin::file("m.txt"),
    }
}

fn short(name: &str, d: &Digest) -> ManifestEntry {
    ManifestEntry {
        name: EntryName::Short(name.into()),
        tag: None,
        digest: d.clone(),
        origin: Origin::file("m.txt"),
    }
}

fn run(text: &str, entries: Vec<ManifestEntry>, opts: &PinOptions) -> PinOutcome {
    let vf = ValuesFile::parse("values.yaml", text).unwrap();
    let manifest = DigestManifest {
        entries,
        ..DigestManifest::default()
    };
    pin(&[vf], &manifest, opts).unwrap()
}

fn pinned_text(text: &str, entries: Vec<ManifestEntry>) -> String {
    run(text, entries, &PinOptions::default()).files[0]
        .new_text
        .clone()
}

#[test]
fn fills_an_empty_digest_field_in_its_quoting() {
    let a = dg('a');
    let text = "image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.29.1 # keep\n  digest: \"\"\n";
    let out = pinned_text(
        text,
        vec![full("docker.io/bitnami/nginx", Some("1.29.1"), &a)],
    );
    assert_eq!(
        out,
        text.replace("digest: \"\"", &format!("digest: \"{a}\""))
    );
}

#[test]
fn sha_fields_bare_or_prefixed() {
    let a = dg('a');
    let text = "image:\n  registry: quay.io\n  repository: prometheus/alertmanager\n  tag: v0.34.0\n  sha: \"\"\n";
    let bare = pinned_text(
        text,
        vec![full("quay.io/prometheus/alertmanager", None, &a)],
    );
    assert!(bare.contains(&format!("sha: \"{}\"", a.hex())), "{bare}");
    let opts = PinOptions {
        sha_format: Some(ShaFormat::Prefixed),
        ..PinOptions::default()
    };
    let out = run(
        text,
        vec![full("quay.io/prometheus/alertmanager", None, &a)],
        &opts,
    );
    assert!(out.files[0].new_text.contains(&format!("sha: \"{a}\"")));
}

#[test]
fn tag_only_blocks_get_tag_at_digest() {
    let a = dg('a');
    let text = "image:\n  repository: quay.io/argoproj/argocd\n  tag: 'v2.9.0'\n";
    let out = pinned_text(text, vec![full("quay.io/argoproj/argocd", None, &a)]);
    assert_eq!(
        out,
        format!("image:\n  repository: quay.io/argoproj/argocd\n  tag: 'v2.9.0@{a}'\n")
    );
}

#[test]
fn strings_become_reference_at_digest_and_repin() {
    let (a, b) = (dg('a'), dg('b'));
    let text = format!("x:\n  image: prom/prometheus:v2.34.0\n  envoy: envoyproxy/envoy:v1@{a}\n");
    let out = pinned_text(
        &text,
        vec![
            full("docker.io/prom/prometheus", Some("v2.34.0"), &a),
            full("envoyproxy/envoy", None, &b),
        ],
    );
    assert_eq!(
        out,
        format!("x:\n  image: prom/prometheus:v2.34.0@{a}\n  envoy: envoyproxy/envoy:v1@{b}\n")
    );
}

#[test]
fn blocks_without_fields_get_a_digest_line() {
    let a = dg('a');
    let text = "image:\n  repository: quay.io/jetstack/cert-manager-controller\r\n  # tag: vX\r\n  pullPolicy: IfNotPresent\r\n";
    let out = pinned_text(
        text,
        vec![full(
            "quay.io/jetstack/cert-manager-controller",
            Some("v1.16.0"),
            &a,
        )],
    );
    assert_eq!(
        out,
        format!(
            "image:\n  repository: quay.io/jetstack/cert-manager-controller\r\n  digest: {a}\r\n  # tag: vX\r\n  pullPolicy: IfNotPresent\r\n"
        )
    );
}

#[test]
fn osm_name_map_fills_digests_and_clears_tag() {
    let (a, b) = (dg('a'), dg('b'));
    let text = "osm:\n  image:\n    registry: openservicemesh\n    tag: \"v1.2.0\"\n    name:\n      osmController: osm-controller\n      osmSidecarInit: init\n    digest:\n      osmController: \"\"\n      osmSidecarInit: sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
    let out = run(
        text,
        vec![short("osm-controller", &a), short("init", &b)],
        &PinOptions::default(),
    );
    let f = &out.files[0];
    assert_eq!(f.pinned.len(), 2);
    assert!(out.unmatched_entries.is_empty());
    assert_eq!(
        f.new_text,
        text.replace("\"v1.2.0\"", "\"\"")
            .replace("osmController: \"\"", &format!("osmController: \"{a}\""))
            .replace(
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                &b.to_string()
            )
    );
}

#[test]
fn already_pinned_changes_nothing_and_reports_unmatched() {
    let a = dg('a');
    let text = format!("image: nginx:1@{a}\nother: busybox:1\n");
    let out = run(
        &text,
        vec![
            full("docker.io/library/nginx", None, &a),
            short("nothere", &a),
        ],
        &PinOptions::default(),
    );
    let f = &out.files[0];
    assert_eq!(f.new_text, text);
    assert!(!f.changed());
    assert_eq!(f.pinned.len(), 1);
    assert!(!f.pinned[0].changed);
    assert_eq!(f.unmatched_images.len(), 0, "`other` is not an image key");
    assert_eq!(out.unmatched_entries.len(), 1);
}

#[test]
fn unmatched_images_are_listed() {
    let text = "image: nginx:1\nsidecarImage: busybox:1\n";
    let out = run(
        text,
        vec![full("nginx", None, &dg('a'))],
        &PinOptions::default(),
    );
    let f = &out.files[0];
    assert_eq!(f.unmatched_images.len(), 1);
    assert_eq!(f.unmatched_images[0].path.to_string(), "sidecarImage");
}

#[test]
fn config_maps_entries_to_paths() {
    let a = dg('a');
    let text = "osm:\n  image:\n    registry: openservicemesh\n    tag: v1.0.0\n    digest:\n      osmSidecarInit: \"\"\n  custom: \"\"\n";
    let cfg = Config::parse(
        Path::new(".chartpin.yaml"),
        "images:\n  - entry: openservicemesh/init\n    path: osm.image.digest.osmSidecarInit\n  - entry: other\n    path: osm.custom\n    form: hex\n",
    )
    .unwrap();
    let opts = PinOptions {
        config: Some(cfg),
        ..PinOptions::default()
    };
    let out = run(
        text,
        vec![
            full("openservicemesh/init", Some("v1.0.0"), &a),
            short("other", &a),
        ],
        &opts,
    );
    let f = &out.files[0];
    assert_eq!(
        f.new_text,
        format!(
            "osm:\n  image:\n    registry: openservicemesh\n    tag: \"\"\n    digest:\n      osmSidecarInit: \"{a}\"\n  custom: \"{}\"\n",
            a.hex()
        )
    );
    assert!(out.unmatched_entries.is_empty());
}

#[test]
fn templates_decide_sha_format() {
    let dir = tempfile::tempdir().unwrap();
    let format = || sha_format_from_templates(&crate::chart::load_dir(dir.path()).unwrap());
    assert_eq!(format(), None);
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/_h.tpl"),
        "{{ .repository }}:{{ .tag }}@{{ .sha }}",
    )
    .unwrap();
    assert_eq!(format(), Some(ShaFormat::Prefixed));
    std::fs::write(
        dir.path().join("templates/d.yaml"),
        "image: {{ $repo }}@sha256:{{ .Values.image.sha }}",
    )
    .unwrap();
    assert_eq!(format(), Some(ShaFormat::Bare));
}
