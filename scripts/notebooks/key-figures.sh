#!/usr/bin/env bash
# Copies the key figure of each notebook 02–08 and 10 from a quick `make reproduce` output folder to
# notebooks/img/NN-name.png (committed; the key-figure cell after each notebook's title shows it as
# img/NN-name.png).
#
#   scripts/notebooks/key-figures.sh [REPRODUCE_DIR]   # default out/reproduce
#   scripts/notebooks/key-figures.sh --list            # the target names, one a line
#
# A PNG larger than KEYFIG_MAX_KB (default 150) is reduced: first to a 256-colour palette (plots
# barely change), then scaled down until it fits. That needs Python with PIL (Debian python3-pil;
# $FISENS_PYTHON, /usr/bin/python3 or python3) or ImageMagick's convert; with neither the PNG is
# copied as it is. Missing sources are reported and skipped (exit 1 at the end).
# 00 (toy model), 01 (its error-bar chart is drawn by the notebook, at the sizes of reproduce's Table 1)
# and smoke come from a notebook run instead: `scripts/run-notebooks.sh --update-figures` refreshes
# those, and leaves the figures listed here alone.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAX_KB=${KEYFIG_MAX_KB:-150}

# target name (in notebooks/img/) : source candidates in the reproduce folder, first existing wins
# (the ResNet/DenseNet pair of the quick runs; the AlexNet/VGG pair when the zoo lacks them).
MAP=(
  "02-setup0-rocpr.png:setup0/rocpr-resnet-small-mnist.png setup0/rocpr-alexnet-small-mnist.png"
  "03-setup1-manhattan.png:setup1/manhattan.png"
  "04-setup2-layers.png:setup2/layers-resnet-small-mnist.png setup2/layers-alexnet-small-mnist.png"
  "05-setup3-quantiles.png:setup3/quantiles.png"
  "06-setup4-maps.png:setup4/maps-resnet-small-mnist.png setup4/maps-alexnet-small-mnist.png"
  "06-setup4-attack.png:setup4/attack-resnet-small-mnist.png setup4/attack-alexnet-small-mnist.png"
  "07-cheney-accuracy.png:cheney/accuracy-alexnet-small-mnist.png"
  "08-estimator-tightness.png:estimator/tightness-alexnet-small-mnist.png"
  "10-informative-bound.png:informative/bound.png"
)

case ${1:-} in
  --list) for m in "${MAP[@]}"; do echo "${m%%:*}"; done; exit 0 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "key-figures: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
SRC=${1:-$ROOT/out/reproduce}
[[ -d $SRC ]] || { echo "key-figures: no folder $SRC: run \`make reproduce\` first" >&2; exit 1; }
if [[ -f $SRC/index.md ]] && ! head -1 "$SRC/index.md" | grep -q 'quick scale'; then
  echo "key-figures: warning: $SRC/index.md is not from a quick-scale run: $(head -1 "$SRC/index.md")" >&2
fi

# Which reducer is there?
PY=""
for p in "${FISENS_PYTHON:-}" /usr/bin/python3 python3; do
  [[ -n $p ]] && command -v "$p" >/dev/null 2>&1 && "$p" -c 'import PIL' 2>/dev/null && { PY=$p; break; }
done
IM=""
if [[ -z $PY ]] && command -v convert >/dev/null 2>&1 && convert -version 2>/dev/null | grep -q ImageMagick; then IM=convert; fi

reduce() { # reduce SRC DST: palette, then scale until DST is at most MAX_KB
  if [[ -n $PY ]]; then
    "$PY" - "$1" "$2" "$MAX_KB" <<'EOF'
import os, sys
from PIL import Image
src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]) * 1024
im = Image.open(src).convert("RGB")
scale = 1.0
while True:
    w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    out = im if scale == 1.0 else im.resize((w, h), Image.LANCZOS)
    out.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)
    size = os.path.getsize(dst)
    if size <= limit or scale < 0.3:
        break
    scale *= max(0.5, min(0.95, (limit / size) ** 0.5))
print(f"{w}x{h}, 256 colours")
EOF
  elif [[ -n $IM ]]; then
    local pct=100
    while :; do
      convert "$1" -resize "${pct}%" -dither None -colors 256 "PNG8:$2"
      (($(stat -c %s "$2") <= MAX_KB * 1024 || pct <= 30)) && break
      pct=$((pct * 85 / 100))
    done
    echo "${pct} %, 256 colours"
  else
    cp "$1" "$2"
    echo "kept as is: neither PIL nor ImageMagick found"
  fi
}

mkdir -p "$ROOT/notebooks/img"
missing=0
for m in "${MAP[@]}"; do
  dst=$ROOT/notebooks/img/${m%%:*}
  src=""
  for c in ${m#*:}; do
    [[ -f $SRC/$c ]] && { src=$SRC/$c; break; }
  done
  if [[ -z $src ]]; then
    echo "key-figures: MISSING ${m%%:*}: none of ${m#*:} in $SRC" >&2
    missing=$((missing + 1))
    continue
  fi
  kb=$(($(stat -c %s "$src") / 1024))
  if ((kb > MAX_KB)); then
    how=$(reduce "$src" "$dst")
    echo "${m%%:*} <- ${src#"$SRC"/} (${kb} KB -> $(($(stat -c %s "$dst") / 1024)) KB: $how)"
  else
    cp "$src" "$dst"
    echo "${m%%:*} <- ${src#"$SRC"/} (${kb} KB)"
  fi
done
((missing == 0)) || { echo "key-figures: $missing figure(s) missing" >&2; exit 1; }
