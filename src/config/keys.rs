//! Finds every key `slx.toml` does not define, before typed parsing, so a
//! user sees all misspellings at once, each with a "did you mean". The
//! keys of `[app]` and `[stages.NAME]` come from their one declaration
//! (`settings`).
//!
//! Works on the spanned document tree only; it never reads values.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::issue::ConfigIssue;
use super::settings::{self, Table};

const TOP: &[&str] = &[
    "app",
    "env",
    "routes",
    "stages",
    "permissions",
    "checks",
    "events",
    "secrets",
    "cors",
    "usage_plan",
    "authorizers",
];
/// A `[secrets]` value written as a table.
const SECRET: &[&str] = &["from", "kms_key"];
/// `vpc = { subnets = [...], security_groups = [...] }`.
const VPC: &[&str] = &["subnets", "security_groups"];
/// `[events.NAME]`; a stage's `[stages.S.events.NAME]` takes the same
/// keys except `handler` (which function runs is the app's choice).
const EVENT: &[&str] = &[
    "handler",
    "schedule",
    "timezone",
    "input",
    "bucket",
    "events",
    "prefix",
    "suffix",
    "queue",
    "batch_size",
    "batch_window",
    "report_failures",
    "memory",
    "timeout",
    "on_failure",
];
const PERMISSION: &[&str] = &["actions", "resources"];
const ROUTE: &[&str] = &["handler", "cors", "api_key", "auth", "scopes"];
const AUTHORIZER: &[&str] = &["cognito", "function", "type", "header", "ttl"];
const USAGE_PLAN: &[&str] = &["rate", "burst", "quota", "per"];
const DOMAIN: &[&str] = &["name", "certificate", "base_path", "hosted_zone"];
const CORS: &[&str] = &[
    "origins",
    "headers",
    "expose_headers",
    "credentials",
    "max_age",
];
const CHECK: &[&str] = &["request", "headers", "body", "status", "contains", "json"];

/// Returns one issue per key that has no meaning where it stands.
pub(crate) fn unknown_keys(doc: &DeTable<'_>) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    check_table(doc, TOP, "the top level", &mut issues);
    for (key, value) in doc {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("app", DeValue::Table(app)) => {
                check_table(app, &settings::keys(Table::App), "[app]", &mut issues);
                check_vpc(app, "[app.vpc]", &mut issues);
            }
            ("stages", DeValue::Table(stages)) => {
                for (stage, section) in stages {
                    if let DeValue::Table(section) = section.get_ref() {
                        let table = format!("[stages.{}]", stage.get_ref());
                        check_table(section, &settings::keys(Table::Stage), &table, &mut issues);
                        let vpc = format!("[stages.{}.vpc]", stage.get_ref());
                        check_vpc(section, &vpc, &mut issues);
                        if let Some(checks) = section.get("checks") {
                            let table = format!("[[stages.{}.checks]]", stage.get_ref());
                            check_items(checks.get_ref(), CHECK, &table, &mut issues);
                        }
                        if let Some(secrets) = section.get("secrets") {
                            let prefix = format!("stages.{}.secrets", stage.get_ref());
                            check_named_tables(secrets.get_ref(), SECRET, &prefix, &mut issues);
                        }
                        for (key, allowed) in [
                            ("cors", CORS),
                            ("usage_plan", USAGE_PLAN),
                            ("domain", DOMAIN),
                        ] {
                            let table = format!("[stages.{}.{key}]", stage.get_ref());
                            check_subtable(section, key, allowed, &table, &mut issues);
                        }
                        if let Some(events) = section.get("events") {
                            let prefix = format!("stages.{}.events", stage.get_ref());
                            check_named_tables(events.get_ref(), &EVENT[1..], &prefix, &mut issues);
                        }
                    }
                }
            }
            ("permissions", items) => {
                check_items(items, PERMISSION, "[[permissions]]", &mut issues);
            }
            ("checks", items) => check_items(items, CHECK, "[[checks]]", &mut issues),
            ("events", events) => check_named_tables(events, EVENT, "events", &mut issues),
            ("secrets", secrets) => check_named_tables(secrets, SECRET, "secrets", &mut issues),
            ("cors", DeValue::Table(cors)) => check_table(cors, CORS, "[cors]", &mut issues),
            ("authorizers", authorizers) => {
                check_named_tables(authorizers, AUTHORIZER, "authorizers", &mut issues);
            }
            ("usage_plan", DeValue::Table(plan)) => {
                check_table(plan, USAGE_PLAN, "[usage_plan]", &mut issues);
            }
            ("routes", DeValue::Table(routes)) => {
                for (route, value) in routes {
                    if let DeValue::Table(table) = value.get_ref() {
                        let where_ = format!("route \"{}\"", route.get_ref());
                        check_table(table, ROUTE, &where_, &mut issues);
                    }
                }
            }
            _ => {}
        }
    }
    issues
}

