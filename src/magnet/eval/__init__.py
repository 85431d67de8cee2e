"""BFCL evaluation: runners (local model, endpoint, reference, silent), the multi-turn loop, single-turn
queries, scoring with ``bfcl_eval``'s own checkers, and the paper's Table 2 summary."""
