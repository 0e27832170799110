"""Where cases come from: synthetic, the authors' repository layout, a user's JSONL/CSV, MIMIC-IV."""
