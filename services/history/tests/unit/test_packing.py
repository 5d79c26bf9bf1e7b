"""The packed arguments of the store's hot statements, both sides (no I/O; the real server
splits them back in integration/test_postgres_store.py)."""

from datetime import UTC, datetime

from switchboard.history.adapters.packing import NULL_MARK, UNIT, pack, packed_unnest

TYPES = (("a", "text"), ("b", "timestamptz"), ("c", "integer"))
AT = datetime(2026, 11, 1, 12, 0, 0, 123_457, tzinfo=UTC)


def test_text_is_joined_and_nulls_marked() -> None:
    packed = pack([("x", None, ""), (AT, None, AT), (1, 2, None)], TYPES)
    assert packed == [
        f"x{UNIT}{NULL_MARK}{UNIT}",
        [AT.timestamp(), None, AT.timestamp()],
        (1, 2, None),
    ]


def test_all_null_columns_stay_empty() -> None:
    assert pack([(), (), ()], TYPES) == ["", (), ()]


def test_values_that_would_not_split_back_are_refused() -> None:
    for text in (("x", f"y{UNIT}z"), ("x", f"y{NULL_MARK}"), (NULL_MARK,), ("",)):
        assert pack([text, (), ()], TYPES) is None, text


def test_timestamps_keep_every_microsecond() -> None:
    for at in (AT, datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)):
        (seconds,) = pack([(), (at,), ()], TYPES)[1]  # type: ignore[index]
        assert datetime.fromtimestamp(seconds, UTC) == at


def test_the_sql_splits_on_the_separators_the_encoder_joins_with() -> None:
    sql = packed_unnest(TYPES)
    assert f"string_to_array($1, E'\\x{ord(UNIT):02x}', E'\\x{ord(NULL_MARK):02x}')" in sql
    assert "to_timestamp(b)" in sql and "$2::float8[]" in sql and "$3::integer[]" in sql
