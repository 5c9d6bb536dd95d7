//! Probe tests on small synthetic charts, one per way real charts build an
//! image (issue 9), rendered by the real helm: probe, plan with a manifest
//! holding a made-up digest per rendered image, write the plan, render
//! again, and look at what renders.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::plan::{ProbePlan, Written, WrittenForm};
use crate::helm::{Helm, RenderSpec};
use crate::lint::rendered::rendered_images;
use crate::reference::ImageRef;
use crate::values::ValuesFile;
use crate::yaml::YamlPath;

fn helm() -> Helm {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm");
    Helm::find(None)
        .or_else(|_| Helm::find(Some(&local)))
        .unwrap_or_else(|_| {
            panic!(
                "helm is not on PATH nor at {}: run scripts/install-deps",
                local.display()
            )
        })
}

fn made_up(core: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(core.as_bytes()))
    )
}

struct Outcome {
    plan: ProbePlan,
    /// (rendered before, rendered after) per image.
    images: Vec<(String, String)>,
    values_after: String,
    /// helm runs of the probe, the baseline included.
    renders: usize,
    probe: super::Probe,
    _dir: tempfile::TempDir,
}

impl Outcome {
    /// The image rendered before as `before`, after the pin.
    fn after(&self, before: &str) -> &str {
        &self
            .images
            .iter()
            .find(|(b, _)| b == before)
            .unwrap_or_else(|| panic!("{before} is not rendered: {:?}", self.images))
            .1
    }

    fn assert_pinned(&self, before: &str) {
        let core = before.split('@').next().unwrap();
        let after = self.after(before);
        let r = ImageRef::parse(after).unwrap_or_else(|e| panic!("{after}: {e}"));
        assert_eq!(
            r.digest().map(|d| d.to_string()),
            Some(made_up(core)),
            "{before} rendered as {after}; plan: {:?}",
            self.plan
        );
        assert_eq!(r.name(), ImageRef::parse(before).unwrap().name());
    }

    fn assert_unpinnable(&self, before: &str, reason: &str) {
        assert_eq!(self.after(before), before, "{before} was written");
        let u = self
            .plan
            .unpinnable
            .iter()
            .find(|u| u.image.reference == before)
            .unwrap_or_else(|| panic!("{before} not reported: {:?}", self.plan));
        assert!(u.reason.contains(reason), "{}", u.reason);
    }

    /// The override paths of the values the probe found composing `before`.
    fn plan_parts(&self, before: &str) -> Vec<String> {
        let img = self
            .probe
            .images
            .iter()
            .find(|i| i.image.reference == before)
            .unwrap_or_else(|| panic!("{before} was not probed"));
        img.parts.iter().map(|p| p.at.coord.to_string()).collect()
    }

    /// A file of the chart as the plan left it.
    fn chart_file(&self, rel: &str) -> String {
        std::fs::read_to_string(self._dir.path().join("demo").join(rel)).unwrap()
    }

    fn written(&self, before: &str) -> (&Written, WrittenForm) {
        let p = self
            .plan
            .pins
            .iter()
            .find(|p| p.image == before)
            .unwrap_or_else(|| panic!("no pin for {before}: {:?}", self.plan));
        (&p.written, p.form)
    }
}

fn at(path: &str) -> Written {
    Written::Values(YamlPath::parse(path).unwrap())
}

/// Write `files` as a chart, probe it, pin every rendered image, render again.
fn run(files: &[(&str, &str)]) -> Outcome {
    run_over(files, &[], &[])
}

/// [`run`] with the user's values files (written beside the chart) and
/// `--set`s given to every render, the probe's and the one after the pin.
fn run_over(files: &[(&str, &str)], user_files: &[(&str, &str)], sets: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let helm = helm();
    let mut spec = RenderSpec {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..RenderSpec::default()
    };
    for (name, text) in user_files {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        spec.values_files.push(p);
    }
    let chart = crate::chart::load_dir(&root).unwrap();
    let values_path: PathBuf = root.join("values.yaml");
    let values_text = std::fs::read_to_string(&values_path).unwrap();
    let vf = ValuesFile::parse(&values_path, values_text.clone()).unwrap();
    let probe = super::probe(&chart, None, &helm, &spec).unwrap();
    assert!(probe.renders <= 3, "{} renders", probe.renders);
    let mut lines = String::new();
    for img in &probe.images {
        if let Ok(r) = ImageRef::parse(&img.image.reference) {
            let core = img.image.reference.split('@').next().unwrap();
            let name = match r.tag() {
                Some(t) => format!("{}:{}", r.written_name(), t.split('@').next().unwrap()),
                None => r.written_name(),
            };
            lines.push_str(&format!("{name}@{}\n", made_up(core)));
        }
    }
    let manifest = crate::manifest::parse_manifest(Path::new("digests.txt"), &lines, None).unwrap();
    let plan = super::plan::plan(&probe, &chart, &vf, &manifest, &Default::default());
    let values_after = crate::yaml::apply_edits(&values_text, &plan.values_edits).unwrap();
    std::fs::write(&values_path, &values_after).unwrap();
    for t in &plan.templates {
        let p = root.join(&t.rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, crate::yaml::apply_edits(&text, &t.edits).unwrap()).unwrap();
    }
    let after = helm
        .template("demo", &root, &spec, &[])
        .expect("the pinned chart renders");
    let after = rendered_images(&after).unwrap();
    let images = probe
        .images
        .iter()
        .zip(&after)
        .map(|(b, a)| (b.image.reference.clone(), a.reference.clone()))
        .collect();
    Outcome {
        plan,
        images,
        values_after,
        renders: probe.renders,
        probe,
        _dir: dir,
    }
}

