//! The stage's custom domain (`[stages.NAME.domain]`): a regional
//! API Gateway domain name with TLS 1.2, a base path mapping to the
//! stage, and, with a Route 53 hosted zone, the alias record pointing the
//! name at the domain's regional endpoint.
//!
//! slx creates and tags the domain when it does not exist. A domain of
//! that name without slx's tags is someone else's: slx adds and removes
//! only its own base path mapping on it, never changes or deletes it, and
//! never takes over a base path another API serves (see `preflight`).
//! Removing the stage removes its mapping, and the domain (with its alias
//! record) only when slx created it and nothing else is mapped on it.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-custom-domains.html>

use serde::Serialize;

use super::api::ApiState;
use super::{
    ActionInfo, Actual, ApiRef, ApplyContext, Change, Found, Kind, Need, RETRY_ALWAYS, Resource,
    Status, StatusView, all_of,
};
use crate::aws::{AwsError, BasePathMapping, DomainInfo, DomainTarget, ErrorClass, Reader};
use crate::deploy::deployer_policy::{Grant, api_gateway_grants};
use crate::deploy::desired::Desired;
use crate::names::{StageArns, StageNames};

pub(crate) struct Domain;

/// A custom domain of the account and its base path mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainState {
    pub(crate) info: DomainInfo,
    pub(crate) mappings: Vec<BasePathMapping>,
}

/// The account's custom domains (read whole: a mapping of the stage may
/// sit on any of them), and the alias record slx.toml's hosted zone has
/// for the stage's domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Domains {
    pub(crate) domains: Vec<DomainState>,
    /// `(hosted zone, where its alias record points)`.
    pub(crate) record: Option<(String, Option<DomainTarget>)>,
}

