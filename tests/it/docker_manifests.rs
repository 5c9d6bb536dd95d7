//! Docker v2 manifests and manifest lists, as registries still serve them for
//! images built by `docker build`/`docker push`: `verify --platform`,
//! `verify --content` and `resolve --platform` read them as they read OCI
//! indexes and manifests (src/verify.rs parses both with oci-client's models).
//! Pushed to a real registry, which checks that every manifest a list names exists.

use crate::support::cli::chartpin;
use crate::support::registry::{PushedImage, Registry, sha256};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The Docker v2 twin of a pushed OCI image (same config and layer blobs),
/// put by digest; returns (digest, bytes).
fn docker_twin(reg: &Registry, image: &PushedImage) -> (String, Vec<u8>) {
    let mut m: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    m["mediaType"] = DOCKER_MANIFEST.into();
    m["config"]["mediaType"] = DOCKER_CONFIG.into();
    for layer in m["layers"].as_array_mut().unwrap() {
        layer["mediaType"] = DOCKER_LAYER.into();
    }
    let bytes = serde_json::to_vec_pretty(&m).unwrap();
    let digest = sha256(&bytes);
    reg.retag(&image.repo, &digest, DOCKER_MANIFEST, &bytes);
    (digest, bytes)
}

#[test]
fn docker_manifest_lists_and_manifests_verify_and_resolve_by_platform() {
    let reg = Registry::start();
    let amd = reg.push_image_for("dock", None, "d-amd", "linux/amd64");
    let arm = reg.push_image_for("dock", None, "d-arm", "linux/arm64/v8");
    let (amd_digest, amd_bytes) = docker_twin(&reg, &amd);
    let (arm_digest, arm_bytes) = docker_twin(&reg, &arm);
    let list = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": amd_digest, "size": amd_bytes.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": DOCKER_MANIFEST, "digest": arm_digest, "size": arm_bytes.len(),
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ],
    }))
    .unwrap();
    let list_digest = sha256(&list);
    reg.retag("dock", "v1", DOCKER_LIST, &list);
    let listed = format!("{}/dock@{list_digest}", reg.host);
    let single = format!("{}/dock@{amd_digest}", reg.host);

    // A manifest list provides its platforms, and its bytes hash to its digest.
    let both = chartpin(&[
        "verify",
        &listed,
        "--content",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64",
    ])
    .run();
    assert_eq!(both.code, 0, "{}", both.all());
    let s390 = chartpin(&["verify", &listed, "--platform", "linux/s390x"]).run();
    assert_eq!(s390.code, 1, "{}", s390.all());
    assert!(
        s390.stdout.contains("platform-missing")
            && s390
                .stdout
                .contains("it provides linux/amd64, linux/arm64/v8"),
        "{}",
        s390.all()
    );

    // A Docker v2 manifest provides the platform its (Docker) config states.
    let amd_ok = chartpin(&["verify", &single, "--platform", "linux/amd64"]).run();
    assert_eq!(amd_ok.code, 0, "{}", amd_ok.all());
    let arm_missing = chartpin(&["verify", &single, "--platform", "linux/arm64"]).run();
    assert_eq!(arm_missing.code, 1, "{}", arm_missing.all());
    assert!(
        arm_missing.stdout.contains("platform-missing"),
        "{}",
        arm_missing.all()
    );

    // resolve: the list's digest, or with --platform that platform's manifest.
    let tagged = format!("{}/dock:v1", reg.host);
    let index = chartpin(&["resolve", &tagged]).run();
    assert_eq!(index.code, 0, "{}", index.all());
    assert_eq!(index.stdout.trim(), format!("{tagged}@{list_digest}"));
    let arm64 = chartpin(&["resolve", &tagged, "--platform", "linux/arm64"]).run();
    assert_eq!(arm64.code, 0, "{}", arm64.all());
    assert_eq!(arm64.stdout.trim(), format!("{tagged}@{arm_digest}"));
    let none = chartpin(&["resolve", &tagged, "--platform", "linux/s390x"]).run();
    assert_eq!(none.code, 1, "{}", none.all());
    assert!(
        none.stderr.contains("no linux/s390x image"),
        "{}",
        none.all()
    );
}
