"""``b24bridge portal setup|check``: make the portal hold what the mapping file needs, and verify it.

* :mod:`.state` — what the portal holds, as plain values;
* :mod:`.plan` — what a plan holds: problems, setup's actions, mapping values to fill in;
* :mod:`.planner` — the pure comparison of the mapping with the portal that makes a plan;
* :mod:`.remote` — reading the portal and making setup's writes through the bridge's client;
* :mod:`.yamltext` — the resulting mapping as YAML, comments kept;
* :mod:`.service` — ``check`` and ``setup`` themselves.

See ``docs/portal.md``.  Importing the package loads only the pure parts; the CLI imports ``.service``.
"""

from .plan import CreateStage, CreateUserField, MappingChange, Plan, Problem
from .planner import plan
from .state import PortalState

__all__ = ["CreateStage", "CreateUserField", "MappingChange", "Plan", "PortalState", "Problem", "plan"]
