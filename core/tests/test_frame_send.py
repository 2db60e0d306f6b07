"""Event frames skip channels' session wrappers of ``send`` (a pass-through for
websocket.send that costs CPU on every delivered frame), and only those."""

from channels.sessions import InstanceSessionWrapper

from core.consumers import _frame_send


async def _real_send(message):
    return message


def _wrapped(send):
    return InstanceSessionWrapper({"type": "websocket", "cookies": {}}, send).send


def test_frame_send_unwraps_session_wrappers():
    assert _frame_send(_wrapped(_real_send)) is _real_send
    assert _frame_send(_wrapped(_wrapped(_real_send))) is _real_send


def test_frame_send_leaves_other_sends_alone():
    assert _frame_send(_real_send) is _real_send

    class Other:
        async def send(self, message):
            return message

    other = Other().send
    assert _frame_send(other) is other


async def test_unwrapped_send_passes_the_same_message():
    message = {"type": "websocket.send", "text": "x"}
    assert await _frame_send(_wrapped(_real_send))(message) is message
