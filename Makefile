.PHONY: demo test lint unit functional bench bootstrap clean cni-front dist

bootstrap:
	@scripts/bootstrap.sh

# The compiled CNI front, .venv/bin/romana-cni (bootstrap builds it too); OUTPUT=path to put it
# elsewhere, beside romana-cni-py (see docs/operations.md, "Building the CNI front").
cni-front:
	@scripts/build-cni.sh $(OUTPUT)

# The sdist and the wheel built from it, in dist/: a platform wheel carrying the compiled CNI
# front (hatch_build.py; ROMANA_BUILD_CNI_FRONT=0 for a pure wheel without it).
dist: bootstrap
	@.venv/bin/python -m build --outdir dist

demo: bootstrap
	@.venv/bin/python -m romana.demo $(ARGS)

# The whole gate: lint, then every test, with the coverage floor.
test: bootstrap
	@scripts/check.sh $(ARGS)

# Formatting, lint, strict types on src, relaxed types on tests and bench, import contracts.
lint: bootstrap
	@scripts/lint.sh

# The pure and fast tests only: no root, no namespaces, no daemons.
unit: bootstrap
	@.venv/bin/pytest -q -p no:cacheprovider -m "not root" tests/unit $(ARGS)

# The tests that need root: network namespaces, the lab, agents and romanad in them.
functional: bootstrap
	@.venv/bin/pytest -q -p no:cacheprovider -m root tests $(ARGS)

bench: bootstrap
	@.venv/bin/python -m bench.run_all $(ARGS)

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache .coverage dist
