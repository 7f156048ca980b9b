//! The scaffold's README, section "Going to production": its slx.toml
//! additions are applied as a user would paste them, and then work
//! locally (`slx dev --trust-jwt`: CORS, the key, the token) and deploy
//! with `slx deploy --stage prod` (through the simulator: the domain, the
//! keyed and authorized routes, a partner's key).

use std::path::Path;
use std::time::Duration;

use base64::Engine;

use crate::common::moto::Moto;
use crate::common::stage::{Project, zips};
use crate::common::{BUILD_LOCK, scaffold, stdout_json};
use crate::dev::{Dev, send};

/// The ```toml blocks of the README's "Going to production" section.
pub(crate) fn production_blocks(dir: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("the scaffold has a README");
    let section = readme
        .split("## Going to production")
        .nth(1)
        .expect("a \"Going to production\" section");
    section
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

/// slx.toml with the README's tables added and its route lines in place
/// of the scaffold's.
pub(crate) fn as_the_readme_says(slx_toml: &str, blocks: &[String]) -> String {
    assert_eq!(blocks.len(), 2, "tables, then routes: {blocks:#?}");
    let mut text = slx_toml.replace("[routes]", &format!("{}\n[routes]", blocks[0]));
    for line in blocks[1].lines().filter(|l| l.starts_with('"')) {
        let key = line.split(" = ").next().unwrap();
        let old = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("slx.toml has no route {key}"))
            .to_string();
        text = text.replace(&old, line);
    }
    text
}

/// An ID token of the README's example pool (unsigned: `--trust-jwt`).
fn token() -> String {
    let encode = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        encode(serde_json::json!({"alg": "RS256", "kid": "k"})),
        encode(serde_json::json!({
            "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
            "token_use": "id",
            "exp": 4_102_444_800u64,
            "sub": "user-1",
        }))
    )
}

#[test]
fn the_readme_production_setup_works_locally() {
    let _timing = crate::common::timing();
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let (_temp, dir) = scaffold("shop");
    let blocks = production_blocks(&dir);
    let config = dir.join("slx.toml");
    let text = as_the_readme_says(&std::fs::read_to_string(&config).unwrap(), &blocks);
    std::fs::write(&config, text).unwrap();
    let valid = crate::common::run(crate::common::slx(&dir).args(["validate", "--stage", "prod"]));
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );

    let dev = Dev::start_with(&dir, &["--trust-jwt"]);
    let banner = dev
        .lines_until("watching for changes", Duration::from_secs(60))
        .join("\n");
    let key = banner
        .split("API key for routes with api_key = true: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner prints the key")
        .to_string();
    let url = &dev.url;
    // The front end (dev's origin) gets its preflight answered.
    let (status, headers, _) = send(
        "OPTIONS",
        &format!("{url}/greet"),
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(status, 204);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "access-control-allow-origin" && v == "http://localhost:3000"),
        "{headers:?}"
    );
    // Partners need their key.
    let greet = |extra: &[(&str, &str)]| {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend_from_slice(extra);
        send(
            "POST",
            &format!("{url}/greet"),
            &headers,
            Some(br#"{"name":"Ada"}"#),
        )
        .0
    };
    assert_eq!(greet(&[]), 403);
    assert_eq!(greet(&[("x-api-key", &key)]), 200);
    // Orders need a signed-in user.
    let order = |extra: &[(&str, &str)]| {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend_from_slice(extra);
        send(
            "POST",
            &format!("{url}/orders/7"),
            &headers,
            Some(br#"{"item":"tea","quantity":2}"#),
        )
        .0
    };
    assert_eq!(order(&[]), 401);
    assert_eq!(order(&[("authorization", &token())]), 200);
    assert_eq!(send("GET", &format!("{url}/health"), &[], None).0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_production_setup_deploys_to_prod() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    let (_temp, scaffolded) = scaffold("shop");
    let blocks = production_blocks(&scaffolded);
    let config = project.dir.join("slx.toml");
    let text = as_the_readme_says(&std::fs::read_to_string(&config).unwrap(), &blocks);
    std::fs::write(&config, text).unwrap();

    let report = project.deploy("prod", &zips().v1);
    assert_eq!(
        report["custom_domain"]["url"], "https://api.example.com",
        "{report}"
    );
    assert!(
        report["custom_domain"]["dns_target"]
            .as_str()
            .unwrap()
            .contains(".execute-api.us-east-1.")
    );
    let created = stdout_json(&project.slx(&["keys", "create", "partner-a", "--stage", "prod"]));
    assert!(created["value"].as_str().is_some_and(|v| !v.is_empty()));
    let again = project.deploy("prod", &zips().v1);
    assert_eq!(again["changed"], false, "{again}");
}