impl Domains {
    pub(crate) fn named(&self, name: &str) -> Option<&DomainState> {
        self.domains.iter().find(|d| d.info.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum DomainAction {
    CreateDomain {
        name: String,
        certificate: String,
    },
    SetCertificate {
        name: String,
        certificate: String,
    },
    MapBasePath {
        domain: String,
        /// `""`: the root.
        base_path: String,
        api: ApiRef,
        stage: String,
        /// The base path exists and serves another API stage.
        replace: bool,
        /// Whether slx created the domain (else only the mapping is slx's).
        owned: bool,
    },
    UnmapBasePath {
        domain: String,
        base_path: String,
    },
    DeleteDomain {
        name: String,
    },
    /// Creates or replaces the alias record; `target: None` is the
    /// endpoint of the domain a `CreateDomain` of this plan makes.
    PointRecord {
        zone: String,
        name: String,
        target: Option<DomainTarget>,
    },
    DeleteRecord {
        zone: String,
        name: String,
        target: DomainTarget,
    },
}

/// `https://api.example.com/v1`.
pub(crate) fn custom_url(domain: &str, base_path: &str) -> String {
    match base_path {
        "" => format!("https://{domain}"),
        path => format!("https://{domain}/{path}"),
    }
}

/// The stage's custom domain as `deploy` and `status` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CustomDomain {
    /// `https://api.example.com/v1`.
    pub(crate) url: String,
    /// Where the name's DNS record must point (`d-....execute-api...`),
    /// once the domain exists.
    pub(crate) dns_target: Option<String>,
    /// The Route 53 zone whose alias record slx keeps pointed there.
    pub(crate) hosted_zone: Option<String>,
}

impl CustomDomain {
    /// slx.toml's domain, with what API Gateway holds of it (or what a
    /// deploy just made).
    pub(crate) fn of(
        domain: &crate::config::Domain,
        actual: &Domains,
        created: Option<&DomainTarget>,
    ) -> CustomDomain {
        let target = created
            .cloned()
            .or_else(|| actual.named(&domain.name).map(|d| d.info.target.clone()));
        CustomDomain {
            url: custom_url(
                &domain.name,
                domain.base_path.as_deref().unwrap_or_default(),
            ),
            dns_target: target.map(|t| t.dns_name),
            hosted_zone: domain.hosted_zone.clone(),
        }
    }

    /// One line for people: the URL, and what to do about DNS.
    pub(crate) fn line(&self) -> String {
        let host = self
            .url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or_default();
        match (&self.dns_target, &self.hosted_zone) {
            (Some(target), Some(zone)) => {
                format!(
                    "{} (Route 53 zone {zone} points {host} at {target})",
                    self.url
                )
            }
            (Some(target), None) => format!(
                "{} (point {host} at {target}: a CNAME, or an alias record in Route 53)",
                self.url
            ),
            (None, _) => format!("{} (not created yet)", self.url),
        }
    }
}

/// Where the custom domain a `CreateDomain` made must be pointed (an
/// output: its `PointRecord` and the deploy's report read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatedDomain(pub(crate) DomainTarget);

impl ActionInfo for DomainAction {
    fn describe(&self, _: &StageNames) -> String {
        match self {
            DomainAction::CreateDomain { name, .. } => {
                format!("create custom domain {name} (regional, TLS 1.2)")
            }
            DomainAction::SetCertificate { name, certificate } => {
                format!("give custom domain {name} certificate {certificate}")
            }
            DomainAction::MapBasePath {
                domain,
                base_path,
                replace,
                owned,
                ..
            } => format!(
                "{} {} to the stage{}",
                if *replace { "remap" } else { "map" },
                custom_url(domain, base_path),
                if *owned {
                    String::new()
                } else {
                    format!(" ({domain} is not slx's: only this mapping is)")
                }
            ),
            DomainAction::UnmapBasePath { domain, base_path } => {
                format!("unmap {}", custom_url(domain, base_path))
            }
            DomainAction::DeleteDomain { name } => format!("delete custom domain {name}"),
            DomainAction::PointRecord { zone, name, .. } => {
                format!("point {name} at its regional endpoint (Route 53 zone {zone})")
            }
            DomainAction::DeleteRecord { zone, name, .. } => {
                format!("delete the DNS record of {name} (Route 53 zone {zone})")
            }
        }
    }

    fn needs(&self) -> Vec<Need<'_>> {
        match self {
            // A mapping names the API's stage, which a deployment makes.
            DomainAction::MapBasePath { .. } => all_of(&[Kind::Deployment]),
            _ => Vec::new(),
        }
    }

    fn change(&self) -> Change {
        match self {
            DomainAction::CreateDomain { .. } => Change::Create,
            DomainAction::MapBasePath { replace: false, .. } => Change::Create,
            DomainAction::SetCertificate { .. }
            | DomainAction::MapBasePath { .. }
            | DomainAction::PointRecord { .. } => Change::Update,
            DomainAction::UnmapBasePath { .. }
            | DomainAction::DeleteDomain { .. }
            | DomainAction::DeleteRecord { .. } => Change::Delete,
        }
    }

    fn before_build(&self) -> bool {
        // A new domain serves nothing until a base path is mapped.
        matches!(self, DomainAction::CreateDomain { .. })
    }
}

/// Whether `mapping` serves the stage's API.
fn serves_stage(mapping: &BasePathMapping, api: Option<&str>, stage: &str) -> bool {
    Some(mapping.rest_api_id.as_str()) == api && mapping.stage == stage
}

/// Unmaps every mapping of the stage except `keep` (`(domain, base
/// path)`), then deletes each domain slx made that nothing else is mapped
/// on, with its alias record in `record`'s zone.
fn remove_except(
    names: &StageNames,
    actual: &Domains,
    api: Option<&str>,
    keep: Option<(&str, &str)>,
) -> Vec<DomainAction> {
    let mut actions = Vec::new();
    for domain in &actual.domains {
        let name = domain.info.name.as_str();
        let mut foreign = false;
        for mapping in &domain.mappings {
            let kept = keep == Some((name, mapping.base_path.as_str()));
            if kept || !serves_stage(mapping, api, &names.stage) {
                foreign |= !kept;
                continue;
            }
            actions.push(DomainAction::UnmapBasePath {
                domain: name.to_string(),
                base_path: mapping.base_path.clone(),
            });
        }
        let wanted = keep.is_some_and(|(kept, _)| kept == name);
        if wanted || foreign || !names.owns(&domain.info.tags) {
            continue;
        }
        if let Some((zone, Some(target))) = &actual.record
            && *target == domain.info.target
        {
            actions.push(DomainAction::DeleteRecord {
                zone: zone.clone(),
                name: name.to_string(),
                target: target.clone(),
            });
        }
        actions.push(DomainAction::DeleteDomain {
            name: name.to_string(),
        });
    }
    actions
}

impl Resource for Domain {
    type Actual = Domains;
    type Action = DomainAction;

    type Reads<'a> = &'a Option<ApiState>;

    fn reads(actual: &Actual) -> Self::Reads<'_> {
        &actual.api
    }

