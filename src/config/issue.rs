//! One problem found in `slx.toml`, located by byte span, and the report
//! that renders many of them with file, line, column and the quoted line.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

/// A single problem in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Byte range in the file the problem is about.
    pub span: Range<usize>,
    /// The key (dotted path or bare name) the problem is about.
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

impl ConfigIssue {
    pub(crate) fn new(span: Range<usize>, key: &str, message: impl Into<String>) -> Self {
        ConfigIssue {
            span,
            key: key.to_string(),
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Every problem found in one config file. Rendered by miette with a
/// snippet per problem; also serialisable for `--output json`.
#[derive(Debug, thiserror::Error)]
#[error("{} has {} {}", path.display(), issues.len(), if issues.len() == 1 { "problem" } else { "problems" })]
pub struct ConfigReport {
    pub path: PathBuf,
    text: Arc<String>,
    named: NamedSource<Arc<String>>,
    pub issues: Vec<ConfigIssue>,
}

impl ConfigReport {
    pub(crate) fn new(path: &Path, source: Arc<String>, issues: Vec<ConfigIssue>) -> Self {
        let named =
            NamedSource::new(path.display().to_string(), source.clone()).with_language("toml");
        ConfigReport {
            path: path.to_path_buf(),
            text: source,
            named,
            issues,
        }
    }

    /// Plain `file:line:col: message (help)` lines, for logs and JSON.
    pub fn located(&self) -> Vec<LocatedIssue> {
        self.issues
            .iter()
            .map(|issue| {
                let (line, column) = line_col(&self.text, issue.span.start);
                LocatedIssue {
                    file: self.path.display().to_string(),
                    line,
                    column,
                    key: issue.key.clone(),
                    message: issue.message.clone(),
                    help: issue.help.clone(),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LocatedIssue {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
    pub help: Option<String>,
}

impl std::fmt::Display for LocatedIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl Diagnostic for ConfigReport {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("slx::config"))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.issues.iter().map(|issue| issue as &dyn Diagnostic),
        ))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.named)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("every key is described in docs/config.md"))
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigIssue {}

impl Diagnostic for ConfigIssue {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.span.end.saturating_sub(self.span.start);
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(format!("`{}`", self.key)),
            self.span.start,
            len,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }
}
