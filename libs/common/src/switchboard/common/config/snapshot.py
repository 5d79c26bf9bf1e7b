"""A local copy of a follower's view, so a process that starts while Kafka is away still has
the configuration it last saw (the ingress verifies webhooks with it and spools them).

    snapshot = ConfigSnapshot(directory / "config-snapshot.json", settings.config)
    snapshot.restore(follower)              # before follower.run: the view as last saved
    supervisor.add("config-snapshot", lambda: snapshot.run(follower))

The file holds the records as they are on ``control.config`` (secrets sealed with the
distribution key ring, bound to their key), written atomically (temporary file, fsync,
rename) whenever the view changed, and only from a view that is caught up. Once the follower
has caught up after a restore, entities that came only from the file (deleted while this
process was away, their tombstones compacted since) are removed.
"""

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import structlog

from switchboard.common.config.codec import encode
from switchboard.common.config.entities import Entity
from switchboard.common.config.follower import ConfigChange, ConfigFollower
from switchboard.common.config.settings import ConfigSettings

log = structlog.get_logger(__name__)
FORMAT: Final = 1


class ConfigSnapshot:
    """Save a follower's view to ``path``; restore it at the next start."""

    def __init__(
        self,
        path: Path,
        settings: ConfigSettings,
        *,
        interval_s: float = 1.0,
        usable_after_s: float = 0.0,
    ) -> None:
        """``usable_after_s``: how long after the restore :attr:`usable` waits for the live
        view instead (a restored view may miss a rotation made while the process was away)."""
        self.path = path
        self._cipher = settings.opening_cipher()
        self._interval_s = interval_s
        self._usable_after_s = usable_after_s
        self.restored = False
        """True when a saved view was applied at start."""
        self._restored_at = 0.0
        self._only_from_file: set[str] = set()

    @property
    def usable(self) -> bool:
        """A view was restored and ``usable_after_s`` has passed since (use it when the
        follower has not caught up by then: Kafka is away)."""
        return self.restored and time.monotonic() - self._restored_at >= self._usable_after_s

    def restore(self, follower: ConfigFollower) -> int:
        """Apply the saved records to ``follower`` (call before it runs); how many."""
        try:
            doc = json.loads(self.path.read_bytes())
            records: dict[str, str] = doc["records"] if doc.get("format") == FORMAT else {}
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "configuration snapshot unreadable; ignored", path=str(self.path), error=repr(exc)
            )
            return 0
        for key, value in records.items():
            follower.apply(key, value.encode())
        self._only_from_file = {k for k in records if follower.get(k) is not None}
        follower.listen(self._seen)
        self.restored = True
        self._restored_at = time.monotonic()
        log.info("configuration restored from snapshot", path=str(self.path), entities=len(records))
        return len(records)

    def _seen(self, change: ConfigChange) -> None:
        self._only_from_file.discard(change.key)

    def _prune(self, follower: ConfigFollower) -> None:
        stale, self._only_from_file = self._only_from_file, set()
        for key in stale:
            follower.apply(key, None)
        if stale:
            log.info("snapshot entities gone from control.config removed", keys=sorted(stale))

    def save(self, follower: ConfigFollower) -> None:
        """Write the follower's current view (atomically)."""
        self._write(follower.items())

    def _write(self, entities: Mapping[str, Entity]) -> None:
        records = {}
        for key, entity in entities.items():
            # Without a ring no entity with secrets is in the view: plain JSON is the record.
            if self._cipher is not None:
                records[key] = encode(entity, self._cipher)[1].decode()
            else:
                records[key] = entity.model_dump_json()
        data = json.dumps({"format": FORMAT, "records": records}, separators=(",", ":")).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

    async def run(self, follower: ConfigFollower) -> None:
        """Until cancelled: once the follower is caught up, drop what only the file had, then
        save after every change."""
        saved = -1
        while True:
            if follower.ready:
                if self._only_from_file:
                    self._prune(follower)
                if follower.version != saved:
                    version = follower.version
                    # a copy taken here: the view changes in this loop while the thread writes
                    await asyncio.to_thread(self._write, follower.items())
                    saved = version
            await asyncio.sleep(self._interval_s)

    def discard(self) -> None:
        """Remove the file (tests, tools)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
