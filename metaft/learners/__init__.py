"""Meta-learners. Each is a factory ``name(model, loss, **settings) -> MetaLearner``.

A config names a learner by its attribute here (``maml``) or by ``module.path:attr``.
"""

from metaft.learners.maml import fomaml, maml
from metaft.learners.pretrain import pretrain
from metaft.learners.anil import anil
from metaft.learners.distill import born_again, metadistil
from metaft.learners.imaml import imaml
from metaft.learners.metasgd import metasgd
from metaft.learners.protonets import protonets
from metaft.learners.reptile import reptile

__all__ = ['anil', 'born_again', 'fomaml', 'imaml', 'maml', 'metadistil', 'metasgd', 'pretrain',
           'protonets', 'reptile']
