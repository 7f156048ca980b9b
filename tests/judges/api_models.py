#!/usr/bin/env python3
"""Judges every request slx sent slx-sim, and slx-sim's answer, against
AWS's published API models.

The models are AWS's, as botocore (PyPI; installed with moto by
scripts/setup) ships them. slx-sim writes each request it gets, as it
arrived, to SLX_SIM_REQUESTS (sim/src/recorder.rs). For each request this
script finds the operation from the wire alone (the JSON protocol's
X-Amz-Target, the query protocols' Action, or the REST protocols' method
and request URI template), decodes its input by the service's protocol
(rest-json, json, query, rest-xml, ec2), and checks it against the
operation's input shape: required members present, no unknown member,
types, enum values, string lengths and patterns, numeric ranges, list
lengths. A request it cannot place or decode is a finding too: nothing is
skipped.

Each answer (recorded with its request) is judged too, since slx reads
what slx-sim answers and slx-sim was written by the same hands: a
successful answer is decoded by the protocol and checked against the
operation's output shape (no unknown member, types, enum values); an
error answer must carry an error code the operation can return (its
model's errors, or one every AWS API may answer). The few places where
AWS itself answers otherwise than its model says are listed in
ANSWERED_BY_AWS, each with its source.

Usage: api_models.py DIR  prints one JSON finding per line and a summary
on stderr; exits 1 when there is a finding, 0 otherwise.
"""

import base64
import collections
import json
import os
import re
import sys
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.loaders
import botocore.model

# slx-sim's service (the signing name) -> botocore's service name.
SERVICES = {"monitoring": "cloudwatch"}

_models = {}


def model(service):
    name = SERVICES.get(service, service)
    if name not in _models:
        loader = botocore.loaders.Loader()
        try:
            data = loader.load_service_model(name, "service-2")
        except Exception:  # noqa: BLE001 - any failure: no model
            _models[name] = None
        else:
            _models[name] = botocore.model.ServiceModel(data, service_name=name)
    return _models[name]


class Undecodable(Exception):
    pass


# ---- finding the operation ------------------------------------------------

def template_regex(uri):
    # A trailing slash is the SDK's to send or not (route53's `.../rrset/`).
    path = uri.split("?")[0].rstrip("/") or "/"
    out, pos = "", 0
    for m in re.finditer(r"\{([^}]+)\}", path):
        out += re.escape(path[pos:m.start()])
        name = m.group(1)
        if name.endswith("+"):
            out += "(?P<%s>.+)" % re.sub(r"\W", "_", name[:-1])
        else:
            out += "(?P<%s>[^/]+)" % re.sub(r"\W", "_", name)
        pos = m.end()
    out += re.escape(path[pos:])
    return re.compile("^" + out + "/?$")


def literal_query(uri):
    if "?" not in uri:
        return []
    return [pair.split("=")[0] for pair in uri.split("?", 1)[1].split("&") if pair]


def rest_operations(service_model, method, path, query):
    """The operations whose method and request URI fit, the most specific
    first-equal (S3 serves a deprecated and a current operation on one
    URI: the caller keeps the one the request fits)."""
    keys = {k for k, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)}
    found = []
    for name in service_model.operation_names:
        op = service_model.operation_model(name)
        http = op.http
        if http.get("method") != method:
            continue
        uri = http.get("requestUri", "/")
        match = template_regex(uri).match(path)
        if not match:
            continue
        literals = literal_query(uri)
        if not all(l in keys for l in literals):
            continue
        # The most specific template wins: literal query keys, then the
        # longest literal path.
        literal_path = len(re.sub(r"\{[^}]+\}", "", uri.split("?")[0]))
        found.append(((len(literals), literal_path), op, match))
    if not found:
        raise Undecodable(f"no operation of {service_model.service_name} answers {method} {path}")
    best = max(score for score, _, _ in found)
    return [(op, match) for score, op, match in found if score == best]


# ---- decoding --------------------------------------------------------------

def member_name(member, default):
    return member.serialization.get("name", default)


