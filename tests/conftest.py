"""Strict JAX for every test, and four fake CPU devices so sharding code is exercised."""

import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '')
                           + ' --xla_force_host_platform_device_count=4').strip()

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update('jax_numpy_rank_promotion', 'raise')
