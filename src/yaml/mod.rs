//! YAML as chartpin reads it: one span-keeping tree for every YAML file the
//! tool looks at (values files, `Chart.yaml`, digest manifests, rendered
//! output), the parser that builds it, [`YamlPath`] to name a node, and
//! edits that splice bytes ([`Edit`], [`apply_edits`], [`set_scalar`],
//! [`insert_key_after`]).
//!
//! Why a tree of our own instead of a YAML value type: a pin must leave every
//! byte its maintainers wrote (comments, quoting, order, blank lines) as it
//! was, so each scalar keeps its byte span and quote style, and nothing is
//! ever re-serialised. Spans come from granit-parser, whose markers carry
//! byte offsets (FIELD-NOTES §6: saphyr-parser and yaml-rust2 count
//! characters and slice wrongly after non-ASCII text).
//!
//! This layer knows nothing of images or charts: what a node means is the
//! business of [`crate::values`], [`crate::chartmeta`], [`crate::manifest`]
//! and [`crate::lint`], each reading this one tree.

mod edit;
mod parse;
mod path;
mod text;
mod tree;

pub use edit::{
    Edit, EditError, InsertError, apply_edits, change_nothing, edits_give, insert_key_after,
    offset_before_edits, render_scalar, set_path, set_paths, set_scalar, undo_edits,
};
pub use parse::{
    AliasBudget, Anchors, Document, Duplicates, MAX_ALIAS_EXPANSIONS, Options, Yaml, parse,
    parse_each,
};
pub use path::{PathSeg, YamlPath, node_at};
pub use text::{MAX_TEXT, Text};
pub use tree::{Map, Node, QuoteStyle, Scalar, Seq, TreeSpan};
