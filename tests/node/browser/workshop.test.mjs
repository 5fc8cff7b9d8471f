// The browser tier: the real twilio-video.js SDK, in Debian's Chromium with a fake camera, joins
// emulator rooms through our workshop page, exactly as attendees do it (issue 4). Each test uses
// its own room (the page's ?room= parameter) on one shared `videoroom` in emulator mode.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { cachedSdkTarball, startRegistry } from '../support/registry.mjs';
import { SEEDED, startEmulator, startVideoroom } from '../support/servers.mjs';
import {
  framesAdvance,
  inProgressRoom,
  join,
  joinInTurn,
  launchBrowser,
  rest,
  shownIdentities,
  tamperSignature,
  waitConnected,
  waitForErrorCode,
  waitForSdk,
  waitForStatus,
  waitForVideoOf,
  withBrowser,
} from './browser.mjs';

describe('the workshop page against the emulator', () => {
  let server;

  before(async () => {
    server = await startVideoroom();
    await waitForSdk(server.url);
  });

  after(async () => {
    await server?.stop();
  });

  test('two pages join the room and each plays the other one\'s video', async () => {
    await withBrowser(async (browser) => {
      const [alice, bob] = await joinInTurn(browser, server.url, undefined, ['alice', 'bob']);

      await Promise.all([waitForVideoOf(alice, 'bob'), waitForVideoOf(bob, 'alice')]);
      // The video keeps playing: more frames arrive after the first one.
      await framesAdvance(alice, 'bob', 5_000);
      // Each page also shows its own camera under its own name.
      assert.deepEqual((await shownIdentities(alice)).sort(), ['alice', 'bob']);
      assert.deepEqual((await shownIdentities(bob)).sort(), ['alice', 'bob']);
      assert.match(await alice.textContent('#status'), /myroom/);
    });
  });

  test('completing the room over REST disconnects both pages with 53118', async () => {
    await withBrowser(async (browser) => {
      const room = 'completed-by-rest';
      const [alice, bob] = await joinInTurn(browser, server.url, room, ['alice', 'bob']);

      const { sid } = await inProgressRoom(server.url, room);
      const completed = await rest(server.url, 'POST', `/v1/Rooms/${sid}`, { Status: 'completed' });
      assert.equal(completed.status, 'completed');

      await Promise.all([waitForErrorCode(alice, 53118), waitForErrorCode(bob, 53118)]);
      assert.deepEqual(await shownIdentities(alice), [], 'a disconnected page shows nobody');
    });
  });

  test('a page with a tampered token shows 20107', async () => {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.route('**/video-token', async (route) => {
        const response = await route.fetch();
        const answer = await response.json();
        await route.fulfill({ response, json: { ...answer, token: tamperSignature(answer.token) } });
      });
      await join(page, server.url, 'mallory', 'tampered');
      const status = await waitForErrorCode(page, 20107);
      assert.match(status, /署名|signature/i);
      assert.deepEqual(await shownIdentities(page), []);
    });
  });

  // The camera errors attendees meet (issue 12): permission refused, no camera, camera held by
  // another app. The fake camera cannot refuse, so the page's getUserMedia is made to fail the way
  // Chromium fails; each error must find its row in the page's table, with what to do.
  for (const [name, meaning] of [
    ['NotAllowedError', /許可されていません.*permission denied/s],
    ['NotFoundError', /見つかりません.*No camera found/s],
    ['NotReadableError', /ほかのアプリ.*another app/s],
  ]) {
    test(`a camera failing with ${name} shows its row of the error table`, async () => {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.addInitScript((errorName) => {
          const refuse = () => Promise.reject(new DOMException('camera refused by the test', errorName));
          navigator.mediaDevices.getUserMedia = refuse;
        }, name);
        await join(page, server.url, 'camera-shy', `camera-${name}`);
        const status = await waitForErrorCode(page, name);
        assert.match(status, meaning);
        const hit = await page.$eval('#error-codes tr.hit', (tr) => tr.dataset.code);
        assert.equal(hit, name);
      });
    });
  }

  test('a page that leaves disappears from the other page and is disconnected in the REST API', async () => {
    await withBrowser(async (browser) => {
      const room = 'leaving';
      const [alice, bob] = await joinInTurn(browser, server.url, room, ['alice', 'bob']);
      await waitForVideoOf(alice, 'bob');

      // Closing the tab fires pagehide, where the page disconnects from the room.
      await bob.close();

      await alice.waitForFunction(
        () => !document.querySelector('#participants [data-identity="bob"]'),
        null,
        { timeout: 15_000 },
      );
      assert.deepEqual(await shownIdentities(alice), ['alice']);

      // Twilio looks up participants by identity among connected ones only, so the
      // disconnected one is found by listing with Status=disconnected.
      const { sid } = await inProgressRoom(server.url, room);
      const participants = `/v1/Rooms/${sid}/Participants`;
      const disconnected = await rest(server.url, 'GET', `${participants}?Status=disconnected&Identity=bob`);
      assert.equal(disconnected.participants.length, 1, JSON.stringify(disconnected));
      assert.equal(disconnected.participants[0].status, 'disconnected');
      assert.ok(disconnected.participants[0].end_time, 'a disconnected participant has an end time');
      const connected = await rest(server.url, 'GET', `${participants}?Status=connected`);
      assert.deepEqual(connected.participants.map((p) => p.identity), ['alice']);

      // The page's own Leave button disconnects too, and the page says so.
      await alice.click('#leave');
      await waitForStatus(alice, 'disconnected');
      assert.deepEqual(await shownIdentities(alice), []);
      assert.equal(await alice.isVisible('#login-form'), true, 'the form is back to join again');
      const deadline = Date.now() + 10_000;
      let left;
      do {
        left = await rest(server.url, 'GET', `${participants}?Status=connected`);
        if (left.participants.length === 0) break;
        await alice.waitForTimeout(100);
      } while (Date.now() < deadline);
      assert.deepEqual(left.participants, [], 'nobody is connected after both left');
    });
  });

  test('joining twice with the same name disconnects the older page with 53205', async () => {
    await withBrowser(async (browser) => {
      const room = 'duplicate-identity';
      const [observer, first] = await joinInTurn(browser, server.url, room, ['observer', 'hanako', 'hanako']);
      await waitForErrorCode(first, 53205);
      // The others see one hanako (the newer tab), with video, not a leftover of the older one.
      await waitForVideoOf(observer, 'hanako');
      await observer.waitForFunction(
        () => document.querySelectorAll('#participants [data-identity="hanako"]').length === 1,
        null,
        { timeout: 10_000 },
      );
      assert.deepEqual((await shownIdentities(observer)).sort(), ['hanako', 'observer']);
    });
  });

  test('no request of any page leaves localhost, signaling included', async () => {
    await withBrowser(async (browser) => {
      const room = 'local-only';
      const alice = await browser.newPage();
      const bob = await browser.newPage();
      await join(alice, server.url, 'alice', room);
      await join(bob, server.url, 'bob', room);
      await Promise.all([waitForVideoOf(alice, 'bob'), waitForVideoOf(bob, 'alice')]);

      const origin = new URL(server.url);
      const signaling = browser.urls.filter((url) => url.endsWith('/signaling'));
      assert.ok(signaling.length >= 2, `each page opens our signaling socket: ${browser.urls.join('\n')}`);
      assert.ok(signaling.every((url) => new URL(url).host === origin.host));
      assert.ok(browser.urls.some((url) => url.endsWith('/sdk/twilio-video.js')), 'the SDK comes from our server');
      // withBrowser then asserts that nothing was addressed off this machine.
    });
  });
});

