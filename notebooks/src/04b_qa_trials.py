# %% [markdown]
# # 04b · Chart Q&A: answers by subject, and the validation trials
#
# **QA by subject** (first cell below): pick a subject, ask a question; the answer is grounded in that subject's
# context, which is printed with it (cut to the model's context, with a message, when too long). The same from
# a terminal: `pericomp qa --run-dir RUN_DIR --params PARAMS --subject-id N --question "..." [--base]`.
#
# **Validation trials**: `qa_trials` subjects of the validation split (drawn with the seed; never trained on),
# the guidance questions asked round-robin, the base model and the adapter side by side, greedy (`qa_temperature`
# > 0 samples, with a seed per trial). Each answer is scored against the question's ideal answer and must-have
# facts (`chartqa/scoring.py`). Answers are stored one by one in `qa_raw.jsonl`, so a stopped run resumes;
# `validation.csv` holds one row per trial with both answers and their scores.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json; or a params file that overrides it
run_dir = None  # the run folder holding subjects.jsonl and adapter/ (from 01b-03b)
qa_subject = None  # a subject_id to ask about; None: the first subject of the first trial
qa_question = "I have noticed some bruising on my arms and my gums bleed when I brush. What should I do?"

# %%
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.chartqa import qa, trials
from pericomp_lib.pipeline.notebook_params import from_notebook

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "04b")
loaded = qa.load(params, run_dir)
subjects = qa.load_subjects(run_dir / "subjects.jsonl")
qa_subject = qa_subject or trials.first_trial_subject(params, subjects)
answer = qa.ask(params, run_dir, qa_subject, qa_question, loaded=loaded, subjects=subjects)
print(qa.show(answer))

# %% [markdown]
# ## The validation trials

# %%
table = trials.run_trials(params, run_dir, loaded=loaded)
cols = [c for c in table.columns if c.endswith(("must_have_recall", "section_adherence", "rouge_l"))]
display(table[["trial", "subject_id", "question_id", *cols]].head(12))
