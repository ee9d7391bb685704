"""The VOID Remove wire protocol: one definition, imported by the client and the daemon.

Every message is a ZeroMQ multipart ``[header, *buffers]``. The header is a msgpack map with
``v`` (protocol version), ``type``, ``id`` (request id) and ``job``; pixel data never goes through
msgpack. Each image is its own frame, sent with ``copy=False`` and described in the header's
``images`` list by :class:`ImageDesc` (dtype, shape, channel names, EXR windows).

Flow control is credit based in both directions (see ``docs/protocol.md``):
the daemon grants *input credit* (frames the client may send) in ``ack`` messages, and the
client grants *result credit* (unacknowledged results the daemon may have in flight) in
``submit``/``attach``/``ack``. Neither side ever buffers unbounded data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

import msgpack
import numpy as np

from void_client.errors import ErrorCode, VoidError

PROTOCOL_VERSION = 1
DEFAULT_PORT = 47615
DEFAULT_ENDPOINT = f"tcp://127.0.0.1:{DEFAULT_PORT}"

#: Limits enforced before any allocation. ``MAX_MESSAGE_BYTES`` is also set as ZMQ_MAXMSGSIZE.
MAX_HEADER_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 1 << 30
MAX_IMAGE_SIDE = 16384
MAX_CHANNELS = 64
MAX_IMAGES_PER_MESSAGE = 256
#: Maps and lists nested in a header (``engine_options`` included); checked right after decoding,
#: so that nothing later recurses through 500 levels of a hostile message.
MAX_NESTING = 32

DTYPES: dict[str, np.dtype] = {"f16": np.dtype("<f2"), "f32": np.dtype("<f4")}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

ROLES = ("plate", "remove", "affected", "reference", "result", "fill", "matte")
#: Extra images a ``result`` may carry beside the composite, only for a job whose spec asks for
#: them (``JobSpec.outputs``): the premultiplied fill RGBA and the composite's matte.
LAYER_ROLES = ("fill", "matte")
#: Roles only the daemon sends.
RESULT_ROLES = ("result", *LAYER_ROLES)


@dataclass
class ImageDesc:
    """How one pixel buffer is laid out: ``(h, w, c)`` little-endian half or float, row-major."""

    frame: int
    role: str
    dtype: str
    shape: tuple[int, int, int]
    channels: list[str]
    #: (x, y, w, h) of the EXR data window and display window; ``None`` when unknown.
    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None

    @property
    def nbytes(self) -> int:
        h, w, c = self.shape
        return h * w * c * DTYPES[self.dtype].itemsize

    def to_wire(self) -> dict:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_wire(cls, d: Any) -> ImageDesc:
        if not isinstance(d, dict):
            raise VoidError(ErrorCode.BAD_MESSAGE, "image description must be a map", "images")
        try:
            shape = tuple(int(x) for x in d["shape"])
            desc = cls(
                frame=int(d["frame"]),
                role=str(d["role"]),
                dtype=str(d["dtype"]),
                shape=shape,  # type: ignore[arg-type]  # any length: validate() refuses non-3
                channels=[str(c) for c in d.get("channels") or []],
                data_window=_window(d.get("data_window")),
                display_window=_window(d.get("display_window")),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # int(inf) overflows
            raise VoidError(
                ErrorCode.BAD_MESSAGE, f"bad image description: {exc}", "images"
            ) from exc
        desc.validate()
        return desc

    def validate(self) -> None:
        if self.dtype not in DTYPES:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}",
                "images.dtype",
            )
        if self.role not in ROLES:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"role must be one of {ROLES}, got {self.role!r}",
                "images.role",
            )
        if len(self.shape) != 3:
            raise VoidError(ErrorCode.SHAPE_MISMATCH, "shape must be (h, w, c)", "images.shape")
        h, w, c = self.shape
        if not (0 < h <= MAX_IMAGE_SIDE and 0 < w <= MAX_IMAGE_SIDE and 0 < c <= MAX_CHANNELS):
            raise VoidError(
                ErrorCode.TOO_LARGE,
                f"image shape {self.shape} is outside the limits (sides 1..{MAX_IMAGE_SIDE}, channels 1..{MAX_CHANNELS})",
                "images.shape",
            )
        if self.channels and len(self.channels) != c:
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"{len(self.channels)} channel names for {c} channels",
                "images.channels",
            )

    def to_array(self, buf: Any) -> np.ndarray:
        """A read-only view of ``buf`` as this image (no copy). Refuses a wrong byte count."""
        mv = memoryview(buf)
        if mv.nbytes != self.nbytes:
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frame {self.frame} {self.role}: buffer has {mv.nbytes} bytes, shape {self.shape} {self.dtype} needs {self.nbytes}",
                "images",
            )
        return np.frombuffer(mv, dtype=DTYPES[self.dtype]).reshape(self.shape)

    @classmethod
    def for_array(
        cls,
        frame: int,
        role: str,
        arr: np.ndarray,
        channels: list[str] | None = None,
        **windows: Any,
    ) -> ImageDesc:
        if arr.ndim == 2:
            arr = arr[:, :, None]
        dt = DTYPE_NAMES.get(
            arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        )
        if dt is None:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"only float16/float32 images go on the wire, got {arr.dtype}",
                "images.dtype",
            )
        return cls(frame, role, dt, tuple(arr.shape), list(channels or []), **windows)


def _window(v: Any) -> tuple[int, int, int, int] | None:
    if v is None:
        return None
    t = tuple(int(x) for x in v)
    if len(t) != 4:
        raise ValueError("a window is (x, y, w, h)")
    return t


# --------------------------------------------------------------------------- typed payloads
# Plain maps on the wire (msgpack); these say which keys each one carries.


class EngineInfo(TypedDict):
    """One engine in ``Hello.engines``: whether it can run on this daemon, and if not, why."""

    name: str
    available: bool
    reason: str


class _PathEntryBase(TypedDict):
    frame: int
    plate: str
    remove: str


class PathEntry(_PathEntryBase, total=False):
    """One frame in path mode (``Frames.paths``): files the daemon reads itself. Mattes may
    name a channel (``file.exr:alpha``); ``affected`` is optional (absent, ``None`` or ``""``)."""

    affected: str | None
    #: The clean frame the artist painted for this frame (JobSpec.references), a whole image.
    reference: str | None


class _ResultPathBase(TypedDict):
    frame: int
    path: str


class ResultPath(_ResultPathBase, total=False):
    """One finished frame in path mode (``Result.paths``): where the daemon wrote it.

    Added fields (absent from older daemons, ignored by older clients): ``layers`` maps each
    fill/matte layer written as its own file (``JobSpec.layer_patterns``) to that frame's file;
    ``layers_in_out`` says fill and matte are also layers of ``path`` itself."""

    layers: dict[str, str]
    layers_in_out: bool


class _StatusJobBase(TypedDict):
    job: str
    name: str
    #: A :class:`void_client.job_state.JobState` value.
    state: str
    frames_total: int
    frames_received: int
    frames_done: int
    frames_acked: int
    frames_inflight: int
    windows_done: int
    #: ``VoidError.to_dict()`` of a failed job, else ``None``.
    error: dict[str, Any] | None
    engine: str
    #: Place among the daemon's active jobs (0 runs next), -1 once the job has ended.
    queue_position: int
    #: Whether results go to the client that asked (else it should ``attach``).
    attached: bool
    #: Bytes the job's folder holds on the daemon's disk (``void-remove jobs``).
    disk_bytes: int
    #: When the job was submitted (seconds since the epoch).
    created: float


class StatusJob(_StatusJobBase, total=False):
    """One job in a ``status`` reply (``Status.jobs``).

    Where its fill and matte go (added fields: an older daemon leaves them out, so read them
    with ``.get``): ``outputs`` the layers sent beside each result (``JobSpec.outputs``),
    ``layer_patterns`` the sequence the daemon writes each to (path mode; empty: the client
    that collects the job writes them), ``layers_in_out`` fill and matte inside the output."""

    outputs: list[str]
    layer_patterns: dict[str, str]
    layers_in_out: bool
    #: The most frames of the job whose pixels the daemon held in memory at once (bounded by
    #: one window with its engine's margin frames plus the input credit, whatever the shot's
    #: length).
    frames_held_peak: int


# --------------------------------------------------------------------------- messages


@dataclass
class Message:
    """Base of every message. Subclasses add header fields; ``images`` travel as buffers."""

    TYPE: ClassVar[str] = ""
    job: str = ""
    id: int = 0
    images: list[tuple[ImageDesc, Any]] = field(default_factory=list, repr=False)

    def header(self) -> dict:
        h: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": self.TYPE}
        for f in dataclasses.fields(self):
            if f.name != "images":
                h[f.name] = getattr(self, f.name)
        h["images"] = [d.to_wire() for d, _ in self.images]
        return h


@dataclass
class Hello(Message):
    """Client → daemon: who are you. Daemon → client: version and capabilities."""

    TYPE: ClassVar[str] = "hello"
    client: str = ""
    daemon_version: str = ""
    protocol: int = PROTOCOL_VERSION
    engines: list[EngineInfo] = field(default_factory=list)
    gpu: str = ""
    vram_free: int = 0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    queue_length: int = 0


@dataclass
class Submit(Message):
    """Client → daemon: a job spec (``void_client.job_spec.JobSpec.to_dict()``)."""

    TYPE: ClassVar[str] = "submit"
    spec: dict = field(default_factory=dict)
    result_credit: int = 8


@dataclass
class Frames(Message):
    """Client → daemon: input frames. Pixel mode uses ``images`` (roles plate/remove/affected);
    path mode uses ``paths`` (:class:`PathEntry`)."""

    TYPE: ClassVar[str] = "frames"
    paths: list[PathEntry] = field(default_factory=list)


@dataclass
class Progress(Message):
    """Daemon → client: where the job is. ``stage`` is a :class:`void_client.job_state.JobState`
    value: queued, receiving, running, done, failed or cancelled."""

    TYPE: ClassVar[str] = "progress"
    stage: str = ""
    window: int = 0
    windows: int = 0
    frames_done: int = 0
    frames_total: int = 0
    frames_received: int = 0
    eta_s: float = -1.0
    queue_position: int = 0
    cached: bool = False
    message: str = ""


@dataclass
class Result(Message):
    """Daemon → client: finished frames, as ``images`` (role result) or as written ``paths``.

    A job whose spec lists ``outputs`` gets, after each frame's ``result`` image, one image per
    listed layer (roles ``fill``, ``matte``; :data:`LAYER_ROLES`); other jobs never do."""

    TYPE: ClassVar[str] = "result"
    paths: list[ResultPath] = field(default_factory=list)


@dataclass
class Ack(Message):
    """Either direction. Daemon → client: job accepted/frames stored and ``credit`` more input
    frames may be sent. Client → daemon: ``frames`` results written, ``credit`` more may come."""

    TYPE: ClassVar[str] = "ack"
    frames: list = field(default_factory=list)
    credit: int = 0
    queue_position: int = 0
    missing: list = field(default_factory=list)


@dataclass
class Cancel(Message):
    TYPE: ClassVar[str] = "cancel"


@dataclass
class Attach(Message):
    """Client → daemon: re-attach to a running job; unacknowledged results are resent."""

    TYPE: ClassVar[str] = "attach"
    result_credit: int = 8


@dataclass
class Status(Message):
    """Client → daemon: ask about ``job`` (or all jobs when empty). Daemon → client: ``jobs``."""

    TYPE: ClassVar[str] = "status"
    jobs: list[StatusJob] = field(default_factory=list)
    #: Daemon → client: jobs not listed because the reply is capped in entries and bytes (the
    #: newest are listed; ask for one ``job`` by id to see an older one).
    left_out: int = 0


@dataclass
class Clean(Message):
    """Client → daemon: remove this client's finished jobs that ended ``older_than_s`` ago (or
    all of them with ``all_finished``); active jobs and the window cache are kept. Daemon →
    client: what was removed (``{"job", "reason", "bytes"}`` each) and the bytes freed."""

    TYPE: ClassVar[str] = "clean"
    older_than_s: float = 7 * 86_400.0
    all_finished: bool = False
    removed: list[dict] = field(default_factory=list)
    freed_bytes: int = 0


@dataclass
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: str = ErrorCode.INTERNAL.value
    message: str = ""
    field: str | None = None

    def to_exception(self) -> VoidError:
        try:
            code = ErrorCode(self.code)
        except ValueError:
            code = ErrorCode.INTERNAL
        return VoidError(code, self.message, self.field, self.job or None)

    @classmethod
    def from_exception(cls, exc: VoidError, job: str = "", id: int = 0) -> Error:
        return cls(
            job=job or exc.job or "",
            id=id,
            code=exc.code.value,
            message=exc.message,
            field=exc.field,
        )


MESSAGE_TYPES: dict[str, type[Message]] = {
    m.TYPE: m
    for m in (Hello, Submit, Frames, Progress, Result, Ack, Cancel, Attach, Status, Clean, Error)
}


def encode(msg: Message) -> list[Any]:
    """``[header, *buffers]`` ready for ``send_multipart(..., copy=False)``."""
    frames: list[Any] = [msgpack.packb(msg.header(), use_bin_type=True)]
    for desc, arr in msg.images:
        a = np.ascontiguousarray(arr)
        if a.nbytes != desc.nbytes:
            raise VoidError(
                ErrorCode.SHAPE_MISMATCH,
                f"frame {desc.frame} {desc.role}: array does not match its description",
                "images",
            )
        frames.append(a.data.cast("B"))  # a.data: the array's memoryview (typed, unlike the array)
    return frames


def _buf(f: Any) -> Any:
    # zmq.Frame exposes .buffer; bytes/memoryview are used as they are.
    return getattr(f, "buffer", f)


@dataclass(frozen=True)
class Header:
    """What :func:`peek_header` could read of a header without decoding the message."""

    #: The protocol version, or ``None`` when absent or not an int.
    v: int | None
    #: The message type, ``""`` when absent or not a string.
    type: str
    #: The request id, ``0`` when absent or out of range.
    id: int
    #: The job id, ``""`` when absent, not a string or too long to be one.
    job: str
    #: Frame numbers of the images the header describes (only the readable ones).
    image_frames: tuple[int, ...] = ()


def peek_header(parts: list[Any]) -> Header:
    """The routing fields of a message's header, read safely: for answering a message that failed
    to decode, or accounting for one that was never delivered. Raises :class:`VoidError` only
    (``BAD_MESSAGE`` or ``TOO_LARGE``) when the first frame is not a readable msgpack map."""
    if not parts:
        raise VoidError(ErrorCode.BAD_MESSAGE, "empty message")
    try:
        head = memoryview(_buf(parts[0]))
    except TypeError as exc:
        raise VoidError(ErrorCode.BAD_MESSAGE, "header is not a byte buffer") from exc
    if head.nbytes > MAX_HEADER_BYTES:
        raise VoidError(
            ErrorCode.TOO_LARGE, f"header of {head.nbytes} bytes exceeds {MAX_HEADER_BYTES}"
        )
    try:
        h = msgpack.unpackb(head, raw=False, max_bin_len=MAX_HEADER_BYTES)
    except Exception as exc:  # msgpack raises several unrelated types
        raise VoidError(
            ErrorCode.BAD_MESSAGE, f"header is not valid msgpack: {exc.__class__.__name__}"
        ) from exc
    if not isinstance(h, dict):
        raise VoidError(ErrorCode.BAD_MESSAGE, "header must be a msgpack map")
    v, mtype, req, job = h.get("v"), h.get("type"), h.get("id"), h.get("job")
    images = h.get("images")
    frames = tuple(
        d["frame"]
        for d in (images if isinstance(images, list) else [])
        if isinstance(d, dict) and type(d.get("frame")) is int
    )
    return Header(
        v=v if type(v) is int else None,
        type=mtype if isinstance(mtype, str) else "",
        id=req if type(req) is int and 0 <= req < 2**63 else 0,
        job=job if isinstance(job, str) and len(job) <= 64 else "",
        image_frames=frames,
    )


def check_nesting(value: Any, limit: int = MAX_NESTING, where: str = "header") -> None:
    """Refuse maps and lists nested deeper than ``limit`` (iteratively: nothing to recurse)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            raise VoidError(
                ErrorCode.BAD_MESSAGE,
                f"the {where} nests maps and lists more than {limit} deep",
                where,
            )
        stack.extend((child, depth + 1) for child in children)


