// The official npm twilio library, pointed at the standalone emulator, works with Rooms exactly
// as it does with Twilio: create with parameters, fetch by SID and by unique name, list with
// filters across pages, complete, and Twilio's exceptions for a duplicate name and bad
// credentials.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, startEmulator } from '../support/servers.mjs';

const ROOM_SID = /^RM[0-9a-f]{32}$/;

function clientFor(emulator, username = SEEDED.accountSid, password = SEEDED.authToken, options = {}) {
  const client = twilio(username, password, { autoRetry: false, ...options });
  client.video.baseUrl = emulator.url;
  return client;
}

/** Runs `body` against a fresh emulator of its own, so counts in lists are exact. */
function withEmulator(name, body) {
  describe(name, () => {
    const context = {};
    before(async () => {
      context.emulator = await startEmulator();
      context.client = clientFor(context.emulator);
    });
    after(async () => context.emulator?.stop());
    body(context);
  });
}

async function rejectsWith(promise, { status, code }) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.constructor.name, 'RestException', `a twilio RestException, got ${error}`);
    assert.equal(error.status, status, `HTTP status of ${error.message}`);
    assert.equal(error.code, code, `Twilio error code of ${error.message}`);
    assert.equal(error.moreInfo, `https://www.twilio.com/docs/errors/${code}`);
    assert.ok(error.message && !error.message.startsWith('[HTTP'), `a Twilio message, got ${error.message}`);
    return true;
  });
}

withEmulator('creating rooms', (context) => {
  test('a room created with parameters has them, and is in progress', async () => {
    const { client, emulator } = context;
    const room = await client.video.v1.rooms.create({
      uniqueName: 'daily-standup',
      type: 'go',
      maxParticipants: 2,
      emptyRoomTimeout: 10,
      unusedRoomTimeout: 7,
      statusCallback: 'http://127.0.0.1:9/callbacks',
      statusCallbackMethod: 'GET',
    });
    assert.match(room.sid, ROOM_SID);
    assert.equal(room.status, 'in-progress');
    assert.equal(room.uniqueName, 'daily-standup');
    assert.equal(room.type, 'go');
    assert.equal(room.maxParticipants, 2);
    assert.equal(room.emptyRoomTimeout, 10);
    assert.equal(room.unusedRoomTimeout, 7);
    assert.equal(room.statusCallback, 'http://127.0.0.1:9/callbacks');
    assert.equal(room.statusCallbackMethod, 'GET');
    assert.equal(room.accountSid, SEEDED.accountSid);
    assert.ok(room.dateCreated instanceof Date && !Number.isNaN(room.dateCreated.getTime()), 'date_created parses');
    assert.equal(room.dateCreated.getMilliseconds(), 0, 'whole-second timestamps');
    assert.equal(room.endTime, null);
    assert.equal(room.duration, null);
    assert.equal(room.url, `${emulator.url}/v1/Rooms/${room.sid}`);
    assert.equal(room.links.participants, `${emulator.url}/v1/Rooms/${room.sid}/Participants`);
  });

  test('a room created with no parameters is a group room named after its SID', async () => {
    const room = await context.client.video.v1.rooms.create();
    assert.match(room.sid, ROOM_SID);
    assert.equal(room.type, 'group');
    assert.equal(room.uniqueName, room.sid);
    assert.equal(room.maxParticipants, 50);
    assert.equal(room.emptyRoomTimeout, 5);
    assert.equal(room.unusedRoomTimeout, 5);
    assert.equal(room.statusCallbackMethod, 'POST');
  });

  test('a second in-progress room with the same unique name is refused with 53113', async () => {
    await context.client.video.v1.rooms.create({ uniqueName: 'only-once' });
    await rejectsWith(context.client.video.v1.rooms.create({ uniqueName: 'only-once' }), { status: 400, code: 53113 });
  });

  test('MaxParticipants beyond the type’s cap is refused with 53107', async () => {
    await rejectsWith(context.client.video.v1.rooms.create({ type: 'go', maxParticipants: 3 }), { status: 400, code: 53107 });
  });
});

