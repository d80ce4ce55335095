"""Synthetic interchange data: a consistent province with realistic faults in it.

``generate(out_dir, scale="S", seed=0, months=None)`` writes the input tables of
INTERCHANGE.md as CSV plus ``faults.csv`` and ``manifest.json``.
"""

from interchange.synthetic.generator import GenerationResult, generate

__all__ = ["GenerationResult", "generate"]
