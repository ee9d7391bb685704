"""Human-readable sizes for messages (docs/architecture.md: errors say what to do in one line).

``format_bytes(116672)`` is ``"114 KiB"``, never ``"0 MiB"``: three significant figures in the
largest binary unit that keeps the number at least 1.
"""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: float) -> str:
    """``512`` → ``"512 B"``, ``1.5 * 2**20`` → ``"1.50 MiB"``, ``7.25 * 2**30`` → ``"7.25 GiB"``."""
    value = float(n)
    unit = 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {_UNITS[unit]}"
