// `videoroom-emulator exec -- node --test …` (how `cargo xtask test` runs this tier): the test
// process finds the emulator's URL and credentials in its environment, as a user's CI job does,
// and the official npm twilio library works with nothing else configured.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';

import twilio from 'twilio';

import { execEmulator } from '../support/servers.mjs';

const shared = execEmulator();
const skip = shared ? false : 'run under `videoroom-emulator exec` (cargo xtask test node)';

test('exec exports the base URL and both names of every credential', { skip }, async () => {
  assert.equal(shared.baseUrl, shared.url);
  assert.match(shared.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(shared.twilioNames, {
    accountSid: shared.accountSid,
    authToken: shared.authToken,
    apiKeySid: shared.apiKeySid,
    apiKeySecret: shared.apiKeySecret,
  });
  const health = await fetch(`${shared.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok', backend: 'emulator' });
});

test('the npm twilio client built from the exported variables creates and completes a room', { skip }, async () => {
  const client = twilio(process.env.API_KEY, process.env.API_SECRET, {
    accountSid: process.env.ACCOUNT_SID,
    autoRetry: false,
  });
  client.video.baseUrl = process.env.TWILIO_VIDEO_BASE_URL;
  // Other files share this emulator: a name of its own, and no counting.
  const uniqueName = `exec-${randomUUID()}`;
  const room = await client.video.v1.rooms.create({ uniqueName });
  assert.equal(room.accountSid, process.env.ACCOUNT_SID);
  assert.equal((await client.video.v1.rooms(uniqueName).fetch()).sid, room.sid);
  const completed = await client.video.v1.rooms(room.sid).update({ status: 'completed' });
  assert.equal(completed.status, 'completed');
});
