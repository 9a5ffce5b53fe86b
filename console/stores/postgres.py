"""The team back end: PostgreSQL through psycopg 3 and a psycopg_pool pool.

Each journal lives in its own PostgreSQL schema (``opsdeck_audit``, ``opsdeck_runbooks``
...), so the table names the SQLite files use (two journals have a ``runs`` table) do
not collide; the pool's connections have that schema as their search_path. Statements
outside a transaction run in autocommit mode. ``transaction()`` takes
``pg_advisory_xact_lock`` on the journal's key first: writers of one journal queue up
across processes and hosts, and the lock ends with the transaction, also when a writer
dies (the server rolls its transaction back).

Pools are shared per (URL, journal) within a process and closed at exit. The password
is passed as a connection parameter, never put into a URL or a message.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from console.stores.port import Row, StoreError, lock_key, to_format_style
from console.stores.testing import hold_before_commit

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from console.stores.settings import StoreSettings

_POOLS: dict[tuple[str, str], ConnectionPool[Any]] = {}
_POOLS_LOCK = threading.Lock()


def namespace(journal: str) -> str:
    return f"opsdeck_{journal}"


def connect_kwargs(settings: StoreSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"connect_timeout": max(1, int(settings.connect_timeout))}
    password = settings.password()
    if password is not None:
        kwargs["password"] = password
    return kwargs


def connect(settings: StoreSettings, **extra: Any) -> psycopg.Connection[Any]:
    """One connection outside any pool (the store CLI, tests); StoreError when it fails."""
    import psycopg

    try:
        return psycopg.connect(settings.url, **connect_kwargs(settings), **extra)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the store {settings.redacted_url}: "
            f"{settings.redact(str(exc).strip())}",
            hint="check store.url in the config (or OPSDECK_STORE_URL) and that the server runs",
        ) from None


def _pool(settings: StoreSettings, journal: str) -> ConnectionPool[Any]:
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    key = (settings.url, journal)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            kwargs = connect_kwargs(settings) | {
                "autocommit": True,
                "row_factory": dict_row,
                "options": f"-c search_path={namespace(journal)}",
            }
            pool = ConnectionPool(
                settings.url,
                min_size=1,
                max_size=settings.pool_size,
                kwargs=kwargs,
                timeout=settings.connect_timeout,
                name=f"opsdeck-{journal}",
                open=True,
            )
            if not _POOLS:
                atexit.register(close_pools)
            _POOLS[key] = pool
    return pool


def close_pools() -> None:
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, settings: StoreSettings, journal: str, what: str) -> None:
        self.settings = settings
        self.journal = journal
        self.what = what
        self.namespace = namespace(journal)
        self.location = settings.redacted_url
        self._local = threading.local()
        # Connect now: an unreachable server is one clear error at open, not a pool timeout.
        connect(settings).close()
        self._pool: ConnectionPool[Any] | None = _pool(settings, journal)

    def _get_pool(self) -> ConnectionPool[Any]:
        if self._pool is None:
            raise StoreError(f"the {self.what} at {self.location} is closed")
        return self._pool

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except (psycopg.Error, PoolTimeout) as exc:
            text = self.settings.redact(str(exc).strip().splitlines()[0] if str(exc) else "")
            raise StoreError(f"{self.what} {self.location}: {text or type(exc).__name__}") from None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._get_pool().connection() as conn:
            yield conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._errors(), self._connection() as conn:
            cursor = conn.execute(to_format_style(sql), tuple(args))
            return list(cursor.fetchall()) if cursor.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._errors(), self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(to_format_style(sql), [tuple(r) for r in rows])

    def script(self, sql: str) -> None:
        # No parameters: psycopg sends the text as is, several statements at once.
        with self._errors(), self._connection() as conn:
            conn.execute(sql.encode("utf-8"))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            yield  # joins the outer transaction
            return
        with self._errors(), self._get_pool().connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.journal),))
            self._local.conn = conn
            try:
                yield
                hold_before_commit(self.journal)
            finally:
                self._local.conn = None

    def close(self) -> None:
        # The pool is shared by this process's journals; close_pools() ends it at exit.
        self._pool = None
