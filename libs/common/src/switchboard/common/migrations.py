"""Schema migrations with yoyo: plain SQL files in a service package's ``migrations/`` folder,
applied under a lock (safe when several replicas start at once)."""

from importlib.resources import files

import psycopg
import structlog
from psycopg import sql
from yoyo import get_backend, read_migrations

from switchboard.common.settings import PostgresSettings

log = structlog.get_logger(__name__)


def _ensure_database(pg: PostgresSettings, database: str) -> None:
    """Create the service's database when the server does not have it yet."""
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = conn.execute(query, (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            log.info("database created", database=database)


def migrate(pg: PostgresSettings, database: str, package: str) -> int:
    """Apply ``package``'s pending migrations to ``database`` (created if missing); returns
    how many were applied."""
    _ensure_database(pg, database)
    backend = get_backend(pg.dsn(database).replace("postgresql://", "postgresql+psycopg://", 1))
    migrations = read_migrations(str(files(package) / "migrations"))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    log.info("migrations applied", count=len(pending), database=database)
    return len(pending)


def drop_database(pg: PostgresSettings, *databases: str) -> None:
    """Drop databases (tests, benchmarks, restores), even with sessions still connected."""
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
        for database in databases:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
