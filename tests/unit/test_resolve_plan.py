"""The Resolve flow's decisions, without Resolve: which clip and frames, format checks, codec,
render settings, matte choice, file mapping, track placement, settings, undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from void_resolve import formats, mattes, placement, render, rollback, selection, settings
from void_resolve.records import (
    FrameSpan,
    ItemInfo,
    ResolveError,
    SaverInfo,
    Sequence,
    TimelineInfo,
)


def item(name: str, track: int, start: int = 100, duration: int = 50, **kw) -> ItemInfo:
    return ItemInfo(
        name,
        track,
        start,
        duration,
        uid=f"{name}@{track}",
        resolution=kw.pop("resolution", "1920x1080"),
        **kw,
    )


def timeline(**kw) -> TimelineInfo:
    base = dict(
        name="Edit", start_frame=86400, frame_rate="24", width="1920", height="1080", video_tracks=3
    )
    return TimelineInfo(**{**base, **kw})


# --------------------------------------------------------------------------- clip and frames


def test_matte_under_the_playhead_hands_over_to_the_shot_below() -> None:
    shot, matte = item("A001_C002", 1), item("ball matte", 2)
    assert selection.choose_source([[shot], [matte], []], matte, None) is shot
    assert selection.choose_source([[shot], [matte], []], shot, None) is shot


def test_without_a_current_item_the_topmost_shot_covering_the_marks_is_used() -> None:
    low, high, matte = item("bg", 1, 0, 400), item("fg", 2, 100, 50), item("fg roto", 3, 100, 50)
    assert selection.choose_source([[low], [high], [matte]], None, FrameSpan(110, 120)) is high
    assert selection.choose_source([[low], [high], [matte]], None, FrameSpan(10, 20)) is low
    with pytest.raises(ResolveError, match="no clip covers the In/Out marks 500-510"):
        selection.choose_source([[low], [high], [matte]], None, FrameSpan(500, 510))
    with pytest.raises(ResolveError, match="no clip under the playhead") as err:
        selection.choose_source([[low]], None, None)
    assert (err.value.code, err.value.field) == ("nothing_selected", "clip")


def test_marks_count_from_the_timeline_start_and_ranges_follow_the_mode() -> None:
    assert selection.marked_span(timeline(marks={"video": {"in": 5, "out": 9}})) == FrameSpan(
        86405, 86409
    )
    assert selection.marked_span(timeline(marks={"video": {"in": 5}})) is None
    assert selection.marked_span(timeline(marks={})) is None
    clip = item("A", 1, 86400, 24)
    marks = FrameSpan(86410, 86500)
    assert selection.choose_span(clip, None, "auto") == FrameSpan(86400, 86423)
    assert selection.choose_span(clip, marks, "auto") == FrameSpan(86410, 86423)
    assert selection.choose_span(clip, marks, "clip") == FrameSpan(86400, 86423)
    assert selection.choose_span(clip, FrameSpan(1, 2), "auto") == FrameSpan(86400, 86423)
    with pytest.raises(ResolveError, match="do not overlap"):
        selection.choose_span(clip, FrameSpan(1, 2), "inout")
    with pytest.raises(ResolveError, match="no In and Out marks"):
        selection.choose_span(clip, None, "inout")


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(
    "text, fps, drop",
    [
        ("23.976", 23.976, False),
        ("24", 24.0, False),
        ("29.97 DF", 29.97, True),
        ("25.000", 25.0, False),
        ("59.94", 59.94, False),
        ("119.88", 119.88, False),
    ],
)
def test_timeline_rates_resolve_offers_are_read(text, fps, drop) -> None:
    assert formats.parse_frame_rate(text) == formats.FrameRate(fps, drop)


@pytest.mark.parametrize("text", ["12.5", "", "variable", "1000"])
def test_other_rates_are_refused(text) -> None:
    with pytest.raises(ResolveError) as err:
        formats.parse_frame_rate(text)
    assert (err.value.code, err.value.field) == ("unsupported_media", "frame_rate")


def test_format_is_the_clips_resolution_at_the_timelines_rate() -> None:
    fmt = formats.check_format(timeline(frame_rate="25"), item("A", 1, resolution="3840x2160"))
    assert (fmt.width, fmt.height, fmt.rate.fps) == (3840, 2160, 25.0)
    for res, words in (
        ("8x8", "16 to 16384"),
        ("20000x11250", "16 to 16384"),
        ("1440x1080", "distorted"),
        ("", "no readable resolution"),
    ):
        with pytest.raises(ResolveError, match=words) as err:
            formats.check_format(timeline(), item("A", 1, resolution=res))
        assert err.value.code == "unsupported_media"


def test_half_exr_codec_prefers_lossless_compression() -> None:
    assert (
        render.pick_exr_codec(
            {"a": "RGBFloat", "b": "RGBHalfDWAA", "c": "RGBHalf", "d": "RGBHalfZIP"}
        )
        == "RGBHalfZIP"
    )
    assert render.pick_exr_codec({"a": "RGBHalfPIZ", "b": "RGBHalf"}) == "RGBHalfPIZ"
    assert render.pick_exr_codec({"b": "RGBHalfDWAA", "c": "RGBHalf"}) == "RGBHalf"
    with pytest.raises(ResolveError, match="no half-float EXR codec"):
        render.pick_exr_codec({"a": "RGBFloat"})


def test_render_settings_ask_for_straight_alpha_only_when_the_matte_is_the_alpha(tmp_path) -> None:
    fmt = formats.Format(1920, 1080, formats.FrameRate(23.976))
    s = render.render_settings(tmp_path, "plate", FrameSpan(86400, 86499), fmt, alpha=True)
    assert s == {
        "SelectAllFrames": False,
        "MarkIn": 86400,
        "MarkOut": 86499,
        "TargetDir": str(tmp_path),
        "CustomName": "plate",
        "ExportVideo": True,
        "ExportAudio": False,
        "ExportSubtitle": False,
        "FormatWidth": 1920,
        "FormatHeight": 1080,
        "FrameRate": 23.976,
        "ExportAlpha": True,
        "AlphaMode": 1,
    }
    assert "AlphaMode" not in render.render_settings(tmp_path, "plate", FrameSpan(1, 2), fmt)


def test_render_status_is_read_as_resolve_reports_it() -> None:
    assert render.render_state(
        {"JobStatus": "Complete", "CompletionPercentage": 100}, False
    ) == render.RenderState(True, True, 100.0, "Complete")
    failed = render.render_state(
        {"JobStatus": "Failed", "CompletionPercentage": 12, "Error": "disk full"}, False
    )
    assert (failed.done, failed.ok, failed.message) == (True, False, "disk full")
    assert render.render_state({"JobStatus": "Cancelled"}, False).ok is False
    running = render.render_state({"JobStatus": "Rendering", "CompletionPercentage": 55.5}, True)
    assert (running.done, running.percent, running.idle) == (False, 55.5, False)
    assert render.render_state({"JobStatus": "Ready"}, False).idle is True
    assert render.render_state(None, True) == render.RenderState(False, False, 0.0, "", False)


# --------------------------------------------------------------------------- rendered files


def test_rendered_files_map_in_order_to_record_frames_whatever_resolve_numbers_them(
    tmp_path,
) -> None:
    for n in (7, 8, 9):
        (tmp_path / f"plate_{n:08d}.exr").write_bytes(b"")
    (tmp_path / "other_00000001.exr").write_bytes(b"")
    files = render.rendered_frames(tmp_path, "plate", FrameSpan(86400, 86402), "plate")
    assert [f.name for f in files] == [
        "plate_00000007.exr",
        "plate_00000008.exr",
        "plate_00000009.exr",
    ]
    (tmp_path / "plate_00000011.exr").write_bytes(b"")
    with pytest.raises(ResolveError, match="wrote 4 frames"):
        render.rendered_frames(tmp_path, "plate", FrameSpan(86400, 86402), "plate")


def test_saver_frames_are_found_in_comp_time(tmp_path) -> None:
    clip = item("A", 1, 86400, 10)
    numbers = render.comp_frames((0.0, 9.0), clip, FrameSpan(86403, 86405))
    assert numbers == [3, 4, 5]
    assert render.saver_frames(tmp_path, "remove_", numbers, "VOID_remove") is None
    for n in (3, 4):
        (tmp_path / f"remove_{n:04d}.exr").write_bytes(b"")
    with pytest.raises(ResolveError, match=r"missing comp frames \[5\]"):
        render.saver_frames(tmp_path, "remove_", numbers, "VOID_remove")
    with pytest.raises(ResolveError, match="renders 5 frames"):
        render.comp_frames((1001, 1005), clip, FrameSpan(86400, 86401))


def test_adopt_renames_to_record_frames(tmp_path) -> None:
    files = []
    for n in (1, 2):
        files.append(tmp_path / f"r{n}.exr")
        files[-1].write_text(str(n))
    pattern = Sequence(str(tmp_path / "seq" / "plate."), 8, ".exr")
    render.adopt(files, pattern, FrameSpan(86400, 86401))
    assert [open(pattern.path(f)).read() for f in (86400, 86401)] == ["1", "2"]


# --------------------------------------------------------------------------- mattes


def saver(name: str, *upstream: str) -> SaverInfo:
    return SaverInfo(name, 1, tuple(upstream))


def test_matte_savers_by_name_else_the_one_fed_by_a_mask() -> None:
    named = [
        saver("Saver1", "PolylineMask"),
        saver("VOID_remove", "MediaIn"),
        saver("VOID_affected", "BSplineMask"),
    ]
    assert [s.name for s in mattes.choose_matte_savers(named)] == ["VOID_remove", "VOID_affected"]
    assert [
        getattr(s, "name", None)
        for s in mattes.choose_matte_savers(
            [saver("Saver1", "MatteControl", "MediaIn"), saver("Saver2", "MediaIn")]
        )
    ] == ["Saver1", None]
    with pytest.raises(ResolveError, match="several Savers write mattes"):
        mattes.choose_matte_savers([saver("Saver1", "PolylineMask"), saver("Saver2", "MagicMask")])


def test_auto_matte_prefers_a_matte_named_clip_above_then_fusion() -> None:
    # Issue 16 #2: a matte clip renders through Deliver like the plate; a Saver needs a comp render.
    above, title = item("ball matte", 2), item("Title 1", 2)
    assert mattes.choose_matte("auto", [saver("Saver1", "PolylineMask")], above).kind == "track"
    assert mattes.choose_matte("auto", [saver("Saver1", "PolylineMask")], title).kind == "fusion"
    assert mattes.choose_matte("auto", [], above) == mattes.MatteChoice("track", above)
    assert mattes.choose_matte("track", [], title) == mattes.MatteChoice("track", title)
    assert mattes.choose_matte("alpha", [], None).describe() == "the clip's alpha"
    with pytest.raises(ResolveError, match="no matte found"):
        mattes.choose_matte("auto", [], title)
    with pytest.raises(ResolveError, match="no matte Saver"):
        mattes.choose_matte("fusion", [], above)
    with pytest.raises(ResolveError, match="no matte clip on the track above"):
        mattes.choose_matte("track", [], None)


def test_the_matte_clip_must_cover_the_whole_range_on_the_next_track_up() -> None:
    source = item("A", 1, 100, 50)
    short = item("matte", 2, 110, 10)
    full = item("matte", 2, 90, 80)
    assert mattes.matte_track_item([[source], [short]], source, FrameSpan(100, 149)) is None
    assert mattes.matte_track_item([[source], [short, full]], source, FrameSpan(100, 149)) is full
    assert mattes.matte_track_item([[source]], source, FrameSpan(100, 149)) is None


# --------------------------------------------------------------------------- placement and output


def test_new_track_goes_above_the_source_and_its_matte() -> None:
    assert placement.new_track_index(item("A", 1)) == 2
    assert placement.new_track_index(item("A", 2), item("m", 3)) == 4


def test_where_the_added_track_went_is_read_from_the_item_lists() -> None:
    before = [("a",), ("t",)]
    assert placement.locate_new_track(before, [("a",), (), ("t",)], 2) == 2
    assert placement.locate_new_track(before, [("a",), ("t",), ()], 2) == 3
    assert placement.locate_new_track(before, [("a",), ("t",), ()], 3) == 3
    with pytest.raises(ResolveError, match="not as track V2 or on top"):
        placement.locate_new_track(before, [(), ("a",), ("t",)], 2)


def test_clip_info_places_the_whole_plate_at_the_first_record_frame() -> None:
    media = object()
    assert placement.clip_info(media, 86400, FrameSpan(86400, 86423), 3) == {
        "mediaPoolItem": media,
        "startFrame": 86400,
        "endFrame": 86424,
        "mediaType": 1,
        "trackIndex": 3,
        "recordFrame": 86400,
    }
    assert placement.media_first_frame({"Start": "1001"}, FrameSpan(5, 6)) == 1001
    assert placement.media_first_frame({}, FrameSpan(5, 6)) == 5
    with pytest.raises(ResolveError, match="imported 20 of the 24"):
        placement.check_import({"Frames": "20"}, FrameSpan(86400, 86423))


def test_output_folders_are_never_reused(tmp_path) -> None:
    span = FrameSpan(86400, 86423)
    first = placement.output_folder(tmp_path, "My Show: S01", "A001_C002.mov", span)
    assert first == tmp_path / "My_Show_S01" / "A001_C002_mov_86400-86423"
    first.mkdir(parents=True)
    assert (
        placement.output_folder(tmp_path, "My Show: S01", "A001_C002.mov", span).name
        == "A001_C002_mov_86400-86423_v2"
    )
    out = placement.output_pattern(first, "A001_C002.mov")
    assert placement.import_info(out, span) == {
        "FilePath": str(first / "A001_C002_mov_void.%08d.exr"),
        "StartIndex": 86400,
        "EndIndex": 86423,
    }
    assert placement.default_output_root({"VOID_RESOLVE_OUTPUT": str(tmp_path)}) == tmp_path


# --------------------------------------------------------------------------- settings, progress, undo


def test_form_values_become_settings() -> None:
    s = settings.settings_from_form(
        {
            "range": 2,
            "matte": "Clip alpha (Color page Alpha Output)",
            "engine": " void ",
            "prompt": " a wall ",
            "pass2": 1,
        }
    )
    assert (s.range_mode, s.matte, s.engine, s.prompt, s.pass2) == (
        "inout",
        "alpha",
        "void",
        "a wall",
        True,
    )
    assert s.cli_args() == [
        "--engine",
        "void",
        "--seed",
        "42",
        "--prompt",
        "a wall",
        "--pass2",
        "--endpoint",
        "tcp://127.0.0.1:47615",
    ]
    assert settings.settings_from_form({"range": "clip", "matte": "track"}).matte == "track"
    with pytest.raises(ResolveError, match="range must be one of"):
        settings.settings_from_form({"range": "sometimes"})
    with pytest.raises(ResolveError, match="shot-owned job settings"):
        settings.ResolveSettings(job={"frames": [1]}).validate()
    args = settings.ResolveSettings(job={"window": 21, "fast": True}).validate().cli_args()
    assert args[args.index("--window") + 1] == "21" and "--fast" in args


def test_the_default_matte_is_the_clip_on_the_track_above(tmp_path) -> None:
    """Issue 16 #2: Savers do not write during a Deliver render, so the default must not be
    "auto" (which took a Fusion Saver when no matte-named clip was above): a new install, a
    window opened with no settings file and ``python -m void_resolve`` all start on "track"."""
    from void_resolve.__main__ import parse_args

    assert settings.ResolveSettings().matte == "track"
    assert settings.load_settings(tmp_path / "none.json").matte == "track"
    form = settings.form_values(settings.ResolveSettings())
    assert settings.MATTE_MODES[form["matte"]] == "track"
    assert parse_args([]).matte == "track"
    # A choice the artist saved is kept.
    settings.save_settings(settings.ResolveSettings(matte="fusion"), tmp_path / "s.json")
    assert settings.load_settings(tmp_path / "s.json").matte == "fusion"


def test_part_and_view_choices_go_to_the_worker_unchanged() -> None:
    """Issue 21: a part of a multi-part plate and a stereo view reach ``void-remove run``."""
    s = settings.ResolveSettings(plate_part="rgba", view="left").validate()
    assert s.plate_ref("/w/plate.########.exr") == "/w/plate.########.exr:rgba/"
    args = s.cli_args()
    assert args[args.index("--view") + 1] == "left"
    plain = settings.ResolveSettings()
    assert plain.plate_ref("/w/p.#.exr") == "/w/p.#.exr" and "--view" not in plain.cli_args()
    with pytest.raises(ResolveError, match="plate_part is a part name"):
        settings.ResolveSettings(plate_part="a/b").validate()


def test_part_and_view_are_form_values_and_persist(tmp_path) -> None:
    """Both windows show plate part and view (issue 21); what the artist types (trimmed) is
    what the worker gets, and the next run's window starts from it."""
    s = settings.settings_from_form({"plate_part": " beauty ", "view": " right "})
    assert (s.plate_part, s.view) == ("beauty", "right")
    form = settings.form_values(s)
    assert (form["plate_part"], form["view"]) == ("beauty", "right")
    settings.save_settings(s, tmp_path / "s.json")
    again = settings.load_settings(tmp_path / "s.json")
    assert (again.plate_part, again.view) == ("beauty", "right")
    # Emptied in the window: back to the first part and every view.
    cleared = settings.settings_from_form({"plate_part": "", "view": ""}, again)
    assert cleared.plate_ref("p.#.exr") == "p.#.exr" and "--view" not in cleared.cli_args()
    with pytest.raises(ResolveError, match="plate_part is a part name"):
        settings.settings_from_form({"plate_part": "beauty:rgba"})


