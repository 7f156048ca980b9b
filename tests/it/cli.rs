//! The CLI of the foundation: init, validate, completions, version.

use crate::common::{run, scaffold, slx, stdout_json};

#[test]
fn init_then_validate_succeeds_with_a_summary() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir).arg("validate"));
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("app `shop`, 3 routes, stages: prod"),
        "{text}"
    );
}

#[test]
fn init_refuses_to_overwrite_and_names_the_files() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir).arg("init"));
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("refusing to overwrite 5 existing files"),
        "{text}"
    );
    assert!(text.contains("slx.toml"));
}

#[test]
fn validate_points_at_a_misspelt_key_with_the_fix() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let path = dir.join("slx.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("memory = 256", "memroy = 256")).unwrap();
    let output = run(slx(&dir).arg("validate"));
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("slx.toml:5:1"), "{err}");
    assert!(err.contains("unknown key `memroy` in [app]"), "{err}");
    assert!(err.contains("did you mean `memory`?"), "{err}");
    assert!(err.contains("memroy = 256"), "quotes the line: {err}");

    let output = run(slx(&dir).args(["validate", "--output", "json"]));
    assert_eq!(output.status.code(), Some(1));
    let report = stdout_json(&output);
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["line"], 5);
    assert_eq!(report["errors"][0]["key"], "memroy");
}

#[test]
fn validate_resolves_a_named_stage() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let output = run(slx(&dir).args(["validate", "--stage", "Bad_Stage"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid stage name `Bad_Stage`"));
}

#[test]
fn validate_outside_a_project_says_how_to_start_one() {
    let _timing = crate::common::timing();
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).arg("validate"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("run `slx init`"));
}

#[test]
fn version_and_completions() {
    let _timing = crate::common::timing();
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).arg("--version"));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("slx "));
    for shell in ["bash", "zsh", "fish"] {
        let output = run(slx(temp.path()).args(["completions", shell]));
        assert!(output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("validate"),
            "{shell}"
        );
    }
}

/// The scaffold's own unit tests pass with plain `cargo test`.
#[test]
fn scaffold_tests_pass_with_cargo_test() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let output = run(std::process::Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&dir)
        .env(
            "CARGO_TARGET_DIR",
            crate::common::shared_target_dir().join("scaffold"),
        ));
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("4 passed"));
}

#[test]
fn init_takes_a_path_and_names_the_app_after_its_last_part() {
    let _timing = crate::common::timing();
    let temp = tempfile::tempdir().unwrap();
    let output = run(slx(temp.path()).args(["init", "apps/shop"]));
    assert!(output.status.success());
    let config = std::fs::read_to_string(temp.path().join("apps/shop/slx.toml")).unwrap();
    assert!(config.contains("name = \"shop\""), "{config}");
    let manifest = std::fs::read_to_string(temp.path().join("apps/shop/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"shop\""), "{manifest}");
}

