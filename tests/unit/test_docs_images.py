"""The docs stay true to the code: their images and the ``void-remove`` flags and panel buttons
they name.

* Every image a doc links (``![…](images/x.png)``, ``<img src=…>``) exists, and every image in
  ``docs/images/`` is linked from some doc; the panel screenshots are exactly the ones
  ``bench/panel_screenshots.py`` makes, and docs/panel.md's "Making the screenshots" lists them.
* Every ``--flag`` of a ``void-remove <command> …`` line in docs/user-guide.md is an option of
  that command's real parser (``void_client.cli.main.build_parser``; commands other packages
  provide through ``void_client.plugins``), and every other ``--flag`` the guide names is an
  option of some ``void-remove`` command or of the daemon's own CLI.
* The "First shot, step by step" walkthrough names only ``void-remove run`` options, names the
  ones it promises (reference frames, preview, fill/matte for grading), and every button or
  field it puts in bold is a label in the panel's (or the Nuke node's) code.

Nothing runs: the parsers are built, never parsed with (docs/architecture.md, "Tests").
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from void_client import plugins
from void_client.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
IMAGES = DOCS / "images"
GUIDE = DOCS / "user-guide.md"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
#: Markdown image or link target: ``![alt](target "title")`` / ``[text](target)``.
_LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_IMG_SRC_RE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
#: A long option as written in prose or a command line (not an em dash, not ``a--b``).
_FLAG_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
_COMMAND_RE = re.compile(r"\bvoid-remove\s+([a-z][a-z0-9-]*)")
#: A fenced block, also one indented under a list item.
_FENCE_RE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_INLINE_CODE_RE = re.compile(r"`([^`\n]+)`")


def doc_files() -> list[Path]:
    top = [ROOT / name for name in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
    return sorted([p for p in top if p.is_file()] + list(DOCS.rglob("*.md")))


def image_links() -> list[tuple[Path, str, Path]]:
    """``(doc, target as written, resolved path)`` of every local image a doc links."""
    out = []
    for doc in doc_files():
        text = doc.read_text(encoding="utf-8")
        for target in [*_LINK_RE.findall(text), *_IMG_SRC_RE.findall(text)]:
            path = target.split("#", 1)[0].split("?", 1)[0]
            if "://" in path or not path.lower().endswith(IMAGE_SUFFIXES):
                continue
            out.append((doc, target, (doc.parent / path).resolve()))
    return out


def images_on_disk() -> list[Path]:
    return sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def test_every_linked_image_exists() -> None:
    links = image_links()
    missing = sorted(
        f"{doc.relative_to(ROOT)}: {target}" for doc, target, path in links if not path.is_file()
    )
    assert missing == []
    # The walkthrough and the panel page link the new screenshots (not a vacuous scan).
    linked = {(doc.name, path.name) for doc, _, path in links}
    for doc, name in (
        ("user-guide.md", "panel-suggest.png"),
        ("user-guide.md", "panel-job.png"),
        ("user-guide.md", "panel-preview-frame.png"),
        ("panel.md", "panel-suggest.png"),
        ("panel.md", "panel-job.png"),
    ):
        assert (doc, name) in linked


def test_every_image_is_linked_from_a_doc() -> None:
    linked = {path for _, _, path in image_links()}
    unlinked = [p.name for p in images_on_disk() if p.resolve() not in linked]
    assert unlinked == []


def test_panel_screenshots_are_the_ones_the_bench_script_makes() -> None:
    script = (ROOT / "bench" / "panel_screenshots.py").read_text(encoding="utf-8")
    made = sorted(re.findall(r"save\(\s*panel\s*,\s*\"([^\"]+\.png)\"", script))
    on_disk = sorted(p.name for p in images_on_disk() if p.name.startswith("panel-"))
    assert made == on_disk
    assert {"panel-job.png", "panel-suggest.png"} <= set(made)
    section = (DOCS / "panel.md").read_text(encoding="utf-8").split("## Making the screenshots")
    assert len(section) == 2
    listed = sorted(set(re.findall(r"`(panel-[\w-]+\.png)`", section[1])))
    assert listed == made


# ---------------------------------------------------------------------------- flags


def options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its sub-commands' parsers."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= options(sub)
    return found


def command_options() -> dict[str, set[str]]:
    """``void-remove`` command -> its options, from the real parsers: the built-in commands'
    from ``build_parser()``, the plugin commands' (``suggest-affected``, ``demo``…) from their
    own ``add_arguments`` as ``void_client.cli.main`` builds them when asked."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    out = {}
    for name, p in sub.choices.items():
        if p.get_default("_plugin"):
            module = plugins.load(plugins.COMMANDS_GROUP, name)
            p = argparse.ArgumentParser(prog=f"void-remove {name}")
            module.add_arguments(p)
        out[name] = options(p)
    return out


