#!/bin/sh
# mirra's benchmarks (issue #8): builds release, installs the peers if missing, runs
# B1–B9 paired and interleaved, prints the table and rewrites docs/benchmarks.md.
# B8 (4 KiB GETs, 64 connections: mirra serve vs nginx, under wrk) and B9 (1,000 × 1 KiB
# gateway PUTs, 16 clients) run the gateway with its cache on and with --cache-fresh 0.
#
#   bench/run.sh            full mode: 1 GiB / 4 GiB inputs, 10,000 small files, 5 runs
#   bench/run.sh --quick    small inputs, 3 runs (a check that everything works)
#   bench/run.sh --only B2,B4   just those rows (the document then holds only them)
#   bench/run.sh --gaia     only G1 (issue 16): the real Gaia client through
#                           `mirra serve --gaia`, 3 providers vs 1 disk (bench/gaia.sh);
#                           its table goes into bench/notes.md by hand
#
# Scratch data goes to $MIRRA_BENCH_DIR (default: target/bench-work in the repository,
# so it is on the same file system as the build) and is deleted at the end.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

quick=""
only=""
gaia=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick="--quick" ;;
        --only) only="$2"; shift ;;
        --gaia) gaia=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $2 with apt-get ..." >&2
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; then
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
        fi
    fi
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "bench needs '$1' (Debian package '$2'); install it (as root: apt-get install $2) and rerun" >&2
        exit 1
    fi
}
if [ -n "$gaia" ]; then
    echo "building release ..." >&2
    cargo build --release --workspace --quiet
    exec "$repo/bench/gaia.sh" 16 50 3
fi

need rclone rclone
need openssl openssl
need findmnt util-linux
need wrk wrk
need nginx nginx
need setpriv util-linux
[ -x /usr/bin/time ] || need /usr/bin/time time

echo "building release ..." >&2
cargo build --release --workspace --quiet
cargo build --release -p mirra-bench --quiet

target="${CARGO_TARGET_DIR:-$repo/target}/release"
work="${MIRRA_BENCH_DIR:-$repo/target/bench-work}"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT INT TERM

set -- --mirra "$target/mirra" --drivers "$target" --work "$work" \
    --doc "$repo/docs/benchmarks.md" --notes "$repo/bench/notes.md"
[ -n "$quick" ] && set -- "$@" --quick
[ -n "$only" ] && set -- "$@" --only "$only"
"$target/mirra-bench" "$@"
