#!/usr/bin/env bash
# What a person sees: renders an executed notebook to HTML (jupyter nbconvert --to html) and takes a
# screenshot of the page with headless Chromium (Debian package chromium).
#
#   scripts/notebooks/screenshot.sh notebooks/out/smoke.ipynb [OUT.png] [WIDTH,HEIGHT]
#
# Also takes an .html file directly. Default OUT: next to the input, with .png; default size 1200,4000.
set -euo pipefail
IN=${1:?usage: screenshot.sh EXECUTED.ipynb|PAGE.html [OUT.png] [WIDTH,HEIGHT]}
OUT=${2:-${IN%.*}.png}
SIZE=${3:-1200,4000}
[[ -f $IN ]] || { echo "screenshot: $IN not found (execute the notebook first: make notebooks)" >&2; exit 1; }
HTML=$IN
if [[ $IN == *.ipynb ]]; then
  jupyter nbconvert --log-level=WARN --to html --output-dir "$(dirname "$IN")" "$IN"
  HTML=${IN%.ipynb}.html
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $CHROMIUM ]] || { echo "screenshot: chromium not found: scripts/setup-notebooks.sh --with-chromium" >&2; exit 1; }
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
ABS_HTML=$(cd "$(dirname "$HTML")" && pwd)/$(basename "$HTML")
ABS_OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
rm -f "$ABS_OUT"
# Chromium's own chatter (dbus, GPU, ...) goes to a log that is shown only on failure.
if ! timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$PROFILE" --window-size="$SIZE" --screenshot="$ABS_OUT" \
  "file://$ABS_HTML" >"$PROFILE/chromium.log" 2>&1 || [[ ! -s $ABS_OUT ]]; then
  cat "$PROFILE/chromium.log" >&2
  echo "screenshot: chromium wrote no $ABS_OUT" >&2
  exit 1
fi
echo "screenshot: $OUT ($SIZE) of $HTML"
