"""Setting the KL weight of a whole model at once.

A bayes-zoo variational layer adds `kl_weight * KL(q || p)` to the loss. Keras
averages the data term over the batch, so the negative ELBO per example needs
`kl_weight = 1 / num_train_examples`; the layers' default of 1.0 makes the KL
outweigh the data by that factor (a two-layer toy model reports a KL loss of
~7e5 and learns nothing).

```python
model = keras.Model(inputs, outputs)
bz.layers.set_kl_weight(model, 1 / num_train_examples)
```
"""

from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.base_variational import check_kl_weight
from bayes_zoo.layers.stochastic_layer import stochastic_layers


def kl_weighted_layers(model):
    """The variational layers of `model` that weigh their KL by a `kl_weight`.

    The `tfp.layers`-convention layers (`bz.tfp_layers`) are not among them:
    their divergence functions do the weighting.
    """
    return [
        layer
        for layer in stochastic_layers(model)
        if isinstance(layer, BaseVariational) and layer.has_kl_weight
    ]


def set_kl_weight(model, kl_weight):
    """Sets the KL weight of every variational layer of `model`.

    Use `1 / num_train_examples`, so that `fit` minimises the negative ELBO
    per example. It sets each layer's `initial_kl_weight` (which
    `bz.callbacks.KLWeightSchedule` scales) and, on built layers, the
    `kl_weight` variable.

    Args:
        model: a Keras model or layer.
        kl_weight: finite float >= 0.

    Returns:
        The number of layers changed.

    Example:

    >>> model = keras.Model(inputs, outputs)
    >>> bz.layers.set_kl_weight(model, 1 / 60000)
    """
    check_kl_weight(kl_weight)
    layers = kl_weighted_layers(model)
    if not layers:
        raise ValueError(
            f"{getattr(model, 'name', model)!r} has no bayes-zoo variational layer with a "
            "`kl_weight` (tfp.layers-convention layers weigh their KL in their "
            "`*_divergence_fn`)."
        )
    for layer in layers:
        layer.initial_kl_weight = float(kl_weight)
        if layer.built:
            layer.kl_weight.assign(float(kl_weight))
    return len(layers)
