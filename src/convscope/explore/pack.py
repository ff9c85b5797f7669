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


def _outward(v: float, up: bool) -> float:
    """v to 4 significant digits, rounded away from the inside of the range (so every cell stays in it)."""
    if v == 0 or not np.isfinite(v):
        return 0.0
    step = 10.0 ** (np.floor(np.log10(abs(v))) - 3)
    return float(f"{(np.ceil(v / step) if up else np.floor(v / step)) * step:.4g}")


def pack_each(a) -> dict:
    """Like `pack`, but each entry along the first axis quantised to its own range ("lo", "hi" lists):
    a saliency map of a far unit is small, and one shared range would flatten it to one colour. The
    ranges are written to 4 significant digits (rounded outward): thousands of them in full would
    be a tenth of a page."""
    a = np.asarray(a, dtype=np.float64)
    flat = np.nan_to_num(a.reshape(len(a), -1))
    lo = [_outward(v, False) for v in flat.min(1)] if flat.size else []
    hi = [_outward(v, True) for v in flat.max(1)] if flat.size else []
    scale = np.asarray(hi) - np.asarray(lo)
    q = np.round((flat - np.asarray(lo)[:, None]) / np.where(scale > 0, scale, 1.0)[:, None] * 255)
    return {"shape": list(a.shape), "lo": lo, "hi": hi,
            "b64": base64.b64encode(np.clip(q, 0, 255).astype(np.uint8).tobytes()).decode("ascii")}


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
