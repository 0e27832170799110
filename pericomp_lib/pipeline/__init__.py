"""Running the stages: the batch runner and the notebooks' setup.

batch (papermill over params files x seeds, Ctrl-C, GPUs), stages (fingerprints, manifests, what is up to
date), notebook_runner (streamed output), batch_report (the summary table), slurm (job-array script),
notebook_params (a notebook's params: precedence, typos), runfolder (each notebook's run-folder setup).
Reads params files; writes RUN_DIR/notebooks/ (executed), .stages/NN.json, summary.json, RUNS_DIR/batch_summary.json.
May import: every folder below (core up to evaluation).
"""
