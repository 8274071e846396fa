"""Pretrain + fine-tune: no meta-learning, and the same ``adapt`` at test time."""

from typing import Callable

import optax

from metaft import core
from metaft import finetune
from metaft.learners.maml import support_loss


def pretrain(
    model: core.Model,
    loss,
    *,
    inner_lr: float = 0.01,
    inner_steps: int = 1,
    inner_opt: optax.GradientTransformation | None = None,
    trainable: str | Callable[[str], bool] = 'all',
    new_head: int | None = None,
    head_init: str = 'zeros',
    holdout: float = 0.0,
    patience: int | None = None,
    l2_sp: float = 0.0,
) -> core.MetaLearner:
  """One network trained on all training data as ordinary supervised learning, then
  fine-tuned on each test task's support set.

  The training loss is the plain loss on each sampled batch's support and query sets
  together (no inner loop). With a task family that gives global labels (``omniglot(...,
  labels='global')``) this is Tian et al. (2020)'s pretraining: one classifier over all
  meta-training classes; at test time ``new_head=N`` puts a fresh N-way head on the
  features, and ``trainable='head'`` adapts only it (logistic regression on the embedding)
  while ``'all'`` fine-tunes the whole network. With the same labels at training and test time
  (sine regression) it is Finn et al. (2017)'s "pretrained" baseline.

  Args:
    model, loss: the network and its loss.
    inner_lr, inner_steps, inner_opt: the fine-tuning optimizer (SGD at ``inner_lr`` by
      default) and its number of steps, as for ``maml``.
    trainable, new_head, head_init, holdout, patience, l2_sp: see ``finetune.make_adapt``.

  Returns:
    A ``MetaLearner`` whose ``adapt`` is ``finetune.make_adapt``.

  Example::

    learner = pretrain(conv4(num_outputs=4800), losses.cross_entropy, new_head=5,
                       trainable='head', inner_opt=optax.adam(1e-2), inner_steps=100)

  Reference: Tian, Wang, Krishnan, Tenenbaum & Isola, "Rethinking Few-Shot Image
  Classification: a Good Embedding Is All You Need?", ECCV 2020.
  """
  optimizer = inner_opt if inner_opt is not None else optax.sgd(inner_lr)
  adapt = finetune.make_adapt(
      model, loss, optimizer, inner_steps, trainable=trainable, new_head=new_head,
      head_init=head_init, holdout=holdout, patience=patience, l2_sp=l2_sp)

  def meta_loss(params, task, *, key=None):
    del key
    return support_loss(model, loss, params, task.merged()), {}

  return core.MetaLearner(model.init, adapt, model.apply, meta_loss)