def decode(parts: list[Any]) -> Message:
    """Parse and validate a multipart message. Raises :class:`VoidError` with a specific code."""
    if not parts:
        raise VoidError(ErrorCode.BAD_MESSAGE, "empty message")
    head = memoryview(_buf(parts[0]))
    if head.nbytes > MAX_HEADER_BYTES:
        raise VoidError(
            ErrorCode.TOO_LARGE, f"header of {head.nbytes} bytes exceeds {MAX_HEADER_BYTES}"
        )
    try:
        h = msgpack.unpackb(head, raw=False, strict_map_key=True, max_bin_len=MAX_HEADER_BYTES)
    except Exception as exc:  # msgpack raises several unrelated types
        raise VoidError(
            ErrorCode.BAD_MESSAGE, f"header is not valid msgpack: {exc.__class__.__name__}"
        ) from exc
    if not isinstance(h, dict):
        raise VoidError(ErrorCode.BAD_MESSAGE, "header must be a msgpack map")
    check_nesting(h)
    v = h.get("v")
    if (
        type(v) is not int or v != PROTOCOL_VERSION
    ):  # True and 1.0 equal 1 in Python, not on the wire
        raise VoidError(
            ErrorCode.BAD_VERSION,
            f"protocol version {v!r:.40} is not supported (this side speaks {PROTOCOL_VERSION}); update the client and daemon together",
            "v",
        )
    mtype = h.get("type")
    cls = MESSAGE_TYPES.get(mtype) if isinstance(mtype, str) else None
    if cls is None:
        raise VoidError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {mtype!r:.40}; known: {sorted(MESSAGE_TYPES)}",
            "type",
        )
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "images" or f.name not in h:
            continue
        value = h[f.name]
        # Every message field has a default or a default factory (callable(): MISSING is not).
        if f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory() if callable(f.default_factory) else None
        kwargs[f.name] = _check_type(f.name, value, default)
    raw_images = h.get("images") or []
    if not isinstance(raw_images, list) or len(raw_images) > MAX_IMAGES_PER_MESSAGE:
        raise VoidError(
            ErrorCode.BAD_MESSAGE,
            f"images must be a list of at most {MAX_IMAGES_PER_MESSAGE}",
            "images",
        )
    if len(raw_images) != len(parts) - 1:
        raise VoidError(
            ErrorCode.SHAPE_MISMATCH,
            f"header describes {len(raw_images)} images but {len(parts) - 1} buffers arrived",
            "images",
        )
    images = []
    for d, part in zip(raw_images, parts[1:]):
        desc = ImageDesc.from_wire(d)
        images.append((desc, desc.to_array(_buf(part))))
    msg = cls(**kwargs)
    msg.images = images
    return msg


def _check_type(name: str, value: Any, default: Any) -> Any:
    if default is None or value is None and default is None:
        return value
    expected: tuple[type, ...]
    if isinstance(default, bool):
        expected = (bool,)
    elif isinstance(default, int):
        expected = (int,)
    elif isinstance(default, float):
        expected = (int, float)
    else:
        expected = (type(default),)
    if not isinstance(value, expected) or (
        isinstance(value, bool) and not isinstance(default, bool)
    ):
        raise VoidError(
            ErrorCode.BAD_MESSAGE,
            f"field {name!r} must be {expected[0].__name__}, got {type(value).__name__}",
            name,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise VoidError(ErrorCode.BAD_MESSAGE, f"field {name!r} must be finite", name)
    return float(value) if float in expected else value
