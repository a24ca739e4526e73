#!/usr/bin/python3
"""Drives a running jamid (Jami daemon 13.7) over its D-Bus session bus.

Protocol: one JSON object per line on stdin, one per line on stdout.
  request   {"id": 7, "cmd": "contacts", "account": "..."}
  answer    {"id": 7, "ok": true, "result": ...}  or  {"id": 7, "ok": false, "error": "..."}
  signal    {"signal": "incomingTrustRequest", "args": [...], "t": <unix seconds>}
D-Bus byte arrays (`ay`) are written as lowercase hex strings, 64-bit times as
numbers. The bus is the one in DBUS_SESSION_BUS_ADDRESS; the driver waits (at
most --wait seconds) for jamid to own `cx.ring.Ring`, then prints
{"ready": true}. End of stdin ends the driver. Needs python3-dbus and
python3-gi (Debian); run it with /usr/bin/python3.
"""
import json
import os
import sys
import time

import dbus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

SERVICE = "cx.ring.Ring"
CONFIG = ("/cx/ring/Ring/ConfigurationManager", "cx.ring.Ring.ConfigurationManager")
PRESENCE = ("/cx/ring/Ring/PresenceManager", "cx.ring.Ring.PresenceManager")

# Signals forwarded to stdout; the rest (audio meters, logs, …) is noise here.
FORWARDED = {
    "newBuddyNotification",
    "incomingTrustRequest",
    "contactAdded",
    "contactRemoved",
    "conversationRequestReceived",
    "conversationReady",
    "registrationStateChanged",
    "accountsChanged",
    "knownDevicesChanged",
}


def plain(value):
    """D-Bus values to JSON-able ones (byte arrays to hex)."""
    if isinstance(value, dbus.Array) and value.signature == "y":
        return bytes(value).hex()
    if isinstance(value, (bytes, bytearray, dbus.ByteArray)):
        return bytes(value).hex()
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.Dictionary, dict)):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dbus.String, dbus.ObjectPath, str)):
        return str(value)
    if isinstance(value, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64,
                          dbus.UInt16, dbus.UInt32, dbus.UInt64, int)):
        return int(value)
    if isinstance(value, (dbus.Double, float)):
        return float(value)
    return str(value)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def details(d):
    return dbus.Dictionary({str(k): str(v) for k, v in d.items()}, signature="ss")


def payload(hex_text):
    return dbus.Array([dbus.Byte(b) for b in bytes.fromhex(hex_text or "")], signature="y")


class Driver:
    def __init__(self, bus):
        self.bus = bus
        proxy = bus.get_object(SERVICE, CONFIG[0], introspect=False)
        self.config = dbus.Interface(proxy, CONFIG[1])
        proxy = bus.get_object(SERVICE, PRESENCE[0], introspect=False)
        self.presence = dbus.Interface(proxy, PRESENCE[1])
        for iface in (CONFIG[1], PRESENCE[1]):
            bus.add_signal_receiver(self.on_signal, dbus_interface=iface,
                                    member_keyword="member")

    def on_signal(self, *args, member=None):
        if member in FORWARDED:
            emit({"signal": member, "args": plain(list(args)), "t": time.time()})

    def run(self, req):
        cmd = req["cmd"]
        c, p = self.config, self.presence
        acc = str(req.get("account", ""))
        if cmd == "ping":
            return "pong"
        if cmd == "add_account":
            return c.addAccount(details(req["details"]))
        if cmd == "accounts":
            return c.getAccountList()
        if cmd == "details":
            return c.getAccountDetails(acc)
        if cmd == "volatile_details":
            return c.getVolatileAccountDetails(acc)
        if cmd == "set_details":
            return c.setAccountDetails(acc, details(req["details"]))
        if cmd == "set_active":
            return c.setAccountActive(acc, dbus.Boolean(req["active"]))
        if cmd == "send_register":
            return c.sendRegister(acc, dbus.Boolean(req["enable"]))
        if cmd == "remove_account":
            return c.removeAccount(acc)
        if cmd == "subscribe_buddy":
            return p.subscribeBuddy(acc, req["uri"], dbus.Boolean(req.get("flag", True)))
        if cmd == "publish":
            return p.publish(acc, dbus.Boolean(req["status"]), req.get("note", ""))
        if cmd == "send_trust_request":
            return c.sendTrustRequest(acc, req["to"], payload(req.get("payload", "")))
        if cmd == "accept_trust_request":
            return c.acceptTrustRequest(acc, req["from"])
        if cmd == "discard_trust_request":
            return c.discardTrustRequest(acc, req["from"])
        if cmd == "trust_requests":
            return c.getTrustRequests(acc)
        if cmd == "contacts":
            return c.getContacts(acc)
        if cmd == "contact_details":
            return c.getContactDetails(acc, req["uri"])
        if cmd == "add_contact":
            return c.addContact(acc, req["uri"])
        if cmd == "export_to_file":
            return c.exportToFile(acc, req["path"], req.get("password", ""))
        raise ValueError("unknown command " + cmd)


def main():
    wait_s = float(sys.argv[sys.argv.index("--wait") + 1]) if "--wait" in sys.argv else 30.0
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    deadline = time.monotonic() + wait_s
    while not bus.name_has_owner(SERVICE):
        if time.monotonic() > deadline:
            emit({"ready": False, "error": "jamid did not own %s within %g s" % (SERVICE, wait_s)})
            return 1
        time.sleep(0.1)
    driver = Driver(bus)
    loop = GLib.MainLoop()
    buffer = b""

    def on_stdin(fd, condition):
        nonlocal buffer
        chunk = os.read(fd, 65536)
        if not chunk:
            loop.quit()
            return False
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if not line.strip():
                continue
            req = {}
            try:
                req = json.loads(line)
                result = plain(driver.run(req))
                emit({"id": req.get("id"), "ok": True, "result": result})
            except Exception as error:  # every failure becomes an answer
                emit({"id": req.get("id"), "ok": False,
                      "error": "%s: %s" % (type(error).__name__, error)})
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    emit({"ready": True})
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
