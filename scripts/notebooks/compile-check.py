"""Type-checks the Go code of notebooks in seconds, without a kernel: for each notebook it writes one Go
program the way GoNB builds cells (every cell's declarations kept, each cell's `%%` body a function) to
notebooks/out/_compilecheck/NAME/main.go, fixes its imports with goimports and runs `go vet` on it.
A quick check that a change of the library's API still fits the notebooks; `make notebooks` executes them.

    python3 scripts/notebooks/compile-check.py [NOTEBOOK.ipynb ...]     # default: notebooks/*.ipynb

Needs .cache/bin/goimports (scripts/setup-notebooks.sh). Exit status 1 if any notebook fails.
"""
import glob, json, os, re, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def program(nb):
    imports, decls, bodies = set(), [], []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        s = "".join(c["source"])
        if s.lstrip().startswith("!"):
            continue  # shell cells
        s = "\n".join(l for l in s.split("\n") if not l.startswith(("%env", "%goflags", "!")))
        d, _, b = s.partition("%%")
        for m in re.finditer(r"(?s)import \((.*?)\)", d):
            imports.update(l.strip() for l in m.group(1).split("\n") if l.strip())
        imports.update(re.findall(r'import (".*?")', d))
        d = re.sub(r'import ".*?"', "", re.sub(r"(?s)import \(.*?\)", "", d))
        decls.append(d)
        if b.strip():
            bodies.append(b)
    src = "package main\n\nimport (\n" + "\n".join(sorted(imports)) + "\n)\n\n" + "\n".join(decls)
    for i, b in enumerate(bodies):
        src += f"\nfunc cell{i}() {{\n{b}\n}}\n"
    return src + "\nfunc main() {}\n"


def main():
    nbs = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
    goimports = os.path.join(ROOT, ".cache", "bin", "goimports")
    failed = 0
    for p in nbs:
        name = os.path.splitext(os.path.basename(p))[0]
        # The folder starts with "_" so that `go build ./...` never sees it.
        out = os.path.join(ROOT, "notebooks", "out", "_compilecheck", re.sub(r"[^A-Za-z0-9_]", "_", name))
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "main.go"), "w") as f:
            f.write(program(json.load(open(p))))
        r = subprocess.run([goimports, "-w", "main.go"], cwd=out, capture_output=True, text=True)
        if r.returncode == 0:
            r = subprocess.run(["go", "vet", "./" + os.path.relpath(out, ROOT)], cwd=ROOT, capture_output=True, text=True)
        if r.returncode == 0:
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}\n{(r.stdout + r.stderr)[-3000:]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
