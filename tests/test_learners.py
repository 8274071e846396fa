"""What each learner of the zoo adds beyond the conformance suite: masks and ANIL's frozen
body, Meta-SGD's rates, prototypes, Reptile's update and test-time batch norm, iMAML's
implicit gradient and its memory."""

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metaft import core, evaluate, finetune, learners, models, outer, testing
from metaft.errors import UserError
from metaft.learners import masks


def _task(family, *, key=0):
  return jax.tree.map(lambda x: x[0], family.draw(1, key=jax.random.key(key)))


def _flat(tree):
  return jax.flatten_util.ravel_pytree(tree)[0]


def _grad(fn):
  return jax.jit(jax.grad(fn))


def _changed(a, b):
  return jax.tree.map(lambda x, y: bool(jnp.any(x != y)), a, b)


def test_path_masks_and_the_default_head():
  conv = {f'conv{i}': {'w': 0, 'b': 0} for i in range(4)}
  conv |= {'bn0': {'scale': 0}, 'head': {'w': 0}}
  assert masks.last_layer(conv) == 'head'
  assert masks.last_layer({f'Dense_{i}': {'kernel': 0} for i in (0, 2, 10)}) == 'Dense_10'
  mask = masks.path_mask(conv, masks.under('head'))
  assert mask['head'] == {'w': True} and mask['conv0'] == {'w': False, 'b': False}
  assert masks.path_mask([{'a': 1}], lambda p: p == '0/a') == [{'a': True}]


def test_freeze_gives_exactly_zero_updates_where_optax_masked_does_not():
  params = {'body': jnp.ones(3), 'head': jnp.ones(2)}
  grads = jax.tree.map(jnp.ones_like, params)
  trainable = {'body': False, 'head': True}
  for opt, body_moves in ((masks.freeze(optax.adam(0.1), trainable), False),
                          (optax.masked(optax.adam(0.1), trainable), True)):
    updates, _ = opt.update(grads, opt.init(params), params)
    assert bool(jnp.any(updates['body'] != 0)) == body_moves
    assert bool(jnp.all(updates['head'] != 0))


def test_anil_adapts_only_the_last_layer_of_the_sine_mlp():
  family = testing.quadratic_family()
  model = models.mlp(num_outputs=1, hidden=(8, 8))
  task = _task(family)
  # Adam, whose state would move every leaf it saw; eps_root keeps its second-order
  # derivative finite where a gradient entry is exactly zero (a dead ReLU).
  learner = learners.anil(model, family.loss, inner_opt=optax.adam(0.1, eps_root=1e-8))
  params = learner.init(jax.random.key(0), task.support.x)
  adapted = jax.jit(lambda p: learner.adapt(p, task.support, steps=3))(params)
  assert _changed(params, adapted) == {
      'Dense_0': {'kernel': False, 'bias': False}, 'Dense_1': {'kernel': False, 'bias': False},
      'Dense_2': {'kernel': True, 'bias': True}}
  # The body is still meta-learned: its meta-gradient is not zero.
  grads = _grad(lambda p: learner.meta_loss(p, task)[0])(params)
  chex.assert_tree_all_finite(grads)
  assert float(jnp.abs(grads['Dense_0']['kernel']).sum()) > 0


def test_anil_with_everything_as_head_is_maml():
  family = testing.quadratic_family()
  model = testing.tiny_mlp()
  task = _task(family)
  anil = learners.anil(model, family.loss, inner_lr=0.1, inner_steps=2, head=lambda p: True)
  maml = learners.maml(model, family.loss, inner_lr=0.1, inner_steps=2)
  params = maml.init(jax.random.key(0), task.support.x)
  grad = lambda l: _grad(lambda p: l.meta_loss(p, task)[0])(params)
  chex.assert_trees_all_close(grad(anil), grad(maml), rtol=1e-6)
  on_layer0 = learners.anil(model, family.loss, inner_lr=0.1, head='layer0')
  assert _changed(params, on_layer0.adapt(params, task.support)) == {
      'layer0': {'w': True, 'b': True}, 'head': {'w': False, 'b': False}}


