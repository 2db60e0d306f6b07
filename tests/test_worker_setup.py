"""Where the task worker runs: beside daphne in `make run`, as its own service
in docker-compose.yml (from the web image)."""

import re

from tests.servers import ROOT


def test_compose_runs_the_worker_from_the_web_image():
    compose = (ROOT / "docker-compose.yml").read_text()
    worker = re.search(r"^  worker:\n(.*?)(?=^  \S|^\S|\Z)", compose, re.M | re.S)
    assert worker is not None, "docker-compose.yml has no worker service"
    block = worker.group(1)
    assert "<<: *app" in block  # the same image and environment as web1/web2
    assert 'command: ["python", "manage.py", "db_worker"]' in block
    assert "service_completed_successfully" in block  # after the migrations


def test_make_run_starts_the_worker_beside_daphne_and_stops_it_with_daphne():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    worker_line = recipe.index("manage.py db_worker &")
    assert "trap 'kill $$worker" in recipe
    assert recipe.index("bin/daphne") > worker_line
