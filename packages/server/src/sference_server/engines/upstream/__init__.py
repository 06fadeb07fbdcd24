"""``openai``: an engine that forwards requests to OpenAI-compatible servers (vLLM, SGLang,
llama.cpp's ``llama-server``, TGI, Ollama, hosted APIs)."""