def from_xml(shape, element):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            tag = member_name(member, name)
            if member.serialization.get("xmlAttribute"):
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                found = [c for c in element if local(c.tag) == tag]
                if found:
                    out[name] = [from_xml(member.member, c) for c in found]
                continue
            child = next((c for c in element if local(c.tag) == tag), None)
            if child is not None:
                out[name] = from_xml(member, child)
        for child in element:
            if not any(member_name(m, n) == local(child.tag) for n, m in shape.members.items()):
                out.setdefault("<unknown>", []).append(local(child.tag))
        return out
    if t == "list":
        tag = member_name(shape.member, "member")
        return [from_xml(shape.member, c) for c in element if local(c.tag) == tag]
    if t == "map":
        return {c.findtext("key"): from_xml(shape.value, c.find("value")) for c in element}
    return element.text or ""


def local(tag):
    return tag.split("}")[-1]


def from_form(shape, params, prefix, ec2):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            if ec2:
                key = member.serialization.get("queryName") or (
                    member.serialization.get("name", name)[:1].upper()
                    + member.serialization.get("name", name)[1:]
                )
            else:
                key = member_name(member, name)
            full = f"{prefix}.{key}" if prefix else key
            value = from_form(member, params, full, ec2)
            if value is not None:
                out[name] = value
        return out or (None if prefix else {})
    if t == "list":
        items = []
        flattened = ec2 or shape.serialization.get("flattened")
        inner = member_name(shape.member, "member")
        n = 1
        while True:
            key = f"{prefix}.{n}" if flattened else f"{prefix}.{inner}.{n}"
            value = from_form(shape.member, params, key, ec2)
            if value is None:
                break
            items.append(value)
            n += 1
        if not items and prefix in params:  # an empty list is sent as `Name=`
            return []
        return items or None
    if t == "map":
        out, n = {}, 1
        while f"{prefix}.entry.{n}.key" in params:
            out[params[f"{prefix}.entry.{n}.key"]] = from_form(
                shape.value, params, f"{prefix}.entry.{n}.value", ec2
            )
            n += 1
        return out or None
    return params.get(prefix)


# The services whose query-protocol requests may come unsigned (STS's
# AssumeRoleWithWebIdentity): placed by their API version and action.
QUERY_SERVICES = ("sts", "iam", "cloudwatch")


def by_query_version(body):
    """The model of an unsigned query-protocol request, by its `Version`
    and `Action` (nothing else on the wire names the service)."""
    params = dict(urllib.parse.parse_qsl(body.decode(errors="replace")))
    for name in QUERY_SERVICES:
        candidate = model(name)
        if (
            candidate is not None
            and candidate.metadata.get("apiVersion") == params.get("Version")
            and params.get("Action") in candidate.operation_names
        ):
            return candidate
    return None


def decode(record):
    service_model = model(record["service"])
    if service_model is None and record["content_type"].startswith("application/x-www-form-urlencoded"):
        service_model = by_query_version(base64.b64decode(record["body"]))
    if service_model is None:
        raise Undecodable(f"no botocore model for service `{record['service']}`")
    protocol = service_model.metadata.get("protocol")
    body = base64.b64decode(record["body"])
    method, path, query = record["method"], record["path"], record["query"]
    if protocol == "json":
        target = record["target"]
        if "." not in target:
            raise Undecodable(f"json protocol request without X-Amz-Target: {method} {path}")
        op = service_model.operation_model(target.split(".", 1)[1])
        return [(op, json.loads(body) if body else {})]
    if protocol in ("query", "ec2") or record["content_type"].startswith("application/x-www-form-urlencoded"):
        params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        op = service_model.operation_model(params.pop("Action"))
        params.pop("Version", None)
        shape = op.input_shape
        decoded = from_form(shape, params, "", protocol == "ec2") if shape else {}
        return [(op, decoded)]
    if protocol in ("rest-json", "rest-xml"):
        headers = {k.lower(): v for k, v in record.get("headers", {}).items()}
        return [
            decode_rest(protocol, op, match, body, query, headers)
            for op, match in rest_operations(service_model, method, path, query)
        ]
    raise Undecodable(f"protocol `{protocol}` of {record['service']} is not decoded here")


