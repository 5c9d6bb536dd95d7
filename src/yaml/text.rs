//! [`Text`]: a scalar's value in twelve bytes, where a `Cow<str>` takes
//! twenty-four. A values file dense in image sites is mostly short scalars,
//! and the tree holds one value per key and per value (issue 10: peak
//! memory within 4× the input), so the value's size is most of a node's.
//!
//! It is a `Cow<'a, str>` with a 32-bit length whose top bit says whether
//! the text is owned, packed to 4-byte alignment so that a [`super::Scalar`]
//! (value, a 32-bit span and three flags) fits in 24 bytes. The parser
//! refuses texts of 2 GiB or more ([`MAX_TEXT`]), so no length is cut.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The largest text a tree is built from, and so the longest value: its
/// length must fit in 31 bits.
pub const MAX_TEXT: usize = (u32::MAX >> 1) as usize;

const OWNED: u32 = 1 << 31;

/// A string borrowed from the source for `'a`, or owned (a value after
/// unescaping or folding); dereferences to `str`.
#[repr(C, packed(4))]
pub struct Text<'a> {
    /// Start of the bytes: in the source when borrowed, of a leaked
    /// `Box<str>` (given back on drop) when owned.
    ptr: NonNull<u8>,
    /// The length, with [`OWNED`] set when the bytes are owned.
    len: u32,
    _borrow: PhantomData<&'a str>,
}

// Safety: a `Text` is a `&'a str` or a `Box<str>`, both Send and Sync; the
// raw pointer only hides which.
unsafe impl Send for Text<'_> {}
unsafe impl Sync for Text<'_> {}

impl<'a> Text<'a> {
    /// `s`, borrowed. Panics past [`MAX_TEXT`] (the parser refuses such texts).
    pub fn borrowed(s: &'a str) -> Text<'a> {
        Text {
            ptr: NonNull::from(s).cast(),
            len: length(s.len()),
            _borrow: PhantomData,
        }
    }

    /// Whether the text has bytes of its own (it was unescaped or folded).
    pub fn is_owned(&self) -> bool {
        self.len & OWNED != 0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let (ptr, len) = (self.ptr, (self.len & !OWNED) as usize);
        // Safety: `ptr..ptr + len` is a `str` that lives for `'a` when
        // borrowed, or as long as `self` when owned (freed only on drop).
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.as_ptr(), len)) }
    }

    /// The text, copied out of the source if borrowed.
    pub fn into_owned(self) -> Text<'static> {
        if self.is_owned() {
            let text = std::mem::ManuallyDrop::new(self);
            // The same owned bytes, now free of `'a`.
            Text {
                ptr: text.ptr,
                len: text.len,
                _borrow: PhantomData,
            }
        } else {
            Text::owned(self.as_str())
        }
    }
}

impl Text<'static> {
    /// `s`, owned. Panics past [`MAX_TEXT`] (the parser refuses such texts).
    pub fn owned(s: impl Into<Box<str>>) -> Text<'static> {
        let s: Box<str> = s.into();
        let len = length(s.len()) | OWNED;
        Text {
            ptr: NonNull::from(Box::leak(s)).cast(),
            len,
            _borrow: PhantomData,
        }
    }
}

/// `n` as a length of a [`Text`].
fn length(n: usize) -> u32 {
    assert!(
        n <= MAX_TEXT,
        "a YAML value of {n} bytes: texts are limited to 2 GiB"
    );
    n as u32
}

impl Drop for Text<'_> {
    fn drop(&mut self) {
        if self.is_owned() {
            let len = (self.len & !OWNED) as usize;
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), len);
            // Safety: owned bytes come from `Box::leak` of a `Box<str>` of this
            // length (`Text::owned`) and are given back once, here.
            drop(unsafe { Box::from_raw(slice as *mut str) });
        }
    }
}

impl Clone for Text<'_> {
    fn clone(&self) -> Self {
        if self.is_owned() {
            Text::owned(self.as_str())
        } else {
            Text {
                ptr: self.ptr,
                len: self.len,
                _borrow: PhantomData,
            }
        }
    }
}

impl Default for Text<'_> {
    fn default() -> Self {
        Text::borrowed("")
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text<'_> {}

impl std::hash::Hash for Text<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Text<'_>> for str {
    fn eq(&self, other: &Text<'_>) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text<'_>> for &str {
    fn eq(&self, other: &Text<'_>) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text<'_>> for String {
    fn eq(&self, other: &Text<'_>) -> bool {
        self == other.as_str()
    }
}

impl From<String> for Text<'static> {
    fn from(s: String) -> Self {
        Text::owned(s)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::borrowed(s)
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::borrowed(s),
            Cow::Owned(s) => Text::owned(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_and_owned_texts_read_clone_and_compare_alike() {
        let source = String::from("image: nginx");
        let b = Text::borrowed(&source[7..]);
        let o = Text::owned("nginx");
        assert!(!b.is_owned() && o.is_owned());
        assert_eq!(b, o);
        assert_eq!(b, "nginx");
        assert_eq!(&*o.clone(), "nginx");
        let detached = b.clone().into_owned();
        assert!(detached.is_owned());
        drop(b);
        drop(source);
        assert_eq!(detached.as_str(), "nginx");
        assert_eq!(o.into_owned().as_str(), "nginx");
        assert_eq!(Text::default(), "");
        assert_eq!(
            format!("{:?}", Text::from(String::from("a\"b"))),
            "\"a\\\"b\""
        );
    }

    #[test]
    fn a_text_takes_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Text>(), 12);
    }
}
