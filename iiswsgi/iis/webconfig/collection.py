"""An IIS configuration collection: ``<add>``, ``<remove>`` and
``<clear/>`` applied level by level, keys compared in any case."""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Iterable, List, Tuple

from ... import safexml
from .errors import error_at

__all__ = ["Collection"]


class Collection:
    """An IIS collection: entries in order, keyed in any case (the keys
    given are already folded).  With ``merge_append`` (IIS's default) a
    level's entries come after the ones it inherits, else before them."""

    def __init__(self, entries: Iterable[Tuple[Hashable, Any]] = (),
                 merge_append: bool = True) -> None:
        # folded key -> value
        self.entries: Dict[Hashable, Any] = dict(entries)
        self.merge_append = merge_append

    def apply(self, path: str, section: safexml.Element,
              key_of: Callable[[safexml.Element], Hashable],
              make: Callable[[safexml.Element], Any], what: str,
              add_tag: str = "add") -> None:
        """Apply the ``<add>`` (``add_tag``), ``<remove>`` and ``<clear/>``
        of one level's ``section``.  ``key_of(element)`` is an entry's key,
        ``make(element)`` its value; adding a key already in effect is a
        ConfigError, as it is an HTTP 500.19 in IIS."""
        added: Dict[Hashable, Any] = {}
        for element in section:
            if element.tag == "clear":
                self.entries.clear()
                added.clear()
            elif element.tag == "remove":
                key = key_of(element)
                self.entries.pop(key, None)
                added.pop(key, None)
            elif element.tag == add_tag:
                key = key_of(element)
                if key in self.entries or key in added:
                    raise error_at(path, element, "cannot add a duplicate"
                                   " %s %r: one with the same key (compared"
                                   " in any case) is already in effect here"
                                   " (IIS answers 500.19); put a <remove> of"
                                   " it first, or drop this one"
                                   % (what, key))
                added[key] = make(element)
        if self.merge_append:
            self.entries.update(added)
        else:
            added.update(self.entries)
            self.entries = added

    def values(self) -> List[Any]:
        """The entries' values, in order."""
        return list(self.entries.values())
