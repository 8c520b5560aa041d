"""Telegram gateway: priority send scheduling, the persisted outbox, the Bot API client and message layouts.

Nothing here knows about actors; the Telegram actors own these pieces and drive them.
`sender` and `formatting` are pure (time is passed in); `client` is the only module that does I/O over HTTP and
`outbox` the only one that touches a file.
"""