def code_texts(markdown: str) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of each command line in fenced blocks (backslash continuations
    joined) and of each inline code span outside them."""
    for m in _FENCE_RE.finditer(markdown):
        line = markdown.count("\n", 0, m.start(1)) + 1
        for text in m.group(1).replace("\\\n", " ").splitlines():
            yield line, text
            line += 1
    prose = _FENCE_RE.sub(lambda m: "\n" * m.group(0).count("\n"), markdown)
    for m in _INLINE_CODE_RE.finditer(prose):
        yield prose.count("\n", 0, m.start()) + 1, m.group(1)


def commands_in(markdown: str) -> list[tuple[int, str, list[str]]]:
    """``(line, command, [--flag, …])`` of every ``void-remove COMMAND …`` written out."""
    found = []
    for line, text in code_texts(markdown):
        text = re.split(r"\s#\s", text, maxsplit=1)[0]  # a shell comment is prose
        hits = list(_COMMAND_RE.finditer(text))
        for i, m in enumerate(hits):
            end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
            found.append((line, m.group(1), _FLAG_RE.findall(text[m.end() : end])))
    return found


def walkthrough(markdown: str) -> str:
    start = markdown.index("## First shot, step by step")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else len(markdown)]


def test_every_flag_of_a_void_remove_command_in_the_guide_exists() -> None:
    known = command_options()
    commands = commands_in(GUIDE.read_text(encoding="utf-8"))
    unknown = sorted({f"line {n}: void-remove {c}" for n, c, _ in commands if c not in known})
    assert unknown == []
    wrong = sorted(
        f"line {n}: void-remove {c} {flag}"
        for n, c, flags in commands
        for flag in flags
        if flag not in known[c]
    )
    assert wrong == []
    run_flags = sorted({f for _, c, flags in commands if c == "run" for f in flags})
    # The command lines the guide shows, at least (so the scan cannot silently find nothing).
    assert {"--plate", "--remove", "--affected", "--out", "--preview", "--preset"} <= set(run_flags)
    assert {"--fill-out", "--matte-out"} <= set(run_flags)
    suggest_flags = {f for _, c, flags in commands if c == "suggest-affected" for f in flags}
    assert {"--plate", "--remove", "--out"} <= suggest_flags


def test_every_flag_named_in_the_guide_belongs_to_a_command() -> None:
    from void_daemon.cli import build_parser as daemon_parser

    everywhere = set().union(*command_options().values()) | options(daemon_parser())
    named = sorted(set(_FLAG_RE.findall(GUIDE.read_text(encoding="utf-8"))))
    assert [f for f in named if f not in everywhere] == []
    # The run options the guide documents since issue 20 and the stereo work are all named.
    for flag in ("--grade-layers", "--reference", "--progress", "--view", "--matte-view"):
        assert flag in named


def test_the_walkthrough_names_only_real_run_options_and_panel_labels() -> None:
    text = walkthrough(GUIDE.read_text(encoding="utf-8"))
    run = command_options()["run"]
    named = sorted(set(_FLAG_RE.findall(text)))
    assert [f for f in named if f not in run] == []
    for flag in ("--preview", "--reference", "--fill-out", "--matte-out", "--grade-layers"):
        assert flag in named
    # Bold words that are not a step's title are buttons, fields or view modes: each must be a
    # label in the panel's code (or the Nuke node's, for its knobs).
    body = re.sub(r"^\d+\. \*\*[^*]+\*\*", "", text, flags=re.MULTILINE)
    labels = sorted(set(re.findall(r"\*\*([^*]+)\*\*", body)))
    source = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("plugin/void_client", "nuke/void_nuke")
        for p in sorted((ROOT / folder).rglob("*.py"))
    )
    missing = [label for label in labels if f'"{label}' not in source]
    assert missing == []
    for label in ("Suggest…", "Reference frames", "Add", "Preview frame", "Run"):
        assert label in labels
