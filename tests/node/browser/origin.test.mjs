// The browser tier, hostile side (issue 12, "Security"): a page from another origin, in the
// attendee's own browser, tries to drive the local server with the public seeded credentials.
// Chromium resolves `evil.test` to 127.0.0.1 (--host-resolver-rules), so the foreign site is a
// tiny server on another loopback port and nothing leaves this machine. The page must fail to
// call /v1, to open /signaling and to join through the SDK; a DNS-rebinding page (its own name,
// the server's port) must be refused; and the workshop page on its own origin still joins.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, basicAuth, startVideoroom } from '../support/servers.mjs';
import { inProgressRoom, join, rest, shownIdentities, waitConnected, waitForSdk, withBrowser } from './browser.mjs';

const FOREIGN = 'evil.test';
const PAGE = '<!doctype html><meta charset="utf-8"><title>a page the attendee visits</title><p>hello</p>';

/** The foreign site: one harmless page, on a loopback port, reached as http://evil.test:PORT/. */
async function startForeignSite() {
  const server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    url: `http://${FOREIGN}:${server.address().port}/`,
    stop: () => new Promise((closed) => server.close(closed)),
  };
}

/** A token minted, as anyone can, with the emulator's public seeded API key. */
function tokenFor(identity, room) {
  const { AccessToken } = twilio.jwt;
  const token = new AccessToken(SEEDED.accountSid, SEEDED.apiKeySid, SEEDED.apiKeySecret, { identity });
  token.addGrant(new AccessToken.VideoGrant({ room }));
  return token.toJwt();
}

/** Participants of `room` as REST lists them (connected ones). */
async function connectedIdentities(baseUrl, room) {
  const { sid } = await inProgressRoom(baseUrl, room);
  const page = await rest(baseUrl, 'GET', `/v1/Rooms/${sid}/Participants?Status=connected`);
  return page.participants.map((p) => p.identity).sort();
}

describe('a page from another origin', () => {
  let server;
  let foreign;

  before(async () => {
    server = await startVideoroom();
    await waitForSdk(server.url);
    foreign = await startForeignSite();
  });

  after(async () => {
    await foreign?.stop();
    await server?.stop();
  });

  test('cannot create or end rooms over REST with the seeded credentials', async () => {
    await withBrowser(async (browser) => {
      const attendee = await browser.newPage();
      await join(attendee, server.url, 'alice', 'rest-target');
      await waitConnected(attendee);
      const { sid } = await inProgressRoom(server.url, 'rest-target');

      const page = await browser.newPage();
      await page.goto(foreign.url);
      const outcomes = await page.evaluate(
        async ({ base, auth, sid }) => {
          const attempt = async (path, form) => {
            try {
              const res = await fetch(`${base}${path}`, {
                method: 'POST',
                headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
                body: new URLSearchParams(form),
              });
              return `answered ${res.status}`;
            } catch (error) {
              return `blocked (${error.name})`;
            }
          };
          return {
            create: await attempt('/v1/Rooms', { UniqueName: 'made-by-a-foreign-page' }),
            complete: await attempt(`/v1/Rooms/${sid}`, { Status: 'completed' }),
          };
        },
        { base: server.url, auth: basicAuth(), sid },
      );
      assert.match(outcomes.create, /^blocked/, JSON.stringify(outcomes));
      assert.match(outcomes.complete, /^blocked/, JSON.stringify(outcomes));

      // Nothing changed: the room is still in progress with alice in it, and no room was made.
      assert.deepEqual(await connectedIdentities(server.url, 'rest-target'), ['alice']);
      const made = await rest(server.url, 'GET', '/v1/Rooms?UniqueName=made-by-a-foreign-page&Status=in-progress');
      assert.deepEqual(made.rooms, []);
      assert.equal(await attendee.getAttribute('#status', 'data-state'), 'connected');
    }, { loopbackNames: [FOREIGN] });
  });

  test('cannot open /signaling nor join a room through the SDK, while the workshop page can', async () => {
    await withBrowser(async (browser) => {
      const room = 'signaling-target';
      const attendee = await browser.newPage();
      await join(attendee, server.url, 'alice', room);
      await waitConnected(attendee);

      const page = await browser.newPage();
      await page.goto(foreign.url);
      const signaling = server.url.replace(/^http/, 'ws') + '/signaling';
      const socket = await page.evaluate(
        (url) =>
          new Promise((settle) => {
            const ws = new WebSocket(url);
            ws.onopen = () => {
              ws.close();
              settle('opened');
            };
            ws.onclose = () => settle('refused');
            setTimeout(() => settle('no answer'), 10_000);
          }),
        signaling,
      );
      assert.equal(socket, 'refused');

      // The SDK itself, loaded from the server as any page may load a script, with a token
      // signed by the public seeded secret and the server's signaling named explicitly.
      await page.addScriptTag({ url: `${server.url}/sdk/twilio-video.min.js` });
      const joined = await page.evaluate(
        async ({ token, room, wsServer }) => {
          const attempt = Twilio.Video.connect(token, {
            name: room,
            wsServer,
            insights: false,
            audio: false,
            video: false,
          }).then(
            (connected) => {
              connected.disconnect();
              return 'connected';
            },
            (error) => `refused (${error.code || error.name})`,
          );
          const timeout = new Promise((settle) => setTimeout(() => settle('no answer'), 20_000));
          return Promise.race([attempt, timeout]);
        },
        { token: tokenFor('mallory', room), room, wsServer: signaling },
      );
      assert.notEqual(joined, 'connected');

      assert.deepEqual(await connectedIdentities(server.url, room), ['alice']);
      assert.deepEqual(await shownIdentities(attendee), ['alice']);
      assert.equal(await attendee.getAttribute('#status', 'data-state'), 'connected');

      // The instructor's inspector, on the server's own computer, still shows the room and
      // asks for no credentials.
      const inspector = await browser.newPage();
      await inspector.goto(`${server.url}/emulator`);
      await inspector.waitForFunction(
        (name) => [...document.querySelectorAll('#rooms strong')].some((el) => el.textContent === name),
        room,
        { timeout: 10_000 },
      );
      assert.equal(await inspector.isHidden('#signin'), true);
    }, { loopbackNames: [FOREIGN] });
  });

  test('a DNS-rebinding page (its own name, the server\'s address) is refused', async () => {
    await withBrowser(async (browser) => {
      const port = new URL(server.url).port;
      const rebound = `http://${FOREIGN}:${port}`;
      const page = await browser.newPage();
      // After rebinding, the attacker's name resolves to 127.0.0.1: the page's origin is
      // http://evil.test:PORT and its requests reach this server under that name. (Chromium
      // would block a page served from a public address from reaching loopback at all, so the
      // page here is what the server itself answers under the rebound name: its refusal.)
      const document = await page.goto(`${rebound}/index.html`);
      assert.equal(document.status(), 403, 'the server refuses to serve its page under a foreign name');
      const outcome = await page.evaluate(async (auth) => {
        const res = await fetch('/v1/Rooms', {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ UniqueName: 'made-after-rebinding' }),
        });
        return { status: res.status, body: await res.json() };
      }, basicAuth());
      assert.equal(outcome.status, 403, JSON.stringify(outcome));
      assert.equal(outcome.body.code, 20403);
      const made = await rest(server.url, 'GET', '/v1/Rooms?UniqueName=made-after-rebinding&Status=in-progress');
      assert.deepEqual(made.rooms, []);
    }, { loopbackNames: [FOREIGN] });
  });
});
