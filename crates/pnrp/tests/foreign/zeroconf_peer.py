"""A foreign DNS-SD peer for tests/mdns.rs, on python-zeroconf over IPv6 only.

publish NAME PEER_NAME ADDRESS PORT: registers NAME._peergroup._udp.local. with the TXT of an
unsecured peergroup announcement, prints PUBLISHED, serves until its standard input closes.
browse TIMEOUT_S: browses _peergroup._udp.local. and prints one line `FOUND <json>` with the
TXT properties of every instance resolved within the time.
"""
import json
import socket
import sys
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf

SERVICE = "_peergroup._udp.local."


def publish(name, peer_name, address, port):
    zc = Zeroconf(ip_version=IPVersion.V6Only)
    properties = {
        "v": "pg1",
        "pn": peer_name,
        "c": "python-zeroconf",
        "ep": f"[{address}]:{port}",
        "x": str(int(time.time()) + 120),
    }
    info = ServiceInfo(
        SERVICE,
        f"{name}.{SERVICE}",
        addresses=[socket.inet_pton(socket.AF_INET6, address)],
        port=int(port),
        properties=properties,
        server=f"{name}.local.",
    )
    zc.register_service(info)
    print("PUBLISHED", flush=True)
    sys.stdin.read()
    zc.unregister_service(info)
    zc.close()


def browse(timeout_s):
    zc = Zeroconf(ip_version=IPVersion.V6Only)
    names = set()

    class Handler:
        def add_service(self, zc, type_, name):
            names.add(name)

        def update_service(self, zc, type_, name):
            names.add(name)

        def remove_service(self, zc, type_, name):
            pass

    ServiceBrowser(zc, SERVICE, Handler())
    deadline = time.time() + float(timeout_s)
    found = {}
    while time.time() < deadline:
        for name in list(names):
            if name in found:
                continue
            info = zc.get_service_info(SERVICE, name, timeout=1000)
            if info is not None:
                found[name] = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        if found:
            break
        time.sleep(0.05)
    print("FOUND " + json.dumps(found), flush=True)
    zc.close()


if __name__ == "__main__":
    if sys.argv[1] == "publish":
        publish(*sys.argv[2:6])
    else:
        browse(sys.argv[2])
