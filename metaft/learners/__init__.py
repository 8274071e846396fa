"""Meta-learners. Each is a factory ``name(model, loss, **settings) -> MetaLearner``.

A config names a learner by its attribute here (``maml``) or by ``module.path:attr``.
"""

from metaft.learners.maml import fomaml, maml
from metaft.learners.pretrain import pretrain

__all__ = ['fomaml', 'maml', 'pretrain']
