//! The command line: clap definitions only. Doc comments are the `--help`
//! text. Parsing here never touches the filesystem or AWS.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ui::{ColorChoice, OutputFormat};

/// Deploy Rust web backends to AWS Lambda behind API Gateway.
///
/// Guides: docs/ in the slx repository (config.md, handlers.md, deploy.md, dev.md).
#[derive(Debug, Parser)]
#[command(
    name = "slx",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = crate::exit::Exit::help_table()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// AWS profile to use (from ~/.aws/config; SSO profiles work).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region; overrides slx.toml's `region` and the profile's.
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (e.g. a local moto server).
    #[arg(long, global = true, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Allow a plain-http `--endpoint-url` to a host that is not this
    /// machine (every request body and signature would cross the network
    /// unencrypted).
    #[arg(long, global = true)]
    pub insecure_endpoint: bool,
    /// Path to slx.toml [default: the nearest one in this or a parent directory].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Output format of the result.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More detail on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new app: slx.toml, a handler crate and its tests.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Check slx.toml and report every problem with its line.
    Validate(ValidateArgs),
    /// Compile the handler into a zipped `bootstrap` for Lambda.
    Build(BuildArgs),
    /// Serve the API locally: the real handler binary behind a local API Gateway, with reload.
    Dev(DevArgs),
    /// Show what `slx deploy` would change, without changing anything.
    Plan(DeployArgs),
    /// Build, then create or update the stage's function and REST API.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Deploy(DeployArgs),
    /// Show what is deployed for a stage and whether it matches local.
    Status(StatusArgs),
    /// Send one request through the deployed stage (Lambda Invoke, API Gateway's event shape).
    #[command(after_help = INVOKE_EXAMPLES)]
    Invoke(InvokeArgs),
    /// Show the stage's logs (CloudWatch), oldest first; `-f` to follow.
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(LogsArgs),
    /// Remove everything a stage owns in AWS.
    Undeploy(UndeployArgs),
    /// Point the stage back at an earlier published version (no build, no upload).
    Rollback(RollbackArgs),
    /// Deploy exactly the code one stage serves to another (no rebuild), with the target's own settings and checks.
    Promote(PromoteArgs),
    /// List the stage's published versions: when, and from which commit.
    Versions(StatusArgs),
    /// Print the IAM policy a deployer needs for this stage: every action slx calls, scoped to the stage.
    IamPolicy(IamPolicyArgs),
    /// Create, list and revoke the stage's API keys (for routes with `api_key = true`).
    #[command(subcommand)]
    Keys(KeysAction),
    /// Check this machine and account for slx: toolchain, targets, AWS credentials, region, pinned accounts.
    Doctor(DoctorArgs),
    /// Print a shell completion script (see the after-help for installing it).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print slx's man page (roff), generated from this help: `slx man > slx.1`.
    Man,
}

const INIT_EXAMPLES: &str = "Examples:
  slx init shop                      # ./shop: routes in slx.toml, one function each
  slx init --template router shop    # an axum app serving every path
  slx init --template events shop    # S3, schedule and SQS handlers
  slx init                           # in the current directory, named after it";

const DEPLOY_EXAMPLES: &str = "Examples:
  slx deploy                                   # stage dev
  slx deploy --stage prod                      # build, check, release, print the URL
  slx deploy --stage prod --canary 10% --for 5m
  slx deploy --stage prod --output json        # the URL and every step, for CI
  slx plan --stage prod --detailed-exitcode    # exit 2 when prod would change";

const INVOKE_EXAMPLES: &str = "Examples:
  slx invoke \"GET /health\"
  slx invoke --stage prod \"POST /greet\" --data '{\"name\": \"Ada\"}'
  slx invoke --local \"POST /orders/42\" --data @order.json -H \"x-api-key: k\"
  slx invoke --local --handler on_upload --s3-key \"incoming/photo.jpg\"
  slx invoke --local --handler on_job --data '{\"job\": \"resize\"}'";

const LOGS_EXAMPLES: &str = "Examples:
  slx logs --stage prod                  # the last 10 minutes
  slx logs --stage prod -f               # follow, live
  slx logs --since 2h --filter ERROR
  slx logs --request-id 0f1e2d3c-...     # one request's lines
  slx logs --handler on_job --since 1d   # an event handler's function";

const COMPLETIONS_HELP: &str = "Install:
  bash:  slx completions bash > ~/.local/share/bash-completion/completions/slx
  zsh:   slx completions zsh > ~/.zfunc/_slx   # with fpath+=(~/.zfunc) before compinit in ~/.zshrc
  fish:  slx completions fish > ~/.config/fish/completions/slx.fish
Then open a new shell.";

