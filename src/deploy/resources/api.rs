//! The stage's REST API (`<app>-<stage>`) and its routes: every route an
//! `AWS_PROXY` integration to the stage's alias, set by one OpenAPI
//! import. What the stage serves changes only with a deployment (see
//! `deployment`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    Status, StatusView, all_of,
};
use crate::aws::{AwsError, ErrorClass, NewRestApi, Reader, StageInfo};
use crate::config::Method;
use crate::deploy::deployer_policy::{Grant, api_gateway_grants};
use crate::deploy::desired::Desired;
use crate::deploy::openapi;
use crate::names::{DEFINITION_MARK, StageArns, StageNames};

pub(crate) struct Api;

/// One path of the API and the integration URI of each method on it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PathState {
    pub(crate) id: String,
    pub(crate) methods: BTreeMap<Method, Option<String>>,
}

/// The stage's REST API as API Gateway holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiState {
    pub(crate) id: String,
    /// Keyed by full path (`/`, `/orders`, `/orders/{id}`).
    pub(crate) paths: BTreeMap<String, PathState>,
    /// Content types passed to the function as binary (base64).
    pub(crate) binary_media_types: Vec<String>,
    /// The API Gateway stage named after the slx stage, if it exists.
    pub(crate) stage: Option<StageInfo>,
    /// The digest of the definition last imported (from the API's
    /// description, `names::DEFINITION_MARK`).
    pub(crate) definition: Option<String>,
    /// Other REST APIs with the stage's name and tags (a create that was
    /// repeated): a deploy refuses to choose, an undeploy removes them.
    pub(crate) duplicates: Vec<String>,
}

impl ApiState {
    /// `METHOD /path` of every method whose integration is `uri`, or of
    /// every method when `uri` is `None`.
    pub(crate) fn routes_to(&self, uri: Option<&str>) -> BTreeSet<String> {
        self.paths
            .iter()
            .flat_map(|(path, state)| {
                state
                    .methods
                    .iter()
                    .filter(move |(_, target)| uri.is_none() || target.as_deref() == uri)
                    .map(move |(method, _)| format!("{method} {path}"))
            })
            .collect()
    }
}

/// How the API's routes differ from slx.toml, as `METHOD /path`, and
/// its binary media types, when they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoutesChange {
    pub(crate) add: Vec<String>,
    pub(crate) remove: Vec<String>,
    pub(crate) binary_media_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ApiAction {
    CreateApi {
        name: String,
    },
    /// Replace the API's routes with slx.toml's (one OpenAPI import);
    /// `add` and `remove` say what changes.
    SetRoutes {
        api: ApiRef,
        add: Vec<String>,
        remove: Vec<String>,
        /// The binary media types it sets, when they change.
        #[serde(skip_serializing_if = "Option::is_none")]
        binary_media_types: Option<Vec<String>>,
        /// The OpenAPI document sent.
        openapi: serde_json::Value,
        /// Settings of the API the document does not carry (patch path
        /// and value, empty to clear), set after the import.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        settings: Vec<(String, String)>,
        /// The digest of both, recorded in the API's description once
        /// imported.
        digest: String,
    },
    DeleteApi {
        id: String,
    },
}

/// The id of the API a `CreateApi` made (an output: the actions that
/// name `ApiRef::New` read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatedApi(pub(crate) String);

/// What API Gateway warned about while importing the routes (an output,
/// for the deploy's report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImportWarnings(pub(crate) Vec<String>);

