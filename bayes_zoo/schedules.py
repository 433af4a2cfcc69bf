"""Learning-rate schedules of the zoo's training recipes that Keras does not ship.

Registered with Keras' serialization, so that a checkpoint whose optimizer
uses one loads wherever this package is imported.

Example:

>>> schedule = bz.schedules.CaffeInverseDecay(0.01, gamma=1e-4, power=0.75)
"""

import keras


@keras.saving.register_keras_serializable(package="bayes_zoo")
class CaffeInverseDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Caffe's "inv" learning-rate policy: `lr * (1 + gamma * step) ** -power`.

    Gal & Ghahramani's LeNet solvers use it (gamma 1e-4, power 0.75).

    Args:
        initial_learning_rate: positive float, Caffe's `base_lr`.
        gamma: positive float.
        power: positive float.

    Example:

    >>> schedule = bz.schedules.CaffeInverseDecay(0.01, gamma=1e-4, power=0.75)
    >>> optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
    """

    def __init__(self, initial_learning_rate, gamma, power):
        for name, value in (("initial_learning_rate", initial_learning_rate),
                            ("gamma", gamma), ("power", power)):
            if not value > 0:
                raise ValueError(f"Argument `{name}` must be positive. Received: {name}={value}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.gamma = float(gamma)
        self.power = float(power)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return self.initial_learning_rate * keras.ops.power(1.0 + self.gamma * step, -self.power)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "gamma": self.gamma,
            "power": self.power,
        }
