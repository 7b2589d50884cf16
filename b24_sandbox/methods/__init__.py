"""The method table: every Bitrix24 method the sandbox answers, registered by its lower-case name.

A handler takes a :class:`Call` (the parsed params, the store, the portal config) and returns the
``result`` payload, or a :class:`Result` when the reply also carries ``total``/``next``.  It raises
:class:`~b24_sandbox.errors.ApiError` for an error reply.  One module per method family.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone
from typing import TYPE_CHECKING, Any

from .. import values
from ..config import SandboxConfig
from ..errors import FIELDS_NOT_ARRAY, ID_INVALID, invalid
from ..store import Store

if TYPE_CHECKING:  # for the annotation only: app imports this module
    from ..app import Sandbox

Handler = Callable[["Call"], Any]
REGISTRY: dict[str, Handler] = {}

MODULES = (
    "batch", "company", "contact", "requisite", "address", "bankdetail", "userfield", "status", "category",
    "catalog", "crm_product", "deal", "productrows", "user", "im", "timeline", "duplicate", "enum", "deal_contact", "requisite_link",
)


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            REGISTRY[name.lower()] = handler
        return handler

    return register


GLOBAL_METHODS = frozenset({"batch"})  # CRestUtil::GLOBAL_SCOPE: no scope needed
# RestManager::fillAlternativeScope: the user module answers user.get/user.current in these scopes too
ALTERNATIVE_SCOPES = {"user": ("user_brief", "user_basic")}


def scopes(value: str) -> frozenset[str]:
    """A scope list as the portal stores it (``"crm,user"``) as a set."""
    return frozenset(s.strip().lower() for s in value.split(",") if s.strip())


def scope_allows(granted: frozenset[str] | None, name: str) -> bool:
    """May a caller holding ``granted`` (None = anything) call method ``name``?  Its scope is its first part."""
    if granted is None or name in GLOBAL_METHODS:
        return True
    needed = name.split(".", 1)[0]
    return needed in granted or any(alt in granted for alt in ALTERNATIVE_SCOPES.get(needed, ()))


def lookup(name: str) -> Handler | None:
    if not REGISTRY:
        load()
    return REGISTRY.get(name.lower())


def load() -> None:
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")


@dataclass
class Result:
    value: Any
    total: int | None = None
    next: int | None = None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    store: Store
    config: SandboxConfig
    sandbox: Sandbox
    user_id: int
    extra: dict[str, Any] = field(default_factory=dict)
    caller: str | None = None
    scope: frozenset[str] | None = None

    @property
    def tz(self) -> timezone:
        return self.config.tz

    def clock(self) -> float:
        return self.sandbox.clock()

    def now(self) -> str:
        return values.iso_at(self.sandbox.clock(), self.tz)

    def param(self, *names: str, default: Any = None) -> Any:
        """First of ``names`` present in the params (legacy methods accept several spellings)."""
        for name in names:
            if name in self.params:
                return self.params[name]
        return default

    def array_param(self, name: str, default: Any = None) -> Any:
        """A legacy crm.* top-level array (``fields``, ``filter``, ``rows``…) as ``CCrmRestHelper::resolveArrayParam``
        finds it: ``NAME``, ``name``, ``Name`` or ``arName``, the first that is set (a null is not set: ``isset``)."""
        lower = name.lower()
        for key in (lower.upper(), lower, lower.capitalize(), "ar" + lower.capitalize()):
            if self.params.get(key) is not None:
                return self.params[key]
        return default

    def array(self, name: str, refusal: str) -> list[Any] | dict[str, Any]:
        """:meth:`array_param` where the portal checks ``is_array``: left out → ``[]`` (its default ``array()``),
        set but not an array (a string, a number) → 400 ``""`` ``refusal``, before anything is touched."""
        value = self.array_param(name, default=[])
        if not isinstance(value, (list, dict)):
            raise invalid(refusal)
        return value

    def fields(self, *names: str) -> dict[str, Any]:
        """The ``fields`` object (any :meth:`array_param` spelling unless ``names`` are given); not an object → 400."""
        raw = self.param(*names) if names else self.array_param("fields")
        if isinstance(raw, list) and not raw:
            return {}
        if isinstance(raw, list):
            return {str(i): v for i, v in enumerate(raw)}
        if not isinstance(raw, dict):
            raise invalid(FIELDS_NOT_ARRAY)
        return raw

    def id(self, *names: str) -> int:
        raw = self.param(*(names or ("id", "ID")))
        if not values.is_positive_id(raw):
            raise invalid(ID_INVALID)
        return values.intval(raw)
