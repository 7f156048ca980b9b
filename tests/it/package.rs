//! What `cargo install slx` gets: `cargo package --list` holds everything
//! the binary and its docs need (the templates `slx init` and `slx build`
//! embed, README, licence, changelog) and nothing of the CI or build
//! output. (`cargo publish --dry-run` compiles the crate: scripts/release.)

use std::collections::BTreeSet;
use std::path::Path;

fn files_under(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else {
            let relative = path.strip_prefix(root).unwrap();
            found.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn the_crate_package_holds_what_the_binary_embeds_and_no_ci_or_build_output() {
    let _timing = crate::common::timing();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = crate::common::run(
        std::process::Command::new(env!("CARGO"))
            .args(["package", "--list", "--allow-dirty", "-p", "slx"])
            .current_dir(root),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut templates = BTreeSet::new();
    files_under(root, &root.join("templates"), &mut templates);
    assert!(templates.len() > 10, "{templates:?}");
    let missing: Vec<&String> = templates.difference(&listed).collect();
    assert!(missing.is_empty(), "templates left out: {missing:?}");
    for file in [
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "Cargo.toml",
        "src/main.rs",
    ] {
        assert!(listed.contains(file), "{file} left out");
    }
    let stray: Vec<&String> = listed
        .iter()
        .filter(|f| f.starts_with("target/") || f.starts_with(".ci/") || f.starts_with("scripts/"))
        .collect();
    assert!(stray.is_empty(), "not part of the crate: {stray:?}");
    // The manifest says what crates.io shows.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for key in [
        "description",
        "license",
        "readme",
        "documentation",
        "keywords",
        "categories",
    ] {
        assert!(
            manifest.contains(&format!("\n{key} = ")),
            "Cargo.toml has no `{key}`"
        );
    }
}
