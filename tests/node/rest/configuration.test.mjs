// The official npm twilio library on the resources beyond Rooms and Participants: one call or
// more of each (RecordingRules, SubscribeRules, Anonymize, Recordings, Compositions,
// Transcriptions), as an application would make them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, addSimulatedParticipant, startEmulator } from '../support/servers.mjs';

// The library wraps each rule in a class with every filter (undefined when unset); the plain JSON
// is what the application sent.
const plain = (rules) => JSON.parse(JSON.stringify(rules));

describe('configuration and media resources', () => {
  let emulator;
  let client;
  before(async () => {
    emulator = await startEmulator();
    client = twilio(SEEDED.accountSid, SEEDED.authToken, { autoRetry: false });
    client.video.baseUrl = emulator.url;
  });
  after(async () => emulator?.stop());

  test('recording rules are set when the room starts and read back', async () => {
    const room = await client.video.v1.rooms.create({ uniqueName: 'recorded' });
    const rules = [{ type: 'exclude', all: true }, { type: 'include', publisher: 'alice' }];
    const updated = await client.video.v1.rooms(room.sid).recordingRules.update({ rules });
    assert.equal(updated.roomSid, room.sid);
    assert.deepEqual(plain(updated.rules), rules);
    const fetched = await client.video.v1.rooms('recorded').recordingRules.fetch();
    assert.deepEqual(plain(fetched.rules), rules);
    await assert.rejects(
      client.video.v1.rooms(room.sid).recordingRules.update({ rules: [] }),
      (err) => err.status === 400 && err.code === 53120,
    );
  });

  test('subscribe rules are set and read back', async () => {
    const room = await client.video.v1.rooms.create({ uniqueName: 'subscribed' });
    await addSimulatedParticipant(emulator.url, room.sid, 'alice');
    const rules = client.video.v1.rooms(room.sid).participants('alice').subscribeRules;
    assert.equal((await rules.fetch()).rules[0].type, 'include');
    const updated = await rules.update({ rules: [{ type: 'include', kind: 'audio' }] });
    assert.equal(updated.rules[0].kind, 'audio');
  });

  test('a disconnected participant is anonymized', async () => {
    const room = await client.video.v1.rooms.create({ uniqueName: 'private' });
    await addSimulatedParticipant(emulator.url, room.sid, 'carol');
    const carol = await client.video.v1.rooms(room.sid).participants('carol').fetch();
    await client.video.v1.rooms(room.sid).participants(carol.sid).update({ status: 'disconnected' });
    const anonymized = await client.video.v1.rooms(room.sid).participants(carol.sid).anonymize().update();
    assert.equal(anonymized.identity, carol.sid);
  });

  test('no recording exists; compositions and transcriptions are refused, never faked', async () => {
    const room = await client.video.v1.rooms.create({ uniqueName: 'media', recordParticipantsOnConnect: true });
    assert.deepEqual(await client.video.v1.recordings.list(), []);
    assert.deepEqual(await client.video.v1.rooms(room.sid).recordings.list(), []);
    assert.deepEqual(await client.video.v1.compositions.list(), []);
    await assert.rejects(
      client.video.v1.recordings('RT00000000000000000000000000000000').fetch(),
      (err) => err.status === 404 && err.code === 20404,
    );
    await assert.rejects(
      client.video.v1.compositions.create({ roomSid: room.sid }),
      (err) => err.status === 400 && err.code === 20001 && /not available in the emulator/.test(err.message),
    );
    await assert.rejects(
      client.video.v1.rooms(room.sid).transcriptions.create(),
      (err) => err.status === 400 && err.code === 20001,
    );
  });

  test('composition hooks and the default settings are stored', async () => {
    const hook = await client.video.v1.compositionHooks.create({ friendlyName: 'Audio only', audioSources: ['*'] });
    assert.match(hook.sid, /^HK[0-9a-f]{32}$/);
    const listed = await client.video.v1.compositionHooks.list({ friendlyName: 'audio' });
    assert.deepEqual(listed.map((h) => h.sid), [hook.sid]);
    assert.equal(await client.video.v1.compositionHooks(hook.sid).remove(), true);
    const settings = await client.video.v1.recordingSettings().create({ friendlyName: 'archive' });
    assert.equal(settings.friendlyName, 'archive');
    assert.equal((await client.video.v1.compositionSettings().fetch()).friendlyName, null);
  });
});
