"""What the ingest accepts: the 1C sender's bearer tokens and the size limits of contract v1."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IngestConfig:
    tokens: list[bytes]
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
