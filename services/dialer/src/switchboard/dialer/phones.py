"""Phone numbers → E.164 and their candidate time zones (``phonenumbers``). CPU-bound and
pure, so uploads run :func:`normalize_rows` in worker processes."""

from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as pn_timezone

from switchboard.dialer.models import zone_key

UNKNOWN_ZONE = "Etc/Unknown"
_GEOGRAPHIC = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)

# Reasons a row is rejected (counted and listed in the upload's answer).
MISSING_PHONE = "missing_phone"
INVALID_NUMBER = "invalid_number"
UNKNOWN_TIME_ZONE = "unknown_time_zone"
INVALID_TIME_ZONE = "invalid_time_zone"
DUPLICATE = "duplicate"
DO_NOT_CALL = "do_not_call"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def normalize(raw: str, default_region: str | None = None) -> str | None:
    """E.164 of a valid number, else ``None``."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_contact(
    raw: str, tz: str | None, default_region: str | None
) -> tuple[str, str] | str:
    """``(e164, zone key)`` or the reason for rejecting the row."""
    raw = raw.strip()
    if not raw:
        return MISSING_PHONE
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return INVALID_NUMBER
    # number_type is the costly part of both is_valid_number and time_zones_for_number, so it
    # runs once: is_valid_number(n) is exactly number_type(n) != UNKNOWN (same region lookup).
    kind = phonenumbers.number_type(parsed)
    if kind == PhoneNumberType.UNKNOWN:
        return INVALID_NUMBER
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    tz = (tz or "").strip()
    if tz:
        if tz not in _zones():
            return INVALID_TIME_ZONE
        return e164, tz
    if kind in _GEOGRAPHIC:
        zones = pn_timezone.time_zones_for_geographical_number(parsed)
    else:
        zones = pn_timezone.time_zones_for_number(parsed)
    zones = tuple(z for z in zones if z != UNKNOWN_ZONE and z in _zones())
    if not zones:
        return UNKNOWN_TIME_ZONE
    return e164, zone_key(zones)


def normalize_rows(
    rows: Sequence[tuple[int, str, str | None, str | None]], default_region: str | None
) -> list[tuple[int, str, str, str | None] | tuple[int, str, str]]:
    """For each ``(line, phone, tz, vars json)``: ``(line, e164, zone key, vars)`` when
    accepted, ``(line, reason, raw phone)`` when rejected."""
    out: list[tuple[int, str, str, str | None] | tuple[int, str, str]] = []
    for line, phone, tz, variables in rows:
        result = normalize_contact(phone, tz, default_region)
        if isinstance(result, str):
            out.append((line, result, phone))
        else:
            out.append((line, result[0], result[1], variables))
    return out
