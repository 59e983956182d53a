#!/usr/bin/env bash
# A real browser seeks in a video served through the RangeLayer: headless
# Chromium opens the demo server's index page (`/`), plays the `<video>` of
# the embedded demo.webm (8 s, a keyframe every second), seeks forward to
# 4.0 s and back to 1.5 s, and reports a JSON verdict from the page's own
# media state (currentTime after `seeked`, playback going on, `played`,
# `buffered`, decoded frames, no `error`). The script then checks that
# verdict and the server's request log: every request for the video was
# answered 206 with exactly the range asked (or 304 to a conditional
# revalidation of the browser's cache), and at least one 206 started past
# byte 0. The browser's link is throttled (THROUGHPUT below) so that it has
# to fetch parts of the video with range requests, as over a real network.
#
#   scripts/check-browser.sh [RUNS]     (default 1; each run: fresh server, fresh profile)
#
# Needs chromium and python3 (Debian: apt-get install chromium python3).
# CHROMIUM=/path/to/chrome picks another browser binary. The browser is
# driven over the DevTools protocol on a pipe (--remote-debugging-pipe), with
# the Python standard library only; every browser run is capped at 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1}
# The browser's download speed in bytes/s (DevTools network emulation). At
# loopback speed Chromium gets the whole 246 KiB video in its first response
# and never needs another range; at 64 KB/s (about twice the video's bitrate)
# it fetches the index at the end, the part it seeks to and the gaps with
# range requests, and revalidates what it cached, as over a real link.
# THROUGHPUT=0 turns the emulation off (the past-byte-0 check is then skipped).
throughput=${THROUGHPUT:-64000}
chromium=${CHROMIUM:-chromium}
work=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -INT "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

for tool in "$chromium" python3 timeout; do
  command -v "$tool" >/dev/null || { echo "check-browser: missing $tool (Debian: apt-get install chromium python3)" >&2; exit 1; }
done

# The page-side test, run in the index page with Runtime.evaluate. It
# resolves with the verdict object; every wait is bounded.
cat > "$work/seek-test.js" <<'JS'
(async () => {
  const verdict = { ok: false, checks: [], errors: [], events: [] };
  const check = (name, pass, detail) => {
    verdict.checks.push({ name, pass: Boolean(pass), detail });
    return Boolean(pass);
  };
  const video = document.querySelector('video[src="/file/demo.webm"]');
  if (!check('the index page has a <video> playing /file/demo.webm', video)) return verdict;
  for (const name of ['loadedmetadata', 'play', 'playing', 'waiting', 'seeking', 'seeked', 'stalled', 'ended', 'error']) {
    video.addEventListener(name, () => verdict.events.push(`${name}@${video.currentTime.toFixed(2)}`));
  }
  video.addEventListener('error', () => verdict.errors.push(video.error ? `${video.error.code}: ${video.error.message}` : 'error event'));
  // Resolves on the first `name` event after which test() holds.
  const until = (name, test, ms) => new Promise((resolve, reject) => {
    const on = () => {
      if (test()) { clearTimeout(timer); video.removeEventListener(name, on); resolve(); }
    };
    const timer = setTimeout(() => {
      video.removeEventListener(name, on);
      reject(new Error(`no ${name} event with ${test} within ${ms} ms (currentTime ${video.currentTime}, readyState ${video.readyState}, networkState ${video.networkState})`));
    }, ms);
    video.addEventListener(name, on);
  });
  const list = ranges => Array.from({ length: ranges.length }, (_, i) => [+ranges.start(i).toFixed(3), +ranges.end(i).toFixed(3)]);
  const covers = (spans, t) => spans.some(([start, end]) => start <= t && t <= end);
  try {
    video.muted = true;
    if (video.readyState < 1) await until('loadedmetadata', () => true, 15000);
    check('duration is about 8 s', Math.abs(video.duration - 8) < 0.25, video.duration);
    await video.play();
    await until('timeupdate', () => video.currentTime > 0.3, 15000);
    for (const target of [4.0, 1.5]) {
      const seeked = until('seeked', () => true, 15000);
      video.currentTime = target;
      await seeked;
      check(`seeked to ${target} s: currentTime within 0.3 s`, Math.abs(video.currentTime - target) < 0.3, video.currentTime);
      await until('timeupdate', () => video.currentTime > target + 0.3, 15000);
      check(`plays on from ${target} s`, !video.paused && video.currentTime < target + 3, video.currentTime);
    }
    video.pause();
    verdict.played = list(video.played);
    verdict.buffered = list(video.buffered);
    check('played covers 0.2, 4.2 and 1.7 s, not 3.0 s (skipped by the seeks)',
      [0.2, 4.2, 1.7].every(t => covers(verdict.played, t)) && !covers(verdict.played, 3.0), verdict.played);
    check('buffered covers 4.2 and 1.7 s', covers(verdict.buffered, 4.2) && covers(verdict.buffered, 1.7), verdict.buffered);
    const quality = video.getVideoPlaybackQuality();
    check('frames were decoded', quality.totalVideoFrames >= 10,
      { total: quality.totalVideoFrames, dropped: quality.droppedVideoFrames });
  } catch (error) {
    check('every wait ended in time', false, String(error));
  }
  check('no error event, no media error', verdict.errors.length === 0 && !video.error, verdict.errors);
  verdict.ok = verdict.checks.every(c => c.pass);
  return verdict;
})()
JS