def from_headers(member, wire, headers):
    """A member located in the headers: one header, every header of a
    prefix (a map), or none (the status code is not judged)."""
    where = member.serialization.get("location")
    if where == "header":
        return headers.get(wire.lower())
    if where == "headers":
        prefix = wire.lower()
        found = {k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix)}
        return found or None
    return None


def decode_rest(protocol, op, match, body, query, headers):
    """The input of REST operation `op`, from the request."""
    shape = op.input_shape
    if shape is None:
        return op, {}
    params = {}
    labels = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    payload = shape.serialization.get("payload")
    located = set()
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member_name(member, name)
        if where == "uri":
            located.add(name)
            key = re.sub(r"\W", "_", wire.rstrip("+"))
            if key in labels:
                params[name] = labels[key]
        elif where == "querystring":
            located.add(name)
            values = [v for k, v in pairs if k == wire]
            if member.type_name == "map":
                continue
            if values:
                params[name] = values if member.type_name == "list" else values[0]
        elif where in ("header", "headers", "statusCode"):
            located.add(name)
            value = from_headers(member, wire, headers)
            if value is not None:
                params[name] = value
    if payload:
        member = shape.members[payload]
        if body:
            if member.type_name == "structure":
                params[payload] = (
                    json.loads(body) if protocol == "rest-json"
                    else from_xml(member, ET.fromstring(body))
                )
            else:
                params[payload] = body
    elif body:
        if protocol == "rest-json":
            document = json.loads(body)
        else:
            document = from_xml(shape, ET.fromstring(body))
        for key, value in document.items():
            if key in located:
                params.setdefault("<located in the body>", []).append(key)
            else:
                params[key] = value
    return op, params


# ---- checking ---------------------------------------------------------------

def python_pattern(pattern):
    """A model pattern (Java's dialect) as Python's `re` reads it: the
    Unicode classes the models use become their nearest Python classes
    (letters and digits `\\w`, numbers `\\d`, separators `\\s`), a
    little wider than AWS's."""
    return (
        pattern.replace("\\p{L}", "\\w")
        .replace("\\p{N}", "\\d")
        .replace("\\p{Z}", "\\s")
    )


def number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check(shape, value, where, found):
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            found.append(f"{where}: a structure was expected, got {type(value).__name__}")
            return
        for name in shape.required_members:
            if name not in value:
                found.append(f"{where}: required member `{name}` is missing")
        for name, inner in value.items():
            if name not in shape.members:
                found.append(f"{where}: unknown member `{name}`")
            else:
                check(shape.members[name], inner, f"{where}.{name}", found)
        return
    if t == "list":
        if not isinstance(value, list):
            found.append(f"{where}: a list was expected")
            return
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"{where}: {len(value)} items, at least {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{where}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            check(shape.member, item, f"{where}[{i}]", found)
        return
    if t == "map":
        if not isinstance(value, dict):
            found.append(f"{where}: a map was expected")
            return
        for key, item in value.items():
            check(shape.key, key, f"{where}.<key {key}>", found)
            check(shape.value, item, f"{where}.{key}", found)
        return
    if t == "string":
        if not isinstance(value, str):
            found.append(f"{where}: a string was expected, got {type(value).__name__}")
            return
        if shape.enum and value not in shape.enum:
            found.append(f"{where}: `{value}` is not one of {shape.enum}")
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"{where}: {len(value)} characters, at least {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"{where}: {len(value)} characters, at most {meta['max']}")
        pattern = meta.get("pattern")
        if pattern:
            try:
                compiled = re.compile(python_pattern(pattern))
            except re.error:
                found.append(f"{where}: the judge cannot read the model's pattern {pattern}")
            else:
                if not compiled.search(value):
                    found.append(f"{where}: `{value[:80]}` does not match the pattern {pattern}")
        return
    if t in ("integer", "long", "float", "double"):
        n = number(value)
        if n is None:
            found.append(f"{where}: a number was expected, got {value!r}")
            return
        if "min" in meta and n < meta["min"]:
            found.append(f"{where}: {n} is below {meta['min']}")
        if "max" in meta and n > meta["max"]:
            found.append(f"{where}: {n} is above {meta['max']}")
        return
    if t == "boolean":
        if value not in (True, False, "true", "false"):
            found.append(f"{where}: a boolean was expected, got {value!r}")
    # timestamp, blob: any encoding the protocol allows


