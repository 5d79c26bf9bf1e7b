"""The packed arguments of the store's hot statements (no I/O)."""

from datetime import UTC, datetime

from switchboard.history.adapters.postgres import _packed
from switchboard.history.adapters.sql import NULL_MARK, UNIT

TYPES = (("a", "text"), ("b", "timestamptz"), ("c", "integer"))
AT = datetime(2026, 11, 1, 12, 0, 0, 123_457, tzinfo=UTC)


def test_text_is_joined_and_nulls_marked() -> None:
    packed = _packed([("x", None, ""), (AT, None, AT), (1, 2, None)], TYPES)
    assert packed == [
        f"x{UNIT}{NULL_MARK}{UNIT}",
        [AT.timestamp(), None, AT.timestamp()],
        (1, 2, None),
    ]


def test_all_null_columns_stay_empty() -> None:
    assert _packed([(), (), ()], TYPES) == ["", (), ()]


def test_values_that_would_not_split_back_are_refused() -> None:
    for text in (("x", f"y{UNIT}z"), ("x", f"y{NULL_MARK}"), (NULL_MARK,), ("",)):
        assert _packed([text, (), ()], TYPES) is None, text


def test_timestamps_keep_every_microsecond() -> None:
    for at in (AT, datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)):
        (seconds,) = _packed([(), (at,), ()], TYPES)[1]  # type: ignore[index]
        assert datetime.fromtimestamp(seconds, UTC) == at
