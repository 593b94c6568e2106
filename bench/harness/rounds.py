"""Contenders alternated over rounds: in every round each is measured once,
in an order rotated from one round to the next, so none always runs first
or last."""

from typing import Callable, Dict, List, Sequence, Tuple, TypeVar

T = TypeVar("T")
F = TypeVar("F")


def rotated(items: Sequence[T], round_index: int) -> List[T]:
    """``items`` starting at ``round_index`` (modulo their number)."""
    items = list(items)
    shift = round_index % len(items)
    return items[shift:] + items[:shift]


def alternate(contenders: Sequence[Tuple[str, T]], rounds: int,
              measure: Callable[[str, T], F],
              announce: Callable[[int, str, F], None] = lambda *a: None
              ) -> Dict[str, List[F]]:
    """``measure(name, spec)`` for every (name, spec) of ``contenders`` in
    each of ``rounds`` rounds, calling ``announce(round_index, name,
    figures)`` after each; the figures per name, in ``contenders``'
    order."""
    results: Dict[str, List[F]] = {}
    for index in range(rounds):
        for name, spec in rotated(contenders, index):
            figures = measure(name, spec)
            results.setdefault(name, []).append(figures)
            announce(index, name, figures)
    return {name: results[name] for name, _ in contenders}
