"""Executes one GoNB notebook headless and writes the executed copy and its HTML export.

    python3 execute.py NOTEBOOK.ipynb OUTDIR [--timeout SECONDS] [--kernel gonb]

The notebook runs with its own folder as working directory (so $GONB_DIR is that folder) and with
this process's environment (GoNB kernels inherit it, and so do the programs they build). It stops at
the first failing cell, still writes OUTDIR/NAME.ipynb and OUTDIR/NAME.html (with the outputs so far),
prints which cell failed and why, and exits 1. --timeout bounds the whole notebook (default 1800 s).
Exit codes: 0 ok, 1 a cell failed or timed out, 2 bad usage or a notebook that breaks the conventions.
Used by scripts/run-notebooks.sh; it needs nbclient and nbconvert (Debian: python3-nbclient,
python3-nbconvert; pip: nbclient nbconvert).
"""

import argparse
import json
import os
import re
import signal
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

WIRING_MARK = "go mod edit -replace=github.com/fisens/fisens="
MAX_COMMITTED_OUTPUTS = 64 * 1024  # bytes of outputs a source notebook may carry


def lint(nb, name):
    """Returns a list of problems with the notebook's conventions (first cell = wiring, kernel = gonb)."""
    problems = []
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "gonb":
        problems.append(f"kernelspec is {kernel!r}, want 'gonb'")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code:
        return problems + ["no code cells"]
    first = code[0].source
    if WIRING_MARK not in first:
        problems.append("first code cell is not the wiring cell of notebooks/_template.ipynb")
    size = sum(len(json.dumps(c.get("outputs", []))) for c in code)
    if size > MAX_COMMITTED_OUTPUTS:
        problems.append(f"the notebook carries {size // 1024} KiB of outputs: run `make notebooks-clean` "
                        "(show the key figure with a committed PNG in notebooks/img/)")
    cont = False
    for line in first.splitlines():
        if not cont and line.strip() and not line.startswith("!"):
            problems.append(f"wiring cell must hold only shell (!) lines, found {line.strip()[:60]!r}")
            break
        cont = line.rstrip().endswith("\\")
    return problems


def missing_images(nb, folder):
    """Returns the relative images (img/NAME.png) that markdown cells show but that folder lacks."""
    missing = []
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", c.source):
            if "://" in ref or ref.startswith(("/", "data:")):
                continue
            if not os.path.isfile(os.path.join(folder, ref)):
                missing.append(ref)
    return missing


# GoNB (v0.11.3) replies "ok" to a cell whose program panics or exits non-zero, and to a failing
# shell (!) line: it only writes the exec error ("exit status 2", "signal: killed") to stderr. A cell
# counts as failed when its stderr has such a line, or a "GoNB Error:" line.
GONB_EXIT = re.compile(r"^(exit status [1-9][0-9]*|signal: [a-z ]+|GoNB Error:.*)$", re.M)


def cell_failure(cell):
    """Returns (name, text) if the executed cell failed, else None."""
    outs = cell.get("outputs", [])
    for out in outs:
        if out.get("output_type") == "error":
            text = "\n".join(out.get("traceback", [])) or out.get("evalue", "")
            # GoNB shows compile errors as an HTML display before the error reply: add its text.
            html = "".join(o.get("data", {}).get("text/html", "") for o in outs if o.get("output_type") == "display_data")
            return out.get("ename", "error"), (text + "\n" + html_text(html)).strip()
    stderr = "".join(o.get("text", "") for o in outs if o.get("output_type") == "stream" and o.get("name") == "stderr")
    m = GONB_EXIT.search(strip_ansi(stderr))
    if m:
        return m.group(1), stderr
    return None


def html_text(html):
    """The visible text of a GoNB HTML error (no style, no tags)."""
    html = re.sub(r"(?s)<style.*?</style>", "", html)
    html = re.sub(r"<br\s*/?>|</div>|</p>", "\n", html)
    text = re.sub(r"<[^>]+>", "", html)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"').replace("&#34;", '"').replace("&#39;", "'")
    return "\n".join(l.rstrip() for l in text.splitlines() if l.strip())


