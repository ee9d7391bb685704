"""Scene-linear plate ↔ the model's display-referred space, through OpenColorIO.

The VOID model was trained on display-referred video (sRGB-encoded Rec.709 in [0, 1]); plates
are scene-linear with values far above 1.0. Engines whose ``colour`` is ``"display"`` get their
frames through :class:`ColourTransform`, in three steps:

1. **OCIO, the job's config** — plate colour space → linear Rec.709 primaries (the model's
   primaries). The config is the host's (``JobSpec.ocio_config``, passed by the Nuke/Resolve
   glue), else ``$OCIO`` on the daemon host, else OCIO's built-in CG config. With no colour space
   given the plate is taken to be linear Rec.709 already and this step is skipped.
2. **The highlight shoulder** (here) — identity below ``knee``, a rational curve above it that
   maps ``[knee, ∞)`` onto ``[knee, 1)``. It is C¹ at the knee, strictly increasing and has a
   closed-form inverse, so a highlight of 16.0 comes back as 16.0 instead of clipping at 1.0.
   Working in linear (before the encoding) keeps the encoding's input inside [0, 1], which any
   config's encoding handles, LUT-based ones included.
3. **OCIO, the built-in config** — linear Rec.709 → sRGB-encoded Rec.709, the video the model
   saw. The model's space is a fact about the model, not the host, so this step never uses the
   host's config.

The way back is the same three steps inverted. Negative values (out-of-gamut colours, noise
under black) go through the linear parts of both transforms and come back too; engines clamp
what they feed the network. ``propagate`` and other ``"linear"`` engines skip all of this.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from void_client.errors import ErrorCode, VoidError
from void_daemon import safe_files

if TYPE_CHECKING:
    from void_client.job_spec import JobSpec

log = logging.getLogger(__name__)

#: OCIO's built-in CG config (ships inside the library; no file, no network).
BUILTIN_CONFIG = "ocio://default"
#: The model's primaries, linear, and its encoded space — names in the built-in config.
MODEL_LINEAR = "Linear Rec.709 (sRGB)"
MODEL_SPACE = "sRGB Encoded Rec.709 (sRGB)"
#: Linear value where the shoulder starts (≈ 0.80 once sRGB-encoded): below it the model sees
#: the plate's own sRGB encoding, unchanged.
DEFAULT_KNEE = 0.6
#: The largest linear value the inverse produces (half float's maximum): a model output of
#: exactly 1.0 would otherwise mean infinity.
MAX_LINEAR = 65504.0
#: Names a config without interchange roles may use for linear Rec.709 (besides the aliases
#: the built-in config lists for it). ``linear`` is nuke-default's scene-linear space.
_LINEAR_709_NAMES = (
    "linear",
    "lin_rec709",
    "Utility - Linear - sRGB",
    "Utility - Linear - Rec.709",
)


@dataclass(frozen=True)
class ColourSettings:
    """Which config and plate colour space; ``""`` means the default described above."""

    #: OCIO config: a file path or an ``ocio://`` URI; ``""`` → ``$OCIO`` → the built-in config.
    config: str = ""
    #: The plate's colour space in that config (names and aliases, case-insensitive:
    #: ``ACEScg``, ``lin_ap1``, ``Linear Rec.709 (sRGB)``...); ``""`` → linear Rec.709.
    input: str = ""
    knee: float = DEFAULT_KNEE

    @classmethod
    def from_spec(cls, spec: JobSpec) -> ColourSettings:
        """From a :class:`~void_client.job_spec.JobSpec` (``ocio_config``, ``colourspace``)."""
        return cls(config=spec.ocio_config, input=spec.colourspace)

    def config_ref(self) -> str:
        return self.config or os.environ.get("OCIO", "") or BUILTIN_CONFIG


# ---------------------------------------------------------------------------------------- curve
def shoulder(x: np.ndarray, knee: float = DEFAULT_KNEE) -> np.ndarray:
    """Highlight shoulder: ``x`` below ``knee``; above it ``knee + h·t/(1+t)``, ``t = (x−knee)/h``.

    ``h = 1 − knee``, so the curve approaches 1.0 and never reaches it. Computed in the input's
    float type (float32 keeps the round trip within 1e-5 relative up to 16.0; float64 input
    stays float64), on the pixels above the knee only.
    """
    out: np.ndarray = np.array(x, dtype=_float_type(x), copy=True)
    over = out > knee
    if over.any():
        h = out.dtype.type(1.0 - knee)
        t = (out[over] - out.dtype.type(knee)) / h
        out[over] = out.dtype.type(knee) + h * t / (1 + t)
    return out


def inverse_shoulder(y: np.ndarray, knee: float = DEFAULT_KNEE) -> np.ndarray:
    """Inverse of :func:`shoulder`; values at or above its limit give :data:`MAX_LINEAR`."""
    out: np.ndarray = np.array(y, dtype=_float_type(y), copy=True)
    over = out > knee
    if over.any():
        f = out.dtype.type
        h = f(1.0 - knee)
        top = f(shoulder(np.float64(MAX_LINEAR), knee))
        u = (np.minimum(out[over], top) - f(knee)) / h
        out[over] = f(knee) + h * u / (1 - u)
    return out


def _float_type(a: Any) -> type:
    return np.float64 if np.asarray(a).dtype == np.float64 else np.float32


# --------------------------------------------------------------------------------------- OCIO
def _ocio() -> Any:
    """PyOpenColorIO, imported on first use (``pip install opencolorio``; the daemon extra has it)."""
    try:
        import PyOpenColorIO
    except ImportError as exc:
        raise VoidError(
            ErrorCode.ENGINE_UNAVAILABLE,
            "display-space engines need OpenColorIO on the daemon host: pip install 'opencolorio>=2.3'",
            "engine",
        ) from exc
    return PyOpenColorIO


@functools.lru_cache(maxsize=8)
def load_config(ref: str) -> Any:
    """An OCIO config from a path or ``ocio://`` URI (cached; configs are immutable here).

    A path is read by the daemon itself, only if it is a regular file (``safe_files``): OCIO's
    own reader blocks on a FIFO with the GIL held, which froze the whole daemon. The text is
    parsed with the config's folder as working directory, as ``CreateFromFile`` would.
    """
    ocio = _ocio()
    try:
        if ref.startswith("ocio://"):
            return ocio.Config.CreateFromFile(ref)
        if ref.lower().endswith(".ocioz"):  # an archive: OCIO opens it by name
            safe_files.check_regular_file(ref, "ocio_config")
            return ocio.Config.CreateFromFile(ref)
        text = safe_files.read_regular_file(ref, "ocio_config").decode("utf-8", "replace")
        config = ocio.Config.CreateFromStream(text)
        config.setWorkingDir(os.path.dirname(os.path.abspath(ref)))
        return config
    except VoidError:
        raise
    except Exception as exc:  # OCIO raises its own Exception type with a useful message
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"cannot load the OCIO config {ref!r} on the daemon host: {exc}; pass a config this "
            f"machine can read, or leave it empty for OCIO's built-in config",
            "ocio_config",
        ) from exc


def _cpu(processor: Any) -> Any:
    ocio = _ocio()
    # LOSSLESS: no fast pow/log approximations, so forward ∘ inverse stays within float error.
    return processor.getOptimizedCPUProcessor(
        ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_LOSSLESS
    )


def _colourspace(config: Any, name: str, ref: str) -> str:
    cs = config.getColorSpace(name)
    if cs is None:
        names = sorted(config.getColorSpaceNames())
        shown = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"colour space {name!r} is not in the OCIO config {ref!r}; it has: {shown}",
            "colourspace",
        )
    return cs.getName()


def _linear_709_in(config: Any, builtin: Any) -> str | None:
    """The host config's own linear Rec.709 colour space, found by name or alias."""
    candidates = [
        MODEL_LINEAR,
        *builtin.getColorSpace(MODEL_LINEAR).getAliases(),
        *_LINEAR_709_NAMES,
    ]
    for name in candidates:
        cs = config.getColorSpace(name)
        if cs is not None and not cs.isData():
            return cs.getName()
    return None


