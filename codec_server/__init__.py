"""The codec server: its own process, decrypting claim payloads for operators in the
Temporal UI and CLI (`python -m uvicorn codec_server.app:app`). See codec_server.app."""