def strip_ansi(s):
    return re.sub(r"\x1b\[[0-9;]*m", "", s)


def tail(text, n=30):
    """The last n lines of text, indented."""
    lines = strip_ansi(text).strip().splitlines()
    skipped = f"    ... ({len(lines) - n} lines before)\n" if len(lines) > n else ""
    return skipped + "\n".join("    " + l for l in lines[-n:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("outdir")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds for the whole notebook")
    ap.add_argument("--kernel", default="gonb")
    args = ap.parse_args()

    path = os.path.abspath(args.notebook)
    rel = os.path.relpath(path)
    if rel.startswith(".."):
        rel = path
    base = os.path.splitext(os.path.basename(path))[0]
    nb = nbformat.read(path, as_version=4)
    problems = lint(nb, rel)
    problems += [f"markdown shows {ref}, which does not exist (key figures: notebooks/README.md)"
                 for ref in missing_images(nb, os.path.dirname(path))]
    if problems:
        for p in problems:
            print(f"FAIL {rel}: {p}", file=sys.stderr)
        return 2

    # Turn SIGTERM (e.g. from `timeout`) into an exception so the kernel is shut down on the way out.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)

    client = NotebookClient(
        nb, kernel_name=args.kernel, timeout=args.timeout, startup_timeout=120,
        resources={"metadata": {"path": os.path.dirname(path)}})
    deadline = time.monotonic() + args.timeout
    failure = None
    code_no = 0
    try:
        with client.setup_kernel():
            for idx, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                code_no += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    failure = (idx, code_no, "timeout", f"notebook time limit of {args.timeout:.0f} s reached")
                    break
                client.timeout = int(left) + 1
                t0 = time.monotonic()
                try:
                    client.execute_cell(cell, idx)
                except CellTimeoutError as e:
                    failure = (idx, code_no, "timeout", f"notebook time limit of {args.timeout:.0f} s reached: {e}")
                    break
                except CellExecutionError as e:
                    failure = (idx, code_no) + (cell_failure(cell) or (getattr(e, "ename", "error"), str(e)))
                    break
                except DeadKernelError as e:
                    failure = (idx, code_no, "DeadKernelError", str(e))
                    break
                failed = cell_failure(cell)
                if failed:
                    failure = (idx, code_no) + failed
                    # Make the failure visible in the executed copy and its HTML, as an error output.
                    cell.outputs.append(nbformat.v4.new_output(
                        "error", ename="run-notebooks", evalue=f"cell failed: {failed[0]}",
                        traceback=[f"run-notebooks: this cell failed ({failed[0]}); see its stderr above"]))
                    break
                print(f"  cell {code_no:2d} ok  {time.monotonic() - t0:6.1f} s", flush=True)
    except KeyboardInterrupt as e:
        failure = (idx, code_no, "interrupted", str(e))
    except Exception as e:  # kernel failed to start, ...
        failure = (None, code_no, type(e).__name__, str(e))

    os.makedirs(args.outdir, exist_ok=True)
    out_nb = os.path.join(args.outdir, base + ".ipynb")
    nbformat.write(nb, out_nb)
    exporter = HTMLExporter()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": base}})
    with open(os.path.join(args.outdir, base + ".html"), "w", encoding="utf-8") as f:
        f.write(body)

    if failure:
        idx, code_no, ename, text = failure
        where = f"code cell {code_no} (cell {idx + 1} of {len(nb.cells)})" if idx is not None else "kernel start"
        first = ""
        if idx is not None:
            src = nb.cells[idx].source.strip().splitlines()
            first = f"\n  cell starts: {src[0][:100]!r}" if src else ""
        print(f"FAIL {rel}: {where}: {ename}{first}\n{tail(text)}\n  executed copy: {out_nb}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
