"""ANIL, Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals, ICLR 2020)."""

from typing import Callable

import optax

from metaft import core
from metaft.learners import masks
from metaft.learners.maml import maml


def anil(
    model: core.Model,
    loss,
    *,
    inner_lr: float = 0.01,
    inner_steps: int = 1,
    inner_opt: optax.GradientTransformation | None = None,
    first_order: bool = False,
    head: str | Callable[[str], bool] | None = None,
    l2_sp: float = 0.0,
) -> core.MetaLearner:
  """MAML whose inner loop updates only the head: ``maml(inner_opt=freeze(opt, head))``.

  The body is meta-learned in the outer loop as in MAML but gets exactly zero inner updates
  (``masks.freeze``), so adaptation is a few steps on the last layer, features fixed. For a
  model that declares its features (``core.Model.features``, e.g. conv4) they are computed
  once per task rather than at every inner step.

  Args:
    model, loss, inner_lr, inner_steps, first_order, l2_sp: as for ``maml`` (``l2_sp``
      pulls the head toward its meta-learned initialisation).
    inner_opt: the inner optimizer of the head (SGD at ``inner_lr`` by default).
    head: what adapts: a top-level key or path prefix (``'head'``, ``'Dense_2'``), a
      predicate over '/'-joined parameter paths, or None for ``masks.last_layer`` (the key
      ``'head'`` of conv4, else the last layer, e.g. ``Dense_2`` of the sine MLP).

  Returns:
    A ``MetaLearner`` (MAML's, with the masked inner optimizer).

  Example::

    learner = anil(models.mlp(num_outputs=1), losses.mse, inner_lr=0.01)
  """
  optimizer = inner_opt if inner_opt is not None else optax.sgd(inner_lr)
  if head in (None, 'head') and model.features is not None:
    # A model that declares its linear head: the same masked optimizer (maml's trainable),
    # and the body's features computed once per task instead of at every inner step.
    return maml(model, loss, inner_steps=inner_steps, first_order=first_order,
                inner_opt=optimizer, trainable='head', l2_sp=l2_sp)

  def trainable(params):
    chosen = head if head is not None else masks.last_layer(params)
    return masks.path_mask(params, masks.under(chosen) if isinstance(chosen, str) else chosen)

  return maml(model, loss, inner_steps=inner_steps, first_order=first_order,
              inner_opt=masks.freeze(optimizer, trainable), l2_sp=l2_sp)
