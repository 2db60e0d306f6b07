"""Uploading a 200 MB document through daphne: our upload view against a bare ASGI sink.

    .venv/bin/python bench/upload.py [--size-mb 200] [--repeat 3]

In a throwaway workspace (bench/_common.py; static files collected, since the
upload page is rendered under DEBUG=0) a member signs in, opens the upload
page for its CSRF token and posts a ``--size-mb`` MB file (random bytes
behind a PDF header) as multipart/form-data, the body streamed from disk in
1 MB pieces, asking for JSON as the page's JavaScript does. The baseline:
daphne running bench/_sink.py, an ASGI application that reads the same body
and discards it (daphne configured as for the workspace: core.daphne_http).
Each run gets a fresh daphne; the sink and ours take turns, ``--repeat``
rounds.

Figures per side: the time until the body was sent and until the answer
came; daphne's peak RSS growth over the whole request and up to the moment
the last byte was sent; its CPU time; the bytes it wrote (``wchar`` of
/proc/<pid>/io: every copy of the body it put into a file). The upload is
checked in the database afterwards (size and sha256 of the stored version).
ratio = our time / the sink's time, the median over the rounds of the ratio
within a round (times: medians); mem_growth_mb = daphne's largest peak RSS
growth during our upload.
The issue's target: memory bounded. The last line is one JSON object.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import _common as bench
from _common import MB, log

READ_SIZE = 1024 * 1024


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the upload (MiB)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both sides")
    return parser.parse_args()


# --- The request ---------------------------------------------------------------------------


class Multipart:
    """A multipart/form-data body of text fields and one file, streamed from disk."""

    def __init__(self, fields: dict[str, str], file_field: str, path: Path, filename: str):
        self.boundary = f"----bench{uuid.uuid4().hex}"
        self.path = path
        head = b""
        for name, value in fields.items():
            head += (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            ).encode()
        head += (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(head) + path.stat().st_size + len(self.tail)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"

    def pieces(self):
        yield self.head
        with open(self.path, "rb") as handle:
            while piece := handle.read(READ_SIZE):
                yield piece
        yield self.tail


@dataclass
class Posted:
    status: int
    body: bytes
    sent: float  # seconds until the last byte of the body was sent
    answered: float  # seconds until the whole answer was read


def post(base_url: str, path: str, body: Multipart, headers: dict, on_sent=None) -> Posted:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    started = time.perf_counter()
    try:
        connection.putrequest("POST", path)
        for name, value in {
            **headers,
            "Content-Type": body.content_type,
            "Content-Length": str(body.length),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        for piece in body.pieces():
            connection.send(piece)
        sent = time.perf_counter() - started
        if on_sent is not None:
            on_sent()
        response = connection.getresponse()
        answer = response.read()
        return Posted(response.status, answer, sent, time.perf_counter() - started)
    finally:
        connection.close()


def get(base_url: str, path: str, headers: dict):
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


# --- One run --------------------------------------------------------------------------------


@dataclass
class Run:
    sent: float
    answered: float
    growth: int  # peak RSS minus the value before the request
    growth_while_sending: int  # the same, up to the moment the last byte was sent
    cpu: float
    written: int  # wchar: bytes the server process passed to write calls


def measured_post(base_url, path, body, headers, pid) -> tuple[Run, Posted]:
    marks = {}
    written_before = bench.written_bytes(pid)["wchar"]
    with bench.Usage(pid, interval=0.005) as usage:
        posted = post(
            base_url, path, body, headers, on_sent=lambda: marks.setdefault("peak", usage.peak)
        )
    run = Run(
        sent=posted.sent,
        answered=posted.answered,
        growth=usage.growth,
        growth_while_sending=marks.get("peak", usage.peak) - usage.baseline,
        cpu=usage.cpu,
        written=bench.written_bytes(pid)["wchar"] - written_before,
    )
    return run, posted


def upload_page_token(base_url: str, path: str, cookie: str) -> tuple[str, str]:
    """The upload page's CSRF form token and the csrftoken cookie it set."""
    status, headers, page = get(base_url, path, {"Cookie": cookie})
    if status != 200:
        raise RuntimeError(f"GET {path}: {status} (signed in? the view in place?)")
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError(f"GET {path}: no CSRF token in the page")
    jar = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.load(value)
    return match.group(1).decode(), jar["csrftoken"].value


def run_ours(setup, number: int) -> Run:
    from django.urls import reverse

    from documents.models import Document

    path = reverse("documents:upload", kwargs={"slug": setup.member.group.slug})
    with bench.daphne(setup.env, setup.directory / "daphne-ours.log") as (base_url, process):
        token, csrf_cookie = upload_page_token(base_url, path, setup.member.cookie)
        body = Multipart(
            {
                "csrfmiddlewaretoken": token,
                "title": f"Bench upload {number}",
                "description": "",
                "folder": "",
            },
            "file",
            setup.file,
            "bench.pdf",
        )
        headers = {
            "Cookie": f"{setup.member.cookie}; csrftoken={csrf_cookie}",
            "Origin": base_url,
            "Referer": base_url + path,
            "Accept": "application/json",
        }
        run, posted = measured_post(base_url, path, body, headers, process.pid)
    if posted.status != 200:
        raise RuntimeError(f"upload answered {posted.status}: {posted.body[:2000]!r}")
    redirect = json.loads(posted.body)["redirect"]
    pk = int(re.search(r"/documents/(\d+)/", redirect).group(1))
    version = Document.objects.get(pk=pk).current_version
    if version.size != setup.size or version.sha256 != setup.sha256:
        raise RuntimeError(f"stored {version.size} bytes, sha256 {version.sha256}")
    bench.close_db()
    return run


