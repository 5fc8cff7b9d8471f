// Starting the project's binaries for the Node tiers: each test starts its own server on port 0
// and reads the real address from the line both binaries print once they are listening.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The seeded credentials of `videoroom_core::credentials`, the emulator's defaults. */
export const SEEDED = Object.freeze({
  accountSid: 'AC7e570000000000000000000000000000',
  authToken: 'emulator-auth-token-not-a-secret',
  apiKeySid: 'SK7e570000000000000000000000000000',
  apiKeySecret: 'emulator-api-secret-not-a-secret',
});

// `https://` when the server was started with --https (see browser/lan.test.mjs).
const LISTENING = /listening on (https?:\/\/127\.0\.0\.1:(\d+))/;

/**
 * The path of a built binary: `cargo xtask test` passes it in the environment; run by hand,
 * the debug build in target/ is used when it exists.
 */
export function binary(envName, fileName) {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  const built = join(projectRoot, 'target', 'debug', fileName);
  if (existsSync(built)) return built;
  throw new Error(
    `${envName} is not set and ${built} does not exist: run this tier with \`cargo xtask test node\``,
  );
}

export const emulatorBinary = () => binary('VIDEOROOM_EMULATOR_BIN', 'videoroom-emulator');
export const videoroomBinary = () => binary('VIDEOROOM_BIN', 'videoroom');

/** Credential variables of both binaries; the tests set their own and clear the caller's. */
const CREDENTIAL_VARIABLES = [
  'ACCOUNT_SID', 'TWILIO_ACCOUNT_SID', 'AUTH_TOKEN', 'TWILIO_AUTH_TOKEN',
  'API_KEY', 'TWILIO_API_KEY_SID', 'API_SECRET', 'TWILIO_API_KEY_SECRET',
  'VIDEOROOM_BACKEND', 'TWILIO_VIDEO_BASE_URL', 'PORT',
];

/**
 * The environment for a child binary: the caller's, minus any credentials or backend choice it
 * happens to carry (a developer's real Twilio keys must never reach a test), plus `extra`.
 */
export function childEnv(extra = {}) {
  const env = { ...process.env };
  for (const name of CREDENTIAL_VARIABLES) delete env[name];
  return { ...env, ...extra };
}

/**
 * Starts `bin args…` in a fresh empty directory (so no `.env` or `videoroom.toml` of the
 * developer's is read) and resolves once it prints its listening line.
 */
export async function startBinary(bin, args, { env = {}, timeoutMs = 20_000 } = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'videoroom-test-'));
  const child = spawn(bin, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${bin} ${args.join(' ')} did not print "listening on http://127.0.0.1:<port>" within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onData = (chunk) => {
      output += chunk.toString('utf8');
      const match = LISTENING.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${bin} ${args.join(' ')} exited (code ${code}, signal ${signal}) before listening; output:\n${output}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** A standalone emulator with the seeded credentials, on a free loopback port. */
export function startEmulator(env = {}) {
  return startBinary(emulatorBinary(), ['--port', '0'], { env });
}

/**
 * The token service (`videoroom serve`) on a free loopback port. It runs in an empty directory,
 * so it is pointed at the project's workshop page explicitly (`env` may override that).
 */
export function startVideoroom(args = [], env = {}) {
  return startBinary(videoroomBinary(), ['--port', '0', ...args], {
    env: { VIDEOROOM_WORKSHOP_DIR: join(projectRoot, 'workshop'), ...env },
  });
}

/** HTTP Basic authorization header for the seeded account. */
export function basicAuth(user = SEEDED.accountSid, password = SEEDED.authToken) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * Adds a simulated participant through the emulator's control route (there is no REST create
 * for participants on Twilio: they appear when a client connects).
 */
export async function addSimulatedParticipant(emulatorUrl, room, identity) {
  const response = await fetch(`${emulatorUrl}/emulator/rooms/${encodeURIComponent(room)}/participants`, {
    method: 'POST',
    headers: { authorization: basicAuth(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ Identity: identity }),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`POST /emulator/rooms/${room}/participants Identity=${identity} answered ${response.status}: ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

/**
 * A loopback HTTP server that records every request it gets (method, full URL as the sender
 * addressed it, headers, raw body) and answers 200, for status-callback tests.
 */
export async function startReceiver() {
  const requests = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({
        method: req.method,
        url: `http://127.0.0.1:${server.address().port}${req.url}`,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      for (const waiter of waiters.splice(0)) waiter();
    });
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    requests,
    /** Resolves with the recorded requests once `predicate(requests)` holds, or rejects. */
    async waitFor(predicate, timeoutMs = 15_000, what = 'the expected requests') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(requests)) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received:\n${JSON.stringify(requests, null, 2)}`);
        }
        await new Promise((wake) => {
          const timer = setTimeout(wake, Math.min(left, 250));
          waiters.push(() => {
            clearTimeout(timer);
            wake();
          });
        });
      }
      return requests;
    },
    close: () => new Promise((done) => server.close(done)),
  };
}

/**
 * The emulator `videoroom-emulator exec` started for this run (`cargo xtask test` runs the Node
 * tiers under it, as a user's CI would), read from the variables it exports; `null` when the
 * tests run without it. Node runs test files in parallel, so a test using it must not reset it
 * or count what other files create.
 */
export function execEmulator() {
  const url = process.env.VIDEOROOM_EMULATOR_URL;
  if (!url) return null;
  return {
    url,
    baseUrl: process.env.TWILIO_VIDEO_BASE_URL,
    accountSid: process.env.ACCOUNT_SID,
    authToken: process.env.AUTH_TOKEN,
    apiKeySid: process.env.API_KEY,
    apiKeySecret: process.env.API_SECRET,
    twilioNames: {
      accountSid: process.env.TWILIO_ACCOUNT_SID,
      authToken: process.env.TWILIO_AUTH_TOKEN,
      apiKeySid: process.env.TWILIO_API_KEY_SID,
      apiKeySecret: process.env.TWILIO_API_KEY_SECRET,
    },
  };
}
