# Khata: `make run` (set up + start web, worker, beat) and `make test` (set up + lint + tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
KHATA_BIND ?= 127.0.0.1:8000
export KHATA_BIND

.PHONY: run test setup venv services migrate browser loadgen lint check-deploy openapi bench clean

run: setup
	@$(PY) manage.py collectstatic --noinput -v 0
	@$(PY) manage.py seed_demo
	@echo ""
	@echo "Khata is starting (Ctrl-C stops web, workers and beat):"
	@echo "  web        http://$(KHATA_BIND)/"
	@echo "  health     http://$(KHATA_BIND)/healthz"
	@echo "  back office http://$(KHATA_BIND)/admin/"
	@echo "  API docs   http://$(KHATA_BIND)/api/docs/"
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile start

test: venv services browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

setup: venv services migrate

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Khata needs Python 3.11+: set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

services: venv
	@$(PY) -m config.preflight

# The browser tests drive Debian's chromium (never a downloaded browser).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium >/dev/null; }

# The HTTP figures of bench/ledger.py come from Debian's wrk (a C load generator that takes little
# of the CPU it measures); without it the script falls back to Python clients.
loadgen:
	@command -v wrk >/dev/null || { echo "installing Debian's wrk for the HTTP benchmark"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q wrk >/dev/null; }

migrate: services
	@$(PY) manage.py migrate --noinput -v 0

lint: venv
	$(VENV)/bin/ruff check .

check-deploy: venv
	KHATA_ENV=production DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
		GIFTCARD_FINGERPRINT_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
		ALLOWED_HOSTS=khata.example.com $(PY) manage.py check --deploy --fail-level WARNING

openapi: venv
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

bench: setup loadgen
	$(PY) bench/events_ingest.py
	$(PY) bench/ledger.py
	$(PY) bench/points.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
