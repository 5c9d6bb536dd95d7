//! Images inside values strings that hold manifest text: grafana's
//! `extraContainers: |` is a `|` block of container specs that the chart
//! passes through `tpl`. These are strings, not image sites, so pin leaves
//! them alone; lint parses the block's content as YAML and reports every
//! container `image:` at its exact bytes in the file, mapping content offsets
//! back through [`crate::chartmeta::block_content`] (the same mapping the
//! `artifacthub.io/images` annotation uses).
//!
//! Why these limits, to keep false positives low: only `|` blocks count
//! (a folded `>` block does not map back byte for byte); the content must be
//! a YAML list of maps; under a key that names a container list
//! (`extraContainers`, `extraInitContainers`, `sidecars`, `initContainers`)
//! any item with an `image` counts, under any other key an item needs both
//! `name` and `image` (a container's shape). Template actions (`{{ … }}`)
//! are blanked to filler of the same length before parsing so offsets stay
//! put; an image whose text holds an action is not judged (its value is not
//! known here), and a block that still does not parse is skipped.

use crate::chartmeta::block_content;
use crate::source::Span;
use crate::values::{Node, QuoteStyle, ValuesFile, ValuesView, YamlPath};

/// Keys whose block strings hold container lists (FIELD-NOTES §2).
const CONTAINER_LIST_KEYS: [&str; 4] = [
    "extraContainers",
    "extraInitContainers",
    "sidecars",
    "initContainers",
];

/// One image found inside a block string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct EmbeddedImage {
    /// `extraContainers[0].image`: the string's path, then the path inside its content.
    pub path: YamlPath,
    /// The image as written (unquoted).
    pub image: String,
    /// The image's bytes in the values file, without quotes.
    pub span: Span,
}

/// Every container image inside the `|` block strings of `vf`, in file order.
pub(super) fn embedded_images(vf: ValuesView<'_>) -> Vec<EmbeddedImage> {
    let mut out = Vec::new();
    for doc in vf.documents {
        walk(vf, doc, &YamlPath::default(), &mut out);
    }
    out.sort_by_key(|e| e.span.start);
    out
}

fn walk(vf: ValuesView<'_>, node: &Node, path: &YamlPath, out: &mut Vec<EmbeddedImage>) {
    match node {
        Node::Map(m) => {
            for (k, v) in &m.entries {
                if let Some(k) = k.as_scalar() {
                    walk(vf, v, &path.key(&k.value), out);
                }
            }
        }
        Node::Seq(s) => {
            for (i, item) in s.items.iter().enumerate() {
                walk(vf, item, &path.index(i), out);
            }
        }
        Node::Scalar(s) if s.style == QuoteStyle::Literal && !s.is_empty() => {
            out.extend(in_block(vf, s.span(), &s.value, path));
        }
        _ => {}
    }
}

/// The images in one `|` block whose content bytes are `span`.
fn in_block(vf: ValuesView<'_>, span: Span, value: &str, path: &YamlPath) -> Vec<EmbeddedImage> {
    let text = vf.text();
    let Some(block) = block_content(text, span) else {
        return Vec::new();
    };
    if block.inner.replace("\r\n", "\n").trim_end() != value.trim_end() {
        return Vec::new();
    }
    let Ok(parsed) = ValuesFile::parse(&vf.source.path, blank_actions(&block.inner)) else {
        return Vec::new();
    };
    let Some(Node::Seq(seq)) = parsed.documents().first() else {
        return Vec::new();
    };
    let listed = path
        .last_key()
        .is_some_and(|k| CONTAINER_LIST_KEYS.contains(&k));
    let mut out = Vec::new();
    for (i, item) in seq.items.iter().enumerate() {
        let Some(map) = item.as_map() else {
            return Vec::new();
        };
        let Some(image) = map.get("image").and_then(Node::as_scalar) else {
            continue;
        };
        if !listed && map.get("name").and_then(Node::as_scalar).is_none() {
            continue;
        }
        let written = &block.inner[image.span().range()];
        if image.is_empty() || written.contains("{{") || written.contains('\n') {
            continue;
        }
        let quoted = matches!(
            image.style,
            QuoteStyle::SingleQuoted | QuoteStyle::DoubleQuoted
        );
        let inner = if quoted && written.len() >= 2 {
            Span::new(image.span().start + 1, image.span().end - 1)
        } else {
            image.span()
        };
        let outer = block.outer(inner);
        if text.get(outer.range()) != block.inner.get(inner.range()) {
            continue;
        }
        out.push(EmbeddedImage {
            path: path.index(i).key("image"),
            image: image.text().to_string(),
            span: outer,
        });
    }
    out
}

