"""Data sets that work offline: each returns (x_train, y_train, x_test, y_test) NumPy arrays,
x channels-first float32 in [0, 1] (MNIST-1D: standardised signals), y int64 class labels."""
from .bundled import digits, mnist1d, translated_digits
from .files import image_folder, load_data, npz_file
from .idx import mnist

DATASETS = {"digits": digits, "mnist1d": mnist1d, "translated_digits": translated_digits}

__all__ = ["digits", "mnist1d", "translated_digits", "mnist", "DATASETS", "load_data", "image_folder", "npz_file"]
