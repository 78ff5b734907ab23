#!/usr/bin/env bash
# G1 (issue 16): the real Gaia client through `mirra serve --gaia`. CLIENTS concurrent
# @stacks/storage clients upload 1 KiB files with uploadToGaiaHub to a hub over three
# providers (a disk, an S3 server and a WebDAV server, all on 127.0.0.1) and to a hub over
# one disk provider, in the same run, alternating ROUNDS times; prints p50/p99 latency and
# files/s of each (medians over the rounds) as a Markdown table.
#
#   bench/gaia.sh [CLIENTS [FILES_PER_CLIENT [ROUNDS]]]     defaults: 16 50 3
# Binaries come from $MIRRA_BIN_DIR (default target/release): mirra, mirra-s3-server,
# mirra-dav-server and the driver libraries. Needs node and tests/gaia-client/node_modules
# (`npm ci` there, or .ci/run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${MIRRA_BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/release}
clients=${1:-16}
files=${2:-50}
rounds=${3:-3}
for tool in mirra mirra-s3-server mirra-dav-server; do
    [ -x "$bin/$tool" ] || { echo "gaia.sh: $bin/$tool not found; build the workspace or set MIRRA_BIN_DIR" >&2; exit 2; }
done
command -v node >/dev/null || { echo "gaia.sh: node is needed (.ci/run installs it)" >&2; exit 2; }
[ -d "$repo/tests/gaia-client/node_modules/@stacks/storage" ] || {
    echo "gaia.sh: run \`npm ci\` in tests/gaia-client (or .ci/run) first" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts NAME ARGS... in the background and echoes the http:// URL it prints first.
start() {
    local name=$1; shift
    "$@" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 200); do
        url=$(grep -o 'http://[0-9.:]*' "$work/$name.out" | head -1 || true)
        [ -n "$url" ] && { echo "$url"; return; }
        sleep 0.05
    done
    echo "gaia.sh: $name did not start: $(cat "$work/$name.log")" >&2
    exit 1
}

# A mirra home: HOME-relative env for `mirra` calls.
home_env() { # dir
    echo "HOME=$1 XDG_CONFIG_HOME=$1/config XDG_DATA_HOME=$1/data XDG_STATE_HOME=$1/state MIRRA_DRIVER_PATH=$bin"
}

mkdir -p "$work/s3/bench" "$work/dav"
export MIRRA_S3_ACCESS_KEY=bench-access MIRRA_S3_SECRET_KEY=bench-secret-key
s3_url=$(start s3 "$bin/mirra-s3-server" --root "$work/s3")
dav_url=$(start dav "$bin/mirra-dav-server" --root "$work/dav")

for setup in three one; do
    dir=$work/$setup
    mkdir -p "$dir"
    env $(home_env "$dir") "$bin/mirra" init >/dev/null
    {
        printf '[identity]\nkey_file = "%s/data/mirra/key"\n\n[policy]\nwrite_quorum = "majority"\n\n' "$dir"
        printf '[gaia]\nserver_name = "bench"\n\n'
        printf '[[provider]]\nname = "disk"\ndriver = "disk"\n[provider.config]\nroot = "%s/disk"\n\n' "$dir"
        if [ "$setup" = three ]; then
            printf '[[provider]]\nname = "s3"\ndriver = "s3"\n[provider.config]\nendpoint = "%s"\nbucket = "bench"\npath_style = true\naccess_key_id = "bench-access"\nsecret_access_key = "bench-secret-key"\n\n' "$s3_url"
            printf '[[provider]]\nname = "dav"\ndriver = "http"\n[provider.config]\nbase_url = "%s/"\nwebdav = true\n' "$dav_url"
        fi
    } >"$dir/config/mirra/config.toml"
    url=$(start "hub-$setup" env $(home_env "$dir") "$bin/mirra" serve --gaia --listen 127.0.0.1:0)
    echo "$url" >"$work/$setup.url"
done

key=$(node -e "console.log(require('crypto').randomBytes(32).toString('hex'))")
for round in $(seq "$rounds"); do
    for setup in three one; do
        node "$repo/bench/gaia.mjs" "$(cat "$work/$setup.url")" "$key" "$clients" "$files" "r$round" \
            | grep '^{' >>"$work/$setup.json"
    done
done

node - "$work" "$clients" "$files" "$rounds" <<'JS'
const fs = require('fs');
const [work, clients, files, rounds] = process.argv.slice(2);
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const read = (s) => fs.readFileSync(`${work}/${s}.json`, 'utf8').trim().split('\n').map(JSON.parse);
const row = (label, runs) => {
  const p50 = median(runs.map((r) => r.p50_ms)), p99 = median(runs.map((r) => r.p99_ms));
  const fps = median(runs.map((r) => r.files_per_s));
  const each = runs.map((r) => `${r.p50_ms}/${r.p99_ms} ms, ${r.files_per_s}/s`).join('; ');
  return { line: `| ${label} | ${p50.toFixed(1)} ms | ${p99.toFixed(1)} ms | ${fps.toFixed(0)} | ${each} |`, fps };
};
const three = row('mirra serve --gaia, 3 providers (disk, S3, WebDAV)', read('three'));
const one = row('mirra serve --gaia, 1 disk provider', read('one'));
console.log(`G1: ${clients} concurrent clients × ${files} uploadToGaiaHub of 1 KiB, median of ${rounds} alternating rounds\n`);
console.log('| setup | p50 | p99 | files/s | per round (p50/p99, files/s) |');
console.log('|---|---|---|---|---|');
console.log(three.line);
console.log(one.line);
console.log(`\nthree providers / one disk: ${(three.fps / one.fps).toFixed(2)} × the files/s`);
JS
