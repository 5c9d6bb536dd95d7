use super::archive::load_bytes;
use super::*;

fn tgz(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (p, body) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the name bytes directly to build hostile archives.
        let name = h.as_old_mut().name.as_mut();
        name[..p.len()].copy_from_slice(p.as_bytes());
        h.set_cksum();
        b.append(&h, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn archive_charts_load_in_memory_with_subcharts() {
    let inner = tgz(&[
        ("dep/Chart.yaml", "name: dep\n"),
        ("dep/templates/x.txt", "image: y\n"),
    ]);
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (p, body) in [
        (
            "app/Chart.yaml",
            &b"name: app\nversion: 1.0.0\ndependencies:\n  - name: sub\n    alias: s\n    condition: s.enabled\n"[..],
        ),
        ("app/values.yaml", b"image: nginx:1.25\n"),
        ("app/templates/d.yaml", b"image: busybox\n"),
        ("app/templates/pod", b"image: busybox\n"),
        ("app/charts/sub/Chart.yaml", b"name: sub\n"),
        ("app/charts/sub/values.yaml", b"image: x\n"),
        ("app/charts/dep-1.0.0.tgz", &inner),
        ("app/README.md", b"ignored"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_path(p).unwrap();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, body).unwrap();
    }
    let bytes = b.into_inner().unwrap().finish().unwrap();
    let c = load_bytes(Path::new("app.tgz"), &bytes).unwrap();
    assert_eq!(c.name, "app");
    assert_eq!(c.root, PathBuf::from("app.tgz/app"));
    assert!(c.file("templates/d.yaml").is_some());
    assert!(c.file("templates/pod").is_some());
    assert!(c.file("README.md").is_none());
    assert_eq!(c.subcharts.len(), 2);
    let sub = c.subcharts.iter().find(|s| s.name == "sub").unwrap();
    assert_eq!(
        sub.file("values.yaml").unwrap().path(),
        Path::new("app.tgz/app/charts/sub/values.yaml")
    );
    assert_eq!(sub.alias.as_deref(), Some("s"));
    assert_eq!(sub.condition.as_deref(), Some("s.enabled"));
    let dep = c.subcharts.iter().find(|s| s.name == "dep").unwrap();
    assert_eq!(
        dep.file("templates/x.txt").unwrap().path(),
        Path::new("app.tgz/app/charts/dep-1.0.0.tgz/dep/templates/x.txt")
    );
}

#[test]
fn entries_escaping_the_root_are_refused() {
    for bad in ["../evil/Chart.yaml", "/etc/Chart.yaml", "app/../../x"] {
        let bytes = tgz(&[("app/Chart.yaml", "name: app\n"), (bad, "x")]);
        let err = load_bytes(Path::new("a.tgz"), &bytes).unwrap_err();
        assert!(
            err.to_string().contains("escapes the archive root"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn corrupt_archives_are_input_errors() {
    let err = load_bytes(Path::new("c.tgz"), b"not gzip at all").unwrap_err();
    assert!(err.to_string().contains("corrupt chart archive"), "{err}");
    let mut good = tgz(&[("app/Chart.yaml", "name: app\n")]);
    good.truncate(good.len() / 2);
    assert!(load_bytes(Path::new("c.tgz"), &good).is_err());
}

#[test]
fn an_archive_has_exactly_one_top_level_directory() {
    let bytes = tgz(&[
        ("app/Chart.yaml", "name: app\n"),
        ("zzz/values.yaml", "image: nginx:latest\n"),
    ]);
    let err = load_bytes(Path::new("two.tgz"), &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`app`, `zzz`") && err.contains("exactly one"),
        "{err}"
    );
    let bytes = tgz(&[("app/values.yaml", "image: nginx:latest\n")]);
    let err = load_bytes(Path::new("none.tgz"), &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no <name>/Chart.yaml"), "{err}");
}

#[test]
fn helm_renders_every_template_but_partials_and_notes() {
    for yes in [
        "templates/pod.YAML",
        "templates/pod",
        "templates/a/pod.txt",
        "templates/d.yaml",
    ] {
        assert!(helm_renders(yes), "{yes}");
    }
    for no in [
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
        "templates/x/_p.yaml",
    ] {
        assert!(!helm_renders(no), "{no}");
    }
}

#[test]
fn chart_yaml_metadata_reads_leniently() {
    let src = SourceFile::new(
        "Chart.yaml",
        "name: app\nversion: 1.2.3\nappVersion: 4\ndependencies:\n  - name: a\n    condition: a.enabled,global.a\n  - alias: nameless\n",
    );
    let m = ChartMeta::parse(&src);
    assert_eq!(m.name.as_deref(), Some("app"));
    assert_eq!(m.app_version.as_deref(), Some("4"));
    assert_eq!(m.dependencies.len(), 1);
    assert_eq!(
        m.dependencies[0].condition.as_deref(),
        Some("a.enabled,global.a")
    );
    assert_eq!(
        ChartMeta::parse(&SourceFile::new("Chart.yaml", "name: [")),
        ChartMeta::default()
    );
}

#[test]
fn a_subchart_file_is_found_and_replaced_by_directory_or_chart_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    let write = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("Chart.yaml", "name: app\nversion: 1.0.0\n");
    write("templates/a.yaml", "image: a:1\n");
    // The directory is named apart from the chart, as `helm dependency` does not.
    write("charts/dep-dir/Chart.yaml", "name: dep\nversion: 1.0.0\n");
    write("charts/dep-dir/templates/t.yaml", "image: t:1\n");
    let mut chart = super::load_dir(&dir).unwrap();

    let (c, inner) = chart.holding("templates/a.yaml").unwrap();
    assert_eq!(
        (c.name.as_str(), inner.as_str()),
        ("app", "templates/a.yaml")
    );
    for rel in [
        "charts/dep-dir/templates/t.yaml",
        "charts/dep/templates/t.yaml",
    ] {
        let (c, inner) = chart.holding(rel).unwrap();
        assert_eq!(
            (c.name.as_str(), inner.as_str()),
            ("dep", "templates/t.yaml")
        );
        assert_eq!(chart.file_deep(rel).unwrap().text, "image: t:1\n");
    }
    assert!(chart.holding("charts/other/templates/t.yaml").is_none());
    assert!(chart.holding("charts/dep/templates/none.yaml").is_none());

    // Replaced in the subchart (what lint reads) and staged where helm reads it.
    chart.replace_file("charts/dep/templates/t.yaml", "image: t:1@sha256:x\n");
    assert_eq!(
        chart.subcharts[0].file("templates/t.yaml").unwrap().text,
        "image: t:1@sha256:x\n"
    );
    assert!(chart.file("charts/dep/templates/t.yaml").is_none());
    let staged = super::stage::stage(&chart).unwrap();
    let read = |rel: &str| std::fs::read_to_string(staged.chart_dir().join(rel)).unwrap();
    assert_eq!(
        read("charts/dep-dir/templates/t.yaml"),
        "image: t:1@sha256:x\n"
    );
    assert_eq!(read("templates/a.yaml"), "image: a:1\n");
    assert!(!staged.chart_dir().join("charts/dep").exists());
}
