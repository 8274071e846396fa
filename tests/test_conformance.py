"""One conformance suite over every learner in ``metaft.learners.__all__``, on tiny tasks.

A learner added to ``metaft.learners`` is picked up automatically; each also trains a few
meta-steps of Conv-4 on real Omniglot tasks (skipped when the data set is absent). A factory may carry a
``conformance`` dict: ``settings`` (keywords for the tiny tasks) and ``task``
(``'regression'``, the default: ``testing.quadratic_family``; or ``'classification'``:
``testing.blobs_family``). Its meta-gradient must match finite differences of its meta-loss,
unless the meta-loss is a surrogate and ``REFERENCE`` below gives the exact gradient.
"""

import functools
import inspect

import chex
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metaft import evaluate, learners, models, outer, testing
from metaft.errors import UserError

NAMES = list(learners.__all__)


def _spec(name):
  spec = {'task': 'regression', 'settings': {}}
  spec.update(getattr(getattr(learners, name), 'conformance', {}))
  return spec


def _setup(name, *, tasks=4):
  spec = _spec(name)
  family = (testing.blobs_family() if spec['task'] == 'classification'
            else testing.quadratic_family())
  model = testing.linear_model(num_outputs=family.num_outputs)
  learner = getattr(learners, name)(model, family.loss, **spec['settings'])
  batch = family.draw(tasks, key=jax.random.key(0))
  meta_params = learner.init(jax.random.key(1), batch.support.x[0])
  return learner, family, model, batch, meta_params


def _flat(tree):
  return jax.flatten_util.ravel_pytree(tree)[0]


def _setting(name, key):
  return _spec(name)['settings'].get(
      key, inspect.signature(getattr(learners, name)).parameters[key].default)


def _query_loss(family, model, params, split):
  return family.loss(model.apply(params, split.x), split.y)


def _fomaml_reference(name, learner, family, model, params, task):
  """First-order MAML: the query gradient at the adapted parameters."""
  adapted = learner.adapt(params, task.support)
  return jax.grad(lambda p: _query_loss(family, model, p, task.query))(adapted)


def _reptile_reference(name, learner, family, model, params, task):
  """Reptile: theta - phi, phi adapted on the whole task (a carried inner state: zero)."""
  both = jax.tree.map(lambda s, q: jnp.concatenate([s, q]), task.support, task.query)
  phi = learner.adapt(params, both)
  if 'inner_state' not in params:
    return jax.tree.map(jnp.subtract, params, phi)
  return {'params': jax.tree.map(jnp.subtract, params['params'], phi),
          'inner_state': jax.tree.map(jnp.zeros_like, params['inner_state'])}


def _imaml_reference(name, learner, family, model, params, task):
  """The implicit gradient ``(I + H / lam)^-1 grad L_q(phi)``, solved densely."""
  phi = learner.adapt(params, task.support)
  flat_phi, unravel = jax.flatten_util.ravel_pytree(phi)
  hessian = jax.hessian(lambda f: _query_loss(family, model, unravel(f), task.support))(flat_phi)
  g = _flat(jax.grad(lambda p: _query_loss(family, model, p, task.query))(phi))
  eye = jnp.eye(g.size, dtype=g.dtype)
  return unravel(jnp.linalg.solve(eye + hessian / _setting(name, 'lam'), g))


def _distill_reference(name, learner, family, model, params, task):
  """Finite differences: the student's gradient is that of its own (distillation) loss with
  the teacher held; the teacher's is zero (born-again) or that of the quiz loss after the
  pilot step (MetaDistil)."""
  def part(key, aux_key=None):
    def fn(value):
      loss, aux = learner.meta_loss({**params, key: value}, task)
      return aux[aux_key] if aux_key else loss
    return testing.finite_difference_grad(jax.jit(fn), params[key])
  if name == 'born_again':
    return {'student': part('student'), 'teacher': jax.tree.map(jnp.zeros_like, params['teacher'])}
  return {'student': part('student', 'student_loss'), 'teacher': part('teacher', 'quiz_loss')}


# Learners whose meta-loss is a surrogate, with their exact meta-gradient.
REFERENCE = {'fomaml': _fomaml_reference, 'reptile': _reptile_reference,
             'imaml': _imaml_reference, 'born_again': _distill_reference,
             'metadistil': _distill_reference}


@pytest.mark.parametrize('name', NAMES)
def test_conformance(name):
  """jit == no jit, finite, one trace, stable shapes, exact meta-gradient (testing.py)."""
  spec = _spec(name)
  reference = functools.partial(REFERENCE[name], name) if name in REFERENCE else None
  testing.check_learner(getattr(learners, name), task=spec['task'], settings=spec['settings'],
                        reference=reference)


def test_conformance_reptile_carrying_its_inner_state():
  testing.check_learner(learners.reptile, settings={'carry_inner_state': True},
                        reference=functools.partial(_reptile_reference, 'reptile'))


def test_check_learner_catches_a_wrong_meta_gradient():
  """The suite can fail: first-order MAML's gradient is not its meta-loss's gradient."""
  with pytest.raises(AssertionError, match='meta-gradient relative error'):
    testing.check_learner(learners.fomaml, settings={'inner_lr': 0.1, 'inner_steps': 3})


@pytest.mark.parametrize('name', NAMES)
def test_adapt_and_predict_give_finite_outputs_per_query_example(name):
  learner, family, _, batch, meta_params = _setup(name)
  task = jax.tree.map(lambda x: x[0], batch)
  for steps in (None, 2):
    out = jax.jit(lambda p, t: learner.predict(learner.adapt(p, t.support, steps=steps),
                                                t.query.x))(meta_params, task)
    assert out.ndim == 2 and out.shape[0] == task.query.x.shape[0]  # protonets: >= ways columns
    chex.assert_tree_all_finite(family.metrics(out, task.query.y))


@pytest.mark.parametrize('name', NAMES)
def test_trains_and_evaluates_on_omniglot(name):
  """Each learner runs a few meta-steps of Conv-4 on real Omniglot tasks, then meta-tests."""
  om = pytest.importorskip('metaft.data.omniglot')
  try:
    family = om.omniglot(ways=3, shots=1, query=2, classes=12)
  except UserError as e:  # the data set is not here
    pytest.skip(str(e))
  model = models.conv4(num_outputs=3, filters=4, blocks=2, readout='mean')
  settings = {'inner_lr': 0.1} if 'inner_lr' in inspect.signature(
      getattr(learners, name)).parameters else {}
  learner = getattr(learners, name)(model, family.loss, **settings)
  meta_params = learner.init(jax.random.key(0), family.draw(1, key=jax.random.key(1)).support.x[0])
  optimizer = optax.adam(1e-3)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=2, num_steps=2,
                              task_map='map')
  state, metrics = train(outer.init_state(meta_params, optimizer), family.data,
                         jax.random.key(2))
  chex.assert_tree_all_finite((state['params'], metrics))
  accuracy = evaluate.evaluate(learner, family, state['params'], num_tasks=4, steps=1,
                               key=jax.random.key(3))['accuracy']
  assert accuracy.shape == (4,) and np.all((accuracy >= 0) & (accuracy <= 1))