def test_overwrite_is_a_form_value_and_persists(tmp_path) -> None:
    assert settings.ResolveSettings().overwrite is False  # versioning up is the default
    s = settings.settings_from_form({"overwrite": True})
    assert s.overwrite is True and settings.form_values(s)["overwrite"] is True
    settings.save_settings(s, tmp_path / "s.json")
    assert settings.load_settings(tmp_path / "s.json").overwrite is True
    # A settings file from before the option keeps the default.
    (tmp_path / "old.json").write_text('{"engine": "void"}')
    assert settings.load_settings(tmp_path / "old.json").overwrite is False


def test_clean_plates_version_up_or_overwrite_the_latest(tmp_path) -> None:
    """The worker picks the next free version (``--version-up``) from the latest one here, or
    replaces the latest (``--overwrite``)."""
    from void_resolve.flow import choose_output, clean_plate_folder

    def chosen(overwrite: bool) -> tuple[str, str]:
        out, flag = choose_output(folder, "A001_C002.mov", overwrite)
        return str(out).rsplit("/", 1)[1], flag

    folder = clean_plate_folder(tmp_path, "My Show: S01", "A001_C002.mov", FrameSpan(1, 2))
    assert folder == tmp_path / "My_Show_S01" / "A001_C002_mov_1-2"
    assert chosen(False) == ("A001_C002_mov_void_v001.########.exr", "--version-up")
    assert chosen(True) == ("A001_C002_mov_void_v001.########.exr", "--overwrite")
    folder.mkdir(parents=True)
    (folder / "A001_C002_mov_void_v001.00000001.exr").write_bytes(b"x")
    (folder / "A001_C002_mov_void_v003.00000001.exr").write_bytes(b"x")
    # Counts on from the latest (never back into a gap), and overwrite takes the latest.
    assert chosen(False) == ("A001_C002_mov_void_v003.########.exr", "--version-up")
    assert chosen(True) == ("A001_C002_mov_void_v003.########.exr", "--overwrite")
    # A version that holds only a manifest (a run under way) is taken too.
    (folder / ".A001_C002_mov_void_v004.########.exr.void-remove.json").write_text("{}")
    assert chosen(False)[0] == "A001_C002_mov_void_v004.########.exr"
    # Another clip's plates in the same folder do not count.
    (folder / "B_void_v009.00000001.exr").write_bytes(b"x")
    assert chosen(True)[0] == "A001_C002_mov_void_v004.########.exr"


def test_undo_deletes_only_this_jobs_frames_and_never_edits_another_versions_manifest(
    tmp_path,
) -> None:
    """The rollback of a failed run, with the standard library alone: the frames the worker
    reported and those its manifest entry lists go, other jobs' stay; a manifest that does not
    list this job (the worker failed before choosing its version and named the one it was
    given) is left byte for byte."""
    import json

    from void_resolve.flow import clean_plate_pattern, manifest_path, pattern_of, undo_output

    v1, v2 = clean_plate_pattern(tmp_path, "A", 1), clean_plate_pattern(tmp_path, "A", 2)
    for f in (1, 2):
        for v in (v1, v2):
            Path(v.path(f)).write_bytes(b"x")
    theirs = {"format": "void-remove-output/1", "jobs": [{"job": "old", "frames": [1, 2]}]}
    manifest_path(v1).write_text(json.dumps(theirs))
    before = manifest_path(v1).read_bytes()
    assert undo_output(v1, "ours", [], []) is True
    assert manifest_path(v1).read_bytes() == before and Path(v1.path(1)).exists()

    mine = {
        "format": "void-remove-output/1",
        "jobs": [{"job": "old", "frames": [1]}, {"job": "ours", "frames": [2]}],
    }
    manifest_path(v2).write_text(json.dumps(mine))
    assert pattern_of(v2.path(1)) == v2
    undo_output(v2, "ours", [tmp_path / "gone"], [v2.path(1)])
    assert not Path(v2.path(1)).exists() and not Path(v2.path(2)).exists()
    left = json.loads(manifest_path(v2).read_text())
    assert left["jobs"] == [{"job": "old", "frames": [1]}] and left["job"] == "old"


def test_progress_bar_and_stage_shares() -> None:
    assert rollback.progress_bar(0.5, 10) == "█████░░░░░  50%"
    assert rollback.overall("render", 0.5) == pytest.approx(0.16)
    assert rollback.overall("remove", 2.0) == pytest.approx(0.95)


def test_rollback_undoes_newest_first_and_keeps_going_past_a_failure() -> None:
    done = []
    rb = rollback.Rollback()
    rb.add("bin", lambda: done.append("bin") or True)
    rb.add("media", lambda: 1 / 0)
    rb.add("track", lambda: done.append("track") or True)
    assert rb.labels == ["bin", "media", "track"]
    assert rb.run() == ["media"] and done == ["track", "bin"] and len(rb) == 0
    rb.add("x", lambda: done.append("x") or True)
    rb.forget()
    assert rb.run() == [] and "x" not in done


def test_rollback_counts_a_false_or_none_return_as_a_failure() -> None:
    """Issue 16 #3: Resolve refuses by returning False (None with a dialog up), not raising."""
    rb = rollback.Rollback()
    rb.add("clip", lambda: False)
    rb.add("track", lambda: None)
    rb.add("bin", lambda: True)
    assert rb.run() == ["track", "clip"]


def test_a_step_already_done_leaves_the_rollback() -> None:
    rb = rollback.Rollback()
    rb.add("bin", lambda: True)
    rb.add("trial", lambda: False)
    rb.done("trial")
    assert rb.labels == ["bin"] and rb.run() == []


