"""A foreign QUIC client (aioquic) against a peergroup member endpoint.

    quic_client.py HOST PORT no-cert
    quic_client.py HOST PORT cert CERT.pem KEY.pem
    quic_client.py HOST PORT stall CERT.pem KEY.pem

Speaks ALPN peergroup/1 and does not check the server's certificate. With `no-cert` it offers
no client certificate; with `cert` it presents the given one and, once connected, sends a
membership proof of a group the server is not in; with `stall` it presents the certificate,
then sends nothing (a half-open handshake) until it is closed or 15 s pass. Prints one line
per outcome:
`HANDSHAKE_FAILED <reason>`, `CONNECTED`, `CLOSED <error code> <reason>`, and
`RECEIVED <n>`: the bytes of stream data the server sent (must be 0: no group data before the
proofs held). Every wait is bounded.
"""

import asyncio
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived

# A proof of the group "0.elsewhere" with one (meaningless) certificate: well formed, refused.
PROOF = b"PGM1" + len(b"0.elsewhere").to_bytes(2, "big") + b"0.elsewhere" + b"\x01" + b"\x00\x01" + b"\x00"


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = 0
        self.closed = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.received += len(event.data)
        elif isinstance(event, ConnectionTerminated) and not self.closed.done():
            self.closed.set_result((event.error_code, event.reason_phrase))


async def main(host, port, mode, cert=None, key=None):
    config = QuicConfiguration(is_client=True, alpn_protocols=["peergroup/1"], server_name="peergroup.invalid")
    config.verify_mode = ssl.CERT_NONE
    if mode in ("cert", "stall"):
        config.load_cert_chain(cert, key)
    try:
        async with connect(host, port, configuration=config, create_protocol=Client, wait_connected=True) as client:
            print("CONNECTED", flush=True)
            if mode == "stall":
                try:
                    code, reason = await asyncio.wait_for(client.closed, 15)
                    print(f"CLOSED {code} {reason}", flush=True)
                except asyncio.TimeoutError:
                    print("STALLED", flush=True)
                return
            stream = client._quic.get_next_available_stream_id()
            client._quic.send_stream_data(stream, PROOF, end_stream=True)
            client.transmit()
            code, reason = await asyncio.wait_for(client.closed, 10)
            print(f"CLOSED {code} {reason}", flush=True)
            print(f"RECEIVED {client.received}", flush=True)
    except (ConnectionError, asyncio.TimeoutError) as e:
        print(f"HANDSHAKE_FAILED {type(e).__name__} {e}", flush=True)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:]), 20))
