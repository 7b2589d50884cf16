"""The bridge's components as separate OS processes (``b24bridge ingest``, ``relay``, ``consume``), each
under a name, with its log in a file, that the suite can SIGKILL and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Fleet:
    env: dict[str, str]
    log_dir: Path
    commands: dict[str, list[str]] = field(default_factory=dict)
    running: dict[str, subprocess.Popen] = field(default_factory=dict)
    kills: list[str] = field(default_factory=list)

    def start(self, name: str, *args: str) -> None:
        """Start ``b24bridge <args>`` as ``name`` (again, with the same arguments, if ``args`` is empty)."""
        if args:
            self.commands[name] = list(args)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        self.running[name] = subprocess.Popen([sys.executable, "-m", "bridge.cli", *self.commands[name]],
                                              env=self.env, stdout=log, stderr=log)
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no acks, no flushing — as when the host or the OOM killer takes it."""
        process = self.running[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.kills.append(name)

    def exited(self) -> dict[str, int]:
        """Components that stopped on their own, with their exit codes (none should)."""
        return {name: p.returncode for name, p in self.running.items() if p.poll() is not None}

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
