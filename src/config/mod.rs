//! `slx.toml`: reading, validating and resolving one stage.
//!
//! Layers: `schema` (raw spanned shape) → `keys` (unknown keys) →
//! `validate` (values AWS would reject) → `model` (validated config) →
//! `stage` (one stage resolved). Reads the file and nothing else: no AWS,
//! no processes.

mod auth;
pub mod cors;
mod events;
pub(crate) mod gateway;
mod issue;
mod keys;
pub mod limits;
mod model;
pub(crate) mod schedule;
mod schema;
mod secrets;
pub mod settings;
mod stage;
mod stage_check;
mod validate;
mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use issue::{ConfigIssue, ConfigReport, LocatedIssue, line_col};
pub use keys::closest as closest_match;
pub use model::{
    Arch, Authorizer, AuthorizerKind, AuthorizerSource, CanarySpec, Check, Config, Cors, Domain,
    EventFunction, EventHandler, EventSource, Method, Permission, Project, Quota, QuotaPeriod,
    Resolved, Route, RouteAuth, RoutePath, S3EventKind, S3Source, ScheduleSource, Secret,
    SecretSource, Segment, Set, Settings, SqsSource, StageOverlay, Throttle, UnknownHandler,
    UsagePlan, Vpc, key_filters_overlap,
};
pub use stage::{
    DEFAULT_ARCH, DEFAULT_EPHEMERAL_STORAGE_MB, DEFAULT_KEEP_VERSIONS, DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, StageError, resolve,
};
pub use validate::parse_path;

/// The file name slx looks for.
pub const FILE_NAME: &str = "slx.toml";

/// Failure to produce a `Config`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("no {FILE_NAME} in {}", dir.display())]
    #[diagnostic(
        code(slx::config::not_found),
        help("run `slx init` to create a project here, or pass `--config PATH`")
    )]
    NotFound { dir: PathBuf },
    #[error("{} does not exist", path.display())]
    #[diagnostic(
        code(slx::config::missing),
        help("check the path given with `--config`, or run `slx init` in that directory")
    )]
    Missing { path: PathBuf },
    #[error("cannot read {}", path.display())]
    #[diagnostic(code(slx::config::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] ConfigReport),
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ConfigError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    Ok(parse(path, text)?)
}

/// Validates config text; `path` only names the file in messages.
pub fn parse(path: &Path, text: String) -> Result<Config, ConfigReport> {
    let source = Arc::new(text);
    let report = |issues| ConfigReport::new(path, source.clone(), issues);
    let document = match toml::de::DeTable::parse(&source) {
        Ok(document) => document,
        Err(error) => return Err(report(vec![syntax_issue(&error, &source)])),
    };
    let mut errors = keys::unknown_keys(document.get_ref());
    let raw: schema::RawFile = match toml::from_str(&source) {
        Ok(raw) => raw,
        Err(error) => {
            errors.push(syntax_issue(&error, &source));
            return Err(report(errors));
        }
    };
    let outcome = validate::validate(raw, path, &source);
    errors.extend(outcome.errors);
    match outcome.config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => Err(report(errors)),
    }
}

/// Renders warnings the same way as errors, for printing.
pub fn warnings_report(config: &Config) -> Option<ConfigReport> {
    (!config.warnings.is_empty())
        .then(|| ConfigReport::new(&config.path, config.source.clone(), config.warnings.clone()))
}

fn syntax_issue(error: &toml::de::Error, source: &str) -> ConfigIssue {
    let span = error.span().unwrap_or(0..0);
    let key = source
        .get(span.clone())
        .filter(|s| !s.is_empty() && s.len() < 40)
        .unwrap_or("toml")
        .to_string();
    let mut message = error.message().trim().to_string();
    let help = if message.contains("invalid type") {
        "check the value's type in docs/config.md (numbers unquoted, names quoted)"
    } else if message.contains("untagged enum RawRoute") {
        message = "a route's value is neither a handler name nor a route table".into();
        "write `\"greet\"`, or `{ handler = \"greet\", cors = false, api_key = true }` (`cors` and `api_key` are true or false)"
    } else {
        "fix the TOML syntax at this position"
    };
    ConfigIssue::new(span, &key, message).with_help(help)
}

#[cfg(test)]
mod tests;
