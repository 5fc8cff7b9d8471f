"""`videoroom-emulator exec -- python -m pytest …` (how `cargo xtask test` runs this tier): the
tests find the emulator's URL and credentials in their environment, as a user's CI job does, and
the `emulator` fixture is that emulator, emptied before each test."""

import json
import os
import urllib.request

import pytest
from twilio.rest import Client

from conftest import EXEC_URL, ExecEmulator

pytestmark = pytest.mark.skipif(
    not EXEC_URL, reason="run under `videoroom-emulator exec` (cargo xtask test python)"
)


def test_exec_exports_the_base_url_and_both_names_of_every_credential():
    assert os.environ["TWILIO_VIDEO_BASE_URL"] == EXEC_URL
    for workshop, twilio in [
        ("ACCOUNT_SID", "TWILIO_ACCOUNT_SID"),
        ("AUTH_TOKEN", "TWILIO_AUTH_TOKEN"),
        ("API_KEY", "TWILIO_API_KEY_SID"),
        ("API_SECRET", "TWILIO_API_KEY_SECRET"),
    ]:
        assert os.environ[workshop] and os.environ[workshop] == os.environ[twilio]
    with urllib.request.urlopen(f"{EXEC_URL}/healthz", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok", "backend": "emulator"}


def test_the_client_from_the_exported_variables_sees_an_emptied_emulator(emulator):
    assert isinstance(emulator, ExecEmulator)
    client = Client(
        os.environ["API_KEY"], os.environ["API_SECRET"], account_sid=os.environ["ACCOUNT_SID"]
    )
    client.video.base_url = os.environ["TWILIO_VIDEO_BASE_URL"]
    assert client.video.v1.rooms.list() == [], "reset before the test"
    room = client.video.v1.rooms.create(unique_name="from-exec")
    assert client.video.v1.rooms("from-exec").fetch().sid == room.sid
