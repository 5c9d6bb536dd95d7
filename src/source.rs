//! Source text and positions: byte spans and the line index that turns them
//! into the `file:line:col` every message and report uses.
//!
//! Everything that edits or reports on a file works in byte offsets into the
//! original text; only rendering converts to lines and columns, here, once.
//! A place is a [`Location`] (file, [`Position`], the [`SourceId`] of the
//! text it was taken in); the renderers look its text up in a [`Sources`]
//! table, so no finding, image or row stores a line number that could go
//! stale when a file is rewritten, merged or suppressed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A half-open byte range `start..end` into a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end, "span {start}..{end} is reversed");
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Where something sits in a file's text: its exact bytes, or only the
/// offset where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Position {
    /// The exact bytes (a scalar with its quotes, a comment): the human
    /// report underlines them.
    Span(Span),
    /// Only the start is known (a field of a line-based digest manifest, a
    /// key the config reader located): the human report underlines the
    /// scalar that starts there.
    Start(usize),
}

impl Position {
    /// The byte offset the position starts at.
    pub fn start(&self) -> usize {
        match *self {
            Position::Span(s) => s.start,
            Position::Start(o) => o,
        }
    }

    /// The exact span, when one is known.
    pub fn span(&self) -> Option<Span> {
        match *self {
            Position::Span(s) => Some(s),
            Position::Start(_) => None,
        }
    }
}

/// A place in a file: the file's path (as shown), the id of the text the
/// position was taken in, and, when known, the position. Lines and columns
/// are not stored: they are worked out from that text
/// ([`Location::line_col`]) when a report is rendered.
///
/// Two locations are equal when they name the same file and position,
/// whichever reading of the file they were taken in.
#[derive(Clone, Debug)]
pub struct Location {
    /// Shared with the source it was taken in (issue 10: a file dense in
    /// images has a finding every few hundred bytes).
    pub file: Arc<Path>,
    pub position: Option<Position>,
    /// The text `position` is an offset into (one path can have two: `release`
    /// reports on the values files as read and, from lint, as written).
    /// `None`: the text [`Sources`] holds for `file`.
    pub source: Option<SourceId>,
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        (&self.file, self.position) == (&other.file, other.position)
    }
}

impl Eq for Location {}

impl std::hash::Hash for Location {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.file, self.position).hash(state);
    }
}

impl Location {
    /// `span` of `source`.
    pub fn at(source: &SourceFile, span: Span) -> Self {
        Location {
            file: source.path.clone(),
            position: Some(Position::Span(span)),
            source: Some(source.id),
        }
    }

    /// The place starting at byte `offset` of `source`, its end unknown.
    pub fn starting(source: &SourceFile, offset: usize) -> Self {
        Location {
            file: source.path.clone(),
            position: Some(Position::Start(offset)),
            source: Some(source.id),
        }
    }

    /// The whole of `file`, without a position.
    pub fn file(file: impl AsRef<Path>) -> Self {
        Location {
            file: Arc::from(file.as_ref()),
            position: None,
            source: None,
        }
    }

    /// The exact span, when one is known.
    pub fn span(&self) -> Option<Span> {
        self.position.and_then(|p| p.span())
    }

    /// Order by file, then by place in it (byte order is line-and-column
    /// order), a place without a position first.
    pub fn order(&self, other: &Location) -> std::cmp::Ordering {
        let start = |l: &Location| l.position.map(|p| p.start());
        (&self.file, start(self)).cmp(&(&other.file, start(other)))
    }

    /// The 1-based line and column, from the file's text in `sources`;
    /// `None` without a position or when `sources` lacks the file.
    pub fn line_col(&self, sources: &Sources<'_>) -> Option<LineCol> {
        let position = self.position?;
        Some(sources.text_of(self)?.line_col(position.start()))
    }

    /// The 1-based line and column of the position in `source`'s text.
    pub fn line_col_in(&self, source: &SourceFile) -> Option<LineCol> {
        Some(source.line_col(self.position?.start()))
    }