def test_anil_on_conv4_computes_the_features_once_with_the_masked_optimizers_result():
  family = testing.blobs_family(ways=3, shots=2, query=2)
  images = lambda i, n: jax.random.normal(jax.random.key(i), (n, 28, 28, 1))
  labels = jnp.array([0, 0, 1, 1, 2, 2])
  task = core.Task(core.Split(images(1, 6), labels), core.Split(images(2, 6), labels))
  model = models.conv4(num_outputs=3, filters=4)
  fast = learners.anil(model, family.loss, inner_lr=0.4, inner_steps=3)  # features once
  masked = learners.anil(model, family.loss, inner_lr=0.4, inner_steps=3,
                         head=masks.under('head'))  # a full forward pass every step
  params = fast.init(jax.random.key(0), task.support.x)
  grad = lambda l: jax.jit(jax.value_and_grad(lambda p: l.meta_loss(p, task)[0]))(params)
  (fast_loss, fast_grad), (masked_loss, masked_grad) = grad(fast), grad(masked)
  np.testing.assert_allclose(fast_loss, masked_loss, rtol=1e-5)
  chex.assert_trees_all_close(fast_grad, masked_grad, rtol=1e-3, atol=1e-6)
  assert float(jnp.abs(fast_grad['conv0']['w']).sum()) > 0


def test_metasgd_rates_and_constant_rates_are_maml():
  family = testing.quadratic_family()
  model = testing.tiny_mlp()
  task = _task(family)
  meta = learners.metasgd(model, family.loss).init(jax.random.key(0), task.support.x)
  chex.assert_trees_all_equal_shapes_and_dtypes(meta['lrs'], meta['params'])
  rates = _flat(meta['lrs'])
  assert float(rates.min()) >= 0.005 and float(rates.max()) <= 0.1 and float(rates.std()) > 0
  learner = learners.metasgd(model, family.loss, inner_steps=2, init_lr=0.05)
  meta = learner.init(jax.random.key(0), task.support.x)
  maml = learners.maml(model, family.loss, inner_lr=0.05, inner_steps=2)
  grads = _grad(lambda m: learner.meta_loss(m, task)[0])(meta)
  chex.assert_trees_all_close(
      grads['params'], _grad(lambda p: maml.meta_loss(p, task)[0])(meta['params']), rtol=1e-5)
  assert float(jnp.abs(_flat(grads['lrs'])).sum()) > 0


def test_protonets_prototypes_are_class_means_and_logits_negative_distances():
  family = testing.blobs_family(ways=3, shots=4, query=2)
  model = testing.tiny_mlp(num_outputs=5)
  task = _task(family)
  learner = learners.protonets(model, family.loss, ways=3)
  params = learner.init(jax.random.key(0), task.support.x)
  adapted = jax.jit(learner.adapt)(params, task.support)
  emb_SxD = model.apply(params, task.support.x)
  protos = np.stack([emb_SxD[task.support.y == c].mean(0) for c in range(3)])
  np.testing.assert_allclose(adapted[1], protos, rtol=1e-5, atol=1e-6)
  logits = learner.predict(adapted, task.query.x)
  emb_QxD = model.apply(params, task.query.x)
  want = -((np.asarray(emb_QxD)[:, None] - protos[None]) ** 2).sum(-1)
  np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
  # Without `ways`, one column per support example; the extra (absent) classes are -inf.
  loose = learners.protonets(model, family.loss)
  wide = jax.jit(lambda p: loose.predict(loose.adapt(p, task.support), task.query.x))(params)
  assert wide.shape == (6, 12) and bool(jnp.all(wide[:, 3:] == -jnp.inf))
  np.testing.assert_allclose(wide[:, :3], logits, rtol=1e-6)  # float32: a few ulps apart
  chex.assert_trees_all_close(jax.jit(loose.meta_loss)(params, task),
                              jax.jit(learner.meta_loss)(params, task))