impl ActionInfo for ApiAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            ApiAction::CreateApi { name } => format!("create REST API {name}"),
            ApiAction::SetRoutes {
                add,
                remove,
                binary_media_types,
                ..
            } => {
                let mut parts: Vec<String> = add.iter().map(|r| format!("+{r}")).collect();
                parts.extend(remove.iter().map(|r| format!("-{r}")));
                if parts.is_empty() && binary_media_types.is_none() {
                    parts.push("the API's definition differs".into());
                }
                if let Some(types) = binary_media_types {
                    parts.push(match types.is_empty() {
                        true => "no binary media types".into(),
                        false => format!("binary media types {}", types.join(" ")),
                    });
                }
                format!("set routes ({})", parts.join(", "))
            }
            ApiAction::DeleteApi { id } => format!("delete REST API {id}"),
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // The usage plan stops covering the API's stage, and custom
            // domains stop mapping it, first.
            ApiAction::DeleteApi { .. } => all_of(&[Kind::UsagePlan, Kind::Domain]),
            _ => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            ApiAction::CreateApi { .. } => Change::Create,
            ApiAction::SetRoutes { .. } => Change::Update,
            ApiAction::DeleteApi { .. } => Change::Delete,
        }
    }

    fn before_build(&self) -> bool {
        // A new API serves nothing until its first deployment; routes
        // imported into an existing one wait for the code, so that a
        // failed build leaves no undeployed change behind.
        matches!(
            self,
            ApiAction::CreateApi { .. }
                | ApiAction::SetRoutes {
                    api: ApiRef::New,
                    ..
                }
        )
    }
}

/// Refuses to deploy a stage whose name and tags are on several REST
/// APIs: which one serves cannot be chosen safely.
pub(crate) fn refuse_duplicates(names: &StageNames, actual: &Actual) -> Result<(), AwsError> {
    let Some(api) = actual.api.as_ref().filter(|api| !api.duplicates.is_empty()) else {
        return Ok(());
    };
    let ids: Vec<&str> = std::iter::once(api.id.as_str())
        .chain(api.duplicates.iter().map(String::as_str))
        .collect();
    Err(AwsError::fatal(
        "read the stage's REST API",
        format!(
            "{} REST APIs named {} are tagged as this stage's: {}",
            ids.len(),
            names.api,
            ids.join(", ")
        ),
        &format!(
            "{} is the one serving; delete the others in the API Gateway console, or remove the stage with `slx undeploy --stage {}` and deploy again",
            api.id, names.stage
        ),
    ))
}

/// `CreateRestApi`, never blindly repeated: a lost call's API, found by
/// name and tags, is used (`super::create_once`).
async fn create_api(
    ctx: &ApplyContext<'_>,
    api: &NewRestApi,
    step: &str,
) -> Result<String, AwsError> {
    super::create_once(
        ctx,
        step,
        || ctx.writer.create_rest_api(api),
        || async {
            let names = ctx.arns.names();
            Ok(ctx
                .reader
                .rest_apis_named(&api.name)
                .await?
                .into_iter()
                .find(|found| names.owns(&found.tags))
                .map(|made| made.id))
        },
    )
    .await
}

/// How `api`'s routes differ from `desired`'s; `None` when they match.
pub(crate) fn routes_change(desired: &Desired, api: Option<&ApiState>) -> Option<RoutesChange> {
    let proxied: BTreeSet<String> = desired
        .routes
        .iter()
        .flat_map(|(path, methods)| methods.iter().map(move |m| format!("{m} {path}")))
        .collect();
    // CORS preflights: mock integrations, whatever their target.
    let preflights: BTreeSet<String> = desired
        .preflights
        .keys()
        .map(|path| format!("{} {path}", Method::Options))
        .collect();
    let wanted: BTreeSet<String> = proxied.union(&preflights).cloned().collect();
    let Some(api) = api else {
        return Some(RoutesChange {
            add: wanted.into_iter().collect(),
            remove: vec![],
            binary_media_types: (!desired.binary_media_types.is_empty())
                .then(|| desired.binary_media_types.clone()),
        });
    };
    // A method whose integration does not reach this stage's alias counts
    // as missing: the import puts it back. The import overwrites, so every
    // method slx.toml lacks goes, wherever it points.
    let listed = api.routes_to(None);
    let serving: BTreeSet<String> = api
        .routes_to(Some(&desired.arns.integration_uri()))
        .union(&listed.intersection(&preflights).cloned().collect())
        .cloned()
        .collect();
    let add: Vec<String> = wanted.difference(&serving).cloned().collect();
    let remove: Vec<String> = listed.difference(&wanted).cloned().collect();
    // Paths left without methods (e.g. after a console edit) also differ.
    let stray = api.paths.iter().any(|(path, state)| {
        let prefix = format!("{path}/");
        path != "/"
            && state.methods.is_empty()
            && !desired
                .routes
                .keys()
                .any(|route| route.starts_with(&prefix))
    });
    let as_set = |types: &[String]| types.iter().cloned().collect::<BTreeSet<String>>();
    let binary_media_types = (as_set(&api.binary_media_types)
        != as_set(&desired.binary_media_types))
    .then(|| desired.binary_media_types.clone());
    (!add.is_empty() || !remove.is_empty() || stray || binary_media_types.is_some()).then_some(
        RoutesChange {
            add,
            remove,
            binary_media_types,
        },
    )
}

