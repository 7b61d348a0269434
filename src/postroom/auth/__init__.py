"""Authentication shared by every door: password storage (``passwords``), SASL mechanisms
(``sasl``), the policy that ties them to a connection (``authenticator``), failure counters
(``ratelimit``) and the server TLS context (``tls``)."""
