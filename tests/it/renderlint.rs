//! `lint --render` reads what the chart renders: every mutable image in
//! every rendered field (image fields, env values, args, ConfigMap data),
//! and nothing else; and static lint reads inline digest conditionals and
//! `| default "…"` without false errors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::cli::chartpin;
use crate::support::helm;

fn full_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/full")
}

/// Every mutable image each corpus chart renders with default values, as
/// `../shared/corpus/full/SOURCES.md` lists them ("Images rendered"), the
/// pinned ones (digests) left out: `image:` fields and the `(other)`
/// references in env values, args and ConfigMap data.
const MUTABLE_RENDERED: &[(&str, &[&str])] = &[
    (
        "bitnami-nginx",
        &["docker.io/bitnami/nginx:1.29.1-debian-12-r0"],
    ),
    (
        "cert-manager-1.16",
        &[
            "quay.io/jetstack/cert-manager-acmesolver:v1.16.0",
            "quay.io/jetstack/cert-manager-cainjector:v1.16.0",
            "quay.io/jetstack/cert-manager-controller:v1.16.0",
            "quay.io/jetstack/cert-manager-startupapicheck:v1.16.0",
            "quay.io/jetstack/cert-manager-webhook:v1.16.0",
        ],
    ),
    (
        "dapr",
        &[
            "ghcr.io/dapr/daprd:edge",
            "ghcr.io/dapr/injector:edge",
            "ghcr.io/dapr/operator:edge",
            "ghcr.io/dapr/placement:edge",
            "ghcr.io/dapr/scheduler:edge",
            "ghcr.io/dapr/sentry:edge",
        ],
    ),
    (
        "descheduler",
        &["registry.k8s.io/descheduler/descheduler:v0.36.0"],
    ),
    (
        "grafana",
        &[
            "docker.io/bats/bats:v1.4.1",
            "docker.io/grafana/grafana:12.3.1",
        ],
    ),
    ("ingress-nginx", &[]),
    (
        "kube-prometheus-stack",
        &[
            "docker.io/bats/bats:1.14.0",
            "docker.io/grafana/grafana:13.2.0",
            "ghcr.io/jkroepke/kube-webhook-certgen:1.8.7",
            "quay.io/kiwigrid/k8s-sidecar:2.10.1",
            "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
            "quay.io/prometheus-operator/prometheus-operator:v0.93.1",
            "quay.io/prometheus/alertmanager:v0.34.0",
            "quay.io/prometheus/node-exporter:v1.12.1-distroless",
            "quay.io/prometheus/prometheus:v3.14.0-distroless",
            "quay.io/thanos/thanos:v0.42.4",
            "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0",
        ],
    ),
    (
        "mongodb-community-operator",
        &[
            "quay.io/mongodb/mongodb-agent-ubi:108.0.6.8796-1",
            "quay.io/mongodb/mongodb-kubernetes-operator-version-upgrade-post-start-hook:1.0.10",
            "quay.io/mongodb/mongodb-kubernetes-operator:0.13.0",
            "quay.io/mongodb/mongodb-kubernetes-readinessprobe:1.0.23",
        ],
    ),
    ("opencost", &[]),
    ("osm-1.0", &["curlimages/curl"]),
    ("osm-1.2", &["curlimages/curl"]),
    (
        "rook-ceph",
        &[
            "docker.io/rook/ceph:v1.20.6",
            "quay.io/cephcsi/ceph-csi-operator:v1.0.4",
            "quay.io/cephcsi/cephcsi:v3.17.0",
            "quay.io/csiaddons/k8s-sidecar:v0.14.0",
            "registry.k8s.io/sig-storage/csi-attacher:v4.12.0",
            "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.17.0",
            "registry.k8s.io/sig-storage/csi-provisioner:v6.2.0",
            "registry.k8s.io/sig-storage/csi-resizer:v2.1.0",
            "registry.k8s.io/sig-storage/csi-snapshotter:v8.5.0",
        ],
    ),
    ("traefik", &["docker.io/traefik:v3.7.11"]),
    (
        "trivy-operator",
        &[
            "ghcr.io/aquasecurity/node-collector:0.3.1",
            "mirror.gcr.io/aquasec/trivy-checks:1",
            "mirror.gcr.io/aquasec/trivy-operator:0.32.0",
        ],
    ),
];

