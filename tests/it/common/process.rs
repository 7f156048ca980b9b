//! A child process whose stderr the test reads line by line as it comes:
//! a line the process prints when it reaches a point is the test's
//! readiness signal, instead of a sleep that hopes the point was reached.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct Watched {
    child: Child,
    lines: Receiver<String>,
    /// Every stderr line so far, for the output when it ends.
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        let (sender, lines) = mpsc::channel();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let keep = kept.clone();
        let label = label.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{label} {line}");
                keep.lock().unwrap().push(line.clone());
                // The test may stop listening; the lines are still kept.
                let _ = sender.send(line);
            }
        });
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        Watched {
            child,
            lines,
            stderr: kept,
            stdout: Some(stdout),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The first line from now on that contains `needle`.
    pub(crate) fn wait_for(&self, needle: &str, within: Duration) -> String {
        self.lines_until(needle, within).pop().unwrap_or_default()
    }

    /// Every line printed from now on until one containing `needle`
    /// (included); fails the test after `within` or when the process
    /// ends without printing it.
    pub(crate) fn lines_until(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => panic!("the process never printed `{needle}`; it printed {seen:?}"),
            }
        }
    }

    /// Every line printed during the next `window` (to show that
    /// something did not happen).
    pub(crate) fn lines_during(&self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Ok(line) = self.lines.recv_timeout(left) {
                seen.push(line);
            }
        }
        seen
    }

    /// Sends `signal` (`-INT`, `-STOP`, ...) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {signal}");
    }

    /// Waits for the process to end: its status, stdout and every
    /// stderr line.
    pub(crate) fn finish(mut self) -> Output {
        let status: ExitStatus = self.child.wait().unwrap();
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // The reader stops at the pipe's end, which came with the exit
        // (or, when a process it started holds the pipe, give up).
        while self.lines.recv_timeout(Duration::from_secs(10)).is_ok() {}
        let stderr = self.stderr.lock().unwrap().join("\n").into_bytes();
        Output {
            status,
            stdout,
            stderr,
        }
    }
}
