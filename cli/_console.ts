/**
 * The console of `deno task run`: its commands, and the daemon's events as
 * output lines.
 *
 * @module
 */
import type { Daemon } from "../lib/daemon/daemon.ts";
import type { ManagedAccount } from "../lib/daemon/managed_account.ts";
import type { DhtNodeStats } from "../lib/dht/dht_node.ts";
import { isActiveContact } from "../lib/contacts/contact_list.ts";
import { formatUri, parseUri } from "../lib/identity/uri.ts";
import { udpTransportOf } from "../lib/io/udp_daemon.ts";
import type { KernelUdpStats } from "../lib/io/udp_transport.ts";
import { MAX_TRUST_REQUEST_PAYLOAD_BYTES } from "../lib/trust/inbox_message.ts";
import { formatAddress } from "../lib/transport.ts";
import type { Output } from "./_output.ts";

/** Bad console input or command line. */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The console commands, as `help` prints them. */
export const CONSOLE_HELP = `Console commands:
  add <uri> [message]     send a trust request (and add the contact)
  requests                pending requests
  accept <uri>            accept a request
  discard <uri>           drop a request silently
  remove <uri> [--ban]    remove a contact (and ban it)
  contacts                contacts and their presence
  watch <uri>             subscribe to a contact's presence
  status <note>           publish a note ("status" alone clears it)
  whoami                  account (its kind: ours or Jami), device, address
  stats                   DHT node: routing table, storage, listeners,
                          packets, drops by reason
  help                    this list
  quit                    clean shutdown (goodbye to contacts)
`;

/**
 * Longest console line, in bytes: 64 KiB for the command and the URI, plus
 * the largest trust-request message. Longer lines are refused unread.
 */
export const MAX_CONSOLE_LINE_BYTES: number = 64 * 1024 +
  MAX_TRUST_REQUEST_PAYLOAD_BYTES;

/** Longest command name quoted back in an error. */
const MAX_ECHOED_COMMAND = 40;

const STATUS = ["offline", "online (DHT)", "connected"];

function short(uri: string): string {
  return `${uri.slice(0, 8)}…`;
}

/** The console's account, of either kind. */
function accountOf(
  daemon: Daemon,
  accountId: string,
): ManagedAccount & { readonly deviceId: string } {
  return daemon.accountKind(accountId) === "jami"
    ? daemon.jamiAccount(accountId)
    : daemon.account(accountId);
}

/**
 * Wires the daemon's events to output lines (presence, requests, contacts).
 *
 * @param daemon The daemon whose events are printed.
 * @param output Where they go.
 */
export function printEvents(daemon: Daemon, output: Output): void {
  // One line per change of our own connectivity (the daemon raises it only
  // on a change): while offline, contacts' presence is held.
  daemon.on("connectivity", (c) =>
    output.event(
      "connectivity",
      c.state === "offline"
        ? "connectivity: offline (the DHT stopped answering; contacts' presence held)"
        : "connectivity: online again (re-checking contacts)",
      { state: c.state, atMs: c.atMs },
    ));
  daemon.presence.on("newBuddyNotification", (n) =>
    output.event(
      "presence",
      `presence ${formatUri(parseUri(n.buddyUri))}: ${STATUS[n.status]}${
        n.lineStatus ? ` "${n.lineStatus}"` : ""
      }`,
      { buddy: n.buddyUri, status: n.status, note: n.lineStatus },
    ));
  daemon.config.on("incomingTrustRequest", (r) => {
    const message = new TextDecoder().decode(r.payload).slice(0, 200);
    output.event(
      "incomingTrustRequest",
      `request from ${
        formatUri(parseUri(r.from))
      }: "${message}" (accept ${r.from} / discard ${r.from})`,
      { from: r.from, message },
    );
  });
  daemon.config.on("contactAdded", (c) =>
    output.event(
      "contactAdded",
      `contact ${short(c.uri)} added${c.confirmed ? ", confirmed" : ""}`,
      { uri: c.uri, confirmed: c.confirmed },
    ));
  daemon.config.on("contactRemoved", (c) =>
    output.event(
      "contactRemoved",
      `contact ${short(c.uri)} removed${c.banned ? " and banned" : ""}`,
      { uri: c.uri, banned: c.banned },
    ));
  daemon.config.on("trustRequestDelivered", (d) =>
    output.event(
      "trustRequestDelivered",
      `request to ${short(d.uri)} delivered`,
      { uri: d.uri, requestId: d.requestId },
    ));
  daemon.config.on("trustRequestAccepted", (d) =>
    output.event(
      "trustRequestAccepted",
      `request to ${short(d.uri)} accepted`,
      { uri: d.uri, requestId: d.requestId },
    ));
  daemon.config.on("trustRequestExpired", (d) =>
    output.event(
      "trustRequestExpired",
      `request to ${short(d.uri)} expired undelivered`,
      { uri: d.uri },
    ));
}

