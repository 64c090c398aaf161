"""`wlk serve`: the same sessions over WebSockets and HTTP, many at once on one engine's models.

``hub`` (the engine, capacity, one thread per stream, metrics), ``protocols`` (WhisperLiveKit's ``/asr``
state and our native JSON lines), ``security`` (token, Origin), ``openai_api`` (the OpenAI-compatible
endpoints), ``routes`` (the Starlette application), ``serve`` (uvicorn), ``client`` (the terminal front
end on a remote server) and ``web/`` (the page).
"""
