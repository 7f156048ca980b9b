//! A child process whose stderr the test reads line by line as it comes:
//! a line the process prints when it reaches a point is the test's
//! readiness signal, instead of a sleep that hopes the point was reached.
//!
//! Every line is kept. A test reading alone moves a cursor (each
//! `wait_for` starts after the last line it matched); tests sharing one
//! process (one `slx dev` for several cases) take a `mark` before they
//! act and wait for a line after it, without taking lines from others.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The lines so far, and whether the stream ended.
#[derive(Default)]
struct Log {
    lines: Mutex<(Vec<String>, bool)>,
    grew: Condvar,
}

pub(crate) struct Watched {
    child: Mutex<Child>,
    log: Arc<Log>,
    /// Where the next `wait_for` of a test reading alone starts.
    cursor: Mutex<usize>,
    stdout: Mutex<Option<std::thread::JoinHandle<Vec<u8>>>>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Watched {
    /// Starts `command`, its stderr read line by line (each echoed to the
    /// test's output after `label`) and its stdout kept whole.
    pub(crate) fn spawn(command: &mut Command, label: &str) -> Watched {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let log = Arc::new(Log::default());
        let writer = log.clone();
        let label = label.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{label} {line}");
                writer.lines.lock().unwrap().0.push(line);
                writer.grew.notify_all();
            }
            writer.lines.lock().unwrap().1 = true;
            writer.grew.notify_all();
        });
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        Watched {
            child: Mutex::new(child),
            log,
            cursor: Mutex::new(0),
            stdout: Mutex::new(Some(stdout)),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// How many lines were printed so far: a later `wait_for_after` sees
    /// only what comes after.
    pub(crate) fn mark(&self) -> usize {
        self.log.lines.lock().unwrap().0.len()
    }

    /// The lines from `from` until the first containing `needle`
    /// (included), and where that one is; fails the test after `within`
    /// or when the process ends without printing it.
    fn until(&self, from: usize, needle: &str, within: Duration) -> (Vec<String>, usize) {
        let deadline = Instant::now() + within;
        let mut log = self.log.lines.lock().unwrap();
        loop {
            if let Some(at) = log.0.iter().skip(from).position(|l| l.contains(needle)) {
                return (log.0[from..=from + at].to_vec(), from + at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !log.1 && !left.is_zero(),
                "the process never printed `{needle}`; after line {from} it printed {:?}",
                &log.0[from.min(log.0.len())..]
            );
            log = self.log.grew.wait_timeout(log, left).unwrap().0;
        }
    }

    /// The first line after line `mark` that contains `needle`.
    pub(crate) fn wait_for_after(&self, mark: usize, needle: &str, within: Duration) -> String {
        self.until(mark, needle, within).0.pop().unwrap_or_default()
    }

    /// The next line that contains `needle`, for a test reading alone.
    pub(crate) fn wait_for(&self, needle: &str, within: Duration) -> String {
        self.lines_until(needle, within).pop().unwrap_or_default()
    }

    /// Every line from the cursor until one containing `needle`
    /// (included), for a test reading alone.
    pub(crate) fn lines_until(&self, needle: &str, within: Duration) -> Vec<String> {
        let mut cursor = self.cursor.lock().unwrap();
        let (lines, at) = self.until(*cursor, needle, within);
        *cursor = at + 1;
        lines
    }

    /// Every line printed during the next `window` (to show that
    /// something did not happen).
    pub(crate) fn lines_during(&self, window: Duration) -> Vec<String> {
        std::thread::sleep(window);
        let log = self.log.lines.lock().unwrap();
        let mut cursor = self.cursor.lock().unwrap();
        let lines = log.0[*cursor..].to_vec();
        *cursor = log.0.len();
        lines
    }

    /// Sends `signal` (`-INT`, `-STOP`, ...) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        send_signal(self.id(), signal);
    }

    /// Waits for the process to end: its status, stdout and every
    /// stderr line.
    pub(crate) fn finish(self) -> Output {
        let status = self.child.lock().unwrap().wait().unwrap();
        let stdout = self.stdout.lock().unwrap().take().unwrap().join().unwrap();
        // The reader stops at the pipe's end, which came with the exit
        // (unless a process it started still holds the pipe).
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut log = self.log.lines.lock().unwrap();
        while !log.1 && Instant::now() < deadline {
            log = self
                .log
                .grew
                .wait_timeout(log, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        let stderr = log.0.join("\n").into_bytes();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// Sends `signal` (`-INT`, `-STOP`, `-CONT`, ...) to process `pid`.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
}
