"""Conjugate gradient over pytrees, for implicit meta-gradients (iMAML) and the like."""

import jax
import jax.numpy as jnp

from metaft import core


def tree_dot(a: core.PyTree, b: core.PyTree) -> jax.Array:
  """The inner product of two pytrees of the same structure."""
  return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def truncated_cg(matvec, b: core.PyTree, *, x0: core.PyTree, steps: int) -> core.PyTree:
  """``steps`` conjugate-gradient iterations on ``matvec(x) = b`` from ``x0`` (a
  ``lax.fori_loop``); an iteration that meets non-positive curvature ``p . A p <= 0`` (an
  indefinite ``A``) or a zero residual leaves ``x`` as it is (Steihaug's truncated CG)."""
  axpy = lambda a, x, y: jax.tree.map(lambda u, w: a * u + w, x, y)

  def body(_, carry):
    x, r, p, rs, done = carry
    ap = matvec(p)
    pap = tree_dot(p, ap)
    done = done | (pap <= 0) | (rs <= 0)
    alpha = jnp.where(done, 0.0, rs / jnp.where(done, 1.0, pap))
    x, r = axpy(alpha, p, x), axpy(-alpha, ap, r)
    rs_new = tree_dot(r, r)
    p = axpy(jnp.where(done, 0.0, rs_new / jnp.where(done, 1.0, rs)), p, r)
    return x, r, p, rs_new, done

  r = axpy(-1.0, matvec(x0), b)
  init = (x0, r, r, tree_dot(r, r), jnp.zeros((), bool))
  return jax.lax.fori_loop(0, steps, body, init)[0]
