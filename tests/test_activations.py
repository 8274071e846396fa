"""Learnable activations (``metaft.models.activations``) in conv4 and the MLP, and the mask
specs of partial fine-tuning (``metaft.learners.masks``)."""

import functools
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from metaft import core, losses, models
from metaft.errors import UserError
from metaft.learners import masks
from metaft.models import activations, conv

LEARNABLE = ('prelu', 'swish', 'rational', 'pwl')
RELU_KEYS = {'conv0', 'conv1', 'conv2', 'conv3', 'bn0', 'bn1', 'bn2', 'bn3', 'head'}
RATIONAL_MAX_ERROR = 0.015  # of the rational init against ReLU on [-3, 3]


def _param_shapes(name, channels):
  return {'relu': {}, 'prelu': {'slope': (channels,)}, 'swish': {'beta': (channels,)},
          'rational': {'numerator': (6,), 'denominator': (4,)},
          'pwl': {'slope': (), 'bias': (), 'hinges': (7,)}}[name]


def _grid_NxC(lo, hi, channels=3, n=2001):
  """``n`` evenly spaced points of [lo, hi] (the knots and 0 among them) in every channel."""
  return jnp.tile(jnp.linspace(lo, hi, n)[:, None], (1, channels))


def test_names():
  assert activations.ACTIVATIONS == ('relu', 'prelu', 'swish', 'rational', 'pwl')


@pytest.mark.parametrize('name', activations.ACTIVATIONS)
def test_init_shapes(name):
  params = activations.activation(name).init(5)
  assert jax.tree.map(jnp.shape, params) == _param_shapes(name, 5)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize('name', ['relu', 'pwl'])
def test_relu_and_pwl_start_exactly_at_relu(name):
  act = activations.activation(name)
  x_NxC = _grid_NxC(-5.0, 5.0)
  np.testing.assert_array_equal(act.apply(act.init(3), x_NxC), jax.nn.relu(x_NxC))


def test_prelu_starts_at_leaky_relu_with_slope_quarter():
  act = activations.activation('prelu')
  x_NxC = _grid_NxC(-5.0, 5.0)
  np.testing.assert_array_equal(act.apply(act.init(3), x_NxC), jax.nn.leaky_relu(x_NxC, 0.25))
  slope = jnp.array([0.0, -1.0, 2.0])  # per channel: ReLU, |x|, ...
  y_NxC = act.apply({'slope': slope}, x_NxC)
  np.testing.assert_array_equal(y_NxC, jnp.where(x_NxC >= 0, x_NxC, slope[None, :] * x_NxC))


def test_swish_starts_at_silu():
  act = activations.activation('swish')
  x_NxC = _grid_NxC(-5.0, 5.0)
  np.testing.assert_allclose(act.apply(act.init(3), x_NxC), jax.nn.silu(x_NxC), rtol=1e-6)


def test_rational_starts_within_its_stated_error_of_relu():
  act = activations.activation('rational')
  x_NxC = _grid_NxC(-3.0, 3.0, channels=1, n=60001)
  err = jnp.abs(act.apply(act.init(1), x_NxC) - jax.nn.relu(x_NxC))
  assert float(err.max()) < RATIONAL_MAX_ERROR
  assert float(err.max()) > 0.01  # a rational function, not ReLU itself


def test_rational_is_safe_from_division_by_zero():
  act = activations.activation('rational')
  x_NxC = _grid_NxC(-10.0, 10.0, channels=1)
  for seed in range(5):
    ka, kb = jax.random.split(jax.random.key(seed))
    params = {'numerator': jax.random.normal(ka, (6,)),
              'denominator': jax.random.normal(kb, (4,))}  # Q = 1 + |.| never vanishes
    chex.assert_tree_all_finite(act.apply(params, x_NxC))


@pytest.mark.parametrize('name', LEARNABLE)
def test_gradients_wrt_learnable_parameters_are_finite_and_nonzero(name):
  act = activations.activation(name)
  x_NxC = _grid_NxC(-4.0, 4.0, n=401)  # every pwl hinge, -3 .. 3, sees both of its sides
  w_NxC = jax.random.normal(jax.random.key(0), x_NxC.shape)
  grads = jax.grad(lambda p: jnp.sum(w_NxC * act.apply(p, x_NxC)))(act.init(3))
  assert jax.tree.map(jnp.shape, grads) == _param_shapes(name, 3)
  chex.assert_tree_all_finite(grads)
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert bool(jnp.all(g != 0)), (name, path, g)


