"""Pruning the kernels of Bayesian layers, and counting their parameters.

Three criteria rank the kernel weights of every variational layer and prune
the lowest-ranked ones:

- `prune_l1`: the magnitude `|mu|` of the posterior mean, below a threshold
  (Shridhar et al., section 4.3).
- `prune_signal_to_noise`: `|mu| / sigma` (Blundell et al., 2015, section 5.1).
- `prune_log_alpha`: `log alpha = log(sigma^2 / mu^2)` above a threshold, e.g.
  3 (Molchanov et al., 2017); read from the `log_alpha` variable of a
  `MultiplicativeNormal` posterior, computed from mu and sigma otherwise
  (where it is `-2 log(|mu| / sigma)`, signal-to-noise pruning again).

Pruning sets the layers' kernel masks (`BaseVariational.set_kernel_mask`): a
pruned weight's posterior is `N(0, 0)`, so every draw of it is exactly zero;
it gets no gradient, so training keeps it pruned; and it leaves the KL term,
which charges nothing for it. The mask is a variable of the layer: the pruned
model predicts, trains, saves and exports as before, with the same shapes.
Pruning again prunes further (masks only ever lose weights). Biases are not
pruned.

```python
model, report = bz.pruning.prune_l1(model, fraction=0.5)
print(report)
model.fit(train_ds, epochs=2)  # pruned weights stay zero
```
"""

import dataclasses

import keras
import numpy as np

from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.stochastic_layer import stochastic_layers

@dataclasses.dataclass
class LayerPruning:
    """Pruning of one layer's kernel.

    Attributes:
        name: the layer's name.
        num_weights: the number of kernel weights.
        non_zero_before: kernel weights with a non-zero posterior mean before.
        non_zero_after: the same, after pruning.
    """

    name: str
    num_weights: int
    non_zero_before: int
    non_zero_after: int


@dataclasses.dataclass
class PruningReport:
    """Non-zero kernel weights before and after a pruning step.

    Attributes:
        criterion: what was pruned, e.g. `"|mu| < 0.01"`.
        layers: a `LayerPruning` per variational layer, in model order.

    Example:

    >>> model, report = bz.pruning.prune_l1(model, threshold=0.01)
    >>> report.non_zero_before, report.non_zero_after, report.fraction_pruned
    >>> print(report)  # one line per layer and a total
    """

    criterion: str
    layers: list

    @property
    def num_weights(self):
        return sum(layer.num_weights for layer in self.layers)

    @property
    def non_zero_before(self):
        return sum(layer.non_zero_before for layer in self.layers)

    @property
    def non_zero_after(self):
        return sum(layer.non_zero_after for layer in self.layers)

    @property
    def fraction_pruned(self):
        """The fraction of the non-zero kernel weights that this step pruned."""
        if self.non_zero_before == 0:
            return 0.0
        return 1.0 - self.non_zero_after / self.non_zero_before

    @property
    def sparsity(self):
        """The fraction of all kernel weights that are zero after this step."""
        return 1.0 - self.non_zero_after / max(self.num_weights, 1)

    def __str__(self):
        width = max([len("total")] + [len(layer.name) for layer in self.layers])
        lines = [
            f"Pruning: {self.criterion}",
            f"{'layer':<{width}}  {'weights':>10}  {'non-zero before':>15}  {'after':>10}",
        ]
        rows = [
            (layer.name, layer.num_weights, layer.non_zero_before, layer.non_zero_after)
            for layer in self.layers
        ]
        rows.append(("total", self.num_weights, self.non_zero_before, self.non_zero_after))
        for name, total, before, after in rows:
            lines.append(f"{name:<{width}}  {total:>10,}  {before:>15,}  {after:>10,}")
        lines.append(
            f"pruned {self.fraction_pruned:.1%} of the non-zero weights; "
            f"sparsity {self.sparsity:.1%}"
        )
        return "\n".join(lines)


def _variational_layers(model):
    layers = [layer for layer in stochastic_layers(model) if isinstance(layer, BaseVariational)]
    if not layers:
        raise ValueError(
            "Argument `model` has no variational layers to prune. "
            f"Received: model={getattr(model, 'name', model)!r}"
        )
    for layer in layers:
        if not layer.built:
            raise ValueError(
                f"Layer {layer.name!r} is not built: call the model on data "
                "(or build it) before pruning."
            )
    return layers


