"""What a service reads of the configuration (:class:`ConfigView`), and an in-memory one.

:class:`~switchboard.common.config.follower.ConfigFollower` is the real view (``control.config``);
:class:`InMemoryConfig` holds entities put by hand, for tests and tools, and calls listeners
the same way (synchronously, for every change, ``version`` increasing).
"""

import asyncio
from collections.abc import Callable
from typing import Protocol

from switchboard.common.config.entities import Entity
from switchboard.common.config.follower import ConfigChange

Listener = Callable[[ConfigChange], None]


class ConfigView(Protocol):
    """The live configuration as a service sees it."""

    @property
    def version(self) -> int:
        """Increases with every applied change."""

    @property
    def ready(self) -> bool:
        """True once everything present at start has been read."""

    async def wait_ready(self, timeout_s: float) -> None:
        """Until ready; TimeoutError after ``timeout_s``."""

    def get(self, key: str) -> Entity | None: ...

    def items(self, prefix: str = "") -> dict[str, Entity]: ...

    def listen(self, listener: Listener, *, prefix: str = "") -> Callable[[], None]:
        """Call ``listener`` for every later change of a key starting with ``prefix``."""

    async def check(self) -> bool:
        """A readiness check."""

    async def run(self) -> None:
        """Keep the view live until cancelled."""


class InMemoryConfig:
    """A :class:`ConfigView` whose entities are put and deleted by hand."""

    def __init__(self, entities: "list[Entity] | tuple[Entity, ...]" = (), *, ready: bool = True):
        self._view: dict[str, Entity] = {}
        self._listeners: list[tuple[str, Listener]] = []
        self._ready = asyncio.Event()
        if ready:
            self._ready.set()
        self._version = 0
        for entity in entities:
            self.put(entity)

    @property
    def version(self) -> int:
        return self._version

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @ready.setter
    def ready(self, value: bool) -> None:
        if value:
            self._ready.set()
        else:
            self._ready.clear()

    async def wait_ready(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            await self._ready.wait()

    def get(self, key: str) -> Entity | None:
        return self._view.get(key)

    def items(self, prefix: str = "") -> dict[str, Entity]:
        return {k: v for k, v in self._view.items() if k.startswith(prefix)}

    def listen(self, listener: Listener, *, prefix: str = "") -> Callable[[], None]:
        entry = (prefix, listener)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry)

    def put(self, entity: Entity) -> None:
        """Add or replace ``entity`` (keyed by its ``key``)."""
        self._change(entity.key, entity)

    def delete(self, key: str) -> None:
        self._change(key, None)

    def _change(self, key: str, new: Entity | None) -> None:
        old = self._view.pop(key, None)
        if new is not None:
            self._view[key] = new
        if old is None and new is None:
            return
        self._version += 1
        change = ConfigChange(key, old, new)
        for prefix, listener in list(self._listeners):
            if key.startswith(prefix):
                listener(change)

    async def check(self) -> bool:
        return self.ready

    async def run(self) -> None:
        await asyncio.Event().wait()