    /// `file:line:col`, or the file alone when the position is unknown.
    pub fn display_in(&self, sources: &Sources<'_>) -> String {
        match self.line_col(sources) {
            Some(lc) => format!("{}:{lc}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

/// Byte offsets of line starts, for offset → (line, column) lookups. They
/// are kept as `u32` (a text of 4 GiB or more keeps `usize`): on a large
/// values file the index is a fifth of the text, and half of that is zeros
/// (issue 10: peak memory within 4× the input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIndex {
    starts: Starts,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Starts {
    Narrow(Vec<u32>),
    Wide(Vec<usize>),
}

impl Default for LineIndex {
    fn default() -> Self {
        LineIndex {
            starts: Starts::Narrow(vec![0]),
        }
    }
}

impl Starts {
    fn get(&self, i: usize) -> Option<usize> {
        match self {
            Starts::Narrow(v) => v.get(i).map(|&s| s as usize),
            Starts::Wide(v) => v.get(i).copied(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Starts::Narrow(v) => v.len(),
            Starts::Wide(v) => v.len(),
        }
    }

    /// The index of the last line starting at or before `offset`.
    fn line_of(&self, offset: usize) -> usize {
        let found = match self {
            Starts::Narrow(v) => v.binary_search(&(offset as u32)),
            Starts::Wide(v) => v.binary_search(&offset),
        };
        match found {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }
}

/// A 1-based line and column. Columns count characters, not bytes, so they
/// match what editors, GitHub annotations and SARIF (`columnKind` unicode) show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        // Counted first, so the vector is allocated once at its size.
        let lines = 1 + text.bytes().filter(|&b| b == b'\n').count();
        let ends = text.match_indices('\n').map(|(i, _)| i + 1);
        let starts = if u32::try_from(text.len()).is_ok() {
            let mut v = Vec::with_capacity(lines);
            v.push(0);
            v.extend(ends.map(|i| i as u32));
            Starts::Narrow(v)
        } else {
            let mut v = Vec::with_capacity(lines);
            v.push(0);
            v.extend(ends);
            Starts::Wide(v)
        };
        LineIndex { starts }
    }

    /// The line and column of byte `offset` in `text` (the text this index was built from).
    pub fn line_col(&self, text: &str, offset: usize) -> LineCol {
        let offset = offset.min(text.len());
        let line = self.starts.line_of(offset);
        let start = self.starts.get(line).unwrap_or(0);
        let column = text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start)
            + 1;
        LineCol {
            line: line + 1,
            column,
        }
    }

    /// The text of 1-based `line`, without its line terminator.
    pub fn line_text<'a>(&self, text: &'a str, line: usize) -> &'a str {
        let Some(start) = self.starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.starts.get(line).unwrap_or(text.len());
        text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The byte offset where 1-based `line` starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.starts.get(line.wrapping_sub(1))
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }
}

/// Which reading of a file a position was taken in: every [`SourceFile`]
/// made gets its own (clones share it), so a [`Sources`] table can hold a
/// file as read and as rewritten side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(u64);

impl SourceId {
    fn fresh() -> SourceId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        SourceId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A file's text, shared by every copy of it: a copy costs a count, not
/// the text (issue 10: `release` holds a values file as read in the chart,
/// in its change and in its sources, and as planned in its change and in
/// the planned chart it lints). A `String` moved in stays where it was
/// read: an `Arc<str>` would copy it, and a 20 MB copy at the start raises
/// the peak of everything after it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct SharedText(Arc<String>);

impl std::ops::Deref for SharedText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl SharedText {
    /// Whether both are the same text in memory (one reading shared), not
    /// merely equal.
    pub fn same(&self, other: &SharedText) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> Self {
        SharedText(Arc::new(text))
    }
}

impl From<&str> for SharedText {
    fn from(text: &str) -> Self {
        SharedText(Arc::new(text.to_string()))
    }
}

impl From<&String> for SharedText {
    fn from(text: &String) -> Self {
        SharedText(Arc::new(text.clone()))
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

/// A file's path, its full text and a line index over it. Two are equal
/// when path and text are. A copy shares the text and the index (issue 10:
/// `release` holds a values file as read in the chart, in its change and in
/// its sources, and one text serves them all).
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Shared by every [`Location`] taken in the file.
    pub path: Arc<Path>,
    pub text: SharedText,
    index: Arc<LineIndex>,
    id: SourceId,
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, &self.text) == (&other.path, &other.text)
    }
}

impl Eq for SourceFile {}

impl SourceFile {
    pub fn new(path: impl AsRef<Path>, text: impl Into<SharedText>) -> Self {
        let text = text.into();
        let index = Arc::new(LineIndex::new(&text));
        SourceFile {
            path: Arc::from(path.as_ref()),
            text,
            index,
            id: SourceId::fresh(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which reading of the file this is (see [`SourceId`]).
    pub fn id(&self) -> SourceId {
        self.id
    }

    /// This reading (its path and [`SourceId`]) holding `text` instead, with
    /// a line index of its own: what `release` puts in place of a file as
    /// read while it sets that text aside, and back when it restores it.
    pub fn with_text(&self, text: SharedText) -> SourceFile {
        SourceFile {
            path: self.path.clone(),
            index: Arc::new(LineIndex::new(&text)),
            text,
            id: self.id,
        }
    }

    pub fn line_col(&self, offset: usize) -> LineCol {
        self.index.line_col(&self.text, offset)
    }

    pub fn line_text(&self, line: usize) -> &str {
        self.index.line_text(&self.text, line)
    }

    pub fn index(&self) -> &LineIndex {
        &self.index
    }

    pub fn slice(&self, span: Span) -> &str {
        &self.text[span.range()]
    }

    /// The byte offset of 1-based `line` and `column` (characters), for
    /// positions a reader reports as line and column; clamped to the line's
    /// end, and to the text's end for a line past the last.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(start) = self.index.line_start(line.max(1)) else {
            return self.text.len();
        };
        let text = self.line_text(line.max(1));
        let within = text
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(text.len(), |(i, _)| i);
        start + within
    }
}

/// The texts of the files positions point into: the source table every
/// report renders line and column from (including files that exist only in
/// memory: a packaged chart's entries, rendered manifests read from stdin,
/// the values files as read before `pin` rewrote them). Texts held
/// elsewhere are borrowed, not copied ([`Sources::insert_ref`]): a values
/// file as read can be as large as the input limit.
#[derive(Debug, Default, Clone)]
pub struct Sources<'s> {
    texts: HashMap<SourceId, Cow<'s, SourceFile>>,
    /// The last text inserted for each path.
    latest: HashMap<PathBuf, SourceId>,
}

impl<'s> Sources<'s> {
    pub fn new() -> Self {
        Sources::default()
    }

