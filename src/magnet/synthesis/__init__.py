"""Synthesis: from a function pool to multi-turn trajectories (graph, paths, operations, translation, distillation)."""
