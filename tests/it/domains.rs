//! Custom domains (`[stages.NAME.domain]`) through the simulator: a
//! domain slx creates (tagged, regional, TLS 1.2), its base path mapping
//! and Route 53 alias record, and a domain someone else made, on which
//! slx only adds and removes its own mapping.

use std::collections::BTreeSet;

use crate::common::moto::Moto;
use crate::common::stage::{Project, aws, zips};
use crate::common::stdout_json;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn route53(moto: &Moto) -> aws_sdk_route53::Client {
    let config = aws_sdk_route53::Config::builder()
        .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
        .region(aws_sdk_route53::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_route53::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_route53::Client::from_conf(config)
}

const CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-aaaa-bbbb-cccc-1234567890ab";

async fn mappings(
    aws: &crate::common::stage::Aws,
    domain: &str,
) -> BTreeSet<(String, String, String)> {
    aws.apigateway
        .get_base_path_mappings()
        .domain_name(domain)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|m| {
            (
                m.base_path().unwrap_or_default().to_string(),
                m.rest_api_id().unwrap_or_default().to_string(),
                m.stage().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_gets_its_domain_mapping_and_dns_record_and_leaves_others_alone() {
    let _timing = crate::common::timing();
    let moto = Moto::start();
    let (sim, project) = Project::behind_simulator(&moto, slx_sim::Behaviours::default());
    let aws = aws(&moto).await;
    let dns = route53(&moto);
    let zone = dns
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference("slx-test")
        .send()
        .await
        .unwrap();
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();

    // A certificate of another region: refused before any write (the
    // stage's region comes from the environment, not slx.toml).
    let elsewhere = CERTIFICATE.replace("us-east-1", "eu-west-1");
    project.edit(
        "[stages.prod]",
        &format!(
            "[stages.dev.domain]\nname = \"api.example.com\"\ncertificate = \"{elsewhere}\"\nbase_path = \"v1\"\nhosted_zone = \"{zone_id}\"\n\n[stages.prod]"
        ),
    );
    moto.start_recording();
    let refused = project.deploy_output("dev", &zips().v1, &[]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(
            "the certificate of api.example.com is in eu-west-1, the stage deploys to us-east-1"
        ),
        "{}",
        stderr(&refused)
    );
    assert_eq!(moto.writes(), Vec::<String>::new());
    project.edit(&elsewhere, CERTIFICATE);

    let report = project.deploy("dev", &zips().v1);
    let domain = &report["custom_domain"];
    assert_eq!(domain["url"], "https://api.example.com/v1", "{report}");
    let target = domain["dns_target"].as_str().unwrap().to_string();
    assert!(target.contains(".execute-api."), "{target}");
    let api_id = report["rest_api_id"].as_str().unwrap().to_string();
    let made = aws
        .apigateway
        .get_domain_name()
        .domain_name("api.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(made.tags().unwrap()["slx:stage"], "dev");
    assert_eq!(made.regional_certificate_arn(), Some(CERTIFICATE));
    assert_eq!(made.security_policy().map(|p| p.as_str()), Some("TLS_1_2"));
    assert_eq!(
        mappings(&aws, "api.example.com").await,
        BTreeSet::from([("v1".to_string(), api_id.clone(), "dev".to_string())])
    );
    let records = dns
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    let alias = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "api.example.com.")
        .and_then(|r| r.alias_target())
        .expect("an alias record");
    assert_eq!(alias.dns_name().trim_end_matches('.'), target);

    // Nothing to do the second time; status shows the custom URL.
    moto.start_recording();
    assert_eq!(project.deploy("dev", &zips().v1)["changed"], false);
    assert_eq!(moto.writes(), Vec::<String>::new());
    let status = stdout_json(&project.slx(&["status", "--stage", "dev"]));
    assert_eq!(status["custom_domain"]["url"], "https://api.example.com/v1");

    // Someone else's domain, one of whose base paths serves the dev API.
    aws.apigateway
        .create_domain_name()
        .domain_name("shared.example.com")
        .regional_certificate_arn(CERTIFICATE)
        .send()
        .await
        .unwrap();
    aws.apigateway
        .create_base_path_mapping()
        .domain_name("shared.example.com")
        .base_path("legacy")
        .rest_api_id(&api_id)
        .stage("dev")
        .send()
        .await
        .unwrap();
    project.edit(
        "[stages.prod]",
        "[stages.prod]\ndomain = { name = \"shared.example.com\", certificate = \"CERT\", base_path = \"legacy\" }\n",
    );
    project.edit("\"CERT\"", &format!("\"{CERTIFICATE}\""));
    moto.start_recording();
    let taken = project.deploy_output("prod", &zips().v1, &[]);
    assert!(!taken.status.success());
    assert!(
        stderr(&taken).contains(&format!(
            "https://shared.example.com/legacy already serves REST API {api_id} (stage dev)"
        )),
        "{}",
        stderr(&taken)
    );
    assert_eq!(moto.writes(), Vec::<String>::new());
    project.edit("base_path = \"legacy\"", "base_path = \"shop\"");
    let plan = project.slx(&[
        "plan",
        "--stage",
        "prod",
        "--zip",
        zips().v1.to_str().unwrap(),
        "--output",
        "text",
    ]);
    let text = format!("{}{}", String::from_utf8_lossy(&plan.stdout), stderr(&plan));
    assert!(
        text.contains("map https://shared.example.com/shop to the stage (shared.example.com is not slx's: only this mapping is)"),
        "{text}"
    );
    let prod = project.deploy("prod", &zips().v1);
    let prod_api = prod["rest_api_id"].as_str().unwrap().to_string();
    assert_eq!(
        mappings(&aws, "shared.example.com").await,
        BTreeSet::from([
            ("legacy".to_string(), api_id.clone(), "dev".to_string()),
            ("shop".to_string(), prod_api, "prod".to_string()),
        ])
    );
    let undeployed = project.slx(&["undeploy", "--stage", "prod", "--yes"]);
    assert!(undeployed.status.success(), "{}", stderr(&undeployed));
    // Its mapping gone; the domain and its other mapping untouched.
    assert_eq!(
        mappings(&aws, "shared.example.com").await,
        BTreeSet::from([("legacy".to_string(), api_id.clone(), "dev".to_string())])
    );

    // Undeploy dev: its mappings, its domain and record go. The dev API's
    // mapping on the shared domain is the stage's too.
    let undeployed = project.slx(&["undeploy", "--stage", "dev", "--yes"]);
    assert!(undeployed.status.success(), "{}", stderr(&undeployed));
    let domains: Vec<String> = aws
        .apigateway
        .get_domain_names()
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .filter_map(|d| d.domain_name().map(str::to_string))
        .collect();
    assert_eq!(domains, ["shared.example.com"]);
    assert!(mappings(&aws, "shared.example.com").await.is_empty());
    let records = dns
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    assert!(
        !records
            .resource_record_sets()
            .iter()
            .any(|r| r.name() == "api.example.com."),
        "the alias record is gone"
    );

    // Every call made is in `slx iam-policy`.
    crate::fidelity::assert_iam_policy_covers(&project, &sim, "dev");
}
