"""A real SMTP server for tests (aiosmtpd in a thread of the test process)."""

import contextlib
import email
import email.message
import email.policy
import threading
import time

from aiosmtpd.controller import Controller

from tests.servers import free_port


class SMTPMailbox:
    """What the server received, parsed with the ``email`` module."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"smtp://127.0.0.1:{port}"
        self._lock = threading.Lock()
        self._messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        with self._lock:
            return list(self._messages)

    def wait_for_count(self, count: int, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@contextlib.contextmanager
def smtp_server(mailbox_class=SMTPMailbox):
    """Yields a ``mailbox_class`` (default ``SMTPMailbox``; any aiosmtpd
    handler made with the port) whose server listens on a free port of
    127.0.0.1."""
    mailbox = mailbox_class(free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()
