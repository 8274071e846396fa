"""metaft: meta-learning in JAX, with fine-tuning as the special case of meta-adaptation."""

from metaft.core import MetaLearner, Model, Split, Task, TaskFamily, inner_loop
from metaft.errors import UserError

__version__ = '0.1.0'
__all__ = ['MetaLearner', 'Model', 'Split', 'Task', 'TaskFamily', 'UserError', 'inner_loop']
