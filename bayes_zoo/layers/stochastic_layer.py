"""Layers that draw noise on every call, and the switches that control them.

Both method families (variational layers and MC dropout) sample on every
call, in training and in inference, so that `model.predict` is one Monte
Carlo draw. Prediction from the posterior means (no noise, dropout off) is an
explicit switch, never a side effect of `training=False`:

```python
with bz.layers.posterior_mean(model):
    deterministic_logits = model.predict(x)
```
"""

import contextlib

import keras


class StochasticLayer(keras.layers.Layer):
    """Base of every layer that samples on each call.

    Args:
        use_posterior_mean: bool, if True the layer is deterministic: a
            variational layer uses its posterior means and an MC dropout
            layer is the identity.
        **kwargs: base layer keyword arguments, such as `name`.
    """

    def __init__(self, use_posterior_mean=False, **kwargs):
        super().__init__(**kwargs)
        self.use_posterior_mean = bool(use_posterior_mean)

    def call_on_copies(self, inputs, num_copies):
        """The layer's outputs on `num_copies` stacked copies of `inputs`.

        Monte Carlo prediction calls it on the first layer that draws noise,
        with the batch before tiling, so that a layer can compute once what
        does not depend on the draw. Copy t of the result is rows
        t*N .. (t+1)*N - 1, as with `keras.ops.tile`. This base version tiles
        `inputs` and calls the layer. It is for prediction: an override may
        add no losses.

        Args:
            inputs: tensor [N, ...], the layer's input.
            num_copies: positive int or scalar int tensor.
        """
        return self(tile_copies(inputs, num_copies))

    def get_config(self):
        config = super().get_config()
        config["use_posterior_mean"] = self.use_posterior_mean
        return config


def tile_copies(tensor, num_copies):
    """`num_copies` copies of `tensor` stacked along the batch axis.

    Tiling (not repeating) keeps each copy contiguous: copy t is rows
    t*N .. (t+1)*N - 1, the grouping `set_weight_samples` expects.
    """
    rank = len(tensor.shape)
    return keras.ops.tile(tensor, [num_copies] + [1] * (rank - 1))


def stochastic_layers(model):
    """Returns every `StochasticLayer` in `model` (itself, if it is one), nested ones included."""
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, StochasticLayer)
    ]


_COMPILED_FUNCTIONS = ("train_function", "test_function", "predict_function")


def _forget_compiled_functions(model):
    # The switch is Python state read while tracing: drop the traced
    # train/test/predict functions so that the next call traces again.
    for name in _COMPILED_FUNCTIONS:
        if hasattr(model, name):
            setattr(model, name, None)


def _compiled_functions(model):
    return {name: getattr(model, name) for name in _COMPILED_FUNCTIONS if hasattr(model, name)}


def set_posterior_mean(model, enabled=True):
    """Makes every stochastic layer of `model` deterministic (or sample again).

    It drops the model's traced train/test/predict functions, so that they
    trace again with the new state: do not call it from a callback while
    `fit` runs (use the `posterior_mean` context manager there).

    Args:
        model: a Keras model or layer.
        enabled: bool, True to predict from the posterior means (dropout off),
            False to sample on every call (the default behaviour).

    Example:

    >>> bz.layers.set_posterior_mean(model, True)
    >>> logits = model.predict(images)  # deterministic
    >>> bz.layers.set_posterior_mean(model, False)
    """
    for layer in stochastic_layers(model):
        layer.use_posterior_mean = bool(enabled)
    _forget_compiled_functions(model)


@contextlib.contextmanager
def posterior_mean(model):
    """Context manager: inside it, `model` predicts from its posterior means.

    On exit it restores the layers' previous state and the model's traced
    train/test/predict functions, so it may be used from a callback while
    `fit` runs (for example to measure the posterior-mean test error every
    epoch).

    Args:
        model: a Keras model or layer.

    Example:

    >>> with bz.layers.posterior_mean(model):
    ...     logits = model(images)
    """
    previous = {id(layer): layer.use_posterior_mean for layer in stochastic_layers(model)}
    # Traced with the state restored on exit, so still valid then; `fit`
    # keeps calling `model.train_function` after its callbacks return.
    compiled = _compiled_functions(model)
    set_posterior_mean(model, True)
    try:
        yield model
    finally:
        for layer in stochastic_layers(model):
            layer.use_posterior_mean = previous[id(layer)]
        for name, function in compiled.items():
            setattr(model, name, function)


def set_weight_samples(model, num_samples):
    """Tells the layers of `model` that each batch stacks `num_samples` copies.

    Reparameterization and flipout layers then draw one kernel (perturbation)
    per copy instead of one per batch, so that a batch repeated `num_samples`
    times gives `num_samples` independent Monte Carlo draws in one call. The
    batch size must be divisible by `num_samples`. Local reparameterization
    and MC dropout layers draw per example already and are unaffected.
    """
    if int(num_samples) < 1:
        raise ValueError(
            f"Argument `num_samples` must be at least 1. Received: num_samples={num_samples}"
        )
    for layer in stochastic_layers(model):
        if hasattr(layer, "weight_samples"):
            layer.weight_samples = int(num_samples)
    _forget_compiled_functions(model)


@contextlib.contextmanager
def stacked_weight_samples(model, num_samples):
    """Context manager: `set_weight_samples` for the calls (or traces) inside it.

    Unlike `set_weight_samples` it keeps the model's traced functions, so it
    can be used while one of them is being traced, and it restores the
    previous counts on exit.

    Example:

    >>> with bz.layers.stacked_weight_samples(model, 10):
    ...     outputs = model(keras.ops.tile(images, (10, 1, 1, 1)))
    """
    if int(num_samples) < 1:
        raise ValueError(
            f"Argument `num_samples` must be at least 1. Received: num_samples={num_samples}"
        )
    layers = [layer for layer in stochastic_layers(model) if hasattr(layer, "weight_samples")]
    previous = [layer.weight_samples for layer in layers]
    for layer in layers:
        layer.weight_samples = int(num_samples)
    try:
        yield model
    finally:
        for layer, value in zip(layers, previous):
            layer.weight_samples = value
