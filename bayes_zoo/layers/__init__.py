"""Bayesian layers for Keras 3: variational Dense / Conv and MC dropout.

`Conv2DFlipout`, `DenseLocalReparameterization`, ... are bayes-zoo's own
layers (`prior=`, `posterior=`, `kl_weight=`). The `tfp.layers` names
(`Convolution2DFlipout`, ..., and in `bayes_zoo.tfp_layers` the Dense ones)
take `tfp.layers`' arguments and defaults over the same mechanism, so that
code written for `tfp.layers`, which only works with tf-keras, moves by its
import (see `bayes_zoo.layers.tfp_convention`).
"""

from bayes_zoo.layers import noise
from bayes_zoo.layers.base_variational import ESTIMATORS
from bayes_zoo.layers.base_variational import BaseVariational
from bayes_zoo.layers.conv1d import Conv1DFlipout
from bayes_zoo.layers.conv1d import Conv1DLocalReparameterization
from bayes_zoo.layers.conv1d import Conv1DReparameterization
from bayes_zoo.layers.conv1d import Conv1DVariational
from bayes_zoo.layers.conv2d import Conv2DFlipout
from bayes_zoo.layers.conv2d import Conv2DLocalReparameterization
from bayes_zoo.layers.conv2d import Conv2DReparameterization
from bayes_zoo.layers.conv2d import Conv2DVariational
from bayes_zoo.layers.conv2d_transpose import Conv2DTransposeFlipout
from bayes_zoo.layers.conv2d_transpose import Conv2DTransposeLocalReparameterization
from bayes_zoo.layers.conv2d_transpose import Conv2DTransposeReparameterization
from bayes_zoo.layers.conv2d_transpose import Conv2DTransposeVariational
from bayes_zoo.layers.conv3d import Conv3DFlipout
from bayes_zoo.layers.conv3d import Conv3DLocalReparameterization
from bayes_zoo.layers.conv3d import Conv3DReparameterization
from bayes_zoo.layers.conv3d import Conv3DVariational
from bayes_zoo.layers.dense import DenseFlipout
from bayes_zoo.layers.dense import DenseLocalReparameterization
from bayes_zoo.layers.dense import DenseReparameterization
from bayes_zoo.layers.dense import DenseVariational
from bayes_zoo.layers.kl_weight import kl_weighted_layers
from bayes_zoo.layers.kl_weight import set_kl_weight
from bayes_zoo.layers.mc_dropout import MCDropout
from bayes_zoo.layers.mc_dropout import MCSpatialDropout2D
from bayes_zoo.layers.moped import bayesian_from_pretrained
from bayes_zoo.layers.stochastic_layer import StochasticLayer
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.layers.stochastic_layer import set_posterior_mean
from bayes_zoo.layers.stochastic_layer import set_weight_samples
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers
from bayes_zoo.layers.tfp_convention import Convolution1DFlipout
from bayes_zoo.layers.tfp_convention import Convolution1DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution1DReparameterization
from bayes_zoo.layers.tfp_convention import Convolution2DFlipout
from bayes_zoo.layers.tfp_convention import Convolution2DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution2DReparameterization
from bayes_zoo.layers.tfp_convention import Convolution3DFlipout
from bayes_zoo.layers.tfp_convention import Convolution3DLocalReparameterization
from bayes_zoo.layers.tfp_convention import Convolution3DReparameterization
from bayes_zoo.layers.tfp_convention import default_mean_field_normal_fn
from bayes_zoo.layers.tfp_convention import default_multivariate_normal_fn
