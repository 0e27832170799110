"""PeriComp Lab: perioperative-complication detection with fine-tuned LLMs, reproducibly."""
__version__ = "0.1.0"
