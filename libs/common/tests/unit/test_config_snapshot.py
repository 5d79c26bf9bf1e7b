"""ConfigSnapshot: the follower's view saved beside the service and restored at the next start
(secrets stay sealed in the file); what was deleted while the process was away is dropped once
the follower has caught up."""

import asyncio
import base64
import contextlib

from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ConfigChange,
    ConfigFollower,
    ConfigSettings,
    ConfigSnapshot,
    InMemoryConfig,
    Tenant,
    TwilioAccount,
    encode,
)
from switchboard.common.crypto import Cipher
from switchboard.common.settings import KafkaSettings

KEY = base64.b64encode(b"s" * 32).decode()
SETTINGS = ConfigSettings(keys={"d1": KEY}, current_key_id="d1")
SID = "AC" + "9" * 32
TOKEN = "snapshot-auth-token-1"


def follower() -> ConfigFollower:
    return ConfigFollower(KafkaSettings(), SETTINGS, prefixes=("account/", "channel/"))


def put(f: ConfigFollower, entity) -> None:
    key, value, _ = encode(entity, Cipher({"d1": KEY}, "d1"))
    f.apply(key.decode(), value)


ACCOUNT = TwilioAccount(id=SID, tenants=("t",), auth_tokens=(SecretStr(TOKEN),))
CHANNEL = Channel(kind="phone", id="+12125550100", tenant="t", account_id=SID)


def test_a_saved_view_is_restored_with_its_secrets_sealed_in_the_file(tmp_path) -> None:
    first = follower()
    put(first, ACCOUNT)
    put(first, CHANNEL)
    put(first, Tenant(id="t", name="T"))  # not followed: not saved
    path = tmp_path / "snap.json"
    ConfigSnapshot(path, SETTINGS).save(first)
    assert TOKEN.encode() not in path.read_bytes()

    second = follower()
    snapshot = ConfigSnapshot(path, SETTINGS)
    assert snapshot.restore(second) == 2 and snapshot.restored
    assert second.get(ACCOUNT.key) == ACCOUNT and second.get(CHANNEL.key) == CHANNEL
    restored = second.get(ACCOUNT.key)
    assert isinstance(restored, TwilioAccount)
    assert restored.auth_tokens[0].get_secret_value() == TOKEN
    assert snapshot.usable  # usable_after_s 0: at once
    waiting = ConfigSnapshot(path, SETTINGS, usable_after_s=60)
    waiting.restore(follower())
    assert waiting.restored and not waiting.usable  # the live view is waited for first


def test_no_file_or_an_unreadable_one_restores_nothing(tmp_path) -> None:
    snapshot = ConfigSnapshot(tmp_path / "absent.json", SETTINGS)
    assert snapshot.restore(follower()) == 0 and not snapshot.restored
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    snapshot = ConfigSnapshot(broken, SETTINGS)
    assert snapshot.restore(follower()) == 0 and not snapshot.restored


async def test_what_only_the_file_had_is_dropped_once_caught_up_then_changes_are_saved(
    tmp_path,
) -> None:
    path = tmp_path / "snap.json"
    old = follower()
    put(old, ACCOUNT)
    put(old, CHANNEL)
    ConfigSnapshot(path, SETTINGS).save(old)

    live = follower()
    snapshot = ConfigSnapshot(path, SETTINGS, interval_s=0.01)
    snapshot.restore(live)
    changes: list[ConfigChange] = []
    live.listen(changes.append)
    put(live, ACCOUNT)  # still on control.config; the channel's tombstone was compacted away
    task = asyncio.create_task(snapshot.run(live))
    try:
        await asyncio.sleep(0.05)
        assert live.get(CHANNEL.key) == CHANNEL  # not caught up yet: kept
        live._ready.set()  # the follower reached the start's end offsets
        for _ in range(200):
            if live.get(CHANNEL.key) is None:
                break
            await asyncio.sleep(0.01)
        assert live.get(CHANNEL.key) is None and live.get(ACCOUNT.key) == ACCOUNT
        assert changes[-1] == ConfigChange(CHANNEL.key, CHANNEL, None)
        for _ in range(200):
            again = follower()
            if ConfigSnapshot(path, SETTINGS).restore(again) == 1:
                break
            await asyncio.sleep(0.01)
        assert again.items() == {ACCOUNT.key: ACCOUNT}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_in_memory_config_notifies_like_the_follower() -> None:
    config = InMemoryConfig([ACCOUNT])
    seen: list[ConfigChange] = []
    stop = config.listen(seen.append, prefix="channel/")
    config.put(CHANNEL)
    config.delete(CHANNEL.key)
    config.delete(CHANNEL.key)  # nothing there: no change
    stop()
    config.put(CHANNEL)
    assert seen == [
        ConfigChange(CHANNEL.key, None, CHANNEL),
        ConfigChange(CHANNEL.key, CHANNEL, None),
    ]
    assert config.version == 4 and config.items("account/") == {ACCOUNT.key: ACCOUNT}
