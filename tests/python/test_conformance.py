"""The emulator measured against Twilio's own OpenAPI description with schemathesis, in its
stateful mode (sequences of calls that reuse the SIDs earlier answers returned).

Checks: not_a_server_error, response_schema_conformance, status_code_conformance,
use_after_free and ensure_resource_availability. Twilio's description documents success
statuses only, so the error answers Twilio itself gives (400 with 53xxx, 404 with 20404, ...)
are listed once, with the reason, in conformance-deviations.toml; any other failure fails the
test. The run is bounded (examples and steps) to keep the tier's time reasonable.
"""

import os
import tomllib
from pathlib import Path

import hypothesis
import pytest
import schemathesis
import yaml
from schemathesis import checks
from schemathesis.core.failures import Failure, FailureGroup

from conftest import ACCOUNT_SID, AUTH_TOKEN, PROJECT_ROOT

# ../shared beside the project, as for emulator/tests/api/openapi.rs, or TWILIO_OPENAPI_FILE.
SPEC = Path(
    os.environ.get("TWILIO_OPENAPI_FILE")
    or PROJECT_ROOT.parent / "shared" / "reference" / "openapi" / "twilio_video_v1.yaml"
)
DEVIATIONS = Path(__file__).with_name("conformance-deviations.toml")
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.use_after_free,
    checks.ensure_resource_availability,
]


def with_links(spec):
    """Twilio's file declares no OpenAPI links, and schemathesis' stateful mode follows links:
    without them it would only call operations with made-up SIDs. A room is the one resource a
    REST client creates, so CreateRoom's answer is linked to every operation whose only path
    parameter is the room (`{Sid}` or `{RoomSid}`), with the new room's SID. Participants
    cannot be created over REST (they join through signaling), so their operations are
    exercised with generated SIDs only."""
    create = spec["paths"]["/v1/Rooms"]["post"]["responses"]["201"]
    links = create.setdefault("links", {})
    for path, item in spec["paths"].items():
        if not path.startswith("/v1/Rooms/{"):
            continue
        params = [segment[1:-1] for segment in path.split("/") if segment.startswith("{")]
        if len(params) != 1:
            continue
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                links[op["operationId"]] = {
                    "operationId": op["operationId"],
                    "parameters": {params[0]: "$response.body#/sid"},
                }
    # Composition hooks are created over REST too: their answer feeds fetch, update and
    # delete, which lets use_after_free and ensure_resource_availability judge them.
    hook = spec["paths"]["/v1/CompositionHooks"]["post"]["responses"]["201"]
    hook_links = hook.setdefault("links", {})
    for method, op in spec["paths"]["/v1/CompositionHooks/{Sid}"].items():
        if isinstance(op, dict) and "operationId" in op:
            hook_links[op["operationId"]] = {
                "operationId": op["operationId"],
                "parameters": {"Sid": "$response.body#/sid"},
            }
    return spec


def run_checks(chosen, deviations, case, response, recorder=None):
    """Runs each check on one answer; returns the failures no deviation explains."""
    failures = []
    for check in chosen:
        try:
            case.validate_response(response, checks=[check], recorder=recorder)
        except (Failure, FailureGroup) as failure:
            if not accepted(deviations, check.__name__, response):
                failures.append(
                    f"{case.operation.label} -> {response.status_code} "
                    f"{check.__name__}: {str(failure)[:400]}"
                )
    return failures


def load_deviations():
    with DEVIATIONS.open("rb") as f:
        entries = tomllib.load(f)["deviation"]
    for entry in entries:
        assert entry.get("reason"), f"a deviation without a reason: {entry}"
    return entries


def twilio_code(response):
    try:
        body = response.json()
    except Exception:
        return None
    return body.get("code") if isinstance(body, dict) else None


def accepted(deviations, check_name, response):
    code = twilio_code(response)
    return any(
        d["check"] == check_name
        and response.status_code in d["statuses"]
        and code in d["codes"]
        for d in deviations
    )


def load_schema(base_url):
    if not SPEC.is_file():
        # CI must measure; a checkout without ../shared says so and skips.
        assert os.environ.get("CI") != "true", f"the OpenAPI file is not at {SPEC}"
        pytest.skip(f"the OpenAPI file is not at {SPEC} (set TWILIO_OPENAPI_FILE)")
    with SPEC.open(encoding="utf-8") as f:
        spec = with_links(yaml.safe_load(f))
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(base_url=base_url)
    return schema


def test_every_operation_answers_as_twilios_description_says(emulator):
    """Each of the file's operations, called alone with generated data: the stateful run below
    only reaches operations linked from a created resource."""
    schema = load_schema(emulator.url)
    deviations = load_deviations()
    unexplained = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 39, [op.label for op in operations]
    stateless = [
        checks.not_a_server_error,
        checks.response_schema_conformance,
        checks.status_code_conformance,
    ]
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def call(case):
            response = case.call(auth=(ACCOUNT_SID, AUTH_TOKEN))
            unexplained.extend(run_checks(stateless, deviations, case, response))

        call()
    assert not unexplained, "\n".join(unexplained)


def test_the_emulator_conforms_to_twilios_openapi_description(emulator):
    schema = load_schema(emulator.url)
    deviations = load_deviations()
    unexplained = []
    seen = set()

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"auth": (ACCOUNT_SID, AUTH_TOKEN)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            seen.add((case.operation.label, response.status_code))
            unexplained.extend(
                run_checks(CHECKS, deviations, case, response, getattr(self, "recorder", None))
            )

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=100,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    print(f"{len(seen)} (operation, status) pairs exercised:")
    for label, status in sorted(seen):
        print(f"  {status} {label}")
    assert not unexplained, "\n".join(unexplained)