fn lint_json(args: &[&str]) -> (i32, serde_json::Value) {
    let run = chartpin(args)
        .envs(&[("PATH", &helm::path_with_helm())])
        .run();
    let doc = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.all()));
    (run.code, doc)
}

/// The distinct values of `field` over the findings of a JSON report.
fn field_of(doc: &serde_json::Value, field: &str) -> BTreeSet<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f[field].as_str().map(str::to_string))
        .collect()
}

fn images_of(doc: &serde_json::Value) -> BTreeSet<String> {
    field_of(doc, "image")
}

/// Each complete corpus chart, original and with default values:
/// `lint --render` reports exactly the mutable images it renders, each at
/// a place in the chart, and nothing else (no image that does not render,
/// no pinned one, no argument or URL).
#[test]
fn render_lint_reports_every_mutable_rendered_image_and_nothing_else() {
    let base = full_corpus();
    let mut on_disk: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("Chart.yaml")
                .is_file()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    on_disk.sort();
    let listed: Vec<String> = MUTABLE_RENDERED
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        on_disk, listed,
        "every full corpus chart needs its expected images here"
    );
    let mut table = String::from("chart | mutable rendered | reported\n");
    let mut failures = Vec::new();
    for (name, expected) in MUTABLE_RENDERED {
        let dir = base.join(name);
        // The expected list is what this helm renders (the table is not stale).
        let stream = helm::template(name, &dir);
        for img in *expected {
            assert!(stream.contains(img), "{name}: `{img}` is not in the render");
        }
        let (code, doc) = lint_json(&[
            "lint",
            "--render",
            "--format",
            "json",
            dir.to_str().unwrap(),
        ]);
        let got = images_of(&doc);
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        table.push_str(&format!("{name} | {} | {}\n", want.len(), got.len()));
        if got != want {
            failures.push(format!(
                "{name}: missing {:?}, not expected {:?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            ));
        }
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{name}: {doc}");
        for f in doc["findings"].as_array().unwrap() {
            // Every finding is placed in the chart, never in the render alone.
            let file = f["file"].as_str().unwrap_or("");
            assert!(file.contains(name), "{name}: {f}");
            assert_ne!(f["code"], "invalid-reference", "{name}: {f}");
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// An operator chart with images in env `KEY=ref` lists and `*_IMAGE`
/// values, flag and value as separate args, a CIDR list, a URL and a
/// ConfigMap of image keys: rendered by the real helm.
fn operator_chart(dir: &Path) {
    write(
        dir,
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: op\nversion: 0.1.0\nappVersion: \"1.0\"\n",
            ),
            (
                "values.yaml",
                concat!(
                    "image:\n  repository: quay.io/op/manager\n  tag: v1\n  digest: \"\"\n",
                    "agentImage: quay.io/op/agent:1.0\n",
                    "clusterNetworks: \"10.0.0.0/8,192.168.0.0/16\"\n",
                    "submitterUrl: http://submitter:8080/api/v1\n",
                ),
            ),
            (
                "templates/deploy.yaml",
                concat!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: op\n",
                    "spec:\n  template:\n    spec:\n      containers:\n        - name: manager\n",
                    "          image: \"{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\"\n",
                    "          args:\n",
                    "            - --cluster-networks={{ .Values.clusterNetworks }}\n",
                    "            - --submitter-service-url={{ .Values.submitterUrl }}\n",
                    "            - --init-image\n",
                    "            - busybox:1.36\n",
                    "          env:\n",
                    "            - name: RELATED_IMAGES\n",
                    "              value: \"AGENT={{ .Values.agentImage }},PROBE=quay.io/op/probe:2.0\"\n",
                    "            - name: HOOK_IMAGE\n",
                    "              value: quay.io/op/hook:3\n",
                ),
            ),
            (
                "templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: images\ndata:\n  plugin: quay.io/cephcsi/cephcsi:v3.17.0\n  endpoint: \"http://svc:8080/x\"\n",
            ),
        ],
    );
}

#[test]
fn render_lint_reads_env_args_and_config_maps_and_never_flags_urls_or_cidrs() {
    let dir = tempfile::tempdir().unwrap();
    operator_chart(dir.path());
    let chart = dir.path().to_str().unwrap();
    let (code, doc) = lint_json(&["lint", "--render", "--format", "json", chart]);
    assert_eq!(code, 1, "{doc}");
    let got = images_of(&doc);
    let want: BTreeSet<String> = [
        "busybox:1.36",
        "quay.io/cephcsi/cephcsi:v3.17.0",
        "quay.io/op/agent:1.0",
        "quay.io/op/hook:3",
        "quay.io/op/manager:v1",
        "quay.io/op/probe:2.0",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(got, want, "{doc}");
    assert!(
        !field_of(&doc, "code").contains("invalid-reference"),
        "{doc}"
    );
    // The manager image points back at its values site, where a pin goes.
    let manager = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["image"] == "quay.io/op/manager:v1")
        .unwrap();
    assert!(
        manager["file"].as_str().unwrap().ends_with("values.yaml"),
        "{manager}"
    );
    assert_eq!(manager["path"], "image", "{manager}");
    // Static lint finds no false error either.
    let (_, plain) = lint_json(&["lint", "--format", "json", chart]);
    assert!(
        !field_of(&plain, "code").contains("invalid-reference"),
        "{plain}"
    );
}

/// A chart pinned through an inline digest conditional lints clean, with
/// and without helm (`release` lints the same way, so it no longer refuses it).
#[test]
fn inline_digest_conditional_pinned_chart_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"),
            (
                "values.yaml",
                &format!(
                    "image:\n  repository: quay.io/org/app\n  tag: \"1.2\"\n  digest: \"{DIGEST}\"\n"
                ),
            ),
            (
                "templates/deploy.yaml",
                concat!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n",
                    "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n",
                    "          {{- with .Values.image }}\n",
                    "          image: {{ .repository }}{{ if .digest }}@{{ .digest }}{{ else }}:{{ .tag }}{{ end }}\n",
                    "          {{- end }}\n",
                    "        - name: sidecar\n",
                    "          image: {{ .Values.sidecar | default \"nginx:latest\" }}\n",
                ),
            ),
        ],
    );
    let chart = dir.path().to_str().unwrap();
    for args in [
        vec!["lint", "--format", "json", chart],
        vec!["lint", "--render", "--format", "json", chart],
    ] {
        let (code, doc) = lint_json(&args);
        // Only the sidecar's default literal is mutable.
        assert_eq!(code, 1, "{args:?}: {doc}");
        let findings = doc["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1, "{args:?}: {doc}");
        assert_eq!(findings[0]["image"], "nginx:latest", "{args:?}: {doc}");
        assert_eq!(findings[0]["code"], "mutable-tag", "{args:?}: {doc}");
    }
}

