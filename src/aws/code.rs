//! A published version's code: where Lambda serves its zip
//! (`GetFunction`'s `Code.Location`, a presigned URL valid for ten
//! minutes) and the download itself, checked against the version's
//! CodeSha256 by the caller.
//!
//! API reference: <https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html>

use super::{AwsError, ErrorClass, FunctionInfo, Reader};

/// Larger than any zip Lambda accepts (250 MB unzipped, and S3 uploads).
const MAX_ZIP_BYTES: u64 = 300 * 1024 * 1024;

/// A published version as `promote` needs it.
#[derive(Debug, Clone)]
pub(crate) struct VersionCode {
    pub(crate) info: FunctionInfo,
    /// The version's description (which slx, commit and time made it).
    pub(crate) description: String,
    /// Where its zip can be downloaded (presigned: never print it).
    pub(crate) location: String,
}

impl Reader {
    /// The function `name` at `qualifier` (an alias or version) with its
    /// description and the URL of its zip; `None` when it does not exist.
    pub(crate) async fn version_code(
        &self,
        name: &str,
        qualifier: &str,
    ) -> Result<Option<VersionCode>, AwsError> {
        let Some(answer) = self.get_function(name, Some(qualifier)).await? else {
            return Ok(None);
        };
        let step = format!("read where the code of {name}:{qualifier} is");
        let config = answer
            .configuration()
            .ok_or_else(|| AwsError::fatal(&step, "Lambda answered no configuration", ""))?;
        let location = answer
            .code()
            .and_then(|code| code.location())
            .ok_or_else(|| {
                AwsError::fatal(
                    &step,
                    "Lambda answered no code location",
                    "the function's code may be a container image, which slx does not deploy",
                )
            })?;
        Ok(Some(VersionCode {
            info: super::lambda::function_info(config),
            description: config.description().unwrap_or_default().to_string(),
            location: location.to_string(),
        }))
    }
}

/// An error's text without any query string: a presigned URL's query
/// holds its signature.
fn without_query(error: ureq::Error) -> String {
    match error {
        ureq::Error::StatusCode(status) => format!("the code URL answered HTTP {status}"),
        other => {
            let text = other.to_string();
            text.split('?').next().unwrap_or_default().to_string()
        }
    }
}

/// Downloads the zip at `url` (a presigned URL: no AWS signature needed).
pub(crate) async fn download(url: &str) -> Result<Vec<u8>, AwsError> {
    let owned = url.to_string();
    let fetched = tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&owned).call().map_err(without_query)?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_ZIP_BYTES)
            .read_to_vec()
            .map_err(without_query)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    fetched.map_err(|detail| AwsError {
        step: "download the version's code".into(),
        class: ErrorClass::Transient,
        code: None,
        detail,
        // The URL is presigned: never print it.
        hint: Some("Lambda's code URL is valid for ten minutes; run the command again".into()),
    })
}
