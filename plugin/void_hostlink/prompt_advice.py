"""The missing-prompt warning, defined once for every front end (CLI, panel, Nuke node, Resolve).

The VOID model card asks for a prompt describing the clean background (the shot without the
object); an empty prompt still runs but leaves the model without that description (issue 18).
Only the ``void`` engine reads the prompt, so ``propagate`` never warns. It lives here, in the
standard-library host package (Python 3.6), so Resolve's own Python can show it before a run;
the client re-exports it as :mod:`void_client.prompt_advice` (``docs/architecture.md``).
"""

from typing import Optional

#: The engine that reads the prompt.
PROMPT_ENGINE = "void"
#: An example a front end shows after the warning.
PROMPT_EXAMPLE = "a wooden table in a kitchen"


def missing_prompt(engine: str, prompt: Optional[str]) -> bool:
    """True when ``engine`` reads a prompt and ``prompt`` is empty or blank."""
    return str(engine or "").strip() == PROMPT_ENGINE and not str(prompt or "").strip()


def prompt_warning(engine: str, prompt: Optional[str], field: str = "prompt") -> Optional[str]:
    """The one-line warning for a missing prompt, naming the front end's own ``field`` (e.g.
    ``--prompt`` on the command line), or None when there is nothing to warn about."""
    if not missing_prompt(engine, prompt):
        return None
    return (
        "warning: no {0}; the VOID model card asks for a description of the clean "
        "background (the shot without the object), e.g. {0} '{1}'".format(field, PROMPT_EXAMPLE)
    )


__all__ = ["PROMPT_ENGINE", "PROMPT_EXAMPLE", "missing_prompt", "prompt_warning"]
