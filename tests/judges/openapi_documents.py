#!/usr/bin/env python3
"""Judges every OpenAPI document slx imported into API Gateway
(`PutRestApi`) against the OpenAPI 3.0 specification, with
openapi-spec-validator (PyPI, pinned in scripts/python-requirements.txt).

slx-sim writes each request it gets to SLX_SIM_REQUESTS
(sim/src/recorder.rs); the documents are the bodies of its `PUT
/restapis/ID` requests, judged once each however many tests sent them.
API Gateway's own extensions (`x-amazon-apigateway-*`) are allowed by
the specification itself (`x-` keys). One piece of API Gateway's syntax
is not an `x-` key: a greedy path variable, `/{proxy+}`, whose parameter
AWS's own definitions name `proxy` (the `+` marks it greedy; AWS's
example of a proxy resource:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-set-up-simple-proxy.html).
The judge reads `{name+}` as `{name}`; nothing else is relaxed.

So that a clean run means the documents that matter were judged, the run
also fails when no document had one of FEATURES: the suite must import a
router app's catch-all, CORS preflights, keyed routes, each kind of
authorizer and binary media types at least once.

Usage: openapi_documents.py DIR  prints one JSON finding per line and a
summary on stderr; exits 1 when there is a finding, 0 otherwise.
"""

import base64
import glob
import hashlib
import json
import os
import re
import sys

from openapi_spec_validator import OpenAPIV30SpecValidator

# What a document must show for the suite to have imported each feature.
FEATURES = {
    "router catch-all": lambda d: "/{proxy}" in d.get("paths", {}),
    "CORS preflight": lambda d: any("options" in p for p in d.get("paths", {}).values()),
    "preflight of a templated path": lambda d: any(
        "{" in path and "options" in item for path, item in d.get("paths", {}).items()
    ),
    "API key": lambda d: "api_key" in schemes(d),
    "Cognito authorizer": lambda d: authtypes(d) & {"cognito_user_pools"},
    "function authorizer": lambda d: authtypes(d) & {"custom"},
    "IAM authorization": lambda d: authtypes(d) & {"awsSigv4"},
    "binary media types": lambda d: "x-amazon-apigateway-binary-media-types" in d,
}


def schemes(document):
    return document.get("components", {}).get("securitySchemes", {})


def authtypes(document):
    return {s.get("x-amazon-apigateway-authtype") for s in schemes(document).values()}


def imports(directory):
    """Each distinct document imported, with the first test that sent it."""
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
        with open(path) as lines:
            for line in lines:
                record = json.loads(line)
                if record.get("method") != "PUT" or not record.get("path", "").startswith("/restapis/"):
                    continue
                if "mode=" not in record.get("query", ""):
                    continue
                body = base64.b64decode(record.get("body", ""))
                digest = hashlib.sha256(body).hexdigest()
                found.setdefault(digest, (record.get("test", "?"), body))
    return found.values()


def main(directory):
    findings = []
    seen = set()
    judged = 0
    for test, body in imports(directory):
        judged += 1
        try:
            document = json.loads(body)
        except ValueError as error:
            findings.append({"test": test, "problem": f"not JSON: {error}"})
            continue
        paths = document.get("paths")
        if isinstance(paths, dict):
            document["paths"] = {re.sub(r"\{(\w+)\+\}", r"{\1}", path): item for path, item in paths.items()}
        for error in OpenAPIV30SpecValidator(document).iter_errors():
            findings.append({"test": test, "problem": error.message, "at": "/".join(map(str, error.path))})
        seen.update(name for name, shows in FEATURES.items() if shows(document))
    for name in FEATURES:
        if name not in seen:
            findings.append({"test": None, "problem": f"no imported document had a {name}: the judge did not see it"})
    for finding in findings:
        print(json.dumps(finding))
    print(f"OpenAPI judge: {judged} documents, {len(findings)} findings", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