def run_sink(setup) -> tuple[Run, dict]:
    with bench.daphne_app(
        "bench._sink:application", setup.env, setup.directory / "daphne-sink.log"
    ) as (base_url, process):
        get(base_url, "/", {})  # warm up
        body = Multipart({"title": "sink"}, "file", setup.file, "bench.pdf")
        run, posted = measured_post(base_url, "/", body, {}, process.pid)
    answer = json.loads(posted.body) if posted.status == 200 else {}
    if answer.get("received") != body.length:
        raise RuntimeError(f"sink answered {posted.status}: {posted.body[:200]!r}")
    return run, answer


def report(name: str, run: Run) -> None:
    log(
        f"  {name:<5} sent in {run.sent:5.2f} s, answered after {run.answered:5.2f} s;"
        f" daphne RSS +{run.growth / MB:.1f} MB at the peak"
        f" (+{run.growth_while_sending / MB:.1f} MB until the body was sent),"
        f" CPU {run.cpu:.2f} s, wrote {run.written / MB:.0f} MB"
    )


# --- Figures ---------------------------------------------------------------------------------


@dataclass
class Setup:
    directory: Path
    env: dict
    member: object
    file: Path
    size: int
    sha256: str


def summary(runs: list[Run], prefix: str) -> dict:
    return {
        f"{prefix}_s": round(statistics.median(run.answered for run in runs), 3),
        f"{prefix}_best_s": round(min(run.answered for run in runs), 3),
        f"{prefix}_sent_s": round(statistics.median(run.sent for run in runs), 3),
        f"{prefix}_mem_growth_mb": round(max(run.growth for run in runs) / MB, 1),
        f"{prefix}_mem_growth_until_sent_mb": round(
            max(run.growth_while_sending for run in runs) / MB, 1
        ),
        f"{prefix}_cpu_s": round(statistics.median(run.cpu for run in runs), 2),
        f"{prefix}_written_mb": round(max(run.written for run in runs) / MB, 1),
    }


def main() -> int:
    args = parse_args()
    bench.stop_on_sigterm()
    size = args.size_mb * MB
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with bench.workdir("upload") as directory:
        (directory / "tmp").mkdir()
        env = bench.server_env(
            directory,
            # The view refuses bodies above the limit before reading them.
            DOCUMENTS_MAX_UPLOAD_BYTES=str(size + MB),
            # Temporary files of the servers (Twisted's and Django's spools,
            # the upload handler's file) go here too and are removed with it.
            TMPDIR=str(directory / "tmp"),
        )
        log(f"Workspace in {directory}; migrating, collecting static files")
        bench.prepare(env, collectstatic=True)
        member = bench.create_member()
        bench.close_db()
        path = directory / "upload.pdf"
        log(f"Writing a {args.size_mb} MB file")
        sha256 = bench.write_pdf_like(path, size)
        setup = Setup(directory, env, member, path, size, sha256)
        log(f"Uploads of {args.size_mb} MB, {args.repeat} rounds:")
        ours, sink = [], []
        for number in range(args.repeat):
            run, answer = run_sink(setup)
            sink.append(run)
            report("sink", run)
            log(
                f"        when the sink started, daphne had queued {answer['messages']} messages"
                f" holding {answer['queued_before_start'] / MB:.1f} MB of the body for it"
            )
            ours.append(run_ours(setup, number))
            report("ours", ours[-1])

    result = {"benchmark": "upload", "size_mb": round(size / MB, 1), "repeat": args.repeat}
    result.update(summary(ours, "ours"))
    result.update(summary(sink, "sink"))
    result["sink_queued_before_start_mb"] = round(answer["queued_before_start"] / MB, 1)
    pairs = zip(ours, sink, strict=True)
    result["ratio"] = round(statistics.median(o.answered / s.answered for o, s in pairs), 3)
    result["mem_growth_mb"] = result["ours_mem_growth_mb"]
    result["mem_growth_per_upload_mb_ratio"] = round(result["mem_growth_mb"] / (size / MB), 2)
    result["stored_sha256_verified"] = True
    result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    log("")
    log(
        f"ratio {result['ratio']} (our upload view / the bare sink); daphne's memory grew by "
        f"{result['mem_growth_mb']} MB for our upload and {result['sink_mem_growth_mb']} MB "
        f"for the sink's, of a {args.size_mb} MB body"
    )
    if result["mem_growth_mb"] > size / MB / 2:
        log(
            "Memory is not bounded: it grows with the body (see core/daphne_http.py "
            "and bench/README.md)."
        )
    bench.print_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
