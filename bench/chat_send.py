"""Chat send: send → stored → delivered to 100 subscribers, against a bare
channels echo round trip, in one run.

    .venv/bin/python bench/chat_send.py              # about a minute
    .venv/bin/python bench/chat_send.py --messages 200 --subscribers 100   # the defaults

- ours: ``daphne workspace.asgi:application`` with REDIS_URL (the production
  channel layer) and a throwaway PostgreSQL database (``--db sqlite``: a SQLite
  file), as in bench/chat_fanout.py: a group with ``--subscribers`` members,
  each socket signed in with its member's session and subscribed to the
  group's room. One message at a time (closed loop, ``--pause`` ms between
  them), ten of the sockets taking turns, sends a ``chat.send`` frame; the
  server checks it, stores it with the room's sequence number, acknowledges it
  and emits ``message.created`` after commit, which the hub fans out. For each
  message the client notes the sender's ack (stored), the first and the last
  subscriber's event (delivered to all).
- echo (the baseline): a minimal channels consumer on daphne
  (bench/_chat_peers.py) that sends every frame back, one socket, the same
  frames one at a time: the round trip through daphne and channels alone.

Figures (ms, nearest-rank percentiles over ``--messages`` messages after
``--warmup``): ``ack_p50_ms``/``ack_p99_ms`` (send → stored, acknowledged),
``first_p50_ms``, ``delivered_p50_ms``/``delivered_p99_ms`` (send → the last
of the subscribers has it), ``echo_p50_ms``/``echo_p99_ms``; the ratios
``ratio_p50``/``ratio_p99`` = delivered / echo and ``ack_ratio_p50`` = ack /
echo; ``server_cpu_ms_per_message`` (ours, utime+stime of daphne per message,
fan-out to the subscribers included) and ``echo_cpu_us_per_round_trip``. The
client runs on the first CPU, the servers on the others. The last line is one
JSON object.
"""

import argparse
import asyncio
import contextlib
import gc
import json
import os
import time

import _chat_client as wsc
import _common as bench
from _common import log

SENDERS = 10  # turns, so that each member stays far below the socket's rate limit


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=200, help="measured messages")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured messages first")
    parser.add_argument("--pause", type=float, default=50, help="ms between two messages")
    wsc.add_server_arguments(parser)
    return parser.parse_args()


async def ours(target: wsc.Target, args) -> dict:
    subscribers, total = args.subscribers, args.warmup + args.messages
    tracker = wsc.Tracker(subscribers, total, target.accept, target.ack)
    clients = await wsc.connect_many(
        port=target.port,
        path=target.path,
        count=subscribers,
        on_text=tracker.on_text,
        headers=target.headers,
        on_open=target.on_open,
        ready=target.ready,
        timeout=120 + subscribers * 0.5,
    )
    try:
        extra = await target.before_measure(clients, target.pids)
        await tracker.quiet(2.0, timeout=120)
        gc.collect()
        gc.freeze()
        cpu = wsc.CpuWindow(target.pids)
        lost = 0
        for message_id in range(total):
            if message_id == args.warmup:
                cpu.start()
            sender = clients[message_id % SENDERS]
            acked = sender.expect(lambda payload: payload.startswith(b'{"type": "ack"'))
            sender.send_text(target.frame(wsc.body(message_id)))
            delivered = await tracker.wait_for((message_id + 1) * subscribers, timeout=10)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await acked
            if not delivered:
                lost += 1
                await tracker.quiet(1.0, timeout=30)
            await asyncio.sleep(args.pause / 1000)
        server_seconds = cpu.stop()
    finally:
        await wsc.close_all(clients)
        gc.unfreeze()
    measured = range(args.warmup, total)
    last, first, incomplete = tracker.latencies_ms(measured)
    acks = tracker.ack_latencies_ms(measured)
    return {
        "delivered_ratio": round(
            sum(tracker.count[i] for i in measured) / (subscribers * args.messages), 4
        ),
        "incomplete_messages": incomplete,
        "duplicates": tracker.duplicates,
        "ack_p50_ms": _round(wsc.percentile(acks, 50)),
        "ack_p99_ms": _round(wsc.percentile(acks, 99)),
        "first_p50_ms": _round(wsc.percentile(first, 50)),
        "first_p99_ms": _round(wsc.percentile(first, 99)),
        "delivered_p50_ms": _round(wsc.percentile(last, 50)),
        "delivered_p99_ms": _round(wsc.percentile(last, 99)),
        # per message, minus the pauses' idle time (which is close to nothing)
        "server_cpu_ms_per_message": round(server_seconds * 1e3 / args.messages, 2),
        **extra,
    }


