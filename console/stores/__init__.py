"""The journals' store: one port (console.stores.port.Database), two back ends.

SQLite (console.stores.sqlite) is the embedded default, one file per journal under
$XDG_DATA_HOME/opsdeck, migrated on open. PostgreSQL (console.stores.postgres) is the
team store named by ``store: {url: ...}`` in the config; its schema is migrated by
``opsdeck store migrate`` only. See docs/stores.md.

Nothing here imports sqlite3 or psycopg at import time: the CLI's start-up stays light.
"""
