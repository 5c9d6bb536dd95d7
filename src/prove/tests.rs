use super::*;
use crate::diag::Code;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn expected(name: &str, hex: &str, path: &str) -> Expected {
    Expected {
        name: ImageRef::parse(name).unwrap().name(),
        digest: Digest::parse(&format!("sha256:{hex}")).unwrap(),
        path: Some(path.to_string()),
        location: None,
    }
}

/// A Deployment `web` rendering `image`, labelled `version`, with `extra` lines in its spec.
fn deploy(image: &str, version: &str, env: &str) -> String {
    format!(
        "---\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n  labels:\n    version: \"{version}\"\n  annotations:\n    checksum/config: 0123456789abcdef0123456789abcdef\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"{image}\"\n          env:\n            - name: RELATED_IMAGES\n              value: \"{env}\"\n"
    )
}

const SVC: &str =
    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n";

fn codes(p: &Proof) -> Vec<Code> {
    p.findings.iter().map(|f| f.code).collect()
}

#[test]
fn a_pin_that_renders_its_digests_and_nothing_else_is_proven() {
    let before = deploy(
        "nginx:1.25",
        "1.25",
        "AGENT=quay.io/op/agent:1.0,PROBE=quay.io/op/probe:2.0",
    ) + SVC;
    // Documents in another order, a checksum regenerated: still the same render.
    let after = SVC.to_string()
        + &deploy(
            &format!("nginx:1.25@sha256:{A}"),
            "1.25",
            &format!("AGENT=quay.io/op/agent:1.0@sha256:{B},PROBE=quay.io/op/probe:2.0"),
        )
        .replace(
            "0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210",
        );
    let exp = [
        expected("nginx", A, "image.tag"),
        expected("quay.io/op/agent", B, "agent.image"),
    ];
    let p = prove(&before, &after, &exp).unwrap();
    assert_eq!(codes(&p), []);
    assert_eq!(p.proven, 2);
}

#[test]
fn a_covered_image_without_its_digest_names_object_container_and_values_path() {
    let env = "X=1";
    let before = deploy("nginx:1.25", "1.25", env);
    for after in [
        deploy("nginx:1.25", "1.25", env),
        deploy(&format!("nginx:1.25@sha256:{B}"), "1.25", env),
    ] {
        let p = prove(&before, &after, &[expected("nginx", A, "image.digest")]).unwrap();
        assert_eq!(codes(&p), [Code::DigestNotRendered], "{after}");
        let f = &p.findings[0];
        assert!(
            f.message
                .starts_with("Deployment/prod/web container `web` renders `nginx:1.25"),
            "{}",
            f.message
        );
        assert!(f.message.contains(&format!("sha256:{A}")), "{}", f.message);
        assert!(
            f.message.contains("(pinned at `image.digest`)"),
            "{}",
            f.message
        );
        assert_eq!(f.path.as_deref(), Some("image.digest"));
        assert_eq!(p.proven, 0);
    }
}

#[test]
fn a_digest_spliced_into_a_name_breaks_the_reference_and_is_reported() {
    // linkerd: `{{ .Values.controllerImage }}:{{ .Values.controllerImageVersion }}`.
    let before = deploy("cr.l5d.io/linkerd/controller:stable-2.14", "x", "X=1");
    let after = deploy(
        &format!("cr.l5d.io/linkerd/controller@sha256:{A}:stable-2.14"),
        "x",
        "X=1",
    );
    let p = prove(
        &before,
        &after,
        &[expected(
            "cr.l5d.io/linkerd/controller",
            A,
            "controllerImage",
        )],
    )
    .unwrap();
    assert!(
        codes(&p).contains(&Code::DigestNotRendered),
        "{:?}",
        p.findings
    );
}

