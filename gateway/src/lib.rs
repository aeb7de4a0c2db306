//! The HTTP gateway (REST, OpenAI-compatible API, webhook, chat page): not built yet — see issue 5.
