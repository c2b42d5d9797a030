"""InstanceError and the small JSON input-checking helpers the domain solvers share."""

from __future__ import annotations

import json


class InstanceError(ValueError):
    """A problem instance (usually a JSON file from a manager) is invalid.

    The message is a single human-readable line naming the offending id or field, so a CLI
    can print it as-is and a web form can show it next to the upload, e.g.
    ``applicant "a3" ranks unknown slot "s9"``.
    """

    def __init__(self, message: str) -> None:
        # Collapse any stray line breaks: callers promise one line, and ids are shown with
        # quote() (JSON escaping), so this only guards against future careless messages.
        super().__init__(" ".join(message.split()))


def quote(value: object, limit: int = 60) -> str:
    """Render an id or an offending value for an error message, one line and bounded.

    JSON notation is what the user wrote in their file, so ``"a3"``, ``-1``, ``true`` and
    ``null`` read naturally; long values are cut so one bad blob cannot flood a terminal.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_json(text: str) -> object:
    """Parse JSON text, turning every syntax problem into a one-line InstanceError.

    Duplicate keys are rejected rather than silently resolved to the last one: in a
    hand-edited instance a repeated reviewer or slot id is almost always a copy-paste
    mistake, and quietly dropping half of it would produce a plausible but wrong result.
    """
    if not isinstance(text, str):
        raise InstanceError(f"expected JSON text, got {type(text).__name__}")
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InstanceError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InstanceError("malformed JSON: nested too deeply") from None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):  # cheap check first; the scan below runs only on error
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InstanceError(f"duplicate key {quote(key)} in a JSON object")
            seen.add(key)
    return result


def require_object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InstanceError(f"{where} must be an object, got {type_name(value)}")
    return value


def require_array(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise InstanceError(f"{where} must be an array, got {type_name(value)}")
    return value


def require_keys(
    obj: dict[str, object], where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """Insist on the required keys and refuse unknown ones (which are usually typos)."""
    for key in required:
        if key not in obj:
            raise InstanceError(f"{where} is missing {quote(key)}")
    allowed = set(required) | set(optional)
    for key in obj:
        if key not in allowed:
            expected = ", ".join(quote(k) for k in (*required, *optional))
            raise InstanceError(f"{where} has unknown key {quote(key)} (expected {expected})")


# Counts (capacities, loads, demands) are capped so they fit comfortably in the 64-bit
# integers used by the flow solver; no real programme comes anywhere near this.
MAX_COUNT = 1_000_000_000


def require_count(value: object, where: str) -> int:
    """A non-negative integer count; JSON booleans and floats such as 2.0 are refused."""
    if type(value) is not int or value < 0:
        raise InstanceError(f"{where} must be a non-negative integer, got {quote(value)}")
    if value > MAX_COUNT:
        raise InstanceError(f"{where} must be at most {MAX_COUNT}, got {quote(value)}")
    return value