/// The `vpc` table of `[app]` or a stage, if it has one.
fn check_vpc(section: &DeTable<'_>, where_: &str, issues: &mut Vec<ConfigIssue>) {
    check_subtable(section, "vpc", VPC, where_, issues);
}

/// The table `key` of `section`, if it has one.
fn check_subtable(
    section: &DeTable<'_>,
    key: &str,
    allowed: &[&str],
    where_: &str,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(table) = section.get(key)
        && let DeValue::Table(table) = table.get_ref()
    {
        check_table(table, allowed, where_, issues);
    }
}

/// Each `[PREFIX.NAME]` table of a table of named tables (`[events]`, `[secrets]`).
fn check_named_tables(
    events: &DeValue<'_>,
    allowed: &[&str],
    prefix: &str,
    issues: &mut Vec<ConfigIssue>,
) {
    if let DeValue::Table(events) = events {
        for (name, table) in events {
            if let DeValue::Table(table) = table.get_ref() {
                let where_ = format!("[{prefix}.{}]", name.get_ref());
                check_table(table, allowed, &where_, issues);
            }
        }
    }
}

/// The tables of an array of tables (`[[checks]]`).
fn check_items(items: &DeValue<'_>, allowed: &[&str], where_: &str, issues: &mut Vec<ConfigIssue>) {
    if let DeValue::Array(items) = items {
        for item in items.iter() {
            if let DeValue::Table(table) = item.get_ref() {
                check_table(table, allowed, where_, issues);
            }
        }
    }
}

fn check_table(table: &DeTable<'_>, allowed: &[&str], where_: &str, issues: &mut Vec<ConfigIssue>) {
    for key in table.keys() {
        let name: &str = key.get_ref();
        if allowed.contains(&name) {
            continue;
        }
        issues.push(unknown_key_issue(key, name, allowed, where_));
    }
}

fn unknown_key_issue(
    key: &Spanned<std::borrow::Cow<'_, str>>,
    name: &str,
    allowed: &[&str],
    where_: &str,
) -> ConfigIssue {
    let help = match closest(name, allowed) {
        Some(best) => format!("did you mean `{best}`?"),
        None => match home_of(name) {
            Some(home) if home != where_ => format!("`{name}` belongs in {home}"),
            _ => format!("keys allowed in {where_}: {}", allowed.join(", ")),
        },
    };
    ConfigIssue::new(
        key.span(),
        name,
        format!("unknown key `{name}` in {where_}"),
    )
    .with_help(help)
}

/// The allowed key closest to a misspelt one, if any is close enough to be
/// a plausible typo (edit distance scaled to the word's length).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.len() / 3).clamp(1, 3);
    if word.len() >= 3
        && let Some(prefixed) = candidates
            .iter()
            .find(|c| c.starts_with(word) || (c.len() >= 3 && word.starts_with(**c)))
    {
        return Some(prefixed);
    }
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Where a correctly spelt key that was put in the wrong table belongs.
fn home_of(name: &str) -> Option<&'static str> {
    if settings::keys(Table::App).contains(&name) {
        Some("[app]")
    } else if TOP.contains(&name) {
        Some("the top level")
    } else if PERMISSION.contains(&name) {
        Some("[[permissions]]")
    } else if CHECK.contains(&name) {
        Some("[[checks]]")
    } else if EVENT.contains(&name) {
        Some("an [events.NAME] table")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(src: &str) -> Vec<(String, Option<String>)> {
        let doc = DeTable::parse(src).unwrap();
        unknown_keys(doc.get_ref())
            .into_iter()
            .map(|i| (i.message, i.help))
            .collect()
    }

    #[test]
    fn suggests_the_closest_key_for_a_typo() {
        let found = keys_of("[app]\nname = \"a\"\nmemroy = 3\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "unknown key `memroy` in [app]");
        assert_eq!(found[0].1.as_deref(), Some("did you mean `memory`?"));
    }

    #[test]
    fn reports_every_unknown_key_not_just_the_first() {
        let found = keys_of("[app]\nnmae = \"a\"\n[stages.prod]\ntimout = 3\nfoo = 1\n");
        let messages: Vec<_> = found.iter().map(|f| f.0.as_str()).collect();
        assert!(messages.contains(&"unknown key `nmae` in [app]"));
        assert!(messages.contains(&"unknown key `timout` in [stages.prod]"));
        assert!(messages.contains(&"unknown key `foo` in [stages.prod]"));
    }

    #[test]
    fn points_a_misplaced_key_to_its_table() {
        let found = keys_of("memory = 3\n[app]\nname = \"a\"\n");
        assert_eq!(found[0].1.as_deref(), Some("`memory` belongs in [app]"));
    }

    #[test]
    fn name_is_not_a_stage_key() {
        let found = keys_of("[app]\nname = \"a\"\n[stages.dev]\nname = \"b\"\n");
        assert_eq!(found[0].0, "unknown key `name` in [stages.dev]");
    }
}
