//! Which credentials and region slx uses, through the real binary with an
//! AWS config file written by the test: `--region`, then slx.toml's
//! `region`, then the profile's or `AWS_REGION`; `--profile`, then
//! `AWS_PROFILE`, then the stage's `profile` (docs/config.md).

use std::path::Path;

use crate::common::moto::Moto;
use crate::common::run;
use crate::common::stage::{Project, zips};

const CONFIG: &str = "[default]\nregion = us-west-1\n\n[profile team]\nregion = eu-west-2\n";
const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIADEFAULTKEY\naws_secret_access_key = default-secret\n\n[team]\naws_access_key_id = AKIATEAMKEY\naws_secret_access_key = team-secret\n";

/// The access key and region that signed `slx status`'s Lambda calls.
fn signer(
    project: &Project,
    moto: &Moto,
    files: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (String, String) {
    let mut command = project.command(&[&["status", "--stage", "dev"], args].concat());
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", files.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", files.join("credentials"));
    for (name, value) in env {
        command.env(name, value);
    }
    moto.start_recording();
    let output = run(&mut command);
    assert!(output.status.success());
    let calls = moto.recorded();
    let signed: std::collections::BTreeSet<(String, String)> = calls
        .iter()
        .filter(|call| call.service == "lambda")
        .map(|call| {
            // Credential=KEY/20261127/REGION/lambda/aws4_request
            let authorization = call.headers["Authorization"].as_str().unwrap();
            let scope: Vec<&str> = authorization
                .split("Credential=")
                .nth(1)
                .unwrap()
                .split('/')
                .collect();
            (scope[0].to_string(), scope[2].to_string())
        })
        .collect();
    assert_eq!(
        signed.len(),
        1,
        "one key and region for every call: {signed:?}"
    );
    signed.into_iter().next().unwrap()
}

#[test]
fn region_and_profile_precedence_with_a_real_config_file() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("config"), CONFIG).unwrap();
    std::fs::write(files.path().join("credentials"), CREDENTIALS).unwrap();
    let files = files.path();
    let pair = |key: &str, region: &str| (key.to_string(), region.to_string());

    // Nothing chosen: the default profile's key and region.
    assert_eq!(
        signer(&project, &moto, files, &[], &[]),
        pair("AKIADEFAULTKEY", "us-west-1")
    );
    // AWS_REGION beats the profile's region.
    assert_eq!(
        signer(&project, &moto, files, &[], &[("AWS_REGION", "ap-south-1")]),
        pair("AKIADEFAULTKEY", "ap-south-1")
    );
    // A named profile: its key and its region, from the flag or AWS_PROFILE.
    assert_eq!(
        signer(&project, &moto, files, &["--profile", "team"], &[]),
        pair("AKIATEAMKEY", "eu-west-2")
    );
    assert_eq!(
        signer(&project, &moto, files, &[], &[("AWS_PROFILE", "team")]),
        pair("AKIATEAMKEY", "eu-west-2")
    );
    // slx.toml's region beats the profile and AWS_REGION; --region beats it.
    project.edit("timeout = 10", "timeout = 10\nregion = \"ca-central-1\"");
    assert_eq!(
        signer(
            &project,
            &moto,
            files,
            &["--profile", "team"],
            &[("AWS_REGION", "ap-south-1")]
        ),
        pair("AKIATEAMKEY", "ca-central-1")
    );
    assert_eq!(
        signer(&project, &moto, files, &["--region", "sa-east-1"], &[]),
        pair("AKIADEFAULTKEY", "sa-east-1")
    );
    // The stage's `profile` is used unless --profile or AWS_PROFILE names one.
    project.edit(
        "[stages.prod]",
        "[stages.dev]\nprofile = \"team\"\n\n[stages.prod]",
    );
    assert_eq!(
        signer(&project, &moto, files, &[], &[]),
        pair("AKIATEAMKEY", "ca-central-1")
    );
    assert_eq!(
        signer(&project, &moto, files, &["--profile", "default"], &[]),
        pair("AKIADEFAULTKEY", "ca-central-1")
    );
    assert_eq!(
        signer(&project, &moto, files, &[], &[("AWS_PROFILE", "default")]),
        pair("AKIADEFAULTKEY", "ca-central-1")
    );
}