@pytest.mark.parametrize('name', activations.ACTIVATIONS)
def test_any_rank_under_jit_and_vmap(name):
  act = activations.activation(name)
  x_TxNxHxWxC = jax.random.normal(jax.random.key(0), (2, 3, 4, 4, 5)) * 3
  params = act.init(5)
  # Two sets of parameters (e.g. two tasks' adapted ones), the second perturbed.
  params_T = jax.tree.map(lambda p: jnp.stack([p, p + 0.1]), params)
  want = jnp.stack([act.apply(jax.tree.map(lambda p: p[t], params_T), x_TxNxHxWxC[t])
                    for t in range(2)])
  chex.assert_shape(want, x_TxNxHxWxC.shape)
  np.testing.assert_allclose(jax.jit(act.apply)(params, x_TxNxHxWxC[0]),
                             act.apply(params, x_TxNxHxWxC[0]), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(jax.jit(jax.vmap(act.apply))(params_T, x_TxNxHxWxC), want,
                             rtol=1e-6, atol=1e-6)
  if params:  # each task's own parameters were used
    assert not np.allclose(want[1], act.apply(params, x_TxNxHxWxC[1]), atol=1e-3)


def test_unknown_activation_is_a_user_error_naming_the_known_ones():
  msg = ("activation must be one of ('relu', 'prelu', 'swish', 'rational', 'pwl'), "
         "got 'gelu'.")
  for make in (lambda: activations.activation('gelu'),
               lambda: conv.conv4(num_outputs=5, activation='gelu'),
               lambda: models.mlp(num_outputs=1, activation='gelu')):
    with pytest.raises(UserError, match=f'^{re.escape(msg)}$'):
      make()


@pytest.mark.parametrize('pool', [False, True])
@pytest.mark.parametrize('name', activations.ACTIVATIONS)
def test_conv4_with_each_activation(name, pool):
  model = conv.conv4(num_outputs=5, filters=4, pool=pool, activation=name)
  x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1))
  params = model.init(jax.random.key(1), x)
  act_keys = {f'act{i}' for i in range(4)} if name in LEARNABLE else set()
  assert set(params) == RELU_KEYS | act_keys
  for key in act_keys:
    assert jax.tree.map(jnp.shape, params[key]) == _param_shapes(name, 4)
  logits = jax.jit(model.apply)(params, x)
  chex.assert_shape(logits, (3, 5))
  chex.assert_tree_all_finite(logits)


def test_conv4_default_parameter_tree_is_unchanged():
  x = jnp.zeros((2, 28, 28, 1))
  default = conv.conv4(num_outputs=5, filters=4).init(jax.random.key(0), x)
  relu = conv.conv4(num_outputs=5, filters=4, activation='relu').init(jax.random.key(0), x)
  assert set(default) == RELU_KEYS
  chex.assert_trees_all_equal(default, relu)
  # The learnable activations add their keys and leave the others' values as they were.
  prelu = conv.conv4(num_outputs=5, filters=4, activation='prelu').init(jax.random.key(0), x)
  chex.assert_trees_all_equal({k: prelu[k] for k in RELU_KEYS}, default)


@pytest.mark.parametrize('name', ['prelu', 'rational'])
def test_conv4_pools_after_an_activation_other_than_relu(name):
  """With a non-monotone activation (a negative PReLU slope) pooling must come after it."""
  model = conv.conv4(num_outputs=3, filters=4, pool=True, blocks=2, activation=name)
  x = jax.random.uniform(jax.random.key(0), (4, 16, 16, 1))
  params = model.init(jax.random.key(1), x)
  if name == 'prelu':
    params = params | {f'act{i}': {'slope': jnp.full((4,), -1.0)} for i in range(2)}
  act = activations.activation(name)
  pool = lambda h: lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')

  def reference(params, *, act_then_pool):
    h = x
    for i in range(2):
      h = conv.conv2d(h, params[f'conv{i}']['w'], params[f'conv{i}']['b'], impl='xla')
      h = conv.batch_norm(h, params[f'bn{i}']['scale'], params[f'bn{i}']['offset'])
      a = functools.partial(act.apply, params[f'act{i}'])
      h = pool(a(h)) if act_then_pool else a(pool(h))
    return h.reshape(h.shape[0], -1) @ params['head']['w'] + params['head']['b'][None, :]

  logits = jax.jit(model.apply)(params, x)
  np.testing.assert_allclose(logits, reference(params, act_then_pool=True), rtol=1e-4,
                             atol=1e-4)
  assert not np.allclose(logits, reference(params, act_then_pool=False), atol=1e-3)


