"""What higher apps add to pages of the base layer.

A page of `ledgerline` (the dashboard, a dataset's usage page) shows things that only higher apps know: the
demo's models (generation), the flags on a dataset's items (fingerprint), the sales that paid its label (the
market). The base layer may not import them (docs/ARCHITECTURE.md, "Layers"), so each of those apps registers a
contributor for the page at start (its `AppConfig.ready`), and the page merges what the contributors return.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Contributor = Callable[..., dict[str, Any]]

_contributors: dict[str, list[Contributor]] = defaultdict(list)


def contributes_to(page: str) -> Callable[[Contributor], Contributor]:
    """Register the decorated function as a contributor to `page`'s context (once, however often it is
    imported)."""

    def register(contributor: Contributor) -> Contributor:
        if contributor not in _contributors[page]:
            _contributors[page].append(contributor)
        return contributor

    return register


def contributions(page: str, **subject: Any) -> dict[str, Any]:
    """The context that every contributor to `page` adds for `subject` (keyword arguments), merged in
    registration order."""
    context: dict[str, Any] = {}
    for contributor in _contributors[page]:
        context.update(contributor(**subject))
    return context
