//! The structured formats, read from a [`super::tree`] that keeps byte offsets:
//! buildx metadata JSON, kbld and imgpkg locks, plain image → digest maps.

use crate::diag::InputError;
use crate::source::SourceFile;

use super::{ManifestEntry, ManifestFormat};

pub(super) fn detect_json(_source: &SourceFile) -> ManifestFormat {
    ManifestFormat::BuildxMetadata
}

pub(super) fn detect_yaml(_source: &SourceFile) -> Option<ManifestFormat> {
    None
}

fn todo(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    Err(InputError::file(
        &source.path,
        "this format is not read yet",
    ))
}

pub(super) fn buildx(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    todo(source)
}
pub(super) fn kbld(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    todo(source)
}
pub(super) fn imgpkg(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    todo(source)
}
pub(super) fn map(source: &SourceFile) -> Result<Vec<ManifestEntry>, InputError> {
    todo(source)
}
