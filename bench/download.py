"""Downloading a 500 MB document: our view under daphne against a bare static server.

    .venv/bin/python bench/download.py [--size-mb 500] [--repeat 5] [--pause 2]

One document version of ``--size-mb`` MB (random bytes behind a PDF header) is
stored through ``documents.services.document_upload`` in a throwaway
workspace (bench/_common.py); then, in this one run, the same file is
downloaded 1 and 4 times at once, by clients in threads that read 1 MB at a
time and discard it:

- static: nginx serving the media directory itself (a minimal config; a Python
  sendfile server when nginx is not installed): the baseline;
- stream: our download view under daphne (DOCUMENTS_X_ACCEL off): the view's
  response reads the file in 1 MB chunks and daphne sends them, no faster than
  the client reads (core/daphne_http.py, back-pressure);
- accel: our download view under daphne behind nginx configured from
  deploy/nginx.conf.template, with DOCUMENTS_X_ACCEL on: the view authorises,
  nginx sends the file from its internal /protected-media/ location (skipped
  without nginx).

The modes take turns (static, stream, accel; 1 then 4 at once), ``--repeat``
times. Every stream or accel run gets a fresh daphne, warmed up with the
download of a small document, whose resident memory (VmRSS) is sampled while
the big downloads run. After each round a slow client (headers, then nothing
for ``--pause`` seconds, then the rest) downloads through a fresh daphne: a
server that does not wait for the socket buffers the file meanwhile. Every
download's byte count is checked; one download per mode is hashed (sha256) and
its headers checked after the measured runs.

Figures: per mode and concurrency the median and best wall time, throughput,
time to the response's headers, the server's CPU time and peak RSS growth;
  ratio_stream = stream time / static time, the median over the rounds of the
    ratio within a round, the worse of 1 and 4 at once;
  ratio_accel  = the same for accel (null without nginx);
  mem_growth_mb_per_download = daphne's largest peak RSS growth / 4 in the
    4-at-once stream runs (mem_growth_mb_c1: one download;
    mem_growth_mb_slow_client: the slow client).
Targets (issue 11): ratio_stream <= 5 (streamed through Python, without
nginx), ratio_accel <= 1.5 (behind nginx: the authorising request is a fixed
cost), memory growth <= 20 MB per download (4 at once and the slow client).
The last line is one JSON object.
"""

import argparse
import contextlib
import http.client
import http.server
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import _common as bench
from _common import MB, log
from django.core.files import File

CONCURRENCY = (1, 4)
TARGETS = {
    "ratio_stream": 5.0,
    "ratio_accel": 1.5,
    "mem_growth_mb_per_download": 20.0,
    "mem_growth_mb_slow_client": 20.0,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=500, help="size of the document (MiB)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of all modes")
    parser.add_argument(
        "--pause", type=float, default=2.0, help="seconds the slow client reads nothing"
    )
    return parser.parse_args()


# --- The document --------------------------------------------------------------------


class LocalFile(File):
    """A file already on the media filesystem, offered to the upload service as
    Django's TemporaryUploadedFile is: the storage moves it instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


def store_document(member, media_root: Path, size: int, title: str, filename: str):
    """Writes a file of ``size`` bytes and stores it as a new document through
    the upload service; returns (version, sha256)."""
    from documents import services

    incoming = media_root / "incoming"
    incoming.mkdir(exist_ok=True)
    path = incoming / filename
    sha256 = bench.write_pdf_like(path, size)
    uploaded = LocalFile(open(path, "rb"), name=filename)  # noqa: SIM115
    try:
        document = services.document_upload(
            actor=member.user, group=member.group, uploaded=uploaded, title=title
        )
    finally:
        uploaded.close()
    version = document.current_version
    assert version.sha256 == sha256 and version.size == size, "stored file differs"
    return version, sha256


# --- The static baseline without nginx ---------------------------------------------------


class _SendfileHandler(http.server.BaseHTTPRequestHandler):
    """GET /media/<path>: the file with os.sendfile (only used without nginx)."""

    protocol_version = "HTTP/1.1"
    root: Path

    def do_GET(self):
        relative = self.path.removeprefix("/media/")
        path = (self.root / relative).resolve()
        if not self.path.startswith("/media/") or not path.is_relative_to(self.root):
            self.send_error(404)
            return
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except OSError:
            self.send_error(404)
            return
        with handle:
            size = os.fstat(handle.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            offset = 0
            while offset < size:
                sent = os.sendfile(self.connection.fileno(), handle.fileno(), offset, size - offset)
                if sent == 0:
                    break
                offset += sent

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def sendfile_server(media_root: Path):
    handler = type("Handler", (_SendfileHandler,), {"root": media_root.resolve()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", os.getpid()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def static_nginx_config(port: int, media_root: Path) -> str:
    return f"""