withEmulator('fetching rooms', (context) => {
  test('a room is found by its SID and by its unique name, including a Japanese name with a space', async () => {
    const { client } = context;
    for (const uniqueName of ['weekly-review', '週次 ミーティング']) {
      const created = await client.video.v1.rooms.create({ uniqueName });
      const bySid = await client.video.v1.rooms(created.sid).fetch();
      const byName = await client.video.v1.rooms(uniqueName).fetch();
      assert.equal(bySid.sid, created.sid);
      assert.equal(byName.sid, created.sid);
      assert.equal(byName.uniqueName, uniqueName);
    }
  });

  test('an unknown room is a 404 with code 20404', async () => {
    await rejectsWith(context.client.video.v1.rooms('no-such-room').fetch(), { status: 404, code: 20404 });
    await rejectsWith(context.client.video.v1.rooms(`RM${'0'.repeat(32)}`).fetch(), { status: 404, code: 20404 });
  });
});

withEmulator('completing rooms', (context) => {
  test('completing a room ends it, keeps it fetchable by SID, and frees its unique name', async () => {
    const { client } = context;
    const room = await client.video.v1.rooms.create({ uniqueName: 'workshop' });
    const completed = await client.video.v1.rooms(room.sid).update({ status: 'completed' });
    assert.equal(completed.sid, room.sid);
    assert.equal(completed.status, 'completed');
    assert.ok(completed.endTime instanceof Date, 'end_time is set');
    assert.ok(completed.endTime >= room.dateCreated);
    assert.equal(completed.duration, Math.round((completed.endTime - room.dateCreated) / 1000));

    const fetched = await client.video.v1.rooms(room.sid).fetch();
    assert.equal(fetched.status, 'completed');
    await rejectsWith(client.video.v1.rooms('workshop').fetch(), { status: 404, code: 20404 });

    const again = await client.video.v1.rooms.create({ uniqueName: 'workshop' });
    assert.notEqual(again.sid, room.sid);
    assert.equal((await client.video.v1.rooms('workshop').fetch()).sid, again.sid);
  });

  test('completing a room that is already completed is refused with 53112', async () => {
    const { client } = context;
    const room = await client.video.v1.rooms.create();
    await client.video.v1.rooms(room.sid).update({ status: 'completed' });
    await rejectsWith(client.video.v1.rooms(room.sid).update({ status: 'completed' }), { status: 400, code: 53112 });
  });
});

