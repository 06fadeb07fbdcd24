"""The sync and async clients offer the same operations with the same signatures."""

from __future__ import annotations

import inspect

from sference_sdk import AsyncSferenceClient, SferenceClient

# Lifecycle methods that differ by nature (close/aclose, context managers).
LIFECYCLE = {"close", "aclose", "__enter__", "__exit__", "__aenter__", "__aexit__"}


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if callable(member) and (not name.startswith("_") or name == "_parse_jsonl") and name not in LIFECYCLE
    }


def test_same_methods_and_signatures() -> None:
    sync, async_ = public_methods(SferenceClient), public_methods(AsyncSferenceClient)
    assert set(sync) == set(async_)
    for name, signature in sync.items():
        assert str(signature) == str(async_[name]).replace("AsyncIterator[", "Iterator["), name


def test_async_methods_are_awaitable_or_async_iterators_except_static_helpers() -> None:
    for name in public_methods(AsyncSferenceClient):
        member = getattr(AsyncSferenceClient, name)
        static = isinstance(inspect.getattr_static(AsyncSferenceClient, name), staticmethod)
        is_async = inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
        assert is_async != static, name
        if inspect.isasyncgenfunction(member):
            assert inspect.isgeneratorfunction(getattr(SferenceClient, name)), name


def test_constructor_arguments_match() -> None:
    sync = inspect.signature(SferenceClient.__init__).parameters
    async_ = inspect.signature(AsyncSferenceClient.__init__).parameters
    assert list(sync) == list(async_)
