//! `slx init`: writes a new project from the templates embedded in the
//! binary: `templates/init` (route table: one function per route),
//! `templates/router` (an axum app, `[app] router`) or `templates/events`
//! (an S3, a schedule and an SQS handler beside a route).
//!
//! Never overwrites a file: it checks every target first and writes
//! nothing when any exists.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use minijinja::{Environment, context};

static INIT_TEMPLATE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/init");
static ROUTER_TEMPLATE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/router");
static EVENTS_TEMPLATE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/events");

/// Which kind of app `slx init` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// `[routes]` naming one plain function of src/lib.rs per route.
    #[default]
    Routes,
    /// An axum app: `[app] router` serves every path.
    Router,
    /// Event handlers: `on_upload` (S3), `nightly` (schedule), `on_job`
    /// (SQS), beside `GET /health`.
    Events,
}

impl Template {
    fn files(self) -> &'static Dir<'static> {
        match self {
            Template::Routes => &INIT_TEMPLATE,
            Template::Router => &ROUTER_TEMPLATE,
            Template::Events => &EVENTS_TEMPLATE,
        }
    }
}

/// Failure to scaffold a project.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum ScaffoldError {
    #[error("refusing to overwrite {} existing {}: {}", .files.len(), if .files.len() == 1 { "file" } else { "files" }, .files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))]
    #[diagnostic(
        code(slx::init::exists),
        help("run `slx init NAME` to create a new directory, or move these files away")
    )]
    WouldOverwrite { files: Vec<PathBuf> },
    #[error("`{name}` cannot be an app name: {problem}")]
    #[diagnostic(
        code(slx::init::name),
        help("use lowercase letters, digits and `-`, starting with a letter, e.g. `shop`")
    )]
    BadName { name: String, problem: &'static str },
    #[error("cannot name the app after directory {}", .dir.display())]
    #[diagnostic(code(slx::init::no_name), help("pass a name: `slx init shop`"))]
    NoName { dir: PathBuf },
    #[error("cannot write {}", .path.display())]
    #[diagnostic(code(slx::init::write))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {path} is broken")]
    #[diagnostic(code(slx::init::template))]
    Template {
        path: String,
        #[source]
        source: minijinja::Error,
    },
}

/// What `init` wrote.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Scaffolded {
    pub name: String,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Creates the app `name` in `dir` (created if missing). Without a name,
/// the directory's own name is used.
pub(crate) fn init(
    dir: &Path,
    name: Option<&str>,
    template: Template,
) -> Result<Scaffolded, ScaffoldError> {
    let name = match name {
        Some(name) => name.to_string(),
        None => dir_name(dir)?,
    };
    if let Some(problem) = crate::config::limits::name_problem(&name) {
        return Err(ScaffoldError::BadName { name, problem });
    }
    let files = render_all(&name, template)?;
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(relative, _)| relative.clone())
        .filter(|relative| dir.join(relative).exists())
        .collect();
    if !existing.is_empty() {
        return Err(ScaffoldError::WouldOverwrite { files: existing });
    }
    for (relative, text) in &files {
        let path = dir.join(relative);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
        };
        write().map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(Scaffolded {
        name,
        dir: dir.to_path_buf(),
        files: files.into_iter().map(|(relative, _)| relative).collect(),
    })
}

fn dir_name(dir: &Path) -> Result<String, ScaffoldError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.to_lowercase().replace('_', "-"))
        .ok_or(ScaffoldError::NoName { dir: absolute })
}

/// Every template rendered: (path relative to the project, contents).
fn render_all(name: &str, template: Template) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    let env = Environment::new();
    let mut out = Vec::new();
    let mut pending = vec![template.files()];
    while let Some(dir) = pending.pop() {
        pending.extend(dir.dirs());
        for file in dir.files() {
            let template_path = file.path().to_string_lossy().to_string();
            let source = file.contents_utf8().unwrap_or_default();
            let broken = |source| ScaffoldError::Template {
                path: template_path.clone(),
                source,
            };
            let mut text = env
                .render_str(source, context! { name => name })
                .map_err(broken)?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            out.push((target_path(file.path()), text));
        }
    }
    out.sort();
    Ok(out)
}

