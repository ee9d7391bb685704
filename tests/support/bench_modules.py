"""Import a script of ``bench/`` (a scripts folder, not a package) from a test.

The bench's scene generators and metrics are the shots the tests render small; importing them
keeps one definition of each scene. The module is cached under ``void_bench_<name>`` so every
test sees the same one, and ``bench/`` is on ``sys.path`` only while it executes (its scripts
import each other by bare name).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module."""
    key = f"void_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))
