"""Thin re-export, kept as `bz.evaluation`: the held-out evaluation of a classifier
lives in `bayes_zoo.tasks.classification.evaluation`.
"""

from bayes_zoo.tasks.classification.evaluation import COVERAGE_FILE
from bayes_zoo.tasks.classification.evaluation import COVERAGE_LEVELS
from bayes_zoo.tasks.classification.evaluation import COVERAGE_UNCERTAINTY
from bayes_zoo.tasks.classification.evaluation import DEFAULT_SAMPLE_COUNTS
from bayes_zoo.tasks.classification.evaluation import HISTOGRAMS_FILE
from bayes_zoo.tasks.classification.evaluation import OOD_SCORES
from bayes_zoo.tasks.classification.evaluation import RELIABILITY_FILE
from bayes_zoo.tasks.classification.evaluation import RESULTS_FILE
from bayes_zoo.tasks.classification.evaluation import SAMPLES_FILE
from bayes_zoo.tasks.classification.evaluation import SPREAD_ORDERINGS
from bayes_zoo.tasks.classification.evaluation import UNCERTAINTIES
from bayes_zoo.tasks.classification.evaluation import TestSplit
from bayes_zoo.tasks.classification.evaluation import evaluate
from bayes_zoo.tasks.classification.evaluation import evaluate_predictions
from bayes_zoo.tasks.classification.evaluation import load_test_split
from bayes_zoo.tasks.classification.evaluation import machine_description
from bayes_zoo.tasks.classification.evaluation import summary_table
