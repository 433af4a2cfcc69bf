"""Thin re-export, kept for today's import path: the builders live in
`bayes_zoo.tasks.classification.architectures`.
"""

from bayes_zoo.methods import METHODS
from bayes_zoo.methods import VARIATIONAL_METHODS
from bayes_zoo.tasks.classification.architectures import ACTIVATIONS
from bayes_zoo.tasks.classification.architectures import GAL_DROPOUT_PLACEMENTS
from bayes_zoo.tasks.classification.architectures import alexnet
from bayes_zoo.tasks.classification.architectures import alexnet_half
from bayes_zoo.tasks.classification.architectures import gal_lenet
from bayes_zoo.tasks.classification.architectures import lenet5
from bayes_zoo.tasks.classification.architectures import three_conv_three_fc