const CHART: &str = "apiVersion: v2\nname: demo\nversion: 1.0.0\nappVersion: \"2.0.0\"\n";

fn pod(containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\nspec:\n  containers:\n{containers}"
    )
}

#[test]
fn a_subchart_default_is_pinned_by_an_override_in_the_parent() {
    let o = run(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n",
        ),
        ("values.yaml", "replicas: 1\n"),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        ),
        (
            "charts/sub/values.yaml",
            "image:\n  repository: quay.io/acme/agent\n  tag: \"1.25\"\n",
        ),
        (
            "charts/sub/templates/pod.yaml",
            &pod(
                "    - name: a\n      image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
            ),
        ),
    ]);
    o.assert_pinned("quay.io/acme/agent:1.25");
    assert_eq!(o.written("quay.io/acme/agent:1.25").0, &at("sub.image.tag"));
    assert!(
        o.values_after
            .starts_with("replicas: 1\nsub:\n  image:\n    tag: 1.25@sha256:")
    );
}

#[test]
fn a_name_version_split_with_default_is_pinned_in_the_empty_version() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "linkerdVersion: stable-2.14.1\ncontrollerImage: cr.l5d.io/linkerd/controller\ncontrollerImageVersion: \"\"\nproxyImage: cr.l5d.io/linkerd/proxy\n",
        ),
        (
            "templates/pod.yaml",
            &format!(
                "{}    - name: c\n      image: {{{{ .Values.controllerImage }}}}:{{{{ .Values.controllerImageVersion | default .Values.linkerdVersion }}}}\n    - name: p\n      image: {{{{ .Values.proxyImage }}}}:{{{{ .Values.linkerdVersion }}}}\n",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\n  labels:\n    version: {{ .Values.linkerdVersion }}\nspec:\n  containers:\n"
            ),
        ),
    ]);
    o.assert_pinned("cr.l5d.io/linkerd/controller:stable-2.14.1");
    assert_eq!(
        o.written("cr.l5d.io/linkerd/controller:stable-2.14.1"),
        (&at("controllerImageVersion"), WrittenForm::TagAt)
    );
    // linkerdVersion renders two images and a label: no digest goes there.
    o.assert_unpinnable("cr.l5d.io/linkerd/proxy:stable-2.14.1", "linkerdVersion");
}

#[test]
fn layered_defaults_are_pinned_in_a_digest_key_the_file_does_not_declare() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "defaultImageRegistry: quay.io\ndefaultImageRepository: strimzi\ndefaultImageTag: 0.45.0\nimage:\n  registry: \"\"\n  repository: \"\"\n  name: operator\n  tag: \"\"\n",
        ),
        (
            "templates/_helpers.tpl",
            "{{- define \"demo.image\" -}}\n{{- $reg := .Values.image.registry | default .Values.defaultImageRegistry -}}\n{{- $repo := .Values.image.repository | default .Values.defaultImageRepository -}}\n{{- $tag := .Values.image.tag | default .Values.defaultImageTag -}}\n{{- if .Values.image.digest -}}\n{{ printf \"%s/%s/%s@%s\" $reg $repo .Values.image.name .Values.image.digest }}\n{{- else -}}\n{{ printf \"%s/%s/%s:%s\" $reg $repo .Values.image.name $tag }}\n{{- end -}}\n{{- end -}}\n",
        ),
        (
            "templates/pod.yaml",
            &pod("    - name: o\n      image: {{ include \"demo.image\" . }}\n"),
        ),
    ]);
    o.assert_pinned("quay.io/strimzi/operator:0.45.0");
    assert_eq!(
        o.written("quay.io/strimzi/operator:0.45.0"),
        (&at("image.digest"), WrittenForm::DigestKey)
    );
    assert!(
        o.values_after.contains("  tag: \"\"\n  digest: sha256:"),
        "{}",
        o.values_after
    );
}

