"""Reference constants shared by the pipeline and the options (no torch: cheap to import)."""

from __future__ import annotations

#: The reference's negative prompt (``config/quadmask_cogvideox.py``). Only read when
#: classifier-free guidance is on (guidance > 1), so pass 1 at guidance 1.0 never encodes it.
NEGATIVE_PROMPT = (
    "The video is not of a high quality, it has a low resolution. Watermark present in each frame. "
    "The background is solid. Strange body and strange trajectory. Distortion. "
)
#: T5 sequence length the transformer was trained with.
MAX_SEQUENCE_LENGTH = 226
#: Std of the noise the reference adds to the conditioning video when the transformer config
#: says ``add_noise_in_inpaint_model`` (``noise_aug_strength`` default of the reference pipeline).
NOISE_AUG_STRENGTH = 0.0563
#: Step caches the fast mode offers (``fast.py``): none, diffusers' FirstBlockCache, TaylorSeer lite.
STEP_CACHES = ("none", "fbc", "taylorseer")
#: FirstBlockCache's threshold (``step_cache="fbc"``): the relative change of the first block's
#: residual under which the remaining blocks are skipped (diffusers' examples use 0.05-0.2).
FAST_FBC_THRESHOLD = 0.1
#: TaylorSeer lite (the fast mode's cache): one full computation every this many steps after
#: its 3 warm-up steps, and the last step: 13 of 30 steps and 19 of 50 run the transformer.
FAST_TAYLORSEER_INTERVAL = 3
