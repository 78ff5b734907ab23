// Drives the real @stacks/storage client against a Gaia hub (mirra serve --gaia) and
// prints one line per check: `ok <step> ...` or `FAIL <step> ...`. The Rust test
// tests/tests/gaia.rs asserts on these lines; any unexpected error exits non-zero.
//
//   node gaia.mjs basic HUB KEY TAG       write, overwrite, read, list and delete under TAG/
//   node gaia.mjs read HUB KEY TAG        read back what `basic` left under TAG/
//   node gaia.mjs refusals HUB KEY OTHER  each refused request, and that nothing was written
//   node gaia.mjs revoke HUB KEY          revoke-all locks out old tokens; a fresh iat works
//   node gaia.mjs revoked HUB KEY         a token without iat is refused (after `revoke`)
//   node gaia.mjs cors HUB KEY PREFIX     hub_info, CORS preflight and headers, stat listing
//   node gaia.mjs address HUB KEY         the bucket address the client connects to
//   node gaia.mjs busy HUB KEY            409 for busy/held.txt (its write held by the test)
import { connectToGaiaHub, uploadToGaiaHub, getFullReadUrl, Storage } from '@stacks/storage';
import { AppConfig, UserSession } from '@stacks/auth';
import { getPublicKeyFromPrivate } from '@stacks/encryption';
import { TokenSigner } from 'jsontokens';

const [command, hubUrl, key, arg] = process.argv.slice(2);

function ok(step, detail = '') {
  console.log(`ok ${step}${detail ? ' ' + detail : ''}`);
}

function fail(step, detail) {
  console.log(`FAIL ${step} ${detail}`);
  process.exitCode = 1;
}

function check(step, condition, detail = '') {
  if (condition) ok(step, detail);
  else fail(step, detail);
}

/** Runs `action`, which must throw an error named `name`. */
async function expectError(step, name, action) {
  try {
    await action();
    fail(step, `expected ${name}, but it succeeded`);
  } catch (e) {
    const got = e?.name || e?.constructor?.name;
    check(step, got === name, `(${got}: ${e?.hubError?.statusCode ?? ''})`);
  }
}

function session(appPrivateKey) {
  const userSession = new UserSession({
    appConfig: new AppConfig(['store_write'], 'http://127.0.0.1'),
    sessionOptions: { userData: { appPrivateKey, hubUrl } },
  });
  return new Storage({ userSession });
}

/** The bytes at a file's read URL: status, body text, ETag and Content-Type. */
async function readRaw(hub, path) {
  const response = await fetch(await getFullReadUrl(path, hub));
  return {
    status: response.status,
    text: response.ok ? await response.text() : '',
    etag: response.headers.get('etag'),
    type: response.headers.get('content-type'),
  };
}

function payload(tag, name) {
  return `${name} of ${tag}: ` + 'mirra gaia '.repeat(20);
}