def test_protonets_embed_together_normalises_support_and_query_as_one_batch():
  family = testing.blobs_family(ways=3, shots=1, query=4)
  task = _task(family)
  images = lambda split, i: jax.random.normal(jax.random.key(i), (split.x.shape[0], 8, 8, 1))
  task = task._replace(support=task.support._replace(x=images(task.support, 1)),
                       query=task.query._replace(x=images(task.query, 2)))
  model = models.conv4(num_outputs=0, filters=4, blocks=2)  # batch norm on batch statistics
  apart = learners.protonets(model, family.loss, ways=3)
  together = learners.protonets(model, family.loss, ways=3, embed_together=True)
  params = apart.init(jax.random.key(0), task.support.x)
  logits = jax.jit(lambda p: together.predict(together.adapt(p, task.support),
                                              task.query.x))(params)
  emb = model.apply(params, jnp.concatenate([task.support.x, task.query.x]))
  want = -((np.asarray(emb[3:])[:, None] - np.asarray(emb[:3])[None]) ** 2).sum(-1)
  np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)  # 1 shot: prototype = example
  separate = apart.predict(apart.adapt(params, task.support), task.query.x)
  assert float(jnp.max(jnp.abs(separate - logits))) > 1e-3  # the statistics differ
  chex.assert_tree_all_finite(_grad(lambda p: together.meta_loss(p, task)[0])(params))


def test_protonets_class_missing_from_the_support_set_gets_no_votes():
  family = testing.blobs_family(ways=3, shots=2, query=2)
  model = testing.linear_model(num_outputs=4)
  task = _task(family)
  task = task._replace(support=task.support._replace(y=jnp.minimum(task.support.y, 1)))
  learner = learners.protonets(model, family.loss, ways=3)
  params = learner.init(jax.random.key(0), task.support.x)
  logits = learner.predict(learner.adapt(params, task.support), task.query.x)
  assert bool(jnp.all(logits[:, 2] == -jnp.inf)) and bool(jnp.all(jnp.isfinite(logits[:, :2])))
  query = task.query._replace(y=jnp.minimum(task.query.y, 1))
  chex.assert_tree_all_finite(
      _grad(lambda p: learner.meta_loss(p, task._replace(query=query))[0])(params))


def test_reptile_one_sgd_step_is_the_gradient_of_the_whole_task():
  family = testing.quadratic_family()
  model = testing.tiny_mlp()
  task = _task(family)
  learner = learners.reptile(model, family.loss, inner_steps=1, inner_opt=optax.sgd(0.1))
  params = learner.init(jax.random.key(0), task.support.x)
  both = core.Split(jnp.concatenate([task.support.x, task.query.x]),
                    jnp.concatenate([task.support.y, task.query.y]))
  want = _grad(lambda p: family.loss(model.apply(p, both.x), both.y))(params)
  got = _grad(lambda p: learner.meta_loss(p, task)[0])(params)
  chex.assert_trees_all_close(got, jax.tree.map(lambda g: 0.1 * g, want), rtol=1e-5)


def test_reptile_outer_sgd_at_one_moves_the_initialisation_to_the_adapted_parameters():
  family = testing.quadratic_family()
  learner = learners.reptile(testing.tiny_mlp(), family.loss, inner_lr=0.01, inner_steps=3)
  params = learner.init(jax.random.key(0), _task(family).support.x)
  train = outer.make_train_fn(learner, optax.sgd(1.0), family, meta_batch=1, num_steps=1)
  key = jax.random.key(5)
  sample_key, _ = jax.random.split(jax.random.fold_in(key, 0))  # as make_train_fn draws
  task = jax.tree.map(lambda x: x[0], family.sample(family.data, 1, key=sample_key))
  both = jax.tree.map(lambda s, q: jnp.concatenate([s, q]), task.support, task.query)
  phi = learner.adapt(params, both)
  state, _ = train(outer.init_state(params, optax.sgd(1.0)), family.data, key)
  chex.assert_trees_all_close(state['params'], phi, rtol=1e-5, atol=1e-6)


