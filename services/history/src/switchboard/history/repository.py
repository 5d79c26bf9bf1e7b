"""What the handlers, the reconciler and the API need from storage (one real adapter, one
fake each)."""

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from switchboard.common.events import CallReport
from switchboard.history.messages import MessageRow
from switchboard.history.models import (
    CallFact,
    ConversationSummary,
    OpenCall,
    ProviderCallState,
)
from switchboard.history.recordings import RecordingRow
from switchboard.history.schemas import (
    CallDetail,
    CallFilters,
    CallPage,
    ConversationPage,
    MessagePage,
    RecordingOut,
    Stats,
)


class HistoryStore(Protocol):
    """Stores events idempotently: a known event id changes nothing."""

    async def record_call_facts(self, facts: Sequence[CallFact]) -> int:
        """Store ``facts`` in one transaction; return how many were new."""
        ...

    async def record_messages(self, rows: Sequence[MessageRow]) -> int:
        """Merge ``rows`` in one transaction; return how many messages were touched."""
        ...

    async def record_recordings(self, rows: Sequence[RecordingRow]) -> None:
        """Upsert recordings: a final status outranks ``in-progress``; a deletion stays."""
        ...

    async def is_ready(self) -> bool: ...


@runtime_checkable  # Litestar checks injected dependencies against the annotation
class TenantHistory(Protocol):
    """The read side, already bound to one tenant: nothing of another tenant is reachable."""

    async def list_calls(
        self, filters: CallFilters, limit: int, cursor: str | None
    ) -> CallPage: ...

    async def get_call(self, call_id: str) -> CallDetail | None: ...

    def export_calls(self, filters: CallFilters) -> AsyncIterator[Sequence[object]]: ...

    async def list_conversations(
        self, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> ConversationPage: ...

    async def list_messages(
        self, conversation_id: str, limit: int, cursor: str | None
    ) -> MessagePage | None: ...

    async def stats(self, filters: CallFilters) -> Stats: ...


class HistoryReader(Protocol):
    """Gives the read side of one tenant; the only way the API reaches the data."""

    def for_tenant(self, tenant: str) -> TenantHistory: ...

    async def is_ready(self) -> bool: ...


class OpenCalls(Protocol):
    async def open_calls(
        self,
        silent_since: datetime,
        seen_after: datetime,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> Sequence[OpenCall]:
        """Calls first seen after ``seen_after``, without news since ``silent_since``, in
        ``(last_event_at, call_id)`` order, after ``after`` when given."""
        ...

    async def reported_conversations(
        self, agent_call_ids: Sequence[str], seen_after: datetime
    ) -> set[str]:
        """Those of ``agent_call_ids`` (voice-agent call/conversation ids) whose report is
        stored on a call first seen after ``seen_after``."""
        ...


class ProviderLookup(Protocol):
    """What the reconciler asks the providers (their REST APIs)."""

    async def fetch(
        self, provider: str, call_id: str, account_id: str | None, tenant: str | None = None
    ) -> ProviderCallState | None:
        """The call's state now (looked up with the credentials of its account, or of its
        tenant's); ``None`` when it cannot be looked up."""
        ...

    def elevenlabs_conversations(
        self, api_key: str, started_after: datetime, started_before: datetime
    ) -> AsyncGenerator[list[ConversationSummary], None]:
        """Pages of the workspace's conversations started in the window."""
        ...

    async def elevenlabs_report(
        self, api_key: str, conversation_id: str, now: datetime
    ) -> CallReport | None:
        """The report the post-call webhook would have carried; ``None`` if there is none."""
        ...


class TenantRecordings(Protocol):
    """Recordings of one tenant (the API's delete route); another tenant's are not found."""

    async def recording(self, call_id: str, recording_id: str) -> RecordingOut | None: ...

    async def mark_deleted(self, recording_id: str, at: datetime) -> None: ...


@runtime_checkable  # Litestar checks injected dependencies against the annotation
class RecordingAccess(Protocol):
    def for_tenant(self, tenant: str) -> TenantRecordings: ...


@runtime_checkable
class RecordingDeleter(Protocol):
    """Deletes a recording at its provider."""

    async def delete_recording(
        self, provider: str, account_id: str | None, recording_id: str
    ) -> bool:
        """``True`` once the provider has no such recording (deleted now or before);
        ``False`` when it cannot be asked (no credentials); ``ProviderUnavailableError``
        when it failed."""
        ...
