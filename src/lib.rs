//! chartpin: make Helm chart releases immutable.
//!
//! Layers, lowest first; a module imports only from its own layer or below
//! (docs/architecture.md says, module by module, where any behaviour lives):
//!
//! - [`source`], [`reference`](mod@reference), [`limits`], [`terminal`], [`steps`]: spans,
//!   locations, the source table and line index; image references and digests (no I/O);
//!   how much of any input is read; control characters escaped before text reaches a
//!   terminal; the wall time of a run's steps, logged at `-vv`
//! - [`write`](mod@write), [`lock`]: the one atomic writer of chart files; the per-chart advisory lock
//! - [`diag`]: findings, input errors, exit codes
//! - [`yaml`]: the one span-keeping YAML tree, its parser, paths and byte-splice edits
//! - [`values`], [`chartmeta`], [`manifest`]: image sites in values files;
//!   `Chart.yaml`'s image annotation; digest-manifest readers
//! - [`chart`]: one chart reader (directory or `.tgz`, subcharts, values, templates,
//!   `Chart.yaml` metadata) for every use case, and the staging copy helm renders
//! - [`config`]: `.chartpin.yaml`, read from a chart or from `--config`
//! - [`registry`]: OCI client with auth, transport, retry and per-host limits
//! - [`pin`], [`lint`], [`verify`], [`release`]: the use cases; each returns data
//! - [`report`]: human, JSON, SARIF, GitHub and Markdown renderers of findings
//! - [`cli`]: arguments, exit codes, wiring

pub mod chart;
pub mod chartmeta;
pub mod cli;
pub mod config;
pub mod diag;
pub mod helm;
pub mod limits;
pub mod lint;
pub mod lock;
pub mod manifest;
pub mod pin;
pub mod probe;
pub mod prove;
pub mod reference;
pub mod registry;
pub mod release;
pub mod report;
pub mod source;
pub mod steps;
pub mod terminal;
pub mod values;
pub mod verify;
pub mod write;
pub mod yaml;
