"""The inner loop, MAML's meta-gradients and the shared outer step."""

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metaft import core, learners, losses, outer, testing


def _setup(learner_fn, *, x64=False, inner_steps=3, inner_lr=0.1, tasks=4):
  family = testing.quadratic_family()
  model = testing.linear_model()
  learner = learner_fn(model, family.loss, inner_lr=inner_lr, inner_steps=inner_steps)
  batch = family.draw(tasks, key=jax.random.key(0))
  params = learner.init(jax.random.key(1), batch.support.x[0])
  return learner, batch, params


def _rel_err(a, b):
  a, b = (jax.flatten_util.ravel_pytree(t)[0] for t in (a, b))
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def test_inner_loop_zero_steps_is_identity_and_steps_descend():
  fn = lambda p: jnp.sum((p - 3.0) ** 2)
  p0 = jnp.zeros(4)
  same, losses0 = core.inner_loop(fn, p0, optax.sgd(0.1), 0)
  np.testing.assert_array_equal(same, p0)
  assert losses0.shape == (0,)
  p5, losses5 = core.inner_loop(fn, p0, optax.sgd(0.1), 5)
  # Each SGD step on (p-3)^2 multiplies the distance to 3 by 1 - 2 * 0.1.
  np.testing.assert_allclose(p5, 3.0 - 3.0 * 0.8 ** 5, rtol=1e-6)
  assert np.all(np.diff(np.asarray(losses5)) < 0)


def test_maml_meta_gradient_matches_finite_differences():
  with jax.enable_x64(True):
    learner, batch, params = _setup(learners.maml, inner_steps=3)
    task = jax.tree.map(lambda x: x[0], batch)
    fn = lambda p: learner.meta_loss(p, task)[0]
    exact = jax.grad(fn)(params)
    numeric = testing.finite_difference_grad(fn, params)
    assert _rel_err(exact, numeric) < 1e-3
    # The test can tell first from second order: the first-order gradient is far off.
    fo_learner, _, _ = _setup(learners.fomaml, inner_steps=3)
    first_order = jax.grad(lambda p: fo_learner.meta_loss(p, task)[0])(params)
    assert _rel_err(first_order, numeric) > 1e-2


def test_fomaml_gradient_is_query_gradient_at_adapted_params():
  learner, batch, params = _setup(learners.fomaml, inner_steps=2)
  task = jax.tree.map(lambda x: x[0], batch)
  model = testing.linear_model()
  adapted = learner.adapt(params, task.support)
  expected = jax.grad(
      lambda p: losses.mse(model.apply(p, task.query.x), task.query.y))(adapted)
  got = jax.grad(lambda p: learner.meta_loss(p, task)[0])(params)
  chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', ['maml', 'fomaml', 'pretrain'])
def test_jit_and_no_jit_agree_and_task_maps_agree(name):
  learner, batch, params = _setup(getattr(learners, name))
  key = jax.random.key(2)
  results = []
  for task_map in outer.TASK_MAPS:
    fn = lambda p, t, k, m=task_map: outer.meta_gradient(learner, p, t, task_map=m, key=k)
    results.append(fn(params, batch, key))
    results.append(jax.jit(fn)(params, batch, key))
  for other in results[1:]:
    chex.assert_trees_all_close(other, results[0], rtol=1e-5, atol=1e-6)
  chex.assert_tree_all_finite(results[0])


def test_pretrain_adapts_like_maml():
  maml, batch, params = _setup(learners.maml)
  pre, _, _ = _setup(learners.pretrain)
  support = jax.tree.map(lambda x: x[0], batch).support
  chex.assert_trees_all_close(pre.adapt(params, support, steps=4),
                              maml.adapt(params, support, steps=4))


