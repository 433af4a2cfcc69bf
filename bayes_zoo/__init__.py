"""bayes-zoo: Bayesian convolutional neural networks for Keras 3.

Bayes by Backprop with the local reparameterization trick (Shridhar et al.)
and MC dropout (Gal & Ghahramani), with TensorFlow Probability distributions.
"""

from bayes_zoo import architectures
from bayes_zoo import callbacks
from bayes_zoo import data
from bayes_zoo import demo
from bayes_zoo import evaluation
from bayes_zoo import export
from bayes_zoo import gan
from bayes_zoo import layers
from bayes_zoo import metrics
from bayes_zoo import plots
from bayes_zoo import posteriors
from bayes_zoo import priors
from bayes_zoo import pruning
from bayes_zoo import super_resolution
from bayes_zoo import trainer
from bayes_zoo import training
from bayes_zoo import uncertainty
from bayes_zoo import zoo
from bayes_zoo.uncertainty import predict_with_uncertainty

__version__ = "0.1.0"
