use super::*;

fn sites(text: &str) -> Vec<ImageSite> {
    image_sites(Path::new("values.yaml"), text).expect("parses")
}

fn err(text: &str) -> String {
    image_sites(Path::new("values.yaml"), text)
        .expect_err("must be rejected")
        .to_string()
}

fn refs(text: &str) -> Vec<(String, String)> {
    sites(text)
        .into_iter()
        .map(|s| {
            let r = match s.reference {
                Ok(r) => r.to_string(),
                Err(e) => format!("ERR {e}"),
            };
            (s.path.to_string(), r)
        })
        .collect()
}

/// The edits that set every field of every editable site to its own value.
fn self_edits(vf: &ValuesFile) -> Vec<Edit> {
    let sites = vf.readable_sites().expect("sites");
    let mut edits = Vec::new();
    for site in sites.iter().filter(|s| s.uneditable.is_none()) {
        let f = &site.fields;
        for field in [
            &f.registry,
            &f.repository,
            &f.tag,
            &f.digest,
            &f.sha,
            &f.use_digest,
            &f.string,
        ]
        .into_iter()
        .flatten()
        {
            edits.push(set_scalar(vf.text(), &field.scalar, field.scalar.text()));
        }
    }
    edits
}

/// Every values file of the shared corpus: the flat chart sections, the full
/// charts and their vendored subcharts (`charts/*/values.yaml`).
fn corpus_values_files() -> Vec<std::path::PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut out = Vec::new();
    let mut stack = vec![(corpus.join("charts"), 0), (corpus.join("full"), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (the shared corpus is missing)", dir.display()));
        for entry in rd {
            let p = entry.unwrap().path();
            if p.is_dir() && depth < 6 {
                stack.push((p, depth + 1));
            } else if p.file_name().is_some_and(|n| n == "values.yaml")
                || p.parent().is_some_and(|d| d.ends_with("ci"))
                    && p.extension().is_some_and(|e| e == "yaml")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The identity promise: setting every site's scalar to the value it already
/// holds, through the same edit path pin uses, gives back the file byte for byte.
#[test]
fn setting_every_site_to_its_own_value_gives_identical_bytes() {
    let files = corpus_values_files();
    let subcharts = files
        .iter()
        .filter(|f| f.components().any(|c| c.as_os_str() == "charts"))
        .filter(|f| f.to_string_lossy().contains("/full/"))
        .count();
    assert!(
        files.len() >= 20 && subcharts > 0,
        "corpus incomplete: {files:?}"
    );
    let mut edited = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(vf) = ValuesFile::parse(f, text.as_str()) else {
            // Not a values file this tool reads (a CI file with templates): nothing to promise.
            continue;
        };
        let edits = self_edits(&vf);
        edited += edits.len();
        let out = apply_edits(vf.text(), &edits).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if out != text {
            let first = out
                .bytes()
                .zip(text.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(text.len()));
            panic!(
                "{}: bytes differ from offset {first}: {:?} vs {:?}",
                f.display(),
                &text[first.saturating_sub(20)..(first + 40).min(text.len())],
                &out[first.saturating_sub(20)..(first + 40).min(out.len())]
            );
        }
    }
    assert!(
        edited > 400,
        "only {edited} fields edited: the walk found too few sites"
    );
}

/// `v` written as a YAML scalar in one of several ways (plain, quoted, escaped).
fn written(v: &str, how: usize) -> String {
    match how % 5 {
        0 if !v.is_empty() => v.to_string(),
        1 => format!("'{}'", v.replace('\'', "''")),
        2 => format!("\"{v}\""),
        3 => format!(
            "\"{}\"",
            v.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect::<String>()
        ),
        _ => "~".to_string(),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// The identity promise on generated blocks and strings in every quoting.
    #[test]
    fn generated_sites_set_to_themselves_keep_their_bytes(
        parts in proptest::collection::vec(("[a-z][a-z0-9./-]{0,12}", "[0-9][a-z0-9.]{0,6}", 0..5usize, 0..5usize), 1..6),
        crlf in proptest::prelude::any::<bool>(),
    ) {
        let mut text = String::new();
        for (i, (repo, tag, q1, q2)) in parts.iter().enumerate() {
            text.push_str(&format!(
                "s{i}:\n  image:\n    repository: {}\n    tag: {}  # c\n    digest:\n  sidecarImage: {}\n",
                written(&format!("r/{repo}"), *q1),
                written(tag, *q2),
                written(&format!("q.io/{repo}:{tag}"), *q2 + 1),
            ));
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let vf = ValuesFile::parse("v.yaml", text.as_str()).unwrap();
        let edits = self_edits(&vf);
        proptest::prop_assert!(edits.len() >= parts.len());
        proptest::prop_assert_eq!(apply_edits(vf.text(), &edits).unwrap(), text);
    }
}

#[test]
fn setting_tricky_scalars_to_themselves_gives_identical_bytes() {
    for text in [
        "image: 'a/b:1'  # keep\n",
        "\u{feff}image: \"a/b:1\"\r\nx: 1\r\n",
        "image:\n  repository: x # c\n  tag: '1'\n  digest:\n---\nb: [1, 2]\n",
        "image: {repository: \"a\\u0041\", tag: 'it''s'}\n",
        "images:\n- \"ghcr.io/a/b:1@sha256:%H\"\n",
    ] {
        let text = text.replace("%H", &"a".repeat(64));
        let vf = ValuesFile::parse("v.yaml", text.as_str()).unwrap();
        let edits = self_edits(&vf);
        assert!(!edits.is_empty(), "{text:?}: no site");
        assert_eq!(apply_edits(vf.text(), &edits).unwrap(), text);
    }
}

#[test]
fn edits_splice_only_their_span() {
    let text = "a: 'x'  # keep\nb: \"y\"\n";
    let out = apply_edits(
        text,
        &[Edit {
            span: Span::new(3, 6),
            replacement: "'zz'".into(),
        }],
    )
    .unwrap();
    assert_eq!(out, "a: 'zz'  # keep\nb: \"y\"\n");
    let overlap = apply_edits(
        text,
        &[
            Edit {
                span: Span::new(3, 6),
                replacement: "1".into(),
            },
            Edit {
                span: Span::new(4, 8),
                replacement: "2".into(),
            },
        ],
    );
    assert!(matches!(overlap, Err(EditError::Overlap(..))));
}

#[test]
fn scalars_render_in_their_own_quoting() {
    assert_eq!(render_scalar(QuoteStyle::Plain, "sha256:ab"), "sha256:ab");
    assert_eq!(render_scalar(QuoteStyle::Plain, ""), "\"\"");
    assert_eq!(render_scalar(QuoteStyle::SingleQuoted, "it's"), "'it''s'");
    assert_eq!(
        render_scalar(QuoteStyle::DoubleQuoted, "a\"b"),
        "\"a\\\"b\""
    );
    assert_eq!(render_scalar(QuoteStyle::Plain, "true"), "\"true\"");
}

#[test]
fn implicit_null_gets_value_after_its_colon() {
    let text = "image:\n  digest:  # @schema x\n  repository: r\n";
    let s = &sites(text)[0];
    let d = s.fields.digest.as_ref().unwrap();
    assert_eq!(s.digest_state, DigestState::Empty);
    let e = set_scalar(text, &d.scalar, "sha256:00");
    assert_eq!(
        apply_edits(text, &[e]).unwrap(),
        "image:\n  digest: sha256:00  # @schema x\n  repository: r\n"
    );
}

#[test]
fn finds_every_convention() {
    let d = format!("sha256:{}", "a".repeat(64));
    let text = format!(
        "global:\n  imageRegistry: \"\"\n\
         image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.29.1\n  digest: \"\"\n\
         prom:\n  image: prom/prometheus:v2.34.0\n  curlImage: curlimages/curl\n\
         kps:\n  image:\n    registry: quay.io\n    repository: prometheus/alertmanager\n    tag: v0.34.0\n    sha: \"\"\n\
         envoy: envoyproxy/envoy-distroless:v1.22.2@{d}\n\
         legacy:\n  image: busybox\n  imageTag: \"1.36\"\n\
         sidecars:\n  - name: s\n    image: quay.io/x/y:1\n\
         images:\n  - ghcr.io/a/b:1\n\
         policy:\n  imagePullPolicy: IfNotPresent\n  name: x\n"
    );
    let got = refs(&text);
    let want: Vec<(String, String)> = [
        ("image", "docker.io/bitnami/nginx:1.29.1"),
        ("prom.image", "prom/prometheus:v2.34.0"),
        ("prom.curlImage", "curlimages/curl"),
        ("kps.image", "quay.io/prometheus/alertmanager:v0.34.0"),
        ("envoy", &format!("envoyproxy/envoy-distroless:v1.22.2@{d}")),
        ("legacy.image", "busybox:1.36"),
        ("sidecars[0].image", "quay.io/x/y:1"),
        ("images[0]", "ghcr.io/a/b:1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn global_registries_apply() {
    let text = "global:\n  imageRegistry: my.reg\nimage:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: '1'\n";
    assert_eq!(refs(text)[0].1, "my.reg/bitnami/nginx:1");
    let ingress = "global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    image: ingress-nginx/controller\n    tag: \"v1.12.0\"\n    digest: \"\"\n";
    assert_eq!(
        refs(ingress),
        vec![(
            "controller.image".to_string(),
            "registry.k8s.io/ingress-nginx/controller:v1.12.0".to_string()
        )]
    );
    let cm = "imageRegistry: quay.io\nimageNamespace: jetstack\nimage:\n  name: cert-manager-controller\n  repository: \"\"\n";
    assert_eq!(refs(cm)[0].1, "quay.io/jetstack/cert-manager-controller");
    let cm16 = "image:\n  repository: quay.io/jetstack/cert-manager-controller\n  # tag: x\n";
    assert_eq!(refs(cm16)[0].1, "quay.io/jetstack/cert-manager-controller");
}

#[test]
fn sha_fields_render_bare_or_prefixed() {
    let h = "b".repeat(64);
    let bare = format!("image:\n  repository: r/a\n  tag: v1\n  sha: {h}\n");
    let s = &sites(&bare)[0];
    assert!(s.is_pinned());
    assert_eq!(
        s.reference.as_ref().unwrap().to_string(),
        format!("r/a:v1@sha256:{h}")
    );
    let upper = format!("image:\n  repository: r/a\n  sha: {}\n", "B".repeat(64));
    assert!(matches!(
        sites(&upper)[0].digest_state,
        DigestState::Invalid(_)
    ));
}

#[test]
fn name_keyed_maps_and_tag_wins() {
    let d = format!("sha256:{}", "c".repeat(64));
    let text = format!(
        "osm:\n  image:\n    registry: openservicemesh\n    tag: \"v1.2.0\"\n    name:\n      osmController: osm-controller\n      osmSidecarInit: init\n    digest:\n      osmController: {d}\n      osmSidecarInit: \"\"\n"
    );
    let s = sites(&text);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].path.to_string(), "osm.image.digest.osmController");
    assert_eq!(
        s[0].kind,
        SiteKind::NameKeyed {
            key: "osmController".into()
        }
    );
    assert_eq!(
        s[0].reference.as_ref().unwrap().to_string(),
        "openservicemesh/osm-controller:v1.2.0"
    );
    assert!(s[0].digest_ignored);
    assert!(!s[0].is_pinned());
    assert_eq!(s[1].short_name().as_deref(), Some("init"));
    let untagged = text.replace("\"v1.2.0\"", "\"\"");
    let s = sites(&untagged);
    assert!(!s[0].digest_ignored);
    assert!(s[0].is_pinned());
    assert_eq!(
        s[0].reference.as_ref().unwrap().to_string(),
        format!("openservicemesh/osm-controller@{d}")
    );
}

#[test]
fn digest_keyed_maps_guess_names() {
    let text = "osm:\n  image:\n    registry: openservicemesh\n    tag: \"\"\n    digest:\n      osmController: \"\"\n      osmCRDs: \"\"\n";
    let s = sites(text);
    assert_eq!(s.len(), 2);
    assert!(s[0].reference.is_err());
    assert_eq!(s[0].short_name().as_deref(), Some("osm-controller"));
    assert_eq!(s[1].short_name().as_deref(), Some("osm-crds"));
    assert_eq!(kebab("osmSidecarInit"), "osm-sidecar-init");
}

#[test]
fn bad_input_names_line_and_column() {
    assert!(
        err("a:\n\tb: 1\n").starts_with("values.yaml:2:"),
        "{}",
        err("a:\n\tb: 1\n")
    );
    assert!(err("a:\n  b: [1\n").contains("malformed YAML"));
    let dup = err("image:\n  tag: 1\n  tag: 2\n");
    assert!(
        dup.starts_with("values.yaml:3:3: duplicate key `tag` (first defined at line 2, column 3)"),
        "{dup}"
    );
    let alias = err("v: &v \"1\"\nimage:\n  repository: a/b\n  tag: *v\n");
    assert!(
        alias.starts_with("values.yaml:4:8: an alias at image field `image.tag`"),
        "{alias}"
    );
    let anchored = err("base: &b\n  image:\n    repository: a/b\n    tag: '1'\nother: *b\n");
    assert!(
        anchored.starts_with("values.yaml:3:5: image site `base.image` is inside an anchored node"),
        "{anchored}"
    );
    let anchor_scalar = err("image: &i nginx:1\n");
    assert!(
        anchor_scalar.starts_with("values.yaml:1:11: an anchor at image site `image`"),
        "{anchor_scalar}"
    );
    let block = err("image:\n  repository: a/b\n  tag: |\n    v1\n");
    assert!(
        block.starts_with("values.yaml:4:5: a block scalar"),
        "{block}"
    );
    let block_string = err("image: >\n  nginx:1\n");
    assert!(
        block_string.starts_with("values.yaml:2:3: a block scalar"),
        "{block_string}"
    );
}

#[test]
fn anchors_away_from_sites_are_fine() {
    let text = "res: &r {cpu: 1}\nother: *r\nimage: nginx:1\n";
    assert_eq!(refs(text).len(), 1);
}

#[test]
fn paths_round_trip() {
    for p in ["a.b[0].c", "a.\"b.c\"[2]", "x"] {
        assert_eq!(YamlPath::parse(p).unwrap().to_string(), p);
    }
    assert!(YamlPath::parse("a..b").is_none());
    assert!(YamlPath::parse("").is_none());
}

#[test]
fn non_images_are_not_sites() {
    let text = "image:\n  pullPolicy: IfNotPresent\nname: nginx\ntag: latest\nenabled: true\nimageRenderer:\n  enabled: false\nimagePullSecrets: []\nimageOverride: true\n";
    assert_eq!(refs(text), vec![]);
}

#[test]
fn cilium_digest_needs_use_digest() {
    let d = format!("sha256:{}", "d".repeat(64));
    let off = format!(
        "image:\n  repository: quay.io/cilium/cilium\n  tag: v1.16.3\n  digest: {d}\n  useDigest: false\n"
    );
    let s = &sites(&off)[0];
    assert!(s.digest_ignored);
    assert!(!s.is_pinned());
    assert_eq!(
        s.reference.as_ref().unwrap().to_string(),
        "quay.io/cilium/cilium:v1.16.3"
    );
    let on = off.replace("useDigest: false", "useDigest: true");
    let s = &sites(&on)[0];
    assert!(!s.digest_ignored);
    assert!(s.is_pinned());
}

#[test]
fn merge_keys_at_image_sites_are_refused() {
    let e = err("base: &b {registry: docker.io}\nimage:\n  <<: *b\n  repository: nginx\n");
    assert!(e.starts_with("values.yaml:3:7: a merge key"), "{e}");
}

#[test]
fn ingress_nginx_chroot_is_a_site_of_its_own() {
    let d = format!("sha256:{}", "d".repeat(64));
    let c = format!("sha256:{}", "c".repeat(64));
    let off = format!(
        "global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    chroot: false\n    image: ingress-nginx/controller\n    tag: v1.12.0\n    digest: {d}\n    digestChroot: \"\"\n"
    );
    let s = sites(&off);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].path.to_string(), "controller.image");
    assert!(!s[0].unused && s[0].is_pinned());
    assert_eq!(s[1].path.to_string(), "controller.image.digestChroot");
    assert_eq!(
        s[1].reference.as_ref().unwrap().to_string(),
        "registry.k8s.io/ingress-nginx/controller-chroot:v1.12.0"
    );
    assert_eq!(s[1].digest_state, DigestState::Empty);
    assert!(
        s[1].unused,
        "chroot is off: the chroot image is not rendered"
    );
    assert_eq!(s[1].fields.digest.as_ref().unwrap().key(), "digestChroot");

    let on = off
        .replace("chroot: false", "chroot: true")
        .replace("digestChroot: \"\"", &format!("digestChroot: {c}"));
    let s = sites(&on);
    assert!(s[0].unused, "chroot is on: the plain image is not rendered");
    assert!(!s[1].unused);
    assert_eq!(
        s[1].reference.as_ref().unwrap().to_string(),
        format!("registry.k8s.io/ingress-nginx/controller-chroot:v1.12.0@{c}")
    );
    // A legacy full `repository` is used as written, without the suffix.
    let legacy = on.replace(
        "    image: ingress-nginx/controller\n",
        "    repository: example.com/my/controller\n",
    );
    assert_eq!(
        sites(&legacy)[1].reference.as_ref().unwrap().to_string(),
        format!("example.com/my/controller:v1.12.0@{c}")
    );
}

#[test]
fn cilium_override_is_the_whole_reference() {
    let d = format!("sha256:{}", "d".repeat(64));
    let block = format!(
        "image:\n  override: {{o}}\n  repository: quay.io/cilium/cilium\n  tag: v1.16.3\n  digest: {d}\n  useDigest: true\n"
    );
    // Unset (null or empty): the block renders.
    for o in ["~", "\"\"", ""] {
        let s = sites(&block.replace("{o}", o));
        assert_eq!(s.len(), 1, "{o}");
        assert_eq!(s[0].kind, SiteKind::Block);
        assert!(s[0].is_pinned());
    }
    // Set: the override is the site, a string; repository/tag/digest are not rendered.
    let s = sites(&block.replace("{o}", "\"quay.io/me/cilium:dev\""));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].kind, SiteKind::String);
    assert_eq!(s[0].path.to_string(), "image.override");
    assert_eq!(
        s[0].reference.as_ref().unwrap().to_string(),
        "quay.io/me/cilium:dev"
    );
    assert!(!s[0].is_pinned());
    assert_eq!(s[0].fields.string.as_ref().unwrap().key(), "override");
    let pinned = block.replace("{o}", &format!("quay.io/me/cilium:dev@{d}"));
    let s = sites(&pinned);
    assert_eq!(
        s.len(),
        1,
        "a pinned override is not also a plain string site"
    );
    assert!(s[0].is_pinned());
    let e = err(&block.replace("{o}", "|\n    quay.io/me/cilium:dev"));
    assert!(e.contains("block scalar"), "{e}");
}