function binary(tag) {
  const bytes = new Uint8Array(200 * 1024);
  let state = tag.length + 7;
  for (let i = 0; i < bytes.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

async function basic(tag) {
  const hub = await connectToGaiaHub(hubUrl, key);
  check('connect', /^[13][a-km-zA-HJ-NP-Z1-9]{25,34}$/.test(hub.address) && hub.url_prefix.endsWith('/'),
    `address=${hub.address} url_prefix=${hub.url_prefix}`);

  // uploadToGaiaHub: new file (If-None-Match: *), then with ETags.
  const raw = `${tag}/raw.txt`;
  const first = await uploadToGaiaHub(raw, 'one', hub, 'text/plain');
  check('upload-new', typeof first.etag === 'string' && first.publicURL === `${hub.url_prefix}${hub.address}/${raw}`,
    `etag=${first.etag}`);
  const second = await uploadToGaiaHub(raw, 'two', hub, 'text/plain', false, first.etag);
  check('upload-if-match', second.etag !== first.etag, `etag=${second.etag}`);
  await expectError('upload-stale-etag', 'PreconditionFailedError', () =>
    uploadToGaiaHub(raw, 'three', hub, 'text/plain', false, first.etag));
  await expectError('upload-new-over-existing', 'PreconditionFailedError', () =>
    uploadToGaiaHub(raw, 'three', hub, 'text/plain', true));
  const unconditional = await uploadToGaiaHub(raw, 'four', hub, 'text/plain', false);
  const read = await readRaw(hub, raw);
  check('read-after-upload', read.status === 200 && read.text === 'four' && read.type === 'text/plain',
    `status=${read.status} type=${read.type}`);
  check('etag-same-string', read.etag === unconditional.etag, `read=${read.etag} store=${unconditional.etag}`);

  // Storage: encrypted, plain, signed, signed + encrypted, binary.
  const storage = session(key);
  const cases = [
    ['enc.json', { encrypt: true }, { decrypt: true }],
    ['plain.txt', { encrypt: false }, { decrypt: false }],
    ['signed.txt', { encrypt: false, sign: true }, { decrypt: false, verify: true }],
    ['signed-enc.txt', { encrypt: true, sign: true }, { decrypt: true, verify: true }],
  ];
  for (const [name, putOptions, getOptions] of cases) {
    const path = `${tag}/${name}`;
    const url = await storage.putFile(path, payload(tag, name), putOptions);
    const back = await storage.getFile(path, getOptions);
    check(`putFile-getFile ${name}`, back === payload(tag, name) && url.endsWith(path), url);
  }
  const stored = await readRaw(hub, `${tag}/enc.json`);
  check('encrypted-at-rest', stored.type === 'application/json' && JSON.parse(stored.text).cipherText !== undefined
    && !stored.text.includes('mirra gaia'));
  const bin = binary(tag);
  await storage.putFile(`${tag}/bin`, bin, { encrypt: false, contentType: 'application/octet-stream' });
  const binBack = new Uint8Array(await storage.getFile(`${tag}/bin`, { decrypt: false }));
  check('putFile-getFile binary', binBack.length === bin.length && binBack.every((b, i) => b === bin[i]),
    `bytes=${binBack.length}`);
  // An overwrite in the same session sends the ETag the session learned.
  await storage.putFile(`${tag}/plain.txt`, payload(tag, 'plain2'), { encrypt: false });
  check('putFile-overwrite', (await storage.getFile(`${tag}/plain.txt`, { decrypt: false })) === payload(tag, 'plain2'));

  const names = [];
  const count = await storage.listFiles((name) => {
    names.push(name);
    return true;
  });
  const mine = names.filter((n) => n.startsWith(`${tag}/`)).sort();
  const expected = ['bin', 'enc.json', 'plain.txt', 'raw.txt', 'signed-enc.txt',
    'signed.txt', 'signed.txt.sig'].map((n) => `${tag}/${n}`);
  check('listFiles', JSON.stringify(mine) === JSON.stringify(expected) && count === names.length,
    mine.join(','));

  await storage.deleteFile(`${tag}/plain.txt`);
  await expectError('deleteFile', 'DoesNotExist', () => storage.getFile(`${tag}/plain.txt`, { decrypt: false }));
  await storage.deleteFile(`${tag}/signed.txt`, { wasSigned: true });
  await expectError('deleteFile-signed', 'DoesNotExist', () =>
    storage.getFile(`${tag}/signed.txt.sig`, { decrypt: false }));
  await expectError('delete-missing', 'DoesNotExist', () => storage.deleteFile(`${tag}/never-written`));
  ok('basic', tag);
}

async function readBack(tag) {
  const hub = await connectToGaiaHub(hubUrl, key);
  const storage = session(key);
  const raw = await readRaw(hub, `${tag}/raw.txt`);
  check('read raw.txt', raw.status === 200 && raw.text === 'four', `status=${raw.status}`);
  check('read enc.json', (await storage.getFile(`${tag}/enc.json`)) === payload(tag, 'enc.json'));
  check('read signed-enc.txt', (await storage.getFile(`${tag}/signed-enc.txt`, { decrypt: true, verify: true }))
    === payload(tag, 'signed-enc.txt'));
  const bin = binary(tag);
  const back = new Uint8Array(await storage.getFile(`${tag}/bin`, { decrypt: false }));
  check('read bin', back.length === bin.length && back.every((b, i) => b === bin[i]));
  ok('read', tag);
}

async function refusals(otherKey) {
  const hub = await connectToGaiaHub(hubUrl, key);
  const other = await connectToGaiaHub(hubUrl, otherKey);
  const path = 'refusals/kept.txt';
  const kept = await uploadToGaiaHub(path, 'kept', hub, 'text/plain', false);

  // Another address's token on this bucket.
  const borrowed = { ...hub, token: other.token };
  await expectError('refuse-other-address', 'ValidationError', () =>
    uploadToGaiaHub('refusals/other.txt', 'x', borrowed, 'text/plain', false));
  check('nothing-written other-address', (await readRaw(hub, 'refusals/other.txt')).status === 404);
  const deleted = await fetch(`${hubUrl}/delete/${hub.address}/${path}`, {
    method: 'DELETE', headers: { Authorization: `bearer ${other.token}` } });
  check('refuse-other-address-delete', deleted.status === 401, `status=${deleted.status}`);
  check('nothing-deleted other-address', (await readRaw(hub, path)).text === 'kept');

  // A stale ETag.
  await uploadToGaiaHub(path, 'kept2', hub, 'text/plain', false, kept.etag);
  await expectError('refuse-stale-etag', 'PreconditionFailedError', () =>
    uploadToGaiaHub(path, 'lost', hub, 'text/plain', false, kept.etag));
  check('nothing-written stale-etag', (await readRaw(hub, path)).text === 'kept2');

  // Bad paths.
  for (const bad of ['refusals/dir/', 'refusals/a..b']) {
    await expectError(`refuse-bad-path ${bad}`, 'BadPathError', () =>
      uploadToGaiaHub(bad, 'x', hub, 'text/plain', false));
  }

  // Over the hub's limit.
  const limit = hub.max_file_upload_size_megabytes * 1024 * 1024;
  await expectError('refuse-oversized', 'PayloadTooLargeError', () =>
    uploadToGaiaHub('refusals/big.bin', new Uint8Array(limit + 1), hub, 'application/octet-stream', false));
  check('nothing-written oversized', (await readRaw(hub, 'refusals/big.bin')).status === 404);

  // A token with another hub's challenge.
  const signer = new TokenSigner('ES256K', key);
  const foreign = signer.sign({ gaiaChallenge: '["gaiahub","0","elsewhere","blockstack_storage_please_sign"]',
    iss: getPublicKeyFromPrivate(key), salt: '00' });
  await expectError('refuse-foreign-challenge', 'ValidationError', () =>
    uploadToGaiaHub('refusals/foreign.txt', 'x', { ...hub, token: `v1:${foreign}` }, 'text/plain', false));
  check('nothing-written foreign-challenge', (await readRaw(hub, 'refusals/foreign.txt')).status === 404);
  ok('refusals');
}

async function revoke() {
  const hub = await connectToGaiaHub(hubUrl, key);
  await uploadToGaiaHub('before.txt', 'before', hub, 'text/plain', false);
  const now = Math.floor(Date.now() / 1000);
  const response = await fetch(`${hubUrl}/revoke-all/${hub.address}`, {
    method: 'POST',
    headers: { Authorization: `bearer ${hub.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ oldestValidTimestamp: now }),
  });
  check('revoke-all', response.status === 202, `status=${response.status}`);
  // @stacks/storage tokens carry no iat, so every one of them is now refused (gaia #463).
  await expectError('refuse-revoked', 'ValidationError', () =>
    uploadToGaiaHub('after.txt', 'after', hub, 'text/plain', false));
  check('nothing-written revoked', (await readRaw(hub, 'after.txt')).status === 404);
  const info = await (await fetch(`${hubUrl}/hub_info`)).json();
  const fresh = new TokenSigner('ES256K', key).sign({ gaiaChallenge: info.challenge_text, hubUrl,
    iss: getPublicKeyFromPrivate(key), salt: '01', iat: now + 1 });
  const written = await uploadToGaiaHub('after.txt', 'after', { ...hub, token: `v1:${fresh}` }, 'text/plain', false);
  check('fresh-iat-accepted', typeof written.etag === 'string');
  ok('revoke');
}

async function revoked() {
  const hub = await connectToGaiaHub(hubUrl, key);
  await expectError('refuse-revoked', 'ValidationError', () =>
    uploadToGaiaHub('again.txt', 'again', hub, 'text/plain', false));
  check('nothing-written revoked', (await readRaw(hub, 'again.txt')).status === 404);
  ok('revoked');
}

async function cors(readPrefix) {
  const info = await (await fetch(`${hubUrl}/hub_info`)).json();
  check('hub_info', info.latest_auth_version === 'v1' && info.read_url_prefix === readPrefix
    && JSON.parse(info.challenge_text)[2] === 'hub.example' && info.max_file_upload_size_megabytes === 20,
    JSON.stringify(info));
  const hub = await connectToGaiaHub(hubUrl, key);
  const origin = 'https://app.example';
  const preflight = await fetch(`${hubUrl}/store/${hub.address}/x.json`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type,if-match,if-none-match,x-hiro-product' },
  });
  const allowed = (preflight.headers.get('access-control-allow-headers') || '').toLowerCase();
  check('preflight', preflight.ok && preflight.headers.get('access-control-allow-origin') === '*'
    && ['authorization', 'content-type', 'if-match', 'if-none-match', 'x-hiro-product'].every((h) => allowed.includes(h))
    && (preflight.headers.get('access-control-allow-methods') || '').includes('DELETE')
    && preflight.headers.get('access-control-max-age') === '86400',
    `status=${preflight.status} headers=${allowed}`);
  const stored = await fetch(`${hubUrl}/store/${hub.address}/x.json`, {
    method: 'POST',
    headers: { Origin: origin, Authorization: `bearer ${hub.token}`, 'Content-Type': 'application/json' },
    body: '{"a":1}',
  });
  const reply = await stored.json();
  check('store-cors', stored.status === 202 && stored.headers.get('access-control-allow-origin') === '*'
    && reply.publicURL === `${readPrefix}${hub.address}/x.json`, JSON.stringify(reply));
  const read = await fetch(`${hubUrl}/${hub.address}/x.json`, { headers: { Origin: origin } });
  check('read-cors', read.status === 200 && read.headers.get('access-control-allow-origin') === '*'
    && (read.headers.get('access-control-expose-headers') || '').toLowerCase().includes('etag')
    && read.headers.get('etag') === reply.etag && (await read.text()) === '{"a":1}');
  const listed = await fetch(`${hubUrl}/list-files/${hub.address}`, {
    method: 'POST',
    headers: { Authorization: `bearer ${hub.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ page: null, stat: true }),
  });
  const page = await listed.json();
  const entry = page.entries?.[0];
  check('list-stat', listed.status === 202 && page.entries.length === 1 && entry.name === 'x.json'
    && entry.etag === reply.etag && entry.contentLength === 7 && entry.contentType === 'application/json'
    && Math.abs(entry.lastModifiedDate - Date.now()) < 600000 && page.page === null, JSON.stringify(page));
  ok('cors');
}

/** The test holds the write of `busy/held.txt` in flight: the hub answers 409. */
async function busy() {
  const hub = await connectToGaiaHub(hubUrl, key);
  await expectError('refuse-busy-store', 'ConflictError', () =>
    uploadToGaiaHub('busy/held.txt', 'second writer', hub, 'text/plain', false));
  const deleted = await fetch(`${hubUrl}/delete/${hub.address}/busy/held.txt`, {
    method: 'DELETE', headers: { Authorization: `bearer ${hub.token}` } });
  check('refuse-busy-delete', deleted.status === 409, `status=${deleted.status}`);
  check('nothing-written busy', (await readRaw(hub, 'busy/held.txt')).text === 'first writer');
  await uploadToGaiaHub('busy/other.txt', 'free', hub, 'text/plain', false);
  check('other-paths-free', (await readRaw(hub, 'busy/other.txt')).text === 'free');
  ok('busy');
}

const commands = {
  basic: () => basic(arg), read: () => readBack(arg), refusals: () => refusals(arg), revoke, revoked,
  cors: () => cors(arg), busy,
  address: async () => ok('connect', `address=${(await connectToGaiaHub(hubUrl, key)).address}`),
};
if (!commands[command] || !hubUrl || !key) {
  console.error('usage: node gaia.mjs basic|read|refusals|revoke HUB_URL APP_KEY_HEX [TAG|OTHER_KEY]');
  process.exit(2);
}
try {
  await commands[command]();
} catch (e) {
  fail(command, `unexpected ${e?.name}: ${e?.message} ${JSON.stringify(e?.hubError ?? '')}`);
}
