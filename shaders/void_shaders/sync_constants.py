"""Keep the numbers in the GLSL, BlinkScript and DCTL kernels equal to ``spec.json``.

A line that carries a constant from the spec is tagged with a comment ``// spec: <path>``,
where ``<path>`` is a dotted key into ``spec.json`` (``overlay.colours.remove``). The first
numbers written on that line must equal the value there: one number for a scalar, one per item
for a list. A tag alone on its line applies to the next non-blank line (DCTL's
``DEFINE_UI_PARAMS`` lines are left free of comments). Each kernel's entry in ``spec.json``
also lists the paths every one of its files must carry.

    python shaders/void_shaders/sync_constants.py            # check; exit status 1 on any mismatch
    python shaders/void_shaders/sync_constants.py --write    # rewrite mismatched numbers from spec.json

Numbers are unsigned decimal literals (``31``, ``0.55``, ``0.55f``, ``1.0e30f``); the spec's
constants are all non-negative, so signs never need to be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC_PATH = HERE / "spec.json"
LANGUAGES = ("glsl", "blink", "dctl")

TAG = re.compile(r"//\s*spec:\s*([A-Za-z0-9_.]+)")
NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?([fF]?)(?![\w.])")


@dataclass
class Tag:
    path: str
    tag_line: int  # 0-based line of the comment
    line: int  # 0-based line whose numbers the tag describes


def load_spec(path: Path = SPEC_PATH) -> dict:
    return json.loads(Path(path).read_text())


def lookup(spec: dict, path: str) -> list[float]:
    """The spec value at a dotted path, as a list of numbers."""
    node = spec
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"spec.json has no {path!r}")
        node = node[key]
    values = node if isinstance(node, list) else [node]
    if not values or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        raise KeyError(f"spec.json {path!r} is not a number or a list of numbers")
    return [float(v) for v in values]


def code_part(line: str) -> str:
    """A line without its ``//`` comment (the shader sources have no ``//`` inside strings)."""
    cut = line.find("//")
    return line if cut < 0 else line[:cut]


def numbers(line: str) -> list[re.Match]:
    return list(NUMBER.finditer(code_part(line)))


def value(match: re.Match) -> float:
    return float(match.group(1) + (match.group(2) or ""))


def tags(lines: list[str]) -> list[Tag]:
    found = []
    for i, text in enumerate(lines):
        m = TAG.search(text)
        if not m:
            continue
        target = i
        if not code_part(text).strip():  # a tag on its own line describes the next code line
            target = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), i)
        found.append(Tag(m.group(1), i, target))
    return found


def kernel_files(spec: dict, root: Path = HERE) -> list[tuple[str, str, Path]]:
    """``(kernel, language, path)`` for every shader file named in the spec."""
    return [
        (name, lang, root / entry[lang])
        for name, entry in spec["kernels"].items()
        for lang in LANGUAGES
    ]


def check_file(path: Path, spec: dict, required: list[str] = ()) -> list[str]:
    """Problems in one file: wrong tagged numbers, unknown spec paths, required tags missing."""
    problems = []
    lines = path.read_text().splitlines()
    seen = set()
    for tag in tags(lines):
        where = f"{path.name}:{tag.line + 1}"
        seen.add(tag.path)
        try:
            want = lookup(spec, tag.path)
        except KeyError as exc:
            problems.append(f"{where}: {exc.args[0]}")
            continue
        got = [value(m) for m in numbers(lines[tag.line])][: len(want)]
        if got != want:
            problems.append(f"{where}: {tag.path} is {got}, spec.json says {want}")
    for path_ in required:
        if path_ not in seen:
            problems.append(f"{path.name}: no line tagged 'spec: {path_}'")
    return problems


def check(root: Path = HERE, spec: dict | None = None) -> list[str]:
    """Every problem across the shader folder; empty when the sources match the spec."""
    spec = load_spec(root / "spec.json") if spec is None else spec
    problems = []
    for name, lang, path in kernel_files(spec, root):
        if not path.is_file():
            problems.append(f"{path.name}: missing ({name}, {lang})")
            continue
        problems += check_file(path, spec, spec["kernels"][name]["constants"][lang])
    vert = root / spec["vertex_shader"]
    if not vert.is_file():
        problems.append(f"{vert.name}: missing (shared vertex shader)")
    return problems


def _format(want: float, token: re.Match) -> str:
    """``want`` written the way the token it replaces was written (int, float, ``f`` suffix)."""
    is_float = "." in token.group(1) or token.group(2)
    if not is_float and want == int(want):
        text = str(int(want))
    else:
        text = repr(float(want))
    return text + token.group(3)


def write_file(path: Path, spec: dict) -> bool:
    """Rewrite the tagged numbers of one file from the spec; True if the file changed."""
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    for tag in tags([line.rstrip("\n") for line in lines]):
        want = lookup(spec, tag.path)
        text = lines[tag.line]
        found = numbers(text)[: len(want)]
        if len(found) < len(want):
            raise ValueError(f"{path.name}:{tag.line + 1}: {tag.path} needs {len(want)} numbers")
        for match, w in reversed(list(zip(found, want, strict=True))):
            if value(match) != w:
                text = text[: match.start()] + _format(w, match) + text[match.end() :]
        lines[tag.line] = text
    updated = "".join(lines)
    if updated != original:
        path.write_text(updated)
    return updated != original


def write(root: Path = HERE, spec: dict | None = None) -> list[Path]:
    spec = load_spec(root / "spec.json") if spec is None else spec
    return [p for _, _, p in kernel_files(spec, root) if p.is_file() and write_file(p, spec)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite mismatched numbers from spec.json"
    )
    parser.add_argument(
        "--root", type=Path, default=HERE, help="the shader folder (default: this one)"
    )
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.root):
            print(f"updated {path}")
    problems = check(args.root)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
