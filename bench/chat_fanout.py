"""Chat fan-out: our socket against the stock Channels tutorial chat and a bare
websockets broadcast server, in one run.

    .venv/bin/python bench/chat_fanout.py            # about 10 minutes
    .venv/bin/python bench/chat_fanout.py --seconds 30 --scenarios 100@5,1000@1   # the defaults

Three servers, each in its own process, driven by the same asyncio client
(bench/_chat_client.py: one process, a minimal WebSocket protocol per socket,
no compression offered):

- ours: ``daphne workspace.asgi:application`` with REDIS_URL set (the
  production layer, channels_redis' RedisPubSubChannelLayer) and a throwaway
  PostgreSQL database (``--db sqlite``: a SQLite file; ``BENCH_DATABASE_URL``:
  another empty throwaway database). Per scenario the benchmark creates a group
  with exactly as many members as there are subscribers, its standing room,
  and a stored session per member; each socket connects to /ws/ with its
  member's session cookie and Origin and subscribes to ``room:<id>``. Messages
  take the real write path: a ``chat.send`` frame from a member's socket
  (validated, rate-limited, stored with the room's sequence number in the
  transaction, acknowledged, emitted after commit). ``--service`` stores them
  with ``meetings.services.message_send`` in this process instead (same
  database and Redis), which leaves only the fan-out in the server.
- stock (the peer): the Channels docs' tutorial chat consumer under daphne
  with the tutorial's ``channels_redis.core.RedisChannelLayer``: one group
  membership per socket, ``group_send`` per message (bench/_chat_peers.py).
- bare (the floor): a ``websockets`` server that ``broadcast``s each frame it
  receives to every connection (bench/_chat_peers.py).

Scenarios, one room each: 100 subscribers at 5 msg/s and 1,000 subscribers at
1 msg/s, ``--seconds`` of sending each (30: 150 and 30 messages). Each server
is started afresh for each scenario. The subscribers include the senders: four
of the sockets take turns to send, for every server alike. A message's body
carries its id and its send time; the client notes when each subscriber
received it. Every run goes:

1. calibration: the four senders alone are connected and send 20 messages at
   5/s: the server's CPU per message without fan-out (ours: storing it);
2. the other sockets connect (ours: each also sends the presence heartbeat the
   page sends, every 15 s, until step 4);
3. ``--warmup`` messages, not measured, that must reach every socket;
4. ours: every socket renews its presence now (so that no entry times out in
   the window; the CPU per heartbeat is reported apart); then the client waits
   until no frame has come for 2 s;
5. the measured window: messages at the scenario's rate, open loop, until the
   last delivery arrives (or ``--settle`` seconds after the last send);
6. ours only: the fan-out window (below).

Figures per server and scenario (the lines before the table):
- delivered/expected: deliveries of measured messages (each socket counted at
  most once per message; duplicates counted apart) / (subscribers × messages);
- latency p50/p99 (nearest rank, ms): send → the LAST subscriber received it,
  over the messages that reached every subscriber; also send → first
  subscriber, first → last ("spread": how long the fan-out took), and for
  ours send → the sender's ack;
- server CPU per delivery (µs): utime+stime of the server process from
  /proc/<pid>/stat over the window / deliveries; the calibration's CPU per
  message (ours: mostly storing it). Redis' CPU over the window is shown for
  information (Redis may be shared with other work);
- ours, fan-out alone: 6. after the window every socket renews its presence
  again and as many messages again are stored by message_send in this
  process, so that the server only fans them out: its CPU per delivery then
  (for stock and bare, which store nothing, the window's figure).

The JSON line: ``delivered_ratio`` (ours, the worse scenario),
``cpu_us_per_delivery`` {ours, stock, bare} (all scenarios' CPU / deliveries)
and per scenario ``cpu_us_per_delivery_<n>``; ``cpu_ratio_vs_stock`` (ours /
stock, the worse scenario; per scenario ``cpu_ratio_vs_stock_<n>``); the same
for the fan-out share (``fanout_cpu_us_per_delivery_<n>``,
``fanout_cpu_ratio_vs_stock``); ``write_cpu_ms_per_message_<n>``;
``p50_ms_<n>``, ``p99_ms_<n>`` and ``spread_p99_ms_<n>`` {ours, stock, bare};
``p99_ratio_vs_bare_<n>`` and ``spread_p99_ratio_vs_bare_<n>``; ``targets``
and ``targets_met`` (the whole path: store + fan-out) and
``targets_met_fanout_only``.

Targets (issue 11): ours delivered_ratio = 1.0, cpu_ratio_vs_stock ≤ 0.35 at 100 and 1,000,
p99_ratio_vs_bare_1000 ≤ 3. The client runs on the first CPU, the servers on
the others (``--no-pin``: wherever the kernel puts them). ``--profile DIR``
records each server with py-spy during the window (pip install py-spy).
"""

