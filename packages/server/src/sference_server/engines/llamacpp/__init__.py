"""The embedded engine: llama.cpp (llama-cpp-python's low-level API) with continuous batching.

``engine.LlamaCppEngine`` loads llama.cpp; ``options.LlamaCppOptions`` does not.
"""