/// `release` lints the chart it is about to write with the same code: a
/// chart whose template writes the digest through an inline conditional is
/// released (it was refused: `invalid-reference … contains whitespace`),
/// with and without `--render`.
#[test]
fn release_accepts_a_chart_pinned_through_an_inline_conditional() {
    let reg = crate::support::registry::Registry::start();
    let pushed = reg.push_image("shop/app", Some("1.2"), "app 1.2");
    for render in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join("chart");
        write(
            &chart,
            &[
                ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"),
                (
                    "values.yaml",
                    &format!(
                        "image:\n  repository: {}/shop/app\n  tag: \"1.2\"\n  digest: \"\"\n",
                        reg.host
                    ),
                ),
                (
                    "templates/deploy.yaml",
                    concat!(
                        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n",
                        "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n",
                        "          {{- with .Values.image }}\n",
                        "          image: {{ .repository }}{{ if .digest }}@{{ .digest }}{{ else }}:{{ .tag }}{{ end }}\n",
                        "          {{- end }}\n",
                    ),
                ),
            ],
        );
        let digests = dir.path().join("digests.txt");
        std::fs::write(
            &digests,
            format!("{}/shop/app:1.2@{}\n", reg.host, pushed.digest),
        )
        .unwrap();
        let mut args = vec![
            "release",
            chart.to_str().unwrap(),
            "--digests",
            digests.to_str().unwrap(),
            "--format",
            "human",
        ];
        if render {
            args.push("--render");
        }
        let run = chartpin(&args)
            .envs(&[("PATH", &helm::path_with_helm())])
            .run();
        assert_eq!(run.code, 0, "render={render}: {}", run.all());
        assert!(!run.all().contains("invalid-reference"), "{}", run.all());
        let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
        assert!(values.contains(&pushed.digest), "{values}");
    }
}