async def echo(target: wsc.Target, args, room_id: int) -> dict:
    times = []
    replies = asyncio.Queue()
    clients = await wsc.connect_many(
        port=target.port,
        path=target.path,
        count=1,
        on_text=lambda client, payload, now: replies.put_nowait(now),
    )
    (client,) = clients
    try:
        cpu = wsc.CpuWindow(target.pids)
        for message_id in range(args.warmup + args.messages):
            if message_id == args.warmup:
                cpu.start()
            text = wsc.body(message_id)
            frame = json.dumps(
                {"type": "chat.send", "room": room_id, "body": text, "client_id": text}
            )
            started = time.monotonic_ns()
            client.send_text(frame)
            async with asyncio.timeout(10):
                arrived = await replies.get()
            if message_id >= args.warmup:
                times.append((arrived - started) / 1e6)
            await asyncio.sleep(args.pause / 1000)
        server_seconds = cpu.stop()
    finally:
        await wsc.close_all(clients)
    return {
        "echo_p50_ms": _round(wsc.percentile(times, 50)),
        "echo_p99_ms": _round(wsc.percentile(times, 99)),
        "echo_cpu_us_per_round_trip": round(server_seconds * 1e6 / args.messages, 1),
    }


def _round(value, digits=2):
    return None if value is None else round(value, digits)


def ratio(a, b, digits=2):
    return round(a / b, digits) if a is not None and b else None


def main() -> None:
    args = parse_args()
    if args.subscribers < SENDERS:
        raise SystemExit(f"--subscribers must be at least {SENDERS}")
    wsc.raise_file_limit()
    server_cpus = wsc.pinning(args.no_pin)
    log(
        f"chat send: {args.messages} messages to {args.subscribers} subscribers, one at a time; "
        f"client on CPU {sorted(os.sched_getaffinity(0))}, servers on "
        f"{sorted(server_cpus) if server_cpus else 'any CPU'}"
    )
    figures = {"subscribers": args.subscribers, "messages": args.messages, "database": args.db}
    with contextlib.ExitStack() as stack:
        directory = stack.enter_context(bench.workdir("chat-send"))
        env = wsc.ours_env(stack, directory, args, "send")
        room = wsc.create_room(args.subscribers, slug="chatsend")
        bench.close_db()
        if not wsc.chat_send_available():
            raise SystemExit("the socket has no chat.send frame (meetings.chat)")

        log("echo: a channels consumer on daphne sending every frame back …")
        with wsc.echo_server(directory, args.redis_url) as target:
            for pid in target.pids if server_cpus else ():
                wsc.pin(pid, server_cpus)
            figures.update(asyncio.run(echo(target, args, room.room.pk)))
        log("  " + json.dumps({k: v for k, v in figures.items() if k.startswith("echo")}))

        log(f"ours: chat.send to a room of {args.subscribers} …")
        with wsc.our_server(directory, env, room) as target:
            for pid in target.pids if server_cpus else ():
                wsc.pin(pid, server_cpus)
            result = asyncio.run(ours(target, args))
        log("  " + json.dumps(result))
        figures.update(result)

    figures["ratio_p50"] = ratio(figures["delivered_p50_ms"], figures["echo_p50_ms"])
    figures["ratio_p99"] = ratio(figures["delivered_p99_ms"], figures["echo_p99_ms"])
    figures["ack_ratio_p50"] = ratio(figures["ack_p50_ms"], figures["echo_p50_ms"])
    log("")
    log(
        f"send → delivered to all {args.subscribers}: p50 {figures['delivered_p50_ms']} ms, "
        f"p99 {figures['delivered_p99_ms']} ms; send → ack (stored): p50 "
        f"{figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms"
    )
    log(
        f"echo round trip: p50 {figures['echo_p50_ms']} ms, p99 {figures['echo_p99_ms']} ms; "
        f"delivered / echo: p50 ×{figures['ratio_p50']}, p99 ×{figures['ratio_p99']}"
    )
    bench.print_json(figures)


if __name__ == "__main__":
    main()
