"""The official OpenAI Python SDK, unmodified, against the gateway.

Environment: SHEETMESH_BASE_URL (…/v1), SHEETMESH_API_KEY. Prints one JSON
line with what it saw; exits non-zero on any failure.
"""
import json
import os

import openai

client = openai.OpenAI(base_url=os.environ["SHEETMESH_BASE_URL"], api_key=os.environ["SHEETMESH_API_KEY"], max_retries=0)
question = [{"role": "user", "content": "What does the Kettle cost?"}]

models = [model.id for model in client.models.list()]

plain = client.chat.completions.create(model="sheetmesh", messages=question)
plain_text = plain.choices[0].message.content
plain_citations = (plain.model_extra or {}).get("citations", [])

streamed_text = ""
streamed_citations = []
finish_reason = None
for chunk in client.chat.completions.create(model="sheetmesh", messages=question, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        streamed_text += chunk.choices[0].delta.content
    if chunk.choices and chunk.choices[0].finish_reason:
        finish_reason = chunk.choices[0].finish_reason
    streamed_citations = (chunk.model_extra or {}).get("citations", streamed_citations)

try:
    openai.OpenAI(base_url=os.environ["SHEETMESH_BASE_URL"], api_key="wrong", max_retries=0).models.list()
    bad_key = "accepted"
except openai.AuthenticationError:
    bad_key = "401"

print(json.dumps({
    "models": models,
    "plain": plain_text,
    "plain_citations": len(plain_citations),
    "streamed": streamed_text,
    "streamed_citations": len(streamed_citations),
    "finish_reason": finish_reason,
    "bad_key": bad_key,
}))
