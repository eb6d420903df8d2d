"""Proof search strategies behind one `Search` interface: RMaxTS, whole-proof sampling, best-first."""

from __future__ import annotations

from typing import Any

from search.base import Budget, Search, SearchResult

__all__ = ["Budget", "Search", "SearchResult", "SEARCH_NAMES", "get_search"]

SEARCH_NAMES = ("rmaxts", "sample", "bfs")


def get_search(name: str, **config: Any) -> Search:
    """A search by name ("rmaxts", "sample", "bfs"); `config` are its config dataclass fields."""
    if name == "rmaxts":
        from search.rmaxts import RMaxTS, RMaxTSConfig

        return RMaxTS(RMaxTSConfig(**config))
    if name == "sample":
        from search.sampling import SamplingConfig, SamplingSearch

        return SamplingSearch(SamplingConfig(**config))
    if name == "bfs":
        from search.bfs import BestFirstSearch, BFSConfig

        return BestFirstSearch(BFSConfig(**config))
    raise ValueError(f"unknown search {name!r}; choose one of {', '.join(SEARCH_NAMES)}")