#[test]
fn a_label_that_now_holds_a_digest_is_a_broken_chart() {
    let before = deploy("nginx:1.25", "1.25", "X=1");
    let after = deploy(
        &format!("nginx:1.25@sha256:{A}"),
        &format!("1.25@sha256:{A}"),
        "X=1",
    );
    let p = prove(&before, &after, &[expected("nginx", A, "image.tag")]).unwrap();
    assert_eq!(codes(&p), [Code::RenderChanged]);
    let m = &p.findings[0].message;
    assert!(
        m.starts_with("Deployment/prod/web field `metadata.labels.version` changed from `1.25` to `1.25@sha256:"),
        "{m}"
    );
    assert!(m.contains("cannot hold a digest"), "{m}");
    assert_eq!(p.proven, 1);
}

#[test]
fn any_other_field_or_object_that_changes_is_reported() {
    let before = deploy("nginx:1.25", "1.25", "X=1") + SVC;
    let after = deploy(&format!("nginx:1.25@sha256:{A}"), "1.25", "X=2")
        .replace("replicas: 1", "replicas: 2");
    let p = prove(&before, &after, &[expected("nginx", A, "image.tag")]).unwrap();
    let got: Vec<&str> = p.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got.iter().all(|m| !m.contains("cannot hold")), "{got:#?}");
    assert!(got.iter().any(|m| {
        m.starts_with("Deployment/prod/web field `spec.replicas` changed from `1` to `2`")
    }));
    assert!(
        got.iter()
            .any(|m| m.contains("env[0].value` changed from `X=1` to `X=2`"))
    );
    assert!(
        got.iter()
            .any(|m| m.starts_with("Service/web no longer renders"))
    );
}

#[test]
fn an_image_that_changes_name_is_not_an_image_string_change() {
    let before = deploy("nginx:1.25", "1.25", "X=1");
    let after = deploy(
        &format!("docker.io/other/nginx:1.25@sha256:{A}"),
        "1.25",
        "X=1",
    );
    let p = prove(&before, &after, &[expected("other/nginx", A, "image")]).unwrap();
    assert_eq!(codes(&p), [Code::RenderChanged]);
    assert!(p.findings[0].message.contains("containers[0].image"));
}

#[test]
fn image_maps_may_gain_a_digest_key() {
    let cr = |digest: &str| {
        format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w}}\nspec:\n  image: {{repository: quay.io/w/w, tag: \"1.2\"{digest}}}\n"
        )
    };
    let before = cr("");
    let after = cr(&format!(", digest: \"sha256:{A}\""));
    let p = prove(
        &before,
        &after,
        &[expected("quay.io/w/w", A, "w.image.digest")],
    )
    .unwrap();
    assert_eq!(codes(&p), []);
    assert_eq!(p.proven, 1);
}

#[test]
fn images_the_pin_does_not_cover_need_no_digest_and_regenerated_certificates_are_no_change() {
    let secret = |c: &str| {
        format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: tls}}\ndata:\n  tls.crt: {c}\n"
        )
    };
    let before = deploy("busybox:1.36", "1", "X=1")
        + &secret("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=");
    let after = deploy("busybox:1.36", "1", "X=1")
        + &secret("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUQ=");
    let p = prove(&before, &after, &[expected("nginx", A, "image")]).unwrap();
    assert_eq!(codes(&p), []);
    assert_eq!(p.proven, 0);
}

#[test]
fn a_digest_field_beside_an_image_may_gain_the_digest_applied() {
    // prometheus-operator's Alertmanager: `spec.image` and `spec.sha`.
    let cr = |sha: &str| {
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: Alertmanager\nmetadata: {{name: am}}\nspec:\n  image: quay.io/prometheus/alertmanager:v0.28.0{}\n{sha}",
            if sha.is_empty() {
                String::new()
            } else {
                format!("@sha256:{A}")
            }
        )
    };
    let before = cr("");
    let after = cr(&format!("  sha: {A}\n"));
    let exp = [expected(
        "quay.io/prometheus/alertmanager",
        A,
        "alertmanager.image",
    )];
    let p = prove(&before, &after, &exp).unwrap();
    assert_eq!(codes(&p), []);
    // Any other digest there is a change.
    let p = prove(&before, &cr(&format!("  sha: {B}\n")), &exp).unwrap();
    assert_eq!(codes(&p), [Code::RenderChanged]);
}