/// The `after_help` examples, for the test that they parse.
pub const EXAMPLES: [&str; 4] = [
    INIT_EXAMPLES,
    DEPLOY_EXAMPLES,
    INVOKE_EXAMPLES,
    LOGS_EXAMPLES,
];

#[derive(Debug, Args)]
pub struct InitArgs {
    /// App name (lowercase letters, digits, `-`), or a path whose last
    /// part is the name (`apps/shop`); the directory is created. Without
    /// it, the current directory is used and the app named after it.
    pub name: Option<String>,
    /// What kind of app: `routes` (one function per route in slx.toml),
    /// `router` (an axum app serving every path) or `events` (handlers
    /// run by a file landing in S3, a schedule and an SQS queue).
    #[arg(long, value_enum, default_value = "routes", conflicts_with = "router")]
    pub template: crate::scaffold::Template,
    /// Short for `--template router`.
    #[arg(long)]
    pub router: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also resolve this stage (defaults, then [app], then [stages.NAME]).
    #[arg(long, short)]
    pub stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Stage whose settings (arch) to build for.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Stage whose settings (env, timeout, memory) to run with.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, short, default_value_t = 3000)]
    pub port: u16,
    /// Most handler processes running at once (like Lambda's concurrency).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Do not rebuild on changes to the sources or slx.toml.
    #[arg(long)]
    pub no_watch: bool,
    /// Do not run the schedule handlers of [events] on their cadence
    /// (bucket folders still run the S3 handlers).
    #[arg(long)]
    pub no_schedules: bool,
    /// Check the signatures of Cognito tokens (routes with a Cognito
    /// authorizer) against this JWKS file: the user pool's
    /// `.well-known/jwks.json`.
    #[arg(long, value_name = "FILE", conflicts_with = "trust_jwt")]
    pub jwks: Option<std::path::PathBuf>,
    /// Accept Cognito tokens without checking their signature (issuer,
    /// expiry and scopes are still checked). For local development only.
    #[arg(long)]
    pub trust_jwt: bool,
    /// Also answer requests for this host name (besides localhost,
    /// 127.0.0.1 and [::1]), e.g. a name in /etc/hosts; repeatable.
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
}

/// How a new version takes a stage's traffic: `deploy` and `promote`.
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// Move the stage to the new version without running its [[checks]]
    /// first (slx says so loudly).
    #[arg(long)]
    pub skip_checks: bool,
    /// Release as a canary: the new version gets this share of the
    /// stage's traffic (`10%`) while slx watches its errors, throttles and
    /// checks, then takes all of it or is rolled back (exit 4).
    #[arg(long, value_name = "SHARE", value_parser = crate::config::CanarySpec::parse_share)]
    pub canary: Option<u8>,
    /// How long a canary is watched before it takes all the traffic
    /// (default: slx.toml's `canary.for`, else 5m).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::config::CanarySpec::parse_watch)]
    pub canary_for: Option<std::time::Duration>,
    /// Invocations of the new version a canary's window must see to be
    /// judged; fewer, and it is rolled back (default: slx.toml's
    /// `canary.min_invocations`, else 20).
    #[arg(long, value_name = "COUNT", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub min_invocations: Option<u32>,
    /// Move all the traffic at once even when slx.toml asks for a canary.
    #[arg(long, conflicts_with = "canary")]
    pub no_canary: bool,
    /// How long to wait while another slx changes this stage (`30s`,
    /// `10m`); 0 fails at once with exit code 5.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stage to deploy (its resources are named `<app>-<stage>`).
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// Deploy this prebuilt zip instead of building (it is still checked).
    #[arg(long, value_name = "PATH")]
    pub zip: Option<PathBuf>,
    /// Only print the plan (same as `slx plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Exit 0 when nothing changes, 2 when something changes (or changed).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub release: ReleaseArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The stage to inspect.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub target: StatusArgs,
    /// Only what `slx plan`, `status`, `versions`, `logs` and `doctor`
    /// need: reads, no write and no invoke. For a pull request's CI role,
    /// which must never change the stage.
    #[arg(long)]
    pub read_only: bool,
    /// Instead of the deployer's policy, the roles the stage runs with
    /// (the function's; the scheduler's, with schedules), made by slx or
    /// elsewhere (`role`, `scheduler_role`): each one's permissions and
    /// who may assume it. What the stage's code may do, for a security
    /// review before a deploy.
    #[arg(long, conflicts_with = "read_only")]
    pub roles: bool,
    /// Only what the role the stage's functions run with needs (its
    /// policy, and who must be able to assume it): for a role made
    /// elsewhere and named by `role` in slx.toml.
    #[arg(long, conflicts_with_all = ["read_only", "roles"])]
    pub function_role: bool,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The request: "METHOD /path?query", e.g. "POST /orders/42" (an HTTP
    /// route; with `--handler`, leave it out).
    #[arg(required_unless_present = "handler", conflicts_with = "handler")]
    pub request: Option<String>,
    /// The stage to invoke.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// Request body: JSON text, or @file.json. With `--handler`: an SQS
    /// message's body (repeat for a batch), or an S3 object's content.
    #[arg(long, short, value_name = "BODY")]
    pub data: Vec<String>,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Run the handler on this machine (built natively) instead of the
    /// deployed stage; same event, same error answers as `slx dev`.
    #[arg(long)]
    pub local: bool,
    /// Invoke the event handler `[events.NAME]` with the event its source
    /// would send (S3: `--s3-key`; SQS: `--data`; a schedule: nothing).
    #[arg(long, value_name = "NAME")]
    pub handler: Option<String>,
    /// With an S3 handler: the key of the object the event is about.
    #[arg(long, value_name = "KEY", requires = "handler")]
    pub s3_key: Option<String>,
    /// With `--handler`: send this JSON file as the whole event instead.
    #[arg(long, value_name = "FILE", requires = "handler", conflicts_with_all = ["s3_key", "data"])]
    pub event: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The stage whose function's logs to show.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// How far back: a duration (10m, 2h, 1d) or a UTC time (2026-11-26T10:00).
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Only events matching this CloudWatch filter pattern (e.g. ERROR).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Only the lines of this request (START to REPORT).
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// The logs of the event handler `[events.NAME]` (its own function)
    /// instead of the HTTP API's.
    #[arg(long, value_name = "NAME")]
    pub handler: Option<String>,
}

