.PHONY: demo test check bench bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@.venv/bin/python -m romana.demo $(ARGS)

test: bootstrap
	@scripts/check.sh $(ARGS)

bench: bootstrap
	@.venv/bin/python -m bench.run_all $(ARGS)

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache
