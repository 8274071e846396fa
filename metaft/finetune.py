"""Fine-tuning: the ``adapt`` of meta-learning, run once, on one task, from given parameters.

``make_adapt`` builds the inner loop every gradient-based learner uses (``maml``'s ``adapt``
is ``make_adapt`` with plain SGD); its options are what fine-tuning papers vary: any optax
optimizer or schedule, which parameters train (``masks.predicate`` specs: ``'head'``,
``'batchnorm'``, ``'activations'``, ``'skip:2'``, a regex or a predicate), a fresh head for a
new label set, and early stopping on a held-out part of the support set. ``finetune`` runs it
on one task from a checkpoint written by the runner or from a parameter pytree.

Example::

  model, params = finetune.load_model('runs/pretrain_omniglot')
  adapted = finetune.finetune(model, losses.cross_entropy, params, support,
                              optimizer=optax.adam(1e-3), steps=100, trainable='head',
                              new_head=5, holdout=0.2, patience=10, key=key)
"""

import functools
from typing import Callable
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from metaft import core
from metaft.errors import UserError
from metaft.learners import masks

HEAD_INITS = ('zeros', 'prototypes')


def replace_head(model: core.Model, params: core.PyTree, support: core.Split, ways: int, *,
                 init: str = 'zeros') -> core.PyTree:
  """``params`` with the linear head ``params['head'] = {'w': [D, C], 'b': [C]}`` replaced by
  a head for ``ways`` classes.

  ``'zeros'`` starts from zero logits (logistic regression on the features when only the
  head trains, Tian et al. 2020). ``'prototypes'`` starts from the nearest-prototype
  classifier of the support features: ``w_c = 2 mu_c``, ``b_c = -|mu_c|^2`` (Snell et al.
  2017; Triantafillou et al. 2020's Proto-MAML), labels ``0..ways-1``.
  """
  if init not in HEAD_INITS:
    raise UserError(f'head init must be one of {HEAD_INITS}, got {init!r}.')
  head = params.get('head') if isinstance(params, dict) else None
  if not isinstance(head, dict) or set(head) != {'w', 'b'} or head['w'].ndim != 2:
    raise UserError("a new head needs a model whose parameters end in a linear "
                    "params['head'] = {'w': [features, classes], 'b': [classes]} (conv4 does).")
  dim = head['w'].shape[0]
  if init == 'zeros':
    new = {'w': jnp.zeros((dim, ways), head['w'].dtype), 'b': jnp.zeros((ways,), head['b'].dtype)}
  else:
    identity = {'w': jnp.eye(dim, dtype=head['w'].dtype), 'b': jnp.zeros((dim,), head['b'].dtype)}
    feats_SxD = model.apply({**params, 'head': identity}, support.x)
    onehot_SxN = jax.nn.one_hot(support.y, ways, dtype=feats_SxD.dtype)
    protos_NxD = (onehot_SxN.T @ feats_SxD) / jnp.maximum(onehot_SxN.sum(0), 1)[:, None]
    new = {'w': 2 * protos_NxD.T, 'b': -jnp.sum(jnp.square(protos_NxD), axis=1)}
  return {**params, 'head': new}


def holdout_split(support: core.Split, fraction: float, *, key: jax.Array
                  ) -> tuple[core.Split, core.Split]:
  """A random ``(fit, held_out)`` split of ``support``; ``held_out`` has ``round(fraction * n)``
  examples (at least 1), ``fit`` the rest (at least 1)."""
  n = support.x.shape[0]
  n_out = max(1, round(fraction * n))
  if not 0 < fraction < 1 or n_out >= n:
    raise UserError(f'holdout={fraction} must be in (0, 1) and leave examples to fit; the '
                    f'support set has {n} examples (1-shot tasks cannot hold any out).')
  order = jax.random.permutation(key, n)
  take = lambda idx: jax.tree.map(lambda a: a[idx], support)
  return take(order[n_out:]), take(order[:n_out])


def minibatches(split: core.Split, batch_size: int, steps: int, *, key: jax.Array
                ) -> core.Split:
  """``steps`` random minibatches of ``split``, stacked: leaves ``[steps, batch_size, ...]``."""
  n = split.x.shape[0]
  draw = lambda k: jax.random.permutation(k, n)[:batch_size]
  idx_TxB = jax.vmap(lambda i: draw(jax.random.fold_in(key, i)))(jnp.arange(steps))
  return jax.tree.map(lambda a: a[idx_TxB], split)


