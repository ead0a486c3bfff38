"""python-zeroconf as the mDNS peer of the mdns specs.

    python zeroconf_peer.py announce NAME TYPE PORT ADDRESS [KEY=VALUE ...]
        registers NAME.TYPE.local. at ADDRESS:PORT with those TXT entries, prints "ready",
        and withdraws it when stdin closes.
    python zeroconf_peer.py browse TYPE SECONDS
        prints one JSON line per service resolved within SECONDS: name, port, addresses, txt.
"""
import json
import socket
import sys
import time

from zeroconf import ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf


def announce(name, type_, port, address, pairs):
    zc = Zeroconf(interfaces=[address])
    info = ServiceInfo("%s.local." % type_, "%s.%s.local." % (name, type_), port=int(port),
                       addresses=[socket.inet_aton(address)], server="%s.local." % name,
                       properties=dict(p.split("=", 1) for p in pairs))
    zc.register_service(info)
    print("ready", flush=True)
    sys.stdin.read()
    zc.unregister_service(info)
    zc.close()


def browse(type_, seconds):
    zc = Zeroconf(interfaces=["127.0.0.1"])
    seen = set()

    def changed(zeroconf, service_type, name, state_change):
        if state_change is not ServiceStateChange.Added or name in seen:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=2000)
        if info:
            seen.add(name)
            print(json.dumps({"name": name, "port": info.port, "addresses": info.parsed_addresses(),
                              "txt": {k.decode(): (v or b"").decode() for k, v in info.properties.items()}}),
                  flush=True)

    ServiceBrowser(zc, "%s.local." % type_, handlers=[changed])
    time.sleep(float(seconds))
    zc.close()


if __name__ == "__main__":
    if sys.argv[1] == "announce":
        announce(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    else:
        browse(sys.argv[2], sys.argv[3])
