//! The one EC2 call slx makes: which network interfaces Lambda still
//! holds for a stage's functions (`DescribeNetworkInterfaces`), so that
//! the role Lambda releases them with outlives them.
//!
//! Sent as EC2's Query API over HTTP, signed with SigV4 from the SDK's own
//! credentials: the EC2 SDK crate would add minutes to every build for
//! one read. Never writes.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_smithy_xml::decode::{Document, try_data};

use super::Reader;
use super::errors::{AwsError, ErrorClass, classify, hint_for};
use super::retry::{Backoff, retry};

/// The API version EC2's Query API is asked for.
const VERSION: &str = "2016-11-15";

/// Where and as whom EC2 calls go.
#[derive(Debug, Clone)]
pub(crate) struct Ec2Endpoint {
    /// `https://ec2.<region>.<dns suffix>`, or the endpoint override.
    pub(crate) url: String,
    pub(crate) region: String,
    pub(crate) credentials: Option<SharedCredentialsProvider>,
}

/// A network interface as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkInterface {
    pub(crate) id: String,
    /// `in-use`, `available`, ...
    pub(crate) status: String,
}

impl Reader {
    /// The network interfaces Lambda made for function `function` or any
    /// function named `<function>-...` (the stage's event handlers), as
    /// Lambda describes them: "AWS Lambda VPC ENI-<function>-<id>".
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html
    pub(crate) async fn lambda_interfaces(
        &self,
        function: &str,
    ) -> Result<Vec<NetworkInterface>, AwsError> {
        let step = format!("read the network interfaces Lambda holds for {function}");
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut form: Vec<(&str, String)> = vec![
                ("Action", "DescribeNetworkInterfaces".into()),
                ("Version", VERSION.into()),
                ("Filter.1.Name", "description".into()),
                ("Filter.1.Value.1", format!("AWS Lambda VPC ENI-{function}")),
                (
                    "Filter.1.Value.2",
                    format!("AWS Lambda VPC ENI-{function}-*"),
                ),
                ("MaxResults", "1000".into()),
            ];
            if let Some(token) = &token {
                form.push(("NextToken", token.clone()));
            }
            let body = form_body(&form);
            let answer = retry(
                &self.pace(),
                Backoff::default(),
                &[ErrorClass::Transient],
                || self.ec2.post(&step, body.clone()),
            )
            .await?;
            let (page, next) = parse_interfaces(&answer)
                .map_err(|detail| AwsError::fatal(&step, detail, "report this as a bug in slx"))?;
            found.extend(page);
            match next {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(found),
            }
        }
    }
}

impl Ec2Endpoint {
    /// One signed Query API request; the answer's body, or the error it
    /// names.
    async fn post(&self, step: &str, body: String) -> Result<String, AwsError> {
        let headers = self.signed_headers(step, &body).await?;
        let url = self.url.clone();
        let sent = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut request = agent.post(&url);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let mut answer = request.send(body).map_err(|e| e.to_string())?;
            let status = answer.status().as_u16();
            let text = answer
                .body_mut()
                .read_to_string()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((status, text))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let (status, text) = sent.map_err(|e| failed(step, ErrorClass::Unreachable, e))?;
        if status < 300 {
            return Ok(text);
        }
        let (code, message) = error_of(&text);
        let class = classify(code.as_deref(), message.as_deref(), Some(status));
        let detail = match (&code, &message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => format!("HTTP {status}"),
        };
        Err(AwsError {
            code,
            hint: hint_for(class, message.as_deref()),
            ..failed(step, class, detail)
        })
    }

