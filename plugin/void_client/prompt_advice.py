"""The missing-prompt warning for the client's front ends (CLI, panel).

Defined once in :mod:`void_hostlink.prompt_advice`, the standard-library host package, so the
Resolve and Nuke processes can use the same words without importing the client
(``docs/architecture.md``: host isolation).
"""

from void_hostlink.prompt_advice import (
    PROMPT_ENGINE,
    PROMPT_EXAMPLE,
    missing_prompt,
    prompt_warning,
)

__all__ = ["PROMPT_ENGINE", "PROMPT_EXAMPLE", "missing_prompt", "prompt_warning"]
