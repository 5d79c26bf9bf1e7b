"""``switchboard-ingress spool list|show|requeue|export``: the dead letters of a spool
directory, for an operator (see docs/operations/runbooks.md, "Spool dead letters").

Each command works on the files no running ingress holds and says which ones it skipped.
"""

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from switchboard.ingress import spool_admin
from switchboard.ingress.settings import get_settings

spool = typer.Typer(
    help="Dead letters of the ingress spool: records set aside because they can never be "
    "published. Run where the spool volume is mounted, with the ingress that owns a file "
    "stopped.",
    no_args_is_help=True,
)

Directory = Annotated[
    Path | None,
    typer.Option(
        "--directory", "-d", help="Spool directory [default: SWITCHBOARD_SPOOL__DIRECTORY]"
    ),
]
File = Annotated[
    str | None, typer.Option("--file", "-f", help="Only this spool file (e.g. spool-0.db)")
]


def _directory(given: Path | None) -> Path:
    directory = given if given is not None else get_settings().spool.directory
    if not directory.is_dir():
        typer.echo(f"no spool directory {directory}", err=True)
        raise typer.Exit(2)
    return directory


def _files(directory: Path, file: str | None) -> list[Path]:
    try:
        return spool_admin.existing(directory, file)
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _busy(exc: spool_admin.SpoolFileBusy) -> None:
    typer.echo(f"skipped: {exc}", err=True)


@spool.command("list")
def list_(directory: Directory = None, file: File = None) -> None:
    """One line per dead letter: file, seq, reason, attempts, topic, type, size, error."""
    busy = 0
    for path in _files(_directory(directory), file):
        try:
            with spool_admin.opened(path) as db:
                rows = spool_admin.dead_rows(db, path.name)
                typer.echo(
                    f"{path.name}: {len(rows)} dead letter(s), {spool_admin.waiting(db)} waiting"
                )
                for r in rows:
                    typer.echo(
                        f"  {r.seq:>8}  {r.reason:<9} {r.attempts:>3}x  {r.topic}  {r.event_type}"
                        f"  {len(r.value)} B  {r.error[:100]}"
                    )
        except spool_admin.SpoolFileBusy as exc:
            busy += 1
            _busy(exc)
    if busy:
        raise typer.Exit(1)


@spool.command()
def show(seq: int, directory: Directory = None, file: File = None) -> None:
    """Everything about one dead letter: why, its headers, key and value (text when it is)."""
    found = []
    for path in _files(_directory(directory), file):
        try:
            with spool_admin.opened(path) as db:
                found += spool_admin.dead_rows(db, path.name, [seq])
        except spool_admin.SpoolFileBusy as exc:
            _busy(exc)
    if len(found) != 1:
        problem = "no dead letter" if not found else "several files have a dead letter"
        typer.echo(f"{problem} with seq {seq}; name the file with --file", err=True)
        raise typer.Exit(1)
    [row] = found
    line = row.as_json()
    value = line.pop("value_base64")
    typer.echo(json.dumps(line, indent=2, ensure_ascii=False))
    try:
        typer.echo("value:\n" + row.value.decode())
    except UnicodeDecodeError:
        typer.echo(f"value (base64):\n{value}")


@spool.command("requeue")
def requeue(
    seqs: Annotated[list[int] | None, typer.Argument(help="Sequence numbers to requeue")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter of the files")] = False,
    directory: Directory = None,
    file: File = None,
) -> None:
    """Move dead letters back to the end of the spool; the ingress publishes them when it
    starts (a record still over the limit or refused comes back here)."""
    if not seqs and not all_:
        typer.echo("name the sequence numbers to requeue, or --all", err=True)
        raise typer.Exit(2)
    moved, busy = 0, 0
    for path in _files(_directory(directory), file):
        try:
            with spool_admin.opened(path) as db:
                chosen = [r.seq for r in spool_admin.dead_rows(db, path.name, seqs or ())]
                moved += spool_admin.requeue(db, chosen)
        except spool_admin.SpoolFileBusy as exc:
            busy += 1
            _busy(exc)
    typer.echo(f"requeued {moved} dead letter(s)")
    if busy or (seqs and moved < len(seqs)):
        raise typer.Exit(1)


@spool.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON lines file [default: stdout]")
    ] = None,
    remove: Annotated[
        bool,
        typer.Option("--remove", help="Delete the exported dead letters once the file is synced"),
    ] = False,
    directory: Directory = None,
    file: File = None,
) -> None:
    """Every dead letter as a JSON line (exact bytes in base64, with why and when)."""
    if remove and output is None:
        typer.echo(
            "--remove needs --output (a file that is synced before anything is deleted)", err=True
        )
        raise typer.Exit(2)
    busy, count = 0, 0
    sink = output.open("a", encoding="utf-8") if output is not None else None
    try:
        for path in _files(_directory(directory), file):
            try:
                with spool_admin.opened(path) as db:
                    rows = spool_admin.dead_rows(db, path.name)
                    lines = "".join(json.dumps(r.as_json()) + "\n" for r in rows)
                    if sink is None:
                        typer.echo(lines, nl=False)
                    else:
                        sink.write(lines)
                        sink.flush()
                        os.fsync(sink.fileno())
                        if remove:
                            spool_admin.remove(db, [r.seq for r in rows])
                    count += len(rows)
            except spool_admin.SpoolFileBusy as exc:
                busy += 1
                _busy(exc)
    finally:
        if sink is not None:
            sink.close()
    typer.echo(
        f"exported {count} dead letter(s)" + (" and removed them" if remove else ""), err=True
    )
    if busy:
        raise typer.Exit(1)
