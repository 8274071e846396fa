"""Conv-4 (Finn et al. 2017) as pure functions over a params dict, with a swappable 3x3 conv.

On GPU/TPU the convolution is XLA's own. On the CPU it is written as matrix products by
default: XLA:CPU runs grouped convolutions (what ``vmap`` over tasks with per-task weights
makes of them, jax-ml/jax#12868) and the weight-gradient convolutions of backpropagation
slowly, while its matmuls run near the machine's peak. ``benchmarks/conv_formulations.py``
measures the formulations under second-order MAML.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from metaft import core
from metaft.errors import UserError
from metaft.models import activations

CONV_IMPLS = ('auto', 'xla', 'im2col', 'stack', 'shift', 'mixed')
READOUTS = ('flatten', 'mean')
PADDINGS = ('same', 'torch')  # XLA's/TensorFlow's 'SAME'; PyTorch's padding=1
CPU_DEFAULT = 'stack'  # what 'auto' means on the CPU; see benchmarks/conv_formulations.py
SMALL_C = 4  # up to this many input channels, patch matrices are built taps-major
BN_EPSILON = 1e-3  # tf.contrib.layers.batch_norm's default, as in Finn et al.'s code


def same_padding(size: int, stride: int, kernel: int = 3) -> tuple[int, int]:
  """XLA's (and TensorFlow's) 'SAME' padding: ``ceil(size / stride)`` outputs, the odd
  padding element at the end (28 -> 14 pads (0, 1); 7 -> 4 pads (1, 1))."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv_padding(size: int, stride: int, padding: str) -> tuple[int, int]:
  """The (low, high) padding of one spatial dimension: ``'same'`` as ``same_padding``,
  ``'torch'`` one element on each side (PyTorch's ``padding=1``). With a 3x3 kernel both give
  ``ceil(size / stride)`` outputs; at stride 2 on even sizes they sample the input one pixel
  apart (``'same'`` pads (0, 1), ``'torch'`` (1, 1) and never reads its last padding row)."""
  return same_padding(size, stride) if padding == 'same' else (1, 1)


