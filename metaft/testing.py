"""Helpers for testing learners and task families: a quadratic task family and a linear model.

With a linear model and the squared error, every task's loss is quadratic in the parameters,
so meta-gradients are smooth and finite differences in float64 are accurate.
"""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from metaft import core, losses


def linear_model(*, num_outputs: int = 1) -> core.Model:
  """``x @ w + b`` with small random ``w``."""

  def init(key, x):
    w = 0.1 * jax.random.normal(key, (x.shape[-1], num_outputs), x.dtype)
    return {'w': w, 'b': jnp.zeros((num_outputs,), x.dtype)}

  def apply(params, x):
    return x @ params['w'] + params['b'][None, :]

  return core.Model(init, apply)


def quadratic_family(*, dim: int = 3, shots: int = 6, query: int = 6,
                     split: str = 'train') -> core.TaskFamily:
  """Linear-regression tasks ``y = x @ w_task + noise-free``, ``w_task ~ N(1, 1)``."""
  del split

  def sample(data, num_tasks, *, key):
    del data
    k_w, k_x = jax.random.split(key)
    dtype = jnp.zeros(()).dtype  # float64 under enable_x64
    w_TxD = 1.0 + jax.random.normal(k_w, (num_tasks, dim, 1), dtype)
    x_TxNxD = jax.random.normal(k_x, (num_tasks, shots + query, dim), dtype)
    y_TxN = x_TxNxD @ w_TxD
    return core.Task(core.Split(x_TxNxD[:, :shots], y_TxN[:, :shots]),
                     core.Split(x_TxNxD[:, shots:], y_TxN[:, shots:]))

  info = {'dataset': 'quadratic', 'ways': None, 'shots': shots}
  return core.TaskFamily(sample, losses.mse, losses.regression_metrics, 'mse', 1, info)


def finite_difference_grad(fn, params, *, eps: float = 1e-6):
  """Central-difference gradient of scalar ``fn`` at the pytree ``params`` (use float64)."""
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  flat = np.asarray(flat, np.float64)
  grad = np.zeros_like(flat)
  for i in range(flat.size):
    step = np.zeros_like(flat)
    step[i] = eps
    grad[i] = (float(fn(unravel(flat + step))) - float(fn(unravel(flat - step)))) / (2 * eps)
  return unravel(grad)


def tiny_mlp(*, num_outputs: int = 1, hidden: int = 8, batch_norm: bool = False) -> core.Model:
  """``x -> tanh(norm(x @ w + b)) -> head``, params ``{'layer0': {w, b}, 'head': {w, b}}``.

  ``batch_norm`` normalises the hidden layer with the statistics of the current batch (no
  learnable scale), so an example's output depends on the rest of its batch.
  """

  def init(key, x):
    k0, k1 = jax.random.split(key)
    dim = x.shape[-1]
    return {'layer0': {'w': jax.random.normal(k0, (dim, hidden), x.dtype) / np.sqrt(dim),
                       'b': jnp.zeros((hidden,), x.dtype)},
            'head': {'w': jax.random.normal(k1, (hidden, num_outputs), x.dtype) / np.sqrt(hidden),
                     'b': jnp.zeros((num_outputs,), x.dtype)}}

  def features(params, x_NxD):
    h_NxH = x_NxD @ params['layer0']['w'] + params['layer0']['b'][None, :]
    if batch_norm:
      mean_H, var_H = jnp.mean(h_NxH, axis=0), jnp.var(h_NxH, axis=0)
      h_NxH = (h_NxH - mean_H[None, :]) / jnp.sqrt(var_H[None, :] + 1e-3)
    return jnp.tanh(h_NxH)

  def apply(params, x_NxD):
    return features(params, x_NxD) @ params['head']['w'] + params['head']['b'][None, :]

  return core.Model(init, apply, features)


def blobs_family(*, ways: int = 3, shots: int = 2, query: int = 2, dim: int = 2,
                 split: str = 'train') -> core.TaskFamily:
  """N-way K-shot classification of Gaussian blobs: class means ``~ N(0, 4 I)``, unit noise.

  Labels are ``0..ways-1``, class-major (``y_S = [0]*shots + [1]*shots + ...``).
  """
  del split

  def sample(data, num_tasks, *, key):
    del data
    k_mean, k_x = jax.random.split(key)
    dtype = jnp.zeros(()).dtype  # float64 under enable_x64
    per_class = shots + query
    mean_TxNx1xD = 2.0 * jax.random.normal(k_mean, (num_tasks, ways, 1, dim), dtype)
    x_TxNxMxD = mean_TxNx1xD + jax.random.normal(k_x, (num_tasks, ways, per_class, dim), dtype)
    y_TxNxM = jnp.broadcast_to(jnp.arange(ways, dtype=jnp.int32)[None, :, None],
                               (num_tasks, ways, per_class))
    take = lambda a, lo, hi: a[:, :, lo:hi].reshape(num_tasks, ways * (hi - lo), *a.shape[3:])
    support = core.Split(take(x_TxNxMxD, 0, shots), take(y_TxNxM, 0, shots))
    return core.Task(support, core.Split(take(x_TxNxMxD, shots, per_class),
                                         take(y_TxNxM, shots, per_class)))

  info = {'dataset': 'blobs', 'ways': ways, 'shots': shots}
  return core.TaskFamily(sample, losses.cross_entropy, losses.classification_metrics,
                         'accuracy', ways, info)


def check_learner(factory, *, task: str = 'regression', settings: dict | None = None,
                  reference=None, tolerance: float = 1e-5) -> None:
  """The conformance checks every learner passes, on tiny tasks; raises AssertionError.

  1. ``meta_gradient`` with and without ``jit``, ``vmap`` and ``map``, agree and are finite.
  2. The meta-step traces once; meta-parameter shapes and dtypes stay the same over steps.
  3. The meta-gradient is exact (float64): it matches finite differences of ``meta_loss``, or
     ``reference(learner, family, model, meta_params, task) -> grads`` for learners whose
     meta-loss is a surrogate (first-order MAML, Reptile, iMAML).

  Args:
    factory: ``factory(model, loss, **settings) -> MetaLearner``.
    task: ``'regression'`` (``quadratic_family``) or ``'classification'`` (``blobs_family``).
    settings: keywords for the factory.
    reference: the exact meta-gradient, when ``meta_loss``'s own gradient is not.
    tolerance: relative error allowed in check 3.

  Example::

    testing.check_learner(my_learner, settings={'inner_lr': 0.1})
  """
  import chex  # test-time dependency of the library
  import optax
  from metaft import outer

  def setup():
    family = blobs_family() if task == 'classification' else quadratic_family()
    model = linear_model(num_outputs=family.num_outputs)
    learner = factory(model, family.loss, **(settings or {}))
    batch = family.draw(4, key=jax.random.key(0))
    return learner, family, model, batch, learner.init(jax.random.key(1), batch.support.x[0])

  learner, family, model, batch, meta_params = setup()
  results = []
  for task_map in outer.TASK_MAPS:
    fn = lambda p, t, k, m=task_map: outer.meta_gradient(learner, p, t, task_map=m, key=k)
    results += [fn(meta_params, batch, jax.random.key(2)),
                jax.jit(fn)(meta_params, batch, jax.random.key(2))]
  chex.assert_tree_all_finite(results[0])
  for other in results[1:]:
    chex.assert_trees_all_close(other, results[0], rtol=1e-4, atol=1e-6)

  chex.clear_trace_counter()
  traced = learner._replace(meta_loss=chex.assert_max_traces(learner.meta_loss, n=1))
  optimizer = optax.adam(1e-2)
  train = outer.make_train_fn(traced, optimizer, family, meta_batch=4, num_steps=3)
  state = outer.init_state(meta_params, optimizer)
  spec = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)
  for _ in range(3):
    state, metrics = train(state, family.data, jax.random.key(3))  # a retrace would raise
    assert spec(state['params']) == spec(meta_params), 'meta-parameters changed shape or dtype'
  chex.assert_tree_all_finite((state['params'], metrics))

  with jax.enable_x64(True):
    learner, family, model, batch, meta_params = setup()
    one = jax.tree.map(lambda x: x[0], batch)
    fn = jax.jit(lambda p: learner.meta_loss(p, one)[0])
    got = jax.flatten_util.ravel_pytree(jax.grad(fn)(meta_params))[0]
    want = (reference(learner, family, model, meta_params, one) if reference
            else finite_difference_grad(fn, meta_params))
    want = jax.flatten_util.ravel_pytree(want)[0]
    assert got.dtype == jnp.float64
    error = float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want))
    assert error < tolerance, f'meta-gradient relative error {error:.2e} >= {tolerance:.0e}'
