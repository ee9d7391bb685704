"""Which ``void-remove`` a host runs: recorded by the installer, found without importing it.

The host's Python cannot import the client (docs/architecture.md, "Host isolation"), so it runs
the worker as a program. Order: an explicit argv, ``VOID_REMOVE_EXE``, the file the installer
wrote beside this package (:data:`CONFIG_NAME`), then ``void-remove`` on PATH.
"""

import datetime
import json
import os
import shutil
from typing import Any, Dict, List, Optional, Sequence, Union

from void_hostlink import HostLinkError
from void_hostlink.atomic import write_text_atomic

CONFIG_NAME = "void_remove_host.json"
ENV_EXE = "VOID_REMOVE_EXE"

NOT_INSTALLED_MESSAGE = (
    "void-remove was not found: run 'void-remove install nuke' (or resolve) from the "
    "environment where void-remove is installed, or set VOID_REMOVE_EXE to its path"
)


def record_executable(folder: str, argv: Sequence[str], version: str) -> str:
    """Write ``folder/CONFIG_NAME`` naming the worker to run; return its path.

    Installers call it with the folder they copy ``void_hostlink`` into. Written atomically (a
    temporary file in the same folder, then ``os.replace``) so a host starting at that moment
    reads the old file or the new one, never half of one.
    """
    if not argv:
        raise HostLinkError("bad_config", "record_executable needs the worker's argv")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, CONFIG_NAME)
    data = {
        "argv": [str(a) for a in argv],
        "version": str(version),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def config_path() -> str:
    """The config file the installer writes: in the folder CONTAINING this package."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(package_dir), CONFIG_NAME)


def read_config(path: str) -> Optional[Dict[str, Any]]:
    """The recorded config, or None when there is none; a broken one is an error the artist
    can act on (not silently skipped: it would run a different void-remove than installed)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise HostLinkError(
            "bad_config",
            "{} cannot be read ({}): run 'void-remove install nuke' (or resolve) again".format(
                path, exc
            ),
        ) from exc
    argv = data.get("argv") if isinstance(data, dict) else None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise HostLinkError(
            "bad_config",
            "{} names no command: run 'void-remove install nuke' (or resolve) again".format(path),
        )
    return data


def find_void_remove(explicit: Union[str, Sequence[str], None] = None) -> List[str]:
    """The argv prefix that runs the worker (``exe + args`` is the command line)."""
    if explicit:
        if isinstance(explicit, str):
            return [explicit]
        return [str(a) for a in explicit]
    env = os.environ.get(ENV_EXE, "").strip()
    if env:
        return [env]
    data = read_config(config_path())
    if data is not None:
        return list(data["argv"])
    found = shutil.which("void-remove")
    if found:
        return [found]
    raise HostLinkError("not_installed", NOT_INSTALLED_MESSAGE)
