"""What a portal plan is: problems, setup's actions on the portal, and values it fills into the mapping.

:func:`bridge.portal.planner.plan` computes a :class:`Plan`; :mod:`bridge.portal.service` carries it out.
Actions know their REST call (``params``) and what they do to a :class:`PortalState` (``applied_to``), so
dry runs and tests can predict the portal after setup without touching one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..mapping import Mapping
from .state import PortalState, StageRow, UserField, stage_entity


@dataclass(frozen=True)
class Problem:
    key: str  # the mapping key, e.g. deals.stages.paid or users.by_onec_id[<uuid>]
    message: str  # what is wrong
    fix: str  # what to do
    mapping: Any = None  # what the mapping says
    portal: Any = None  # what the portal has (None: nothing)
    by: Literal["setup", "human"] = "human"
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.key}: {self.message}; {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "severity": self.severity, "problem": self.message, "fix": self.fix,
                "fixed_by": self.by, "mapping": self.mapping, "portal": self.portal}


@dataclass(frozen=True)
class CreateStage:
    """crm.status.add of an in-progress stage in the mapping's funnel."""

    key: str
    funnel_id: int
    status_id: str  # with the C{N}: prefix in funnel N
    name: str
    sort: int
    method: ClassVar[str] = "crm.status.add"

    def params(self) -> dict[str, Any]:
        return {"fields": {"ENTITY_ID": stage_entity(self.funnel_id), "STATUS_ID": self.status_id,
                           "NAME": self.name, "SORT": self.sort}}

    def describe(self) -> str:
        return f'create stage {self.status_id} "{self.name}" (SORT {self.sort}) in funnel {self.funnel_id}'

    def applied_to(self, state: PortalState) -> PortalState:
        return state.with_stage(StageRow(self.status_id, self.name, self.sort, "P"), self.funnel_id)

    def as_dict(self) -> dict[str, Any]:
        return {"action": "create_stage", "key": self.key, "method": self.method, "params": self.params()}


@dataclass(frozen=True)
class CreateUserField:
    """crm.deal.userfield.add of one of the bridge's deal fields, Russian labels in every label slot."""

    key: str
    field_name: str
    user_type: str
    label_ru: str
    label_en: str
    xml_id: str  # b24bridge:<key>, so a later setup recognises the field under any name
    method: ClassVar[str] = "crm.deal.userfield.add"

    def params(self) -> dict[str, Any]:
        labels = {"ru": self.label_ru, "en": self.label_en}
        return {"fields": {
            "FIELD_NAME": self.field_name, "USER_TYPE_ID": self.user_type, "XML_ID": self.xml_id,
            "MULTIPLE": "N", "MANDATORY": "N", "SHOW_FILTER": "Y", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "N",
            "LABEL": self.label_ru, "EDIT_FORM_LABEL": labels, "LIST_COLUMN_LABEL": labels,
            "LIST_FILTER_LABEL": labels,
        }}

    def describe(self) -> str:
        return f'create deal field {self.field_name} ({self.user_type}) "{self.label_ru}"'

    def applied_to(self, state: PortalState) -> PortalState:
        return state.with_user_field(UserField(self.field_name, self.user_type, self.xml_id, False, self.label_ru))

    def as_dict(self) -> dict[str, Any]:
        return {"action": "create_user_field", "key": self.key, "method": self.method, "params": self.params()}


Action = CreateStage | CreateUserField


@dataclass(frozen=True)
class MappingChange:
    """A value setup writes into the resulting mapping (``key`` is dotted: ``products.iblock_id``)."""

    key: str
    old: Any
    new: Any
    reason: str

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def describe(self) -> str:
        return f"{self.key}: {_yamlish(self.old)} → {_yamlish(self.new)} ({self.reason})"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "reason": self.reason}


@dataclass(frozen=True)
class Plan:
    problems: tuple[Problem, ...] = ()
    actions: tuple[Action, ...] = ()
    changes: tuple[MappingChange, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def for_human(self) -> tuple[Problem, ...]:
        """Errors that setup cannot fix."""
        return tuple(p for p in self.errors if p.by == "human")

    @property
    def ok(self) -> bool:
        """The portal matches the mapping (warnings aside)."""
        return not self.errors

    @property
    def empty(self) -> bool:
        return not (self.problems or self.actions or self.changes)


def simulate(state: PortalState, actions: Sequence[Action]) -> PortalState:
    """The state after the actions succeed (for dry runs and tests)."""
    for action in actions:
        state = action.applied_to(state)
    return state


def apply_changes(mapping: Mapping, changes: Sequence[MappingChange]) -> Mapping:
    data = mapping.model_dump()
    for change in changes:
        node = data
        for part in change.path[:-1]:
            node = node[part]
        node[change.path[-1]] = change.new
    return Mapping.model_validate(data)


def _yamlish(value: Any) -> str:
    return "null" if value is None else f'"{value}"' if isinstance(value, str) and " " in value else str(value)
