# The two commands a user needs: `make up` and `make test`. Each installs what it needs first
# (idempotently; stamps under .cache/ make reruns fast).
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: up test bench lint deps deps-runtime deps-system deps-python deps-web deps-k8s clean

up: deps-runtime deps-python deps-web
	$(PY) -m hemisphere.cli.main up

test: deps-system deps-python deps-web deps-k8s
	scripts/test.sh

bench: deps-system deps-python deps-web deps-k8s
	$(PY) -m bench

lint: deps-python
	scripts/lint.sh

deps: deps-system deps-python deps-web deps-k8s

deps-runtime:
	scripts/deps-system.sh runtime

deps-system:
	scripts/deps-system.sh test

deps-python:
	scripts/deps-python.sh

deps-web:
	scripts/deps-web.sh

deps-k8s:
	scripts/deps-k8s.sh

clean:
	rm -rf .venv .cache node_modules
