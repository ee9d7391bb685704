"""The ``void`` engine: Netflix VOID (CogVideoX-Fun-V1.5-5b-InP fine-tuned on quadmasks).

Importing this package is cheap (no torch): the registry lists engines and asks
``VoidEngine.availability`` without loading anything. The model loads on first ``fill``.
"""

from void_daemon.engines.void.engine import VoidEngine

__all__ = ["VoidEngine"]
