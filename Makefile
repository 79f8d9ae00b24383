# fisens — common tasks. `make help` lists them.
SHELL := /bin/bash
GO ?= go

.PHONY: help test unit reproduce readme-figures bench-fi bench-models bench-peer
help:
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test: ## the whole test suite: vet, unit tests (pure Go), ONNX Runtime tests, fuzz smoke, notebooks (scripts/test.sh)
	scripts/test.sh

unit: ## unit tests only, pure-Go backend (fast)
	$(GO) test ./...

REPRODUCE_ARGS ?=
reproduce: ## the main job: every experiment at quick scale into out/reproduce/ (XLA CPU when installable, else ONNX Runtime, else pure Go); REPRODUCE_ARGS="--only setup1" for a part
	scripts/reproduce.sh $(REPRODUCE_ARGS)

readme-figures: ## copy the README's figures from out/reproduce (after make reproduce) into docs/img/
	scripts/readme-figures.sh

bench-models: ## images/s of one forward pass and one training step per family and backend (paper models: one process each, ~16 GB for an ONNX training step)
	source <(scripts/install-onnxruntime.sh | grep export) && $(GO) test -tags onnx -run '^$$' -bench './small/onnx' -benchtime 5x ./models/ && \
	for b in Forward/resnet50 Forward/densenet121 TrainStep/resnet50 TrainStep/densenet121; do \
	  $(GO) test -tags onnx -run '^$$' -bench "$$b/onnx" -benchtime 2x ./models/ | grep images/s; done
	$(GO) test -run '^$$' -bench './small/go_' -benchtime 2x ./models/
	for b in Forward/resnet50 Forward/densenet121 TrainStep/resnet50 TrainStep/densenet121; do \
	  $(GO) test -run '^$$' -bench "$$b/go_" -benchtime 1x ./models/ | grep images/s; done

bench-peer: ## fisens vs tuned PyTorch side by side (same net, weights, inputs): ONNX Runtime, XLA CPU, pure Go; ROUNDS=3 (docs/performance.md)
	scripts/bench-peer/run.sh $(or $(ROUNDS),3)

onnx-fixtures: ## regenerate the ONNX fixtures, PyTorch float64 references and the PyTorch-trained MNIST CNN (models/testdata/onnx; installs Debian's python3-torch)
	scripts/onnx-fixtures.sh

bench-fi: ## print the FI cost benchmarks (small ResNet) on the pure-Go and ONNX Runtime backends
	$(GO) test -run '^$$' -bench . -benchtime 5x ./fisens/
	source <(scripts/install-onnxruntime.sh | grep export) && $(GO) test -tags onnx -run '^$$' -bench . -benchtime 20x ./fisens/
	if env_xla=$$(scripts/install-xla.sh | grep export); then eval "$$env_xla" && $(GO) test -tags xla -run '^$$' -bench . -benchtime 20x ./fisens/; \
	  else echo "bench-fi: XLA CPU plugin not installable: xla:cpu skipped"; fi

# ---- Notebooks (GoNB + Jupyter); see notebooks/README.md ----------------------------------------
NOTEBOOKS ?=
NB_SHOT ?= smoke
NB_SHOT_SIZE ?= 1200,4000

.PHONY: notebooks notebooks-check lab notebooks-browser notebook-screenshot notebooks-clean
notebooks: ## execute the notebooks headless at quick scale into notebooks/out/ (.ipynb + .html); fails on any cell error (NOTEBOOKS=... for a subset)
	scripts/setup-notebooks.sh
	scripts/run-notebooks.sh $(NOTEBOOKS)

notebooks-check: ## type-check the notebooks' Go cells in seconds, without running them (scripts/notebooks/compile-check.py)
	scripts/setup-notebooks.sh >/dev/null
	python3 scripts/notebooks/compile-check.py

lab: ## install the pinned JupyterLab (.venv-jupyter/), GoNB and ONNX Runtime, then open JupyterLab on notebooks/
	scripts/notebooks/lab.sh

notebooks-browser: ## browser test: JupyterLab + headless Chromium run notebooks 00 and 07, check cells and figures, screenshots in notebooks/out/browser/
	scripts/notebooks/browser-test.sh

notebook-screenshot: ## render an executed notebook (NB_SHOT=smoke) to HTML and screenshot it with headless Chromium into notebooks/out/NB_SHOT.png
	scripts/setup-notebooks.sh --with-chromium
	[ -f notebooks/out/$(NB_SHOT).ipynb ] || scripts/run-notebooks.sh notebooks/$(NB_SHOT).ipynb
	scripts/notebooks/screenshot.sh notebooks/out/$(NB_SHOT).ipynb notebooks/out/$(NB_SHOT).png $(NB_SHOT_SIZE)

notebooks-clean: ## strip the outputs from the committed notebooks in place (nbconvert ClearOutputPreprocessor)
	PATH="$(CURDIR)/.venv-jupyter/bin:$$PATH" jupyter nbconvert --log-level=WARN --to notebook --inplace --ClearOutputPreprocessor.enabled=True notebooks/*.ipynb
