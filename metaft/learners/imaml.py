"""iMAML, implicit MAML (Rajeswaran, Finn, Kakade & Levine, NeurIPS 2019)."""

import functools

import jax
import optax
from optax import tree_utils as otu

from metaft import core
from metaft.errors import UserError
from metaft.learners.cg import truncated_cg
from metaft.learners.maml import support_loss


def imaml(
    model: core.Model,
    loss,
    *,
    lam: float = 1.0,
    inner_lr: float = 0.01,
    inner_steps: int = 10,
    inner_opt: optax.GradientTransformation | None = None,
    cg_steps: int = 5,
    cg_lam: float | None = None,
    pull_back: bool = False,
) -> core.MetaLearner:
  """Implicit MAML: the meta-gradient of a proximal inner problem, by conjugate gradient.

  ``adapt`` runs ``inner_steps`` of ``inner_opt`` on ``L_s(phi) + lam/2 ||phi - theta||^2``
  from ``theta``. At its minimum, ``d phi / d theta = (I + H / lam)^-1`` with ``H`` the
  Hessian of ``L_s`` at ``phi``, so the meta-gradient of ``L_q(phi(theta))`` solves
  ``(I + H / lam) v = grad L_q(phi)``: ``cg_steps`` of conjugate gradient on Hessian-vector
  products from ``v = grad L_q(phi)`` (``cg_steps=0``: first order). A ``jax.custom_vjp`` on
  ``theta -> phi`` holds this rule, so nothing of the inner loop is kept for the backward
  pass: memory does not grow with ``inner_steps``. ``I + H / lam`` is indefinite when ``H``
  has eigenvalues below ``-lam`` (common for ReLU nets): CG then stops at the first direction
  of non-positive curvature (truncated CG).

  Args:
    model, loss: as for ``maml``.
    lam: the proximal strength lambda. ``lam=0`` only adapts (plain descent on the support
      loss, how the authors' code meta-tests); ``meta_loss`` then raises.
    inner_lr, inner_steps, inner_opt: as for ``maml``.
    cg_steps: conjugate-gradient iterations (the paper uses a handful, e.g. 5).
    cg_lam: the lambda of the CG system ``(I + H / cg_lam) v = g`` (default ``lam``). The
      authors' code solves ``((1 + 1) I + H / (lam + 10)) v = g``: ``cg_lam = 2 (lam + 10)``,
      whose solution is twice theirs (with Adam, double their ``eps`` to match).
    pull_back: the authors' inner loop: ``inner_steps`` on the support loss alone, then one
      step on the proximal term alone (``phi -= inner_lr * lam * (phi - theta)`` for SGD).
  """
  cg_lam = lam if cg_lam is None else cg_lam
  if min(inner_steps, cg_steps, lam, cg_lam) < 0:
    raise UserError(f'imaml needs inner_steps, cg_steps, lam and cg_lam >= 0, got inner_steps='
                    f'{inner_steps}, cg_steps={cg_steps}, lam={lam}, cg_lam={cg_lam}.')
  optimizer = inner_opt if inner_opt is not None else optax.sgd(inner_lr)

  def adapt(theta, support, *, steps=None, key=None):
    del key  # deterministic
    def proximal(phi):
      return 0.5 * lam * otu.tree_norm(otu.tree_sub(phi, theta), squared=True)
    task_loss = functools.partial(support_loss, model, loss, split=support)
    n = inner_steps if steps is None else steps
    if pull_back:
      phi = core.inner_loop(task_loss, theta, optimizer, n)[0]
      return core.inner_loop(proximal, phi, optimizer, 1)[0]
    return core.inner_loop(lambda phi: task_loss(phi) + proximal(phi), theta, optimizer, n)[0]

  @jax.custom_vjp
  def solve(theta, support):
    return adapt(theta, support)

  def solve_fwd(theta, support):
    phi = adapt(theta, support)
    return phi, (phi, support)

  def solve_bwd(residuals, g_phi):
    phi, support = residuals
    grad_fn = jax.grad(functools.partial(support_loss, model, loss, split=support))
    def matvec(v):  # (I + H / cg_lam) v
      hv = jax.jvp(grad_fn, (phi,), (v,))[1]
      return jax.tree.map(lambda a, b: a + b / cg_lam, v, hv)
    return truncated_cg(matvec, g_phi, x0=g_phi, steps=cg_steps), None  # None: support

  solve.defvjp(solve_fwd, solve_bwd)

  def meta_loss(theta, task, *, key=None):
    del key
    if lam == 0 or cg_lam == 0:
      raise UserError('imaml with lam=0 (or cg_lam=0) only adapts; meta-train with lam > 0 '
                      '(the implicit meta-gradient needs the proximal term).')
    return support_loss(model, loss, solve(theta, task.support), task.query), {}

  return core.MetaLearner(model.init, adapt, model.apply, meta_loss)


# For the conformance suite: the inner problem solved, so the implicit gradient is exact.
imaml.conformance = {'settings': {'inner_lr': 0.1, 'inner_steps': 200, 'cg_steps': 10}}