#[test]
fn an_internal_defaults_merge_is_pinned_where_the_merged_value_comes_from() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "_internal_defaults_do_not_set:\n  hub: docker.io/istio\n  tag: 1.22.0\n  pilot:\n    image: pilot\n",
        ),
        (
            "templates/pod.yaml",
            &format!(
                "{{{{- $v := mergeOverwrite (deepCopy .Values._internal_defaults_do_not_set) (omit .Values \"_internal_defaults_do_not_set\") }}}}\n{}",
                pod("    - name: d\n      image: {{ $v.hub }}/{{ $v.pilot.image }}:{{ $v.tag }}\n")
            ),
        ),
    ]);
    o.assert_pinned("docker.io/istio/pilot:1.22.0");
    assert_eq!(
        o.written("docker.io/istio/pilot:1.22.0").0,
        &at("_internal_defaults_do_not_set.tag")
    );
}

#[test]
fn one_site_rendering_several_images_is_unpinnable_and_not_written() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "kafka:\n  image:\n    repository: quay.io/strimzi/kafka\n    tag: 0.45.0\n",
        ),
        (
            "templates/pod.yaml",
            &pod(
                "{{- range list \"3.8.0\" \"3.9.0\" }}\n    - name: k{{ . | replace \".\" \"\" }}\n      image: {{ $.Values.kafka.image.repository }}:{{ $.Values.kafka.image.tag }}-kafka-{{ . }}\n{{- end }}\n",
            ),
        ),
    ]);
    for img in [
        "quay.io/strimzi/kafka:0.45.0-kafka-3.8.0",
        "quay.io/strimzi/kafka:0.45.0-kafka-3.9.0",
    ] {
        o.assert_unpinnable(img, "different images");
    }
    assert!(o.plan.values_edits.is_empty());
}

#[test]
fn a_key_equals_ref_list_in_one_env_value_pins_each_reference() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "operator: quay.io/acme/operator:1.0.0\nkafkaImages:\n  a: quay.io/acme/kafka-a:3.8.0\n  b: quay.io/acme/kafka-b:3.9.0\n",
        ),
        (
            "templates/pod.yaml",
            &pod(
                "    - name: o\n      image: {{ .Values.operator }}\n      env:\n        - name: KAFKA_IMAGES\n          value: \"3.8.0={{ .Values.kafkaImages.a }} 3.9.0={{ .Values.kafkaImages.b }}\"\n",
            ),
        ),
    ]);
    for img in [
        "quay.io/acme/operator:1.0.0",
        "quay.io/acme/kafka-a:3.8.0",
        "quay.io/acme/kafka-b:3.9.0",
    ] {
        o.assert_pinned(img);
        assert_eq!(o.written(img).1, WrittenForm::FullString);
    }
}

#[test]
fn args_that_are_not_images_are_neither_probed_nor_written() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "image: quay.io/acme/app:1.0.0\ncidrs: 10.0.0.0/8,172.16.0.0/12\nsubmitter: http://svc:8080/submit\n",
        ),
        (
            "templates/pod.yaml",
            &pod(
                "    - name: a\n      image: {{ .Values.image }}\n      args:\n        - --cluster-networks={{ .Values.cidrs }}\n        - --submitter-service-url={{ .Values.submitter }}\n",
            ),
        ),
    ]);
    assert_eq!(o.images.len(), 1, "{:?}", o.images);
    o.assert_pinned("quay.io/acme/app:1.0.0");
    assert!(o.plan.unpinnable.is_empty(), "{:?}", o.plan.unpinnable);
    assert!(
        o.values_after
            .contains("cidrs: 10.0.0.0/8,172.16.0.0/12\nsubmitter: http://svc:8080/submit\n")
    );
}

#[test]
fn a_literal_reference_in_a_template_gets_its_digest_spliced_in() {
    let o = run(&[
        ("Chart.yaml", CHART),
        ("values.yaml", "replicas: 1\n"),
        (
            "templates/tests/test.yaml",
            &pod(
                "    - name: curl\n      image: curlimages/curl:7.69.0\n      command: [\"curl\", \"http://demo\"]\n",
            ),
        ),
    ]);
    o.assert_pinned("curlimages/curl:7.69.0");
    assert_eq!(
        o.written("curlimages/curl:7.69.0"),
        (
            &Written::Template("templates/tests/test.yaml".to_string()),
            WrittenForm::Template
        )
    );
}

#[test]
fn an_inline_digest_conditional_is_pinned_in_its_digest_key() {
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "image:\n  repository: docker.io/library/nginx\n  tag: \"1.25\"\n  digest: \"\"\n",
        ),
        (
            "templates/pod.yaml",
            &pod(
                "    - name: n\n      image: \"{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\"\n",
            ),
        ),
    ]);
    o.assert_pinned("docker.io/library/nginx:1.25");
    assert_eq!(
        o.written("docker.io/library/nginx:1.25"),
        (&at("image.digest"), WrittenForm::DigestKey)
    );
    assert!(
        o.values_after.contains("  digest: \"sha256:"),
        "{}",
        o.values_after
    );
}