/// `text` with every `{{ … }}` action blanked to the same number of bytes:
/// a line that is only actions becomes spaces, an action inside a line
/// becomes `x`s (a plain scalar), so YAML offsets do not move.
fn blank_actions(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let mut pos = 0;
        let whole_line = trimmed.starts_with("{{") && trimmed.ends_with("}}");
        while let Some(open) = line[pos..].find("{{") {
            let start = pos + open;
            let end = line[start..]
                .find("}}")
                .map_or(line.len(), |e| start + e + 2);
            for b in &mut bytes[line_start + start..line_start + end] {
                if *b != b'\n' && *b != b'\r' {
                    *b = if whole_line { b' ' } else { b'x' };
                }
            }
            pos = end;
        }
        if whole_line {
            for b in &mut bytes[line_start..line_start + line.len()] {
                if *b != b'\n' && *b != b'\r' {
                    *b = b' ';
                }
            }
        }
        line_start += line.len();
    }
    // Only whole ASCII-delimited actions were replaced by ASCII bytes.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, String, String)> {
        let vf = ValuesFile::parse("values.yaml", text).unwrap();
        embedded_images(vf.view())
            .into_iter()
            .map(|e| {
                (
                    e.path.to_string(),
                    e.image,
                    text[e.span.range()].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn container_list_blocks_are_read_at_their_bytes() {
        let text = "grafana:\n  extraContainers: |\n    - name: proxy\n      image: quay.io/gambol99/keycloak-proxy:latest\n      args:\n      - -client-id={{ .Values.id }}\n    {{- if .Values.more }}\n    - name: \"two\"\n      image: \"busybox:1.36\"\n    {{- end }}\n";
        assert_eq!(
            found(text),
            vec![
                (
                    "grafana.extraContainers[0].image".into(),
                    "quay.io/gambol99/keycloak-proxy:latest".into(),
                    "quay.io/gambol99/keycloak-proxy:latest".into()
                ),
                (
                    "grafana.extraContainers[1].image".into(),
                    "busybox:1.36".into(),
                    "busybox:1.36".into()
                ),
            ]
        );
    }

    #[test]
    fn other_strings_need_a_container_shape() {
        // Any key: a list of maps with name and image counts.
        let t = "extra: |\n  - name: a\n    image: nginx:1.25\n";
        assert_eq!(found(t).len(), 1);
        // Without `name` under an unknown key: not a container list.
        assert!(found("extra: |\n  - image: nginx:1.25\n").is_empty());
        // Prose, a single map, a folded block, an image built by an action: nothing.
        for t in [
            "notes: |\n  image: nginx:1.25 is what we run\n",
            "sidecars: |\n  name: a\n  image: nginx:1.25\n",
            "sidecars: >\n  - name: a\n    image: nginx:1.25\n",
            "sidecars: |\n  - name: a\n    image: {{ .Values.img }}\n",
            "sidecars: |\n  - name: a\n    image: \"{{ .Values.r }}/nginx:1\"\n",
            "sidecars: |\n  not: [valid\n",
            "extraContainers: \"\"\n",
        ] {
            assert!(found(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn crlf_and_keep_headers_map_exactly() {
        let t = "initContainers: |-\r\n    - name: a\r\n      image: 'alpine:3.19'\r\n";
        let f = found(t);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].2, "alpine:3.19");
    }
}