def _recast(tree, like):
  """``tree``'s leaves in the order, dtypes and containers of ``like``'s."""
  leaves, like_leaves = jax.tree.leaves(tree), jax.tree.leaves(like)
  if len(leaves) != len(like_leaves):
    raise UserError(f'opt_state has {len(leaves)} arrays but the inner optimizer\'s state '
                    f'has {len(like_leaves)}: pass a state made by this optimizer\'s init.')
  return jax.tree.unflatten(jax.tree.structure(like),
                            [x.astype(t.dtype) for x, t in zip(leaves, like_leaves)])


def _penalised(fn, start, weight: float):
  """``fn`` plus ``weight / 2`` times the squared distance of its parameters to ``start``."""
  def penalised(params, *batch):
    distance = optax.tree_utils.tree_norm(optax.tree_utils.tree_sub(params, start), squared=True)
    return fn(params, *batch) + 0.5 * weight * distance
  return penalised


def make_adapt(
    model: core.Model,
    loss,
    optimizer: optax.GradientTransformation,
    steps: int,
    *,
    first_order: bool = False,
    trainable: str | Callable[[str], bool] = 'all',
    new_head: int | None = None,
    head_init: str = 'zeros',
    holdout: float = 0.0,
    patience: int | None = None,
    batch_size: int | None = None,
    l2_sp: float = 0.0,
):
  """The inner loop as ``adapt(params, support, *, steps=None, key=None) -> params``.

  ``adapt(..., opt_state=s)`` starts the optimizer from state ``s`` (with ``trainable='all'``,
  a state of ``optimizer``) instead of afresh and returns ``(params, final_state)``: state
  carried from task to task, as in Reptile's reference code. ``s`` may store its leaves in
  other dtypes (a float step count, so that it can sit among differentiable
  meta-parameters); the final state comes back in the dtypes and containers of ``s``.

  Args:
    model: the network.
    loss: ``loss(outputs, y) -> scalar`` on the support set.
    optimizer: any optax transformation (schedules included).
    steps: the default number of updates (``adapt(..., steps=n)`` overrides it).
    first_order: stop gradients through the inner updates (for meta-training).
    trainable: what updates, a ``masks.predicate`` spec; the rest stays bit-identical.
    new_head: replace the head by a fresh one for this many classes before adapting (None or
      0: keep the head).
    head_init: ``'zeros'`` or ``'prototypes'``, see ``replace_head``.
    holdout: hold out this fraction of the support set, adapt on the rest and return the
      parameters that score best on it (early stopping); 0 for none.
    patience: with ``holdout``, stop after this many steps without improvement (None or 0:
      run every step, still returning the best-validated parameters).
    batch_size: each step on a random minibatch of this many support examples (drawn
      without replacement within a step, from ``fold_in(key, step)``); None or 0, or a
      support set no larger, for full-batch steps.
    l2_sp: add ``l2_sp / 2 * ||params - start||^2`` to the support loss, where ``start`` is
      what adaptation starts from (after ``new_head``): L2-SP (Li, Grandvalet & Davoine
      2018), which keeps fine-tuned weights near the pretrained ones, and a new head near its
      initialisation (the same form as iMAML's proximal term around the meta-parameters).
      0 for none. The held-out loss (``holdout``) stays unpenalised.
  """
  if steps < 0:
    raise UserError(f'inner_steps must be >= 0, got {steps}.')
  new_head, patience = new_head or None, patience or None  # 0 (a config's "none") too
  if patience is not None and not holdout:
    raise UserError('patience needs a held-out part of the support set: set holdout, '
                    'e.g. holdout=0.2.')
  if holdout and not 0 < holdout < 1:
    raise UserError(f'holdout must be a fraction in (0, 1) of the support set, got {holdout}.')
  if not isinstance(l2_sp, (int, float)) or not l2_sp >= 0:
    raise UserError(f'l2_sp must be a number >= 0 (the weight of the squared distance to the '
                    f'starting parameters), got l2_sp={l2_sp!r}.')
  if trainable != 'all':
    masks.predicate(trainable)  # fail now on a bad spec, not inside jit
    optimizer = masks.freeze(optimizer, lambda p: masks.trainable_mask(p, trainable))

  def split_loss(params, split):
    return loss(model.apply(params, split.x), split.y)

  def head_loss(params, split):  # split.x holds the body's features
    return loss(split.x @ params['head']['w'] + params['head']['b'].reshape(1, -1), split.y)

  # Only the head trains and the body's features do not change: compute them once per task
  # (per split, so batch norm sees the same batches) instead of at every inner step.
  # Minibatches would change the batches, so they keep the full forward pass.
  head_only = trainable == 'head' and model.features is not None
  default_steps = steps

  def adapt(params, support, *, steps=None, key=None, opt_state=None):
    n = default_steps if steps is None else steps
    if new_head is not None:
      params = replace_head(model, params, support, new_head, init=head_init)
    validate, batches = None, None
    key = jax.random.key(0) if key is None else key
    if holdout:
      support, held_out = holdout_split(support, holdout, key=key)
    minibatched = bool(batch_size) and batch_size < support.x.shape[0]
    if head_only and not minibatched:
      split_fn = head_loss
      embed = lambda split: split._replace(x=model.features(params, split.x))
    else:
      split_fn, embed = split_loss, lambda split: split
    if holdout:
      validate = functools.partial(split_fn, split=embed(held_out))
    fn = functools.partial(split_fn, split=embed(support))
    if minibatched:
      batches = minibatches(support, batch_size, n, key=jax.random.fold_in(key, 1))
      fn = split_loss  # step i: split_loss(params, batch_i)
    if l2_sp:
      fn = _penalised(fn, params, l2_sp)
    stored = opt_state
    if stored is not None:
      opt_state = _recast(stored, jax.eval_shape(optimizer.init, params))
    out = core.inner_loop(fn, params, optimizer, n, first_order=first_order,
                          validate=validate, patience=patience, batches=batches,
                          opt_state=opt_state, return_state=stored is not None)
    return out[0] if stored is None else (out[0], _recast(out[2], stored))

  return adapt


