"""The kernels in ``shaders/``: one spec, and every language computes what numpy computes.

* ``spec.json`` agrees with ``void_client.shader_reference`` (and the quadmask / job-spec constants).
* Every number tagged ``// spec:`` in the GLSL, BlinkScript and DCTL sources equals the spec
  (``shaders/void_shaders/sync_constants.py``), and the files have the structure their host expects.
* The GLSL is compiled and rendered headless (moderngl on Mesa's EGL/llvmpipe) on random
  float32 textures and compared with the numpy reference within 1/255.
* The BlinkScript and DCTL sources are compiled as C++ against a small stand-in for each
  host's kernel API and run on the same inputs: the arithmetic is checked, not only the text.

GL tests skip only when no EGL context can be made (or moderngl is missing); set
``VOID_REQUIRE_GL=1`` (CI) to make that a failure instead. The C++ runs skip when no C++
compiler is installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from void_client import quadmask
from void_client import shader_reference as kernels
from void_client.job_spec import JobSpec
from void_client.windows import _ramp

ROOT = Path(__file__).resolve().parents[2]
SHADERS = ROOT / "shaders" / "void_shaders"
W, H = 64, 48
TOL = 1.0 / 255.0
REQUIRE_GL = os.environ.get("VOID_REQUIRE_GL") == "1"
EGL_PACKAGES = "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri; pip install moderngl"


def _load_sync():
    spec = importlib.util.spec_from_file_location("void_shader_sync", SHADERS / "sync_constants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses needs the module registered
    spec.loader.exec_module(module)
    return module


sync = _load_sync()
SPEC = sync.load_spec()
KERNELS = list(SPEC["kernels"])


def kernel_file(name: str, lang: str) -> Path:
    return SHADERS / SPEC["kernels"][name][lang]


def assert_close(got: np.ndarray, want: np.ndarray, what: str, tol: float = TOL) -> float:
    got = np.asarray(got, np.float32)
    want = np.asarray(want, np.float32)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    print(f"{what}: max abs error {err:.3g} (limit {tol:.3g})")
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"
    return err


# ---------------------------------------------------------------------------------------------
# Inputs


def random_codes(rng: np.random.Generator, shape=(H, W)) -> np.ndarray:
    """8-bit quadmask codes: the four levels, any code, and the codes either side of each bound."""
    levels = rng.choice([0, 63, 127, 255], size=shape)
    anything = rng.integers(0, 256, size=shape)
    bounds = rng.choice([31, 32, 95, 96, 191, 192], size=shape)
    pick = rng.random(shape)
    return np.where(pick < 0.5, levels, np.where(pick < 0.8, anything, bounds)).astype(np.uint8)


def random_plate(rng: np.random.Generator) -> np.ndarray:
    """Scene-linear RGBA: a little below 0 and well above 1, as EXR plates are."""
    return (rng.random((H, W, 4)) * 2.5 - 0.25).astype(np.float32)


def random_hole(rng: np.random.Generator) -> np.ndarray:
    seeds = rng.random((H, W)) < 0.01
    seeds[H // 2, W // 3] = True
    return quadmask.dilate(seeds, 2)


def distance_outside(hole: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (pixel centres) to the nearest hole pixel; 0 inside."""
    ys, xs = np.nonzero(hole)
    gy, gx = np.mgrid[: hole.shape[0], : hole.shape[1]]
    d2 = (gy[..., None] - ys) ** 2 + (gx[..., None] - xs) ** 2
    return np.sqrt(d2.min(axis=-1).astype(np.float32))


def overlay_reference(
    plate: np.ndarray, codes: np.ndarray, opacity: float = kernels.OVERLAY_OPACITY
):
    out = plate.copy()
    out[..., :3] = kernels.quadmask_overlay(plate[..., :3], codes, opacity)
    return out


# ---------------------------------------------------------------------------------------------
# The spec and the numpy reference


def test_spec_json_agrees_with_kernels_py():
    levels = SPEC["levels"]
    colours = SPEC["overlay"]["colours"]
    assert set(kernels.OVERLAY_COLOURS) == {levels[name] for name in colours}
    for name, colour in colours.items():
        assert tuple(colour) == kernels.OVERLAY_COLOURS[levels[name]], name
    assert SPEC["overlay"]["opacity"] == kernels.OVERLAY_OPACITY
    snap = SPEC["snap"]
    assert kernels.SNAP_BOUNDS == tuple(
        (snap[n], levels[n]) for n in ("remove", "overlap", "affected")
    )
    assert kernels.KEEP_LEVEL == levels["keep"]
    c0, c1 = SPEC["crossfade"]["ramp_coefficients"]
    p = np.linspace(0.0, 1.0, 33)
    np.testing.assert_allclose(kernels.seam_ramp(p), c0 - c1 * np.cos(np.pi * p), atol=1e-15)


def test_spec_json_agrees_with_quadmask_and_job_defaults():
    levels = SPEC["levels"]
    assert (
        levels["remove"],
        levels["overlap"],
        levels["affected"],
        levels["keep"],
    ) == quadmask.LEVELS
    assert SPEC["feather"]["hole_threshold"] == quadmask.MATTE_THRESHOLD
    defaults = {f.name: f.default for f in dataclasses.fields(JobSpec)}
    assert SPEC["feather"]["default_px"] == defaults["feather"]


