#!/usr/bin/env bash
# Peak memory of examples/serve.rs while it sends one 1 GiB range.
#
#   benches/memory.sh
#
# Writes a 1 GiB file (/dev/urandom) into a temporary directory, then for
# /file/ (FileSource: positioned reads) and /stream/ (a forward-only 16 KiB
# chunk stream the layer skips through) starts a fresh server, downloads
# one range with curl at full loopback speed, checks the bytes against the
# file, and reads the server's peak resident set (VmHWM in
# /proc/PID/status) before and after. Ranges:
#   bytes=0-1073741823   the whole 1 GiB as a 206
#   bytes=536870912-     the second half: /stream/ skips 512 MiB first
# Results: stdout and target/load/memory.csv.
#
# Environment: PORT [18490], SKIP_BUILD [0] (1: use target/release/examples/serve).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-18490}
SKIP_BUILD=${SKIP_BUILD:-0}
LEN=$((1024 * 1024 * 1024))
OUT=$ROOT/target/load
CSV=$OUT/memory.csv
SERVE=$ROOT/target/release/examples/serve

say() { printf '%s\n' "$*" >&2; }
die() { say "memory.sh: $*"; exit 1; }
for tool in cargo curl cmp; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

TMP=$(mktemp -d /tmp/tower-range-memory.XXXXXX)
PID=
stop() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
cleanup() {
    stop
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$TMP/data"
if [ "$SKIP_BUILD" != 1 ]; then
    (cd "$ROOT" && cargo build --release --example serve)
fi
[ -x "$SERVE" ] || die "missing $SERVE"
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; then
    die "port $PORT is in use (set PORT)"
fi

FILE=$TMP/data/huge.bin
say "== data: 1 GiB from /dev/urandom"
head -c "$LEN" /dev/urandom >"$FILE"
cat "$FILE" >/dev/null

hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

echo "route,range,bytes,status,seconds,vmhwm_idle_kib,vmhwm_peak_kib" >"$CSV"
printf '%-8s %-22s %12s %6s %8s %14s %14s\n' route range bytes status seconds "idle VmHWM" "peak VmHWM"
for route in file stream; do
    for range in "0-$((LEN - 1))" "$((LEN / 2))-"; do
        "$SERVE" --addr "127.0.0.1:$PORT" "$TMP/data" >"$TMP/server.log" 2>&1 &
        PID=$!
        url=http://127.0.0.1:$PORT/$route/huge.bin
        for _ in $(seq 100); do
            kill -0 "$PID" 2>/dev/null || die "the server exited; $(cat "$TMP/server.log")"
            [ "$(curl -s -o /dev/null -w '%{http_code}' -r 0-0 "$url")" = 206 ] && break
            sleep 0.1
        done
        idle=$(hwm "$PID")
        first=${range%-*}
        expected=$((LEN - first))
        start=$(date +%s.%N)
        curl -sS -r "$range" -D "$TMP/headers" "$url" | cmp -s - <(tail -c +$((first + 1)) "$FILE") \
            || die "/$route/ bytes=$range: the body differs from the file"
        end=$(date +%s.%N)
        peak=$(hwm "$PID")
        status=$(awk 'NR == 1 { print $2 }' "$TMP/headers")
        [ "$status" = 206 ] || die "/$route/ bytes=$range: status $status"
        grep -qi "^content-range: bytes $first-$((LEN - 1))/$LEN" "$TMP/headers" \
            || die "/$route/ bytes=$range: wrong Content-Range"
        seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
        printf '%-8s %-22s %12d %6s %8s %10d KiB %10d KiB\n' "/$route/" "bytes=$range" "$expected" "$status" "$seconds" "$idle" "$peak"
        echo "/$route/,bytes=$range,$expected,$status,$seconds,$idle,$peak" >>"$CSV"
        stop
    done
done
say "results: $CSV"
