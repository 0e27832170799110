"""The floor every stage stands on: the contracts and the plumbing, no stage logic.

taxonomy (the 22 EPCO complications, grades, zh/en names), records (the case contract: cohort.jsonl),
predictions (the {case_id: [labels]} file shape every scorer reads), params (the typed Params model and
params files), io (atomic writes, JSON), logs (show_logs). Reads and writes only those files.
May import: nothing of the package.
"""
