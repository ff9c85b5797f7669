"""The `convscope` command: a thin layer that formats what the library returns."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import lecture


def _matrix(name: str, a: np.ndarray) -> str:
    body = np.array2string(np.asarray(a), max_line_width=200, precision=4, suppress_small=True)
    return f"{name} {tuple(np.shape(a))}:\n{body}\n"


def show_matrix_example() -> int:
    ex = lecture.matrix_example()
    print("Convolution as matrix multiplication (cross-correlation, no padding, stride 1)\n")
    print(_matrix("input x", ex["x"]))
    print(_matrix("kernel w", ex["w"]))
    print(_matrix("output y = conv(x, w)", ex["y"]))
    print(_matrix("matrix C (rows are shifted copies of the flattened kernel)", ex["C"]))
    print(_matrix("C @ x.ravel()", ex["C_x"]))
    print(f"C @ x.ravel() == conv(x, w).ravel():            {ex['forward_matches']}")
    print(_matrix("\nC.T @ y.ravel()  (the transposed convolution: 2x2 back up to 4x4)", ex["CT_y"].reshape(4, 4)))
    print(f"C.T @ y.ravel() == conv_transpose(y, w).ravel(): {ex['transpose_matches']}")
    return 0 if ex["forward_matches"] and ex["transpose_matches"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convscope", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("matrix", help="the lecture's 4x4 / 3x3 convolution-as-matrix example (the default)")
    args = parser.parse_args(argv)
    if args.command in (None, "matrix"):
        return show_matrix_example()
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
