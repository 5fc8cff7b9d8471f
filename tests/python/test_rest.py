"""The official PyPI twilio library against the emulator: the cases of issue 3's client tier.

Rooms (create with parameters, fetch by SID and unique name, list with filters across pages,
complete), Twilio's exceptions (53113 for a duplicate name, 20003 for bad credentials),
participants (list, fetch, disconnect), status callbacks validated with the library's own
RequestValidator, and `videoroom --backend twilio` creating its rooms in a standalone emulator.
"""

import json
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator

from conftest import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    add_simulated_participant,
    client_for,
    start_emulator,
    start_videoroom,
)

ROOM_SID = re.compile(r"^RM[0-9a-f]{32}$")
PARTICIPANT_SID = re.compile(r"^PA[0-9a-f]{32}$")


def assert_twilio_error(excinfo, status, code):
    error = excinfo.value
    assert error.status == status, error
    assert error.code == code, error
    assert error.uri, "the exception names the request"


# Rooms -----------------------------------------------------------------------------------------


def test_a_room_created_with_parameters_has_them_and_is_in_progress(client, emulator):
    room = client.video.v1.rooms.create(
        unique_name="daily-standup",
        type="go",
        max_participants=2,
        empty_room_timeout=10,
        unused_room_timeout=7,
        status_callback="http://127.0.0.1:9/callbacks",
        status_callback_method="GET",
    )
    assert ROOM_SID.match(room.sid)
    assert room.status == "in-progress"
    assert room.unique_name == "daily-standup"
    assert room.type == "go"
    assert room.max_participants == 2
    assert room.empty_room_timeout == 10
    assert room.unused_room_timeout == 7
    assert room.status_callback == "http://127.0.0.1:9/callbacks"
    assert room.status_callback_method == "GET"
    assert room.account_sid == ACCOUNT_SID
    assert isinstance(room.date_created, datetime)
    assert room.date_created.tzinfo is not None and room.date_created.microsecond == 0
    assert room.end_time is None
    assert room.duration is None
    assert room.url == f"{emulator.url}/v1/Rooms/{room.sid}"


def test_a_room_created_without_parameters_is_a_group_room_named_after_its_sid(client):
    room = client.video.v1.rooms.create()
    assert room.type == "group"
    assert room.unique_name == room.sid
    assert room.max_participants == 50


def test_a_room_is_fetched_by_sid_and_by_unique_name(client):
    for name in ["weekly-review", "週次 ミーティング"]:
        created = client.video.v1.rooms.create(unique_name=name)
        assert client.video.v1.rooms(created.sid).fetch().sid == created.sid
        by_name = client.video.v1.rooms(name).fetch()
        assert by_name.sid == created.sid
        assert by_name.unique_name == name


def test_an_unknown_room_is_a_404_with_code_20404(client):
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms("no-such-room").fetch()
    assert_twilio_error(excinfo, 404, 20404)


def test_a_duplicate_unique_name_is_refused_with_53113(client):
    client.video.v1.rooms.create(unique_name="only-once")
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms.create(unique_name="only-once")
    assert_twilio_error(excinfo, 400, 53113)


def test_bad_credentials_are_refused_with_20003(emulator):
    wrong_token = client_for(emulator.url, ACCOUNT_SID, "not-the-auth-token")
    with pytest.raises(TwilioRestException) as excinfo:
        wrong_token.video.v1.rooms("anything").fetch()
    assert_twilio_error(excinfo, 401, 20003)

    # twilio-python reports a refused list page as a plain TwilioException carrying the response.
    with pytest.raises(TwilioException) as excinfo:
        wrong_token.video.v1.rooms.list()
    response = excinfo.value.args[1]
    assert response.status_code == 401
    assert json.loads(response.text)["code"] == 20003

    wrong_secret = client_for(emulator.url, API_KEY_SID, "not-the-secret", account_sid=ACCOUNT_SID)
    with pytest.raises(TwilioRestException) as excinfo:
        wrong_secret.video.v1.rooms.create(unique_name="intruder")
    assert_twilio_error(excinfo, 401, 20003)
    assert client_for(emulator.url).video.v1.rooms.list(unique_name="intruder") == []


def test_the_api_key_and_secret_authenticate_like_the_account(emulator):
    client = client_for(emulator.url, API_KEY_SID, API_KEY_SECRET, account_sid=ACCOUNT_SID)
    room = client.video.v1.rooms.create(unique_name="by-api-key")
    assert room.account_sid == ACCOUNT_SID


