//! slx's exit codes: the one table that `main`, `slx --help` and
//! docs/output.md (checked by a test) take them from. CI scripts branch
//! on them, so a code keeps its meaning across releases.

/// How an slx run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    Error,
    /// `--detailed-exitcode`: success, and something changed (or would).
    Changed,
    ChecksFailed,
    CanaryRolledBack,
    StageBusy,
    /// The command line itself is wrong (clap would use 2: taken).
    Usage,
}

impl Exit {
    pub const ALL: [Exit; 7] = [
        Exit::Success,
        Exit::Error,
        Exit::Changed,
        Exit::ChecksFailed,
        Exit::CanaryRolledBack,
        Exit::StageBusy,
        Exit::Usage,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Changed => 2,
            Exit::ChecksFailed => 3,
            Exit::CanaryRolledBack => 4,
            Exit::StageBusy => 5,
            Exit::Usage => 64,
        }
    }

    /// What it means, and which commands use it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Error => "an error (its report says which step failed and what to do)",
            Exit::Changed => {
                "success, and the stage changed or would change (`plan`, `deploy` with `--detailed-exitcode`)"
            }
            Exit::ChecksFailed => {
                "smoke checks failed (`deploy`, `promote`, `rollback`): the stage kept what it served, or says that it moved"
            }
            Exit::CanaryRolledBack => "a canary release was rolled back (`deploy`, `promote`)",
            Exit::StageBusy => {
                "another slx run held the stage past `--lock-timeout`, or took it over from this one (stopped past its lease: nothing more was written)"
            }
            Exit::Usage => "the command line is wrong (unknown flag, missing argument)",
        }
    }

    /// The table, one line per code, for `--help`.
    pub fn help_table() -> String {
        let mut text = String::from("Exit codes:\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {:>2}  {}\n", exit.code(), exit.meaning()));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Exit::ALL.len());
    }

    #[test]
    fn docs_output_md_has_the_same_table() {
        let docs = include_str!("../docs/output.md");
        let section = docs
            .split("## Exit codes")
            .nth(1)
            .expect("an exit code section");
        let rows: Vec<(u8, String)> = section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                Some((cells.get(1)?.parse().ok()?, cells.get(2)?.to_string()))
            })
            .collect();
        let table: Vec<(u8, String)> = Exit::ALL
            .iter()
            .map(|e| (e.code(), e.meaning().to_string()))
            .collect();
        assert_eq!(rows, table);
    }
}
