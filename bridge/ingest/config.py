"""What the ingest accepts: the 1C sender's bearer tokens and the limits of contract v1.

Per request (refused whole, before anything is stored): ``max_body_bytes``, ``max_batch`` events,
``max_values`` JSON values in all (counted on the raw bytes before decoding, so a body of a million tiny
values never becomes a million Python objects), and ``body_timeout`` seconds to receive the body.
Per field (that event alone is ``rejected`` with the field's path): ``max_string`` characters,
``max_items`` elements in one array, ``max_depth`` levels of nesting, numbers of at most
``max_number_chars`` characters whose value a double can hold.
A token bound to sources (``sources``) may send only events of those 1C bases: any other ``source`` in the
request refuses it whole with ``403 forbidden_source`` (nothing stored).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestConfig:
    tokens: list[bytes]
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
    body_timeout: float = 60.0
    # a token bound to some 1C bases (BRIDGE_INGEST_TOKENS entry token@a|b) → those bases; a token not
    # here may send events of any base
    sources: dict[bytes, frozenset[str]] = field(default_factory=dict)
    max_values: int = 500_000
    max_string: int = 100_000
    max_items: int = 10_000
    max_depth: int = 16
    max_number_chars: int = 64
