"""Edit a copy of a JSON instance by path, for the solvers' bad-input tables."""

from __future__ import annotations

import json
from typing import Any

DELETE = object()  # as a value: remove the key


def edited(instance: dict[str, Any], **changes: object) -> dict[str, Any]:
    """A deep copy with each ``a__b__c=value`` applied (``__`` separates the path's keys)."""
    data = json.loads(json.dumps(instance))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return data
