"""`tfp.layers`' constructor convention over bayes-zoo's variational layers.

`tfp.layers.Convolution2DFlipout(filters, kernel_size, kernel_posterior_fn=...,
kernel_divergence_fn=..., ...)` only works with tf-keras. The classes here take
the same arguments, with the same defaults and meaning, and run on Keras 3:
code written for `tfp.layers` moves by its import
(`from bayes_zoo import tfp_layers as tfpl`).

They are a thin adapter (`TFPConvention`) over the one mechanism of
`BaseVariational`: the `*_posterior_fn` / `*_prior_fn` callables become the
layer's posterior and prior specifications, the `*_tensor_fn`s draw the
weights, the `*_divergence_fn`s give one loss per kernel and per bias. What
the layer then computes (the reparameterization, local reparameterization or
flipout estimator) is the same code as in `bz.layers.Conv2DFlipout` and its
siblings.

TFP's conventions, kept here (bayes-zoo's own layers differ):

- Defaults: posterior `N(loc, softplus(rho) + eps)` with `loc ~ N(0, 0.1)` and
  `rho ~ N(-3, 0.1)`; a deterministic (point-estimate) bias; prior `N(0, 1)`
  on the kernel and none on the bias.
- No `kl_weight`: the divergence is added as the divergence function returns
  it. Scale it there, e.g. `kernel_divergence_fn=lambda q, p, _:
  tfd.kl_divergence(q, p) / num_train_examples`.
- Draws are TFP's: `distribution.sample()` (stateful TensorFlow random ops,
  seeded by `keras.utils.set_random_seed`), and flipout's random signs come
  from `tfp.util.SeedStream(seed, salt)` as in `tfp.layers`. bayes-zoo's own
  layers instead draw from per-call seeds (`bayes_zoo.layers.noise`).
- `kernel_posterior`, `kernel_prior`, `bias_posterior`, `bias_prior` are
  attributes (distributions), set by `build`; `kernel_posterior_tensor` and
  `bias_posterior_tensor` hold the last call's draws.

Saving: the default callables are registered with Keras, so a model of these
layers round-trips through `.keras` without `custom_objects`. A `*_fn` of your
own is a custom callable like any other in Keras: register it
(`@keras.saving.register_keras_serializable()`) or pass it in
`custom_objects` when loading; a lambda only loads with `safe_mode=False`.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from bayes_zoo import posteriors as posteriors_lib
from bayes_zoo import priors as priors_lib
from bayes_zoo.layers import conv1d
from bayes_zoo.layers import conv2d
from bayes_zoo.layers import conv3d
from bayes_zoo.layers import dense

tfd = tfp.distributions

_PACKAGE = "bayes_zoo.tfp"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanFieldNormalFn:
    """Makes a trainable `Independent(Normal)` (or `Deterministic`) over a weight.

    What `default_mean_field_normal_fn` returns: a callable with TFP's
    `(dtype, shape, name, trainable, add_variable_fn)` signature that creates
    a `loc` and, unless singular, an `untransformed_scale` variable, with
    `scale = eps + softplus(untransformed_scale)`.

    Args:
        is_singular: bool, True for a point mass (`tfd.Deterministic(loc)`).
        loc_initializer: initializer of `loc`; None for a fresh
            `RandomNormal(0, 0.1)` per weight.
        untransformed_scale_initializer: initializer of the untransformed
            scale; None for a fresh `RandomNormal(-3, 0.1)` per weight.
        loc_regularizer, untransformed_scale_regularizer: regularizers, or
            None.
        loc_constraint, untransformed_scale_constraint: constraints, or None.

    Example:

    >>> posterior_fn = bz.layers.default_mean_field_normal_fn()
    >>> layer = bz.tfp_layers.DenseFlipout(10, kernel_posterior_fn=posterior_fn)
    """

    def __init__(
        self,
        is_singular=False,
        loc_initializer=None,
        untransformed_scale_initializer=None,
        loc_regularizer=None,
        untransformed_scale_regularizer=None,
        loc_constraint=None,
        untransformed_scale_constraint=None,
    ):
        self.is_singular = bool(is_singular)
        self.loc_initializer = _optional(keras.initializers, loc_initializer)
        self.untransformed_scale_initializer = _optional(
            keras.initializers, untransformed_scale_initializer
        )
        self.loc_regularizer = _optional(keras.regularizers, loc_regularizer)
        self.untransformed_scale_regularizer = _optional(
            keras.regularizers, untransformed_scale_regularizer
        )
        self.loc_constraint = _optional(keras.constraints, loc_constraint)
        self.untransformed_scale_constraint = _optional(
            keras.constraints, untransformed_scale_constraint
        )

    def __call__(self, dtype, shape, name, trainable, add_variable_fn):
        dtype = tf.as_dtype(dtype)
        # A fresh unseeded initializer per weight: one Keras 3 initializer
        # object repeats its values on every call.
        loc = add_variable_fn(
            name=f"{name}_loc",
            shape=shape,
            initializer=self.loc_initializer or keras.initializers.RandomNormal(0.0, 0.1),
            regularizer=self.loc_regularizer,
            constraint=self.loc_constraint,
            dtype=dtype,
            trainable=trainable,
        )
        if self.is_singular:
            distribution = tfd.Deterministic(loc=loc)
        else:
            untransformed_scale = add_variable_fn(
                name=f"{name}_untransformed_scale",
                shape=shape,
                initializer=self.untransformed_scale_initializer
                or keras.initializers.RandomNormal(-3.0, 0.1),
                regularizer=self.untransformed_scale_regularizer,
                constraint=self.untransformed_scale_constraint,
                dtype=dtype,
                trainable=trainable,
            )
            epsilon = np.finfo(dtype.as_numpy_dtype).eps
            # Deferred: the distribution is made once, in `build`, and must
            # read the variable on every use.
            scale = tfp.util.DeferredTensor(
                untransformed_scale, lambda x: epsilon + tf.nn.softplus(x)
            )
            distribution = tfd.Normal(loc=loc, scale=scale)
        return tfd.Independent(distribution, reinterpreted_batch_ndims=len(shape))

    def get_config(self):
        return {
            "is_singular": self.is_singular,
            "loc_initializer": _serialized(self.loc_initializer),
            "untransformed_scale_initializer": _serialized(
                self.untransformed_scale_initializer
            ),
            "loc_regularizer": _serialized(self.loc_regularizer),
            "untransformed_scale_regularizer": _serialized(
                self.untransformed_scale_regularizer
            ),
            "loc_constraint": _serialized(self.loc_constraint),
            "untransformed_scale_constraint": _serialized(
                self.untransformed_scale_constraint
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _optional(module, identifier):
    return None if identifier is None else module.get(identifier)


def _serialized(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def default_mean_field_normal_fn(
    is_singular=False,
    loc_initializer=None,
    untransformed_scale_initializer=None,
    loc_regularizer=None,
    untransformed_scale_regularizer=None,
    loc_constraint=None,
    untransformed_scale_constraint=None,
):
    """Returns TFP's default posterior maker, as `tfp.layers.default_mean_field_normal_fn`.

    Takes the arguments of `MeanFieldNormalFn` (None initializers mean TFP's
    defaults, `RandomNormal(0, 0.1)` and `RandomNormal(-3, 0.1)`).

    Example:

    >>> bias_fn = bz.layers.default_mean_field_normal_fn(is_singular=True)
    """
    return MeanFieldNormalFn(
        is_singular=is_singular,
        loc_initializer=loc_initializer,
        untransformed_scale_initializer=untransformed_scale_initializer,
        loc_regularizer=loc_regularizer,
        untransformed_scale_regularizer=untransformed_scale_regularizer,
        loc_constraint=loc_constraint,
        untransformed_scale_constraint=untransformed_scale_constraint,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
def default_multivariate_normal_fn(dtype, shape, name, trainable, add_variable_fn):
    """TFP's default prior: a standard Normal over every weight, as one event.

    Example:

    >>> prior = bz.layers.default_multivariate_normal_fn("float32", (3, 2), "p", False, None)
    """
    del name, trainable, add_variable_fn  # A fixed prior has no variables.
    dtype = tf.as_dtype(dtype)
    normal = tfd.Normal(loc=tf.zeros(shape, dtype), scale=tf.ones((), dtype))
    return tfd.Independent(normal, reinterpreted_batch_ndims=len(shape))


@keras.saving.register_keras_serializable(package=_PACKAGE)
def default_tensor_fn(distribution):
    """TFP's default `*_posterior_tensor_fn`: one sample of the distribution."""
    return distribution.sample()


