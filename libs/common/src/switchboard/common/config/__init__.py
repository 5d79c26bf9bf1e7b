"""The control plane's configuration, as every service sees it: the entity contract
(:mod:`.entities`), their records on ``control.config`` (:mod:`.codec`) and the follower that
keeps a live view of them (:mod:`.follower`)."""

from switchboard.common.config.codec import (
    UndecodableConfig,
    decode,
    dump_entity,
    encode,
    encode_tombstone,
    load_entity,
)
from switchboard.common.config.entities import (
    CHANNEL_KINDS,
    PROVIDER_OF,
    PROVIDERS,
    SECRET_MIN_CHARS,
    Account,
    AccountBase,
    Channel,
    ChannelKind,
    ConfigEntity,
    ElevenLabsAccount,
    Entity,
    ModelPrice,
    PlanLimits,
    Provider,
    Secret,
    SigningKey,
    Tenant,
    TwilioAccount,
    TwilioApiKey,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.config.follower import (
    ConfigChange,
    ConfigFollower,
    ConfigUnavailable,
    FollowedPublicKeys,
)
from switchboard.common.config.memory import ConfigView, InMemoryConfig
from switchboard.common.config.settings import TOPIC_CONFIGS, ConfigSettings
from switchboard.common.config.snapshot import ConfigSnapshot

__all__ = [
    "CHANNEL_KINDS",
    "PROVIDERS",
    "PROVIDER_OF",
    "SECRET_MIN_CHARS",
    "TOPIC_CONFIGS",
    "Account",
    "AccountBase",
    "Channel",
    "ChannelKind",
    "ConfigChange",
    "ConfigEntity",
    "ConfigFollower",
    "ConfigSettings",
    "ConfigSnapshot",
    "ConfigUnavailable",
    "ConfigView",
    "ElevenLabsAccount",
    "Entity",
    "FollowedPublicKeys",
    "InMemoryConfig",
    "ModelPrice",
    "PlanLimits",
    "Provider",
    "Secret",
    "SigningKey",
    "Tenant",
    "TwilioAccount",
    "TwilioApiKey",
    "UndecodableConfig",
    "VapiAccount",
    "WhatsAppAccount",
    "decode",
    "dump_entity",
    "encode",
    "encode_tombstone",
    "load_entity",
]
