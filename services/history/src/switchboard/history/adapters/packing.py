"""The packed arguments of the store's hot statements, both sides: :func:`pack` encodes the
columns in Python, :func:`packed_unnest` writes the SQL that decodes them, each separator
defined once (:data:`UNIT`, :data:`NULL_MARK`).

asyncpg encodes a text or ``timestamptz`` array element by element (~0.3 and ~0.7 µs each); a
string is one copy, a float under half the time. So a text column travels as one string (its
values joined by ``UNIT``, ``NULL_MARK`` for a NULL) split by ``string_to_array``, and a
timestamp column as Unix seconds (``float8``). Exact: a float's 53 bits keep every
microsecond until 2106, and ``to_timestamp`` rounds to the microsecond. A text value that
holds a separator cannot travel so: :func:`pack` says ``None`` and the caller sends the
arrays (a test compares both ways on the real server).
"""

from collections.abc import Iterable, Sequence
from typing import Final

UNIT: Final = "\x1f"
"""Between the values of a packed text column."""
NULL_MARK: Final = "\x1e"
"""A NULL among them."""


def _sql_char(char: str) -> str:
    """``char`` as a PostgreSQL escape-string literal (``E'\\x1f'``)."""
    return f"E'\\x{ord(char):02x}'"


_SPLIT_ARGS: Final = f"{_sql_char(UNIT)}, {_sql_char(NULL_MARK)}"


def packed_unnest(columns: Sequence[tuple[str, str]]) -> str:
    """``SELECT`` of ``columns`` (name, SQL type) from ``unnest`` of the arguments
    :func:`pack` makes, ``$1`` onwards: text split back, timestamps from Unix seconds."""
    arrays, values = [], []
    for i, (name, sql_type) in enumerate(columns, 1):
        if sql_type == "text":
            arrays.append(f"string_to_array(${i}, {_SPLIT_ARGS})")
        elif sql_type == "timestamptz":
            arrays.append(f"${i}::float8[]")
        else:
            arrays.append(f"${i}::{sql_type}[]")
        values.append(f"to_timestamp({name})" if sql_type == "timestamptz" else name)
    names = ", ".join(c for c, _ in columns)
    return f"SELECT {', '.join(values)} FROM unnest({', '.join(arrays)}) AS u({names})"  # noqa: S608


def transpose(rows: Iterable[Sequence[object]], width: int) -> list[Sequence[object]]:
    """Rows → one sequence per column (the arrays ``unnest`` takes). A column of NULLs only
    is sent empty: ``unnest`` pads shorter arrays with NULLs (no NULLs to encode and parse)."""
    columns: list[Sequence[object]] = list(zip(*rows, strict=True))
    if not columns:
        return [() for _ in range(width)]
    return [() if c[0] is None and all(v is None for v in c) else c for c in columns]


def pack(
    columns: Sequence[Sequence[object]], types: Sequence[tuple[str, str]]
) -> list[object] | None:
    """``columns`` (as :func:`transpose` gives them) as :func:`packed_unnest` takes them;
    ``None`` when a text value holds ``UNIT`` or ``NULL_MARK`` (then send the arrays)."""
    packed: list[object] = []
    for column, (_, sql_type) in zip(columns, types, strict=True):
        if not column:  # all NULL (see transpose): unnest pads the empty array
            packed.append("" if sql_type == "text" else column)
        elif sql_type == "text":
            nulls = column.count(None)
            values = [NULL_MARK if v is None else v for v in column] if nulls else column
            text = UNIT.join(values)  # type: ignore[arg-type]  # text columns hold str | None
            # one value per separator and no mark but the NULLs' ("" alone would split to none)
            if text.count(UNIT) != len(column) - 1 or text.count(NULL_MARK) != nulls or not text:
                return None
            packed.append(text)
        elif sql_type == "timestamptz":
            stamps = [None if t is None else t.timestamp() for t in column]  # type: ignore[attr-defined]
            packed.append(stamps)
        else:
            packed.append(column)
    return packed
