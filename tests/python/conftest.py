"""Fixtures of the Python tier: the project's binaries on loopback ports, the official PyPI
twilio client pointed at them, and a loopback receiver for status callbacks.

`cargo xtask test` passes the built binaries in VIDEOROOM_BIN and VIDEOROOM_EMULATOR_BIN; run
by hand, the debug builds under target/ are used when they exist.

`cargo xtask test` runs pytest under `videoroom-emulator exec`, as a user's CI would: the
`emulator` fixture then uses that emulator (VIDEOROOM_EMULATOR_URL), reset before each test, in
place of starting one per test.
"""

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from twilio.rest import Client

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# The seeded credentials of `videoroom_core::credentials`, the emulator's defaults.
ACCOUNT_SID = "AC7e570000000000000000000000000000"
AUTH_TOKEN = "emulator-auth-token-not-a-secret"
API_KEY_SID = "SK7e570000000000000000000000000000"
API_KEY_SECRET = "emulator-api-secret-not-a-secret"

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")

# Credential and backend variables both binaries read; a developer's real Twilio keys in the
# environment must never reach a test, so the children get only what a test sets.
CREDENTIAL_VARIABLES = [
    "ACCOUNT_SID", "TWILIO_ACCOUNT_SID", "AUTH_TOKEN", "TWILIO_AUTH_TOKEN",
    "API_KEY", "TWILIO_API_KEY_SID", "API_SECRET", "TWILIO_API_KEY_SECRET",
    "VIDEOROOM_BACKEND", "TWILIO_VIDEO_BASE_URL", "PORT",
]


def binary(env_name, file_name):
    path = os.environ.get(env_name)
    if path:
        return path
    built = PROJECT_ROOT / "target" / "debug" / file_name
    if built.is_file():
        return str(built)
    raise RuntimeError(
        f"{env_name} is not set and {built} does not exist: "
        "run this tier with `cargo xtask test python`"
    )


class Server:
    """A binary started on port 0 in an empty directory (so no `.env` of the developer's is
    read); `url` is the address it printed once listening."""

    def __init__(self, args, env=None, timeout=20.0):
        self.cwd = tempfile.mkdtemp(prefix="videoroom-pytest-")
        child_env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
        child_env.update(env or {})
        self.process = subprocess.Popen(
            args,
            cwd=self.cwd,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = []
        found = threading.Event()
        self.url = None

        def read():
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace")
                self.output.append(line)
                match = LISTENING.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        # The reader keeps draining output after start-up so the child never blocks on a full pipe.
        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{' '.join(map(str, args))} did not print 'listening on http://127.0.0.1:<port>' "
                    f"(exit code {self.process.returncode}); output:\n{''.join(self.output)}"
                )

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.cwd, ignore_errors=True)


def start_emulator():
    return Server([binary("VIDEOROOM_EMULATOR_BIN", "videoroom-emulator"), "--port", "0"])


def start_videoroom(args, env):
    # It runs in an empty directory, so it is pointed at the project's workshop page explicitly.
    env = {"VIDEOROOM_WORKSHOP_DIR": str(PROJECT_ROOT / "workshop"), **env}
    return Server([binary("VIDEOROOM_BIN", "videoroom"), "--port", "0", *args], env=env)


def client_for(url, username=ACCOUNT_SID, password=AUTH_TOKEN, account_sid=None):
    client = Client(username, password, account_sid=account_sid)
    client.video.base_url = url
    return client


class ExecEmulator:
    """The emulator `videoroom-emulator exec` started for this run, with its URL and
    credentials from the environment it exported; `reset()` empties it."""

    def __init__(self, url):
        self.url = url
        self.output = []
        exported = (os.environ.get("ACCOUNT_SID"), os.environ.get("AUTH_TOKEN"))
        if exported != (ACCOUNT_SID, AUTH_TOKEN):
            raise RuntimeError(
                "videoroom-emulator exec exported an account other than the seeded test account "
                f"({exported[0]}); run it without ACCOUNT_SID/AUTH_TOKEN in the environment or a "
                ".env file in its working directory"
            )

    def reset(self):
        credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        request = urllib.request.Request(
            f"{self.url}/emulator/reset",
            headers={"Authorization": f"Basic {credentials}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.read()

    def stop(self):
        """It outlives the test: `exec` stops it when pytest ends."""


EXEC_URL = os.environ.get("VIDEOROOM_EMULATOR_URL")


@pytest.fixture
def emulator():
    """An empty standalone emulator per test, so lists and counts are exact: the one of
    `videoroom-emulator exec`, reset, when pytest runs under it; else a fresh one."""
    if EXEC_URL:
        server = ExecEmulator(EXEC_URL)
        server.reset()
        yield server
        return
    server = start_emulator()
    yield server
    server.stop()


@pytest.fixture
def client(emulator):
    return client_for(emulator.url)


def add_simulated_participant(emulator_url, room, identity):
    """Adds a participant through the emulator's control route: Twilio has no REST create for
    participants (they appear when a client connects)."""
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    request = urllib.request.Request(
        f"{emulator_url}/emulator/rooms/{urllib.parse.quote(room, safe='')}/participants",
        data=urllib.parse.urlencode({"Identity": identity}).encode(),
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise AssertionError(
            f"POST /emulator/rooms/{room}/participants Identity={identity} answered "
            f"{error.code}: {error.read().decode('utf-8', 'replace')}"
        ) from error
    return json.loads(body) if body else None


class Receiver:
    """A loopback HTTP server that records each request (method, URL as addressed, headers,
    body) and answers 200."""

    def __init__(self):
        self.requests = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                with receiver.condition:
                    receiver.requests.append({
                        "method": self.command,
                        "url": f"{receiver.base}{self.path}",
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    })
                    receiver.condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = _record
            do_POST = _record

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout=15.0, what="the expected requests"):
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout} s waiting for {what}; received: "
                        f"{json.dumps(self.requests, indent=2, ensure_ascii=False)}"
                    )
                self.condition.wait(min(left, 0.25))
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()
