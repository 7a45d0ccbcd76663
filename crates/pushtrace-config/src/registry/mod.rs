//! Registry export files (`.reg`) as `regedit` and `reg export` write them (config.md §1):
//! [`parse`] reads one, [`write`] writes one, [`RegistryView`] merges several into one view of
//! the registry and knows which subtrees they cover.

mod parse;
mod view;
mod write;

pub use parse::parse;
pub(crate) use parse::parse_text;
pub use view::{RegistryView, Source, ViewKey, ViewValue};
pub use write::write;

use crate::error::LineError;
use crate::text::TextEncoding;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RegDialect {
    /// `Windows Registry Editor Version 5.00`: UTF-16LE, `hex(2)`/`hex(7)` data in UTF-16LE.
    #[serde(rename = "regedit5")]
    Regedit5,
    /// `REGEDIT4`: the ANSI code page, `hex(2)`/`hex(7)` data in it too.
    #[serde(rename = "regedit4")]
    Regedit4,
}

impl RegDialect {
    /// The header line that starts a file of this dialect.
    pub fn header(self) -> &'static str {
        match self {
            RegDialect::Regedit5 => "Windows Registry Editor Version 5.00",
            RegDialect::Regedit4 => "REGEDIT4",
        }
    }

    /// The dialect whose header `line` is (surrounding spaces and case ignored).
    pub fn from_header(line: &str) -> Option<RegDialect> {
        let line = line.trim();
        [RegDialect::Regedit5, RegDialect::Regedit4]
            .into_iter()
            .find(|d| line.eq_ignore_ascii_case(d.header()))
    }
}

/// A root key of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hive {
    /// `HKEY_CLASSES_ROOT` (`HKCR`).
    ClassesRoot,
    /// `HKEY_CURRENT_USER` (`HKCU`).
    CurrentUser,
    /// `HKEY_LOCAL_MACHINE` (`HKLM`).
    LocalMachine,
    /// `HKEY_USERS` (`HKU`).
    Users,
    /// `HKEY_CURRENT_CONFIG` (`HKCC`).
    CurrentConfig,
}

impl Hive {
    /// Every hive.
    pub const ALL: [Hive; 5] = [
        Hive::ClassesRoot,
        Hive::CurrentUser,
        Hive::LocalMachine,
        Hive::Users,
        Hive::CurrentConfig,
    ];

    /// The long name (`HKEY_LOCAL_MACHINE`).
    pub fn name(self) -> &'static str {
        match self {
            Hive::ClassesRoot => "HKEY_CLASSES_ROOT",
            Hive::CurrentUser => "HKEY_CURRENT_USER",
            Hive::LocalMachine => "HKEY_LOCAL_MACHINE",
            Hive::Users => "HKEY_USERS",
            Hive::CurrentConfig => "HKEY_CURRENT_CONFIG",
        }
    }

    /// The abbreviation (`HKLM`).
    pub fn abbreviation(self) -> &'static str {
        match self {
            Hive::ClassesRoot => "HKCR",
            Hive::CurrentUser => "HKCU",
            Hive::LocalMachine => "HKLM",
            Hive::Users => "HKU",
            Hive::CurrentConfig => "HKCC",
        }
    }

    /// The hive named by its long name or abbreviation, in any case.
    pub fn from_name(name: &str) -> Option<Hive> {
        Hive::ALL.into_iter().find(|h| {
            name.eq_ignore_ascii_case(h.name()) || name.eq_ignore_ascii_case(h.abbreviation())
        })
    }
}

/// The longest key path accepted, in characters (Windows allows 255 per component and about
/// 512 levels).
pub const MAX_KEY_PATH_CHARS: usize = 131_072;

/// A key's full path, hive first in its long name (`HKEY_LOCAL_MACHINE\SYSTEM\...`), the rest
/// as written. Paths compare, order and hash case-insensitively, as Windows compares keys.
#[derive(Debug, Clone)]
pub struct KeyPath {
    text: String,
    folded: String,
}

/// `text` with each character upper-cased by its simple (one-to-one) mapping, as Windows
/// compares key and value names.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