def kernel_means(layer):
    """The posterior means of `layer`'s kernel, pruned weights zero, as a NumPy array."""
    return keras.ops.convert_to_numpy(layer.kernel_posterior().loc)


def _prune_kernel(layer, pruned):
    """Masks the `pruned` kernel weights of `layer` out, and zeroes their stored means."""
    loc = layer.kernel_posterior_variables["loc"]
    loc.assign(keras.ops.where(pruned, keras.ops.zeros_like(loc), loc))
    layer.set_kernel_mask(_kept(layer) & ~np.asarray(pruned))


def _kept(layer):
    """The kernel weights not pruned yet: True where `layer`'s mask keeps them."""
    if not layer.has_kernel_mask:
        return np.ones(layer.weight_shapes["kernel"], dtype=bool)
    return keras.ops.convert_to_numpy(layer.kernel_mask) != 0


def _criterion(score_name, threshold, fraction, prune_below=True):
    """Checks the threshold / fraction pair and describes the criterion."""
    if (threshold is None) == (fraction is None):
        raise ValueError(
            "Pass exactly one of `threshold` and `fraction`. "
            f"Received: threshold={threshold!r}, fraction={fraction!r}"
        )
    if fraction is not None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(
                f"Argument `fraction` must be in [0, 1]. Received: fraction={fraction!r}"
            )
        order = "lowest" if prune_below else "highest"
        return f"{order} {fraction:.1%} of each layer by {score_name}"
    return f"{score_name} {'<' if prune_below else '>'} {threshold:g}"


def _prune(model, score, threshold, fraction, criterion):
    """Prunes the kernel weights whose `score(layer)` is lowest.

    With `threshold`, the weights scoring below it; with `fraction`, that
    fraction of each layer's kernel weights (the lowest scores first).
    """
    layers = _variational_layers(model)
    results = []
    for layer in layers:
        before = int(np.count_nonzero(kernel_means(layer)))
        # Weights pruned before rank first: pruning again only prunes more.
        scores = np.where(_kept(layer), score(layer), -np.inf)
        if threshold is not None:
            pruned = scores < threshold
        else:
            num_pruned = int(round(fraction * scores.size))
            pruned = np.zeros(scores.size, dtype=bool)
            pruned[np.argsort(scores, axis=None, kind="stable")[:num_pruned]] = True
            pruned = pruned.reshape(scores.shape)
        _prune_kernel(layer, pruned)
        after = int(np.count_nonzero(kernel_means(layer)))
        results.append(LayerPruning(layer.name, int(scores.size), before, after))
    return model, PruningReport(criterion, results)


def _kernel_mean_and_stddev(layer):
    variables = layer.kernel_posterior_variables
    loc = variables["loc"].numpy()
    stddev = keras.ops.convert_to_numpy(layer.posterior.stddev(variables))
    return loc, stddev


def prune_l1(model, threshold=None, fraction=None):
    """L1 pruning: zero the kernel weights whose posterior mean is small.

    The paper's section 4.3: weights with `|mu| < threshold` are set to zero.
    The model is changed in place (clone it first to keep the original).

    Args:
        model: a Keras model with built variational layers.
        threshold: non-negative float, prune where `|mu| < threshold`.
        fraction: float in [0, 1], instead prune this fraction of every
            layer's kernel weights, smallest `|mu|` first.

    Returns:
        `(model, report)`: the pruned model and a `PruningReport`.

    Example:

    >>> model, report = bz.pruning.prune_l1(model, threshold=1e-2)
    """
    criterion = _criterion("|mu|", threshold, fraction)
    return _prune(
        model,
        lambda layer: np.abs(kernel_means(layer)),
        threshold,
        fraction,
        criterion,
    )


def _signal_to_noise(layer):
    loc, stddev = _kernel_mean_and_stddev(layer)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(loc) / stddev
    # A zero mean has no signal whatever its stddev (0 / 0 included).
    return np.where(loc == 0.0, 0.0, ratio)