/// A method as API Gateway lists it. Moto lists an imported
/// `x-amazon-apigateway-any-method` under that name, where AWS lists
/// `ANY`: both read as ANY, so a second deploy is a no-op on either.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-any-method.html
fn listed_method(name: &str) -> Option<Method> {
    if name.eq_ignore_ascii_case("x-amazon-apigateway-any-method") {
        return Some(Method::Any);
    }
    Method::parse(name)
}

impl Resource for Api {
    type Actual = Option<ApiState>;
    type Action = ApiAction;

    type Reads<'a> = ();

    fn reads(_: &Actual) -> Self::Reads<'_> {}

    /// The API, its URL and the routes that reach the stage's function.
    fn status(view: &StatusView<'_>, own: &Self::Actual, _: ()) -> Status {
        let arns = view.arns;
        let api_id = own.as_ref().map(|a| a.id.clone());
        let url = api_id
            .as_deref()
            .filter(|_| view.public_urls)
            .map(|id| arns.invoke_url(id));
        let routes: Vec<String> = own
            .iter()
            .flat_map(|api| api.routes_to(Some(&arns.integration_uri())))
            .collect();
        Status::default()
            .line("api", api_id.as_deref().unwrap_or("(missing)"))
            .line("url", url.as_deref().unwrap_or("-"))
            .line(
                "routes",
                if routes.is_empty() {
                    "-".to_string()
                } else {
                    routes.join(", ")
                },
            )
            .field("rest_api_id", api_id)
            .field("url", url)
            .field("routes", routes)
    }

    async fn read(
        reader: &Reader,
        names: &StageNames,
        _: &Found,
    ) -> Result<Self::Actual, AwsError> {
        let owned: Vec<_> = reader
            .rest_apis_named(&names.api)
            .await?
            .into_iter()
            .filter(|api| names.owns(&api.tags))
            .collect();
        let mut ids: Vec<String> = owned.iter().map(|api| api.id.clone()).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        // Several (a create that was repeated): the one whose stage exists
        // is the one serving; it goes first. The usual single API costs no
        // extra read.
        if ids.len() > 1 {
            for index in 0..ids.len() {
                if reader.api_stage(&ids[index], &names.stage).await?.is_some() {
                    ids.swap(0, index);
                    break;
                }
            }
        }
        let id = ids.remove(0);
        let duplicates = ids;
        let (resources, stage) = tokio::try_join!(
            reader.api_resources(&id),
            reader.api_stage(&id, &names.stage)
        )?;
        let paths = resources
            .into_iter()
            .map(|resource| {
                let methods = resource
                    .methods
                    .into_iter()
                    .filter_map(|m| Some((listed_method(&m.http_method)?, m.integration_uri)))
                    .collect();
                (
                    resource.path,
                    PathState {
                        id: resource.id,
                        methods,
                    },
                )
            })
            .collect();
        let this = owned.into_iter().find(|api| api.id == id);
        Ok(Some(ApiState {
            definition: this
                .as_ref()
                .and_then(|api| api.description.as_deref())
                .and_then(|d| d.split_once(DEFINITION_MARK))
                .map(|(_, digest)| digest.to_string()),
            binary_media_types: this.map(|api| api.binary_media_types).unwrap_or_default(),
            id,
            paths,
            stage,
            duplicates,
        }))
    }

