// The browser side of the media-server benchmark (issue 11; `cargo xtask bench` runs it inside a
// loopback-only network namespace, see xtask/src/browser_bench.rs): the same group room of four
// tabs of Debian's Chromium (fake camera, the workshop page, the real twilio-video.js), once with
// `media.mode = mesh` (every tab sends its camera to each of the three others) and once with
// `media.mode = sfu` (every tab sends it once, to the media server). Once every tab plays the
// three others' video, it waits SETTLE_MS for the encoders' bandwidth estimates to ramp up and
// then measures for WINDOW_MS:
//
// - total browser CPU: user+system time of every Chromium process (this script's descendants
//   whose executable is Chromium) over the window, from /proc/<pid>/stat, as a share of one core;
//   the server's own CPU (the `videoroom` process, which forwards the media in `sfu` mode) beside
//   it, so that moving work from the browsers to the server shows;
// - each tab's uplink: the bytesSent of every outbound-rtp report of every peer connection the
//   tab opened (counted by an init script that wraps RTCPeerConnection), at the start and the end
//   of the window; and that uplink per sending connection, since the mesh's encoders may lower
//   each copy's bitrate when the machine is short of CPU.
//
// It prints both runs and the ratios sfu / mesh, then PASS/FAIL for the target: each tab's uplink
// through the media server about 1/(N-1) of the mesh's (between half and one and a half times
// 1/(N-1)), and exits non-zero on a FAIL. Usage: node bench/mesh-vs-sfu.mjs [window seconds].
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

import {
  join,
  launchBrowser,
  rest,
  waitConnected,
  waitForSdk,
  waitForVideoOf,
} from '../browser/browser.mjs';
import { startVideoroom } from '../support/servers.mjs';

const NAMES = ['alice', 'bob', 'carol', 'dave'];
const N = NAMES.length;
const WINDOW_MS = Number(process.argv[2] ?? '20') * 1000;
const SETTLE_MS = 5_000;
/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

/** Wraps RTCPeerConnection (a Proxy keeps the native prototype the SDK copies) to list them. */
function trackPeerConnections() {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = new Proxy(Native, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget);
      window.__peerConnections.push(pc);
      return pc;
    },
  });
}

/** Bytes sent so far on every outbound RTP stream of every open peer connection of the page. */
function bytesSent(page) {
  return page.evaluate(async () => {
    let bytes = 0;
    let connections = 0;
    let sending = 0;
    for (const pc of window.__peerConnections) {
      if (pc.signalingState === 'closed') continue;
      connections += 1;
      let sent = 0;
      const report = await pc.getStats();
      report.forEach((stat) => {
        if (stat.type === 'outbound-rtp') sent += stat.bytesSent ?? 0;
      });
      bytes += sent;
      if (sent > 0) sending += 1;
    }
    return { bytes, connections, sending };
  });
}

/** Every process: pid → { ppid, ticks (utime + stime), exe }. */
function processes() {
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state is field 3, ppid 4, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      let exe = '';
      try {
        exe = readlinkSync(`/proc/${entry}/exe`);
      } catch {
        // A process that is exiting, or not ours: it is not counted.
      }
      table.set(Number(entry), {
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]),
        exe,
      });
    } catch {
      // The process ended between the directory listing and the read.
    }
  }
  return table;
}

