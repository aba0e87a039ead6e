# 码上找代表: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test test-sqlite test-postgresql bench wrk loadtest install install-dev translations extract-messages chromium libreoffice clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev translations

# Compiled catalogues are build output (not committed); the .po files are the source.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d liaison_app/translations -D messages >/dev/null

# Refresh the catalogues after changing user-visible strings.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o liaison_app/translations/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i liaison_app/translations/messages.pot -d liaison_app/translations -D messages --no-fuzzy-matching --ignore-obsolete -w 120

instance/config.py:
	@mkdir -p instance
	@$(BIN)/python -c "import secrets; print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@
	@echo "Wrote instance/config.py with a new random SECRET_KEY."

# `make run HOST=0.0.0.0 PORT=8080` serves the LAN too (a phone on the same Wi-Fi); the QR
# and tracking links then follow at this machine's LAN address, unless PUBLIC_BASE_URL is set.
HOST ?= 127.0.0.1
PORT ?= 5000
run: export FLASK_RUN_HOST := $(HOST)
run: export FLASK_RUN_PORT := $(PORT)
run: install instance/config.py
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask run

# The suite runs on SQLite, then on PostgreSQL at TEST_DATABASE_URL (skipped with a
# clear line when no server answers, except with CI=true). The browser tests need
# Debian's Chromium: CI installs it; elsewhere they skip unless `make chromium` was run.
# The print tests of the XLSX exports need LibreOffice the same way (`make libreoffice`).
test: install-dev $(if $(filter 1 true yes TRUE True YES,$(CI)),chromium libreoffice) test-sqlite test-postgresql

test-sqlite: install-dev
	$(BIN)/pytest --db sqlite

test-postgresql: install-dev
	$(BIN)/pytest --db postgresql

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# $(call debian_package,PACKAGE,BINARY,WHY): install Debian's PACKAGE unless BINARY is there.
define debian_package
@test -x $(2) || { \
  echo "Installing Debian's $(1) for $(3)..."; \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null && \
  test -x $(2); }
endef

# Debian's Chromium for tests/browser (Playwright drives it; Playwright never downloads
# a browser of its own). Does nothing when it is already there.
# Noto CJK gives the screenshots (and the PDFs below) Chinese glyphs instead of boxes.
CJK_FONTS := /usr/share/fonts/opentype/noto
chromium:
	$(call debian_package,chromium,/usr/bin/chromium,the browser tests)
	$(call debian_package,fonts-noto-cjk,$(CJK_FONTS),Chinese glyphs in the browser tests)

# Debian's LibreOffice Calc without a GUI (the smallest that converts headless) turns each
# XLSX export into a PDF for tests/test_xlsx_print.py. Does nothing when it is already there.
libreoffice:
	$(call debian_package,libreoffice-calc-nogui,/usr/bin/libreoffice,the print tests of the XLSX exports)
	$(call debian_package,fonts-noto-cjk,$(CJK_FONTS),Chinese glyphs in the printed exports)

# Debian's wrk drives bench/throughput.py (load on the same machine). Does nothing when it is there.
wrk:
	$(call debian_package,wrk,/usr/bin/wrk,bench/throughput.py)

# Figures for docs/benchmarks.md, each written between its `generated` markers (not part of
# `make test`). The second oversight run, pages and throughput measure the province at
# BENCH_PROVINCE_URL, made once with `createdb liaison_province`, `flask db upgrade` and
# `flask seed-scale --fraction 1.0` (15 min; `flask db upgrade` again after a new migration).
BENCH_PROVINCE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/liaison_province
REPORT := $(BIN)/python bench/report.py
bench: install-dev wrk
	$(REPORT) inbox -- $(BIN)/python bench/inbox.py --requests 100000 --rounds 20
	$(REPORT) posters -- $(BIN)/python bench/posters.py --posters 500 --rounds 10
	$(REPORT) oversight -- $(BIN)/python bench/oversight.py --fraction 0.1 --requests 200000 --rounds 10
	$(REPORT) oversight-province -- $(BIN)/python bench/oversight.py --reuse --rounds 5 --database-url $(BENCH_PROVINCE_URL)
	$(BIN)/python bench/pages.py --database-url $(BENCH_PROVINCE_URL) --write-doc
	$(BIN)/python bench/throughput.py --database-url $(BENCH_PROVINCE_URL) --write-doc
	$(BIN)/python bench/reach.py --database-url $(BENCH_PROVINCE_URL) --write-doc

# Filing through gunicorn (3 workers) by 50 phones for 60 s with a worker killed half-way, on
# SQLite and on PostgreSQL; fails when a filing is lost or doubled (figures: docs/benchmarks.md).
loadtest: install-dev
	$(BIN)/python bench/loadtest.py --db sqlite
	$(BIN)/python bench/loadtest.py --db postgresql

clean:
	rm -rf $(VENV) .pytest_cache
	find liaison_app -name '*.mo' -delete
