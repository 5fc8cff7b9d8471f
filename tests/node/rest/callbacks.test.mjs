// Status callbacks from the emulator reach a receiver this test starts on loopback, carry
// Twilio's fields, and pass the official library's own signature check (twilio.validateRequest
// with the account's auth token), as a production webhook handler would verify them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, addSimulatedParticipant, startEmulator, startReceiver } from '../support/servers.mjs';

const ROOM_EVENTS = ['room-created', 'participant-connected', 'participant-disconnected', 'room-ended'];

const eventsOf = (requests) => requests.map((request) => request.params.StatusCallbackEvent);
const hasAll = (names) => (requests) => names.every((name) => eventsOf(requests).includes(name));

describe('status callbacks', () => {
  let emulator;
  let client;
  let receiver;
  before(async () => {
    emulator = await startEmulator();
    client = twilio(SEEDED.accountSid, SEEDED.authToken, { autoRetry: false });
    client.video.baseUrl = emulator.url;
    receiver = await startReceiver();
  });
  after(async () => {
    await emulator?.stop();
    await receiver?.close();
  });

  /** The callbacks received at `path`, each with its parameters decoded. */
  const received = (path) =>
    receiver.requests
      .filter((request) => new URL(request.url).pathname === path)
      .map((request) => ({
        ...request,
        params: Object.fromEntries(
          request.method === 'GET' ? new URL(request.url).searchParams : new URLSearchParams(request.body),
        ),
      }));
  const waitForEvents = async (path, names) => {
    await receiver.waitFor(() => hasAll(names)(received(path)), 15_000, `${names.join(', ')} at ${path}`);
    return received(path);
  };

  test('POST callbacks for a room’s life carry Twilio’s fields and a valid X-Twilio-Signature', async () => {
    // A query string in the configured URL is part of what Twilio signs.
    const callbackUrl = `${receiver.base}/callbacks/post?workshop=tokyo`;
    const room = await client.video.v1.rooms.create({ uniqueName: 'callback-room', statusCallback: callbackUrl });
    await addSimulatedParticipant(emulator.url, room.sid, 'alice');
    const alice = await client.video.v1.rooms(room.sid).participants('alice').fetch();
    await client.video.v1.rooms(room.sid).participants(alice.sid).update({ status: 'disconnected' });
    await client.video.v1.rooms(room.sid).update({ status: 'completed' });

    const callbacks = await waitForEvents('/callbacks/post', ROOM_EVENTS);
    for (const callback of callbacks) {
      const { params } = callback;
      assert.equal(callback.method, 'POST');
      assert.match(callback.headers['content-type'], /^application\/x-www-form-urlencoded/);
      assert.equal(callback.url, callbackUrl, 'delivered to the URL exactly as configured');
      const signature = callback.headers['x-twilio-signature'];
      assert.ok(signature, `${params.StatusCallbackEvent} carries X-Twilio-Signature`);
      assert.equal(twilio.validateRequest(SEEDED.authToken, signature, callbackUrl, params), true,
        `${params.StatusCallbackEvent}: the signature validates with the auth token`);
      assert.equal(twilio.validateRequest('some-other-auth-token', signature, callbackUrl, params), false,
        'and not with another token');
      assert.equal(twilio.validateRequest(SEEDED.authToken, signature, callbackUrl, { ...params, RoomSid: 'RMforged' }), false,
        'and not for altered parameters');

      assert.equal(params.AccountSid, SEEDED.accountSid);
      assert.equal(params.RoomSid, room.sid);
      assert.equal(params.RoomName, 'callback-room');
      assert.equal(params.RoomType, 'group');
      assert.match(params.Timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      assert.ok(params.SequenceNumber !== undefined, 'SequenceNumber is sent');
    }
    const byEvent = Object.fromEntries(callbacks.map((c) => [c.params.StatusCallbackEvent, c.params]));
    assert.equal(byEvent['room-created'].RoomStatus, 'in-progress');
    assert.equal(byEvent['participant-connected'].ParticipantIdentity, 'alice');
    assert.equal(byEvent['participant-connected'].ParticipantSid, alice.sid);
    assert.equal(byEvent['participant-connected'].ParticipantStatus, 'connected');
    assert.equal(byEvent['participant-disconnected'].ParticipantSid, alice.sid);
    assert.equal(byEvent['participant-disconnected'].ParticipantStatus, 'disconnected');
    assert.match(byEvent['participant-disconnected'].ParticipantDuration, /^\d+$/);
    assert.equal(byEvent['room-ended'].RoomStatus, 'completed');
    assert.match(byEvent['room-ended'].RoomDuration, /^\d+$/);
  });

  test('GET callbacks carry their parameters in the signed URL', async () => {
    const callbackUrl = `${receiver.base}/callbacks/get`;
    const room = await client.video.v1.rooms.create({ statusCallback: callbackUrl, statusCallbackMethod: 'GET' });
    await client.video.v1.rooms(room.sid).update({ status: 'completed' });

    const callbacks = await waitForEvents('/callbacks/get', ['room-created', 'room-ended']);
    for (const callback of callbacks) {
      assert.equal(callback.method, 'GET');
      assert.equal(callback.params.RoomSid, room.sid);
      const signature = callback.headers['x-twilio-signature'];
      assert.equal(twilio.validateRequest(SEEDED.authToken, signature, callback.url, {}), true,
        `${callback.params.StatusCallbackEvent}: a GET callback's signature covers its full URL`);
      assert.equal(twilio.validateRequest('some-other-auth-token', signature, callback.url, {}), false);
    }
  });
});
