"""Commands and host installers that other packages add to ``void-remove``, found by entry point.

The client never imports the daemon or a host package (``docs/architecture.md``, import rules).
What they contribute to the CLI (``void-remove task`` and ``demo`` from the daemon, ``void-remove install
nuke|resolve`` from the host packages) is declared in ``pyproject.toml`` as entry points and
loaded here by name, only when the user asks for it. An install that lacks the package (a host's
light client without the daemon) says which extra to install instead of failing on an import.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from types import ModuleType

from void_client.errors import ErrorCode, VoidError

#: ``void-remove <name>`` sub-commands provided by other packages: module with ``add_arguments``/``main``.
COMMANDS_GROUP = "void_remove.commands"
#: ``void-remove install <host>``: module with ``add_arguments(parser)`` and ``install(args)``.
INSTALLERS_GROUP = "void_remove.installers"


def names(group: str) -> list[str]:
    """The plugin names registered in ``group``, sorted."""
    return sorted(providers(group))


def providers(group: str) -> dict[str, str]:
    """Plugin name -> the module that provides it, without importing anything."""
    return {ep.name: ep.value for ep in entry_points(group=group)}


def load(group: str, name: str) -> ModuleType:
    """Import plugin ``name`` of ``group``; a clear error when it is not installed."""
    for ep in entry_points(group=group):
        if ep.name == name:
            try:
                return importlib.import_module(ep.value)
            except ImportError as exc:
                raise VoidError(
                    ErrorCode.BAD_SPEC,
                    f"'{name}' needs {ep.value}, which cannot be imported here ({exc}); "
                    "install the extra that provides it (pip install 'void-remove[daemon]')",
                    name,
                ) from exc
    raise VoidError(
        ErrorCode.BAD_SPEC,
        f"no '{name}' in this install (have: {', '.join(names(group)) or 'none'})",
        name,
    )