# ---- answers -------------------------------------------------------------

# Errors any AWS API may answer, whatever the operation's model lists:
# https://docs.aws.amazon.com/general/latest/gr/api-retries.html and each
# service's "Common Errors" page (e.g.
# https://docs.aws.amazon.com/lambda/latest/api/CommonErrors.html).
COMMON_ERRORS = {
    "AccessDenied", "AccessDeniedException", "IncompleteSignature", "InternalFailure",
    "InternalError", "InvalidAction", "InvalidClientTokenId", "InvalidParameterCombination",
    "InvalidParameterValue", "InvalidQueryParameter", "MalformedQueryString", "MissingAction",
    "MissingAuthenticationToken", "MissingParameter", "NotAuthorized", "OptInRequired",
    "RequestExpired", "ServiceUnavailable", "ServiceUnavailableException", "Throttling",
    "ThrottlingException", "UnrecognizedClientException", "ValidationError",
    "ValidationException", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
    "InvalidSignatureException", "TooManyRequestsException",
}

# Where AWS answers otherwise than its model says, and slx-sim answers as
# AWS does: (service, operation, path of the member, the value AWS sends).
ANSWERED_BY_AWS = {
    # S3 answers key filter rule names capitalised, though the model's
    # enum (and every SDK) spells them lowercase:
    # https://github.com/aws/aws-sdk/issues/389
    ("s3", "GetBucketNotificationConfiguration", "Name", "Prefix"),
    ("s3", "GetBucketNotificationConfiguration", "Name", "Suffix"),
}


def error_code(protocol, answer, body):
    """The error code of an error answer, by the service's protocol."""
    headers = {k.lower(): v for k, v in answer.get("headers", {}).items()}
    if protocol in ("json", "rest-json"):
        code = headers.get("x-amzn-errortype", "")
        if not code and body:
            document = json.loads(body)
            code = document.get("__type") or document.get("code") or document.get("Code") or ""
        # `prefix#Code:extra` and `Code:http://...` both name Code.
        return code.split("#")[-1].split(":")[0]
    if not body:
        return ""
    root = ET.fromstring(body)
    found = next((e for e in root.iter() if local(e.tag) == "Code"), None)
    return found.text if found is not None else ""


def decode_answer(protocol, op, answer, body):
    """The output of `op` an answer carries."""
    shape = op.output_shape
    if shape is None:
        return {}
    headers = {k.lower(): v for k, v in answer.get("headers", {}).items()}
    if protocol == "json":
        return json.loads(body) if body else {}
    if protocol == "query":
        if not body:
            return {}
        root = ET.fromstring(body)
        wrapper = shape.serialization.get("resultWrapper", op.name + "Result")
        result = next((e for e in root if local(e.tag) == wrapper), None)
        return from_xml(shape, result) if result is not None else {}
    out, located = {}, set()
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member_name(member, name)
        if where in ("header", "headers", "statusCode"):
            located.add(name)
            value = from_headers(member, wire, headers)
            if value is not None:
                out[name] = value
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if body and member.type_name == "structure":
            out[payload] = (
                json.loads(body) if protocol == "rest-json"
                else from_xml(member, ET.fromstring(body))
            )
        return out
    if body:
        document = (
            json.loads(body) if protocol == "rest-json"
            else from_xml(shape, ET.fromstring(body))
        )
        for key, value in document.items():
            if key not in located:
                out[key] = value
    return out


