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
    paired(rows, backends)


def paired(rows, backends):
    """Prints, per backend and workload, the ratio of each fisens round to the PyTorch round run right
    after it (medians of their repetitions): robust to the machine's speed drifting between rounds,
    which the pooled medians above mix."""
    blocks = []  # consecutive rows of one process: (side, backend, round), rows
    for r in rows:
        key = (r["side"], r["backend"], r["round"])
        if not blocks or blocks[-1][0] != key:
            blocks.append((key, []))
        blocks[-1][1].append(r)
    print("\nPaired ratios (each fisens round / the PyTorch round right after it):")
    for b in backends:
        for wl in NAMES:
            out = []
            for i, (key, rs) in enumerate(blocks[:-1]):
                nxt_key, nxt = blocks[i + 1]
                if key[0] != "fisens" or key[1] != b or nxt_key[0] != "pytorch":
                    continue
                f = [r["images"] / r["seconds"] for r in rs if r["workload"] == wl]
                p = [r["images"] / r["seconds"] for r in nxt if r["workload"] == wl]
                if f and p:
                    out.append(statistics.median(f) / statistics.median(p))
            if out:
                print("- %s, %s: %s (median %.2f)" % (b, wl, " ".join("%.2f" % x for x in out), statistics.median(out)))


if __name__ == "__main__":
    main(sys.argv[1])