import argparse
import asyncio
import contextlib
import gc
import json
import os
import time
from pathlib import Path

import _chat_client as wsc
import _common as bench
from _common import log

SCENARIOS = ((100, 5.0), (1000, 1.0))
SERVERS = ("bare", "stock", "ours")
CALIBRATION_MESSAGES = 20
CALIBRATION_RATE = 5.0
TARGETS = {"delivered_ratio": 1.0, "cpu_ratio_vs_stock": 0.35, "p99_ratio_vs_bare_1000": 3.0}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30, help="sending time per scenario")
    parser.add_argument(
        "--scenarios",
        default=",".join(f"{count}@{rate:g}" for count, rate in SCENARIOS),
        help="subscribers@messages per second, comma-separated",
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="a subset, e.g. ours,bare")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured messages first")
    parser.add_argument(
        "--settle", type=float, default=20, help="seconds to wait for stragglers after sending"
    )
    wsc.add_server_arguments(parser)
    parser.add_argument(
        "--service",
        action="store_true",
        help="ours: store messages with message_send in this process, not chat.send frames",
    )
    parser.add_argument("--batch", type=int, default=50, help="sockets opened at once")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the servers into DIR")
    return parser.parse_args()


# --- One run ---------------------------------------------------------------------------


async def drive(target: wsc.Target, subscribers: int, rate: float, args, redis_pid) -> dict:
    """One scenario against one running server (see the module docstring)."""
    messages = max(1, round(args.seconds * rate))
    total = args.warmup + messages
    calibration = wsc.Tracker(wsc.SENDERS, args.warmup + CALIBRATION_MESSAGES, target.accept)
    tracker = wsc.Tracker(subscribers, total, target.accept, target.ack)
    current = [calibration]

    def on_text(client, payload, now):
        current[0].on_text(client, payload, now)

    def connect(start: int, count: int) -> asyncio.Future:
        return wsc.connect_many(
            clients=clients,
            port=target.port,
            path=target.path,
            count=count,
            start=start,
            on_text=on_text,
            headers=target.headers,
            on_open=target.on_open,
            ready=target.ready,
            batch=args.batch,
            timeout=120 + count * 0.5,
        )

    clients: list[wsc.Client] = []
    keepalive = asyncio.create_task(wsc.keep_alive(target, clients)) if target.keepalive else None
    try:
        # 1. The server's CPU per message with the senders alone.
        await connect(0, wsc.SENDERS)
        await wsc.pace(args.warmup, CALIBRATION_RATE, lambda i: target.send(clients, i))
        await calibration.wait_for(args.warmup * wsc.SENDERS, timeout=30)
        window = wsc.CpuWindow(target.pids)
        window.start()
        await wsc.pace(
            CALIBRATION_MESSAGES, CALIBRATION_RATE, lambda i: target.send(clients, args.warmup + i)
        )
        await calibration.wait_for(
            (args.warmup + CALIBRATION_MESSAGES) * wsc.SENDERS, timeout=args.settle
        )
        per_message = window.stop() / CALIBRATION_MESSAGES

        # 2. Everybody else.
        current[0] = tracker
        started = time.monotonic()
        await connect(wsc.SENDERS, subscribers - wsc.SENDERS)
        connect_seconds = time.monotonic() - started

        # 3. Warm-up: every socket must get these.
        gc.collect()
        gc.freeze()
        await wsc.pace(args.warmup, rate, lambda i: target.send(clients, i))
        warm = await tracker.wait_for(args.warmup * subscribers, timeout=60)

        # 4. Nothing left over (presence renewed, announcements sent) in the window.
        extra = {}
        if target.before_measure is not None:
            extra = await target.before_measure(clients, target.pids)
        if keepalive is not None:
            keepalive.cancel()
        await asyncio.sleep(0.5)
        quiet = await tracker.quiet(2.0, timeout=120)
        stray = tracker.stray

        # 5. The window.
        server_cpu = wsc.CpuWindow(target.pids)
        redis_cpu = wsc.CpuWindow([redis_pid] if redis_pid else [])
        client_cpu = time.process_time()
        profiler = None
        if args.profile:
            output = Path(args.profile) / f"{target.name}-{subscribers}.txt"
            profiler = wsc.start_profiler(target.pids[0], output)
        server_cpu.start()
        redis_cpu.start()
        sending = await wsc.pace(messages, rate, lambda i: target.send(clients, args.warmup + i))
        complete = await tracker.wait_for(total * subscribers, timeout=args.settle)
        server_seconds = server_cpu.stop()
        redis_seconds = redis_cpu.stop()
        client_seconds = time.process_time() - client_cpu
        wsc.stop_profiler(profiler)

        # 6. Ours: the fan-out alone, the messages stored by this process.
        fanout = {}
        if target.service_send is not None and not target.via_service:
            fanout = await fanout_window(target, clients, current, subscribers, rate, args)
    finally:
        if keepalive is not None:
            keepalive.cancel()
        await wsc.close_all(clients)
        gc.unfreeze()

    measured = range(args.warmup, total)
    delivered = sum(tracker.count[index] for index in measured)
    expected = subscribers * messages
    last, first, incomplete = tracker.latencies_ms(measured)
    spread = [b - a for a, b in zip(first, last, strict=True)]
    acks = tracker.ack_latencies_ms(measured)
    return {
        "server": target.name,
        "subscribers": subscribers,
        "rate": rate,
        "messages": messages,
        "expected": expected,
        "delivered": delivered,
        "delivered_ratio": round(delivered / expected, 4),
        "complete": complete,
        "warmup_complete": warm,
        "quiet_before_window": quiet,
        "duplicates": tracker.duplicates,
        "other_events_in_window": tracker.stray - stray,
        "incomplete_messages": incomplete,
        "p50_ms": _round(wsc.percentile(last, 50)),
        "p99_ms": _round(wsc.percentile(last, 99)),
        "first_p50_ms": _round(wsc.percentile(first, 50)),
        "spread_p50_ms": _round(wsc.percentile(spread, 50)),
        "spread_p99_ms": _round(wsc.percentile(spread, 99)),
        "ack_p50_ms": _round(wsc.percentile(acks, 50)),
        "ack_p99_ms": _round(wsc.percentile(acks, 99)),
        "server_cpu_s": round(server_seconds, 3),
        "cpu_us_per_delivery": _per(server_seconds, delivered),
        "write_cpu_ms_per_message": round(per_message * 1e3, 2),
        "fanout_cpu_us_per_delivery": fanout.get(
            "cpu_us_per_delivery", _per(server_seconds, delivered)
        ),
        "fanout_delivered_ratio": fanout.get("delivered_ratio"),
        "redis_cpu_us_per_delivery": _per(redis_seconds, delivered) if redis_pid else None,
        "client_cpu_s": round(client_seconds, 2),
        "send_seconds": round(sending, 2),
        "connect_seconds": round(connect_seconds, 2),
        **target.notes,
        **extra,
    }


