"""Deploy benchmark: slx vs Chalice vs cargo-lambda on one moto server.

moto runs in this process (ThreadedMotoServer) so that Chalice's Swagger 2.0
import, which stock moto refuses, can be relabelled as OpenAPI 3 with a
default description (see shared/reference/moto-vs-aws.md); nothing else is
changed. Requests are counted with moto's recorder; a request is a write
unless it is a GET (REST APIs) or a Get*/List*/Describe* action.

Usage: bench_deploy.py SLX [--baseline SLX_BEFORE] [--latency-ms N]
                           [--role-propagation-s S] [--only-slx] [--realistic]
                           [--events]

--baseline adds the same slx scenarios for another slx binary (an earlier
commit), in the same run, on the same moto. --latency-ms delays every
answer by N ms (real AWS answers in tens of ms); --role-propagation-s makes
Lambda refuse a role for S seconds after IAM created it, with the error
real AWS gives while IAM propagates ("The role defined for the function
cannot be assumed by Lambda").

--events measures slx deploying the events scaffold (four functions, an S3
notification, a schedule and a queue mapping), then the routes scaffold
(with --baseline, beside that slx: what finding removed handlers costs a
stage without any).

--realistic puts slx-sim (built next to SLX) in front of moto with real
AWS's behaviour (about 60 ms a call, 8 s of role propagation, Pending and
InProgress states, API Gateway quotas; docs/simulator.md), runs slx and
Chalice through it, counts requests from the simulator's log, and adds the
critical path: the longest chain of calls that ran one after another.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
# The recorder's file must be this run's own: other moto servers on the
# machine (parallel tests) would otherwise append to the same default file.
_recording_dir = tempfile.mkdtemp()
os.environ["MOTO_RECORDER_FILEPATH"] = os.path.join(_recording_dir, "recording.jsonl")

import moto.apigateway.models as apigw_models  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402


def _as_openapi3(api_doc):
    api_doc.setdefault("info", {}).setdefault("description", "chalice")
    if api_doc.pop("swagger", None):
        api_doc["openapi"] = "3.0.1"
    return api_doc


_import = apigw_models.APIGatewayBackend.import_rest_api
_put = apigw_models.APIGatewayBackend.put_rest_api
apigw_models.APIGatewayBackend.import_rest_api = lambda self, api_doc, *a, **kw: _import(self, _as_openapi3(api_doc), *a, **kw)
apigw_models.APIGatewayBackend.put_rest_api = lambda self, function_id, api_doc, *a, **kw: _put(
    self, function_id, _as_openapi3(api_doc), *a, **kw
)

parser = argparse.ArgumentParser()
parser.add_argument("slx")
parser.add_argument("--baseline")
parser.add_argument("--latency-ms", type=float, default=0)
parser.add_argument("--role-propagation-s", type=float, default=0)
parser.add_argument("--only-slx", action="store_true")
parser.add_argument("--realistic", action="store_true")
parser.add_argument("--events", action="store_true")
ARGS = parser.parse_args()
SLX = ARGS.slx

if ARGS.latency_ms:
    import moto.moto_server.werkzeug_app as werkzeug_app

    _dispatch = werkzeug_app.DomainDispatcherApplication.__call__

    def _slow(self, environ, start_response):
        time.sleep(ARGS.latency_ms / 1000)
        return _dispatch(self, environ, start_response)

    werkzeug_app.DomainDispatcherApplication.__call__ = _slow

if ARGS.role_propagation_s:
    import moto.awslambda.models as lambda_models
    import moto.iam.models as iam_models
    from moto.awslambda.exceptions import InvalidParameterValueException

    _role_created = {}
    _create_role = iam_models.IAMBackend.create_role

    def _remember_role(self, role_name, *a, **kw):
        _role_created[role_name] = time.monotonic()
        return _create_role(self, role_name, *a, **kw)

    iam_models.IAMBackend.create_role = _remember_role
    _create_function = lambda_models.LambdaBackend.create_function

    def _propagating(self, spec):
        created = _role_created.get(spec.get("Role", "").rsplit("/", 1)[-1])
        if created is not None and time.monotonic() - created < ARGS.role_propagation_s:
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")
        return _create_function(self, spec)

    lambda_models.LambdaBackend.create_function = _propagating
port = socket.socket()
port.bind(("127.0.0.1", 0))
PORT = port.getsockname()[1]
port.close()
server = ThreadedMotoServer(ip_address="127.0.0.1", port=PORT, verbose=False)
server.start()
ENDPOINT = f"http://127.0.0.1:{PORT}"
SIM = None
if ARGS.realistic:
    sim_binary = os.path.join(os.path.dirname(SLX), "slx-sim")
    SIM_PROCESS = subprocess.Popen(
        [sim_binary, "--upstream", ENDPOINT, "--realistic"], stdout=subprocess.PIPE, text=True
    )
    SIM = SIM_PROCESS.stdout.readline().strip().rsplit(" ", 1)[-1]
ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_REGION="us-east-1",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ENDPOINT_URL=SIM or ENDPOINT,
    AWS_EC2_METADATA_DISABLED="true",
)
ENV.pop("AWS_PROFILE", None)


def moto(path):
    urllib.request.urlopen(urllib.request.Request(ENDPOINT + path, method="POST"))


def is_write(record):
    headers = record["headers"]
    target = headers.get("X-Amz-Target")
    if target:
        return not target.rsplit(".", 1)[-1].startswith(("Describe", "Get", "List", "Filter"))
    body = record.get("body") or ""
    if record.get("body_encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    for pair in body.split("&"):
        if pair.startswith("Action="):
            return not pair[len("Action="):].startswith(("Get", "List", "Describe"))
    return record["method"] not in ("GET", "HEAD")


def sim_events():
    return json.loads(urllib.request.urlopen(SIM + "/_sim/events").read())


def critical_path(events):
    """The longest chain of calls each starting after the previous ended
    (greedy by end time: the most calls that ran one after another), as
    the calls themselves."""
    chain, last_end = [], -1.0
    for event in sorted(events, key=lambda e: e["ended_ms"]):
        if event["started_ms"] >= last_end:
            chain.append(event)
            last_end = event["ended_ms"]
    return chain


def described_path(chain):
    """`GetRestApis 61 ms, +3 ms CreateLease ...`: each call of a critical
    path with its time, and the time slx took before it (its own work, a
    poll's pause) when that is 5 ms or more."""
    parts, last_end = [], None
    for event in chain:
        gap = 0 if last_end is None else event["started_ms"] - last_end
        pause = f"+{gap:.0f} ms " if gap >= 5 else ""
        outcome = "" if event["outcome"] in ("forwarded", "slow") else f" [{event['outcome']}]"
        parts.append(f"{pause}{event['operation']}{outcome} {event['ended_ms'] - event['started_ms']:.0f} ms")
        last_end = event["ended_ms"]
    return ", ".join(parts)


def measure(cmd, cwd, env=ENV):
    if SIM:
        before = len(sim_events())
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"{cmd} failed:\n{done.stdout}\n{done.stderr}")
        events = sim_events()[before:]
        writes = sum(1 for e in events if e["mutating"])
        return elapsed, len(events), writes, critical_path(events)
    moto("/moto-api/recorder/reset-recording")
    moto("/moto-api/recorder/start-recording")
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    moto("/moto-api/recorder/stop-recording")
    if done.returncode != 0:
        sys.exit(f"{cmd} failed:\n{done.stdout}\n{done.stderr}")
    text = urllib.request.urlopen(ENDPOINT + "/moto-api/recorder/download-recording").read().decode()
    # moto's threads may append two records without a newline between.
    records, decoder, at = [], json.JSONDecoder(), 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        record, at = decoder.raw_decode(text, at)
        records.append(record)
    return elapsed, len(records), sum(1 for r in records if is_write(r)), None