def allowed_by_aws(service, operation, problem):
    return any(
        service == s and operation == o and f".{member}: `{value}` is not one of" in problem
        for s, o, member, value in ANSWERED_BY_AWS
    )


def judge_answer(record, op):
    """Findings about slx-sim's answer to a request of operation `op`."""
    answer = record.get("response")
    if not answer or op is None:
        return []
    service_model = op.service_model
    protocol = service_model.metadata.get("protocol")
    body = base64.b64decode(answer["body"])
    status = answer["status"]
    try:
        if status >= 300:
            code = error_code(protocol, answer, body)
            known = {e.name for e in op.error_shapes} | {
                e.error_code for e in op.error_shapes if getattr(e, "error_code", None)
            }
            if code and code not in known and code not in COMMON_ERRORS:
                return [f"{op.name} answered {status} `{code}`, an error its model does not list"]
            return []
        if op.output_shape is None:
            return []
        output = decode_answer(protocol, op, answer, body)
    except Exception as e:  # noqa: BLE001 - an answer it cannot read is a finding
        return [f"cannot decode the answer to {op.name} ({status}): {type(e).__name__}: {e}"]
    found = []
    check_answer(op.output_shape, output, f"answer of {op.name}", found)
    return [p for p in found if not allowed_by_aws(record["service"], op.name, p)]


def check_answer(shape, value, where, found):
    """`check` for an answer, as an SDK reads one: members by their wire
    names, JSON nulls as absent, members the model does not know ignored
    (an SDK drops them: moto's extras are harmless), no required members
    (AWS's outputs leave out what does not apply); what an SDK does read
    must have the model's type and enum values."""
    if shape.type_name == "structure" and isinstance(value, dict):
        wire = {member_name(m, n): n for n, m in shape.members.items()}
        for key, inner in value.items():
            name = key if key in shape.members else wire.get(key)
            if name is None or inner is None:
                continue
            check_answer(shape.members[name], inner, f"{where}.{name}", found)
        return
    if value is None:
        return
    if shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            check_answer(shape.member, item, f"{where}[{i}]", found)
        return
    if shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                check_answer(shape.value, item, f"{where}.{key}", found)
        return
    if shape.type_name == "string" and isinstance(value, str):
        # Values AWS generates: enums and types, not the input's bounds.
        if shape.enum and value not in shape.enum:
            found.append(f"{where}: `{value}` is not one of {shape.enum}")
        return
    check(shape, value, where, found)


def judge(record):
    """The operation a recorded request is, and its findings (of the
    operation it fits best, when its URI serves several)."""
    try:
        candidates = decode(record)
    except Undecodable as e:
        return None, [str(e)]
    except Exception as e:  # noqa: BLE001 - a body it cannot read is a finding
        return None, [f"cannot decode {record['method']} {record['path']}: {type(e).__name__}: {e}"]
    verdicts = []
    for op, params in candidates:
        found = []
        if op.input_shape is not None:
            check(op.input_shape, params, op.name, found)
        elif params:
            found.append(f"{op.name}: takes no input, got {sorted(params)}")
        answer = judge_answer(record, op)
        verdicts.append(((len(found), len(answer)), op.name, found + answer))
    # The operation the request fits best, then its answer.
    _, name, found = min(verdicts, key=lambda v: v[0])
    return name, found


def main():
    directory = sys.argv[1]
    operations = collections.Counter()
    findings = 0
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            for line in f:
                record = json.loads(line)
                operation, found = judge(record)
                operations[(record["service"], operation)] += 1
                for problem in found:
                    findings += 1
                    print(json.dumps({
                        "test": record["test"],
                        "service": record["service"],
                        "request": f"{record['method']} {record['path']}",
                        "problem": problem,
                    }))
    print(
        f"{sum(operations.values())} requests of {len(operations)} operations and their answers "
        f"judged against botocore's models: {findings} findings",
        file=sys.stderr,
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
