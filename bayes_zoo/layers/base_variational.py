"""The variational mechanism shared by every Bayesian layer.

`BaseVariational` owns the weight posterior, the prior, the KL term and the
three gradient estimators. Front ends (`Dense*`, `Conv*`) only say what the
linear operation is (`linear_op`), how the kernel is shaped and on which axis
the bias goes.

The estimators (all draw fresh noise on every call, in training and in
inference):

- `"reparameterization"`: sample kernel and bias once per call and apply the
  operation, as `tfp.layers.*Reparameterization` does.
- `"local_reparameterization"`: the paper's two operations (Shridhar et al.,
  section 4.1; Kingma et al., 2015): `mean = op(x, mu) + b_mu`,
  `var = op(x^2, sigma^2) + b_sigma^2`, `output = mean + sqrt(var) * eps`
  with independent `eps ~ N(0, 1)` for every activation.
- `"flipout"` (Wen et al., 2018): `op(x, mu) + op(x * s_in, delta) * s_out`
  with a shared kernel perturbation `delta` decorrelated across examples by
  random signs.
"""

import math
import numbers

import keras
import numpy as np
import tensorflow_probability as tfp

from bayes_zoo import posteriors as posteriors_lib
from bayes_zoo import priors as priors_lib
from bayes_zoo.layers import noise
from bayes_zoo.layers.stochastic_layer import StochasticLayer
from bayes_zoo.layers.stochastic_layer import tile_copies

tfd = tfp.distributions

ESTIMATORS = ("reparameterization", "local_reparameterization", "flipout")

# Added to the activation variance before the square root: the variance is
# exactly zero where a convolution only sees zero padding and no bias.
_VARIANCE_EPSILON = 1e-8


def check_kl_weight(kl_weight):
    """Raises ValueError unless `kl_weight` is a finite number >= 0."""
    if (
        isinstance(kl_weight, bool)
        or not isinstance(kl_weight, numbers.Real)
        or not 0 <= kl_weight < math.inf
    ):
        raise ValueError(
            "Argument `kl_weight` must be a finite non-negative number, such as "
            f"1 / num_train_examples. Received: kl_weight={kl_weight!r}"
        )


