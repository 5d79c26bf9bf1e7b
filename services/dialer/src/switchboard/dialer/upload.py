"""Streamed CSV upload: decode → parse → validate in worker processes → COPY to staging.

Parsing runs chunk by chunk while earlier chunks are validated (``phonenumbers`` is CPU-bound,
~25 µs a number) and later ones are copied, so 300k rows take a few seconds and little memory.
"""

import asyncio
import codecs
import csv
import json
from collections import Counter, deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from switchboard.dialer.phones import DUPLICATE, normalize_rows
from switchboard.dialer.repository import ContactLoader

CHUNK_ROWS: Final = 10_000
PHONE_COLUMNS: Final = ("phone", "phone_number", "number", "to", "msisdn")
TZ_COLUMNS: Final = ("time_zone", "timezone", "tz")

Row = tuple[int, str, str | None, str | None]


class BadUpload(ValueError):
    """The CSV cannot be read (no header, no phone column, not UTF-8)."""


@dataclass
class UploadResult:
    accepted: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    rejections: list[tuple[int, str, str]] = field(default_factory=list)


class _Parser:
    """Rows out of text lines; the first row is the header."""

    def __init__(self) -> None:
        self.phone: int | None = None
        self.tz: int | None = None
        self.extra: list[tuple[int, str]] = []
        self.line = 0

    def header(self, names: list[str]) -> None:
        lowered = [n.strip().lower() for n in names]
        self.phone = next((lowered.index(c) for c in PHONE_COLUMNS if c in lowered), None)
        if self.phone is None:
            raise BadUpload(f"no phone column (one of {', '.join(PHONE_COLUMNS)})")
        self.tz = next((lowered.index(c) for c in TZ_COLUMNS if c in lowered), None)
        self.extra = [(i, n.strip()) for i, n in enumerate(names) if i not in (self.phone, self.tz)]

    def rows(self, lines: list[str]) -> list[Row]:
        out: list[Row] = []
        for cells in csv.reader(lines):
            self.line += 1
            if self.phone is None:
                self.header(cells)
                continue
            if not cells:
                continue
            phone = cells[self.phone] if self.phone < len(cells) else ""
            tz = cells[self.tz] if self.tz is not None and self.tz < len(cells) else None
            variables = (
                json.dumps({n: cells[i] for i, n in self.extra if i < len(cells)})
                if self.extra
                else None
            )
            out.append((self.line, phone, tz, variables))
        return out


async def _lines(stream: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    tail = ""
    try:
        async for chunk in stream:
            text = tail + decoder.decode(chunk)
            cut = text.rfind("\n")
            if cut < 0:
                tail = text
                continue
            tail = text[cut + 1 :]
            yield text[:cut].splitlines()
        text = tail + decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BadUpload(f"not UTF-8: {exc}") from exc
    if text.strip():
        yield text.splitlines()


class _Collector:
    """Gathers validated chunks in order: rejections counted, in-file duplicates dropped."""

    def __init__(self, loader: ContactLoader, max_listed: int) -> None:
        self.loader = loader
        self.max_listed = max_listed
        self.result = UploadResult()
        self.seen: set[str] = set()
        self.pending: deque[asyncio.Future[Any]] = deque()

    def reject(self, line: int, reason: str, value: str) -> None:
        self.result.counts[reason] += 1
        if len(self.result.rejections) < self.max_listed:
            self.result.rejections.append((line, reason, value))

    async def collect(self) -> None:
        staged: list[tuple[int, str, str, str | None]] = []
        for item in await self.pending.popleft():
            if len(item) == 3:
                self.reject(*item)
            elif item[1] in self.seen:
                self.reject(item[0], DUPLICATE, item[1])
            else:
                self.seen.add(item[1])
                staged.append(item)
        await self.loader.add(staged)


async def load_csv(
    stream: AsyncIterator[bytes],
    loader: ContactLoader,
    executor: Executor | None,
    *,
    default_region: str | None,
    max_listed: int,
    in_flight: int = 4,
) -> UploadResult:
    """Validate and stage every row of ``stream``; the caller commits (``loader.finish``)."""
    loop = asyncio.get_running_loop()
    parser = _Parser()
    collector = _Collector(loader, max_listed)
    batch: list[Row] = []

    def submit(rows: Sequence[Row]) -> None:
        job = partial(normalize_rows, list(rows), default_region)
        collector.pending.append(loop.run_in_executor(executor, job))

    async for lines in _lines(stream):
        for start in range(0, len(lines), CHUNK_ROWS):
            batch.extend(parser.rows(lines[start : start + CHUNK_ROWS]))
            if len(batch) >= CHUNK_ROWS:
                submit(batch)
                batch = []
                if len(collector.pending) >= in_flight:
                    await collector.collect()
    if parser.phone is None:
        raise BadUpload("empty upload: a header row and contacts expected")
    if batch:
        submit(batch)
    while collector.pending:
        await collector.collect()
    return collector.result
