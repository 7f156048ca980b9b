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

/// A line with the contents of its `"..."` literals removed.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut escaped = false;
    for c in line.chars() {
        match (inside, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, _, '"') => {
                inside = !inside;
                out.push('"');
            }
            (false, _, c) => out.push(c),
            (true, false, _) => {}
        }
    }
    out
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
            // Comments and strings (log targets) may name SDK types and
            // calls; code may not.
            let code: String = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .map(without_strings)
                .collect::<Vec<_>>()
                .join("\n");
            offends(&code).then_some(relative)
        })
        .collect()
}

/// Whether `code` names a path in an SDK crate (`aws_sdk_lambda::...`,
/// `aws_smithy_types::...`); a string naming a log target is not a use.
fn uses_sdk_path(code: &str) -> bool {
    ["aws_sdk_", "aws_smithy_"].iter().any(|prefix| {
        code.match_indices(prefix).any(|(at, _)| {
            let rest = &code[at + prefix.len()..];
            let crate_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[crate_end..].starts_with("::")
        })
    })
}

#[test]
fn only_src_aws_calls_the_sdk() {
    let _timing = crate::common::timing();
    assert!(uses_sdk_path("use aws_sdk_lambda::types::Runtime;"));
    assert!(uses_sdk_path("x: aws_smithy_types::Blob"));
    assert!(!uses_sdk_path(
        r#"const T: &[&str] = &["aws_sdk_", "aws_smithy_runtime"];"#
    ));
    let found = offenders(&["aws/"], |code| {
        code.contains(".send()") || uses_sdk_path(code)
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

/// Apply's resource modules change the stage; the deploy lease (which
/// guards them) creates and deletes its own log groups.
#[test]
fn only_resource_modules_and_the_lease_call_the_writer() {
    let _timing = crate::common::timing();
    let methods = writer_methods();
    assert!(
        methods.iter().any(|m| m == "create_function") && methods.len() > 10,
        "{methods:?}"
    );
    let calls_writer = |code: &str| methods.iter().any(|m| code.contains(&format!(".{m}(")));
    let found = offenders(
        &["aws/", "deploy/resources/", "deploy/lease.rs"],
        calls_writer,
    );
    assert_eq!(
        found,
        Vec::<String>::new(),
        "writer calls outside apply's resources and the lease"
    );
    let inside = offenders(&["aws/"], calls_writer);
    assert!(
        inside
            .iter()
            .all(|f| f.starts_with("deploy/resources/") || f == "deploy/lease.rs")
            && inside.iter().any(|f| f == "deploy/lease.rs"),
        "{inside:?}"
    );
}

/// The tests in `dir` (file, name) whose body does not begin with the
/// timing line that scripts/test's per-group times come from.
fn untimed_tests(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for path in rust_files(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            if !(line.starts_with("#[test]") || line.starts_with("#[tokio::test")) {
                continue;
            }
            // The signature may span lines; the body's first line follows
            // the line that opens it.
            let Some(open) = (at + 1..lines.len()).find(|&l| lines[l].trim_end().ends_with('{'))
            else {
                continue;
            };
            if lines.get(open + 1).map(|l| l.trim())
                != Some("let _timing = crate::common::timing();")
            {
                let name = lines[at + 1..=open].join(" ");
                found.push(format!("{}: {}", path.display(), name.trim()));
            }
        }
    }
    found
}

#[test]
fn every_integration_test_is_timed() {
    let _timing = crate::common::timing();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    assert_eq!(untimed_tests(&tests), Vec::<String>::new());
    // The rule is checked against something: a test without the line.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(
        scratch.path().join("t.rs"),
        "#[test]\nfn forgot() {\n    assert!(true);\n}\n",
    )
    .unwrap();
    assert_eq!(untimed_tests(scratch.path()).len(), 1);
}

/// The files of `src/<layer>` (a directory or a single `.rs` file) whose
/// code names `crate::<module>`.
fn reaching(layer: &str, module: &str) -> Vec<String> {
    let needle = format!("crate::{module}");
    offenders(&[], |code| {
        code.match_indices(&needle).any(|(at, _)| {
            // `crate::local` but not `crate::localized`.
            !code[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        })
    })
    .into_iter()
    .filter(|file| file == &format!("{layer}.rs") || file.starts_with(&format!("{layer}/")))
    .collect()
}

/// What several layers share sits below them (src/contract), so that no
/// layer reaches up or sideways for it: the config layer never into the
/// local server or the code generator, the deploy engine never into the
/// local server or the terminal, the local server never into the code
/// generator, the shared contracts into none of their users.
#[test]
fn layers_import_only_what_is_below_them() {
    let _timing = crate::common::timing();
    let rules: &[(&str, &[&str])] = &[
        (
            "config",
            &["local", "handler", "deploy", "commands", "ui", "invoke"],
        ),
        (
            "contract",
            &["local", "handler", "deploy", "commands", "ui", "invoke"],
        ),
        ("deploy", &["local", "ui", "commands"]),
        ("local", &["handler::codegen", "deploy", "commands"]),
    ];
    let mut found = Vec::new();
    for (layer, below_it) in rules {
        for module in *below_it {
            for file in reaching(layer, module) {
                found.push(format!("src/{file} imports crate::{module}"));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
    // The rule is checked against something: the local server does use
    // the contracts, and the commands the deploy engine.
    assert!(!reaching("local", "contract").is_empty());
    assert!(!reaching("commands", "deploy").is_empty());
}

/// The paths in the first column of docs/architecture.md's module table.
fn documented_modules() -> Vec<String> {
    let docs = include_str!("../../docs/architecture.md");
    let table = docs
        .split("\n## Modules\n")
        .nth(1)
        .expect("docs/architecture.md has a `## Modules` section");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        // A cell may name several: `src/a.rs`, `src/b.rs`.
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .map(str::to_string)
        .collect()
}

/// The rows of `documented` that name nothing in the tree, and the
/// files of `src/` that no row covers (a file's own row, or its
/// directory's; a directory's `mod.rs` is covered by any row inside it).
fn undocumented(documented: &[String]) -> (Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stale = documented
        .iter()
        .filter(|row| !root.join(row).exists())
        .cloned()
        .collect();
    let uncovered = rust_files(&src())
        .into_iter()
        .map(|path| {
            path.strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|file| {
            let covered = |row: &String| {
                row == file || (row.ends_with('/') && file.starts_with(row.as_str()))
            };
            let module_root = file
                .strip_suffix("mod.rs")
                .is_some_and(|dir| documented.iter().any(|row| row.starts_with(dir)));
            !documented.iter().any(covered) && !module_root
        })
        .collect();
    (stale, uncovered)
}

#[test]
fn docs_architecture_lists_every_module_and_nothing_else() {
    let _timing = crate::common::timing();
    let documented = documented_modules();
    assert!(documented.len() > 30, "{documented:?}");
    assert_eq!(
        undocumented(&documented),
        (Vec::new(), Vec::new()),
        "(rows naming nothing, files no row covers) in docs/architecture.md's module table"
    );
    // The rule is checked against something: without its row, a module
    // is reported, and a row for a file that does not exist too.
    let mut fewer: Vec<String> = documented
        .iter()
        .filter(|row| row.as_str() != "src/pace.rs")
        .cloned()
        .collect();
    fewer.push("src/gone.rs".into());
    assert_eq!(
        undocumented(&fewer),
        (
            vec!["src/gone.rs".to_string()],
            vec!["src/pace.rs".to_string()]
        )
    );
}
