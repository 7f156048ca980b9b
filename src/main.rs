//! The `slx` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use slx::cli::Cli;
use slx::commands::{self, Outcome};
use slx::exit::Exit;
use slx::ui::ColorChoice;

fn main() -> ExitCode {
    // slx is also the `RUSTC_WRAPPER` of the handler builds it runs.
    if let Some(code) = slx::handler::reproducible::run_as_rustc_wrapper() {
        return ExitCode::from(u8::try_from(code).unwrap_or(101));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Help and version are answers, not errors; a wrong command
            // line gets its own code (clap's 2 means "changed" here).
            return ExitCode::from(match error.exit_code() {
                0 => Exit::Success.code(),
                _ => Exit::Usage.code(),
            });
        }
    };
    install_error_hook(cli.global.color);
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Deep async call chains in debug builds need more than 2 MiB.
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(Exit::Error.code());
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(Outcome::Success) => ExitCode::from(Exit::Success.code()),
        Ok(Outcome::Changed) => ExitCode::from(Exit::Changed.code()),
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(commands::exit_code(&report))
        }
    }
}

fn install_error_hook(color: ColorChoice) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let colored = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(colored)
                .unicode(colored)
                // Unwrapped lines in logs and pipes: grep finds whole messages.
                .wrap_lines(tty)
                .build(),
        )
    }));
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        // The SDK's own warnings (e.g. a missing config file) are noise
        // unless asked for; slx reports what matters itself.
        0 => "slx=warn",
        1 => "slx=debug,warn",
        _ => "debug",
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter};
    let wanted = filter::EnvFilter::try_from_env("SLX_LOG")
        .unwrap_or_else(|_| filter::EnvFilter::new(level));
    // Whatever the filter asks for, below WARN only slx itself and the
    // SDK's retry decisions log (slx::logging: other crates' debug lines
    // hold session tokens, request bodies, presigned URLs).
    let never_secrets =
        filter::filter_fn(|meta| !slx::logging::may_leak(meta.target(), *meta.level()));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .without_time()
                .with_filter(wanted)
                .with_filter(never_secrets),
        )
        .init();
}
