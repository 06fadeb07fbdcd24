"""The cache of recent reads: entries live ``ttl`` seconds, at most ``size`` of them."""

from __future__ import annotations

from sference_server.ttl_cache import TtlCache


def test_the_cache_keeps_the_most_recently_used_entries_only() -> None:
    cache: TtlCache[str, object] = TtlCache(ttl=10, size=2)
    values = {name: object() for name in "abc"}
    for name in "ab":
        cache.put(name, values[name], 0.0)
    assert cache.get("a", 1.0) is values["a"]  # a is now the most recent
    cache.put("c", values["c"], 1.0)
    assert cache.get("b", 1.0) is None and cache.get("a", 1.0) is values["a"]
    assert cache.get("a", 11.0) is None  # expired
