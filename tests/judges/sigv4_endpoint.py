#!/usr/bin/env python3
"""An SSM endpoint that judges each request's AWS Signature Version 4
with botocore's own implementation (AWS's Python SDK, pinned in
scripts/python-requirements.txt), not slx's.

Usage: sigv4_endpoint.py PORT_FILE ACCESS_KEY SECRET_KEY REGION
Listens on 127.0.0.1 (a free port, written to PORT_FILE) until killed.
A request whose signature botocore computes the same, over the headers
it names as signed, gets a GetParameter answer whose value is
`signed-by-sigv4`; any other gets 403 InvalidSignatureException saying
what differed (the signature never counts as a secret here: the
credentials are the test's).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
"""

import http.server
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def expected_signature(method, host, path, headers, body, credentials, region):
    """botocore's signature of the request as it arrived, over exactly
    the headers its Authorization header lists, at its X-Amz-Date."""
    authorization = headers.get("authorization", "")
    fields = dict(
        part.strip().split("=", 1)
        for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(",")
        if "=" in part
    )
    scope = fields.get("Credential", "").split("/")
    service = scope[3] if len(scope) > 3 else ""
    signed = fields.get("SignedHeaders", "").split(";")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path}",
        data=body,
        headers={name: headers[name] for name in signed if name in headers},
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(credentials, service, region)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return fields.get("Signature"), signer.signature(string_to_sign, request), canonical


def main(port_file, access_key, secret_key, region):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            token = headers.get("x-amz-security-token")
            judged = Credentials(access_key, secret_key, token)
            sent, expected, canonical = expected_signature(
                "POST", headers.get("host", ""), self.path, headers, body, judged, region
            )
            if sent and sent == expected:
                name = json.loads(body or b"{}").get("Name", "")
                status, answer = 200, {"Parameter": {"Name": name, "Value": "signed-by-sigv4"}}
            else:
                status, answer = 403, {
                    "__type": "InvalidSignatureException",
                    "message": f"botocore signs {expected}, the request carries {sent}; "
                    f"canonical request: {canonical!r}",
                }
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file, "w", encoding="utf-8") as file:
        file.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:5])
