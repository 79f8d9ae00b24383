#!/usr/bin/python3
"""Prints the side-by-side table of scripts/bench-peer/run.sh from its results.jsonl: median images/s
per workload and side, and the ratio fisens / PyTorch per backend."""
import json, statistics, sys

NAMES = {
    "fi": "whole-image FI, 128 test images (K = 10 backward passes + K x K algebra)",
    "bwd": "one backward pass (input gradient), batch 32",
    "train": "Adam training step, batch 128",
    "params": "per-layer parameter FI (27 layers' K x K Grams)",
    "maps": "multi-scale patch maps k = 1, 3, 5, 7 (from the Jacobian)",
}


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rate = {}
    loads = []
    for r in rows:
        key = (r["workload"], "pytorch" if r["side"] == "pytorch" else r["backend"])
        rate.setdefault(key, []).append(r["images"] / r["seconds"])
        loads.append(r.get("load", float("nan")))
    backends = []
    for r in rows:
        if r["side"] == "fisens" and r["backend"] not in backends:
            backends.append(r["backend"])
    med = {k: statistics.median(v) for k, v in rate.items()}
    n = {k: len(v) for k, v in rate.items()}
    head = ["workload (images/s, median)"] + ["fisens %s" % b for b in backends] + ["PyTorch (tuned)"] + ["ratio %s" % b for b in backends]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for wl in NAMES:
        if (wl, "pytorch") not in med and not any((wl, b) in med for b in backends):
            continue
        cells = [NAMES[wl]]
        for b in backends:
            cells.append("%.3g (n=%d)" % (med[(wl, b)], n[(wl, b)]) if (wl, b) in med else "–")
        p = med.get((wl, "pytorch"))
        cells.append("%.3g (n=%d)" % (p, n[(wl, "pytorch")]) if p else "–")
        for b in backends:
            cells.append("**%.2f**" % (med[(wl, b)] / p) if p and (wl, b) in med else "–")
        print("| " + " | ".join(cells) + " |")
    good = [l for l in loads if l == l]
    if good:
        print("\n1-minute load average during the runs: %.1f–%.1f (2 cores; > 2 means other work competed)." % (min(good), max(good)))


if __name__ == "__main__":
    main(sys.argv[1])
