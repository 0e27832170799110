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
# Definitions: `None` uses the packaged English definitions; pass the path of the authors'
# `prompt/defination_modified.md` for the Chinese prompts of the paper.

# %% tags=["parameters"]
cohort_path = "../runs/smollm2-135m/seed-1/cohort.jsonl"
definitions = None
language = "en"
strategy = "targeted"
prompt_layout = "paper"
comprehensive_think = True
complications = None
tokenizer_name = None
out_dir = "../runs/smollm2-135m/seed-1"

# %%
from pericomp_lib import models, prompts, records

cases = records.load_cohort(cohort_path)
defs = prompts.load_definitions(definitions, language=language)
print(f"{len(cases)} cases; definitions: {defs.source} ({defs.language}, {len(defs.sections)} complications)")

# %% [markdown]
# ## Build and write the prompt files
# `targeted_prompts.json` is `{case_id: {zh heading: prompt}}` and `comprehensive_prompts.json` is
# `{case_id: prompt}`, the shapes of the authors' published files; `sft_targets.json` has the same
# shape with the gold answers in place of the prompts.

# %%
built = prompts.build_prompt_files(cases, defs, out_dir, strategy=strategy, layout=prompt_layout,
                                   think=comprehensive_think, complications=complications)
print("wrote", built["prompts_path"], "and", built["targets_path"])

# %% [markdown]
# ## How long are the prompts?
# Prompt length drives memory and time in fine-tuning and inference. Without a tokenizer the counts
# are a proxy (one per Chinese character plus one per other word); give `tokenizer_name` for real
# token counts.

# %%
tokenizer = models.load_tokenizer(tokenizer_name) if tokenizer_name else None
lengths = prompts.token_lengths(built["prompts"], tokenizer)
prompts.length_stats(lengths)

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