# The DevTools client: starts the browser with --remote-debugging-pipe (the
# protocol as NUL-terminated JSON on fds 3 and 4, no websocket needed),
# opens URL, evaluates the test, prints the verdict, closes the browser.
cat > "$work/drive.py" <<'PY'
import fcntl, json, os, select, subprocess, sys, time

chromium, url, test_file, profile, browser_log = sys.argv[1:6]
throughput = int(sys.argv[6])
deadline = time.monotonic() + 55

to_browser_r, to_browser_w = os.pipe()
from_browser_r, from_browser_w = os.pipe()

def give_pipes():
    # In the child: the browser reads commands on fd 3 and writes on fd 4.
    commands = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
    replies = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
    os.dup2(commands, 3)
    os.dup2(replies, 4)

log = open(browser_log, "wb")
browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
     "--no-first-run", "--disable-background-networking", "--disable-component-update",
     "--disable-sync", "--user-data-dir=" + profile,
     "--autoplay-policy=no-user-gesture-required", "--mute-audio",
     "--remote-debugging-pipe", "about:blank"],
    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
    preexec_fn=give_pipes, close_fds=False)
os.close(to_browser_r)
os.close(from_browser_w)

pending = b""
next_id = 0
console = []

def fail(message):
    print(json.dumps({"ok": False, "checks": [{"name": message, "pass": False}], "console": console}))
    sys.exit(1)

def send(method, params=None, session=None):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    try:
        os.write(to_browser_w, json.dumps(message).encode() + b"\0")
    except BrokenPipeError:
        fail(f"the browser exited (status {browser.wait()}) before {method}: see its log")
    return next_id

def receive():
    """The next message from the browser; fails past the deadline."""
    global pending
    while b"\0" not in pending:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("the browser did not answer within 55 s")
        ready, _, _ = select.select([from_browser_r], [], [], left)
        if ready:
            chunk = os.read(from_browser_r, 65536)
            if not chunk:
                fail("the browser closed the DevTools pipe (crashed? see its log)")
            pending += chunk
    raw, pending = pending.split(b"\0", 1)
    message = json.loads(raw)
    if message.get("method") == "Runtime.consoleAPICalled":
        args = message["params"].get("args", [])
        console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
    elif message.get("method") == "Runtime.exceptionThrown":
        console.append("exception: " + json.dumps(message["params"]["exceptionDetails"])[:500])
    return message

def call(method, params=None, session=None):
    sent = send(method, params, session)
    while True:
        message = receive()
        if message.get("id") == sent:
            if "error" in message:
                fail(f"{method} failed: {message['error']}")
            return message["result"]

def wait_event(method, session):
    while True:
        message = receive()
        if message.get("method") == method and message.get("sessionId") == session:
            return message["params"]

try:
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Page.enable", session=session)
    call("Runtime.enable", session=session)
    if throughput > 0:
        call("Network.enable", session=session)
        call("Network.emulateNetworkConditions", {
            "offline": False, "latency": 20,
            "downloadThroughput": throughput, "uploadThroughput": throughput,
        }, session)
    navigated = call("Page.navigate", {"url": url}, session)
    if navigated.get("errorText"):
        fail(f"navigating to {url} failed: {navigated['errorText']}")
    wait_event("Page.loadEventFired", session)
    evaluated = call("Runtime.evaluate", {
        "expression": open(test_file).read(),
        "awaitPromise": True,
        "returnByValue": True,
    }, session)
    if "exceptionDetails" in evaluated:
        fail("the page test threw: " + json.dumps(evaluated["exceptionDetails"])[:1000])
    verdict = evaluated["result"].get("value")
    if not isinstance(verdict, dict):
        fail(f"the page test returned no verdict: {evaluated['result']}")
    verdict["console"] = console
    verdict["browser"] = call("Browser.getVersion")["product"]
    print(json.dumps(verdict))
    send("Browser.close")
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
finally:
    if browser.poll() is None:
        browser.kill()
    browser.wait()
sys.exit(0 if verdict.get("ok") else 1)
PY

cargo build --example serve -q
server=target/debug/examples/serve