#[test]
fn reading_follows_anchors_aliases_and_block_scalars() {
    let text = "image: &img nginx:1.25\nother: *img\nbase: &b\n  repository: a/b\n  tag: '1'\nx:\n  image: *b\nblock:\n  sidecarImage: |\n    busybox:1\n";
    let vf = ValuesFile::parse("values.yaml", text).unwrap();
    let strict = vf.image_sites().unwrap_err();
    let sites = vf.readable_sites().unwrap();
    let got: Vec<(String, String, usize)> = sites
        .iter()
        .map(|s| {
            let r = s
                .reference
                .as_ref()
                .map_or_else(|e| e.to_string(), |r| r.to_string());
            (s.path.to_string(), r, s.span.start)
        })
        .collect();
    let at = |needle: &str| text.find(needle).unwrap();
    assert_eq!(
        got,
        vec![
            ("image".into(), "nginx:1.25".into(), at("nginx:1.25")),
            ("other".into(), "nginx:1.25".into(), at("*img")),
            ("base".into(), "a/b:1".into(), at("repository")),
            ("x.image".into(), "a/b:1".into(), at("*b")),
            (
                "block.sidecarImage".into(),
                "busybox:1".into(),
                at("busybox")
            ),
        ]
    );
    // Every one is flagged, and the first flag is the very error pin gives.
    assert!(sites.iter().all(|s| s.uneditable.is_some()));
    assert_eq!(sites[0].uneditable.as_deref(), Some(&strict));
    let alias = sites[1].uneditable.as_ref().unwrap().to_string();
    assert!(
        alias.starts_with("values.yaml:2:8: an alias at `other` holds an image site"),
        "{alias}"
    );
    let block = sites[4].uneditable.as_ref().unwrap().to_string();
    assert!(block.contains("a block scalar"), "{block}");
    // Plain sites are not flagged.
    let plain = readable_sites(Path::new("v.yaml"), "image: nginx:1.25\n").unwrap();
    assert_eq!(plain[0].uneditable, None);
}