def prune_signal_to_noise(model, threshold=None, fraction=None):
    """Prunes the kernel weights with a low signal-to-noise ratio `|mu| / sigma`.

    Blundell et al. (2015) keep the weights whose posterior mean stands out
    from its spread. The model is changed in place.

    Args:
        model: a Keras model with built variational layers.
        threshold: non-negative float, prune where `|mu| / sigma < threshold`.
        fraction: float in [0, 1], instead prune this fraction of every
            layer's kernel weights, lowest ratio first.

    Returns:
        `(model, report)`: the pruned model and a `PruningReport`.

    Example:

    >>> model, report = bz.pruning.prune_signal_to_noise(model, fraction=0.5)
    """
    criterion = _criterion("|mu| / sigma", threshold, fraction)
    return _prune(model, _signal_to_noise, threshold, fraction, criterion)


def _negative_log_alpha(layer):
    variables = layer.kernel_posterior_variables
    if "log_alpha" in variables:
        return -variables["log_alpha"].numpy()
    loc, stddev = _kernel_mean_and_stddev(layer)
    with np.errstate(divide="ignore"):
        # log(mu^2 / sigma^2); -inf where mu = 0, so zero means go first.
        return 2.0 * (np.log(np.abs(loc)) - np.log(stddev))


def prune_log_alpha(model, threshold=None, fraction=None):
    """Prunes the kernel weights whose dropout rate `alpha = sigma^2 / mu^2` is high.

    For the paper's `MultiplicativeNormal` posterior, `log_alpha` is a
    variable; weights with `log_alpha > 3` (a dropout rate above 0.95) carry
    almost only noise (Molchanov et al., 2017). For a `MeanFieldNormal`
    posterior it is computed as `log(sigma^2 / mu^2)`. The model is changed
    in place.

    Known limitation: a `MultiplicativeNormal` weight with a zero mean has a
    zero stddev (`sigma = sqrt(alpha) |mu|`), which makes its KL term
    infinite: the pruned model predicts, saves and reloads, but training it
    gives a NaN loss until that posterior's stddev is floored.

    Args:
        model: a Keras model with built variational layers.
        threshold: float, prune where `log_alpha > threshold`; 3 when
            neither `threshold` nor `fraction` is given.
        fraction: float in [0, 1], instead prune this fraction of every
            layer's kernel weights, largest `log_alpha` first.

    Returns:
        `(model, report)`: the pruned model and a `PruningReport`.

    Example:

    >>> model, report = bz.pruning.prune_log_alpha(model)  # log_alpha > 3
    """
    if threshold is None and fraction is None:
        threshold = 3.0
    criterion = _criterion("log_alpha", threshold, fraction, prune_below=False)
    # Ranked by -log_alpha, so that pruning takes the lowest scores.
    return _prune(
        model,
        _negative_log_alpha,
        None if threshold is None else -threshold,
        fraction,
        criterion,
    )


def fraction_for_budget(non_zero_parameters, prunable_weights, target_parameters):
    """The fraction of every kernel to prune so that `target_parameters` non-zero ones remain.

    Each pruned kernel weight removes two stored numbers, its posterior mean
    and its spread (`bz.pruning.count_parameters`' `non_zero_parameters`
    counts two per non-zero variational weight), so pruning a fraction `f`
    of `prunable_weights` leaves `non_zero_parameters - 2 f prunable_weights`.

    Args:
        non_zero_parameters: int, the model's non-zero parameters before.
        prunable_weights: int, the non-zero kernel weights (biases are not
            pruned).
        target_parameters: int, e.g. the frequentist twin's parameter count.

    Returns:
        A float in [0, 1]; 0 when the model is within the budget already, 1
        when even pruning every kernel weight would not reach it.
    """
    if prunable_weights <= 0:
        raise ValueError(f"Argument `prunable_weights` must be positive. Received: "
                         f"{prunable_weights!r}")
    excess = non_zero_parameters - target_parameters
    if excess <= 0:
        return 0.0
    return min(1.0, excess / (2.0 * prunable_weights))