/** CPU ticks of this script's descendants, summed by kind (`browser` or `server`). */
function descendantTicks() {
  const table = processes();
  const ours = new Set([process.pid]);
  // Parents may be listed after their children: repeat until no descendant is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { ppid }] of table) {
      if (!ours.has(pid) && ours.has(ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  const perPid = new Map();
  for (const pid of ours) {
    const info = table.get(pid);
    if (!info || pid === process.pid) continue;
    const kind = /chrom/.test(info.exe) ? 'browser' : /videoroom/.test(info.exe) ? 'server' : null;
    if (kind) perPid.set(pid, { kind, ticks: info.ticks });
  }
  return perPid;
}

/** CPU seconds per kind between two samples; a process born in between counts from zero. */
function cpuBetween(before, after) {
  const total = { browser: 0, server: 0, browserProcesses: 0 };
  for (const [pid, { kind, ticks }] of after) {
    total[kind] += (ticks - (before.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND;
    if (kind === 'browser') total.browserProcesses += 1;
  }
  return total;
}

async function run(mode) {
  const server = await startVideoroom([], { VIDEOROOM_MEDIA_MODE: mode });
  const browser = await launchBrowser();
  try {
    await waitForSdk(server.url);
    const room = `bench-${mode}`;
    await rest(server.url, 'POST', '/v1/Rooms', { UniqueName: room, Type: 'group' });
    const pages = [];
    for (const name of NAMES) {
      const page = await browser.newPage();
      await page.addInitScript(trackPeerConnections);
      await join(page, server.url, name, room);
      await waitConnected(page);
      pages.push(page);
    }
    const joined = Date.now();
    await Promise.all(
      pages.flatMap((page, i) =>
        NAMES.filter((_, j) => j !== i).map((other) => waitForVideoOf(page, other)),
      ),
    );
    const allPlaying = Date.now() - joined;
    await new Promise((wake) => setTimeout(wake, SETTLE_MS));

    const sentBefore = await Promise.all(pages.map(bytesSent));
    const cpuBefore = descendantTicks();
    const started = performance.now();
    await new Promise((wake) => setTimeout(wake, WINDOW_MS));
    const cpuAfter = descendantTicks();
    const sentAfter = await Promise.all(pages.map(bytesSent));
    const seconds = (performance.now() - started) / 1000;

    const cpu = cpuBetween(cpuBefore, cpuAfter);
    const uplinks = pages.map((_, i) => ({
      kbps: ((sentAfter[i].bytes - sentBefore[i].bytes) * 8) / seconds / 1000,
      connections: sentAfter[i].connections,
      sending: sentAfter[i].sending,
    }));
    const errors = pages.flatMap((page) => page.consoleLog.filter((line) => /^\[pageerror\]/.test(line)));
    if (errors.length > 0) throw new Error(`a page threw during the run:\n${errors.join('\n')}`);
    return { mode, seconds, allPlaying, cpu, uplinks };
  } finally {
    await browser.close();
    await server.stop();
  }
}

function show(result) {
  const { mode, seconds, allPlaying, cpu, uplinks } = result;
  console.log(
    `  ${mode.padEnd(5)} all ${N} tabs played the ${N - 1} others ${allPlaying} ms after the last joined; window ${seconds.toFixed(1)} s`,
  );
  console.log(
    `        browser CPU ${(100 * cpu.browser / seconds).toFixed(1)}% of one core (${cpu.browserProcesses} Chromium processes), server CPU ${(100 * cpu.server / seconds).toFixed(1)}%`,
  );
  console.log(
    `        uplink kbit/s ${uplinks.map((u, i) => `${NAMES[i]} ${u.kbps.toFixed(0)} (${u.connections} pc open, ${u.sending} sending)`).join(', ')}`,
  );
  // The mesh's encoders may lower each copy's bitrate when the machine is short of CPU, which
  // moves the ratio away from 1/(N-1) for a reason that is not the topology: shown per copy.
  console.log(
    `        per sending connection kbit/s ${uplinks.map((u, i) => `${NAMES[i]} ${(u.kbps / Math.max(u.sending, 1)).toFixed(0)}`).join(', ')}`,
  );
}

const windowSeconds = WINDOW_MS / 1000;
console.log(
  `mesh vs media server: one group room, ${N} Chromium tabs (fake camera, workshop page), ${SETTLE_MS / 1000} s to settle once all play, then ${windowSeconds} s measured`,
);
const mesh = await run('mesh');
show(mesh);
const sfu = await run('sfu');
show(sfu);

const cpuRatio = sfu.cpu.browser / sfu.seconds / (mesh.cpu.browser / mesh.seconds);
const totalRatio =
  (sfu.cpu.browser + sfu.cpu.server) / sfu.seconds / ((mesh.cpu.browser + mesh.cpu.server) / mesh.seconds);
console.log(`  ratios sfu / mesh`);
console.log(`        browser CPU ${cpuRatio.toFixed(2)}   browser + server CPU ${totalRatio.toFixed(2)}`);
const target = 1 / (N - 1);
let failed = false;
const ratios = NAMES.map((name, i) => {
  const ratio = sfu.uplinks[i].kbps / mesh.uplinks[i].kbps;
  return { name, ratio };
});
console.log(`        uplink      ${ratios.map(({ name, ratio }) => `${name} ${ratio.toFixed(2)}`).join(', ')}`);
for (const { name, ratio } of ratios) {
  const ok = ratio >= target / 2 && ratio <= target * 1.5;
  failed ||= !ok;
  console.log(
    `  ${ok ? 'PASS' : 'FAIL'}  ${name}'s uplink sfu / mesh ${ratio.toFixed(2)}, about 1/(N-1) = ${target.toFixed(2)}  (ratio ${(ratio / target).toFixed(2)} of the target)`,
  );
}
process.exit(failed ? 1 : 0);