def test_snap_level_is_the_loader_snap_on_integer_codes():
    codes = np.arange(256)
    got = kernels.snap_level(codes)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, quadmask.snap(codes))
    np.testing.assert_array_equal(kernels.snap_level(codes.astype(np.uint8)), got)
    expected = np.where(codes <= 31, 0, np.where(codes <= 95, 63, np.where(codes <= 191, 127, 255)))
    np.testing.assert_array_equal(got, expected)


def test_snap_level_rounds_to_the_nearest_code_first():
    values = np.array([31.49, 31.5, 95.2, 95.5, 191.4, 191.5, -3.0, 300.0])
    np.testing.assert_array_equal(kernels.snap_level(values), [0, 63, 63, 127, 127, 255, 0, 255])


def test_overlay_leaves_keep_pixels_bit_identical():
    rng = np.random.default_rng(1)
    rgb = random_plate(rng)[..., :3]
    codes = random_codes(rng)
    out = kernels.quadmask_overlay(rgb, codes)
    keep = kernels.snap_level(codes) == 255
    assert keep.any() and (~keep).any()
    np.testing.assert_array_equal(out[keep], rgb[keep])
    assert not np.array_equal(out[~keep], rgb[~keep])


def test_seam_ramp_is_the_windows_raised_cosine():
    for m in (1, 2, 5, 16, 40):
        progress = (np.arange(m) + 1) / (m + 1)
        np.testing.assert_allclose(kernels.seam_ramp(progress), _ramp(m), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Constants in the shader sources


def test_shader_constants_match_spec_json():
    assert sync.check() == []


def test_every_kernel_exists_in_every_language():
    for name in KERNELS:
        for lang in sync.LANGUAGES:
            assert kernel_file(name, lang).is_file(), (name, lang)
    assert (SHADERS / SPEC["vertex_shader"]).is_file()


def test_sync_reports_and_rewrites_drifted_constants(tmp_path):
    root = tmp_path / "shaders"
    shutil.copytree(SHADERS, root)
    frag = root / "quadmask_overlay.frag"
    blink = root / "quadmask_overlay.blink"
    dctl = root / "seam_crossfade.dctl"
    originals = {p: p.read_text() for p in (frag, blink, dctl)}
    frag.write_text(originals[frag].replace("vec3(0.337, 0.706, 0.914)", "vec3(0.3, 0.706, 0.914)"))
    blink.write_text(originals[blink].replace("0.55f", "0.6f"))
    dctl.write_text(originals[dctl].replace("0.5f - 0.5f *", "0.5f - 0.45f *"))

    problems = sync.check(root)
    assert len(problems) == 3, problems
    assert any("quadmask_overlay.frag" in p and "overlay.colours.affected" in p for p in problems)
    assert any("quadmask_overlay.blink" in p and "overlay.opacity" in p for p in problems)
    assert any("seam_crossfade.dctl" in p and "crossfade.ramp_coefficients" in p for p in problems)

    assert sorted(sync.write(root)) == sorted([frag, blink, dctl])
    assert sync.check(root) == []
    for path, text in originals.items():
        assert path.read_text() == text


def test_sync_follows_a_changed_spec(tmp_path):
    root = tmp_path / "shaders"
    shutil.copytree(SHADERS, root)
    spec = sync.load_spec(root / "spec.json")
    spec["overlay"]["opacity"] = 0.4
    spec["snap"]["overlap"] = 96
    assert len(sync.check(root, spec)) == 6  # opacity and one bound, in three languages
    sync.write(root, spec)
    assert sync.check(root, spec) == []
    assert "uniform float opacity = 0.4;" in (root / "quadmask_overlay.frag").read_text()
    assert 'defineParam(opacity, "Opacity", 0.4f);' in (root / "quadmask_overlay.blink").read_text()
    assert (
        "DCTLUI_SLIDER_FLOAT, 0.4, 0.0, 1.0, 0.01)" in (root / "quadmask_overlay.dctl").read_text()
    )
    assert (
        "if (code <= 96.0f) tint = colourOverlap;" in (root / "quadmask_overlay.dctl").read_text()
    )


def test_sync_reports_a_missing_tag(tmp_path):
    root = tmp_path / "shaders"
    shutil.copytree(SHADERS, root)
    frag = root / "matte_feather.frag"
    frag.write_text(frag.read_text().replace("// spec: feather.default_px", ""))
    assert sync.check(root) == ["matte_feather.frag: no line tagged 'spec: feather.default_px'"]


# ---------------------------------------------------------------------------------------------
# Structure of each host's source


def parse_blink(source: str) -> dict:
    header = re.search(
        r"^kernel\s+(\w+)\s*:\s*(?:public\s+)?ImageComputationKernel<(\w+)>", source, re.M
    )
    assert header, "no 'kernel Name : ImageComputationKernel<...>' line"
    images = [
        (name, [a.strip() for a in args.split(",")])
        for args, name in re.findall(r"^\s*Image<([^>]*)>\s+(\w+)\s*;", source, re.M)
    ]
    section = re.search(r"^param:\s*$(.*?)(?=^local:|^\s*void\s)", source, re.M | re.S)
    params = (
        re.findall(r"^\s*(float|int|bool)\s+(\w+)\s*;", section.group(1), re.M) if section else []
    )
    defines = dict(re.findall(r"defineParam\(\s*(\w+)\s*,\s*\"[^\"]*\"\s*,\s*([^)]*)\)", source))
    return {
        "name": header.group(1),
        "granularity": header.group(2),
        "images": images,
        "params": params,
        "defines": defines,
    }


@pytest.mark.parametrize("name", KERNELS)
def test_blink_kernel_structure(name):
    source = kernel_file(name, "blink").read_text()
    entry = SPEC["kernels"][name]
    blink = parse_blink(source)
    assert blink["name"] == entry["blink_kernel"]
    assert blink["granularity"] == "ePixelWise"
    reads = [n for n, args in blink["images"] if args[0] == "eRead"]
    writes = [n for n, args in blink["images"] if args[0] == "eWrite"]
    assert reads and writes == ["dst"]
    for n, args in blink["images"]:
        if args[0] == "eRead":
            assert len(args) == 3 and args[2] == "eEdgeClamped", n
            if args[1] == "eAccessRanged2D":
                assert re.search(rf"\b{n}\.setRange\(", source), (
                    f"{n} is ranged but has no setRange"
                )
    assert [p for _, p in blink["params"]] == entry["blink_params"]
    assert set(blink["defines"]) == set(entry["blink_params"])
    for fn in ("define", "process"):
        assert re.search(rf"^\s*void\s+{fn}\(\)\s*\{{", source, re.M), f"no {fn}()"
    assert source.count("{") == source.count("}")
    assert source.rstrip().endswith("};")


DCTL_ENTRIES = {
    "transform": "__DEVICE__ float4 transform(int p_Width, int p_Height, int p_X, int p_Y, "
    "__TEXTURE__ p_TexR, __TEXTURE__ p_TexG, __TEXTURE__ p_TexB, __TEXTURE__ p_TexA)",
    "transition": "__DEVICE__ float4 transition(int p_Width, int p_Height, int p_X, int p_Y, "
    "__TEXTURE__ p_FromTexR, __TEXTURE__ p_FromTexG, __TEXTURE__ p_FromTexB, __TEXTURE__ p_FromTexA, "
    "__TEXTURE__ p_ToTexR, __TEXTURE__ p_ToTexG, __TEXTURE__ p_ToTexB, __TEXTURE__ p_ToTexA)",
}


def split_args(text: str) -> list[str]:
    """Split macro arguments on commas outside braces."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return parts + [cur.strip()]


def dctl_ui_params(source: str) -> list[list[str]]:
    return [split_args(m) for m in re.findall(r"^\s*DEFINE_UI_PARAMS\((.*)\)\s*$", source, re.M)]


@pytest.mark.parametrize("name", KERNELS)
def test_dctl_structure(name):
    source = kernel_file(name, "dctl").read_text()
    entry = DCTL_ENTRIES[SPEC["kernels"][name]["dctl_entry"]]
    assert source.count(entry) == 1, "the entry point must be the documented signature, once"
    assert len(re.findall(r"__DEVICE__\s+float[34]\s+(transform|transition)\s*\(", source)) == 1
    # Textures only in the entry point: Resolve refuses __TEXTURE__ passed into helpers.
    assert source.count("__TEXTURE__") == entry.count("__TEXTURE__")
    if "float4 transform(" in entry:
        assert "DEFINE_DCTL_ALPHA_MODE_STRAIGHT" in source
    code = "\n".join(
        sync.code_part(line)
        for line in source.splitlines()
        if not line.lstrip().startswith("DEFINE_")
    )
    bare = [m.group(0) for m in sync.NUMBER.finditer(code) if "." in m.group(1) and not m.group(3)]
    assert not bare, f"DCTL float literals need an f suffix: {bare}"
    for fields in dctl_ui_params(source):
        kind = fields[2]
        if kind == "DCTLUI_SLIDER_FLOAT":
            assert len(fields) == 7, fields
            default, lo, hi, step = map(float, fields[3:])
            assert lo <= default <= hi and step > 0, fields
        elif kind == "DCTLUI_CHECK_BOX":
            assert len(fields) == 4 and fields[3] in ("0", "1"), fields
        else:
            pytest.fail(f"unexpected UI kind {kind}")


def test_glsl_structure():
    vert = (SHADERS / SPEC["vertex_shader"]).read_text()
    assert vert.startswith("#version 330 core\n") and "out vec2 uv;" in vert
    for name in KERNELS:
        frag = kernel_file(name, "glsl").read_text()
        assert frag.startswith("#version 330 core\n"), name
        assert "in vec2 uv;" in frag and "layout(location = 0) out vec4 frag_colour;" in frag, name
        assert re.search(r"^void main\(\)\s*\{", frag, re.M), name


# ---------------------------------------------------------------------------------------------
# GLSL, rendered headless through EGL


def _unavailable(reason: str):
    if REQUIRE_GL:
        pytest.fail(f"VOID_REQUIRE_GL=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def gl():
    if not sys.platform.startswith("linux"):
        _unavailable("headless EGL rendering is set up for Linux (Mesa) only")
    try:
        import moderngl
    except ImportError as exc:
        _unavailable(f"moderngl is not installed ({exc}); {EGL_PACKAGES}")
    ctx, errors = None, []
    # GL entry points come from libGL (libgl1) or libOpenGL (libopengl0) when installed, else
    # from eglGetProcAddress alone, which Mesa answers for core GL too: libEGL is enough.
    for libgl in ("libGL.so.1", "libOpenGL.so.0", "libEGL.so.1"):
        try:
            ctx = moderngl.create_standalone_context(
                backend="egl", require=330, libgl=libgl, libegl="libEGL.so.1"
            )
            break
        except Exception as exc:  # noqa: BLE001 - any failure here means "no EGL context"
            errors.append(f"{libgl}: {exc}")
    if ctx is None:
        _unavailable(
            f"EGL is not available, no OpenGL 3.3 context ({'; '.join(errors)}); {EGL_PACKAGES}"
        )
    print(f"GL: {ctx.info['GL_RENDERER']} / {ctx.info['GL_VERSION']}")
    yield Renderer(ctx, moderngl)
    ctx.release()


class Renderer:
    def __init__(self, ctx, moderngl):
        self.ctx = ctx
        self.mgl = moderngl
        self.vert = (SHADERS / SPEC["vertex_shader"]).read_text()

    def program(self, name: str):
        frag = kernel_file(name, "glsl").read_text()
        return self.ctx.program(vertex_shader=self.vert, fragment_shader=frag)

    def texture(self, array: np.ndarray):
        a = np.ascontiguousarray(array)
        comps = 1 if a.ndim == 2 else a.shape[2]
        dtype = "f1" if a.dtype == np.uint8 else "f4"
        if dtype == "f4":
            a = a.astype(np.float32)
        tex = self.ctx.texture(
            (a.shape[1], a.shape[0]), comps, data=a.tobytes(), dtype=dtype, alignment=1
        )
        tex.filter = (self.mgl.NEAREST, self.mgl.NEAREST)
        return tex

    def render(self, name: str, textures: dict, uniforms: dict | None = None) -> np.ndarray:
        """Draw one kernel into an RGBA32F target of the textures' size; returns ``(H, W, 4)``."""
        prog = self.program(name)
        bound = []
        for unit, (uniform, array) in enumerate(textures.items()):
            tex = self.texture(array)
            tex.use(location=unit)
            prog[uniform].value = unit
            bound.append(tex)
        for uniform, v in (uniforms or {}).items():
            prog[uniform].value = v
        h, w = next(iter(textures.values())).shape[:2]
        target = self.ctx.texture((w, h), 4, dtype="f4")
        fbo = self.ctx.framebuffer(color_attachments=[target])
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0)
        vao = self.ctx.vertex_array(prog, [])
        vao.render(self.mgl.TRIANGLES, vertices=3)
        out = np.frombuffer(fbo.read(components=4, dtype="f4"), np.float32).reshape(h, w, 4).copy()
        for obj in (vao, fbo, target, prog, *bound):
            obj.release()
        return out


