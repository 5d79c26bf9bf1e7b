"""The control-plane schema: ``migrations/*.sql`` applied by the shared yoyo runner."""

from switchboard.common import migrations
from switchboard.common.settings import PostgresSettings


def migrate(pg: PostgresSettings, database: str) -> int:
    """Create ``database`` if needed and apply pending migrations; returns how many."""
    return migrations.migrate(pg, database, "switchboard.control")