#[test]
fn a_whole_number_tag_is_pinned_and_numbers_templates_compute_with_still_render() {
    // trivy-operator: `policiesBundle.tag: 1`, a YAML integer; `replicas: 1`
    // is the same number, and a guard computes with it.
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "replicas: 1\nbundle:\n  registry: mirror.gcr.io\n  repository: aquasec/trivy-checks\n  tag: 1\n",
        ),
        (
            "templates/cm.yaml",
            "{{- if gt (int .Values.replicas) 0 }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  bundle.ref: \"{{ .Values.bundle.registry }}/{{ .Values.bundle.repository }}:{{ .Values.bundle.tag }}\"\n{{- end }}\n",
        ),
    ]);
    o.assert_pinned("mirror.gcr.io/aquasec/trivy-checks:1");
    assert_eq!(
        o.written("mirror.gcr.io/aquasec/trivy-checks:1"),
        (&at("bundle.tag"), WrittenForm::TagAt)
    );
    assert!(
        o.values_after.starts_with("replicas: 1\n"),
        "{}",
        o.values_after
    );
    assert!(
        o.values_after.contains("  tag: 1@sha256:"),
        "{}",
        o.values_after
    );
}

#[test]
fn a_failing_render_names_what_it_refuses() {
    use super::{Assign, Feed, named_in};
    use crate::yaml::PathSeg;
    let feeds = vec![
        Feed {
            file: "values.yaml".into(),
            prefix: Vec::new(),
            tree: serde_json::Value::Null,
        },
        Feed {
            file: "charts/prometheus-node-exporter/values.yaml".into(),
            prefix: vec!["prometheus-node-exporter".into()],
            tree: serde_json::Value::Null,
        },
    ];
    let assign = |feed: usize, path: &str, laid: &str| Assign {
        feed,
        path: path.split('.').map(|k| PathSeg::Key(k.into())).collect(),
        laid: laid.into(),
        token: laid.into(),
        value: String::new(),
        declared: false,
        number: false,
    };
    let set = [
        assign(0, "image.sha", "c0ffee"),
        assign(0, "image.repository", "zq1k"),
        assign(1, "image.sha", "c0ffee1"),
        assign(1, "image.digest", "sha256:c0ffee2"),
        assign(1, "version", "99.4.77"),
    ];
    let set: Vec<&Assign> = set.iter().collect();
    // A schema's refusal: final, by path in the chart's values.
    let schema = "Error: values don't meet the specifications of the schema(s) in the following chart(s):\ncert-manager:\n- at '/image': additional properties 'sha' not allowed\n";
    assert_eq!(named_in(schema, &set, &feeds), (vec![0, 2], true));
    // A subchart's own message names its values only.
    let forbidden = "Error: execution error at (kps/charts/prometheus-node-exporter/templates/daemonset.yaml:100:20): image.sha forbidden. Use image.digest instead";
    assert_eq!(named_in(forbidden, &set, &feeds), (vec![2, 3], false));
    // A marker, and a `.Values.` path in a template's error context.
    let marker = "Unrecognized images:\n  - zq1k/bitnami/nginx:1.2";
    assert_eq!(named_in(marker, &set, &feeds), (vec![1], false));
    let semver = "template: kps/charts/prometheus-node-exporter/templates/daemonset.yaml:107:19: at <semverCompare \">=1.4.0-0\" (coalesce .Values.version .Values.image.tag)>: invalid semantic version";
    assert_eq!(named_in(semver, &set, &feeds), (vec![4], false));
    assert_eq!(
        named_in("Error: something else", &set, &feeds),
        (vec![], false)
    );
}

#[test]
fn what_the_chart_refuses_is_not_laid_so_the_probe_renders_twice() {
    let helpers = r#"{{- define "name.agent" }}agent{{ end }}
{{- define "demo.other" -}}
{{- if .Values.other.sha }}{{ fail "other.sha forbidden. Use other.digest instead" }}{{ end -}}
{{ .Values.other.repository }}:{{ .Values.other.tag }}{{ with .Values.other.digest }}@{{ . }}{{ end }}
{{- end }}
"#;
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            "role: agent\nimage:\n  repository: quay.io/acme/agent\n  tag: \"1.25\"\nother:\n  repository: quay.io/acme/other\n  tag: \"3.1\"\n",
        ),
        (
            "values.schema.json",
            r##"{"$defs": {"image": {"type": "object", "additionalProperties": false,
                "properties": {"repository": {"type": "string", "pattern": "^[a-z0-9./-]+$"},
                               "tag": {"type": "string"}, "digest": {"type": "string"}}}},
               "properties": {"image": {"$ref": "#/$defs/image"}}}"##,
        ),
        ("templates/_helpers.tpl", helpers),
        (
            "templates/pod.yaml",
            &format!(
                "{}    - name: a\n      image: \"{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}{{{{ with .Values.image.digest }}}}@{{{{ . }}}}{{{{ end }}}}\"\n      args: [\"--role={{{{ include (print \"name.\" .Values.role) . }}}}\"]\n    - name: b\n      image: {{{{ include \"demo.other\" . | quote }}}}\n",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: demo\nspec:\n  containers:\n"
            ),
        ),
        (
            "templates/NOTES.txt",
            "{{ if not (hasPrefix \"quay.io/acme/\" .Values.image.repository) }}{{ fail \"Original containers have been substituted\" }}{{ end }}\n",
        ),
    ]);
    for image in ["quay.io/acme/agent:1.25", "quay.io/acme/other:3.1"] {
        o.assert_pinned(image);
    }
    assert_eq!(o.written("quay.io/acme/agent:1.25").0, &at("image.digest"));
    assert_eq!(o.written("quay.io/acme/other:3.1").0, &at("other.digest"));
    assert_eq!(o.renders, 3, "baseline and two probe renders, none refused");
}

