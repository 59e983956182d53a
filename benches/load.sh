#!/usr/bin/env bash
# Loopback load benchmark: tower-range against the other ways of serving
# byte ranges, the same wrk requests against every target.
#
#   benches/load.sh                      # about 10 minutes with the defaults
#   DURATION=5s ROUNDS=1 benches/load.sh # quicker, noisier
#
# Environment (defaults in brackets):
#   DURATION [10s]     wrk run per scenario and target (after WARMUP [1s])
#   CONNECTIONS [32]   wrk connections; THREADS [2] wrk threads
#   ROUNDS [3]         layer-bytes/bare-bytes full-GET runs, alternated; the
#                      median is reported (the pass-through ratio is small)
#   SCENARIO_ROUNDS [1] runs of every other (scenario, target), the targets
#                      of a scenario taken in turn each round, so that drift
#                      of the machine hits them alike; the median run is
#                      reported (every run: target/load/rounds.csv)
#   BASE_PORT [18400]  targets listen on BASE_PORT .. BASE_PORT+9 (127.0.0.1)
#   VERIFY [0]         1: wrk also checks every status in Lua (costs client CPU)
#   SKIP_BUILD [0]     1: use the binaries already in target/
#   TARGETS [all]      space-separated targets to run (names below), e.g.
#                      TARGETS="tower-range-file nginx" to confirm one gain
#   SCENARIOS [all]    space-separated scenarios, e.g. SCENARIOS=range-1KiB;
#                      the pass-through rounds run when full-1MiB is chosen
#   NOISE_MAX [0.10]   a run during which processes other than this script's
#                      used more CPUs than this on average is noisy: it is
#                      retried up to NOISE_RETRIES [2] times, NOISE_WAIT [30]
#                      seconds apart, and flagged in the check column if it
#                      stays noisy (the other_cpu column has the figure)
#
# Needs: cargo, wrk, curl, python3; nginx and go are optional (their targets
# are skipped with a message when missing).
#
# Data: a 256 MiB file (big.bin, /dev/urandom) for the range scenarios and
# a 1 MiB file (small.bin) for the full GETs, in a temporary directory,
# read once beforehand so they are in the page cache.
#
# Scenarios:   range-1KiB   random single 1 KiB ranges over big.bin
#              range-64KiB  random single 64 KiB ranges over big.bin
#              multipart    bytes=0-1023,1048576-1049599,4194304-4195327
#              full-1MiB    GET small.bin without Range
# Targets:     tower-range-file   examples/serve.rs /file/NAME (FileSource)
#              tower-range-bytes  examples/serve.rs /bytes/NAME (in memory)
#              servedir           tower-http ServeDir           (peers)
#              axum-range         axum-range Ranged + KnownSize (peers)
#              nginx              nginx static files, sendfile
#              go-file            Go http.ServeContent over *os.File
#              go-bytes           Go http.ServeContent over bytes.Reader
#              ceiling            bare hyper, requested bytes from memory (peers)
#              layer-bytes        serve.rs's /bytes/ handler + RangeLayer on an axum
#                                 Router (peers)
#              bare-bytes         the same without RangeLayer (full-1MiB only)
#              tower-range-file-inline  the same /file/ with serve --inline-io
#              tower-range-mmap   RangeLayer over the file memory-mapped as one
#                                 Bytes (peers layer-mmap; only for files
#                                 nobody writes or truncates while mapped,
#                                 see examples/peers.rs)
#
# Before each timed run one curl request checks the answer (status, the
# bytes against the file, multipart/byteranges); a target that answers
# something else (e.g. a single part for a multipart request) gets an
# "unsupported" row instead of a number. After it, a row FAILs on any
# status >= 400, any socket error, or an average size per response that is
# not what the checked answer was (so a single 200 or 416 among the 206s
# shows).
#
# Output: a table and ratios on stdout; target/load/results.csv
# (scenario,target,rps,latency_p50_ms,latency_p99_ms,non2xx,check,other_cpu,
# server_cpu_us,client_cpu_us: CPU microseconds per response of the server's
# processes and of wrk),
# target/load/rounds.csv and target/load/passthrough.csv (every round),
# target/load/env.txt,
# target/load/logs/ (wrk output, server stderr). benches/chart.py draws
# docs/load.svg from results.csv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-18400}
VERIFY=${VERIFY:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
NOISE_MAX=${NOISE_MAX:-0.10}
NOISE_RETRIES=${NOISE_RETRIES:-2}
NOISE_WAIT=${NOISE_WAIT:-30}
MULTIPART_RANGES="bytes=0-1023,1048576-1049599,4194304-4195327"
BIG_LEN=$((256 * 1024 * 1024))
SMALL_LEN=$((1024 * 1024))

OUT=$ROOT/target/load
LOGS=$OUT/logs
CSV=$OUT/results.csv
PASS_CSV=$OUT/passthrough.csv
ROUNDS_CSV=$OUT/rounds.csv
SCENARIO_ROUNDS=${SCENARIO_ROUNDS:-1}
LUA=$ROOT/benches/random_range.lua

say() { printf '%s\n' "$*" >&2; }
die() { say "load.sh: $*"; exit 1; }

TICKS=$(getconf CLK_TCK)
# processes: one "pid parent own reaped" line per process: the CPU ticks
# (user + system) it used so far, and those of its children it reaped.
processes() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk '{
        line = $0
        sub(/^.*\) /, "", line) # after "pid (comm) ", comm may hold anything
        split(line, f, " ")
        print $1, f[2], f[12] + f[13], f[14] + f[15]
    }'
}
# An awk function over the parent[] that a reader of `processes` fills:
# whether pid is root or one of its descendants.
DESCENDS='function descends(pid, root,    p) {
    for (p = pid; p != "" && p != 0; p = parent[p]) if (p == root) return 1
    return 0
}'
# The CPU ticks used so far by every process that is neither this script
# nor one of its descendants (the servers, wrk, curl) nor a kernel thread,
# one "pid ticks" line each; reaped children included, so short-lived
# children of a long-lived process (rustc under cargo) count when reaped.
other_ticks() {
    processes | awk -v me=$$ "$DESCENDS"'
        { parent[$1] = $2; ticks[$1] = $3 + $4 }
        END {
            for (pid in ticks) {
                if (pid == 2 || parent[pid] == 2) continue # kernel threads
                if (!descends(pid, me)) print pid, ticks[pid]
            }
        }'
}
# tree_ticks PID: the CPU ticks (user + system) used so far by PID and its
# live descendants (nginx's workers): the server side of a run.
tree_ticks() {
    processes | awk -v root="$1" "$DESCENDS"'
        { parent[$1] = $2; ticks[$1] = $3 }
        END {
            for (pid in ticks) if (descends(pid, root)) sum += ticks[pid]
            print sum + 0
        }'
}
# other_cpu BEFORE AFTER SECONDS: CPUs used on average by the others.
other_cpu() {
    awk -v ticks="$TICKS" -v secs="$3" '
        NR == FNR { before[$1] = $2; next }
        { d = $2 - (($1 in before) ? before[$1] : 0); if (d > 0) sum += d }
        END { printf "%.2f", sum / ticks / secs }' "$1" "$2"
}

