//! [`YamlPath`]: where a node sits, as messages print it and
//! `.chartpin.yaml` writes it (`controller.image.tag`, `extraContainers[0].image`).

use std::fmt;

use super::Node;

/// One step of a YAML path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Where a node sits: `controller.image.tag`, `extraContainers[0].image`.
/// Keys holding `.`, `[` or spaces are written quoted: `annotations."a.b/c"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YamlPath(pub Vec<PathSeg>);

impl YamlPath {
    /// This path extended by one key.
    pub fn key(&self, k: &str) -> YamlPath {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_string()));
        p
    }

    /// This path extended by one index.
    pub fn index(&self, i: usize) -> YamlPath {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }

    /// The last key, if the path ends in one.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(PathSeg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Parse the written form (`a.b[0]."c.d"`), as used in `.chartpin.yaml`.
    pub fn parse(s: &str) -> Option<YamlPath> {
        let mut segs = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        let mut expect_key = true;
        while i < b.len() {
            match b[i] {
                b'[' => {
                    let end = s[i..].find(']')? + i;
                    segs.push(PathSeg::Index(s[i + 1..end].trim().parse().ok()?));
                    i = end + 1;
                    expect_key = false;
                }
                b'.' if !expect_key => {
                    i += 1;
                    expect_key = true;
                }
                b'"' => {
                    let end = s[i + 1..].find('"')? + i + 1;
                    segs.push(PathSeg::Key(s[i + 1..end].to_string()));
                    i = end + 1;
                    expect_key = false;
                }
                _ if expect_key => {
                    let end = s[i..].find(['.', '[']).map_or(s.len(), |e| e + i);
                    if end == i {
                        return None;
                    }
                    segs.push(PathSeg::Key(s[i..end].to_string()));
                    i = end;
                    expect_key = false;
                }
                _ => return None,
            }
        }
        if segs.is_empty() || expect_key {
            return None;
        }
        Some(YamlPath(segs))
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Index(n) => write!(f, "[{n}]")?,
                PathSeg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if k.is_empty() || k.contains(['.', '[', ']', ' ', '"']) {
                        write!(f, "\"{k}\"")?;
                    } else {
                        f.write_str(k)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The node at `path` under `node`.
pub fn node_at<'t, 'a>(node: &'t Node<'a>, path: &[PathSeg]) -> Option<&'t Node<'a>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(node);
    };
    let next = match (first, node) {
        (PathSeg::Key(k), Node::Map(m)) => m.get(k)?,
        (PathSeg::Index(i), Node::Seq(s)) => s.items.get(*i)?,
        _ => return None,
    };
    node_at(next, rest)
}