describe('the workshop page in a go room', () => {
  let server;

  before(async () => {
    server = await startVideoroom(['--room-type', 'go']);
    await waitForSdk(server.url);
  });

  after(async () => {
    await server?.stop();
  });

  test('a third page in a go room shows 53105 while the first two stay connected', async () => {
    await withBrowser(async (browser) => {
      const room = 'two-only';
      const pages = await joinInTurn(browser, server.url, room, ['alice', 'bob']);
      const third = await browser.newPage();
      await join(third, server.url, 'carol', room);
      const status = await waitForErrorCode(third, 53105);
      assert.match(status, /上限|too many/i);
      for (const page of pages) {
        assert.equal(await page.$eval('#status', (el) => el.dataset.state), 'connected');
      }
    });
  });
});

describe('the workshop page without the SDK', () => {
  let server;
  let cache;

  before(async () => {
    // An empty cache and no npm on PATH: the server cannot obtain the SDK.
    cache = mkdtempSync(joinPath(tmpdir(), 'videoroom-empty-sdk-cache-'));
    server = await startVideoroom([], { VIDEOROOM_SDK_CACHE_DIR: cache, PATH: '/nonexistent' });
  });

  after(async () => {
    await server?.stop();
    if (cache) rmSync(cache, { recursive: true, force: true });
  });

  test('explains on the page exactly how to get the SDK, and tokens still work', async () => {
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      const status = await page.waitForFunction(
        () => {
          const text = document.getElementById('status').textContent;
          return text.includes('npm pack twilio-video@') ? text : false;
        },
        null,
        { timeout: 10_000 },
      );
      const text = await status.jsonValue();
      assert.match(text, /VIDEOROOM_SDK_PATH/);
      assert.match(text, /npm client was not found/);

      const token = await fetch(`${server.url}/video-token?identity=alice`);
      assert.equal(token.status, 200, 'everything else still works');
    });
  });
});