#[test]
fn a_schema_refuses_what_its_keywords_say() {
    use super::refusals::allows;
    use serde_json::json;
    let schema = json!({
        "definitions": {"img": {"type": "object", "additionalProperties": false,
            "properties": {"tag": {"type": "string", "pattern": "^v[0-9]"}, "policy": {"enum": ["Always", "IfNotPresent"]}}}},
        "properties": {
            "image": {"$ref": "#/definitions/img"},
            "open": {"type": "object"},
            "count": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "string", "maxLength": 4}},
            "typed": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let ok = |path: &str, laid: serde_json::Value| {
        allows(
            &schema,
            &schema,
            &YamlPath::parse(path).unwrap().0,
            &laid,
            0,
        )
    };
    assert!(
        !ok("image.sha", json!("c0ffee")),
        "additionalProperties: false"
    );
    assert!(ok("image.tag", json!("v99.1.77")));
    assert!(!ok("image.tag", json!("zq1k")), "pattern");
    assert!(!ok("image.policy", json!("zq2k")), "enum");
    assert!(ok("open.anything", json!("zq3k")));
    assert!(!ok("count", json!("zq4k")), "type");
    assert!(ok("count", json!(99477)));
    assert!(!ok("list[0]", json!("zq55k")), "maxLength");
    assert!(!ok("typed.x", json!(1)), "additionalProperties' schema");
    assert!(ok("typed.x", json!("zq6k")));
}

const TAGGED: &str = "image:\n  repository: example/app\n  tag: \"1.0\"\n";

fn tagged_pod() -> String {
    pod(
        "    - name: app\n      image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
    )
}

#[test]
fn a_tag_a_users_values_file_overrides_is_probed_there_and_not_pinned_under_it() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            ("values.yaml", TAGGED),
            ("templates/pod.yaml", &tagged_pod()),
        ],
        &[("ci-values.yaml", "image:\n  tag: \"2.0\"\n")],
        &[],
    );
    o.assert_unpinnable("example/app:2.0", "is set by --values-file ");
    let u = &o.plan.unpinnable[0];
    assert!(u.reason.contains("ci-values.yaml"), "{}", u.reason);
    assert_eq!(u.path, Some(YamlPath::parse("image.tag").unwrap()));
    assert_eq!(o.values_after, TAGGED, "the chart's values were written");
}

#[test]
fn a_tag_a_set_overrides_is_probed_there_and_not_pinned_under_it() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            ("values.yaml", TAGGED),
            ("templates/pod.yaml", &tagged_pod()),
        ],
        &[],
        &["image.tag=2.0,replicas=3"],
    );
    o.assert_unpinnable("example/app:2.0", "is set by --set image.tag=2.0");
    assert_eq!(
        o.plan.unpinnable[0].path,
        Some(YamlPath::parse("image.tag").unwrap())
    );
}

#[test]
fn a_digest_key_the_users_values_file_leaves_alone_is_pinned_in_the_chart() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            (
                "values.yaml",
                "image:\n  repository: example/app\n  tag: \"1.0\"\n  digest: \"\"\n",
            ),
            (
                "templates/pod.yaml",
                &pod(
                    "    - name: app\n      image: \"{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\"\n",
                ),
            ),
        ],
        &[(
            "ci-values.yaml",
            "image:\n  repository: mirror.example.com/app\n  tag: \"2.0\"\n",
        )],
        &[],
    );
    o.assert_pinned("mirror.example.com/app:2.0");
    assert_eq!(
        o.written("mirror.example.com/app:2.0"),
        (&at("image.digest"), WrittenForm::DigestKey)
    );
}

