// Helpers of the browser tier: Debian's Chromium driven by playwright-core, with a fake camera,
// talking to a `videoroom` started by the test, through the workshop page's DOM contract only
// (#login-form with input[name=identity], #participants [data-identity], #status).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { chromium } from 'playwright-core';

import { basicAuth } from '../support/servers.mjs';

export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  // The browser tier runs in a network namespace whose only interface is loopback (see
  // xtask/src/netns.rs); without this flag Chromium gathers no loopback ICE candidates, and two
  // pages there connect over signaling but never see each other's video.
  '--allow-loopback-in-peer-connection',
];

/** How long two pages may take to see each other's video (the bound). */
export const VIDEO_TIMEOUT_MS = 20_000;

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A fresh Chromium with its own user-data-dir. Every request and WebSocket of every page is
 * recorded, and anything addressed off this machine is aborted or closed before it connects
 * (and still recorded), so a test can assert that the page never leaves localhost.
 *
 * `loopbackNames` are extra host names Chromium resolves to 127.0.0.1 (with
 * `--host-resolver-rules`), so a test can serve a page from a second, foreign-looking origin
 * without any traffic leaving this machine.
 * `args` are extra Chromium flags; `env` replaces the browser's environment.
 */
export async function launchBrowser({ loopbackNames = [], env, args = [] } = {}) {
  const userDataDir = mkdtempSync(joinPath(tmpdir(), 'videoroom-chromium-'));
  const rules = loopbackNames.map((name) => `MAP ${name} 127.0.0.1`).join(', ');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(rules ? [`--host-resolver-rules=${rules}`] : []), ...args],
    // `env` (a scratch HOME whose NSS database trusts a test certificate, for instance)
    // replaces the browser's environment when given.
    ...(env ? { env } : {}),
  });
  const urls = [];
  const localHosts = new Set([...LOCAL_HOSTS, ...loopbackNames]);
  const isLocal = (url) => {
    const { protocol, hostname } = new URL(url);
    // data: and blob: URLs are made inside the page and go nowhere.
    return protocol === 'data:' || protocol === 'blob:' || localHosts.has(hostname);
  };
  context.on('request', (request) => urls.push(request.url()));
  await context.route('**/*', (route) => {
    if (isLocal(route.request().url())) return route.continue();
    return route.abort('blockedbyclient');
  });
  // WebSockets bypass request routing: close any addressed off this machine before it opens.
  await context.routeWebSocket(
    (url) => !isLocal(url.href),
    (socket) => {
      urls.push(socket.url());
      socket.close({ code: 1008, reason: 'off-machine traffic is blocked in tests' });
    },
  );
  const watchSockets = (page) => page.on('websocket', (socket) => urls.push(socket.url()));
  context.pages().forEach(watchSockets);
  context.on('page', watchSockets);

  return {
    context,
    /** Every URL any page requested or opened a WebSocket to, in order. */
    urls,
    /** The URLs that were addressed off this machine. */
    offMachine: () => urls.filter((url) => !isLocal(url)),
    async newPage() {
      const page = await context.newPage();
      const log = [];
      page.on('console', (message) => log.push(`[${message.type()}] ${message.text()}`));
      page.on('pageerror', (error) => log.push(`[pageerror] ${error.message}`));
      page.consoleLog = log;
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `body` with a fresh browser (`launchBrowser(options)`), always closes it, and checks that
 * no page tried to reach a host other than this machine.
 */
export async function withBrowser(body, options = {}) {
  const browser = await launchBrowser(options);
  try {
    await body(browser);
    assert.deepEqual(browser.offMachine(), [], 'a page tried to reach a host other than this machine');
  } finally {
    await browser.close();
  }
}

/** Waits until `page` has decoded more than five more frames of `identity`'s video than now. */
export async function framesAdvance(page, identity, timeoutMs = 10_000) {
  const first = await framesOf(page, identity);
  const deadline = Date.now() + timeoutMs;
  while ((await framesOf(page, identity)) <= first + 5) {
    assert.ok(Date.now() < deadline, `${identity}'s video stopped after its first frames`);
    await page.waitForTimeout(100);
  }
}

/** Opens the workshop page (optionally in another room, via ?room=) and joins as `identity`. */
export async function join(page, baseUrl, identity, room) {
  const query = room ? `?room=${encodeURIComponent(room)}` : '';
  await page.goto(`${baseUrl}/index.html${query}`);
  await page.fill('#login-form input[name="identity"]', identity);
  await page.click('#login-form [type="submit"]');
}

/**
 * Opens one page per identity and joins them one after the other, each once the previous one is
 * connected (so the arrival order is known). `room` undefined means the configured room.
 */
export async function joinInTurn(browser, baseUrl, room, identities) {
  const pages = [];
  for (const identity of identities) {
    const page = await browser.newPage();
    await join(page, baseUrl, identity, room);
    await waitConnected(page);
    pages.push(page);
  }
  return pages;
}

/** Waits until #status reads `connected`, or fails with what it says instead. */
export async function waitConnected(page, timeout = VIDEO_TIMEOUT_MS) {
  await waitForStatus(page, 'connected', timeout);
}

/** Waits until #status is in `state` (its data-state) and returns its text. */
export async function waitForStatus(page, state, timeout = VIDEO_TIMEOUT_MS) {
  return waitForStatusWhere(page, (current) => current === state, state, timeout);
}

/** Waits until #status shows `code` and returns its text. */
export async function waitForErrorCode(page, code, timeout = VIDEO_TIMEOUT_MS) {
  return waitForStatusWhere(page, (_, text) => text.includes(String(code)), `error ${code}`, timeout);
}

async function waitForStatusWhere(page, predicate, what, timeout) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    const { state, text } = await page.$eval('#status', (el) => ({
      state: el.dataset.state || '',
      text: el.textContent || '',
    }));
    last = `${state}: ${text}`;
    if (predicate(state, text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(
    `#status never showed ${what} within ${timeout} ms; it says "${last}". Page console:\n${page.consoleLog.join('\n')}`,
  );
}

/** Waits until this page plays `identity`'s video (a decoded frame: videoWidth > 0). */
export async function waitForVideoOf(page, identity, timeout = VIDEO_TIMEOUT_MS) {
  try {
    await page.waitForFunction(
      (who) => {
        const el = [...document.querySelectorAll('#participants [data-identity]')].find(
          (candidate) => candidate.dataset.identity === who,
        );
        const video = el && el.querySelector('video');
        return Boolean(video && video.videoWidth > 0);
      },
      identity,
      { timeout, polling: 100 },
    );
  } catch (error) {
    const shown = await page.$$eval('#participants [data-identity]', (els) =>
      els.map((el) => `${el.dataset.identity} (${el.querySelectorAll('video').length} video)`),
    );
    const status = await page.textContent('#status');
    throw new Error(
      `${identity}'s video did not play within ${timeout} ms; #participants shows [${shown.join(', ')}], #status "${status}". Page console:\n${page.consoleLog.join('\n')}`,
      { cause: error },
    );
  }
}

/** How many frames this page has decoded of `identity`'s video so far. */
export function framesOf(page, identity) {
  return page.$$eval(
    '#participants [data-identity]',
    (els, who) => {
      const video = els.find((el) => el.dataset.identity === who)?.querySelector('video');
      return video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
    },
    identity,
  );
}

/** The identities this page shows in #participants. */
export function shownIdentities(page) {
  return page.$$eval('#participants [data-identity]', (els) => els.map((el) => el.dataset.identity));
}

/** A call to the emulator's REST face with the seeded credentials. */
export async function rest(baseUrl, method, path, form) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: basicAuth(),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: form ? new URLSearchParams(form) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** The in-progress room with this unique name, over REST. */
export async function inProgressRoom(baseUrl, name) {
  const page = await rest(baseUrl, 'GET', `/v1/Rooms?UniqueName=${encodeURIComponent(name)}&Status=in-progress`);
  if (page.rooms.length !== 1) throw new Error(`expected one in-progress room ${name}, got ${JSON.stringify(page.rooms)}`);
  return page.rooms[0];
}

/**
 * Waits for the server's SDK to be ready: on a fresh machine the first start fetches it with
 * npm in the background. Fails with the server's own explanation when it cannot.
 */
export async function waitForSdk(baseUrl, timeout = 150_000) {
  const deadline = Date.now() + timeout;
  let sdk = {};
  while (Date.now() < deadline) {
    sdk = await (await fetch(`${baseUrl}/sdk/status`)).json();
    if (sdk.state === 'ready') return sdk;
    if (sdk.state === 'unavailable') break;
    await new Promise((wake) => setTimeout(wake, 500));
  }
  throw new Error(`the server cannot serve twilio-video.js: ${JSON.stringify(sdk)}`);
}

/** The token with the first character of its signature changed (every bit of it counts). */
export function tamperSignature(token) {
  const [header, payload, signature] = token.split('.');
  const first = signature[0] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${first}${signature.slice(1)}`;
}
