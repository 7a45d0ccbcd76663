//! A bounded log of warnings: the first few of each code are kept with their frame or
//! offset, the rest are counted, so a damaged multi-gigabyte capture cannot flood the
//! report or memory, and nothing is dropped silently.

use crate::capture::Warning;
use std::collections::BTreeMap;

/// Warnings kept per code before later ones are only counted.
const KEPT_PER_CODE: u64 = 10;

/// Warnings of one input, bounded per code.
#[derive(Debug, Clone, Default)]
pub struct WarningLog {
    kept: Vec<Warning>,
    per_code: BTreeMap<&'static str, u64>,
}

impl WarningLog {
    /// Records a warning.
    pub fn push(&mut self, warning: Warning) {
        let seen = self.per_code.entry(warning.code).or_default();
        *seen += 1;
        if *seen <= KEPT_PER_CODE {
            self.kept.push(warning);
        }
    }

    /// How many warnings with `code` were recorded (kept or not).
    pub fn count(&self, code: &str) -> u64 {
        self.per_code.get(code).copied().unwrap_or(0)
    }

    /// The kept warnings, then one summary warning per code that had more.
    pub fn into_vec(self) -> Vec<Warning> {
        let mut out = self.kept;
        for (code, n) in self.per_code {
            if n > KEPT_PER_CODE {
                out.push(Warning::new(
                    code,
                    format!("{} more `{code}` warnings not listed", n - KEPT_PER_CODE),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_of_each_code_and_counts_the_rest() {
        let mut log = WarningLog::default();
        for i in 0..25 {
            log.push(Warning::new("dcerpc_gap", "gap").at_frame(i));
        }
        log.push(Warning::new("file_truncated", "cut"));
        assert_eq!(log.count("dcerpc_gap"), 25);
        let v = log.into_vec();
        assert_eq!(v.len(), 12);
        assert_eq!(v[9].frame, Some(9));
        assert_eq!(v[11].message, "15 more `dcerpc_gap` warnings not listed");
    }
}
