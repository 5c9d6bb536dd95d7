//! What a pinned digest names, against the real registry: a multi-platform
//! index with buildx-style attestation entries, one platform's manifest
//! pinned where its tag points to that index, the attestation itself, a
//! cosign signature and an SBOM artifact pinned by mistake, and an index
//! missing arm64. Each is classified and reported with its own code.

use crate::support::cli::{Run, chartpin, temp_chart};
use crate::support::registry::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Registry};

const IN_TOTO: &str = "application/vnd.in-toto+json";

/// `reg/app:v1` → an index of linux/amd64 and linux/arm64 images, each with
/// its attestation manifest (`unknown/unknown`, annotated as buildx does).
/// Returns (index digest, [amd64 digest, arm64 digest], attestation digest).
fn push_buildx_index(reg: &Registry) -> (String, Vec<String>, String) {
    let images = reg.push_index("app", None, "kinds", &["linux/amd64", "linux/arm64"]);
    let mut entries = Vec::new();
    let mut attestation = String::new();
    for img in &images.manifests {
        let (arch_os, arch) = img.platform.split_once('/').unwrap();
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": img.digest, "size": img.manifest.len(),
            "platform": {"os": arch_os, "architecture": arch},
        }));
        let (att, bytes) =
            reg.push_artifact("app", None, OCI_CONFIG, IN_TOTO, &format!("att-{arch}"));
        entries.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": att, "size": bytes.len(),
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": img.digest,
            },
        }));
        attestation = att;
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
    }))
    .unwrap();
    let digest = reg.push_manifest("app", Some("v1"), OCI_INDEX, &index);
    let platforms = images.manifests.iter().map(|m| m.digest.clone()).collect();
    (digest, platforms, attestation)
}

fn codes(run: &Run) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}):\n{}", run.all());
    });
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}:{}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn each_kind_of_pinned_digest_is_classified() {
    let reg = Registry::start();
    let host = &reg.host;
    let (index, platforms, attestation) = push_buildx_index(&reg);

    // The index: an image, with both platforms; attestation entries provide none.
    let ok = chartpin(&[
        "verify",
        &format!("{host}/app:v1@{index}"),
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
        "--format",
        "json",
    ])
    .run();
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(codes(&ok).is_empty(), "{}", ok.all());
    let s390 = chartpin(&[
        "verify",
        &format!("{host}/app@{index}"),
        "--platform",
        "linux/s390x",
    ])
    .run();
    assert_eq!(s390.code, 1, "{}", s390.all());
    assert!(
        s390.stdout
            .contains("it provides linux/amd64, linux/arm64)")
            && !s390.stdout.contains("unknown"),
        "{}",
        s390.all()
    );

    // One platform's manifest where the tag points to the index: a warning,
    // an error with --require-index; without a tag there is nothing to compare.
    let amd64 = format!("{host}/app:v1@{}", platforms[0]);
    let warned = chartpin(&["verify", &amd64, "--format", "json"]).run();
    assert_eq!(warned.code, 0, "{}", warned.all());
    assert_eq!(
        codes(&warned),
        ["warning:platform-manifest"],
        "{}",
        warned.all()
    );
    let human = chartpin(&["verify", &amd64]).run();
    assert!(
        human.stdout.contains(&format!(
            "is the linux/amd64 manifest of the index {host}/app:v1 points to ({index})"
        )),
        "{}",
        human.all()
    );
    let strict = chartpin(&["verify", &amd64, "--require-index", "--format", "json"]).run();
    assert_eq!(strict.code, 1, "{}", strict.all());
    assert_eq!(
        codes(&strict),
        ["error:platform-manifest"],
        "{}",
        strict.all()
    );
    let untagged = chartpin(&["verify", &format!("{host}/app@{}", platforms[1])]).run();
    assert_eq!(untagged.code, 0, "{}", untagged.all());

    // The attestation, a cosign signature and an SBOM: not images.
    let (signature, _) = reg.push_artifact(
        "app",
        None,
        OCI_CONFIG,
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "sig",
    );
    let (sbom, _) = reg.push_artifact(
        "app",
        Some("application/spdx+json"),
        "application/vnd.oci.empty.v1+json",
        "application/spdx+json",
        "sbom",
    );
    let (chart, _) = reg.push_artifact(
        "app",
        None,
        "application/vnd.cncf.helm.config.v1+json",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "chart",
    );
    for (digest, what) in [
        (
            &attestation,
            "a build attestation (application/vnd.in-toto+json)",
        ),
        (
            &signature,
            "a signature (application/vnd.dev.cosign.simplesigning.v1+json)",
        ),
        (&sbom, "an SBOM (application/spdx+json)"),
        (
            &chart,
            "an OCI artifact (application/vnd.cncf.helm.config.v1+json)",
        ),
    ] {
        let r = format!("{host}/app@{digest}");
        let run = chartpin(&["verify", &r, "--format", "json"]).run();
        assert_eq!(run.code, 1, "{what}: {}", run.all());
        assert_eq!(codes(&run), ["error:not-an-image"], "{what}: {}", run.all());
        let human = chartpin(&["verify", &r]).run();
        assert!(
            human.stdout.contains(&format!(
                "{digest} is {what}, not an image a kubelet can run"
            )),
            "{what}: {}",
            human.all()
        );
    }

    // An index without arm64.
    let old = reg.push_index("old", Some("v1"), "old", &["linux/amd64"]);
    let missing = chartpin(&[
        "verify",
        &format!("{host}/old:v1@{}", old.digest),
        "--platform",
        "linux/arm64",
        "--format",
        "json",
    ])
    .run();
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert_eq!(
        codes(&missing),
        ["error:platform-missing"],
        "{}",
        missing.all()
    );
}

