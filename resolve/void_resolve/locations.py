"""Where DaVinci Resolve keeps things on each OS: the Scripts folders and the scripting API.

From Blackmagic's scripting README (Help ▸ Documentation ▸ Developer). One definition, used by
``void-remove install resolve`` and by ``void_resolve`` when it runs outside Resolve. Every
function takes the OS name (``platform.system()``), the environment and the home folder as
arguments, so each layout can be checked on any machine: a folder derived from the home folder
or an environment variable is built on that value as given.
"""

import os
from pathlib import Path
from typing import List, Mapping, Union

SYSTEMS = ("Darwin", "Windows", "Linux")
#: Sub-folders of ``Fusion/Scripts`` that Resolve lists under Workspace ▸ Scripts:
#: ``Utility`` on every page, ``Comp`` on the Fusion page, the others on their own page.
SCRIPT_FOLDERS = ("Utility", "Comp", "Edit", "Color", "Deliver")

_MAC_SUPPORT = ("Library", "Application Support", "Blackmagic Design", "DaVinci Resolve")
_WIN_VENDOR = ("Blackmagic Design", "DaVinci Resolve")


def scripts_dir(
    system: str, env: Mapping[str, str], home: Union[str, os.PathLike], scope: str = "user"
) -> Path:
    """The ``Fusion/Scripts`` folder Resolve scans at start-up, for one user or for all users.

    The README writes the Windows user folder as ``%APPDATA%\\Roaming\\...``, but ``%APPDATA%``
    already is ``...\\AppData\\Roaming``: the folder is ``%APPDATA%\\Blackmagic Design\\DaVinci
    Resolve\\Support\\Fusion\\Scripts``.
    """
    if system not in SYSTEMS:
        raise ValueError(f"DaVinci Resolve runs on {', '.join(SYSTEMS)}, not {system!r}")
    if scope not in ("user", "all"):
        raise ValueError(f"scope must be 'user' or 'all', got {scope!r}")
    home = Path(home)
    if system == "Darwin":
        base = (
            home.joinpath(*_MAC_SUPPORT) if scope == "user" else Path("/").joinpath(*_MAC_SUPPORT)
        )
        return base / "Fusion" / "Scripts"
    if system == "Windows":
        if scope == "user":
            appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
            return appdata.joinpath(*_WIN_VENDOR, "Support", "Fusion", "Scripts")
        return Path(env.get("PROGRAMDATA") or "C:\\ProgramData").joinpath(
            *_WIN_VENDOR, "Fusion", "Scripts"
        )
    if scope == "user":
        return home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts"
    # The DaVinci Linux ISO installs into /home/resolve instead of /opt/resolve.
    root = (
        Path("/home/resolve")
        if Path("/home/resolve/Fusion").is_dir() and not Path("/opt/resolve").is_dir()
        else Path("/opt/resolve")
    )
    return root / "Fusion" / "Scripts"


def scripting_api_dirs(system: str, env: Mapping[str, str]) -> List[Path]:
    """Candidate ``Developer/Scripting`` folders: ``$RESOLVE_SCRIPT_API`` first, then the
    default install. ``DaVinciResolveScript.py`` is in ``<folder>/Modules``."""
    out: List[Path] = []
    if env.get("RESOLVE_SCRIPT_API"):
        out.append(Path(env["RESOLVE_SCRIPT_API"]))
    if system == "Darwin":
        out.append(Path("/").joinpath(*_MAC_SUPPORT, "Developer", "Scripting"))
    elif system == "Windows":
        out.append(
            Path(env.get("PROGRAMDATA") or "C:\\ProgramData").joinpath(
                *_WIN_VENDOR, "Support", "Developer", "Scripting"
            )
        )
    elif system == "Linux":
        out += [Path("/opt/resolve/Developer/Scripting"), Path("/home/resolve/Developer/Scripting")]
    return out