@pytest.mark.parametrize('task_map', outer.TASK_MAPS)
def test_train_fn_traces_once_and_learns(task_map):
  chex.clear_trace_counter()  # the counter is keyed by function, shared across parameters
  learner, _, params = _setup(learners.maml, inner_steps=1, inner_lr=0.05)
  learner = learner._replace(meta_loss=chex.assert_max_traces(learner.meta_loss, n=1))
  family = testing.quadratic_family()
  optimizer = optax.adam(1e-2)
  state = outer.init_state(params, optimizer)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=8, num_steps=50,
                              task_map=task_map)
  state, first = train(state, family.data, jax.random.key(3))
  shapes = jax.tree.map(lambda x: (x.shape, x.dtype), state['params'])
  for _ in range(3):
    state, last = train(state, family.data, jax.random.key(3))  # a retrace would raise here
  assert int(state['step']) == 200
  assert jax.tree.map(lambda x: (x.shape, x.dtype), state['params']) == shapes
  assert float(last['loss'].mean()) < 0.75 * float(first['loss'][:5].mean())
  # Task weights are N(1, 1), so the best initialisation is near w = 1.
  np.testing.assert_allclose(state['params']['w'], 1.0, atol=0.2)


def test_same_seed_same_numbers():
  learner, _, params = _setup(learners.maml)
  family = testing.quadratic_family()
  optimizer = optax.adam(1e-2)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=4, num_steps=5)
  a = train(outer.init_state(params, optimizer), family.data, jax.random.key(7))
  b = train(outer.init_state(params, optimizer), family.data, jax.random.key(7))
  chex.assert_trees_all_equal(a, b)


def test_unknown_task_map_is_a_clear_error():
  learner, _, _ = _setup(learners.maml)
  with pytest.raises(Exception, match="task_map must be one of"):
    outer.make_train_fn(learner, optax.sgd(1.0), None, meta_batch=1, num_steps=1,
                        task_map='pmap')


@pytest.mark.parametrize('task_map', outer.TASK_MAPS)
def test_sharded_meta_step_equals_unsharded(task_map):
  assert jax.device_count() == 4  # conftest's fake CPU devices
  learner, _, params = _setup(learners.maml, inner_steps=2)
  family = testing.quadratic_family()
  optimizer = optax.adam(1e-2)
  results = []
  for mesh in (None, outer.task_mesh(4), outer.task_mesh(2)):
    train = outer.make_train_fn(learner, optimizer, family, meta_batch=8, num_steps=3,
                                task_map=task_map, mesh=mesh)
    results.append(train(outer.init_state(params, optimizer), family.data, jax.random.key(5)))
  for other in results[1:]:
    chex.assert_trees_all_close(other, results[0], rtol=1e-5, atol=1e-6)
  state = results[1][0]
  assert len(state['params']['w'].sharding.device_set) == 4  # replicated over the mesh


def test_uneven_meta_batch_over_devices_is_a_clear_error():
  learner, batch, params = _setup(learners.maml, tasks=6)
  with pytest.raises(Exception, match='must divide evenly over the 4 devices'):
    outer.meta_gradient(learner, params, batch, mesh=outer.task_mesh(4), key=jax.random.key(0))
  with pytest.raises(Exception, match='num_devices=9 but 4 devices are visible'):
    outer.task_mesh(9)


def test_init_state_copies_and_strips_weak_types():
  params = {'log_lr': jnp.log(jnp.asarray(0.01)), 'w': jnp.ones(3)}
  assert params['log_lr'].weak_type
  state = outer.init_state(params, optax.adam(1e-3))
  assert not state['params']['log_lr'].weak_type  # else the step would compile twice
  assert state['params']['w'] is not params['w']  # donation must not delete the caller's


def test_inner_loop_continued_from_its_returned_state_is_one_longer_loop():
  fn = lambda p: jnp.sum(jnp.square(p['w'] - jnp.arange(3.0)) * jnp.array([1.0, 4.0, 9.0]))
  p0, opt = {'w': jnp.zeros(3)}, optax.adam(0.1)
  p3, _, state = core.inner_loop(fn, p0, opt, 3, return_state=True)
  p5, _, state5 = core.inner_loop(fn, p3, opt, 2, opt_state=state, return_state=True)
  want, _, want_state = core.inner_loop(fn, p0, opt, 5, return_state=True)
  chex.assert_trees_all_close((p5, state5), (want, want_state), rtol=1e-6)
  assert int(state5[0].count) == 5