/// `gitignore.tmpl` → `.gitignore`, `Cargo.toml.tmpl` → `Cargo.toml`: the
/// suffix keeps the templates from being mistaken for real files in the
/// slx repository itself.
fn target_path(template: &Path) -> PathBuf {
    let stripped = template.with_extension("");
    match stripped.file_name().and_then(|n| n.to_str()) {
        Some("gitignore") => stripped.with_file_name(".gitignore"),
        _ => stripped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_template_with_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let done = init(&dir.path().join("shop"), Some("shop"), Template::Routes).unwrap();
        let names: Vec<String> = done.files.iter().map(|f| f.display().to_string()).collect();
        assert_eq!(
            names,
            [
                ".gitignore",
                "Cargo.toml",
                "README.md",
                "slx.toml",
                "src/lib.rs"
            ]
        );
        let readme = std::fs::read_to_string(dir.path().join("shop/README.md")).unwrap();
        assert!(readme.starts_with("# shop\n"), "{readme}");
        assert!(readme.contains("## Going to production"));
        let toml = std::fs::read_to_string(dir.path().join("shop/slx.toml")).unwrap();
        assert!(toml.contains("name = \"shop\""));
        let config = crate::config::load(&dir.path().join("shop/slx.toml")).unwrap();
        assert_eq!(config.routes.len(), 3);
    }

    #[test]
    fn the_router_template_is_a_router_app() {
        let dir = tempfile::tempdir().unwrap();
        let done = init(&dir.path().join("shop"), Some("shop"), Template::Router).unwrap();
        let names: Vec<String> = done.files.iter().map(|f| f.display().to_string()).collect();
        assert_eq!(
            names,
            [
                ".gitignore",
                "Cargo.toml",
                "README.md",
                "slx.toml",
                "src/lib.rs"
            ]
        );
        let readme = std::fs::read_to_string(dir.path().join("shop/README.md")).unwrap();
        assert!(readme.starts_with("# shop\n") && readme.contains("router = \"router\""));
        let config = crate::config::load(&dir.path().join("shop/slx.toml")).unwrap();
        assert_eq!(config.router.as_deref(), Some("router"));
        assert!(config.routes.is_empty());
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let lib = std::fs::read_to_string(dir.path().join("shop/src/lib.rs")).unwrap();
        let file = syn::parse_file(&lib).unwrap();
        let checked = crate::handler::handlers::check(&file, &[], Some("router"), &[]).unwrap();
        assert_eq!(checked.router.unwrap().name, "router");
    }

    #[test]
    fn the_events_template_has_the_three_documented_handlers() {
        let dir = tempfile::tempdir().unwrap();
        let done = init(&dir.path().join("shop"), Some("shop"), Template::Events).unwrap();
        assert!(done.files.iter().any(|f| f.as_os_str() == "README.md"));
        let readme = std::fs::read_to_string(dir.path().join("shop/README.md")).unwrap();
        for handler in ["on_upload", "nightly", "on_job"] {
            assert!(readme.contains(handler), "{handler}: {readme}");
        }
        let config = crate::config::load(&dir.path().join("shop/slx.toml")).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let project = crate::config::resolve(&config, "dev").unwrap();
        let sources: Vec<(String, serde_json::Value)> = project
            .events
            .iter()
            .map(|e| {
                (
                    e.handler.name.clone(),
                    serde_json::to_value(&e.handler.source).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            sources,
            [
                (
                    "nightly".to_string(),
                    serde_json::json!({"kind": "schedule", "expression": "rate(1 hour)", "timezone": null, "input": null})
                ),
                (
                    "on_job".to_string(),
                    serde_json::json!({"kind": "sqs", "queue": "shop-jobs", "batch_size": 10, "batch_window": 0, "report_failures": true})
                ),
                (
                    "on_upload".to_string(),
                    serde_json::json!({"kind": "s3", "bucket": "shop-uploads", "events": ["created"], "prefix": "incoming/", "suffix": null})
                ),
            ]
        );
        assert_eq!(config.routes[0].key(), "GET /health");
        let lib = std::fs::read_to_string(dir.path().join("shop/src/lib.rs")).unwrap();
        let file = syn::parse_file(&lib).unwrap();
        let events: Vec<_> = project.events.iter().map(|e| e.handler.clone()).collect();
        let checked =
            crate::handler::handlers::check(&file, &config.routes, None, &events).unwrap();
        assert_eq!(checked.events.len(), 3);
    }

    #[test]
    fn never_overwrites_and_writes_nothing_when_one_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("slx.toml"), "mine").unwrap();
        let error = init(dir.path(), Some("shop"), Template::Routes).unwrap_err();
        match error {
            ScaffoldError::WouldOverwrite { files } => {
                assert_eq!(files, [PathBuf::from("slx.toml")]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("slx.toml")).unwrap(),
            "mine"
        );
        assert!(!dir.path().join("Cargo.toml").exists());
    }

    #[test]
    fn uses_the_directory_name_without_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("my_api");
        std::fs::create_dir(&target).unwrap();
        assert_eq!(
            init(&target, None, Template::Routes).unwrap().name,
            "my-api"
        );
    }

    #[test]
    fn refuses_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(dir.path(), Some("My App"), Template::Routes),
            Err(ScaffoldError::BadName { .. })
        ));
    }
}
