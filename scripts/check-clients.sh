#!/usr/bin/env bash
# Downloads a file through the demo server with real clients (curl -r,
# curl -C -, wget -c, aria2c -x8) over /file/, /bytes/ and /stream/, and
# checks every result byte-exact by sha256.
#
#   scripts/check-clients.sh [SIZE_MIB]     (default 256)
#
# Needs curl, wget and aria2 (Debian: apt-get install curl wget aria2).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
port=${PORT:-3917}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -INT "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in curl wget aria2c sha256sum; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

mkdir -p "$work/dir"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/dir/big.bin"
want=$(sha256sum < "$work/dir/big.bin" | cut -d' ' -f1)

cargo build --release --example serve -q
target/release/examples/serve --addr "127.0.0.1:$port" "$work/dir" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/file/big.bin" -r 0-0 && break; sleep 0.1; done

pass=0 fail=0
check() { # name file
  got=$(sha256sum < "$2" | cut -d' ' -f1)
  if [ "$got" = "$want" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; fi
  rm -f "$2"
}

for route in file bytes stream; do
  url="http://127.0.0.1:$port/$route/big.bin"
  half=$((size_mib * 1024 * 1024 / 2))

  # curl -r: two halves, joined.
  curl -sf -r "0-$((half - 1))" -o "$work/a" "$url"
  curl -sf -r "$half-" -o "$work/b" "$url"
  cat "$work/a" "$work/b" > "$work/out"; rm -f "$work/a" "$work/b"
  check "curl -r   /$route/" "$work/out"

  # curl interrupted by --max-time (throttled), then resumed with -C -.
  curl -s --limit-rate 20M --max-time 1 -o "$work/out" "$url" || true
  partial=$(stat -c %s "$work/out")
  curl -sf -C - -o "$work/out" "$url"
  check "curl -C - /$route/ (resumed at $partial)" "$work/out"

  # wget -c completing a truncated local copy.
  head -c $((half / 3)) "$work/dir/big.bin" > "$work/out"
  wget -q -c -O "$work/out" "$url"
  check "wget -c   /$route/" "$work/out"

  # aria2c with 8 connections, 8 segments.
  aria2c -q -x8 -s8 -k1M --allow-overwrite=true --auto-file-renaming=false -d "$work" -o out "$url"
  check "aria2c -x8 /$route/" "$work/out"

  # curl multi-range, parsed back by hand: two parts with the right bytes.
  curl -sf -r 0-99,200-299 -D "$work/h" -o "$work/m" "$url"
  grep -qi '^content-type: multipart/byteranges' "$work/h" && \
    python3 - "$work/m" "$work/dir/big.bin" <<'PY' && pass=$((pass + 1)) && echo "ok   curl multi-range /$route/" || { fail=$((fail + 1)); echo "FAIL curl multi-range /$route/"; }
import sys, re
body = open(sys.argv[1], 'rb').read()
data = open(sys.argv[2], 'rb').read(300)
parts = re.findall(rb'Content-Range: bytes (\d+)-(\d+)/\d+\r\n\r\n', body)
assert [(int(a), int(b)) for a, b in parts] == [(0, 99), (200, 299)], parts
for a, b in [(0, 99), (200, 299)]:
    head = f'Content-Range: bytes {a}-{b}/'.encode()
    i = body.index(head); j = body.index(b'\r\n\r\n', i) + 4
    assert body[j:j + b - a + 1] == data[a:b + 1]
PY
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