@pytest.mark.parametrize('name', activations.ACTIVATIONS)
def test_mlp_with_each_activation(name):
  model = models.mlp(num_outputs=2, hidden=(8, 8), activation=name)
  x_NxD = jax.random.normal(jax.random.key(0), (5, 3))
  params = model.init(jax.random.key(1), x_NxD)
  act_keys = {'act0', 'act1'} if name in LEARNABLE else set()
  assert set(params) == {'Dense_0', 'Dense_1', 'Dense_2'} | act_keys
  for key in act_keys:
    assert jax.tree.map(jnp.shape, params[key]) == _param_shapes(name, 8)
  outputs = jax.jit(model.apply)(params, x_NxD)
  chex.assert_shape(outputs, (5, 2))
  chex.assert_tree_all_finite(outputs)
  assert masks.last_layer(params) == 'Dense_2'  # not 'act1'
  if name == 'pwl':  # starts at ReLU exactly: the ReLU MLP's function
    relu = models.mlp(num_outputs=2, hidden=(8, 8))
    dense = {k: v for k, v in params.items() if k.startswith('Dense')}
    np.testing.assert_array_equal(outputs, jax.jit(relu.apply)(dense, x_NxD))


def test_mlp_default_parameter_tree_is_unchanged():
  x_NxD = jnp.zeros((5, 1))
  params = models.mlp(num_outputs=1).init(jax.random.key(0), x_NxD)
  assert jax.tree.map(jnp.shape, params) == {
      'Dense_0': {'kernel': (1, 40), 'bias': (40,)}, 'Dense_1': {'kernel': (40, 40), 'bias': (40,)},
      'Dense_2': {'kernel': (40, 1), 'bias': (1,)}}


# Mask specs.


def test_path_predicates():
  assert masks.batchnorm('bn0/scale') and masks.batchnorm('BatchNorm_1/bias')
  assert masks.batchnorm('block/LayerNorm_0/scale')
  assert not masks.batchnorm('bnx/scale') and not masks.batchnorm('conv0/b')
  assert masks.activations('act3/slope') and masks.activations('Block_0/act1/beta')
  assert not masks.activations('action/w') and not masks.activations('head/w')
  skip2 = masks.after_blocks(2)
  assert [p for p in ('conv1/w', 'bn1/scale', 'act1/slope', 'conv2/w', 'act3/beta', 'head/w',
                      'Dense_0/kernel', 'Dense_2/kernel') if skip2(p)] == [
                          'conv2/w', 'act3/beta', 'head/w', 'Dense_2/kernel']
  union = masks.predicate('head+batchnorm')
  assert [union(p) for p in ('head/w', 'bn0/scale', 'conv0/w')] == [True, True, False]
  regex = masks.predicate('skip:3+re:conv[0-9]+/b')  # 're:' takes the rest, '+' included
  assert [regex(p) for p in ('conv0/b', 'conv0/w', 'bn3/scale', 'bn2/scale')] == [
      True, False, True, False]
  assert masks.predicate('all')('anything/at/all')
  fn = lambda path: path == 'x'
  assert masks.predicate(fn) is fn


def test_head_spec_is_the_last_layer_given_the_parameters():
  mlp_params = models.mlp(num_outputs=1, hidden=(4,), activation='prelu').init(
      jax.random.key(0), jnp.zeros((2, 1)))
  assert masks.trainable_mask(mlp_params, 'head') == {
      'Dense_0': {'kernel': False, 'bias': False}, 'act0': {'slope': False},
      'Dense_1': {'kernel': True, 'bias': True}}
  assert masks.predicate('head')('head/w') and not masks.predicate('head')('Dense_1/kernel')
  assert masks.last_layer({'Dense_0': 0, 'Dense_1': 0, 'LayerNorm_0': 0}) == 'Dense_1'


