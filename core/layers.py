"""The channel layer with Redis: channels_redis' ``RedisPubSubChannelLayer``,
whose receiver waits for Redis instead of asking it ten times a second.

channels_redis 4.3 reads the process's subscription connection in a loop with
a 0.1 s timeout (``get_message(timeout=0.1)``): ten wake-ups a second in every
server process, also when nothing is sent. With a room of 100 sockets that was
4 of the 6.7 ms of CPU a second our server spent between messages, about a
sixth of what a chat message cost in all at 5 messages a second
(bench/chat_fanout.py). Here the receiver waits for the next message
(``timeout=None``). Subscribing and unsubscribing meanwhile only write to the
connection, whose answers the waiting read takes in (and drops, as before);
a lost connection ends the wait with an error, after which channels_redis
retries as before and redis-py subscribes again on reconnecting.
"""

import asyncio
import logging

from channels_redis import pubsub

logger = logging.getLogger(__name__)


class _WaitingShardConnection(pubsub.RedisSingleShardConnection):
    # channels_redis' _do_receiving (4.3.0), with the one change above.
    waits = 0  # reads that found nothing (tests count them)

    async def _do_receiving(self):
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=None
                    )
                    if message is None:
                        self.waits += 1
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except BaseException:
                logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    def _get_layer(self):
        layer = super()._get_layer()
        for shard in layer._shards:
            if type(shard) is pubsub.RedisSingleShardConnection:
                shard.__class__ = _WaitingShardConnection
        return layer