/**
 * The node's counters as lines: routing table, storage and listeners,
 * lookups, packets and bytes, requests, drops by reason.
 *
 * @param stats From `DhtNode.stats()`.
 * @param subscriptions Presence subscriptions of the console's account.
 * @param kernel The UDP socket as the kernel sees it (`UdpTransport.kernelStats()`),
 *   or `null` when there is no UDP socket (simulation) or no way to know.
 * @returns The text `stats` prints.
 */
export function formatStats(
  stats: DhtNodeStats,
  subscriptions: number,
  kernel: KernelUdpStats | null = null,
): string {
  const { routing, storage, rpc } = stats;
  return [
    `routing   ${routing.good} good, ${routing.dubious} dubious, ${routing.expired} expired`,
    `storage   ${storage.keys} keys, ${storage.values} values, ${storage.bytes} bytes`,
    `listeners ${storage.listeners} on our storage; ${subscriptions} presence subscriptions`,
    `lookups   ${stats.searches} started`,
    `packets   ${rpc.sent} sent (${rpc.sentBytes} bytes), ${rpc.received} received (${rpc.receivedBytes} bytes)`,
    `requests  ${rpc.requests} sent, ${rpc.retries} retries, ${rpc.expired} expired, ${rpc.handlerErrors} handler errors`,
    `drops     ${rpc.droppedMalformed} malformed, ${rpc.droppedNetwork} other network, ${rpc.droppedSender} bad sender, ${rpc.droppedUnmatched} unmatched, ${rpc.droppedRateLimited} rate-limited`,
    formatKernelLine(kernel),
  ].join("\n");
}

/**
 * The `kernel` line of `stats`: datagrams the kernel dropped for our socket
 * (its receive buffer was full) and the buffer sizes.
 *
 * @param kernel From `UdpTransport.kernelStats()`, or `null`.
 * @returns One line.
 */
export function formatKernelLine(kernel: KernelUdpStats | null): string {
  if (kernel === null) return "kernel    drops unknown (no UDP socket)";
  const drops = kernel.drops === undefined
    ? "drops unknown (/proc/net/udp unreadable: not Linux, or Deno without --allow-all; `ss -uamn` shows them)"
    : `${kernel.drops} datagrams dropped by the kernel (receive buffer full; this socket, from /proc/net/udp)`;
  const kib = (n: number | undefined) =>
    n === undefined ? "unknown" : `${Math.round(n / 1024)} KiB`;
  const hint = kernel.drops !== undefined && kernel.drops > 0
    ? " (raise net.core.rmem_default)"
    : "";
  return `kernel    ${drops}; receive buffer ${
    kib(kernel.receiveBufferBytes)
  }${hint}, send buffer ${kib(kernel.sendBufferBytes)}`;
}

/** What a console command answers. */
export interface CommandResult {
  /** The text to print (may be empty). */
  readonly text: string;
  /** Data for `--json` output. */
  readonly data?: Record<string, unknown>;
  /** `quit`: stop the node. */
  readonly quit?: boolean;
}

/**
 * Runs one console command.
 *
 * @param daemon The running daemon the console controls.
 * @param accountId The console's account, whose contacts and presence the commands act on.
 * @param line The command line.
 * @returns What to print, and whether to quit.
 * @throws {UsageError} On an unknown command or a missing argument.
 */
