"""The 3x3 convolution formulations and the Conv-4 model of ``metaft.models.conv``."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from metaft import core, losses, outer
from metaft.errors import UserError
from metaft.learners.maml import maml
from metaft.models import conv

IMPLS = [i for i in conv.CONV_IMPLS if i != 'auto']
TOL = dict(rtol=1e-4, atol=1e-4)


PADDINGS = {'same': 'SAME', 'torch': [(1, 1), (1, 1)]}  # lax's spelling of each padding


def reference_conv(x, w, b, stride, padding='same'):
  y = lax.conv_general_dilated(x, w, (stride, stride), PADDINGS[padding],
                               dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return y + b.reshape(1, 1, 1, -1)


def inputs(n, size, c_in, c_out, *, key):
  kx, kw, kb = jax.random.split(key, 3)
  x = jax.random.normal(kx, (n, size, size, c_in))
  w = jax.random.normal(kw, (3, 3, c_in, c_out)) / np.sqrt(9 * c_in)
  b = jax.random.normal(kb, (c_out,))
  return x, w, b


def scalar_fn(conv_fn):
  """A non-linear scalar function of the conv output, so second derivatives are non-trivial."""
  def f(x, w, b):
    y = conv_fn(x, w, b)
    weights = jnp.linspace(-1.0, 1.0, y.size).reshape(y.shape)
    return jnp.sum(jnp.tanh(y) * weights)
  return f


SHAPES = [  # (n, size, c_in, c_out): odd and even sizes, few (taps-major) and many channels;
    (2, 7, 8, 3), (2, 8, 3, 5)]  # one input channel is tested in the Conv-4 tests below


@pytest.mark.parametrize('size', [1, 2, 3, 4, 5, 7, 14, 28, 84])
@pytest.mark.parametrize('stride', [1, 2])
def test_same_padding_is_xlas(size, stride):
  assert conv.same_padding(size, stride) == tuple(
      lax.padtype_to_pads((size,), (3,), (stride,), 'SAME')[0])


@pytest.mark.parametrize('size', [1, 2, 3, 4, 7, 14, 28])
@pytest.mark.parametrize('stride', [1, 2])
def test_torch_padding_gives_the_same_output_size(size, stride):
  assert conv.conv_padding(size, stride, 'torch') == (1, 1)
  # PyTorch's output size, floor((size + 2 - 3) / stride) + 1, is 'SAME''s ceil(size / stride).
  assert (size - 1) // stride + 1 == -(-size // stride)


@pytest.mark.parametrize('padding', ['same', 'torch'])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('shape', SHAPES)
def test_conv2d_value_and_gradients_equal_xla(stride, shape, padding):
  x, w, b = inputs(*shape, key=jax.random.key(sum(shape)))
  vx = jax.random.normal(jax.random.key(7), x.shape)
  vw = jax.random.normal(jax.random.key(8), w.shape)

  @functools.partial(jax.jit, static_argnums=3)
  def value_grad_hvp(x, w, b, impl):
    f = scalar_fn(
        functools.partial(reference_conv, stride=stride, padding=padding) if impl is None else
        functools.partial(conv.conv2d, stride=stride, impl=impl, padding=padding))
    # Second order, reverse over reverse (what MAML differentiates): the gradient of
    # <grad f(x, w), v>, i.e. Hessian-vector products in both arguments.
    def g(x, w):
      gx, gw = jax.grad(f, argnums=(0, 1))(x, w, b)
      return jnp.vdot(gx, vx) + jnp.vdot(gw, vw)
    return f(x, w, b), jax.grad(f, argnums=(0, 1, 2))(x, w, b), jax.grad(g, argnums=(0, 1))(x, w)

  ref = value_grad_hvp(x, w, b, None)
  for impl in IMPLS:
    y = jax.jit(functools.partial(conv.conv2d, stride=stride, impl=impl, padding=padding))(
        x, w, b)
    chex.assert_shape(y, (shape[0], -(-shape[1] // stride), -(-shape[1] // stride), shape[3]))
    np.testing.assert_allclose(y, reference_conv(x, w, b, stride, padding), **TOL, err_msg=impl)
    for a, r in zip(jax.tree.leaves(value_grad_hvp(x, w, b, impl)), jax.tree.leaves(ref)):
      np.testing.assert_allclose(a, r, **TOL, err_msg=impl)


@pytest.mark.parametrize('padding', ['same', 'torch'])
def test_stride_2_at_omniglot_sizes(padding):
  """28 -> 14 (padding (0, 1) or (1, 1), one channel) and 7 -> 4 (padding (1, 1)), value and
  gradient."""
  for size, c_in in [(28, 1), (7, 4)]:
    x, w, b = inputs(2, size, c_in, 4, key=jax.random.key(size))
    ref = jax.jit(jax.grad(scalar_fn(functools.partial(reference_conv, stride=2,
                                                       padding=padding)), argnums=(0, 1)))
    for impl in IMPLS:
      mine = functools.partial(conv.conv2d, stride=2, impl=impl, padding=padding)
      y = jax.jit(mine)(x, w, b)
      chex.assert_shape(y, (2, -(-size // 2), -(-size // 2), 4))
      np.testing.assert_allclose(y, reference_conv(x, w, b, 2, padding), **TOL, err_msg=impl)
      chex.assert_trees_all_close(jax.jit(jax.grad(scalar_fn(mine), argnums=(0, 1)))(x, w, b),
                                  ref(x, w, b), **TOL)


@pytest.mark.parametrize('impl', [i for i in IMPLS if i != 'mixed'])
def test_forward_over_reverse_hvp(impl):
  """Forward-mode (jvp of grad) works for the formulations without a custom VJP."""
  x, w, b = inputs(2, 7, 3, 4, key=jax.random.key(0))
  v = jax.random.normal(jax.random.key(1), w.shape)
  def hvp(f):
    g = jax.grad(lambda w: scalar_fn(f)(x, w, b))
    return jax.jvp(g, (w,), (v,))[1]
  np.testing.assert_allclose(
      hvp(functools.partial(conv.conv2d, stride=2, impl=impl)),
      hvp(functools.partial(reference_conv, stride=2)), **TOL)


def test_mixed_is_reverse_mode_only():
  x, w, b = inputs(2, 7, 3, 4, key=jax.random.key(0))
  f = functools.partial(conv.conv2d, x, b_O=b, stride=1, impl='mixed')
  with pytest.raises(TypeError, match='custom_vjp'):
    jax.jvp(f, (w,), (w,))


def test_auto_is_xla_on_accelerators(monkeypatch):
  assert conv.resolve_impl('auto') == conv.CPU_DEFAULT
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert conv.resolve_impl('auto') == 'xla'


def test_unknown_impl_is_a_user_error():
  with pytest.raises(UserError):
    conv.conv4(num_outputs=5, conv_impl='fft')
  with pytest.raises(UserError):
    conv.conv4(num_outputs=5, readout='max')
  with pytest.raises(UserError, match='padding'):
    conv.conv4(num_outputs=5, padding='valid')


def test_max_pool_equals_reduce_window():
  x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
  ref = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
  np.testing.assert_array_equal(conv.max_pool_2x2(x), ref)


@pytest.mark.parametrize('pool,readout,feature_dim', [
    (False, 'flatten', 2 * 2 * 8), (False, 'mean', 8), (True, 'flatten', 8), (True, 'mean', 8)])
def test_conv4_shapes_and_params(pool, readout, feature_dim):
  model = conv.conv4(num_outputs=5, filters=8, pool=pool, readout=readout)
  x = jnp.zeros((3, 28, 28, 1))
  params = model.init(jax.random.key(0), x)
  assert set(params) == {'conv0', 'conv1', 'conv2', 'conv3', 'bn0', 'bn1', 'bn2', 'bn3', 'head'}
  chex.assert_shape(params['conv0']['w'], (3, 3, 1, 8))
  chex.assert_shape(params['conv3']['w'], (3, 3, 8, 8))
  chex.assert_shape(params['head']['w'], (feature_dim, 5))
  np.testing.assert_array_equal(params['bn2']['scale'], 1.0)
  np.testing.assert_array_equal(params['bn2']['offset'], 0.0)
  logits = jax.jit(model.apply)(params, x + 1.0)
  chex.assert_shape(logits, (3, 5))
  chex.assert_tree_all_finite(logits)


def test_conv4_init_gain_scales_the_glorot_kernels():
  """``init_gain`` as PyTorch's ``xavier_uniform_(w, gain)``: the same draws times the gain,
  bounded by gain * sqrt(6 / (fan_in + fan_out)); the default is plain Glorot-uniform."""
  x = jnp.zeros((3, 28, 28, 1))
  plain = conv.conv4(num_outputs=5, filters=8).init(jax.random.key(0), x)
  np.testing.assert_array_equal(plain['conv1']['w'], jax.nn.initializers.glorot_uniform()(
      jax.random.split(jax.random.key(0), 5)[1], (3, 3, 8, 8), jnp.float32))
  wide = conv.conv4(num_outputs=5, filters=8, init_gain=1.73).init(jax.random.key(0), x)
  for name in ('conv0', 'conv3', 'head'):
    np.testing.assert_allclose(wide[name]['w'], 1.73 * plain[name]['w'], rtol=1e-5)
  bound = 1.73 * np.sqrt(6 / (9 * 8 + 9 * 8))
  assert bound * 0.9 < float(jnp.max(jnp.abs(wide['conv1']['w']))) <= bound
  with pytest.raises(UserError, match='init_gain must be positive, got 0'):
    conv.conv4(num_outputs=5, init_gain=0)


def test_conv4_without_head_returns_the_features():
  x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
  headless = conv.conv4(num_outputs=0, filters=8, readout='mean')
  params = headless.init(jax.random.key(0), x)
  assert 'head' not in params
  with_head = conv.conv4(num_outputs=5, filters=8, readout='mean')
  full = with_head.init(jax.random.key(0), x)
  emb = headless.apply(params, x)
  chex.assert_shape(emb, (3, 8))
  # The same body: the headed model's logits are the head applied to these features.
  np.testing.assert_allclose(with_head.apply(full, x),
                             emb @ full['head']['w'] + full['head']['b'][None], **TOL)


def test_batch_norm_uses_batch_statistics():
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (4, 5, 5, 6))
  y = conv.batch_norm(x, jnp.ones(6), jnp.zeros(6))
  np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(jnp.var(y, axis=(0, 1, 2)), 1.0, atol=1e-3)  # eps = 1e-3
  y = conv.batch_norm(x, 2.0 * jnp.ones(6), -jnp.ones(6))
  np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), -1.0, atol=1e-5)

  # No running averages: an example's output depends on the rest of its batch.
  model = conv.conv4(num_outputs=3, filters=4, blocks=1)
  x = jax.random.uniform(jax.random.key(1), (4, 8, 8, 1))
  params = model.init(jax.random.key(2), x)
  apply = jax.jit(model.apply)
  batched = apply(params, x)
  alone = jnp.concatenate([apply(params, x[:2]), apply(params, x[2:])])
  assert not np.allclose(batched, alone, atol=1e-3)
  np.testing.assert_allclose(apply(params, x[::-1])[::-1], batched, **TOL)


def tiny_tasks(num_tasks, *, key, ways=3, size=16):
  ks, kq = jax.random.split(key)
  def split(k, n):
    return core.Split(jax.random.uniform(k, (num_tasks, n, size, size, 1)),
                      jnp.tile(jnp.arange(n) % ways, (num_tasks, 1)))
  return core.Task(split(ks, ways), split(kq, 2 * ways))


def reference_conv4(params, x, *, pool, readout='flatten', blocks=2, padding='same',
                    bn_epsilon=conv.BN_EPSILON):
  """Conv-4 written plainly in Finn et al.'s order: conv, batch norm, ReLU, then max-pool."""
  h = x
  for i in range(blocks):
    h = reference_conv(h, params[f'conv{i}']['w'], params[f'conv{i}']['b'], 1 if pool else 2,
                       padding)
    mean = jnp.mean(h, axis=(0, 1, 2), keepdims=True)
    var = jnp.var(h, axis=(0, 1, 2), keepdims=True)
    h = (h - mean) / jnp.sqrt(var + bn_epsilon)
    h = h * params[f'bn{i}']['scale'].reshape(1, 1, 1, -1) + params[f'bn{i}']['offset'].reshape(
        1, 1, 1, -1)
    h = jax.nn.relu(h)
    if pool:
      h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
  h = jnp.mean(h, axis=(1, 2)) if readout == 'mean' else h.reshape(h.shape[0], -1)
  return h @ params['head']['w'] + params['head']['b'].reshape(1, -1)