def count_parameters(model):
    """Counts a model's parameters, and the non-zero ones of its posteriors.

    Args:
        model: a built Keras model.

    Returns:
        A dict of ints:
        - `trainable`, `non_trainable`: scalars in the model's variables.
        - `variational_weights`: weights with a posterior (kernels and
          biases of the variational layers; each has a mean and a spread).
        - `non_zero_means`: those with a non-zero posterior mean.
        - `pruned`: `variational_weights - non_zero_means`.
        - `deterministic_weights`: trainable scalars outside the posteriors
          (e.g. frequentist layers, batch-norm scales).
        - `non_zero_parameters`: what a sparse copy stores: two numbers
          (mean, spread) per non-zero variational weight, plus the non-zero
          deterministic trainable scalars; comparable to a frequentist
          model's parameter count.

    Example:

    >>> bz.pruning.count_parameters(model)["non_zero_means"]
    """
    posterior_ids = set()
    variational_weights = non_zero_means = 0
    for layer in stochastic_layers(model):
        if not isinstance(layer, BaseVariational) or not layer.built:
            continue
        means = [kernel_means(layer)]
        posterior_variables = list(layer.kernel_posterior_variables.values())
        if layer.use_bias:
            means.append(layer.bias_posterior_variables["loc"].numpy())
            posterior_variables += list(layer.bias_posterior_variables.values())
        for loc in means:
            variational_weights += loc.size
            non_zero_means += int(np.count_nonzero(loc))
        posterior_ids.update(id(variable) for variable in posterior_variables)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    non_trainable = sum(int(np.prod(v.shape)) for v in model.non_trainable_variables)
    deterministic = [v for v in model.trainable_variables if id(v) not in posterior_ids]
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "variational_weights": variational_weights,
        "non_zero_means": non_zero_means,
        "pruned": variational_weights - non_zero_means,
        "deterministic_weights": sum(int(np.prod(v.shape)) for v in deterministic),
        "non_zero_parameters": 2 * non_zero_means
        + sum(int(np.count_nonzero(v.numpy())) for v in deterministic),
    }


CRITERIA = {"l1": prune_l1, "signal_to_noise": prune_signal_to_noise}


def prune_to_budget(model, target_parameters, criterion="l1"):
    """Prunes the same fraction of every kernel until `target_parameters` non-zero ones remain.

    The fraction comes from `fraction_for_budget`; each layer rounds its own
    count, so where that leaves the model a few parameters over the budget,
    it prunes a little further (weights pruned before stay pruned).

    Args:
        model: a Keras model with built variational layers; changed in place.
        target_parameters: positive int, the budget of
            `count_parameters(model)["non_zero_parameters"]`, e.g. the
            frequentist twin's `count_parameters(twin)["trainable"]`.
        criterion: `"l1"` (`prune_l1`) or `"signal_to_noise"`.

    Returns:
        `(model, report)`: the pruned model and a `PruningReport` of the
        whole step.

    Example:

    >>> model, report = bz.pruning.prune_to_budget(model, twin.count_params())
    """
    if criterion not in CRITERIA:
        raise ValueError(f"Argument `criterion` must be one of {sorted(CRITERIA)}. "
                         f"Received: criterion={criterion!r}")
    if isinstance(target_parameters, bool) or not isinstance(target_parameters, int) \
            or target_parameters < 1:
        raise ValueError("Argument `target_parameters` must be a positive integer. "
                         f"Received: target_parameters={target_parameters!r}")
    layers = _variational_layers(model)
    before = [LayerPruning(layer.name, int(np.prod(layer.weight_shapes["kernel"])),
                           int(np.count_nonzero(kernel_means(layer))), 0) for layer in layers]
    num_weights = sum(layer.num_weights for layer in before)
    prunable = sum(layer.non_zero_before for layer in before)
    fraction = fraction_for_budget(count_parameters(model)["non_zero_parameters"], prunable,
                                   target_parameters)
    # Fractions of every kernel: weights pruned before count in them.
    fraction = (num_weights - prunable + fraction * prunable) / num_weights
    for _ in range(100):
        model, _ = CRITERIA[criterion](model, fraction=fraction)
        excess = count_parameters(model)["non_zero_parameters"] - target_parameters
        if excess <= 0 or fraction >= 1.0:
            break
        fraction = min(1.0, fraction + excess / (2.0 * num_weights))
    for layer_pruning, layer in zip(before, layers):
        layer_pruning.non_zero_after = int(np.count_nonzero(kernel_means(layer)))
    description = (f"{criterion}, {fraction:.2%} of each kernel, to "
                   f"{target_parameters:,} non-zero parameters")
    return model, PruningReport(description, before)
