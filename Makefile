.PHONY: demo test unit check bench bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@.venv/bin/python -m romana.demo $(ARGS)

test: bootstrap
	@scripts/check.sh $(ARGS)

# The pure and fast tests only: no root, no namespaces, no daemons.
unit: bootstrap
	@.venv/bin/pytest -q -p no:cacheprovider tests/unit $(ARGS)

bench: bootstrap
	@.venv/bin/python -m bench.run_all $(ARGS)

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache
