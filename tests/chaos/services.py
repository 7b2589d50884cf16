"""PostgreSQL and RabbitMQ instances the chaos suite owns, so it may restart them.

The machine's shared PostgreSQL (5432) and RabbitMQ (5672) serve other people's test runs and CI; the
chaos suite never touches them.  It makes its own: a PostgreSQL cluster (``initdb`` into a temporary
directory, ``pg_ctl`` on a free port) and a RabbitMQ node (``rabbitmq-server`` with its own node name,
ports, Mnesia and log directories, no plugins).  Both are context managers that always stop what they
started, even when the body fails.  As root, each server runs as its service user (``postgres``,
``rabbitmq``): initdb refuses root, and the node must read the Erlang cookie the CLI uses.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port
from tests.services import ServiceMissing

PG_BIN_DIRS = ("/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/14/bin")
RABBIT_BIN_DIR = "/usr/lib/rabbitmq/bin"  # the real scripts; /usr/sbin's wrappers force the default node's logs


def _tool(name: str, dirs: tuple[str, ...] = ()) -> str:
    for directory in dirs:
        path = Path(directory) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise ServiceMissing(f"chaos suite: `{name}` not found (looked in {', '.join(dirs) or 'PATH'}); "
                             "it needs a private PostgreSQL and RabbitMQ of its own")
    return found


def _service_user(name: str) -> str | None:
    """The user to run a server as: its service user when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise ServiceMissing(f"chaos suite: running as root but there is no `{name}` user to run the server as") from exc
    return name


def _as(user: str | None, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    prefix = ["runuser", "-u", user, "--"] if user else []
    pairs = [f"{k}={v}" for k, v in (env or {}).items()]
    return [*prefix, "env", *pairs, *argv] if pairs else [*prefix, *argv]


def _own_dir(prefix: str, user: str | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if user:
        shutil.chown(path, user)
    return path


def _run(argv: list[str], timeout: float, what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


# --- PostgreSQL -----------------------------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory, trust auth on 127.0.0.1:<port>."""

    root: Path
    port: int
    user: str | None
    bin_dir: Path
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 120) -> None:
        options = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c max_connections=300 -c fsync=off"
        _run(_as(self.user, [str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-l",
                             str(self.root / "postgresql.log"), "-w", "-t", str(int(timeout)), *args,
                             "-o", options]), timeout + 10, f"pg_ctl {args[0]}")

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """A fast restart: every connection is cut, as when the server or its host goes down."""
        self._ctl("restart", "-m", "fast")
        self.restarts += 1

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def log_tail(self, lines: int = 40) -> str:
        path = self.root / "postgresql.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    initdb = _tool("initdb", PG_BIN_DIRS)
    user = _service_user("postgres")
    root = _own_dir("chaos-pg-", user)
    pg = PrivatePostgres(root, free_port(), user, Path(initdb).parent)
    try:
        _run(_as(user, [initdb, "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--no-sync"]), 180, "initdb")
        pg.start()
        yield pg
    finally:
        with suppress(Exception):  # not running (initdb failed) or already gone
            pg._ctl("stop", "-m", "immediate", timeout=60)
        shutil.rmtree(root, ignore_errors=True)


# --- RabbitMQ -------------------------------------------------------------------------------------------


@dataclass
class PrivateRabbit:
    """One RabbitMQ node (own name, ports, Mnesia and logs; no plugins), reachable as guest on 127.0.0.1."""

    root: Path
    node: str
    port: int
    dist_port: int
    user: str | None
    restarts: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        env = {"RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
               "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(self.dist_port),
               "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"), "RABBITMQ_LOG_BASE": str(self.root / "log"),
               "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
               "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf")}  # not the machine's node name
        if self.user:
            env["HOME"] = pwd.getpwnam(self.user).pw_dir  # where the service user's Erlang cookie is
        return env

    def ctl(self, *args: str, timeout: float = 120) -> str:
        home = {"HOME": pwd.getpwnam(self.user).pw_dir} if self.user else None
        return _run(_as(self.user, [_tool("rabbitmqctl", (RABBIT_BIN_DIR,)), "-n", self.node, *args], home),
                    timeout, f"rabbitmqctl {' '.join(args)}")

    def start(self) -> None:
        server = _tool("rabbitmq-server", (RABBIT_BIN_DIR,))
        log = open(self.root / "server.out", "ab")  # noqa: SIM115 - the node's own output, kept for failures
        self.process = subprocess.Popen(_as(self.user, [server], self._env()), stdout=log, stderr=log, cwd="/",
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the private RabbitMQ node exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                self.ctl("await_startup", "--timeout", "30", timeout=40)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)  # not registered with epmd yet

    def restart(self, down: float = 3.0) -> None:
        """Stop the broker (every connection closed, queues kept on disk), stay down a moment, start it."""
        self.ctl("stop_app")
        time.sleep(down)
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60", timeout=70)
        self.restarts += 1

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=60)
            self.process.wait(timeout=30)
        except Exception:  # noqa: BLE001 - it would not stop politely: kill its whole process group
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in [self.root / "server.out", *sorted((self.root / "log").glob("*.log"))]:
            if path.exists():
                text += f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text


@contextmanager
def private_rabbitmq() -> Iterator[PrivateRabbit]:
    _tool("rabbitmqctl", (RABBIT_BIN_DIR,))
    user = _service_user("rabbitmq")
    root = _own_dir("chaos-rabbit-", user)
    (root / "rabbitmq.conf").write_text("loopback_users = none\n")
    (root / "enabled_plugins").write_text("[].\n")
    (root / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
    for sub in ("mnesia", "log"):
        (root / sub).mkdir()
    if user:
        for path in root.rglob("*"):
            shutil.chown(path, user)
    rabbit = PrivateRabbit(root, f"chaos-{uuid.uuid4().hex[:8]}@localhost", free_port(), free_port(), user)
    try:
        rabbit.start()
        yield rabbit
    finally:
        rabbit.stop()
        shutil.rmtree(root, ignore_errors=True)
