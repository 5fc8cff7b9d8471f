// The screenshots of the docs (docs/images/), taken by `cargo xtask screenshots`: Debian's
// Chromium with a fake camera, the real SDK and a `videoroom` in emulator mode, as in the
// browser tier (browser.mjs). Japanese text renders with Debian's fonts-noto-cjk, which .ci/run
// installs. Usage: node browser/screenshots.mjs OUT_DIR (VIDEOROOM_BIN names the binary).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';

import { SEEDED, startVideoroom, videoroomBinary } from '../support/servers.mjs';
import {
  join,
  joinInTurn,
  launchBrowser,
  waitConnected,
  waitForErrorCode,
  waitForSdk,
  waitForVideoOf,
} from './browser.mjs';

const out = process.argv[2];
if (!out) {
  console.error('usage: node browser/screenshots.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const VIEWPORT = { width: 1100, height: 760 };
const written = [];

async function shoot(page, name) {
  const path = joinPath(out, name);
  await page.setViewportSize(VIEWPORT);
  await page.screenshot({ path });
  written.push(path);
}

const server = await startVideoroom();
const browser = await launchBrowser();
try {
  await waitForSdk(server.url);

  // 1. The page before joining.
  const before = await browser.newPage();
  await before.setViewportSize(VIEWPORT);
  await before.goto(`${server.url}/index.html`);
  await before.waitForSelector('#login-form');
  await shoot(before, 'workshop-before-joining.png');
  await before.close();

  // 2. Two participants joined, each seeing the other's video.
  const [alice, bob] = await joinInTurn(browser, server.url, undefined, ['alice', 'bob']);
  await Promise.all([waitForVideoOf(alice, 'bob'), waitForVideoOf(bob, 'alice')]);
  await shoot(alice, 'workshop-two-participants.png');

  // 3. An error: the same name joining twice disconnects the older page with 53205.
  const older = await browser.newPage();
  await older.setViewportSize(VIEWPORT);
  await join(older, server.url, 'hanako', 'duplicate-identity');
  await waitConnected(older);
  const newer = await browser.newPage();
  await join(newer, server.url, 'hanako', 'duplicate-identity');
  await waitConnected(newer);
  await waitForErrorCode(older, 53205);
  await shoot(older, 'workshop-error-53205.png');

  // 4. The inspector, with the rooms above in it.
  const inspector = await browser.newPage();
  await inspector.setViewportSize(VIEWPORT);
  await inspector.goto(`${server.url}/emulator`);
  await inspector.waitForFunction(() => document.body.textContent.includes('alice'), null, {
    timeout: 10_000,
  });
  await shoot(inspector, 'inspector-with-a-room.png');

  // 5. `videoroom decode` of a token from this server, as text.
  const answer = await (await fetch(`${server.url}/video-token?identity=alice`)).json();
  let decoded;
  try {
    decoded = execFileSync(videoroomBinary(), ['decode', answer.token], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, VIDEOROOM_SDK_FETCH: 'false' },
    });
  } catch (error) {
    throw new Error(`videoroom decode failed: ${error.stderr || error}`);
  }
  // The times change on every run; the shape is what the docs show.
  const stable = decoded
    .replaceAll(answer.token, '<TOKEN>')
    .replace(/^(expires\s+)\S+ \(exp \d+\)/m, '$12026-01-01T11:00:00Z (exp 1767265200)')
    .replace(/"exp": \d+/, '"exp": 1767265200')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g, (match, offset, text) =>
      text.slice(Math.max(0, offset - 20), offset).includes('expires') ? match : '2026-01-01T10:00:00Z')
    .replace(/"(iat|nbf)": \d+/g, '"$1": 1767261600')
    .replace(/\((iat|nbf) \d+\)/g, '($1 1767261600)')
    .replace(/for \d+ more seconds/, 'for 3600 more seconds')
    .replace(/"jti": "[^"]+"/, `"jti": "${SEEDED.apiKeySid}-1767261600"`);
  const decodePath = joinPath(out, 'decode.txt');
  writeFileSync(decodePath, `$ videoroom decode <TOKEN>\n${stable}`);
  written.push(decodePath);
} finally {
  await browser.close();
  await server.stop();
}
for (const path of written) console.log(`wrote ${path}`);
