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

#[test]
fn no_edits_gives_identical_bytes() {
    for text in [
        "a: 1\n",
        "\u{feff}a: x\r\nb: \"y\"\r\n",
        "# c\nimage:\n  repository: x # c\n  tag: '1'\n---\nb: [1, 2]\n",
        "",
    ] {
        let v = ValuesFile::parse("v.yaml", text).unwrap();
        assert_eq!(apply_edits(v.text(), &[]).unwrap(), text);
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
    assert_eq!(s[1].fields.digest.as_ref().unwrap().key, "digestChroot");

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
    assert_eq!(s[0].fields.string.as_ref().unwrap().key, "override");
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
                .map_or_else(|e| e.clone(), |r| r.to_string());
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
    assert_eq!(sites[0].uneditable.as_ref(), Some(&strict));
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
    assert!(sites.len() <= MAX_ALIAS_EXPANSIONS + 1, "{}", sites.len());
    assert!(sites.len() > 100);
}
