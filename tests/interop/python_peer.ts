/**
 * OpenDHT's Python binding (`python3-opendht`, a threaded `DhtRunner`) as a
 * subprocess, driven by `opendht_peer.py` over JSON lines. Answers come back
 * in order; `{"event": …}` lines (listen callbacks) are collected apart.
 * Every request is bounded in time; {@link PythonPeer.close} kills it.
 *
 * @module
 */

/** The interpreter Debian's binding is built for (`OPENDHT_PYTHON` overrides it). */
export const SYSTEM_PYTHON: string = Deno.env.get("OPENDHT_PYTHON") ??
  "/usr/bin/python3";

const SCRIPT = new URL("./opendht_peer.py", import.meta.url).pathname;

/** True when `/usr/bin/python3` can import `opendht`. */
export async function hasPythonOpendht(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(SYSTEM_PYTHON, {
      args: ["-c", "import opendht"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/** A value as the peer reports it. */
export interface PeerValue {
  /** Value id (decimal text in JSON). */
  readonly id: bigint;
  /** Payload. */
  readonly data: Uint8Array;
  /** User type. */
  readonly userType: string;
}

type Json = Record<string, unknown>;

function toValue(json: Json): PeerValue {
  const hex = String(json.data);
  const data = new Uint8Array(hex.length / 2);
  for (let i = 0; i < data.length; i++) {
    data[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return {
    id: BigInt(String(json.id)),
    data,
    userType: String(json.user_type),
  };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

/** One running Python DhtRunner. */
export class PythonPeer {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #answers: Json[] = [];
  /** Listen callbacks, in arrival order. */
  readonly events: { key: string; expired: boolean; value: PeerValue }[] = [];
  #wake?: () => void;
  #ended = false;
  readonly #reading: Promise<void>;
  /** Node id, after {@link PythonPeer.start}. */
  id = "";
  /** UDP port on 127.0.0.1. */
  port = 0;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#reading = this.#read();
  }

  /**
   * Starts the peer and its DhtRunner on 127.0.0.1 (any port).
   *
   * @returns The running peer.
   */
  static async start(): Promise<PythonPeer> {
    const child = new Deno.Command(SYSTEM_PYTHON, {
      args: ["-u", SCRIPT],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const peer = new PythonPeer(child);
    try {
      const ran = await peer.request({ op: "run" });
      peer.id = String(ran.id);
      peer.port = Number(ran.port);
    } catch (error) {
      await peer.close();
      throw error;
    }
    return peer;
  }

  async #read(): Promise<void> {
    let buffer = "";
    try {
      for await (
        const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())
      ) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines) {
          if (line.trim() === "") continue;
          const json = JSON.parse(line) as Json;
          if (json.event === "value") {
            this.events.push({
              key: String(json.key),
              expired: json.expired === true,
              value: toValue(json.value as Json),
            });
          } else this.#answers.push(json);
          this.#wake?.();
        }
      }
    } catch {
      // Killed.
    }
    this.#ended = true;
    this.#wake?.();
  }

  /**
   * Sends one command and waits (≤ `timeoutMs`) for its answer.
   *
   * @param command The JSON command.
   * @param timeoutMs Limit.
   * @returns The answer.
   * @throws {Error} On timeout, exit, or an `ok: false` answer.
   */
  async request(command: Json, timeoutMs = 10_000): Promise<Json> {
    await this.#stdin.write(
      new TextEncoder().encode(JSON.stringify(command) + "\n"),
    );
    const deadline = Date.now() + timeoutMs;
    while (this.#answers.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0 || this.#ended) {
        throw new Error(
          `opendht_peer.py: no answer to ${command.op} within ${timeoutMs} ms`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const answer = this.#answers.shift() as Json;
    if (answer.ok !== true) {
      throw new Error(`opendht_peer.py: ${command.op} failed: ${answer.error}`);
    }
    return answer;
  }

  /** `DhtRunner.get`: values at a key (40 hex). */
  async get(key: string): Promise<PeerValue[]> {
    const answer = await this.request({ op: "get", key });
    return (answer.values as Json[]).map(toValue);
  }

  /** `DhtRunner.put`; true if some node acknowledged it. */
  async put(
    key: string,
    value: { data: Uint8Array; id: bigint; type?: number },
  ): Promise<boolean> {
    const answer = await this.request({
      op: "put",
      key,
      data: hex(value.data),
      id: value.id.toString(),
      type: value.type ?? 0,
    });
    return answer.stored === true;
  }

  /** Ids in the runner's IPv4 routing table. */
  async nodes(): Promise<string[]> {
    return (await this.request({ op: "nodes" })).ids as string[];
  }

  /** Kills the process and waits for it (idempotent). */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.#child.status;
    await this.#reading;
    await this.#stdin.close().catch(() => {});
  }
}
