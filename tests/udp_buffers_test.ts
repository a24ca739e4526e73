/**
 * Issue 18, item 3: the kernel's drops for our UDP socket, and its real
 * buffer size, are visible in the console's `stats`; the runtime cannot
 * enlarge the buffer (the canary below says so, and will say when it can). The flood test
 * reproduces the drops of the fuzz runs: a second process sends while this
 * one does not read, so the receive buffer overflows. Loopback only.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { formatKernelLine, formatStats } from "../cli/_console.ts";
import { openUdpDaemon, udpTransportOf } from "../lib/io/udp_daemon.ts";
import { runCommand } from "../cli/_console.ts";

const LINUX = Deno.build.os === "linux";

/** The socket's receive buffer as the kernel reports it (`ss`), or `undefined` without `ss`. */
function kernelReceiveBuffer(port: number): number | undefined {
  let out;
  try {
    out = new Deno.Command("ss", { args: ["-uamn", `sport = :${port}`] })
      .outputSync();
  } catch {
    return undefined;
  }
  const match = /\brb(\d+)/.exec(new TextDecoder().decode(out.stdout));
  return match ? Number(match[1]) : undefined;
}

/** True if `ss` can be run here. */
function haveSs(): boolean {
  try {
    new Deno.Command("ss", { args: ["-V"] }).outputSync();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "kernelStats() reports the socket's real receive buffer and no drops",
  ignore: !LINUX,
  async fn() {
    const transport = await UdpTransport.bind();
    try {
      const stats = transport.kernelStats();
      assert.equal(stats.drops, 0);
      assert.ok(stats.receiveBufferBytes !== undefined);
      assert.ok(stats.sendBufferBytes !== undefined);
      if (haveSs()) {
        assert.equal(
          stats.receiveBufferBytes,
          kernelReceiveBuffer(transport.localAddress.port),
        );
      }
    } finally {
      await transport.close();
    }
  },
});

Deno.test({
  // Why the transport does not call setRecvBufferSize. If this starts to
  // fail, the runtime passes the size to the kernel: use it (4 MiB).
  name: "Canary: Deno's node:dgram setRecvBufferSize does not reach the kernel",
  ignore: !LINUX || !haveSs(),
  async fn() {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) =>
      socket.bind(0, "127.0.0.1", () => resolve())
    );
    try {
      const port = socket.address().port;
      const before = kernelReceiveBuffer(port);
      assert.ok(before !== undefined);
      socket.setRecvBufferSize(4 * 1024 * 1024);
      assert.equal(kernelReceiveBuffer(port), before);
    } finally {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  },
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
        ? /^kernel {4}0 datagrams dropped by the kernel .*receive buffer \d+ KiB, send buffer \d+ KiB$/m
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

Deno.test({
  // `deno task run` grants --allow-read but not --allow-all, and Deno 2 reads
  // /proc only with every permission: the line must say why it knows nothing,
  // not claim that the system has no /proc/net/udp.
  name:
    "With the run task's permissions the kernel line says why the drops are unknown",
  ignore: !LINUX,
  async fn() {
    const script = `
      import { UdpTransport } from ${
      JSON.stringify(
        new URL("../lib/io/udp_transport.ts", import.meta.url).href,
      )
    };
      import { formatKernelLine } from ${
      JSON.stringify(new URL("../cli/_console.ts", import.meta.url).href)
    };
      const transport = await UdpTransport.bind();
      console.log(formatKernelLine(transport.kernelStats()));
      await transport.close();`;
    // `deno eval` would grant everything: a file run with `deno run` does not.
    const dir = await Deno.makeTempDir();
    const file = `${dir}/kernel_line.ts`;
    await Deno.writeTextFile(file, script);
    let output;
    try {
      output = await new Deno.Command(Deno.execPath(), {
        // The permissions of deno.json's run task, without the V8 flags.
        args: [
          "run",
          "--allow-net",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-sys=networkInterfaces",
          file,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(
      text,
      /^kernel {4}drops unknown \(\/proc\/net\/udp unreadable: not Linux, or Deno without --allow-all; `ss -uamn` shows them\)/m,
    );
    assert.doesNotMatch(text, /no \/proc\/net\/udp on this system/);
  },
});
