#!/usr/bin/env bash
# Copies the README's figures from a quick `make reproduce` output folder into docs/img/.
#   make reproduce && scripts/readme-figures.sh [out/reproduce]
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-out/reproduce}
figs=(
  setup0/rocpr-resnet-small-mnist
  setup1/manhattan
  setup2/layers-densenet-small-mnist
  setup3/quantiles
  setup4/maps-resnet-small-mnist
  onepixel/success
  identity/fi-vs-odds
  cheney/accuracy-densenet-small-mnist
  estimator/tightness-alexnet-small-mnist
  estimator/tightness-resnet-small-mnist
  informative/bound
)
mkdir -p docs/img
for f in "${figs[@]}"; do
  [[ -f $src/$f.png ]] || { echo "readme-figures: $src/$f.png missing (run make reproduce first)" >&2; exit 1; }
  cp "$src/$f.png" "docs/img/${f//\//-}.png"
done
echo "copied ${#figs[@]} figures from $src to docs/img/"