/// The JSON finding for `image`, with its file (relative to `dir`), line and column.
fn located(doc: &serde_json::Value, dir: &Path, image: &str) -> Vec<(String, u64, u64, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["image"] == image)
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            let rel = Path::new(file)
                .strip_prefix(dir)
                .map_or(file.to_string(), |p| p.display().to_string());
            (
                rel,
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `lint --render` points each mutable rendered image back to the one
/// values site or template line that produced it: a values site read by the
/// rendering template (chosen among two sites holding the same image by
/// which the template reads), a literal in a template; and an image string
/// two sites produce in one template keeps the template file, no line.
#[test]
fn render_lint_points_at_the_values_site_or_template_line_that_produced_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "app/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 0.1.0\nappVersion: \"1.0\"\n",
            ),
            (
                "app/values.yaml",
                "web:\n  image:\n    repository: quay.io/acme/web\n    tag: \"1.2.3\"\n\
                 api:\n  image:\n    repository: quay.io/acme/shared\n    tag: \"2.0\"\n\
                 unused:\n  image:\n    repository: quay.io/acme/shared\n    tag: \"2.0\"\n\
                 a:\n  image:\n    repository: quay.io/acme/twice\n    tag: \"3.0\"\n\
                 b:\n  image:\n    repository: quay.io/acme/twice\n    tag: \"3.0\"\n",
            ),
            (
                "app/templates/deploy.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n\
                 \x20       - name: web\n          image: \"{{ .Values.web.image.repository }}:{{ .Values.web.image.tag }}\"\n\
                 \x20       - name: api\n          image: \"{{ .Values.api.image.repository }}:{{ .Values.api.image.tag }}\"\n\
                 \x20       - name: side\n          image: quay.io/acme/side:0.9\n",
            ),
            (
                "app/templates/twice.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: twice\nspec:\n  template:\n    spec:\n      containers:\n\
                 \x20       - name: a\n          image: \"{{ .Values.a.image.repository }}:{{ .Values.a.image.tag }}\"\n\
                 \x20       - name: b\n          image: \"{{ .Values.b.image.repository }}:{{ .Values.b.image.tag }}\"\n",
            ),
        ],
    );
    let chart = dir.path().join("app");
    let (code, doc) = lint_json(&[
        "lint",
        "--render",
        "--format",
        "json",
        chart.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{doc}");
    let at = |image: &str| located(&doc, &chart, image);
    // The values site, at the tag to change, named by its values path.
    assert_eq!(
        at("quay.io/acme/web:1.2.3"),
        [("values.yaml".to_string(), 4, 10, "web.image".to_string())]
    );
    // Two sites hold the image; the rendering template reads one of them.
    assert_eq!(
        at("quay.io/acme/shared:2.0"),
        [("values.yaml".to_string(), 8, 10, "api.image".to_string())]
    );
    // A literal in a template: its line and column.
    let side = at("quay.io/acme/side:0.9");
    assert_eq!(side.len(), 1, "{doc}");
    assert_eq!(
        (side[0].0.as_str(), side[0].1, side[0].2),
        ("templates/deploy.yaml", 14, 18)
    );
    // Two sites, both read by the template that renders the image: no line.
    let twice = at("quay.io/acme/twice:3.0");
    assert!(!twice.is_empty(), "{doc}");
    for (file, line, column, _) in &twice {
        assert_eq!(
            (file.as_str(), *line, *column),
            ("templates/twice.yaml", 0, 0),
            "{doc}"
        );
    }
}
