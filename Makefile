# The workbench's commands. Every target builds .venv on first use.
# A GPU user overrides the torch pin: make test TORCH_SPEC="torch==2.5.1 --index-url ..."
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOG ?=
OUT ?= reports

.PHONY: report example-report test test-slow bench lab venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/radiodiff demo-report --out $(OUT) $(if $(LOG),--log $(LOG),)

# The committed example in reports/example/ (Markdown + small figures); never edited by hand.
example-report: $(STAMP)
	rm -rf reports/example/analyze.md reports/example/analyze_files
	$(BIN)/radiodiff demo-report --out reports/example --example

test: $(STAMP)
	$(BIN)/python -m pytest -q

# pytest exits 5 when no test is marked slow; that is not a failure.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow || test $$? -eq 5

bench: $(STAMP)
	$(BIN)/radiodiff bench all --config bench

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) runs reports/*_files
	find reports -maxdepth 1 -type f ! -name README.md -delete
