//! Table-driven tests of every reader, the detection and the merge rules.

use super::*;

const A: &str = "eb194138abddbe271d42b290489917168a6a891a3dabb575de02c53f13879bee";
const B: &str = "311d87892778d976baf2560622a258ac011a5a3f755d05566ce17458d04fdda1";

/// `name[:tag]@digest` of every entry, `~name` for short names.
fn summary(m: &DigestManifest) -> Vec<String> {
    m.entries
        .iter()
        .map(|e| {
            let name = match &e.name {
                EntryName::Full(r) => r.as_str().to_string(),
                EntryName::Short(s) => format!("~{s}"),
            };
            match &e.tag {
                Some(t) => format!("{name}:{t}@{}", e.digest),
                None => format!("{name}@{}", e.digest),
            }
        })
        .collect()
}

fn expand(s: &str) -> String {
    s.replace("{A}", A).replace("{B}", B)
}

fn parse(
    name: &str,
    text: &str,
    format: Option<ManifestFormat>,
) -> Result<DigestManifest, InputError> {
    parse_manifest(Path::new(name), &expand(text), format)
}

/// (file name, text, expected format, expected entries)
type Ok4 = (
    &'static str,
    &'static str,
    ManifestFormat,
    &'static [&'static str],
);

const READS: &[Ok4] = &[
    (
        "osm_image_digest_v0.4.0.txt",
        "openservicemesh/init   v0.4.0   sha256:{A}   67349d2e350f   4 seconds ago   7.77MB\n\
         openservicemesh/osm-controller    v0.4.0    sha256:{B}   e61b990a7926   6 seconds ago   54.1MB\n",
        ManifestFormat::DockerImages,
        &[
            "openservicemesh/init:v0.4.0@sha256:{A}",
            "openservicemesh/osm-controller:v0.4.0@sha256:{B}",
        ],
    ),
    (
        "images.txt",
        "REPOSITORY   TAG   DIGEST   IMAGE ID   CREATED   SIZE\r\n\
         ghcr.io/org/app   <none>   sha256:{A}   67349d2e350f   2 weeks ago   7MB\r\n\
         <none>   <none>   sha256:{B}   67349d2e350f   2 weeks ago   7MB\r\n",
        ManifestFormat::DockerImages,
        &["ghcr.io/org/app@sha256:{A}"],
    ),
    (
        "log.txt",
        "# from the release workflow\ninit: sha256:{A}\n\nosm-controller: sha256:{B}\n",
        ManifestFormat::NameDigestLines,
        &["~init@sha256:{A}", "~osm-controller@sha256:{B}"],
    ),
    (
        "log.txt",
        "\u{feff}ghcr.io/org/app:v1: sha256:{A}\nlocalhost:5000/x: sha256:{B}\n",
        ManifestFormat::NameDigestLines,
        &[
            "ghcr.io/org/app:v1@sha256:{A}",
            "localhost:5000/x@sha256:{B}",
        ],
    ),
    (
        "refs.txt",
        "ghcr.io/org/app:v1.2.3@sha256:{A}\nnginx@sha256:{B}\n",
        ManifestFormat::RefLines,
        &["ghcr.io/org/app:v1.2.3@sha256:{A}", "nginx@sha256:{B}"],
    ),
    (
        "digests.txt",
        "{A}  ghcr.io/org/app:v1.2.3\n{B}  ghcr.io/org/other:v1.2.3\n",
        ManifestFormat::Goreleaser,
        &[
            "ghcr.io/org/app:v1.2.3@sha256:{A}",
            "ghcr.io/org/other:v1.2.3@sha256:{B}",
        ],
    ),
];

#[test]
fn line_formats_are_detected_and_read() {
    for (file, text, format, want) in READS {
        let want: Vec<String> = want.iter().map(|w| expand(w)).collect();
        let detected = parse(file, text, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(summary(&detected), want, "{file} detected");
        let forced = parse(file, text, Some(*format)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(detected, forced, "{file}: detection chose {format}");
    }
}

#[test]
fn origins_point_at_the_entry() {
    let m = parse("log.txt", "# c\n\n  init: sha256:{A}\n", None).unwrap();
    let o = &m.entries[0].origin;
    let lc = o.line_col_in(&m.sources[0]).unwrap();
    assert_eq!((&*o.file, lc.line, lc.column), (Path::new("log.txt"), 3, 3));
    assert_eq!(m.shown_origin(o), "log.txt:3:3");
}

/// (file name, text, forced format, expected `line:col`, words the message must hold)
type Bad = (
    &'static str,
    &'static str,
    Option<ManifestFormat>,
    &'static str,
    &'static [&'static str],
);

const BAD: &[Bad] = &[
    (
        "log.txt",
        "init: sha256:{A}\nx: sha256:ABC{B}\n",
        None,
        "2:4",
        &["invalid digest", "lowercase"],
    ),
    (
        "log.txt",
        "init: sha256:{A}\nx: sha256:123\n",
        None,
        "2:4",
        &["64 hex", "found 3"],
    ),
    (
        "log.txt",
        "init: sha256:{A}\nx: md5:123\n",
        None,
        "2:4",
        &["unsupported digest algorithm"],
    ),
    (
        "refs.txt",
        "app@sha256:{A}\napp@sha256:{A}0\n",
        None,
        "2:5",
        &["found 65"],
    ),
    (
        "refs.txt",
        "app@sha256:{A}\napp:v1\n",
        None,
        "2:1",
        &["no `@digest`"],
    ),
    (
        "refs.txt",
        "app@sha256:{A}\nApp@sha256:{A}\n",
        None,
        "2:1",
        &["lowercase"],
    ),
    (
        "digests.txt",
        "{A}  ghcr.io/a:v1\n{A}{A}1  ghcr.io/b:v1\n",
        None,
        "2:1",
        &["found 129"],
    ),
    (
        "digests.txt",
        "{A}  ghcr.io/a:v1 extra\n",
        Some(ManifestFormat::Goreleaser),
        "1:1",
        &["found 3 field"],
    ),
    (
        "t.txt",
        "openservicemesh/init v0.4.0 <none> 67349d2e350f 1 second ago 7MB\n",
        None,
        "1:29",
        &["not pushed"],
    ),
    (
        "osm_image_digest_v1.txt",
        "openservicemesh/init v0.4.0 67349d2e350f 1 second ago 7MB\n",
        None,
        "1:29",
        &["docker images --digests"],
    ),
    (
        "t.txt",
        "a: sha256:{A}\na: sha256:{B}\n",
        None,
        "2:1",
        &["two different digests", "log.txt", "t.txt:1:1"],
    ),
    (
        "t.txt",
        "g.io/a:v1@sha256:{A}\ng.io/a@sha256:{B}\n",
        None,
        "2:1",
        &["two different digests", "t.txt:1:1"],
    ),
];

#[test]
fn bad_input_names_file_line_and_column() {
    for (file, text, format, at, words) in BAD {
        let e = parse(file, text, *format).expect_err(file);
        assert_eq!(e.file, Path::new(file), "{text}");
        assert_eq!(format!("{}:{}", e.line, e.column), *at, "{e}");
        let shown = e.to_string();
        for w in *words {
            let w = w.replace("log.txt", file);
            assert!(shown.contains(&w), "`{w}` missing from: {shown}");
        }
    }
}

#[test]
fn identical_duplicates_collapse_and_distinct_tags_coexist() {
    let m = parse(
        "refs.txt",
        "g.io/a:v1@sha256:{A}\ng.io/a:v1@sha256:{A}\ng.io/a:v1-debug@sha256:{B}\n",
        None,
    )
    .unwrap();
    assert_eq!(
        summary(&m),
        [
            expand("g.io/a:v1@sha256:{A}"),
            expand("g.io/a:v1-debug@sha256:{B}")
        ]
    );
}

#[test]
fn find_matches_normalised_names_and_tags() {
    let m = parse(
        "refs.txt",
        "index.docker.io/library/nginx:1.25@sha256:{A}\ng.io/a:v1@sha256:{A}\ng.io/a:v2@sha256:{B}\n",
        None,
    )
    .unwrap();
    let find = |s: &str| {
        m.find(&ImageRef::parse(s).unwrap())
            .map(|e| e.digest.hex().to_string())
    };
    assert_eq!(find("nginx:1.25"), Some(A.into()));
    assert_eq!(
        find("docker.io/nginx"),
        Some(A.into()),
        "one digest for the name"
    );
    assert_eq!(find("nginx:1.24"), None, "another tag was not pushed");
    assert_eq!(find("g.io/a:v2"), Some(B.into()));
    assert_eq!(find("g.io/a"), None, "ambiguous without a tag");
    let s = parse("log.txt", "init: sha256:{A}\n", None).unwrap();
    assert!(s.find_short("init", Some("v1")).is_some());
    assert!(s.find_short("osm-init", None).is_none());
}

#[test]
fn format_names_round_trip() {
    for f in ManifestFormat::ALL {
        assert_eq!(f.name().parse::<ManifestFormat>(), Ok(*f));
    }
    let e = "yaml".parse::<ManifestFormat>().unwrap_err().to_string();
    assert!(e.contains("docker-images, name-digest, ref-lines"), "{e}");
}

#[test]
fn ref_lines_round_trip() {
    let text = expand("ghcr.io/org/app:v1@sha256:{A}\nnginx@sha256:{B}\n");
    let m = parse("refs.txt", &text, None).unwrap();
    assert_eq!(m.to_ref_lines().unwrap(), text);
    let s = parse("log.txt", "init: sha256:{A}\n", None).unwrap();
    assert!(
        s.to_ref_lines()
            .unwrap_err()
            .to_string()
            .contains("short name")
    );
}

#[test]
fn unknown_and_empty_content_is_an_error() {
    let e = parse("x.txt", "hello world and more\n", None).unwrap_err();
    assert!(e.message.contains("--digests-format"), "{e}");
    let e = parse("x.txt", "\n# only a comment\n", None).unwrap_err();
    assert!(e.message.contains("no entries"), "{e}");
}

/// (file name, text, expected format, expected entries) for the structured formats.
const STRUCTURED: &[Ok4] = &[
    (
        "m.json",
        r#"{"containerimage.digest":"sha256:{A}","image.name":"g.io/a:v1, g.io/b"}"#,
        ManifestFormat::BuildxMetadata,
        &["g.io/a:v1@sha256:{A}", "g.io/b@sha256:{A}"],
    ),
    (
        "m.json",
        r#"{"containerimage.descriptor":{"digest":"sha256:{B}"},"containerimage.config.digest":"sha256:{A}","image.name":"g.io/a"}"#,
        ManifestFormat::BuildxMetadata,
        &["g.io/a@sha256:{B}"],
    ),
    (
        "bake.json",
        r#"{"buildx.build.warnings":{},"x":{"containerimage.digest":"sha256:{A}"},"y":{"containerimage.digest":"sha256:{B}","image.name":"g.io/y:1"}}"#,
        ManifestFormat::BuildxMetadata,
        &["g.io/y:1@sha256:{B}"],
    ),
    (
        "lock.yml",
        "apiVersion: kbld.k14s.io/v1alpha1\nkind: Config\noverrides:\n- image: nginx:1.25\n  newImage: index.docker.io/library/nginx@sha256:{A}\n",
        ManifestFormat::KbldLock,
        &["nginx:1.25@sha256:{A}"],
    ),
    (
        "images.yml",
        "kind: ImagesLock\nimages:\n- image: g.io/a@sha256:{A}\n  annotations: {kbld.carvel.dev/id: 'g.io/a:v3'}\n- image: g.io/b@sha256:{B}\n",
        ManifestFormat::ImgpkgLock,
        &["g.io/a:v3@sha256:{A}", "g.io/b@sha256:{B}"],
    ),
    (
        "map.yaml",
        "'g.io/a:v1': sha256:{A}\ninit: \"sha256:{B}\"\n",
        ManifestFormat::Map,
        &["g.io/a:v1@sha256:{A}", "~init@sha256:{B}"],
    ),
    (
        "map.json",
        "{\"g.io/a\": \"sha256:{A}\", \"init\": \"sha256:\\u0033{B1}\"}",
        ManifestFormat::Map,
        &["g.io/a@sha256:{A}", "~init@sha256:{B}"],
    ),
    (
        "inspect.json",
        r#"{"Name": "docker.io/library/nginx", "Digest": "sha256:{A}", "RepoTags": ["1.25", "1.27"], "Architecture": "amd64", "Layers": ["sha256:{B}"]}"#,
        ManifestFormat::SkopeoInspect,
        &["docker.io/library/nginx@sha256:{A}"],
    ),
    (
        "inspect.json",
        r#"[{"Name": "ghcr.io/org/app", "Digest": "sha256:{A}"}, {"Name": "quay.io/jetstack/cert-manager-controller", "Digest": "sha256:{B}"}]"#,
        ManifestFormat::SkopeoInspect,
        &[
            "ghcr.io/org/app@sha256:{A}",
            "quay.io/jetstack/cert-manager-controller@sha256:{B}",
        ],
    ),
];

#[test]
fn structured_formats_are_detected_and_read() {
    for (file, text, format, want) in STRUCTURED {
        let text = text.replace("{B1}", &B[1..]);
        let want: Vec<String> = want.iter().map(|w| expand(w)).collect();
        let detected = parse(file, &text, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(summary(&detected), want, "{file}: {text}");
        let forced = parse(file, &text, Some(*format)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(detected, forced, "{file}: detection chose {format}");
    }
}

const STRUCTURED_BAD: &[Bad] = &[
    (
        "m.json",
        "{\n  \"containerimage.config.digest\": \"sha256:{A}\",\n  \"image.name\": \"g.io/a\"\n}",
        None,
        "2:3",
        &["config digest (the image ID)"],
    ),
    (
        "m.json",
        "{\"containerimage.digest\": \"sha256:{A}\", \"containerimage.descriptor\": {\"digest\": \"sha256:{B}\"}, \"image.name\": \"g.io/a\"}",
        None,
        "1:142",
        &["disagrees"],
    ),
    (
        "m.json",
        "{\"containerimage.digest\": \"sha256:{A}\",}",
        None,
        "1:101",
        &["invalid JSON", "string key"],
    ),
    (
        "m.json",
        "{\"a\": \"sha256:{A}\", \"a\": \"sha256:{A}\"}",
        None,
        "1:82",
        &["duplicate key `a`", "m.json:1:2"],
    ),
    (
        "m.json",
        "{\"imageid\": \"sha256:{A}\"}",
        None,
        "1:2",
        &["config digest"],
    ),
    (
        "m.json",
        "{\"g.io/a\": \"sha256:{A}\",\n \"g.io/a:v1\": \"sha256:{B}\"}",
        None,
        "2:2",
        &["two different digests", "m.json:1:2"],
    ),
    (
        "map.yaml",
        "a: sha256:{A}\nb: [1]\n",
        None,
        "2:4",
        &["invalid digest `[1]`"],
    ),
    (
        "map.yaml",
        "a: sha256:{A}\na: sha256:{A}\n",
        Some(ManifestFormat::Map),
        "2:1",
        &["duplicate key"],
    ),
    (
        "map.yaml",
        "x: &d sha256:{A}\ny: *d\n",
        None,
        "2:4",
        &["aliases"],
    ),
    (
        "map.yaml",
        "a: \"sha256:{A}\n",
        None,
        "2:1",
        &["malformed YAML"],
    ),
    (
        "map.yaml",
        "'a': sha256:{A}\n---\n'b': sha256:{A}\n",
        None,
        "2:1",
        &["one YAML document"],
    ),
    (
        "lock.yml",
        "kind: Config\noverrides:\n- image: nginx:1.25\n  newImage: nginx:1.25\n",
        None,
        "4:13",
        &["has no digest"],
    ),
    (
        "images.yml",
        "kind: ImagesLock\nimages:\n- image: g.io/a@sha256:{A}\n  annotations: {kbld.carvel.dev/id: 'G.io/A:v3'}\n",
        None,
        "4:37",
        &["not an image reference"],
    ),
    (
        "inspect.json",
        "{\"Name\": \"docker.io/library/nginx\",\n \"Digest\": \"sha256:ABC\"}",
        None,
        "2:12",
        &["invalid digest `sha256:ABC` in `Digest`"],
    ),
    (
        "inspect.json",
        "[{\"Name\": \"g.io/a\", \"Digest\": \"sha256:{A}\"},\n {\"Name\": \"g.io/b\"}]",
        Some(ManifestFormat::SkopeoInspect),
        "2:2",
        &["has no `Digest`"],
    ),
];

#[test]
fn structured_bad_input_names_file_line_and_column() {
    for (file, text, format, at, words) in STRUCTURED_BAD {
        let e = parse(file, text, *format).expect_err(text);
        assert_eq!(e.file, Path::new(file), "{text}");
        assert_eq!(format!("{}:{}", e.line, e.column), *at, "{e}");
        let shown = e.to_string();
        for w in *words {
            assert!(shown.contains(w), "`{w}` missing from: {shown}");
        }
    }
}

#[test]
fn json_parser_is_strict() {
    let bad = [
        "[1,]",
        "{\"a\":01}",
        "\"\\x\"",
        "[\"\\ud800\"]",
        "{\"a\" 1}",
        "[1] 2",
        "[-]",
        "\"a\u{1}\"",
    ];
    for b in bad {
        let src = SourceFile::new("t.json", b);
        assert!(tree::parse_json(&src).is_err(), "{b:?} accepted");
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let e = tree::parse_json(&SourceFile::new("t.json", deep)).unwrap_err();
    assert!(e.message.contains("deeper"), "{e}");
    let ok = tree::parse_json(&SourceFile::new(
        "t.json",
        "{\"k\":[-1.5e3,true,null,\"\\ud83d\\ude00\\n\"]}",
    ))
    .unwrap();
    let list = ok.get("k").unwrap();
    let tree::Value::Seq(items) = &list.value else {
        panic!()
    };
    assert_eq!(items[3].as_str(), Some("\u{1F600}\n"));
}