def test_reptile_carries_the_tasks_mean_inner_state_to_the_next_step_and_to_test_time():
  family = testing.quadratic_family()
  model = testing.tiny_mlp()
  learner = learners.reptile(model, family.loss, inner_lr=0.01, inner_steps=3,
                             carry_inner_state=True)
  meta = learner.init(jax.random.key(0), _task(family).support.x)
  assert meta['inner_state'][0].count.dtype == jnp.float32  # stored as a float
  train = outer.make_train_fn(learner, optax.sgd(1.0), family, meta_batch=2, num_steps=1)
  key = jax.random.key(5)
  sample_key, _ = jax.random.split(jax.random.fold_in(key, 0))  # as make_train_fn draws
  tasks = family.sample(family.data, 2, key=sample_key)
  base = finetune.make_adapt(model, family.loss, optax.adam(0.01, b1=0.0), 3)
  ends = [base(meta['params'], jax.tree.map(lambda x: x[i], tasks).merged(),
               opt_state=meta['inner_state']) for i in range(2)]
  state, _ = train(outer.init_state(meta, optax.sgd(1.0)), family.data, key)
  new = state['params']
  mean = lambda *xs: sum(xs) / len(xs)
  chex.assert_trees_all_close(new['params'], jax.tree.map(mean, *[p for p, _ in ends]),
                              rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(new['inner_state'], jax.tree.map(mean, *[s for _, s in ends]),
                              rtol=1e-5, atol=1e-7)
  assert float(new['inner_state'][0].count) == 3.0
  assert new['inner_state'][0].count.dtype == jnp.float32
  # Test time starts from the carried state, not afresh.
  support = _task(family).support
  carried = learner.adapt(new, support)
  fresh = learners.reptile(model, family.loss, inner_lr=0.01, inner_steps=3).adapt(
      new['params'], support)
  chex.assert_trees_all_close(carried, base(new['params'], support,
                                            opt_state=new['inner_state'])[0])
  assert not np.allclose(jax.flatten_util.ravel_pytree(carried)[0],
                         jax.flatten_util.ravel_pytree(fresh)[0])


def test_a_carried_entry_that_is_not_a_meta_parameter_is_named_in_the_error():
  family = testing.quadratic_family()
  base = learners.maml(testing.tiny_mlp(), family.loss)

  def meta_loss(params, task, *, key=None):
    loss, aux = base.meta_loss(params, task, key=key)
    return loss, {**aux, 'carry': {'stats': jnp.zeros(())}}

  learner = base._replace(meta_loss=meta_loss)
  params = learner.init(jax.random.key(0), _task(family).support.x)
  train = outer.make_train_fn(learner, optax.sgd(0.1), family, meta_batch=2, num_steps=1)
  with pytest.raises(UserError, match=r"aux\['carry'\] names \['stats'\], which are not"):
    train(outer.init_state(params, optax.sgd(0.1)), family.data, jax.random.key(1))


def test_reptile_non_transductive_normalises_each_query_with_the_support_set():
  family = testing.quadratic_family()
  model = testing.tiny_mlp(batch_norm=True)
  task = _task(family)
  trans = learners.reptile(model, family.loss, inner_steps=2)
  nontrans = learners.reptile(model, family.loss, inner_steps=2, transductive=False)
  params = trans.init(jax.random.key(0), task.support.x)
  adapted = jax.jit(nontrans.adapt)(params, task.support)
  chex.assert_trees_all_close(adapted['params'], jax.jit(trans.adapt)(params, task.support))
  predict, apply = jax.jit(nontrans.predict), jax.jit(model.apply)
  preds = predict(adapted, task.query.x)
  for i in range(task.query.x.shape[0]):
    alone = predict(adapted, task.query.x[i:i + 1])[0]
    with_support = apply(adapted['params'],
                         jnp.concatenate([task.support.x, task.query.x[i:i + 1]]))[-1]
    np.testing.assert_allclose(preds[i], alone, rtol=1e-5)
    np.testing.assert_allclose(preds[i], with_support, rtol=1e-5)
  assert float(jnp.abs(preds - trans.predict(adapted['params'], task.query.x)).max()) > 1e-3
  scores = evaluate.evaluate(nontrans, family, params, num_tasks=4, steps=2,
                             key=jax.random.key(1))
  assert np.all(np.isfinite(scores['mse']))


def test_reptile_without_batch_norm_is_the_same_either_way():
  family = testing.quadratic_family()
  task = _task(family)
  kinds = [learners.reptile(testing.tiny_mlp(), family.loss, transductive=t) for t in (1, 0)]
  params = kinds[0].init(jax.random.key(0), task.support.x)
  preds = [l.predict(l.adapt(params, task.support), task.query.x) for l in kinds]
  np.testing.assert_allclose(preds[0], preds[1], rtol=1e-5, atol=1e-6)


def test_imaml_matches_finite_differences_of_its_converged_inner_problem():
  with jax.enable_x64(True):
    family = testing.quadratic_family()
    task = _task(family)
    learner = learners.imaml(testing.tiny_mlp(hidden=4), family.loss, lam=2.0, inner_lr=0.1,
                             inner_steps=400, cg_steps=40)
    params = learner.init(jax.random.key(0), task.support.x)
    fn = jax.jit(lambda p: learner.meta_loss(p, task)[0])
    got, want = jax.grad(fn)(params), testing.finite_difference_grad(fn, params)
    err = lambda a: float(jnp.linalg.norm(_flat(a) - _flat(want)) / jnp.linalg.norm(_flat(want)))
    assert err(got) < 1e-5
    # cg_steps=0 is the first-order approximation: the query gradient at phi, visibly off.
    first = learners.imaml(testing.tiny_mlp(hidden=4), family.loss, lam=2.0, inner_lr=0.1,
                           inner_steps=400, cg_steps=0)
    phi = first.adapt(params, task.support)
    query_grad = _grad(lambda p: family.loss(first.predict(p, task.query.x), task.query.y))
    fo = _grad(lambda p: first.meta_loss(p, task)[0])(params)
    chex.assert_trees_all_close(fo, query_grad(phi))
    assert err(fo) > 1e-2


def test_proximal_maml_through_enough_inner_steps_has_imamls_meta_gradient():
  """MAML with ``l2_sp = lam`` differentiates through the inner loop of iMAML's proximal
  problem; once that loop has converged, its meta-gradient is the implicit one."""
  with jax.enable_x64(True):
    family = testing.quadratic_family()
    task = _task(family)
    model = testing.tiny_mlp(hidden=4)
    settings = dict(inner_lr=0.1, inner_steps=400)
    proximal = learners.maml(model, family.loss, l2_sp=2.0, **settings)
    implicit = learners.imaml(model, family.loss, lam=2.0, cg_steps=40, **settings)
    params = proximal.init(jax.random.key(0), task.support.x)
    chex.assert_trees_all_close(proximal.adapt(params, task.support),
                                implicit.adapt(params, task.support), rtol=1e-10)
    meta_grad = lambda learner: _grad(lambda p: learner.meta_loss(p, task)[0])(params)
    want = _flat(meta_grad(implicit))
    err = lambda g: float(jnp.linalg.norm(_flat(g) - want) / jnp.linalg.norm(want))
    assert err(meta_grad(proximal)) < 1e-6
    assert err(meta_grad(learners.maml(model, family.loss, **settings))) > 1e-2  # no l2_sp


def test_anil_and_metasgd_pass_l2_sp_to_the_shared_inner_loop():
  """Proximal ANIL (everything as head) and Meta-SGD (constant rates) are proximal MAML:
  the same meta-gradients, which differ from those without the proximal term."""
  family = testing.quadratic_family()
  model = testing.tiny_mlp()
  task = _task(family)
  settings = dict(inner_steps=3, l2_sp=5.0)
  maml = learners.maml(model, family.loss, inner_lr=0.05, **settings)
  params = maml.init(jax.random.key(0), task.support.x)
  grad = lambda l, p: _grad(lambda q: l.meta_loss(q, task)[0])(p)
  want = grad(maml, params)
  anil = learners.anil(model, family.loss, inner_lr=0.05, head=lambda p: True, **settings)
  chex.assert_trees_all_close(grad(anil, params), want, rtol=1e-6)
  metasgd = learners.metasgd(model, family.loss, init_lr=0.05, **settings)
  meta = metasgd.init(jax.random.key(0), task.support.x)
  chex.assert_trees_all_close(grad(metasgd, meta)['params'], grad(maml, meta['params']),
                              rtol=1e-5)
  plain = grad(learners.maml(model, family.loss, inner_lr=0.05, inner_steps=3), params)
  assert float(jnp.linalg.norm(_flat(plain) - _flat(want))) > 1e-3 * float(
      jnp.linalg.norm(_flat(want)))


def test_imaml_with_lam_zero_adapts_by_plain_descent_and_refuses_to_meta_train():
  """lam=0 is the authors' meta-test: plain gradient descent on the support loss."""
  family = testing.quadratic_family()
  task = _task(family)
  model = testing.tiny_mlp(hidden=4)
  plain, proximal = (learners.imaml(model, family.loss, lam=lam, inner_lr=0.1, inner_steps=5)
                     for lam in (0.0, 2.0))
  params = plain.init(jax.random.key(0), task.support.x)
  sgd = learners.maml(model, family.loss, inner_lr=0.1, inner_steps=5)
  chex.assert_trees_all_close(plain.adapt(params, task.support),
                              sgd.adapt(params, task.support), rtol=1e-6, atol=1e-7)
  gap = _flat(proximal.adapt(params, task.support)) - _flat(sgd.adapt(params, task.support))
  assert float(jnp.linalg.norm(gap)) > 1e-3  # the proximal term pulls toward theta
  with pytest.raises(UserError, match=r'lam=0 \(or cg_lam=0\) only adapts; meta-train with'):
    plain.meta_loss(params, task)
  with pytest.raises(UserError, match='lam and cg_lam >= 0, got .*lam=-1.0'):
    learners.imaml(model, family.loss, lam=-1.0)


def test_imaml_reproduces_the_authors_inner_loop_and_cg_system():
  """pull_back: plain steps, then one step on the proximal term alone; cg_lam: the lambda
  of the CG system, here solved exactly and compared with the dense solve."""
  with jax.enable_x64(True):
    family = testing.quadratic_family()
    task = _task(family)
    model = testing.tiny_mlp(hidden=4)
    pull = learners.imaml(model, family.loss, lam=2.0, inner_lr=0.1, inner_steps=5,
                          pull_back=True)
    params = pull.init(jax.random.key(0), task.support.x)
    theta = _flat(params)
    plain = _flat(learners.maml(model, family.loss, inner_lr=0.1, inner_steps=5).adapt(
        params, task.support))
    np.testing.assert_allclose(_flat(pull.adapt(params, task.support)) - theta,
                               (1 - 0.1 * 2.0) * (plain - theta), rtol=1e-10, atol=1e-12)
    learner = learners.imaml(model, family.loss, lam=2.0, inner_lr=0.1, inner_steps=50,
                             cg_steps=60, cg_lam=7.0, pull_back=True)
    phi = learner.adapt(params, task.support)
    flat_phi, unravel = jax.flatten_util.ravel_pytree(phi)
    support = lambda f: family.loss(model.apply(unravel(f), task.support.x), task.support.y)
    hessian = jax.hessian(support)(flat_phi)
    g = _flat(_grad(lambda p: family.loss(model.apply(p, task.query.x), task.query.y))(phi))
    want = jnp.linalg.solve(jnp.eye(g.size) + hessian / 7.0, g)
    got = _flat(_grad(lambda p: learner.meta_loss(p, task)[0])(params))
    assert float(jnp.linalg.norm(got - want) / jnp.linalg.norm(want)) < 1e-6
    assert float(jnp.linalg.norm(got - g) / jnp.linalg.norm(g)) > 1e-3  # not first order


def test_truncated_cg_solves_and_stops_at_negative_curvature():
  from metaft.learners.cg import truncated_cg
  a = jnp.array([[4.0, 1.0], [1.0, 3.0]])
  b = jnp.array([1.0, 2.0])
  x = truncated_cg(lambda v: a @ v, b, x0=jnp.zeros(2), steps=2)
  np.testing.assert_allclose(x, jnp.linalg.solve(a, b), rtol=1e-5)
  indefinite = jnp.diag(jnp.array([1.0, -1.0]))
  x = truncated_cg(lambda v: indefinite @ v, jnp.array([0.0, 1.0]), x0=b, steps=5)
  np.testing.assert_array_equal(x, b)  # the first direction has negative curvature


def _meta_gradient_temp_bytes(name, inner_steps):
  family = testing.quadratic_family()
  learner = getattr(learners, name)(testing.tiny_mlp(hidden=64), family.loss,
                                    inner_steps=inner_steps)
  batch = family.draw(8, key=jax.random.key(0))
  params = learner.init(jax.random.key(1), batch.support.x[0])
  fn = jax.jit(lambda p, t, k: outer.meta_gradient(learner, p, t, key=k))
  stats = fn.lower(params, batch, jax.random.key(2)).compile().memory_analysis()
  return stats.temp_size_in_bytes


@pytest.mark.parametrize('name, grows', [('imaml', False), ('maml', True)])
def test_meta_gradient_memory_against_inner_steps(name, grows):
  few, many = (_meta_gradient_temp_bytes(name, n) for n in (5, 50))
  assert few > 0
  if grows:  # MAML keeps every inner step for the backward pass: the check can see growth
    assert many > 3 * few
  else:
    assert many <= few
