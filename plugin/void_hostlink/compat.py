"""``dataclasses`` for hosts whose Python lacks it (Python 3.6: Resolve on an old Python).

Resolve's side and ``void_hostlink`` run in the host's own interpreter, from Python 3.6 up
(docs/resolve.md, "Which Python"). ``dataclasses`` arrived in 3.7, so the host modules import
``dataclass``, ``field``, ``fields``, ``replace`` and ``asdict`` from here: on 3.7 and later these
ARE the standard library's (same objects; code elsewhere may call ``dataclasses.replace`` on host
records), and only on 3.6 the small stand-ins below take their place. The stand-ins cover what the
host modules use: ``frozen``, defaults, ``field(default=, default_factory=, repr=, compare=)``,
generated ``__init__``/``__repr__``/``__eq__``/``__hash__``, ``fields``, ``replace``, ``asdict``.
tests/unit/test_hostlink_isolation.py checks them against the real module on the same classes.

Standard library only, Python 3.6 syntax (no postponed annotations, no ``dataclasses``).
"""

import copy
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

__all__ = ["asdict", "dataclass", "field", "fields", "replace"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


class Field:
    """One field of a record: its name and how it is built, shown and compared."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "compare")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type = None  # type: Any
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return "Field(name={!r}, default={!r})".format(self.name, self.default)


def field36(
    default: Any = MISSING,
    default_factory: Any = MISSING,
    init: bool = True,
    repr: bool = True,
    hash: Optional[bool] = None,
    compare: bool = True,
    metadata: Any = None,
) -> Any:
    return Field(default, default_factory, init, repr, compare)


def _is_classvar(annotation: Any) -> bool:
    return str(annotation).startswith("typing.ClassVar")


def _own_fields(cls: type) -> Dict[str, Field]:
    found = {}  # type: Dict[str, Field]
    for base in reversed(cls.__mro__[1:]):
        found.update(getattr(base, "__dataclass_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, annotation
        if isinstance(value, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        found[name] = f
    return found


def _process(cls: type, frozen: bool, eq: bool) -> type:
    table = _own_fields(cls)
    setattr(cls, "__dataclass_fields__", table)  # noqa: B010 (a class attribute by its dunder)
    listed = list(table.values())

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        takes = [f for f in listed if f.init]
        if len(args) > len(takes):
            raise TypeError("{}() takes {} positional arguments".format(cls.__name__, len(takes)))
        values = {f.name: a for f, a in zip(takes, args)}
        for key, value in kwargs.items():
            if key in values or key not in {f.name for f in takes}:
                raise TypeError("{}() got an unexpected argument {!r}".format(cls.__name__, key))
            values[key] = value
        for f in listed:
            if f.name in values:
                value = values[f.name]
            elif f.default is not MISSING:
                value = f.default
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                raise TypeError("{}() missing argument {!r}".format(cls.__name__, f.name))
            object.__setattr__(self, f.name, value)
        post = getattr(self, "__post_init__", None)
        if post is not None:
            post()

    def __repr__(self: Any) -> str:
        shown = ", ".join("{}={!r}".format(f.name, getattr(self, f.name)) for f in listed if f.repr)
        return "{}({})".format(type(self).__qualname__, shown)

    def _key(self: Any) -> Tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in listed if f.compare)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _key(self) == _key(other)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenInstanceError("cannot assign to field {!r}".format(name))

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError("cannot delete field {!r}".format(name))

    def __hash__(self: Any) -> int:
        return hash(_key(self))

    made = {"__init__": __init__, "__repr__": __repr__}  # type: Dict[str, Any]
    if eq:
        made["__eq__"] = __eq__
    if frozen:
        made.update(__setattr__=__setattr__, __delattr__=__delattr__)
    for name, function in made.items():
        if name not in cls.__dict__:  # as dataclasses: what the class defines itself stays
            function.__qualname__ = "{}.{}".format(cls.__qualname__, name)
            setattr(cls, name, function)
    if eq and frozen and cls.__dict__.get("__hash__") is None:
        setattr(cls, "__hash__", __hash__)  # noqa: B010
    elif eq and "__eq__" in made:
        setattr(cls, "__hash__", None)  # noqa: B010 (mutable and compared: unhashable)
    return cls


def dataclass36(
    cls: Any = None,
    init: bool = True,
    repr: bool = True,
    eq: bool = True,
    order: bool = False,
    unsafe_hash: bool = False,
    frozen: bool = False,
) -> Any:
    def wrap(c: type) -> type:
        return _process(c, frozen, eq)

    return wrap if cls is None else wrap(cls)


def fields36(record: Any) -> Tuple[Field, ...]:
    table = getattr(record, "__dataclass_fields__", None)
    if table is None:
        raise TypeError("must be called with a dataclass type or instance")
    return tuple(table.values())


def replace36(record: Any, **changes: Any) -> Any:
    for f in fields36(record):
        if f.init and f.name not in changes:
            changes[f.name] = getattr(record, f.name)
    return record.__class__(**changes)


def asdict36(record: Any) -> Dict[str, Any]:
    def convert(value: Any) -> Any:
        if hasattr(type(value), "__dataclass_fields__"):
            return {f.name: convert(getattr(value, f.name)) for f in fields36(value)}
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
            return type(value)(*[convert(v) for v in value])
        if isinstance(value, (list, tuple)):
            return type(value)(convert(v) for v in value)
        if isinstance(value, dict):
            return type(value)((convert(k), convert(v)) for k, v in value.items())
        return copy.deepcopy(value)

    if not hasattr(type(record), "__dataclass_fields__"):
        raise TypeError("asdict() should be called on dataclass instances")
    out = convert(record)  # type: Dict[str, Any]
    return out


_STAND_INS: Tuple[Callable[..., Any], ...] = (dataclass36, field36, fields36, replace36, asdict36)

if TYPE_CHECKING:
    from dataclasses import asdict, dataclass, field, fields, replace
else:
    try:
        from dataclasses import asdict, dataclass, field, fields, replace
    except ImportError:  # Python 3.6
        dataclass, field, fields, replace, asdict = _STAND_INS
