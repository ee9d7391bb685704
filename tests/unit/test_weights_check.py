"""``void-remove weights check/download`` and the engine's refusal of bad weight files.

Real safetensors files: ``tests/support/void_tiny.py`` writes a valid layout, and each test damages
a copy the way downloads and copies go wrong (cut short, empty, a git-lfs pointer, the base
33-channel transformer saved under the VOID checkpoint's name). The issue-18 findings these
reproduce: a truncated or empty checkpoint passed the availability check and failed the first
window with a raw ``SafetensorError`` naming no file; a wrong checkpoint loaded silently.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from tests.support.void_tiny import BASE, write_tiny_weights  # noqa: E402
from void_client.cli.main import main as cli_main  # noqa: E402
from void_client.errors import ErrorCode, VoidError  # noqa: E402
from void_daemon.engines import load_engine  # noqa: E402
from void_daemon.engines.base import EngineConfig, WindowInput  # noqa: E402
from void_daemon.engines.void import VoidEngine, loading  # noqa: E402
from void_daemon.engines.void.checkpoint_header import (  # noqa: E402
    FileStatus,
    HeaderError,
    read_header,
)
from void_daemon.engines.void.layout import PASS1_FILE, PASS2_FILE, WeightsLayout  # noqa: E402
from void_daemon.weights_command import download, report, run_check  # noqa: E402

BASE_TRANSFORMER = Path(BASE) / "transformer" / "diffusion_pytorch_model.safetensors"
BASE_VAE = Path(BASE) / "vae" / "diffusion_pytorch_model.safetensors"
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 11\n".format(
    "0" * 64
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("void_weights"))


@pytest.fixture
def weights(pristine, tmp_path) -> Path:
    """A fresh copy of the valid layout for a test to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "w"))


def statuses(root: Path) -> dict[str, FileStatus]:
    return {
        str(c.path.relative_to(root)): c.status for c in WeightsLayout.resolve(str(root)).checks()
    }


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def damage(root: Path, how: str) -> Path:
    """Damage ``void_pass1.safetensors`` in ``root`` as ``how`` says; returns its path."""
    path = root / PASS1_FILE
    if how == "truncated":
        truncate(path, -1000)  # the end of the data section is gone
    elif how == "truncated_header":
        truncate(path, 20)  # the download stopped inside the JSON header
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "lfs":
        path.write_text(LFS_POINTER)
    elif how == "base_transformer":
        shutil.copyfile(root / BASE_TRANSFORMER, path)  # 33 channels: the base, not VOID
    elif how == "trailing":
        path.write_bytes(path.read_bytes() + b"\0" * 64)
    elif how == "not_safetensors":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 4096)  # a zip (torch.save pickle), say
    return path


# -- the header parser ---------------------------------------------------------------------------


def test_header_of_a_valid_checkpoint_gives_count_dtype_and_the_48_channel_embedding(pristine):
    header = read_header(pristine / PASS1_FILE)
    assert header.expected_size == (pristine / PASS1_FILE).stat().st_size
    patch = header.find("patch_embed.proj.weight")
    assert patch is not None and patch.shape == (32, 48 * 8)  # dim 2 heads x 16; 48 ch x 2x2x2
    assert header.dtypes() == ["F32"]
    base = read_header(pristine / BASE_TRANSFORMER)
    assert base.find("patch_embed.proj.weight").shape == (32, 33 * 8)
    assert len(base.tensors) == len(header.tensors)


@pytest.mark.parametrize(
    "how, status, says",
    [
        ("truncated", FileStatus.TRUNCATED, "1000 missing"),
        ("truncated_header", FileStatus.TRUNCATED, "20 bytes, but its header alone needs"),
        ("empty", FileStatus.EMPTY, "0 bytes"),
        ("lfs", FileStatus.NOT_DOWNLOADED, "git-lfs pointer"),
        ("trailing", FileStatus.CORRUPT, "64 more than its header describes"),
        ("not_safetensors", FileStatus.CORRUPT, "not a safetensors file"),
    ],
)
def test_header_parser_names_what_is_wrong(weights, how, status, says):
    path = damage(weights, how)
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.status == status
    assert says in err.value.detail


