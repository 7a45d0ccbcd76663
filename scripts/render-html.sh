#!/usr/bin/env bash
# Renders `pushtrace analyze --format html` of samples to PNG with headless Chromium, to look
# at the page as a reader would (not run in CI). Writes target/html-screenshots/NAME.html and
# NAME.png for each sample (default: two-clients udp-blocked-icmp).
#
# Usage: scripts/render-html.sh [SAMPLE...]   (names under samples/, without .pcapng).
# Environment: WIDTH and HEIGHT of the window (default 1200x1600), CHROMIUM (the browser,
# default the first of chromium, chromium-browser, google-chrome on PATH; Debian: `apt-get
# install chromium`).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=${CHROMIUM:-$(command -v chromium chromium-browser google-chrome | head -n 1 || true)}
if [ -z "$browser" ]; then
    echo "no Chromium found: apt-get install chromium, or set CHROMIUM" >&2
    exit 2
fi
out=target/html-screenshots
mkdir -p "$out"
cargo build --quiet --bin pushtrace -p pushtrace

samples=("$@")
[ ${#samples[@]} -gt 0 ] || samples=(two-clients udp-blocked-icmp)
for sample in "${samples[@]}"; do
    html="$out/$sample.html"
    # analyze exits 1 or 3 for verdicts about the traffic; only 2 (unreadable) is fatal.
    target/debug/pushtrace analyze --format html "samples/$sample.pcapng" >"$html" || [ $? -ne 2 ]
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size="${WIDTH:-1200},${HEIGHT:-1600}" \
        --screenshot="$PWD/$out/$sample.png" "file://$PWD/$html" 2>/dev/null
    echo "$out/$sample.png"
done
