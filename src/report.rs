//! Renderers of findings: human, JSON, SARIF, GitHub workflow commands, Markdown.
//!
//! One [`Format`] enum, one renderer each; every command reports through here
//! so a finding reads the same whichever command produced it.

/// Output format for findings and summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col` with the source line and a marker; colour on a terminal.
    Human,
    /// A stable JSON document: `{"findings": [...], "summary": {...}}`.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`).
    Github,
}

impl Format {
    /// The default: `github` inside GitHub Actions (`GITHUB_ACTIONS=true`), else `human`.
    pub fn default_for_env() -> Format {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            Format::Github
        } else {
            Format::Human
        }
    }
}