def _input_processors(settings: ColourSettings) -> tuple[Any | None, Any | None, str]:
    """CPU processors plate → linear Rec.709 and back (None when the plate already is one)."""
    ocio = _ocio()
    if not settings.input:
        return None, None, f"{MODEL_LINEAR} (default)"
    ref = settings.config_ref()
    config = load_config(ref)
    builtin = load_config(BUILTIN_CONFIG)
    src = _colourspace(config, settings.input, ref)
    target = MODEL_LINEAR if config is builtin else _linear_709_in(config, builtin)
    if target is not None:
        try:
            fwd, inv = config.getProcessor(src, target), config.getProcessor(target, src)
        except Exception as exc:  # e.g. a LUT file the config names is missing on this host
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"OCIO cannot convert {src!r} to {target!r} in {ref!r}: {exc}",
                "colourspace",
            ) from exc
    else:
        try:  # configs with interchange roles: convert across configs through ACES2065-1
            fwd = ocio.Config.GetProcessorFromConfigs(config, src, builtin, MODEL_LINEAR)
            inv = ocio.Config.GetProcessorFromConfigs(builtin, MODEL_LINEAR, config, src)
        except Exception as exc:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"the OCIO config {ref!r} has no linear Rec.709 colour space and no aces_interchange "
                f"role to reach one ({exc}); add either to the config",
                "ocio_config",
            ) from exc
    if fwd.isNoOp():
        return None, None, f"{src} in {ref} (= {MODEL_LINEAR})"
    return _cpu(fwd), _cpu(inv), f"{src} in {ref}"


