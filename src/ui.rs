//! Everything slx prints: human text (progress lines, warnings) or JSON
//! for machines, chosen by `--output`; colour by `--color` and the TTY.
//!
//! Commands describe *what* happened; this module decides *how* it looks.
//! It never decides exit codes.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// What is running now, shown on one redrawn line on a terminal.
    live: Option<Arc<Live>>,
}

/// The steps running now, and whether a thread is redrawing them.
#[derive(Debug, Default)]
struct Live {
    running: Mutex<Vec<(String, Instant)>>,
    ticking: AtomicBool,
}

/// How often the live line is redrawn.
const TICK: Duration = Duration::from_millis(120);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// The live line for `running` (oldest first, with how long each has
/// run): the oldest step and its time, and how many more run beside it.
pub fn live_line(running: &[(String, Duration)], frame: usize, width: usize) -> String {
    let Some((first, took)) = running.first() else {
        return String::new();
    };
    let more = match running.len() - 1 {
        0 => String::new(),
        n => format!("  (+{n} more)"),
    };
    // A line wider than the terminal would wrap and never be redrawn in
    // place; the step's description gives way first, so the elapsed
    // time (what says it is not hung) always shows.
    let frame = FRAMES[frame % FRAMES.len()];
    let tail = format!(" ({}){more}", seconds_whole(*took));
    let room = width.max(20).saturating_sub(2 + tail.chars().count());
    let description = if first.chars().count() <= room {
        first.clone()
    } else {
        let kept: String = first.chars().take(room.saturating_sub(1)).collect();
        format!("{kept}…")
    };
    let line = format!("{frame} {description}{tail}");
    line.chars().take(width.max(20)).collect()
}

/// `4 s`: whole seconds, for a line redrawn several times a second.
fn seconds_whole(took: Duration) -> String {
    format!("{} s", took.as_secs())
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
        // A live line only where a person watches: stderr a terminal,
        // text output, not `-q`.
        let live = (std::io::stderr().is_terminal() && format == OutputFormat::Text && !quiet)
            .then(|| Arc::new(Live::default()));
        Ui {
            format,
            quiet,
            color,
            live,
        }
    }

    /// A long step starts: on a terminal, a redrawn line shows it with
    /// its elapsed time until `stopped`; elsewhere nothing (plain lines
    /// come when steps finish).
    pub fn running(&self, description: &str) {
        let Some(live) = &self.live else { return };
        {
            // `ticking` is read and set under the lock the thread clears
            // it under: a step never waits for a thread about to stop.
            let mut running = live.running.lock().unwrap_or_else(|p| p.into_inner());
            running.push((description.to_string(), Instant::now()));
            if live.ticking.swap(true, Ordering::SeqCst) {
                return;
            }
        }
        let live = live.clone();
        std::thread::spawn(move || {
            let width = terminal_width();
            let mut frame = 0;
            loop {
                let line = {
                    let running = live.running.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    let shown: Vec<(String, Duration)> = running
                        .iter()
                        .map(|(d, at)| (d.clone(), now.duration_since(*at)))
                        .collect();
                    if shown.is_empty() {
                        // Cleared under the lock: a step that starts now
                        // sees it and starts a new thread.
                        live.ticking.store(false, Ordering::SeqCst);
                        eprint!("\r\x1b[2K");
                        return;
                    }
                    live_line(&shown, frame, width)
                };
                // Shown once a step has run for a moment: quick steps
                // print only their finished line.
                if frame > 3 {
                    eprint!("\r\x1b[2K{line}");
                }
                frame += 1;
                std::thread::sleep(TICK);
            }
        });
    }

    /// A step that `running` showed is over.
    pub fn stopped(&self, description: &str) {
        let Some(live) = &self.live else { return };
        let mut running = live.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = running.iter().position(|(d, _)| d == description) {
            running.remove(at);
        }
        // The finished line goes where the live line was.
        eprint!("\r\x1b[2K");
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Whether only results and errors are printed (`-q`).
    pub fn is_quiet(&self) -> bool {
        self.quiet
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

/// The terminal's width (`COLUMNS`), or 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80)
}

/// `text` that others wrote (a handler's output, its answer, a log line)
/// made safe to print on a terminal: every control character but newline
/// and tab (C0, DEL, C1) shown as an escape (`\u{1b}`), so no line can
/// move the cursor, rewrite what is already shown or retitle the window.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    // `is_control` is Unicode's Cc: C0, DEL and C1.
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if control(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown.into()
}

/// `0.4s`, `12.0s`, `2m05s`.
pub fn seconds(took: Duration) -> String {
    crate::pace::readable(took)
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
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            printable("plain line\twith tab\n"),
            "plain line\twith tab\n"
        );
        assert_eq!(printable("\x1b[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(printable("over\rwrite"), "over\\u{d}write");
        assert_eq!(printable("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(printable("bell\x07 del\x7f"), "bell\\u{7} del\\u{7f}");
        assert_eq!(printable("café ✓"), "café ✓");
    }

    #[test]
    fn the_live_line_shows_the_oldest_step_its_time_and_the_rest() {
        assert_eq!(live_line(&[], 0, 80), "");
        let running = [
            (
                "create function shop-dev".to_string(),
                Duration::from_millis(4_300),
            ),
            (
                "create REST API shop-dev".to_string(),
                Duration::from_millis(900),
            ),
        ];
        assert_eq!(
            live_line(&running, 0, 80),
            "⠋ create function shop-dev (4 s)  (+1 more)"
        );
        assert_eq!(
            live_line(&running[..1], 1, 80),
            "⠙ create function shop-dev (4 s)"
        );
        // Too wide: the description is cut, the time stays.
        assert_eq!(
            live_line(&running[..1], 0, 26),
            "⠋ create function s… (4 s)"
        );
        let narrow = live_line(&running, 0, 20);
        assert_eq!(narrow.chars().count(), 20, "{narrow}");
    }

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(400)), "0.4s");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
        assert_eq!(bytes(940_000), "940 KB");
        assert_eq!(bytes(1_870_000), "1.87 MB");
        assert_eq!(bytes(12), "12 B");
    }
}
