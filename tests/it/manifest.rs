//! Every digest manifest in the shared corpus, read end to end: exact entries
//! (names, tags, digests, origins) or the exact reason it cannot be used.

use std::path::{Path, PathBuf};

use chartpin::manifest::{
    DigestManifest, EntryName, ManifestFormat, parse_manifest, read_manifests,
};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/digests")
        .join(name)
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/manifests")
        .join(name)
}

/// `name[:tag]@digest line:col` for each entry; short names start with `~`.
fn summary(m: &DigestManifest) -> Vec<String> {
    m.entries
        .iter()
        .map(|e| {
            let name = match &e.name {
                EntryName::Full(r) => r.as_str().to_string(),
                EntryName::Short(s) => format!("~{s}"),
            };
            let tag = e.tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default();
            format!(
                "{name}{tag}@{} {}:{}",
                e.digest, e.origin.line, e.origin.column
            )
        })
        .collect()
}

fn read(path: &Path) -> DigestManifest {
    read_manifests(&[path.to_path_buf()], None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn osm_docker_images_table() {
    let m = read(&corpus("osm_image_digest_v0.4.0.txt"));
    assert_eq!(
        summary(&m),
        [
            "openservicemesh/init:v0.4.0@sha256:a9f3b6b53132266d9090d1fe9e1cbbcf9caa5ca6b8ed247797ce7af6df22bf0e 1:1",
            "openservicemesh/osm-controller:v0.4.0@sha256:eb194138abddbe271d42b290489917168a6a891a3dabb575de02c53f13879bee 2:1",
            "openservicemesh/osm-injector:v0.4.0@sha256:311d87892778d976baf2560622a258ac011a5a3f755d05566ce17458d04fdda1 3:1",
            "openservicemesh/osm-crds:v0.4.0@sha256:542d6dd31d9ceae8f0d4bc4020d6df19791c7207e8a76047193968bb51799d7e 4:1",
            "openservicemesh/osm-bootstrap:v0.4.0@sha256:9aad07e55e7d1e650b9398f1487695ac016a1b74d60a9879ddcf6455f84cd8f0 5:1",
        ]
    );
    let EntryName::Full(r) = &m.entries[1].name else {
        panic!("full name expected")
    };
    assert_eq!(r.name(), "docker.io/openservicemesh/osm-controller");
}

#[test]
fn osm_name_digest_log() {
    let m = read(&corpus("osm_docker-digests-osm_log.txt"));
    assert_eq!(
        summary(&m),
        [
            "~init@sha256:96bdf7c283ac679344ab1bc5badc406ff486ad2fecb46b209e11e19d2a0a4d3c 1:1",
            "~osm-controller@sha256:069f20906035d9b8c4c59792ee1f2b90586a6134a5e286bf015af8ee83041510 2:1",
            "~osm-injector@sha256:d2e96d99a311b120c4afd7bd3248f75d0766c98bd121a979a343e438e9cd2c35 3:1",
            "~osm-crds@sha256:359a4a6b031d0f72848d6bedc742b34b60323ebc5d5001071c0695130b694efd 4:1",
            "~osm-bootstrap@sha256:fd159fdb965cc0d3d7704afaf673862b5e92257925fc3f6345810f98bb6246f8 5:1",
        ]
    );
    assert!(m.find_short("osm-controller", None).is_some());
}

#[test]
fn forcing_the_wrong_format_fails_with_a_position() {
    let path = corpus("osm_docker-digests-osm_log.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let e = parse_manifest(&path, &text, Some(ManifestFormat::RefLines)).unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    let e = parse_manifest(&path, &text, Some(ManifestFormat::DockerImages)).unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
}

#[test]
fn several_files_merge_and_a_conflict_names_both_origins() {
    let table = corpus("osm_image_digest_v0.4.0.txt");
    let conflicting = testdata("osm_image_digest_latest.txt");
    let m = read_manifests(
        &[table.clone(), corpus("osm_docker-digests-osm_log.txt")],
        None,
    )
    .unwrap();
    assert_eq!(m.entries.len(), 10);
    let e = read_manifests(&[table.clone(), conflicting.clone()], None).unwrap_err();
    assert_eq!(e.file, conflicting);
    assert_eq!((e.line, e.column), (2, 1), "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("{}:2:1", table.display())),
        "{shown}"
    );
    assert!(
        shown.contains("pass only the release tag's file"),
        "{shown}"
    );
}
