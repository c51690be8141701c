"""Model names as clients send them, reduced to the name a price table knows.

`openai/gpt-4o-2024-08-06`, `models/gemini-1.5-pro-002`, `us.anthropic.claude-3-5-sonnet-20240620-v1:0`
and `claude-3-5-sonnet@20240620` all become the bare family name (`gpt-4o`, `gemini-1.5-pro`,
`claude-3-5-sonnet`), so one definition covers every way a provider or router spells a model.
"""

from __future__ import annotations

import functools
import re

# Routers and SDKs put the provider (and sometimes a region) in front of the model.
_PREFIX = re.compile(
    r"^(?:(?:openai|azure|anthropic|google|vertex_ai|vertexai|gemini|bedrock|mistral|mistralai|"
    r"meta|meta-llama|groq|together|together_ai|fireworks_ai|openrouter|deepseek|cohere|xai|"
    r"accounts/fireworks/models|models|publishers/[a-z]+/models)/)+"
)
# Bedrock: "us.anthropic.claude-…-v1:0", "meta.llama3-1-70b-instruct-v1:0"
_BEDROCK = re.compile(r"^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|cohere|amazon|ai21)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_SUFFIXES = (
    re.compile(r"[-@](?:19|20)\d{2}-?\d{2}-?\d{2}$"),  # -2024-08-06, -20241022, @20240620
    re.compile(r"-(?:preview|exp)-\d{2}-\d{2}$"),  # Gemini -preview-05-20
    re.compile(r"-(?:latest|preview)$"),
    re.compile(r"-\d{3}$"),  # Gemini -001 / -002
    re.compile(r"-\d{4}$"),  # OpenAI -0125 / -1106
)


@functools.lru_cache(maxsize=4096)
def normalise_model_name(name: str) -> str:
    value = name.strip().lower()
    value = _PREFIX.sub("", value)
    if _BEDROCK.match(value):
        value = _BEDROCK.sub("", value)
        value = _BEDROCK_VERSION.sub("", value)
    value = value.removesuffix(":latest")
    changed = True
    while changed:
        changed = False
        for pattern in _SUFFIXES:
            stripped = pattern.sub("", value)
            if stripped != value and stripped:
                value, changed = stripped, True
    return value
