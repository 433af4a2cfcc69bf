"""Bayesian layers for Keras 3: variational Dense / Conv and MC dropout.

Names follow `tfp.layers`, whose layers only work with tf-keras: code written
for `tfp.layers.Convolution2DFlipout` moves here by changing the import.
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
from bayes_zoo.layers.mc_dropout import MCDropout
from bayes_zoo.layers.mc_dropout import MCSpatialDropout2D
from bayes_zoo.layers.moped import bayesian_from_pretrained
from bayes_zoo.layers.stochastic_layer import StochasticLayer
from bayes_zoo.layers.stochastic_layer import posterior_mean
from bayes_zoo.layers.stochastic_layer import set_posterior_mean
from bayes_zoo.layers.stochastic_layer import set_weight_samples
from bayes_zoo.layers.stochastic_layer import stacked_weight_samples
from bayes_zoo.layers.stochastic_layer import stochastic_layers

# tfp.layers names, so that code written for tfp.layers moves by its import.
Convolution1DReparameterization = Conv1DReparameterization
Convolution1DFlipout = Conv1DFlipout
Convolution1DLocalReparameterization = Conv1DLocalReparameterization
Convolution2DReparameterization = Conv2DReparameterization
Convolution2DFlipout = Conv2DFlipout
Convolution2DLocalReparameterization = Conv2DLocalReparameterization
Convolution3DReparameterization = Conv3DReparameterization
Convolution3DFlipout = Conv3DFlipout
Convolution3DLocalReparameterization = Conv3DLocalReparameterization