#[test]
fn slx_toml_is_found_in_a_parent_directory_or_named_with_config() {
    let _timing = crate::common::timing();
    let (temp, dir) = scaffold("shop");
    let output = run(slx(&dir.join("src")).arg("validate"));
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("app `shop`"));
    let config = dir.join("slx.toml");
    let output = run(slx(temp.path()).args(["--config", config.to_str().unwrap(), "validate"]));
    assert!(output.status.success());
    let output = run(slx(temp.path()).args(["--config", "nowhere/slx.toml", "validate"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere/slx.toml"));
}

#[test]
fn color_is_off_unless_asked_and_on_when_asked() {
    let _timing = crate::common::timing();
    let (_temp, dir) = scaffold("shop");
    let path = dir.join("slx.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("memory = 256", "memroy = 256")).unwrap();
    let stderr = |args: &[&str]| {
        let output = run(slx(&dir).args(args).env_remove("NO_COLOR"));
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Not a terminal: plain, whatever the default.
    assert!(!stderr(&["validate"]).contains('\u{1b}'));
    assert!(!stderr(&["--color", "never", "validate"]).contains('\u{1b}'));
    assert!(stderr(&["--color", "always", "validate"]).contains("\u{1b}["));
}

#[test]
fn a_wrong_command_line_exits_64_and_help_lists_every_exit_code() {
    let _timing = crate::common::timing();
    let dir = tempfile::tempdir().unwrap();
    let output = run(slx(dir.path()).args(["deploy", "--no-such-flag"]));
    assert_eq!(
        output.status.code(),
        Some(64),
        "not 2: that means `changed`"
    );
    let help = run(slx(dir.path()).arg("--help"));
    assert_eq!(help.status.code(), Some(0));
    // Compared with its lines unwrapped (help wraps at the terminal).
    let text = String::from_utf8_lossy(&help.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for exit in slx::exit::Exit::ALL {
        assert!(
            text.contains(&format!("{} {}", exit.code(), exit.meaning())),
            "{text}"
        );
    }
}

#[test]
fn doctor_names_the_deployer_and_each_stage_account_with_fixes() {
    let _timing = crate::common::timing();
    let moto = crate::common::moto::Moto::start();
    let (_temp, dir) = scaffold("shop");
    let config = dir.join("slx.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "[stages.prod]",
            "[stages.dev]\naccount = \"999999999999\"\n\n[stages.prod]\naccount = \"123456789012\"",
        ),
    )
    .unwrap();
    let doctor = |creds: bool| {
        let mut command = slx(&dir);
        command
            .args(["doctor", "--output", "json", "--stage", "prod"])
            .args(["--endpoint-url", &moto.endpoint])
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", dir.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
            .env_remove("AWS_PROFILE");
        if creds {
            command
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        } else {
            command
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN");
        }
        run(&mut command)
    };
    let check = |report: &serde_json::Value, name: &str| -> serde_json::Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no check `{name}`: {report}"))
    };
    let output = doctor(true);
    let report = stdout_json(&output);
    crate::common::assert_documented("slx doctor", &report);
    assert_eq!(check(&report, "cargo")["status"], "ok");
    let credentials = check(&report, "AWS credentials");
    assert_eq!(credentials["status"], "ok");
    assert!(
        credentials["detail"]
            .as_str()
            .unwrap()
            .contains("account 123456789012")
    );
    assert_eq!(check(&report, "AWS region")["detail"], "us-east-1");
    assert_eq!(check(&report, "stage prod")["status"], "ok");
    let dev = check(&report, "stage dev");
    assert_eq!(dev["status"], "fail");
    assert!(dev["fix"].as_str().unwrap().contains("--profile"), "{dev}");
    // A failed check fails the command.
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["ok"], false);

    // No credentials at all: said, with what to do.
    let report = stdout_json(&doctor(false));
    let credentials = check(&report, "AWS credentials");
    assert_eq!(credentials["status"], "fail", "{report}");
    assert!(credentials["fix"].as_str().is_some_and(|f| !f.is_empty()));

    // A broken slx.toml is a failed check, not a missing one.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("memory = 256", "memroy = 256")).unwrap();
    let report = stdout_json(&doctor(true));
    let toml = check(&report, "slx.toml");
    assert_eq!(toml["status"], "fail", "{report}");
    assert!(toml["fix"].as_str().unwrap().contains("slx validate"));
}

#[test]
fn the_man_page_renders_every_command() {
    let _timing = crate::common::timing();
    let dir = tempfile::tempdir().unwrap();
    let output = run(slx(dir.path()).arg("man"));
    assert!(output.status.success());
    let page = String::from_utf8_lossy(&output.stdout);
    // A roff page: its title line and the sections man shows.
    assert!(page.contains(".TH slx 1"), "{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no {section}: {page}");
    }
    for command in ["deploy", "keys", "doctor", "undeploy"] {
        assert!(page.contains(command), "no `{command}` in the man page");
    }
}