impl KeyPath {
    /// Parses `HKEY_LOCAL_MACHINE\SYSTEM\...` or `HKLM\SYSTEM\...` (hive names in any case;
    /// empty components, as in `a\\b` or a trailing `\`, are dropped). `None` for an unknown
    /// hive, an empty path or one longer than [`MAX_KEY_PATH_CHARS`].
    pub fn parse(path: &str) -> Option<KeyPath> {
        let path = path.trim();
        if path.chars().count() > MAX_KEY_PATH_CHARS {
            return None;
        }
        let mut parts = path.split('\\').filter(|p| !p.is_empty());
        let hive = Hive::from_name(parts.next()?.trim())?;
        let mut text = hive.name().to_string();
        for part in parts {
            text.push('\\');
            text.push_str(part);
        }
        Some(KeyPath::from_canonical(text))
    }

    /// A path already in canonical form (long hive name, no empty components).
    pub(crate) fn from_canonical(text: impl Into<String>) -> KeyPath {
        let text = text.into();
        KeyPath {
            folded: fold(&text),
            text,
        }
    }

    /// The path as text, hive in its long name.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path upper-cased as Windows compares it.
    pub(crate) fn folded(&self) -> &str {
        &self.folded
    }

    /// The hive, then each subkey name.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.text.split('\\')
    }

    /// The hive.
    pub fn hive(&self) -> Option<Hive> {
        Hive::from_name(self.components().next()?)
    }

    /// The key one level up, `None` for a hive.
    pub fn parent(&self) -> Option<KeyPath> {
        let end = self.text.rfind('\\')?;
        Some(KeyPath::from_canonical(&self.text[..end]))
    }

    /// The subkey `name` (which may hold several levels separated by `\`).
    pub fn join(&self, name: &str) -> KeyPath {
        let mut text = self.text.clone();
        for part in name.split('\\').filter(|p| !p.is_empty()) {
            text.push('\\');
            text.push_str(part);
        }
        KeyPath::from_canonical(text)
    }

    /// Whether this key is `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &KeyPath) -> bool {
        folded_within(&self.folded, &ancestor.folded)
    }
}

/// Whether the folded path `path` is `ancestor` or below it.
pub(crate) fn folded_within(path: &str, ancestor: &str) -> bool {
    path.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('\\'))
}

impl PartialEq for KeyPath {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}

impl Eq for KeyPath {}

impl Hash for KeyPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl PartialOrd for KeyPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyPath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.folded.cmp(&other.folded)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value's data, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// REG_SZ: `"text"` or `hex(1):`.
    Sz(String),
    /// REG_EXPAND_SZ: `hex(2):`.
    ExpandSz(String),
    /// REG_MULTI_SZ: `hex(7):`, the strings up to the first empty one.
    MultiSz(Vec<String>),
    /// REG_DWORD: `dword:` or `hex(4):` with 4 bytes.
    Dword(u32),
    /// REG_QWORD: `hex(b):` with 8 bytes, little-endian.
    Qword(u64),
    /// REG_BINARY: `hex:` or `hex(3):`.
    Binary(Vec<u8>),
    /// Any other `hex(N):`, or a `hex(4)`/`hex(b)` of the wrong length.
    Other {
        /// The type number N.
        kind: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

impl RegValue {
    /// The Windows name of the value's type (`REG_MULTI_SZ`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            RegValue::Sz(_) => "REG_SZ",
            RegValue::ExpandSz(_) => "REG_EXPAND_SZ",
            RegValue::MultiSz(_) => "REG_MULTI_SZ",
            RegValue::Dword(_) => "REG_DWORD",
            RegValue::Qword(_) => "REG_QWORD",
            RegValue::Binary(_) => "REG_BINARY",
            RegValue::Other { kind: 0, .. } => "REG_NONE",
            RegValue::Other { kind: 4, .. } => "REG_DWORD",
            RegValue::Other { kind: 5, .. } => "REG_DWORD_BIG_ENDIAN",
            RegValue::Other { kind: 11, .. } => "REG_QWORD",
            RegValue::Other { .. } => "another type",
        }
    }

    /// Whether the data holds anything but zeros (numbers: not 0; bytes: a non-zero byte;
    /// strings: not empty).
    pub fn is_nonzero(&self) -> bool {
        match self {
            RegValue::Dword(n) => *n != 0,
            RegValue::Qword(n) => *n != 0,
            RegValue::Binary(b) | RegValue::Other { bytes: b, .. } => b.iter().any(|&x| x != 0),
            RegValue::Sz(s) | RegValue::ExpandSz(s) => !s.is_empty(),
            RegValue::MultiSz(v) => !v.is_empty(),
        }
    }
}