def run(cmd, cwd, env=ENV):
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)


# Warm moto up: each service's backend is set up on its first call (IAM
# loads the managed policies, ~1 s), so the first tool measured would pay
# for it.
import boto3  # noqa: E402

for service, call in (
    ("iam", "list_roles"),
    ("sts", "get_caller_identity"),
    ("lambda", "list_functions"),
    ("apigateway", "get_rest_apis"),
    ("logs", "describe_log_groups"),
    ("s3", "list_buckets"),
    ("sqs", "list_queues"),
    ("scheduler", "list_schedule_groups"),
):
    client = boto3.client(
        service, endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    getattr(client, call)()

work = tempfile.mkdtemp()
rows = []

# --- slx: the scaffold (3 routes), both zips built beforehand; then the
# same app built by the deploy itself (a code change compiled while the
# stage is created), and a no-op deploy that builds.
def without_checks(app):
    """moto cannot run a function (it needs Docker): the scaffold's smoke
    check is dropped unless slx-sim, which runs the code, is in front."""
    if SIM:
        return
    config = os.path.join(app, "slx.toml")
    with open(config) as f:
        text = f.read()
    start = text.index("[[checks]]")
    end = text.index("\n\n", start)
    with open(config, "w") as f:
        f.write(text[:start] + text[end + 2:])


def two_builds(binary, home, init, old, new):
    """`slx init` (with `init` arguments) in a new `home`, built as v1.zip,
    then with `old` replaced by `new` in lib.rs as v2.zip. The app's dir,
    its lib.rs, the original source and the build's environment."""
    os.makedirs(home)
    run([binary, "init", "-q", *init, "shop"], home)
    app = os.path.join(home, "shop")
    without_checks(app)
    build_env = dict(ENV, CARGO_TARGET_DIR=os.path.join(work, "target"))
    run([binary, "build", "-q"], app, build_env)
    shutil.copy(os.path.join(app, ".slx/build/x86_64/bootstrap.zip"), os.path.join(home, "v1.zip"))
    lib = os.path.join(app, "src/lib.rs")
    with open(lib) as f:
        source = f.read()
    with open(lib, "w") as f:
        f.write(source.replace(old, new))
    run([binary, "build", "-q"], app, build_env)
    shutil.copy(os.path.join(app, ".slx/build/x86_64/bootstrap.zip"), os.path.join(home, "v2.zip"))
    return app, lib, source, build_env


def bench_slx(tool, binary, stage):
    home = os.path.join(work, tool.replace(" ", "-"))
    app, lib, source, build_env = two_builds(binary, home, [], '"{greeting}, {}!"', '"{greeting}, dear {}!"')
    deploy = [binary, "deploy", "-q", "--stage", stage]
    for label, zip_name in (("first deploy", "v1.zip"), ("no-op", "v1.zip"), ("code change", "v2.zip")):
        rows.append((tool, label, *measure(deploy + ["--zip", os.path.join(home, zip_name)], app)))
    # A setting of the function, then a route more (same zip).
    config = os.path.join(app, "slx.toml")
    for label, old_text, new_text in (
        ("config change", "memory = 256", "memory = 320"),
        ("route change", '"GET /health" = "health"', '"GET /health" = "health"\n"GET /ping" = "health"'),
    ):
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace(old_text, new_text, 1))
        rows.append((tool, label, *measure(deploy + ["--zip", os.path.join(home, "v2.zip")], app)))
    with open(lib, "w") as f:
        f.write(source.replace('"{greeting}, {}!"', '"{greeting}, dearest {}!"'))
    build_stage = [binary, "deploy", "-q", "--stage", stage + "b"]
    rows.append((tool, "first deploy, code compiled by it", *measure(build_stage, app, build_env)))
    rows.append((tool, "no-op, no --zip", *measure(build_stage, app, build_env)))


