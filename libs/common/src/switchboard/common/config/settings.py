"""Settings of the configuration distribution (``SWITCHBOARD_CONFIG__*``), shared by the
control plane (which seals with the current key) and every follower (which opens)."""

from pydantic import BaseModel, Field, SecretStr

from switchboard.common.crypto import Cipher, KeyRingError
from switchboard.common.topics import CONTROL_CONFIG

SETTING = "SWITCHBOARD_CONFIG"
TOPIC_CONFIGS = {"cleanup.policy": "compact", "segment.ms": str(24 * 3600 * 1000)}
"""``control.config`` keeps the last value of each key (tombstones until
``delete.retention.ms``, a day by default, so a follower that was away sees deletions).
Segments roll daily so that superseded values are compacted away (the open segment never is)."""


class ConfigSettings(BaseModel):
    """How the control plane's configuration travels on ``control.config``."""

    topic: str = CONTROL_CONFIG
    """The compacted topic (created with ``cleanup.policy=compact`` if missing)."""
    partitions: int = Field(default=1, ge=1)
    """Partitions when the topic is created (one keeps every change in one order)."""
    keys: dict[str, SecretStr] = Field(default_factory=dict)
    """Distribution key ring ``{key_id: base64 of 32 random bytes}``: secrets on the topic are
    sealed with it. Not the at-rest keys. Every service that needs secrets holds it."""
    current_key_id: str = ""
    """Control plane only: the key it seals with (followers open with any key of the ring)."""
    poll_timeout_ms: int = 500
    """How long one fetch waits for new records."""

    def sealing_cipher(self) -> Cipher:
        """The ring with its current key (the control plane); KeyRingError names the setting."""
        return Cipher(self.keys, self.current_key_id, setting=SETTING)

    def opening_cipher(self) -> Cipher | None:
        """The ring for reading (followers); ``None`` when no key is configured (entities
        with secrets then cannot be read and are reported as undecodable)."""
        if not self.keys:
            return None
        current = self.current_key_id or next(iter(self.keys))
        if current not in self.keys:
            raise KeyRingError(f"{SETTING}__CURRENT_KEY_ID is not a key id of {SETTING}__KEYS")
        return Cipher(self.keys, current, setting=SETTING)
