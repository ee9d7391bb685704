"""Pure path logic behind "sources are sacred" (docs/reliability.md, Sources and outputs):
every spelling of an input frame is recognised as that frame, version-up picks the next free name."""

from __future__ import annotations

import os

import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.output_guard import check_job_paths, check_outputs_disjoint, same_file_key
from void_client.output_manifest import next_version, settings_hash
from void_client.sequence import SequencePattern
from void_client.units import format_bytes


def _touch(path: os.PathLike | str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    return str(path)


def test_same_frame_in_every_spelling_is_one_file(tmp_path) -> None:
    frames = [1001, 1002]
    for f in frames:
        _touch(tmp_path / "shot" / f"s.{f}.exr")
    plate = SequencePattern.parse(str(tmp_path / "shot" / "s.####.exr"))
    for spelling in ("s.%04d.exr", "s.$F4.exr", "s.####.exr", "./s.####.exr"):
        out = SequencePattern.parse(os.path.join(str(tmp_path / "shot"), spelling))
        with pytest.raises(VoidError) as err:
            check_job_paths([("plate", plate)], out, frames)
        assert err.value.code == ErrorCode.BAD_SPEC and err.value.field == "out"
        assert "would overwrite the plate's frame" in err.value.message
        assert str(tmp_path / "shot" / "s.1001.exr") in err.value.message
        assert "choose another --out" in err.value.message


def test_symlinked_folder_and_dotdot_are_seen_through(tmp_path) -> None:
    _touch(tmp_path / "real" / "s.1001.exr")
    os.symlink(tmp_path / "real", tmp_path / "link")
    plate = SequencePattern.parse(str(tmp_path / "real" / "s.####.exr"))
    for spelled in (
        tmp_path / "link" / "s.%04d.exr",
        tmp_path / "real" / ".." / "link" / "s.####.exr",
    ):
        with pytest.raises(VoidError, match="would overwrite the plate's frame"):
            check_job_paths([("plate", plate)], SequencePattern.parse(str(spelled)), [1001])


def test_a_frame_not_yet_on_disk_is_still_protected_by_name(tmp_path) -> None:
    # The matte folder exists but frame 1002 is missing: the names still match.
    _touch(tmp_path / "m" / "rm.1001.exr")
    rm = SequencePattern.parse(str(tmp_path / "m" / "rm.####.exr"))
    with pytest.raises(VoidError, match="remove matte's frame"):
        check_job_paths([("remove matte", rm)], SequencePattern.parse(str(rm)), [1002])


def test_hard_link_and_case_spelling_of_an_existing_frame(tmp_path) -> None:
    src = _touch(tmp_path / "a" / "s.1001.exr")
    os.makedirs(tmp_path / "b")
    os.link(src, tmp_path / "b" / "t.1001.exr")
    with pytest.raises(VoidError, match="would overwrite"):
        check_outputs_disjoint([src], [str(tmp_path / "b" / "t.1001.exr")])


def test_disjoint_outputs_pass(tmp_path) -> None:
    src = _touch(tmp_path / "s.1001.exr")
    check_outputs_disjoint([src], [str(tmp_path / "clean.1001.exr")])
    check_outputs_disjoint([src], [str(tmp_path / "s.01001.exr")])  # other padding, other file
    assert same_file_key(src) == same_file_key(str(tmp_path / "." / "s.1001.exr"))


def test_version_up_picks_the_next_free_version(tmp_path) -> None:
    base = str(tmp_path / "clean.####.exr")
    assert next_version(base) == str(tmp_path / "clean_v001.####.exr")
    _touch(tmp_path / "clean_v001.1001.exr")
    assert next_version(base) == str(tmp_path / "clean_v002.####.exr")
    assert next_version(str(tmp_path / "clean_v001.%04d.exr")) == str(
        tmp_path / "clean_v002.####.exr"
    )
    _touch(tmp_path / "clean_v002.1001.exr")
    _touch(tmp_path / "clean_v007.1001.exr")
    assert next_version(str(tmp_path / "clean_v001.####.exr")) == str(
        tmp_path / "clean_v003.####.exr"
    )


def test_settings_hash_changes_with_pixel_deciding_fields_only() -> None:
    spec = JobSpec(frames=[1, 2], width=64, height=48)
    same = JobSpec(frames=[1, 2], width=64, height=48, name="other-name", job_id="x")
    other = JobSpec(frames=[1, 2], width=64, height=48, dilation=9)
    inputs = ["/p/s.####.exr", "/p/rm.####.exr", ""]
    assert settings_hash(spec, inputs) == settings_hash(same, inputs)
    assert settings_hash(spec, inputs) != settings_hash(other, inputs)
    assert settings_hash(spec, inputs) != settings_hash(spec, ["/q/s.####.exr", *inputs[1:]])


@pytest.mark.parametrize(
    "n, text",
    [
        (0, "0 B"),
        (512, "512 B"),
        (300 * 1024, "300 KiB"),
        (int(1.5 * 2**20), "1.50 MiB"),
        (116672, "114 KiB"),
        (int(7.25 * 2**30), "7.25 GiB"),
        (int(2.5 * 2**40), "2.50 TiB"),
    ],
)
def test_sizes_are_printed_in_sensible_units(n: int, text: str) -> None:
    assert format_bytes(n) == text