def test_header_offsets_that_contradict_the_shape_are_corrupt(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 60]}}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 60)
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.status == FileStatus.CORRUPT and "60 bytes for shape [4, 4] F32" in str(
        err.value
    )


# -- weights check -------------------------------------------------------------------------------


def test_check_lists_every_expected_file_present_with_sizes(pristine, capsys):
    checks = WeightsLayout.resolve(str(pristine)).checks()
    assert [c.status for c in checks] == [FileStatus.OK] * len(checks)
    listed = {str(c.path.relative_to(pristine)) for c in checks}
    assert {PASS1_FILE, PASS2_FILE, str(BASE_TRANSFORMER), str(BASE_VAE)} <= listed
    assert f"{BASE}/tokenizer/spiece.model" in listed
    assert f"{BASE}/text_encoder/model.safetensors" in listed
    assert f"{BASE}/scheduler/scheduler_config.json" in listed
    by_name = {c.path.name: c for c in checks}
    assert by_name[PASS1_FILE].size == (pristine / PASS1_FILE).stat().st_size
    assert "patch embedding 48 input channels" in by_name[PASS1_FILE].detail
    assert run_check(str(pristine)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "pass 1 ready"
    assert "get it:" not in out


@pytest.mark.parametrize(
    "how, status, says",
    [
        ("truncated", FileStatus.TRUNCATED, "1000 missing"),
        ("empty", FileStatus.EMPTY, "0 bytes"),
        ("lfs", FileStatus.NOT_DOWNLOADED, ""),
        (
            "base_transformer",
            FileStatus.WRONG_SHAPE,
            "has 33 input channels, the base CogVideoX-Fun InP transformer's; a VOID checkpoint has 48",
        ),
        ("not_safetensors", FileStatus.CORRUPT, "not a safetensors file"),
    ],
)
def test_check_reports_a_bad_pass1_checkpoint_and_how_to_get_it(weights, capsys, how, status, says):
    damage(weights, how)
    got = statuses(weights)
    assert got[PASS1_FILE] == status
    assert {k: v for k, v in got.items() if k != PASS1_FILE} == {
        k: FileStatus.OK for k in got if k != PASS1_FILE
    }
    assert run_check(str(weights)) == 1
    out = capsys.readouterr().out
    line = next(
        x for x in out.splitlines() if x.rstrip().endswith(PASS1_FILE) or f"{PASS1_FILE}  (" in x
    )
    assert line.split()[0] == status.value and says in line
    assert (
        f"get it: huggingface-cli download netflix/void-model {PASS1_FILE} --local-dir {weights}"
        in out
    )


def test_check_reports_base_files_and_missing_pass2_is_only_a_note(weights, capsys):
    truncate(weights / BASE_VAE, 100)
    (weights / PASS2_FILE).unlink()
    got = statuses(weights)
    assert got[str(BASE_VAE)] == FileStatus.TRUNCATED
    assert got[PASS2_FILE] == FileStatus.MISSING
    assert run_check(str(weights)) == 1
    out = capsys.readouterr().out
    assert f"--include 'vae/*' --local-dir {weights / BASE}" in out


def test_missing_pass2_alone_still_exits_0(weights, capsys):
    (weights / PASS2_FILE).unlink()
    assert run_check(str(weights)) == 0
    assert "pass 2 unavailable" in capsys.readouterr().out.splitlines()[-1]


def test_cli_weights_check_is_a_plugin_command(weights, capsys):
    damage(weights, "empty")
    assert cli_main(["weights", "check", "--dir", str(weights)]) == 1
    out = capsys.readouterr().out
    assert "empty" in out and str(weights / PASS1_FILE) in out


def test_check_does_not_import_torch(pristine):
    code = (
        "import sys; from void_daemon.weights_command import run_check; "
        f"rc = run_check({str(pristine)!r}); print(rc, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"]


# -- the engine refuses before any window --------------------------------------------------------


def _window(pass2: bool = False) -> WindowInput:
    import numpy as np

    frames = np.zeros((5, 32, 48, 3), np.float32)
    q = np.full((5, 32, 48), 255, np.uint8)
    q[:, 8:16, 8:24] = 0
    return WindowInput(
        frames=frames, quadmask=q, seed=1, prompt="", pass2=pass2, options={"steps": 1}
    )


@pytest.mark.parametrize("how", ["truncated", "empty", "base_transformer"])
def test_engine_refuses_a_bad_checkpoint_by_name_before_loading_anything(weights, how, monkeypatch):
    path = damage(weights, how)
    loads = []
    monkeypatch.setattr(loading, "load_transformer", lambda *a, **k: loads.append(a))
    config = EngineConfig(weights_dir=str(weights), device="cpu", options={"min_frames": 0})
    ok, reason = VoidEngine.availability(config)
    assert not ok and f"{FileStatus(statuses(weights)[PASS1_FILE]).value}: {path}" in reason
    with pytest.raises(VoidError) as err:
        load_engine("void", config)
    assert err.value.code == ErrorCode.ENGINE_UNAVAILABLE and str(path) in err.value.message
    engine = VoidEngine(config)
    with pytest.raises(VoidError) as err:
        engine.fill(_window())
    assert err.value.code == ErrorCode.WEIGHTS_MISSING and err.value.field == "weights_dir"
    assert str(path) in err.value.message
    assert "huggingface-cli download netflix/void-model" in err.value.message
    assert engine._runtime is None and loads == []


def test_a_truncated_pass2_is_refused_by_name_when_pass2_is_asked_for(weights, monkeypatch):
    path = weights / PASS2_FILE
    truncate(path, -10)
    config = EngineConfig(weights_dir=str(weights), device="cpu", options={"min_frames": 0})
    ok, reason = VoidEngine.availability(config)
    assert ok and reason.startswith(f"pass 2 unavailable (truncated: {path} (")
    engine = VoidEngine(config)
    with pytest.raises(VoidError) as err:
        engine.fill(_window(pass2=True))
    assert err.value.code == ErrorCode.WEIGHTS_MISSING
    assert f"truncated: {path}" in err.value.message and engine._runtime is None


# -- weights download, offline -------------------------------------------------------------------


def test_download_offline_fails_at_once_with_the_manual_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    layout = WeightsLayout.resolve(str(tmp_path))
    start = time.monotonic()
    with pytest.raises(VoidError) as err:
        download(layout)
    assert time.monotonic() - start < 2.0
    assert err.value.code == ErrorCode.WEIGHTS_MISSING
    message = err.value.message
    assert "HF_HUB_OFFLINE is set" in message
    assert (
        f"huggingface-cli download alibaba-pai/CogVideoX-Fun-V1.5-5b-InP --local-dir {tmp_path / BASE}"
        in message
    )
    assert f"netflix/void-model {PASS1_FILE} {PASS2_FILE} --local-dir {tmp_path}" in message
    assert not any(tmp_path.iterdir())  # nothing written
    assert cli_main(["weights", "download", "--dir", str(tmp_path), "--no-pass2"]) == 1
    err_text = capsys.readouterr().err
    assert "HF_HUB_OFFLINE is set" in err_text and PASS2_FILE not in err_text


def test_report_counts_files_to_fix(weights):
    damage(weights, "lfs")
    layout = WeightsLayout.resolve(str(weights))
    text = report(layout, layout.checks())
    assert text.splitlines()[-1] == (
        f"1 file(s) to fix; or run: void-remove weights download --dir {weights}"
    )
