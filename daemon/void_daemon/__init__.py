"""VOID Remove daemon: ZeroMQ service, job store, window runner and engines.

Heavy dependencies (torch, diffusers) are imported only inside ``engines/void``.
"""

__version__ = "0.1.0"
