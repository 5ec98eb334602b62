"""quantlab: resiliency of deep neural networks under weight quantization.

A small functional JAX + Flax + Optax library and the code behind the companion
Jupyter Book to Sung, Shin & Hwang, "Resiliency of Deep Neural Networks under
Quantization" (arXiv 1511.06488). See ARCHITECTURE.md for the module map.

Heavy dependencies (TensorFlow, tensorflow-datasets, Altair) are imported lazily
inside the functions that need them, so ``import quantlab`` stays cheap.
"""

__version__ = "0.1.0"

# Bumped by hand whenever a change alters numerical results (see ARCHITECTURE.md).
NUMERICS_VERSION = 5
