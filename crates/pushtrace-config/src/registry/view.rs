//! Several exports as one view of the registry, as importing them in order would leave it:
//! later files override values of earlier ones, deletions remove, keys add up. The view also
//! knows which subtrees the exports cover (see [`RegExport::covers`]), so that a key missing
//! from a covered subtree is known to be absent, and one outside them is unknown.

use super::{fold, folded_within, KeyPath, RegExport, RegValue};
use std::collections::BTreeMap;

/// Where something in the view comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The index of the export in the order given to [`RegistryView::apply`].
    pub file: usize,
    /// The line in that file.
    pub line: usize,
}

/// A value in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewValue {
    /// Its name as last written; empty for the default value.
    pub name: String,
    /// Its data.
    pub value: RegValue,
    /// The file and line that set it.
    pub source: Source,
}

/// A key in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewKey {
    /// Its path as first written.
    pub path: KeyPath,
    /// The file and line that first wrote it.
    pub source: Source,
    values: BTreeMap<String, ViewValue>,
}

impl ViewKey {
    /// The value named `name` (case-insensitive; empty for the default value).
    pub fn value(&self, name: &str) -> Option<&ViewValue> {
        self.values.get(&fold(name))
    }

    /// Its values, ordered by name.
    pub fn values(&self) -> impl Iterator<Item = &ViewValue> {
        self.values.values()
    }
}

/// `HKLM\SYSTEM\CurrentControlSet`, folded.
const CURRENT_CONTROL_SET: &str = r"HKEY_LOCAL_MACHINE\SYSTEM\CURRENTCONTROLSET";
/// `HKLM\SYSTEM`, folded, with the separator.
const SYSTEM_PREFIX: &str = r"HKEY_LOCAL_MACHINE\SYSTEM\";

/// Several registry exports merged into one view.
#[derive(Debug, Clone, Default)]
pub struct RegistryView {
    keys: BTreeMap<String, ViewKey>,
    covered: BTreeMap<String, (KeyPath, Source)>,
    /// `ControlSetNNN` as written, and folded, when it stands for `CurrentControlSet`.
    control_set: Option<(String, String)>,
}

impl RegistryView {
    /// An empty view.
    pub fn new() -> RegistryView {
        RegistryView::default()
    }

    /// Imports an export, numbered `file`, over what the view holds.
    pub fn apply(&mut self, file: usize, export: RegExport) {
        for root in export.covers() {
            let source = Source {
                file,
                line: root.line,
            };
            self.covered
                .entry(root.path.folded().to_string())
                .or_insert_with(|| (root.path.clone(), source));
        }
        for key in export.keys {
            let source = Source {
                file,
                line: key.line,
            };
            if key.deleted {
                self.remove_subtree(key.path.folded());
                continue;
            }
            let entry = self
                .keys
                .entry(key.path.folded().to_string())
                .or_insert_with(|| ViewKey {
                    path: key.path,
                    source,
                    values: BTreeMap::new(),
                });
            for v in key.values {
                let folded = fold(&v.name);
                match v.value {
                    Some(value) => {
                        entry.values.insert(
                            folded,
                            ViewValue {
                                name: v.name,
                                value,
                                source: Source { file, line: v.line },
                            },
                        );
                    }
                    None => {
                        entry.values.remove(&folded);
                    }
                }
            }
        }
        self.control_set = None;
    }

    /// Removes a key and everything below it.
    fn remove_subtree(&mut self, folded: &str) {
        let below = format!("{folded}\\");
        let doomed: Vec<String> = std::iter::once(folded.to_string())
            .filter(|k| self.keys.contains_key(k))
            .chain(
                self.keys
                    .range(below.clone()..)
                    .take_while(|(k, _)| k.starts_with(&below))
                    .map(|(k, _)| k.clone()),
            )
            .collect();
        for k in doomed {
            self.keys.remove(&k);
        }
    }