    /// Remember `source`; for lookups by path, a later insert of the same path wins.
    pub fn insert(&mut self, source: SourceFile) {
        self.latest.insert(source.path.to_path_buf(), source.id);
        self.texts.insert(source.id, Cow::Owned(source));
    }

    /// [`Sources::insert`] of a source held elsewhere, without copying it.
    pub fn insert_ref(&mut self, source: &'s SourceFile) {
        self.latest.insert(source.path.to_path_buf(), source.id);
        self.texts.insert(source.id, Cow::Borrowed(source));
    }

    /// The last text inserted for `path`.
    pub fn get(&self, path: &Path) -> Option<&SourceFile> {
        self.texts.get(self.latest.get(path)?).map(|s| &**s)
    }

    /// The text `location`'s position is in: the reading it was taken in
    /// when that is here, else the last text of its file.
    pub fn text_of(&self, location: &Location) -> Option<&SourceFile> {
        location
            .source
            .and_then(|id| self.texts.get(&id))
            .map(|s| &**s)
            .or_else(|| self.get(&location.file))
    }

    /// Every text held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> {
        self.texts.values().map(|s| &**s)
    }

    /// Every text this table holds itself (not those it borrows), to change.
    pub fn owned_mut(&mut self) -> impl Iterator<Item = &mut SourceFile> {
        self.texts.values_mut().filter_map(|s| match s {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        })
    }
}

impl FromIterator<SourceFile> for Sources<'_> {
    fn from_iter<I: IntoIterator<Item = SourceFile>>(iter: I) -> Self {
        let mut sources = Sources::new();
        sources.extend(iter);
        sources
    }
}

impl Extend<SourceFile> for Sources<'_> {
    fn extend<I: IntoIterator<Item = SourceFile>>(&mut self, iter: I) {
        for s in iter {
            self.insert(s);
        }
    }
}

/// Why a file could not be read as source text. [`crate::diag::InputError`]
/// turns it into the one message every command prints.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read at all.
    Io(std::io::Error),
    /// The path names a directory, not a file.
    Directory,
    /// The bytes are not UTF-8: `at` is the first invalid byte, `line_text`
    /// its line (invalid bytes shown as U+FFFD).
    NotUtf8 { at: LineCol, line_text: String },
    /// A file was expected and this is something else (`a FIFO`, `a socket`, `a device`).
    NotRegular(&'static str),
    /// The input is larger than `limit` bytes ([`crate::limits`]).
    TooLarge { limit: u64 },
}

