"""What the Resolve side needs from the client's tables, copied so Resolve's Python never
imports the client (docs/architecture.md, "Host isolation").

A copy, not a second source: ``tests/unit/test_resolve_isolation.py`` fails when any value here
differs from ``void_client.presets``, ``void_client.prompt_advice`` or
``void_client.protocol``, and prints this file's new text to paste in.
"""

#: ``void_client.protocol.DEFAULT_ENDPOINT``.
DEFAULT_ENDPOINT = "tcp://127.0.0.1:47615"
#: ``void_client.prompt_advice.PROMPT_ENGINE`` / ``PROMPT_EXAMPLE``.
PROMPT_ENGINE = "void"
PROMPT_EXAMPLE = "a wooden table in a kitchen"
#: ``void_client.presets.PRESETS``: (name, description, whether it runs pass 2).
PRESETS = (
    (
        "fast preview",
        "judge the mattes and the fill quickly: short windows, pass 1 only, fewer diffusion steps; not for delivery",
        False,
    ),
    (
        "final",
        "delivery quality: longest windows, pass 2 refinement, the reference step counts",
        True,
    ),
    (
        "long shot",
        "hundreds of frames: longest windows chained so each continues the previous one, wider overlap to hide the seams",
        False,
    ),
    (
        "4K plate",
        "UHD/4K plates: shorter windows and tiled VAE to fit GPU memory, mattes grown and feathered in proportion to the resolution",
        False,
    ),
)
