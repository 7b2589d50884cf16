"""The Bitrix24 sandbox: a real HTTP server that answers like a Bitrix24 cloud portal (see docs/sandbox.md)."""

from .app import Sandbox
from .calls import CallEvent
from .clock import ManualClock
from .config import SandboxConfig
from .faults import FaultSpecError
from .server import RunningSandbox, serve_in_thread

__all__ = ["CallEvent", "FaultSpecError", "ManualClock", "RunningSandbox", "Sandbox", "SandboxConfig",
           "serve_in_thread"]