#[test]
fn a_template_literal_pin_is_settled_and_a_reference_left_unpinned_is_not() {
    let o = run(&[
        ("Chart.yaml", CHART),
        ("values.yaml", "replicas: 1\n"),
        (
            "templates/tests/test.yaml",
            &pod(
                "    - name: curl\n      image: curlimages/curl:7.69.0\n      args: [\"curlimages/curl:7.69.0\"]\n",
            ),
        ),
    ]);
    o.assert_pinned("curlimages/curl:7.69.0");
    let planned = o.chart_file("templates/tests/test.yaml");
    let pins: Vec<_> = o
        .plan
        .pins
        .iter()
        .filter(|p| matches!(p.written, Written::Template(_)))
        .cloned()
        .collect();
    assert_eq!(pins.len(), 1, "{:?}", o.plan);
    assert_eq!(
        super::plan::repin_literals(&planned, &pins).unwrap(),
        planned,
        "pinning the planned template again changed it"
    );
    // A planned text that kept one occurrence as it was is not settled.
    let left = format!("{planned}# was curlimages/curl:7.69.0\n");
    let again = super::plan::repin_literals(&left, &pins).unwrap();
    assert_ne!(again, left);
    assert!(
        again.ends_with(&format!(
            "# was curlimages/curl:7.69.0@{}\n",
            made_up("curlimages/curl:7.69.0")
        )),
        "{again}"
    );
}

/// Containers listed in the values, each rendered from its `image`.
const LISTED: &str = "containers:\n  - name: app\n    image: example/app:1.0\n  - name: side\n    image: example/side:1.0\n";

fn listed_pod() -> String {
    pod(
        "{{- range .Values.containers }}\n    - name: {{ .name }}\n      image: {{ .image }}\n{{- end }}\n",
    )
}

#[test]
fn an_image_an_indexed_set_overrides_is_probed_there_and_not_pinned_under_it() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            ("values.yaml", LISTED),
            ("templates/pod.yaml", &listed_pod()),
        ],
        &[("ci-values.yaml", LISTED)],
        &["containers[1].image=example/side:2.0"],
    );
    // The marker under the indexed path landed: the image is the --set's.
    o.assert_unpinnable(
        "example/side:2.0",
        "`containers[1].image` is set by --set containers[1].image=example/side:2.0",
    );
    // The element the --set left alone is the values file's, as helm merges them.
    o.assert_unpinnable(
        "example/app:1.0",
        "`containers[0].image` is set by --values-file ",
    );
    assert_eq!(o.values_after, LISTED, "the chart's values were written");
}

#[test]
fn a_plain_set_beside_an_indexed_one_still_has_its_marker_land() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            (
                "values.yaml",
                "image:\n  repository: example/app\n  tag: \"1.0\"\n  digest: \"\"\nsidecars: []\n",
            ),
            (
                "templates/pod.yaml",
                &pod(
                    "    - name: app\n      image: \"{{ .Values.image.repository }}{{ if .Values.image.digest }}@{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}\"\n{{- range .Values.sidecars }}\n    - name: {{ .name }}\n      image: {{ .image }}\n{{- end }}\n",
                ),
            ),
        ],
        &[],
        &[
            r"image.repository=mirror.example.com/app",
            r"sidecars[0].name=log\,ger,sidecars[0].image=busybox:1.36",
        ],
    );
    // The repository's marker lands under the --set (it is the user's), so the
    // digest key beside it is found and pinned in the chart.
    o.assert_pinned("mirror.example.com/app:1.0");
    assert_eq!(
        o.written("mirror.example.com/app:1.0"),
        (&at("image.digest"), WrittenForm::DigestKey)
    );
    let parts: Vec<String> = o.plan_parts("mirror.example.com/app:1.0");
    assert_eq!(parts, ["image.repository", "image.tag"]);
    o.assert_unpinnable(
        "busybox:1.36",
        "`sidecars[0].image` is set by --set sidecars[0].name=log\\,ger,sidecars[0].image=busybox:1.36",
    );
}

/// A chart whose one template prints every value with its Go type
/// (`int64:1`, `float64:1`, `<nil>`), so two renders agree only when helm
/// computed the same values.
fn typed_dump_chart(dir: &Path) -> PathBuf {
    let root = dir.join("dump");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    let files = [
        ("Chart.yaml", "apiVersion: v2\nname: dump\nversion: 1.0.0\n"),
        (
            "values.yaml",
            "list: [p, q, r]\nkeep: {x: 1, y: two}\ngone: {z: 3}\nimg: {tag: t}\ncnt: 2\nchartlist: [c0, c1, c2]\n",
        ),
        (
            "templates/_walk.tpl",
            "{{- define \"walk\" -}}\n{{- if kindIs \"map\" . -}}{ {{- range $k, $v := . }}{{ $k | quote }}: {{ include \"walk\" $v }}, {{ end -}} }\n{{- else if kindIs \"slice\" . -}}[ {{- range . }}{{ include \"walk\" . }}, {{ end -}} ]\n{{- else -}}{{ printf \"%T:%v\" . . | quote }}\n{{- end -}}\n{{- end -}}\n",
        ),
        (
            "templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dump\ndata:\n  values: {{ include \"walk\" .Values | quote }}\n",
        ),
    ];
    for (rel, text) in files {
        std::fs::write(root.join(rel), text).unwrap();
    }
    root
}