    /// Decides which `HKLM\SYSTEM\ControlSetNNN` stands for `CurrentControlSet` when the
    /// view has no `CurrentControlSet` keys: the one `HKLM\SYSTEM\Select` value `Current`
    /// names, else the lowest-numbered. Returns its name as written (`ControlSet001`).
    /// Call it after the last [`apply`](Self::apply).
    pub fn settle(&mut self) -> Option<&str> {
        self.control_set = None;
        let mentions_current = self
            .keys
            .keys()
            .chain(self.covered.keys())
            .any(|k| folded_within(k, CURRENT_CONTROL_SET));
        if mentions_current {
            return None;
        }
        let mut sets: BTreeMap<String, String> = BTreeMap::new();
        let under_system = self
            .keys
            .range(SYSTEM_PREFIX.to_string()..)
            .take_while(|(k, _)| k.starts_with(SYSTEM_PREFIX))
            .map(|(_, key)| &key.path);
        let covered = self
            .covered
            .values()
            .map(|(p, _)| p)
            .filter(|p| p.folded().starts_with(SYSTEM_PREFIX));
        for path in under_system.chain(covered) {
            if let Some(name) = path.components().nth(2).filter(|n| is_control_set(n)) {
                sets.entry(fold(name)).or_insert_with(|| name.to_string());
            }
        }
        let selected = self
            .key(&KeyPath::from_canonical(
                r"HKEY_LOCAL_MACHINE\SYSTEM\Select",
            ))
            .and_then(|k| k.value("Current"))
            .and_then(|v| match v.value {
                RegValue::Dword(n) => Some(format!("CONTROLSET{n:03}")),
                _ => None,
            })
            .filter(|name| sets.contains_key(name));
        let folded = selected.or_else(|| sets.keys().next().cloned())?;
        let name = sets.get(&folded)?.clone();
        self.control_set = Some((name, folded));
        self.control_set.as_ref().map(|(name, _)| name.as_str())
    }

    /// The `ControlSetNNN` read as `CurrentControlSet` (see [`settle`](Self::settle)).
    pub fn control_set_as_current(&self) -> Option<&str> {
        self.control_set.as_ref().map(|(name, _)| name.as_str())
    }

    /// `path` folded, with `CurrentControlSet` replaced by the control set that stands for it.
    fn resolve(&self, path: &KeyPath) -> String {
        let folded = path.folded();
        match &self.control_set {
            Some((_, set)) if folded_within(folded, CURRENT_CONTROL_SET) => {
                format!(
                    "{SYSTEM_PREFIX}{set}{}",
                    &folded[CURRENT_CONTROL_SET.len()..]
                )
            }
            _ => folded.to_string(),
        }
    }

    /// The key at `path`, when an export wrote it.
    pub fn key(&self, path: &KeyPath) -> Option<&ViewKey> {
        self.keys.get(&self.resolve(path))
    }

    /// Whether `path` exists in the view: written by an export, or the parent of a key that
    /// was (importing a key creates its parents).
    pub fn exists(&self, path: &KeyPath) -> bool {
        let folded = self.resolve(path);
        let below = format!("{folded}\\");
        self.keys.contains_key(&folded)
            || self
                .keys
                .range(below.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&below))
    }

    /// The exported subtree that `path` lies in, if any, and where it starts: only then is a
    /// missing key known to be absent rather than not exported.
    pub fn covered_by(&self, path: &KeyPath) -> Option<(&KeyPath, Source)> {
        let folded = self.resolve(path);
        let ends = folded
            .match_indices('\\')
            .map(|(i, _)| i)
            .chain(std::iter::once(folded.len()));
        for end in ends {
            if let Some((root, source)) = self.covered.get(&folded[..end]) {
                return Some((root, *source));
            }
        }
        None
    }

    /// Every key, ordered by path.
    pub fn keys(&self) -> impl Iterator<Item = &ViewKey> {
        self.keys.values()
    }

    /// The number of keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The number of values.
    pub fn value_count(&self) -> usize {
        self.keys.values().map(|k| k.values.len()).sum()
    }
}

