"""The classes ``load_model()`` trusts without ``trust=``, beyond skops' own defaults.

skops already trusts every scikit-learn estimator and its internal loss/link types.
Fitted estimators also hold a few helper objects skops does not list (tree
structures, neighbour indexes, kernels, optimizers). Those below were reviewed one
by one: each is a *class* whose reconstruction only sets data (no callable is
restored and nothing is executed). Functions are never on this list — a stored
function can be called later with the victim's data (``FunctionTransformer(func=...)``),
which is why ``sklearn.*`` as a prefix is not trusted. Anything else needs an explicit
``load_model(..., trust=[...])``.

To add a class: check that it holds only data (arrays, numbers, other listed
classes), that it is not a function or a wrapper of one (``PyFuncDistance*`` is
not listed), and add a model that needs it to ``tests/snapshot/test_models.py``.
"""

from __future__ import annotations

_DIST = ("BrayCurtis", "Canberra", "Chebyshev", "Dice", "Euclidean", "Hamming", "Haversine", "Jaccard",
         "Kulsinski", "Mahalanobis", "Manhattan", "Matching", "Minkowski", "RogersTanimoto", "RussellRao",
         "SEuclidean", "SokalMichener", "SokalSneath")
_KERNELS = ("CompoundKernel", "ConstantKernel", "DotProduct", "ExpSineSquared", "Exponentiation", "Hyperparameter",
            "Matern", "PairwiseKernel", "Product", "RBF", "RationalQuadratic", "Sum", "WhiteKernel")

TRUSTED_TYPES: frozenset[str] = frozenset({
    # tree structures of decision trees, forests, boosting, bagging
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    # neighbour indexes and their (non-callable) distance metrics
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    *(f"sklearn.metrics._dist_metrics.{d}Distance{bits}" for d in _DIST for bits in ("32", "64")),
    # gaussian processes
    *(f"sklearn.gaussian_process.kernels.{k}" for k in _KERNELS),
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    # losses skops does not list, optimizers, calibration
    "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # numpy and scipy data types seen in fitted estimators
    "numpy.dtype",
    "numpy.ndarray",
    "scipy.interpolate._bsplines.BSpline",
})
