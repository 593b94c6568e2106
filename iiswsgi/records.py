"""Plain value classes for the gateway's start path.

``@dataclass`` generates and compiles the methods of every class at import,
and imports :mod:`dataclasses` and :mod:`inspect` with it: some 10 to 30 ms
per module at every start of ``python -m iiswsgi``.  The classes the
gateway imports at start derive from :class:`Record` (mutable; compared by
value, unhashable, as a dataclass) or :class:`FrozenRecord` (fields set
once, compared and hashed by value, as ``@dataclass(frozen=True)``) and
write their ``__init__`` out; their fields are their ``__slots__``, in
order, which ``__eq__`` and ``__repr__`` follow.
"""

from typing import Any, Tuple

__all__ = ["FrozenRecord", "Record"]


class Record:
    """Fields in ``__slots__`` order, compared by value, shown as
    ``Name(field=value, ...)``; unhashable, as a mutable dataclass."""

    __slots__: Tuple[str, ...] = ()

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (name, getattr(self, name))
            for name in self.__slots__))


class FrozenRecord(Record):
    """A :class:`Record` whose fields are set once, in ``__init__``
    (through :meth:`_set`), and hashed by value."""

    __slots__ = ()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("cannot assign to field %r of a %s" % (
            name, type(self).__name__))

    def __delattr__(self, name: str) -> None:
        raise AttributeError("cannot delete field %r of a %s" % (
            name, type(self).__name__))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())
