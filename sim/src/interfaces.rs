//! The network interfaces Lambda makes for a function in a VPC, which
//! moto does not make: one per subnet of the function's `VpcConfig`,
//! described `AWS Lambda VPC ENI-<function>-<id>`, `in-use` while the
//! function is in the VPC.
//!
//! Once the function is deleted or leaves the VPC (or the subnet), Lambda
//! releases them `interface_release_s` later, with the function's
//! execution role: if that role is gone by then, or no longer allows
//! `ec2:DeleteNetworkInterface`, the interface stays, `available`, and
//! blocks deleting its subnet and security groups until someone deletes
//! it by hand.
// https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
// https://repost.aws/knowledge-center/lambda-eni-find-delete-changes
//
// Answers `DescribeNetworkInterfaces` for these interfaces only, with the
// `description` filter (EC2's `*` and `?` wildcards); other filters are
// not applied.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::world::role_name;

/// One interface Lambda made.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LambdaInterface {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) function: String,
    pub(crate) subnet: String,
    /// The execution role (its name) Lambda releases it with.
    role: String,
    /// When Lambda releases it, once the function no longer uses it.
    #[serde(skip)]
    release_at: Option<Instant>,
    /// Lambda could not release it: it stays until deleted by hand.
    pub(crate) orphaned: bool,
}

impl LambdaInterface {
    /// As EC2 reports it.
    pub(crate) fn status(&self) -> &'static str {
        if self.orphaned { "available" } else { "in-use" }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Interfaces {
    made: Vec<LambdaInterface>,
    /// Whether each role's inline policy lets Lambda release interfaces.
    releasing_roles: HashMap<String, bool>,
    next_id: u64,
}

impl Interfaces {
    /// Function `function` (running as `role_arn`) is now in `subnets`
    /// (none: out of its VPC): an interface for each new subnet, and the
    /// ones of subnets it left are released `release_in` from `now`.
    pub(crate) fn function_placed(
        &mut self,
        function: &str,
        role_arn: Option<&str>,
        subnets: &[String],
        now: Instant,
        release_in: std::time::Duration,
    ) {
        self.settle(now);
        for interface in self.made.iter_mut().filter(|i| i.function == function) {
            if !subnets.contains(&interface.subnet) && interface.release_at.is_none() {
                interface.release_at = Some(now + release_in);
            }
        }
        let role = role_arn.map(role_name).map(str::to_string);
        for subnet in subnets {
            let present = self
                .made
                .iter()
                .any(|i| i.function == function && &i.subnet == subnet && i.release_at.is_none());
            if present {
                continue;
            }
            self.next_id += 1;
            let role = role.clone().or_else(|| {
                self.made
                    .iter()
                    .find(|i| i.function == function)
                    .map(|i| i.role.clone())
            });
            self.made.push(LambdaInterface {
                id: format!("eni-{:017x}", self.next_id),
                description: format!(
                    "AWS Lambda VPC ENI-{function}-{:08x}-0000-4000-8000-{:012x}",
                    self.next_id, self.next_id
                ),
                function: function.to_string(),
                subnet: subnet.clone(),
                role: role.unwrap_or_default(),
                release_at: None,
                orphaned: false,
            });
        }
    }

    /// Function `function` was deleted: its interfaces are released
    /// `release_in` from `now`.
    pub(crate) fn function_deleted(
        &mut self,
        function: &str,
        now: Instant,
        release_in: std::time::Duration,
    ) {
        self.function_placed(function, None, &[], now, release_in);
    }

    /// Role `role`'s inline policy is now `document` (`None`: deleted, or
    /// the role itself is). What Lambda released before `now` was
    /// released with the role as it was.
    pub(crate) fn role_policy_set(&mut self, role: &str, document: Option<&str>, now: Instant) {
        self.settle(now);
        let releases = document.is_some_and(|d| d.contains("ec2:DeleteNetworkInterface"));
        self.releasing_roles.insert(role.to_string(), releases);
    }

    /// Releases every interface due by `now`: gone if its role lets
    /// Lambda delete it, left `available` for good if not.
    fn settle(&mut self, now: Instant) {
        let roles = &self.releasing_roles;
        self.made.retain_mut(|interface| {
            let due = interface.release_at.is_some_and(|at| at <= now);
            if !due || interface.orphaned {
                return true;
            }
            let released = roles.get(&interface.role) == Some(&true);
            interface.orphaned = !released;
            !released
        });
    }

