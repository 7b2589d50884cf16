"""The CLI's one optional dependency: the Bitrix24 sandbox package ``b24_sandbox``.

It comes with the ``dev`` and ``demo`` extras and is left out of the production image, so the commands
that need it (``sandbox``, ``demo``) import it at module level and the command loader in ``__init__``
asks :func:`missing` whether a failed import is this absence.  If it is, the command is replaced by
:func:`not_installed`, which says how to install it instead of failing with a traceback.  This is the only
place the bridge tolerates a missing import.
"""

from __future__ import annotations

import click

PACKAGE = "b24_sandbox"
INSTALL_HINT = (f"the Bitrix24 sandbox ({PACKAGE}) is not installed here; the production image leaves it out."
                " Install it with: pip install 'onec-b24-bridge[demo]'")


def missing(exc: ModuleNotFoundError) -> bool:
    """Whether this failed import is the optional sandbox package itself (any other one is a real bug)."""
    return (exc.name or "").split(".")[0] == PACKAGE


def not_installed(name: str) -> click.Command:
    """A stand-in for a command whose module needs the sandbox: any arguments, one line on stderr, exit 2."""

    def refuse() -> None:
        click.echo(f"Error: {INSTALL_HINT}", err=True)
        raise SystemExit(2)

    return click.Command(name, callback=refuse, help="Not installed here: pip install 'onec-b24-bridge[demo]'.",
                         add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
