import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fixed_seed():
    keras.utils.set_random_seed(1234)
    yield
    # Without the garbage collection that clear_session runs by default: it
    # takes over 2 s per test once the process holds a few traced models.
    keras.backend.clear_session(free_memory=False)
