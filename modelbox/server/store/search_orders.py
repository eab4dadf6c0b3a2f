"""The search index's orders (store/search_index.py), kept sorted as changes arrive: a
change costs the logarithm of the field's size, and a search reads only its page of them
(store/indexed.py), never copying or sorting a field."""

from __future__ import annotations

from typing import Any

from sortedcontainers import SortedList

from modelbox.server.store.ranked import order_key

Key = tuple[Any, ...]
Entry = tuple[Key, bytes]


class Field:
    """One namespace's values of one field: (order key, experiment) sorted, by value id, and
    how many values each experiment holds."""

    def __init__(self, rows: list[tuple[Any, Any, bytes]]) -> None:
        self.by_id: dict[Any, Entry] = {i: (order_key(v), e) for i, v, e in rows}
        self.entries = SortedList(self.by_id.values())
        self.held: dict[bytes, int] = {}
        for _, e in self.by_id.values():
            self.held[e] = self.held.get(e, 0) + 1

    def put(self, value_id: Any, value: Any, experiment: bytes) -> None:
        self.drop(value_id)
        entry = (order_key(value), experiment)
        self.entries.add(entry)
        self.by_id[value_id] = entry
        self.held[experiment] = self.held.get(experiment, 0) + 1

    def drop(self, value_id: Any) -> None:
        entry = self.by_id.pop(value_id, None)
        if entry is not None:
            self.entries.remove(entry)
            left = self.held.pop(entry[1]) - 1
            if left:
                self.held[entry[1]] = left

    def span(self, low: Key, high: Key) -> slice:
        """Where in `entries` the keys in [low, high) are."""
        return slice(self.entries.bisect_left((low, b"")), self.entries.bisect_left((high, b"")))


class Names:
    """One namespace's experiments: name by experiment, (name, experiment) sorted, and
    experiments sorted."""

    def __init__(self, rows: dict[bytes, str]) -> None:
        self.of = rows
        self.entries = SortedList((n, e) for e, n in rows.items())
        self.ids = SortedList(rows)

    def put(self, experiment: bytes, name: str) -> None:
        self.drop(experiment)
        self.entries.add((name, experiment))
        self.ids.add(experiment)
        self.of[experiment] = name

    def drop(self, experiment: bytes) -> None:
        name = self.of.pop(experiment, None)
        if name is not None:
            self.entries.remove((name, experiment))
            self.ids.remove(experiment)
