# fisens — common tasks. `make help` lists them.
SHELL := /bin/bash
GO ?= go

.PHONY: help test
help:
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test: ## run the unit tests (pure-Go backend)
	$(GO) test ./...
