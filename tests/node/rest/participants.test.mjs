// The official npm twilio library lists, fetches and disconnects participants on the emulator.
// Participants have no REST create on Twilio (they appear when a client connects), so the test
// adds simulated ones through the emulator's control route.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, addSimulatedParticipant, startEmulator } from '../support/servers.mjs';

const PARTICIPANT_SID = /^PA[0-9a-f]{32}$/;

describe('participants', () => {
  let emulator;
  let client;
  before(async () => {
    emulator = await startEmulator();
    client = twilio(SEEDED.accountSid, SEEDED.authToken, { autoRetry: false });
    client.video.baseUrl = emulator.url;
  });
  after(async () => emulator?.stop());

  async function roomWith(uniqueName, identities) {
    const room = await client.video.v1.rooms.create({ uniqueName });
    for (const identity of identities) {
      await addSimulatedParticipant(emulator.url, room.sid, identity);
    }
    return room;
  }

  test('connected participants are listed with their identities and SIDs', async () => {
    const room = await roomWith('standup', ['alice', 'bob', '山田 太郎']);
    const participants = await client.video.v1.rooms(room.sid).participants.list();
    assert.deepEqual(participants.map((p) => p.identity).sort(), ['alice', 'bob', '山田 太郎'].sort());
    for (const participant of participants) {
      assert.match(participant.sid, PARTICIPANT_SID);
      assert.equal(participant.roomSid, room.sid);
      assert.equal(participant.accountSid, SEEDED.accountSid);
      assert.equal(participant.status, 'connected');
      assert.ok(participant.startTime instanceof Date);
      assert.equal(participant.endTime, null);
      assert.equal(participant.duration, null);
      assert.equal(participant.url, `${emulator.url}/v1/Rooms/${room.sid}/Participants/${participant.sid}`);
    }
    const byRoomName = await client.video.v1.rooms('standup').participants.list();
    assert.equal(byRoomName.length, 3, 'the room may be addressed by its unique name');
  });

  test('a participant is fetched by SID and by identity', async () => {
    const room = await roomWith('fetch-room', ['carol']);
    const [listed] = await client.video.v1.rooms(room.sid).participants.list({ identity: 'carol' });
    assert.ok(listed, 'the identity filter finds carol');
    const bySid = await client.video.v1.rooms(room.sid).participants(listed.sid).fetch();
    const byIdentity = await client.video.v1.rooms(room.sid).participants('carol').fetch();
    assert.equal(bySid.sid, listed.sid);
    assert.equal(byIdentity.sid, listed.sid);
    assert.equal(byIdentity.identity, 'carol');
  });

  test('an unknown participant is a 404 with code 20404', async () => {
    const room = await roomWith('empty-room', []);
    await assert.rejects(client.video.v1.rooms(room.sid).participants('nobody').fetch(), (error) => {
      assert.equal(error.status, 404);
      assert.equal(error.code, 20404);
      return true;
    });
  });

  test('disconnecting a participant ends its session and moves it to the disconnected list', async () => {
    const room = await roomWith('kick-room', ['dave', 'erin']);
    const dave = await client.video.v1.rooms(room.sid).participants('dave').fetch();
    const kicked = await client.video.v1.rooms(room.sid).participants(dave.sid).update({ status: 'disconnected' });
    assert.equal(kicked.sid, dave.sid);
    assert.equal(kicked.status, 'disconnected');
    assert.ok(kicked.endTime instanceof Date, 'end_time is set');
    assert.equal(typeof kicked.duration, 'number');

    const connected = await client.video.v1.rooms(room.sid).participants.list();
    assert.deepEqual(connected.map((p) => p.identity), ['erin']);
    const disconnected = await client.video.v1.rooms(room.sid).participants.list({ status: 'disconnected' });
    assert.deepEqual(disconnected.map((p) => p.sid), [dave.sid]);
    await assert.rejects(client.video.v1.rooms(room.sid).participants('dave').fetch(), { status: 404 },
      'a lookup by identity finds connected participants only');
    assert.equal((await client.video.v1.rooms(room.sid).participants(dave.sid).fetch()).status, 'disconnected',
      'a lookup by SID still finds the disconnected participant');
  });

  test('an invalid participant status is refused with 53209', async () => {
    const room = await roomWith('bad-status-room', ['frank']);
    await assert.rejects(client.video.v1.rooms(room.sid).participants('frank').update({ status: 'connected' }), (error) => {
      assert.equal(error.status, 400);
      assert.equal(error.code, 53209);
      return true;
    });
  });

  test('participants are listed in pages of two', async () => {
    const identities = ['p1', 'p2', 'p3', 'p4', 'p5'];
    const room = await roomWith('paged-room', identities);
    let page = await client.video.v1.rooms(room.sid).participants.page({ pageSize: 2 });
    const seen = [];
    let pages = 0;
    while (page) {
      pages += 1;
      seen.push(...page.instances.map((p) => p.identity));
      page = await page.nextPage();
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen.sort(), identities);
  });

  test('completing the room disconnects everyone in it', async () => {
    const room = await roomWith('closing-room', ['gina', 'hank']);
    await client.video.v1.rooms(room.sid).update({ status: 'completed' });
    const participants = await client.video.v1.rooms(room.sid).participants.list({ status: 'disconnected' });
    assert.deepEqual(participants.map((p) => p.identity).sort(), ['gina', 'hank']);
    assert.ok(participants.every((p) => p.status === 'disconnected' && p.endTime instanceof Date));
    const stillConnected = await client.video.v1.rooms(room.sid).participants.list({ status: 'connected' });
    assert.deepEqual(stillConnected, []);
  });
});