def test_completing_a_room_ends_it_and_frees_its_unique_name(client):
    room = client.video.v1.rooms.create(unique_name="workshop")
    completed = client.video.v1.rooms(room.sid).update(status="completed")
    assert completed.status == "completed"
    assert completed.end_time is not None and completed.end_time >= room.date_created
    assert completed.duration == int((completed.end_time - room.date_created).total_seconds())
    assert client.video.v1.rooms(room.sid).fetch().status == "completed"
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms("workshop").fetch()
    assert_twilio_error(excinfo, 404, 20404)
    again = client.video.v1.rooms.create(unique_name="workshop")
    assert again.sid != room.sid


@pytest.fixture
def seven_rooms(client):
    """Seven rooms, the last two completed."""
    rooms = [client.video.v1.rooms.create(unique_name=f"list-room-{i}") for i in range(1, 8)]
    for room in rooms[5:]:
        client.video.v1.rooms(room.sid).update(status="completed")
    return rooms


def test_pages_of_two_follow_next_page_url_over_every_in_progress_room(client, emulator, seven_rooms):
    page = client.video.v1.rooms.page(page_size=2)
    sizes, seen = [], []
    while page is not None:
        records = list(page)
        sizes.append(len(records))
        seen.extend(room.sid for room in records)
        if page.next_page_url:
            assert page.next_page_url.startswith(f"{emulator.url}/v1/Rooms?")
        page = page.next_page()
    assert sizes == [2, 2, 1]
    assert sorted(seen) == sorted(room.sid for room in seven_rooms[:5])
    listed = client.video.v1.rooms.list(page_size=2)
    assert sorted(room.sid for room in listed) == sorted(seen)


def test_the_status_and_name_filters_select_rooms(client, seven_rooms):
    completed = client.video.v1.rooms.list(status="completed", page_size=2)
    assert sorted(room.sid for room in completed) == sorted(room.sid for room in seven_rooms[5:])
    assert [room.sid for room in client.video.v1.rooms.list(unique_name="list-room-2")] == [seven_rooms[1].sid]
    assert client.video.v1.rooms.list(unique_name="list-room-7") == []


def test_date_filters_split_rooms_created_in_different_seconds(client):
    first = client.video.v1.rooms.create()
    for _ in range(5):
        time.sleep(1.1)
        later = client.video.v1.rooms.create()
        if later.date_created > first.date_created:
            break
    assert later.date_created > first.date_created
    after = {r.sid for r in client.video.v1.rooms.list(date_created_after=later.date_created, page_size=2)}
    assert later.sid in after and first.sid not in after
    before = {r.sid for r in client.video.v1.rooms.list(date_created_before=later.date_created, page_size=2)}
    assert first.sid in before and later.sid not in before
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    assert client.video.v1.rooms.list(date_created_after=tomorrow) == []


# Participants ----------------------------------------------------------------------------------


def test_participants_are_listed_fetched_and_disconnected(client, emulator):
    room = client.video.v1.rooms.create(unique_name="standup")
    for identity in ["alice", "bob", "山田 太郎"]:
        add_simulated_participant(emulator.url, room.sid, identity)

    participants = client.video.v1.rooms(room.sid).participants.list()
    assert sorted(p.identity for p in participants) == sorted(["alice", "bob", "山田 太郎"])
    assert all(PARTICIPANT_SID.match(p.sid) and p.status == "connected" for p in participants)
    assert all(p.room_sid == room.sid and p.end_time is None for p in participants)

    alice = client.video.v1.rooms(room.sid).participants("alice").fetch()
    assert client.video.v1.rooms(room.sid).participants(alice.sid).fetch().identity == "alice"
    assert client.video.v1.rooms("standup").participants("山田 太郎").fetch().identity == "山田 太郎"

    kicked = client.video.v1.rooms(room.sid).participants(alice.sid).update(status="disconnected")
    assert kicked.status == "disconnected"
    assert kicked.end_time is not None and isinstance(kicked.duration, int)
    connected = client.video.v1.rooms(room.sid).participants.list()
    assert sorted(p.identity for p in connected) == sorted(["bob", "山田 太郎"])
    disconnected = client.video.v1.rooms(room.sid).participants.list(status="disconnected")
    assert [p.sid for p in disconnected] == [alice.sid]
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms(room.sid).participants("alice").fetch()
    assert_twilio_error(excinfo, 404, 20404)


