//! helm's `--set` grammar, applied as helm applies it (`pkg/strvals`).
//!
//! helm merges the `-f` files first, then parses each `--set` into that
//! merged tree: `a.b=x` sets a key, `a[1]=y` sets an index of the list the
//! files hold (or of a new one), filling gaps with nulls, `a[0][1]` nests
//! lists, `a[2].b` turns an element that is not a map into one, `{x,y}` is a
//! list, a backslash takes the next character as it is (`a\.b`, `x\,y`), and
//! values are typed by `typedVal`: `true`/`false`/`null` in any case, whole
//! numbers that do not start with `0` (`-5`, `+5`) as int64, the rest
//! strings. The probe replays that here, so it can lay what the `--set`s
//! leave as a values file below its markers, and know which paths each
//! `--set` wrote.

use serde_json::{Map as JsonMap, Value};

use crate::yaml::PathSeg;

/// helm's `MaxIndex`: a larger index is an error.
const MAX_INDEX: usize = 65_536;
/// helm's `MaxNestedNameLevel`: the most `.`-nested keys in one name.
const MAX_NESTED_NAME_LEVEL: usize = 30;
/// Most lists nested in one name (`a[0][0]…`). helm sets no bound; a deeper
/// `--set` is left to helm itself.
const MAX_NESTED_LISTS: usize = 64;

/// What one `--set` wrote into the tree.
#[derive(Clone, Debug, Default)]
pub(super) struct Written {
    /// The paths it set, or created anew (a list it created, the elements
    /// it added, an element it replaced by a map or a list): what it hides.
    pub touched: Vec<Vec<PathSeg>>,
    /// The paths it set to a whole number: helm holds them as int64, which
    /// no values file can say (a file's number is a float64).
    pub ints: Vec<Vec<PathSeg>>,
}

/// Apply one `--set` argument to `tree` (the merged `-f` values) as helm
/// does. An `Err` is a `--set` helm refuses too (or nests deeper than this
/// replay goes); its text says why.
pub(super) fn apply(arg: &str, tree: &mut JsonMap<String, Value>) -> Result<Written, String> {
    let mut p = Parser {
        chars: arg.chars().collect(),
        pos: 0,
        out: Written::default(),
    };
    while p.key(tree, &[], 0)? {}
    Ok(p.out)
}

/// A `--set` argument that sets `path` to the whole number `n`, its keys
/// escaped where helm's grammar needs it.
pub(super) fn spelled(path: &[PathSeg], n: i64) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                for c in k.chars() {
                    if matches!(c, '\\' | '.' | ',' | '=' | '[') {
                        s.push('\\');
                    }
                    s.push(c);
                }
            }
        }
    }
    format!("{s}={n}")
}

/// A value's start, as helm's `valList` reads it.
enum Start {
    List(Vec<Value>),
    /// The argument ends right after `=`.
    End,
    Scalar,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    out: Written,
}