SPECS = {  # spec -> the top-level keys it trains in a 4-block conv4 with PReLU
    'head': {'head'},
    'batchnorm': {'bn0', 'bn1', 'bn2', 'bn3'},
    'activations': {'act0', 'act1', 'act2', 'act3'},
    'skip:2': {'conv2', 'conv3', 'bn2', 'bn3', 'act2', 'act3', 'head'},
    're:conv[01]': {'conv0', 'conv1'},
    'head+batchnorm': {'head', 'bn0', 'bn1', 'bn2', 'bn3'},
}


@functools.lru_cache(maxsize=None)
def _adapt_conv4(spec):
  """5 Adam steps of the inner loop on a tiny batch, only the leaves ``spec`` selects free."""
  model = conv.conv4(num_outputs=3, filters=4, activation='prelu')
  kx, kp = jax.random.split(jax.random.key(0))
  x_Nx28x28x1 = jax.random.uniform(kx, (6, 28, 28, 1))
  y_N = jnp.arange(6) % 3
  params = model.init(kp, x_Nx28x28x1)
  mask = masks.trainable_mask(params, spec)
  loss = lambda p: losses.cross_entropy(model.apply(p, x_Nx28x28x1), y_N)
  adapted, losses_S = jax.jit(
      lambda p: core.inner_loop(loss, p, masks.freeze(optax.adam(1e-2), mask), 5))(params)
  return params, mask, adapted, losses_S


def _assert_only_masked_leaves_changed(params, mask, adapted):
  for (path, before), after, trainable in zip(jax.tree_util.tree_leaves_with_path(params),
                                              jax.tree.leaves(adapted), jax.tree.leaves(mask)):
    if trainable:
      assert not np.array_equal(before, after), masks.path_str(path)
    else:
      assert np.array_equal(before, after), masks.path_str(path)  # bit-identical


@pytest.mark.parametrize('spec', list(SPECS))
def test_masks_leave_frozen_parameters_bit_identical(spec):
  params, mask, adapted, losses_S = _adapt_conv4(spec)
  trained = {masks.path_str(p[:1]) for p, t in jax.tree_util.tree_leaves_with_path(mask) if t}
  assert trained == SPECS[spec]
  _assert_only_masked_leaves_changed(params, mask, adapted)
  assert float(losses_S[-1]) < float(losses_S[0])


def test_activations_only_adaptation_changes_only_activation_parameters():
  params, mask, adapted, losses_S = _adapt_conv4('activations')
  changed = {masks.path_str(p) for (p, a), b in zip(jax.tree_util.tree_leaves_with_path(params),
                                                     jax.tree.leaves(adapted))
             if not np.array_equal(a, b)}
  assert changed == {f'act{i}/slope' for i in range(4)}
  _assert_only_masked_leaves_changed(params, mask, adapted)
  assert float(losses_S[-1]) < float(losses_S[0])


def test_bad_mask_specs_are_user_errors():
  forms = ("'all', 'head', 'batchnorm', 'activations', 'skip:K' (K a non-negative integer), "
           "'re:PATTERN' (re.search on the '/'-joined path; last in a union), or a union of "
           "these joined by '+' ('head+batchnorm')")
  for spec, term in (('heads', 'heads'), ('skip:-1', 'skip:-1'), ('head+bn', 'bn'),
                     ('head+', '')):
    msg = f'mask spec {spec!r}: {term!r} is not one of the accepted forms, {forms}.'
    with pytest.raises(UserError, match=f'^{re.escape(msg)}$'):
      masks.predicate(spec)
  with pytest.raises(UserError, match=re.escape("mask spec 're:(': '(' is not a regular "
                                                "expression (")):
    masks.predicate('re:(')
  params = conv.conv4(num_outputs=2, filters=2, blocks=1).init(jax.random.key(0),
                                                               jnp.zeros((1, 8, 8, 1)))
  msg = ("spec 'activations' selects none of the parameters: bn0/offset, bn0/scale, conv0/b, "
         "conv0/w, head/b, head/w")
  with pytest.raises(UserError, match=f'^{re.escape(msg)}$'):
    masks.trainable_mask(params, 'activations')
