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
    if let Some(event) = event {
        env.extend(crate::handler::codegen::event_env(&event.handler));
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Arch;

    #[test]
    fn lambda_variables_then_stage_env_then_credentials() {
        let project = Project {
            app: "shop".into(),
            stage: "dev".into(),
            arch: Arch::X86_64,
            memory: 256,
            timeout: 3,
            region: None,
            account: None,
            profile: None,
            log_retention_days: 14,
            keep_versions: 10,
            throttle: None,
            concurrency: None,
            canary: None,
            ephemeral_storage: 512,
            layers: vec![],
            tracing: false,
            vpc: None,
            provisioned_concurrency: None,
            env: BTreeMap::from([("GREETING".into(), "hi".into())]),
            routes: vec![],
            router: None,
            permissions: vec![],
            checks: vec![],
            events: vec![],
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
}
