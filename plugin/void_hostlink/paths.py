"""Where VOID Remove keeps its files on this machine, defined once for the client and the hosts
(standard library, Python 3.6): ``$VOID_REMOVE_HOME``, else ``$XDG_CACHE_HOME/void-remove``,
else ``~/.cache/void-remove``. :mod:`void_client.paths` and the hosts read it from here.
"""

import os


def home() -> str:
    """VOID Remove's folder on this machine (not created here)."""
    env = os.environ.get("VOID_REMOVE_HOME")
    if env:
        return os.path.expanduser(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "void-remove")