def bench_events(tool, binary, stage):
    """The events scaffold: an upload handler, a nightly job and a queue
    worker besides the API (four functions), on a bucket and queue made
    here; then the upload handler removed from slx.toml."""
    home = os.path.join(work, tool.replace(" ", "-") + "-events")
    app, _, _, _ = two_builds(binary, home, ["--template", "events"], "running job", "running the job")
    aws = dict(endpoint_url=SIM or ENDPOINT, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    s3 = boto3.client("s3", **aws)
    s3.create_bucket(Bucket="shop-uploads")
    sqs = boto3.client("sqs", **aws)
    sqs.create_queue(QueueName="shop-jobs", Attributes={"VisibilityTimeout": "180"})
    # Another team already listens to the bucket (its entry is kept).
    audit = sqs.create_queue(QueueName="audit")["QueueUrl"]
    audit_arn = sqs.get_queue_attributes(QueueUrl=audit, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket="shop-uploads",
        NotificationConfiguration={
            "QueueConfigurations": [{"Id": "audit", "QueueArn": audit_arn, "Events": ["s3:ObjectRemoved:*"]}]
        },
    )
    deploy = [binary, "deploy", "-q", "--stage", stage]
    for label, zip_name in (("events: first deploy", "v1.zip"), ("events: no-op", "v1.zip"), ("events: code change", "v2.zip")):
        rows.append((tool, label, *measure(deploy + ["--zip", os.path.join(home, zip_name)], app)))
    config = os.path.join(app, "slx.toml")
    with open(config) as f:
        text = f.read()
    start = text.index("[events.on_upload]")
    with open(config, "w") as f:
        f.write(text[:start] + text[text.index("[events.nightly]"):])
    rows.append((tool, "events: upload handler removed", *measure(deploy + ["--zip", os.path.join(home, "v2.zip")], app)))


if ARGS.events:
    bench_events("slx", SLX, "ev")
if ARGS.baseline:
    bench_slx("slx (baseline)", ARGS.baseline, "base")
bench_slx("slx", SLX, "cur")


def finish():
    if SIM:
        SIM_PROCESS.terminate()
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
    if SIM:
        print("| tool | scenario | wall time (s) | requests | writes | critical path (calls) |")
        print("|---|---|---|---|---|---|")
        for tool, label, elapsed, total, writes, path in rows:
            print(f"| {tool} | {label} | {elapsed:.2f} | {total} | {writes} | {len(path)} |")
        print()
        print("Critical paths (each call with its time; +N ms: slx's own time before it):")
        print()
        for tool, label, elapsed, _, _, path in rows:
            print(f"- {tool}, {label} ({elapsed:.2f} s): {described_path(path)}")
    else:
        print("| tool | scenario | wall time (s) | requests | writes |")
        print("|---|---|---|---|---|")
        for tool, label, elapsed, total, writes, _ in rows:
            print(f"| {tool} | {label} | {elapsed:.2f} | {total} | {writes} |")
    sys.exit(0)


if ARGS.only_slx or ARGS.events:
    finish()

# --- Chalice: the same three routes
run(["chalice", "new-project", "shopc"], work)
capp = os.path.join(work, "shopc")
CHALICE_APP = '''from chalice import Chalice
app = Chalice(app_name="shopc")

@app.route("/greet", methods=["POST"])
def greet():
    return {"message": "%s, " + app.current_request.json_body["name"]}

@app.route("/orders/{id}", methods=["POST"])
def create_order(id):
    return {"id": id, "status": "accepted"}

@app.route("/health")
def health():
    return {"status": "ok"}
'''
with open(os.path.join(capp, "app.py"), "w") as f:
    f.write(CHALICE_APP % "hello")
rows.append(("Chalice", "first deploy", *measure(["chalice", "deploy", "--stage", "dev"], capp)))
rows.append(("Chalice", "no-op", *measure(["chalice", "deploy", "--stage", "dev"], capp)))
with open(os.path.join(capp, "app.py"), "w") as f:
    f.write(CHALICE_APP % "hi")
rows.append(("Chalice", "code change", *measure(["chalice", "deploy", "--stage", "dev"], capp)))
if ARGS.realistic:
    # cargo-lambda waits a fixed time after creating its role rather
    # than retrying: through real-AWS timing it is compared on moto only.
    finish()

# --- cargo-lambda: one function, no API Gateway (it has none)
clapp = os.path.join(work, "cl")
os.makedirs(os.path.join(clapp, "src"))
with open(os.path.join(clapp, "Cargo.toml"), "w") as f:
    f.write('''[package]
name = "hello"
version = "0.1.0"
edition = "2024"
[dependencies]
lambda_http = "1"
tokio = { version = "1", features = ["macros"] }
''')
MAIN = '''use lambda_http::{run, service_fn, Body, Error, Request, Response};
async fn handler(_: Request) -> Result<Response<Body>, Error> { Ok(Response::new("%s".into())) }
#[tokio::main]
async fn main() -> Result<(), Error> { run(service_fn(handler)).await }
'''
with open(os.path.join(clapp, "src/main.rs"), "w") as f:
    f.write(MAIN % "hello")
cl_env = dict(ENV, CARGO_TARGET_DIR=os.path.join(work, "cl-target"))
run(["cargo", "lambda", "build", "--release", "--x86-64"], clapp, cl_env)
deploy = ["cargo", "lambda", "deploy", "--binary-name", "hello", "hello-dev"]
rows.append(("cargo-lambda", "first deploy", *measure(deploy, clapp, cl_env)))
rows.append(("cargo-lambda", "no-op", *measure(deploy, clapp, cl_env)))
with open(os.path.join(clapp, "src/main.rs"), "w") as f:
    f.write(MAIN % "hi")
run(["cargo", "lambda", "build", "--release", "--x86-64"], clapp, cl_env)
rows.append(("cargo-lambda", "code change", *measure(deploy, clapp, cl_env)))

finish()
