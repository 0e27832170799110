"""Write a notebook (no outputs) from a percent-format script, so notebook sources stay reviewable.

Cells start with `# %%` (code), `# %% [markdown]` (markdown; lines lose their leading '# '), or
`# %% tags=["parameters"]` (the papermill parameters cell).
usage: python tools/py2nb.py notebooks/src/01_cohort.py notebooks/01_cohort.ipynb
"""
import re
import sys

import nbformat


def convert(src: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    blocks = re.split(r"^# %%(.*)$", src, flags=re.M)
    for header, body in zip(blocks[1::2], blocks[2::2]):
        body = body.strip("\n")
        if "[markdown]" in header:
            text = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(body)
            tags = re.findall(r'"([^"]+)"', header.split("tags=", 1)[1]) if "tags=" in header else []
            if tags:
                cell.metadata["tags"] = tags
            nb.cells.append(cell)
    for cell in nb.cells:  # deterministic ids keep diffs quiet
        cell.id = f"cell-{nb.cells.index(cell)}"
    return nb


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    nbformat.write(convert(open(src, encoding="utf-8").read()), dst)
