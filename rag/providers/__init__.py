"""Model providers behind the `rag.generation.Provider` interface.

`bedrock` (Amazon Bedrock Converse / ConverseStream), `cml_models` (the CML
Models endpoint), `caii` (Cloudera AI Inference, OpenAI-compatible). The
offline extractive answerer lives in `rag.extractive`.
"""
