//! Custom domain names in front of REST APIs: API Gateway's regional
//! domain names and their base path mappings, and the Route 53 alias
//! record that points a domain at its regional endpoint.
//!
//! API reference: <https://docs.aws.amazon.com/apigateway/latest/api/API_DomainName.html>,
//! <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>

use std::collections::HashMap;

use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, Op, PatchOperation, SecurityPolicy,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
};

use super::apigateway::every_page;
use super::{AwsError, Reader, Tags, Writer};

/// A custom domain name as `GetDomainNames` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainInfo {
    pub(crate) name: String,
    pub(crate) tags: HashMap<String, String>,
    /// Where the domain's DNS record must point (`d-....execute-api...`)
    /// and that name's hosted zone (for a Route 53 alias).
    pub(crate) target: DomainTarget,
    /// The regional certificate's ARN.
    pub(crate) certificate: Option<String>,
}

/// The regional endpoint a custom domain's DNS record points at.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub(crate) struct DomainTarget {
    pub(crate) dns_name: String,
    pub(crate) hosted_zone_id: String,
}

/// One base path of a domain and the API stage it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BasePathMapping {
    /// `""` for the root (API Gateway's `(none)`).
    pub(crate) base_path: String,
    pub(crate) rest_api_id: String,
    pub(crate) stage: String,
}

/// API Gateway's name for the root base path.
const ROOT: &str = "(none)";

fn patch(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// The name Route 53 writes: with its final dot.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

impl Reader {
    /// Every custom domain name of the account and region, with its tags.
    pub(crate) async fn domain_names(&self) -> Result<Vec<DomainInfo>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_domain_names()
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("list custom domain names", &e))?;
            let items = page
                .items()
                .iter()
                .map(|domain| DomainInfo {
                    name: domain.domain_name().unwrap_or_default().to_string(),
                    tags: domain.tags().cloned().unwrap_or_default(),
                    target: DomainTarget {
                        dns_name: domain
                            .regional_domain_name()
                            .unwrap_or_default()
                            .to_string(),
                        hosted_zone_id: domain
                            .regional_hosted_zone_id()
                            .unwrap_or_default()
                            .to_string(),
                    },
                    certificate: domain.regional_certificate_arn().map(str::to_string),
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// The base path mappings of domain `domain`.
    pub(crate) async fn base_path_mappings(
        &self,
        domain: &str,
    ) -> Result<Vec<BasePathMapping>, AwsError> {
        every_page(|position| async move {
            let page = self
                .clients
                .apigateway
                .get_base_path_mappings()
                .domain_name(domain)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("read the base path mappings of {domain}"), &e)
                })?;
            let items = page
                .items()
                .iter()
                .map(|mapping| BasePathMapping {
                    base_path: match mapping.base_path() {
                        None | Some(ROOT) => String::new(),
                        Some(path) => path.to_string(),
                    },
                    rest_api_id: mapping.rest_api_id().unwrap_or_default().to_string(),
                    stage: mapping.stage().unwrap_or_default().to_string(),
                })
                .collect();
            Ok((items, page.position().map(str::to_string)))
        })
        .await
    }

    /// The alias `A` record of `name` in hosted zone `zone`, if any: the
    /// name and hosted zone it points at.
    pub(crate) async fn alias_record(
        &self,
        zone: &str,
        name: &str,
    ) -> Result<Option<DomainTarget>, AwsError> {
        let page = self
            .clients
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(fqdn(name))
            .start_record_type(RrType::A)
            .max_items(1)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("read the DNS record of {name} in hosted zone {zone}"),
                    &e,
                )
            })?;
        Ok(page
            .resource_record_sets()
            .iter()
            .find(|set| set.name() == fqdn(name) && *set.r#type() == RrType::A)
            .and_then(|set| set.alias_target())
            .map(|alias| DomainTarget {
                dns_name: alias.dns_name().trim_end_matches('.').to_string(),
                hosted_zone_id: alias.hosted_zone_id().to_string(),
            }))
    }
}

