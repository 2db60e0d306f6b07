# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/sh
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: run test install messages lint format check-deploy clean

$(STAMP): requirements.txt requirements-dev.txt scripts/find-python scripts/system-packages
	@scripts/system-packages
	@test -x $(PY) || { py=$$(scripts/find-python) && echo "Creating $(VENV) with $$py" && $$py -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP) messages

messages: $(STAMP)
	DEBUG=1 $(PY) manage.py compilemessages --ignore '.venv' --verbosity 0

run: install
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo --print-logins --url http://$(HOST):$(PORT)/
	DEBUG=1 $(VENV)/bin/daphne -b $(HOST) -p $(PORT) workspace.asgi:application

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles
