"""Quadmask from mattes: VOID's exact levels, dilation and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

from void_client.errors import ErrorCode, VoidError
from void_client.quadmask import (
    AFFECTED,
    KEEP,
    OVERLAP,
    REMOVE,
    build_quadmask,
    dilate,
    preview,
    require_nonempty,
    snap,
    trimask,
)


def test_levels_are_exactly_vojds() -> None:
    assert (REMOVE, OVERLAP, AFFECTED, KEEP) == (0, 63, 127, 255)


def test_build_combines_remove_and_affected() -> None:
    remove = np.zeros((6, 8), np.float32)
    affected = np.zeros((6, 8), np.float32)
    remove[1:4, 1:4] = 1.0
    affected[2:5, 3:7] = 0.8
    q = build_quadmask(remove, affected)
    assert q.dtype == np.uint8
    assert q[1, 1] == REMOVE and q[3, 3] == OVERLAP and q[4, 6] == AFFECTED and q[0, 7] == KEEP
    assert set(np.unique(q)) == {0, 63, 127, 255}


def test_dilation_grows_by_radius() -> None:
    m = np.zeros((21, 21), bool)
    m[10, 10] = True
    for r in (1, 3, 6):
        d = dilate(m, r)
        ys, xs = np.nonzero(d)
        assert xs.min() == 10 - r and xs.max() == 10 + r and ys.min() == 10 - r
        assert not d[10 - r, 10 - r] or r == 1  # octagonal, not square
    q = build_quadmask(m.astype(np.float32), dilation=2)
    assert (q == REMOVE).sum() == dilate(m, 2).sum()


@pytest.mark.parametrize(
    "bad, code",
    [
        (np.nan, ErrorCode.NAN_IN_INPUT),
        (np.inf, ErrorCode.NAN_IN_INPUT),
        (1.5, ErrorCode.MATTE_RANGE),
        (-0.2, ErrorCode.MATTE_RANGE),
    ],
)
def test_bad_matte_values_are_refused_with_frame_number(bad: float, code: ErrorCode) -> None:
    m = np.zeros((4, 4), np.float32)
    m[2, 2] = bad
    with pytest.raises(VoidError) as err:
        build_quadmask(m, frame=1042)
    assert err.value.code == code and "1042" in err.value.message


def test_empty_remove_matte_is_refused() -> None:
    empty = [np.full((4, 4), KEEP, np.uint8)] * 3
    with pytest.raises(VoidError) as err:
        require_nonempty(empty)
    assert err.value.code == ErrorCode.EMPTY_MATTE
    require_nonempty(empty + [build_quadmask(np.ones((4, 4), np.float32))])


def test_reference_snap_and_pass1_trimask() -> None:
    values = np.array([0, 31, 32, 95, 96, 191, 192, 255], np.float32)
    assert snap(values).tolist() == [0, 0, 63, 63, 127, 127, 255, 255]
    # Pass 1 collapses overlap into remove (1.0), affected to 0.5, keep to 0.
    assert trimask(np.array([0, 63, 127, 255])).tolist() == [1.0, 1.0, 0.5, 0.0]


def test_preview_tints_only_non_keep_pixels() -> None:
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    q = np.array([[0, 63], [127, 255]], np.uint8)
    p = preview(rgb, q)
    assert np.array_equal(p[1, 1], rgb[1, 1])
    colours = {tuple(p[0, 0]), tuple(p[0, 1]), tuple(p[1, 0])}
    assert len(colours) == 3
