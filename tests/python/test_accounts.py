"""Several accounts in one emulator (a seed's `[[accounts]]`, issue 9), through the official
PyPI twilio client: each account's credentials act as that account and see its rooms only."""

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import ACCOUNT_SID, AUTH_TOKEN, Server, binary, client_for

TENANT_SID = "AC0000000000000000000000000000000b"
TENANT_TOKEN = "tenant-b-token-not-a-secret"
TENANT_KEY = "SK0000000000000000000000000000000b"
TENANT_SECRET = "tenant-b-secret-not-a-secret"

SEED = f"""
[[accounts]]
sid = "{TENANT_SID}"
auth_token = "{TENANT_TOKEN}"
api_keys = [{{ sid = "{TENANT_KEY}", secret = "{TENANT_SECRET}" }}]

[[accounts.rooms]]
UniqueName = "tenant-standup"
"""


@pytest.fixture
def two_accounts(tmp_path):
    seed = tmp_path / "seed.toml"
    seed.write_text(SEED)
    server = Server(
        [binary("VIDEOROOM_EMULATOR_BIN", "videoroom-emulator"), "--port", "0", "--seed", str(seed)]
    )
    yield server
    server.stop()


def test_the_second_accounts_api_key_acts_as_that_account_only(two_accounts):
    tenant = client_for(two_accounts.url, TENANT_KEY, TENANT_SECRET, account_sid=TENANT_SID)
    first = client_for(two_accounts.url, ACCOUNT_SID, AUTH_TOKEN)

    seeded = tenant.video.v1.rooms("tenant-standup").fetch()
    assert seeded.account_sid == TENANT_SID
    created = tenant.video.v1.rooms.create(unique_name="tenant-room")
    assert created.account_sid == TENANT_SID
    assert sorted(r.unique_name for r in tenant.video.v1.rooms.list()) == [
        "tenant-room",
        "tenant-standup",
    ]

    assert first.video.v1.rooms.list() == [], "the first account sees none of the tenant's rooms"
    with pytest.raises(TwilioRestException) as refused:
        first.video.v1.rooms(created.sid).fetch()
    assert (refused.value.status, refused.value.code) == (404, 20404)
