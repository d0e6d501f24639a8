#!/usr/bin/env bash
# Open a Spore HTML report (spore devnet|bench --report DIR) in headless Chromium and
# save a screenshot of it, to check that the page renders with its plots.
#
#   scripts/report-screenshot.sh [REPORT_DIR] [OUT.png]
#
# Without REPORT_DIR, runs `spore devnet --report target/devnet-report` first. Chromium
# comes from Debian (`apt-get install chromium`, done here when missing and running as
# root); set CHROMIUM to use another Chromium or Chrome binary.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-}
if [[ -z "$dir" ]]; then
    dir=target/devnet-report
    cargo run --release -q -p spore -- devnet --report "$dir"
fi
out=${2:-$dir/screenshot.png}
[[ -f "$dir/index.html" ]] || { echo "no $dir/index.html: not a report folder" >&2; exit 2; }

chromium=${CHROMIUM:-}
if [[ -z "$chromium" ]]; then
    chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
fi
if [[ -z "$chromium" ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium (once)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
        chromium=$(command -v chromium)
    else
        echo "no Chromium found: install it (apt-get install chromium) or set CHROMIUM" >&2
        exit 2
    fi
fi

page="file://$(cd "$dir" && pwd)/index.html"
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1000,2800 --screenshot="$out" "$page" 2>/dev/null
[[ -s "$out" ]] || { echo "chromium wrote no screenshot" >&2; exit 1; }
echo "screenshot of $page: $out"
