use serde_json::json;

use super::Outcome;
use crate::cli::InitArgs;
use crate::scaffold;
use crate::ui::Ui;

pub(super) fn run(ui: &Ui, args: InitArgs) -> miette::Result<Outcome> {
    let dir = match &args.name {
        Some(name) => std::path::PathBuf::from(name),
        None => std::env::current_dir().map_err(|e| miette::miette!("{e}"))?,
    };
    // `slx init apps/shop` creates apps/shop for the app `shop`.
    let app_name = args.name.as_deref().map(|name| {
        std::path::Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name)
    });
    let template = if args.router {
        scaffold::Template::Router
    } else {
        args.template
    };
    let done = scaffold::init(&dir, app_name, template)?;
    let files: Vec<String> = done.files.iter().map(|f| f.display().to_string()).collect();
    let cd = args
        .name
        .as_ref()
        .map(|n| format!("  cd {n}\n"))
        .unwrap_or_default();
    let next = match template {
        scaffold::Template::Routes => {
            "  cargo test          # the handlers' unit tests\n  slx dev             # serve it locally\n  slx deploy          # to AWS (stage dev)"
        }
        scaffold::Template::Router => {
            "  cargo test          # the app's unit tests\n  slx dev             # serve it locally\n  slx deploy          # to AWS (stage dev)"
        }
        scaffold::Template::Events => {
            "  cargo test          # the handlers' unit tests\n  slx invoke --local --handler on_upload --s3-key incoming/photo.jpg\n  slx invoke --local --handler on_job --data '{\"job\": \"resize\"}'\n  slx invoke --local --handler nightly"
        }
    };
    let text = format!(
        "created app `{}` in {}: {}\n\nnext:\n{cd}{next}",
        done.name,
        done.dir.display(),
        files.join(", "),
    );
    ui.result(
        text,
        &json!({ "name": done.name, "dir": done.dir, "files": files, "template": template }),
    );
    Ok(Outcome::Success)
}