def _fake_methods() -> dict[str, object]:
    import inspect

    from tests.support.fakes import fake_resolve

    out = {}
    for name, cls in vars(fake_resolve).items():
        if isinstance(cls, type) and cls.__module__ == fake_resolve.__name__:
            for attr, value in vars(cls).items():
                if attr[:1].isupper() and (callable(value) or isinstance(value, property)):
                    out[f"{name}.{attr}"] = inspect.getdoc(value) or ""
    return out


def test_every_fake_host_method_names_its_source() -> None:
    """Issue 16: each fake method says which documentation line or measured ledger it models."""
    sources = ("README", "ledger", "issue 16", "Fusion", "UIManager")
    missing = sorted(k for k, doc in _fake_methods().items() if not any(w in doc for w in sources))
    assert missing == []


def test_the_glue_calls_no_host_method_the_fake_does_not_declare() -> None:
    """A Resolve call in api.py that the fake lacks would pass every test and fail on the host."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("void_resolve.api")
    assert spec is not None and spec.origin
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    called = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr[:1].isupper()
        and n.func.attr not in {"HGroup", "VGroup", "Label", "ComboBox", "LineEdit"}
        and n.func.attr not in {"CheckBox", "Button", "Timer", "ResolveError"}
    }
    declared = {k.split(".")[1] for k in _fake_methods()}
    assert sorted(called - declared) == []
