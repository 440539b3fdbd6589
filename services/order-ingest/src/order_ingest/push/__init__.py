"""The OMS push hand-off (docs/orders.md, "OMS push").

- `payload`: the delivery key (`Idempotency-Key`) and the JSON body;
- `signing`: the `X-TTS-Signature` header (HMAC-SHA256 over ``"<t>.<raw body>"``);
- `schedule`: capped exponential backoff with jitter, and when a delivery is dead;
- `store`: the deliveries table (queue, claim with `SKIP LOCKED`, settle, list, replay);
- `worker`: the consumer of the service's own order events and the sending worker.
"""
