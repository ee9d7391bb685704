"""``python -m void_resolve``: VOID Remove on Resolve's current clip, from outside Resolve.

Needs DaVinci Resolve Studio running with external scripting allowed (Preferences ▸ System ▸
General ▸ External scripting using: Local) and ``RESOLVE_SCRIPT_API`` / ``RESOLVE_SCRIPT_LIB``
set as in Resolve's scripting README.
"""

import argparse
import sys
from typing import List, Optional

from void_resolve.app import UIS, main
from void_resolve.client_tables import DEFAULT_ENDPOINT
from void_resolve.settings import (
    DEFAULT_MATTE,
    ENGINES,
    MATTE_MODES,
    RANGE_MODES,
    ResolveSettings,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m void_resolve", description=__doc__.splitlines()[0])
    p.add_argument(
        "--ui",
        choices=UIS,
        default="",
        help="window to open (default: Qt if PySide6 imports, else Resolve's, else none)",
    )
    p.add_argument(
        "--range",
        dest="range_mode",
        choices=RANGE_MODES,
        default="auto",
        help="frames: the clip, or the In/Out marks over it",
    )
    p.add_argument(
        "--matte",
        choices=MATTE_MODES,
        default=DEFAULT_MATTE,
        help=f"where the remove matte comes from (default: {DEFAULT_MATTE}, a matte clip on the "
        "track above)",
    )
    p.add_argument("--engine", default="propagate", help=f"daemon engine ({', '.join(ENGINES)})")
    p.add_argument("--prompt", default="", help="background description (void engine)")
    p.add_argument(
        "--pass2", action="store_true", help="VOID's warped-noise refinement pass (void engine)"
    )
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="daemon address")
    p.add_argument(
        "--no-autostart", action="store_true", help="fail instead of starting a local daemon"
    )
    p.add_argument(
        "--output",
        default="",
        help="folder for clean plates (default $VOID_RESOLVE_OUTPUT or ~/VOID Remove)",
    )
    p.add_argument(
        "--plate-part",
        default="",
        help="the part of a multi-part plate (void-remove run --plate PATTERN:part/)",
    )
    p.add_argument("--view", default="", help="stereo plates: left, right or all (--view)")
    return p.parse_args(argv)


def run(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    settings = ResolveSettings(
        range_mode=a.range_mode,
        matte=a.matte,
        engine=a.engine,
        prompt=a.prompt,
        pass2=a.pass2,
        endpoint=a.endpoint,
        autostart=not a.no_autostart,
        output_root=a.output,
        plate_part=a.plate_part,
        view=a.view,
    )
    return main(None, settings, a.ui)


if __name__ == "__main__":
    sys.exit(run())
