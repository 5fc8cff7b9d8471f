// Token compatibility: for the same inputs, `videoroom token` must mint what the official
// twilio-node library's AccessToken + VideoGrant mints (header fields, claim set, grant shape,
// lifetime), and its signature must verify with an independent JWT implementation.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

import jsonwebtoken from 'jsonwebtoken';
import twilio from 'twilio';

import { childEnv, videoroomBinary } from './support/servers.mjs';

const run = promisify(execFile);

// Inputs unlike the seeded test credentials, so the test proves the binary signs with what it
// is given and not with a built-in default.
const hex = (bytes) => randomBytes(bytes).toString('hex');
const INPUT = Object.freeze({
  accountSid: `AC${hex(16)}`,
  apiKeySid: `SK${hex(16)}`,
  apiKeySecret: `secret-${hex(12)}`,
});

function decodePart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function decode(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, `a JWT has three dot-separated parts: ${token}`);
  return { header: decodePart(parts[0]), payload: decodePart(parts[1]), parts };
}

/** Mints with `videoroom token` in an empty directory, so no `.env` of the developer's is read. */
async function mintWithVideoroom(identity, room, extraArgs = []) {
  const cwd = mkdtempSync(join(tmpdir(), 'videoroom-token-'));
  try {
    const { stdout } = await run(videoroomBinary(), ['token', '--identity', identity, '--room', room, ...extraArgs], {
      cwd,
      env: childEnv({
        ACCOUNT_SID: INPUT.accountSid,
        API_KEY: INPUT.apiKeySid,
        API_SECRET: INPUT.apiKeySecret,
      }),
      timeout: 20_000,
    });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, `videoroom token prints only the token, got:\n${stdout}`);
    return lines[0];
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function mintWithTwilio(identity, room, options = {}) {
  const { AccessToken } = twilio.jwt;
  const token = new AccessToken(INPUT.accountSid, INPUT.apiKeySid, INPUT.apiKeySecret, { identity, ...options });
  token.addGrant(new AccessToken.VideoGrant({ room }));
  return token.toJwt();
}

const CASES = [
  { name: 'an ASCII identity', identity: 'alice', room: 'myroom' },
  { name: 'a Japanese identity', identity: '山田 太郎', room: '会議室' },
];

for (const { name, identity, room } of CASES) {
  describe(`a token for ${name} (${identity} in ${room})`, () => {
    test('has the same header fields as twilio-node’s, in the same order', async () => {
      const ours = decode(await mintWithVideoroom(identity, room));
      const theirs = decode(mintWithTwilio(identity, room));
      assert.deepEqual(ours.header, theirs.header);
      assert.deepEqual(Object.keys(ours.header), Object.keys(theirs.header));
      assert.deepEqual(ours.header, { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' });
    });

    test('has the same claim set, grant structure and lifetime as twilio-node’s', async () => {
      const before = Math.floor(Date.now() / 1000);
      const ours = decode(await mintWithVideoroom(identity, room)).payload;
      const after = Math.floor(Date.now() / 1000);
      const theirs = decode(mintWithTwilio(identity, room)).payload;

      assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
      assert.deepEqual(Object.keys(ours), Object.keys(theirs), 'claims in twilio-node’s order');
      assert.deepEqual(ours.grants, theirs.grants);
      assert.deepEqual(ours.grants, { identity, video: { room } });
      assert.equal(ours.iss, theirs.iss);
      assert.equal(ours.sub, theirs.sub);
      assert.equal(ours.iss, INPUT.apiKeySid);
      assert.equal(ours.sub, INPUT.accountSid);
      assert.equal(ours.exp - ours.iat, theirs.exp - theirs.iat);
      assert.equal(ours.exp - ours.iat, 3600, 'the default lifetime is one hour');
      assert.ok(ours.iat >= before && ours.iat <= after, `iat ${ours.iat} is the minting time`);
      assert.equal(ours.jti, `${INPUT.apiKeySid}-${ours.iat}`);
      assert.match(theirs.jti, new RegExp(`^${INPUT.apiKeySid}-\\d+$`));
    });

    test('verifies with the jsonwebtoken library and the API key secret, and only with it', async () => {
      const token = await mintWithVideoroom(identity, room);
      const verified = jsonwebtoken.verify(token, INPUT.apiKeySecret, {
        algorithms: ['HS256'],
        issuer: INPUT.apiKeySid,
        subject: INPUT.accountSid,
      });
      assert.equal(verified.grants.identity, identity);
      assert.throws(
        () => jsonwebtoken.verify(token, `${INPUT.apiKeySecret}x`, { algorithms: ['HS256'] }),
        { name: 'JsonWebTokenError', message: 'invalid signature' },
      );
    });

    test('carries an HMAC-SHA256 signature over its own header and payload', async () => {
      const { parts } = decode(await mintWithVideoroom(identity, room));
      const expected = createHmac('sha256', INPUT.apiKeySecret).update(`${parts[0]}.${parts[1]}`).digest('base64url');
      assert.equal(parts[2], expected);
    });
  });
}

test('a configured lifetime gives the same exp - iat as twilio-node’s ttl option', async () => {
  const ours = decode(await mintWithVideoroom('alice', 'myroom', ['--token-ttl', '7200'])).payload;
  const theirs = decode(mintWithTwilio('alice', 'myroom', { ttl: 7200 })).payload;
  assert.equal(ours.exp - ours.iat, 7200);
  assert.equal(ours.exp - ours.iat, theirs.exp - theirs.iat);
});

test('a configured region adds the same twr header as twilio-node’s region option', async () => {
  const ours = decode(await mintWithVideoroom('alice', 'myroom', ['--region', 'jp1'])).header;
  const theirs = decode(mintWithTwilio('alice', 'myroom', { region: 'jp1' })).header;
  assert.deepEqual(ours, theirs);
  assert.deepEqual(Object.keys(ours), Object.keys(theirs));
  assert.equal(ours.twr, 'jp1');
});

test('a Japanese identity is carried as raw UTF-8 in the payload, as twilio-node writes it', async () => {
  // JSON.stringify in twilio-node writes non-ASCII characters as they are, not as \u escapes;
  // a reader that compares raw payload text (or a person decoding it) sees the same name.
  const ours = await mintWithVideoroom('山田 太郎', 'myroom');
  const theirs = mintWithTwilio('山田 太郎', 'myroom');
  const rawPayload = (token) => Buffer.from(token.split('.')[1], 'base64url').toString('utf8');
  assert.ok(rawPayload(theirs).includes('"identity":"山田 太郎"'));
  assert.ok(rawPayload(ours).includes('"identity":"山田 太郎"'), rawPayload(ours));
});

test('videoroom token without an identity fails with a message, not a token', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'videoroom-token-'));
  try {
    await assert.rejects(
      run(videoroomBinary(), ['token', '--room', 'myroom'], {
        cwd,
        env: childEnv({ ACCOUNT_SID: INPUT.accountSid, API_KEY: INPUT.apiKeySid, API_SECRET: INPUT.apiKeySecret }),
        timeout: 20_000,
      }),
      (error) => {
        assert.notEqual(error.code, 0);
        assert.doesNotMatch(error.stdout, /^ey/m, 'no token is printed');
        assert.match(error.stderr, /identity/i);
        assert.doesNotMatch(error.stderr + error.stdout, new RegExp(INPUT.apiKeySecret), 'the secret is never printed');
        return true;
      },
    );
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
