//! The environment a handler process gets locally: what Lambda sets for a
//! `provided.al2023` function, then the stage's `[env]`, then (so handlers
//! can reach AWS from a laptop) the developer's own AWS credentials.
//!
//! Pure apart from reading the developer's environment, which is passed in.

use crate::config::{EventFunction, Project};

/// Lambda's variables for the stage's HTTP function (or, given `event`,
/// that event handler's function), the stage's env, and pass-through.
pub fn lambda_env(
    project: &Project,
    event: Option<&EventFunction>,
    region: &str,
    host: &[(String, String)],
) -> Vec<(String, String)> {
    let names = project.names();
    let (name, memory) = match event {
        Some(event) => (names.event_function(&event.handler.name), event.memory_mb),
        None => (names.function.clone(), project.memory),
    };
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            crate::names::log_group_of(&name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "slx-dev".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        (
            "AWS_EXECUTION_ENV".into(),
            "AWS_Lambda_provided.al2023".into(),
        ),
        ("AWS_REGION".into(), region.into()),
        ("AWS_DEFAULT_REGION".into(), region.into()),
        ("LAMBDA_TASK_ROOT".into(), "/var/task".into()),
        ("LAMBDA_RUNTIME_DIR".into(), "/var/runtime".into()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
    ];
    env.extend(project.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    match event {
        Some(event) => env.extend(crate::contract::handler_env::event_env(&event.handler)),
        // The API's function adds CORS headers as the deployed one does.
        None => env.extend(crate::cors::handler_env(
            project.cors.as_ref(),
            &project.routes,
        )),
    }
    env.extend(crate::contract::handler_env::secrets_env(&project.secrets));
    const PASS_THROUGH: [&str; 8] = [
        "PATH",
        "HOME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "RUST_BACKTRACE",
    ];
    for (key, value) in host {
        if PASS_THROUGH.contains(&key.as_str()) && !env.iter().any(|(k, _)| k == key) {
            env.push((key.clone(), value.clone()));
        }
    }
    env
}

/// The developer's own secret values for local runs, `.slx/secrets.toml`
/// (`NAME = "value"`; `slx init`'s `.gitignore` keeps `.slx/` out of git).
/// None when the file does not exist.
pub fn local_secret_values(
    app_dir: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let path = app_dir.join(crate::handler::WORK_DIR).join("secrets.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            format!(
                "{} is not a table of NAME = \"value\" ({}); the handler fetches every secret itself",
                path.display(),
                e.message()
            )
        }),
        Err(_) => Ok(Default::default()),
    }
}

/// `env` with the secrets `values` has set directly and left out of
/// what the handler fetches; the rest it fetches with the developer's
/// credentials, as the deployed handler does with its role's.
pub fn with_local_secrets(
    mut env: Vec<(String, String)>,
    values: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let var = crate::contract::handler_env::SECRETS_VAR;
    let Some(position) = env.iter().position(|(name, _)| name == var) else {
        return env;
    };
    let (_, list) = env.remove(position);
    let mut fetched = Vec::new();
    for line in list.lines() {
        match line.split_once('=') {
            Some((name, _)) if values.contains_key(name) => {
                env.push((name.to_string(), values[name].clone()));
            }
            _ => fetched.push(line),
        }
    }
    if !fetched.is_empty() {
        env.push((var.to_string(), fetched.join("\n")));
    }
    env
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn lambda_variables_then_stage_env_then_credentials() {
        let project = Project {
            app: "shop".into(),
            stage: "dev".into(),
            settings: crate::config::Resolved {
                memory: 256,
                timeout: 3,
                log_retention_days: 14,
                ..Default::default()
            },
            binary_media_types: vec![],
            usage_plan: None,
            authorizers: vec![],
            serves_cors: false,
            env: BTreeMap::from([("GREETING".into(), "hi".into())]),
            routes: vec![],
            router: None,
            permissions: vec![],
            checks: vec![],
            events: vec![],
            secrets: vec![],
            fetches_secrets: false,
        };
        let host = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIA".to_string()),
            ("SECRET_OF_MINE".to_string(), "x".to_string()),
        ];
        let env = lambda_env(&project, None, "eu-west-1", &host);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("shop-dev"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
        assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
        assert_eq!(get("GREETING"), Some("hi"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKIA"));
        assert_eq!(
            get("SECRET_OF_MINE"),
            None,
            "only AWS credentials and PATH/HOME pass"
        );
    }

    #[test]
    fn local_secret_values_replace_fetching_only_for_their_names() {
        let env = vec![
            ("GREETING".to_string(), "hi".to_string()),
            (
                "SLX_SECRETS".to_string(),
                "DB=ssm:/shop/db\nTOKEN=secretsmanager:shop/token".to_string(),
            ),
        ];
        let values = std::collections::BTreeMap::from([("DB".to_string(), "local-pw".to_string())]);
        let env = with_local_secrets(env, &values);
        assert!(env.contains(&("DB".into(), "local-pw".into())));
        assert!(env.contains(&(
            "SLX_SECRETS".into(),
            "TOKEN=secretsmanager:shop/token".into()
        )));
        let all = std::collections::BTreeMap::from([
            ("DB".to_string(), "a".to_string()),
            ("TOKEN".to_string(), "b".to_string()),
        ]);
        let env = with_local_secrets(
            vec![(
                "SLX_SECRETS".into(),
                "DB=ssm:/shop/db\nTOKEN=secretsmanager:t".into(),
            )],
            &all,
        );
        assert!(
            !env.iter().any(|(name, _)| name == "SLX_SECRETS"),
            "{env:?}"
        );
    }
}
