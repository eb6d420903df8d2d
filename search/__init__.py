"""Proof search strategies behind one `Search` interface: RMaxTS, whole-proof sampling, best-first,
subgoal decomposition."""

from __future__ import annotations

from typing import Any

from search.base import Budget, Search, SearchResult

__all__ = ["Budget", "Search", "SearchResult", "SEARCH_NAMES", "config_class", "get_search"]

SEARCH_NAMES = ("rmaxts", "sample", "bfs", "decompose")


def config_class(name: str) -> type:
    """The config dataclass of a search ("rmaxts", "sample", "bfs", "decompose")."""
    if name == "rmaxts":
        from search.rmaxts import RMaxTSConfig

        return RMaxTSConfig
    if name == "sample":
        from search.sampling import SamplingConfig

        return SamplingConfig
    if name == "bfs":
        from search.bfs import BFSConfig

        return BFSConfig
    if name == "decompose":
        from search.decompose import DecomposeConfig

        return DecomposeConfig
    raise ValueError(f"unknown search {name!r}; choose one of {', '.join(SEARCH_NAMES)}")


def get_search(name: str, **config: Any) -> Search:
    """A search by name ("rmaxts", "sample", "bfs", "decompose"); `config` are its config
    dataclass fields (`sampling` may be a `prover.policy.base.Sampling` or a mapping of its fields)."""
    cfg = config_class(name)(**config)
    if name == "rmaxts":
        from search.rmaxts import RMaxTS

        return RMaxTS(cfg)
    if name == "sample":
        from search.sampling import SamplingSearch

        return SamplingSearch(cfg)
    if name == "decompose":
        from search.decompose import DecomposeSearch

        return DecomposeSearch(cfg)
    from search.bfs import BestFirstSearch

    return BestFirstSearch(cfg)