    /// The request's headers: its content type and, with credentials,
    /// SigV4's for `body`.
    async fn signed_headers(
        &self,
        step: &str,
        body: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        let mut headers = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let Some(provider) = &self.credentials else {
            return Ok(headers);
        };
        // Whatever fails here fails with the credentials, not the network.
        let refused =
            |e: &dyn std::fmt::Display| failed(step, ErrorClass::Credentials, e.to_string());
        let identity = provider
            .provide_credentials()
            .await
            .map_err(|e| refused(&e))?
            .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| refused(&e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| refused(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| refused(&e))?
            .into_parts();
        headers.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Ok(headers)
    }
}

/// `step` failed, in `class`, for `detail`.
fn failed(step: &str, class: ErrorClass, detail: String) -> AwsError {
    AwsError {
        step: step.to_string(),
        class,
        code: None,
        detail,
        hint: hint_for(class, None),
    }
}

/// `form` as an `application/x-www-form-urlencoded` body.
fn form_body(form: &[(&str, String)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // What the Query API leaves unencoded: RFC 3986's unreserved set.
    const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    form.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, ENCODED),
                utf8_percent_encode(v, ENCODED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The interfaces of a `DescribeNetworkInterfacesResponse` and its
/// `nextToken`: each `networkInterfaceSet` item's own id and status (not
/// its attachment's).
fn parse_interfaces(xml: &str) -> Result<(Vec<NetworkInterface>, Option<String>), String> {
    let mut document = Document::new(xml);
    let mut found: Vec<NetworkInterface> = Vec::new();
    let mut next = None;
    let mut in_set = false;
    while let Some(element) = document.next_start_element() {
        let (name, depth) = (element.local().to_string(), element.depth());
        match (depth, name.as_str()) {
            (1, "networkInterfaceSet") => in_set = true,
            (1, "nextToken") => {
                next = Some(
                    try_data(&mut document)
                        .map_err(|e| e.to_string())?
                        .into_owned(),
                );
                in_set = false;
            }
            (1, _) => in_set = false,
            (2, "item") if in_set => found.push(NetworkInterface {
                id: String::new(),
                status: String::new(),
            }),
            (3, "networkInterfaceId" | "status") if in_set => {
                let value = try_data(&mut document)
                    .map_err(|e| e.to_string())?
                    .into_owned();
                let item = found
                    .last_mut()
                    .ok_or("a network interface field outside an item")?;
                if name == "status" {
                    item.status = value;
                } else {
                    item.id = value;
                }
            }
            _ => {}
        }
    }
    Ok((found, next))
}

/// The `Code` and `Message` of EC2's error answer
/// (`<Response><Errors><Error>...`).
fn error_of(xml: &str) -> (Option<String>, Option<String>) {
    let mut document = Document::new(xml);
    let (mut code, mut message) = (None, None);
    while let Some(element) = document.next_start_element() {
        let name = element.local().to_string();
        if name == "Code" || name == "Message" {
            let value = try_data(&mut document).ok().map(|v| v.into_owned());
            if name == "Code" {
                code = value;
            } else {
                message = value;
            }
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_interface_s_own_status_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r1</requestId>
  <networkInterfaceSet>
    <item>
      <networkInterfaceId>eni-1</networkInterfaceId>
      <description>AWS Lambda VPC ENI-shop-dev-1a2b</description>
      <attachment><status>attached</status></attachment>
      <groupSet><item><groupId>sg-1</groupId></item></groupSet>
      <status>in-use</status>
    </item>
    <item>
      <networkInterfaceId>eni-2</networkInterfaceId>
      <status>available</status>
    </item>
  </networkInterfaceSet>
  <nextToken>page-2</nextToken>
</DescribeNetworkInterfacesResponse>"#;
        let (found, next) = parse_interfaces(xml).unwrap();
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|i| (i.id.as_str(), i.status.as_str()))
            .collect();
        assert_eq!(pairs, [("eni-1", "in-use"), ("eni-2", "available")]);
        assert_eq!(next.as_deref(), Some("page-2"));

        let empty = r#"<DescribeNetworkInterfacesResponse><requestId>r</requestId><networkInterfaceSet/></DescribeNetworkInterfacesResponse>"#;
        assert_eq!(parse_interfaces(empty).unwrap(), (vec![], None));
    }

    #[test]
    fn an_error_answer_names_its_code() {
        let xml = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized</Message></Error></Errors><RequestID>r</RequestID></Response>";
        let (code, message) = error_of(xml);
        assert_eq!(code.as_deref(), Some("UnauthorizedOperation"));
        assert_eq!(message.as_deref(), Some("You are not authorized"));
    }

    #[test]
    fn the_form_encodes_the_wildcard_filter() {
        let body = form_body(&[("Filter.1.Value.2", "AWS Lambda VPC ENI-a-*".into())]);
        assert_eq!(body, "Filter.1.Value.2=AWS%20Lambda%20VPC%20ENI-a-%2A");
    }
}
