"""Topic and consumer-group names: the one place they are spelled."""

from typing import Final

CALL_EVENTS: Final = "call.events"
MESSAGE_INBOUND: Final = "message.inbound"
MESSAGE_STATUS: Final = "message.status"
MESSAGE_OUTBOUND: Final = "message.outbound"
DIAL_COMMANDS: Final = "dial.commands"
CONTROL_CONFIG: Final = "control.config"
"""Compacted: the control plane's entities by key (tenants, accounts, channels, signing keys),
read from the beginning by every service (``switchboard.common.config.ConfigFollower``). Not in
``ALL_TOPICS``: it is created with ``cleanup.policy=compact`` by whoever starts first."""
UNOWNED_EVENTS: Final = "unowned.events"
"""Verified events on a channel no tenant owns (a number, phone_number_id, assistant or agent
not bound in the control plane): kept here for the operator, with no tenant, instead of being
attributed to a guess. Headers ``x-switchboard-topic`` (where the event would have gone) and
``x-switchboard-unowned`` (why). No service consumes it (so it has no dead-letter topic)."""

ALL_TOPICS: Final = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND, DIAL_COMMANDS)


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


class Groups:
    """Consumer group ids (KEDA scales on these groups' lag)."""

    HISTORY: Final = "history"
    DIALER: Final = "dialer"
    AI: Final = "ai"