withEmulator('listing rooms', (context) => {
  const created = [];
  before(async () => {
    for (let i = 1; i <= 7; i += 1) {
      created.push(await context.client.video.v1.rooms.create({ uniqueName: `list-room-${i}` }));
    }
    // Two of the seven are completed, so status filters have something to tell apart.
    for (const room of created.slice(5)) {
      await context.client.video.v1.rooms(room.sid).update({ status: 'completed' });
    }
  });
  const inProgress = () => created.slice(0, 5).map((room) => room.sid).sort();
  const completed = () => created.slice(5).map((room) => room.sid).sort();

  test('pages of two follow next_page_url to the end and together hold every in-progress room', async () => {
    const { client, emulator } = context;
    const seen = [];
    let page = await client.video.v1.rooms.page({ pageSize: 2 });
    const sizes = [];
    while (page) {
      sizes.push(page.instances.length);
      seen.push(...page.instances.map((room) => room.sid));
      if (page.nextPageUrl) {
        assert.ok(page.nextPageUrl.startsWith(`${emulator.url}/v1/Rooms?`), `absolute next_page_url on the emulator: ${page.nextPageUrl}`);
      }
      page = await page.nextPage();
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen.sort(), inProgress());
  });

  test('list() with pageSize 2 walks every page by itself', async () => {
    const rooms = await context.client.video.v1.rooms.list({ pageSize: 2 });
    assert.deepEqual(rooms.map((room) => room.sid).sort(), inProgress());
    assert.ok(rooms.every((room) => room.status === 'in-progress'));
  });

  test('the status filter lists completed rooms only when asked', async () => {
    const rooms = await context.client.video.v1.rooms.list({ status: 'completed', pageSize: 2 });
    assert.deepEqual(rooms.map((room) => room.sid).sort(), completed());
    assert.ok(rooms.every((room) => room.status === 'completed'));
  });

  test('the unique-name filter finds exactly that room', async () => {
    const rooms = await context.client.video.v1.rooms.list({ uniqueName: 'list-room-3' });
    assert.deepEqual(rooms.map((room) => room.sid), [created[2].sid]);
    const none = await context.client.video.v1.rooms.list({ uniqueName: 'list-room-6' });
    assert.deepEqual(none, [], 'a completed room is not listed under the default in-progress status');
  });

  test('date filters split rooms created in different seconds', async () => {
    const { client } = context;
    const first = created[0];
    // Wait until the emulator's clock is in a later second than the first room's creation.
    let later;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await new Promise((wake) => setTimeout(wake, 1_100));
      later = await client.video.v1.rooms.create();
      if (later.dateCreated > first.dateCreated) break;
    }
    assert.ok(later.dateCreated > first.dateCreated, 'the emulator clock moved on');

    const createdAfter = await client.video.v1.rooms.list({ dateCreatedAfter: later.dateCreated, pageSize: 2 });
    assert.ok(createdAfter.some((room) => room.sid === later.sid), 'DateCreatedAfter includes a room created at that second');
    assert.ok(!createdAfter.some((room) => room.sid === first.sid), 'DateCreatedAfter excludes earlier rooms');

    const createdBefore = await client.video.v1.rooms.list({ dateCreatedBefore: later.dateCreated, pageSize: 2 });
    assert.ok(createdBefore.some((room) => room.sid === first.sid), 'DateCreatedBefore includes earlier rooms');
    assert.ok(!createdBefore.some((room) => room.sid === later.sid), 'DateCreatedBefore excludes rooms of that second');

    const none = await client.video.v1.rooms.list({ dateCreatedAfter: new Date(Date.now() + 86_400_000) });
    assert.deepEqual(none, []);
  });
});

withEmulator('authentication', (context) => {
  test('a wrong auth token is refused with 401 and code 20003', async () => {
    const client = clientFor(context.emulator, SEEDED.accountSid, 'not-the-auth-token');
    await rejectsWith(client.video.v1.rooms.list(), { status: 401, code: 20003 });
    await rejectsWith(client.video.v1.rooms.create({ uniqueName: 'intruder' }), { status: 401, code: 20003 });
    const rooms = await context.client.video.v1.rooms.list({ uniqueName: 'intruder' });
    assert.deepEqual(rooms, [], 'a refused create leaves no room behind');
  });

  test('an unknown account is refused with 401 and code 20003', async () => {
    const client = clientFor(context.emulator, `AC${'1'.repeat(32)}`, SEEDED.authToken);
    await rejectsWith(client.video.v1.rooms.list(), { status: 401, code: 20003 });
  });

  test('the API key and its secret authenticate like the account', async () => {
    const client = clientFor(context.emulator, SEEDED.apiKeySid, SEEDED.apiKeySecret, { accountSid: SEEDED.accountSid });
    const room = await client.video.v1.rooms.create({ uniqueName: 'by-api-key' });
    assert.equal(room.accountSid, SEEDED.accountSid);
    const wrong = clientFor(context.emulator, SEEDED.apiKeySid, 'not-the-secret', { accountSid: SEEDED.accountSid });
    await rejectsWith(wrong.video.v1.rooms('by-api-key').fetch(), { status: 401, code: 20003 });
  });
});
