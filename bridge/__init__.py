"""onec-b24-bridge: 1C:УТ 10.3 → PostgreSQL outbox → RabbitMQ → Bitrix24 CRM."""

__version__ = "0.1.0"