@keras.saving.register_keras_serializable(package=_PACKAGE)
def default_divergence_fn(posterior, prior, posterior_tensor):
    """TFP's default `*_divergence_fn`: the analytic `KL(posterior || prior)`."""
    del posterior_tensor  # Used by Monte Carlo divergences only.
    return tfd.kl_divergence(posterior, prior)


def _variable_adder(layer):
    """TFP's `add_variable_fn` for `layer`: creates a weight, returns its variable."""

    def add_variable(
        name, shape, initializer=None, regularizer=None, constraint=None,
        dtype=None, trainable=True, **kwargs,
    ):
        variable = layer.add_weight(
            name=name, shape=shape, initializer=initializer, regularizer=regularizer,
            constraint=constraint, dtype=dtype, trainable=trainable, autocast=False,
            **kwargs,
        )
        # The backend variable: a tfp distribution keeps a tf.Variable as a
        # live reference, but would read a Keras variable once, into a constant.
        return variable.value

    return add_variable


def _made(make_distribution, layer, shape, name):
    """Calls a TFP `*_fn` for `layer`'s weight `name` of `shape`."""
    # Keras 3 may build a layer while `fit` traces its step: the
    # distribution, made once and kept, must not hold that graph's tensors.
    # (tf-keras builds eagerly too.)
    with tf.init_scope():
        return make_distribution(
            tf.as_dtype(layer.variable_dtype), shape, name, layer.trainable,
            _variable_adder(layer),
        )


