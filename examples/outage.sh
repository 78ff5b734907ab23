#!/usr/bin/env bash
# The story that started mirra, on one machine, in under a minute: an owner mirrors a
# profile and an image to a local disk, an S3 server and a WebDAV server; the S3 server
# goes down; `get`, `lookup` and `serve` still answer with verified bytes; S3 comes
# back; `repair` completes it; `verify` reports every copy ok.
#
# Usage: examples/outage.sh            (after `cargo build --release --workspace`)
#        MIRRA_BIN_DIR=target/debug examples/outage.sh
# Everything runs on 127.0.0.1 in a temporary directory, removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${MIRRA_BIN_DIR:-$repo/target/release}
for tool in mirra mirra-s3-server mirra-dav-server; do
    [ -x "$bin/$tool" ] || { echo "outage.sh: $bin/$tool not found; run: cargo build --release --workspace" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "outage.sh: curl is needed" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_DATA_HOME=$work/home/.local/share XDG_STATE_HOME=$work/home/.local/state
export MIRRA_DRIVER_PATH=$bin
mkdir -p "$HOME"
mirra() { "$bin/mirra" "$@"; }
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# Starts a server binary in the background and waits until it prints its URL into
# $work/NAME.url; its pid goes into $work/NAME.pid.
start_server() { # name listen-address args...
    local name=$1 listen=$2; shift 2
    rm -f "$work/$name.url"
    "$bin/$name" --listen "$listen" "$@" >"$work/$name.url" 2>"$work/$name.log" &
    pids+=($!)
    echo $! >"$work/$name.pid"
    for _ in $(seq 100); do
        [ -s "$work/$name.url" ] && return
        sleep 0.05
    done
    echo "outage.sh: $name did not start: $(cat "$work/$name.log")" >&2
    exit 1
}

say "mirra init: a signing key and the default config"
mirra init

say "start an S3 server and a WebDAV server on 127.0.0.1"
mkdir -p "$work/s3/demo-bucket" "$work/dav"
export MIRRA_S3_ACCESS_KEY=demo-access MIRRA_S3_SECRET_KEY=demo-secret-key
start_server mirra-s3-server 127.0.0.1:0 --root "$work/s3"
start_server mirra-dav-server 127.0.0.1:0 --root "$work/dav"
s3_url=$(head -1 "$work/mirra-s3-server.url")
dav_url=$(head -1 "$work/mirra-dav-server.url")
echo "S3 at $s3_url, WebDAV at $dav_url"

cat >"$XDG_CONFIG_HOME/mirra/config.toml" <<EOF
[identity]
key_file = "$XDG_DATA_HOME/mirra/key"

[policy]
write_quorum = "majority"
timeout = "5s"
hedge_after = "200ms"

[[provider]]
name = "s3"
driver = "s3"
priority = 10
[provider.config]
endpoint = "$s3_url"
bucket = "demo-bucket"
prefix = "alice/"
path_style = true
access_key_id = "demo-access"
secret_access_key = "demo-secret-key"
connect_timeout = "1s"
timeout = "5s"

[[provider]]
name = "webdav"
driver = "http"
priority = 20
[provider.config]
base_url = "$dav_url/"
webdav = true
connect_timeout = "1s"
timeout = "5s"

[[provider]]
name = "laptop"
driver = "disk"
priority = 30
[provider.config]
root = "$XDG_DATA_HOME/mirra/providers/disk-a"
EOF
mirra providers

say "put a profile and an image: mirrored to all three providers"
printf '{"name":"jude","avatar":"img/avatar.png"}\n' >"$work/profile.json"
head -c 3000000 /dev/urandom >"$work/avatar.png"
mirra put "$work/profile.json" profile.json
mirra put "$work/avatar.png" img/avatar.png
mirra zonefile --origin jude.id -o "$work/zonefile.txt"
cat "$work/zonefile.txt"

say "S3 goes down"
kill "$(cat "$work/mirra-s3-server.pid")"
wait "$(cat "$work/mirra-s3-server.pid")" 2>/dev/null || true

say "mirra get still answers, every byte verified"
mirra get profile.json
mirra get img/avatar.png -o "$work/avatar.copy"
cmp "$work/avatar.png" "$work/avatar.copy" && echo "avatar.png: identical"

say "mirra lookup: a reader with nothing but the zone file"
( export HOME=$work/reader XDG_CONFIG_HOME=$work/reader/.config XDG_DATA_HOME=$work/reader/.local/share XDG_STATE_HOME=$work/reader/.local/state
  mkdir -p "$HOME"
  "$bin/mirra" lookup "$work/zonefile.txt" profile.json )

say "mirra serve: browsers and curl read through the outage"
"$bin/mirra" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 200); do grep -q 'http://' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
serve_url=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)
[ -n "$serve_url" ] || { echo "outage.sh: mirra serve did not start: $(cat "$work/serve.log")" >&2; exit 1; }
curl -fsS "$serve_url/profile.json"
curl -fsS "$serve_url/img/avatar.png" -o "$work/avatar.http"
cmp "$work/avatar.png" "$work/avatar.http" && echo "avatar.png over HTTP: identical"
kill "$serve_pid"

say "a new profile while S3 is down: the majority commits, S3 is journaled for repair"
printf '{"name":"jude","status":"S3 is down and nobody noticed"}\n' >"$work/profile.json"
mirra put "$work/profile.json" profile.json

say "S3 comes back; mirra repair completes it; mirra verify checks every copy"
start_server mirra-s3-server "${s3_url#http://}" --root "$work/s3"
mirra repair
mirra verify
cmp "$work/profile.json" "$work/s3/demo-bucket/alice/profile.json" && echo "S3 holds the new profile"

say "done: no reader noticed the outage"