    fn plan(desired: &Desired, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ApiAction> {
        let openapi::Definition {
            document,
            settings,
            digest,
        } = openapi::definition(desired);
        // Reading the API back shows its paths, methods and integrations,
        // not a CORS mock's answer nor gateway responses: the digest of
        // the definition last imported (in the API's description) says
        // whether the import must be sent again.
        let imported = own.as_ref().and_then(|api| api.definition.as_deref());
        let change = match routes_change(desired, own.as_ref()) {
            Some(change) => change,
            None if imported == Some(digest.as_str()) => return vec![],
            None => RoutesChange {
                add: vec![],
                remove: vec![],
                binary_media_types: None,
            },
        };
        let mut actions = Vec::new();
        let api = match own {
            Some(api) => ApiRef::Existing(api.id.clone()),
            None => {
                actions.push(ApiAction::CreateApi {
                    name: desired.arns.api.clone(),
                });
                ApiRef::New
            }
        };
        actions.push(ApiAction::SetRoutes {
            api,
            add: change.add,
            remove: change.remove,
            binary_media_types: change.binary_media_types,
            openapi: document,
            settings,
            digest,
        });
        actions
    }

    fn plan_removal(_: &StageNames, own: &Self::Actual, _: Self::Reads<'_>) -> Vec<ApiAction> {
        own.iter()
            .flat_map(|api| std::iter::once(&api.id).chain(&api.duplicates))
            .map(|id| ApiAction::DeleteApi { id: id.clone() })
            .collect()
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        // API Gateway authorises by HTTP method on resource paths.
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html
        api_gateway_grants(
            arns,
            "StageRestApi",
            &[arns.rest_apis_arn()],
            &[
                "apigateway:POST",
                "apigateway:PUT",
                "apigateway:PATCH",
                "apigateway:DELETE",
            ],
        )
    }

    async fn apply(action: &ApiAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            ApiAction::CreateApi { name } => {
                let api = NewRestApi {
                    name: name.clone(),
                    description: ctx.arns.description(),
                    tags: ctx.arns.tags(),
                };
                let id = create_api(ctx, &api, step).await?;
                ctx.outputs().put(CreatedApi(id));
                Ok(())
            }
            ApiAction::SetRoutes {
                api,
                openapi,
                settings,
                digest,
                ..
            } => {
                let id = ctx.api_id(api, step)?;
                let body = serde_json::to_vec(openapi).unwrap_or_default();
                let warnings = ctx
                    .call(step, RETRY_ALWAYS, || w.put_rest_api(&id, &body))
                    .await?;
                ctx.outputs().get_mut::<ImportWarnings>().0.extend(warnings);
                // Recorded after the import: a run stopped between the
                // two imports again, which is harmless (idempotent). The
                // words are the document's own (slx.toml's description).
                let text = openapi["info"]["description"].as_str().unwrap_or_default();
                let mut fields = settings.clone();
                fields.push((
                    "/description".into(),
                    ctx.arns.api_description(text, digest),
                ));
                ctx.call(step, RETRY_ALWAYS, || w.set_rest_api_fields(&id, &fields))
                    .await
            }
            ApiAction::DeleteApi { id } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_rest_api(id))
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_any_reads_as_any_on_moto_and_on_aws() {
        assert_eq!(listed_method("ANY"), Some(Method::Any));
        assert_eq!(
            listed_method("X-AMAZON-APIGATEWAY-ANY-METHOD"),
            Some(Method::Any)
        );
        assert_eq!(listed_method("GET"), Some(Method::Get));
        assert_eq!(listed_method("TRACE"), None);
    }
}
