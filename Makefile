# aftersales-kit — `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

STORE ?=
STORES ?= all
START ?=
END ?=
DATA ?=
# LANG doubles as the locale variable: take it only when it names a report language, and keep the
# make-level value out of the recipes' environment.
REPORT_LANG := $(if $(filter en,$(LANG)),en,zh)
unexport LANG
export PYTHONUTF8 := 1
WORKERS ?=
TO ?=
RECIPIENTS ?=
DRY_RUN ?=
PORT ?=
JUPYTER_ARGS ?=

# One shell word holding the value of a make variable, never shell syntax: DATA="my exports/x.xlsx"
# stays one path and STORE='x; rm -rf ~' stays a (refused) store id. DATA is therefore one file
# or folder; for several, give a folder (or call the CLI).
quote = '$(subst ','\'',$(1))'
arg = $(if $(2),$(1) $(call quote,$(2)))

# Optional arguments shared by the report-like targets.
WINDOW_ARGS = $(call arg,--start,$(START)) $(call arg,--end,$(END))
DATA_ARG = $(if $(DATA),$(call quote,$(DATA)))
# What the browser and PNG-chart tests need from Debian (see sysdeps).
SYSTEM_PACKAGES := chromium fonts-noto-cjk

.PHONY: help setup sysdeps data report reports notebook email daily test lint bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (aftersales-kit)" >/dev/null
	@# pip never byte-compiles an editable install, and where PYTHONDONTWRITEBYTECODE is set no
	@# run writes the .pyc files either: every command and kernel would compile the package again.
	$(PY) -m compileall -q aftersales_kit >/dev/null
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install pinned requirements (idempotent, fast when nothing changed)

data: setup ## Generate the demo data set in data/demo (12 stores, 180 days)
	$(PY) -m aftersales_kit demo --out data/demo

report: setup ## Render one store report: make report [STORE=id START= END= DATA= LANG=zh|en]
	$(PY) -m aftersales_kit report $(DATA_ARG) $(call arg,--store,$(STORE)) $(WINDOW_ARGS) --lang $(REPORT_LANG)

reports: setup ## Render every store's report and reports/index.html: make reports [STORES=a,b|all WORKERS=n]
	$(PY) -m aftersales_kit batch $(DATA_ARG) $(call arg,--stores,$(filter-out all,$(STORES))) \
	  $(WINDOW_ARGS) $(call arg,--workers,$(WORKERS)) --lang $(REPORT_LANG)

# `make notebook PORT=8899 JUPYTER_ARGS="--no-browser"`: Lab opens the working folder $(WORK)
# (gitignored), where the analyst's notebooks keep their outputs; each template of notebooks/ is
# copied there on first use and never overwritten, so nothing done in Lab reaches the templates
# that `aftersales report`/`batch` execute. As root (containers, WSL) Jupyter refuses to start
# without --allow-root, so it is added then.
WORK ?= work
notebook: setup ## Open Jupyter Lab on work/ (copies of notebooks/ on first use, outputs kept): [PORT=8888 WORK=work JUPYTER_ARGS=...]
	@mkdir -p $(call quote,$(WORK))
	@for nb in notebooks/*.ipynb; do \
	  target=$(call quote,$(WORK))/"$$(basename "$$nb")"; \
	  if [ ! -e "$$target" ]; then cp "$$nb" "$$target" && echo "复制模板 (copied template) $$target"; fi; \
	done
	JUPYTER_CONFIG_PATH="$(CURDIR)/etc/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(VENV)/bin/jupyter lab --notebook-dir=$(call quote,$(WORK)) $(call arg,--port,$(PORT)) \
	  $$(if [ "$$(id -u)" = 0 ]; then echo --allow-root; fi) $(JUPYTER_ARGS)

email: setup ## Email one store's diagnosis: make email STORE=id TO=a@b.com [START= END= DATA=]
	$(PY) -m aftersales_kit email $(DATA_ARG) $(call arg,--store,$(STORE)) $(call arg,--to,$(TO)) \
	  $(WINDOW_ARGS) --lang $(REPORT_LANG)

daily: setup ## The morning routine (render, mail, 企业微信/钉钉): make daily [DATA= RECIPIENTS=stores.toml END= DRY_RUN=1]
	$(PY) -m aftersales_kit daily $(DATA_ARG) $(call arg,--recipients,$(RECIPIENTS)) \
	  $(call arg,--end,$(END)) $(if $(DRY_RUN),--dry-run) --lang $(REPORT_LANG)

lint: setup ## Run ruff and the type checker (mypy --strict, see [tool.mypy] in pyproject.toml)
	$(VENV)/bin/ruff check aftersales_kit tests benchmarks
	$(VENV)/bin/ruff format --check aftersales_kit tests benchmarks
	$(PY) -m mypy aftersales_kit

sysdeps: ## Install Debian's chromium and fonts-noto-cjk when missing (browser and PNG tests)
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "安装 (installing) $(SYSTEM_PACKAGES)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "缺少系统软件包 (missing system packages), run: sudo apt-get install $(SYSTEM_PACKAGES)" >&2; \
	    exit 1; \
	  fi; \
	fi

test: setup sysdeps ## Run ruff, the type checker and the whole test suite (installs chromium and CJK fonts when missing)
	$(VENV)/bin/ruff check aftersales_kit tests benchmarks
	$(PY) -m mypy aftersales_kit
	$(PY) -m pytest -n 2 -q

bench: setup ## Run the benchmarks (metrics vs DuckDB/pandas, 京麦 xlsx load vs fastexcel, batch and one report vs naive)
	$(PY) benchmarks/bench_metrics.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_batch.py
	$(PY) benchmarks/bench_report.py

clean: ## Remove generated data and reports (keeps .venv)
	rm -rf data reports .pytest_cache .ruff_cache .mypy_cache