server {{
    listen 127.0.0.1:{port};
    location /media/ {{
        alias {media_root}/;
    }}
}}
"""


@contextlib.contextmanager
def static_server(directory: Path, media_root: Path):
    """Yields (base_url, pid of the process that sends the bytes, name)."""
    if bench.nginx_available():
        port = bench.servers.free_port()
        with bench.nginx(static_nginx_config(port, media_root), port, directory / "nginx-static"):
            base_url = f"http://127.0.0.1:{port}"
            bench.servers.wait_for_port(port)
            master = _nginx_pid(directory / "nginx-static")
            yield base_url, (bench.children(master) or [master])[0], "nginx"
    else:
        with sendfile_server(media_root) as (base_url, pid):
            yield base_url, pid, "python-sendfile"


def _nginx_pid(workdir: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int((workdir / "nginx.pid").read_text())
        time.sleep(0.05)
    raise TimeoutError("nginx wrote no pid file")


# --- Runs ------------------------------------------------------------------------------


class Mode:
    """The runs of one way of serving the file, per concurrency, in order."""

    def __init__(self, name: str):
        self.name = name
        self.seconds: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
        self.growth: dict[int, list[int]] = {c: [] for c in CONCURRENCY}
        self.cpu: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
        self.first_byte: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
        self.verified = False

    def record(self, concurrency: int, seconds: float, usage: bench.Usage, first_byte) -> None:
        self.seconds[concurrency].append(seconds)
        self.first_byte[concurrency].append(first_byte)
        self.growth[concurrency].append(usage.growth)
        self.cpu[concurrency].append(usage.cpu)


class Setup:
    """What every run needs: the workspace, the two documents, the session."""

    def __init__(self, directory: Path, env: dict, member, big, small):
        from django.urls import reverse

        self.directory = directory
        self.env = env
        self.big = big
        self.headers = {"Cookie": member.cookie}
        self.path = reverse("documents:download", kwargs={"pk": big.pk})
        self.warm_path = reverse("documents:download", kwargs={"pk": small.pk})
        self.small = small
        self.accel_env = {**env, "DOCUMENTS_X_ACCEL": "1", "TRUSTED_PROXY_COUNT": "1"}

    @contextlib.contextmanager
    def our_view(self, *, accel: bool):
        """A fresh daphne serving our view (behind nginx from the deploy
        template with ``accel``), warmed up; yields (base_url, daphne's pid)."""
        name = "accel" if accel else "stream"
        with contextlib.ExitStack() as stack:
            base_url, process = stack.enter_context(
                bench.daphne(
                    self.accel_env if accel else self.env,
                    self.directory / f"daphne-{name}.log",
                    args=["--proxy-headers"] if accel else [],
                )
            )
            if accel:
                port = bench.servers.free_port()
                config = bench.nginx_template(
                    port=port,
                    upstreams=[base_url.removeprefix("http://")],
                    socket_upstreams=[base_url.removeprefix("http://")],  # one daphne for both
                    static_root=self.directory / "static",
                    media_root=self.directory / "media",
                )
                stack.enter_context(bench.nginx(config, port, self.directory / f"nginx-{name}"))
                base_url = f"http://127.0.0.1:{port}"
            for _ in range(2):
                warm_up = bench.download(base_url, self.warm_path, self.headers)
                if warm_up.status != 200 or warm_up.size != self.small.size:
                    log_tail = (self.directory / f"daphne-{name}.log").read_text()[-3000:]
                    raise RuntimeError(
                        f"{base_url}{self.warm_path}: status {warm_up.status}, "
                        f"{warm_up.size} bytes\n{log_tail}"
                    )
            yield base_url, process.pid


def measured_run(base_url, path, headers, concurrency, size, pid):
    """``concurrency`` downloads at once while ``pid``'s memory is sampled;
    returns (seconds, usage, the longest time to the response's headers)."""
    with bench.Usage(pid) as usage:
        seconds, results = bench.concurrent_downloads(base_url, path, headers, concurrency)
    for result in results:
        if result.status != 200 or result.size != size:
            raise RuntimeError(
                f"{base_url}{path}: status {result.status}, {result.size} of {size} bytes"
            )
    return seconds, usage, max(result.first_byte for result in results)


def slow_client_growth(setup: Setup, pause: float) -> int:
    """One download whose client reads the headers, then nothing for ``pause``
    seconds (a slow or stalled browser), then the rest: daphne's peak RSS
    growth. A server that does not wait for the socket to drain buffers the
    file in memory meanwhile."""
    with setup.our_view(accel=False) as (base_url, pid):
        host, port = base_url.removeprefix("http://").split(":")
        with bench.Usage(pid) as usage:
            connection = http.client.HTTPConnection(host, int(port), timeout=120)
            try:
                connection.request("GET", setup.path, headers=setup.headers)
                response = connection.getresponse()
                received = len(response.read(64 * 1024))
                time.sleep(pause)
                while chunk := response.read(MB):
                    received += len(chunk)
            finally:
                connection.close()
        if response.status != 200 or received != setup.big.size:
            raise RuntimeError(f"slow client: status {response.status}, {received} bytes")
    log(
        f"  stream  1 slow client (paused {pause:g} s): server RSS {usage.baseline / MB:.0f}"
        f" -> peak {usage.peak / MB:.0f} MB (+{usage.growth / MB:.1f})"
    )
    return usage.growth


def verify(base_url, path, headers, size, sha256, *, download_headers: bool) -> bool:
    """One download, hashed; with ``download_headers`` the protective headers
    of our view are checked too."""
    result = bench.download(base_url, path, headers, hash_it=True)
    if result.status != 200 or result.size != size or result.sha256 != sha256:
        raise RuntimeError(f"{path}: {result.status}, {result.size} bytes, sha256 {result.sha256}")
    if download_headers:
        got = {name.lower(): value for name, value in result.headers.items()}
        assert got.get("x-content-type-options") == "nosniff", got
        assert "sandbox" in got.get("content-security-policy", ""), got
        assert got.get("content-disposition", "").startswith("attachment"), got
    return True


def report(name, concurrency, size, usage: bench.Usage, seconds, first_byte, who):
    total = size * concurrency / MB
    log(
        f"  {name:<7} {concurrency} at once: {seconds:6.2f} s, {total / seconds:6.0f} MB/s"
        f" (headers after {first_byte * 1000:.0f} ms);"
        f" {who} RSS {usage.baseline / MB:.0f} -> peak {usage.peak / MB:.0f} MB"
        f" (+{usage.growth / MB:.1f}), CPU {usage.cpu:.2f} s"
    )


def run_all(setup: Setup, args) -> tuple[Mode, Mode, Mode | None, int]:
    """Every mode and concurrency, interleaved (static, stream, accel, then
    again), so that a change in the machine's load touches all alike."""
    static, stream = Mode("static"), Mode("stream")
    accel = Mode("accel") if bench.nginx_available() else None
    big, headers, path = setup.big, setup.headers, setup.path
    media_root = setup.directory / "media"
    slow_growth = 0
    with static_server(setup.directory, media_root) as (static_url, static_pid, server):
        static.server = server
        static_path = f"/media/{big.file.name}"
        bench.download(static_url, f"/media/{setup.small.file.name}", {})
        for repetition in range(args.repeat):
            log(f" run {repetition + 1} of {args.repeat}")
            for concurrency in CONCURRENCY:
                seconds, usage, first_byte = measured_run(
                    static_url, static_path, {}, concurrency, big.size, static_pid
                )
                static.record(concurrency, seconds, usage, first_byte)
                report("static", concurrency, big.size, usage, seconds, first_byte, server)
                for mode in (stream, accel):
                    if mode is None:
                        continue
                    with setup.our_view(accel=mode is accel) as (base_url, pid):
                        seconds, usage, first_byte = measured_run(
                            base_url, path, headers, concurrency, big.size, pid
                        )
                    mode.record(concurrency, seconds, usage, first_byte)
                    report(mode.name, concurrency, big.size, usage, seconds, first_byte, "daphne")
            slow_growth = max(slow_growth, slow_client_growth(setup, args.pause))
        static.verified = verify(
            static_url, static_path, {}, big.size, big.sha256, download_headers=False
        )
    for mode in (stream, accel):
        if mode is not None:
            with setup.our_view(accel=mode is accel) as (base_url, _pid):
                mode.verified = verify(
                    base_url, path, headers, big.size, big.sha256, download_headers=True
                )
    return static, stream, accel, slow_growth


# --- Figures -----------------------------------------------------------------------------


def paired_ratio(mode: Mode, static: Mode, concurrency: int) -> float:
    """The median over the rounds of mode's time / static's time in that round
    (the two ran one after the other, so a change in load touches both)."""
    pairs = zip(mode.seconds[concurrency], static.seconds[concurrency], strict=True)
    return round(statistics.median(ours / baseline for ours, baseline in pairs), 3)


def figures(size: int, static: Mode, stream: Mode, accel: Mode | None, slow_growth: int) -> dict:
    result = {"benchmark": "download", "size_mb": round(size / MB, 1)}
    result["static_server"] = static.server
    for mode in (static, stream, accel):
        if mode is None:
            continue
        who = "daphne" if mode is not static else static.server.replace("-", "_")
        for concurrency in CONCURRENCY:
            seconds = statistics.median(mode.seconds[concurrency])
            key = f"{mode.name}_c{concurrency}"
            result[f"{key}_s"] = round(seconds, 3)
            result[f"{key}_best_s"] = round(min(mode.seconds[concurrency]), 3)
            result[f"{key}_mb_s"] = round(size * concurrency / MB / seconds, 1)
            first_byte = statistics.median(mode.first_byte[concurrency])
            result[f"{key}_first_byte_ms"] = round(first_byte * 1000, 1)
            if who != "python_sendfile":  # the benchmark's own process: meaningless
                growth = max(mode.growth[concurrency])
                result[f"{key}_{who}_rss_growth_mb"] = round(growth / MB, 1)
                result[f"{key}_{who}_cpu_s"] = round(statistics.median(mode.cpu[concurrency]), 2)
    for name, mode in (("stream", stream), ("accel", accel)):
        per = {c: paired_ratio(mode, static, c) if mode else None for c in CONCURRENCY}
        for concurrency, value in per.items():
            result[f"ratio_{name}_c{concurrency}"] = value
        known = [value for value in per.values() if value is not None]
        result[f"ratio_{name}"] = max(known) if known else None
    result["mem_growth_mb_c1"] = round(max(stream.growth[1]) / MB, 1)
    result["mem_growth_mb_per_download"] = round(max(stream.growth[4]) / MB / 4, 1)
    result["mem_growth_mb_slow_client"] = round(slow_growth / MB, 1)
    if accel is not None:
        result["accel_mem_growth_mb_per_download"] = round(max(accel.growth[4]) / MB / 4, 1)
    result["sha256_verified"] = all(mode.verified for mode in (static, stream, accel) if mode)
    result["targets"] = TARGETS
    result["targets_met"] = {
        name: (result[name] is not None and result[name] <= limit)
        for name, limit in TARGETS.items()
    }
    return result


def main() -> int:
    args = parse_args()
    bench.stop_on_sigterm()
    size = args.size_mb * MB
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with bench.workdir("download") as directory:
        # The service applies the upload limit to the stored document too.
        env = bench.server_env(directory, DOCUMENTS_MAX_UPLOAD_BYTES=str(size + MB))
        log(f"Workspace in {directory}; migrating")
        bench.prepare(env)
        member = bench.create_member()
        log(f"Writing and storing a {args.size_mb} MB document through the upload service")
        big, _ = store_document(member, directory / "media", size, "Big", "big.pdf")
        small, _ = store_document(member, directory / "media", 64 * 1024, "Small", "small.pdf")
        bench.close_db()
        setup = Setup(directory, env, member, big, small)
        log(f"Downloads of {args.size_mb} MB, {args.repeat} rounds:")
        if not bench.nginx_available():
            log("  (nginx is not installed: static is a Python sendfile server, no accel)")
        static, stream, accel, slow_growth = run_all(setup, args)

    result = figures(size, static, stream, accel, slow_growth)
    result["repeat"] = args.repeat
    result["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = os.cpu_count()
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    log("")
    log(
        f"ratio_stream {result['ratio_stream']} (target <= {TARGETS['ratio_stream']}), "
        f"ratio_accel {result['ratio_accel']} (target <= {TARGETS['ratio_accel']}); "
        f"daphne's memory growth per download {result['mem_growth_mb_per_download']} MB "
        f"with 4 at once, {result['mem_growth_mb_c1']} MB alone, "
        f"{result['mem_growth_mb_slow_client']} MB for a slow client "
        f"(target <= {TARGETS['mem_growth_mb_per_download']})"
    )
    if max(result["loadavg_1m"]) > (os.cpu_count() or 1) * 0.5:
        log(
            f"Note: the machine was busy (load {result['loadavg_1m']}); "
            "times vary, ratios measured in one run less so."
        )
    missed = [name for name, met in result["targets_met"].items() if not met]
    log("Targets met." if not missed else f"Targets missed: {', '.join(missed)}")
    bench.print_json(result)
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(120)
    sys.exit(main())
