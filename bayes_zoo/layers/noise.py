"""The noise of the stochastic layers, and where its seeds come from.

Every draw of a stochastic layer (a Normal for the weights or activations,
random signs for flipout, a dropout mask) is a stateless TensorFlow op with
an explicit `[2]` int32 seed. The seed comes from one of two places:

- By default, the layer's `keras.random.SeedGenerator`, as in Keras' own
  `Dropout`: `fit` and plain calls (`model(x)`, `model.predict`) follow the
  layer's seed stream, which `keras.utils.set_random_seed` (before the model
  is built or loaded) makes reproducible.
- Inside `call_seed(seed)`, the seed of that one call: every draw derives
  from the `seed` tensor and the draw's position in the call. Monte Carlo
  prediction (`bz.predict_with_uncertainty`) and the exported signatures run
  this way, so that the seed is an input of the traced graph: concurrent
  calls of one traced function, or of one loaded SavedModel, each draw their
  own noise, and a given seed reproduces a call exactly.

```python
with bz.layers.noise.call_seed(tf.constant([7, 0])):
    logits = model(images)  # the same logits for the same seed
```
"""

import contextlib
import math
import numbers
import random
import threading

import tensorflow as tf

from bayes_zoo.layers.stochastic_layer import stochastic_layers

# The seed scope is per thread: two threads tracing (or running eagerly) at
# once must not see each other's seeds.
_local = threading.local()


class _CallSeed:
    """The seed of one call, and how many draws have used it."""

    def __init__(self, seed):
        self.seed = seed
        self.draws = 0

    def next(self):
        self.draws += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.draws)


def as_seed(seed):
    """`seed` (an int, or an int tensor of shape [] or [2]) as a [2] int32 seed tensor."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"A noise seed must be an integer. Received: dtype={seed.dtype.name}")
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    # Seeds are 32-bit values; wider ones are folded into int32's range.
    if seed.dtype != tf.int32:
        seed = tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), 2**31 - 1), tf.int32)
    return seed


@contextlib.contextmanager
def call_seed(seed):
    """Context manager: the stochastic layers called inside it draw from `seed`.

    Each draw uses `stateless_fold_in(seed, k)` for the k-th draw inside the
    context, so the layers of one call draw independent noise, the same seed
    gives the same noise, and the layers' own seed generators are neither
    read nor advanced.

    Args:
        seed: an int, or an int tensor of shape [] or [2] (a graph input, in a
            traced function).

    Example:

    >>> with bz.layers.noise.call_seed(tf.constant([1, 2])):
    ...     draw = model(images)
    """
    previous = getattr(_local, "call_seed", None)
    _local.call_seed = _CallSeed(as_seed(seed))
    try:
        yield
    finally:
        _local.call_seed = previous


def random_seed():
    """A [2] int32 seed tensor that differs on every run of the op.

    A stateful op seeded from the operating system's entropy when its kernel
    is created (op seeds 0 and 0, whatever the global seed was when it was
    traced): in a SavedModel, every process that loads it and every request
    gets its own value, and concurrent requests never share one (the
    kernel's generator is guarded by a lock).
    """
    return tf.raw_ops.RandomUniformInt(
        shape=tf.constant([2], tf.int32),
        minval=tf.constant(0, tf.int32),
        maxval=tf.constant(2**31 - 1, tf.int32),
        seed=0,
        seed2=0,
    )


def next_seed(seed_generator):
    """The seed of a layer's next draw: from the call's seed, else from `seed_generator`."""
    scope = getattr(_local, "call_seed", None)
    if scope is not None:
        return scope.next()
    return as_seed(seed_generator.next())


def normal(shape, dtype, seed_generator):
    """Standard Normal noise of `shape` and `dtype`, by a Box-Muller transform.

    Each 32 random bits give two normals: two 16-bit uniforms `u1, u2` make
    `sqrt(-2 log u1) * (cos, sin)(2 pi u2)`. That is twice as fast on a CPU
    as `tf.random.stateless_normal` (benchmarks/noise_speed.py), which the
    local reparameterization's per-activation noise makes a large part of a
    training step. 16-bit uniforms cut the tails at |z| = 4.85 (probability
    1.2e-6 of a true Normal) and resolve the radius to 2**-16 in
    probability; the moments are those of N(0, 1) (tests/test_noise_seeds.py).
    """
    shape = tf.convert_to_tensor(shape, tf.int32)
    size = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform(
        [(size + 1) // 2], seed=next_seed(seed_generator), minval=None, maxval=None,
        dtype=tf.uint32,
    )
    # (k + 0.5) / 2**16 keeps u1 away from zero, where log diverges.
    u1 = (tf.cast(tf.bitwise.bitwise_and(bits, 0xFFFF), tf.float32) + 0.5) * 2.0**-16
    angle = tf.cast(tf.bitwise.right_shift(bits, 16), tf.float32) * (2.0 * math.pi * 2.0**-16)
    radius = tf.sqrt(-2.0 * tf.math.log(u1))
    pairs = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=0)
    return tf.cast(tf.reshape(pairs[:size], shape), dtype)


def signs(shape, dtype, seed_generator):
    """Independent random signs (+1 or -1, each with probability 1/2)."""
    bits = tf.random.stateless_uniform(
        shape, seed=next_seed(seed_generator), minval=0, maxval=2, dtype=tf.int32
    )
    return tf.cast(2 * bits - 1, dtype)


def dropout(inputs, rate, noise_shape, seed_generator):
    """Inverted dropout: zeros with probability `rate`, the rest scaled by `1 / (1 - rate)`."""
    return tf.nn.experimental.stateless_dropout(
        inputs, rate, seed=next_seed(seed_generator), noise_shape=noise_shape
    )


def reseed(model, seed=None):
    """Restarts the own noise stream of every stochastic layer of `model`.

    A layer built with an explicit `seed` (as a saved model's config records
    it) starts the same stream in every process that loads it; `fit` and
    plain calls (`model(x)`, `model.predict`) would then draw the same noise
    everywhere. `bz.zoo.load` calls this so that a loaded model does not
    freeze the noise.

    Args:
        model: a Keras model or layer.
        seed: None or an int. None draws each layer's new seed from Python's
            `random` (which `keras.utils.set_random_seed` seeds); an int
            gives the layers `seed`, `seed + 1`, ... in layer order.

    Example:

    >>> model = keras.models.load_model("lenet5.keras")
    >>> bz.layers.noise.reseed(model)  # this process draws its own noise
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"Argument `seed` must be an int or None. Received: seed={seed!r}")
    for index, layer in enumerate(stochastic_layers(model)):
        state = layer.seed_generator.state
        start = random.randint(1, 2**31 - 2) if seed is None else int(seed) + index
        state.assign(tf.constant([start, 0], dtype=state.dtype))
