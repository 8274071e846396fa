"""Core types: tasks, models, task families and meta-learners, plus the shared inner loop.

Everything here is a pytree or a pure function. A learner never sees a Flax object: models
cross the boundary as an ``(init, apply)`` pair, parameters as pytrees.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metaft.errors import UserError

PyTree = Any


class Split(NamedTuple):
  """A labelled set of examples: inputs ``x`` and targets ``y`` (leading axis: examples)."""

  x: jax.Array
  y: jax.Array


class Task(NamedTuple):
  """One episode. A batch of tasks is the same pytree with a leading task axis."""

  support: Split
  query: Split

  def merged(self) -> Split:
    """Support and query examples in one split (for one task, no leading task axis)."""
    return jax.tree.map(lambda s, q: jnp.concatenate([s, q]), self.support, self.query)


class Model(NamedTuple):
  """A pure model: ``init(key, x) -> params`` and ``apply(params, x) -> outputs``.

  ``features``, optional, declares that the model ends in a linear head: ``apply(params, x)
  == features(params, x) @ params['head']['w'] + params['head']['b']``, with ``features``
  independent of ``params['head']``. Adapting only the head then computes the features once
  per task instead of at every inner step (``finetune.make_adapt``, ANIL).
  """

  init: Callable[..., PyTree]
  apply: Callable[..., jax.Array]
  features: Callable[..., jax.Array] | None = None


class TaskFamily(NamedTuple):
  """A distribution over tasks, sampled from a PRNG key inside ``jit``.

  Attributes:
    sample: ``sample(data, num_tasks, *, key) -> Task`` with a leading task axis and fixed
      shapes; ``data`` is this family's ``data``, passed in rather than closed over so that a
      jitted step takes a data set as an argument instead of baking it into the program.
    loss: ``loss(outputs, y) -> scalar``, the loss the learners minimise.
    metrics: ``metrics(outputs, y) -> dict[str, scalar]`` for one task's query set.
    metric: the key of ``metrics`` reported in results tables.
    num_outputs: the width of the model's output layer (classes, or regression targets).
    info: descriptive fields for results rows (``dataset``, ``ways``, ``shots``, ...).
    data: a pytree of arrays that ``sample`` draws from (e.g. an image pool on the device).
  """

  sample: Callable[..., Task]
  loss: Callable[[jax.Array, jax.Array], jax.Array]
  metrics: Callable[[jax.Array, jax.Array], dict]
  metric: str
  num_outputs: int
  info: dict
  data: PyTree = ()

  def draw(self, num_tasks: int, *, key: jax.Array) -> Task:
    """``sample(data, num_tasks, key=key)``, for use outside a jitted step."""
    return self.sample(self.data, num_tasks, key=key)


class MetaLearner(NamedTuple):
  """A meta-learner as pure functions (the one extension point for algorithms).

  Attributes:
    init: ``init(key, x) -> meta_params`` from an example input batch.
    adapt: ``adapt(meta_params, support, *, steps=None, key=None) -> adapted``, the inner loop
      (fine-tuning is this same function run from pretrained parameters).
    predict: ``predict(adapted, x) -> outputs`` with adapted parameters.
    meta_loss: ``meta_loss(meta_params, task, *, key=None) -> (loss, aux)`` for ONE task;
      ``aux`` is a dict of scalars that the runner logs. The outer step differentiates it.
      Optionally ``aux['carry']`` is a dict of top-level entries of ``meta_params`` that are
      carried from step to step rather than learned (e.g. optimizer statistics): the outer
      step sets each to its mean over the tasks instead of stepping it with its gradient
      (which ``meta_loss`` should stop).
  """

  init: Callable[..., PyTree]
  adapt: Callable[..., PyTree]
  predict: Callable[..., jax.Array]
  meta_loss: Callable[..., tuple[jax.Array, dict]]


def inner_loop(
    loss_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    optimizer: optax.GradientTransformation,
    steps: int,
    *,
    first_order: bool = False,
    validate: Callable[[PyTree], jax.Array] | None = None,
    patience: int | None = None,
    batches: PyTree | None = None,
    opt_state: PyTree | None = None,
    return_state: bool = False,
) -> tuple:
  """Runs ``steps`` updates of ``optimizer`` on ``loss_fn`` with ``lax.scan``.

  Compile time does not grow with ``steps``. The loop is differentiable: the gradient of
  a function of the result with respect to ``params`` is the exact (second-order)
  meta-gradient, unless ``first_order`` stops the gradient through the inner gradients
  (first-order MAML, Finn et al. 2017, section 5.2).

  With ``validate`` (e.g. the loss on a held-out part of the support set) the loop also
  scores the parameters before every step and after the last, and returns the best-scoring
  ones: early stopping. With ``patience``, updates stop (become exactly zero) once the score
  has not improved for ``patience`` evaluations in a row; shapes stay static, so the loop
  still runs inside ``jit`` and ``vmap``.

  Args:
    loss_fn: ``loss_fn(params) -> scalar``, e.g. the support-set loss.
    params: the starting point.
    optimizer: any optax transformation.
    steps: number of updates, a Python int (0 returns ``params``).
    first_order: treat the inner gradients as constants.
    validate: ``validate(params) -> scalar``, lower is better; None for no early stopping.
    patience: evaluations without improvement before updates stop (needs ``validate``).
    batches: per-step data with a leading axis of length ``steps`` (e.g. minibatches of the
      support set); step ``i`` then minimises ``loss_fn(params, batch_i)``.
    opt_state: the optimizer's state to start from (None: ``optimizer.init(params)``), e.g.
      statistics carried over from earlier tasks.
    return_state: also return the optimizer's final state.

  Returns:
    The adapted parameters (the best-validated ones with ``validate``) and the loss before
    each step, shape ``[steps]``; with ``return_state``, also the optimizer's final state.
  """
  if patience is not None and (validate is None or patience < 1):
    raise UserError(f'patience={patience!r} needs a validate function and must be >= 1.')

  def update(p, opt_state, batch):
    fn = loss_fn if batches is None else lambda q: loss_fn(q, batch)
    loss, grads = jax.value_and_grad(fn)(p)
    if first_order:
      grads = jax.lax.stop_gradient(grads)
    updates, opt_state = optimizer.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss

  if opt_state is None:
    opt_state = optimizer.init(params)
  if validate is None:
    def step(carry, batch):
      p, opt_state, loss = update(*carry, batch)
      return (p, opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), batches, length=steps)
    return (params, losses, opt_state) if return_state else (params, losses)

  def keep_best(best, p):
    best_p, best_score, since = best
    score = validate(p)
    better = score < best_score
    best_p = jax.tree.map(lambda new, old: jnp.where(better, new, old), p, best_p)
    return best_p, jnp.where(better, score, best_score), jnp.where(better, 0, since + 1)

  def step_validated(carry, batch):
    p, opt_state, best = carry
    best = keep_best(best, p)
    new_p, new_state, loss = update(p, opt_state, batch)
    if patience is not None:  # stopped: parameters and optimizer state stay where they are
      go = best[2] < patience
      new_p, new_state = jax.tree.map(
          lambda n, o: jnp.where(go, n, o), (new_p, new_state), (p, opt_state))
    return (new_p, new_state, best), loss

  start = (params, jnp.asarray(jnp.inf, jnp.float32), jnp.asarray(0, jnp.int32))
  (params, opt_state, best), losses = jax.lax.scan(
      step_validated, (params, opt_state, start), batches, length=steps)
  best = keep_best(best, params)[0]
  return (best, losses, opt_state) if return_state else (best, losses)
