# One-command setup: `make run` (console on http://localhost:8501), `make test` (every test).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
PORT   ?= 8501
DEMO_REPORTS ?= 25000
DEMO_SEED    ?= 2024
export PYTHONPATH := $(CURDIR)

.PHONY: system-deps run test lint typecheck bench demo-data db secrets venv venv-dev clean help

help:
	@echo "make run       set up everything and start the console on port $(PORT)"
	@echo "make test      set up and run lint, type checks and the whole test suite"
	@echo "make demo-data regenerate the demo database ($(DEMO_REPORTS) reports)"
	@echo "make bench     run the benchmarks (results in bench/results/)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.run-stamp: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-stamp: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.run-stamp $@

# Debian packages the tests and documents need: Chromium for the browser tests (Playwright
# cannot download its own browser here), DejaVu fonts for Vietnamese PDFs, poppler for
# checking PDFs. Installed only when missing.
SYSTEM_PACKAGES := chromium fonts-dejavu-core poppler-utils
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(VENV)/.run-stamp
venv-dev: $(VENV)/.dev-stamp

# The cookie-signing key of the login: random, generated once, never committed.
secrets: .streamlit/secrets.toml
.streamlit/secrets.toml:
	@mkdir -p .streamlit
	@$(PYTHON) -c "import secrets; print('[auth]'); print('cookie_key = \"' + secrets.token_urlsafe(48) + '\"')" > $@
	@chmod 600 $@
	@echo "generated $@ (random cookie key)"

# The demo accounts' password: IHANOI_DEMO_PASSWORD if set, else generated once and kept
# in data/ (git-ignored) so that it survives the next `make run`.
DEMO_PASSWORD_FILE := data/demo-password.txt
$(DEMO_PASSWORD_FILE):
	@mkdir -p data
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(9))" > $@
	@chmod 600 $@
DEMO_ENV = IHANOI_DEMO_PASSWORD="$${IHANOI_DEMO_PASSWORD:-$$(cat $(DEMO_PASSWORD_FILE))}"

db: venv $(DEMO_PASSWORD_FILE)
	$(PY) -m ihanoi_core init-db
	$(DEMO_ENV) $(PY) -m ihanoi_core seed-demo --if-empty --reports $(DEMO_REPORTS) --seed $(DEMO_SEED) \
		| grep -v ': ld\.'
	@echo "Demo accounts: dieuphoi1 (dispatcher), lanhdao1 (leader), phantich1 (analyst),"
	@echo "  quantri (admin), ld.<unit> (unit leader, e.g. ld.008), cb1.<unit> (officer)."
	@echo "Demo password: $${IHANOI_DEMO_PASSWORD:-$$(cat $(DEMO_PASSWORD_FILE)) (in $(DEMO_PASSWORD_FILE))}"

demo-data: venv $(DEMO_PASSWORD_FILE)
	rm -f data/ihanoi.db data/ihanoi.db-wal data/ihanoi.db-shm
	$(MAKE) db

run: venv system-deps secrets db
	$(VENV)/bin/streamlit run Home.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv-dev
	$(VENV)/bin/mypy --strict ihanoi_core

test: venv-dev system-deps lint typecheck
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: venv-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