impl Writer {
    /// Creates a regional custom domain name with TLS 1.2; returns where
    /// its DNS record must point.
    pub(crate) async fn create_domain_name(
        &self,
        name: &str,
        certificate: &str,
        tags: &Tags,
    ) -> Result<DomainTarget, AwsError> {
        let created = self
            .clients
            .apigateway
            .create_domain_name()
            .domain_name(name)
            .regional_certificate_arn(certificate)
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .security_policy(SecurityPolicy::Tls12)
            .set_tags(Some(tags.map()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create custom domain {name}"), &e))?;
        Ok(DomainTarget {
            dns_name: created
                .regional_domain_name()
                .unwrap_or_default()
                .to_string(),
            hosted_zone_id: created
                .regional_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Points a domain slx made at another certificate.
    pub(crate) async fn set_domain_certificate(
        &self,
        name: &str,
        certificate: &str,
    ) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .update_domain_name()
            .domain_name(name)
            .patch_operations(patch("/regionalCertificateArn", certificate))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("set the certificate of {name}"), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_domain_name(&self, name: &str) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .delete_domain_name()
            .domain_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete custom domain {name}"), &e))?;
        Ok(())
    }

    /// Maps `base_path` (`""`: the root) of `domain` to an API stage.
    pub(crate) async fn create_base_path_mapping(
        &self,
        domain: &str,
        mapping: &BasePathMapping,
    ) -> Result<(), AwsError> {
        self.clients
            .apigateway
            .create_base_path_mapping()
            .domain_name(domain)
            .set_base_path((!mapping.base_path.is_empty()).then(|| mapping.base_path.clone()))
            .rest_api_id(&mapping.rest_api_id)
            .stage(&mapping.stage)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("map {domain}/{}", mapping.base_path), &e))?;
        Ok(())
    }

    /// Points an existing base path at another API stage.
    pub(crate) async fn update_base_path_mapping(
        &self,
        domain: &str,
        mapping: &BasePathMapping,
    ) -> Result<(), AwsError> {
        let base_path = if mapping.base_path.is_empty() {
            ROOT
        } else {
            &mapping.base_path
        };
        self.clients
            .apigateway
            .update_base_path_mapping()
            .domain_name(domain)
            .base_path(base_path)
            .patch_operations(patch("/restapiId", &mapping.rest_api_id))
            .patch_operations(patch("/stage", &mapping.stage))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("remap {domain}/{}", mapping.base_path), &e))?;
        Ok(())
    }

    pub(crate) async fn delete_base_path_mapping(
        &self,
        domain: &str,
        base_path: &str,
    ) -> Result<(), AwsError> {
        let path = if base_path.is_empty() {
            ROOT
        } else {
            base_path
        };
        self.clients
            .apigateway
            .delete_base_path_mapping()
            .domain_name(domain)
            .base_path(path)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("unmap {domain}/{base_path}"), &e))?;
        Ok(())
    }

    /// Creates or replaces (`UPSERT`), or with `delete` removes, the alias
    /// `A` record of `name` pointing at `target`.
    pub(crate) async fn change_alias_record(
        &self,
        zone: &str,
        name: &str,
        target: &DomainTarget,
        delete: bool,
    ) -> Result<(), AwsError> {
        // The builders fail only on a missing required field, which the
        // code below always sets.
        let unbuildable = |e: aws_sdk_route53::error::BuildError| {
            AwsError::fatal(
                "build a Route 53 change",
                e.to_string(),
                "report this as a bug",
            )
        };
        let alias = AliasTarget::builder()
            .dns_name(&target.dns_name)
            .hosted_zone_id(&target.hosted_zone_id)
            .evaluate_target_health(false)
            .build()
            .map_err(unbuildable)?;
        let set = ResourceRecordSet::builder()
            .name(fqdn(name))
            .r#type(RrType::A)
            .alias_target(alias)
            .build()
            .map_err(unbuildable)?;
        let action = if delete {
            ChangeAction::Delete
        } else {
            ChangeAction::Upsert
        };
        let change = Change::builder()
            .action(action)
            .resource_record_set(set)
            .build()
            .map_err(unbuildable)?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .build()
            .map_err(unbuildable)?;
        self.clients
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("point {name} at {} (hosted zone {zone})", target.dns_name),
                    &e,
                )
            })?;
        Ok(())
    }
}
