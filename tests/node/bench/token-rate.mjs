// The npm `twilio` library's side of the token-minting benchmark (crates/server/benches/
// token_rate.rs runs it): mints Video access tokens with AccessToken + VideoGrant + toJwt(), the
// way Twilio's own sample token servers do, for about `seconds`, and prints one JSON line.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import twilio from 'twilio';

const { version } = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('twilio/package.json'), 'utf8'),
);

const seconds = Number(process.argv[2] ?? '2');
const { AccessToken } = twilio.jwt;
const { VideoGrant } = AccessToken;

function mint(i) {
  const token = new AccessToken(
    'AC7e570000000000000000000000000000',
    'SK7e570000000000000000000000000000',
    'emulator-api-secret-not-a-secret',
    { identity: `user-${i}`, ttl: 3600 },
  );
  token.addGrant(new VideoGrant({ room: 'myroom' }));
  return token.toJwt();
}

// Warm up the JIT before measuring, as the Rust side warms its caches.
for (let i = 0; i < 20_000; i += 1) mint(i);

let tokens = 0;
let length = 0;
const started = process.hrtime.bigint();
const until = started + BigInt(Math.round(seconds * 1e9));
while (process.hrtime.bigint() < until) {
  for (let i = 0; i < 1_000; i += 1) length += mint(tokens + i).length;
  tokens += 1_000;
}
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ version, tokens, seconds: elapsed, bytes: length }));
