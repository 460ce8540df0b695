"""A family of hostile values a host may hand the emitter: objects whose dunder methods raise, strings that
cannot be encoded, containers that never end. Shared by the emitter's tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn


def _boom(*args: object) -> NoReturn:
    raise RuntimeError("hostile object")


class Unprintable:
    """`str()`, `repr()` and `format()` all raise."""

    __str__ = __repr__ = __format__ = _boom


class Unhashable:
    """Prints fine, but hashing or comparing it raises (a dict key or a set member would explode)."""

    __hash__ = __eq__ = __ne__ = __lt__ = _boom  # type: ignore[assignment]

    def __str__(self) -> str:
        return "unhashable"


class EvilStr(str):
    """A `str` (it passes every isinstance check) whose methods raise."""

    __str__ = __repr__ = __format__ = __hash__ = __eq__ = __len__ = __getitem__ = _boom  # type: ignore[assignment]
    lower = strip = split = replace = encode = isascii = _boom  # type: ignore[assignment]


class EvilInt(int):
    """An `int` whose conversions raise."""

    __str__ = __repr__ = __format__ = __index__ = __int__ = __float__ = __bool__ = _boom  # type: ignore[assignment]


class EvilFloat(float):
    """A `float` whose conversions raise."""

    __str__ = __repr__ = __format__ = __float__ = __bool__ = _boom  # type: ignore[assignment]


class Truthless:
    """`bool()` and `len()` raise."""

    __bool__ = __len__ = _boom

    def __str__(self) -> str:
        return "truthless"


class StrIsNotAString:
    """`__str__` returns something that is not a string (str() raises TypeError)."""

    def __str__(self) -> Any:
        return 42

    def __repr__(self) -> Any:
        return None


class BrokenMapping(Mapping[str, Any]):
    """A mapping every access of which raises."""

    def __getitem__(self, key: str) -> Any:
        _boom()

    def __iter__(self) -> Iterator[str]:
        _boom()

    def __len__(self) -> int:
        _boom()


class PairMapping(Mapping[Any, Any]):
    """A mapping over a list of pairs, so its keys need not be hashable (or comparable)."""

    def __init__(self, *pairs: tuple[Any, Any]) -> None:
        self.pairs = pairs

    def __getitem__(self, key: Any) -> Any:
        for k, v in self.pairs:
            if k is key:
                return v
        raise KeyError("missing")

    def __iter__(self) -> Iterator[Any]:
        return iter([k for k, _ in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)


def _deep(levels: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(levels):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def _recursive_list() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


def _recursive_dict() -> dict[str, Any]:
    mapping: dict[str, Any] = {"a": 1}
    mapping["self"] = mapping
    return mapping


def values() -> dict[str, Any]:
    """Hostile values by name (fresh objects each call)."""
    return {
        "unprintable": Unprintable(),
        "unhashable": Unhashable(),
        "evil_str": EvilStr("looks like text"),
        "evil_int": EvilInt(7),
        "evil_float": EvilFloat(1.5),
        "truthless": Truthless(),
        "str_is_not_a_string": StrIsNotAString(),
        "broken_mapping": BrokenMapping(),
        "huge_string": "x" * 3_000_000,
        "huge_int": 10**5000,  # str() of it raises ValueError (int max str digits)
        "int_over_64_bits": 2**70,
        "recursive_list": _recursive_list(),
        "recursive_dict": _recursive_dict(),
        "deep_list": _deep(100_000),  # str() of it raises RecursionError
        "big_list": list(range(1_000_000)),
        "lone_surrogate": "/home/\udcff\udcfe/file",  # a non-UTF-8 path decoded with surrogateescape
        "surrogate_only": "\ud800",
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "bytes": b"\xff\x00\xfe binary",
        "bytearray": bytearray(b"\x00" * 10_000),
        "memoryview": memoryview(b"abc"),
        "control_chars": "line\none\x00\x1b[31m",
        "empty": "",
        "none": None,
        "bool": True,
        "exception": RuntimeError("an exception as a value"),
        "type": type,
    }


def attr_mappings() -> dict[str, Any]:
    """Hostile `attrs` arguments: the mapping itself, its keys or its size are the problem."""
    return {
        "broken_mapping": BrokenMapping(),
        "not_a_mapping": [("a", 1)],
        "unprintable_key": {Unprintable(): 1},
        "unhashable_key": PairMapping((Unhashable(), 1), (EvilStr("k"), 2), (EvilStr("k"), 3)),
        "non_str_keys": {1: "a", (1, 2): "b", None: "c", b"k": "d", 1.5: 2, frozenset({1}): 3},
        "surrogate_key": {"p\udcff": "v"},
        "empty_key": {"": "v"},
        "huge_key": {"k" * 100_000: "v"},
        "many_keys": {f"k{i}": i for i in range(100_000)},
        "every_value": dict(values()),
        "truthless": Truthless(),
    }