/// `--require-platform a,b` and a chart's `.chartpin.yaml` `requirePlatforms`
/// / `requireIndex` ask the same of every pinned image; `--config FILE`
/// stands for every chart's own.
#[test]
fn required_platforms_come_from_the_flag_and_the_chart_config() {
    let reg = Registry::start();
    let host = &reg.host;
    let (index, platforms, _) = push_buildx_index(&reg);
    let old = reg.push_index("old", Some("v1"), "old", &["linux/amd64"]);
    let values = format!(
        "app:\n  image: {host}/app:v1@{index}\nold:\n  image: {host}/old:v1@{}\n",
        old.digest
    );
    let (dir, chart, _) = temp_chart(&values, "");
    let c = chart.to_str().unwrap();
    let plain = chartpin(&["verify", c]).run();
    assert_eq!(plain.code, 0, "{}", plain.all());

    let flag = chartpin(&["verify", c, "--require-platform", "linux/amd64,linux/arm64"]).run();
    assert_eq!(flag.code, 1, "{}", flag.all());
    assert!(
        flag.stdout.contains(&format!(
            "{host}/old: no linux/arm64 image (it provides linux/amd64)"
        )) && !flag.stdout.contains(&format!("{host}/app:")),
        "{}",
        flag.all()
    );
    assert!(
        chartpin(&["verify", c, "--require-platform", "amd64"])
            .run()
            .code
            == 2,
        "a platform without an os is a usage error"
    );

    std::fs::write(
        chart.join(".chartpin.yaml"),
        "requirePlatforms: [linux/arm64]\n",
    )
    .unwrap();
    let config = chartpin(&["verify", c, "--format", "json"]).run();
    assert_eq!(config.code, 1, "{}", config.all());
    assert_eq!(
        codes(&config),
        ["error:platform-missing"],
        "{}",
        config.all()
    );

    // requireIndex: one platform's manifest, its tag on the index, is an error.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "requireIndex: true\n").unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        format!("app:\n  image: {host}/app:v1@{}\n", platforms[1]),
    )
    .unwrap();
    let warned = chartpin(&["verify", c, "--format", "json"]).run();
    assert_eq!(warned.code, 0, "{}", warned.all());
    assert_eq!(
        codes(&warned),
        ["warning:platform-manifest"],
        "{}",
        warned.all()
    );
    let strict = chartpin(&[
        "verify",
        c,
        "--config",
        other.to_str().unwrap(),
        "--format",
        "json",
    ])
    .run();
    assert_eq!(strict.code, 1, "{}", strict.all());
    assert_eq!(
        codes(&strict),
        ["error:platform-manifest"],
        "{}",
        strict.all()
    );
}