# With max-pooling (not the default Omniglot network) it runs with `pytest -m slow` (40 s).
@pytest.mark.parametrize('pool', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_impls_give_the_same_logits_and_meta_gradients(pool):
  """The formulations, and a plain reference model, agree in logits and MAML meta-gradients.

  ('shift' is left out to save compile time: it is the slowest to compile, and
  ``test_conv2d_value_and_gradients_equal_xla`` checks it to the second order.)
  """
  tasks = tiny_tasks(2, key=jax.random.key(0))
  models = {impl: conv.conv4(num_outputs=3, filters=4, pool=pool, conv_impl=impl, blocks=2)
            for impl in IMPLS if impl != 'shift'}
  models['reference'] = models['xla']._replace(
      apply=functools.partial(reference_conv4, pool=pool))
  params = models['xla'].init(jax.random.key(1), tasks.support.x[0])
  results = {}
  for name, model in models.items():
    learner = maml(model, losses.cross_entropy, inner_lr=0.1)
    step = jax.jit(functools.partial(outer.meta_gradient, learner, task_map='map'))
    logits = jax.jit(model.apply)(params, tasks.query.x[0])
    results[name] = (logits, step(params, tasks, key=jax.random.key(2)))
  ref_logits, (ref_loss, _, ref_grads) = results.pop('reference')
  for name, (logits, (loss, _, grads)) in results.items():
    np.testing.assert_allclose(logits, ref_logits, **TOL, err_msg=name)
    np.testing.assert_allclose(loss, ref_loss, **TOL, err_msg=name)
    chex.assert_trees_all_close(grads, ref_grads, **TOL)


def test_conv4_torch_padding_and_epsilon():
  """learn2learn's conventions (padding 1 on each side, epsilon 1e-5) against the reference
  model, in logits and meta-gradients; with strided convolutions they change the function."""
  tasks = tiny_tasks(2, key=jax.random.key(0))
  settings = dict(padding='torch', bn_epsilon=1e-5)
  reference = functools.partial(reference_conv4, pool=False, readout='mean', **settings)
  models = {impl: conv.conv4(num_outputs=3, filters=4, conv_impl=impl, readout='mean',
                             blocks=2, **settings) for impl in ('stack', 'mixed')}
  models['reference'] = models['stack']._replace(apply=reference)
  params = models['stack'].init(jax.random.key(1), tasks.support.x[0])
  results = {}
  for impl, model in models.items():
    learner = maml(model, losses.cross_entropy, inner_lr=0.1)
    step = jax.jit(functools.partial(outer.meta_gradient, learner, task_map='map'))
    results[impl] = (jax.jit(model.apply)(params, tasks.query.x[0]),
                     step(params, tasks, key=jax.random.key(2)))
  for impl in ('stack', 'mixed'):
    chex.assert_trees_all_close(results[impl], results['reference'], **TOL)
  same = conv.conv4(num_outputs=3, filters=4, readout='mean', blocks=2)
  assert not np.allclose(jax.jit(same.apply)(params, tasks.query.x[0]), results['stack'][0],
                         atol=1e-3)


def test_conv4_meta_gradient_vmap_equals_map():
  tasks = tiny_tasks(2, key=jax.random.key(0))
  learner = maml(conv.conv4(num_outputs=3, filters=4, blocks=1), losses.cross_entropy,
                 inner_lr=0.1)
  params = learner.init(jax.random.key(1), tasks.support.x[0])
  by_map, by_vmap = (
      jax.jit(functools.partial(outer.meta_gradient, learner, task_map=m))(
          params, tasks, key=jax.random.key(2))[2] for m in ('map', 'vmap'))
  chex.assert_trees_all_close(by_map, by_vmap, **TOL)


def test_max_pool_gradient_goes_to_the_first_maximum():
  x = jax.random.normal(jax.random.key(0), (2, 6, 5, 3))
  x = x.at[0, 2, 2, 0].set(9.0).at[0, 3, 3, 0].set(9.0).at[1, 0, 0, 1].set(-9.0)
  x = x.at[1, 0, 1, 1].set(-9.0).at[1, 1, 0, 1].set(-9.0).at[1, 1, 1, 1].set(-9.0)  # ties
  ref = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
  g = jax.random.normal(jax.random.key(1), (2, 3, 2, 3))
  np.testing.assert_array_equal(jax.grad(lambda x: jnp.vdot(conv.max_pool_2x2(x), g))(x),
                                jax.grad(lambda x: jnp.vdot(ref(x), g))(x))
  # ... and max-pooling commutes with the ReLU, in value and gradient.
  for f in (lambda x: conv.max_pool_2x2(jax.nn.relu(x)), lambda x: jax.nn.relu(ref(x))):
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.vdot(f(x), g))(x),
                                  jax.grad(lambda x: jnp.vdot(jax.nn.relu(ref(x)), g))(x))