/// `[app] description` (a stage may override it) is what the stage's
/// functions and API say they are, beside slx's own words; changing it
/// updates them (a version is published: a configuration change), and
/// the next deploy has nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_description_is_shown_on_the_function_and_the_api() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    let aws = crate::common::stage::aws(&moto).await;
    let described = async |text: &str| {
        let function = crate::common::stage::latest_config(&aws, "shop-dev").await;
        assert_eq!(
            function.description(),
            Some(format!("{text} (slx app shop stage dev)").as_str())
        );
        let apis = crate::common::stage::apis_named(&aws, "shop-dev").await;
        let api = apis[0].description().unwrap_or_default().to_string();
        assert!(
            api.starts_with(&format!(
                "{text} (slx app shop stage dev); definition sha256:"
            )),
            "{api}"
        );
    };
    project.edit(
        "timeout = 10 ",
        "timeout = 10\ndescription = \"Orders API of the shop\" ",
    );
    project.deploy("dev", &zips().v1);
    described("Orders API of the shop").await;

    project.edit(
        "[stages.prod]",
        "[stages.dev]\ndescription = \"Orders API (try it here)\"\n\n[stages.prod]",
    );
    let changed = project.deploy("dev", &zips().v1);
    assert_eq!(
        crate::common::stage::steps(&changed),
        [
            "update_config",
            "publish_and_point_alias",
            "set_routes",
            "deploy_api"
        ]
    );
    described("Orders API (try it here)").await;
    let again = project.deploy("dev", &zips().v1);
    assert_eq!(again["changed"], false, "{again}");
}

/// `minimum_compression_size` (a stage may set its own) is the REST API's
/// compression threshold, set after the import and deployed; removing it
/// clears it on the API, and an unchanged one changes nothing. An
/// out-of-range value is refused at its line.
#[tokio::test(flavor = "multi_thread")]
async fn a_compression_threshold_is_set_on_the_api_and_cleared() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let project = Project::new(&moto);
    // A deploy after `edit`: its steps, and the compression patches of
    // its UpdateRestApi calls.
    let deploy_after = |edit: Option<(&str, &str)>| {
        if let Some((from, to)) = edit {
            project.edit(from, to);
        }
        moto.start_recording();
        let report = project.deploy("dev", &zips().v1);
        let set: Vec<serde_json::Value> = moto
            .recorded()
            .into_iter()
            .filter(|r| r.action.starts_with("PATCH /restapis/"))
            .flat_map(|r| {
                let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                body["patchOperations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter(|op| op["path"] == "/minimumCompressionSize")
            .collect();
        (crate::common::stage::steps(&report), set)
    };
    let replaced = |value: &str| {
        let op = serde_json::json!({ "op": "replace", "path": "/minimumCompressionSize", "value": value });
        (
            vec!["set_routes".to_string(), "deploy_api".to_string()],
            vec![op],
        )
    };

    let (_, set) = deploy_after(Some((
        "timeout = 10 ",
        "timeout = 10\nminimum_compression_size = 1024 ",
    )));
    assert_eq!(set, replaced("1024").1);
    let stage_own = (
        "[stages.prod]",
        "[stages.dev]\nminimum_compression_size = 0\n\n[stages.prod]",
    );
    assert_eq!(deploy_after(Some(stage_own)), replaced("0"));
    assert_eq!(deploy_after(None), (vec![], vec![]));
    assert_eq!(
        deploy_after(Some(("minimum_compression_size = 0\n", ""))),
        replaced("1024")
    );
    assert_eq!(
        deploy_after(Some(("minimum_compression_size = 1024 ", ""))),
        replaced("")
    );

    project.edit(
        "timeout = 10",
        "timeout = 10\nminimum_compression_size = 20000000",
    );
    let refused = project.slx(&["validate", "--output", "text"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("`minimum_compression_size` = 20000000 is out of range"),
        "{said}"
    );
    assert!(
        said.contains("use a value from 0 to 10485760 bytes"),
        "{said}"
    );
    assert!(said.contains("slx.toml:"), "{said}");
}
