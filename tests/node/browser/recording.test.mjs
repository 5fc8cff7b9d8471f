// Recordings of a group room (issue 9), with the real twilio-video.js in Debian's Chromium: two
// tabs publish their fake camera and microphone through the emulator's media server in a room
// created with RecordParticipantsOnConnect; once they leave, /v1/Recordings lists one completed
// audio and one video recording per participant, /Media downloads each file, and ffprobe reads
// Opus or VP8 and at least two seconds in it. The official npm client lists and fetches them.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';

import twilio from 'twilio';

import { SEEDED, basicAuth, startVideoroom } from '../support/servers.mjs';
import { join, rest, waitConnected, waitForSdk, waitForVideoOf, withBrowser } from './browser.mjs';

/** Whether ffprobe is installed: a skip locally, a failure when CI=true (.ci/run installs it). */
function ffprobeInstalled() {
  const found = spawnSync('ffprobe', ['-version']).error?.code !== 'ENOENT';
  assert.ok(found || process.env.CI !== 'true', 'CI=true and ffprobe is missing: apt-get install -y ffmpeg');
  return found;
}

/** ffprobe's codec name and duration (seconds) of a file. */
function probe(path) {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', path],
    { encoding: 'utf8' },
  );
  const parsed = JSON.parse(out);
  return { codec: parsed.streams[0].codec_name, duration: Number(parsed.format.duration) };
}

/** Polls `GET path` until `done(body)` holds; fails with the last body after `timeoutMs`. */
async function waitFor(baseUrl, path, done, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let body;
  while (Date.now() < deadline) {
    body = await rest(baseUrl, 'GET', path);
    if (done(body)) return body;
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`${path} never got there: ${JSON.stringify(body)}`);
}

describe('recordings of a group room', () => {
  let server;
  let scratch;

  before(async () => {
    scratch = mkdtempSync(joinPath(tmpdir(), 'videoroom-recordings-test-'));
    server = await startVideoroom([], { VIDEOROOM_MEDIA_RECORDINGS_DIR: joinPath(scratch, 'recordings') });
    await waitForSdk(server.url);
  });

  after(async () => {
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('two tabs for three seconds leave one audio and one video recording each, downloadable and playable', async (t) => {
    const ffprobe = ffprobeInstalled();
    await withBrowser(async (browser) => {
      const room = 'recorded';
      const created = await rest(server.url, 'POST', '/v1/Rooms', {
        UniqueName: room,
        Type: 'group',
        RecordParticipantsOnConnect: 'true',
      });
      const pages = [];
      for (const name of ['alice', 'bob']) {
        const page = await browser.newPage();
        await join(page, server.url, name, room);
        await waitConnected(page);
        // The workshop page publishes the camera only; the microphone is published here with
        // the SDK's public API, on the page's own room (a top-level `let` of video.js).
        await page.evaluate(async () => {
          const microphone = await Twilio.Video.createLocalAudioTrack();
          await room.localParticipant.publishTrack(microphone);
        });
        pages.push(page);
      }
      await waitForVideoOf(pages[0], 'bob');
      await waitForVideoOf(pages[1], 'alice');
      await pages[0].waitForTimeout(3_000);
      for (const page of pages) {
        await page.click('#leave');
      }

      const path = `/v1/Rooms/${created.sid}/Recordings?Status=completed`;
      const listed = await waitFor(server.url, path, (body) => body.recordings.length === 4);
      const participants = new Set(listed.recordings.map((r) => r.grouping_sids.participant_sid));
      assert.equal(participants.size, 2, JSON.stringify(listed));
      for (const participant of participants) {
        const kinds = listed.recordings
          .filter((r) => r.grouping_sids.participant_sid === participant)
          .map((r) => `${r.type}/${r.container_format}/${r.codec}`)
          .sort();
        assert.deepEqual(kinds, ['audio/mka/OPUS', 'video/mkv/VP8'], JSON.stringify(listed));
      }

      // The official npm client reads them as an application would: list, then fetch.
      const client = twilio(SEEDED.accountSid, SEEDED.authToken, { autoRetry: false });
      client.video.baseUrl = server.url;
      const official = await client.video.v1.recordings.list({ groupingSid: [created.sid], status: 'completed' });
      assert.deepEqual(official.map((r) => r.sid).sort(), listed.recordings.map((r) => r.sid).sort());
      const fetched = await client.video.v1.recordings(official[0].sid).fetch();
      assert.equal(fetched.status, 'completed');
      assert.equal(fetched.groupingSids.room_sid, created.sid);
      assert.ok(['OPUS', 'VP8'].includes(fetched.codec), fetched.codec);
      assert.equal(fetched.links.media, `${server.url}/v1/Recordings/${fetched.sid}/Media`);

      for (const recording of listed.recordings) {
        assert.equal(recording.status, 'completed');
        assert.ok(recording.duration >= 2, `${recording.sid} lasts ${recording.duration} s`);
        // /Media redirects to a temporary URL, which serves the file without credentials.
        const redirect = await fetch(`${server.url}${new URL(recording.links.media).pathname}`, {
          headers: { authorization: basicAuth() },
          redirect: 'manual',
        });
        assert.equal(redirect.status, 302);
        const location = redirect.headers.get('location');
        assert.equal((await redirect.json()).redirect_to, location);
        const media = await fetch(location);
        assert.equal(media.status, 200);
        const expectedType = recording.type === 'audio' ? 'audio/x-matroska' : 'video/x-matroska';
        assert.equal(media.headers.get('content-type'), expectedType);
        const bytes = Buffer.from(await media.arrayBuffer());
        assert.equal(bytes.length, recording.size);
        if (!ffprobe) continue;
        const file = joinPath(scratch, `${recording.sid}.${recording.container_format}`);
        writeFileSync(file, bytes);
        const probed = probe(file);
        t.diagnostic(`${recording.type} of ${recording.track_name}: ffprobe says ${probed.codec}, ${probed.duration} s`);
        assert.equal(probed.codec, recording.type === 'audio' ? 'opus' : 'vp8');
        assert.ok(probed.duration >= 2, `ffprobe: ${file} lasts ${probed.duration} s`);
        // `-enc_time_base -1` keeps the file's millisecond timestamps: a browser's video has a
        // variable frame rate (two frames may come 4 ms apart after a key frame), and ffmpeg's
        // default of one tick per frame at the guessed rate maps such frames onto one tick and
        // warns about it, although the file's timestamps strictly increase.
        const decoded = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-enc_time_base', '-1', '-f', 'null', '-'], {
          encoding: 'utf8',
        });
        assert.equal(decoded.status, 0, `ffmpeg decodes ${file}: ${decoded.stderr}`);
        assert.equal(decoded.stderr, '', `ffmpeg decodes ${file} without errors`);
      }
      if (!ffprobe) t.diagnostic('skipped the ffprobe checks: ffprobe is not installed (apt-get install -y ffmpeg)');
    });
  });
});