    /// The interfaces at `now` whose description matches one of
    /// `descriptions` (EC2's wildcards; none: every interface).
    pub(crate) fn described(
        &mut self,
        descriptions: &[String],
        now: Instant,
    ) -> Vec<LambdaInterface> {
        self.settle(now);
        self.made
            .iter()
            .filter(|i| {
                descriptions.is_empty() || descriptions.iter().any(|d| wildcard(d, &i.description))
            })
            .cloned()
            .collect()
    }
}

/// Whether `text` matches `pattern` (`*`: any run, `?`: one character).
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The `description` filter's values of a `DescribeNetworkInterfaces`
/// form (`Filter.N.Name=description`, `Filter.N.Value.M`).
pub(crate) fn description_filter(field: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut values = Vec::new();
    for n in 1.. {
        let Some(name) = field(&format!("Filter.{n}.Name")) else {
            break;
        };
        if name != "description" {
            continue;
        }
        for m in 1.. {
            match field(&format!("Filter.{n}.Value.{m}")) {
                Some(value) => values.push(value),
                None => break,
            }
        }
    }
    values
}

/// EC2's answer listing `interfaces`.
pub(crate) fn answer(interfaces: &[LambdaInterface]) -> String {
    let items: String = interfaces
        .iter()
        .map(|i| {
            format!(
                "<item><networkInterfaceId>{}</networkInterfaceId><subnetId>{}</subnetId>\
                 <description>{}</description><interfaceType>lambda</interfaceType>\
                 <requesterId>AROAEXAMPLE:{}</requesterId><requesterManaged>true</requesterManaged>\
                 <status>{}</status></item>",
                i.id,
                i.subnet,
                i.description,
                i.function,
                i.status()
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <DescribeNetworkInterfacesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>slx-sim</requestId><networkInterfaceSet>{items}</networkInterfaceSet>\
         </DescribeNetworkInterfacesResponse>"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/shop-dev-role";
    const POLICY: &str = r#"{"Statement":[{"Action":["ec2:DeleteNetworkInterface"]}]}"#;

    #[test]
    fn interfaces_go_with_a_role_that_may_release_them_and_stay_without_one() {
        let start = Instant::now();
        let later = |s| start + Duration::from_secs(s);
        let mut interfaces = Interfaces::default();
        interfaces.role_policy_set("shop-dev-role", Some(POLICY), start);
        let subnets = ["subnet-1".to_string()];
        interfaces.function_placed("shop-dev", Some(ROLE), &subnets, start, Duration::ZERO);
        interfaces.function_placed("shop-dev", Some(ROLE), &subnets, start, Duration::ZERO);
        let mine = ["AWS Lambda VPC ENI-shop-dev-*".to_string()];
        assert_eq!(
            interfaces.described(&mine, start).len(),
            1,
            "one per subnet"
        );
        assert!(
            interfaces
                .described(&["AWS Lambda VPC ENI-other-*".into()], start)
                .is_empty()
        );

        // Deleted; the role keeps its policy until the release: gone.
        interfaces.function_deleted("shop-dev", later(1), Duration::from_secs(10));
        assert_eq!(interfaces.described(&mine, later(5))[0].status(), "in-use");
        assert!(interfaces.described(&mine, later(11)).is_empty());

        // Again, but the role is deleted before the release: it stays.
        interfaces.function_placed("shop-dev", Some(ROLE), &subnets, later(20), Duration::ZERO);
        interfaces.function_deleted("shop-dev", later(21), Duration::from_secs(10));
        interfaces.role_policy_set("shop-dev-role", None, later(22));
        let left = interfaces.described(&mine, later(60));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].status(), "available");
    }

    #[test]
    fn wildcards_match_as_ec2_filters_do() {
        assert!(wildcard(
            "AWS Lambda VPC ENI-shop-dev-*",
            "AWS Lambda VPC ENI-shop-dev-1a"
        ));
        assert!(!wildcard(
            "AWS Lambda VPC ENI-shop-dev-*",
            "AWS Lambda VPC ENI-shop-dev"
        ));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        let form = [
            ("Filter.1.Name".to_string(), "description".to_string()),
            ("Filter.1.Value.1".to_string(), "x".to_string()),
            ("Filter.1.Value.2".to_string(), "y*".to_string()),
        ];
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(description_filter(field), ["x", "y*"]);
    }
}
