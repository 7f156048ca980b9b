//! `slx promote` through the real binary and the simulator (which serves
//! each version's zip at the code location `GetFunction` answers, as
//! Lambda does): the exact bytes a stage serves reach another stage.

use slx_sim::Behaviours;

use crate::common::moto::Moto;
use crate::common::stage::{Project, sha_of, zips};
use crate::common::stdout_json;

#[test]
fn promote_deploys_the_bytes_another_stage_serves_with_the_targets_settings() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (_sim, project) = Project::behind_simulator(&moto, Behaviours::default());
    project.deploy("staging", &zips().v2);

    let output = project.slx(&["promote", "--from", "staging", "--to", "prod"]);
    assert!(output.status.success(), "promote failed");
    let report = stdout_json(&output);
    assert_eq!(report["stage"], "prod");
    assert_eq!(report["code_sha256"], sha_of(&zips().v2), "the same bytes");
    assert_eq!(report["changed"], true);
    assert_eq!(report["checks"]["failed"], 0, "prod's checks ran: {report}");
    // Prod's own settings: [stages.prod] greets with "hi", has 512 MB.
    let answer = project.greet("prod", "sim");
    assert!(
        answer["body"].as_str().unwrap().contains("hi, dear sim!"),
        "{answer}"
    );
    let status = stdout_json(&project.slx(&["status", "--stage", "prod"]));
    assert_eq!(status["memory"], 512);
    let versions = stdout_json(&project.slx(&["versions", "--stage", "prod"]));
    let description = versions["versions"][0]["description"].as_str().unwrap();
    assert!(
        description.contains("promoted from staging version 1: slx "),
        "{description}"
    );

    // Promoting again changes nothing; it says what it promotes first.
    let again = stdout_json(&project.slx(&["promote", "--from", "staging", "--to", "prod"]));
    assert_eq!(again["changed"], false, "{again}");
    let output = project.slx(&[
        "promote", "--from", "staging", "--to", "prod", "--output", "text",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "promoting shop-staging version 1 (slx {} from ",
            env!("CARGO_PKG_VERSION")
        )),
        "says what it promotes: {stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("is up to date"));

    // Refusals, before anything is downloaded or written.
    let refused = |args: &[&str], expected: &str| {
        let output = project.slx(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    };
    refused(
        &["promote", "--from", "qa", "--to", "prod"],
        "stage qa is not deployed",
    );
    refused(
        &["promote", "--from", "prod", "--to", "prod"],
        "`--from` and `--to` are both `prod`",
    );
    project.edit("memory = 512", "memory = 512\narch = \"arm64\"");
    refused(
        &["promote", "--from", "staging", "--to", "prod"],
        "stage staging runs x86_64 code; stage prod is arm64",
    );
}
