"""Data sets: each returns (x_train, y_train, x_test, y_test), x channels-first in [0, 1] (MNIST-1D:
standardised signals), y int64 class labels. The bundled ones work offline as float32 arrays; the
standard ones (`load("mnist" | "fashion-mnist" | "cifar10")`) are downloaded once and memory-mapped."""
from .bundled import DATASETS, digits, mnist1d, translated_digits
from .files import image_folder, load_data, npz_file, read_image
from .idx import mnist
from .standard import SETS, Images, available, data_home, load, rows

__all__ = ["digits", "mnist1d", "translated_digits", "mnist", "DATASETS", "SETS", "Images", "data_home", "load", "available",
           "rows", "load_data", "image_folder", "npz_file", "read_image"]
