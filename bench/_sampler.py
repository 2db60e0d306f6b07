"""A sampling profiler of every thread of a Python program (py-spy is not a
dependency; cProfile sees only the thread it was started in, and a daphne
runs its views in another):

    python bench/_sampler.py OUTPUT -m daphne ... (the module's arguments)

Runs the module as ``python -m`` would, and while sampling is on (SIGUSR1
turns it on, SIGUSR2 off; on from the start with ``BENCH_SAMPLE_FROM_START``),
every ``BENCH_SAMPLE_MS`` ms (10) records the Python stack of each other
thread (``sys._current_frames``). At
exit (daphne exits on SIGTERM) it writes OUTPUT: one line per distinct stack,
``<thread>;<outermost frame>;...;<innermost frame> <samples>`` (the collapsed
format flame graph tools read), ``<thread>`` being ``main`` (daphne's event
loop, Twisted's reactor) or ``other`` (the threads sync code runs in).

A sample shows where a thread is, not whether it runs: a thread waiting for
the GIL is counted where it waits, so with two busy threads their shares are
of wall time. ``summarise`` (used by load.py) sets apart the stacks of idle
threads (waiting in the reactor's poll or for work) and of threads inside
psycopg (waiting for PostgreSQL's answer, or for the GIL after it), and sums
the rest per function.
"""

import atexit
import collections
import os
import runpy
import signal
import sys
import threading
from pathlib import Path

# The innermost Python frame of a thread with nothing to do (the C call it
# waits in has no frame): (function, file name).
IDLE = {
    ("doPoll", "epollreactor.py"),
    ("select", "selectors.py"),
    ("wait", "threading.py"),
    ("_worker", "thread.py"),
    ("get", "queue.py"),
    ("_wait_for_tstate_lock", "threading.py"),
    ("run_forever", "base_events.py"),
}


def _frame_name(code) -> str:
    path = code.co_filename
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        root = str(Path(__file__).resolve().parent.parent) + "/"
        path = path.removeprefix(root)
    return f"{code.co_name} ({path}:{code.co_firstlineno})"


def run(output: Path, module: str, arguments: list[str]) -> None:
    interval = float(os.environ.get("BENCH_SAMPLE_MS", "10")) / 1000
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # an experiment: the GIL's switch interval
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    stacks: collections.Counter = collections.Counter()
    main_ident = threading.get_ident()
    stop = threading.Event()
    sampling = threading.Event()
    if os.environ.get("BENCH_SAMPLE_FROM_START"):
        sampling.set()
    signal.signal(signal.SIGUSR1, lambda *_: sampling.set())
    signal.signal(signal.SIGUSR2, lambda *_: sampling.clear())

    def sample() -> None:
        me = threading.get_ident()
        while not stop.wait(interval):
            if not sampling.is_set():
                continue
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                names = []
                while frame is not None:
                    names.append(_frame_name(frame.f_code))
                    frame = frame.f_back
                names.append("main" if ident == main_ident else "other")
                stacks[";".join(reversed(names))] += 1

    def write() -> None:
        stop.set()
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "w") as handle:
            for stack, count in stacks.most_common():
                handle.write(f"{stack} {count}\n")

    atexit.register(write)
    threading.Thread(target=sample, name="bench-sampler", daemon=True).start()
    sys.argv = [module, *arguments]
    sys.path[0] = os.getcwd()  # as ``python -m`` has it, not bench/
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def is_idle(leaf: str) -> bool:
    name, _space, place = leaf.partition(" (")
    file_name = place.split(":", 1)[0].rsplit("/", 1)[-1]
    return (name, file_name) in IDLE


def summarise(path: Path, top: int = 25) -> dict:
    """From an OUTPUT file: samples per thread kind (busy, in psycopg, idle),
    and the busy samples per function, innermost (self) and anywhere on the
    stack (cumulative; and of the project's own code alone), and per package
    of the innermost frame."""
    busy = collections.Counter()
    idle = collections.Counter()
    database = collections.Counter()
    own = collections.Counter()
    cumulative = collections.Counter()
    packages = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _space, count = line.rpartition(" ")
        count = int(count)
        frames = stack.split(";")
        kind, frames = frames[0], frames[1:]
        if not frames or is_idle(frames[-1]):
            idle[kind] += count
            continue
        if "(psycopg/" in frames[-1]:
            database[kind] += count
            continue
        busy[kind] += count
        own[f"{kind}: {frames[-1]}"] += count
        for name in set(frames):
            cumulative[name] += count
        place = frames[-1].partition(" (")[2]
        packages[place.split("/", 1)[0].split(".py", 1)[0]] += count
    root = Path(__file__).resolve().parent.parent
    ours = {f"{entry.name}/" for entry in root.iterdir() if (entry / "__init__.py").exists()}
    project = collections.Counter(
        {
            name: count
            for name, count in cumulative.items()
            if name.partition(" (")[2].startswith(tuple(ours))
        }
    )
    total = sum(busy.values()) or 1
    return {
        "busy_samples": dict(busy),
        "idle_samples": dict(idle),
        "psycopg_samples": dict(database),
        "self_pct": {name: round(n * 100 / total, 1) for name, n in own.most_common(top)},
        "cumulative_pct": {
            name: round(n * 100 / total, 1) for name, n in cumulative.most_common(top)
        },
        "project_cumulative_pct": {
            name: round(n * 100 / total, 1) for name, n in project.most_common(top)
        },
        "package_pct": {name: round(n * 100 / total, 1) for name, n in packages.most_common(15)},
    }


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit(__doc__.split("\n\n", 1)[1].split("\n\n", 1)[0])
    run(Path(sys.argv[1]), sys.argv[3], sys.argv[4:])