/// `ControlSetNNN` (in any case, three digits).
fn is_control_set(name: &str) -> bool {
    name.len() == "ControlSet001".len()
        && name.is_char_boundary(10)
        && name[..10].eq_ignore_ascii_case("ControlSet")
        && name[10..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn export(text: &str) -> RegExport {
        super::super::parse(text.as_bytes(), &Limits::default()).unwrap()
    }

    fn path(p: &str) -> KeyPath {
        KeyPath::parse(p).unwrap()
    }

    #[test]
    fn later_files_override_and_deletions_remove() {
        let mut view = RegistryView::new();
        view.apply(
            0,
            export("REGEDIT4\n[HKLM\\A]\n\"x\"=dword:1\n\"y\"=dword:2\n[HKLM\\A\\B]\n[HKLM\\A\\B\\C]\n[HKLM\\A\\B C]\n"),
        );
        view.apply(
            1,
            export("REGEDIT4\n[hklm\\a]\n\"X\"=dword:9\n\"y\"=-\n[-HKLM\\A\\B]\n"),
        );
        let a = view.key(&path(r"HKLM\A")).unwrap();
        assert_eq!(a.value("x").unwrap().value, RegValue::Dword(9));
        assert_eq!(a.value("x").unwrap().source, Source { file: 1, line: 3 });
        assert!(a.value("y").is_none());
        assert_eq!(
            a.path.as_str(),
            r"HKEY_LOCAL_MACHINE\A",
            "first spelling kept"
        );
        assert!(!view.exists(&path(r"HKLM\A\B")));
        assert!(!view.exists(&path(r"HKLM\A\B\C")));
        assert!(
            view.exists(&path(r"HKLM\A\B C")),
            "a sibling is not in the subtree"
        );
        assert_eq!(view.key_count(), 2);
    }

    #[test]
    fn coverage_is_the_subtrees_of_top_level_keys() {
        let mut view = RegistryView::new();
        view.apply(
            0,
            export("REGEDIT4\n[HKLM\\S\\Services\\Winsock\\Parameters]\n[HKLM\\S\\Services\\Tcpip]\n[HKLM\\S\\Services\\Tcpip\\Parameters]\n"),
        );
        assert!(view
            .covered_by(&path(r"HKLM\S\Services\Tcpip\Linkage"))
            .is_some());
        assert!(view
            .covered_by(&path(r"HKLM\S\Services\AppleTalk"))
            .is_none());
        assert!(
            view.exists(&path(r"HKLM\S\Services")),
            "implied by its subkeys"
        );
        view.apply(
            1,
            export("REGEDIT4\n[HKLM\\S\\Services]\n[HKLM\\S\\Services\\X]\n"),
        );
        let (root, source) = view
            .covered_by(&path(r"HKLM\S\Services\AppleTalk"))
            .unwrap();
        assert_eq!(root.as_str(), r"HKEY_LOCAL_MACHINE\S\Services");
        assert_eq!(source, Source { file: 1, line: 2 });
    }

    #[test]
    fn a_control_set_stands_for_current_control_set_when_needed() {
        let mut view = RegistryView::new();
        view.apply(
            0,
            export("REGEDIT4\n[HKLM\\SYSTEM\\ControlSet001\\Services\\Tcpip]\n[HKLM\\SYSTEM\\ControlSet002\\Services\\Tcpip]\n[HKLM\\SYSTEM\\Select]\n\"Current\"=dword:00000002\n"),
        );
        assert_eq!(view.settle(), Some("ControlSet002"));
        let tcpip = path(r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip");
        assert_eq!(
            view.key(&tcpip).unwrap().path.as_str(),
            r"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\Tcpip"
        );
        // Without Select, the lowest number.
        let mut view = RegistryView::new();
        view.apply(0, export("REGEDIT4\n[HKLM\\SYSTEM\\ControlSet003\\Services]\n[HKLM\\SYSTEM\\controlset001\\Services]\n"));
        assert_eq!(view.settle(), Some("controlset001"));
        assert!(view.covered_by(&tcpip).is_some());
        // Any CurrentControlSet key turns the mapping off.
        view.apply(
            1,
            export("REGEDIT4\n[HKLM\\SYSTEM\\CurrentControlSet\\Services\\Winsock]\n"),
        );
        assert_eq!(view.settle(), None);
        assert!(view.covered_by(&tcpip).is_none());
    }
}
