"""RFC 6238 codes for tests, written out here so that tests do not trust the
implementation they check."""

import base64
import hashlib
import hmac
import struct
import time


def totp(secret: str, *, offset: int = 0, period: int = 30, fresh: bool = False) -> str:
    """The code for ``secret`` now (``offset`` periods away). ``fresh`` waits
    for the next period when this one ends within 5 seconds, so that a code
    typed into a browser is still valid when the server reads it."""
    if fresh and period - time.time() % period < 5:
        time.sleep(period - time.time() % period + 0.1)
    counter = int(time.time()) // period + offset
    digest = hmac.new(
        base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1
    ).digest()
    start = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[start : start + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
