"""A stored file as a response, in constant memory whatever the server."""

import asyncio

from django.http import StreamingHttpResponse

# One read and one ASGI message per MB (core.daphne_http's handler sends
# messages of up to 1 MB): smaller chunks cost daphne more CPU time per byte
# (bench/download.py). Memory per download: about two chunks.
CHUNK_SIZE = 1024 * 1024


class FileStreamResponse(StreamingHttpResponse):
    """The ``size`` bytes of the file ``open_file()`` opens (a synchronous
    callable, run in a worker thread), streamed through an *async* iterator:
    one chunk in memory at a time (Django reads a sync iterator completely
    under ASGI). The next chunk is read only when the server has taken the
    last one; under daphne that is when the client has read it
    (``core.daphne_http``'s back-pressure)."""

    def __init__(self, open_file, size: int, *args, **kwargs):
        self.open_file = open_file
        super().__init__(self._chunks(), *args, **kwargs)
        self["Content-Length"] = str(size)

    async def _chunks(self):
        file = await asyncio.to_thread(self.open_file)
        try:
            while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)
