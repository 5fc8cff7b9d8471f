// `videoroom --backend twilio` with TWILIO_VIDEO_BASE_URL pointing at a standalone emulator: the
// token service talks Twilio's REST API over HTTP to the emulator, and the rooms it hands out
// tokens for exist there. This is the production code path, with the emulator in Twilio's place.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import jsonwebtoken from 'jsonwebtoken';
import twilio from 'twilio';

import { SEEDED, startEmulator, startVideoroom } from '../support/servers.mjs';

describe('videoroom --backend twilio against a standalone emulator', () => {
  let emulator;
  let videoroom;
  let client;
  before(async () => {
    emulator = await startEmulator();
    // Twilio mode refuses a request's `room` by default (issue 13); these tests choose rooms.
    // They check each request's way to the upstream, so the room cache is off: with it, a room
    // completed behind the service's back is noticed at the TTL or by the signed room-ended
    // callback (tested in crates/server/tests/api/upstream.rs), not on the next request.
    videoroom = await startVideoroom(['--backend', 'twilio', '--allow-room-param', 'true'], {
      VIDEOROOM_ROOM_CACHE_TTL: '0',
      TWILIO_VIDEO_BASE_URL: emulator.url,
      ACCOUNT_SID: SEEDED.accountSid,
      AUTH_TOKEN: SEEDED.authToken,
      API_KEY: SEEDED.apiKeySid,
      API_SECRET: SEEDED.apiKeySecret,
    });
    client = twilio(SEEDED.accountSid, SEEDED.authToken, { autoRetry: false });
    client.video.baseUrl = emulator.url;
  });
  after(async () => {
    await videoroom?.stop();
    await emulator?.stop();
  });

  async function token(query) {
    const response = await fetch(`${videoroom.url}/video-token?${new URLSearchParams(query)}`);
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  }

  test('the token’s room exists, in progress, in the emulator', async () => {
    const answer = await token({ identity: 'alice' });
    assert.equal(answer.identity, 'alice');
    assert.equal(answer.room, 'myroom');
    assert.match(answer.roomSid, /^RM[0-9a-f]{32}$/);

    const room = await client.video.v1.rooms(answer.roomSid).fetch();
    assert.equal(room.status, 'in-progress');
    assert.equal(room.uniqueName, 'myroom');
    assert.equal((await client.video.v1.rooms('myroom').fetch()).sid, answer.roomSid);

    const claims = jsonwebtoken.verify(answer.token, SEEDED.apiKeySecret, { algorithms: ['HS256'] });
    assert.deepEqual(claims.grants, { identity: 'alice', video: { room: 'myroom' } });
    assert.equal(claims.iss, SEEDED.apiKeySid);
    assert.equal(claims.sub, SEEDED.accountSid);
  });

  test('later requests for the same room reuse it instead of creating another', async () => {
    const first = await token({ identity: 'bob' });
    const second = await token({ identity: 'carol' });
    assert.equal(second.roomSid, first.roomSid);
    const rooms = await client.video.v1.rooms.list({ uniqueName: 'myroom' });
    assert.deepEqual(rooms.map((room) => room.sid), [first.roomSid]);
  });

  test('a room completed in the emulator is replaced by a new one on the next request', async () => {
    const old = await token({ identity: 'dave' });
    await client.video.v1.rooms(old.roomSid).update({ status: 'completed' });
    const renewed = await token({ identity: 'dave' });
    assert.notEqual(renewed.roomSid, old.roomSid);
    assert.equal((await client.video.v1.rooms(renewed.roomSid).fetch()).status, 'in-progress');
  });

  test('a token for another room creates that room in the emulator', async () => {
    const answer = await token({ identity: 'erin', room: 'breakout-1' });
    assert.equal(answer.room, 'breakout-1');
    const room = await client.video.v1.rooms('breakout-1').fetch();
    assert.equal(room.sid, answer.roomSid);
  });
});