def finetune(model: core.Model, loss, params: core.PyTree, support: core.Split, *,
             optimizer: optax.GradientTransformation | None = None, steps: int = 100,
             key: jax.Array | None = None, **options) -> core.PyTree:
  """Fine-tunes ``params`` on one task's ``support`` set (jitted); ``options`` as for
  ``make_adapt``. The optimizer defaults to Adam at 1e-3."""
  optimizer = optimizer if optimizer is not None else optax.adam(1e-3)
  adapt = make_adapt(model, loss, optimizer, steps, **options)
  return jax.jit(lambda p, s, k: adapt(p, s, key=k))(params, support, key)


# Parameters on disk: a runner workdir (orbax checkpoints) or an .npz of '/'-joined paths.

def save_params(path: str | pathlib.Path, params: core.PyTree) -> None:
  """Writes ``params`` as an ``.npz`` with one array per '/'-joined key path."""
  flat = {masks.path_str(p): np.asarray(v)
          for p, v in jax.tree_util.tree_leaves_with_path(params)}
  np.savez(path, **flat)


def _unflatten(flat: dict) -> dict:
  tree = {}
  for name, value in flat.items():
    node = tree
    *parents, leaf = name.split('/')
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = jnp.asarray(value)
  return tree


def load_params(path: str | pathlib.Path, *, step: int | None = None) -> core.PyTree:
  """Parameters from an ``.npz`` written by ``save_params``, or the meta-parameters of the
  latest (or ``step``'s) checkpoint of a runner workdir."""
  path = pathlib.Path(path)
  if path.suffix == '.npz' and path.is_file():
    with np.load(path) as data:
      return _unflatten(dict(data))
  ckpt_dir = (path / 'checkpoints').resolve()
  if not ckpt_dir.is_dir():
    raise UserError(f'{path} is neither a .npz parameter file nor a workdir with checkpoints/ '
                    '(run `metaft run EXPERIMENT --workdir DIR` first).')
  import orbax.checkpoint as ocp
  with ocp.CheckpointManager(ckpt_dir) as manager:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise UserError(f'{ckpt_dir} has no checkpoint {step if step is not None else ""}; '
                      f'steps: {list(manager.all_steps())}.')
    restored = manager.restore(step, args=ocp.args.StandardRestore())
  return jax.tree.map(jnp.asarray, restored['state']['params'])


