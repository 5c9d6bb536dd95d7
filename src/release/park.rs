//! The plan's changed files as read, set aside while the planned chart is
//! linted ([`park`]) and restored after ([`restore`]).
//!
//! Why: lint of the planned chart is where `release` peaks. It holds the
//! planned text, its YAML tree and a finding per site, and until now also
//! every changed file as read (one text shared by the chart, the change and
//! the sources), which lint never reads. On a values file dense in images
//! that text and its line index were what put release over issue 10's
//! bound (4× the input plus 64 MB) while lint and pin met it.
//!
//! A file as read is the planned text with the pin's edits undone
//! ([`crate::yaml::undo_edits`]), so only the undo is kept: a few bytes per
//! pin, and nothing is read from disk again. Each undo is checked to give
//! back the text exactly before that text is let go; a file whose undo
//! does not (none is known) stays as it is, so parking can cost memory,
//! never a byte of a file.

use crate::source::{SharedText, SourceFile, SourceId};
use crate::yaml::{Edit, apply_edits, edits_give, undo_edits};

use super::{FileChange, Plan};

/// What [`park`] set aside: for each file, where it is in the plan, the
/// reading that held it, and how to make it again.
#[must_use = "the plan's files as read come back only through restore"]
pub struct Parked(Vec<ParkedFile>);

struct ParkedFile {
    chart: usize,
    /// Among the chart's values files, then its templates.
    change: usize,
    /// The reading the chart and the sources held it as, when they did.
    id: Option<SourceId>,
    undo: Vec<Edit>,
}

/// The chart plan's changed files, values files first, then templates,
/// with the edits that made each.
fn changes(c: &mut super::ChartPlan) -> impl Iterator<Item = (&mut FileChange, &Vec<Edit>)> {
    c.values.iter_mut().chain(&mut c.templates).zip(&c.edits)
}

/// Let go of the text as read of each changed values file and template of
/// `plan`, in every place that holds it, keeping how to make it again.
/// Until [`restore`], those places hold an empty text.
pub fn park(plan: &mut Plan) -> Parked {
    let mut parked = Vec::new();
    for (chart, c) in plan.charts.iter_mut().enumerate() {
        let mut set_aside: Vec<SharedText> = Vec::new();
        for (change, (file, edits)) in changes(c).enumerate() {
            if file.old == file.new {
                continue;
            }
            let Some(undo) = undo_edits(&file.old, edits) else {
                continue;
            };
            if !edits_give(&file.new, &undo, &file.old) {
                continue;
            }
            set_aside.push(std::mem::take(&mut file.old));
            parked.push(ParkedFile {
                chart,
                change,
                id: None,
                undo,
            });
        }
        let first = parked.len() - set_aside.len();
        let mine = &mut parked[first..];
        let holders = c
            .chart
            .all_files_mut()
            .into_iter()
            .chain(plan.sources.owned_mut());
        for src in holders {
            if let Some(i) = set_aside.iter().position(|t| t.same(&src.text)) {
                mine[i].id = Some(src.id());
                *src = src.with_text(SharedText::default());
            }
        }
    }
    Parked(parked)
}

/// Put back what [`park`] set aside, one text per file again shared by
/// every place that held it.
pub fn restore(plan: &mut Plan, parked: Parked) {
    for p in parked.0 {
        let c = &mut plan.charts[p.chart];
        let (file, _) = changes(c).nth(p.change).expect("a parked change");
        let old: SharedText = apply_edits(&file.new, &p.undo)
            .expect("an undo checked when parked")
            .into();
        file.old = old.clone();
        let Some(id) = p.id else { continue };
        let holders = c
            .chart
            .all_files_mut()
            .into_iter()
            .chain(plan.sources.owned_mut());
        let mut restored: Option<SourceFile> = None;
        for src in holders.filter(|s| s.id() == id) {
            let again = restored.get_or_insert_with(|| src.with_text(old.clone()));
            *src = again.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{ReleaseRequest, plan};

    #[test]
    fn a_parked_file_is_let_go_everywhere_and_comes_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        )
        .unwrap();
        let values =
            "# keep\nweb:\n  image: nginx:1.25 # pinned here\nother: {image: 'redis:7'}\nnote: é\n";
        std::fs::write(dir.path().join("values.yaml"), values).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let manifest = crate::manifest::parse_manifest(
            std::path::Path::new("digests.txt"),
            &format!("nginx:1.25@{digest}\nredis:7@{digest}\n"),
            None,
        )
        .unwrap();
        let request = ReleaseRequest {
            charts: vec![dir.path().to_path_buf()],
            ..ReleaseRequest::default()
        };
        let mut plan = plan(&request, &manifest).unwrap();
        let change = &plan.charts[0].values[0];
        let (old, new) = (change.old.clone(), change.new.clone());
        assert_eq!(&*old, values);
        assert_ne!(old, new);
        let holders = |plan: &mut Plan| -> Vec<SourceFile> {
            let c = &mut plan.charts[0];
            let id = c.chart.file("values.yaml").unwrap().id();
            let mut held: Vec<SourceFile> = c
                .chart
                .all_files_mut()
                .into_iter()
                .chain(plan.sources.owned_mut())
                .filter(|s| s.id() == id)
                .map(|s| s.clone())
                .collect();
            held.sort_by_key(|s| s.text.len());
            held
        };
        assert_eq!(holders(&mut plan).len(), 2, "the chart and the sources");

        let parked = park(&mut plan);
        // Nothing holds the text as read but this test.
        assert!(plan.charts[0].values[0].old.is_empty());
        for s in holders(&mut plan) {
            assert!(s.text.is_empty(), "{}", s.path().display());
        }
        assert!(plan.charts[0].values[0].new.same(&new));

        restore(&mut plan, parked);
        let back = plan.charts[0].values[0].old.clone();
        assert_eq!(&*back, values);
        // One text again, shared by every place that held it, with its lines.
        for s in holders(&mut plan) {
            assert!(s.text.same(&back));
            assert_eq!(s.line_text(3), "  image: nginx:1.25 # pinned here");
        }
        assert!(plan.charts[0].values[0].new.same(&new));
    }
}
