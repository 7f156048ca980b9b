//! Rules of the code's shape that the compiler alone does not enforce:
//! only `src/aws/` talks to AWS, and only the resource modules that apply
//! actions call the writer.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Files under `src/` (outside `allowed`) whose code matches `offends`.
fn offenders(allowed: &[&str], offends: impl Fn(&str) -> bool) -> Vec<String> {
    let src = src();
    rust_files(&src)
        .into_iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if allowed.iter().any(|a| relative.starts_with(a)) {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Comments may name SDK types and calls; code may not.
            let code: String = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            offends(&code).then_some(relative)
        })
        .collect()
}

#[test]
fn only_src_aws_calls_the_sdk() {
    let found = offenders(&["aws/"], |code| {
        code.contains(".send()") || code.contains("aws_sdk_") || code.contains("aws_smithy_")
    });
    assert_eq!(found, Vec::<String>::new(), "SDK use outside src/aws/");
    // The rule is checked against something: src/aws/ does call the SDK.
    let inside = offenders(&[], |code| code.contains(".send()"));
    assert!(inside.iter().all(|f| f.starts_with("aws/")) && !inside.is_empty());
}

/// The methods of `aws::Writer`: every `fn` inside an `impl Writer` block.
fn writer_methods() -> Vec<String> {
    let mut names = Vec::new();
    for path in rust_files(&src().join("aws")) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("impl ") {
                inside = line.starts_with("impl Writer");
            } else if inside
                && let Some(rest) = line.trim_start().strip_prefix("pub(crate) async fn ")
            {
                names.push(rest.split(['(', '<']).next().unwrap().to_string());
            }
        }
    }
    names
}

#[test]
fn only_resource_modules_call_the_writer() {
    let methods = writer_methods();
    assert!(
        methods.iter().any(|m| m == "create_function") && methods.len() > 10,
        "{methods:?}"
    );
    let calls_writer = |code: &str| methods.iter().any(|m| code.contains(&format!(".{m}(")));
    let found = offenders(&["aws/", "deploy/resources/"], calls_writer);
    assert_eq!(
        found,
        Vec::<String>::new(),
        "writer calls outside apply's resources"
    );
    let inside = offenders(&["aws/"], calls_writer);
    assert!(inside.iter().all(|f| f.starts_with("deploy/resources/")) && !inside.is_empty());
}
