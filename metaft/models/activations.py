"""Activation functions with (possibly no) learnable parameters, as pure ``(init, apply)`` pairs.

Every activation acts elementwise; per-channel parameters index the last axis, so ``apply``
takes inputs of any rank (``x_NxHxWxC`` in conv4, ``h_NxD`` in an MLP). Models keep the
parameters of their ``i``-th activation under the key ``act<i>``, and only for activations
that have some, so ``'relu'`` models have the parameter trees they always had.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metaft.errors import UserError

ACTIVATIONS = ('relu', 'prelu', 'swish', 'rational', 'pwl')

Params = dict[str, jax.Array]


class Activation(NamedTuple):
  """``init(channels) -> params`` (``{}`` when there are none); ``apply(params, x) -> y``."""

  init: Callable[[int], Params]
  apply: Callable[[Params, jax.Array], jax.Array]


def _per_channel(v_C, x):
  """``v_C`` shaped to broadcast against ``x``'s last axis without rank promotion."""
  return v_C.reshape((1,) * (x.ndim - 1) + (-1,))


def relu() -> Activation:
  """``max(x, 0)``, no parameters."""
  return Activation(lambda channels: {}, lambda params, x: jax.nn.relu(x))


def prelu(*, init_slope: float = 0.25) -> Activation:
  """Parametric ReLU, ``x`` for ``x >= 0`` and ``slope_c * x`` below, a slope per channel.

  Parameters: ``{'slope': [C]}``, initialised at 0.25.

  Reference: He, Zhang, Ren & Sun, "Delving Deep into Rectifiers", ICCV 2015.
  """
  def init(channels):
    return {'slope': jnp.full((channels,), init_slope, jnp.float32)}

  def apply(params, x):
    return jnp.where(x >= 0, x, _per_channel(params['slope'], x) * x)

  return Activation(init, apply)


def swish(*, init_beta: float = 1.0) -> Activation:
  """Swish, ``x * sigmoid(beta_c * x)``, a ``beta`` per channel (SiLU at ``beta = 1``).

  Parameters: ``{'beta': [C]}``, initialised at 1.

  Reference: Ramachandran, Zoph & Le, "Searching for Activation Functions", 2017.
  """
  def init(channels):
    return {'beta': jnp.full((channels,), init_beta, jnp.float32)}

  def apply(params, x):
    return x * jax.nn.sigmoid(_per_channel(params['beta'], x) * x)

  return Activation(init, apply)


# The safe PAU closest to ReLU on [-3, 3] in the max norm, computed offline in float64: a
# least-squares fit on 6001 points of [-3, 3] from 31 starts (scipy's Levenberg-Marquardt),
# refined by BFGS on the L^p error for p = 4 .. 64, then Nelder-Mead on the max error. The
# best fit is symmetric, b1 = b3 = 0 and P(x) = x Q(x) / 2 + E(x) with E even (so
# P/Q = x/2 + E/Q, E/Q fitting |x|/2); refitting its five free numbers by Nelder-Mead on the
# max error gave these. Max |P/Q - relu| on [-3, 3]: 0.0129 (equioscillating, 0.0129 at 0);
# outside, P/Q grows like x/2 + a4/b4 in both directions. test_activations checks 0.015.
RATIONAL_RELU_NUMERATOR = (0.01291889, 0.5, 2.7565989, 4.42903828, 2.49112095, 0.44041677)
RATIONAL_RELU_DENOMINATOR = (0.0, 8.85807655, 0.0, 0.88083353)


def _polyval(coeffs, x):
  """``sum_j coeffs[j] x^j`` by Horner's rule (``coeffs`` in ascending powers)."""
  y = coeffs[-1] * jnp.ones_like(x)
  for j in range(coeffs.shape[0] - 2, -1, -1):
    y = y * x + coeffs[j]
  return y


def rational() -> Activation:
  """A safe Padé activation unit, ``P(x) / (1 + |b1 x + b2 x^2 + b3 x^3 + b4 x^4|)``.

  ``P`` has degree 5; the denominator is at least 1, so it never divides by zero. The ten
  coefficients are shared by all channels of a layer and start as the fit of ReLU on
  [-3, 3] above (max error 0.013 there).

  Parameters: ``{'numerator': [6] (a0 .. a5), 'denominator': [4] (b1 .. b4)}``.

  Reference: Molina, Schramowski & Kersting, "Padé Activation Units: End-to-end Learning of
  Flexible Activation Functions in Deep Networks", ICLR 2020.
  """
  def init(channels):
    del channels
    return {'numerator': jnp.array(RATIONAL_RELU_NUMERATOR, jnp.float32),
            'denominator': jnp.array(RATIONAL_RELU_DENOMINATOR, jnp.float32)}

  def apply(params, x):
    b = params['denominator']
    q = 1.0 + jnp.abs(x * _polyval(b, x))
    return _polyval(params['numerator'], x) / q

  return Activation(init, apply)


PWL_KNOTS = tuple(np.linspace(-3.0, 3.0, 7).tolist())  # -3, -2, ..., 3: 0 is a knot


def pwl(*, knots: tuple[float, ...] = PWL_KNOTS) -> Activation:
  """Piecewise linear with fixed knots, ``a x + b + sum_k c_k relu(x - t_k)``.

  ``a``, ``b`` and the ``c_k`` are shared by all channels of a layer (as the rational
  activation's coefficients: a few numbers per layer, cheap to adapt from a few examples).
  They start at exactly ReLU: ``c = 1`` at the knot 0, everything else 0.

  Parameters: ``{'slope': [] (a), 'bias': [] (b), 'hinges': [K] (c_k)}``.

  Args:
    knots: the ``t_k``, fixed; they must include 0.
  """
  if 0.0 not in knots:
    raise UserError(f'pwl knots must include 0 (to start at ReLU), got {knots}.')
  zero = knots.index(0.0)

  def init(channels):
    del channels
    return {'slope': jnp.zeros((), jnp.float32), 'bias': jnp.zeros((), jnp.float32),
            'hinges': jnp.zeros((len(knots),), jnp.float32).at[zero].set(1.0)}

  def apply(params, x):
    c_K = params['hinges']
    y = params['slope'] * x + params['bias']
    for k, t in enumerate(knots):
      y = y + c_K[k] * jax.nn.relu(x - t)
    return y

  return Activation(init, apply)


_FACTORIES = {'relu': relu, 'prelu': prelu, 'swish': swish, 'rational': rational, 'pwl': pwl}


def activation(name: str) -> Activation:
  """The activation called ``name``, one of ``ACTIVATIONS``, with its default settings.

  Args:
    name: ``'relu'``, ``'prelu'``, ``'swish'``, ``'rational'`` or ``'pwl'``.

  Returns:
    An ``Activation``.

  Example::

    act = activation('prelu')
    params = act.init(64)  # {'slope': [64]}
    y_NxHxWx64 = act.apply(params, x_NxHxWx64)
  """
  if name not in _FACTORIES:
    raise UserError(f'activation must be one of {ACTIVATIONS}, got {name!r}.')
  return _FACTORIES[name]()
