#!/usr/bin/env bash
# Regenerates examples/assets/demo.webm, the test video the demo server
# (examples/serve.rs) embeds and scripts/check-browser.sh seeks in: 8 s of
# ffmpeg's testsrc2 pattern at 320x240, 25 fps, with the playback time and
# frame number drawn large in the middle, VP8 at about 250 kbit/s, no audio,
# a keyframe every second (every 25 frames) so a seek lands on real data.
# WebM as ffmpeg writes it: the Cues (the seek index) at the end of the file,
# so a browser fetches them with a range request of their own.
#
#   scripts/make-demo-video.sh [OUT]     (default examples/assets/demo.webm)
#
# Needs ffmpeg with libvpx and drawtext (Debian: apt-get install ffmpeg
# fonts-dejavu-core). The video is committed: building, testing and CI do
# not need ffmpeg. Output is byte-identical across runs with the same ffmpeg
# (bitexact flags, no metadata); other ffmpeg versions may differ slightly.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-examples/assets/demo.webm}
font=${FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf}

command -v ffmpeg >/dev/null || { echo "make-demo-video: ffmpeg is missing (apt-get install ffmpeg)" >&2; exit 1; }
[ -f "$font" ] || { echo "make-demo-video: no font at $font (apt-get install fonts-dejavu-core, or FONT=...)" >&2; exit 1; }

box="fontcolor=white:box=1:boxcolor=black@0.75"
timer="drawtext=fontfile=$font:text='%{pts\\:hms}':x=(w-tw)/2:y=(h-th)/2-20:fontsize=30:$box:boxborderw=6"
frame="drawtext=fontfile=$font:text='frame %{frame_num}':x=(w-tw)/2:y=(h-th)/2+24:fontsize=18:$box:boxborderw=4"

mkdir -p "$(dirname "$out")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x240:rate=25:duration=8" \
  -vf "$timer,$frame" \
  -c:v libvpx -b:v 250k -g 25 -keyint_min 25 -auto-alt-ref 0 \
  -an -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
  "$out"

echo "wrote $out ($(stat -c %s "$out") bytes)"
if command -v ffprobe >/dev/null; then
  keyframes=$(ffprobe -v error -select_streams v -show_entries packet=pts_time,flags -of csv=p=0 "$out" \
    | awk -F, '$2 ~ /K/ { printf "%s%g", sep, $1; sep = " " }')
  echo "duration $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out") s, keyframes at: $keyframes s"
fi