/// What a non-regular, non-directory file is, for messages.
#[cfg(unix)]
fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn kind_of(_: std::fs::FileType) -> &'static str {
    "not a file"
}

/// Open `path` for reading only if it is a regular file (symlinks followed).
/// The type is checked before opening, and again on the open handle, which
/// is opened with `O_NONBLOCK` so that a FIFO swapped in between can never
/// block the open: a FIFO where a chart file belongs is refused, not waited on.
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let check = |meta: std::fs::Metadata| -> Result<(), ReadError> {
        if meta.is_dir() {
            Err(ReadError::Directory)
        } else if !meta.is_file() {
            Err(ReadError::NotRegular(kind_of(meta.file_type())))
        } else {
            Ok(())
        }
    };
    check(std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(ReadError::Io)?;
    check(file.metadata().map_err(ReadError::Io)?)?;
    Ok(file)
}

/// Everything `reader` yields, as long as that is at most `limit` bytes
/// (it never reads more than one byte past the limit).
pub fn read_bounded(reader: impl std::io::Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_bounded_expecting(reader, limit, 0)
}

/// [`read_bounded`] of a reader expected to yield `expected` bytes (a file's
/// length, an archive entry's header size): the buffer is allocated once at
/// that size instead of doubling up to twice the text, and a stream read
/// past it gives its slack back (issue 10: peak memory within 4× the input).
pub fn read_bounded_expecting(
    reader: impl std::io::Read,
    limit: u64,
    expected: u64,
) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    // One byte past the expected size, so reaching the end needs no growth.
    let capacity = expected.min(limit).saturating_add(1);
    let mut buf = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    buf.shrink_to_fit();
    Ok(buf)
}

/// A file's length by its metadata (0 when unknown: a stream).
fn expected_len(file: &std::fs::File) -> u64 {
    file.metadata()
        .map_or(0, |m| if m.is_file() { m.len() } else { 0 })
}

