"""The artist presets (``void_client.presets``): one table, valid specs, merged engine options."""

from __future__ import annotations

import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.presets import (
    PRESET_KEYS,
    PRESETS,
    apply_preset,
    get_preset,
    matching_preset,
    preset_names,
)
from void_client.windows import is_valid_length


def test_the_four_artist_presets_exist_in_order() -> None:
    assert preset_names() == ["fast preview", "final", "long shot", "4K plate"]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_makes_a_valid_job_spec(preset) -> None:
    settings = apply_preset(preset.name, {})
    spec = JobSpec(frames=list(range(1001, 1101)), width=64, height=32, **settings).validate()
    assert is_valid_length(spec.window), "a preset's window must be a valid 8m+5 length"
    assert 0 <= spec.overlap < spec.window
    assert set(preset.settings) <= set(PRESET_KEYS)


def test_apply_sets_the_fields_and_keeps_the_rest() -> None:
    before = {"prompt": "a street", "seed": 7, "window": 13, "engine_options": {"guidance": 2.0}}
    after = apply_preset("fast preview", before)
    assert after["window"] == 45 and after["overlap"] == 8 and after["pass2"] is False
    assert after["prompt"] == "a street" and after["seed"] == 7
    # merged, preset wins on its own keys, the user's other keys survive
    assert after["engine_options"] == {"guidance": 2.0, "steps": 10}
    # the input is not modified
    assert before == {
        "prompt": "a street",
        "seed": 7,
        "window": 13,
        "engine_options": {"guidance": 2.0},
    }


def test_final_turns_pass2_on_and_long_shot_chains() -> None:
    assert apply_preset("final", {})["pass2"] is True
    assert apply_preset("long shot", {})["seam"] == "chain"
    assert apply_preset("4K plate", {})["engine_options"]["vae_tiling"] is True
    assert apply_preset("4K plate", {})["dilation"] == 2 * apply_preset("final", {})["dilation"]


def test_names_are_forgiving_for_cli_flags() -> None:
    assert get_preset("fast-preview").name == "fast preview"
    assert get_preset("LONG_SHOT").name == "long shot"
    assert get_preset("4k-plate").name == "4K plate"


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(VoidError) as info:
        apply_preset("cinematic", {})
    assert info.value.code == ErrorCode.BAD_SPEC
    assert "'fast preview'" in str(info.value) and "'4K plate'" in str(info.value)


def test_matching_preset_round_trips_and_edits_make_it_custom() -> None:
    for name in preset_names():
        assert matching_preset(apply_preset(name, {"seed": 1})) == name
    edited = apply_preset("final", {})
    edited["feather"] = 9
    assert matching_preset(edited) is None
