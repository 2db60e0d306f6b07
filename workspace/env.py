"""Reading settings from the environment, strictly.

An empty variable counts as unset (compose files and shell scripts often leave
``DATABASE_URL=`` behind): the default applies. A malformed value stops the
process at once with one line on stderr that names the variable and what is
wrong with it, and no traceback: ``SystemExit`` carries the message, so
``manage.py``, daphne and the worker all end the same way, with status 1.
URL values are never repeated in the message (they may hold a password).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ

# django-environ's words (read before), both ways: anything else is a mistake.
TRUE = {"1", "true", "yes", "y", "on", "ok"}
FALSE = {"0", "false", "no", "n", "off"}
DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "sqlite"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
_UNSET = object()


class ConfigurationError(SystemExit):
    """A setting's value the process cannot run with; ends the process with
    its message (one line) and status 1."""

    def __init__(self, name: str, problem: str):
        self.name = name
        super().__init__(f"Configuration error: {name} {problem}")


class Env:
    """Typed reads of environment variables (``env.int("PORT", default=8000)``)."""

    def __init__(self, variables: Mapping[str, str] = os.environ):
        self.variables = variables

    def raw(self, name: str) -> str | None:
        """The variable's value without surrounding blanks; None when unset or empty."""
        value = self.variables.get(name, "").strip()
        return value or None

    def _read(
        self, name: str, default: Any, parse: Callable[[str], Any], *, parse_default=False
    ) -> Any:
        value = self.raw(name)
        if value is None:
            if default is _UNSET:
                raise ConfigurationError(name, "must be set.")
            if not parse_default:
                return default
            value = default
        return parse(value)

    def str(self, name: str, default: Any = _UNSET) -> Any:
        return self._read(name, default, lambda value: value)

    def bool(self, name: str, default: Any = _UNSET) -> Any:
        def parse(value: str) -> bool:
            if value.lower() in TRUE:
                return True
            if value.lower() in FALSE:
                return False
            raise ConfigurationError(
                name, f"is {value!r}, not on or off (use 1/0, true/false, yes/no or on/off)."
            )

        return self._read(name, default, parse)

    def int(self, name: str, default: Any = _UNSET, *, minimum: int = 0) -> Any:
        return self._read(name, default, lambda value: _number(name, value, int, minimum))

    def float(self, name: str, default: Any = _UNSET, *, minimum: float = 0) -> Any:
        return self._read(name, default, lambda value: _number(name, value, float, minimum))

    def list(
        self, name: str, default: Any = _UNSET, *, item: Callable[[str], Any] | None = None
    ) -> Any:
        """A comma-separated list (blank items dropped); ``item`` checks and
        converts each, raising ValueError with what is wrong."""

        def parse(value: str) -> list:
            items = [part.strip() for part in value.split(",") if part.strip()]
            if item is None:
                return items
            try:
                return [item(part) for part in items]
            except ValueError as error:
                raise ConfigurationError(name, f"has an item that {error}.") from None

        return self._read(name, default, parse)

    def rate(self, name: str, default: Any = _UNSET) -> Any:
        """``count/seconds``, both whole numbers of at least 1 (``"20/5"``)."""

        def parse(value: str) -> str:
            if not re.fullmatch(r"[1-9]\d*/[1-9]\d*", value):
                raise ConfigurationError(
                    name, f"is {value!r}, not count/seconds (e.g. 20/5, both at least 1)."
                )
            return value

        return self._read(name, default, parse)

    def choice(self, name: str, default: Any = _UNSET, *, choices: set[str]) -> Any:
        def parse(value: str) -> str:
            if value.upper() not in choices:
                raise ConfigurationError(
                    name, f"is {value!r}, not one of {', '.join(sorted(choices))}."
                )
            return value.upper()

        return self._read(name, default, parse)

    def time_zone(self, name: str, default: Any = _UNSET) -> Any:
        def parse(value: str) -> str:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigurationError(
                    name, f"is {value!r}, not a time zone (e.g. Europe/Berlin)."
                ) from None
            return value

        return self._read(name, default, parse)

    def email_address(self, name: str, default: Any = _UNSET) -> Any:
        """An address, bare or with a name: ``Workspace <workspace@example.org>``."""

        def parse(value: str) -> str:
            address = value.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in value else value
            if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
                raise ConfigurationError(
                    name, f"is {value!r}, not an email address (e.g. Name <name@example.org>)."
                )
            return value

        return self._read(name, default, parse)

    def site_url(self, name: str, default: Any = _UNSET) -> Any:
        """An origin: ``http(s)://host[:port]``, without path, query or fragment
        (links are this plus an absolute path)."""

        def parse(value: str) -> str:
            value = value.rstrip("/")
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 (raises ValueError for a bad port)
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise ConfigurationError(
                    name,
                    f"is {value!r}, not an address like https://workspace.example.org "
                    "(http or https, a host, an optional port, no path).",
                )
            return value

        return self._read(name, default, parse)

    def db_url(self, name: str, default: Any = _UNSET) -> dict:
        """PostgreSQL (``postgres://user:password@host:5432/name``) or SQLite
        (``sqlite:///relative.sqlite3``, ``sqlite:////absolute.sqlite3``)."""

        def parse(value: str) -> dict:
            scheme = _scheme(value)
            if scheme not in DATABASE_SCHEMES:
                raise ConfigurationError(
                    name,
                    f"{_scheme_problem(scheme)}; use postgres://user:password@host:5432/name "
                    "or sqlite:///path.sqlite3.",
                )
            try:
                config = environ.Env.db_url_config(value)
            except ValueError as error:
                raise ConfigurationError(name, f"is malformed: {error}.") from None
            if not config.get("NAME"):
                raise ConfigurationError(name, "names no database (…/name or sqlite:///path).")
            return config

        return self._read(name, default, parse, parse_default=True)

    def email_url(self, name: str, default: Any = _UNSET) -> dict:
        def parse(value: str) -> dict:
            scheme = _scheme(value)
            if scheme not in environ.Env.EMAIL_SCHEMES:
                raise ConfigurationError(
                    name,
                    f"{_scheme_problem(scheme)}; use smtp://, smtp+tls://, smtps://, "
                    "consolemail:// or filemail:///path.",
                )
            try:
                config = environ.Env.email_url_config(value)
            except ValueError as error:
                raise ConfigurationError(name, f"is malformed: {error}.") from None
            if scheme.startswith("smtp") and not config.get("EMAIL_HOST"):
                raise ConfigurationError(name, "names no mail server (smtp://host:port).")
            return config

        return self._read(name, default, parse, parse_default=True)

    def redis_url(self, name: str, default: Any = _UNSET) -> Any:
        def parse(value: str) -> str:
            scheme = _scheme(value)
            if scheme not in REDIS_SCHEMES:
                raise ConfigurationError(
                    name,
                    f"{_scheme_problem(scheme)}; use redis://host:6379/0 (rediss:// with TLS).",
                )
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 (raises ValueError for a bad port)
            except ValueError as error:
                raise ConfigurationError(name, f"is malformed: {error}.") from None
            if scheme != "unix" and not parts.hostname:
                raise ConfigurationError(name, "names no host (redis://host:6379/0).")
            if scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
                raise ConfigurationError(name, "has a database that is not a number (…/0).")
            return value

        return self._read(name, default, parse)


def _number(name: str, value: str, kind: type, minimum: float) -> Any:
    try:
        number = kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigurationError(name, f"is {value!r}, not {what}.") from None
    if number < minimum:
        raise ConfigurationError(name, f"is {value!r}, less than {minimum}.")
    return number


def _scheme_problem(scheme: str) -> str:
    return f"has the scheme {scheme!r}" if scheme else "is not a URL"


def _scheme(value: str) -> str:
    scheme, separator, _ = value.partition("://")
    return scheme.lower() if separator else ""


def mime_type(value: str) -> str:
    """An item check for ``Env.list``: ``type/subtype``."""
    if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", value):
        raise ValueError(f"is not a MIME type (type/subtype): {value!r}")
    return value


def whole_number(value: str) -> int:
    """An item check for ``Env.list``: a whole number of at least 0."""
    if not value.isdigit():
        raise ValueError(f"is not a whole number: {value!r}")
    return int(value)


def origin(value: str) -> str:
    """An item check for ``Env.list``: ``scheme://host[:port]``."""
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"is not an origin like https://workspace.example.org: {value!r}")
    return value
