"""The lines ``segue tail`` prints, read back as the records they show.

``tail`` wraps each record as ``{"topic", "partition", "offset", "timestamp_ms", "key",
"value"}`` so that a person sees where it came from; an analyst who saves a tail of the events
topic then replays the file. A replay input line that has that shape (and is not an envelope
itself: no ``type``) stands for its ``value``; anything else is read as it is.
"""

from __future__ import annotations

from typing import Any

#: the fields every tail line has (``timestamp_ms`` and ``key`` may be null)
TAIL_FIELDS = frozenset({"topic", "partition", "offset", "value"})


def unwrap(obj: Any) -> Any:
    """The record a tail line shows (its ``value``), or ``obj`` itself if it is not one."""
    if type(obj) is dict and "offset" in obj and "type" not in obj and obj.keys() >= TAIL_FIELDS:
        return obj["value"]
    return obj