def test_batch_norm_max_pool_equals_pooling_the_normalised_batch():
  """Pooling before normalising (mixed-sign scales) is the same function at every order;
  with an odd size the statistics still cover the row and column that pooling drops."""
  x = jax.random.normal(jax.random.key(0), (3, 7, 7, 4))
  scale, offset = jnp.array([1.5, -0.7, 0.3, -2.0]), jnp.array([0.1, -0.2, 0.0, 0.5])
  g = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  fused = lambda x, s, o: jax.nn.relu(conv.batch_norm_max_pool(x, s, o))
  naive = lambda x, s, o: jax.nn.relu(conv.max_pool_2x2(conv.batch_norm(x, s, o)))
  np.testing.assert_allclose(fused(x, scale, offset), naive(x, scale, offset), atol=1e-6)
  loss = lambda f: lambda *a: jnp.vdot(f(*a), g)
  grads = [jax.grad(loss(f), argnums=(0, 1, 2))(x, scale, offset) for f in (fused, naive)]
  chex.assert_trees_all_close(*grads, atol=1e-5)
  v = jax.random.normal(jax.random.key(2), x.shape)  # Hessian-vector products, both modes
  hvps = [jax.jvp(jax.grad(loss(f)), (x, scale, offset), (v, scale, offset))[1]
          for f in (fused, naive)]
  chex.assert_trees_all_close(*hvps, atol=1e-4)
