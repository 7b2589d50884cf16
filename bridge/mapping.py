"""The YAML mapping file: portal-specific ids and policies, loaded and validated once at start.

Errors name the file, the key and the reason (``mapping.yaml: requisite_presets.company: must be a
positive integer``), so a wrong mapping stops the bridge at start instead of failing on the first event.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from .errors import ConfigError


class RequisitePresets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: PositiveInt
    individual_entrepreneur: PositiveInt
    person: PositiveInt


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    originator_id: str = Field("{source}", min_length=1, max_length=100)
    requisite_presets: RequisitePresets
    default_responsible_id: PositiveInt = 1
    company_type: str = "CUSTOMER"
    deleted_counterparty: Literal["comment", "ignore"] = "comment"

    def originator(self, source: str) -> str:
        return self.originator_id.replace("{source}", source)


def default_text() -> str:
    return resources.files("bridge").joinpath("defaults/mapping.yaml").read_text(encoding="utf-8")


def parse(text: str, origin: str = "mapping") -> Mapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: must be a YAML mapping of keys to values")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {_say(err)}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from None


def _say(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key (typo?)"
    if kind in ("greater_than", "int_parsing", "int_type"):
        return f"must be a positive integer (got {err.get('input')!r})"
    return f"{err.get('msg', 'invalid')} (got {err.get('input')!r})"


def load(path: Path | None) -> Mapping:
    """The mapping at ``path``, or the embedded default when ``path`` is None."""
    if path is None:
        return parse(default_text(), "embedded default mapping")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: cannot read it: {exc.strerror}") from exc
    return parse(text, str(path))
