"""bayes-zoo: Bayesian convolutional neural networks for Keras 3.

Bayes by Backprop with the local reparameterization trick (Shridhar et al.)
and MC dropout (Gal & Ghahramani), with TensorFlow Probability distributions.

Example:

>>> import bayes_zoo as bz
>>> model = bz.zoo.load("lenet5_lrt_mnist")
>>> result = bz.predict_with_uncertainty(model, images, num_samples=20)
"""

import importlib
import sys

__version__ = "0.1.0"

# The submodules load on first use (`bz.layers`, `from bayes_zoo import data`),
# so that `import bayes_zoo.cli` and `bayes-zoo list` start without
# TensorFlow, which takes seconds to import.
_SUBMODULES = (
    "architectures", "callbacks", "card_tables", "data", "demo", "evaluation", "export", "gan",
    "layers", "methods", "metrics", "plots", "posteriors", "precision", "priors", "pruning",
    "saving", "schedules", "sr_protocol", "super_resolution", "task_registry", "tasks",
    "tfp_layers", "trainer", "training", "uncertainty", "zoo",
)
_FUNCTIONS = {"predict_with_uncertainty": "uncertainty"}
__all__ = [*_SUBMODULES, *_FUNCTIONS]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


# With Keras already imported, importing everything costs little, and it
# registers the layers and models with Keras' serialization, so that
# `import keras, bayes_zoo` then `keras.models.load_model(...)` needs no
# `custom_objects`, as before.
if "keras" in sys.modules:
    for _name in _SUBMODULES:
        importlib.import_module(f"{__name__}.{_name}")
    del _name