failed=0
for run in $(seq "$runs"); do
  # A fresh server on a free loopback port (port 0: the kernel picks; the
  # banner says which), serving the embedded demo content.
  : > "$work/banner"
  "$server" --addr 127.0.0.1:0 > "$work/banner" 2> "$work/server.log" &
  server_pid=$!
  base=
  for _ in $(seq 100); do
    base=$(sed -n 's/^tower-range demo server listening on \(http:[^ ]*\)$/\1/p' "$work/banner" || true)
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$base" ]; then
    echo "check-browser: the demo server did not start:" >&2
    cat "$work/banner" "$work/server.log" >&2
    exit 1
  fi

  profile=$(mktemp -d)
  status=0
  timeout --kill-after=5 60 python3 "$work/drive.py" "$chromium" "$base/" "$work/seek-test.js" \
    "$profile" "$work/browser.log" "$throughput" > "$work/verdict.json" || status=$?
  rm -rf "$profile"
  stop_server

  # The verdict, and the server's side of the story.
  problems=$(python3 - "$work/verdict.json" "$work/server.log" "$status" "$throughput" 2> "$work/summary" <<'PY'
import json, re, sys
verdict_file, log_file, status, throughput = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
problems = []
try:
    verdict = json.load(open(verdict_file))
except ValueError:
    verdict = {}
    problems.append("no verdict: the browser run " + ("timed out (60 s)" if status == 124 else f"exited with status {status}"))
for check in verdict.get("checks", []):
    if not check.get("pass"):
        problems.append(f"page: {check['name']}: {json.dumps(check.get('detail'))}")
if verdict and not verdict.get("ok"):
    problems.append("page verdict: not ok")
# The server's log lines for the video, e.g.
#   GET /file/demo.webm HTTP/1.1 range=bytes=35339-229375 if-range="3d836-..." -> 206 (bytes 35339-229375/251958)
#   GET /file/demo.webm HTTP/1.1 range=bytes=32768-35338 if-none-match="3d836-..." -> 304
line = re.compile(r"^(GET|HEAD) /file/demo\.webm HTTP/\S+(.*?) -> (\d+)(?: \((.*)\))?$")
requests = [m for m in map(line.match, open(log_file).read().splitlines()) if m]
partial = []
for m in requests:
    headers, status, detail = m.group(2), m.group(3), m.group(4) or ""
    asked = re.search(r" range=bytes=(\d+)-(\d*)(?: |$)", headers)
    sent = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", detail)
    if status == "206":
        # One range asked, that range sent (the end clamped to the length).
        if not asked or not sent or asked.group(1) != sent.group(1) or (
                asked.group(2) and int(asked.group(2)) != int(sent.group(2))) or (
                not asked.group(2) and int(sent.group(2)) != int(sent.group(3)) - 1):
            problems.append(f"server: a 206 that does not answer its range: {m.group(0)}")
        else:
            partial.append(int(sent.group(1)))
    elif status == "304":
        # The browser revalidating the part of the video it has cached.
        if " if-none-match=" not in headers and " if-modified-since=" not in headers:
            problems.append(f"server: a 304 without a condition asking for it: {m.group(0)}")
    elif status != "200" or asked:
        # A 200 to a range of this unchanging file would mean its
        # validators changed (If-Range failed) or the range was ignored.
        problems.append(f"server: unexpected answer: {m.group(0)}")
if not partial:
    problems.append(f"server: no 206 for /file/demo.webm among {len(requests)} request(s) for it")
elif throughput > 0 and not any(start > 0 for start in partial):
    problems.append(f"server: every 206 for /file/demo.webm started at byte 0 ({len(partial)} of them)")
print("\n".join(problems))
summary = (f"{len(requests)} request(s) for /file/demo.webm, {len(partial)} answered 206 "
           f"(from bytes {', '.join(map(str, partial))}); played {verdict.get('played')}, buffered {verdict.get('buffered')}")
print(summary, file=sys.stderr)
PY
  ) || problems="the verdict check itself failed"

  if [ -z "$problems" ]; then
    echo "ok   run $run: $(cat "$work/summary")"
  else
    failed=$((failed + 1))
    echo "FAIL run $run: $(cat "$work/summary")"
    printf '  %s\n' "$problems"
    echo "  verdict: $(cat "$work/verdict.json")"
    echo "  server log (video requests):"
    grep ' /file/demo.webm ' "$work/server.log" | sed 's/^/    /' || true
    echo "  browser log (last lines):"
    tail -n 15 "$work/browser.log" | sed 's/^/    /'
  fi
done

if [ "$failed" -gt 0 ]; then
  echo "check-browser: $failed of $runs run(s) failed" >&2
  exit 1
fi
echo "check-browser: $runs of $runs run(s) passed"
