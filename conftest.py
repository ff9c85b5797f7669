import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_numpy(doctest_namespace):
    """Docstring examples use `np` as every NumPy user writes it."""
    doctest_namespace["np"] = np