#[test]
fn the_laid_sets_render_as_helm_renders_the_sets_themselves() {
    let helm = helm();
    let dir = tempfile::tempdir().unwrap();
    let chart = typed_dump_chart(dir.path());
    let user = dir.path().join("user.yaml");
    std::fs::write(
        &user,
        "list: [{k: 1, j: a}, x]\nmine: [m0, m1]\nimg: {repo: example/app}\n",
    )
    .unwrap();
    let cases: &[&[&str]] = &[
        &["list[0].k=9,list[3]=z"],
        &["list[1].k=9", "mine[3]=gap"],
        &["fresh[2].a=b", "nest[0][1]=y,nest[1][0][2]=deep"],
        // A list only the chart holds is replaced whole, not patched.
        &["chartlist[1]=y"],
        &["list={a,1,true,null,},empty={}", "img.tag=2.0"],
        &[r"dot\.key=x\,y,back=a\\b,eq\=key=v=w,brk\[0\]=i,tail=a\"],
        &["gone=null,keep.y=NULL,falsy=falſe,t=TRUE"],
        &["big=1234567,neg=-5,plus=+5,oct=0777,zero=0,f=1.5,e=,cnt=1"],
        &["s=é😀\u{85}\u{2028}\u{feff}\t\u{7f},q='\"x\",h=#c,c=a: b,star=*x,amp=&y,pct=%z,br=[x]"],
        &["yes=yes,no=n,y=on,tilde=~,hex=0x1F,exp=1e3,under=1_000"],
        &["mine[0].k=", "list[1].k="],
    ];
    for sets in cases {
        let spec = RenderSpec {
            values_files: vec![user.clone()],
            sets: sets.iter().map(|s| s.to_string()).collect(),
            ..RenderSpec::default()
        };
        let real = helm
            .template("dump", &chart, &spec, &[])
            .unwrap_or_else(|e| panic!("{sets:?}: {e}"));
        let laid = super::user_values(&spec).unwrap();
        let text = laid
            .sets_laid
            .unwrap_or_else(|| panic!("{sets:?} not laid"));
        let probe_spec = RenderSpec {
            values_files: vec![user.clone()],
            sets: laid.int_sets.iter().map(|(_, s)| s.clone()).collect(),
            ..RenderSpec::default()
        };
        let from_file = helm
            .template("dump", &chart, &probe_spec, std::slice::from_ref(&text))
            .unwrap_or_else(|e| panic!("{sets:?} laid as {text}: {e}"));
        assert_eq!(from_file, real, "{sets:?} laid as {text}");
    }
}

#[test]
fn set_by_answers_for_paths_inside_lists_and_escaped_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ci = dir.path().join("ci.yaml");
    std::fs::write(
        &ci,
        "containers:\n  - image: a\n  - image: b\nimage:\n  tag: \"1\"\n",
    )
    .unwrap();
    let spec = RenderSpec {
        values_files: vec![ci.clone()],
        sets: vec![
            "containers[1].image=c".to_string(),
            r"sidecars[1].image=x,a\.b=1".to_string(),
            "image.tag=null".to_string(),
        ],
        ..RenderSpec::default()
    };
    let user = super::user_values(&spec).unwrap();
    let probe = super::Probe {
        overrides: user.overrides,
        ..Default::default()
    };
    let by = |p: &str| probe.set_by(&YamlPath::parse(p).unwrap());
    let file = format!("--values-file {}", ci.display());
    // The --set changed one element of the file's list: the other is the file's.
    assert_eq!(by("containers[0].image"), Some(file.as_str()));
    assert_eq!(
        by("containers[1].image"),
        Some("--set containers[1].image=c")
    );
    // A list the --set created is its own whole: the chart's first element is gone.
    let sidecars = r"--set sidecars[1].image=x,a\.b=1";
    assert_eq!(by("sidecars[0].image"), Some(sidecars));
    assert_eq!(by(r#""a.b""#), Some(sidecars));
    assert_eq!(by("a.b"), None);
    assert_eq!(by("image.tag"), Some("--set image.tag=null"));
    assert_eq!(by("image.repository"), None);

    // A --set helm refuses (a key under the file's list) is passed as it is.
    let refused = RenderSpec {
        sets: vec!["containers.image=x".to_string()],
        ..spec.clone()
    };
    assert!(super::user_values(&refused).unwrap().sets_laid.is_none());
}

#[test]
fn a_list_holding_values_helm_reads_otherwise_keeps_the_sets_that_index_it() {
    let dir = tempfile::tempdir().unwrap();
    for (text, laid) in [
        (
            "list:
  - {name: a, tls: on}
other: {tls: on}
",
            false,
        ),
        (
            "list:
  - {name: a, mode: 0644}
",
            false,
        ),
        (
            "base: &b {k: 1}
list:
  - *b
",
            false,
        ),
        (
            "list:
  - {y: 1}
",
            false,
        ),
        // Outside the indexed list the files' values are helm's own.
        (
            "list:
  - {name: a, tls: \"on\"}
other: {tls: on}
",
            true,
        ),
    ] {
        let ci = dir.path().join("ci.yaml");
        std::fs::write(&ci, text).unwrap();
        let spec = RenderSpec {
            values_files: vec![ci],
            sets: vec!["list[0].image=x".to_string()],
            ..RenderSpec::default()
        };
        let user = super::user_values(&spec).unwrap();
        assert_eq!(user.sets_laid.is_some(), laid, "{text}");
        assert_eq!(
            super::Probe {
                overrides: user.overrides,
                ..Default::default()
            }
            .set_by(&YamlPath::parse("list[0].image").unwrap()),
            Some("--set list[0].image=x")
        );
    }
}

#[test]
fn a_value_an_override_takes_whole_is_hidden_from_the_markers() {
    let feed = |file: &str, prefix: &[&str], tree: &str| super::Feed {
        file: file.to_string(),
        prefix: prefix.iter().map(|s| s.to_string()).collect(),
        tree: serde_json::from_str(tree).unwrap(),
    };
    let ahead = [
        feed(
            "--set",
            &[],
            r#"{"containers": [{"image": "x"}], "gone": null, "sub": {"tag": 5}}"#,
        ),
        feed(
            "values.yaml",
            &[],
            r#"{"sub": {"image": {"repository": "r"}}, "m": {"k": 1}}"#,
        ),
        feed("ci.yaml", &[], "null"),
        feed(
            "charts/sub/values.yaml",
            &["sub"],
            r#"{"global": {"g": [1]}}"#,
        ),
    ];
    let hidden = |p: &str| super::hidden(&ahead, &YamlPath::parse(p).unwrap());
    assert!(hidden("containers[1].image"), "a list is taken whole");
    assert!(hidden("gone.image.tag"), "a null deletes the key");
    assert!(hidden("sub.tag"), "a scalar at the path");
    assert!(!hidden("sub.image.tag"), "maps merge");
    assert!(hidden("m[0].image"), "a map takes a list's place");
    assert!(hidden("sub.image"), "a map takes a scalar's place");
    assert!(!hidden("other"), "a file that is no map hides nothing");
}

#[test]
fn whole_numbers_a_set_gives_stay_int64_and_a_whole_number_tag_is_probed_there() {
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            ("values.yaml", TAGGED),
            (
                "templates/pod.yaml",
                &format!(
                    "{{{{- if not (kindIs \"int64\" .Values.replicas) }}}}{{{{ fail \"replicas is not an int64\" }}}}{{{{ end }}}}\n{}",
                    tagged_pod()
                ),
            ),
        ],
        &[],
        &["image.tag=2,replicas=1"],
    );
    assert_eq!(
        o.plan_parts("example/app:2"),
        ["image.repository", "image.tag"]
    );
    o.assert_unpinnable(
        "example/app:2",
        "`image.tag` is set by --set image.tag=2,replicas=1",
    );
}

#[test]
fn a_whole_number_tag_marked_after_a_hundred_others_renders_as_its_marker() {
    // helm reads a file's number as a float64 and prints one of seven digits
    // or more as `1.234567e+06`: a number marker stays under a million.
    let padding = "  - example\n".repeat(120);
    let o = run(&[
        ("Chart.yaml", CHART),
        (
            "values.yaml",
            &format!("aaa:\n{padding}image:\n  repository: example/app\n  tag: 1\n"),
        ),
        ("templates/pod.yaml", &tagged_pod()),
    ]);
    assert_eq!(
        o.plan_parts("example/app:1"),
        ["image.repository", "image.tag"]
    );
    o.assert_pinned("example/app:1");
    assert_eq!(
        o.written("example/app:1"),
        (&at("image.tag"), WrittenForm::TagAt)
    );
}

#[test]
fn sets_passed_as_they_are_leave_the_chart_unwritten_under_them() {
    // `tls: on` is a boolean to helm and a string to chartpin: the list the
    // --set indexes cannot be laid again, so helm gets the --set itself.
    let user = "containers:\n  - name: app\n    image: example/app:1.0\n    tls: on\n";
    let o = run_over(
        &[
            ("Chart.yaml", CHART),
            ("values.yaml", LISTED),
            ("templates/pod.yaml", &listed_pod()),
        ],
        &[("ci-values.yaml", user)],
        &["containers[0].image=example/app:2.0"],
    );
    assert_eq!(o.values_after, LISTED, "the chart's values were written");
    // The marker under the --set did not land: the image is left, not
    // pinned, and the --set that sets it is named.
    o.assert_unpinnable(
        "example/app:2.0",
        "comes from no values key the probe could mark: `--set containers[0].image=example/app:2.0` sets it, and the probe passed that --set to helm as it is",
    );
}
