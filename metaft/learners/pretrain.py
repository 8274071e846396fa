"""The pretrain + fine-tune baseline: no meta-learning, the same ``adapt`` at test time."""

import jax.numpy as jnp
import optax

from metaft import core
from metaft.learners.maml import maml, support_loss


def pretrain(
    model: core.Model,
    loss,
    *,
    inner_lr: float = 0.01,
    inner_steps: int = 1,
    inner_opt: optax.GradientTransformation | None = None,
) -> core.MetaLearner:
  """One network trained on all training tasks' data, then fine-tuned on each test task.

  The training loss is the plain loss on each task's support and query sets together (no
  inner loop); ``adapt`` is MAML's, so fine-tuning at test time is the same function,
  started from parameters that were not meta-learned (Finn et al. 2017, "pretrained" baseline).
  """
  base = maml(
      model, loss, inner_lr=inner_lr, inner_steps=inner_steps, inner_opt=inner_opt)

  def meta_loss(params, task, *, key=None):
    del key
    both = core.Split(
        jnp.concatenate([task.support.x, task.query.x]),
        jnp.concatenate([task.support.y, task.query.y]))
    return support_loss(model, loss, params, both), {}

  return base._replace(meta_loss=meta_loss)
