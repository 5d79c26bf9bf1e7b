"""Simulator settings (``SWITCHBOARD_SIM__*``) and the runtime configuration they seed.

Everything under :class:`SimConfig` can also be changed while the simulator runs, through
``PATCH /_sim/config`` (see ``control.py``); the environment only gives the starting values.
"""

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from switchboard.common.settings import CommonSettings

LOCAL_ACCOUNT = "AC00000000000000000000000000000000"
LOCAL_TOKEN = "local-dev-auth-token"  # noqa: S105 - the documented local-only account of scripts/local/common.env


class TwilioAccountConfig(BaseModel):
    """One simulated Twilio account and its limits."""

    auth_token: str
    """Checked by basic auth and used to sign this account's callbacks."""
    cps: float = 1.0
    """Calls per second the account may start; faster creations are queued."""
    queue_size: int = 100
    """Calls that may wait for a CPS slot; one more fails with 22005."""
    max_concurrent_calls: int = 1000
    """Live (started, not ended) calls; a creation above it fails with 10004."""
    max_concurrent_requests: int = 100
    """In-flight REST requests; one more gets HTTP 429 / 20429."""
    api_latency_ms: float = 0.0
    """Artificial processing time of each REST request (makes request concurrency visible)."""


class OutcomeMix(BaseModel):
    """Relative weights of how a created call ends, and how long its phases last."""

    completed: float = 0.7
    busy: float = 0.1
    no_answer: float = 0.1
    failed: float = 0.1
    ring_s: tuple[float, float] = (1.0, 8.0)
    """Ringing lasts a uniform draw from this range (simulated seconds)."""
    talk_mean_s: float = 45.0
    """Answered calls last an exponential draw with this mean (simulated seconds)."""
    talk_max_s: float = 600.0
    machine_share: float = 0.3
    """With machine detection on: share of answered calls that an answering machine takes."""
    amd_s: float = 2.5
    """Simulated seconds until the AMD result is known."""
    machine_ends: dict[str, float] = Field(default_factory=lambda: {"machine_end_beep": 1.0})
    """With ``DetectMessageEnd``: relative weights of the machine verdicts (``machine_end_beep``,
    ``machine_end_silence``, ``machine_end_other``)."""
    answered_by: dict[str, str] = Field(default_factory=dict)
    """Called number → the AMD verdict it always gives (``human``, ``machine_end_beep``, …);
    overrides ``machine_share`` for that number (tests pick outcomes per contact)."""
    voicemail_s: float = 5.0
    """Simulated seconds a call updated with TwiML (``<Say>``…``<Hangup/>``) plays before
    it ends."""


class Faults(BaseModel):
    """Delivery faults, all off by default; rates are probabilities per delivery or per call."""

    duplicate_rate: float = 0.0
    """Each callback is sent a second time."""
    out_of_order_rate: float = 0.0
    """A call's callbacks are held and sent shuffled (never in order) when the call ends."""
    delay_ms: float = 0.0
    """Extra real-time delay before every delivery."""
    drop_final_rate: float = 0.0
    """The terminal (``completed`` event) callback of a call is never sent."""
    retries: int = 0
    """Retries after a non-2xx answer or a connection error, on top of Twilio's own rules."""
    queue_s: float = 0.0
    """Every created call waits this many more real seconds queued (``status`` queued, no
    ``start_time``) before it starts, as behind a long CPS queue."""


class WhatsAppConfig(BaseModel):
    """The simulated Meta WhatsApp Cloud API."""

    app_secret: str = "local-app-secret"  # noqa: S105 - local default
    """Signs webhooks (``X-Hub-Signature-256``)."""
    webhook_url: str | None = None
    """Where inbound messages and statuses are posted."""
    waba_id: str = "100000000000001"
    phone_numbers: dict[str, str] = Field(
        default_factory=lambda: {"200000000000001": "local-wa-access-token"}
    )
    """phone_number_id → access token accepted as ``Authorization: Bearer``."""
    display_numbers: dict[str, str] = Field(default_factory=dict)
    """phone_number_id → display number (default: ``+1555`` + the id's last 7 digits)."""
    batch_max: int = 3
    """At most this many messages/statuses share one webhook POST."""
    enforce_window: bool = True
    """Free-form messages only within 24 h of the user's last message (inbound sent through
    the simulator opens the window); outside it only templates (Meta error 131047)."""
    window_error: Literal["response", "status"] = "response"
    """How a free-form send outside the window fails: Meta's error answer (HTTP 400, code
    131047), or accepted and then a ``failed`` status webhook carrying 131047."""
    approved_templates: dict[str, list[str]] | None = None
    """Template name → approved languages; a template not listed fails with 132001. None
    accepts every template."""


