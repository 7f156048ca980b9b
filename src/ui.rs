//! Everything slx prints: human text (progress lines, warnings) or JSON
//! for machines, chosen by `--output`; colour by `--color` and the TTY.
//!
//! Commands describe *what* happened; this module decides *how* it looks.
//! It never decides exit codes.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Readable lines.
    #[default]
    Text,
    /// One JSON document on stdout (or one per line for streams).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// The output sink handed to every command.
#[derive(Debug, Clone)]
pub struct Ui {
    pub format: OutputFormat,
    quiet: bool,
    color: bool,
}

impl Ui {
    pub fn new(format: OutputFormat, quiet: bool, color: ColorChoice) -> Ui {
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Ui {
            format,
            quiet,
            color,
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A progress line on stderr (never in JSON mode, never with `-q`).
    pub fn step(&self, message: impl AsRef<str>) {
        if !self.quiet && !self.is_json() {
            eprintln!("{}", message.as_ref());
        }
    }

    /// A finished step with its duration: `  ✓ message (1.2s)`.
    pub fn done(&self, message: impl AsRef<str>, took: Duration) {
        let mark = if self.color {
            "\x1b[32m✓\x1b[0m"
        } else {
            "✓"
        };
        self.step(format!("  {mark} {} ({})", message.as_ref(), seconds(took)));
    }

    /// A warning on stderr, shown even with `-q` (but not in JSON mode,
    /// where warnings belong in the document).
    pub fn warn(&self, message: impl AsRef<str>) {
        if !self.is_json() {
            let label = if self.color {
                "\x1b[33mwarning\x1b[0m"
            } else {
                "warning"
            };
            eprintln!("{label}: {}", message.as_ref());
        }
    }

    /// A warning that matters for safety: on stderr in every mode, even
    /// with `-q` and `--output json` (stdout stays valid JSON).
    pub fn alert(&self, message: impl AsRef<str>) {
        let label = if self.color {
            "\x1b[33mwarning\x1b[0m"
        } else {
            "warning"
        };
        eprintln!("{label}: {}", message.as_ref());
    }

    /// The command's result: `text` for people, `value` as JSON.
    pub fn result<T: Serialize>(&self, text: impl AsRef<str>, value: &T) {
        let mut out = std::io::stdout().lock();
        let written = match self.format {
            OutputFormat::Json => serde_json::to_writer_pretty(&mut out, value)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out)),
            OutputFormat::Text => writeln!(out, "{}", text.as_ref()),
        };
        // A closed pipe (`slx ... | head`) is not an error worth a report.
        let _ = written;
    }
}

/// `0.4s`, `12.0s`, `2m05s`.
pub fn seconds(took: Duration) -> String {
    let secs = took.as_secs_f64();
    if secs < 120.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", took.as_secs() / 60, took.as_secs() % 60)
    }
}

/// `1.9 MB`, `940 KB`, `512 B`.
pub fn bytes(size: u64) -> String {
    match size {
        s if s >= 1_000_000 => format!("{:.2} MB", s as f64 / 1_000_000.0),
        s if s >= 1_000 => format!("{:.0} KB", s as f64 / 1_000.0),
        s => format!("{s} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(400)), "0.4s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
        assert_eq!(bytes(940_000), "940 KB");
        assert_eq!(bytes(1_870_000), "1.87 MB");
        assert_eq!(bytes(12), "12 B");
    }
}
