"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017)."""

import jax
import jax.numpy as jnp

from metaft import core, losses


def protonets(model: core.Model, loss, *, ways: int | None = None,
              embed_together: bool = False) -> core.MetaLearner:
  """Prototypical networks: classify by the squared distance to each class's mean embedding.

  The model's output is the embedding, ``apply(params, x_NxI) -> emb_NxD``. ``adapt`` takes
  no gradient step: it returns ``(params, protos_CxD, present_C)``, the mean support
  embedding of each class ``0..C-1`` and which classes have support examples. ``predict``
  gives the logits ``-||emb(x) - proto_c||^2`` (``-inf`` for absent classes), and the
  meta-loss is ``loss`` (the family's cross-entropy) on the query set: plain autodiff.

  Labels are integers, ``y_S`` of shape ``[S]``. The number of classes is static: ``ways``,
  or the support size ``S`` when ``ways`` is None (an upper bound: columns of absent classes
  are ``-inf`` and change neither the loss nor the arg-max).

  With the runner the model is built with ``num_outputs = ways``, so e.g. conv4's linear head
  becomes a ``ways``-wide embedding; give a model without a head for the paper's set-up
  (``model=dict(name='conv4', num_outputs=0)`` in a config).

  With batch norm on batch statistics the embedding of an example depends on the batch it is
  in. By default the support and the query sets are embedded as two batches; with
  ``embed_together`` as one (transductive: statistics over both), so that a 5-way 1-shot
  support set is not normalised by the statistics of its 5 images alone (on Omniglot, with a
  network trained on separate batches, it scores lower: benchmarks/RESULTS.md). ``adapt``
  then returns ``(params, support)`` and the prototypes are computed in ``predict``.

  Args:
    model: the embedding network.
    loss: ``loss(logits_QxC, y_Q)``, normally ``losses.cross_entropy``.
    ways: the number of classes per task, or None (see above).
    embed_together: embed support and query in one batch (see above).

  Returns:
    A ``MetaLearner`` whose meta-parameters are the embedding's parameters.

  Example::

    learner = protonets(models.conv4(num_outputs=64), losses.cross_entropy, ways=5)
  """

  def prototypes(emb_SxD, y_S):
    onehot_SxC = jax.nn.one_hot(y_S, ways or emb_SxD.shape[0], dtype=emb_SxD.dtype)
    count_C = jnp.sum(onehot_SxC, axis=0)
    return (onehot_SxC.T @ emb_SxD) / jnp.maximum(count_C, 1.0)[:, None], count_C > 0

  def adapt(params, support, *, steps=None, key=None):
    del steps, key  # no inner loop
    if embed_together:
      return params, support
    return params, *prototypes(model.apply(params, support.x), support.y)

  def predict(adapted, x_QxI):
    if embed_together:
      params, support = adapted
      emb_NxD = model.apply(params, jnp.concatenate([support.x, x_QxI]))
      num_support = support.x.shape[0]
      protos_CxD, present_C = prototypes(emb_NxD[:num_support], support.y)
      emb_QxD = emb_NxD[num_support:]
    else:
      params, protos_CxD, present_C = adapted
      emb_QxD = model.apply(params, x_QxI)
    dist_QxC = jnp.sum(jnp.square(emb_QxD[:, None, :] - protos_CxD[None, :, :]), axis=-1)
    return jnp.where(present_C[None, :], -dist_QxC, -jnp.inf)

  def meta_loss(params, task, *, key=None):
    logits_QxC = predict(adapt(params, task.support, key=key), task.query.x)
    return loss(logits_QxC, task.query.y), {'accuracy': losses.accuracy(logits_QxC, task.query.y)}

  return core.MetaLearner(model.init, adapt, predict, meta_loss)


# The conformance suite (tests/test_conformance.py) runs it on a classification task.
protonets.conformance = {'task': 'classification'}
