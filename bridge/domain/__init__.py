"""The pure core: 1C → Bitrix24 mapping and diff rules.  Imports no httpx, asyncpg or aio-pika."""