def test_glsl_kernels_compile_on_gl33_core(gl):
    assert gl.ctx.version_code >= 330
    for name in KERNELS:
        gl.program(name).release()


@pytest.mark.parametrize("opacity", [None, 0.3, 1.0])
def test_glsl_quadmask_overlay_matches_numpy(gl, opacity):
    rng = np.random.default_rng(10)
    plate = random_plate(rng)
    codes = random_codes(rng)
    uniforms = {} if opacity is None else {"opacity": opacity}
    want = overlay_reference(plate, codes, kernels.OVERLAY_OPACITY if opacity is None else opacity)
    keep = kernels.snap_level(codes) == 255
    # The mask as a float texture (code / 255) and as the 8-bit texture a viewer uploads.
    for mask, label in ((codes.astype(np.float32) / 255.0, "R32F"), (codes, "R8")):
        got = gl.render("quadmask_overlay", {"plate": plate, "quadmask": mask}, uniforms)
        assert_close(got, want, f"GLSL overlay, {label} mask, opacity {opacity}")
        np.testing.assert_array_equal(got[keep], plate[keep])  # keep and alpha untouched


def test_glsl_quadmask_overlay_snaps_in_between_values(gl):
    rng = np.random.default_rng(11)
    plate = random_plate(rng)
    values = rng.uniform(0.0, 255.0, (H, W))
    frac = values - np.floor(values)
    values = np.where(np.abs(frac - 0.5) < 0.02, values + 0.1, values)  # stay off exact halves
    got = gl.render(
        "quadmask_overlay", {"plate": plate, "quadmask": (values / 255.0).astype(np.float32)}
    )
    assert_close(got, overlay_reference(plate, values), "GLSL overlay, non-integer mask values")


