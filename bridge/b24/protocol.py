"""What a handler needs from a Bitrix24 client: the seam between ``bridge.sync`` and :class:`B24Client`.

Handlers and look-ups are typed with :class:`B24`, not with the client class, so a test may hand them
any object with these four methods (the real client, or one pointed at the sandbox).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .envelope import BatchResult, Page


@runtime_checkable
class B24(Protocol):
    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """One method's ``result`` (or a typed :class:`~bridge.errors.B24Error`)."""

    async def call_page(self, method: str, params: Mapping[str, Any] | None = None) -> Page:
        """One page of a list method, with ``next``/``total``."""

    async def call_chain(self, steps: Sequence[tuple[str, Mapping[str, Any] | None]], *,
                         halt: bool = False) -> list[Any]:
        """Dependent calls in one request; later steps refer to earlier results (``chain_ref``)."""

    async def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any] | None] | str], *, halt: bool = False
    ) -> BatchResult:
        """Up to 50 independent commands in one request; per-key result or typed error."""
