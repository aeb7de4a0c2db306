//! The agent service (search, LLM answers, conversation memory): not built yet — see issue 4.
