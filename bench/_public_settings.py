"""Settings of ``bench/public_site.py``'s daphne: the project's settings (or those
``BENCH_PUBLIC_BASE_SETTINGS`` names) with a URLconf that adds the bare views
beside ours (``bench/_public_urls.py``), so that both pass the same daphne,
ASGI handler and middleware."""

import importlib
import os

_base = importlib.import_module(os.environ.get("BENCH_PUBLIC_BASE_SETTINGS", "workspace.settings"))
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

ROOT_URLCONF = "bench._public_urls"
