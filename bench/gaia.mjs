// G1 (issue 16): CLIENTS concurrent @stacks/storage clients, each with its own hub
// connection, upload FILES 1 KiB files each with uploadToGaiaHub (as putFile sends a new
// file: If-None-Match: *). Prints one JSON line: p50/p99 latency and files/s.
//
//   node bench/gaia.mjs HUB_URL APP_KEY_HEX CLIENTS FILES TAG
// Run from bench/ (or with NODE_PATH) so it finds tests/gaia-client/node_modules.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const require = createRequire(new URL('../tests/gaia-client/package.json', import.meta.url));
const { connectToGaiaHub, uploadToGaiaHub } = await import(require.resolve('@stacks/storage'));

const [hubUrl, key, clientsText, filesText, tag] = process.argv.slice(2);
const clients = Number(clientsText);
const files = Number(filesText);
if (!hubUrl || !key || !(clients > 0) || !(files > 0) || !tag) {
  console.error('usage: node bench/gaia.mjs HUB_URL APP_KEY_HEX CLIENTS FILES TAG');
  process.exit(2);
}

const latencies = [];
// Every client connects and makes one untimed upload first: connection set-up is not
// the workload. Then all start together.
const hubs = await Promise.all(Array.from({ length: clients }, async (_, id) => {
  const hub = await connectToGaiaHub(hubUrl, key);
  await uploadToGaiaHub(`${tag}/warm/${id}`, randomBytes(1024), hub, 'application/octet-stream');
  return hub;
}));
async function client(id) {
  for (let i = 0; i < files; i++) {
    const begun = performance.now();
    await uploadToGaiaHub(`${tag}/c${id}/f${i}`, randomBytes(1024), hubs[id], 'application/octet-stream');
    latencies.push(performance.now() - begun);
  }
}
const started = performance.now();
await Promise.all(hubs.map((_, id) => client(id)));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({
  files: latencies.length, clients, seconds: +seconds.toFixed(3),
  p50_ms: +at(0.5).toFixed(2), p99_ms: +at(0.99).toFixed(2),
  files_per_s: +(latencies.length / seconds).toFixed(1),
}));
