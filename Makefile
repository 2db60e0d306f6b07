# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/sh
VENV ?= .venv
PY := $(VENV)/bin/python
# An empty variable counts as unset, as in the settings (`SITE_URL= make run`).
ifeq ($(strip $(PORT)),)
override PORT := 8000
endif
ifeq ($(strip $(HOST)),)
override HOST := 127.0.0.1
endif
# The address the browser uses: links in emails and calendar files, and the one
# origin the socket accepts (core/origins.py) besides CSRF_TRUSTED_ORIGINS.
# Derived from HOST and PORT unless set; every process `make run` starts gets it.
ifeq ($(strip $(SITE_URL)),)
override SITE_URL := http://$(HOST):$(PORT)
endif
RUN_ENV := DEBUG=1 SITE_URL='$(SITE_URL)'
STAMP := $(VENV)/.installed

.PHONY: run test install lock messages lint format clean

# What is installed is the lock, never a fresh resolution: a new machine gets
# exactly the versions CI tested. `make lock` regenerates the locks from
# requirements.txt and requirements-dev.txt (keeping the pins it can; add
# UPGRADE=--upgrade to move every transitive package to its newest version).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
LOCK_FLAGS := --universal --python-version 3.12 --generate-hashes --quiet \
	--custom-compile-command "make lock"

$(STAMP): $(DEV_LOCK) scripts/find-python scripts/system-packages
	@scripts/system-packages
	@test -x $(PY) || { py=$$(scripts/find-python) && echo "Creating $(VENV) with $$py" && $$py -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(DEV_LOCK)
	@touch $(STAMP)

lock: $(STAMP)
	$(VENV)/bin/uv pip compile $(LOCK_FLAGS) $(UPGRADE) requirements.txt -o $(LOCK)
	$(VENV)/bin/uv pip compile $(LOCK_FLAGS) $(UPGRADE) -c $(LOCK) requirements-dev.txt -o $(DEV_LOCK)

install: $(STAMP) messages

messages: $(STAMP)
	DEBUG=1 $(PY) manage.py compilemessages --ignore '.venv' --verbosity 0

run: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo --print-logins --url '$(SITE_URL)/'
	$(RUN_ENV) $(PY) manage.py periodic_start
	@# The task worker (sends the outbox's emails) runs beside daphne; Ctrl-C
	@# stops daphne, and the trap stops the worker with it.
	@$(RUN_ENV) $(PY) manage.py db_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(RUN_ENV) $(VENV)/bin/daphne -b $(HOST) -p $(PORT) workspace.asgi:application

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles
