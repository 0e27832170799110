# %% [markdown]
# # 02 · Prompts and SFT targets
#
# Turns each case of the cohort into the prompts the paper sends to a model, and into the answers a
# fine-tuned model should give (built from the gold labels).
#
# - **comprehensive** strategy: one prompt per case asks for all 22 complications at once.
# - **targeted** strategy: 22 prompts per case, one complication each; the model answers
#   `{"think": ..., "bool": "True"/"False", "grading": ...}`.
# - **paper** layout reproduces the authors' prompt text exactly (record at the end);
#   **shared_prefix** puts the record first so the 22 prompts of a case share a cacheable prefix.
#
# Definitions: the params key `definitions` (None: the packaged definitions for `language`); give the path of
# the authors' `prompt/defination_modified.md` for the Chinese prompts of the paper.
#
# **Where the prompt files go.** This stage reads `RUN_DIR/cohort.jsonl` (01) and the run's params
# (`RUN_DIR/params.json`) and writes the prompt files into the run folder. They are a **view**: 03 and 04 build
# the very same prompts from the cohort and the params with the same builders (`sft_data.sft_examples`,
# `jobs.build_jobs`), so you can read, count and share them here, and skipping this stage changes nothing.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json (written by 01); or a params file that overrides it
run_dir = None  # None: runs/<run_name>/seed-<seed>/ of the CPU default profile
tokenizer_name = None  # a tokenizer for real token counts (e.g. "smollm2-135m"); None: a word-count proxy

# %%
from pericomp_lib import show_logs
from pericomp_lib.core import records
from pericomp_lib.llm import models, tokens
from pericomp_lib.pipeline.notebook_params import from_notebook
from pericomp_lib.prompting import sft_data
from pericomp_lib.prompting.definitions import load_definitions  # not `definitions`: that name is a params key

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "02")
cases = records.load_cohort(run_dir / "cohort.jsonl")
defs = load_definitions(params["definitions"], language=params["language"])
print(f"{len(cases)} cases; definitions: {defs.source} ({defs.language}, {len(defs.sections)} complications)")

# %% [markdown]
# ## Build and write the prompt files
# `targeted_prompts.json` is `{case_id: {zh heading: prompt}}` and `comprehensive_prompts.json` is
# `{case_id: prompt}`, the shapes of the authors' published files; `sft_targets.json` has the same
# shape with the gold answers in place of the prompts.

# %%
built = sft_data.build_prompt_files(
    cases,
    defs,
    run_dir,
    strategy=params["strategy"],
    layout=params["prompt_layout"],
    think=params["comprehensive_think"],
    complications=params["complications"],
    answer_layout=params["answer_layout"],
    question_style=params["question_style"],
    negative_quote=params["negative_quote"],
)
print("wrote", built["prompts_path"], "and", built["targets_path"])

# %% [markdown]
# ## How long are the prompts?
# Prompt length drives memory and time in fine-tuning and inference. Without a tokenizer the counts
# are the proxy 01 uses for records (`tokens.count_tokens`: one per Chinese character, word, number or
# punctuation mark); give `tokenizer_name` for real token counts.

# %%
tokenizer = models.load_tokenizer(tokenizer_name) if tokenizer_name else None
lengths = tokens.token_lengths(built["prompts"], tokenizer)
tokens.length_stats(lengths)

# %% [markdown]
# ## One prompt and its target

# %%
first = next(iter(built["prompts"]))
example_prompt = built["prompts"][first]
example_target = built["targets"][first]
if isinstance(example_prompt, dict):
    key = next(iter(example_prompt))
    example_prompt, example_target = example_prompt[key], example_target[key]
print(example_prompt[:1500])
print("\n--- target ---\n" + example_target)
