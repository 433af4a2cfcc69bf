"""The zoo's network builders, re-exported from the tasks that own them.

The classifiers live in `bayes_zoo.tasks.classification.architectures`, ESPCN
in `bayes_zoo.tasks.super_resolution.espcn`, the DCGAN in
`bayes_zoo.tasks.gan.dcgan`; this package keeps today's names
(`bz.architectures.lenet5`, `bz.architectures.get`) as thin re-exports. It imports through its submodules, as
before, so that importing one later (`bayes_zoo.architectures.espcn`) cannot rebind the
package's `espcn` function to the module.

Every classifier builder returns an uncompiled `bz.training.BayesianModel` and takes a
`method` (`METHODS`) that chooses the layers: frequentist, Bayes by Backprop
with reparameterization (`"bbb"`), local reparameterization (`"lrt"`),
flipout, or MC dropout.

Example:

>>> build = bz.architectures.get("lenet5")
>>> model = build(method="flipout", num_train_examples=50000)
"""

from bayes_zoo.methods import METHODS
from bayes_zoo.methods import VARIATIONAL_METHODS
from bayes_zoo.architectures.classification import ACTIVATIONS
from bayes_zoo.architectures.classification import GAL_DROPOUT_PLACEMENTS
from bayes_zoo.architectures.classification import alexnet
from bayes_zoo.architectures.classification import alexnet_half
from bayes_zoo.architectures.classification import gal_lenet
from bayes_zoo.architectures.classification import lenet5
from bayes_zoo.architectures.classification import three_conv_three_fc
from bayes_zoo.architectures.dcgan import BayesianDCGAN
from bayes_zoo.architectures.dcgan import dcgan
from bayes_zoo.architectures.dcgan import dcgan_discriminator
from bayes_zoo.architectures.dcgan import dcgan_generator
from bayes_zoo.architectures.dcgan import discriminator_uncertainty
from bayes_zoo.architectures.espcn import PixelShuffle
from bayes_zoo.architectures.espcn import espcn

_CLASSIFIERS = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "alexnet_half": alexnet_half,
    "three_conv_three_fc": three_conv_three_fc,
    "gal_lenet": gal_lenet,
}
_BUILDERS = {**_CLASSIFIERS, "espcn": espcn, "dcgan": dcgan}

# The classifier builders (which share one signature), and all builders.
CLASSIFIER_NAMES = tuple(_CLASSIFIERS)
NAMES = tuple(_BUILDERS)


def get(name):
    """Returns the builder function of the architecture called `name`.

    Args:
        name: one of `NAMES`: `"lenet5"`, `"alexnet"`, `"alexnet_half"`,
            `"three_conv_three_fc"`, `"gal_lenet"` (classifiers), `"espcn"`
            (super-resolution) or `"dcgan"` (GAN with a Bayesian
            discriminator).

    Returns:
        The builder, e.g. `bz.architectures.lenet5`.

    Example:

    >>> model = bz.architectures.get("alexnet_half")(method="lrt", input_shape=(32, 32, 3))
    """
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(
            f"Unknown architecture: expected one of {NAMES}. Received: name={name!r}"
        )
    return _BUILDERS[name]