def _taps(x_NxHxWxC, stride, padding):
  """The 9 shifted (and strided) views of the padded input, one per kernel tap, row-major."""
  n, h, w, c = x_NxHxWxC.shape
  pad_h, pad_w = conv_padding(h, stride, padding), conv_padding(w, stride, padding)
  ho, wo = -(-h // stride), -(-w // stride)
  xp = jnp.pad(x_NxHxWxC, ((0, 0), pad_h, pad_w, (0, 0)))
  return [
      lax.slice(xp, (0, dy, dx, 0),
                (n, dy + (ho - 1) * stride + 1, dx + (wo - 1) * stride + 1, c),
                (1, stride, stride, 1))
      for dy in range(3) for dx in range(3)]


def _conv_xla(x_NxHxWxC, w_3x3xCxO, stride, padding):
  pads = [conv_padding(n, stride, padding) for n in x_NxHxWxC.shape[1:3]]
  return lax.conv_general_dilated(x_NxHxWxC, w_3x3xCxO, (stride, stride), pads,
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _conv_im2col(x_NxHxWxC, w_3x3xCxO, stride, padding):
  """One matmul on the [N, Ho, Wo, 9C] patch buffer, concatenated."""
  patches = jnp.concatenate(_taps(x_NxHxWxC, stride, padding), axis=-1)
  return patches @ w_3x3xCxO.reshape(-1, w_3x3xCxO.shape[-1])


def _conv_shift(x_NxHxWxC, w_3x3xCxO, stride, padding):
  """Nine [N, Ho, Wo, C] @ [C, O] matmuls, summed: no patch buffer."""
  w_9xCxO = w_3x3xCxO.reshape(9, *w_3x3xCxO.shape[2:])
  return sum(tap @ w_9xCxO[k] for k, tap in enumerate(_taps(x_NxHxWxC, stride, padding)))


def _patches_MxK(x_NxHxWxC, stride, padding):
  """The patch matrix, [N*Ho*Wo, 9C], built by stacking (faster on XLA:CPU than a concat)."""
  taps = _taps(x_NxHxWxC, stride, padding)
  p = jnp.stack([jnp.stack(taps[3 * dy:3 * dy + 3], axis=-2) for dy in range(3)], axis=-3)
  return p.reshape(-1, 9 * x_NxHxWxC.shape[-1])


def _patches_KxM(x_NxHxWxC, stride, padding):
  """The patch matrix transposed, [9C, N*Ho*Wo]: cheap to build when C is small."""
  p_9xNxHoxWoxC = jnp.stack(_taps(x_NxHxWxC, stride, padding), axis=0)
  return jnp.moveaxis(p_9xNxHoxWoxC, -1, 1).reshape(9 * x_NxHxWxC.shape[-1], -1)


def _out_shape(x_NxHxWxC, o, stride):
  n, h, w, _ = x_NxHxWxC.shape
  return n, -(-h // stride), -(-w // stride), o


def _conv_stack(x_NxHxWxC, w_3x3xCxO, stride, padding):
  """im2col with a stacked patch matrix, taps-major for few input channels."""
  w_KxO = w_3x3xCxO.reshape(-1, w_3x3xCxO.shape[-1])
  if x_NxHxWxC.shape[-1] <= SMALL_C:
    y_MxO = lax.dot_general(_patches_KxM(x_NxHxWxC, stride, padding), w_KxO,
                            (((0,), (0,)), ((), ())))
  else:
    y_MxO = _patches_MxK(x_NxHxWxC, stride, padding) @ w_KxO
  return y_MxO.reshape(_out_shape(x_NxHxWxC, w_KxO.shape[-1], stride))


def _flip(w_3x3xCxO):
  """The kernel of the transposed convolution: flipped in space, in/out channels swapped."""
  return jnp.flip(w_3x3xCxO, (0, 1)).swapaxes(2, 3)


def _transpose_pads(size, stride, padding):
  """Padding of the stride-1, input-dilated convolution that transposes a 3x3 one."""
  lo, _ = conv_padding(size, stride, padding)
  out = -(-size // stride)
  pad_lo = 2 - lo
  return pad_lo, size + 2 - ((out - 1) * stride + 1) - pad_lo


def _dx_impl(g_NxHoxWoxO, w_3x3xCxO, stride, padding, in_hw):
  return lax.conv_general_dilated(
      g_NxHoxWoxO, _flip(w_3x3xCxO), (1, 1),
      [_transpose_pads(n, stride, padding) for n in in_hw],
      lhs_dilation=(stride, stride), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _dw_impl(x_NxHxWxC, g_NxHoxWoxO, stride, padding):
  c, o = x_NxHxWxC.shape[-1], g_NxHoxWoxO.shape[-1]
  g_MxO = g_NxHoxWoxO.reshape(-1, o)
  if c <= SMALL_C:
    dw_KxO = _patches_KxM(x_NxHxWxC, stride, padding) @ g_MxO
  else:
    dw_KxO = lax.dot_general(_patches_MxK(x_NxHxWxC, stride, padding), g_MxO,
                             (((0,), (0,)), ((), ())))
  return dw_KxO.reshape(3, 3, c, o)


# The 'mixed' formulation: the convolution and its two transposes (in the input, in the
# kernel) as three linear maps whose custom VJPs are written with each other. XLA's fast
# forward convolution then serves the forward and input-gradient passes at every order of
# reverse-mode differentiation, and weight gradients, which XLA:CPU runs slowly as
# convolutions, stay matmuls on a patch matrix. Each forward rule calls the custom function,
# not its implementation, so that an enclosing differentiation also sees the custom rules.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _mixed_conv(x_NxHxWxC, w_3x3xCxO, stride, padding):
  return _conv_xla(x_NxHxWxC, w_3x3xCxO, stride, padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _mixed_dx(g_NxHoxWoxO, w_3x3xCxO, stride, padding, in_hw):
  """The transpose of the convolution in its input."""
  return _dx_impl(g_NxHoxWoxO, w_3x3xCxO, stride, padding, in_hw)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _mixed_dw(x_NxHxWxC, g_NxHoxWoxO, stride, padding):
  """The transpose of the convolution in its kernel."""
  return _dw_impl(x_NxHxWxC, g_NxHoxWoxO, stride, padding)


def _mixed_conv_bwd(stride, padding, res, g):
  x, w = res
  return _mixed_dx(g, w, stride, padding, x.shape[1:3]), _mixed_dw(x, g, stride, padding)


def _mixed_dx_bwd(stride, padding, in_hw, res, h):
  g, w = res
  return _mixed_conv(h, w, stride, padding), _mixed_dw(h, g, stride, padding)


def _mixed_dw_bwd(stride, padding, res, v):
  x, g = res
  return _mixed_dx(g, v, stride, padding, x.shape[1:3]), _mixed_conv(x, v, stride, padding)


_mixed_conv.defvjp(lambda x, w, stride, padding: (_mixed_conv(x, w, stride, padding), (x, w)),
                   _mixed_conv_bwd)
_mixed_dx.defvjp(
    lambda g, w, stride, padding, in_hw: (_mixed_dx(g, w, stride, padding, in_hw), (g, w)),
    _mixed_dx_bwd)
_mixed_dw.defvjp(lambda x, g, stride, padding: (_mixed_dw(x, g, stride, padding), (x, g)),
                 _mixed_dw_bwd)

_IMPLS = {'xla': _conv_xla, 'im2col': _conv_im2col, 'stack': _conv_stack, 'shift': _conv_shift,
          'mixed': _mixed_conv}


def resolve_impl(impl: str) -> str:
  """``'auto'``: XLA's convolution on GPU/TPU, the fastest matmul formulation on the CPU."""
  if impl not in CONV_IMPLS:
    raise UserError(f'conv_impl must be one of {CONV_IMPLS}, got {impl!r}.')
  if impl == 'auto':
    return CPU_DEFAULT if jax.default_backend() == 'cpu' else 'xla'
  return impl


def conv2d(x_NxHxWxC, w_3x3xCxO, b_O, *, stride: int = 1, impl: str = 'auto',
           padding: str = 'same'):
  """A 3x3 convolution, equal to ``lax.conv_general_dilated`` with the same padding.

  The formulations agree to float32 rounding in value and in derivatives of every order;
  they differ in speed and memory (``benchmarks/conv_formulations.py``):

  * ``'xla'``: ``lax.conv_general_dilated``, the choice on GPU/TPU.
  * ``'im2col'``: pad, 9 strided slices concatenated into an [N, Ho, Wo, 9C] buffer, one
    matmul.
  * ``'stack'``: im2col with the buffer built by stacking (XLA:CPU builds it faster than a
    concatenation) and, for inputs with at most ``SMALL_C`` channels, laid out taps-major,
    [9C, N*Ho*Wo], so the weight gradient needs no transpose. The CPU default.
  * ``'shift'``: nine [N, Ho, Wo, C] @ [C, O] matmuls summed, no patch buffer.
  * ``'mixed'``: XLA's convolution for the forward pass and for input gradients, matmuls on a
    patch buffer for weight gradients (which XLA:CPU runs slowly as convolutions), held
    together by custom VJPs that stay fast at every order of reverse-mode differentiation.
    Reverse mode only: ``jax.jvp`` through it fails (iMAML's Hessian-vector products use it).
  * ``'auto'``: ``'xla'`` on GPU/TPU, ``CPU_DEFAULT`` on the CPU, chosen from
    ``jax.default_backend()`` when traced.

  Args:
    x_NxHxWxC: inputs, NHWC.
    w_3x3xCxO: the kernel, HWIO.
    b_O: the bias.
    stride: the stride in both spatial dimensions (1 or 2 in Conv-4).
    impl: the formulation, one of ``CONV_IMPLS``.
    padding: ``'same'`` (XLA's and TensorFlow's 'SAME', Finn et al.'s) or ``'torch'`` (one
      element on each side, PyTorch's ``padding=1`` as in learn2learn); see ``conv_padding``.

  Returns:
    ``[N, ceil(H / stride), ceil(W / stride), O]``.
  """
  if w_3x3xCxO.shape[:2] != (3, 3):
    raise UserError(f'conv2d takes a 3x3 kernel, got shape {w_3x3xCxO.shape}.')
  _check_padding(padding)
  y = _IMPLS[resolve_impl(impl)](x_NxHxWxC, w_3x3xCxO, stride, padding)
  return y + b_O.reshape(1, 1, 1, -1)


def _check_padding(padding):
  if padding not in PADDINGS:
    raise UserError(f'padding must be one of {PADDINGS}, got {padding!r}.')


def max_pool_2x2(x_NxHxWxC):
  """2x2 max-pooling, stride 2, 'VALID' (an odd last row or column is dropped).

  Its gradient goes to the first maximum of each window in row-major order, as with
  ``lax.reduce_window`` and TensorFlow's and PyTorch's max-pooling (``jnp.max`` would split
  it between ties). Written as a sum of the window masked by a constant one-hot of its
  maximum: cheap on XLA:CPU at every order of differentiation, forward mode included.
  """
  n, h, w, c = x_NxHxWxC.shape
  x_Nxhx2xwx2xC = x_NxHxWxC[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
  views = [x_Nxhx2xwx2xC[:, :, i, :, j] for i in (0, 1) for j in (0, 1)]
  first_max = []
  for p, v in enumerate(views):  # above the earlier views, at least the later ones
    wins = [v > u for u in views[:p]] + [v >= u for u in views[p + 1:]]
    first_max.append(functools.reduce(jnp.logical_and, wins))
  mask = jnp.stack([jnp.stack(first_max[:2], axis=-2), jnp.stack(first_max[2:], axis=-2)], axis=2)
  mask = lax.stop_gradient(mask.astype(x_NxHxWxC.dtype))
  return jnp.sum(mask * x_Nxhx2xwx2xC, axis=(2, 4))


def _moments(x_NxHxWxC):
  """The batch mean, the centred batch and the batch variance, per channel."""
  mean_1x1x1xC = jnp.mean(x_NxHxWxC, axis=(0, 1, 2), keepdims=True)
  centred = x_NxHxWxC - mean_1x1x1xC
  return mean_1x1x1xC, centred, jnp.mean(jnp.square(centred), axis=(0, 1, 2), keepdims=True)


def _affine(centred, var_1x1x1xC, scale_C, offset_C, epsilon):
  return (centred * (lax.rsqrt(var_1x1x1xC + epsilon) * scale_C.reshape(1, 1, 1, -1))
          + offset_C.reshape(1, 1, 1, -1))


def batch_norm(x_NxHxWxC, scale_C, offset_C, *, epsilon: float = BN_EPSILON):
  """Batch norm with the statistics of this batch (MAML's convention, no running averages)."""
  _, centred, var_1x1x1xC = _moments(x_NxHxWxC)
  return _affine(centred, var_1x1x1xC, scale_C, offset_C, epsilon)


def batch_norm_max_pool(x_NxHxWxC, scale_C, offset_C, *, epsilon: float = BN_EPSILON):
  """``max_pool_2x2(batch_norm(x, scale, offset))``, pooling before normalising.

  Batch norm is a per-channel affine map once its statistics are known: increasing where the
  scale is positive, decreasing where it is negative. So the pool of its output is the
  normalised max-pool of ``x`` (of ``-x``, negated back, where the scale is negative), and
  only the statistics are computed at full resolution: the same values and the same
  gradients (to the first maximum of each window, as ``max_pool_2x2``) at every order,
  with the normalisation on a quarter of the elements. The max-pool Conv-4's MAML meta-step is
  1.2-1.3x faster on the CPU for it (``benchmarks/RESULTS.md``). (A scale of exactly zero,
  where the normalised window is constant, sends its gradient to the window's maximum
  rather than to its first element.)
  """
  mean_1x1x1xC, _, var_1x1x1xC = _moments(x_NxHxWxC)
  sign_1x1x1xC = lax.stop_gradient(jnp.where(scale_C < 0, -1, 1).astype(x_NxHxWxC.dtype))
  sign_1x1x1xC = sign_1x1x1xC.reshape(1, 1, 1, -1)
  pooled = sign_1x1x1xC * max_pool_2x2(sign_1x1x1xC * x_NxHxWxC)
  return _affine(pooled - mean_1x1x1xC, var_1x1x1xC, scale_C, offset_C, epsilon)


def conv4(
    *,
    num_outputs: int,
    filters: int = 64,
    pool: bool = False,
    conv_impl: str = 'auto',
    readout: str = 'flatten',
    blocks: int = 4,
    padding: str = 'same',
    bn_epsilon: float = BN_EPSILON,
    activation: str = 'relu',
    init_gain: float = 1.0,
) -> core.Model:
  """The Conv-4 network of Finn et al. 2017 (MAML), as a pure ``Model(init, apply)``.

  ``blocks`` blocks of [3x3 conv, ``filters`` channels, batch norm, activation (ReLU by
  default)], with stride-2 convolutions (their Omniglot model, ``pool=False``) or stride-1
  convolutions each followed by 2x2 max-pooling (their mini-ImageNet model, ``pool=True``);
  then a linear head on the flattened features (``readout='flatten'``) or on their spatial
  mean (``'mean'``, what Finn et al.'s code and learn2learn's ``OmniglotCNN`` do for
  Omniglot). On 28x28 inputs the strided body ends at 2x2xfilters and the pooled one at
  1x1xfilters. With ReLU the pooling is done first, right after the batch statistics
  (``batch_norm_max_pool``), the same function with the same gradients with batch norm's
  affine map and the ReLU on a quarter of the elements; the other activations, which need not
  be non-decreasing (max-pooling commutes only with those), come before it.

  Batch norm always uses the current batch's statistics (no running averages), with a
  learnable scale and offset. Initialisation: conv kernels and head Glorot-uniform (Finn et
  al.'s ``xavier_initializer_conv2d``, learn2learn's ``maml_init_``), biases zero, batch-norm
  scale 1 and offset 0. (Finn et al.'s batch norm has no scale, learn2learn draws it from
  U(0, 1); both draw the Omniglot head from N(0, 1).) ``init_gain`` scales the Glorot bound,
  as PyTorch's ``xavier_uniform_(w, gain)`` does (iMAML's code uses 1.73).

  Parameters: ``{'conv0': {'w', 'b'}, 'bn0': {'scale', 'offset'}, ..., 'head': {'w', 'b'}}``,
  and ``'act0'``, ``'act1'``, ... with each block's activation parameters for the learnable
  activations (``'prelu'``: ``{'slope': [filters]}``; ``'swish'``: ``{'beta': [filters]}``;
  ``'rational'``: ``{'numerator': [6], 'denominator': [4]}``; ``'pwl'``: ``{'slope', 'bias',
  'hinges': [7]}``; see ``metaft.models.activations``). ``'relu'`` has none.

  Args:
    num_outputs: the number of classes (ways); 0 for no head, when ``apply`` returns the
      features (an embedding for ProtoNets).
    filters: channels of every conv layer.
    pool: max-pooling instead of strided convolutions.
    conv_impl: the convolution formulation, see ``conv2d``. (On the CPU ``'mixed'`` is no
      faster than ``'auto'`` for ``pool=True`` since batch norm is pooled first.)
    readout: ``'flatten'`` or ``'mean'``.
    blocks: the number of conv blocks.
    padding: ``'same'`` (Finn et al.'s TensorFlow padding) or ``'torch'`` (learn2learn's
      PyTorch ``padding=1``); the strided model computes different functions with the two.
    bn_epsilon: batch norm's epsilon (1e-3 as Finn et al.; PyTorch's default is 1e-5).
    activation: the activation of every block, one of ``activations.ACTIVATIONS``
      (``'relu'``, ``'prelu'``, ``'swish'``, ``'rational'``, ``'pwl'``).
    init_gain: the gain of the Glorot-uniform kernels (their standard deviation's factor).

  Returns:
    A ``Model``; ``apply(params, x_NxHxWxC) -> logits_NxK``.

  Example::

    model = conv4(num_outputs=5)
    params = model.init(key, x_Nx28x28x1)
    logits_Nx5 = model.apply(params, x_Nx28x28x1)

  Reference: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
  Networks", ICML 2017, section 5.2.
  """
  resolve_impl(conv_impl)  # validate now, resolve per backend when traced
  if readout not in READOUTS:
    raise UserError(f'readout must be one of {READOUTS}, got {readout!r}.')
  _check_padding(padding)
  act = activations.activation(activation)
  pool_first = activation == 'relu'  # max-pooling commutes with non-decreasing functions only
  stride = 1 if pool else 2
  conv = functools.partial(conv2d, stride=stride, impl=conv_impl, padding=padding)
  if not init_gain > 0:
    raise UserError(f'init_gain must be positive, got {init_gain!r}.')
  glorot = jax.nn.initializers.variance_scaling(init_gain**2, 'fan_avg', 'uniform')

  def features(params, x_NxHxWxC):
    h = x_NxHxWxC
    for i in range(blocks):
      h = conv(h, params[f'conv{i}']['w'], params[f'conv{i}']['b'])
      bn = (params[f'bn{i}']['scale'], params[f'bn{i}']['offset'])
      if pool and pool_first:  # pooling commutes with BN's affine map and the ReLU: pool first
        h = jax.nn.relu(batch_norm_max_pool(h, *bn, epsilon=bn_epsilon))
      else:
        h = act.apply(params.get(f'act{i}', {}), batch_norm(h, *bn, epsilon=bn_epsilon))
        if pool:
          h = max_pool_2x2(h)
    if readout == 'mean':
      return jnp.mean(h, axis=(1, 2))
    return h.reshape(h.shape[0], -1)

  def init(key, x_NxHxWxC):
    keys = jax.random.split(key, blocks + 1)
    params = {}
    channels = x_NxHxWxC.shape[-1]
    for i in range(blocks):
      params[f'conv{i}'] = {'w': glorot(keys[i], (3, 3, channels, filters), jnp.float32),
                            'b': jnp.zeros((filters,), jnp.float32)}
      params[f'bn{i}'] = {'scale': jnp.ones((filters,), jnp.float32),
                          'offset': jnp.zeros((filters,), jnp.float32)}
      if act_params := act.init(filters):
        params[f'act{i}'] = act_params
      channels = filters
    feature_dim = math.prod(
        jax.eval_shape(features, params, jax.ShapeDtypeStruct(x_NxHxWxC.shape, jnp.float32))
        .shape[1:])
    if num_outputs:
      params['head'] = {'w': glorot(keys[-1], (feature_dim, num_outputs), jnp.float32),
                        'b': jnp.zeros((num_outputs,), jnp.float32)}
    return params

  def apply(params, x_NxHxWxC):
    feats_NxD = features(params, x_NxHxWxC)
    if 'head' not in params:
      return feats_NxD
    return feats_NxD @ params['head']['w'] + params['head']['b'].reshape(1, -1)

  return core.Model(init, apply, features)
