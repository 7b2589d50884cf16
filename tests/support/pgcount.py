"""What a pool costs PostgreSQL, measured from the client side and from the server's statistics."""

from __future__ import annotations

import asyncio

import asyncpg


_INTROSPECTION = ("typeinfo_tree", "current_setting('jit')", "set_config('jit'")


class Transactions:
    """Counts the transactions a pool's connections end: a COMMIT/ROLLBACK, or a statement run outside a
    transaction block (PostgreSQL runs it in a transaction of its own).  Pass ``observe=counter.observe``
    to ``bridge.db.create_pool``."""

    def __init__(self) -> None:
        self.count = 0
        self.ended: list[str] = []  # the statement that ended each transaction (to see what one is)

    def observe(self, conn: asyncpg.Connection) -> None:
        def logged(record) -> None:
            if any(mark in record.query for mark in _INTROSPECTION):
                return  # asyncpg learning a type, once per connection: not the bridge's work
            if not conn.is_in_transaction():
                self.count += 1
                self.ended.append(record.query.strip()[:60])

        conn.add_query_logger(logged)


async def server_counters(dsn: str) -> dict[str, int]:
    """The database's committed transactions and index scans on the bridge's tables, as PostgreSQL's
    statistics have them (backends report on exit or when idle: close the measured pool first)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        xact = await conn.fetchval("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                   "WHERE datname = current_database()")
        scans = await conn.fetchval("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables")
        rows = await conn.fetchval("SELECT coalesce(sum(idx_tup_fetch + seq_tup_read), 0) FROM pg_stat_user_tables")
    finally:
        await conn.close()
    return {"transactions": int(xact), "index_scans": int(scans), "rows_read": int(rows)}


async def settled_counters(dsn: str, wait: float = 1.5) -> dict[str, int]:
    """:func:`server_counters` once the exited backends' statistics have arrived."""
    await asyncio.sleep(wait)
    return await server_counters(dsn)


APP = "pgcount"  # the application_name of the measuring connections, which the peak leaves out


async def observer(dsn: str) -> asyncpg.Connection:
    """A connection for the test's own queries, not counted in :class:`PeakConnections`."""
    return await asyncpg.connect(dsn, server_settings={"application_name": APP})


class PeakConnections:
    """Samples pg_stat_activity while a load runs: the most client backends seen on the database."""

    def __init__(self, dsn: str, interval: float = 0.02) -> None:
        self._dsn = dsn
        self._interval = interval
        self.peak = 0
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> PeakConnections:
        self._conn = await observer(self._dsn)
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            n = await self._conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND application_name IS DISTINCT FROM $1", APP)
            self.peak = max(self.peak, n)
            await asyncio.sleep(self._interval)

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        await self._conn.close()