#[derive(Debug, Args)]
pub struct UndeployArgs {
    /// The stage to remove.
    #[arg(long, short)]
    pub stage: String,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Keep the CloudWatch log group and its logs.
    #[arg(long)]
    pub keep_logs: bool,
    /// How long to wait while another slx changes this stage (`30s`,
    /// `10m`); 0 fails at once with exit code 5.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and put it in the stage's usage plan; its value is printed once, never again.
    Create(KeyArgs),
    /// List the stage's keys: names, ids, creation times (never their values).
    List(StatusArgs),
    /// Delete a key: calls with it are refused (403) from then on.
    Revoke(KeyArgs),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The key's name (lowercase letters, digits, `-`), e.g. a partner's:
    /// `partner-a`. API Gateway names it `<app>-<stage>-NAME`.
    pub name: String,
    /// The stage whose key it is.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// How long to wait while another slx changes this stage (`30s`,
    /// `10m`); 0 fails at once with exit code 5.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The stage to roll back.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
    /// The version to serve [default: the one before the current].
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Do not run the stage's [[checks]] through the alias after it
    /// moved (slx says so loudly): when the checks themselves are what
    /// the rollback is getting away from.
    #[arg(long)]
    pub skip_checks: bool,
    /// How long to wait while another slx changes this stage (`30s`,
    /// `10m`); 0 fails at once with exit code 5.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The stage whose served code is promoted (the version its alias serves).
    #[arg(long, value_name = "STAGE")]
    pub from: String,
    /// The stage that receives it, with its own configuration, env and checks.
    #[arg(long, value_name = "STAGE")]
    pub to: String,
    /// Only print the plan for the target stage.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub release: ReleaseArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The stage whose settings (profile, region) the AWS checks use.
    #[arg(long, short, default_value = "dev")]
    pub stage: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Splits a command line as a POSIX shell would, for checking documented
/// examples (help texts, docs/examples): single and double quotes, a
/// trailing `  # comment` dropped; no expansion.
pub fn split_command_line(line: &str) -> Vec<String> {
    let line = line.split("  #").next().unwrap_or(line).trim();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, ' ') => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_help_example_is_a_valid_command_line() {
        for examples in EXAMPLES {
            for line in examples
                .lines()
                .filter(|l| l.trim_start().starts_with("slx "))
            {
                let args = split_command_line(line);
                if let Err(error) = Cli::try_parse_from(&args) {
                    panic!("`{line}` does not parse: {error}");
                }
            }
        }
    }

    /// What a newcomer reads in `--help`: every command says what it
    /// does, and every flag and argument what it is for.
    #[test]
    fn every_command_and_flag_is_explained() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && path != "slx" {
                missing.push(format!("`{path}`"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg
                    .get_help()
                    .is_none_or(|h| h.to_string().trim().is_empty())
                {
                    missing.push(format!("`{path}` {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "slx", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }

    #[test]
    fn example_lines_split_like_a_shell() {
        assert_eq!(
            split_command_line(r#"slx invoke "POST /greet" --data '{"name": "Ada"}'  # x"#),
            [
                "slx",
                "invoke",
                "POST /greet",
                "--data",
                r#"{"name": "Ada"}"#
            ]
        );
    }
}
