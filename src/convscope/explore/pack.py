"""Arrays for the page: quantised to bytes and base64-encoded, with the range to undo it.

A ResNet-18 feature map as JSON numbers would be megabytes of digits; one byte per cell with the
layer's (lo, hi) keeps the colours exact to 1/255 of the range, which is all a picture can show.
"""
from __future__ import annotations

import base64

import numpy as np


def pack(a) -> dict:
    """{"shape", "lo", "hi", "b64"}: a's cells as bytes, 0 meaning lo and 255 meaning hi."""
    a = np.asarray(a, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scale = (hi - lo) or 1.0
    q = np.clip(np.round((np.nan_to_num(a, nan=lo) - lo) / scale * 255), 0, 255).astype(np.uint8)
    return {"shape": list(a.shape), "lo": lo, "hi": hi, "b64": base64.b64encode(q.tobytes()).decode("ascii")}


def unpack(p: dict) -> np.ndarray:
    """The inverse of `pack`, to within (hi - lo) / 255 per cell (the page does the same in JS)."""
    q = np.frombuffer(base64.b64decode(p["b64"]), dtype=np.uint8).astype(np.float64)
    return (p["lo"] + q / 255 * ((p["hi"] - p["lo"]) or 1.0) * (p["hi"] != p["lo"])).reshape(p["shape"])


def pack_each(a) -> dict:
    """Like `pack`, but each entry along the first axis quantised to its own range ("lo", "hi" lists):
    a saliency map of a far unit is small, and one shared range would flatten it to one colour."""
    a = np.asarray(a, dtype=np.float64)
    parts = [pack(m) for m in a]
    q = b"".join(base64.b64decode(p["b64"]) for p in parts)
    return {"shape": list(a.shape), "lo": [p["lo"] for p in parts], "hi": [p["hi"] for p in parts],
            "b64": base64.b64encode(q).decode("ascii")}


def exact(a) -> dict:
    """{"shape", "f32"}: a's cells as little-endian float32, exact (for the page's own arithmetic)."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "f32": base64.b64encode(a.tobytes()).decode("ascii")}


def unexact(p: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(p["f32"]), dtype="<f4").reshape(p["shape"])


def unpack_each(p: dict) -> np.ndarray:
    """The inverse of `pack_each`, to within (hi - lo) / 255 of each entry's own range."""
    q = np.frombuffer(base64.b64decode(p["b64"]), dtype=np.uint8).astype(np.float64).reshape(p["shape"][0], -1)
    lo, hi = np.asarray(p["lo"])[:, None], np.asarray(p["hi"])[:, None]
    return (lo + q / 255 * np.where(hi != lo, hi - lo, 0.0)).reshape(p["shape"])
