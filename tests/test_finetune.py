"""Fine-tuning as meta-adaptation, the distillation learners and the KD loss."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metaft import core, data, finetune, learners, losses, models, outer, runner, testing
from metaft.errors import UserError
from metaft.learners import masks


def _quadratic(target):
  return lambda p: jnp.sum(jnp.square(p['w'] - target))


def test_early_stopping_returns_the_best_validated_parameters():
  # Train toward 2, validate toward 1: the best iterate is the one closest to 1.
  params = {'w': jnp.zeros(())}
  fn = lambda p: jnp.square(p['w'] - 2.0)
  validate = lambda p: jnp.square(p['w'] - 1.0)
  path, _ = zip(*[core.inner_loop(fn, params, optax.sgd(0.1), n) for n in range(11)])
  best = min(path, key=lambda p: float(validate(p)))
  got, losses_ = core.inner_loop(fn, params, optax.sgd(0.1), 10, validate=validate)
  np.testing.assert_allclose(got['w'], best['w'], rtol=1e-6)
  assert 0.9 < float(got['w']) < 1.1 and losses_.shape == (10,)


def test_patience_stops_updates_after_that_many_evaluations_without_improvement():
  params = {'w': jnp.zeros(())}
  fn = lambda p: jnp.square(p['w'] - 2.0)  # SGD iterates 0, 0.4, 0.72, 0.976, ...
  validate = lambda p: jnp.square(p['w'] - 0.5)  # best at 0.4, worse at 0.72 and 0.976
  got, losses_ = core.inner_loop(fn, params, optax.sgd(0.1), 50, validate=validate, patience=2)
  np.testing.assert_allclose(got['w'], 0.4, rtol=1e-6)
  # Updates stop at 0.976, two evaluations after the best: the loss stays there.
  np.testing.assert_allclose(losses_[3:], np.full(47, (2 - 0.976) ** 2), rtol=1e-5)
  _, running = core.inner_loop(fn, params, optax.sgd(0.1), 50, validate=validate)
  assert float(running[-1]) < 1e-6  # without patience it keeps training
  with pytest.raises(UserError, match='patience=2 needs a validate function'):
    core.inner_loop(fn, params, optax.sgd(0.1), 5, patience=2)


def _blobs_task(ways=3, shots=4):
  family = testing.blobs_family(ways=ways, shots=shots, query=5, dim=4)
  return jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0)))


def test_new_head_zero_and_prototype_initialisation():
  task = _blobs_task()
  model = testing.tiny_mlp(num_outputs=7)
  params = model.init(jax.random.key(1), task.support.x)
  zero = finetune.replace_head(model, params, task.support, 3)
  assert zero['head']['w'].shape[-1] == 3 and not np.any(zero['head']['w'])
  proto = finetune.replace_head(model, params, task.support, 3, init='prototypes')
  # The prototype head classifies as the nearest class mean of the features (ProtoNets).
  identity = {'w': jnp.eye(zero['head']['w'].shape[0]), 'b': jnp.zeros(zero['head']['w'].shape[0])}
  feats = lambda x: model.apply({**params, 'head': identity}, x)
  protos = jnp.stack([feats(task.support.x)[task.support.y == c].mean(0) for c in range(3)])
  dist = jnp.sum(jnp.square(feats(task.query.x)[:, None] - protos[None]), -1)
  np.testing.assert_array_equal(jnp.argmax(model.apply(proto, task.query.x), -1),
                                jnp.argmin(dist, -1))
  with pytest.raises(UserError, match="head init must be one of"):
    finetune.replace_head(model, params, task.support, 3, init='random')


def test_finetune_with_a_mask_and_a_new_head_trains_only_the_head():
  task = _blobs_task()
  model = testing.tiny_mlp(num_outputs=7)
  params = model.init(jax.random.key(1), task.support.x)
  adapted = finetune.finetune(model, losses.cross_entropy, params, task.support, steps=50,
                              optimizer=optax.adam(0.1), trainable='head', new_head=3)
  np.testing.assert_array_equal(adapted['layer0']['w'], params['layer0']['w'])
  before = losses.cross_entropy(model.apply(
      finetune.replace_head(model, params, task.support, 3), task.support.x), task.support.y)
  after = losses.cross_entropy(model.apply(adapted, task.support.x), task.support.y)
  assert float(after) < 0.5 * float(before)


@pytest.mark.parametrize('options', [dict(), dict(holdout=0.25, patience=3),
                                     dict(new_head=3, head_init='prototypes')])
@pytest.mark.parametrize('first_order', [False, True])
def test_head_only_adaptation_computes_the_features_once_with_the_same_result(options,
                                                                              first_order):
  task = _blobs_task(shots=4)
  fast = testing.tiny_mlp(num_outputs=3, batch_norm=True)  # declares its features
  slow = fast._replace(features=None)  # the same function: a full forward pass every step
  params = fast.init(jax.random.key(1), task.support.x)

  def query_loss(model, p):
    adapt = finetune.make_adapt(model, losses.cross_entropy, optax.adam(0.1), 5,
                                first_order=first_order, trainable='head', **options)
    adapted = adapt(p, task.support, key=jax.random.key(2))
    return losses.cross_entropy(model.apply(adapted, task.query.x), task.query.y), adapted

  (fast_loss, fast_adapted), fast_grad = jax.value_and_grad(
      lambda p: query_loss(fast, p), has_aux=True)(params)
  (slow_loss, slow_adapted), slow_grad = jax.value_and_grad(
      lambda p: query_loss(slow, p), has_aux=True)(params)
  chex.assert_trees_all_close(fast_adapted, slow_adapted, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(fast_loss, slow_loss, rtol=1e-5)
  chex.assert_trees_all_close(fast_grad, slow_grad, rtol=1e-4, atol=1e-6)
  np.testing.assert_array_equal(fast_adapted['layer0']['w'], params['layer0']['w'])
  assert float(jnp.abs(fast_grad['layer0']['w']).sum()) > 0  # the body is meta-learned


def test_conv4_head_only_fine_tuning_uses_its_features():
  family = testing.blobs_family(ways=3, shots=2, query=2)
  x = jax.random.normal(jax.random.key(0), (6, 28, 28, 1))
  support = core.Split(x, jnp.array([0, 0, 1, 1, 2, 2]))
  model = models.conv4(num_outputs=3, filters=4)
  params = model.init(jax.random.key(1), x)
  adapted = [finetune.finetune(m, family.loss, params, support, steps=3, trainable='head',
                               key=jax.random.key(2))
             for m in (model, model._replace(features=None))]
  chex.assert_trees_all_close(adapted[0], adapted[1], rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(adapted[0]['head']['w'] - params['head']['w']).max()) > 1e-4


def _linear_model():
  return core.Model(lambda key, x: {'w': jnp.zeros((x.shape[-1], 1))},
                    lambda params, x: x @ params['w'])


def test_l2_sp_adapts_to_the_ridge_solution_around_the_starting_point():
  """With ``l2_sp = a`` the fixed point of the support loss (mean squared error) plus
  ``a/2 ||w - w0||^2`` is ``((2/N) X'X + a I)^-1 ((2/N) X'y + a w0)``; 0 is plain fine-tuning."""
  x = jax.random.normal(jax.random.key(0), (8, 3))
  y = x @ jnp.array([[1.0], [-2.0], [0.5]]) + 0.3 * jax.random.normal(jax.random.key(1), (8, 1))
  support, w0 = core.Split(x, y), {'w': jnp.array([[3.0], [3.0], [3.0]])}
  model, a, n = _linear_model(), 0.5, x.shape[0]
  adapt = lambda lr=0.05, **kw: jax.jit(finetune.make_adapt(
      model, losses.mse, optax.sgd(lr), 2000, **kw))(w0, support)
  ridge = jnp.linalg.solve(2 / n * x.T @ x + a * jnp.eye(3), 2 / n * x.T @ y + a * w0['w'])
  np.testing.assert_allclose(adapt(l2_sp=a)['w'], ridge, rtol=1e-4, atol=1e-5)
  least_squares = jnp.linalg.lstsq(x, y)[0]
  chex.assert_trees_all_close(adapt(l2_sp=0.0), adapt(), {'w': least_squares}, atol=1e-4)
  # Minibatches are penalised too: a heavy weight keeps w near w0, none lets it go.
  near = lambda **kw: float(jnp.max(jnp.abs(adapt(1e-3, batch_size=4, **kw)['w'] - w0['w'])))
  assert near(l2_sp=1000.0) < 0.05 < 1.0 < near()
  with pytest.raises(UserError, match=r'l2_sp must be a number >= 0 .* got l2_sp=-1.0'):
    finetune.make_adapt(model, losses.mse, optax.sgd(0.1), 5, l2_sp=-1.0)


def test_holdout_errors_name_the_problem():
  task = _blobs_task(shots=1)
  model = testing.tiny_mlp(num_outputs=3)
  with pytest.raises(UserError, match=r'holdout must be a fraction in \(0, 1\)'):
    finetune.make_adapt(model, losses.cross_entropy, optax.sgd(0.1), 5, holdout=1.5)
  with pytest.raises(UserError, match='patience needs a held-out part'):
    finetune.make_adapt(model, losses.cross_entropy, optax.sgd(0.1), 5, patience=3)
  adapt = finetune.make_adapt(model, losses.cross_entropy, optax.sgd(0.1), 5, holdout=0.9)
  with pytest.raises(UserError, match='the support set has 3 examples'):
    adapt(model.init(jax.random.key(0), task.support.x), task.support)


def test_params_round_trip_through_npz_and_a_runner_checkpoint(tmp_path):
  runner.run('sine_pretrain:smoke', str(tmp_path / 'run'), progress=False)
  model, params = finetune.load_model(tmp_path / 'run')
  finetune.save_params(tmp_path / 'p.npz', params)
  again = finetune.load_params(tmp_path / 'p.npz')
  chex.assert_trees_all_equal(params, again)
  x = jnp.linspace(-5, 5, 7)[:, None]
  assert model.apply(params, x).shape == (7, 1)
  with pytest.raises(UserError, match='is neither a .npz parameter file nor a workdir'):
    finetune.load_params(tmp_path / 'nowhere')


def test_finetune_experiment_from_a_checkpoint_on_a_task_file(tmp_path):
  rows = runner.run('finetune:smoke', str(tmp_path), progress=False)
  assert [r['adapt_steps'] for r in rows] == [0, 20]
  assert rows[1]['support_loss'] < rows[0]['support_loss']
  assert json.loads((tmp_path / 'results.json').read_text()) == rows
  outputs = np.load(tmp_path / 'predictions.npz')['query_outputs']
  task, has_labels = data.load_task(tmp_path / 'task.npz')
  assert has_labels and outputs.shape == task.query.y.shape
  adapted = finetune.load_params(tmp_path / 'adapted.npz')
  _, pretrained = finetune.load_model(tmp_path / 'pretrained')
  assert jax.tree.structure(adapted) == jax.tree.structure(pretrained)


def test_task_file_errors(tmp_path):
  np.savez(tmp_path / 'bad.npz', support_x=np.zeros((3, 1)))
  with pytest.raises(UserError, match='lacks support_y, query_x; it has support_x'):
    data.load_task(tmp_path / 'bad.npz')
  np.savez(tmp_path / 'short.npz', support_x=np.zeros((3, 1)), support_y=np.zeros(2),
           query_x=np.zeros((1, 1)))
  with pytest.raises(UserError, match='support_x has 3 examples but support_y has 2'):
    data.load_task(tmp_path / 'short.npz')
  runner.run('finetune:smoke', str(tmp_path / 'ok'), progress=False)
  np.savez(tmp_path / 'images.npz', support_x=np.zeros((2, 28, 28, 1)),
           support_y=np.zeros((2, 1)), query_x=np.zeros((1, 28, 28, 1)))
  with pytest.raises(UserError, match=r"does not take the task's inputs of shape \(28, 28, 1\)"):
    runner.run('finetune:smoke', str(tmp_path / 'ok'),
               {'task_file': str(tmp_path / 'images.npz')}, progress=False)


def test_distillation_loss():
  s, t = jax.random.normal(jax.random.key(0), (2, 6, 5))
  assert float(losses.distillation(t, t, 3.0)) == pytest.approx(0.0, abs=1e-6)
  p_t, log_p_s = jax.nn.softmax(t / 3.0), jax.nn.log_softmax(s / 3.0)
  want = 9.0 * jnp.mean(jnp.sum(p_t * (jnp.log(p_t) - log_p_s), -1))
  np.testing.assert_allclose(losses.distillation(s, t, 3.0), want, rtol=1e-5)


def test_metadistil_teacher_gradient_matches_finite_differences():
  """d quiz_loss(S - lr grad_S L(S, T)) / dT, second order through the pilot step."""
  with jax.enable_x64(True):
    task = _blobs_task(ways=3, shots=2)
    task = jax.tree.map(lambda a: a.astype(jnp.float64) if a.dtype.kind == 'f' else a, task)
    model = testing.linear_model(num_outputs=3)
    learner = learners.metadistil(model, losses.cross_entropy, alpha=0.3, pilot_lr=0.5)
    params = learner.init(jax.random.key(3), task.support.x)
    grad = jax.grad(lambda p: learner.meta_loss(p, task)[0])(params)['teacher']
    quiz = lambda t: learner.meta_loss({**params, 'teacher': t}, task)[1]['quiz_loss']
    want = testing.finite_difference_grad(jax.jit(quiz), params['teacher'])
    g, w = (jax.flatten_util.ravel_pytree(v)[0] for v in (grad, want))
    assert float(jnp.linalg.norm(w)) > 1e-3  # the teacher does get a learning signal
    assert float(jnp.linalg.norm(g - w) / jnp.linalg.norm(w)) < 1e-6


def test_born_again_keeps_its_teacher_and_loads_it_from_a_run(tmp_path):
  runner.run('sine_pretrain:smoke', str(tmp_path / 'teacher'), progress=False)
  family = data.sine(shots=5, query=5)
  model = models.mlp(num_outputs=1)
  learner = learners.born_again(model, losses.mse, teacher=str(tmp_path / 'teacher'))
  meta_params = learner.init(jax.random.key(0), family.draw(1, key=jax.random.key(1)).support.x[0])
  _, teacher = finetune.load_model(tmp_path / 'teacher')
  chex.assert_trees_all_equal(meta_params['teacher'], teacher)
  optimizer = optax.adam(1e-2)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=4, num_steps=5)
  state, _ = train(outer.init_state(meta_params, optimizer), family.data, jax.random.key(2))
  chex.assert_trees_all_equal(state['params']['teacher'], teacher)
  assert not np.array_equal(state['params']['student']['Dense_0']['kernel'],
                            meta_params['student']['Dense_0']['kernel'])
  with pytest.raises(UserError, match='teacher must be a runner workdir'):
    learners.born_again(model, losses.mse, teacher=3)


def test_maml_meta_learns_a_network_whose_tasks_adapt_only_its_activations():
  family = data.sine(shots=5, query=5)
  model = models.mlp(num_outputs=1, hidden=(8, 8), activation='prelu')
  learner = learners.maml(model, losses.mse, inner_lr=0.1, trainable='activations')
  task = jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0)))
  params = learner.init(jax.random.key(1), task.support.x)
  adapted = learner.adapt(params, task.support)
  paths = [masks.path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
  changed = {p for p, a, b in zip(paths, jax.tree.leaves(params), jax.tree.leaves(adapted))
             if not np.array_equal(a, b)}
  assert changed == {'act0/slope', 'act1/slope'}
  grads = jax.grad(lambda p: learner.meta_loss(p, task)[0])(params)
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads))  # all meta-learned


def test_inner_loop_takes_one_batch_per_step():
  targets = jnp.array([1.0, -2.0, 3.0])
  fn = lambda p, t: jnp.square(p['w'] - t)
  got, losses_ = core.inner_loop(fn, {'w': jnp.zeros(())}, optax.sgd(0.25), 3, batches=targets)
  w, want = 0.0, []
  for t in (1.0, -2.0, 3.0):
    want.append((w - t) ** 2)
    w -= 0.25 * 2 * (w - t)
  np.testing.assert_allclose(losses_, want, rtol=1e-6)
  np.testing.assert_allclose(got['w'], w, rtol=1e-6)


def test_reptile_inner_minibatches_are_random_subsets_of_the_task():
  family = data.sine(shots=10, query=10)
  task = jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0)))
  both = jax.tree.map(lambda s, q: jnp.concatenate([s, q]), task.support, task.query)
  model = models.mlp(num_outputs=1, hidden=(8,))
  learner = learners.reptile(model, losses.mse, inner_lr=0.01, inner_steps=4, inner_batch=5)
  params = learner.init(jax.random.key(1), both.x)
  key = jax.random.key(2)
  got = learner.adapt(params, both, key=key)
  # The same steps by hand: Adam (b1=0) on the minibatches make_adapt draws.
  batches = finetune.minibatches(both, 5, 4, key=jax.random.fold_in(key, 1))
  assert batches.x.shape == (4, 5, 1)
  for step in range(4):  # each minibatch: 5 distinct examples of the task
    rows = {tuple(np.asarray(r)) for r in batches.x[step]}
    assert len(rows) == 5 and rows <= {tuple(np.asarray(r)) for r in both.x}
  opt = optax.adam(0.01, b1=0.0)
  p, state = params, opt.init(params)
  for step in range(4):
    batch = jax.tree.map(lambda a: a[step], batches)
    g = jax.grad(lambda q: losses.mse(model.apply(q, batch.x), batch.y))(p)
    updates, state = opt.update(g, state, p)
    p = optax.apply_updates(p, updates)
  chex.assert_trees_all_close(got, p, rtol=1e-5, atol=1e-7)
  full = learners.reptile(model, losses.mse, inner_lr=0.01, inner_steps=4).adapt(params, both)
  assert not np.allclose(jax.tree.leaves(full)[0], jax.tree.leaves(got)[0])


def test_adapt_rejects_an_optimizer_state_of_another_optimizer():
  model = testing.tiny_mlp()
  family = testing.quadratic_family()
  support = family.draw(1, key=jax.random.key(0)).support
  support = jax.tree.map(lambda x: x[0], support)
  params = model.init(jax.random.key(1), support.x)
  adapt = finetune.make_adapt(model, family.loss, optax.adam(0.1), 2)
  with pytest.raises(UserError, match="opt_state has 1 arrays but the inner optimizer's state"):
    adapt(params, support, opt_state=optax.scale_by_schedule(lambda n: 1.0).init(params))
