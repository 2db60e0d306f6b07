"""Named hooks: a lower layer says what has just happened, a higher layer
that registered for it acts on it, without the lower one importing the higher.

A higher app registers in ``AppConfig.ready()``::

    hooks.register("discussions.post_created", notify_post)

and a service calls, inside its transaction::

    hooks.call("discussions.post_created", post=post, mentioned=people)

Every function registered for the name runs at once, in the order registered,
with the keyword arguments given; what it writes commits or rolls back with
the caller's transaction. An exception propagates to the caller: a hook is
part of the write, not a best-effort afterthought.
"""

from collections.abc import Callable

_registry: dict[str, list[Callable[..., None]]] = {}


def register(name: str, function: Callable[..., None]) -> None:
    """Runs ``function(**kwargs)`` on every ``call(name, **kwargs)``; once,
    however often it is registered."""
    functions = _registry.setdefault(name, [])
    if function not in functions:
        functions.append(function)


def unregister(name: str, function: Callable[..., None]) -> None:
    functions = _registry.get(name, [])
    if function in functions:
        functions.remove(function)


def call(name: str, **kwargs) -> None:
    for function in list(_registry.get(name, ())):
        function(**kwargs)