/// One value line of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportValue {
    /// The name as written (unescaped); empty for the default value `@`.
    pub name: String,
    /// The data; `None` for a deletion (`"Name"=-`).
    pub value: Option<RegValue>,
    /// Its (first) line.
    pub line: usize,
}

/// One key line of an export and the values under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportKey {
    /// The key.
    pub path: KeyPath,
    /// `[-...]`: the file deletes the key and its subtree.
    pub deleted: bool,
    /// Its line.
    pub line: usize,
    /// The values under it, in file order.
    pub values: Vec<ExportValue>,
}

/// A parsed registry export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegExport {
    /// Its dialect.
    pub dialect: RegDialect,
    /// How its bytes were decoded.
    pub encoding: TextEncoding,
    /// Its number of lines.
    pub lines: usize,
    /// Its keys in file order (a key written twice appears twice).
    pub keys: Vec<ExportKey>,
    /// The malformed lines that were skipped.
    pub skipped: Vec<LineError>,
}

impl RegExport {
    /// An export of `keys` (regedit 5.00, nothing skipped), to [`write`].
    pub fn new(keys: Vec<ExportKey>) -> RegExport {
        RegExport {
            dialect: RegDialect::Regedit5,
            encoding: TextEncoding::Utf16Le,
            lines: 0,
            keys,
            skipped: Vec::new(),
        }
    }

    /// The number of values and value deletions.
    pub fn value_count(&self) -> usize {
        self.keys.iter().map(|k| k.values.len()).sum()
    }

    /// The subtrees this export covers: each key whose parent key is not in the file
    /// (`reg export` and regedit export a key with its whole subtree), and each deleted key;
    /// a subtree inside another one is not listed again. In file order, without duplicates
    /// (the first line of each).
    pub fn covers(&self) -> Vec<&ExportKey> {
        let present: HashSet<&str> = self
            .keys
            .iter()
            .filter(|k| !k.deleted)
            .map(|k| k.path.folded())
            .collect();
        let tops: Vec<&ExportKey> = self
            .keys
            .iter()
            .filter(|k| {
                k.deleted
                    || k.path
                        .parent()
                        .is_none_or(|p| !present.contains(p.folded()))
            })
            .collect();
        let top_set: HashSet<&str> = tops.iter().map(|k| k.path.folded()).collect();
        let mut seen = HashSet::new();
        tops.into_iter()
            .filter(|k| {
                let folded = k.path.folded();
                let nested = folded
                    .match_indices('\\')
                    .any(|(end, _)| top_set.contains(&folded[..end]));
                !nested && seen.insert(folded)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviated_hives_and_case_give_the_same_key() {
        let long = KeyPath::parse(r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet").unwrap();
        let short = KeyPath::parse(r"hklm\system\CURRENTCONTROLSET\").unwrap();
        assert_eq!(long, short);
        assert_eq!(
            short.as_str(),
            r"HKEY_LOCAL_MACHINE\system\CURRENTCONTROLSET"
        );
        assert_eq!(
            KeyPath::parse(r"HKCU\\Software").unwrap().as_str(),
            r"HKEY_CURRENT_USER\Software"
        );
        assert!(KeyPath::parse(r"HKEY_NOWHERE\x").is_none());
        assert!(KeyPath::parse("").is_none());
    }

    #[test]
    fn within_is_by_component() {
        let services = KeyPath::parse(r"HKLM\SYSTEM\CurrentControlSet\Services").unwrap();
        assert!(services.join("Tcpip").is_within(&services));
        assert!(services.is_within(&services));
        let other = KeyPath::parse(r"HKLM\SYSTEM\CurrentControlSet\ServicesX").unwrap();
        assert!(!other.is_within(&services));
        assert_eq!(services.join("Tcpip").parent(), Some(services));
    }

    #[test]
    fn windows_folds_without_expanding() {
        // ß has no one-character upper case: kept, as Windows keeps it.
        assert_eq!(fold("straße"), "STRAßE");
        assert_eq!(fold("büro"), "BÜRO");
    }
}
