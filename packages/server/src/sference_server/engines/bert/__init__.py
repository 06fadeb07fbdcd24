"""Sentence embeddings with a BERT-family model (all-MiniLM-L6-v2 by default), run with numpy."""