fn child(at: &[PathSeg], seg: PathSeg) -> Vec<PathSeg> {
    let mut p = at.to_vec();
    p.push(seg);
    p
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        self.pos += usize::from(c.is_some());
        c
    }

    /// Characters up to the first unescaped one in `stop` (`None` at the
    /// end); a backslash takes the next character as it is (helm's `runesUntil`).
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut v = String::new();
        loop {
            match self.next() {
                None => return (v, None),
                Some(c) if stop.contains(&c) => return (v, Some(c)),
                Some('\\') => match self.next() {
                    Some(c) => v.push(c),
                    None => return (v, None),
                },
                Some(c) => v.push(c),
            }
        }
    }

    /// One `name=value` (helm's `key`): `Ok(false)` at the end of the argument.
    fn key(
        &mut self,
        data: &mut JsonMap<String, Value>,
        at: &[PathSeg],
        level: usize,
    ) -> Result<bool, String> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        let here = child(at, PathSeg::Key(k.clone()));
        match last {
            None if k.is_empty() => Ok(false),
            None => Err(format!("key {k:?} has no value")),
            Some('[') => {
                let i = self.index()?;
                let existed = data.contains_key(&k);
                let mut list = match data.remove(&k) {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a,
                    Some(_) => return Err(format!("{k:?} is not a list")),
                };
                if !existed {
                    self.out.touched.push(here.clone());
                }
                let more = self.list_item(&mut list, i, &here, level, 0);
                if existed || !k.is_empty() {
                    data.insert(k, Value::Array(list));
                }
                more
            }
            Some('=') => match self.start()? {
                Start::List(items) => {
                    self.set_list(&here, &items);
                    put(data, k, Value::Array(items));
                    self.out.touched.push(here);
                    Ok(true)
                }
                Start::End => {
                    put(data, k, Value::String(String::new()));
                    self.out.touched.push(here);
                    Ok(false)
                }
                Start::Scalar => {
                    let v = self.scalar(&here);
                    put(data, k, v);
                    self.out.touched.push(here);
                    Ok(true)
                }
            },
            Some('.') => {
                if level + 1 > MAX_NESTED_NAME_LEVEL {
                    return Err("value name nested too deep".to_string());
                }
                let existed = data.contains_key(&k);
                let mut inner = match data.remove(&k) {
                    None => JsonMap::new(),
                    Some(Value::Object(o)) => o,
                    Some(_) => return Err(format!("{k:?} is not a map")),
                };
                let more = self.key(&mut inner, &here, level + 1);
                if matches!(more, Ok(true)) && inner.is_empty() {
                    return Err(format!("key map {k:?} has no value"));
                }
                if existed || (!k.is_empty() && !inner.is_empty()) {
                    data.insert(k, Value::Object(inner));
                }
                more
            }
            // `a,` and the like.
            Some(_) => Err(format!("key {k:?} has no value")),
        }
    }

    /// The index inside `[…]` (helm's `keyIndex`).
    fn index(&mut self) -> Result<i64, String> {
        match self.until(&[']']) {
            (v, Some(_)) => v.parse().map_err(|_| format!("bad index {v:?}")),
            (_, None) => Err("unterminated index".to_string()),
        }
    }

    /// What follows `name[i]` (helm's `listItem`).
    fn list_item(
        &mut self,
        list: &mut Vec<Value>,
        i: i64,
        at: &[PathSeg],
        level: usize,
        lists: usize,
    ) -> Result<bool, String> {
        let i = usize::try_from(i).map_err(|_| format!("negative {i} index not allowed"))?;
        if i > MAX_INDEX {
            return Err(format!("index {i} is over {MAX_INDEX}"));
        }
        let here = child(at, PathSeg::Index(i));
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return Err(format!("unexpected data at end of array index: {k:?}"));
        }
        match last {
            None => Ok(false),
            Some('=') => {
                let v = match self.start()? {
                    Start::List(items) => {
                        self.set_list(&here, &items);
                        Value::Array(items)
                    }
                    Start::End => Value::String(String::new()),
                    Start::Scalar => self.scalar(&here),
                };
                self.set_index(list, i, v, at);
                self.out.touched.push(here);
                Ok(true)
            }
            Some('[') => {
                if lists + 1 > MAX_NESTED_LISTS {
                    return Err("lists nested too deep".to_string());
                }
                let j = self.index()?;
                let mut inner = match list.get_mut(i).map(std::mem::take) {
                    Some(Value::Array(a)) => a,
                    Some(Value::Null) | None => {
                        self.out.touched.push(here.clone());
                        Vec::new()
                    }
                    Some(other) => {
                        list[i] = other;
                        return Err(format!("element {i} is not a list"));
                    }
                };
                let more = self.list_item(&mut inner, j, &here, level, lists + 1)?;
                // helm sets the element only when the inner list got a value.
                if more || i < list.len() {
                    self.set_index(list, i, Value::Array(inner), at);
                }
                Ok(more)
            }
            Some(_) => {
                // A nested map; an element that is not one becomes an empty map.
                let mut inner = match list.get_mut(i).map(std::mem::take) {
                    Some(Value::Object(o)) => o,
                    Some(_) => {
                        self.out.touched.push(here.clone());
                        JsonMap::new()
                    }
                    None => JsonMap::new(),
                };
                let more = self.key(&mut inner, &here, level)?;
                // A map helm already holds in the list is changed in place; a
                // new element is set only when its name was not the last.
                if i < list.len() {
                    list[i] = Value::Object(inner);
                } else if more {
                    self.set_index(list, i, Value::Object(inner), at);
                }
                Ok(more)
            }
        }
    }

    /// `list[i] = v`, growing the list with nulls (helm's `setIndex`).
    fn set_index(&mut self, list: &mut Vec<Value>, i: usize, v: Value, at: &[PathSeg]) {
        if list.len() <= i {
            for n in list.len()..=i {
                self.out.touched.push(child(at, PathSeg::Index(n)));
            }
            list.resize(i + 1, Value::Null);
        }
        list[i] = v;
    }

    /// After `=`: a `{…}` list, the end, or a scalar to read (helm's `valList`).
    fn start(&mut self) -> Result<Start, String> {
        match self.chars.get(self.pos) {
            None => return Ok(Start::End),
            Some('{') => self.pos += 1,
            Some(_) => return Ok(Start::Scalar),
        }
        let mut items = Vec::new();
        loop {
            match self.until(&[',', '}']) {
                (_, None) => return Err("list must terminate with '}'".to_string()),
                (v, Some('}')) => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    items.push(typed(&v));
                    return Ok(Start::List(items));
                }
                (v, Some(_)) => items.push(typed(&v)),
            }
        }
    }

    /// A scalar up to the next unescaped `,`, typed (helm's `val` and `typedVal`).
    fn scalar(&mut self, here: &[PathSeg]) -> Value {
        let (v, _) = self.until(&[',']);
        let v = typed(&v);
        if v.is_i64() {
            self.out.ints.push(here.to_vec());
        }
        v
    }

    /// Record the whole numbers of a `{…}` list at `here`.
    fn set_list(&mut self, here: &[PathSeg], items: &[Value]) {
        for (n, v) in items.iter().enumerate() {
            if v.is_i64() {
                self.out.ints.push(child(here, PathSeg::Index(n)));
            }
        }
    }
}