async def fanout_window(target, clients, current, subscribers, rate, args) -> dict:
    """Ours: as many messages again, stored by meetings.services.message_send
    in this process (same database and Redis), so that the server's CPU is the
    fan-out's alone: the hub's Redis subscription, one frame per event, a send
    per socket."""
    messages = max(1, round(args.seconds * rate))
    await target.before_measure(clients, target.pids)  # presence renewed again
    tracker = wsc.Tracker(subscribers, messages, target.accept)
    current[0] = tracker
    await asyncio.sleep(0.5)
    await tracker.quiet(2.0, timeout=120)
    window = wsc.CpuWindow(target.pids)
    window.start()
    target.via_service = True
    try:
        await wsc.pace(messages, rate, lambda i: target.send(clients, i))
        await tracker.wait_for(messages * subscribers, timeout=args.settle)
    finally:
        target.via_service = False
    seconds = window.stop()
    delivered = sum(tracker.count)
    return {
        "cpu_us_per_delivery": _per(seconds, delivered),
        "delivered_ratio": round(delivered / (messages * subscribers), 4),
    }


def _per(seconds: float, deliveries: int):
    return round(seconds * 1e6 / deliveries, 2) if deliveries else None


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def run_one(kind, subscribers, rate, args, directory, env, room, server_cpus, redis_pid):
    if kind == "bare":
        server = wsc.bare_server(directory)
    elif kind == "stock":
        server = wsc.stock_server(directory, args.redis_url)
    else:
        server = wsc.our_server(directory, env, room, service=args.service)
    with server as target:
        if server_cpus:
            for pid in target.pids:
                wsc.pin(pid, server_cpus)
        return asyncio.run(drive(target, subscribers, rate, args, redis_pid))


