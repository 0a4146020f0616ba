"""The LLM fallback: what is asked and how the answer is read (`request`, pure), the client that
asks (`client`: openai + instructor, retries, the answer cache), the hard cost cap (`budget`),
model prices (`prices`) and the local model (`local_model`). Nothing here is imported by a
rules-only run except `request`, which loads pydantic only when a request is built."""
