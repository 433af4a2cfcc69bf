"""`tfp.layers` for Keras 3: the same names, arguments and defaults.

`tfp.layers` only works with tf-keras. Code written for it moves by its import:

```python
# import tensorflow_probability as tfp; tfpl = tfp.layers
from bayes_zoo import tfp_layers as tfpl

model = keras.Sequential([
    tfpl.Convolution2DFlipout(6, kernel_size=5, padding="same", activation="relu"),
    keras.layers.Flatten(),
    tfpl.DenseFlipout(10),
])
```

The classes are `bayes_zoo.layers.tfp_convention`'s adapters over bayes-zoo's
variational layers; its docstring lists the conventions (no `kl_weight`,
TFP's seeding) and how a model of them saves.
"""

from bayes_zoo.layers.tfp_convention import Convolution1DFlipout
from bayes_zoo.layers.tfp_convention import Convolution1DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution1DReparameterization
from bayes_zoo.layers.tfp_convention import Convolution2DFlipout
from bayes_zoo.layers.tfp_convention import Convolution2DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution2DReparameterization
from bayes_zoo.layers.tfp_convention import Convolution3DFlipout
from bayes_zoo.layers.tfp_convention import Convolution3DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution3DReparameterization
from bayes_zoo.layers.tfp_convention import DenseFlipout
from bayes_zoo.layers.tfp_convention import DenseLocalReparameterization
from bayes_zoo.layers.tfp_convention import DenseReparameterization
from bayes_zoo.layers.tfp_convention import default_mean_field_normal_fn
from bayes_zoo.layers.tfp_convention import default_multivariate_normal_fn
from bayes_zoo.layers.tfp_convention import DenseVariational
from bayes_zoo.layers.tfp_convention import DistributionLambda
from bayes_zoo.layers.tfp_convention import VariableLayer