/// `data[k] = v`, unless `k` is empty (helm's `set`).
fn put(data: &mut JsonMap<String, Value>, k: String, v: Value) {
    if !k.is_empty() {
        data.insert(k, v);
    }
}

/// A `--set` value as helm's `typedVal` types it.
pub(super) fn typed(v: &str) -> Value {
    if folds_to(v, "true") {
        return Value::Bool(true);
    }
    if folds_to(v, "false") {
        return Value::Bool(false);
    }
    if folds_to(v, "null") {
        return Value::Null;
    }
    if v == "0" {
        return Value::from(0);
    }
    if !v.is_empty()
        && !v.starts_with('0')
        && let Ok(n) = v.parse::<i64>()
    {
        return Value::from(n);
    }
    Value::String(v.to_string())
}

/// Go's `strings.EqualFold(v, word)` for a lowercase ASCII `word`: ASCII
/// case aside, `ſ` (U+017F) folds to `s`.
fn folds_to(v: &str, word: &str) -> bool {
    v.chars().count() == word.len()
        && v.chars()
            .zip(word.chars())
            .all(|(c, w)| c.eq_ignore_ascii_case(&w) || (w == 's' && c == 'ſ'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_typed_as_helms_typed_val() {
        let cases: &[(&str, Value)] = &[
            ("true", Value::Bool(true)),
            ("FALSE", Value::Bool(false)),
            ("falſe", Value::Bool(false)),
            ("Null", Value::Null),
            ("0", Value::from(0)),
            ("-5", Value::from(-5)),
            ("+5", Value::from(5)),
            ("9223372036854775807", Value::from(i64::MAX)),
            ("9223372036854775808", Value::from("9223372036854775808")),
            ("007", Value::from("007")),
            ("1.5", Value::from("1.5")),
            ("1e3", Value::from("1e3")),
            ("yes", Value::from("yes")),
            ("~", Value::from("~")),
            ("", Value::from("")),
        ];
        for (v, want) in cases {
            assert_eq!(typed(v), *want, "{v:?}");
        }
    }

    #[test]
    fn what_helm_refuses_is_refused() {
        let base = || match serde_json::json!({"l": [1, {"k": 1}], "m": {"k": 1}, "n": null}) {
            Value::Object(o) => o,
            _ => unreachable!(),
        };
        for arg in [
            "l.k=1",
            "m[0]=1",
            "n.k=1",
            "n[0]=1",
            "l[0][0]=1",
            "a",
            "a=1,b",
            "a[-1]=1",
            "a[65537]=1",
            "a[x]=1",
            "a[0]b=1",
            "a={x",
            "a.=1",
        ] {
            assert!(apply(arg, &mut base()).is_err(), "{arg}");
        }
        let mut t = base();
        let w = apply("l[3]=x,m.j={1,b}", &mut t).unwrap();
        assert_eq!(
            Value::Object(t),
            serde_json::json!({"l": [1, {"k": 1}, null, "x"], "m": {"k": 1, "j": [1, "b"]}, "n": null})
        );
        let key = |k: &str| PathSeg::Key(k.to_string());
        assert!(w.touched.contains(&vec![key("l"), PathSeg::Index(2)]));
        assert_eq!(w.ints, [vec![key("m"), key("j"), PathSeg::Index(0)]]);
        assert_eq!(
            spelled(&[key("a.b"), PathSeg::Index(2), key(r"c,d=e[\")], 7),
            r"a\.b[2].c\,d\=e\[\\=7"
        );
    }
}