class VoiceAgentConfig(BaseModel):
    """A simulated voice-agent platform (Vapi or ElevenLabs)."""

    webhook_url: str | None = None
    secret: str = "local-voice-secret"  # noqa: S105 - local default
    """Vapi: the ``X-Vapi-Secret`` value; ElevenLabs: the HMAC webhook secret."""
    api_key: str = "local-voice-key"
    """Vapi: Bearer token of ``GET /call/{id}``; ElevenLabs: ``xi-api-key``."""
    auth_mode: Literal["secret_header", "bearer", "hmac"] = "secret_header"
    """Vapi: how server messages carry ``secret``: ``X-Vapi-Secret``, ``Authorization:
    Bearer``, or HMAC-SHA256 of ``{x-timestamp}.{body}`` in ``x-signature`` (hex)."""
    tool_secret: str = "local-tool-secret"  # noqa: S105 - local default
    """ElevenLabs: ``Authorization: Bearer`` of the initiation webhook and server tools."""
    assistant_timeout_s: float = 7.5
    """Vapi: ``assistant-request``'s answer limit (fixed by Vapi); ElevenLabs: the
    initiation webhook's (not documented; the call waits on it before it starts)."""
    server_timeout_s: float = 20.0
    """Vapi: other server messages (the server's ``timeoutSeconds``, 20 by default);
    ElevenLabs: a server tool's ``response_timeout_secs``."""


class OpenAIConfig(BaseModel):
    """The OpenAI-compatible endpoints."""

    api_key: str | None = None
    """Required Bearer token; ``None`` accepts any."""
    latency_ms: float = 0.0
    error_rate: float = 0.0
    """Share of requests answered with an error (429 or 500, alternating by draw)."""
    embedding_dim: int = 256
    reasoning_tokens: int = 64
    """Hidden tokens a reasoning model spends before answering (out of max_completion_tokens)."""
    chat_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"


class SimConfig(BaseModel):
    """What the simulator plays and how; the starting values come from the environment."""

    seed: int = 0
    """Seeds every random draw (outcomes, durations, faults) for repeatable runs."""
    time_scale: float = 1.0
    """Multiplies simulated durations: 0.001 turns call seconds into milliseconds."""
    twilio_accounts: dict[str, TwilioAccountConfig] = Field(
        default_factory=lambda: {LOCAL_ACCOUNT: TwilioAccountConfig(auth_token=LOCAL_TOKEN)}
    )
    outcomes: OutcomeMix = Field(default_factory=OutcomeMix)
    faults: Faults = Field(default_factory=Faults)
    whatsapp: WhatsAppConfig = Field(default_factory=WhatsAppConfig)
    vapi: VoiceAgentConfig = Field(default_factory=VoiceAgentConfig)
    elevenlabs: VoiceAgentConfig = Field(default_factory=VoiceAgentConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    webhook_timeout_s: float = 15.0
    """Twilio's limit per callback, connect included."""
    log_webhooks: bool = True
    """Keep each delivered webhook, body included, in ``/_sim/log``; off for long high-rate
    runs (``/_sim/deliveries`` keeps a small record of every webhook either way)."""


class SimSection(SimConfig):
    """Process-level settings beside the runtime configuration."""

    host: str = "127.0.0.1"
    port: int = 8010
    max_connections: int = 32
    """Pooled outbound connections for webhooks, and webhooks in flight at once (the rest
    wait their turn): httpcore's pool costs CPU that grows with the square of its size."""


class SimSettings(CommonSettings):
    """Everything the simulator reads."""

    service_name: str = "provider-sim"
    sim: SimSection = Field(default_factory=SimSection)


@lru_cache(maxsize=1)
def get_settings() -> SimSettings:
    """Settings from the environment, read once per process."""
    return SimSettings()
