"""A schemathesis check for the ingest's own kind of refusal (loaded via ``SCHEMATHESIS_HOOKS``).

Contract v1 answers ``200`` with one result per event and rejects a bad event *inside* the 200 (so the good
events of the batch are stored): a schema-violating body that gets a 200 must have at least one event
``rejected``.  With this the built-in ``negative_data_rejection`` may count 200 as a refusal.
"""

from __future__ import annotations

import schemathesis


@schemathesis.check
def schema_violating_events_are_rejected(ctx, response, case):
    if case.meta is None or not case.meta.generation.mode.is_negative or response.status_code != 200:
        return None
    statuses = [r["status"] for r in response.json()["results"]]
    if "rejected" not in statuses:
        raise AssertionError(f"a schema-violating body was answered 200 without any rejected event: {statuses}")
    return None
