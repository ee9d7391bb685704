"""VOID Remove daemon: ZeroMQ service, job store, window runner and engines.

Heavy dependencies (torch, diffusers) are imported only inside ``engines/void``.
"""

# One version for the whole distribution: pyproject reads void_client.__version__.
from void_client import __version__

__all__ = ["__version__"]
