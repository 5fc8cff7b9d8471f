"""The official twilio-python client on the resources beyond Rooms and Participants: one call or
more of each (RecordingRules, SubscribeRules, Anonymize, Recordings, Compositions,
Transcriptions), as an application would make them."""

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import add_simulated_participant
from test_rest import assert_twilio_error


def test_recording_rules_are_set_and_read_back(client):
    room = client.video.v1.rooms.create(unique_name="recorded")
    assert client.video.v1.rooms(room.sid).recording_rules.fetch().rules == []
    rules = [{"type": "exclude", "all": True}, {"type": "include", "kind": "audio"}]
    updated = client.video.v1.rooms(room.sid).recording_rules.update(rules=rules)
    assert updated.room_sid == room.sid
    assert updated.rules == rules
    assert client.video.v1.rooms("recorded").recording_rules.fetch().rules == rules
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms(room.sid).recording_rules.update(rules=[])
    assert_twilio_error(excinfo, 400, 53120)


def test_subscribe_rules_are_set_and_read_back(client, emulator):
    room = client.video.v1.rooms.create(unique_name="subscribed")
    add_simulated_participant(emulator.url, room.sid, "alice")
    rules = client.video.v1.rooms(room.sid).participants("alice").subscribe_rules
    assert rules.fetch().rules[0]["type"] == "include"
    updated = rules.update(rules=[{"type": "include", "publisher": "bob", "priority": "high"}])
    assert updated.rules[0]["publisher"] == "bob"
    assert updated.rules[0]["priority"] == "high"


def test_a_disconnected_participant_is_anonymized(client, emulator):
    room = client.video.v1.rooms.create(unique_name="private")
    add_simulated_participant(emulator.url, room.sid, "carol")
    carol = client.video.v1.rooms(room.sid).participants("carol").fetch()
    client.video.v1.rooms(room.sid).participants(carol.sid).update(status="disconnected")
    anonymized = client.video.v1.rooms(room.sid).participants(carol.sid).anonymize().update()
    assert anonymized.identity == carol.sid
    assert client.video.v1.rooms(room.sid).participants(carol.sid).fetch().identity == carol.sid


def test_no_recording_exists_and_compositions_and_transcriptions_are_refused(client):
    room = client.video.v1.rooms.create(unique_name="media", record_participants_on_connect=True)
    assert client.video.v1.recordings.list() == []
    assert client.video.v1.rooms(room.sid).recordings.list() == []
    assert client.video.v1.compositions.list() == []
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.recordings("RT00000000000000000000000000000000").fetch()
    assert_twilio_error(excinfo, 404, 20404)
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.compositions.create(room_sid=room.sid)
    assert_twilio_error(excinfo, 400, 20001)
    assert "not available in the emulator" in excinfo.value.msg
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.rooms(room.sid).transcriptions.create()
    assert_twilio_error(excinfo, 400, 20001)


def test_composition_hooks_and_default_settings_are_stored(client):
    hook = client.video.v1.composition_hooks.create(
        friendly_name="Audio only", audio_sources=["*"], format="mp4"
    )
    assert hook.sid.startswith("HK") and hook.audio_sources == ["*"]
    assert [h.sid for h in client.video.v1.composition_hooks.list(enabled=True)] == [hook.sid]
    assert client.video.v1.composition_hooks(hook.sid).update(friendly_name="Renamed").friendly_name == "Renamed"
    assert client.video.v1.composition_hooks(hook.sid).delete() is True
    with pytest.raises(TwilioRestException) as excinfo:
        client.video.v1.composition_hooks(hook.sid).fetch()
    assert_twilio_error(excinfo, 404, 20404)

    assert client.video.v1.recording_settings().fetch().friendly_name is None
    stored = client.video.v1.recording_settings().create(friendly_name="archive")
    assert stored.friendly_name == "archive"
    assert client.video.v1.composition_settings().create(friendly_name="c").friendly_name == "c"
    assert client.video.v1.composition_settings().fetch().friendly_name == "c"
