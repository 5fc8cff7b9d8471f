// A package registry on loopback that serves one package, so that the SDK fetch path (`npm
// pack` run by the server) is tested with the real npm client while no traffic leaves this
// machine: the browser tier runs in a network namespace that has nothing but loopback.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import { projectRoot } from './servers.mjs';

/**
 * The pinned SDK tarball as the project's cache holds it. `cargo xtask test` runs
 * `videoroom sdk fetch` before the browser tier, while the network is still there.
 */
export function cachedSdkTarball(version) {
  const path = join(projectRoot, '.cache', 'twilio-video', version, `twilio-video-${version}.tgz`);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`videoroom sdk fetch\` first (cargo xtask test does)`);
  }
  return readFileSync(path);
}

/**
 * Serves `name@version` from `tarball` the way a registry does: the package document at
 * `/<name>`, the tarball at the address the document gives. `requests` lists every path asked
 * for, so a test can tell that the fetch really went through this registry.
 */
export async function startRegistry(name, version, tarball) {
  const requests = [];
  const tarballPath = `/${name}/-/${name}-${version}.tgz`;
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://registry.test').pathname);
    requests.push(path);
    if (path === `/${name}`) {
      const { port } = server.address();
      const document = {
        name,
        'dist-tags': { latest: version },
        versions: {
          [version]: {
            name,
            version,
            dist: {
              tarball: `http://127.0.0.1:${port}${tarballPath}`,
              integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
              shasum: createHash('sha1').update(tarball).digest('hex'),
            },
          },
        },
      };
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(document));
    } else if (path === tarballPath) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(tarball);
    } else {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"error":"not found"}');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    requests,
    tarballPath,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
