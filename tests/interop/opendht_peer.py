#!/usr/bin/python3
"""A real OpenDHT node (python3-opendht's DhtRunner) driven over stdin/stdout.

One JSON object per line in, one per line out. Commands (field "op"):
  run       {"port"}           -> {"ok", "id", "port"}   bind 127.0.0.1
  bootstrap {"host", "port"}   -> {"ok"}
  get       {"key"}            -> {"ok", "values": [{"id", "data", "user_type"}]}
  put       {"key", "data", "id", "type"} -> {"ok", "stored"}
  listen    {"key"}            -> {"ok"}; then, for each value that arrives or
            expires, {"event": "value", "key", "expired", "value"}
  nodes     {}                 -> {"ok", "ids": [...]}  IPv4 routing table
  log       {"path"}           -> {"ok"}   OpenDHT's log into a file
  quit      {}                 -> exits
Keys are 40 hex characters, data is hex. Errors answer {"ok": false, "error"}.
The binding works only with /usr/bin/python3 (Debian's python3-opendht).
"""
import json
import re
import socket
import sys
import threading

import opendht as dht

lock = threading.Lock()


def emit(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def value_json(value):
    return {
        "id": str(value.id),
        "data": value.data.hex(),
        "user_type": value.user_type,
    }


def main():
    node = dht.DhtRunner()
    listens = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "run":
                node.run(port=int(cmd.get("port", 0)), ipv4="127.0.0.1")
                emit({"ok": True, "id": str(node.getNodeId().decode()),
                      "port": node.getBound(socket.AF_INET).getPort()})
            elif op == "bootstrap":
                node.bootstrap(cmd["host"], str(cmd["port"]))
                emit({"ok": True})
            elif op == "get":
                values = node.get(dht.InfoHash(cmd["key"].encode()))
                emit({"ok": True, "values": [value_json(v) for v in values]})
            elif op == "put":
                # In 2.4 the second argument is the value type.
                value = dht.Value(bytes.fromhex(cmd["data"]), int(cmd.get("type", 0)))
                if "id" in cmd:
                    value.id = int(cmd["id"])
                stored = node.put(dht.InfoHash(cmd["key"].encode()), value)
                emit({"ok": True, "stored": bool(stored)})
            elif op == "listen":
                key = cmd["key"]

                # 2.4 calls back with (value, expired).
                def heard(value, expired, key=key):
                    emit({"event": "value", "key": key, "expired": bool(expired),
                          "value": value_json(value)})
                    return True

                listens.append(node.listen(dht.InfoHash(key.encode()), heard))
                emit({"ok": True})
            elif op == "nodes":
                log = node.getRoutingTablesLog(socket.AF_INET)
                emit({"ok": True, "ids": re.findall(r"Node ([0-9a-f]{40}) ", log)})
            elif op == "log":
                node.enableFileLogging(cmd["path"])
                emit({"ok": True})
            elif op == "quit":
                break
            else:
                emit({"ok": False, "error": "unknown op %r" % op})
        except Exception as error:  # Report, keep serving.
            emit({"ok": False, "error": repr(error)})
    node.join()


if __name__ == "__main__":
    main()
