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