def _apply(cpu: Any, rgb: np.ndarray) -> np.ndarray:
    """Apply an OCIO CPU processor to float32 ``(..., 3)`` (in place on a contiguous copy)."""
    flat = np.array(rgb, dtype=np.float32, order="C", copy=True).reshape(-1, 3)
    if flat.size:
        cpu.applyRGB(flat)
    return flat.reshape(np.shape(rgb))


class ColourTransform:
    """Plate colour ↔ model space for one job's settings. Thread-safe; build with :func:`transform`."""

    def __init__(self, settings: ColourSettings) -> None:
        if not 0.0 < settings.knee < 1.0:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"highlight knee must be between 0 and 1, got {settings.knee}",
                "colourspace",
            )
        self.settings = settings
        self._to_linear, self._from_linear, source = _input_processors(settings)
        builtin = load_config(BUILTIN_CONFIG)
        self._encode = _cpu(builtin.getProcessor(MODEL_LINEAR, MODEL_SPACE))
        self._decode = _cpu(builtin.getProcessor(MODEL_SPACE, MODEL_LINEAR))
        self.description = f"{source} → shoulder(knee {settings.knee}) → {MODEL_SPACE}"

    def to_model(self, plate_rgb: np.ndarray) -> np.ndarray:
        """Plate RGB ``(..., 3)`` → model space float32 (in [0, 1) for in-gamut, non-negative input)."""
        x = np.asarray(plate_rgb, np.float32)
        if self._to_linear is not None:
            x = _apply(self._to_linear, x)
        return _apply(self._encode, shoulder(x, self.settings.knee))

    def from_model(
        self, model_rgb: np.ndarray, peak: np.ndarray | float | None = None
    ) -> np.ndarray:
        """Model space ``(..., 3)`` → plate RGB float32. ``peak`` caps the result per channel.

        The cap is the window's brightest input: a model output of (nearly) white would
        otherwise come back as an enormous highlight the plate never had.
        """
        y = _apply(self._decode, np.asarray(model_rgb, np.float32))
        x = inverse_shoulder(y, self.settings.knee)
        if self._from_linear is not None:
            x = _apply(self._from_linear, x)
        if peak is not None:
            x = np.minimum(x, np.asarray(peak, np.float32))
        return x


def transform(settings: ColourSettings = ColourSettings()) -> ColourTransform:
    """The (cached) :class:`ColourTransform` for ``settings`` (``$OCIO`` is read now)."""
    return _transform(dataclasses.replace(settings, config=settings.config_ref()))


@functools.lru_cache(maxsize=16)
def _transform(settings: ColourSettings) -> ColourTransform:
    t = ColourTransform(settings)
    log.info("colour: %s", t.description)
    return t


def to_model(linear: np.ndarray) -> np.ndarray:
    """Default settings (linear Rec.709 plate, built-in config): plate → model space."""
    return transform().to_model(linear)


def from_model(display: np.ndarray) -> np.ndarray:
    """Default settings: model space → plate."""
    return transform().from_model(display)