# --- Report ----------------------------------------------------------------------------


def ratio(a, b, digits=3):
    return round(a / b, digits) if a is not None and b else None


def _fmt(value):
    return "—" if value is None else f"{value:g}"


def report(results: dict, args) -> dict:
    kinds = [kind for kind in SERVERS if any(key[0] == kind for key in results)]
    counts = sorted({key[1] for key in results})
    log("")
    log(
        f"{'server':<6} {'subs':>5} {'msg/s':>5} {'delivered/expected':>20} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'spread p99':>10} {'cpu µs/del':>10} {'fan-out µs/del':>14} "
        f"{'write ms/msg':>12}"
    )
    for count in counts:
        for kind in kinds:
            r = results.get((kind, count))
            if r is None:
                continue
            delivered = f"{r['delivered']}/{r['expected']} ({r['delivered_ratio']:.4f})"
            log(
                f"{kind:<6} {count:>5} {r['rate']:>5g} {delivered:>20} "
                f"{_fmt(r['p50_ms']):>8} {_fmt(r['p99_ms']):>8} {_fmt(r['spread_p99_ms']):>10} "
                f"{_fmt(r['cpu_us_per_delivery']):>10} {_fmt(r['fanout_cpu_us_per_delivery']):>14} "
                f"{_fmt(r['write_cpu_ms_per_message']):>12}"
            )

    def figure(kind, count, name):
        r = results.get((kind, count))
        return None if r is None else r[name]

    def by_server(count, name):
        return {kind: figure(kind, count, name) for kind in kinds}

    def combined_cpu(kind):
        runs = [r for (k, _c), r in results.items() if k == kind]
        return _per(sum(r["server_cpu_s"] for r in runs), sum(r["delivered"] for r in runs))

    ours = [r for (k, _c), r in results.items() if k == "ours"]
    figures = {
        "delivered_ratio": min((r["delivered_ratio"] for r in ours), default=None),
        "delivered_ratio_by_server": {
            kind: min(r["delivered_ratio"] for (k, _c), r in results.items() if k == kind)
            for kind in kinds
        },
        "cpu_us_per_delivery": {kind: combined_cpu(kind) for kind in kinds},
        "send_path": ours[0].get("send_path") if ours else None,
        "database": args.db,
        "seconds": args.seconds,
        "scenarios": [f"{count}@{figure(kinds[0], count, 'rate'):g}" for count in counts],
    }
    for count in counts:
        figures[f"delivered_ratio_{count}"] = by_server(count, "delivered_ratio")
        figures[f"cpu_us_per_delivery_{count}"] = by_server(count, "cpu_us_per_delivery")
        figures[f"fanout_cpu_us_per_delivery_{count}"] = by_server(
            count, "fanout_cpu_us_per_delivery"
        )
        figures[f"write_cpu_ms_per_message_{count}"] = by_server(count, "write_cpu_ms_per_message")
        figures[f"redis_cpu_us_per_delivery_{count}"] = by_server(
            count, "redis_cpu_us_per_delivery"
        )
        for name in ("cpu_us_per_delivery", "fanout_cpu_us_per_delivery"):
            prefix = name.removesuffix("_us_per_delivery")
            figures[f"{prefix}_ratio_vs_stock_{count}"] = ratio(
                figure("ours", count, name), figure("stock", count, name)
            )
        for name in ("p50_ms", "p99_ms", "spread_p99_ms", "first_p50_ms", "ack_p99_ms"):
            figures[f"{name.removesuffix('_ms')}_ms_{count}"] = by_server(count, name)
        for name in ("p99_ms", "spread_p99_ms"):
            prefix = name.removesuffix("_ms")
            figures[f"{prefix}_ratio_vs_bare_{count}"] = ratio(
                figure("ours", count, name), figure("bare", count, name), 2
            )
            figures[f"{prefix}_ratio_vs_stock_{count}"] = ratio(
                figure("ours", count, name), figure("stock", count, name), 2
            )
    for prefix in ("cpu", "fanout_cpu"):
        values = [figures[f"{prefix}_ratio_vs_stock_{count}"] for count in counts]
        values = [value for value in values if value is not None]
        figures[f"{prefix}_ratio_vs_stock"] = max(values, default=None)

    def met(name, value):
        if value is None:
            return False
        return value >= TARGETS[name] if name == "delivered_ratio" else value <= TARGETS[name]

    figures["targets"] = TARGETS
    figures["targets_met"] = {
        "delivered_ratio": met("delivered_ratio", figures["delivered_ratio"]),
        "cpu_ratio_vs_stock": met("cpu_ratio_vs_stock", figures["cpu_ratio_vs_stock"]),
        "p99_ratio_vs_bare_1000": met(
            "p99_ratio_vs_bare_1000", figures.get("p99_ratio_vs_bare_1000")
        ),
    }
    figures["targets_met_fanout_only"] = {
        "cpu_ratio_vs_stock": met("cpu_ratio_vs_stock", figures["fanout_cpu_ratio_vs_stock"]),
        "p99_ratio_vs_bare_1000": met(
            "p99_ratio_vs_bare_1000", figures.get("spread_p99_ratio_vs_bare_1000")
        ),
    }

    log("")
    for count in counts:
        log(
            f"{count} subscribers: CPU per delivery ours/stock "
            f"{_fmt(figures[f'cpu_ratio_vs_stock_{count}'])} "
            f"(fan-out share {_fmt(figures[f'fanout_cpu_ratio_vs_stock_{count}'])}), "
            f"p99 ours/bare {_fmt(figures[f'p99_ratio_vs_bare_{count}'])} "
            f"(spread {_fmt(figures[f'spread_p99_ratio_vs_bare_{count}'])}), "
            f"p99 ours/stock {_fmt(figures[f'p99_ratio_vs_stock_{count}'])}"
        )
    for name, ok in figures["targets_met"].items():
        sign = "=" if name == "delivered_ratio" else "≤"
        log(
            f"target {name} {sign} {TARGETS[name]:g}: {_fmt(figures.get(name))} → "
            f"{'met' if ok else 'MISSED'}"
        )
    for name, ok in figures["targets_met_fanout_only"].items():
        value = figures.get(
            "fanout_cpu_ratio_vs_stock"
            if name.startswith("cpu")
            else "spread_p99_ratio_vs_bare_1000"
        )
        log(
            f"  fan-out only, {name} ≤ {TARGETS[name]:g}: {_fmt(value)} → "
            f"{'met' if ok else 'MISSED'}"
        )
    return figures


