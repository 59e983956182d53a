#!/usr/bin/env bash
# Soak test: many random Range / If-Range requests against the demo server,
# every response verified, the server's memory watched.
#
#   scripts/soak.sh [REQUESTS] [CONNECTIONS]     (defaults 200000 and 64)
#
# Builds `serve` and the load client `soak` in release, generates a file set
# (16 MiB and 300 KiB of random bytes, 1000 bytes, a small text, an empty
# file; modification times in the past, so Last-Modified is a strong
# validator), starts `serve --quiet` on a free loopback port, runs the client
# (CONNECTIONS keep-alive HTTP/1.1 connections; SOAK_ARGS adds client flags,
# e.g. SOAK_ARGS=--http2), and prints requests, responses by status,
# verification errors, requests/s and the server's RSS after warm-up (10 % of
# the requests) against the end and the maximum. The RSS samples (one a
# second) stay in target/soak/rss.csv.
#
# Fails when any response fails verification, the server logs a connection
# error, or the RSS grows after warm-up by more than max(10 %, 4 MiB).
# Needs only cargo and coreutils (Linux: the RSS comes from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200000}
connections=${2:-64}
out=target/soak
mkdir -p "$out"
# The work directory lives under target/, away from other tools' /tmp cleanups.
work=$(mktemp -d "$out/work.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --example serve --example soak -q

mkdir "$work/dir"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$work/dir/big.bin"
head -c $((300 * 1024 + 7)) /dev/urandom > "$work/dir/mid.bin"
head -c 1000 /dev/urandom > "$work/dir/small.bin"
printf 'Hello from the soak test.\nSmall enough that a multipart is mostly framing.\n' > "$work/dir/hello.txt"
: > "$work/dir/empty.bin"
touch -d '2024-01-02 03:04:05' "$work"/dir/*

target/release/examples/serve --quiet --addr 127.0.0.1:0 "$work/dir" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
addr=
for _ in $(seq 200); do
  addr=$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$work/server.out" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
  sleep 0.05
done
[ -n "$addr" ] || { echo "the server did not start" >&2; exit 1; }
echo "server pid $server_pid on $addr; $(nproc) cores; $requests requests over $connections connections"

status=0
# shellcheck disable=SC2086 # SOAK_ARGS is a list of flags
target/release/examples/soak --addr "$addr" --dir "$work/dir" \
  --requests "$requests" --connections "$connections" \
  --server-pid "$server_pid" --rss-csv "$out/rss.csv" ${SOAK_ARGS:-} || status=$?

kill -INT "$server_pid"
wait "$server_pid" || { echo "the server exited with status $?" >&2; status=1; }
server_pid=

errors=$(grep -c 'connection error' "$work/server.err" || true)
echo "server connection errors: $errors"
if [ "$errors" -gt 0 ]; then grep 'connection error' "$work/server.err" | head -5; status=1; fi

# RSS: after warm-up (the first sample at 10 % of the requests), at the end
# (the last sample), and the maximum, from the CSV.
awk -F, -v warm_at=$((requests / 10)) '
  NR == 1 { next }
  warm == "" && $2 >= warm_at { warm = $3; warm_done = $2 }
  { last = $3; if ($3 > max) max = $3; n++ }
  END {
    if (n == 0) { print "no RSS samples"; exit 1 }
    growth = last - warm
    allowed = warm / 10; if (allowed < 4096) allowed = 4096
    printf "server RSS: %.1f MiB after warm-up (%d requests), %.1f MiB at the end, max %.1f MiB, %d samples: ",
      warm / 1024, warm_done, last / 1024, max / 1024, n
    if (growth > allowed) { printf "GREW by %.1f MiB\n", growth / 1024; exit 1 }
    printf "flat (%+.1f MiB)\n", growth / 1024
  }' "$out/rss.csv" || status=1

if [ "$status" -eq 0 ]; then echo "soak: PASS"; else echo "soak: FAIL"; fi
exit "$status"
