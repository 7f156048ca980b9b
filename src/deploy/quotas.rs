//! API Gateway's quotas that a stage's route table can exceed, counted
//! before anything is written: resources (every path and each of its
//! prefixes) and authorizers per REST API, and the size of the OpenAPI
//! definition one import takes. On AWS an import over a quota fails half
//! way through a deploy; slx says so first, with the count, AWS's name
//! of the quota and how to raise it.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html>
//!
//! Pure: counts a resolved project. Never reads AWS (what the account has
//! had raised comes from slx.toml's `raised_quotas`).

use std::collections::BTreeSet;

use crate::config::{Project, limits};

/// One quota the stage would exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverQuota {
    /// AWS's name of the quota: `Resources per API`.
    pub(crate) name: &'static str,
    /// slx.toml's key for a raised one; `None`: AWS does not raise it.
    pub(crate) key: Option<&'static str>,
    pub(crate) used: usize,
    pub(crate) limit: usize,
    /// What the count is of: `resources`.
    pub(crate) counted: &'static str,
    /// How to need less: `fewer routes or path levels`.
    pub(crate) fewer: &'static str,
}

impl OverQuota {
    /// The problem and its fix, in one line.
    pub(crate) fn describe(&self) -> String {
        let fewer = self.fewer;
        let fix = match self.key {
            Some(key) => format!(
                "{fewer}, or have the quota raised (Service Quotas: API Gateway, \"{}\"; per API, on request) and set `raised_quotas = {{ {key} = N }}` in slx.toml",
                self.name
            ),
            None => format!("{fewer}: AWS does not raise this quota"),
        };
        format!(
            "the REST API would have {} {}, over API Gateway's quota \"{}\" of {}: {fix}",
            self.used, self.counted, self.name, self.limit
        )
    }
}

/// The REST API's resources for `project`'s routes: the root and every
/// prefix of every path (`/rN/items/{id}` is three besides the root).
pub(crate) fn resources(project: &Project) -> usize {
    let mut paths: BTreeSet<Vec<String>> = BTreeSet::new();
    for route in &project.routes {
        let parts: Vec<String> = route
            .path
            .segments
            .iter()
            .map(|segment| segment.path_part())
            .collect();
        for length in 1..=parts.len() {
            paths.insert(parts[..length].to_vec());
        }
    }
    paths.len() + 1
}

/// What the raisable quota `key` counts in `project`: the count, what it
/// counts and how to need less. `None` for a key this module does not
/// count (none: a test keeps `limits::RAISABLE_API_QUOTAS` and this equal).
fn usage(project: &Project, key: &str) -> Option<(usize, &'static str, &'static str)> {
    match key {
        "resources_per_api" => Some((
            resources(project),
            "resources",
            "fewer routes or path levels",
        )),
        "authorizers_per_api" => Some((
            project.authorizers.len(),
            "authorizers",
            "fewer authorizers",
        )),
        _ => None,
    }
}

/// Every quota `project` would exceed, with `definition_bytes` the size of
/// the OpenAPI document it imports (when known).
pub(crate) fn over(project: &Project, definition_bytes: Option<usize>) -> Vec<OverQuota> {
    let mut found: Vec<OverQuota> = limits::RAISABLE_API_QUOTAS
        .iter()
        .filter_map(|&(key, name, default)| {
            let limit = project.raised_quotas.get(key).copied().unwrap_or(default) as usize;
            let (used, counted, fewer) = usage(project, key)?;
            (used > limit).then_some(OverQuota {
                name,
                key: Some(key),
                used,
                limit,
                counted,
                fewer,
            })
        })
        .collect();
    if let Some(bytes) = definition_bytes.filter(|b| *b > limits::API_DEFINITION_BYTES) {
        found.push(OverQuota {
            name: "API definition file size",
            key: None,
            used: bytes,
            limit: limits::API_DEFINITION_BYTES,
            counted: "bytes of OpenAPI definition",
            fewer: "fewer routes",
        });
    }
    found
}

/// A deploy that would exceed a quota, refused before its first write.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("stage {stage} is over API Gateway's quotas: {}", over.iter().map(OverQuota::describe).collect::<Vec<_>>().join("; "))]
#[diagnostic(
    code(slx::deploy::quota),
    help("nothing was written; `slx validate` and `slx plan` count the same quotas")
)]
pub(crate) struct OverQuotas {
    pub(crate) stage: String,
    pub(crate) over: Vec<OverQuota>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app of `count` routes `POST /rN/items/{id}`, with `extra` in
    /// `[app]`.
    fn with_routes(count: usize, extra: &str) -> Project {
        let routes: String = (0..count)
            .map(|n| format!("\"POST /r{n}/items/{{id}}\" = \"greet\"\n"))
            .collect();
        let text = format!("[app]\nname = \"shop\"\n{extra}\n[routes]\n{routes}");
        let config = crate::config::parse(std::path::Path::new("slx.toml"), text).unwrap();
        crate::config::resolve(&config, "dev").unwrap()
    }

    #[test]
    fn resources_are_the_root_and_every_prefix_of_every_path() {
        assert_eq!(resources(&with_routes(1, "")), 4);
        // 150 routes of three levels each.
        assert_eq!(resources(&with_routes(150, "")), 451);
    }

    #[test]
    fn a_route_table_over_a_quota_says_so_until_the_quota_is_raised() {
        let over = over(&with_routes(150, ""), None);
        assert_eq!(over.len(), 1, "{over:?}");
        assert_eq!((over[0].used, over[0].limit), (451, 300));
        let said = over[0].describe();
        assert!(said.contains("451 resources"), "{said}");
        assert!(said.contains("\"Resources per API\" of 300"), "{said}");
        assert!(
            said.contains("raised_quotas = { resources_per_api = N }"),
            "{said}"
        );
        let raised = with_routes(150, "raised_quotas = { resources_per_api = 500 }");
        assert_eq!(super::over(&raised, None), vec![]);
        let raised_too_little = with_routes(150, "raised_quotas = { resources_per_api = 450 }");
        assert_eq!(super::over(&raised_too_little, None)[0].limit, 450);
        assert_eq!(super::over(&with_routes(99, ""), None), vec![]);
    }

    #[test]
    fn every_raisable_quota_is_counted() {
        let project = with_routes(1, "");
        for (key, _, _) in limits::RAISABLE_API_QUOTAS {
            assert!(usage(&project, key).is_some(), "{key}");
        }
    }

    #[test]
    fn a_definition_over_six_megabytes_cannot_be_raised() {
        let project = with_routes(1, "");
        assert_eq!(over(&project, Some(limits::API_DEFINITION_BYTES)), vec![]);
        let over = over(&project, Some(limits::API_DEFINITION_BYTES + 1));
        assert_eq!(over[0].key, None);
        assert!(over[0].describe().contains("AWS does not raise"));
    }
}