def test_completing_a_room_disconnects_its_participants(client, emulator):
    room = client.video.v1.rooms.create()
    for identity in ["gina", "hank"]:
        add_simulated_participant(emulator.url, room.sid, identity)
    client.video.v1.rooms(room.sid).update(status="completed")
    gone = client.video.v1.rooms(room.sid).participants.list(status="disconnected")
    assert sorted(p.identity for p in gone) == ["gina", "hank"]
    assert client.video.v1.rooms(room.sid).participants.list(status="connected") == []


# Status callbacks ------------------------------------------------------------------------------


def callback_params(request):
    if request["method"] == "GET":
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request["url"]).query, keep_blank_values=True))
    return dict(urllib.parse.parse_qsl(request["body"], keep_blank_values=True))


def test_status_callbacks_validate_with_the_request_validator(client, emulator, receiver):
    callback_url = f"{receiver.base}/callbacks/post?workshop=tokyo"
    room = client.video.v1.rooms.create(unique_name="callback-room", status_callback=callback_url)
    add_simulated_participant(emulator.url, room.sid, "alice")
    client.video.v1.rooms(room.sid).participants("alice").update(status="disconnected")
    client.video.v1.rooms(room.sid).update(status="completed")

    wanted = {"room-created", "participant-connected", "participant-disconnected", "room-ended"}
    requests = receiver.wait_for(
        lambda got: wanted <= {callback_params(r).get("StatusCallbackEvent") for r in got},
        what=", ".join(sorted(wanted)),
    )
    validator = RequestValidator(AUTH_TOKEN)
    impostor = RequestValidator("some-other-auth-token")
    for request in requests:
        params = callback_params(request)
        signature = request["headers"].get("x-twilio-signature")
        assert request["method"] == "POST"
        assert request["url"] == callback_url
        assert signature, f"{params['StatusCallbackEvent']} carries X-Twilio-Signature"
        assert validator.validate(callback_url, params, signature), params["StatusCallbackEvent"]
        assert not impostor.validate(callback_url, params, signature)
        assert not validator.validate(callback_url, {**params, "RoomSid": "RMforged"}, signature)
        assert params["AccountSid"] == ACCOUNT_SID
        assert params["RoomSid"] == room.sid
        assert params["RoomName"] == "callback-room"
    by_event = {callback_params(r)["StatusCallbackEvent"]: callback_params(r) for r in requests}
    assert by_event["participant-connected"]["ParticipantIdentity"] == "alice"
    assert by_event["room-ended"]["RoomStatus"] == "completed"


def test_get_status_callbacks_sign_their_full_url(client, receiver):
    callback_url = f"{receiver.base}/callbacks/get"
    room = client.video.v1.rooms.create(status_callback=callback_url, status_callback_method="GET")
    client.video.v1.rooms(room.sid).update(status="completed")
    requests = receiver.wait_for(
        lambda got: {"room-created", "room-ended"} <= {callback_params(r).get("StatusCallbackEvent") for r in got},
        what="room-created and room-ended",
    )
    validator = RequestValidator(AUTH_TOKEN)
    for request in requests:
        assert request["method"] == "GET"
        assert callback_params(request)["RoomSid"] == room.sid
        assert validator.validate(request["url"], {}, request["headers"]["x-twilio-signature"])


# The token service over the Twilio adapter ------------------------------------------------------


def test_videoroom_with_the_twilio_backend_creates_its_rooms_in_the_emulator():
    emulator = start_emulator()
    try:
        videoroom = start_videoroom(
            ["--backend", "twilio"],
            {
                "TWILIO_VIDEO_BASE_URL": emulator.url,
                "ACCOUNT_SID": ACCOUNT_SID,
                "AUTH_TOKEN": AUTH_TOKEN,
                "API_KEY": API_KEY_SID,
                "API_SECRET": API_KEY_SECRET,
            },
        )
        try:
            with urllib.request.urlopen(f"{videoroom.url}/video-token?identity=alice", timeout=20) as response:
                assert response.status == 200
                answer = json.load(response)
            client = client_for(emulator.url)
            room = client.video.v1.rooms(answer["roomSid"]).fetch()
            assert room.status == "in-progress"
            assert room.unique_name == answer["room"] == "myroom"
            claims = jwt.decode(answer["token"], API_KEY_SECRET, algorithms=["HS256"])
            assert claims["grants"] == {"identity": "alice", "video": {"room": "myroom"}}
        finally:
            videoroom.stop()
    finally:
        emulator.stop()
