from django.db import models


class StreamCounter(models.Model):
    """The last sequence number handed out on a stream.

    Incremented with an UPDATE inside the writing transaction: the row stays
    locked until commit, so on every stream sequence order is commit order.
    """

    stream = models.CharField(max_length=100, primary_key=True)
    last_seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.stream}@{self.last_seq}"


class StreamEvent(models.Model):
    """One realtime event, kept so that a client that reconnects can be sent
    what it missed. The database is the source of truth; the channel layer
    only delivers."""

    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=60)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="stream_event_unique_seq")
        ]

    def __str__(self):
        return f"{self.stream}#{self.seq} {self.type}"

    def as_frame(self) -> dict:
        return {
            "type": "event",
            "stream": self.stream,
            "seq": self.seq,
            "event": self.type,
            "data": self.data,
        }


class OutboundEmail(models.Model):
    """One email to one address, written in the transaction of the change that
    causes it and sent after commit by a task (``core.outbox``).

    ``key`` is unique, so a change that is retried never queues its email
    twice. Rows with the same ``batch_key`` and address that are waiting
    together go out as one email, built by the ``compose`` callable.
    """

    key = models.CharField(max_length=200, unique=True)
    to = models.EmailField(max_length=254)
    language = models.CharField(max_length=10, blank=True)
    subject = models.TextField()
    text = models.TextField()
    html = models.TextField(blank=True)
    # Message-ID (fixed when queued, so a resend is recognisable), In-Reply-To,
    # References, List-Unsubscribe, List-Unsubscribe-Post, ...
    headers = models.JSONField(default=dict, blank=True)
    batch_key = models.CharField(max_length=200, blank=True)
    # Dotted path of a callable(emails) -> [EmailMessage | None], called when the
    # rows are sent (core.outbox.email_queue says more); blank: sent as stored.
    compose = models.CharField(max_length=200, blank=True)
    # The id of what the email is about, in the app that queued it (for a
    # notification email: the notification), for ``compose`` to find it.
    ref = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField()
    # When it left, or when ``compose`` said there was nothing to send (dropped).
    sent_at = models.DateTimeField(null=True, blank=True)
    dropped = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbound_email_due",
            ),
            models.Index(
                fields=["batch_key", "to"],
                condition=models.Q(sent_at__isnull=True),
                name="outbound_email_batch",
            ),
        ]

    def __str__(self):
        return f"{self.to}: {self.subject}"


class OutboxSweep(models.Model):
    """The worker's periodic chain, one row: the token of the task chain that
    runs the registered periodic work (``core.periodic``) and sends what is
    due every ``OUTBOX_SWEEP_SECONDS``, and when it runs next. A chain whose
    token is no longer here stops (``core.tasks.sweep_outbox``)."""

    token = models.CharField(max_length=32)
    next_run_at = models.DateTimeField()

    def __str__(self):
        return f"sweep {self.token} at {self.next_run_at}"