describe('the workshop page on a machine that has never fetched the SDK', () => {
  let server;
  let cache;

  let registry;
  let npmCache;

  before(async () => {
    // An empty cache, with npm on PATH: the server fetches the pinned SDK in the background.
    // npm asks a registry on loopback that serves the very tarball the project's cache holds
    // (nothing may leave this machine), from an empty npm cache, so the fetch really happens.
    cache = mkdtempSync(joinPath(tmpdir(), 'videoroom-fresh-sdk-cache-'));
    npmCache = mkdtempSync(joinPath(tmpdir(), 'videoroom-fresh-npm-cache-'));
    registry = await startRegistry('twilio-video', '2.36.0', cachedSdkTarball('2.36.0'));
    // The fetch may take as long as the page waits below, not just the default 30 s.
    server = await startVideoroom([], {
      VIDEOROOM_SDK_CACHE_DIR: cache,
      VIDEOROOM_SDK_FETCH_TIMEOUT: '140',
      npm_config_registry: registry.url,
      npm_config_cache: npmCache,
    });
  });

  after(async () => {
    await server?.stop();
    await registry?.close();
    for (const dir of [cache, npmCache]) {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the server fetches the SDK with npm and the open page reloads itself into a working page', async () => {
    // The log (stderr) and the listening line (stdout) travel through different pipes.
    const notice = /not cached yet; fetching it with `npm pack`/;
    for (let waited = 0; !notice.test(server.output()) && waited < 5_000; waited += 100) {
      await new Promise((wake) => setTimeout(wake, 100));
    }
    assert.match(server.output(), notice, 'start-up says that it is fetching the SDK');
    await withBrowser(async (browser) => {
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      // Either the page saw the "fetching" notice and reloaded itself, or npm was already done.
      await page.waitForFunction(() => window.Twilio?.Video?.version === '2.36.0', null, { timeout: 150_000 });
      await join(page, server.url, 'first-timer', 'fresh-machine');
      await waitConnected(page);
    });
    assert.ok(
      registry.requests.includes(registry.tarballPath),
      `npm fetched the tarball from the loopback registry; it asked for: ${registry.requests.join(', ')}`,
    );
  });
});

describe('the workshop page in twilio mode', () => {
  let emulator;
  let server;

  before(async () => {
    // Real Twilio is not reachable from tests: the twilio backend talks REST to a standalone
    // emulator, which is all the token service needs. The page's SDK request is what we check.
    emulator = await startEmulator();
    server = await startVideoroom(['--backend', 'twilio'], {
      ACCOUNT_SID: SEEDED.accountSid,
      API_KEY: SEEDED.apiKeySid,
      API_SECRET: SEEDED.apiKeySecret,
      TWILIO_VIDEO_BASE_URL: emulator.url,
    });
  });

  after(async () => {
    await server?.stop();
    await emulator?.stop();
  });

  test('loads the same pinned SDK from Twilio\'s CDN and adds no shim', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/index.html`);
      // The CDN request is aborted by the browser helper, so nothing actually leaves.
      assert.deepEqual(browser.offMachine(), [
        'https://sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js',
      ]);
      assert.ok(!browser.urls.some((url) => url.includes('emulator-shim')), 'twilio mode adds nothing');

      // Without the SDK the page says so instead of failing silently.
      await page.fill('#login-form input[name="identity"]', 'alice');
      await page.click('#login-form [type="submit"]');
      await waitForErrorCode(page, 'sdk_missing', 5_000);
    } finally {
      await browser.close();
    }
  });
});