    /// slx.toml's domain, with what API Gateway holds of it.
    fn status(view: &StatusView<'_>, own: &Domains, _: Self::Reads<'_>) -> Status {
        let custom_domain = view
            .domain
            .map(|domain| CustomDomain::of(domain, own, None));
        let status = match &custom_domain {
            Some(domain) => Status::default().line("domain", domain.line()),
            None => Status::default(),
        };
        status.field("custom_domain", custom_domain)
    }

    async fn read(reader: &Reader, names: &StageNames, _: &Found) -> Result<Domains, AwsError> {
        let record = async {
            match &names.referenced.domain {
                Some((name, Some(zone))) => {
                    Ok::<_, AwsError>(Some((zone.clone(), reader.alias_record(zone, name).await?)))
                }
                _ => Ok(None),
            }
        };
        let domains = async {
            let listed = reader.domain_names().await?;
            let reads = listed.into_iter().map(|info| async move {
                let mappings = reader.base_path_mappings(&info.name).await?;
                Ok::<_, AwsError>(DomainState { info, mappings })
            });
            futures_util::future::try_join_all(reads).await
        };
        let (domains, record) = tokio::try_join!(domains, record)?;
        Ok(Domains { domains, record })
    }

    fn plan(desired: &Desired, own: &Self::Actual, reads: Self::Reads<'_>) -> Vec<DomainAction> {
        let names = desired.arns.names();
        let current = own;
        let api_id = reads.as_ref().map(|api| api.id.as_str());
        let Some(want) = &desired.domain else {
            return remove_except(names, current, api_id, None);
        };
        let base_path = want.base_path.clone().unwrap_or_default();
        let mut actions = remove_except(names, current, api_id, Some((&want.name, &base_path)));
        let existing = current.named(&want.name);
        let owned = existing.is_none_or(|d| names.owns(&d.info.tags));
        match existing {
            None => actions.push(DomainAction::CreateDomain {
                name: want.name.clone(),
                certificate: want.certificate.clone(),
            }),
            Some(domain)
                if owned && domain.info.certificate.as_deref() != Some(&want.certificate) =>
            {
                actions.push(DomainAction::SetCertificate {
                    name: want.name.clone(),
                    certificate: want.certificate.clone(),
                });
            }
            Some(_) => {}
        }
        let mapped = existing.and_then(|d| d.mappings.iter().find(|m| m.base_path == base_path));
        if !mapped.is_some_and(|m| serves_stage(m, api_id, &desired.arns.stage)) {
            actions.push(DomainAction::MapBasePath {
                domain: want.name.clone(),
                base_path,
                api: match api_id {
                    Some(id) => ApiRef::Existing(id.to_string()),
                    None => ApiRef::New,
                },
                stage: desired.arns.stage.clone(),
                replace: mapped.is_some(),
                owned,
            });
        }
        if let Some(zone) = &want.hosted_zone {
            let target = existing.map(|d| d.info.target.clone());
            let pointed = match &current.record {
                Some((read_zone, Some(points))) if read_zone == zone => Some(points),
                _ => None,
            };
            if target.is_none() || pointed != target.as_ref() {
                actions.push(DomainAction::PointRecord {
                    zone: zone.clone(),
                    name: want.name.clone(),
                    target,
                });
            }
        }
        actions
    }

    fn plan_removal(
        names: &StageNames,
        own: &Self::Actual,
        reads: Self::Reads<'_>,
    ) -> Vec<DomainAction> {
        let api_id = reads.as_ref().map(|api| api.id.as_str());
        remove_except(names, own, api_id, None)
    }