def main() -> None:
    args = parse_args()
    kinds = [kind for kind in args.servers.split(",") if kind]
    unknown = set(kinds) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    scenarios = []
    for item in args.scenarios.split(","):
        count, _at, rate = item.partition("@")
        scenarios.append((int(count), float(rate or 1)))
    if min(count for count, _rate in scenarios) < wsc.SENDERS:
        raise SystemExit(f"a scenario needs at least {wsc.SENDERS} subscribers (the senders)")
    files = wsc.raise_file_limit()
    if files < max(count for count, _rate in scenarios) + 200:
        raise SystemExit(f"RLIMIT_NOFILE is {files}: too low for the sockets")
    server_cpus = wsc.pinning(args.no_pin)
    log(
        f"chat fan-out: {args.seconds:g} s of sending per scenario, servers {', '.join(kinds)}; "
        f"client on CPU {sorted(os.sched_getaffinity(0))}, servers on "
        f"{sorted(server_cpus) if server_cpus else 'any CPU'}; RLIMIT_NOFILE {files}"
    )
    redis_pid = wsc.redis_pid(args.redis_url)
    results = {}
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(bench.workdir("chat-fanout"))
        rooms, env = {}, {}
        if "ours" in kinds:
            env = wsc.ours_env(stack, directory, args, "fanout")
            for count, _rate in scenarios:
                rooms[count] = wsc.create_room(count, slug=f"fanout{count}")
            bench.close_db()
            if not args.service and not wsc.chat_send_available():
                log("the socket has no chat.send frame: storing with message_send here")
                args.service = True
        for count, rate in scenarios:
            for kind in kinds:
                log(f"{kind}: {count} subscribers at {rate:g} msg/s …")
                result = run_one(
                    kind,
                    count,
                    rate,
                    args,
                    directory,
                    env,
                    rooms.get(count),
                    server_cpus,
                    redis_pid,
                )
                results[(kind, count)] = result
                log("  " + json.dumps(result))
    bench.print_json(report(results, args))


if __name__ == "__main__":
    main()
