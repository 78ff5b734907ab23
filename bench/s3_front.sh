#!/bin/sh
# The S3 front door's benchmark row (issue #17), run once:
#   S1  `aws s3 cp` of 1 GiB up and down through `mirra serve --s3` with three disk
#       providers, against the same commands straight to the test S3 server (one copy);
#   S2  1,000 × 4 KiB PutObject with boto3 on 16 threads, files/s through mirra and
#       straight to the test S3 server.
# Both contenders run in the same invocation, on 127.0.0.1, from release builds.
# Prints a markdown table on stdout (bench/s3_front.md keeps the last one, and
# docs/benchmarks.md quotes it).
#
#   bench/s3_front.sh [SIZE_MIB]     (default 1024)
#
# aws-cli and boto3 come from target/s3-venv (made by .ci/run) or PATH.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
size_mib=${1:-1024}
target="${CARGO_TARGET_DIR:-$repo/target}/release"
echo "building release ..." >&2
cargo build --release --quiet -p mirra -p mirra-driver-disk -p mirra-test-servers

venv="$repo/target/s3-venv/bin"
if [ -x "$venv/aws" ]; then PATH="$venv:$PATH"; fi
command -v aws >/dev/null || { echo "aws-cli missing: run .ci/run" >&2; exit 1; }
python=python3
[ -x "$venv/python" ] && python="$venv/python"
"$python" -c 'import boto3' || { echo "boto3 missing: run .ci/run" >&2; exit 1; }

work=$(mktemp -d "${MIRRA_BENCH_DIR:-$repo/target}/s3-bench.XXXXXX")
pids=""
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A mirra home with three disk providers and one S3 key.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/config" XDG_DATA_HOME="$work/home/data"
export XDG_STATE_HOME="$work/home/state" MIRRA_DRIVER_PATH="$target"
mkdir -p "$HOME"
"$target/mirra" init >/dev/null
cat >> "$XDG_CONFIG_HOME/mirra/config.toml" <<EOF

[s3]
[[s3.credentials]]
access_key = "AKIABENCH"
secret_key = "bench-secret-0123456789"
EOF
"$target/mirra" serve --s3 --listen 127.0.0.1:0 > "$work/mirra.out" 2> "$work/mirra.err" &
pids="$pids $!"
mkdir -p "$work/s3root/bench"
MIRRA_S3_ACCESS_KEY=AKIABENCH MIRRA_S3_SECRET_KEY=bench-secret-0123456789 \
    "$target/mirra-s3-server" --root "$work/s3root" > "$work/s3.out" 2> "$work/s3.err" &
pids="$pids $!"
for f in "$work/mirra.out" "$work/s3.out"; do
    i=0
    until grep -q "http://" "$f" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "a server did not start: $f" >&2; exit 1; }
        sleep 0.1
    done
done
mirra_url=$(grep -o 'http://[0-9.:]*' "$work/mirra.out" | head -1)
s3_url=$(grep -o 'http://[0-9.:]*' "$work/s3.out" | head -1)

export AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$work/none" AWS_SHARED_CREDENTIALS_FILE="$work/none"
unset AWS_CA_BUNDLE AWS_PROFILE 2>/dev/null || true
aws --endpoint-url "$mirra_url" s3 mb s3://bench >/dev/null

head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/in"
seconds() { "$python" -c 'import time; print(time.monotonic())'; }
timed() {
    sync
    start=$(seconds)
    "$@" >/dev/null
    end=$(seconds)
    "$python" -c "print(f'{$end - $start:.2f}')"
}
up_mirra=$(timed aws --endpoint-url "$mirra_url" s3 cp --no-progress "$work/in" s3://bench/big)
up_s3=$(timed aws --endpoint-url "$s3_url" s3 cp --no-progress "$work/in" s3://bench/big)
down_mirra=$(timed aws --endpoint-url "$mirra_url" s3 cp --no-progress s3://bench/big "$work/out.mirra")
down_s3=$(timed aws --endpoint-url "$s3_url" s3 cp --no-progress s3://bench/big "$work/out.s3")
cmp "$work/in" "$work/out.mirra"
cmp "$work/in" "$work/out.s3"
rm -f "$work/out.mirra" "$work/out.s3" "$work/in"

small() {
    "$python" - "$1" <<'EOF'
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1],
                  config=Config(max_pool_connections=16, signature_version="s3v4"))
body = os.urandom(4096)
def put(i):
    s3.put_object(Bucket="bench", Key=f"small/{i:04d}", Body=body)
start = time.monotonic()
with ThreadPoolExecutor(16) as pool:
    list(pool.map(put, range(1000)))
print(f"{1000 / (time.monotonic() - start):.0f}")
EOF
}
small_mirra=$(small "$mirra_url")
small_s3=$(small "$s3_url")

rate() { "$python" -c "print(f'{$size_mib / $1:.0f}')"; }
ratio() { "$python" -c "print(f'{$1 / $2:.2f}')"; }
cat <<EOF
| id | workload | through mirra serve --s3 (3 disk providers) | straight to the test S3 server (1 copy) | mirra / direct |
|---|---|---|---|---|
| S1 | aws s3 cp ${size_mib} MiB up | ${up_mirra} s ($(rate "$up_mirra") MiB/s) | ${up_s3} s ($(rate "$up_s3") MiB/s) | $(ratio "$up_mirra" "$up_s3") × time |
| S1 | aws s3 cp ${size_mib} MiB down | ${down_mirra} s ($(rate "$down_mirra") MiB/s) | ${down_s3} s ($(rate "$down_s3") MiB/s) | $(ratio "$down_mirra" "$down_s3") × time |
| S2 | 1,000 × 4 KiB PutObject, boto3, 16 threads | ${small_mirra} files/s | ${small_s3} files/s | $(ratio "$small_mirra" "$small_s3") × rate |
EOF
