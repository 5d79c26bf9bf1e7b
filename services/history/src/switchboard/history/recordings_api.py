"""``DELETE /v1/calls/{call_id}/recordings/{recording_id}``: deletes the recording at its
provider, then marks it deleted. Another tenant's recording is not found (404); a deleted one
answers 204 again without asking the provider."""

from datetime import UTC, datetime

from litestar import delete
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotFoundException, ServiceUnavailableException
from litestar.params import FromPath
from litestar.status_codes import HTTP_409_CONFLICT

from switchboard.common.auth import Scope, requires
from switchboard.history.errors import ProviderUnavailableError
from switchboard.history.repository import RecordingAccess, RecordingDeleter


@delete(
    "/v1/calls/{call_id:str}/recordings/{recording_id:str}",
    tags=["calls"],
    summary="Delete a call's recording at the provider (then marked deleted)",
    guards=[requires(Scope.HISTORY_WRITE)],
)
async def delete_recording(
    tenant: NamedDependency[str],
    recordings: NamedDependency[RecordingAccess],
    recording_deleter: NamedDependency[RecordingDeleter],
    call_id: FromPath[str],
    recording_id: FromPath[str],
) -> None:
    mine = recordings.for_tenant(tenant)
    recording = await mine.recording(call_id, recording_id)
    if recording is None:
        raise NotFoundException(f"no recording {recording_id} of call {call_id}")
    if recording.deleted_at is not None:
        return
    try:
        deleted = await recording_deleter.delete_recording(
            recording.provider, recording.account_id, recording.recording_id
        )
    except ProviderUnavailableError as exc:
        raise ServiceUnavailableException(
            f"the provider did not delete the recording: {exc}", headers={"retry-after": "5"}
        ) from exc
    if not deleted:
        raise ClientException(
            f"no {recording.provider} credentials for account {recording.account_id}: "
            "the recording cannot be deleted here",
            status_code=HTTP_409_CONFLICT,
        )
    await mine.mark_deleted(recording.recording_id, datetime.now(UTC))