    fn deployer_grants(arns: &StageArns) -> Vec<Grant> {
        // Domain names slx made are tagged as the stage's: it creates,
        // changes and deletes only those (and the ones slx.toml named
        // before). Its base path mapping goes on slx.toml's domain,
        // whoever made it.
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
        let mut grants = api_gateway_grants(
            arns,
            "StageCustomDomain",
            &[arns.domain_names_arn()],
            &["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
        );
        if let Some((domain, _)) = &arns.referenced.domain {
            let mappings = format!("{}/{domain}/basepathmappings", arns.domain_names_arn());
            grants.push(Grant::new(
                "StageBasePathMapping",
                &["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
                vec![format!("{mappings}/*"), mappings],
            ));
        }
        let zones = arns.hosted_zone_arns();
        if let (false, Some((domain, _))) = (zones.is_empty(), &arns.referenced.domain) {
            grants.push(Grant::new(
                "StageDomainRecords",
                &["route53:ListResourceRecordSets"],
                zones.clone(),
            ));
            // Only the alias record of the stage's domain: slx upserts
            // and deletes one A record, by its normalized name
            // (lowercase, no final dot).
            // https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html
            let name = domain.trim_end_matches('.').to_ascii_lowercase();
            grants.push(
                Grant::new(
                    "StageDomainRecord",
                    &["route53:ChangeResourceRecordSets"],
                    zones,
                )
                .when(serde_json::json!({
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [name],
                        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
                    }
                })),
            );
        }
        grants
    }

    async fn apply(action: &DomainAction, ctx: &ApplyContext<'_>) -> Result<(), AwsError> {
        let step = action.describe(ctx.arns.names());
        let step = step.as_str();
        let w = ctx.writer;
        match action {
            DomainAction::CreateDomain { name, certificate } => {
                let tags = ctx.arns.tags();
                let created = ctx
                    .call(step, RETRY_ALWAYS, || async {
                        match w.create_domain_name(name, certificate, &tags).await {
                            // A lost answer's: the domain is there, ours.
                            Err(error)
                                if error.class == ErrorClass::AlreadyExists
                                    || error.code.as_deref() == Some("ConflictException") =>
                            {
                                let names = ctx.arns.names();
                                let found = ctx
                                    .reader
                                    .domain_names()
                                    .await?
                                    .into_iter()
                                    .find(|d| d.name == *name && names.owns(&d.tags));
                                found.map(|d| d.target).ok_or(error)
                            }
                            other => other,
                        }
                    })
                    .await?;
                ctx.outputs().put(CreatedDomain(created));
                Ok(())
            }
            DomainAction::SetCertificate { name, certificate } => {
                ctx.call(step, RETRY_ALWAYS, || {
                    w.set_domain_certificate(name, certificate)
                })
                .await
            }
            DomainAction::MapBasePath {
                domain,
                base_path,
                api,
                stage,
                replace,
                ..
            } => {
                let mapping = BasePathMapping {
                    base_path: base_path.clone(),
                    rest_api_id: ctx.api_id(api, step)?,
                    stage: stage.clone(),
                };
                if *replace {
                    return ctx
                        .call(step, RETRY_ALWAYS, || {
                            w.update_base_path_mapping(domain, &mapping)
                        })
                        .await;
                }
                let made = ctx
                    .call(step, RETRY_ALWAYS, || {
                        w.create_base_path_mapping(domain, &mapping)
                    })
                    .await;
                match made {
                    // A lost answer's mapping: point it here again.
                    Err(e)
                        if matches!(e.class, ErrorClass::AlreadyExists | ErrorClass::Conflict) =>
                    {
                        ctx.call(step, RETRY_ALWAYS, || {
                            w.update_base_path_mapping(domain, &mapping)
                        })
                        .await
                    }
                    other => other,
                }
            }
            DomainAction::UnmapBasePath { domain, base_path } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || {
                    w.delete_base_path_mapping(domain, base_path)
                })
                .await
            }
            DomainAction::DeleteDomain { name } => {
                ctx.call_tolerating(step, ErrorClass::NotFound, || w.delete_domain_name(name))
                    .await
            }
            DomainAction::PointRecord { zone, name, target } => {
                let target = match target {
                    Some(target) => target.clone(),
                    None => ctx
                        .outputs()
                        .get::<CreatedDomain>()
                        .map(|d| d.0.clone())
                        .ok_or_else(|| {
                            AwsError::fatal(
                                step,
                                "the custom domain this step points at was not created",
                                "run the deploy again: it plans from what exists",
                            )
                        })?,
                };
                ctx.call(step, RETRY_ALWAYS, || {
                    w.change_alias_record(zone, name, &target, false)
                })
                .await
            }
            DomainAction::DeleteRecord { zone, name, target } => {
                let deleted = ctx
                    .call(step, RETRY_ALWAYS, || {
                        w.change_alias_record(zone, name, target, true)
                    })
                    .await;
                match deleted {
                    // Route 53's answer for a record already gone.
                    Err(e)
                        if e.code.as_deref() == Some("InvalidChangeBatch")
                            && e.detail.contains("not found") =>
                    {
                        Ok(())
                    }
                    other => other,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::deploy::desired::tests::desired;
    use crate::deploy::resources::api::ApiState;
    use crate::deploy::resources::fixtures::action_names;

    const CERT: &str = "arn:aws:acm:eu-west-1:123456789012:certificate/c1";

    fn target() -> DomainTarget {
        DomainTarget {
            dns_name: "d-1.execute-api.eu-west-1.amazonaws.com".into(),
            hosted_zone_id: "ZREGIONAL".into(),
        }
    }

    fn domain_state(tags: HashMap<String, String>, mappings: &[(&str, &str, &str)]) -> DomainState {
        DomainState {
            info: DomainInfo {
                name: "api.example.com".into(),
                tags,
                target: target(),
                certificate: Some(CERT.into()),
            },
            mappings: mappings
                .iter()
                .map(|(path, api, stage)| BasePathMapping {
                    base_path: path.to_string(),
                    rest_api_id: api.to_string(),
                    stage: stage.to_string(),
                })
                .collect(),
        }
    }

    fn with_api() -> Actual {
        Actual {
            api: Some(ApiState {
                id: "api".into(),
                paths: Default::default(),
                binary_media_types: vec![],
                stage: None,
                definition: None,
                duplicates: vec![],
            }),
            ..Actual::default()
        }
    }

    fn wanted() -> Desired {
        let mut desired = desired();
        desired.domain = Some(crate::config::Domain {
            name: "api.example.com".into(),
            certificate: CERT.into(),
            base_path: Some("v1".into()),
            hosted_zone: Some("ZONE".into()),
        });
        desired
    }

    /// This kind's plan, from everything read.
    fn planned(desired: &Desired, actual: &Actual) -> Vec<DomainAction> {
        Domain::plan(desired, &actual.domain, Domain::reads(actual))
    }

    /// This kind's removal, from everything read.
    fn removed(names: &StageNames, actual: &Actual) -> Vec<DomainAction> {
        Domain::plan_removal(names, &actual.domain, Domain::reads(actual))
    }

    #[test]
    fn a_new_domain_is_created_mapped_and_pointed_at() {
        let desired = wanted();
        let actions = planned(&desired, &with_api());
        assert_eq!(
            action_names(&actions),
            ["create_domain", "map_base_path", "point_record"]
        );
        assert_eq!(
            actions[1].describe(desired.arns.names()),
            "map https://api.example.com/v1 to the stage"
        );
        assert_eq!(actions[1].needs(), [Need::all(Kind::Deployment)]);
        assert!(matches!(
            &actions[2],
            DomainAction::PointRecord { target: None, .. }
        ));
    }

    #[test]
    fn a_converged_domain_plans_nothing_and_a_new_certificate_one_step() {
        let mut desired = wanted();
        let mut actual = with_api();
        let ours = desired.arns.names().tags().0.into_iter().collect();
        actual.domain = Domains {
            domains: vec![domain_state(ours, &[("v1", "api", "dev")])],
            record: Some(("ZONE".into(), Some(target()))),
        };
        assert!(planned(&desired, &actual).is_empty());
        desired.domain.as_mut().unwrap().certificate = CERT.replace("c1", "c2");
        assert_eq!(
            action_names(&planned(&desired, &actual)),
            ["set_certificate"]
        );
    }

    #[test]
    fn someone_elses_domain_gets_only_the_mapping_and_keeps_its_own() {
        let desired = wanted();
        let mut actual = with_api();
        actual.domain.domains = vec![domain_state(HashMap::new(), &[("legacy", "other", "prod")])];
        let actions = planned(&desired, &actual);
        assert_eq!(action_names(&actions), ["map_base_path", "point_record"]);
        assert!(
            actions[0]
                .describe(desired.arns.names())
                .ends_with("(api.example.com is not slx's: only this mapping is)")
        );
        // Removal: its mapping only.
        actual.domain.domains[0].mappings.push(BasePathMapping {
            base_path: "v1".into(),
            rest_api_id: "api".into(),
            stage: "dev".into(),
        });
        actual.domain.record = Some(("ZONE".into(), Some(target())));
        let removal = removed(desired.arns.names(), &actual);
        assert_eq!(action_names(&removal), ["unmap_base_path"]);
    }

    #[test]
    fn slxs_domain_goes_with_its_record_unless_something_else_is_mapped() {
        let desired = wanted();
        let mut actual = with_api();
        let ours: HashMap<String, String> = desired.arns.names().tags().0.into_iter().collect();
        actual.domain = Domains {
            domains: vec![domain_state(ours.clone(), &[("v1", "api", "dev")])],
            record: Some(("ZONE".into(), Some(target()))),
        };
        let removal = removed(desired.arns.names(), &actual);
        assert_eq!(
            action_names(&removal),
            ["unmap_base_path", "delete_record", "delete_domain"]
        );
        actual.domain.domains = vec![domain_state(
            ours,
            &[("v1", "api", "dev"), ("v2", "other", "prod")],
        )];
        let removal = removed(desired.arns.names(), &actual);
        assert_eq!(action_names(&removal), ["unmap_base_path"]);
    }
}
