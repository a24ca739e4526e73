/**
 * Issue 18, item 3: the UDP socket asks for large buffers, and the kernel's
 * drops for our socket are visible in the console's `stats`. The flood test
 * reproduces the drops of the fuzz runs: a second process sends while this
 * one does not read, so the receive buffer overflows. Loopback only.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_UDP_BUFFER_BYTES,
  UdpTransport,
} from "../lib/io/udp_transport.ts";
import { formatKernelLine, formatStats } from "../cli/_console.ts";
import { openUdpDaemon, udpTransportOf } from "../lib/io/udp_daemon.ts";
import { runCommand } from "../cli/_console.ts";

const LINUX = Deno.build.os === "linux";

Deno.test("A UDP transport asks for 4 MiB buffers and reads back what it got", async () => {
  const transport = await UdpTransport.bind();
  try {
    const stats = transport.kernelStats();
    assert.equal(stats.requestedBufferBytes, DEFAULT_UDP_BUFFER_BYTES);
    assert.ok(stats.receiveBufferBytes !== undefined);
    assert.ok(stats.sendBufferBytes !== undefined);
    if (LINUX) {
      // What we asked for, or the system's limit (Linux reports twice the size set).
      const max = Number(Deno.readTextFileSync("/proc/sys/net/core/rmem_max"));
      const expected = Math.min(DEFAULT_UDP_BUFFER_BYTES, max);
      assert.ok(
        stats.receiveBufferBytes >= expected,
        `${stats.receiveBufferBytes} < ${expected}`,
      );
      assert.equal(stats.drops, 0);
    }
  } finally {
    await transport.close();
  }
});

Deno.test("A smaller buffer can be asked for; a bad size is refused", async () => {
  const transport = await UdpTransport.bind({ bufferBytes: 512 * 1024 });
  assert.equal(transport.kernelStats().requestedBufferBytes, 512 * 1024);
  await transport.close();
  await assert.rejects(UdpTransport.bind({ bufferBytes: 0 }), RangeError);
});

Deno.test({
  name:
    "Datagrams the kernel drops while we do not read show in the stats line",
  ignore: !LINUX,
  async fn() {
    const transport = await UdpTransport.bind();
    const dir = await Deno.makeTempDir();
    const done = `${dir}/done`;
    try {
      transport.receive(() => {});
      // More than any receive buffer we may get: 4000 datagrams of 1400 bytes.
      const sender = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import dgram from "node:dgram";
           const s = dgram.createSocket("udp4");
           const payload = new Uint8Array(1400);
           for (let i = 0; i < 4000; i++) {
             await new Promise((r) => s.send(payload, ${transport.localAddress.port}, "127.0.0.1", r));
           }
           s.close();
           Deno.writeTextFileSync(${JSON.stringify(done)}, "1");`,
        ],
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      // Block this thread (no datagram is read) until the sender is done;
      // the bound only guards against a sender that died.
      const started = Date.now();
      for (;;) {
        try {
          Deno.statSync(done);
          break;
        } catch {
          if (Date.now() - started > 30_000) break;
        }
      }
      await sender.status;
      const stats = transport.kernelStats();
      assert.ok(stats.drops !== undefined && stats.drops > 0, `${stats.drops}`);
      assert.match(
        formatKernelLine(stats),
        new RegExp(`^kernel {4}${stats.drops} datagrams dropped by the kernel`),
      );
    } finally {
      await transport.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("The console's stats command of a UDP daemon has the kernel drops line", async () => {
  const dir = await Deno.makeTempDir();
  const daemon = await openUdpDaemon({
    dataDir: dir,
    scryptLog2N: 10,
    links: false,
  });
  try {
    const a = await daemon.createAccount();
    assert.ok(udpTransportOf(daemon) !== undefined);
    const result = await runCommand(daemon, a, "stats");
    assert.match(
      result.text,
      LINUX
        ? /^kernel {4}0 datagrams dropped by the kernel .*receive buffer \d+ KiB \(asked 4096 KiB\)/m
        : /^kernel {4}drops unknown/m,
    );
    assert.equal(
      formatStats(daemon.dht.stats(), 0).includes("no UDP socket"),
      true,
    );
  } finally {
    await daemon.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