impl SourceFile {
    /// Read the file at `path` as UTF-8 text; it is named `shown` in positions
    /// and messages (the path as the user gave it, when `path` is canonical).
    /// A stream the user named (`--digests <(…)`, `/dev/stdin`) is read
    /// too, never past the input size limit ([`crate::limits`]).
    pub fn read(path: &Path, shown: impl AsRef<Path>) -> Result<SourceFile, ReadError> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(ReadError::Directory);
        }
        let file = std::fs::File::open(path).map_err(ReadError::Io)?;
        let expected = expected_len(&file);
        let bytes = read_bounded_expecting(file, crate::limits::max_input_size(), expected)?;
        SourceFile::from_bytes(shown, bytes)
    }

    /// [`SourceFile::read`] for a file that must be a regular file (a chart's
    /// own files): anything else is refused without blocking ([`open_regular`]).
    pub fn read_regular(path: &Path, shown: impl AsRef<Path>) -> Result<SourceFile, ReadError> {
        let file = open_regular(path)?;
        let expected = expected_len(&file);
        let bytes = read_bounded_expecting(file, crate::limits::max_input_size(), expected)?;
        SourceFile::from_bytes(shown, bytes)
    }

    /// `bytes` (read from `path`) as source text, or where the first byte
    /// that is not UTF-8 sits.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<SourceFile, ReadError> {
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path, text)),
            Err(e) => {
                let bytes = e.as_bytes();
                let bad = e.utf8_error().valid_up_to();
                // The prefix before the first invalid byte is valid UTF-8.
                let prefix = std::str::from_utf8(&bytes[..bad]).unwrap_or_default();
                let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
                let line_end = bytes[bad..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| bad + i);
                let at = LineCol {
                    line: prefix.matches('\n').count() + 1,
                    column: prefix[line_start..].chars().count() + 1,
                };
                let line_text = String::from_utf8_lossy(&bytes[line_start..line_end])
                    .trim_end_matches('\r')
                    .to_string();
                Err(ReadError::NotUtf8 { at, line_text })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_placed_at_its_first_bad_byte() {
        let bytes = b"a: 1\nname: caf\xc3\xa9\xff\xfe x\nlast: 2\n".to_vec();
        match SourceFile::from_bytes("values.yaml", bytes) {
            Err(ReadError::NotUtf8 { at, line_text }) => {
                // "name: café" is 10 characters (11 bytes); the bad byte is the 11th character.
                assert_eq!(
                    at,
                    LineCol {
                        line: 2,
                        column: 11
                    }
                );
                assert!(line_text.starts_with("name: café\u{fffd}"), "{line_text}");
                assert!(line_text.ends_with(" x"), "{line_text}");
            }
            other => panic!("expected NotUtf8, got {other:?}"),
        }
        match SourceFile::from_bytes("x", vec![0xff]) {
            Err(ReadError::NotUtf8 { at, .. }) => assert_eq!(at, LineCol { line: 1, column: 1 }),
            other => panic!("expected NotUtf8, got {other:?}"),
        }
        let ok = SourceFile::from_bytes("x", b"a: 1\n".to_vec()).unwrap();
        assert_eq!(ok.text, "a: 1\n");
    }

    #[test]
    fn a_directory_is_not_read() {
        let dir = std::env::temp_dir();
        assert!(matches!(
            SourceFile::read(&dir, "dir"),
            Err(ReadError::Directory)
        ));
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let text = "a: 1\nbé: x\n\nlast";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_col(text, 0), LineCol { line: 1, column: 1 });
        assert_eq!(idx.line_col(text, 5), LineCol { line: 2, column: 1 });
        // 'x' sits after "bé: " which is 5 bytes but 4 characters.
        let x = text.find('x').unwrap();
        assert_eq!(idx.line_col(text, x), LineCol { line: 2, column: 5 });
        assert_eq!(
            idx.line_col(text, text.len()),
            LineCol { line: 4, column: 5 }
        );
        assert_eq!(idx.line_text(text, 2), "bé: x");
        assert_eq!(idx.line_text(text, 3), "");
        assert_eq!(idx.line_text(text, 9), "");
    }

    #[test]
    fn positions_resolve_in_the_text_they_were_taken_in() {
        // `release` holds a values file as read and, from lint, as written;
        // a digest spliced into line 1 moves every later offset.
        let read = SourceFile::new("values.yaml", "a: \"\"\nimage: x:1\n");
        let written = SourceFile::new("values.yaml", "a: \"sha256:0123\"\nimage: x:1\n");
        let x = |s: &SourceFile| {
            let at = s.text.find("x:1").unwrap();
            Location::at(s, Span::new(at, at + 3))
        };
        let (in_read, in_written) = (x(&read), x(&written));
        assert_ne!(in_read.position, in_written.position);
        let mut sources = Sources::new();
        sources.insert_ref(&read);
        sources.insert_ref(&written);
        let lc = |l: &Location| l.line_col(&sources).map(|lc| (lc.line, lc.column));
        assert_eq!(lc(&in_read), Some((2, 8)));
        assert_eq!(lc(&in_written), Some((2, 8)));
        // A place made without its text resolves in the last text of its path.
        let by_path = Location {
            source: None,
            ..in_written.clone()
        };
        assert_eq!(lc(&by_path), Some((2, 8)));
        assert_eq!(sources.get(Path::new("values.yaml")), Some(&written));
        assert_eq!(in_written.display_in(&sources), "values.yaml:2:8");
        // Without a position, or without the text: no line and column.
        assert_eq!(lc(&Location::file("values.yaml")), None);
        assert_eq!(
            Location::file("values.yaml").display_in(&sources),
            "values.yaml"
        );
        let elsewhere = Location::at(&SourceFile::new("other.yaml", "x"), Span::new(0, 1));
        assert_eq!(lc(&elsewhere), None);
        // Equal places are equal whichever reading they were taken in.
        assert_eq!(
            Location::at(&read, Span::new(1, 2)),
            Location::at(&written, Span::new(1, 2))
        );
    }

    #[test]
    fn offset_of_inverts_line_col() {
        let src = SourceFile::new("v.yaml", "a: 1\nbé: x\r\n\nlast");
        for offset in [0, 3, 5, 9, 10, 13, 14, src.text.len()] {
            let lc = src.line_col(offset);
            assert_eq!(src.offset_of(lc.line, lc.column), offset, "{lc}");
        }
        // Past the end of a line, clamped to it; past the last line, the text's end.
        assert_eq!(src.offset_of(1, 99), 4);
        assert_eq!(src.offset_of(9, 1), src.text.len());
    }

    #[test]
    fn crlf_lines_lose_their_terminator() {
        let text = "a: 1\r\nb: 2\r\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_text(text, 1), "a: 1");
        assert_eq!(idx.line_col(text, 6), LineCol { line: 2, column: 1 });
    }
}
