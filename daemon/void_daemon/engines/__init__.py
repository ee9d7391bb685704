"""Engine registry. The core never imports an engine module directly; it asks here by name.

Third-party engines register through the ``void_remove.engines`` entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from importlib.metadata import entry_points
from typing import Any

from void_client.errors import ErrorCode, VoidError
from void_client.protocol import EngineInfo
from void_daemon.engines.base import Engine, EngineConfig, WindowInput

log = logging.getLogger(__name__)

BUILTIN_ENGINES: dict[str, str] = {
    "propagate": "void_daemon.engines.propagate:PropagateEngine",
    "void": "void_daemon.engines.void:VoidEngine",
}


def engine_names() -> dict[str, str]:
    names = dict(BUILTIN_ENGINES)
    try:
        for ep in entry_points(group="void_remove.engines"):
            names.setdefault(ep.name, ep.value)
    except Exception:  # a broken third-party plugin must not take the daemon down
        log.exception("could not read engine entry points")
    return names


def engine_class(name: str) -> type[Engine]:
    target = engine_names().get(name)
    if target is None:
        raise VoidError(
            ErrorCode.UNKNOWN_ENGINE,
            f"unknown engine {name!r}; available: {sorted(engine_names())}",
            "engine",
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE,
            f"engine {name!r} cannot be imported ({exc}); install its extra, e.g. pip install 'void-remove[{name}]'",
            "engine",
        ) from exc
    return getattr(module, attr)


def capabilities(config: EngineConfig) -> list[EngineInfo]:
    """For ``hello``: each engine with whether it can run here and why not."""
    out: list[EngineInfo] = []
    for name in engine_names():
        try:
            ok, reason = engine_class(name).availability(config)
        except VoidError as exc:
            ok, reason = False, exc.message
        except Exception as exc:  # report, never crash the hello
            ok, reason = False, f"{exc.__class__.__name__}: {exc}"
        out.append({"name": name, "available": ok, "reason": reason})
    return out


def detect_gpu() -> dict[str, Any]:
    """For ``hello``: ``{"gpu": name, "vram_free": bytes}``, ``""``/0 without a GPU or torch.

    torch is imported only inside the ``void`` engine (``docs/architecture.md``, import rules), so
    the daemon asks that engine's device module here, and only when torch is installed: the CPU
    daemon never pays for the import. Slow the first time (torch loads); call it off the loop.
    """
    if importlib.util.find_spec("torch") is None:
        return {"gpu": "", "vram_free": 0}
    from void_daemon.engines.void.devices import gpu_summary

    return gpu_summary()


def load_engine(name: str, config: EngineConfig) -> Engine:
    cls = engine_class(name)
    ok, reason = cls.availability(config)
    if not ok:
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE, f"engine {name!r} is not available: {reason}", "engine"
        )
    return cls(config)


__all__ = [
    "Engine",
    "EngineConfig",
    "WindowInput",
    "capabilities",
    "detect_gpu",
    "engine_class",
    "load_engine",
    "engine_names",
]
