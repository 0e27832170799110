"""PeriComp Lab: perioperative-complication detection with fine-tuned LLMs, reproducibly."""

from .core.logs import show_logs

__version__ = "0.1.0"
__all__ = ["show_logs"]