#[test]
fn alias_expansion_is_bounded() {
    // Aliases of aliases double at each level: reading must stay linear.
    let mut text = String::from(
        "a0: &a0 [x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000]\n",
    );
    for i in 1..40 {
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}]\n", p = i - 1));
    }
    let sites = readable_sites(Path::new("v.yaml"), &text).unwrap();
    assert!(
        sites.len() <= crate::yaml::MAX_ALIAS_EXPANSIONS + 1,
        "{}",
        sites.len()
    );
    assert!(sites.len() > 100);
}

/// Why a reference cannot be composed is a variant, not a message to search:
/// lint tells `invalid-reference` from `unresolvable-image` by it.
#[test]
fn site_errors_are_typed() {
    let bad = sites("image:\n  repository: Bad/Name\n  tag: '1'\n");
    assert!(
        matches!(&bad[0].reference, Err(SiteError::InvalidReference { written, .. }) if written == "Bad/Name:1"),
        "{bad:?}"
    );
    let default = sites("image:\n  repository: \"\"\n  tag: '1'\n");
    assert_eq!(default[0].reference, Err(SiteError::NoRepository));
    let osm10 = sites("image:\n  registry: r\n  tag: v1\n  digest:\n    osmController: ''\n");
    assert_eq!(
        osm10[0].reference,
        Err(SiteError::NameInTemplates {
            key: "osmController".into()
        })
    );
    let empty =
        sites("image:\n  registry: r\n  tag: v1\n  name:\n    a: ''\n  digest:\n    a: ''\n");
    assert_eq!(
        empty[0].reference,
        Err(SiteError::EmptyName {
            field: "image.name.a".into()
        })
    );
    assert_eq!(
        empty[0].reference.as_ref().unwrap_err().to_string(),
        "`image.name.a` is empty"
    );
}

#[test]
fn paths_and_urls_under_image_keys_are_not_sites() {
    let text = concat!(
        "trivy:\n",
        "  imageScanCacheDir: \"/tmp/trivy/.cache\"\n",
        "  imageDocsUrl: https://example.com/images/x:1\n",
        "  imageRelative: ./images/x\n",
        "  image: quay.io/a/b:1\n",
    );
    assert_eq!(
        refs(text),
        [("trivy.image".to_string(), "quay.io/a/b:1".to_string())]
    );
}