def load_model(workdir: str | pathlib.Path, *, step: int | None = None
               ) -> tuple[core.Model, core.PyTree]:
  """The model and meta-parameters of a run: ``model.json`` and the latest checkpoint."""
  from metaft import runner
  workdir = pathlib.Path(workdir)
  spec_path = workdir / 'model.json'
  if not spec_path.exists():
    raise UserError(f'{workdir} has no model.json: it is not a workdir written by '
                    '`metaft run` (or was written before model.json existed: run it again).')
  spec = json.loads(spec_path.read_text())
  model = runner.build_model(spec['model'], spec['num_outputs'])
  return model, load_params(workdir, step=step)


def run(config, workdir: pathlib.Path, *, progress: bool = True) -> list[dict]:
  """The ``job='finetune'`` experiment: fine-tune a checkpoint on one task given as a file.

  Reads ``config.checkpoint`` (a runner workdir; or an ``.npz`` of parameters, with
  ``config.model`` naming the model and its ``num_outputs``) and ``config.task_file`` (see
  ``data.load_task``), builds the learner ``config.learner`` on that model (its ``adapt`` is
  the fine-tuning: steps, optimizer, mask, new head, early stopping) and writes to
  ``workdir``: ``adapted.npz`` (the fine-tuned parameters), ``predictions.npz`` (the query
  outputs), and ``results.json`` / ``results.md`` with the query metrics before (0 steps) and
  after fine-tuning when the file has query labels.
  """
  from metaft import data, losses, runner
  workdir.mkdir(parents=True, exist_ok=True)
  config = runner._expand_workdir(config, workdir)
  runner.run_prerequisites(config, progress=progress)
  task_file = pathlib.Path(config.task_file)
  if not task_file.exists() and config.get('example_task', {}).get('name'):
    family = runner.call_factory('data', config.example_task, split='test')
    data.save_task(task_file, jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0))))
    print(f'metaft: wrote an example task to {task_file}')
  task, has_labels = data.load_task(task_file)
  checkpoint = pathlib.Path(config.checkpoint)
  if checkpoint.suffix == '.npz':
    settings = config.get('model')
    if not settings or 'num_outputs' not in settings:
      raise UserError('a .npz checkpoint needs config.model with its name and num_outputs, '
                      "e.g. --config.model.name=conv4 --config.model.num_outputs=5.")
    model = runner.call_factory('models', settings)
    params = load_params(checkpoint)
  else:
    model, params = load_model(checkpoint)
  if isinstance(params, dict) and 'student' in params:  # a distillation run: the student
    params = params['student']
  classify = jnp.issubdtype(task.support.y.dtype, jnp.integer)
  loss, metrics = ((losses.cross_entropy, losses.classification_metrics) if classify
                   else (losses.mse, losses.regression_metrics))
  try:
    out = jax.eval_shape(model.apply, params, task.support.x).shape
  except Exception as e:  # pylint: disable=broad-except
    out = f'an error ({type(e).__name__}: {e})'
  y = task.support.y.shape
  if not isinstance(out, tuple) or (out[:1] != y[:1] if classify else out != y) or (
      classify and len(out) != 2):
    raise UserError(f"the checkpoint's model does not take the task's inputs of shape "
                    f'{task.support.x.shape[1:]}: it maps them to {out}, for labels of '
                    f'shape {y}.')
  learner = runner.build_learner(config.learner, model, loss)
  key = jax.random.key(config.seed)
  adapt = jax.jit(lambda p, s, k, n: learner.adapt(p, s, steps=n, key=k), static_argnums=3)
  steps = config.learner.get('inner_steps', 1)
  rows = []
  for n in sorted({0, steps}):
    adapted = adapt(params, task.support, key, n)
    outputs = learner.predict(adapted, task.query.x)
    row = {'adapt_steps': n, 'support_loss': float(loss(learner.predict(
        adapted, task.support.x), task.support.y))}
    if has_labels:
      row.update({k: float(v) for k, v in metrics(outputs, task.query.y).items()})
    rows.append(row)
  save_params(workdir / 'adapted.npz', adapted)
  np.savez(workdir / 'predictions.npz', query_outputs=np.asarray(outputs))
  (workdir / 'results.json').write_text(json.dumps(rows, indent=2))
  (workdir / 'results.md').write_text(runner.markdown_table(rows))
  return rows