@pytest.mark.parametrize("feather", [None, 2.5, 1.0, 0.0])
def test_glsl_matte_feather_matches_numpy(gl, feather):
    rng = np.random.default_rng(20)
    f = SPEC["feather"]["default_px"] if feather is None else feather
    span = max(2.0 * f, 2.0)
    d = (rng.random((H, W)) * span).astype(np.float32)
    d[rng.random((H, W)) < 0.15] = 0.0
    d[rng.random((H, W)) < 0.05] = f
    d[: H // 4, : W // 4] = distance_outside(random_hole(rng))[: H // 4, : W // 4]
    uniforms = {} if feather is None else {"feather": feather}
    got = gl.render("matte_feather", {"distance_px": d}, uniforms)
    want = kernels.feather_curve(d, f)
    for c in range(4):
        assert_close(got[..., c], want, f"GLSL feather {f}, channel {c}")
    assert np.all(got[d > f] == 0.0), "beyond the feather the matte must be exactly 0"
    assert np.all(got[d == 0.0] == 1.0), "inside the hole the matte must be exactly 1"


@pytest.mark.parametrize("weight", [0.0, 1.0, 0.3] + [round(w, 6) for w in _ramp(5)])
def test_glsl_seam_crossfade_matches_numpy(gl, weight):
    rng = np.random.default_rng(30)
    a, b = random_plate(rng), random_plate(rng)
    got = gl.render("seam_crossfade", {"window_a": a, "window_b": b}, {"weight_b": weight})
    assert_close(got, kernels.crossfade(a, b, weight), f"GLSL crossfade w={weight}")
    if weight == 0.0:
        np.testing.assert_array_equal(got, a)
    if weight == 1.0:
        np.testing.assert_array_equal(got, b)


def test_glsl_vertex_shader_flips_rows_for_top_down_images(gl):
    rng = np.random.default_rng(31)
    a = random_plate(rng)
    got = gl.render(
        "seam_crossfade",
        {"window_a": a, "window_b": a},
        {"weight_b": 0.0, "uv_scale": (1.0, -1.0), "uv_offset": (0.0, 1.0)},
    )
    np.testing.assert_array_equal(got, a[::-1])


# ---------------------------------------------------------------------------------------------
# BlinkScript and DCTL, compiled as C++ against a stand-in for each host's kernel API

BLINK_SHIM = r"""
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
using std::ceil; using std::cos; using std::fabs; using std::floor; using std::max; using std::min;
using std::pow; using std::sqrt;

struct float3 {
  float x, y, z;
  float3() : x(0), y(0), z(0) {}
  explicit float3(float v) : x(v), y(v), z(v) {}
  float3(float a, float b, float c) : x(a), y(b), z(c) {}
};
struct float4 {
  float x, y, z, w;
  float4() : x(0), y(0), z(0), w(0) {}
  explicit float4(float v) : x(v), y(v), z(v), w(v) {}
  float4(float a, float b, float c, float d) : x(a), y(b), z(c), w(d) {}
};
inline float4 operator+(float4 a, float4 b) { return float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w); }
inline float4 operator-(float4 a, float4 b) { return float4(a.x - b.x, a.y - b.y, a.z - b.z, a.w - b.w); }
inline float4 operator*(float4 a, float s) { return float4(a.x * s, a.y * s, a.z * s, a.w * s); }
inline float4 operator*(float s, float4 a) { return a * s; }
inline float3 operator+(float3 a, float3 b) { return float3(a.x + b.x, a.y + b.y, a.z + b.z); }
inline float3 operator*(float3 a, float s) { return float3(a.x * s, a.y * s, a.z * s); }
inline float3 operator*(float s, float3 a) { return a * s; }
inline float clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

enum BlinkEnum { ePixelWise, eComponentWise, eRead, eWrite, eReadWrite, eAccessPoint,
                 eAccessRanged1D, eAccessRanged2D, eAccessRandom, eEdgeClamped, eEdgeConstant, eEdgeNone };
template <int G> struct ImageComputationKernel {};

static int g_x = 0, g_y = 0;
static void fail(const char* what) { std::fprintf(stderr, "blink harness: %s at (%d, %d)\n", what, g_x, g_y); std::exit(3); }

template <int RW, int ACCESS = eAccessPoint, int EDGE = eEdgeNone>
struct Image {
  float* data = nullptr;
  int width = 0, height = 0;
  int rx0 = 0, ry0 = 0, rx1 = 0, ry1 = 0;
  static const int kComps = 4;
  void bind(float* d, int w, int h) { data = d; width = w; height = h; }
  void setRange(int x0, int y0, int x1, int y1) {
    if (ACCESS != eAccessRanged2D) fail("setRange on an image without 2D ranged access");
    rx0 = x0; ry0 = y0; rx1 = x1; ry1 = y1;
  }
  float* at(int dx, int dy) {
    if (ACCESS == eAccessPoint && (dx || dy)) fail("offset read from a point-access image");
    if (ACCESS == eAccessRanged2D && (dx < rx0 || dx > rx1 || dy < ry0 || dy > ry1)) fail("read outside setRange");
    int x = g_x + dx, y = g_y + dy;
    if (EDGE == eEdgeClamped) { x = min(max(x, 0), width - 1); y = min(max(y, 0), height - 1); }
    else if (x < 0 || y < 0 || x >= width || y >= height) fail("read outside the image");
    return data + 4 * ((size_t)y * width + x);
  }
  float4& operator()() { return *reinterpret_cast<float4*>(at(0, 0)); }
  float& operator()(int c) { return at(0, 0)[c]; }
  float4& operator()(int dx, int dy) { return *reinterpret_cast<float4*>(at(dx, dy)); }
  float& operator()(int dx, int dy, int c) { return at(dx, dy)[c]; }
};
#define SampleType(image) float4
#define ValueType(image) float
template <class T, class V> void defineParam(T& param, const char*, V value) { param = (T)value; }
"""

DCTL_SHIM = r"""
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
using std::max; using std::min;

struct float3 { float x, y, z; };
struct float4 { float x, y, z, w; };
static float3 make_float3(float x, float y, float z) { float3 v = {x, y, z}; return v; }
static float4 make_float4(float x, float y, float z, float w) { float4 v = {x, y, z, w}; return v; }
struct DctlTexture { const float* data; int width, height; };
static float _tex2D(const DctlTexture& t, int x, int y) {
  if (x < 0 || y < 0 || x >= t.width || y >= t.height) {
    std::fprintf(stderr, "dctl harness: _tex2D outside the frame at (%d, %d)\n", x, y); std::exit(3);
  }
  return t.data[(size_t)y * t.width + x];
}
#define __DEVICE__ static
#define __TEXTURE__ const DctlTexture&
#define __CONSTANT__ static const
#define __CONSTANTREF__ const
#define DEFINE_DCTL_ALPHA_MODE_STRAIGHT
#define DEFINE_DCTL_ALPHA_MODE_PREMULTIPLY
static float TRANSITION_PROGRESS = 0.0f;
static float _floorf(float x) { return std::floor(x); }
static float _ceilf(float x) { return std::ceil(x); }
static float _sqrtf(float x) { return std::sqrt(x); }
static float _fabs(float x) { return std::fabs(x); }
static float _powf(float x, float y) { return std::pow(x, y); }
static float _cosf(float x) { return std::cos(x); }
static float _sinf(float x) { return std::sin(x); }
static float _cospif(float x) { return (float)std::cos(M_PI * (double)x); }
static float _fminf(float x, float y) { return std::fmin(x, y); }
static float _fmaxf(float x, float y) { return std::fmax(x, y); }
static float _clampf(float x, float lo, float hi) { return std::fmin(std::fmax(x, lo), hi); }
static float _saturatef(float x) { return _clampf(x, 0.0f, 1.0f); }
"""

HARNESS_IO = r"""
static std::vector<float> read_rgba(const char* path, int w, int h) {
  std::vector<float> v((size_t)w * h * 4);
  FILE* f = std::fopen(path, "rb");
  if (!f || std::fread(v.data(), sizeof(float), v.size(), f) != v.size()) { std::fprintf(stderr, "cannot read %s\n", path); std::exit(2); }
  std::fclose(f);
  return v;
}
static void write_rgba(const char* path, const std::vector<float>& v) {
  FILE* f = std::fopen(path, "wb");
  if (!f || std::fwrite(v.data(), sizeof(float), v.size(), f) != v.size()) { std::fprintf(stderr, "cannot write %s\n", path); std::exit(2); }
  std::fclose(f);
}
"""


def blink_to_cpp(source: str) -> tuple[str, dict]:
    """BlinkScript to C++: ``kernel`` is a struct, ``param:``/``local:`` are access labels."""
    blink = parse_blink(source)
    cpp = re.sub(
        r"^kernel\s+(\w+)\s*:\s*(?:public\s+)?ImageComputationKernel<(\w+)>",
        r"struct \1 : ImageComputationKernel<\2>",
        source,
        flags=re.M,
    )
    cpp = re.sub(r"^(\s*)(param|local)\s*:", r"\1public:", cpp, flags=re.M)
    return cpp, blink


def blink_main(blink: dict) -> str:
    lines = [
        "int main(int argc, char** argv) {",
        "  const int W = std::atoi(argv[1]), H = std::atoi(argv[2]);",
        f"  static {blink['name']} k;",
        "  k.define();",
    ]
    out_index = None
    for i, (name, args) in enumerate(blink["images"]):
        if args[0] == "eWrite":
            lines.append(f"  std::vector<float> buf{i}((size_t)W * H * 4, 0.0f);")
            out_index = i
        else:
            lines.append(f"  std::vector<float> buf{i} = read_rgba(argv[{3 + i}], W, H);")
        lines.append(f"  k.{name}.bind(buf{i}.data(), W, H);")
    first = 3 + len(blink["images"])
    lines += [
        f"  for (int a = {first}; a < argc; ++a) {{",
        "    char* eq = std::strchr(argv[a], '='); *eq = 0; const char* key = argv[a]; double v = std::atof(eq + 1);",
        "    if (false) {}",
    ]
    for ctype, pname in blink["params"]:
        lines.append(f'    else if (!std::strcmp(key, "{pname}")) k.{pname} = ({ctype})v;')
    lines += [
        '    else { std::fprintf(stderr, "unknown param %s\\n", key); return 2; }',
        "  }",
        "  k.init();" if "void init()" in blink["source"] else "",
        "  for (g_y = 0; g_y < H; ++g_y) for (g_x = 0; g_x < W; ++g_x) k.process();",
        f"  write_rgba(argv[{3 + out_index}], buf{out_index});",
        "  return 0;",
        "}",
    ]
    return "\n".join(lines)


def dctl_to_cpp(source: str) -> tuple[str, list[tuple[str, str]]]:
    """DCTL to C++: each ``DEFINE_UI_PARAMS`` becomes a global holding its default."""
    params, out = [], []
    for line in source.splitlines():
        m = re.match(r"\s*DEFINE_UI_PARAMS\((.*)\)\s*$", line)
        if not m:
            out.append(line)
            continue
        fields = split_args(m.group(1))
        ctype = "float" if fields[2] in ("DCTLUI_SLIDER_FLOAT", "DCTLUI_VALUE_BOX") else "int"
        out.append(f"static {ctype} {fields[0]} = {fields[3]};")
        params.append((ctype, fields[0]))
    return "\n".join(out), params


def dctl_main(params: list[tuple[str, str]], transition: bool) -> str:
    images = 2 if transition else 1
    lines = [
        "int main(int argc, char** argv) {",
        "  const int W = std::atoi(argv[1]), H = std::atoi(argv[2]);",
        "  std::vector<float> planes[8];",
        f"  for (int i = 0; i < {images}; ++i) {{",
        "    std::vector<float> rgba = read_rgba(argv[3 + i], W, H);",
        "    for (int c = 0; c < 4; ++c) { planes[4 * i + c].resize((size_t)W * H);",
        "      for (size_t p = 0; p < (size_t)W * H; ++p) planes[4 * i + c][p] = rgba[4 * p + c]; }",
        "  }",
        "  DctlTexture t[8];",
        f"  for (int i = 0; i < {4 * images}; ++i) {{ t[i].data = planes[i].data(); t[i].width = W; t[i].height = H; }}",
        f"  for (int a = {4 + images}; a < argc; ++a) {{",
        "    char* eq = std::strchr(argv[a], '='); *eq = 0; const char* key = argv[a]; double v = std::atof(eq + 1);",
        '    if (!std::strcmp(key, "progress")) TRANSITION_PROGRESS = (float)v;',
    ]
    for ctype, pname in params:
        lines.append(f'    else if (!std::strcmp(key, "{pname}")) {pname} = ({ctype})v;')
    call = (
        "transition(W, H, x, y, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7])"
        if transition
        else "transform(W, H, x, y, t[0], t[1], t[2], t[3])"
    )
    lines += [
        '    else { std::fprintf(stderr, "unknown param %s\\n", key); return 2; }',
        "  }",
        "  std::vector<float> out((size_t)W * H * 4);",
        "  for (int y = 0; y < H; ++y) for (int x = 0; x < W; ++x) {",
        f"    float4 o = {call};",
        "    float* d = &out[4 * ((size_t)y * W + x)]; d[0] = o.x; d[1] = o.y; d[2] = o.z; d[3] = o.w;",
        "  }",
        f"  write_rgba(argv[{3 + images}], out);",
        "  return 0;",
        "}",
    ]
    return "\n".join(lines)


class HostKernel:
    """One compiled BlinkScript or DCTL kernel; ``run`` takes RGBA float32 images."""

    def __init__(self, exe: Path, workdir: Path):
        self.exe = exe
        self.workdir = workdir

    def run(self, *images: np.ndarray, **params: float) -> np.ndarray:
        paths = []
        for i, img in enumerate(images):
            p = self.workdir / f"in{i}.bin"
            np.ascontiguousarray(img, np.float32).tofile(p)
            paths.append(str(p))
        out = self.workdir / "out.bin"
        args = [str(self.exe), str(W), str(H), *paths, str(out)]
        args += [f"{k}={v!r}" for k, v in params.items()]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return np.fromfile(out, np.float32).reshape(H, W, 4)


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    cxx = (
        os.environ.get("CXX")
        or shutil.which("g++")
        or shutil.which("clang++")
        or shutil.which("c++")
    )
    if not cxx:
        pytest.skip("no C++ compiler (g++/clang++) to run the BlinkScript and DCTL kernels")
    built = {}

    def build(name: str, lang: str) -> HostKernel:
        if (name, lang) in built:
            return built[(name, lang)]
        source = kernel_file(name, lang).read_text()
        if lang == "blink":
            cpp, blink = blink_to_cpp(source)
            blink["source"] = source
            text = BLINK_SHIM + HARNESS_IO + cpp + "\n" + blink_main(blink)
        else:
            cpp, params = dctl_to_cpp(source)
            transition = SPEC["kernels"][name]["dctl_entry"] == "transition"
            text = DCTL_SHIM + HARNESS_IO + cpp + "\n" + dctl_main(params, transition)
        work = tmp_path_factory.mktemp(f"{name}_{lang}")
        src = work / "kernel.cpp"
        src.write_text(text)
        exe = work / "kernel"
        done = subprocess.run(
            [
                cxx,
                "-std=c++17",
                "-O1",
                "-ffp-contract=off",
                "-Wall",
                "-Werror",
                "-Wno-unused-function",
                "-o",
                str(exe),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, (
            f"{kernel_file(name, lang).name} does not compile:\n{done.stderr}"
        )
        built[(name, lang)] = HostKernel(exe, work)
        return built[(name, lang)]

    return build


@pytest.mark.parametrize("lang", ["blink", "dctl"])
def test_host_quadmask_overlay_matches_numpy(host_kernels, lang):
    kernel = host_kernels("quadmask_overlay", lang)
    rng = np.random.default_rng(40)
    plate = random_plate(rng)
    codes = random_codes(rng)
    for opacity in (None, 0.3):
        params = {} if opacity is None else {"opacity": opacity}
        want = overlay_reference(
            plate, codes, kernels.OVERLAY_OPACITY if opacity is None else opacity
        )
        if lang == "blink":
            mask = np.repeat((codes.astype(np.float32) / 255.0)[..., None], 4, axis=2)
            got = kernel.run(plate, mask, **params)
        else:  # the quadmask rides in the plate's alpha; DCTL outputs alpha 1
            image = plate.copy()
            image[..., 3] = codes.astype(np.float32) / 255.0
            got = kernel.run(image, **params)
            want[..., 3] = 1.0
        assert_close(got, want, f"{lang} overlay, opacity {opacity}")
        keep = kernels.snap_level(codes) == 255
        np.testing.assert_array_equal(got[keep][:, :3], plate[keep][:, :3])


def test_dctl_quadmask_overlay_reads_the_mask_from_red_when_asked(host_kernels):
    kernel = host_kernels("quadmask_overlay", "dctl")
    rng = np.random.default_rng(41)
    image = random_plate(rng)
    image[..., 0] = random_codes(rng).astype(np.float32) / 255.0
    got = kernel.run(image, maskInAlpha=0)
    want = overlay_reference(image, image[..., 0] * 255.0)
    want[..., 3] = 1.0
    assert_close(got, want, "dctl overlay, mask in red")


@pytest.mark.parametrize("lang", ["blink", "dctl"])
@pytest.mark.parametrize("feather", [None, 2.5, 1.0, 0.0])
def test_host_matte_feather_matches_numpy(host_kernels, lang, feather):
    kernel = host_kernels("matte_feather", lang)
    rng = np.random.default_rng(50)
    hole = random_hole(rng)
    f = SPEC["feather"]["default_px"] if feather is None else feather
    want = kernels.feather_curve(distance_outside(hole), f)
    params = {} if feather is None else {"feather": feather}
    matte = np.zeros((H, W, 4), np.float32)
    matte[..., 0] = np.where(hole, 1.0, 0.0)
    matte[..., 3] = np.where(hole, 0.75, 0.25)  # an in-between matte, still split at 0.5
    got = kernel.run(matte, **params)
    for c in range(4):
        assert_close(got[..., c], want, f"{lang} feather {f}, channel {c}")
    assert np.all(got[want == 0.0] == 0.0), "outside the feather the matte must be exactly 0"
    if lang == "dctl":
        assert_close(
            kernel.run(matte, holeInAlpha=0, **params)[..., 0], want, f"dctl feather {f}, red"
        )


@pytest.mark.parametrize("weight", [0.0, 1.0, 0.3, 0.5])
def test_blink_seam_crossfade_matches_numpy(host_kernels, weight):
    kernel = host_kernels("seam_crossfade", "blink")
    rng = np.random.default_rng(60)
    a, b = random_plate(rng), random_plate(rng)
    assert_close(
        kernel.run(a, b, weightB=weight),
        kernels.crossfade(a, b, weight),
        f"blink crossfade w={weight}",
    )


def test_blink_seam_crossfade_default_weight_is_half(host_kernels):
    rng = np.random.default_rng(61)
    a, b = random_plate(rng), random_plate(rng)
    got = host_kernels("seam_crossfade", "blink").run(a, b)
    assert_close(got, kernels.crossfade(a, b, 0.5), "blink crossfade default")


def test_dctl_transition_follows_the_seam_ramp(host_kernels):
    kernel = host_kernels("seam_crossfade", "dctl")
    rng = np.random.default_rng(70)
    a, b = random_plate(rng), random_plate(rng)
    np.testing.assert_array_equal(kernel.run(a, b, progress=0.0), a)
    np.testing.assert_array_equal(kernel.run(a, b, progress=1.0), b)
    m = 6  # the windows' weights at the overlap frames: progress (j + 1) / (m + 1)
    for j, w in enumerate(_ramp(m)):
        p = (j + 1) / (m + 1)
        assert math.isclose(float(kernels.seam_ramp(p)), w, abs_tol=1e-12)
        assert_close(
            kernel.run(a, b, progress=p), kernels.crossfade(a, b, w), f"dctl transition p={p:.3f}"
        )
