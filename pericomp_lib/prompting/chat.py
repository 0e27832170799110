"""Chat-template rendering of one prompt, and the split of a rendered prompt after its shared prefix.

Training and inference must render a prompt identically, or the fine-tuned model sees at inference a
text it never saw in training; both therefore come here.
"""

from __future__ import annotations

from typing import Any


def uses_thinking_switch(tokenizer) -> bool:
    """Qwen3-style templates take `enable_thinking`; passing it to others would be an error."""
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "enable_thinking" in template


def chat_text(tokenizer, user_text: str, enable_thinking: bool = False) -> str:
    """One user turn rendered by the model's chat template, ready for generation; plain text when the
    tokenizer has no template (base models) or no tokenizer is given."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return user_text
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
    if uses_thinking_switch(tokenizer):  # Qwen3: thinking on/off lives in the template
        kwargs["enable_thinking"] = enable_thinking
    return tokenizer.apply_chat_template([{"role": "user", "content": user_text}], **kwargs)


def chat_messages_text(tokenizer, messages: list[dict], enable_thinking: bool = False) -> str:
    """A conversation (system and user turns, no assistant answer yet) rendered for generation: the chart
    Q&A study's prompt, in training and at answer time alike. Without a template: the turns' contents,
    one paragraph each."""
    if not messages or messages[-1].get("role") != "user":
        raise ValueError("a prompt conversation must end with the user's turn (the answer is generated)")
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return "\n\n".join(m["content"] for m in messages)
    kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": True}
    if uses_thinking_switch(tokenizer):
        kwargs["enable_thinking"] = enable_thinking
    return tokenizer.apply_chat_template(list(messages), **kwargs)


_SENTINEL = "\u2063PERICOMP-SPLIT\u2063"


def chat_prefix_suffix(tokenizer, prefix: str, question: str, enable_thinking: bool = False) -> tuple[str, str]:
    """(head, tail) with head + tail == chat_text(prefix + question) and head ending right after the
    record prefix, so the KV cache of `head` serves all 22 questions of a case."""
    full = chat_text(tokenizer, prefix + question, enable_thinking)
    marked = chat_text(tokenizer, prefix + _SENTINEL + question, enable_thinking)
    if marked.count(_SENTINEL) != 1:
        raise ValueError(
            "the chat template rewrites the prompt text, so it cannot be split after the record; "
            "use prompt_layout='paper' with this model"
        )
    head, tail = marked.split(_SENTINEL)
    if head + tail != full:
        raise ValueError(
            "the chat template renders the prompt differently around the split point (it trims or rewrites "
            "content); use prompt_layout='paper' with this model"
        )
    return head, tail