for tool in cargo wrk curl python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
done

# ---------------------------------------------------------------------------
# Clean-up: every server we start is stopped on exit, whatever happens.
# ---------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/tower-range-load.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Up to 5 s each, then SIGKILL.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$LOGS"
rm -f "$LOGS"/*.txt "$LOGS"/*.log

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
DATA=$TMP/data
mkdir -p "$DATA"
# nginx workers may run as another user: let them read the files.
chmod 755 "$TMP" "$DATA"
say "== data: 256 MiB and 1 MiB from /dev/urandom in $DATA"
head -c "$BIG_LEN" /dev/urandom >"$DATA/big.bin"
head -c "$SMALL_LEN" /dev/urandom >"$DATA/small.bin"
chmod 644 "$DATA"/*.bin
cat "$DATA/big.bin" "$DATA/small.bin" >/dev/null # into the page cache

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
HAVE_GO=1
HAVE_NGINX=1
command -v go >/dev/null || { HAVE_GO=0; say "SKIP go-file, go-bytes: 'go' is not installed (apt-get install golang-go)"; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { HAVE_NGINX=0; say "SKIP nginx: 'nginx' is not installed (apt-get install nginx-light)"; }

if [ "$SKIP_BUILD" != 1 ]; then
    say "== build"
    (cd "$ROOT" && cargo build --release --example serve --example peers)
    if [ "$HAVE_GO" = 1 ]; then
        (cd "$ROOT" && GOCACHE=$OUT/go/cache GOPATH=$OUT/go/path GO111MODULE=on GOFLAGS= \
            go build -o "$OUT/servecontent" benches/go/servecontent.go)
    fi
fi
SERVE=$ROOT/target/release/examples/serve
PEERS=$ROOT/target/release/examples/peers
GOSERVER=$OUT/servecontent
[ -x "$SERVE" ] && [ -x "$PEERS" ] || die "missing $SERVE or $PEERS (build first)"
if [ "$HAVE_GO" = 1 ] && [ ! -x "$GOSERVER" ]; then die "missing $GOSERVER"; fi

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------
P_SERVE=$BASE_PORT
P_SERVEDIR=$((BASE_PORT + 1))
P_AXUM_RANGE=$((BASE_PORT + 2))
P_NGINX=$((BASE_PORT + 3))
P_GO=$((BASE_PORT + 4))
P_CEILING=$((BASE_PORT + 5))
P_LAYER=$((BASE_PORT + 6))
P_BARE=$((BASE_PORT + 7))
P_LAYER_FILE=$((BASE_PORT + 8))
P_MMAP=$((BASE_PORT + 9))
for port in $(seq "$BASE_PORT" $((BASE_PORT + 9))); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        die "port $port is in use (set BASE_PORT)"
    fi
done

# start NAME LOG COMMAND...: runs a server in the background, remembers it.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=($!)
    eval "PID_${name//-/_}=$!"
}

# ready NAME URL: waits (10 s at most) until URL answers 200.
ready() {
    local name=$1 url=$2 pid
    eval "pid=\$PID_${name//-/_}"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start; see $LOGS/server-$name.log"
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    die "$name is not ready after 10 s ($url); see $LOGS/server-$name.log"
}

say "== start servers"
# examples/serve.rs runs with --quiet (no log line per request), in its
# default configuration (open-file cache; reads of bytes in the page cache
# on the runtime thread, others on the blocking pool) and with --inline-io
# (files opened and ranges up to 64 KiB read on the runtime threads even
# when cold: the opt-in trade of tail latency on a cold disk for
# throughput; with a warm page cache it now differs little).
start serve "$LOGS/server-serve.log" "$SERVE" --quiet --addr "127.0.0.1:$P_SERVE" "$DATA"
start serve-inline "$LOGS/server-serve-inline.log" \
    "$SERVE" --quiet --inline-io --addr "127.0.0.1:$P_LAYER_FILE" "$DATA"
for kind in servedir axum-range ceiling layer-bytes bare-bytes layer-mmap; do
    case $kind in
        servedir) port=$P_SERVEDIR ;;
        axum-range) port=$P_AXUM_RANGE ;;
        ceiling) port=$P_CEILING ;;
        layer-bytes) port=$P_LAYER ;;
        bare-bytes) port=$P_BARE ;;
        layer-mmap) port=$P_MMAP ;;
    esac
    start "$kind" "$LOGS/server-$kind.log" "$PEERS" --addr "127.0.0.1:$port" --kind "$kind" "$DATA"
done
if [ "$HAVE_GO" = 1 ]; then
    start go "$LOGS/server-go.log" "$GOSERVER" -addr "127.0.0.1:$P_GO" "$DATA"
fi
if [ "$HAVE_NGINX" = 1 ]; then
    NGX=$TMP/nginx
    mkdir -p "$NGX"
    cat >"$NGX/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nodelay on;
    access_log off;
    default_type application/octet-stream;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # hyper and Go do not, so neither does nginx here.
    keepalive_requests 10000000;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $DATA;
        location / { }
    }
}
EOF
    start nginx "$LOGS/server-nginx.log" "$NGINX" -e "$NGX/error.log" -p "$NGX/" -c "$NGX/nginx.conf"
fi

ready serve "http://127.0.0.1:$P_SERVE/file/small.bin"
ready servedir "http://127.0.0.1:$P_SERVEDIR/small.bin"
ready axum-range "http://127.0.0.1:$P_AXUM_RANGE/small.bin"
ready ceiling "http://127.0.0.1:$P_CEILING/small.bin"
ready layer-bytes "http://127.0.0.1:$P_LAYER/bytes/small.bin"
ready bare-bytes "http://127.0.0.1:$P_BARE/bytes/small.bin"
ready serve-inline "http://127.0.0.1:$P_LAYER_FILE/file/small.bin"
ready layer-mmap "http://127.0.0.1:$P_MMAP/small.bin"
[ "$HAVE_GO" = 1 ] && ready go "http://127.0.0.1:$P_GO/file/small.bin"
[ "$HAVE_NGINX" = 1 ] && ready nginx "http://127.0.0.1:$P_NGINX/small.bin"

# The URL of file NAME on a target ("" when the target's tool is missing).
url_of() {
    local target=$1 name=$2
    case $target in
        tower-range-file) echo "http://127.0.0.1:$P_SERVE/file/$name" ;;
        tower-range-bytes) echo "http://127.0.0.1:$P_SERVE/bytes/$name" ;;
        servedir) echo "http://127.0.0.1:$P_SERVEDIR/$name" ;;
        axum-range) echo "http://127.0.0.1:$P_AXUM_RANGE/$name" ;;
        nginx) [ "$HAVE_NGINX" = 1 ] && echo "http://127.0.0.1:$P_NGINX/$name" || echo "" ;;
        go-file) [ "$HAVE_GO" = 1 ] && echo "http://127.0.0.1:$P_GO/file/$name" || echo "" ;;
        go-bytes) [ "$HAVE_GO" = 1 ] && echo "http://127.0.0.1:$P_GO/bytes/$name" || echo "" ;;
        ceiling) echo "http://127.0.0.1:$P_CEILING/$name" ;;
        layer-bytes) echo "http://127.0.0.1:$P_LAYER/bytes/$name" ;;
        bare-bytes) echo "http://127.0.0.1:$P_BARE/bytes/$name" ;;
        tower-range-file-inline) echo "http://127.0.0.1:$P_LAYER_FILE/file/$name" ;;
        tower-range-mmap) echo "http://127.0.0.1:$P_MMAP/$name" ;;
    esac
}

# server_pid TARGET: the process that answers TARGET.
server_pid() {
    local name
    case $1 in
        tower-range-file | tower-range-bytes) name=serve ;;
        tower-range-file-inline) name=serve-inline ;;
        tower-range-mmap) name=layer-mmap ;;
        go-file | go-bytes) name=go ;;
        *) name=$1 ;;
    esac
    eval "echo \${PID_${name//-/_}:-}"
}

# Load the in-memory copies (the first /bytes/ request reads the file).
for target in tower-range-bytes layer-bytes bare-bytes; do
    for name in big.bin small.bin; do
        curl -s -o /dev/null "$(url_of "$target" "$name")"
    done
done

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rustc: $(rustc --version)"
    echo "wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    [ "$HAVE_NGINX" = 1 ] && echo "nginx: $("$NGINX" -v 2>&1)"
    [ "$HAVE_GO" = 1 ] && echo "go: $(go version)"
    echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), rounds $ROUNDS, verify $VERIFY"
} >"$OUT/env.txt"
cat "$OUT/env.txt" >&2
other_ticks >"$TMP/quiet-before"
sleep 3
other_ticks >"$TMP/quiet-after"
quiet=$(other_cpu "$TMP/quiet-before" "$TMP/quiet-after" 3)
echo "other processes before the runs: $quiet CPUs (3 s sample)" | tee -a "$OUT/env.txt" >&2
if [ "$(awk -v c="$quiet" -v m="$NOISE_MAX" 'BEGIN { print (c > m) ? 1 : 0 }')" = 1 ]; then
    say "WARNING: the machine is busy; noisy runs will be retried and flagged"
fi

# ---------------------------------------------------------------------------
# Checks and runs
# ---------------------------------------------------------------------------
EXPECTED=$TMP/expected
BODY=$TMP/body

# check SCENARIO TARGET URL: one request with curl; on success prints the
# bytes the answer took on the wire (headers + body), else prints
# "unsupported: ..." or "FAIL: ..." and returns 1.
check() {
    local scenario=$1 target=$2 url=$3 out code header_size size type
    case $scenario in
        range-*)
            local first=123457 last=$((123457 + SIZE - 1))
            out=$(curl -s -o "$BODY" -H "Range: bytes=$first-$last" \
                -w '%{http_code} %{size_header} %{size_download} %{content_type}' "$url") || true
            read -r code header_size size type <<<"$out"
            [ "$code" = 206 ] || { echo "FAIL: status $code for a single range"; return 1; }
            tail -c +$((first + 1)) "$DATA/big.bin" | head -c "$SIZE" >"$EXPECTED"
            cmp -s "$BODY" "$EXPECTED" || { echo "FAIL: wrong bytes for bytes=$first-$last ($size bytes)"; return 1; }
            ;;
        multipart)
            out=$(curl -s -o "$BODY" -H "Range: $MULTIPART_RANGES" \
                -w '%{http_code} %{size_header} %{size_download} %{content_type}' "$url") || true
            read -r code header_size size type <<<"$out"
            if [ "$code" != 206 ]; then
                echo "unsupported: status $code for three ranges"
                return 1
            fi
            case $type in
                multipart/byteranges*) ;;
                *)
                    if [ "$target" = ceiling ]; then
                        : # the ceiling sends the bytes without framing, by design
                    else
                        echo "unsupported: 206 ${type:-without Content-Type} of $size bytes, not multipart/byteranges"
                        return 1
                    fi
                    ;;
            esac
            # Each requested part must be in the body, byte for byte.
            python3 - "$DATA/big.bin" "$BODY" "$MULTIPART_RANGES" "$target" <<'EOF' || { echo "FAIL: multipart body does not hold the three ranges"; return 1; }
import sys
data = open(sys.argv[1], "rb")
body = open(sys.argv[2], "rb").read()
parts = []
for spec in sys.argv[3].split("=", 1)[1].split(","):
    a, b = (int(x) for x in spec.split("-"))
    data.seek(a)
    parts.append(data.read(b - a + 1))
if sys.argv[4] == "ceiling":
    # One slice of the summed length from the first start: the first part.
    sys.exit(0 if body.startswith(parts[0]) and len(body) == sum(map(len, parts)) else 1)
sys.exit(0 if all(p in body for p in parts) else 1)
EOF
            ;;
        full-*)
            out=$(curl -s -o "$BODY" -w '%{http_code} %{size_header} %{size_download} %{content_type}' "$url") || true
            read -r code header_size size type <<<"$out"
            [ "$code" = 200 ] || { echo "FAIL: status $code without Range"; return 1; }
            cmp -s "$BODY" "$DATA/small.bin" || { echo "FAIL: wrong body ($size bytes)"; return 1; }
            ;;
    esac
    echo $((header_size + size))
}

# wrk_run SCENARIO TARGET URL LOGNAME: warm-up, then the timed run; sets
# R_requests, R_rps, R_p50_ms, R_p99_ms, R_non2xx, R_unexpected,
# R_socket_errors, R_bytes, R_duration_us, R_other_cpu, and the CPU time
# per response, in microseconds, of the server (R_server_cpu_us) and of wrk
# (R_client_cpu_us): on a machine the client shares, a server that leaves
# work to the client (nginx's sendfile leaves it the only copy of the
# bytes) shows in the second.
wrk_run() {
    local scenario=$1 target=$2 url=$3 log=$4 mode line kv pid ticks_before ticks_after
    case $scenario in
        range-*) mode=range ;;
        multipart) mode=multipart ;;
        full-*) mode=full ;;
    esac
    export MODE=$mode SIZE FILE_LEN=$BIG_LEN RANGES=$MULTIPART_RANGES VERIFY
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" "$url" >/dev/null 2>&1 || true
    pid=$(server_pid "$target")
    other_ticks >"$TMP/ticks-before"
    ticks_before=$(tree_ticks "$pid")
    # bash's `time`: wrk's own user and system seconds.
    { TIMEFORMAT='%3U %3S' && time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$LUA" "$url" >"$log" 2>&1; } 2>"$TMP/wrk-time" || true
    ticks_after=$(tree_ticks "$pid")
    other_ticks >"$TMP/ticks-after"
    line=$(sed -n 's/^RESULT //p' "$log")
    [ -n "$line" ] || return 1
    for kv in $line; do
        eval "R_${kv%%=*}=${kv#*=}"
    done
    R_server_cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$TICKS" -v n="$R_requests" \
        'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }')
    R_client_cpu_us=$(awk -v n="$R_requests" \
        '{ printf "%.2f", (n > 0 ? ($1 + $2) * 1e6 / n : 0) }' "$TMP/wrk-time")
    R_other_cpu=$(other_cpu "$TMP/ticks-before" "$TMP/ticks-after" \
        "$(awk -v us="$R_duration_us" 'BEGIN { print (us > 0 ? us : 1) / 1e6 }')")
}

COLUMNS_AFTER_TARGET="rps,latency_p50_ms,latency_p99_ms,non2xx,check,other_cpu,server_cpu_us,client_cpu_us"
echo "scenario,target,$COLUMNS_AFTER_TARGET" >"$CSV"
echo "round,target,$COLUMNS_AFTER_TARGET" >"$PASS_CSV"
echo "round,scenario,target,$COLUMNS_AFTER_TARGET" >"$ROUNDS_CSV"

# measure SCENARIO TARGET: check, run, validate; prints one CSV line.
measure() {
    local scenario=$1 target=$2 url wire verdict avg tolerance
    url=$(url_of "$target" "$NAME")
    if [ -z "$url" ]; then
        echo "$scenario,$target,,,,,skipped: tool not installed,"
        return
    fi
    if ! wire=$(check "$scenario" "$target" "$url"); then
        wire=${wire//,/;} # it goes into a CSV field
        say "  $(printf '%-18s' "$target") $wire"
        echo "$scenario,$target,,,,,$wire,"
        return
    fi
    local log=$LOGS/$scenario-$target${ROUND:+-round$ROUND}.txt
    local attempt=0
    while :; do
        if ! wrk_run "$scenario" "$target" "$url" "$log"; then
            say "  $(printf '%-18s' "$target") FAIL: no result from wrk; see $log"
            echo "$scenario,$target,,,,,FAIL: no result from wrk,"
            return
        fi
        noisy=$(awk -v c="$R_other_cpu" -v m="$NOISE_MAX" 'BEGIN { print (c > m) ? 1 : 0 }')
        if [ "$noisy" = 1 ] && [ "$attempt" -lt "$NOISE_RETRIES" ]; then
            attempt=$((attempt + 1))
            say "  $(printf '%-18s' "$target") other processes used $R_other_cpu CPUs during the run ($(printf '%.0f' "$R_rps") req/s): retry $attempt in ${NOISE_WAIT}s"
            sleep "$NOISE_WAIT"
            continue
        fi
        break
    done
    verdict=ok
    [ "$noisy" = 1 ] && verdict="ok; noisy: other processes used $R_other_cpu CPUs"
    avg=$((R_bytes / (R_requests > 0 ? R_requests : 1)))
    tolerance=$((wire / 50 + 256))
    if [ "$R_requests" -eq 0 ]; then
        verdict="FAIL: no responses"
    elif [ "$R_non2xx" -ne 0 ]; then
        verdict="FAIL: $R_non2xx responses with status >= 400"
    elif [ "$R_unexpected" -gt 0 ]; then
        verdict="FAIL: $R_unexpected responses with another status"
    elif [ "$R_socket_errors" -ne 0 ]; then
        verdict="FAIL: $R_socket_errors socket errors"
    elif [ $((avg - wire)) -gt "$tolerance" ] || [ $((wire - avg)) -gt "$tolerance" ]; then
        verdict="FAIL: $avg bytes per response on average; expected about $wire"
    fi
    say "  $(printf '%-18s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  CPU us/req server %6.2f client %6.2f  other CPU %s  %s' "$target" "$R_rps" "$R_p50_ms" "$R_p99_ms" "$R_server_cpu_us" "$R_client_cpu_us" "$R_other_cpu" "$verdict")"
    echo "$scenario,$target,$R_rps,$R_p50_ms,$R_p99_ms,$R_non2xx,$verdict,$R_other_cpu,$R_server_cpu_us,$R_client_cpu_us"
}

# median_rounds CSV [SCENARIO]: results.csv lines, each (scenario, target)'s
# median round by requests/s, from CSV (a round column first, then the
# scenario unless SCENARIO names the one it is). A failed round's check is
# the line's check, so one failed round fails the row.
median_rounds() {
    python3 - "$@" <<'EOF'
import csv, sys
reader = csv.DictReader(open(sys.argv[1]))
rows = list(reader)
# The columns of results.csv after the target, in the order CSV has them.
after_target = reader.fieldnames[reader.fieldnames.index("target") + 1:]
fixed = sys.argv[2] if len(sys.argv) > 2 else None
def key(r):
    return (fixed or r["scenario"], r["target"])
for scenario, target in dict.fromkeys(map(key, rows)):
    mine = [r for r in rows if key(r) == (scenario, target)]
    good = sorted((r for r in mine if r["rps"]), key=lambda r: float(r["rps"]))
    failed = [r for r in mine if not r["check"].startswith("ok")]
    pick = good[(len(good) - 1) // 2] if good else mine[0]
    check = pick["check"] if not failed else failed[0]["check"]
    if len(mine) > 1 and good:
        check += f" (median of {len(mine)} rounds)"
    print(",".join([scenario, target] + [check if column == "check" else pick[column] or ""
                                         for column in after_target]))
EOF
}

RANGE_TARGETS=${TARGETS:-"tower-range-file tower-range-file-inline tower-range-mmap tower-range-bytes servedir axum-range nginx go-file go-bytes ceiling layer-bytes"}
started=$(date +%s)
for scenario in ${SCENARIOS:-range-1KiB range-64KiB multipart full-1MiB}; do
    case $scenario in
        range-1KiB) SIZE=1024 NAME=big.bin ;;
        range-64KiB) SIZE=65536 NAME=big.bin ;;
        multipart) SIZE=3072 NAME=big.bin ;;
        full-1MiB) SIZE=$SMALL_LEN NAME=small.bin ;;
    esac
    for ROUND in $(seq "$SCENARIO_ROUNDS"); do
        say "== $scenario (wrk -t$THREADS -c$CONNECTIONS -d$DURATION), round $ROUND of $SCENARIO_ROUNDS"
        for target in $RANGE_TARGETS; do
            if [ "$scenario" = full-1MiB ] && [ "$target" = layer-bytes ]; then
                continue # below, in rounds with bare-bytes
            fi
            echo "$ROUND,$(measure "$scenario" "$target")" >>"$ROUNDS_CSV"
        done
    done
done
unset ROUND
median_rounds "$ROUNDS_CSV" >>"$CSV"

# Pass-through: the same server with and without the layer, alternated.
case " ${SCENARIOS:-full-1MiB} " in
    *" full-1MiB "*) ;;
    *) ROUNDS=0 ;;
esac
say "== full-1MiB pass-through, $ROUNDS round(s) of bare-bytes then layer-bytes"
SIZE=$SMALL_LEN NAME=small.bin
for ROUND in $(seq "$ROUNDS"); do
    for target in bare-bytes layer-bytes; do
        line=$(measure full-1MiB "$target")
        echo "$ROUND,${line#full-1MiB,}" >>"$PASS_CSV"
    done
done
unset ROUND
median_rounds "$PASS_CSV" full-1MiB >>"$CSV"

busiest=$(awk -F, '
    FNR == 1 { for (i = 1; i <= NF; i++) if ($i == "other_cpu") c = i; next }
    $c != "" && $c + 0 > m { m = $c + 0 }
    END { printf "%.2f", m }' "$CSV" "$PASS_CSV" "$ROUNDS_CSV")
echo "other processes during the timed runs: at most $busiest CPUs; runs took $(($(date +%s) - started)) s" >>"$OUT/env.txt"
tail -1 "$OUT/env.txt" >&2
if [ "$HAVE_NGINX" = 1 ] && [ -s "$NGX/error.log" ]; then
    cp "$NGX/error.log" "$LOGS/nginx-error.log"
fi

python3 "$ROOT/benches/load_report.py" "$CSV" "$PASS_CSV"
say "raw results: $CSV (chart: python3 benches/chart.py)"
if grep -q ',FAIL' "$CSV"; then
    say "load.sh: some rows FAILED (see the check column)"
    exit 1
fi
