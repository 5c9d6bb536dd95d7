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
            let text = m.sources.iter().find(|s| s.path == e.origin.file);
            let at = text.and_then(|t| e.origin.line_col_in(t));
            let (line, column) = at.map_or((0, 0), |lc| (lc.line, lc.column));
            format!("{name}{tag}@{} {line}:{column}", e.digest)
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

const A: &str = "19ffeab6f8bc9293ac2c3fdf94ebe28396254c993aea0b5a542cfb02e0883fa3";
const B: &str = "6d9ac9237a84afe1516540f40a0fafdc86859b2141954b4d643af7066d598b74";
const C: &str = "2937f66a9722f7f4a2df583de2f8cb97fc9196059a410e7f00072fc918930e66";

fn expand(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.replace("{A}", A).replace("{B}", B).replace("{C}", C))
        .collect()
}

#[test]
fn buildx_imagetools_create_metadata() {
    let m = read(&corpus("buildx_imagetools_create_metadata.json"));
    assert_eq!(summary(&m), expand(&["docker.io/user/app@sha256:{A} 7:18"]));
}

#[test]
fn buildx_build_and_bake_metadata_without_image_name_are_refused() {
    let e = read_manifests(&[corpus("buildx_build_metadata.json")], None).unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(e.message.contains("no `image.name`"), "{e}");
    let e = read_manifests(&[corpus("buildx_bake_metadata.json")], None).unwrap_err();
    assert_eq!((e.line, e.column), (3, 3), "{e}");
    assert!(
        e.message
            .contains("`db`, `webapp-dev` have no `image.name`"),
        "{e}"
    );
}

#[test]
fn every_testdata_format_reads_exactly() {
    let cases: &[(&str, ManifestFormat, &[&str])] = &[
        (
            "buildx_build_named.json",
            ManifestFormat::BuildxMetadata,
            &[
                "ghcr.io/org/app:v1.2.3@sha256:{A} 16:18",
                "ghcr.io/org/app:latest@sha256:{A} 16:41",
            ],
        ),
        (
            "buildx_bake_named.json",
            ManifestFormat::BuildxMetadata,
            &["docker.io/user/webapp:v2@sha256:{B} 16:20"],
        ),
        (
            "kbld.lock.yml",
            ManifestFormat::KbldLock,
            &[
                "nginx:1.25@sha256:{A} 5:10",
                "ghcr.io/org/simple-app@sha256:{B} 8:10",
            ],
        ),
        (
            "images.yml",
            ManifestFormat::ImgpkgLock,
            &[
                "nginx:1.25@sha256:{A} 5:10",
                "registry.corp.example/bundle@sha256:{B} 8:10",
            ],
        ),
        (
            "map.yaml",
            ManifestFormat::Map,
            &[
                "ghcr.io/org/app:v1.2.3@sha256:{A} 2:1",
                "quay.io/org/sidecar@sha256:{B} 3:1",
                "~osm-controller@sha256:{C} 4:1",
            ],
        ),
        (
            "map.json",
            ManifestFormat::Map,
            &[
                "ghcr.io/org/app:v1.2.3@sha256:{A} 2:2",
                "quay.io/org/sidecar@sha256:{B} 3:2",
            ],
        ),
        (
            "digests.txt",
            ManifestFormat::Goreleaser,
            &[
                "ghcr.io/org/app:v1.2.3@sha256:{A} 1:67",
                "ghcr.io/org/sidecar:v1.2.3@sha256:{B} 2:67",
            ],
        ),
        (
            "refs.txt",
            ManifestFormat::RefLines,
            &[
                "ghcr.io/org/app:v1.2.3@sha256:{A} 2:1",
                "quay.io/org/sidecar@sha256:{B} 3:1",
            ],
        ),
    ];
    for (file, format, want) in cases {
        let path = testdata(file);
        let m = read(&path);
        assert_eq!(summary(&m), expand(want), "{file}");
        let forced = read_manifests(&[path], Some(*format)).unwrap();
        assert_eq!(forced, m, "{file} is detected as {format}");
    }
}

#[test]
fn a_config_digest_is_refused_as_an_image_digest() {
    let path = testdata("buildx_config_digest_only.json");
    let e = read_manifests(std::slice::from_ref(&path), None).unwrap_err();
    assert_eq!((e.file.as_path(), e.line, e.column), (path.as_path(), 2, 3));
    assert!(
        e.message
            .contains("config digest (the image ID), not a pullable manifest digest"),
        "{e}"
    );
}

#[test]
fn every_corpus_manifest_is_covered() {
    let mut names: Vec<_> = std::fs::read_dir(corpus(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "buildx_bake_metadata.json",
            "buildx_build_metadata.json",
            "buildx_imagetools_create_metadata.json",
            "osm_docker-digests-osm_log.txt",
            "osm_image_digest_v0.4.0.txt",
        ],
        "a new corpus manifest needs a test here"
    );
}
