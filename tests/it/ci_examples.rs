//! docs/examples/*.yml, the CI workflows docs/ci.md shows: each is valid
//! YAML with jobs and steps, and every `slx` command line in their `run`
//! steps parses with the current CLI (an example that rots fails here).

use std::path::Path;

use slx::cli::{Cli, split_command_line};
use yaml_rust2::{Yaml, YamlLoader};

/// Every `run:` of every step of every job.
fn run_scripts(workflow: &Yaml) -> Vec<String> {
    let Some(jobs) = workflow["jobs"].as_hash() else {
        panic!("no jobs");
    };
    jobs.values()
        .flat_map(|job| {
            job["steps"]
                .as_vec()
                .expect("a job has steps")
                .iter()
                .filter_map(|step| step["run"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `slx ...` command lines of a shell script: each up to its first
/// redirection, pipe or list operator, GitHub expressions made plain.
fn slx_lines(script: &str) -> Vec<String> {
    script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("slx "))
        .map(|line| {
            let end = [" >", " |", " &&", " ;", " 2>"]
                .iter()
                .filter_map(|op| line.find(op))
                .min()
                .unwrap_or(line.len());
            line[..end].replace("${{", "X").replace("}}", "")
        })
        .collect()
}

#[test]
fn every_ci_example_is_a_workflow_whose_slx_commands_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let guide = std::fs::read_to_string(dir.join("../ci.md")).unwrap();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
        let workflow = &docs[0];
        assert!(workflow["name"].as_str().is_some(), "{}", file.display());
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            guide.contains(&format!("examples/{name}")),
            "docs/ci.md does not show {name}"
        );
        for script in run_scripts(workflow) {
            for line in slx_lines(&script) {
                let words = split_command_line(&line);
                if let Err(error) = <Cli as clap::Parser>::try_parse_from(&words) {
                    panic!("{name}: `{line}` is not a valid slx command line: {error}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} slx command lines");
}

#[test]
fn command_lines_end_at_shell_operators() {
    assert_eq!(
        slx_lines("slx deploy --stage prod --output json > deploy.json\necho hi"),
        ["slx deploy --stage prod --output json"]
    );
    assert_eq!(
        slx_lines("  slx plan --detailed-exitcode 2>&1 | tee x"),
        ["slx plan --detailed-exitcode"]
    );
}