export async function runCommand(
  daemon: Daemon,
  accountId: string,
  line: string,
): Promise<CommandResult> {
  const [command, ...rest] = line.trim().split(/\s+/);
  const arg = rest[0];
  const needUri = () => {
    if (arg === undefined) throw new UsageError(`${command} needs a URI`);
    return arg;
  };
  switch (command) {
    case "":
      return { text: "" };
    case "help":
      return { text: CONSOLE_HELP };
    case "whoami": {
      const account = formatUri(parseUri(accountId));
      const kind = daemon.accountKind(accountId);
      const device = accountOf(daemon, accountId).deviceId;
      const address = formatAddress(daemon.dht.address);
      const nodes = daemon.dht.routingTable.size;
      // Our public IP once 3 DHT repliers agree on it (behind a NAT, the
      // NAT's): what contacts' punches aim at.
      const observed = daemon.dht.observedHost ?? null;
      return {
        text: `account ${account}${
          kind === "jami" ? " (Jami)" : ""
        }\ndevice  ${device}\naddress ${address}, ${nodes} DHT nodes known${
          observed === null ? "" : `, public IP ${observed} as DHT peers see it`
        }`,
        data: { account, kind, device, address, nodes, observed },
      };
    }
    case "stats": {
      const stats = daemon.dht.stats();
      const subscriptions = daemon.presence.getSubscriptions(accountId).length;
      const kernel = udpTransportOf(daemon)?.kernelStats() ?? null;
      return {
        text: formatStats(stats, subscriptions, kernel),
        data: { stats, subscriptions, kernel },
      };
    }
    case "add": {
      const message = rest.slice(1).join(" ");
      const id = await daemon.config.sendTrustRequest(
        accountId,
        needUri(),
        new TextEncoder().encode(message),
      );
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return {
        text: `request ${id.slice(0, 8)} queued (retried until delivered)`,
        data: { requestId: id },
      };
    }
    case "requests": {
      const list = daemon.config.getTrustRequests(accountId);
      return {
        text: list.length === 0
          ? "no pending request"
          : list.map((r) =>
            `${r.from} at ${new Date(r.received * 1_000).toISOString()}: "${
              new TextDecoder().decode(r.payload).slice(0, 200)
            }"`
          ).join("\n"),
        data: {
          requests: list.map((r) => ({
            from: r.from,
            received: r.received,
            message: new TextDecoder().decode(r.payload).slice(0, 200),
          })),
        },
      };
    }
    case "accept":
      await daemon.config.acceptTrustRequest(accountId, needUri());
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return { text: "accepted" };
    case "discard":
      return {
        text: await daemon.config.discardTrustRequest(accountId, needUri())
          ? "discarded"
          : "no request from that account",
      };
    case "remove": {
      const ban = rest.includes("--ban");
      const uri = needUri();
      const id = parseUri(uri).toString();
      const account = accountOf(daemon, accountId);
      const known = isActiveContact(account.contact(id)) ||
        daemon.config.getTrustRequests(accountId).some((r) => r.from === id);
      await daemon.config.removeContact(accountId, uri, ban);
      if (!known) {
        return {
          text: ban
            ? "not a contact; banned"
            : "not a contact: nothing removed",
          data: { removed: false, banned: ban },
        };
      }
      return {
        text: ban ? "removed and banned" : "removed",
        data: { removed: true, banned: ban },
      };
    }
    case "contacts":
      return listContacts(daemon, accountId);
    case "watch":
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return { text: "watching" };
    case "status": {
      const note = rest.join(" ");
      daemon.presence.publish(accountId, 1, note);
      // Answer once the note is on disk, not merely queued.
      await daemon.whenIdle();
      return { text: note ? `note set: "${note}"` : "note cleared" };
    }
    case "quit":
    case "exit":
      return { text: "", quit: true };
    default:
      throw new UsageError(
        `unknown command "${
          command.length > MAX_ECHOED_COMMAND
            ? `${command.slice(0, MAX_ECHOED_COMMAND)}…`
            : command
        }" (try help)`,
      );
  }
}

function listContacts(daemon: Daemon, accountId: string): CommandResult {
  const presence = new Map(
    daemon.presence.getSubscriptions(accountId).map((s) => [s.buddy, s]),
  );
  const list = daemon.config.getContacts(accountId);
  const rows = list.map((c) => {
    const p = presence.get(c.id);
    return {
      uri: c.id,
      confirmed: c.confirmed,
      banned: c.banned,
      status: p?.status,
      note: p?.lineStatus,
    };
  });
  return {
    text: rows.length === 0 ? "no contact" : rows.map((c) => {
      const state = c.banned
        ? "banned"
        : `${c.confirmed ? "confirmed" : "pending"}, ${
          c.status === undefined ? "not watched" : STATUS[c.status]
        }${c.note ? ` "${c.note}"` : ""}`;
      return `${c.uri} ${state}`;
    }).join("\n"),
    data: { contacts: rows },
  };
}
