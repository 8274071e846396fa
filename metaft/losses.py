"""Losses and metrics for one task (outputs of the model, targets)."""

import jax.numpy as jnp
import optax


def mse(outputs_NxD, y_NxD):
  """Mean squared error over examples and output dimensions."""
  return jnp.mean(optax.squared_error(outputs_NxD, y_NxD))


def cross_entropy(logits_NxC, labels_N):
  """Softmax cross-entropy with integer labels, averaged over examples."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N))


def accuracy(logits_NxC, labels_N):
  """Fraction of examples whose arg-max class is the label."""
  return jnp.mean(jnp.argmax(logits_NxC, axis=-1) == labels_N)


def regression_metrics(outputs, y):
  return {'mse': mse(outputs, y)}


def classification_metrics(logits, labels):
  return {'accuracy': accuracy(logits, labels), 'loss': cross_entropy(logits, labels)}