class BaseVariational(StochasticLayer):
    """Abstract variational layer (private base of `Dense*` and `Conv*`).

    Args:
        activation: activation function, or None.
        use_bias: bool, whether the layer has a (variational) bias.
        estimator: one of `"reparameterization"`, `"local_reparameterization"`
            or `"flipout"`. The estimator-named classes fix it.
        prior: a `bayes_zoo.priors.Prior`; `Normal(0, 0.1)` by default. Used
            for the kernel and the bias.
        posterior: a `bayes_zoo.posteriors.Posterior`; `MeanFieldNormal()` by
            default. Used for the kernel and the bias.
        kl_weight: float, the initial value of the layer's `kl_weight`
            variable; the layer adds `kl_weight * KL(q || p)` to the model's
            losses. Set it to `1 / num_train_examples` so that `fit` minimises
            the negative ELBO per example; `bayes_zoo.callbacks.
            KLWeightSchedule` changes it during training.
        use_posterior_mean: bool, use the posterior means instead of sampling.
            See `bayes_zoo.layers.posterior_mean`.
        has_kernel_mask: bool, whether the layer holds a 0/1 `kernel_mask`
            variable (pruning, see `set_kernel_mask`). Saved models set it;
            there is no need to pass it.
        seed: int or None, seed of the layer's own noise stream (used by
            `fit` and plain calls; Monte Carlo prediction and exports draw
            from a per-call seed, see `bayes_zoo.layers.noise`). None: drawn
            from Python's `random`, which `keras.utils.set_random_seed`
            seeds.
        **kwargs: base layer keyword arguments, such as `name`.
    """

    # Set by the estimator-named subclasses (e.g. `Conv2DFlipout`).
    fixed_estimator = None
    # False for the tfp.layers convention, whose divergence functions weigh the KL.
    has_kl_weight = True

    def __init__(
        self,
        activation=None,
        use_bias=True,
        estimator=None,
        prior=None,
        posterior=None,
        kl_weight=1.0,
        use_posterior_mean=False,
        seed=None,
        has_kernel_mask=False,
        **kwargs,
    ):
        super().__init__(use_posterior_mean=use_posterior_mean, **kwargs)
        if self.fixed_estimator is not None:
            if estimator not in (None, self.fixed_estimator):
                raise ValueError(
                    f"{type(self).__name__} always uses the "
                    f"'{self.fixed_estimator}' estimator. Received: "
                    f"estimator={estimator!r}"
                )
            estimator = self.fixed_estimator
        estimator = estimator or "local_reparameterization"
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"Unknown argument `estimator`: expected one of {ESTIMATORS}. "
                f"Received: estimator={estimator!r}"
            )
        check_kl_weight(kl_weight)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.estimator = estimator
        self.prior = priors_lib.get(prior)
        self.posterior = posteriors_lib.get(posterior)
        self.initial_kl_weight = float(kl_weight)
        self.seed = seed
        self.has_kernel_mask = bool(has_kernel_mask)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Number of stacked copies of the data in a batch (Monte Carlo with a
        # repeated batch): the reparameterization and flipout estimators then
        # draw one kernel (perturbation) per copy, so that the copies are
        # independent draws. Local reparameterization draws per example.
        self.weight_samples = 1

    # Front ends implement these four.
    def linear_op(self, inputs, kernel):
        raise NotImplementedError

    def kernel_shape(self, input_shape):
        raise NotImplementedError

    def output_channels(self):
        raise NotImplementedError

    def channel_axis(self):
        """The axis of the inputs and outputs that holds the channels."""
        return -1

    def check_input_shape(self, input_shape):
        """Raises ValueError for inputs the operation cannot take."""

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        shape = self.kernel_shape(input_shape)
        self.weight_shapes = {"kernel": tuple(shape), "bias": (self.output_channels(),)}
        self.kernel_posterior_variables = self.weight_posterior("kernel").add_variables(
            self, "kernel", shape
        )
        self.kernel_prior_variables = self._prior_variables("kernel", shape)
        if self.use_bias:
            bias_shape = self.weight_shapes["bias"]
            self.bias_posterior_variables = self.weight_posterior("bias").add_variables(
                self, "bias", bias_shape
            )
            self.bias_prior_variables = self._prior_variables("bias", bias_shape)
        self.build_kl_weight()
        # Last, so that a mask added after build (`set_kernel_mask`) has the
        # same place among the saved variables.
        if self.has_kernel_mask:
            self._build_kernel_mask()

    def _build_kernel_mask(self):
        self.kernel_mask = self.add_weight(
            name="kernel_mask",
            shape=self.weight_shapes["kernel"],
            initializer="ones",
            trainable=False,
            autocast=False,
        )

    def set_kernel_mask(self, mask):
        """Prunes the kernel weights where `mask` is 0; keeps those where it is 1.

        A pruned weight is exactly zero in every draw and in the posterior
        mean (its posterior is `N(0, 0)`), gets no gradient, and leaves the
        KL term: the layer charges nothing for it. The mask is a
        non-trainable variable of the layer, so that training keeps pruned
        weights pruned and `.keras` files and exports carry it. The first
        call on a layer without a mask adds the variable (as Keras'
        `Dense.quantize` adds its variables to a built layer).

        Args:
            mask: array of the kernel's shape; nonzero keeps a weight.

        Example:

        >>> layer.set_kernel_mask(np.abs(layer.kernel_posterior().loc) > 0.01)
        """
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built: call it on data (or build it) before "
                "setting its kernel mask."
            )
        if not self.has_kl_weight:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} follows the tfp.layers convention, "
                "whose divergence functions cannot leave masked weights out. Fix: prune a "
                "layer of `bz.layers` (e.g. Conv2DLocalReparameterization)."
            )
        mask = np.asarray(keras.ops.convert_to_numpy(mask))
        if mask.shape != self.weight_shapes["kernel"]:
            raise ValueError(
                f"Argument `mask` must have the kernel's shape {self.weight_shapes['kernel']}. "
                f"Received: mask.shape={mask.shape}"
            )
        if not self.has_kernel_mask:
            self._tracker.unlock()
            self.has_kernel_mask = True
            self._build_kernel_mask()
            self._tracker.lock()
        self.kernel_mask.assign((mask != 0).astype("float32"))

    def build_kl_weight(self):
        """Creates the `kl_weight` variable (the TFP-convention layers have none)."""
        self.kl_weight = self.add_weight(
            name="kl_weight",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_kl_weight),
            trainable=False,
            # It weighs the float32 KL, whatever the compute dtype.
            autocast=False,
        )

    def _prior_variables(self, weight, shape):
        prior = self.weight_prior(weight)
        return {} if prior is None else prior.add_variables(self, weight, shape)

    # --- posterior access -------------------------------------------------

    def weight_posterior(self, weight):
        """The `Posterior` specification of `weight` ("kernel" or "bias")."""
        return self.posterior

    def weight_prior(self, weight):
        """The `Prior` specification of `weight` ("kernel" or "bias"), or None."""
        return self.prior

    def _posterior_distribution(self, weight, masked=True):
        variables = (
            self.kernel_posterior_variables
            if weight == "kernel"
            else self.bias_posterior_variables
        )
        distribution = self.weight_posterior(weight).distribution(variables)
        if masked and weight == "kernel" and self.has_kernel_mask:
            mask = keras.ops.cast(self.kernel_mask, distribution.dtype)
            distribution = tfd.Normal(distribution.loc * mask, distribution.scale * mask)
        return distribution

    def _prior_distribution(self, weight):
        prior = self.weight_prior(weight)
        if prior is None:
            return None
        variables = (
            self.kernel_prior_variables if weight == "kernel" else self.bias_prior_variables
        )
        return prior.distribution(variables, self.weight_shapes[weight], self.variable_dtype)

    def kernel_posterior(self):
        return self._posterior_distribution("kernel")

    def bias_posterior(self):
        return self._posterior_distribution("bias")

    def kernel_prior(self):
        return self._prior_distribution("kernel")

    def bias_prior(self):
        return self._prior_distribution("bias")

    # --- forward pass -----------------------------------------------------

    def standard_normal(self, shape, dtype):
        """`N(0, 1)` noise from the layer's stream (see `bayes_zoo.layers.noise`)."""
        return noise.normal(shape, dtype, self.seed_generator)

    def _add_bias(self, outputs, bias):
        if self.channel_axis() == -1:
            return outputs + bias
        return outputs + keras.ops.reshape(
            bias, (-1,) + (1,) * (len(outputs.shape) - 2)
        )

    def _computed(self, tensor):
        """`tensor` in the compute dtype, which the linear operations run in.

        Under a mixed precision policy the posterior, its draws and the KL
        are float32 (the variable dtype); only what enters the linear
        operation is cast down.
        """
        return keras.ops.cast(tensor, self.compute_dtype)

    def call(self, inputs):
        kernel_q = self.kernel_posterior_distribution()
        bias_q = self.bias_posterior_distribution() if self.use_bias else None
        if self.use_posterior_mean:
            outputs = self.linear_op(inputs, self._computed(_normal(kernel_q, self).loc))
            if self.use_bias:
                outputs = self._add_bias(outputs, self._computed(_normal(bias_q, self).loc))
            kernel_draw = bias_draw = None
        elif self.estimator == "reparameterization":
            outputs, kernel_draw, bias_draw = self._reparameterization(
                inputs, kernel_q, bias_q
            )
        elif self.estimator == "local_reparameterization":
            outputs, kernel_draw, bias_draw = self._local_reparameterization(
                inputs, kernel_q, bias_q
            )
        else:
            outputs, kernel_draw, bias_draw = self._flipout(inputs, kernel_q, bias_q)
        self.add_divergence_losses(kernel_draw, bias_draw)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def kernel_posterior_distribution(self):
        return self._posterior_distribution("kernel")

    def bias_posterior_distribution(self):
        return self._posterior_distribution("bias")

    def add_divergence_losses(self, kernel_draw, bias_draw):
        """Adds `kl_weight * KL(q || p)` of all the layer's weights as one loss.

        `kernel_draw` and `bias_draw` are the weights this call drew (None
        for an estimator that draws no weight).
        """
        self.add_loss(self.kl_weight * self.kl_divergence(kernel_draw, bias_draw))

    def _draw(self, weight, distribution):
        """Draws `weight` from `distribution`: once, or once per stacked copy."""
        sample_shape = () if self.weight_samples == 1 else (self.weight_samples,)
        return self.weight_posterior(weight).sample(self, distribution, sample_shape)

    def _grouped(self, tensor):
        """Splits the batch axis into [weight_samples, batch // weight_samples]."""
        shape = keras.ops.shape(tensor)
        groups = self.weight_samples
        return keras.ops.reshape(tensor, (groups, shape[0] // groups) + tuple(shape[1:]))

    def _ungrouped(self, tensor):
        shape = keras.ops.shape(tensor)
        return keras.ops.reshape(tensor, (shape[0] * shape[1],) + tuple(shape[2:]))

    def _apply_drawn_kernel(self, inputs, kernel):
        """`linear_op` with a drawn kernel: one, or one per stacked copy."""
        if self.weight_samples == 1:
            return self.linear_op(inputs, kernel)
        # The batch holds `weight_samples` stacked copies of the data, each
        # seen through its own kernel draw.
        outputs = keras.ops.vectorized_map(
            lambda group: self.linear_op(group[0], group[1]),
            (self._grouped(inputs), kernel),
        )
        return self._ungrouped(outputs)

    def _add_drawn_bias(self, outputs, bias_q):
        """Draws the bias (one, or one per stacked copy) and adds it."""
        bias = self._draw("bias", bias_q)
        if self.weight_samples == 1:
            return self._add_bias(outputs, self._computed(bias)), bias
        grouped = self._grouped(outputs)
        rank = len(grouped.shape)
        shape = [1] * rank
        shape[0] = -1
        shape[self.channel_axis() % (rank - 1) + 1] = self.output_channels()
        biased = grouped + keras.ops.reshape(self._computed(bias), shape)
        return self._ungrouped(biased), bias

    def _reparameterization(self, inputs, kernel_q, bias_q):
        kernel = self._draw("kernel", kernel_q)
        outputs = self._apply_drawn_kernel(inputs, self._computed(kernel))
        bias = None
        if self.use_bias:
            outputs, bias = self._add_drawn_bias(outputs, bias_q)
        return outputs, kernel, bias

    # Whether the local reparameterization folds the bias's variance into
    # each activation's (the paper's form), or draws the bias once per call
    # and adds it (tfp.layers' form, where the bias may be any distribution).
    folds_bias_into_activations = True

    def _local_reparameterization(self, inputs, kernel_q, bias_q):
        activations = self._activation_distribution(inputs, kernel_q, bias_q)
        return self._sample_activations(activations, bias_q)

    def _activation_distribution(self, inputs, kernel_q, bias_q):
        """The Normal of each pre-activation output under the posterior."""
        kernel_q = _normal(kernel_q, self)
        mean = self.linear_op(inputs, self._computed(kernel_q.loc))
        variance = self.linear_op(
            keras.ops.square(inputs), self._computed(keras.ops.square(kernel_q.scale))
        )
        if self.use_bias and self.folds_bias_into_activations:
            bias_normal = _normal(bias_q, self)
            mean = self._add_bias(mean, self._computed(bias_normal.loc))
            variance = self._add_bias(
                variance, self._computed(keras.ops.square(bias_normal.scale))
            )
        # float16's normal numbers end at 6e-5, the size of a typical
        # activation variance, and its epsilon would underflow: there the
        # square root is taken in float32. (bfloat16 has float32's range.)
        if self.compute_dtype == "float16":
            variance = keras.ops.cast(variance, "float32")
        # A sum of non-negative terms, but a fast (Winograd, low-precision)
        # convolution may round it slightly below zero.
        stddev = keras.ops.sqrt(keras.ops.maximum(variance, 0.0) + _VARIANCE_EPSILON)
        return tfd.Normal(loc=mean, scale=self._computed(stddev))

    def _sample_activations(self, activations, bias_q):
        """Draws the activations (and adds a drawn bias where it is not folded in)."""
        # Drawn per activation, not per weight copy: stacked copies are
        # independent already.
        outputs = self.weight_posterior("kernel").sample(self, activations)
        bias = None
        if self.use_bias and not self.folds_bias_into_activations:
            outputs, bias = self._add_drawn_bias(outputs, bias_q)
        return outputs, None, bias

    def call_on_copies(self, inputs, num_copies):
        """See `StochasticLayer.call_on_copies`.

        Under local reparameterization the activations' means and variances
        do not depend on the draw: they are computed once, on the untiled
        batch, and only the noise is drawn per copy.
        """
        if self.use_posterior_mean or self.estimator != "local_reparameterization":
            return super().call_on_copies(inputs, num_copies)
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        bias_q = self.bias_posterior_distribution() if self.use_bias else None
        activations = self._activation_distribution(
            inputs, self.kernel_posterior_distribution(), bias_q
        )
        tiled = tfd.Normal(
            loc=tile_copies(activations.loc, num_copies),
            scale=tile_copies(activations.scale, num_copies),
        )
        outputs, _, _ = self._sample_activations(tiled, bias_q)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _random_signs(self, reference, dtype):
        """Random +-1, one per example and channel, broadcast over the other axes.

        As `tfp.layers.Convolution*Flipout` does.
        """
        shape = keras.ops.shape(reference)
        axis = self.channel_axis() % len(reference.shape)
        sign_shape = [
            shape[i] if i in (0, axis) else 1 for i in range(len(reference.shape))
        ]
        return noise.signs(sign_shape, dtype, self.seed_generator)

    def _flipout(self, inputs, kernel_q, bias_q):
        kernel_q = _normal(kernel_q, self)
        kernel_delta = self._draw(
            "kernel", tfd.Normal(keras.ops.zeros_like(kernel_q.loc), kernel_q.scale)
        )
        mean = self.linear_op(inputs, self._computed(kernel_q.loc))
        sign_in = self._random_signs(inputs, inputs.dtype)
        perturbation = self._apply_drawn_kernel(inputs * sign_in, self._computed(kernel_delta))
        sign_out = self._random_signs(perturbation, inputs.dtype)
        outputs = mean + perturbation * sign_out
        bias = None
        if self.use_bias:
            outputs, bias = self._add_drawn_bias(outputs, bias_q)
        return outputs, None, bias

    # --- KL ---------------------------------------------------------------

    def kl_divergence(self, kernel_draw=None, bias_draw=None):
        """Returns KL(q || p) summed over the layer's weights.

        Closed form when TFP has one for the (posterior, prior) pair, else a
        Monte Carlo estimate `log q(w) - log p(w)` at the weights this call
        drew (or at a fresh draw, for estimators that draw no weights).
        """
        total = self._kl("kernel", kernel_draw)
        if self.use_bias:
            total = total + self._kl("bias", bias_draw)
        return total

    def _kl(self, weight, draw):
        # The unmasked posterior: a pruned weight's N(0, 0) has no finite KL,
        # and the mask then takes its term out.
        posterior = self._posterior_distribution(weight, masked=False)
        prior = self._prior_distribution(weight)
        mask = 1.0
        if weight == "kernel" and self.has_kernel_mask:
            mask = keras.ops.cast(self.kernel_mask, posterior.dtype)
        try:
            return keras.ops.sum(tfd.kl_divergence(posterior, prior) * mask)
        except NotImplementedError:
            if draw is None:
                draw = self.weight_posterior(weight).sample(
                    self, self._posterior_distribution(weight))
            # `draw` may hold several samples stacked on a leading axis.
            stacked = len(draw.shape) > len(self.weight_shapes[weight])
            num_draws = draw.shape[0] if stacked else 1
            log_ratio = posterior.log_prob(draw) - prior.log_prob(draw)
            return keras.ops.sum(log_ratio * mask) / num_draws

    # --- config -----------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "estimator": self.estimator,
                "prior": keras.saving.serialize_keras_object(self.prior),
                "posterior": keras.saving.serialize_keras_object(self.posterior),
                "kl_weight": self.initial_kl_weight,
                "seed": self.seed,
            }
        )
        if self.has_kernel_mask:
            config["has_kernel_mask"] = True
        return config


def _normal(distribution, layer):
    """The `tfd.Normal` over a weight (or its activations) in `distribution`.

    Our posteriors are `tfd.Normal`; the `tfp.layers` convention wraps it in
    `tfd.Independent`. The local reparameterization and flipout estimators
    need its mean and standard deviation.
    """
    if isinstance(distribution, tfd.Independent):
        distribution = distribution.distribution
    if not hasattr(distribution, "loc"):
        raise TypeError(
            f"{type(layer).__name__} '{layer.name}' needs a posterior with a `loc` "
            "(and, for sampling estimators other than reparameterization, a "
            "`scale`): a `tfd.Normal` or `tfd.Independent(tfd.Normal)`. "
            f"Received: {distribution!r}"
        )
    return distribution