class FunctionPosterior(posteriors_lib.Posterior):
    """A posterior made by TFP's `*_posterior_fn`, drawn by its `*_tensor_fn`.

    Args:
        make_distribution: `(dtype, shape, name, trainable, add_variable_fn)`
            -> distribution.
        tensor_fn: distribution -> one draw of the weight.
    """

    def __init__(self, make_distribution, tensor_fn):
        self.make_distribution = make_distribution
        self.tensor_fn = tensor_fn

    def add_variables(self, layer, name, shape):
        return {"distribution": _made(self.make_distribution, layer, shape, f"{name}_posterior")}

    def distribution(self, variables):
        return variables["distribution"]

    def sample(self, layer, distribution, sample_shape=()):
        if not sample_shape:
            return self.tensor_fn(distribution)
        return keras.ops.stack([self.tensor_fn(distribution) for _ in range(sample_shape[0])])


class FunctionPrior(priors_lib.Prior):
    """A prior made by TFP's `*_prior_fn`.

    Args:
        make_distribution: `(dtype, shape, name, trainable, add_variable_fn)`
            -> distribution.
    """

    def __init__(self, make_distribution):
        self.make_distribution = make_distribution

    def add_variables(self, layer, name, shape):
        return {"distribution": _made(self.make_distribution, layer, shape, f"{name}_prior")}

    def distribution(self, variables, shape, dtype):
        return variables["distribution"]


FUNCTION_ARGUMENTS = (
    "kernel_posterior_fn",
    "kernel_posterior_tensor_fn",
    "kernel_prior_fn",
    "kernel_divergence_fn",
    "bias_posterior_fn",
    "bias_posterior_tensor_fn",
    "bias_prior_fn",
    "bias_divergence_fn",
)

