//! `slx promote --from staging --to prod`: deploys exactly the code the
//! source stage's alias serves (same CodeSha256, no rebuild) to the target
//! stage, with the target's own configuration, env, checks and canary.
//!
//! The zip comes from Lambda (`GetFunction`'s code location), is checked
//! against the source version's CodeSha256, then goes through `deploy`
//! like a `--zip`; the new version's description names its origin.

use super::{Outcome, deploy, load_config, project_dir, stage};
use crate::aws::{AwsError, download_code};
use crate::cli::{DeployArgs, GlobalArgs, PromoteArgs};
use crate::config::{self, Arch};
use crate::handler;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum PromoteError {
    #[error("`--from` and `--to` are both `{0}`")]
    #[diagnostic(
        code(slx::promote::same_stage),
        help("promote moves code between two stages, e.g. --from staging --to prod")
    )]
    SameStage(String),
    #[error("stage {stage} is not deployed: there is nothing to promote")]
    #[diagnostic(
        code(slx::promote::nothing),
        help("deploy it first: `slx deploy --stage {stage}`")
    )]
    NotDeployed { stage: String },
    #[error("stage {from} runs {from_arch} code; stage {to} is {to_arch}")]
    #[diagnostic(
        code(slx::promote::arch),
        help(
            "promote moves the exact bytes, which run on one architecture; give both stages the same `arch`, or deploy {to} from source"
        )
    )]
    Arch {
        from: String,
        to: String,
        from_arch: Arch,
        to_arch: Arch,
    },
    #[error(
        "the code downloaded from stage {from} has CodeSha256 {got}, but its version {version} has {expected}"
    )]
    #[diagnostic(
        code(slx::promote::hash),
        help("nothing was deployed; run the command again (the download may have been cut)")
    )]
    Hash {
        from: String,
        version: String,
        got: String,
        expected: String,
    },
    #[error("cannot keep the downloaded code in {path}: {source}")]
    #[diagnostic(code(slx::promote::io))]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Lambda's limit on a version's description.
// https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html
const DESCRIPTION_MAX: usize = 256;

pub(super) async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: PromoteArgs,
) -> miette::Result<Outcome> {
    if args.from == args.to {
        return Err(PromoteError::SameStage(args.from).into());
    }
    let config = load_config(ui, global)?;
    let source = config::resolve(&config, &args.from)?;
    let target = config::resolve(&config, &args.to)?;
    let names = source.names();
    // The source may live in another region or account (its own profile).
    let (reader, _) = stage::connect(ui, global, &source).await?;
    let Some(served) = reader.version_code(&names.function, &names.alias).await? else {
        return Err(PromoteError::NotDeployed { stage: args.from }.into());
    };
    let info = served.info;
    if info.arch != target.arch {
        return Err(PromoteError::Arch {
            from: args.from,
            to: args.to,
            from_arch: info.arch,
            to_arch: target.arch,
        }
        .into());
    }
    let origin = Some(served.description)
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "no description".into());
    ui.step(format!(
        "promoting {} version {} ({origin}) to stage {}",
        names.function, info.version, args.to
    ));
    let zip = download_code(&served.location)
        .await
        .map_err(|e: AwsError| {
            e.in_step(format!(
                "download {} version {}",
                names.function, info.version
            ))
        })?;
    let got = handler::archive::code_sha256(&zip);
    if got != info.code_sha256 {
        return Err(PromoteError::Hash {
            from: args.from,
            version: info.version,
            got,
            expected: info.code_sha256,
        }
        .into());
    }
    let dir = project_dir(&config).join(".slx").join("promote");
    let path = dir.join(format!("{}-v{}.zip", args.from, info.version));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, &zip))
        .map_err(|source| PromoteError::Io {
            path: path.display().to_string(),
            source,
        })?;
    let release = description(&args.from, &info.version, &origin);
    let deploy = DeployArgs {
        stage: args.to,
        zip: Some(path),
        dry_run: args.dry_run,
        detailed_exitcode: false,
        release: args.release,
    };
    deploy::run_with_release(ui, global, deploy, Some(release)).await
}

/// `slx 0.2.0 promoted from staging version 7: <its description>`, cut to
/// Lambda's limit.
fn description(from: &str, version: &str, origin: &str) -> String {
    let text = format!(
        "slx {} promoted from {from} version {version}: {origin}",
        env!("CARGO_PKG_VERSION")
    );
    match text.char_indices().nth(DESCRIPTION_MAX) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_names_the_source_and_fits_lambdas_limit() {
        let text = description(
            "staging",
            "7",
            "slx 0.1.0 from git abc123 at 2026-11-27T10:00:00Z",
        );
        assert_eq!(
            text,
            format!(
                "slx {} promoted from staging version 7: slx 0.1.0 from git abc123 at 2026-11-27T10:00:00Z",
                env!("CARGO_PKG_VERSION")
            )
        );
        let long = description("staging", "7", &"x".repeat(400));
        assert_eq!(long.chars().count(), DESCRIPTION_MAX);
    }
}
