"""The Exchange ActiveSync door (MS-ASHTTP, MS-ASCMD): one HTTPS endpoint,
``/Microsoft-Server-ActiveSync``, mounted on the one ASGI app (``postroom.http``)."""