# Keys of bayes-zoo's own layer config that the TFP convention replaces.
_OWN_ARGUMENTS = ("use_bias", "estimator", "prior", "posterior", "kl_weight")


class TFPConvention:
    """Adapter: TFP's constructor arguments on a bayes-zoo variational layer.

    Mixed in before a `BaseVariational` front end (see the classes below).

    Args:
        kernel_posterior_fn: `(dtype, shape, name, trainable,
            add_variable_fn)` -> the kernel's posterior distribution.
            Default: `default_mean_field_normal_fn()`.
        kernel_posterior_tensor_fn: distribution -> a kernel draw (for the
            local reparameterization: a draw of the activations). Default:
            `distribution.sample()`.
        kernel_prior_fn: as `kernel_posterior_fn`, for the prior; None for no
            prior (and no kernel divergence). Default:
            `default_multivariate_normal_fn`, `N(0, 1)`.
        kernel_divergence_fn: `(posterior, prior, posterior_tensor)` -> the
            kernel's loss; None for none. Default: `KL(posterior || prior)`.
        bias_posterior_fn: as `kernel_posterior_fn`, for the bias; None for
            no bias. Default: `default_mean_field_normal_fn(is_singular=True)`.
        bias_posterior_tensor_fn, bias_prior_fn, bias_divergence_fn: as the
            kernel's; `bias_prior_fn` defaults to None.
        seed: int or None, the seed of flipout's random signs (as
            `tfp.layers`).
        **kwargs: the front end's arguments (`filters`, `kernel_size`,
            `strides`, `padding`, `data_format`, `dilation_rate`,
            `activation`, `activity_regularizer`, `name`, ... or `units`).
    """

    # TFP's layers have no kl_weight variable.
    has_kl_weight = False
    kl_weight = None
    folds_bias_into_activations = False
    # tfp.layers' salt of the flipout signs' seed stream.
    flipout_salt = None

    def __init__(
        self,
        *args,
        kernel_posterior_fn=default_mean_field_normal_fn(),
        kernel_posterior_tensor_fn=default_tensor_fn,
        kernel_prior_fn=default_multivariate_normal_fn,
        kernel_divergence_fn=default_divergence_fn,
        bias_posterior_fn=default_mean_field_normal_fn(is_singular=True),
        bias_posterior_tensor_fn=default_tensor_fn,
        bias_prior_fn=None,
        bias_divergence_fn=default_divergence_fn,
        **kwargs,
    ):
        for key in _OWN_ARGUMENTS:
            if key in kwargs:
                raise ValueError(
                    f"{type(self).__name__} takes tfp.layers' arguments, not `{key}`: "
                    "use the `*_posterior_fn`, `*_prior_fn` and `*_divergence_fn` "
                    "arguments, or bayes-zoo's own layers (`bz.layers.Conv2DFlipout`, "
                    f"...), which take `{key}`. Received: {key}={kwargs[key]!r}"
                )
        if kernel_posterior_fn is None:
            raise ValueError(
                f"{type(self).__name__} needs a `kernel_posterior_fn` (as in "
                "tfp.layers). Received: kernel_posterior_fn=None"
            )
        super().__init__(*args, use_bias=bias_posterior_fn is not None, **kwargs)
        self.kernel_posterior_fn = kernel_posterior_fn
        self.kernel_posterior_tensor_fn = kernel_posterior_tensor_fn
        self.kernel_prior_fn = kernel_prior_fn
        self.kernel_divergence_fn = kernel_divergence_fn
        self.bias_posterior_fn = bias_posterior_fn
        self.bias_posterior_tensor_fn = bias_posterior_tensor_fn
        self.bias_prior_fn = bias_prior_fn
        self.bias_divergence_fn = bias_divergence_fn
        self._weight_posteriors = {
            "kernel": FunctionPosterior(kernel_posterior_fn, kernel_posterior_tensor_fn),
            "bias": FunctionPosterior(bias_posterior_fn, bias_posterior_tensor_fn),
        }
        self._weight_priors = {
            "kernel": None if kernel_prior_fn is None else FunctionPrior(kernel_prior_fn),
            "bias": None if bias_prior_fn is None else FunctionPrior(bias_prior_fn),
        }
        self.kernel_posterior_tensor = None
        self.bias_posterior_tensor = None

    def weight_posterior(self, weight):
        return self._weight_posteriors[weight]

    def weight_prior(self, weight):
        return self._weight_priors[weight]

    def build_kl_weight(self):
        """TFP's layers weigh nothing: their divergence functions do."""

    # TFP exposes the distributions as attributes.
    @property
    def kernel_posterior(self):
        return self._posterior_distribution("kernel")

    @property
    def bias_posterior(self):
        return self._posterior_distribution("bias") if self.use_bias else None

    @property
    def kernel_prior(self):
        return self._prior_distribution("kernel")

    @property
    def bias_prior(self):
        return self._prior_distribution("bias") if self.use_bias else None

    def call(self, inputs):
        # One seed stream per call, as tfp.layers draws its flipout signs.
        self._sign_seeds = tfp.util.SeedStream(self.seed, salt=self.flipout_salt)
        return super().call(inputs)

    def _random_signs(self, reference, dtype):
        shape = keras.ops.shape(reference)
        axis = self.channel_axis() % len(reference.shape)
        signs = tfp.random.rademacher(
            tf.stack([shape[0], shape[axis]]), dtype=dtype, seed=self._sign_seeds()
        )
        broadcast = [-1 if i in (0, axis) else 1 for i in range(len(reference.shape))]
        broadcast[axis] = shape[axis]
        return tf.reshape(signs, broadcast)

    def add_divergence_losses(self, kernel_draw, bias_draw):
        """Adds one loss per kernel and per bias, as `tfp.layers` does."""
        self.kernel_posterior_tensor = kernel_draw
        self.bias_posterior_tensor = bias_draw
        for divergence_fn, posterior, prior, draw in (
            (self.kernel_divergence_fn, self.kernel_posterior, self.kernel_prior, kernel_draw),
            (self.bias_divergence_fn, self.bias_posterior, self.bias_prior, bias_draw),
        ):
            if divergence_fn is not None and posterior is not None and prior is not None:
                self.add_loss(divergence_fn(posterior, prior, draw))

    def kl_divergence(self, kernel_draw=None, bias_draw=None):
        raise NotImplementedError(
            f"{type(self).__name__} follows tfp.layers: its divergences are its "
            "`*_divergence_fn`s, added to `layer.losses` on each call."
        )

    def get_config(self):
        config = super().get_config()
        for key in _OWN_ARGUMENTS:
            config.pop(key, None)
        for key in FUNCTION_ARGUMENTS:
            config[key] = _serialized(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in FUNCTION_ARGUMENTS:
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class TFPConvolution(TFPConvention):
    """`TFPConvention` for convolutions (tfp.layers' flipout salt)."""

    flipout_salt = "ConvFlipout"


class TFPDense(TFPConvention):
    """`TFPConvention` for dense layers (tfp.layers' flipout salt)."""

    flipout_salt = "DenseFlipout"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution1DReparameterization(TFPConvolution, conv1d.Conv1DReparameterization):
    """`tfp.layers.Convolution1DReparameterization` on Keras 3, over `bz.layers.Conv1DReparameterization`.

    Samples the kernel and the bias once per call (reparameterization).

    Args: those of `tfp.layers.Convolution1DReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv1DReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution1DReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution2DReparameterization(TFPConvolution, conv2d.Conv2DReparameterization):
    """`tfp.layers.Convolution2DReparameterization` on Keras 3, over `bz.layers.Conv2DReparameterization`.

    Samples the kernel and the bias once per call (reparameterization).

    Args: those of `tfp.layers.Convolution2DReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv2DReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution2DReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution3DReparameterization(TFPConvolution, conv3d.Conv3DReparameterization):
    """`tfp.layers.Convolution3DReparameterization` on Keras 3, over `bz.layers.Conv3DReparameterization`.

    Samples the kernel and the bias once per call (reparameterization).

    Args: those of `tfp.layers.Convolution3DReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv3DReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution3DReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution1DLocalReparameterization(TFPConvolution, conv1d.Conv1DLocalReparameterization):
    """`tfp.layers.Convolution1DLocalReparameterization` on Keras 3, over `bz.layers.Conv1DLocalReparameterization`.

    Samples every activation from the Normal the kernel posterior induces
    (local reparameterization; tfp.layers has no such convolution).

    Args: those of `tfp.layers.Convolution1DLocalReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv1DLocalReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution1DLocalReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution2DLocalReparameterization(TFPConvolution, conv2d.Conv2DLocalReparameterization):
    """`tfp.layers.Convolution2DLocalReparameterization` on Keras 3, over `bz.layers.Conv2DLocalReparameterization`.

    Samples every activation from the Normal the kernel posterior induces
    (local reparameterization; tfp.layers has no such convolution).

    Args: those of `tfp.layers.Convolution2DLocalReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv2DLocalReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution2DLocalReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution3DLocalReparameterization(TFPConvolution, conv3d.Conv3DLocalReparameterization):
    """`tfp.layers.Convolution3DLocalReparameterization` on Keras 3, over `bz.layers.Conv3DLocalReparameterization`.

    Samples every activation from the Normal the kernel posterior induces
    (local reparameterization; tfp.layers has no such convolution).

    Args: those of `tfp.layers.Convolution3DLocalReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv3DLocalReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution3DLocalReparameterization(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution1DFlipout(TFPConvolution, conv1d.Conv1DFlipout):
    """`tfp.layers.Convolution1DFlipout` on Keras 3, over `bz.layers.Conv1DFlipout`.

    Perturbs the kernel mean with shared noise, decorrelated by random signs
    (flipout).

    Args: those of `tfp.layers.Convolution1DFlipout`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv1DFlipout`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution1DFlipout(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution2DFlipout(TFPConvolution, conv2d.Conv2DFlipout):
    """`tfp.layers.Convolution2DFlipout` on Keras 3, over `bz.layers.Conv2DFlipout`.

    Perturbs the kernel mean with shared noise, decorrelated by random signs
    (flipout).

    Args: those of `tfp.layers.Convolution2DFlipout`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv2DFlipout`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution2DFlipout(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Convolution3DFlipout(TFPConvolution, conv3d.Conv3DFlipout):
    """`tfp.layers.Convolution3DFlipout` on Keras 3, over `bz.layers.Conv3DFlipout`.

    Perturbs the kernel mean with shared noise, decorrelated by random signs
    (flipout).

    Args: those of `tfp.layers.Convolution3DFlipout`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.Conv3DFlipout`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.Convolution3DFlipout(6, kernel_size=5, padding="same", activation="relu", kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseReparameterization(TFPDense, dense.DenseReparameterization):
    """`tfp.layers.DenseReparameterization` on Keras 3, over `bz.layers.DenseReparameterization`.

    Samples the kernel and the bias once per call (reparameterization).

    Args: those of `tfp.layers.DenseReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.DenseReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.DenseReparameterization(10, kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseLocalReparameterization(TFPDense, dense.DenseLocalReparameterization):
    """`tfp.layers.DenseLocalReparameterization` on Keras 3, over `bz.layers.DenseLocalReparameterization`.

    Samples every output unit from the Normal the kernel posterior induces
    (local reparameterization).

    Args: those of `tfp.layers.DenseLocalReparameterization`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.DenseLocalReparameterization`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.DenseLocalReparameterization(10, kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseFlipout(TFPDense, dense.DenseFlipout):
    """`tfp.layers.DenseFlipout` on Keras 3, over `bz.layers.DenseFlipout`.

    Perturbs the kernel mean with shared noise, decorrelated by random signs
    (flipout).

    Args: those of `tfp.layers.DenseFlipout`, with its defaults: the `*_fn`
    arguments and `seed` as in `TFPConvention`, the others as in
    `bz.layers.DenseFlipout`.

    Example:

    >>> kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / 60000
    >>> layer = bz.tfp_layers.DenseFlipout(10, kernel_divergence_fn=kl)
    """


@keras.saving.register_keras_serializable(package=_PACKAGE)
class VariableLayer(keras.layers.Layer):
    """`tfp.layers.VariableLayer` on Keras 3: a trainable tensor, whatever the inputs.

    The usual first half of a `DenseVariational` posterior (see its example).

    Args:
        shape: int or tuple of ints, the variable's shape.
        activation: applied to the variable on each call, or None.
        initializer: the variable's initializer, `"zeros"` by default.
        regularizer: a regularizer, or None.
        constraint: a constraint, or None.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Example:

    >>> loc_and_scale = bz.tfp_layers.VariableLayer(2 * 30)
    >>> loc_and_scale(keras.ops.zeros((1, 4))).shape
    (60,)
    """

    def __init__(self, shape, activation=None, initializer="zeros", regularizer=None,
                 constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.activation = keras.activations.get(activation)
        self.initializer = keras.initializers.get(initializer)
        self.regularizer = keras.regularizers.get(regularizer)
        self.constraint = keras.constraints.get(constraint)
        self.variable = self.add_weight(
            name="variable", shape=self.shape, initializer=self.initializer,
            regularizer=self.regularizer, constraint=self.constraint,
        )

    def call(self, inputs):
        del inputs  # The variable does not depend on them.
        value = keras.ops.convert_to_tensor(self.variable)
        return value if self.activation is None else self.activation(value)

    def compute_output_shape(self, input_shape):
        return self.shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "shape": self.shape,
            "activation": keras.activations.serialize(self.activation),
            "initializer": keras.initializers.serialize(self.initializer),
            "regularizer": _serialized(self.regularizer),
            "constraint": _serialized(self.constraint),
        })
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DistributionLambda(keras.layers.Layer):
    """`tfp.layers.DistributionLambda` for `DenseVariational`'s posteriors and priors.

    Calls `make_distribution_fn(inputs)` and returns the distribution. Keras 3
    layers cannot pass a distribution on through a functional model, so it is
    for models that are called directly, as `DenseVariational` calls its
    posterior and prior (TFP's `convert_to_tensor_fn` is not kept:
    `DenseVariational` draws `distribution.sample()`).

    Args:
        make_distribution_fn: tensor -> a `tfp.distributions.Distribution`.
        **kwargs: base layer arguments, such as `name`.

    Example:

    >>> to_normal = bz.tfp_layers.DistributionLambda(
    ...     lambda t: tfd.Independent(tfd.Normal(t, 1.0), reinterpreted_batch_ndims=1))
    """

    def __init__(self, make_distribution_fn, **kwargs):
        super().__init__(**kwargs)
        self.make_distribution_fn = make_distribution_fn

    def call(self, inputs):
        return self.make_distribution_fn(inputs)

    def compute_output_spec(self, inputs):
        # No symbolic distributions in Keras 3: a Sequential holding this
        # layer then runs eagerly, layer after layer.
        raise NotImplementedError(
            "DistributionLambda returns a distribution, which has no symbolic form."
        )

    def get_config(self):
        config = super().get_config()
        config["make_distribution_fn"] = keras.saving.serialize_keras_object(
            self.make_distribution_fn
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["make_distribution_fn"] = keras.saving.deserialize_keras_object(
            config["make_distribution_fn"]
        )
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseVariational(keras.layers.Layer):
    """`tfp.layers.DenseVariational` on Keras 3: a posterior over all weights at once.

    Unlike the mean-field layers above, the posterior and the prior are any
    distributions over the flattened vector `[kernel, bias]`, made by the
    user's callables; each call draws one vector, `q.sample()`, splits it
    into kernel and bias, and adds `kl_weight * KL(q || p)` to the losses
    (exact, or a one-sample Monte Carlo estimate at the drawn vector). It is
    tfp.layers' own estimator, not one of bayes-zoo's, and is named as in
    tfp.layers (`bz.tfp_layers.DenseVariational`); `bz.layers.
    DenseVariational` is bayes-zoo's mean-field dense layer.

    Args:
        units: int > 0, the number of output units.
        make_posterior_fn: `(kernel_size, bias_size, dtype)` -> a callable
            (typically a `keras.Sequential` of `VariableLayer` and
            `DistributionLambda`) mapping the inputs to the posterior.
        make_prior_fn: the same, for the prior.
        kl_weight: float or None (1), the weight of the KL term.
        kl_use_exact: bool, the analytic KL instead of a Monte Carlo estimate.
        activation: activation function, or None.
        use_bias: bool.
        **kwargs: base layer arguments, such as `name` or
            `activity_regularizer`.

    Example:

    >>> def posterior(kernel_size, bias_size, dtype):
    ...     n = kernel_size + bias_size
    ...     return keras.Sequential([
    ...         bz.tfp_layers.VariableLayer(2 * n, dtype=dtype),
    ...         bz.tfp_layers.DistributionLambda(lambda t: tfd.Independent(
    ...             tfd.Normal(t[..., :n], 1e-5 + tf.nn.softplus(t[..., n:])), 1)),
    ...     ])
    >>> def prior(kernel_size, bias_size, dtype):
    ...     n = kernel_size + bias_size
    ...     return lambda _: tfd.Independent(tfd.Normal(tf.zeros(n), 1.0), 1)
    >>> layer = bz.tfp_layers.DenseVariational(10, posterior, prior, kl_weight=1 / 60000)
    """

    def __init__(self, units, make_posterior_fn, make_prior_fn, kl_weight=None,
                 kl_use_exact=False, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Argument `units` must be a positive integer. Received: units={units!r}"
            )
        self.units = units
        self.make_posterior_fn = make_posterior_fn
        self.make_prior_fn = make_prior_fn
        self.kl_weight = kl_weight
        self.kl_use_exact = bool(kl_use_exact)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The last dimension of the inputs of DenseVariational must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        sizes = (self.input_dim * self.units, self.units if self.use_bias else 0,
                 tf.as_dtype(self.variable_dtype))
        with tf.init_scope():
            self.posterior = self.make_posterior_fn(*sizes)
            self.prior = self.make_prior_fn(*sizes)

    def call(self, inputs):
        posterior, prior = self.posterior(inputs), self.prior(inputs)
        weights = posterior.sample()
        if self.kl_use_exact:
            divergence = tfd.kl_divergence(posterior, prior)
        else:
            divergence = posterior.log_prob(weights) - prior.log_prob(weights)
        if self.kl_weight is not None:
            divergence = divergence * self.kl_weight
        self.add_loss(divergence)
        kernel_size = self.input_dim * self.units
        kernel = keras.ops.reshape(weights[..., :kernel_size], (self.input_dim, self.units))
        outputs = keras.ops.matmul(inputs, keras.ops.cast(kernel, inputs.dtype))
        if self.use_bias:
            outputs = outputs + keras.ops.cast(weights[..., kernel_size:], inputs.dtype)
        return outputs if self.activation is None else self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "make_posterior_fn": keras.saving.serialize_keras_object(self.make_posterior_fn),
            "make_prior_fn": keras.saving.serialize_keras_object(self.make_prior_fn),
            "kl_weight": self.kl_weight,
            "kl_use_exact": self.kl_use_exact,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("make_posterior_fn", "make_prior_fn"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
